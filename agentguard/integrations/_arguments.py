"""What every adapter needs: schema-checked arguments, a size cap, and the text of a refusal.

Tools that come from a framework describe their arguments as data (a JSON schema), not as a
Python signature. :func:`json_schema_model` turns such a schema into the pydantic model
``Guard.register(..., args_model=...)`` validates against, so a call that breaks the tool's own
schema is rejected (and audited) before the policy or a person ever sees it.

Keys the schema does not declare are dropped before deciding and before forwarding (the guard
audits which). A JSON schema without ``additionalProperties`` accepts any extra key, and the
tool then ignores it (FastMCP, pydantic and LangChain all do), so a rule reading such a key
would decide on a decoy: ``{"paths": [".env"], "path": "todo.md"}`` against a rule on ``path``.
A schema that sets ``additionalProperties`` (or ``patternProperties``) says the tool reads
extra keys, and they are kept. A left-out argument (or field of a nested object) with a schema
``default`` is decided and forwarded as that default: the tool fills it in anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from agentguard.errors import AgentGuardError, CallRejected, InvalidArguments, PolicyDenied
from agentguard.guard import Guard
from agentguard.integrations._compiled_schema import compiled
from agentguard.integrations._declared import declared_only
from agentguard.integrations._flat_schema import flat_properties
from agentguard.integrations._schema_defaults import _defaults, _with_defaults
from agentguard.integrations._schema_numbers import _numbers_for_text
from agentguard.integrations._wide_integers import wide_integer
from agentguard.registry import Inexact
from agentguard.secret_arguments import schema_secret_paths, set_schema_secrets

__all__ = [
    "MAX_ARGUMENT_BYTES",
    "check_size",
    "json_schema_model",
    "refusal_text",
    "rejection_text",
]

MAX_ARGUMENT_BYTES = 1024 * 1024
"""Arguments larger than this (as compact JSON) are rejected before they reach policy or the log."""

SchemaSource = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None]


def _validator(schema: Mapping[str, Any], pydantic: bool = False) -> Any:
    from jsonschema import validators  # type: ignore[import-untyped,unused-ignore]
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped,unused-ignore]

    cls = validators.validator_for(schema)
    try:
        cls.check_schema(dict(schema))
    except SchemaError as exc:
        raise ValueError(f"the tool's own input schema is invalid: {exc.message}") from None
    if pydantic:
        cls = validators.extend(cls, {"type": _numbers_for_text(cls.VALIDATORS["type"])})  # type: ignore[no-untyped-call,unused-ignore]
    return cls(schema)


def json_schema_model(
    tool: str, schema: SchemaSource, *, pydantic: bool = False, json_text: bool = False
) -> type[BaseModel]:
    """A pydantic model that accepts exactly the JSON objects ``schema`` accepts.

    ``schema`` is a JSON schema, or a callable returning the current one (an MCP server may change
    its tools while the proxy runs); a callable returning ``None`` means the tool is gone, and
    every call is rejected. ``pydantic``: the tool reads its arguments with pydantic (LangChain,
    the Agents SDK), so a ``format: duration`` string is decided and passed on as its seconds, a
    ``format: fraction`` one as its number. ``json_text``: the tool may read a string argument as the
    JSON it spells (an MCP server), so one that is the JSON of a value the schema also takes there
    is refused.
    """
    cache: dict[str, Any] = {}
    passed = _Passed()

    def current() -> tuple[Any, Mapping[str, Any]]:
        value = schema() if callable(schema) else schema
        if value is None:
            raise ValueError(f"{tool} is no longer offered by its server")
        key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        if cache.get("key") != key:
            cache["validator"] = _validator(value, pydantic)
            # text numbers (``pydantic``) are read by an extended ``type``: jsonschema's alone
            cache["compiled"] = None if pydantic else compiled(value)
            # a flat schema's declared-only form is a key filter (``_flat_schema``)
            cache["flat"] = None if pydantic else flat_properties(value)
            cache["key"] = key
            passed.clear()  # what passed the old schema says nothing about the new one
        return cache["validator"], value

    class JsonSchemaArguments(BaseModel):
        model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True)

        @model_validator(mode="before")
        @classmethod
        def _check(cls, data: Any) -> Any:
            if not isinstance(data, Mapping):
                raise PydanticCustomError("json_schema", "arguments must be a JSON object")
            try:
                raw = orjson.dumps(data)
            except TypeError as exc:
                raise PydanticCustomError(
                    "json_schema", "arguments are not JSON: {e}", {"e": str(exc)}
                ) from None
            validator, root = current()
            if passed.knows(raw, data):
                return data
            errors: list[Any] = []
            if not _compiled_valid(cache.get("compiled"), raw, data):  # else jsonschema's verdict, texts
                errors = sorted(validator.iter_errors(dict(data)), key=lambda e: list(map(str, e.path)))
            if errors:
                text = "; ".join(
                    f"{'.'.join(str(p) for p in e.path)}: {e.message}" if e.path else e.message
                    for e in errors
                )
                raise PydanticCustomError("json_schema", "{problems}", {"problems": text})
            if json_text and (key := _json_text_key(validator, root, data)) is not None:
                raise PydanticCustomError(
                    "json_schema",
                    "{key}: is the JSON text of a value the schema also takes there (a server may "
                    "read either); send the value itself",
                    {"key": key},
                )
            try:
                flat: frozenset[str] | None = cache["flat"]
                if flat is not None:
                    kept = {key: item for key, item in data.items() if key in flat}
                else:
                    kept = declared_only(root, _with_defaults(root, data), pydantic=pydantic)
            except Inexact as exc:
                raise PydanticCustomError("json_schema", "{problem}", {"problem": str(exc)}) from None
            if (where := _fold_equal_keys(kept)) is not None:
                raise PydanticCustomError(
                    "json_schema",
                    "{where}: two keys differ only in case (a server reading keys case-insensitively "
                    "takes the last; the policy decided on one); send each key once",
                    {"where": where},
                )
            if json_text and (where := wide_integer(raw, kept)) is not None:
                raise PydanticCustomError(
                    "json_schema",
                    "{where}: an integer past 2**53, which a JavaScript server reads rounded (the policy "
                    "decided on the exact one); send it as a string",
                    {"where": where},
                )
            passed.remember(raw, data, kept)
            return kept

    JsonSchemaArguments.__name__ = "Args_" + "".join(c if c.isalnum() else "_" for c in tool)
    if isinstance(schema, Mapping):  # writeOnly / format: password properties are secrets
        set_schema_secrets(JsonSchemaArguments, schema_secret_paths(schema))
    return JsonSchemaArguments


def _fold_equal_keys(value: Any, where: str = "(arguments)") -> str | None:
    """Where an object of ``value`` has two keys equal under Unicode case folding (``path``, ``PATH``,
    ``\u017fubject`` for ``subject``) or by their upper case (``f\u0131le``, with a dotless i, for
    ``file``), else None. Go's ``encoding/json`` matches keys by folding, .NET's ``OrdinalIgnoreCase``
    and Java's ``equalsIgnoreCase`` by upper case, and keep the last: the forwarded call would differ
    from the decided one."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        node, at = stack.pop()
        kind = type(node)
        if kind is dict or (kind is not list and isinstance(node, Mapping)):
            if len(node) > 1 and (twice := _folded_twice(node, at)) is not None:
                return twice  # one key alone has nothing to be folded into
            for key, item in node.items():
                if type(item) in _CONTAINERS or isinstance(item, _NESTED):
                    stack.append((item, f"{at}.{key}" if at != "(arguments)" else str(key)))
        elif kind is list:
            stack.extend(
                (item, f"{at}.{n}")
                for n, item in enumerate(node)
                if type(item) in _CONTAINERS or isinstance(item, _NESTED)
            )
    return None


_CONTAINERS = frozenset({dict, list})
_NESTED = (Mapping, list)  # a tuple: isinstance with ``a | b`` builds a union per call


def _folded_twice(node: Mapping[Any, Any], at: str) -> str | None:
    """The second of two keys of ``node`` equal under case folding or by upper case, else None."""
    seen: set[str] = set()
    seen_upper: set[str] = set()
    for key in node:
        text = str(key)
        folded = text.casefold()
        # upper case first (ı is I), then folded; İ (folded: i and a dot above) is i to Java
        upper = text.upper().casefold().replace("i\u0307", "i")
        if folded in seen or upper in seen_upper:
            return f"{at}.{key}" if at != "(arguments)" else str(key)
        seen.add(folded)
        seen_upper.add(upper)
    return None


def _compiled_valid(check: Callable[[Any], bool] | None, raw: bytes, data: Mapping[str, Any]) -> bool:
    """Whether the compiled check takes ``data``: only for plain JSON (read back from its bytes, equal
    to what was sent: a tuple is not an array to ``jsonschema``); False means "ask jsonschema"."""
    if check is None:
        return False
    plain = orjson.loads(raw)
    return plain == data and check(plain)


def _json_text_key(validator: Any, root: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """The first argument that is text spelling a JSON list, object, boolean or null the schema also
    takes there, or None.

    The Python MCP SDK's servers parse such text into the value when the parameter is not plain
    ``str`` (``pre_parse_json``): decided as text, ``{"overwrite": true}`` would run as the object.
    The schema's own default for the key is its author's text, not the agent's: it is let through.
    """
    defaults = _defaults(root)
    for key, value in data.items():
        if not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{", "t", "f", "n"):
            continue
        if key in defaults and defaults[key] == value:
            continue
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            continue
        read_as_value = isinstance(parsed, list | dict | bool) or parsed is None
        if read_as_value and validator.is_valid({**data, key: parsed}):
            return str(key)
    return None


class _Passed:
    """Arguments that passed the current schema unchanged, by their exact JSON bytes.

    The guard validates a call's arguments as received, then validates the decided (JSON) form again
    right before the tool runs, so the tool runs exactly what was decided. When nothing changed in
    between (no path resolved, no approver edit, no undeclared key dropped), the second check would
    repeat the first on the same JSON under the same schema; it is answered from here instead.
    Only plain JSON data is remembered and matched (``orjson.loads`` of the bytes equals the value):
    a tuple dumps like a list but JSON schema does not take it for an array.
    """

    ENTRIES = 64
    MAX_BYTES = 64 * 1024

    def __init__(self) -> None:
        self._seen: dict[bytes, Any] = {}

    def clear(self) -> None:
        self._seen.clear()

    def knows(self, raw: bytes, data: Mapping[str, Any]) -> bool:
        plain = self._seen.get(raw)
        return plain is not None and plain == data

    def remember(self, raw: bytes, data: Mapping[str, Any], kept: Any) -> None:
        """Remember ``data`` if it passed as it is (``kept``, what the tool gets, is the same JSON)."""
        if len(raw) > self.MAX_BYTES or orjson.dumps(kept) != raw:
            return
        plain = orjson.loads(raw)
        if plain != data:
            return
        if len(self._seen) >= self.ENTRIES:
            self._seen.clear()  # atomic, unlike evicting one entry while another thread adds one
        self._seen[raw] = plain


def check_size(tool: str, arguments: Any, limit: int = MAX_ARGUMENT_BYTES) -> int:
    """The size of ``arguments`` as JSON (a ``str`` is taken as JSON text already); raises
    ``InvalidArguments`` when it is over ``limit``."""
    try:
        size = len(arguments.encode()) if isinstance(arguments, str) else len(orjson.dumps(arguments))
    except TypeError as exc:
        raise InvalidArguments(f"invalid arguments for {tool}: not JSON ({exc})", tool=tool) from None
    if size > limit:
        raise InvalidArguments(
            f"invalid arguments for {tool}: {size} bytes of JSON is over the {limit}-byte limit",
            tool=tool,
            size=size,
            limit=limit,
        )
    return size


def rejection_text(error: AgentGuardError) -> str:
    """What the agent is told when a call did not run (or failed): reason, rule and error code."""
    if isinstance(error, PolicyDenied):
        rule = str(error.data.get("rule", "no-rule-matched"))
        reason = str(error.data.get("reason") or error.message)
        where = "" if rule in reason else f" (rule {rule})"
        return f"agentguard: call refused: {reason}{where} [{error.code}]"
    if isinstance(error, CallRejected):
        return f"agentguard: call refused: {error.message} [{error.code}]"
    return f"agentguard: {error.message} [{error.code}]"


def refusal_text(
    guard: Guard,
    tool: str,
    error: AgentGuardError,
    *,
    framework: str,
    agent: str | None = None,
    session: str | None = None,
    **received: Any,
) -> str:
    """``guard.reject`` (arguments not logged; ``received`` says what can be), then the text to answer
    with; a failed audit write is named in it."""
    try:
        guard.reject(tool, None, error, framework=framework, agent=agent, session=session, **received)
    except AgentGuardError as audit_error:
        return f"{rejection_text(error)}; {rejection_text(audit_error)}"
    return rejection_text(error)
