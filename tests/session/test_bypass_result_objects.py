"""Results that are objects, not JSON: a pydantic model (an MCP ``CallToolResult``), a dataclass, an
object the framework prints. The model reads them (the framework serialises them), so the session's
``secret``/``pii`` marks and redaction must read them too.

Class: ``detectors.contains`` walked only strings, mappings and sequences, so a secret inside a
model or a dataclass left the session unmarked (a trifecta rule on ``session_read("secret")`` then
let the next outbound call through), and redaction passed a dataclass through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentguard import Guard
from agentguard.models import Effect

from .conftest import Tools

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
TOKEN = "ghp_" + "d" * 36


class Content(BaseModel):
    type: str = "text"
    text: str


class ToolResult(BaseModel):
    content: list[Content]
    is_error: bool = False


@dataclass
class Page:
    title: str
    body: str


class Printed:
    """An object a framework shows the model as its ``str()``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"Printed({self.text})"


SHAPES: list[tuple[str, Any]] = [
    ("pydantic model", ToolResult(content=[Content(text=f"the key is {AWS_KEY}")])),
    ("dataclass", Page("keys", f"aws {AWS_KEY}")),
    ("model in a list", [ToolResult(content=[Content(text=AWS_KEY)])]),
    ("dataclass in a dict", {"page": Page("x", AWS_KEY)}),
    ("printed object", Printed(AWS_KEY)),
]


@pytest.mark.parametrize(("shape", "output"), SHAPES, ids=[s for s, _ in SHAPES])
def test_a_secret_inside_an_object_marks_the_session(
    guard: tuple[Guard, Tools, Path], shape: str, output: Any
) -> None:
    g, tools, _ = guard
    tools.outputs["web.get"] = output
    with g.session(user_request="read the page") as session:
        g.call("web.get", {"url": "https://example.com/"})
        assert session.has_read("secret"), shape
        assert g.decide("http.post", {"url": "https://example.com/x"}).effect is Effect.DENY


@pytest.mark.parametrize(
    ("shape", "output"),
    [
        ("pydantic model", ToolResult(content=[Content(text=f"token {TOKEN}")])),
        ("dataclass", Page("t", f"token {TOKEN}")),
        ("dataclass in a list", [Page("t", TOKEN)]),
        ("printed object", Printed(TOKEN)),
    ],
)
def test_a_secret_inside_an_object_is_redacted(
    guard: tuple[Guard, Tools, Path], shape: str, output: Any
) -> None:
    g, tools, _ = guard
    tools.outputs["files.read"] = output
    shown = g.call("files.read", {"path": "/x"})
    text = shown.model_dump_json() if isinstance(shown, BaseModel) else str(shown)
    assert TOKEN not in text, shape
    assert "[REDACTED:" in text, shape


def test_an_object_without_a_secret_is_returned_as_it_was(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, _ = guard
    page = Page("hello", "nothing to hide")
    tools.outputs["files.read"] = page
    assert g.call("files.read", {"path": "/x"}) is page
