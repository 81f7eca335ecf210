"""What ``agentguard audit tail/query/verify`` print for a record must be what the record holds.

An agent names the tool it calls, and an unknown tool's name is recorded as given
(``call.rejected``). The table went through rich as markup: ``[/x]`` crashed ``tail`` and ``query``
(a traceback, no table: one call blinded the auditor's view), and ``[white on white]`` was taken as
a style. Escape sequences went to the terminal as they are (``ESC[2J`` clears the screen), and a
newline made a second, fake row. Every shown field is now plain text with invisible characters as
visible marks (``⟦U+001B⟧``), as the approval views already show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from agentguard import Guard
from agentguard.audit import AuditLog, acknowledge, checkpoint_path, read_records
from agentguard.cli import main
from agentguard.errors import UnknownTool
from agentguard.models import Decision, Effect, ToolCall

NAMES = [
    "[/x]",  # a closing tag with no opening one: rich raised MarkupError
    "[white on white]fs.write rm -rf[/]",  # a style: the text vanished into the background
    "x\x1b[2J\x1b[Hcleared",  # clear the screen, cursor home
    "fs.read\n 2026-12-01 00:00:00  99  call.received  admin  fs.read",  # a fake row
    "fs.read\u202egnp.exe",  # bidi override: the name reads backwards from there
]


class Allow:
    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ALLOW, reason="test")


def _log_with_tool_name(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("fs.read", lambda: "ok")
        with pytest.raises(UnknownTool):
            guard.call(name, {})
    assert [r["tool"] for r in read_records(path)][-1] == name  # recorded as given, byte for byte
    return path


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), color=True)  # as on a terminal: click keeps escapes
    return result.exit_code, result.stdout, result.stderr


def _assert_plain(out: str, rows: int) -> None:
    assert "\x1b" not in out
    assert "\u202e" not in out
    # One row per record (a long cell may wrap, but never into a line that starts like a row).
    assert len(re.findall(r"^ ?\d{4}-\d\d-\d\d ", out, re.MULTILINE)) == rows, out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("command", ["tail", "query"])
def test_an_agents_tool_name_is_shown_as_text(tmp_path: Path, name: str, command: str) -> None:
    path = _log_with_tool_name(tmp_path, name)
    code, out, err = _cli("audit", command, "--file", str(path))
    assert code == 0, err
    _assert_plain(out, rows=2)
    if name.startswith("["):
        assert name.split()[0] in out  # markup is shown, not applied
    if "\x1b" in name:
        assert "⟦U+001B⟧[2J" in out
    if "\n" in name:
        assert "fs.read⟦U+000A⟧ 2026" in out


@pytest.mark.parametrize("name", NAMES)
def test_following_shows_an_agents_tool_name_as_text(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _log_with_tool_name(tmp_path, name)
    records = list(read_records(path))

    def appended(_path: Path, **_: Any) -> Iterator[dict[str, Any]]:
        return iter(records)

    monkeypatch.setattr("agentguard.cli.audit.follow", appended)
    code, out, err = _cli("audit", "tail", "-n", "0", "-f", "--file", str(path))
    assert code == 0, err
    _assert_plain(out, rows=2)


def test_verify_shows_a_segment_and_its_acknowledgement_as_text(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.record("one")
    checkpoint_path(path).unlink()  # a change no crash produces: the next writer starts a segment
    acknowledge(path, reason="ok\x1b[1A\x1b[2Kall fine\nacknowledged by root", by="eve\x1b[8m")
    code, out, err = _cli("audit", "verify", str(path))
    assert code == 0, err
    assert "\x1b" not in out
    assert "⟦U+001B⟧[1A" in out
    assert "eve⟦U+001B⟧[8m" in out
    assert "⟦U+000A⟧acknowledged by root" in out


@pytest.mark.parametrize("command", ["tail", "query"])
def test_json_output_escapes_what_a_terminal_would_reorder_or_hide(tmp_path: Path, command: str) -> None:
    name = "fs.read\u202egnp.exe\u200b"
    path = _log_with_tool_name(tmp_path, name)
    code, out, err = _cli("audit", command, "--json", "--file", str(path))
    assert code == 0, err
    assert "\u202e" not in out
    assert "\u200b" not in out
    assert "\\u202e" in out
    assert orjson.loads(out.splitlines()[-1])["tool"] == name  # the same value, escaped
