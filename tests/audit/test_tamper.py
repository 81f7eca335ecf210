"""Attack tests: every way of changing the file that the chain claims to catch, and where it says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from agentguard.audit import CheckpointStatus, checkpoint_path, verify
from agentguard.cli import main

from .conftest import forge_line, lines_of, stated_hash


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    starts += [i + 1 for i, b in enumerate(data) if b == 0x0A][:-1]
    return starts


def _line_of(pos: int, starts: list[int]) -> int:
    """1-based line number holding byte ``pos`` (its terminating newline included)."""
    return max(i for i, s in enumerate(starts) if s <= pos) + 1


def test_intact_log_verifies(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    report = verify(path)
    assert report.ok
    assert report.records_verified == 6
    assert report.first_bad is None
    assert report.torn_tail is None
    assert report.checkpoint.status is CheckpointStatus.MATCH
    assert report.head == stated_hash(lines_of(path)[-1])


def test_every_single_byte_edit_is_caught_at_its_line(make_log: Callable[..., Path]) -> None:
    path = make_log(3)
    original = path.read_bytes()
    starts = _line_starts(original)
    last_line = len(starts)
    checked = 0
    for pos in range(len(original)):
        for replacement in {original[pos] ^ 0x01, 0x0A if original[pos] != 0x0A else 0x20}:
            data = bytearray(original)
            data[pos] = replacement
            path.write_bytes(bytes(data))
            report = verify(path)
            where = f"byte {pos} ({original[pos : pos + 1]!r} -> {bytes([replacement])!r})"
            assert not report.ok, where
            assert report.first_bad is not None, where
            assert report.first_bad.line == _line_of(pos, starts), (where, report)
            if pos == len(original) - 1:  # the final newline: the last record is no longer complete
                assert report.torn_tail is not None, where
                assert report.first_bad.line == last_line
            checked += 1
    assert checked >= 2 * len(original) - 1


@pytest.mark.parametrize(
    ("what", "locate"),
    [
        ("a value", lambda line: line.index(b'"coder"') + 3),
        ("a key", lambda line: line.index(b'"agent"') + 3),
        ("a hash digit", lambda line: len(line) - 10),
        ("the hash field name", lambda line: line.index(b'"hash"') + 2),
        ("the seq number", lambda line: line.index(b'"seq":') + 6),
        ("the prev link", lambda line: line.index(b'"prev":"') + 20),
    ],
)
def test_edit_by_position_class(
    make_log: Callable[..., Path], what: str, locate: Callable[[bytes], int]
) -> None:
    path = make_log(4)
    lines = lines_of(path)
    target = 2
    idx = locate(lines[target])
    edited = bytearray(lines[target])
    edited[idx] = ord("7") if edited[idx] != ord("7") else ord("8")
    lines[target] = bytes(edited)
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok, what
    assert report.first_bad is not None, what
    assert report.first_bad.line == target + 1, (what, report.first_bad)
    assert report.records_verified == target


@pytest.mark.parametrize("victim", [0, 2, 5])
def test_deleted_line(make_log: Callable[..., Path], victim: int) -> None:
    path = make_log(6)
    lines = lines_of(path)
    del lines[victim]
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.line == victim + 1
    if victim == 5:  # the last line: only the checkpoint knows it existed
        assert report.checkpoint.status is CheckpointStatus.AHEAD
        assert "cut off" in report.first_bad.reason
    else:
        assert "deleted" in report.first_bad.reason


@pytest.mark.parametrize("first", [0, 2, 4])
def test_swapped_lines(make_log: Callable[..., Path], first: int) -> None:
    path = make_log(6)
    lines = lines_of(path)
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.line == first + 1
    assert report.first_bad.seq == first + 1


def _forged(lines: list[bytes], at: int) -> bytes:
    prev = stated_hash(lines[at - 1]) if at else "0" * 64
    record = {
        "event": "policy.decided",
        "call_id": "f" * 32,
        "agent": "coder",
        "tool": "shell.run",
        "effect": "allow",
        "ts": "2026-01-01T00:00:00.000000Z",
        "seq": at,
        "prev": prev,
    }
    line, _ = forge_line(record)
    return line


@pytest.mark.parametrize("at", [0, 3])
def test_inserted_self_consistent_line_in_the_middle(make_log: Callable[..., Path], at: int) -> None:
    path = make_log(6)
    lines = lines_of(path)
    forged = _forged(lines, at)
    lines.insert(at, forged)
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    # The forged record links correctly; the chain breaks at the next line, which names it.
    assert report.first_bad is not None
    assert report.first_bad.line == at + 2
    assert "appears twice" in report.first_bad.reason
    assert report.records_verified == at + 1


def test_appended_self_consistent_line_is_caught_by_the_checkpoint(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    lines = lines_of(path)
    lines.append(_forged(lines, 6))
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    assert report.checkpoint.status is CheckpointStatus.BEHIND
    assert report.first_bad is not None
    assert report.first_bad.line == 7
    assert report.first_bad.seq == 6


def test_replaced_record_with_valid_hash_is_caught(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    lines = lines_of(path)
    record = orjson.loads(lines[2])
    del record["hash"]
    record["effect"] = "deny"
    lines[2], _ = forge_line(record)
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.line == 4
    assert "replaced" in report.first_bad.reason


@pytest.mark.parametrize("cut", [1, 30, 75, 76])
def test_truncated_mid_line(make_log: Callable[..., Path], cut: int) -> None:
    path = make_log(6)
    data = path.read_bytes()
    last_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    path.write_bytes(data[:-cut])
    report = verify(path)
    assert not report.ok
    assert report.torn_tail is not None
    assert report.torn_tail.offset == last_start
    assert report.torn_tail.length == len(data) - cut - last_start
    assert report.records_verified == 5
    assert report.first_bad is not None
    assert report.first_bad.line == 6


@pytest.mark.parametrize("whole", [1, 2, 6])
def test_whole_records_cut_off_the_end(make_log: Callable[..., Path], whole: int) -> None:
    path = make_log(6)
    lines = lines_of(path)
    path.write_bytes(b"".join(lines[: len(lines) - whole]))
    report = verify(path)
    assert not report.ok
    assert report.torn_tail is None
    assert report.checkpoint.status is CheckpointStatus.AHEAD
    assert report.first_bad is not None
    assert report.first_bad.line == 6 - whole + 1
    assert report.records_verified == 6 - whole


def test_rewritten_checkpoint_record_is_caught(make_log: Callable[..., Path]) -> None:
    """Rewriting the chain from some record on (all hashes recomputed) still disagrees with the checkpoint."""
    path = make_log(4)
    lines = lines_of(path)
    prev = stated_hash(lines[1])
    for i in (2, 3):
        record = orjson.loads(lines[i])
        del record["hash"]
        record["prev"] = prev
        record["agent"] = "someone-else"
        lines[i], prev = forge_line(record)
    path.write_bytes(b"".join(lines))
    report = verify(path)
    assert not report.ok
    assert report.checkpoint.status is CheckpointStatus.MISMATCH
    assert report.first_bad is not None
    assert report.first_bad.line == 4


def test_limit_full_rewrite_with_checkpoint_goes_unnoticed(make_log: Callable[..., Path]) -> None:
    """The documented limit: whoever rewrites the whole file and the checkpoint wins. Export the head."""
    path = make_log(2)
    lines = lines_of(path)
    exported_head = verify(path).head
    record = orjson.loads(lines[1])
    del record["hash"]
    record["effect"] = "deny"
    lines[1], new_head = forge_line(record)
    path.write_bytes(b"".join(lines))
    checkpoint_path(path).write_bytes(orjson.dumps({"seq": 1, "hash": new_head, "end": path.stat().st_size}))
    report = verify(path)
    assert report.ok
    assert report.head != exported_head  # only the copy kept elsewhere shows it


def test_missing_checkpoint_is_reported_but_not_a_failure(make_log: Callable[..., Path]) -> None:
    path = make_log(3)
    checkpoint_path(path).unlink()
    report = verify(path)
    assert report.ok
    assert report.checkpoint.status is CheckpointStatus.MISSING


def test_garbled_checkpoint_fails(make_log: Callable[..., Path]) -> None:
    path = make_log(3)
    checkpoint_path(path).write_text("{not json")
    report = verify(path)
    assert not report.ok
    assert report.checkpoint.status is CheckpointStatus.INVALID


# --- through the CLI -----------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_verify_intact(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    code, out, _ = _cli("audit", "verify", str(path))
    assert code == 0
    assert out.strip() == f"intact: 4 records, chain head {stated_hash(lines_of(path)[-1])}"


def test_cli_verify_names_the_edited_record(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    path.write_bytes(path.read_bytes().replace(b"src/2.py", b"src/X.py"))
    code, _, err = _cli("audit", "verify", "--file", str(path))
    assert code == 1
    assert "line 3 (seq 2)" in err
    assert "record edited" in err


def test_cli_verify_reports_torn_tail_and_cut_records(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    path.write_bytes(path.read_bytes()[:-10])
    code, _, err = _cli("audit", "verify", str(path))
    assert code == 1
    assert "torn tail" in err
    assert "line 4 (seq 3)" in err
    assert "cut off" in err


def test_cli_verify_json(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    lines = lines_of(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_bytes(b"".join(lines))
    code, out, _ = _cli("audit", "verify", "--json", str(path))
    assert code == 1
    report = orjson.loads(out)
    assert report["ok"] is False
    assert report["first_bad"]["line"] == 2


def test_cli_verify_missing_log(tmp_path: Path) -> None:
    code, _, err = _cli("--home", str(tmp_path / "nowhere"), "audit", "verify")
    assert code == 2
    assert "no audit log at" in err
    assert "run something through the guard first" in err


# --- a writer opening a tampered log must not make the tampering disappear ----------------------


def _rewrite(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(edit(lines_of(path))))


def _edit_byte(line: int, locate: Callable[[bytes], int]) -> Callable[[Path], None]:
    def tamper(path: Path) -> None:
        def edit(lines: list[bytes]) -> list[bytes]:
            data = bytearray(lines[line])
            i = locate(lines[line])
            data[i] = ord("7") if data[i] != ord("7") else ord("8")
            lines[line] = bytes(data)
            return lines

        _rewrite(path, edit)

    return tamper


def _delete(i: int) -> Callable[[Path], None]:
    return lambda path: _rewrite(path, lambda lines: lines[:i] + lines[i + 1 :])


def _swap(i: int) -> Callable[[Path], None]:
    return lambda path: _rewrite(path, lambda lines: [*lines[:i], lines[i + 1], lines[i], *lines[i + 2 :]])


def _insert(at: int) -> Callable[[Path], None]:
    return lambda path: _rewrite(path, lambda lines: [*lines[:at], _forged(lines, at), *lines[at:]])


def _append(path: Path) -> None:
    _rewrite(path, lambda lines: [*lines, _forged(lines, len(lines))])


def _replace_with_valid_hash(i: int) -> Callable[[Path], None]:
    def edit(lines: list[bytes]) -> list[bytes]:
        record = orjson.loads(lines[i])
        del record["hash"]
        record["effect"] = "deny"
        lines[i], _ = forge_line(record)
        return lines

    return lambda path: _rewrite(path, edit)


def _truncate(cut: int) -> Callable[[Path], None]:
    def cut_off(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:-cut])

    return cut_off


def _cut_whole(n: int) -> Callable[[Path], None]:
    return lambda path: _rewrite(path, lambda lines: lines[: len(lines) - n])


def _rewrite_tail(path: Path) -> None:
    def edit(lines: list[bytes]) -> list[bytes]:
        prev = stated_hash(lines[3])
        for i in (4, 5):
            record = orjson.loads(lines[i])
            del record["hash"]
            record["prev"] = prev
            record["agent"] = "someone-else"
            lines[i], prev = forge_line(record)
        return lines

    _rewrite(path, edit)


def _garble_checkpoint(path: Path) -> None:
    checkpoint_path(path).write_text("{not json")


def _delete_checkpoint(path: Path) -> None:
    checkpoint_path(path).unlink()


def _roll_back_checkpoint(path: Path) -> None:
    """Keep an older checkpoint, let the log grow, put the old one back."""
    stale = checkpoint_path(path).read_bytes()
    from agentguard.audit import AuditLog

    with AuditLog(path) as log:
        log.record("call.received", call_id="e" * 32, agent="coder", tool="fs.read")
    checkpoint_path(path).write_bytes(stale)


def _replace_log(path: Path) -> None:
    path.unlink()


TAMPERS: dict[str, Callable[[Path], None]] = {
    "edit a value": _edit_byte(2, lambda line: line.index(b'"coder"') + 3),
    "edit a key": _edit_byte(2, lambda line: line.index(b'"agent"') + 3),
    "edit a hash digit": _edit_byte(2, lambda line: len(line) - 10),
    "edit the hash field name": _edit_byte(2, lambda line: line.index(b'"hash"') + 2),
    "edit the seq number": _edit_byte(2, lambda line: line.index(b'"seq":') + 6),
    "edit the prev link": _edit_byte(2, lambda line: line.index(b'"prev":"') + 20),
    "edit the last record's value": _edit_byte(5, lambda line: line.index(b'"coder"') + 3),
    "edit the last record's seq": _edit_byte(5, lambda line: line.index(b'"seq":') + 6),
    "delete the first line": _delete(0),
    "delete a middle line": _delete(2),
    "delete the last line": _delete(5),
    "swap lines 1-2": _swap(0),
    "swap lines 3-4": _swap(2),
    "swap the last two lines": _swap(4),
    "insert a forged line first": _insert(0),
    "insert a forged line in the middle": _insert(3),
    "append a forged line": _append,
    "replace a record, valid hash": _replace_with_valid_hash(2),
    "replace the last record, valid hash": _replace_with_valid_hash(5),
    "truncate 1 byte": _truncate(1),
    "truncate 30 bytes": _truncate(30),
    "truncate 75 bytes": _truncate(75),
    "truncate 76 bytes": _truncate(76),
    "cut 1 whole record": _cut_whole(1),
    "cut 2 whole records": _cut_whole(2),
    "cut all records": _cut_whole(6),
    "rewrite the tail with new hashes": _rewrite_tail,
    "garble the checkpoint": _garble_checkpoint,
    "delete the checkpoint": _delete_checkpoint,
    "roll back the checkpoint": _roll_back_checkpoint,
    "delete the log": _replace_log,
}


def _open_a_writer(path: Path) -> None:
    """What the next process does: open the log and write (it may refuse, fail closed)."""
    from agentguard.audit import AuditLog
    from agentguard.errors import AuditError

    try:
        with AuditLog(path) as log:
            log.record("call.received", call_id="d" * 32, agent="coder", tool="fs.read")
    except AuditError:
        pass


@pytest.mark.parametrize("kind", list(TAMPERS))
def test_tampering_is_still_reported_after_a_writer_opens_the_log(
    make_log: Callable[..., Path], kind: str
) -> None:
    path = make_log(6)
    TAMPERS[kind](path)
    _open_a_writer(path)
    report = verify(path)
    assert not report.ok, (kind, report)
    _open_a_writer(path)  # nor after a second one
    assert not verify(path).ok, kind


def test_every_byte_edit_of_the_last_record_is_still_reported_after_a_writer(
    make_log: Callable[..., Path],
) -> None:
    path = make_log(3)
    original = path.read_bytes()
    head = checkpoint_path(path).read_bytes()
    start = original.rindex(b"\n", 0, len(original) - 1) + 1
    for pos in range(start, len(original)):
        for replacement in {original[pos] ^ 0x01, 0x0A if original[pos] != 0x0A else 0x20}:
            data = bytearray(original)
            data[pos] = replacement
            path.write_bytes(bytes(data))
            checkpoint_path(path).write_bytes(head)
            for side in path.parent.glob("audit.jsonl.torn-*"):
                side.unlink()
            _open_a_writer(path)
            assert not verify(path).ok, f"byte {pos} -> {bytes([replacement])!r}"


def test_cli_acknowledge_then_verify_lists_the_segment(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    _append(path)
    _open_a_writer(path)
    code, _, err = _cli("audit", "verify", str(path))
    assert code == 1
    assert "segment at line 8 (seq 7" in err
    assert "checkpoint_behind" in err
    assert "NOT ACKNOWLEDGED" in err

    code, out, _ = _cli(
        "audit", "acknowledge", "--segment", "7", "--reason", "forged by the red team", "--file", str(path)
    )
    assert code == 0, out
    assert "acknowledged: segment at line 8 (seq 7): checkpoint_behind" in out

    code, out, _ = _cli("audit", "verify", str(path))
    assert code == 0
    assert out.startswith("intact: 10 records")
    assert "segment at line 8 (seq 7" in out
    assert "acknowledged by" in out
    assert "forged by the red team" in out
    code, out, _ = _cli("audit", "acknowledge", "--all", "--reason", "again", "--file", str(path))
    assert (code, out.strip()) == (0, f"{path}: nothing to acknowledge")


def test_cli_acknowledge_refuses_a_broken_chain(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    _delete(2)(path)
    code, _, err = _cli("audit", "acknowledge", "--all", "--reason", "x", "--file", str(path))
    assert code == 2
    assert "chain itself is broken at line 3" in err


def _cut_and_hide(path: Path, whole: int) -> None:
    """Records cut off the end and the checkpoint deleted: what someone who can write the directory does."""
    lines = lines_of(path)
    path.write_bytes(b"".join(lines[: len(lines) - whole]))
    checkpoint_path(path).unlink()


def test_an_exported_head_catches_records_cut_off_with_the_checkpoint_deleted(
    make_log: Callable[..., Path],
) -> None:
    """Red team: cutting records off the end and deleting the checkpoint left a log that verifies
    (checkpoint `missing` is allowed). The head kept elsewhere, given back to verify, catches it."""
    path = make_log(6)
    exported = verify(path).head
    assert exported is not None
    _cut_and_hide(path, 2)
    assert verify(path).ok  # unchanged: without an anchor this cannot be told from an old log
    report = verify(path, heads=[exported])
    assert not report.ok
    assert [(h.hash, h.seq) for h in report.heads] == [(exported, None)]


def test_an_exported_head_catches_a_full_rewrite(make_log: Callable[..., Path]) -> None:
    path = make_log(2)
    lines = lines_of(path)
    exported = verify(path).head
    assert exported is not None
    record = orjson.loads(lines[1])
    del record["hash"]
    record["effect"] = "deny"
    lines[1], new_head = forge_line(record)
    path.write_bytes(b"".join(lines))
    checkpoint_path(path).write_bytes(orjson.dumps({"seq": 1, "hash": new_head, "end": path.stat().st_size}))
    assert verify(path).ok
    assert not verify(path, heads=[exported]).ok


def test_an_older_head_still_in_the_log_passes_with_its_seq(make_log: Callable[..., Path]) -> None:
    path = make_log(5)
    older = stated_hash(lines_of(path)[2])
    report = verify(path, heads=[older, verify(path).head or ""])
    assert report.ok
    assert [h.seq for h in report.heads] == [2, 4]


def test_cli_verify_head(make_log: Callable[..., Path]) -> None:
    path = make_log(4)
    exported = verify(path).head
    assert exported is not None
    assert _cli("audit", "verify", str(path), "--head", exported)[0] == 0
    _cut_and_hide(path, 1)
    code, _, err = _cli("audit", "verify", str(path), "--head", exported)
    assert code == 1
    assert f"head {exported} is not in the log" in err
    assert _cli("audit", "verify", str(path), "--head", "not-a-hash")[0] == 2
