"""A request's arguments as a person should read them: code highlighted, a file write as a diff
against the file it replaces, a command split into the commands it runs, the rest as JSON.

Everything returned is data for the templates (which escape it), except :func:`highlight`, whose
HTML comes from Pygments' formatter (it escapes the code it wraps in its own spans).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from markupsafe import Markup
from pydantic import BaseModel
from pygments import highlight as _pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name

from agentguard.approval import QueuedRequest, host_text, short_duration, shown_json, shown_text
from agentguard.errors import AgentGuardError
from agentguard.policy._shell import Dyn, ShellParseError, parse_script
from agentguard.sandbox_api import SandboxProfile

__all__ = ["CODE_ARGUMENTS", "Detail", "code_css", "detail", "highlight"]

# Execution tools and the argument that holds their code, with the lexer to show it in (as the TUI).
CODE_ARGUMENTS: dict[str, tuple[str, str]] = {
    "python.exec": ("code", "python"),
    "shell.run": ("command", "bash"),
}
_WRITE_TOOLS = {"fs.write": ("path", "content")}
_DIFF_LIMIT = 512 * 1024  # larger files are not diffed (the new content is still shown)
_FORMATTER = HtmlFormatter(cssclass="code", wrapcode=True)


def code_css() -> str:
    """The stylesheet the highlighted code's classes need (served as a static file)."""
    return str(_FORMATTER.get_style_defs(".code"))


def highlight(code: str, lexer: str) -> Markup:
    return Markup(_pygments_highlight(code, get_lexer_by_name(lexer), _FORMATTER))  # noqa: S704


@dataclass
class Detail:
    """What the detail page shows about one request."""

    queued: QueuedRequest
    waiting: str
    rule: str
    rule_text: str
    sandbox: str | None
    code: tuple[str, Markup] | None = None
    commands: list[list[str]] | None = None
    commands_note: str | None = None
    diff: list[tuple[str, str]] | None = None
    diff_note: str | None = None
    other_json: str | None = None
    edit_json: str = "{}"
    schema: list[tuple[str, str, bool]] | None = None
    host: str | None = None  # the host name the agent gave, and the database role that submitted it
    hidden: int = 0  # invisible, direction-changing or look-alike characters, shown as marks (the page warns)


def _sandbox_text(name: str, profile: SandboxProfile | None) -> str:
    if profile is None:
        return f"{name} (not defined in settings: the sandbox refuses to run)"
    net = "network ON" if profile.network else "no network"
    return (
        f"{name}: {net}, {profile.memory_mb} MB, {profile.cpus:g} CPU, {profile.pids} pids, "
        f"{profile.timeout_s:g}s, workspace {profile.workspace}"
    )


def _commands(command: str) -> tuple[list[list[str]] | None, str | None]:
    try:
        script = parse_script(command)
    except ShellParseError as exc:
        return None, f"not analysed: {exc}"
    rows = [[_seen(w.text if isinstance(w, Dyn) else w) for w in simple.words] for simple in script.commands]
    note = f"cannot tell what this runs: {script.unknown}" if script.unknown else None
    if note is None and not script.plain:
        note = "uses expansions, redirections or compound commands: read the whole line"
    return rows, note


def _diff(workspace: Path | None, path: object, content: object) -> tuple[list[tuple[str, str]] | None, str]:
    """The write as a unified diff, read the way ``fs.write`` itself would reach the file."""
    if workspace is None or not isinstance(path, str) or not isinstance(content, str):
        return None, "no diff: no workspace configured"
    from agentguard.tools.filesystem import Workspace

    ws = Workspace(workspace)
    old = ""
    note = "a new file"
    try:
        old = ws.read(path)
        note = ""
    except FileNotFoundError:
        pass
    except (AgentGuardError, OSError, ValueError) as exc:
        return None, f"no diff: the current file cannot be read here ({exc})"
    if len(old) > _DIFF_LIMIT or len(content) > _DIFF_LIMIT:
        return None, "no diff: the file is too large to compare here"
    lines = difflib.unified_diff(
        old.splitlines(keepends=False), content.splitlines(keepends=False), "current", "proposed", lineterm=""
    )
    out: list[tuple[str, str]] = []
    for line in lines:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        if line.startswith(("+++", "---")):
            kind = "head"
        out.append((kind, _seen(line)))
    return out, note or ("no change" if not out else "")


def _schema_rows(model: type[BaseModel] | None) -> list[tuple[str, str, bool]] | None:
    if model is None:
        return None
    rows = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        type_name = getattr(annotation, "__name__", None) or str(annotation)
        rows.append((name, type_name, info.is_required()))
    return rows


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _seen(text: str) -> str:
    """``text`` as the page shows it: invisible characters as marks (counted by ``_hidden_in``)."""
    return shown_text(text)[0]


def _hidden_in(value: Any, depth: int = 0) -> int:
    """How many invisible or direction-changing characters the arguments hold, keys included."""
    if isinstance(value, str):
        return shown_text(value)[1]
    if depth > 100:
        return 0
    if isinstance(value, dict):
        return sum(_hidden_in(k, depth + 1) + _hidden_in(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_hidden_in(v, depth + 1) for v in value)
    return 0


def detail(
    queued: QueuedRequest,
    *,
    now: datetime,
    workspace: Path | None,
    profiles: dict[str, SandboxProfile],
    default_profile: str,
    schema: type[BaseModel] | None,
) -> Detail:
    """Everything the detail page needs, computed once per view."""
    call, decision = queued.call, queued.request.decision
    left = (queued.deadline - now).total_seconds()
    waiting = f"{short_duration((now - queued.submitted_at).total_seconds())}, " + (
        f"{short_duration(left)} left" if left > 0 else "deadline passed"
    )
    sandbox = None
    if call.tool in CODE_ARGUMENTS or decision.sandbox_profile:
        name = decision.sandbox_profile or default_profile
        sandbox = _sandbox_text(name, profiles.get(name))
    view = Detail(
        queued=queued,
        waiting=waiting,
        rule=decision.rule_id,
        rule_text=decision.rule.text if decision.rule else "",
        sandbox=sandbox,
        host=_seen(host) if (host := host_text(queued)) is not None else None,
        edit_json=shown_json(orjson.dumps(call.arguments, option=orjson.OPT_INDENT_2).decode())[0],
        schema=_schema_rows(schema),
        hidden=_hidden_in(call.arguments),
    )
    arguments: dict[str, Any] = dict(call.arguments)
    code_spec = CODE_ARGUMENTS.get(call.tool)
    if code_spec is not None and isinstance(arguments.get(code_spec[0]), str):
        key, lexer = code_spec
        code = arguments.pop(key)
        view.code = (key, highlight(_seen(code), lexer))
        if call.tool == "shell.run":
            view.commands, view.commands_note = _commands(code)
    write = _WRITE_TOOLS.get(call.tool)
    if write is not None:
        decided = decision.arguments or call.arguments
        view.diff, view.diff_note = _diff(workspace, decided.get(write[0]), arguments.get(write[1]))
        if view.diff is not None:
            arguments.pop(write[1], None)
    if arguments:
        view.other_json = shown_json(_pretty(arguments))[0]
    return view
