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

import copy
import json
import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from agentguard.errors import AgentGuardError, CallRejected, InvalidArguments, PolicyDenied
from agentguard.guard import Guard
from agentguard.integrations._compiled_schema import compiled
from agentguard.integrations._flat_schema import COMBINATORS, EXTRA_KEYWORDS, flat_properties
from agentguard.integrations._wide_integers import wide_integer
from agentguard.registry import Inexact, json_number
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


def _numbers_for_text(check_type: Callable[..., Any]) -> Callable[..., Any]:
    """The ``type`` keyword, where a duration or fraction string may also be the number it was decided
    as (see ``_read_number``): the decided form is checked again before the tool runs."""

    def check(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
        if _text_number(schema) is not None and _is_number(instance):
            return iter(())
        return check_type(validator, types, instance, schema)

    return check


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
        if isinstance(node, Mapping):
            seen: set[str] = set()
            seen_upper: set[str] = set()
            for key, item in node.items():
                text = str(key)
                folded = text.casefold()
                # upper case first (ı is I), then folded; İ (folded: i and a dot above) is i to Java
                upper = text.upper().casefold().replace("i\u0307", "i")
                if folded in seen or upper in seen_upper:
                    return f"{at}.{key}" if at != "(arguments)" else str(key)
                seen.add(folded)
                seen_upper.add(upper)
                if isinstance(item, Mapping | list):
                    stack.append((item, f"{at}.{key}" if at != "(arguments)" else str(key)))
        elif isinstance(node, list):
            stack.extend(
                (item, f"{at}.{n}") for n, item in enumerate(node) if isinstance(item, Mapping | list)
            )
    return None


def _compiled_valid(check: Callable[[Any], bool] | None, raw: bytes, data: Mapping[str, Any]) -> bool:
    """Whether the compiled check takes ``data``: only for plain JSON (read back from its bytes, equal
    to what was sent: a tuple is not an array to ``jsonschema``); False means "ask jsonschema"."""
    if check is None:
        return False
    plain = orjson.loads(raw)
    return plain == data and check(plain)


def _defaults(root: Mapping[str, Any]) -> dict[str, Any]:
    """The ``default`` of each top-level property of ``root`` that names one."""
    properties = root.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {
        key: node["default"]
        for key, node in properties.items()
        if isinstance(node, Mapping) and "default" in node
    }


def _with_defaults(root: Mapping[str, Any], data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data`` with each left-out property that has a schema ``default`` as that default.

    The server fills in a default the call leaves out (the Python SDK's servers, pydantic and zod
    all do), so the policy decides on it and it is forwarded: ``remove(path, recursive=True)`` sent
    without ``recursive`` runs recursively, and ``eq(recursive, "true"), deny`` must see that. A
    default its own schema refuses is left out (the tool's own affair); defaults that only break the
    schema together are refused with the call when its decided form is checked before it runs."""
    filled: Mapping[str, Any] = _filled(root, data, root, 0, deep=_nested_defaults(root))
    return filled


def _filled(root: Mapping[str, Any], value: Any, node: Any, depth: int, *, deep: bool) -> Any:
    """``value`` with the defaults of ``node``'s left-out properties, through nested objects, arrays,
    local ``$ref``s, ``allOf`` and the one ``anyOf``/``oneOf`` alternative that takes the value
    (``deep``: only when the schema has a default below its top level; walking a large value through
    alternatives costs a validation per item)."""
    if depth > 32 or not isinstance(node, Mapping) or not isinstance(value, Mapping | list):
        return value
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        value = _filled(root, value, target, depth + 1, deep=deep)
    all_of = node.get("allOf")
    for branch in all_of if isinstance(all_of, list) else ():
        value = _filled(root, value, branch, depth + 1, deep=deep)
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        kind = "object" if isinstance(value, Mapping) else "array"
        taking = [b for b in (branches if isinstance(branches, list) else ()) if _may_take(b, kind)]
        if len(taking) > 1:  # the value passed the schema: one alternative of its type is the one
            taking = [b for b in taking if _accepts(root, b, value)]
        if len(taking) == 1:
            value = _filled(root, value, taking[0], depth + 1, deep=deep)
    if isinstance(value, list):
        if not deep:
            return value
        items, prefix = node.get("items"), node.get("prefixItems")
        return [
            _filled(root, item, _item_schema(prefix, items, n), depth + 1, deep=deep)
            for n, item in enumerate(value)
        ]
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        return value
    given = {
        key: _filled(root, item, properties.get(key), depth + 1, deep=deep) if deep else item
        for key, item in value.items()
    }
    left_out = {  # a default its own schema refuses (``x: int = None``) is left out, the others kept
        key: copy.deepcopy(schema["default"])
        for key, schema in properties.items()
        if key not in value
        and isinstance(schema, Mapping)
        and "default" in schema
        and _default_ok(root, schema)
    }
    return {**given, **left_out}


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


_EXTRA_KEYWORDS = EXTRA_KEYWORDS
_COMBINATORS = COMBINATORS


def declared_only(
    root: Mapping[str, Any],
    value: Any,
    node: Any = None,
    depth: int = 0,
    *,
    pydantic: bool = False,
    keep: bool = False,
) -> Any:
    """``value`` without the object keys ``root`` does not declare (see the module docstring).

    Walks ``properties``, array ``items`` and local ``$ref``s; below a node with combinators
    (``anyOf``/``oneOf``/``allOf``) nothing is dropped (``keep``): nothing to compare with.
    Decimal strings become the numbers they spell; with ``pydantic``, duration strings their seconds
    and fraction strings their numbers, also inside the alternatives a value matches.
    """
    node = root if node is None else node
    if depth > 32 or not isinstance(node, Mapping):
        return value
    if isinstance(value, str) and _is_decimal(node):
        return _decimal_number(value)
    if pydantic and isinstance(value, str) and _text_number(node) is not None:
        return _read_number(value, _text_number(node))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return declared_only(root, value, target, depth + 1, pydantic=pydantic, keep=keep)
    items = node.get("items")
    prefix = node.get("prefixItems")
    if isinstance(value, list) and (isinstance(items, Mapping) or isinstance(prefix, list)):
        # a tuple's places (prefixItems), then items for the rest
        return [
            declared_only(root, item, _item_schema(prefix, items, n), depth + 1, pydantic=pydantic, keep=keep)
            for n, item in enumerate(value)
        ]
    combined = any(key in node for key in _COMBINATORS)
    if combined and isinstance(value, Mapping | list) and _holds_text_numbers(root, pydantic):
        value = _through_alternatives(root, value, node, depth, pydantic)
    properties = node.get("properties")
    if (
        isinstance(value, Mapping)
        and not isinstance(properties, Mapping)
        and isinstance(node.get("additionalProperties"), Mapping)
    ):
        properties = {}  # a mapping of any keys (dict[str, Decimal]): its values are still read
    if not isinstance(value, Mapping) or not isinstance(properties, Mapping):
        return value
    keep = keep or combined
    keep_extra = keep or any(node.get(key, False) is not False for key in _EXTRA_KEYWORDS)
    extra = node.get("additionalProperties")  # a dict[str, Decimal]: each value read by this schema
    return {  # a schema that is not a mapping (true, absent) leaves the value as it is
        key: declared_only(root, item, properties.get(key, extra), depth + 1, pydantic=pydantic, keep=keep)
        for key, item in value.items()
        if key in properties or keep_extra
    }


def _item_schema(prefix: Any, items: Any, n: int) -> Any:
    if isinstance(prefix, list) and n < len(prefix):
        return prefix[n]
    return items if isinstance(items, Mapping) else None


def _through_alternatives(
    root: Mapping[str, Any], value: Any, node: Mapping[str, Any], depth: int, pydantic: bool
) -> Any:
    """``value`` with the numbers written as text converted as the alternatives that accept it read
    them (a union of models: ``{"amount": "5000"}`` for a payment that is a card or a transfer).
    Alternatives that read it differently cannot be told apart from here: the call is refused."""
    for branch in node.get("allOf") or ():
        value = declared_only(root, value, branch, depth + 1, pydantic=pydantic, keep=True)
    readings: dict[bytes, Any] = {}
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        for branch in branches if isinstance(branches, list) else ():
            if isinstance(branch, Mapping) and _accepts(root, branch, value):
                read = declared_only(root, value, branch, depth + 1, pydantic=pydantic, keep=True)
                readings[orjson.dumps(read, option=orjson.OPT_SORT_KEYS)] = read
    if len(readings) > 1:
        raise Inexact(value, "is read differently by the schema's alternatives; cannot decide on it")
    return next(iter(readings.values()), value)


_DEFAULTS_OK: dict[tuple[int, int], tuple[Mapping[str, Any], Mapping[str, Any], bool]] = {}


def _default_ok(root: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    """Whether the property ``schema`` (a part of ``root``) takes its own ``default``; answered once."""
    found = _DEFAULTS_OK.get((id(root), id(schema)))
    if found is None or found[0] is not root or found[1] is not schema:  # ids are not reused meanwhile
        found = (root, schema, _accepts(root, schema, schema["default"]))
        if len(_DEFAULTS_OK) >= 1024:
            _DEFAULTS_OK.clear()
        _DEFAULTS_OK[(id(root), id(schema))] = found
    return found[2]


def _may_take(branch: Any, kind: str) -> bool:
    """Whether ``branch`` may take a value of JSON type ``kind`` (its ``type`` does not rule it out)."""
    if not isinstance(branch, Mapping):
        return False
    declared = branch.get("type")
    if isinstance(declared, str):
        return declared == kind
    return not isinstance(declared, list) or kind in declared


_BRANCHES: dict[tuple[int, int], tuple[Mapping[str, Any], Mapping[str, Any], Any]] = {}


def _accepts(root: Mapping[str, Any], branch: Mapping[str, Any], value: Any) -> bool:
    """Whether ``branch`` (a part of ``root``) takes ``value``; its validator is built once."""
    found = _BRANCHES.get((id(root), id(branch)))
    if found is None or found[0] is not root or found[1] is not branch:  # ids are not reused meanwhile
        from jsonschema import validators  # type: ignore[import-untyped,unused-ignore]

        schema = dict(branch)
        for key in ("$defs", "definitions"):  # the local $refs of the branch point into the root
            if key in root and key not in schema:
                schema[key] = root[key]
        found = (root, branch, validators.validator_for(root)(schema))
        if len(_BRANCHES) >= 1024:
            _BRANCHES.clear()
        _BRANCHES[(id(root), id(branch))] = found
    return bool(found[2].is_valid(value))


_DEEP: dict[int, tuple[Mapping[str, Any], bool]] = {}


def _nested_defaults(root: Mapping[str, Any]) -> bool:
    """Whether ``root`` may have a ``default`` below its top-level properties (a nested model's)."""
    found = _DEEP.get(id(root))
    if found is None or found[0] is not root:  # the entry holds its schema: an id is not reused
        properties = root.get("properties")
        top = sum(
            1
            for node in (properties.values() if isinstance(properties, Mapping) else ())
            if isinstance(node, Mapping) and "default" in node
        )
        found = (root, orjson.dumps(root).decode().count('"default":') > top)
        if len(_DEEP) >= 64:
            _DEEP.clear()
        _DEEP[id(root)] = found
    return found[1]


_MARKED: dict[int, tuple[Mapping[str, Any], bool, bool]] = {}


def _holds_text_numbers(root: Mapping[str, Any], pydantic: bool) -> bool:
    """Whether ``root`` has a number written as text anywhere (only then are alternatives read)."""
    found = _MARKED.get(id(root))
    if found is None or found[0] is not root:  # the entry holds its schema: an id is not reused
        text = orjson.dumps(root).decode()
        found = (
            root,
            _DECIMAL_PATTERN in text,
            '"format":"duration"' in text or '"format":"fraction"' in text,
        )
        if len(_MARKED) >= 64:
            _MARKED.clear()
        _MARKED[id(root)] = found
    return found[1] or (pydantic and found[2])


# pydantic's JSON schema of a ``Decimal``: a number, or a string of this pattern. The tool (LangChain,
# the Agents SDK, a pydantic server) reads "5000" as the number 5000, but the policy's comparisons
# never match a string: gt(amount, 1000), deny would pass it. Such a string is decided, and forwarded,
# as the JSON number it spells (exactly, or the call is refused).
_DECIMAL_PATTERN = "^(?!^[-+.]*$)[+-]?0*"


def _is_decimal(node: Mapping[str, Any]) -> bool:
    branches = node.get("anyOf")
    if not isinstance(branches, list):
        return False
    kinds = [b.get("type") for b in branches if isinstance(b, Mapping)]
    decimal_text = any(
        isinstance(b, Mapping)
        and b.get("type") == "string"
        and str(b.get("pattern", "")).startswith(_DECIMAL_PATTERN)
        for b in branches
    )
    return decimal_text and "number" in kinds


def _decimal_number(text: str) -> Any:
    try:
        value = Decimal(text)
    except ArithmeticError:
        return text  # not a number: the tool's own schema check refuses it
    return json_number(value)


# pydantic's JSON schema of a ``timedelta``: a string of format ``duration``; of a ``Fraction``: format
# ``fraction``. A tool that reads its arguments with pydantic turns "PT2H" (or "02:00:00", "P1D") into a
# timedelta and "21/2" into a Fraction, and reads a number as seconds or as that number; the policy's
# comparisons never match the string: gt(duration, 60), deny would pass "PT2H". Such a string is
# decided, and passed on, as the number (exactly, or the call is refused).
_TEXT_NUMBERS: dict[str, TypeAdapter[Any]] = {
    "duration": TypeAdapter(timedelta),
    "fraction": TypeAdapter(Fraction),
}


def _text_number(node: Mapping[str, Any]) -> TypeAdapter[Any] | None:
    """How pydantic reads the string at ``node`` as a number, if it does."""
    if node.get("type") != "string":
        return None
    form = node.get("format")
    return _TEXT_NUMBERS.get(form) if isinstance(form, str) else None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _read_number(text: str, adapter: TypeAdapter[Any] | None) -> Any:
    if adapter is None:
        return text
    try:
        value = adapter.validate_python(text)
    except ValidationError:
        return text  # not one pydantic reads: the tool's own check refuses it
    return json_number(value)


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
