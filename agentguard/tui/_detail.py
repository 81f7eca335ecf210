"""The detail pane: everything a person needs to judge one request, as rich renderables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from agentguard.approval import QueuedRequest, host_text, short_duration, shown_json, shown_text
from agentguard.sandbox_api import SandboxProfile

__all__ = ["CODE_ARGUMENTS", "render_detail"]

# Execution tools and the argument that holds their code, with the lexer to show it in.
CODE_ARGUMENTS: dict[str, tuple[str, str]] = {
    "python.exec": ("code", "python"),
    "shell.run": ("command", "bash"),
}

_THEME = "ansi_dark"


def _seen(text: str, style: str = "") -> Text:
    """A value the agent wrote (its name, the reason quoting its values, the session): invisible and
    direction-changing characters as marks, as the arguments are; an escape sequence never reaches
    the terminal."""
    return Text(shown_text(text)[0], style=style)


def _kv(rows: list[tuple[str, RenderableType]]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _profile_text(name: str, profile: SandboxProfile | None) -> Text:
    if profile is None:
        return Text(f"{name} (not defined in settings: the sandbox refuses to run)", style="red")
    if profile.network == "policy":
        net = "network through the egress policy"
    else:
        net = "network ON" if profile.network else "no network"
    return Text(
        f"{name}: {net}, {profile.memory_mb} MB, {profile.cpus:g} CPU, {profile.pids} pids, "
        f"{profile.timeout_s:g}s, workspace {profile.workspace}"
    )


def render_detail(
    queued: QueuedRequest,
    *,
    now: datetime,
    profiles: dict[str, SandboxProfile] | None = None,
    default_profile: str = "default",
) -> RenderableType:
    """The request: who asks for what, the rule that asked and why, the sandbox, the arguments."""
    call, decision = queued.call, queued.request.decision
    left = (queued.deadline - now).total_seconds()
    rows: list[tuple[str, RenderableType]] = [
        ("agent", _seen(call.agent)),
        ("tool", _seen(call.tool, style="bold cyan")),
        ("request", Text(queued.ref)),  # id@role on a shared database: which host's request
        (
            "waiting",
            Text(
                f"{short_duration((now - queued.submitted_at).total_seconds())}, "
                + (f"{short_duration(left)} left" if left > 0 else "deadline passed")
            ),
        ),
        ("rule", _seen(f"{decision.rule_id}  {decision.rule.text if decision.rule else ''}".rstrip())),
        ("why", _seen(decision.reason)),
    ]
    if call.tool in CODE_ARGUMENTS or decision.sandbox_profile:
        name = decision.sandbox_profile or default_profile
        rows.append(("sandbox", _profile_text(name, (profiles or {}).get(name))))
    host = host_text(queued)
    if host is not None:
        rows.insert(1, ("host", _seen(host)))
    if call.session:
        rows.append(("session", _seen(call.session)))
    parts: list[RenderableType] = [_kv(rows)]
    arguments: dict[str, Any] = dict(call.arguments)
    code_spec = CODE_ARGUMENTS.get(call.tool)
    if code_spec is not None and isinstance(arguments.get(code_spec[0]), str):
        key, lexer = code_spec
        code = arguments.pop(key)
        parts.append(Text(f"\n{key}", style="bold"))
        code = shown_text(code)[0]  # invisible characters as marks: read the call as it runs
        parts.append(Syntax(code, lexer, theme=_THEME, line_numbers=code.count("\n") > 0, word_wrap=True))
    if arguments or code_spec is None:
        pretty = shown_json(
            orjson.dumps(arguments, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        )[0]
        parts.append(Text("\narguments" if code_spec is None else "\nother arguments", style="bold"))
        parts.append(Syntax(pretty, "json", theme=_THEME, word_wrap=True))
    return Padding(Group(*parts), (0, 1))
