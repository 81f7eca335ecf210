"""Shared pieces for the integration tests: real policy directories, real audit logs, settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard, Settings
from agentguard.audit import AuditLog, read_records, verify
from agentguard.testing import ScriptedApprover


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", workspace=tmp_path)


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def make_guard(
    make_policy: Callable[[str], Path], settings: Settings, audit_path: Path
) -> Callable[..., Guard]:
    """A Guard on real pycasbin rules and a real hash-chained audit log."""
    made: list[Guard] = []

    def make(rules: str, answers: Any = (), **kw: Any) -> Guard:
        approver = answers if hasattr(answers, "request") else ScriptedApprover(answers)
        guard = Guard(
            make_policy(rules), approver=approver, audit=AuditLog(audit_path), settings=settings, **kw
        )
        made.append(guard)
        return guard

    yield make  # type: ignore[misc]
    for guard in made:
        guard.close()


def audit_records(path: Path) -> list[dict[str, Any]]:
    """The audit log's records, after checking its hash chain."""
    report = verify(path)
    assert report.ok, report
    return list(read_records(path))


def calls(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by call id, in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("call_id"):
            out.setdefault(record["call_id"], []).append(record)
    return out


def outcome(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(tool, framework, last event) per call, in order: what happened to each call at a glance."""
    return [(rs[0]["tool"], rs[0]["framework"], rs[-1]["event"]) for rs in calls(records).values()]


async def invoke_agents_tool(guarded: Any, raw: str) -> Any:
    """Call an Agents SDK function tool as the SDK's runner does: its arguments as the model's JSON text."""
    from agents.tool_context import ToolContext

    ctx: ToolContext[Any] = ToolContext(
        context=None, tool_name=guarded.name, tool_call_id="c1", tool_arguments=raw
    )
    return await guarded.on_invoke_tool(ctx, raw)
