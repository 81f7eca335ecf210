"""Guarded LangChain tools: the same name, description and argument schema, every call through the guard."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.runnables import ensure_config
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.utils.pydantic import get_fields
from pydantic import BaseModel, PrivateAttr, SecretBytes, SecretStr, ValidationError
from pydantic.v1 import BaseModel as BaseModelV1
from pydantic_core import to_jsonable_python

from agentguard._stable_arguments import first_change
from agentguard.errors import CallRejected, InvalidArguments, ToolFailed
from agentguard.guard import Guard
from agentguard.integrations._arguments import json_schema_model, rejection_text
from agentguard.integrations.langchain._content import shown_content
from agentguard.models import canonical_tool_name
from agentguard.registry import numbers_in_json
from agentguard.secret_arguments import Undecidable, holds_secret, reveal
from agentguard.session._redacted_errors import redacted_error

__all__ = ["FRAMEWORK", "GuardedTool", "guard_tools"]

FRAMEWORK = "langchain"
OnDeny = Literal["return", "raise"]


@dataclass
class _Pending:
    """What LangChain handed our ``_run``, needed to call the original tool the way LangChain would;
    the per-call ``invoke`` the guard runs holds it. ``extra``: injected objects (a graph's state, a
    store) no model could have written, which cannot go through the guard's JSON check."""

    is_async: bool
    parsed: dict[str, Any]
    sent: dict[str, Any]
    run_manager: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is what a model's JSON arguments can hold (str, number, bool, null, and lists
    and string-keyed objects of them). Too deep to tell counts as plain: it is then decided on."""
    if value is None or type(value) in (str, int, float, bool):
        return True
    if depth > 64:
        return True
    if type(value) is list:
        return all(_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _schema_of(tool: BaseTool) -> dict[str, Any]:
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return {k: v for k, v in schema.items() if k != "description"}
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    json_schema = getattr(schema, "schema", None)  # pydantic v1 model
    if callable(json_schema):
        value: dict[str, Any] = json_schema()
        return value
    raise TypeError(f"tool {tool.name!r}: cannot read its argument schema ({schema!r})")


def _as_text(value: Any) -> str:
    """A ``Fraction`` LangChain parsed, as the text its schema takes (``"21/2"``; decided as 10.5)."""
    if isinstance(value, Fraction):
        return str(value)
    raise TypeError(f"cannot read a {type(value).__name__} argument as JSON")


def _schema_fields(tool: BaseTool) -> list[str]:
    """The field names of a pydantic ``args_schema``, in order (injected arguments included)."""
    schema = tool.args_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel | BaseModelV1):
        return list(get_fields(schema))
    return []


def _text_field(tool: BaseTool, fields: list[str]) -> str | None:
    """The argument a text input stands for: the field LangChain checks it as (the schema's first),
    or with no pydantic schema the one tool-call field; ``None``: a text input is refused."""
    if tool.args_schema is not None:
        names = _schema_fields(tool)
        return names[0] if names else None
    return fields[0] if len(fields) == 1 else None


def _lost_in_json(
    tool: BaseTool, values: dict[str, Any], hidden: dict[str, Any], shown: dict[str, Any]
) -> str | None:
    """The first argument whose JSON form (what the guard decides on) parses back, through the tool's
    schema, to something other than what the tool gets; ``None`` when every one round-trips."""
    schema = tool.args_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return None  # a JSON-schema dict (values are JSON already) or no schema (nothing parsed)
    try:
        again = schema.model_validate({**hidden, **shown}, by_alias=True, by_name=True)
    except ValidationError:
        return next(iter(values), "(arguments)")
    for key, value in values.items():
        if not _same(value, getattr(again, key, None)):
            return key
    return None


def _same(given: Any, again: Any) -> bool:
    """Equal as the tool sees them (a secret by its value: its JSON form is its text)."""
    if isinstance(given, SecretStr | SecretBytes):
        return type(given) is type(again) and given.get_secret_value() == again.get_secret_value()
    if isinstance(given, BaseModel):
        if type(given) is not type(again):
            return False
        pairs = [*given.__dict__.items(), *(given.model_extra or {}).items()]
        extra = again.model_extra or {}
        return all(_same(v, again.__dict__[k] if k in again.__dict__ else extra.get(k)) for k, v in pairs)
    if isinstance(given, dict) and isinstance(again, dict):
        return given.keys() == again.keys() and all(_same(v, again[k]) for k, v in given.items())
    if isinstance(given, list | tuple) and isinstance(again, list | tuple):
        return len(given) == len(again) and all(_same(a, b) for a, b in zip(given, again, strict=True))
    try:
        return bool(given == again)
    except Exception:  # noqa: BLE001 - a value that cannot be compared is not known to be the same
        return False


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class GuardedTool(BaseTool):
    """A LangChain tool that runs ``original`` only after the guard allows the call.

    Made by :func:`guard_tools`; it has the original's name, description, ``args_schema`` and
    response format, so ``bind_tools`` and tool-calling agents see no difference.
    """

    policy_name: str
    on_deny: OnDeny = "return"
    agent: str | None = None
    _guard: Guard = PrivateAttr()
    _original: BaseTool = PrivateAttr()
    _fields: frozenset[str] = PrivateAttr()
    _text_field: str | None = PrivateAttr()

    def attach(
        self, guard: Guard, original: BaseTool, fields: Iterable[str], text_field: str | None
    ) -> GuardedTool:
        self._guard = guard
        self._original = original
        self._fields = frozenset(fields)
        self._text_field = text_field
        return self

    @property
    def original(self) -> BaseTool:
        """The wrapped tool (calling it directly bypasses the guard)."""
        return self._original

    # -- the call ---------------------------------------------------------------------------------
    def _parse_input(
        self, tool_input: str | dict[str, Any], tool_call_id: str | None
    ) -> str | dict[str, Any]:
        """LangChain's own parsing, as for the original; a rejection is also written to the audit log."""
        try:
            return super()._parse_input(tool_input, tool_call_id)
        except (ValidationError, ValueError, TypeError) as exc:
            error = InvalidArguments(
                f"invalid arguments for {self.policy_name}: {exc}", tool=self.policy_name, problem=str(exc)
            )
            self._guard.reject(self.policy_name, None, error, framework=FRAMEWORK, agent=self.agent)
            raise

    def _split(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Pending | InvalidArguments:
        """What the guard decides, and what the original gets besides. Every value a model could have
        written is decided: the tool-call schema's fields, and plain JSON under any other name (an
        ``InjectedToolArg`` the app left unset takes the model's value; with a JSON-schema
        ``args_schema`` LangChain forwards undeclared keys, which the guard then drops). A text input
        is bound by name to the field LangChain checked it as, and the original is called that way."""
        if args:
            if len(args) != 1 or self._text_field is None:
                return InvalidArguments(
                    f"invalid arguments for {self.policy_name}: a text input cannot be bound to one "
                    "argument of this tool; send the arguments as an object",
                    tool=self.policy_name,
                )
            kwargs = {**kwargs, self._text_field: args[0]}
        visible = {k: v for k, v in kwargs.items() if k in self._fields}
        hidden = {k: v for k, v in kwargs.items() if k not in self._fields}
        written = {k: v for k, v in hidden.items() if _plain_json(v)}
        objects = {k: v for k, v in hidden.items() if k not in written}
        shown = to_jsonable_python(visible, fallback=_as_text)
        if holds_secret(visible):  # decided on the secret's text, as the tool gets it (logged masked)
            try:
                shown = reveal(visible, shown)[0]
            except Undecidable as exc:
                return InvalidArguments(
                    f"invalid arguments for {self.policy_name}: {exc}", tool=self.policy_name
                )
        lost = None if _plain_json(visible) else _lost_in_json(self._original, visible, hidden, shown)
        if lost is not None:
            return InvalidArguments(
                f"invalid arguments for {self.policy_name}: the JSON form of {lost!r} does not hold "
                "what the tool gets (a field left out of dumps, a custom serializer); cannot decide on it",
                tool=self.policy_name,
            )
        return _Pending(False, kwargs, {**shown, **written}, None, objects)

    def _run(self, *args: Any, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any) -> Any:
        pending = self._split(args, kwargs)
        if isinstance(pending, InvalidArguments):
            return self._unbound(pending)
        pending.run_manager = run_manager

        def invoke(**arguments: Any) -> Any:
            target, call_kwargs = self._original_call(pending, arguments)
            return self._shown(target(**call_kwargs))

        try:
            return self._guard.call(
                self.policy_name, pending.sent, agent=self.agent, framework=FRAMEWORK, invoke=invoke
            )
        except CallRejected as exc:
            return self._refused(exc)
        except ToolFailed as exc:
            raise self._failure(exc) from None

    async def _arun(
        self, *args: Any, run_manager: AsyncCallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> Any:
        pending = self._split(args, kwargs)
        if isinstance(pending, InvalidArguments):
            return self._unbound(pending)
        pending.is_async, pending.run_manager = True, run_manager

        async def invoke(**arguments: Any) -> Any:
            target, call_kwargs = self._original_call(pending, arguments)
            return self._shown(await target(**call_kwargs))

        try:
            return await self._guard.acall(
                self.policy_name, pending.sent, agent=self.agent, framework=FRAMEWORK, invoke=invoke
            )
        except CallRejected as exc:
            return self._refused(exc)
        except ToolFailed as exc:
            raise self._failure(exc) from None

    def _unbound(self, error: InvalidArguments) -> Any:
        self._guard.reject(self.policy_name, None, error, framework=FRAMEWORK, agent=self.agent)
        return self._refused(error)

    def _shown(self, response: Any) -> Any:
        """The tool's response with its content in the form LangChain shows the model (the guard reads,
        marks and redacts that form); an artifact, which the model is not shown, as it was."""
        if self.response_format != "content_and_artifact":
            return shown_content(response)
        if isinstance(response, tuple) and len(response) == 2:
            return (shown_content(response[0]), response[1])
        return response  # LangChain refuses it (not a two-tuple): nothing reaches the model

    def _failure(self, failed: ToolFailed) -> BaseException:
        """What to raise for a tool that failed: its own exception (``handle_tool_error`` and the app
        see the type they expect) with the tool's redaction applied, chaining hidden; when no clean copy
        can be made, the guard's ``ToolFailed`` (a ``ToolException`` for one), whose text is redacted."""
        original = failed.__cause__
        if original is None:
            return failed
        shown = redacted_error(self._guard.policy, self.policy_name, original)
        if shown is not None:
            return shown
        return ToolException(failed.message) if isinstance(original, ToolException) else failed

    def _refused(self, exc: CallRejected) -> Any:
        if self.on_deny == "raise":
            raise exc
        text = rejection_text(exc)
        return (text, None) if self.response_format == "content_and_artifact" else text

    # -- what the guard runs ------------------------------------------------------------------------
    def _original_call(
        self, pending: _Pending, arguments: dict[str, Any]
    ) -> tuple[Callable[..., Any], dict[str, Any]]:
        """How to call the original with the decided ``arguments``, the way LangChain would have."""
        original = self._original
        if arguments == pending.sent:
            kwargs = dict(pending.parsed)
        else:  # edited, a path resolved or a key dropped: parse them the way LangChain would
            # the injected objects go in too: LangChain passes them through as they are
            parsed = original._parse_input({**pending.extra, **arguments}, None)
            if not isinstance(parsed, dict):
                raise TypeError(f"{self.name}: the decided arguments did not parse as an object")
            kwargs = parsed
            self._unchanged(arguments, parsed)
        target = original._arun if pending.is_async else original._run
        if pending.run_manager is not None and _accepts(target, "run_manager"):
            kwargs["run_manager"] = pending.run_manager
        if _accepts(target, "config") and "config" not in kwargs:
            kwargs["config"] = ensure_config()
        return target, kwargs

    def _unchanged(self, decided: dict[str, Any], parsed: dict[str, Any]) -> None:
        """Refuse a call whose decided arguments the original's schema parses into other values (a
        validator that is not idempotent): the tool would not run what was decided."""
        visible = {k: parsed[k] for k in decided if k in parsed}
        shown = to_jsonable_python(visible, fallback=_as_text)
        if holds_secret(visible):
            shown = reveal(visible, shown)[0]
        shown = numbers_in_json(visible, shown)  # a Decimal is decided as a number (_split's rule)
        where = first_change({k: decided[k] for k in visible}, shown, unshown=True)
        if where is not None:
            raise InvalidArguments(
                f"invalid arguments for {self.policy_name}: {where}: the tool's schema parses the decided "
                "value into another (a validator that is not idempotent); cannot run what was decided",
                tool=self.policy_name,
                field=where,
            )

    def _outside_langchain(self, **_arguments: Any) -> Any:
        raise RuntimeError(f"{self.name}: the guarded tool was run outside LangChain")


def guard_tools(
    guard: Guard,
    tools: Iterable[BaseTool | Callable[..., Any]],
    *,
    on_deny: OnDeny = "return",
    agent: str | None = None,
    prefix: str = "",
) -> list[BaseTool]:
    """Register each LangChain tool with ``guard`` and return guarded stand-ins, in the same order.

    Each tool is named ``prefix + tool.name`` in policy, and its arguments are checked against the
    tool's own schema (``tool_call_schema``: what the model sees). A refused call returns the reason
    to the model as the tool's result (``on_deny="return"``), or raises the ``CallRejected`` error
    (``on_deny="raise"``). Plain functions are turned into tools with ``StructuredTool.from_function``.
    """
    if on_deny not in ("return", "raise"):
        raise ValueError(f"on_deny must be 'return' or 'raise', not {on_deny!r}")
    wrapped: list[BaseTool] = []
    for item in tools:
        original = item if isinstance(item, BaseTool) else StructuredTool.from_function(item)
        policy_name = canonical_tool_name(prefix + original.name)
        schema = _schema_of(original)
        properties = schema.get("properties")
        fields = list(properties) if isinstance(properties, Mapping) else []
        injected = [name for name in _schema_fields(original) if name not in fields]
        if injected:  # declared to the guard (any JSON value), so a value the model set is decided
            schema = {**schema, "properties": {**(properties or {}), **{name: {} for name in injected}}}
        guarded = GuardedTool(
            name=original.name,
            description=original.description,
            args_schema=original.args_schema
            if original.args_schema is not None
            else original.get_input_schema(),
            return_direct=original.return_direct,
            response_format=original.response_format,
            handle_tool_error=original.handle_tool_error,
            handle_validation_error=original.handle_validation_error,
            tags=original.tags,
            metadata=original.metadata,
            extras=original.extras,
            policy_name=policy_name,
            on_deny=on_deny,
            agent=agent,
        ).attach(guard, original, fields, _text_field(original, fields))
        guard.register(
            policy_name,
            guarded._outside_langchain,
            description=original.description,
            args_model=json_schema_model(policy_name, schema, pydantic=True),
        )
        wrapped.append(guarded)
    return wrapped
