"""The condition of an exact-call grant: the whole argument object as canonical JSON, and the files its
paths resolved to when the approver saw it. Everything here comes from the agent, so it is escaped
(or refused) before it can reach a policy rule line."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from wcmatch import glob

from agentguard.errors import ApprovalError

__all__ = ["NAME", "argument_at", "exact_json", "pinned_paths", "quote"]


# String literals of the policy language know only the escapes \" and \\, and pycasbin's line tokenizer
# splits on commas outside ()/[] while ignoring quotes: every literal built here is checked (or
# escaped) so nothing an agent sends can end the literal, the rule or the line.
def quote(value: str) -> str:
    """``value`` as a double-quoted string literal of the policy language (escapes \" and \\ only)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ApprovalError("a policy string cannot hold control characters or line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Inside a JSON string every character but these is written as \uXXXX: no quote, backslash, bracket,
# comma or '#' can then end the policy literal, the condition or the rule line.
_JSON_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./:@=%+*!~^$&'<>?|`;{}"
)


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _JSON_PLAIN:
            out.append(ch)
        else:
            for unit in ch.encode("utf-16-be", "surrogatepass").hex(" ", 2).split():
                out.append(f"\\u{unit}")
    out.append('"')
    return "".join(out)


def exact_json(value: Any) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces) safe to embed in a policy string literal."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ApprovalError("a non-finite number cannot be matched exactly; choose the tool scope")
        return repr(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ApprovalError("argument keys must be strings to be matched exactly", field="arguments")
        items = (f"{_json_string(k)}:{exact_json(value[k])}" for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(exact_json(v) for v in value) + "]"
    raise ApprovalError(
        f"a {type(value).__name__} argument cannot be matched exactly; choose the tool scope",
        field="arguments",
    )


# An argument a condition can name: a plain name, or a dotted path of them into nested objects.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def argument_at(arguments: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` (dotted: ``options.destination``) in ``arguments``; None when absent."""
    value: Any = arguments
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _as_written(value: str) -> str | None:
    """A ``path()`` pattern naming exactly the file ``value`` names as written (relative to the
    workspace, ``~/`` to the home folder), glob characters escaped; ``None`` for ``~user``."""
    if value.startswith("~"):
        if not value.startswith("~/"):
            return None
        prefix, rest = "{home}", value[2:]
    elif value.startswith("/"):
        prefix, rest = "", value[1:]
    else:
        prefix, rest = "{workspace}", value
    body = posixpath.normpath("/" + rest)
    body = body[1:] if body.startswith("//") else body
    return prefix + glob.escape(body) if body != "/" or not prefix else prefix


def pinned_paths(
    arguments: Mapping[str, Any],
    decided: Mapping[str, Any] | None,
    path_keys: Iterable[str],
    *,
    grant: str = "an exact-call grant",
) -> str:
    """`` && path(key, "<file>")`` for each path argument (``path_keys`` the call has as text) and
    each argument the decision resolved to another text (a relative path, a symlink, ``..``): the
    grant then covers the call only while each names the file it named when approved, never a
    symlink swapped in later or the same text in another workspace. A value no such term can pin
    (inside a list, under a key that is not a plain name, ``~user``) refuses the grant (``grant``
    names it in the message)."""
    pins: dict[str, str | None] = {}
    for key in path_keys:
        value = argument_at(arguments, key)
        if isinstance(value, str):
            pins[key] = _as_written(value)
    for key, value in (decided or {}).items():
        if arguments.get(key) != value:
            pins[key] = glob.escape(value) if isinstance(value, str) and value.startswith("/") else None
    terms: list[str] = []
    for key, pattern in pins.items():
        if pattern is None or not NAME.match(key):
            other = "" if grant != "an exact-call grant" else ", or choose the pattern scope"
            raise ApprovalError(
                f"argument {key!r} names a file {grant} cannot pin; approve once{other}",
                field="scope",
            )
        terms.append(f"path({key}, {quote(pattern)})")
    return "".join(f" && {term}" for term in terms)
