"""Reading: query filters, the last N records from the end, following, and the tail/query CLI."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from agentguard.audit import AuditLog, follow, parse_since, query, read_last, read_records
from agentguard.cli import main
from agentguard.errors import AuditError
from agentguard.settings import Durability


def _call(log: AuditLog, call_id: str, agent: str, tool: str, effect: str, *, ran: bool = True) -> None:
    """The records the guard writes for one call (the guard repeats agent/tool; we leave them off
    after the first record to check that filters follow the call, not the record)."""
    log.record("call.received", call_id=call_id, agent=agent, tool=tool, arguments={"n": 1})
    log.record("policy.decided", call_id=call_id, effect=effect, rule="policy.csv:1")
    if effect == "ask":
        log.record("approval.requested", call_id=call_id, timeout_s=30)
        log.record("approval.resolved", call_id=call_id, status="approved", approver="ann")
    if effect != "deny" and ran:
        log.record("execution.started", call_id=call_id)
        log.record("execution.finished", call_id=call_id, duration_ms=1.5)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, durability=Durability.BATCH) as log:
        _call(log, "a" * 32, "coder", "fs.read", "allow")
        _call(log, "b" * 32, "coder", "shell.run", "deny")
        _call(log, "c" * 32, "reviewer", "shell.run", "ask")
        _call(log, "d" * 32, "reviewer", "fs.read", "allow")
    return path


def _events(records: Any) -> list[tuple[str, str]]:
    return [(r["call_id"][0], r["event"]) for r in records]


def test_query_by_agent_follows_the_call(trail: Path) -> None:
    got = _events(query(trail, agent="reviewer"))
    assert got == [
        ("c", "call.received"), ("c", "policy.decided"), ("c", "approval.requested"),
        ("c", "approval.resolved"), ("c", "execution.started"), ("c", "execution.finished"),
        ("d", "call.received"), ("d", "policy.decided"), ("d", "execution.started"),
        ("d", "execution.finished"),
    ]  # fmt: skip


def test_query_by_tool_and_effect_combine(trail: Path) -> None:
    assert _events(query(trail, tool="shell.run", effect="deny")) == [("b", "policy.decided")]
    assert {c for c, _ in _events(query(trail, effect="allow"))} == {"a", "d"}


def test_query_by_event_glob_and_call_prefix(trail: Path) -> None:
    assert _events(query(trail, event="approval.*")) == [
        ("c", "approval.requested"),
        ("c", "approval.resolved"),
    ]
    assert len(list(query(trail, call_id="bbbb"))) == 2
    assert list(query(trail, call_id="zzz")) == []


def test_query_since(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = []
    for i, ts in enumerate(["2024-01-01T00:00:00.000000Z", "2024-06-01T00:00:00.000000Z"]):
        lines.append(orjson.dumps({"event": "x", "i": i, "ts": ts}) + b"\n")
    path.write_bytes(b"".join(lines))
    assert [r["i"] for r in query(path, since=datetime(2024, 3, 1, tzinfo=UTC))] == [1]
    assert [r["i"] for r in query(path, since=datetime(2023, 3, 1, tzinfo=UTC))] == [0, 1]


def test_parse_since() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("10m", now=now) == now - timedelta(minutes=10)
    assert parse_since("2h", now=now) == now - timedelta(hours=2)
    assert parse_since("1d", now=now) == now - timedelta(days=1)
    assert parse_since("2024-05-01T10:00:00+02:00") == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert parse_since("2024-05-01T10:00").tzinfo is not None
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since("yesterday")


def test_read_last_matches_the_full_read_on_a_big_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, durability=Durability.BATCH, batch_size=1000) as log:
        for i in range(10_000):
            log.record("tick", i=i, pad="x" * (i % 13))
    everything = list(read_records(path))
    for n in (0, 1, 20, 777, 10_000, 20_000):
        assert read_last(path, n) == (everything[-n:] if n else [])


def test_read_last_skips_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for i in range(3):
            log.record("tick", i=i)
    with path.open("ab") as f:
        f.write(b'{"half":')
    assert [r["i"] for r in read_last(path, 2)] == [1, 2]
    assert [r["i"] for r in read_records(path)] == [0, 1, 2]


def test_reading_a_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"no audit log at .*run something through the guard first"):
        list(read_records(tmp_path / "none.jsonl"))


def test_reading_garbage_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"event":"x"}\nnot json\n')
    with pytest.raises(AuditError, match=r"audit.jsonl:line 2: not a JSON record"):
        list(read_records(path))


def test_follow_yields_new_records(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record("old")
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    stop = threading.Event()
    started = threading.Event()

    def consume() -> None:
        gen = follow(path, interval_s=0.01, stop=stop)
        started.set()
        for record in gen:
            got.put(record)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        log.record("new", i=1)
        first = got.get(timeout=10)
        assert first["event"] == "new"
        assert first["i"] == 1
        log.record("newer", i=2)
        assert got.get(timeout=10)["event"] == "newer"
    finally:
        stop.set()
        thread.join(10)
        log.close()
    assert not thread.is_alive()


# --- CLI -----------------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_tail_json_last_n(trail: Path) -> None:
    code, out, _ = _cli("audit", "tail", "-n", "3", "--json", "--file", str(trail))
    assert code == 0
    records = [orjson.loads(line) for line in out.splitlines()]
    assert records == list(read_records(trail))[-3:]


def test_cli_tail_table_uses_home(trail: Path) -> None:
    code, out, _ = _cli("--home", str(trail.parent), "audit", "tail", "-n", "2")
    assert code == 0
    assert "execution.started" in out
    assert "execution.finished" in out
    assert "dddddddd" in out
    assert "call.received" not in out


def test_cli_query_table_and_json(trail: Path) -> None:
    code, out, _ = _cli("audit", "query", "--effect", "deny", "--file", str(trail))
    assert code == 0
    assert "policy.decided" in out
    assert "shell.run" in out
    assert "deny" in out
    assert "coder" in out
    assert "1 record(s)" in out
    code, out, _ = _cli(
        "audit", "query", "--agent", "reviewer", "--event", "approval.*", "--json", "--file", str(trail)
    )
    assert code == 0
    assert [orjson.loads(line)["event"] for line in out.splitlines()] == [
        "approval.requested",
        "approval.resolved",
    ]


def test_cli_query_since_accepts_durations_and_rejects_nonsense(trail: Path) -> None:
    code, out, _ = _cli("audit", "query", "--since", "10m", "--json", "--file", str(trail))
    assert code == 0
    assert len(out.splitlines()) == len(list(read_records(trail)))
    code, _, err = _cli("audit", "query", "--since", "soon", "--file", str(trail))
    assert code == 2
    assert "neither a duration" in err


def test_cli_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    for cmd in (["tail"], ["query"]):
        code, _, err = _cli("--home", str(tmp_path), "audit", *cmd)
        assert code == 2
        assert f"no audit log at {tmp_path / 'audit.jsonl'}" in err
