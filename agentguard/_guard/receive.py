"""Receiving a call: the ``ToolCall`` built, the tool looked up, its arguments validated (keys the schema
does not declare dropped), and a Python call's positional arguments bound to parameter names."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from agentguard._guard.records import record
from agentguard.audit import vouch
from agentguard.errors import AgentGuardError, InvalidArguments, UnknownTool
from agentguard.models import ToolCall, built, new_id
from agentguard.pipeline import AuditSink
from agentguard.registry import RegisteredTool, ToolRegistry, bind_arguments, snapshot
from agentguard.secret_arguments import SecretPath

__all__ = ["dropped_keys", "guarded_wrapper", "receive", "record_rejected"]

F = TypeVar("F", bound=Callable[..., Any])

_TEXT_OR_NONE = (str, type(None))  # a tuple: isinstance with ``a | b`` builds a union per call


def _built_call(fields: dict[str, Any]) -> ToolCall:
    """The ``ToolCall`` of fields built right here from checked types (``models.built``)."""
    return built(ToolCall, fields)


def receive(
    audit: AuditSink,
    registry: ToolRegistry,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    agent: str,
    session: str | None,
    framework: str | None,
) -> tuple[RegisteredTool, ToolCall, dict[str, Any] | None]:
    """Record ``call.received``; return the tool, the call with validated arguments and, when they are
    what validating those arguments again gives (``RegisteredTool.reusable``), the values to run the
    tool with; or record ``call.rejected`` and raise (``UnknownTool``, ``InvalidArguments``)."""
    given = snapshot(arguments)  # read once: recorded, validated and decided are the same arguments
    fields: dict[str, Any] = {
        "id": vouch(new_id()),  # random: nothing in it for the audit log's redaction to find
        "agent": agent,
        "tool": tool,
        "arguments": given,
        "session": session,
        "framework": framework,
        "time": datetime.now(UTC),
        "secrets": (),
    }
    # Every field is built right here from checked types, so the model's validation (a sixth of a
    # guarded call's cost) is only needed when a caller passed something odd.
    plain = (
        isinstance(agent, str)
        and isinstance(tool, str)
        and isinstance(session, _TEXT_OR_NONE)
        and isinstance(framework, _TEXT_OR_NONE)
    )
    # The call.received record is written from these fields: no model is built for it.
    raw: dict[str, Any] = fields
    if not plain:
        try:
            raw = ToolCall.model_validate(fields).__dict__
        except ValidationError as exc:
            raise InvalidArguments(f"malformed call: {exc.errors()[0]['msg']}", tool=str(tool)) from None
    # Validated before call.received is written: the record masks the arguments that are secrets.
    failure: UnknownTool | InvalidArguments | None = None
    entry: RegisteredTool | None = None
    json_args: dict[str, Any] = {}
    values: dict[str, Any] = {}
    secrets: tuple[SecretPath, ...] = ()
    try:
        entry = registry.lookup(tool)
        values, json_args, secrets = entry.validate(given)
    except (UnknownTool, InvalidArguments) as exc:
        failure = exc
        secrets = entry.declared_secrets(raw["arguments"]) if entry is not None else ()
    if secrets:
        raw = {**raw, "secrets": secrets}
    record(audit, "call.received", raw, arguments=raw["arguments"])
    if failure is not None or entry is None:
        record(audit, "call.rejected", raw, error=failure.to_dict() if failure else {})
        raise failure or InvalidArguments("no tool", tool=str(tool))
    dropped = dropped_keys(raw["arguments"], json_args)
    if dropped:  # keys the tool's schema does not declare: never decided on, never forwarded
        record(audit, "call.arguments_dropped", raw, dropped=dropped)
    call = _built_call({**fields, "tool": entry.name, "arguments": json_args, "secrets": secrets})
    return entry, call, entry.reusable(values, json_args)


def record_rejected(
    audit: AuditSink,
    tool: str,
    arguments: Mapping[str, Any] | None,
    error: AgentGuardError,
    *,
    agent: str,
    session: str | None,
    framework: str | None,
    received: Mapping[str, Any],
) -> None:
    """``call.received`` then ``call.rejected`` for a call refused before it entered the pipeline."""
    given = snapshot(arguments) if arguments is not None else None  # read once, as receive does
    call = ToolCall.model_construct(
        id=new_id(),
        agent=agent,
        tool=tool,
        arguments=given if given is not None else {},
        session=session,
        framework=framework,
        time=datetime.now(UTC),
    )
    record(audit, "call.received", call, arguments=dict(given) if given is not None else None, **received)
    record(audit, "call.rejected", call, error=error.to_dict())


def dropped_keys(given: Any, kept: Any, prefix: str = "") -> list[str]:
    """Dotted names of the object keys in ``given`` that validation left out of ``kept``."""
    if not prefix:
        try:
            if given == kept:  # the common case: validation kept every key (and value)
                return []
        except Exception:  # noqa: BLE001, S110 - an odd value's __eq__: the walk below decides
            pass
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        return [
            n
            for i, (g, k) in enumerate(zip(given, kept, strict=True))
            for n in dropped_keys(g, k, f"{prefix}{i}.")
        ]
    if not isinstance(given, Mapping) or not isinstance(kept, Mapping):
        return []
    out: list[str] = []
    for key, value in given.items():
        name = f"{prefix}{key}"
        if key not in kept:
            out.append(name)
        else:
            out.extend(dropped_keys(value, kept[key], name + "."))
    return out


def guarded_wrapper(
    name: str,
    fn: F,
    *,
    call: Callable[[str, dict[str, Any]], Any],
    acall: Callable[[str, dict[str, Any]], Awaitable[Any]],
    reject: Callable[..., None],
) -> F:
    """A wrapper of ``fn``'s kind (sync or async) that sends each call through the guard.

    ``wraps`` advertises fn's signature, so the wrapper accepts what it says: positional arguments are
    bound to parameter names; a call that does not fit is rejected (audited) as ``InvalidArguments``.
    """
    signature = inspect.signature(fn)

    def bound(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            return bind_arguments(signature, name, args, kwargs)
        except InvalidArguments as exc:
            reject(name, None, exc, positional=len(args), keywords=sorted(kwargs))
            raise

    if inspect.iscoroutinefunction(fn):

        @wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await acall(name, bound(args, kwargs))

        return cast(F, async_wrapper)

    @wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        return call(name, bound(args, kwargs))

    return cast(F, sync_wrapper)
