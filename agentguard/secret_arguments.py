"""Arguments that are secrets: decided on their text, never shown.

A ``SecretStr`` (or ``SecretBytes``) argument serialises as pydantic's mask ``**********``; deciding on
that form let the tool get a text no rule had read (``eq``, ``secret()``, where the value came from).
So the JSON form the policy decides on holds the secret's text (``reveal``), and the call carries the
paths of its secret arguments (``ToolCall.secrets``): a ``SecretStr``/``SecretBytes`` value, or a
property a tool's JSON schema marks ``writeOnly`` or ``format: password`` (what pydantic writes for
one, so a LangChain tool's ``args_schema`` keeps saying so).

Everywhere a call is written down or shown to a person, each secret path holds ``MASK`` instead
(``masked``): the audit log, which also replaces the secret's text wherever else a record holds it
(a reason, an error, a result) when it is at least ``MIN_SCRUBBED`` characters long (``scrubbed``),
and the approval request an approver sees and the queue stores. An approver's edit that leaves the
mask in place keeps the secret (``unmasked``).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = [
    "MASK",
    "MIN_SCRUBBED",
    "SecretPath",
    "Undecidable",
    "concrete_paths",
    "holds_secret",
    "masked",
    "reveal",
    "schema_secret_paths",
    "schema_secrets",
    "scrubbed",
    "secret_texts",
    "set_schema_secrets",
    "unmasked",
]

MASK = "[REDACTED:secret_argument]"
MIN_SCRUBBED = 4  # a shorter secret is masked where it is an argument, not searched for in other text
SecretPath: TypeAlias = tuple[str | int, ...]
_MAX_DEPTH = 64
_SECRETS = (SecretStr, SecretBytes)


class Undecidable(ValueError):
    """A secret in a place whose JSON form cannot be paired with it (a set, a non-text key)."""


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path) or "(arguments)"


def holds_secret(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is or contains a ``SecretStr``/``SecretBytes``."""
    if isinstance(value, _SECRETS):
        return True
    if depth > _MAX_DEPTH or value is None or isinstance(value, str | bytes | int | float):
        return False
    if isinstance(value, BaseModel):
        members = [*value.__dict__.values(), *(value.model_extra or {}).values()]
        return any(holds_secret(v, depth + 1) for v in members)
    if isinstance(value, Mapping):
        return any(holds_secret(k, depth + 1) or holds_secret(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_secret(v, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(holds_secret(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return False


def reveal(python: Any, dumped: Any) -> tuple[Any, list[SecretPath]]:
    """``dumped`` (the JSON form of ``python``) with each secret's text in place of its mask, and the
    paths where secrets were. ``Undecidable`` when a secret sits where the two cannot be paired."""
    found: list[SecretPath] = []
    return _reveal(python, dumped, (), found), found


def _reveal(python: Any, dumped: Any, path: SecretPath, found: list[SecretPath]) -> Any:
    if isinstance(python, SecretStr):
        found.append(path)
        return python.get_secret_value()
    if isinstance(python, SecretBytes):
        found.append(path)
        try:
            return python.get_secret_value().decode("utf-8")
        except UnicodeDecodeError:
            raise Undecidable(f"{_dotted(path)}: a secret that is not UTF-8 cannot be decided on") from None
    if len(path) > _MAX_DEPTH:
        if holds_secret(python):
            raise Undecidable(f"{_dotted(path)}: a secret nested too deep cannot be decided on")
        return dumped
    if isinstance(python, BaseModel) and isinstance(dumped, dict):
        pairs = [*python.__dict__.items(), *(python.model_extra or {}).items()]
        return _reveal_pairs(pairs, dumped, path, found)
    if isinstance(python, Mapping) and isinstance(dumped, dict):
        return _reveal_pairs(list(python.items()), dumped, path, found)
    if isinstance(python, list | tuple) and isinstance(dumped, list) and len(python) == len(dumped):
        return [_reveal(p, d, (*path, i), found) for i, (p, d) in enumerate(zip(python, dumped, strict=True))]
    if holds_secret(python):
        raise Undecidable(f"{_dotted(path)}: a secret inside a {type(python).__name__} cannot be decided on")
    return dumped


def _reveal_pairs(
    pairs: list[tuple[Any, Any]], dumped: dict[str, Any], path: SecretPath, found: list[SecretPath]
) -> dict[str, Any]:
    out = dict(dumped)
    for key, value in pairs:
        if not isinstance(value, _SECRETS) and not holds_secret(value):
            continue
        if not isinstance(key, str) or key not in out:
            where = _dotted((*path, str(key)))
            raise Undecidable(f"{where}: a secret whose JSON form has no place of its own")
        out[key] = _reveal(value, out[key], (*path, key), found)
    return out


# ------------------------------------------------------------- secrets a JSON schema declares

_SCHEMA_SECRETS: weakref.WeakKeyDictionary[type, tuple[tuple[str, ...], ...]] = weakref.WeakKeyDictionary()


def set_schema_secrets(model: type, paths: Iterable[tuple[str, ...]]) -> None:
    """Remember the secret paths (``*``: any item or key) a model's JSON schema declares."""
    _SCHEMA_SECRETS[model] = tuple(paths)


def schema_secrets(model: type) -> tuple[tuple[str, ...], ...]:
    return _SCHEMA_SECRETS.get(model, ())


def schema_secret_paths(schema: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Paths of the properties ``schema`` marks ``writeOnly`` or ``format: password`` (``*`` for
    any item of an array or any other key of an object), following local ``$ref``s."""
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    found: list[tuple[str, ...]] = []

    def walk(node: Any, path: tuple[str, ...], depth: int) -> None:
        if not isinstance(node, Mapping) or depth > 32:
            return
        if node.get("writeOnly") is True or node.get("format") == "password":
            found.append(path)
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            walk(defs.get(ref.rsplit("/", 1)[1]), path, depth + 1)
        for key in ("anyOf", "oneOf", "allOf"):
            for member in node.get(key) or ():
                walk(member, path, depth + 1)
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, (*path, name), depth + 1)
        for key in ("additionalProperties", "items"):
            walk(node.get(key), (*path, "*"), depth + 1)
        for item in node.get("prefixItems") or ():
            walk(item, (*path, "*"), depth + 1)

    walk(schema, (), 0)
    return sorted(set(found))


def concrete_paths(arguments: Any, patterns: Iterable[tuple[str, ...]]) -> list[SecretPath]:
    """The paths of ``arguments`` that ``patterns`` (``*``: any item or key) name."""
    out: list[SecretPath] = []

    def walk(node: Any, pattern: tuple[str, ...], path: SecretPath) -> None:
        if not pattern:
            out.append(path)
            return
        head, rest = pattern[0], pattern[1:]
        if isinstance(node, dict):
            keys = list(node) if head == "*" else [head] if head in node else []
            for key in keys:
                walk(node[key], rest, (*path, key))
        elif isinstance(node, list) and head == "*":
            for i, item in enumerate(node):
                walk(item, rest, (*path, i))

    for pattern in patterns:
        walk(arguments, pattern, ())
    return sorted(set(out), key=_dotted)


# ------------------------------------------------------------- keeping them out of sight


def _at(node: Any, path: SecretPath) -> tuple[bool, Any]:
    for step in path:
        in_dict = isinstance(node, dict) and step in node
        if not in_dict and not (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            return False, None
        node = node[step]
    return True, node


def _replaced(node: Any, path: SecretPath, value: Any) -> Any:
    if not path:
        return value
    step, rest = path[0], path[1:]
    if isinstance(node, Mapping) and step in node:
        return {**node, step: _replaced(node[step], rest, value)}
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return [_replaced(v, rest, value) if i == step else v for i, v in enumerate(node)]
    return node


def masked(arguments: Any, paths: Iterable[SecretPath]) -> Any:
    """``arguments`` with ``MASK`` at each secret path it has (a copy; the original is untouched)."""
    for path in paths:
        if _at(arguments, path)[0]:
            arguments = _replaced(arguments, path, MASK)
    return arguments


def unmasked(edited: Any, original: Any, paths: Iterable[SecretPath]) -> Any:
    """An approver's edit of a masked request: where it still holds ``MASK``, the original secret."""
    for path in paths:
        here, value = _at(edited, path)
        there, secret = _at(original, path)
        if here and there and value == MASK:
            edited = _replaced(edited, path, secret)
    return edited


def secret_texts(arguments: Any, paths: Iterable[SecretPath]) -> list[str]:
    """The texts at the secret paths (longest first), those long enough to be searched for."""
    texts = set()
    for path in paths:
        found, value = _at(arguments, path)
        if found and isinstance(value, str) and len(value) >= MIN_SCRUBBED:
            texts.add(value)
    return sorted(texts, key=len, reverse=True)


def scrubbed(value: Any, texts: Sequence[str], depth: int = 0) -> Any:
    """``value`` with every occurrence of ``texts`` in its strings (and mapping keys) replaced by ``MASK``."""
    if not texts or depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        for text in texts:
            if text in value:
                value = value.replace(text, MASK)
        return value
    if isinstance(value, Mapping):
        return {scrubbed(k, texts, depth + 1): scrubbed(v, texts, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(v, texts, depth + 1) for v in value]
    if isinstance(value, BaseModel):
        return scrubbed(value.model_dump(mode="json"), texts, depth + 1)
    if isinstance(value, bytes):
        return scrubbed(value.decode("utf-8", "replace"), texts)
    if isinstance(value, BaseException):
        to_dict = getattr(value, "to_dict", None)
        shown = to_dict() if callable(to_dict) else {"type": type(value).__name__, "message": str(value)}
        return scrubbed(shown, texts, depth + 1)
    return value
