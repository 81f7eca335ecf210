"""`agentguard sandbox ...` through click, against the real engine and the real guard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentguard.cli import main

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project dir: a policy allowing python.exec, asking for nothing, denying shell.run of `rm`."""
    policy = tmp_path / "permissions"
    policy.mkdir()
    shutil.copyfile(REPO / "permissions" / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(
        "p, *, python.exec, *, allow\n"
        'p, *, shell.run, cmd(command, "echo*"), allow\n'
        'p, *, shell.run, cmd(command, "rm*"), deny\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTGUARD_HOME", str(tmp_path / "home"))
    return tmp_path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def audit(project: Path) -> list[dict[str, Any]]:
    lines = (project / "home" / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_run_json_goes_through_the_guard(images: Any, project: Path) -> None:
    r = invoke("sandbox", "run", "--lang", "python", "--code", "print(6*7)", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {"exit_code", "stdout", "stderr", "duration_ms", "end_reason"} <= set(out)
    assert (out["exit_code"], out["stdout"], out["end_reason"]) == (0, "42\n", "exited")
    events = [e["event"] for e in audit(project) if e.get("call_id") == out["call_id"]]
    assert "policy.decided" in events
    assert "execution.started" in events
    assert "execution.finished" in events


def test_run_overrides_are_recorded_as_loosenings(images: Any, project: Path) -> None:
    r = invoke("sandbox", "run", "--lang", "python", "--memory", "512", "--code", "print(1)", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["profile"] == "default.cli"
    assert out["loosenings"] == ["memory_mb raised to 512 MB (default 256)"]
    started = next(e for e in audit(project) if e["event"] == "execution.started")
    assert started["loosenings"] == ["memory_mb raised to 512 MB (default 256)"]
    assert started["sandbox_profile"] == "default.cli"


def test_run_exit_codes(images: Any, project: Path, tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text("import sys\nprint('from file')\nsys.exit(5)\n", encoding="utf-8")
    r = invoke("sandbox", "run", "--lang", "python", str(script))
    assert r.exit_code == 5
    assert r.stdout == "from file\n"
    slow = invoke("sandbox", "run", "--lang", "python", "--timeout", "1", "--code", "while True: pass")
    assert slow.exit_code == 124
    assert "[sandbox: timeout]" in slow.stderr


def test_run_denied_by_policy_never_reaches_the_sandbox(images: Any, project: Path) -> None:
    r = invoke("sandbox", "run", "--lang", "shell", "--code", "rm -rf /tmp/x")
    assert r.exit_code == 2
    assert "denied" in r.stderr
    events = audit(project)
    decided = [e for e in events if e["event"] == "policy.decided"]
    assert [e["effect"] for e in decided] == ["deny"]
    assert not [e for e in events if e["event"].startswith("execution.")]  # the tool never ran


def test_run_usage_errors(project: Path) -> None:
    both = invoke("sandbox", "run", "--lang", "python")
    assert both.exit_code == 2
    assert "--code or as FILE" in both.stderr
    bad = invoke("sandbox", "run", "--lang", "python", "--profile", "nope", "--code", "1")
    assert bad.exit_code == 2
    assert "unknown sandbox profile 'nope'" in bad.stderr


def test_build_is_a_no_op_when_up_to_date(images: Any, project: Path) -> None:
    r = invoke("sandbox", "build", "--json")
    assert r.exit_code == 0, r.output
    statuses = json.loads(r.output)["images"]
    assert {s["language"] for s in statuses} == {"python", "shell"}
    assert all(s["up_to_date"] and s["present"] for s in statuses)


def test_doctor_checklist(images: Any, project: Path) -> None:
    r = invoke("sandbox", "doctor", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["ok"] is True
    names = {c["name"] for c in report["checks"]}
    assert "engine reachable" in names
    assert "inside: only loopback" in names
    assert "probe: read-only root filesystem (CIS 5.12)" in names
    text = invoke("sandbox", "doctor")
    assert text.exit_code == 0
    assert "all checks passed" in text.output


def test_doctor_fails_without_images(project: Path) -> None:
    (project / "agentguard.toml").write_text("[sandbox]\nimage_prefix = 'agentguard-test-missing'\n")
    r = invoke("sandbox", "doctor")
    assert r.exit_code == 1
    assert "missing: run `agentguard sandbox build`" in r.output
