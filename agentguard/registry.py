"""The guard's tool registry: each tool's name, callable and argument model.

A tool registered from a Python function gets a pydantic model derived from its signature; a tool whose
schema is data (an MCP tool, a LangChain ``args_schema``) brings its own model. Validation turns the
caller's arguments into the JSON form the policy decides on and the log records, and back into the values
the tool is called with, so the tool runs exactly what was decided.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from agentguard._stable_arguments import first_change
from agentguard._text_numbers import (
    Inexact,
    json_number,
    numbers_as_numbers,
    numbers_in_json,
    spells_numbers_as_text,
    values_of,
)
from agentguard.errors import InvalidArguments, UnknownTool
from agentguard.models import canonical_tool_name
from agentguard.secret_arguments import (
    SecretPath,
    Undecidable,
    concrete_paths,
    reveal,
    schema_secret_paths,
    schema_secrets,
)

__all__ = [
    "Inexact",
    "RegisteredTool",
    "ToolRegistry",
    "arguments_model",
    "bind_arguments",
    "json_number",
    "numbers_in_json",
    "snapshot",
]


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    """One registered tool."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    model: type[BaseModel]
    sandboxed: bool
    description: str
    round_trips: bool = False
    """Whether the tool's values are their JSON form validated again (``round_trips``): then a call's
    first validation gives the values the tool runs with, unless deciding changed an argument."""

    def validate(
        self, arguments: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], tuple[SecretPath, ...]]:
        """(values to call the tool with, JSON-able values for the policy, the paths of the secrets
        among them). A secret's JSON form is its text, not pydantic's mask: the policy decides on
        what the tool gets; whoever writes the call down or shows it masks those paths."""
        given = snapshot(arguments)  # read once: the NaN walk below sees what pydantic was given
        parsed = self._parse(given)
        dumped, found = self._json_form(parsed)
        if (where := _non_finite(dumped) or _non_finite(given)) is not None:
            raise InvalidArguments(
                f"invalid arguments for {self.name}: {where}: NaN and the infinities are no JSON number, "
                "and no comparison can decide on them",
                tool=self.name,
            )
        secrets = tuple(dict.fromkeys(found)) if found else ()
        if self.round_trips:
            return self._values(parsed), dumped, secrets
        # The tool runs with ``dumped`` validated again: that must give ``dumped`` back. Those values
        # are what ``kwargs(dumped)`` gives, so ``reusable`` hands them on (no third validation).
        again = self._parse(dumped)
        self._stable(dumped, self._json_form(again)[0])
        return self._values(again), dumped, secrets

    def _stable(self, decided: dict[str, Any], again: dict[str, Any]) -> None:
        """Refuse arguments that validating again changes (see ``_stable_arguments``)."""
        where = first_change(decided, again)
        if where is not None:
            raise InvalidArguments(
                f"invalid arguments for {self.name}: {where}: validating the value again changes it "
                "(a validator that is not idempotent), so the tool would not run what was decided",
                tool=self.name,
                field=where,
            )

    def _json_form(self, parsed: BaseModel) -> tuple[dict[str, Any], list[SecretPath]]:
        """The JSON form the policy decides on, and the paths of the secrets in it."""
        dumped = parsed.model_dump(mode="json")
        found: list[SecretPath] = []
        if _has_secret_fields(self.model):
            try:
                dumped, found = reveal(parsed, dumped)
            except Undecidable as exc:
                raise InvalidArguments(f"invalid arguments for {self.name}: {exc}", tool=self.name) from None
        declared = _secret_patterns(self.model)
        if declared:
            found += concrete_paths(dumped, declared)
        if spells_numbers_as_text(self.model):
            try:
                dumped = numbers_as_numbers(values_of(parsed), dumped)
            except Inexact as exc:
                raise InvalidArguments(
                    f"invalid arguments for {self.name}: {exc}", tool=self.name, value=str(exc.value)
                ) from None
        return dumped, found

    def reusable(self, values: dict[str, Any], decided: Mapping[str, Any]) -> dict[str, Any] | None:
        """``values`` (from ``validate``) when validating their JSON form again gives them back (the
        tool's fields are plain ``str``/``int``/``bool`` and so is each value) and that form is
        ``decided`` (a model's own ``model_dump`` may spell them otherwise): what ``kwargs`` of the
        decided arguments would return, without validating twice. ``None``: call ``kwargs``."""
        if not self.round_trips:  # ``validate`` gave the decided form validated again: kwargs's values
            return values
        if len(values) != len(decided):
            return None
        for key, value in values.items():
            if type(value) not in _EXACT_PLAIN:
                return None
            spelt = decided.get(key, _NO_DEFAULT)
            if spelt is not value and (type(spelt) is not type(value) or spelt != value):
                return None
        return values

    def declared_secrets(self, arguments: Mapping[str, Any]) -> tuple[SecretPath, ...]:
        """The paths of ``arguments`` the tool's schema declares secret (for a call that did not
        validate: what can be masked without its parsed values)."""
        return tuple(concrete_paths(dict(arguments), _secret_patterns(self.model)))

    def kwargs(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The values to call the tool with: ``arguments`` (decided) validated again, refused when that
        changes them (``_stable_arguments``)."""
        parsed = self._parse(arguments)
        if not self.round_trips:
            self._stable(dict(arguments), self._json_form(parsed)[0])
        return self._values(parsed)

    def _values(self, parsed: BaseModel) -> dict[str, Any]:
        if self.round_trips:  # no extras, no validators that could set attributes: __dict__ is the fields
            return dict(parsed.__dict__)
        values = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        values.update(parsed.model_extra or {})
        return values

    def _parse(self, arguments: Mapping[str, Any]) -> BaseModel:
        try:
            return self.model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "problem": e["msg"]}
                for e in exc.errors()
            ]
            text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            raise InvalidArguments(
                f"invalid arguments for {self.name}: {text}", tool=self.name, problems=problems
            ) from None


# ------------------------------------------------------------- values that are their own JSON form
#
# A tool runs with its decided (JSON) arguments validated again (``kwargs``). For a model of plain
# fields only (``str``, ``int``, ``bool``, optional, with a default of that type), no validators,
# aliases, computed or extra fields, validating a value's JSON form gives back the same value when
# it is an exact ``str``/``int``/``bool``/``None``: the first validation's values can be used as is.

_EXACT_PLAIN = frozenset({str, int, bool, type(None)})
_LEAVES: dict[str, type] = {"str": str, "int": int, "bool": bool}
_MODEL_KEYS = frozenset({"cls", "config", "custom_init", "metadata", "ref", "root_model", "schema", "type"})
_CONFIG_KEYS = frozenset({"extra_fields_behavior", "title"})
_FIELDS_KEYS = frozenset({"computed_fields", "fields", "model_name", "type"})


def _plain_field(schema: Any) -> bool:
    if not isinstance(schema, dict) or schema.get("type") != "model-field":
        return False
    if not schema.keys() <= {"type", "schema", "metadata"}:
        return False
    inner: Any = schema.get("schema")
    default: Any = _NO_DEFAULT
    if isinstance(inner, dict) and inner.get("type") == "default":
        if inner.keys() != {"type", "schema", "default"}:
            return False
        default, inner = inner["default"], inner["schema"]
    nullable = isinstance(inner, dict) and inner.get("type") == "nullable"
    if nullable and inner.keys() != {"type", "schema"}:
        return False
    if nullable:
        inner = inner["schema"]
    if not isinstance(inner, dict) or inner.keys() != {"type"} or inner["type"] not in _LEAVES:
        return False
    if default is _NO_DEFAULT or (default is None and nullable):
        return True
    return type(default) is _LEAVES[inner["type"]]


_NO_DEFAULT = object()


def round_trips(model: type[BaseModel]) -> bool:
    """Whether ``model`` is plain fields only (see above), read from its core schema."""
    schema = getattr(model, "__pydantic_core_schema__", None)
    if not isinstance(schema, dict) or schema.get("type") != "model" or not schema.keys() <= _MODEL_KEYS:
        return False
    if schema.get("custom_init") or schema.get("root_model"):
        return False
    config = schema.get("config", {})
    if not isinstance(config, dict) or not config.keys() <= _CONFIG_KEYS:
        return False
    if config.get("extra_fields_behavior", "ignore") not in ("forbid", "ignore"):
        return False
    fields = schema.get("schema")
    if not isinstance(fields, dict) or fields.get("type") != "model-fields":
        return False
    if not fields.keys() <= _FIELDS_KEYS or fields.get("computed_fields"):
        return False
    members = fields.get("fields")
    return isinstance(members, dict) and all(_plain_field(f) for f in members.values())


_SECRET_FIELDS: dict[type[BaseModel], bool] = {}


def _has_secret_fields(model: type[BaseModel]) -> bool:
    """Whether a value of ``model`` can hold a ``SecretStr``/``SecretBytes`` (a field of that type, or
    one that takes any object)."""
    known = _SECRET_FIELDS.get(model)
    if known is None:
        schema = str(getattr(model, "__pydantic_core_schema__", ""))
        known = _SECRET_FIELDS[model] = "Secret" in schema or "'type': 'any'" in schema
    return known


_PATTERNS: dict[type[BaseModel], tuple[tuple[str, ...], ...]] = {}


def _secret_patterns(model: type[BaseModel]) -> tuple[tuple[str, ...], ...]:
    """The secret paths ``model`` declares: those its JSON schema marks (a ``SecretStr`` field is
    ``writeOnly``), or those of the JSON schema a tool brought (``set_schema_secrets``)."""
    known = _PATTERNS.get(model)
    if known is None:
        known = schema_secrets(model)
        if not known:
            try:
                known = tuple(schema_secret_paths(model.model_json_schema()))
            except Exception:  # noqa: BLE001 - a type with no JSON schema: its values are revealed
                known = ()
        _PATTERNS[model] = known
    return known


def snapshot(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of ``arguments``, read once (a ``Mapping``'s ``items()`` once): whatever reads it
    later sees the same keys and values, however the caller's mapping answers a second read. Only the
    top level is copied; see docs/architecture.md for what that leaves."""
    if type(arguments) is dict:
        return dict(arguments)
    if isinstance(arguments, Mapping):
        return dict(arguments.items())
    return dict(arguments)


def _non_finite(value: Any) -> str | None:
    """Where ``value`` holds a float that is NaN or infinite (``json.loads`` reads ``NaN``), else None:
    the JSON form, and the caller's arguments (an ``Any`` field dumps NaN as ``null``). Every
    comparison with NaN is false: ``gt(x, 10)`` and ``le(x, 0)`` would both let it by."""
    if not _any_non_finite(value):  # every call: no paths built unless one is found
        return None
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, at = stack.pop()
        if isinstance(node, float):  # a subclass too (``numpy.float64``)
            if not math.isfinite(node):
                return at or "(arguments)"
        elif isinstance(node, dict):
            stack.extend((item, f"{at}.{key}" if at else str(key)) for key, item in node.items())
        elif isinstance(node, list | tuple | set | frozenset):  # a set dumps as a list
            stack.extend((item, f"{at}.{n}" if at else str(n)) for n, item in enumerate(node))
    return None


def _any_non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or infinite float (a float subclass too), anywhere inside."""
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str or kind is int or kind is bool or node is None:
            continue
        if isinstance(node, float):
            if node - node != 0.0:  # NaN - NaN and inf - inf are NaN; any finite x - x is 0.0
                return True
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            stack.extend(node)
    return False


def arguments_model(name: str, fn: Callable[..., Any]) -> type[BaseModel]:
    """The pydantic model of ``fn``'s keyword-passable parameters (``**kwargs`` allows extra keys)."""
    sig = inspect.signature(fn)
    fields: dict[str, Any] = {}
    open_ended = False
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations fall back to Any
        hints = {}
    for param in sig.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise TypeError(f"tool {name!r}: parameter {param.name!r} must be passable by keyword")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    model_name = "Args_" + "".join(c if c.isalnum() else "_" for c in name)
    config = ConfigDict(extra="allow" if open_ended else "forbid", arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(model_name, __config__=config, **fields)
    return model


def bind_arguments(
    signature: inspect.Signature, tool: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """A Python call's positional and keyword arguments as the tool's arguments by name.

    What a guarded wrapper hands the guard, so ``close_ticket(7)`` is decided as ``{"ticket_id": 7}``.
    Defaults are left to the argument model; ``**kwargs`` entries are spread out, as callers wrote them.
    A call that does not fit the signature raises ``InvalidArguments``.
    """
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArguments(f"invalid arguments for {tool}: {exc}", tool=tool) from None
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[name] = value
    return out


class ToolRegistry:
    """Name -> tool, names case-insensitive ASCII (``canonical_tool_name``); safe to add from any thread."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        sandboxed: bool = False,
        description: str | None = None,
        args_model: type[BaseModel] | None = None,
    ) -> RegisteredTool:
        """Register ``fn`` under ``name``; ``ValueError`` if the name is taken or cannot be a tool name."""
        canonical = canonical_tool_name(name)
        model = args_model or arguments_model(canonical, fn)
        tool = RegisteredTool(
            name=canonical,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            model=model,
            sandboxed=sandboxed,
            description=description or inspect.getdoc(fn) or "",
            round_trips=round_trips(model),
        )
        with self._lock:
            if canonical in self._tools:
                raise ValueError(f"tool {canonical!r} is already registered")
            self._tools[canonical] = tool
        return tool

    def lookup(self, name: str) -> RegisteredTool:
        """The tool called ``name`` (any case); ``UnknownTool`` otherwise."""
        if type(name) is str:  # a name as registered is its own canonical spelling
            tool = self._tools.get(name)
            if tool is not None:
                return tool
        try:
            canonical = canonical_tool_name(name)
        except ValueError as exc:
            raise UnknownTool(str(exc), tool=name) from None
        tool = self._tools.get(canonical)
        if tool is None:
            raise UnknownTool(f"unknown tool {name!r}", tool=name, known=sorted(self._tools))
        return tool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)
