"""A record's own field names were written as given: not redacted (docs/audit.md: "In any other
string (keys included)"), and a name that is not valid UTF-8 (a lone surrogate) could not be
rendered at all. That failure was the writer's, for the whole batch it was in, and the record stayed
at the front of the queue: every later ``record()`` of every thread raised, and ``close()`` too,
until the process ended (in batch mode, with the records queued behind it lost). Field names are
now cleaned like any other key: the surrogate written as its ``\\udXXX`` escape, a token replaced.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from agentguard.audit import AuditLog, read_records, verify
from agentguard.settings import Durability

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


@pytest.mark.parametrize("durability", [Durability.FSYNC, Durability.BATCH])
def test_a_field_name_that_is_not_utf8_neither_jams_nor_loses_the_log(
    tmp_path: Path, durability: Durability
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, durability=durability) as log:
        log.record("before")
        log.record("odd", **{"name\ud800": 1})
        log.record("after")
    records = list(read_records(path))
    assert [r["event"] for r in records] == ["before", "odd", "after"]
    assert records[1]["name\\ud800"] == 1
    assert verify(path).ok


def test_a_token_in_a_field_name_is_redacted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("keys", **{TOKEN: "v", "[REDACTED:github_token]": "w"})
    data = path.read_bytes()
    assert b"ghp_A1b2" not in data
    (record,) = (orjson.loads(line) for line in data.splitlines())
    # Both names now read as "... token" (is_sensitive_key reads a name as words), so their values
    # are withheld as well: more is hidden, never less.
    assert (
        sorted(v for k, v in record.items() if k.startswith("[REDACTED:github_token]")) == ["[REDACTED]"] * 2
    )
    assert verify(path).ok
