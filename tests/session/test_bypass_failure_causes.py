"""A failed call's cause chain is redacted like its message.

Class: a tool with ``redact = ["secret"]`` that failed got a ``ToolFailed`` with a redacted message but
``raise ... from`` the tool's own exception, unredacted: a framework that prints the traceback (or
reads ``__cause__``) handed the model the secret in the tool's error, or in any exception that error
was raised from. A tool's own typed error (``AgentGuardError``) whose message was redacted was chained
to its unredacted original the same way.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from agentguard import Guard, ToolFailed
from agentguard.errors import CallRejected

from .conftest import Tools

TOKEN = "ghp_" + "e" * 36


def _printed(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def _chain(error: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and len(out) < 50:
        out.append(link)
        link = link.__cause__ if link.__cause__ is not None else link.__context__
    return out


def _caused(message: str, cause: BaseException, *, implicit: bool = False) -> BaseException:
    error = RuntimeError(message)
    if implicit:
        error.__context__ = cause
    else:
        error.__cause__ = cause
    return error


def _noted(error: BaseException, note: str) -> BaseException:
    error.add_note(note)
    return error


def _syntax(line: str) -> SyntaxError:
    error = SyntaxError("bad config")
    error.filename, error.lineno, error.text = "cfg", 1, line
    return error


def _with_cause(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: RuntimeError(f"token = {TOKEN}"), id="in-the-message"),
        pytest.param(lambda: _caused("cannot parse config", KeyError(TOKEN)), id="in-the-cause"),
        pytest.param(
            lambda: _caused("cannot parse config", ValueError(f"bad {TOKEN}"), implicit=True),
            id="in-the-context",
        ),
        pytest.param(
            lambda: _caused("outer", _caused("middle", OSError(f"open {TOKEN}"))), id="two-links-down"
        ),
        pytest.param(
            lambda: ExceptionGroup("boom", [_caused("x", KeyError(TOKEN))]), id="group-member-cause"
        ),
        pytest.param(lambda: _noted(RuntimeError("bad config"), f"token {TOKEN}"), id="a-note"),
        pytest.param(lambda: _caused("outer", _noted(ValueError("x"), TOKEN)), id="a-note-on-the-cause"),
        pytest.param(lambda: _syntax(f"token = {TOKEN}"), id="syntax-error-text"),
        pytest.param(
            lambda: _with_cause(CallRejected("nested call refused", tool="x"), KeyError(TOKEN)),
            id="own-typed-error",
        ),
        pytest.param(
            lambda: _with_cause(CallRejected(f"nested call refused: {TOKEN}", tool="x"), KeyError(TOKEN)),
            id="own-typed-error-redacted-copy",
        ),
    ],
)
def test_no_link_of_a_failure_shows_the_secret(guard: tuple[Guard, Tools, Path], failure: object) -> None:
    g, tools, audit_path = guard
    tools.outputs["files.read"] = failure()  # type: ignore[operator]
    with pytest.raises(Exception) as info:  # ToolFailed, or the tool's own typed error
        g.call("files.read", {"path": "/x"})
    assert TOKEN not in _printed(info.value)
    assert all(TOKEN not in f"{link}{link!r}{link.args}" for link in _chain(info.value))
    assert TOKEN not in audit_path.read_text()


def test_the_tools_own_exception_keeps_its_chain(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, _ = guard
    cause = KeyError(TOKEN)
    original = _caused("cannot parse config", cause)
    tools.outputs["files.read"] = original
    with pytest.raises(ToolFailed) as info:
        g.call("files.read", {"path": "/x"})
    assert original.__cause__ is cause  # redaction copies; the tool's object is not rewritten
    shown = info.value.__cause__
    assert shown is not None
    assert shown is not original
    assert type(shown) is RuntimeError
    assert "[REDACTED:" in str(shown.__cause__)


def test_a_cause_that_cannot_be_made_clean_is_cut(guard: tuple[Guard, Tools, Path]) -> None:
    class Leaky(Exception):
        def __str__(self) -> str:  # finds the secret wherever it is copied
            return f"leaky {TOKEN}"

    g, tools, _ = guard
    tools.outputs["files.read"] = _caused("cannot parse config", Leaky())
    with pytest.raises(ToolFailed) as info:
        g.call("files.read", {"path": "/x"})
    assert TOKEN not in _printed(info.value)
    assert info.value.__cause__ is not None
    assert info.value.__cause__.__cause__ is None


def test_a_failure_of_a_tool_without_redaction_keeps_its_cause(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, _ = guard
    original = _caused("fetch failed", KeyError(TOKEN))
    tools.outputs["web.get"] = original
    with pytest.raises(ToolFailed) as info:
        g.call("web.get", {"url": "https://example.com/"})
    assert info.value.__cause__ is original
