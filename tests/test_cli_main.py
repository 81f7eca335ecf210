"""The main job (`agentguard demo`) and `agentguard init`, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from agentguard.audit import query, verify
from agentguard.cli import main


def test_demo_runs_without_a_tty_and_verifies_its_trail(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["--home", str(home), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.output
    log = home / "audit.jsonl"
    assert verify(log).ok
    decided = {(r["tool"], r["effect"]) for r in query(log, event="policy.decided")}
    assert ("fs.read", "allow") in decided
    assert ("fs.read", "deny") in decided  # traversal and symlink escape
    assert ("fs.write", "ask") in decided
    assert ("http.get", "deny") in decided
    resolved = [r for r in query(log, event="approval.resolved")]
    assert {r["approver"] for r in resolved} == {"demo-autopilot"}
    assert any(r["status"] == "approved" for r in resolved)
    assert any(r["status"] == "denied" for r in resolved)
    # the secret in the denied http.get URL never reaches the log
    assert "sk-demo1234567890abcdefghij" not in log.read_text()


def test_init_scaffolds_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "permissions" / "model.conf").is_file()
    assert (tmp_path / "permissions" / "policy.csv").is_file()
    toml = tmp_path / "agentguard.toml"
    before = toml.read_text()
    again = runner.invoke(main, ["init", str(tmp_path)])
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    assert toml.read_text() == before
    # the scaffold is a valid policy and valid settings
    check = runner.invoke(main, ["--config", str(toml), "policy", "check"])
    assert check.exit_code == 0, check.output


def test_explain_json_on_the_scaffolded_policy(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path)]).exit_code == 0
    result = runner.invoke(
        main,
        [
            "--config",
            str(tmp_path / "agentguard.toml"),
            "policy",
            "explain",
            "--tool",
            "http.get",
            "--args",
            json.dumps({"url": "https://example.com"}),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["effect"] == "deny"
    assert data["rule"].startswith("policy.csv:")


def test_bad_settings_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "agentguard.toml"
    bad.write_text('default_effect = "maybe"\n')
    result = CliRunner().invoke(main, ["--config", str(bad), "policy", "check"])
    assert result.exit_code != 0
    assert "default_effect" in result.output


def test_demo_with_the_shared_queue_is_answered_from_another_process(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from agentguard.approval import ApprovalDesk, SqliteApprovalStore

    home = tmp_path / "home"
    demo = subprocess.Popen(
        [sys.executable, "-m", "agentguard.cli", "--home", str(home), "demo", "--approver", "queue"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    answered: dict[str, str] = {}
    deadline = time.monotonic() + 120
    store = None
    try:
        while demo.poll() is None and time.monotonic() < deadline:
            if store is None and (home / "approvals.db").exists():
                store = SqliteApprovalStore(home)
            if store is None:
                time.sleep(0.05)
                continue
            desk = ApprovalDesk(store, approver="test-operator")
            seen = store.version()
            for req in store.pending():
                if req.call.tool == "fs.write":
                    desk.approve(req.id)
                else:
                    desk.deny(req.id, "operator says no")
                answered[req.id] = req.call.tool
            store.wait_for_change(seen, 0.5)
        output = demo.communicate(timeout=60)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
        if store is not None:
            store.close()
    assert demo.returncode == 0, output
    assert sorted(answered.values()) == ["fs.write", "shell.run"]
    resolved = list(query(home / "audit.jsonl", event="approval.resolved"))
    assert {(r["tool"], r["status"], r["approver"]) for r in resolved} == {
        ("fs.write", "approved", "test-operator"),
        ("shell.run", "denied", "test-operator"),
    }
    assert verify(home / "audit.jsonl").ok
