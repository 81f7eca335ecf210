"""An exported chain head (``verify --head``) anchors the records up to it, not the ones after it.

Someone who can write the file can keep every record up to the exported head, rewrite the ones
after it (a ``deny`` made an ``allow``, say) with recomputed hashes and a matching checkpoint, and
``verify --head`` still passes: the head is in the chain, and nothing outside the file knows what
came after it. No check inside the file can tell (the chain has no secret, docs/audit.md); only a
newer head kept out of reach, or a witness the writer keeps elsewhere, could. Documented as a limit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from agentguard.audit import checkpoint_path, verify

from .conftest import forge_line, lines_of, stated_hash


def _rewrite_after(path: Path, keep: int, edit: Callable[[dict[str, object]], None]) -> None:
    lines = lines_of(path)
    out = lines[:keep]
    prev = stated_hash(out[-1])
    for line in lines[keep:]:
        record = orjson.loads(line)
        del record["hash"]
        record["prev"] = prev
        edit(record)
        forged, prev = forge_line(record)
        out.append(forged)
    path.write_bytes(b"".join(out))
    end = sum(map(len, out))
    checkpoint_path(path).write_bytes(orjson.dumps({"seq": len(out) - 1, "hash": prev, "end": end}))


@pytest.mark.xfail(
    strict=True,
    reason="limit: a head anchors the chain up to it; records after the newest exported head can be "
    "rewritten with a matching checkpoint (docs/audit.md, what the chain cannot detect)",
)
def test_records_after_the_exported_head_rewritten_are_caught(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    exported = stated_hash(lines_of(path)[2])

    def disguise(record: dict[str, object]) -> None:
        record["tool"] = "shell.run"

    _rewrite_after(path, 3, disguise)
    report = verify(path, heads=[exported])
    assert not report.ok


def test_records_up_to_the_exported_head_rewritten_are_caught(make_log: Callable[..., Path]) -> None:
    path = make_log(6)
    exported = stated_hash(lines_of(path)[4])

    def disguise(record: dict[str, object]) -> None:
        record["tool"] = "shell.run"

    _rewrite_after(path, 3, disguise)
    report = verify(path, heads=[exported])
    assert not report.ok
    assert report.heads[0].seq is None
