"""Red team: ``audit acknowledge`` acknowledged every unacknowledged segment, including one the
person never saw. They run ``verify``, look into segment A, and run ``acknowledge``; records cut off
the end in between become segment B when ``acknowledge`` opens the log (or any writer does), and
were acknowledged with A's reason. Now the person names the segments they looked into
(``--segment SEQ``, ``segments=``); any other unacknowledged segment refuses the lot, nothing is
written. ``--all`` is the explicit form of the old behaviour."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentguard.audit import AuditLog, acknowledge, verify
from agentguard.cli import main
from agentguard.errors import AuditIntegrityError

from .conftest import lines_of


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(b"".join(lines_of(path)[:keep]))


def _segment_a_then_b(make_log: Callable[..., Path]) -> tuple[Path, int]:
    """A log with segment A, seen by the person, and records cut off after they looked."""
    path = make_log(5)
    _cut(path, 3)
    with AuditLog(path) as log:  # the next writer starts segment A
        log.record("call.received", call_id="a" * 32)
    (seen,) = verify(path).unacknowledged  # what the person looked into
    _cut(path, len(lines_of(path)) - 1)  # then someone cuts the last record off
    return path, seen.seq


def test_a_segment_started_after_the_person_looked_is_not_acknowledged(make_log: Callable[..., Path]) -> None:
    path, seen = _segment_a_then_b(make_log)
    before = path.read_bytes()
    with pytest.raises(AuditIntegrityError, match="not named"):
        acknowledge(path, reason="A was my backup test", by="alice", segments=[seen])
    report = verify(path)
    assert not report.ok
    assert [s.seq for s in report.unacknowledged] == [seen, len(lines_of(path)) - 1]
    assert path.read_bytes().startswith(before)


def test_naming_every_segment_acknowledges_them(make_log: Callable[..., Path]) -> None:
    path, _seen = _segment_a_then_b(make_log)
    with AuditLog(path):
        pass  # a writer notes B
    both = [s.seq for s in verify(path).unacknowledged]
    assert [s.seq for s in acknowledge(path, reason="looked into both", by="alice", segments=both)] == both
    assert verify(path).ok


def test_the_cli_needs_the_segments_or_all(make_log: Callable[..., Path]) -> None:
    path, seen = _segment_a_then_b(make_log)
    runner = CliRunner()
    base = ["audit", "acknowledge", "--reason", "A was my backup test", "--file", str(path)]
    assert runner.invoke(main, base).exit_code == 2
    refused = runner.invoke(main, [*base, "--segment", str(seen)])
    assert refused.exit_code != 0
    assert "not named" in refused.stderr
    assert not verify(path).ok
    done = runner.invoke(main, [*base, "--all"])
    assert done.exit_code == 0, done.stderr
    assert verify(path).ok
