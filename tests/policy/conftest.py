"""Fixtures for policy tests: real policy directories, a real workspace, engines over them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.models import Decision, ToolCall
from agentguard.policy import PolicyEngine

REPO = Path(__file__).resolve().parents[2]
PERMISSIONS = REPO / "permissions"
EXAMPLES = PERMISSIONS / "examples"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("print('hi')\n")
    return ws


@pytest.fixture
def engine_for(make_policy: Callable[..., Path], workspace: Path) -> Callable[..., PolicyEngine]:
    """Build an engine from policy text (next to the shipped model.conf), over the tmp workspace."""

    def build(rules: str, **kwargs: Any) -> PolicyEngine:
        return PolicyEngine.load(make_policy(rules), workspace=workspace, **kwargs)

    return build


def decide(engine: PolicyEngine, tool: str, agent: str = "coder", **arguments: Any) -> Decision:
    return engine.decide(ToolCall(agent=agent, tool=tool, arguments=arguments))


def line_of(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that starts with ``text`` (exactly one must)."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(text)]
    assert len(hits) == 1, f"{text!r} found on lines {hits} of {path}"
    return hits[0]
