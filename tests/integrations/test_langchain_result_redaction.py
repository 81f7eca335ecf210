"""What LangChain shows the model of a guarded tool's result or error is what the guard read, marked
and redacted.

Classes:
- LangChain turns a result that is not message content into the ToolMessage's text itself
  (``json.dumps``, else ``str``); the guard read the result's JSON dump instead, so a secret only the
  printed form shows (a ``Field(exclude=True)`` a model's ``str`` still prints, a custom ``__str__``,
  an object inside a dict, which ``str(dict)`` prints with ``repr``) reached the model unredacted and
  left the session unmarked;
- a failing tool's exception was re-raised as it was (``exc.__cause__``): LangChain's
  ``handle_tool_error`` (or the app) showed its message, secret and all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, ToolException, tool
from pydantic import BaseModel, Field

from agentguard import Guard, Settings
from agentguard.audit import AuditLog
from agentguard.integrations.langchain import guard_tools

TOKEN = "ghp_" + "d" * 36
OUTPUTS = """
[[output]]
tool = "read_*"
redact = ["secret"]
"""


class Account(BaseModel):
    name: str
    token: str = Field(exclude=True)  # not in the dump; str() still prints it


class Printed:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"Printed({self.text})"


class Shy:
    """``str`` hides the key, ``repr`` (what ``str(dict)`` uses for its values) shows it."""

    def __str__(self) -> str:
        return "Shy(...)"

    def __repr__(self) -> str:
        return f"Shy(key={TOKEN})"


@pytest.fixture
def guard(make_policy: Callable[[str], Path], settings: Settings, audit_path: Path) -> Any:
    directory = make_policy("p, *, *, *, allow")
    (directory / "outputs.toml").write_text(OUTPUTS, encoding="utf-8")
    with Guard(directory, audit=AuditLog(audit_path), settings=settings) as g:
        yield g


def returning(name: str, value: Any, **kw: Any) -> BaseTool:
    def fn(q: str) -> Any:
        return value

    fn.__name__ = name
    fn.__doc__ = "A tool."
    made = tool(fn, **kw)
    assert isinstance(made, BaseTool)
    return made


def tool_call(name: str, n: int = 1) -> dict[str, Any]:
    return {"name": name, "args": {"q": "x"}, "id": f"call_{n}", "type": "tool_call"}


SHAPES = [
    ("model with an excluded field", Account(name="svc", token=TOKEN)),
    ("printed object", Printed(TOKEN)),
    ("object in a dict", {"item": Shy()}),
    ("bytes in a dict", {"raw": TOKEN.encode()}),
]


@pytest.mark.parametrize(("shape", "value"), SHAPES, ids=[s for s, _ in SHAPES])
def test_the_text_langchain_shows_is_what_is_redacted(guard: Guard, shape: str, value: Any) -> None:
    original = returning("read_thing", value)
    (guarded,) = guard_tools(guard, [original])
    with guard.session(user_request="read it") as session:
        message = guarded.invoke(tool_call("read_thing"))
        assert session.has_read("secret"), shape
    assert isinstance(message, ToolMessage)
    assert TOKEN not in str(message.content), shape
    assert "[REDACTED:" in str(message.content), shape
    assert TOKEN not in guarded.invoke({"q": "x"}), shape  # no tool call id: the content as text too


@pytest.mark.parametrize(("shape", "value"), SHAPES, ids=[s for s, _ in SHAPES])
def test_the_text_langchain_shows_marks_the_session(guard: Guard, shape: str, value: Any) -> None:
    (guarded,) = guard_tools(guard, [returning("peek", value)])  # no redaction for this tool
    with guard.session(user_request="peek") as session:
        message = guarded.invoke(tool_call("peek"))
        assert TOKEN in str(message.content)  # shown as LangChain shows it ...
        assert session.has_read("secret"), shape  # ... and read so by the guard


def test_content_is_shown_as_langchain_would_show_it(guard: Guard) -> None:
    values: list[Any] = [
        "plain",
        {"a": 1, "b": ["x"]},
        [{"type": "text", "text": "a block"}],
        Account(name="svc", token="tok"),
        Printed("hello"),
        {"item": Shy()},
        3,
    ]
    for n, value in enumerate(values):
        original = returning(f"peek{n}", value)
        (guarded,) = guard_tools(guard, [original])
        want = original.invoke(tool_call(f"peek{n}", n))
        got = guarded.invoke(tool_call(f"peek{n}", n))
        assert (got.content, got.status) == (want.content, want.status), value


def test_content_and_artifact_keeps_the_artifact(guard: Guard) -> None:
    class Search(BaseTool):
        name: str = "read_search"
        description: str = "Search."
        response_format: str = "content_and_artifact"  # type: ignore[assignment]

        def _run(self, q: str) -> tuple[Any, Any]:
            return Account(name="svc", token=TOKEN), {"hits": ["a", "b"]}

    (guarded,) = guard_tools(guard, [Search()])
    message = guarded.invoke({"name": "read_search", "args": {"q": "x"}, "id": "c1", "type": "tool_call"})
    assert TOKEN not in str(message.content)
    assert "[REDACTED:" in str(message.content)
    assert message.artifact == {"hits": ["a", "b"]}


def failing(error: Exception, handle: Any) -> BaseTool:
    @tool
    def read_config(q: str) -> str:
        """Read the config."""
        raise error

    read_config.handle_tool_error = handle
    return read_config


def test_a_handled_tool_error_is_redacted(guard: Guard) -> None:
    (guarded,) = guard_tools(guard, [failing(ToolException(f"bad config: token={TOKEN}"), True)])
    with guard.session(user_request="read it") as session:
        message = guarded.invoke(tool_call("read_config"))
        assert session.has_read("secret")
    assert message.status == "error"
    assert TOKEN not in str(message.content)
    assert str(message.content).startswith("bad config:")  # LangChain's text: the message, redacted
    assert "[REDACTED:" in str(message.content)


def test_a_tool_error_handler_gets_a_redacted_tool_exception(guard: Guard) -> None:
    class ConfigError(ToolException):
        pass

    seen: list[ToolException] = []

    def handler(exc: ToolException) -> str:
        seen.append(exc)
        return f"handled: {exc}"

    (guarded,) = guard_tools(guard, [failing(ConfigError(f"token={TOKEN}"), handler)])
    message = guarded.invoke(tool_call("read_config"))
    assert TOKEN not in str(message.content)
    assert type(seen[0]) is ConfigError  # the type developers match on is kept
    assert TOKEN not in repr(seen[0])
    assert seen[0].__cause__ is None


async def test_an_unhandled_tool_error_is_redacted_and_keeps_its_type(guard: Guard) -> None:
    (guarded,) = guard_tools(guard, [failing(KeyError(f"no entry for {TOKEN}"), False)])
    with pytest.raises(KeyError) as info:
        guarded.invoke(tool_call("read_config"))
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    with pytest.raises(KeyError) as ainfo:
        await guarded.ainvoke(tool_call("read_config"))
    assert TOKEN not in repr(ainfo.value)


def test_an_error_without_a_secret_is_raised_as_it_was(guard: Guard) -> None:
    error = ValueError("plain failure")
    (guarded,) = guard_tools(guard, [failing(error, False)])
    with pytest.raises(ValueError) as info:
        guarded.invoke(tool_call("read_config"))
    assert info.value is error


def test_the_fallback_conversion_matches_langchains() -> None:
    from langchain_core.tools import base

    from agentguard.integrations.langchain import _content

    values: list[Any] = [
        "t",
        [{"type": "text", "text": "x"}],
        ("a", "b"),
        {"a": 1},
        Printed("p"),
        {"x": Shy()},
        [],
    ]
    for value in values:
        assert _content._own_normalized(value) == base._normalize_message_content(value), value
        assert _content._own_printed(value) == base._stringify(value), value
