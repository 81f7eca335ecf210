"""``approvals list`` and ``approvals show`` print an agent's text as it is, never as markup or
terminal control sequences.

``approvals list`` is a Rich table, which read each cell as markup: ``git status[rm -rf ~]`` was
listed as ``git status`` and a lone ``[/]`` made the command fail. ``approvals show`` echoed the agent
name, the tool, the rule and the reason raw: an escape sequence in them (an agent name from another
host, a reason quoting values the call carried) reached the terminal, where ``ESC[8m`` conceals
everything printed after it, the arguments included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agentguard.approval import SqliteApprovalStore
from agentguard.cli import main
from agentguard.models import ApprovalRequest, Decision, Effect, RuleRef, ToolCall
from agentguard.owner import Owner

from .conftest import make_request


def run(home: Path, *args: str) -> tuple[int, str]:
    # color=True: output as a terminal gets it (click strips escape sequences only from a pipe)
    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False, color=True)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["git status[rm -rf ~]", "git log [/]", "ls [bold]x[/bold] y"])
def test_list_shows_the_command_as_written(store: SqliteApprovalStore, home: Path, command: str) -> None:
    store.submit(make_request(arguments={"command": command}, agent="co[b]der"), Owner.current())
    code, out = run(home, "approvals", "list")
    assert code == 0
    assert command in out
    assert "co[b]der" in out


def test_show_prints_no_escape_sequence(store: SqliteApprovalStore, home: Path) -> None:
    rule = RuleRef(file="policy.csv", line=7, text="p, *, shell.run, *, ask")
    decision = Decision(effect=Effect.ASK, rule=rule, reason="asked; evidence: url from \x1b[8m a page")
    call = ToolCall(agent="coder\x1b[8m", tool="shell.run", arguments={"command": "rm -rf ~"})
    store.submit(ApprovalRequest(call=call, decision=decision, timeout_s=30), Owner.current())
    code, out = run(home, "approvals", "show", call.id[:12])
    assert code == 0
    assert "\x1b" not in out
    assert "coder⟦U+001B⟧[8m" in out
    assert "rm -rf ~" in out
