"""Turning an "approve always" into a policy rule, and writing the ``grants.csv`` export.

A grant becomes one line of the policy language, ``p, <agent>, <tool>, <cond>, allow``, so the policy
engine (reading the approval store through ``_source``) enforces it like any other rule. A grant is
exactly as wide as the approval: suggested patterns take the agent's text literally, exact-call grants
pin the whole argument object, and every grant is compiled before it is stored. Everything that
goes into that line comes from an agent or a person, so it is validated or escaped here: an agent name
or pattern must never be able to smuggle in a second rule.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wcmatch import glob

from agentguard.approval._exact import NAME, argument_at, exact_json, pinned_paths, quote
from agentguard.approval._records import KEY_ARGUMENTS, Grant, GrantScope
from agentguard.errors import ApprovalError
from agentguard.models import ToolCall
from agentguard.policy._conditions import CompileEnv, ConditionError, EvalContext, compile_condition
from agentguard.settings import GRANTS_FILE

__all__ = [
    "GRANTS_FILE",
    "check_grant",
    "condition_for",
    "key_argument",
    "new_grant",
    "parse_duration",
    "quote",
    "render_grants",
    "render_rule",
    "suggest_pattern",
    "write_grants_file",
]


_AGENT_OK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._@:/+-]{0,199}$")
_TOOL_OK = re.compile(r"^[a-z0-9._/:-]{1,200}$")
_HOST_OK = re.compile(r"^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")
_SCHEME_OK = re.compile(r"^[a-z][a-z0-9+.-]*$")


def split_rule_line(line: str) -> list[str] | None:
    """Split ``line`` exactly as pycasbin's policy tokenizer does; ``None`` where it would crash."""
    depth = 0
    tokens: list[str] = []
    start = 0
    for i, ch in enumerate(line):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            if depth == 0:
                return None
            depth -= 1
        elif ch == "," and depth == 0:
            tokens.append(line[start:i].strip())
            start = i + 1
    tokens.append(line[start:].strip())
    return tokens


def key_argument(call: ToolCall) -> tuple[str, str] | None:
    """``(argument name, matcher)`` of the argument a pattern scope constrains, if the call has one."""
    for name, matcher in KEY_ARGUMENTS:
        if matcher is not None and isinstance(call.arguments.get(name), str):
            return name, matcher
    return None


def _command_word(word: str) -> str:
    """One word of a ``cmd()`` pattern that matches exactly ``word``: glob characters bracketed, then
    shell-quoted (the pattern is split like a command line, each word then matched with fnmatch)."""
    literal = "".join(f"[{ch}]" if ch in "*?[" else ch for ch in word)
    return shlex.quote(literal)


def _suggest_path(value: str) -> str | None:
    if value.startswith("~"):
        if not value.startswith("~/"):
            return None  # ~user: another user's home, nothing to suggest
        prefix, rest = "{home}/", value[2:]
    elif value.startswith("/"):
        prefix, rest = "/", value[1:]
    else:
        prefix, rest = "{workspace}/", value
    parent = posixpath.dirname(posixpath.normpath("/" + rest))
    if parent.startswith("//"):
        parent = parent[1:]
    body = glob.escape(parent.lstrip("/"))
    return f"{prefix}{body}/**" if body else f"{prefix}**"


def _suggest_command(value: str) -> str | None:
    try:
        words = shlex.split(value)
    except ValueError:
        return None
    if not words:
        return None
    verb = words[:1] + [w for w in words[1:2] if not w.startswith("-")]
    return " ".join(_command_word(w) for w in verb) + " *"


def _suggest_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if not _SCHEME_OK.match(scheme) or "@" in netloc or not _HOST_OK.match(netloc):
        return None
    if port is not None and not 0 < port < 65536:
        return None
    return f"{scheme}://{netloc}"


def suggest_pattern(call: ToolCall) -> str | None:
    """A starting pattern for the approver to edit: the parent folder, the command's verb, the host.

    Whatever the agent wrote is taken literally: glob characters in its path or command are escaped,
    so ``<ws>/**/notes.md`` suggests ``<ws>/\\*\\*/**`` and ``* --version`` suggests ``'[*]' *``. A
    suggestion that would not compile, or would not match the call it came from, is not offered.
    """
    key = key_argument(call)
    if key is None:
        return None
    name, matcher = key
    value = call.arguments[name]
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    if matcher == "path":
        suggested = _suggest_path(value)
    elif matcher == "cmd":
        suggested = _suggest_command(value)
    else:
        suggested = _suggest_url(value)
    if suggested is None:
        return None
    try:
        condition = compile_condition(f"{matcher}({name}, {quote(suggested)})", _neutral_env())
    except (ConditionError, ApprovalError):
        return None
    if matcher != "path" and not condition(EvalContext(call.arguments)):
        return None  # paths are matched after resolving symlinks, which only the guard can do
    return suggested


def _check_pattern(pattern: str) -> str:
    pattern = pattern.strip()
    if not pattern:
        raise ApprovalError("the pattern is empty", field="pattern")
    if len(pattern) > 2000:
        raise ApprovalError("the pattern is longer than 2000 characters", field="pattern")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in pattern):
        raise ApprovalError("the pattern contains control characters or line breaks", field="pattern")
    probe = split_rule_line(f"f({quote(pattern)}), x")
    if probe is None or len(probe) != 2 or "#" in pattern:
        raise ApprovalError(
            f"the pattern {pattern!r} cannot be written into a policy rule: brackets must pair up "
            "in order and '#' is not allowed",
            field="pattern",
        )
    return pattern


def condition_for(
    call: ToolCall,
    scope: GrantScope,
    pattern: str | None = None,
    decided: Mapping[str, Any] | None = None,
    paths: Iterable[str] = (),
) -> str:
    """The policy condition of a grant of ``scope`` for ``call`` (``*`` for the whole tool).

    An exact-call grant is ``eq(*, "{...}")``: the whole argument object, every key and its JSON type,
    so a call with one key more (``bcc``), one less, or ``"5"`` for ``5`` is not covered; and each
    path the decision resolved (``decided``, the request's decided arguments) must still resolve to
    the same file (``path(key, "<that file>")``). A pattern grant matches its pattern on the key
    argument and pins every other path argument (``paths``: those the policy reads with ``path()``,
    and the path-named ones) to the file it named: the approver chose a pattern for one of them.
    """
    if scope is GrantScope.TOOL:
        return "*"
    if scope is GrantScope.CALL:
        if call.secrets:  # the request holds them masked: an exact grant would pin the mask
            raise ApprovalError(
                f"{call.tool} has secret arguments, shown masked: this exact call cannot be approved "
                "always; approve once, or choose a pattern or the tool",
                field="scope",
            )
        named = {name for name, matcher in KEY_ARGUMENTS if matcher == "path"} | set(paths)
        return f"eq(*, {quote(exact_json(dict(call.arguments)))})" + pinned_paths(
            call.arguments, decided, sorted(named)
        )
    key = key_argument(call)
    if key is None:
        raise ApprovalError(
            f"{call.tool} has no path, command or url argument to match a pattern against; "
            "choose the call or tool scope",
            field="scope",
        )
    name, matcher = key
    chosen = pattern if pattern is not None else suggest_pattern(call)
    if chosen is None:
        raise ApprovalError(
            f"no pattern can be suggested for this {name}; type one, or choose the call scope",
            field="pattern",
        )
    condition = f"{matcher}({name}, {quote(_check_pattern(chosen))})"
    method = call.arguments.get("method")
    if matcher == "url" and isinstance(method, str) and method:
        # A pattern on the URL says where, not what: an approved GET is not an approved DELETE.
        condition += f" && oneof(method, {quote(method)})"
    others = {key for key, kind in KEY_ARGUMENTS if kind == "path"} | set(paths)
    others.discard(name)
    pins = pinned_paths(
        {key: value for key, value in call.arguments.items() if key != name},
        {key: value for key, value in (decided or {}).items() if key != name},
        sorted(others),
        grant="a pattern grant",
    )
    # One the policy reads as a path that the approved call left out (or null): it stays so. path()
    # is false only for those (and for what no tool opens), cannot tell for a value of another type.
    absent = sorted(key for key in set(paths) - {name} if argument_at(call.arguments, key) is None)
    for left_out in absent:
        if not NAME.match(left_out):
            raise ApprovalError(
                f"argument {left_out!r} cannot be pinned by a pattern grant; approve once", field="scope"
            )
    return condition + pins + "".join(f' && !path({key}, "/**")' for key in absent)


def _neutral_env() -> CompileEnv:
    """Enough to compile a condition: placeholders only need *a* workspace and home to expand to."""
    return CompileEnv(workspace="/", home=os.path.realpath(Path.home()))


def check_grant(grant: Grant) -> str | None:
    """Why ``grant`` cannot be enforced (its rule does not tokenize or compile), or ``None``.

    The same checks the policy loader makes, so a grant that passes here loads there.
    """
    line = render_rule(grant)
    tokens = split_rule_line(line)
    if tokens is None or len(tokens) != 5 or "\n" in line or "\r" in line or "#" in line:
        return f"the rule {line!r} does not split into one policy rule"
    try:
        compile_condition(tokens[3], _neutral_env())
    except ConditionError as exc:
        return f"condition {tokens[3]!r}: {exc.message}"
    return None


def new_grant(
    call: ToolCall,
    scope: GrantScope,
    *,
    created_by: str,
    pattern: str | None = None,
    expires_at: datetime | None = None,
    request_id: str | None = None,
    now: datetime,
    decided: Mapping[str, Any] | None = None,
    paths: Iterable[str] = (),
) -> Grant:
    """A grant for ``call``'s agent and tool, validated: it renders as exactly one rule that compiles.
    ``decided``: the arguments as the policy decided them (resolved paths), which an exact-call grant
    pins; ``paths``: the arguments the policy reads as paths, which a pattern grant pins."""
    if not _AGENT_OK.match(call.agent):
        raise ApprovalError(
            f"agent name {call.agent!r} cannot be written into a policy rule; approve once instead",
            field="agent",
        )
    if not _TOOL_OK.match(call.tool):
        raise ApprovalError(f"tool name {call.tool!r} cannot be written into a policy rule", field="tool")
    if expires_at is not None and expires_at <= now:
        raise ApprovalError("the grant would expire before it starts", field="expires")
    grant = Grant(
        id=uuid.uuid4().hex,
        agent=call.agent,
        tool=call.tool,
        scope=scope,
        condition=condition_for(call, scope, pattern, decided, paths),
        created_by=_comment_safe(created_by.strip()) or "unknown",
        created_at=now,
        expires_at=expires_at,
        request_id=request_id,
    )
    problem = check_grant(grant)
    if problem is not None:
        field = "pattern" if scope is GrantScope.PATTERN else "scope"
        raise ApprovalError(f"the grant cannot be enforced: {problem}", field=field)
    return grant


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _comment_safe(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", "?", text)


def render_rule(grant: Grant) -> str:
    """The grant's policy line: ``p, agent, tool, cond, allow``."""
    cond = grant.condition
    if grant.expires_at is not None:
        before = f"before({quote(_iso(grant.expires_at))})"
        cond = before if cond == "*" else f"{cond} && {before}"
    return f"p, {grant.agent}, {grant.tool}, {cond}, allow"


def render_grants(grants: Iterable[Grant], now: datetime, *, version: int | None = None) -> str:
    """``grants.csv`` text: each grant active at ``now`` as a ``#`` line (who, when) above its rule."""
    stamp = f", version {version}." if version is not None else "."
    lines = [
        f"# agentguard grants{stamp} Exported from the approval store, which is what the guard enforces;",
        "# edits here are overwritten and never applied. Manage with `agentguard grants list` / `revoke ID`.",
    ]
    for grant in grants:
        if not grant.active(now):
            continue
        expiry = f" expires {_iso(grant.expires_at)}" if grant.expires_at else ""
        source = f" request {grant.request_id}" if grant.request_id else ""
        lines.append(
            _comment_safe(
                f"# grant {grant.id} scope {grant.scope.value} by {grant.created_by} "
                f"at {_iso(grant.created_at)}{expiry}{source}"
            )
        )
        lines.append(render_rule(grant))
    return "\n".join(lines) + "\n"


def write_grants_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".grants-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION_S = 3650 * 86400


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``8h``, ``7d``, ``2w`` as a ``timedelta``."""
    match = _DURATION.match(text)
    if not match:
        raise ApprovalError(
            f"duration {text!r} is not understood; use a number and a unit: 90s, 30m, 8h, 7d, 2w",
            field="expires",
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise ApprovalError("the duration must be positive", field="expires")
    if seconds > MAX_DURATION_S:
        raise ApprovalError(
            f"duration {text.strip()!r} is too long; a grant lasts at most 3650 days (10 years)",
            field="expires",
        )
    return timedelta(seconds=seconds)
