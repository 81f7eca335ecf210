"""Red team: two argument keys that differ only in case (or by a Unicode case fold: ``ſ``, the Kelvin
sign ``K``) where a schema keeps extra keys (``additionalProperties``, ``allOf``...). The policy
decided on ``path``; a server that reads keys case-insensitively (Go's ``encoding/json``, .NET with
``PropertyNameCaseInsensitive``, Jackson's ``ACCEPT_CASE_INSENSITIVE_PROPERTIES``) takes the last
key that folds to its field, ``PATH``, and opened another file. Such a call is now refused."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard
from agentguard.errors import InvalidArguments
from agentguard.integrations._arguments import json_schema_model

RAN: list[str] = []

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"path": {"type": "string"}}, "additionalProperties": True},
    {"type": "object", "properties": {"path": {"type": "string"}}, "patternProperties": {".*": {}}},
    {"type": "object", "allOf": [{"properties": {"path": {"type": "string"}}}]},
    {  # nested: the object under "file" keeps its extra keys
        "type": "object",
        "properties": {
            "file": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "additionalProperties": True,
            }
        },
    },
]


def folded_read(arguments: Mapping[str, Any], field: str) -> Any:
    """Go's encoding/json: every key equal to the field under a Unicode fold sets it; the last wins."""
    found = None
    for key, value in arguments.items():
        if key.casefold() == field.casefold():
            found = value
    return found


@pytest.mark.parametrize("n", range(len(SCHEMAS)))
@pytest.mark.parametrize("spelling", ["PATH", "Path", "paTh"])
def test_keys_equal_under_a_case_fold_are_refused(
    make_guard: Callable[..., Guard], n: int, spelling: str
) -> None:
    RAN.clear()
    schema = SCHEMAS[n]
    nested = "file" in schema["properties"] if "properties" in schema else False

    def read(**arguments: Any) -> str:
        target = arguments["file"] if nested else arguments
        RAN.append(folded_read(target, "path"))
        return "read"

    guard = make_guard(
        'p, *, mcp.files.read, path(path, "{workspace}/**") || path(file.path, "{workspace}/**"), allow'
    )
    guard.register(
        "mcp.files.read", read, args_model=json_schema_model("mcp.files.read", schema, json_text=True)
    )
    inner = {"path": "notes.txt", spelling: "/etc/passwd"}
    arguments = {"file": inner} if nested else inner
    with pytest.raises(InvalidArguments, match="case"):
        guard.call("mcp.files.read", arguments)
    assert RAN == []


def test_a_long_s_folds_to_s() -> None:
    schema = {"type": "object", "properties": {"subject": {"type": "string"}}, "additionalProperties": True}
    model = json_schema_model("mail.send", schema, json_text=True)
    with pytest.raises(Exception, match="case"):
        model.model_validate({"subject": "hi", "\u017fubject": "[REDACTED] token"})


def test_keys_that_differ_otherwise_still_pass(make_guard: Callable[..., Guard], tmp_path: Path) -> None:
    RAN.clear()
    schema = SCHEMAS[0]

    def read(**arguments: Any) -> str:
        RAN.append(folded_read(arguments, "path"))
        return "read"

    guard = make_guard('p, *, mcp.files.read, path(path, "{workspace}/**"), allow')
    guard.register(
        "mcp.files.read", read, args_model=json_schema_model("mcp.files.read", schema, json_text=True)
    )
    assert guard.call("mcp.files.read", {"path": "notes.txt", "paths": "x", "mode": "r"}) == "read"
    assert [str(tmp_path / "notes.txt")] == RAN


def upper_invariant_read(arguments: Mapping[str, Any], field: str) -> Any:
    """.NET's ``OrdinalIgnoreCase`` (``PropertyNameCaseInsensitive``), Java's ``equalsIgnoreCase``:
    keys compared by each character's simple upper case (the dotless ``ı`` is ``I``, as ``i`` is)."""

    def simple(c: str, mapped: str) -> str:
        return mapped if len(mapped) == 1 else mapped[0] if c == "\u0130" else c  # İ lowers to i

    def same(a: str, b: str) -> bool:  # Java's regionMatches(ignoreCase): upper, then its lower
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            ux, uy = simple(x, x.upper()), simple(y, y.upper())
            if ux != uy and simple(ux, ux.lower()) != simple(uy, uy.lower()):
                return False
        return True

    found = None
    for key, value in arguments.items():
        if same(key, field):
            found = value
    return found


@pytest.mark.parametrize("spelling", ["f\u0131le", "F\u0131LE", "f\u0130le"])  # dotless ı, dotted İ
def test_keys_equal_by_simple_upper_case_are_refused(make_guard: Callable[..., Guard], spelling: str) -> None:
    """Python's case fold keeps ``ı`` apart from ``i`` (and folds ``İ`` to ``i`` and a dot): a server
    comparing simple upper (or Java's lower of the upper) case reads ``fıle`` as ``file``."""
    RAN.clear()
    assert upper_invariant_read({"file": "notes.txt", spelling: "/etc/passwd"}, "file") == "/etc/passwd"
    schema = {"type": "object", "properties": {"file": {"type": "string"}}, "additionalProperties": True}

    def read(**arguments: Any) -> str:
        RAN.append(upper_invariant_read(arguments, "file"))
        return "read"

    guard = make_guard('p, *, mcp.files.read, path(file, "{workspace}/**"), allow')
    guard.register(
        "mcp.files.read", read, args_model=json_schema_model("mcp.files.read", schema, json_text=True)
    )
    with pytest.raises(InvalidArguments, match="case"):
        guard.call("mcp.files.read", {"file": "notes.txt", spelling: "/etc/passwd"})
    assert RAN == []
