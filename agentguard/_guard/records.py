"""The audit record of one step of a call, and the fields the steps put in it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agentguard.audit import redact
from agentguard.detectors import is_sensitive_key
from agentguard.errors import AuditError
from agentguard.models import Decision, ToolCall
from agentguard.pipeline import AuditSink
from agentguard.secret_arguments import MIN_SCRUBBED, SecretPath, masked, scrubbed, secret_texts

__all__ = ["decided_arguments", "keyed_texts", "record", "resolved_field", "summary", "verdict"]

_SUMMARY_CHARS = 500


_ARGUMENT_FIELDS = frozenset({"arguments", "original_arguments", "resolved_arguments"})


def _without_secrets(
    fields: dict[str, Any], arguments: dict[str, Any], paths: tuple[SecretPath, ...]
) -> dict[str, Any]:
    """``fields`` with the call's secret arguments masked wherever arguments are (any depth), and their
    texts replaced wherever else they appear (a reason, an error, a result)."""
    texts: set[str] = set(secret_texts(arguments, paths))

    def walk(value: Any, depth: int) -> Any:
        if depth > 8 or not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if key in _ARGUMENT_FIELDS and isinstance(item, dict):
                texts.update(secret_texts(item, paths))
                out[key] = walk(masked(item, paths), depth + 1)
            else:
                out[key] = walk(item, depth + 1)
        return out

    shown: dict[str, Any] = walk(fields, 0)
    if texts:
        shown = scrubbed(shown, sorted(texts, key=len, reverse=True))
    return shown


_keyed = functools.lru_cache(maxsize=4096)(is_sensitive_key)  # argument names repeat endlessly
_KEYED_DEPTH = 8


def keyed_texts(arguments: Any, depth: int = 0) -> list[str]:
    """The texts under keys that name a secret (``password``, ``api_key``: see ``is_sensitive_key``)
    anywhere in ``arguments``, at least ``MIN_SCRUBBED`` long: the audit log writes such a value as
    ``[REDACTED]`` in the arguments and looks for it where a tool repeats it (an error, a result)."""
    found: list[str] = []
    if depth > _KEYED_DEPTH:
        return found
    if type(arguments) is dict:
        for key, value in arguments.items():
            if type(value) is str:
                if len(value) >= MIN_SCRUBBED and isinstance(key, str) and _keyed(key):
                    found.append(value)
            elif isinstance(value, dict | list):
                found.extend(keyed_texts(value, depth + 1))
    elif type(arguments) is list:
        for item in arguments:
            if isinstance(item, dict | list):
                found.extend(keyed_texts(item, depth + 1))
    return found


def record(
    audit: AuditSink,
    event: str,
    call: ToolCall | dict[str, Any],
    *,
    hide: Sequence[str] = (),
    **fields: Any,
) -> None:
    """Write ``event`` for ``call`` (the model, or its fields as a dict: ``receive`` builds no model
    for ``call.received``); any failure is an ``AuditError`` (the call stops there). A call's
    secret arguments are masked in every record (``agentguard.secret_arguments``); ``hide``: more
    texts masked wherever the record holds them (``keyed_texts``: the values of key-named secrets,
    which a tool's error or result may repeat)."""
    # the fields themselves: pydantic's attribute hook costs ~650 instructions a read
    own = call if type(call) is dict else call.__dict__
    if own["secrets"]:
        fields = _without_secrets(fields, own["arguments"], own["secrets"])
    if hide:
        fields = scrubbed(fields, sorted(set(hide), key=len, reverse=True))
    try:
        audit.record(
            event,
            call_id=own["id"],
            agent=own["agent"],
            tool=own["tool"],
            session=own["session"],
            framework=own["framework"],
            **fields,
        )
    except AuditError:
        raise
    except Exception as exc:
        raise AuditError(f"audit log write failed: {exc}", event=event, call_id=own["id"]) from exc


_NUMBERS = (bool, int, float)  # a tuple: isinstance with ``a | b`` builds a union per call


def summary(value: Any, hide: Sequence[str] = ()) -> Any:
    """A tool's result as the ``execution.finished`` record shows it: scalars as they are, else text
    cut at 500 characters. ``hide``: the call's secret argument texts (``secret_texts``), masked in
    text that is cut (the record masks them in the rest, but not a part of one the cut left)."""
    if type(value) is str:  # the common result, without the ABC check below
        return value if len(value) <= _SUMMARY_CHARS else _cut(value, hide)
    if value is None or isinstance(value, _NUMBERS):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SUMMARY_CHARS:
        return _cut(text, hide)
    return text


_PAST_CUT = 4096  # how far past the cut a secret it goes through is looked for (a JWT, a key block)


def _cut(text: str, hide: Sequence[str]) -> str:
    """``text`` cut for the summary, redacted first: the log redacts the summary, and the first part
    of a secret the cut went through is no longer a secret it recognises."""
    window = text[: _SUMMARY_CHARS + _PAST_CUT]
    if hide:
        window = scrubbed(window, hide)
    shown: str = redact(window)
    return shown[:_SUMMARY_CHARS] + f"... [{len(text) - _SUMMARY_CHARS} more chars]"


def decided_arguments(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """What the tool runs with: the policy's resolved arguments when it resolved any, else the call's."""
    return call.arguments if decision.arguments is None else decision.arguments


def _resolved(call: ToolCall, decision: Decision) -> dict[str, Any] | None:
    """The top-level arguments deciding changed (resolved paths), with their new values."""
    if decision.arguments is None:
        return None
    return {k: v for k, v in decision.arguments.items() if call.arguments.get(k) != v}


def verdict(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """A decision as an audit field: effect, rule, reason and the resolved arguments it decided on."""
    return {
        "effect": decision.effect.value,
        "rule": decision.rule_id,
        "reason": decision.reason,
        "arguments": _resolved(call, decision),
    }


def resolved_field(call: ToolCall, decision: Decision) -> dict[str, Any]:
    """The ``resolved_arguments`` audit field, present only when deciding changed an argument."""
    resolved = _resolved(call, decision)
    return {} if resolved is None else {"resolved_arguments": resolved}
