"""Links and special files planted beside the log by someone who can write its directory.

* The checkpoint's temp file (``audit.jsonl.head.tmp-<pid>``, the pid is no secret) was opened with
  ``O_CREAT|O_TRUNC``, following a link: a link planted there made the writer truncate any file it
  may write (a policy file, a shell profile) and put the checkpoint in it.
* The log's own path was followed too: a link to a file that does not exist made the guard create it
  and append records holding the agent's text to it (a JSON line is a valid shell word: ``"$(...)"``
  in it runs when a shell reads the file). The log must now be the file itself: a link there is an
  ``AuditError`` naming the path, and nothing is written anywhere.
* The checkpoint was read until end of file, following a link: a link to ``/dev/zero`` or a FIFO
  hung the writer, holding the lock every writer needs. Now a checkpoint that is not a regular file
  of sensible size is unreadable, and judged as a garbled checkpoint (a segment), not waited for.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from agentguard.audit import AuditLog, checkpoint_path, read_records, verify
from agentguard.audit._pg import read_witness, write_witness
from agentguard.errors import AuditError


def test_a_link_at_the_checkpoint_temp_file_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    victim = tmp_path / "policy.csv"
    victim.write_text("p, *, *, *, deny\n")
    with AuditLog(path) as log:
        log.record("one")
        head = checkpoint_path(path)
        head.with_name(f"{head.name}.tmp-{os.getpid()}").symlink_to(victim)
        log.record("two")
    assert victim.read_text() == "p, *, *, *, deny\n"
    assert not head.is_symlink()
    assert [r["event"] for r in read_records(path)] == ["one", "two"]
    assert verify(path).ok


def test_a_link_at_the_log_path_is_refused_on_opening(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    target = tmp_path / "home" / ".bash_aliases"
    target.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(AuditError, match="symbolic link"):
        AuditLog(path)
    assert not target.exists()


def test_a_link_put_at_the_log_path_under_a_running_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    target = tmp_path / "home" / ".bash_aliases"
    target.parent.mkdir()
    log = AuditLog(path)
    try:
        log.record("one")
        path.rename(tmp_path / "moved.jsonl")
        path.symlink_to(target)
        with pytest.raises(AuditError, match="symbolic link"):
            log.record("arguments", command="$(touch pwned)")
    finally:
        with pytest.raises(AuditError):
            log.close()
    assert not target.exists()


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_a_checkpoint_that_is_not_a_file_does_not_hang_the_writer(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
    head = checkpoint_path(path)
    head.unlink()
    if kind == "zero":
        head.symlink_to("/dev/zero")
    else:
        os.mkfifo(head)
    done: list[object] = []

    def reopen() -> None:
        try:
            with AuditLog(path) as log:
                log.record("two")
            done.append("ok")
        except Exception as exc:  # noqa: BLE001 - reported below
            done.append(exc)

    thread = threading.Thread(target=reopen, daemon=True)
    thread.start()
    thread.join(20)
    assert done == ["ok"], done or "the writer hung on the checkpoint"
    assert [s.reason for s in verify(path).unacknowledged] == ["checkpoint_invalid"]


def test_a_link_at_the_database_witness_temp_file_is_not_followed(tmp_path: Path) -> None:
    witness = tmp_path / "audit-db.witness"
    victim = tmp_path / "agentguard.toml"
    victim.write_text("[audit]\n")
    tmp = witness.with_name(f"{witness.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.symlink_to(victim)
    write_witness(witness, 3, "a" * 64)
    assert victim.read_text() == "[audit]\n"
    assert read_witness(witness) == (3, "a" * 64)
