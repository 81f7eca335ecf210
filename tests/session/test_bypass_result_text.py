"""Redaction covers every part of a result the model can read, and a failing tool's error as the
caller sees it; when it cannot, the result is withheld rather than handed back unredacted.

Classes:
- a mapping key that is not a ``str`` (``bytes``, a tuple) was marked in the session (the guard reads
  it as text) but never redacted: the walk replaced only ``str`` keys;
- a pydantic model whose fields have a serialization alias was rebuilt from its by-alias dump with
  ``model_validate``, which raised after the tool had run (the call failed with no
  ``execution.finished``, and the error quoted the data);
- an ``AgentGuardError`` a tool raised (an upstream's error, a nested guard call's refusal) passed
  through the guard unredacted: its message, its data and the audit record kept the secret.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field
from pydantic_core import to_jsonable_python

from agentguard import Guard, ToolFailed
from agentguard.errors import PolicyDenied
from agentguard.integrations.mcp import UpstreamUnavailable

from .conftest import Tools, records

TOKEN = "ghp_" + "d" * 36


def seen(value: Any) -> str:
    """Every form a framework may show of ``value``: its by-alias JSON, its ``str`` and ``repr``."""
    return " ".join((str(to_jsonable_python(value, fallback=str, by_alias=True)), str(value), repr(value)))


@pytest.mark.parametrize(
    "output",
    [
        {TOKEN.encode(): "the key"},
        {"nested": {TOKEN.encode(): 1}},
        {("id", TOKEN): "a tuple key"},
        [{TOKEN.encode(): b"x"}],
    ],
    ids=["bytes key", "nested bytes key", "tuple key", "bytes key in a list"],
)
def test_a_secret_in_a_mapping_key_that_is_not_text_is_redacted(
    guard: tuple[Guard, Tools, Path], output: Any
) -> None:
    g, tools, _ = guard
    tools.outputs["files.read"] = output
    with g.session(user_request="read it") as session:
        shown = g.call("files.read", {"path": "/x"})
        assert session.has_read("secret")
    assert TOKEN not in seen(shown)
    assert "[REDACTED:" in seen(shown)


class Credentials(BaseModel):
    user: str = Field(serialization_alias="userName")
    token: str = Field(serialization_alias="apiToken")


class Wrapper(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)
    inner: Credentials = Field(serialization_alias="credentials")
    note: str = ""


class Derived(BaseModel):
    """A model whose dump shows a value no field holds: rebuilt from its dump it would lose it."""

    name: str
    _key: str = PrivateAttr(default="")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def header(self) -> str:
        return f"Bearer {self._key}"


def derived() -> Derived:
    model = Derived(name="svc")
    model._key = TOKEN
    return model


@pytest.mark.parametrize(
    "make",
    [
        lambda: Credentials(user="me", token=TOKEN),
        lambda: Wrapper(inner=Credentials(user="me", token=TOKEN), note=f"and {TOKEN}"),
        lambda: [Credentials(user="me", token=TOKEN)],
        derived,
    ],
    ids=["serialization alias", "nested aliased models", "aliased model in a list", "computed field"],
)
def test_a_model_with_aliases_is_redacted_without_failing(
    guard: tuple[Guard, Tools, Path], make: Any
) -> None:
    g, tools, audit_path = guard
    tools.outputs["files.read"] = make()
    shown = g.call("files.read", {"path": "/x"})
    assert TOKEN not in seen(shown)
    assert "[REDACTED:" in seen(shown)
    assert TOKEN not in audit_path.read_text()
    assert [r["event"] for r in records(audit_path)][-2:] == ["result.redacted", "execution.finished"]


def test_an_aliased_model_without_a_secret_is_returned_as_it_was(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, _ = guard
    model = Credentials(user="me", token="nothing here")
    tools.outputs["files.read"] = model
    assert g.call("files.read", {"path": "/x"}) is model


def test_a_redacted_aliased_model_keeps_its_type_when_it_can(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, _ = guard
    tools.outputs["files.read"] = Credentials(user="me", token=TOKEN)
    shown = g.call("files.read", {"path": "/x"})
    assert isinstance(shown, Credentials)
    assert shown.user == "me"
    assert shown.token.startswith("[REDACTED:")


@pytest.mark.parametrize(
    "error",
    [
        UpstreamUnavailable(f"the MCP server stopped during the call: bad token {TOKEN}", command="srv"),
        PolicyDenied(f"denied: {TOKEN}", rule="policy.csv:3", reason=f"reason quoting {TOKEN}"),
        ToolFailed(f"inner call failed: {TOKEN}", tool="inner", exception="RuntimeError"),
    ],
    ids=["upstream unavailable", "nested refusal", "nested failure"],
)
def test_an_agentguard_error_raised_by_a_tool_is_redacted(
    guard: tuple[Guard, Tools, Path], error: Exception
) -> None:
    g, tools, audit_path = guard
    tools.outputs["files.read"] = error
    with g.session(user_request="read it") as session:
        with pytest.raises(type(error)) as info:
            g.call("files.read", {"path": "/x"})
        assert session.has_read("secret")  # the tool read it: the session knows, though the model does not
    raised = info.value
    assert TOKEN not in str(raised)
    assert TOKEN not in repr(raised)
    assert TOKEN not in str(getattr(raised, "data", {}))
    assert "[REDACTED:" in str(raised)
    assert TOKEN not in audit_path.read_text()
    assert "execution.failed" in [r["event"] for r in records(audit_path)]


def test_an_agentguard_error_of_a_tool_without_redaction_is_unchanged(
    guard: tuple[Guard, Tools, Path],
) -> None:
    g, tools, _ = guard
    error = UpstreamUnavailable(f"stopped: {TOKEN}")
    tools.outputs["web.get"] = error
    with pytest.raises(UpstreamUnavailable) as info:
        g.call("web.get", {"url": "https://example.com/"})
    assert info.value is error


def test_a_result_that_cannot_be_redacted_is_withheld(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, audit_path = guard
    deep: Any = f"the key {TOKEN}"
    for _ in range(80):  # deeper than redaction walks
        deep = {"a": deep}
    tools.outputs["files.read"] = deep
    with g.session(user_request="read it") as session:
        with pytest.raises(ToolFailed) as info:
            g.call("files.read", {"path": "/x"})
        assert session.has_read("secret")
    assert info.value.data.get("withheld") is True
    assert "withheld" in str(info.value)
    assert TOKEN not in audit_path.read_text()
    assert "execution.failed" in [r["event"] for r in records(audit_path)]
    with pytest.raises(ToolFailed):  # without a session too
        g.call("files.read", {"path": "/x"})


@pytest.mark.parametrize("tool", ["files.read", "web.get"])  # with and without redact rules
@pytest.mark.parametrize("in_session", [True, False])
def test_a_result_nested_past_the_recursion_limit_is_withheld_and_audited(
    guard: tuple[Guard, Tools, Path], tool: str, in_session: bool
) -> None:
    """Reading such a result raised RecursionError out of the guard after the tool ran: the caller
    got a bare interpreter error and the audit log no record of how the call ended."""
    g, tools, audit_path = guard
    deep: Any = f"the key {TOKEN}"
    for _ in range(5000):
        deep = [deep]
    tools.outputs[tool] = deep
    arguments = {"path": "/x"} if tool == "files.read" else {"url": "https://example.com/"}
    scope = g.session(user_request="read it") if in_session else contextlib.nullcontext()
    with scope, pytest.raises(ToolFailed) as info:
        g.call(tool, arguments)
    assert info.value.data.get("withheld") is True
    g.audit.flush()
    events = [r["event"] for r in records(audit_path)]
    assert events[-1 if not in_session else -2] == "execution.failed"
    assert TOKEN not in audit_path.read_text()
