"""How ``agentguard audit`` shows records and verify reports: a table, one line per record, JSON
lines; every field an agent or a log supplies with its invisible characters made visible.

Apart from the commands (``audit``) because it is the text an auditor reads, whatever command
asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentguard.approval import shown_json, shown_text
from agentguard.audit import CallIndex, Segment, VerifyReport

__all__ = ["record_line", "record_row", "record_table", "report_text", "segment_text", "wide_console"]


def _shown(value: object) -> str:
    """A field as one line of plain text, invisible characters (escapes, bidi overrides, line breaks)
    as visible marks: an agent names the tools it calls, and what it names must not restyle, reorder
    or add rows to what the auditor reads."""
    text, _ = shown_text(str(value))
    return text.replace("\n", "⟦U+000A⟧").replace("\t", "⟦U+0009⟧")


def _cell(value: object) -> Text:
    return Text(_shown(value))  # Text, not str: rich reads a str cell as markup ([/x] raised)


def record_line(record: dict[str, Any]) -> str:
    """A record as one JSON line, invisible characters (bidi overrides, zero-width) as ``\\uXXXX``:
    the same value, but a terminal cannot reorder or hide them (orjson escapes control ones only)."""
    return shown_json(orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode())[0]


def record_table(records: Iterable[dict[str, Any]], index: CallIndex | None = None) -> Table:
    index = index or CallIndex()
    table = Table("time (UTC)", "seq", "event", "agent", "tool", "effect/status", "call", box=None)
    for record in records:
        info = index.update(record)
        ts = str(record.get("ts", ""))[:19].replace("T", " ")
        outcome = str(record.get("effect") or record.get("status") or "")
        error = record.get("error")
        if isinstance(error, dict) and error.get("code"):
            outcome = f"{outcome} {error['code']}".strip()
        table.add_row(
            _cell(ts),
            _cell(record.get("seq", "")),
            _cell(record.get("event", "")),
            _cell(info.agent or ""),
            _cell(info.tool or ""),
            _cell(outcome),
            _cell(str(record.get("call_id") or "")[:8]),
        )
    return table


def record_row(record: dict[str, Any], index: CallIndex) -> str:
    info = index.update(record)
    ts = str(record.get("ts", ""))[:19].replace("T", " ")
    outcome = str(record.get("effect") or record.get("status") or "")
    seq, event = _shown(record.get("seq", "")), _shown(record.get("event", ""))
    agent, tool, call = _shown(info.agent or ""), _shown(info.tool or ""), str(record.get("call_id") or "")
    return (
        f"{_shown(ts)}  {seq:>6}  {event:<20} {agent:<12} {tool:<14} {_shown(outcome):<9} {_shown(call[:8])}"
    ).rstrip()


def wide_console() -> Console:
    return Console(soft_wrap=False, width=max(Console().width, 110))


def segment_text(seg: Segment) -> str:
    when, reason, detail = _shown(seg.ts or "no time"), _shown(seg.reason), _shown(seg.detail)
    text = f"segment at line {seg.line} (seq {seg.seq}, {when}): {reason}: {detail}"
    ack = seg.acknowledged
    if ack is None:
        return (
            f"{text}\n  NOT ACKNOWLEDGED: look into it, then "
            f"`agentguard audit acknowledge --segment {seg.seq} --reason ...`"
        )
    by, ts, why = _shown(ack.by), _shown(ack.ts), _shown(ack.reason)
    return f"{text}\n  acknowledged by {by} at {ts} (line {ack.line}): {why}"


def report_text(report: VerifyReport) -> str:
    lines = [segment_text(seg) for seg in report.segments]
    if report.first_bad is not None:
        bad = report.first_bad
        seq = f" (seq {bad.seq})" if bad.seq is not None else ""
        lines.append(f"TAMPERED: {report.path}: line {bad.line}{seq}: {bad.reason}")
    if report.torn_tail is not None:
        torn = report.torn_tail
        lines.append(
            f"torn tail: {torn.length} byte(s) at offset {torn.offset} after the last complete record "
            "(moved to a side file by the next writer: noted if an interrupted write explains them, "
            "a new segment otherwise)"
        )
    for head in report.heads:
        if head.seq is None:
            lines.append(
                f"TAMPERED: {report.path}: the exported chain head {head.hash} is not in the log "
                "(records after it were cut off, or the log was rewritten)"
            )
    status = report.checkpoint.status.value
    if report.first_bad is not None or report.torn_tail is not None:
        lines.append(f"verified: {report.records_verified} record(s) intact before that; checkpoint {status}")
    else:
        lines.append(f"verified: {report.records_verified} record(s), chain intact; checkpoint {status}")
    return "\n".join(lines)
