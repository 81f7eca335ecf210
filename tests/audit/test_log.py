"""The writer: record format, redaction, odd values, durability modes, failures."""

from __future__ import annotations

import enum
import hashlib
import math
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.audit import GENESIS, REDACTED, AuditLog, checkpoint_path, read_records, redact, verify
from agentguard.errors import AuditError, InvalidArguments
from agentguard.models import Effect, ToolCall
from agentguard.pipeline import AuditSink
from agentguard.settings import Durability

from .conftest import forge_line, lines_of, run_python

OPENAI_KEY = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
GITHUB_TOKEN = "ghp_" + "A" * 36


def test_is_an_audit_sink(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl") as log:
        assert isinstance(log, AuditSink)


def test_record_format_is_the_documented_one(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path) as log:
        log.record("call.received", call_id="c1", agent="coder", tool="fs.read", arguments={"path": "x"})
        log.record("policy.decided", call_id="c1", effect="allow", rule="policy.csv:3")
    lines = lines_of(path)
    assert len(lines) == 2
    prev = GENESIS
    for seq, line in enumerate(lines):
        record = orjson.loads(line)
        assert record["seq"] == seq
        assert record["prev"] == prev
        datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")  # RFC 3339, UTC
        body = {k: v for k, v in record.items() if k != "hash"}
        expected, digest = forge_line(body)
        assert line == expected  # byte-exact: sorted keys, compact, hash last
        assert record["hash"] == digest == hashlib.sha256(line[:-76] + b"}").hexdigest()
        prev = digest
    first = orjson.loads(lines[0])
    assert first["event"] == "call.received"
    assert first["arguments"] == {"path": "x"}
    assert orjson.loads(checkpoint_path(path).read_bytes()) == {
        "seq": 1,
        "hash": prev,
        "end": path.stat().st_size,
    }


def test_chain_continues_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    for i in range(3):
        with AuditLog(path) as log:
            log.record("tick", i=i)
    records = list(read_records(path))
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert [r["i"] for r in records] == [0, 1, 2]
    assert verify(path).ok


def test_redaction_of_keys_and_values_nested(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path) as log:
        log.record(
            "call.received",
            call_id="c1",
            arguments={
                "url": "https://api.example.com",
                "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k-123", "Accept": "json"},
                "password": {"nested": "even a dict"},
                "items": [{"token": "t0k3n"}, f"use {OPENAI_KEY} please", ["deep", {"client_secret": "s"}]],
                "note": f"github: {GITHUB_TOKEN}",
            },
            api_key="top-level-secret",
        )
    raw = path.read_text()
    for secret in (
        "Bearer abc",
        "k-123",
        "even a dict",
        "t0k3n",
        OPENAI_KEY,
        GITHUB_TOKEN,
        "top-level-secret",
    ):
        assert secret not in raw, secret
    (record,) = read_records(path)
    args = record["arguments"]
    assert args["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "json"}
    assert args["password"] == REDACTED
    assert args["items"][0] == {"token": REDACTED}
    assert args["items"][1] == "use [REDACTED:openai_key] please"
    assert args["items"][2] == ["deep", {"client_secret": REDACTED}]
    assert args["note"] == "github: [REDACTED:github_token]"
    assert args["url"] == "https://api.example.com"
    assert record["api_key"] == REDACTED
    assert verify(path).ok


def test_a_secret_in_the_event_name_is_redacted(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path, durability=Durability.BATCH) as log:
        log.record(f"key {OPENAI_KEY}")
    assert OPENAI_KEY not in path.read_text()
    (record,) = read_records(path)
    assert record["event"] == "key [REDACTED:openai_key]"


def test_redact_function_directly() -> None:
    value = {"a": [1, 2.5, None, True, {"secret": 1}], ("tuple", "key"): b"bytes " + OPENAI_KEY.encode()}
    out = redact(value)
    assert out == {
        "a": [1, 2.5, None, True, {"secret": REDACTED}],
        "('tuple', 'key')": "bytes [REDACTED:openai_key]",
    }


def test_keys_that_hold_a_secret_are_redacted_too() -> None:
    assert redact({OPENAI_KEY: 1}) == {"[REDACTED:openai_key]": 1}


class _Color(enum.Enum):
    RED = "red"


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_odd_values_never_crash_the_log(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    call = ToolCall(agent="a", tool="fs.read", arguments={"path": "x"}, time=when)
    with AuditLog(path) as log:
        log.record(
            "odd",
            obj=object(),
            unprintable=_Unprintable(),
            nan=math.nan,
            inf=-math.inf,
            big=2**80,
            surrogate="bad \udcff end",
            when=when,
            color=_Color.RED,
            effect=Effect.DENY,
            model=call,
            error=InvalidArguments("bad path", field="path"),
            plain_error=ValueError("boom"),
            cyclic=cyclic,
            a_set={3},
            seq="caller's own seq",
            hash="caller's own hash",
        )
    (record,) = read_records(path)
    assert record["obj"].startswith("<object object")
    assert record["unprintable"] == "<unprintable _Unprintable>"
    assert record["nan"] == "nan"
    assert record["inf"] == "-inf"
    assert record["big"] == str(2**80)
    assert record["surrogate"] == "bad \\udcff end"
    assert record["when"] == "2024-05-01T12:00:00+00:00"
    assert record["color"] == "red"
    assert record["effect"] == "deny"
    assert record["model"]["tool"] == "fs.read"
    assert record["model"]["arguments"] == {"path": "x"}
    assert record["error"] == {
        "code": "call.invalid_arguments",
        "message": "bad path",
        "data": {"field": "path"},
    }
    assert record["plain_error"] == {"type": "ValueError", "message": "boom"}
    assert "too deep" in orjson.dumps(record["cyclic"]).decode()
    assert record["a_set"] == [3]
    assert record["seq"] == 0
    assert record["seq_"] == "caller's own seq"
    assert record["hash_"] == "caller's own hash"
    assert verify(path).ok


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), json_values, max_size=5))
def test_any_json_fields_round_trip_redacted_and_verify(tmp_path: Path, fields: dict[str, Any]) -> None:
    path = tmp_path / "prop.jsonl"
    with AuditLog(path, durability=Durability.BATCH) as log:
        log.record("prop", **fields)
    *_, record = read_records(path)
    for key, value in fields.items():
        stored_key = key + "_" if key in {"ts", "event", "seq", "prev", "hash"} else key
        expected = redact({key: value})[key]
        assert record[stored_key] == expected
    assert verify(path).ok


def test_fsync_mode_writes_before_record_returns(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path, durability=Durability.FSYNC) as log:
        for i in range(3):
            log.record("tick", i=i)
            assert len(lines_of(path)) == i + 1
            assert orjson.loads(checkpoint_path(path).read_bytes())["seq"] == i


def test_batch_mode_queues_at_most_batch_size_and_flush_writes_all(tmp_path: Path) -> None:
    """The writer thread writes in the background; at most ``batch_size`` records wait for it
    (``record`` waits for room beyond that), and ``flush`` returns once every record is on disk."""
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, durability=Durability.BATCH, batch_size=4)
    for i in range(50):
        log.record("tick", i=i)
        assert log.buffered <= 4
    log.flush()
    assert log.buffered == 0
    assert len(lines_of(path)) == 50
    assert orjson.loads(checkpoint_path(path).read_bytes())["seq"] == 49
    log.record("tick", i=50)
    log.close()
    assert [r["i"] for r in read_records(path)] == list(range(51))
    assert verify(path).ok
    with pytest.raises(AuditError, match="closed"):
        log.record("late")


def test_batch_mode_flushes_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from agentguard.audit import AuditLog
        from agentguard.settings import Durability
        log = AuditLog(Path(sys.argv[1]), durability=Durability.BATCH, batch_size=100)
        for i in range(7):
            log.record("tick", i=i)
        # no close(): the atexit hook must flush
        """
    )
    result = run_python(code, str(path))
    assert result.returncode == 0, result.stderr
    assert [r["i"] for r in read_records(path)] == list(range(7))
    assert verify(path).ok


def test_write_failure_raises_audit_error_and_leaves_log_verifiable(tmp_path: Path) -> None:
    """A real write failure (file size limit, EFBIG) surfaces as AuditError; no partial record stays."""
    path = tmp_path / "a.jsonl"
    code = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        from agentguard.audit import AuditLog
        from agentguard.errors import AuditError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
        log = AuditLog(Path(sys.argv[1]))
        written = 0
        try:
            for i in range(1000):
                log.record("tick", i=i, pad="x" * 200)
                written += 1
        except AuditError as exc:
            print(f"AuditError after {written}: {exc.code}: {exc}")
        """
    )
    result = run_python(code, str(path))
    # The refused record stays buffered; it cannot be written at exit either, and that is said.
    assert result.returncode == 74, result.stderr
    assert f"audit log {path}: 1 buffered record(s) could not be written at exit" in result.stderr
    assert "AuditError after" in result.stdout
    assert "audit.error" in result.stdout
    written = int(result.stdout.split("after ")[1].split(":")[0])
    assert 0 < written < 1000
    report = verify(path)
    assert report.ok, report
    assert report.records_verified == written


def test_unwritable_location_raises_audit_error(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(AuditError, match=r"dir\.jsonl"):
        AuditLog(tmp_path / "dir.jsonl")


@pytest.mark.parametrize("durability", [Durability.FSYNC, Durability.BATCH])
def test_redaction_does_not_hold_up_other_writers(tmp_path: Path, durability: Durability) -> None:
    """A record whose redaction takes long (a huge argument) must not block another thread's append.

    Redaction turns unknown objects into ``str(value)``; this one's ``__str__`` waits until the other
    thread's record is written, which can only happen if redaction runs outside the log's lock.
    """
    import threading

    path = tmp_path / "a.jsonl"
    log = AuditLog(path, durability=durability, batch_size=1 if durability is Durability.FSYNC else 2)
    redacting, release = threading.Event(), threading.Event()

    class SlowToRedact:
        def __str__(self) -> str:
            redacting.set()
            release.wait(60)
            return "slow"

    slow = threading.Thread(target=lambda: log.record("slow", value=SlowToRedact()))
    slow.start()
    try:
        assert redacting.wait(30)
        done = threading.Event()

        def append() -> None:
            log.record("fast", n=1)
            log.flush()
            done.set()

        fast = threading.Thread(target=append, daemon=True)
        fast.start()
        assert done.wait(10), "another thread's append waited for a redaction to finish"
    finally:
        release.set()
        slow.join(30)
    log.close()
    assert [r["event"] for r in read_records(path)] == ["fast", "slow"]
    assert verify(path).ok
