"""Turning an "approve always" into a policy rule, and writing ``grants.csv``.

A grant becomes one line of the policy language, ``p, <agent>, <tool>, <cond>, allow``, so the policy
engine (loaded with ``extra_files=[home/"grants.csv"]``) enforces it like any other rule. Everything that
goes into that line comes from an agent or a person, so it is validated or escaped here: an agent name
or pattern must never be able to smuggle in a second rule.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from agentguard.approval._records import Grant, GrantScope
from agentguard.errors import ApprovalError
from agentguard.models import ToolCall
from agentguard.settings import GRANTS_FILE

__all__ = [
    "GRANTS_FILE",
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
_ARG_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_TOOL_OK = re.compile(r"^[a-z0-9._/:-]{1,200}$")

# Argument names that say which matcher a pattern scope uses.
_KEY_ARGUMENTS: tuple[tuple[str, str], ...] = (
    ("path", "path"),
    ("file", "path"),
    ("filename", "path"),
    ("file_path", "path"),
    ("directory", "path"),
    ("dir", "path"),
    ("command", "cmd"),
    ("cmd", "cmd"),
    ("url", "url"),
    ("uri", "url"),
)

# String literals of the policy language know only the escapes \" and \\, and pycasbin's line tokenizer
# splits on commas outside ()/[] while ignoring quotes. So a value is written as an ``eq`` literal only
# when it is plain printable ASCII without brackets or comment marks; anything else becomes a ``regex``
# literal in which every such character is a \xNN / \uNNNN escape. Nothing an agent sends can then end
# the literal, the rule or the line.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !$%&'*+-./:;<=>?@^_`|~,")
_REGEX_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _/:@=%,'<>!~`&;-")


def quote(value: str) -> str:
    """``value`` as a double-quoted string literal of the policy language (escapes \" and \\ only)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ApprovalError("a policy string cannot hold control characters or line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_plain(value: str) -> bool:
    return all(ch in _PLAIN for ch in value)


def regex_literal(value: str) -> str:
    """A regex (as a policy string literal) that fullmatches exactly ``value``, in safe ASCII only."""
    out = []
    for ch in value:
        if ch in _REGEX_PLAIN:
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return quote("".join(out))


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
    for name, matcher in _KEY_ARGUMENTS:
        if isinstance(call.arguments.get(name), str):
            return name, matcher
    return None


def suggest_pattern(call: ToolCall) -> str | None:
    """A starting pattern for the approver to edit: the parent folder, the command's verb, the host."""
    key = key_argument(call)
    if key is None:
        return None
    name, matcher = key
    value = str(call.arguments[name])
    if matcher == "path":
        parent = PurePosixPath(value).parent
        return "**" if str(parent) in (".", "") else f"{parent}/**"
    if matcher == "cmd":
        words = value.split()
        verb = words[:1] + [w for w in words[1:2] if not w.startswith("-")]
        return " ".join(verb) + "*" if verb else "*"
    parts = urlsplit(value)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}/*"
    return value


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


def _eq_term(name: str, value: Any) -> str:
    if isinstance(value, str):
        if _is_plain(value):
            return f"eq({name}, {quote(value)})"
        return f"regex({name}, {regex_literal(value)})"
    # Non-strings: eq compares the value with the literal parsed as JSON. new_grant() re-checks that
    # the finished line still tokenizes as one rule.
    text = _json_text(value)
    if "#" in text or any(ord(ch) < 0x20 for ch in text):
        raise ApprovalError(
            f"argument {name!r} cannot be matched exactly in a policy rule; choose the tool scope",
            field="arguments",
        )
    return f"eq({name}, {quote(text)})"


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def condition_for(call: ToolCall, scope: GrantScope, pattern: str | None = None) -> str:
    """The policy condition of a grant of ``scope`` for ``call`` (``*`` for the whole tool)."""
    if scope is GrantScope.TOOL:
        return "*"
    if scope is GrantScope.CALL:
        parts = []
        for name in sorted(call.arguments):
            if not _ARG_OK.match(name):
                raise ApprovalError(
                    f"argument name {name!r} cannot be written into a policy rule; "
                    "choose the tool scope instead",
                    field="arguments",
                )
            parts.append(_eq_term(name, call.arguments[name]))
        return " && ".join(parts) if parts else "*"
    key = key_argument(call)
    if key is None:
        raise ApprovalError(
            f"{call.tool} has no path, command or url argument to match a pattern against; "
            "choose the call or tool scope",
            field="scope",
        )
    name, matcher = key
    chosen = _check_pattern(pattern if pattern is not None else suggest_pattern(call) or "")
    return f"{matcher}({name}, {quote(chosen)})"


def new_grant(
    call: ToolCall,
    scope: GrantScope,
    *,
    created_by: str,
    pattern: str | None = None,
    expires_at: datetime | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
) -> Grant:
    """A grant for ``call``'s agent and tool, validated so it renders as exactly one rule."""
    if not _AGENT_OK.match(call.agent):
        raise ApprovalError(
            f"agent name {call.agent!r} cannot be written into a policy rule; approve once instead",
            field="agent",
        )
    if not _TOOL_OK.match(call.tool):
        raise ApprovalError(f"tool name {call.tool!r} cannot be written into a policy rule", field="tool")
    now = now or datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise ApprovalError("the grant would expire before it starts", field="expires")
    grant = Grant(
        id=uuid.uuid4().hex,
        agent=call.agent,
        tool=call.tool,
        scope=scope,
        condition=condition_for(call, scope, pattern),
        created_by=_comment_safe(created_by.strip()) or "unknown",
        created_at=now,
        expires_at=expires_at,
        request_id=request_id,
    )
    line = render_rule(grant)
    tokens = split_rule_line(line)
    if tokens is None or len(tokens) != 5 or "\n" in line or "\r" in line:
        raise ApprovalError(
            f"the grant would not render as one policy rule ({line!r}); choose the tool scope",
            field="scope",
        )
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


def render_grants(grants: Iterable[Grant], now: datetime | None = None) -> str:
    """``grants.csv`` text: each active grant as a ``#`` line (who, when) above its rule."""
    lines = [
        "# agentguard grants: written by agentguard from the approval store; edits here are overwritten.",
        "# Manage with `agentguard grants list` / `agentguard grants revoke ID`.",
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
    return timedelta(seconds=seconds)
