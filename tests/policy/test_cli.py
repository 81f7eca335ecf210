"""`agentguard policy explain|check|test` through click, against real policy directories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from agentguard.cli import main

from .conftest import EXAMPLES, PERMISSIONS, line_of


@pytest.fixture
def run(tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.chdir(tmp_path)  # no agentguard.toml or ./permissions to pick up
    home = tmp_path / "home"

    def invoke(*args: str, policy: Path = PERMISSIONS) -> Result:
        base = ["--home", str(home), "--workspace", str(workspace), "--policy", str(policy)]
        return CliRunner().invoke(main, [*base, *args], catch_exceptions=False)

    return invoke


# ---------------------------------------------------------------- explain


def test_explain_text(run: Callable[..., Result]) -> None:
    out = run("policy", "explain", "--tool", "fs.read", "--args", '{"path": "src/app.py"}')
    assert out.exit_code == 0, out.output
    line = line_of(PERMISSIONS / "policy.csv", 'p, *, fs.read, path(path, "{workspace}/**"), allow')
    assert "effect:   allow" in out.stdout
    assert f"rule:     policy.csv:{line}  p, *, fs.read" in out.stdout
    assert "matched:" in out.stdout


def test_explain_json(run: Callable[..., Result]) -> None:
    out = run(
        "policy",
        "explain",
        "--agent",
        "review-agent",
        "--tool",
        "fs.write",
        "--args",
        '{"path": "a"}',
        "--json",
    )
    assert out.exit_code == 0, out.output
    data = orjson.loads(out.stdout)
    line = line_of(PERMISSIONS / "policy.csv", "p, reviewer, fs.write, *, deny")
    assert data["effect"] == "deny"
    assert data["rule"] == f"policy.csv:{line}"
    assert data["rule_text"] == "p, reviewer, fs.write, *, deny"
    assert data["reason"].startswith(f"denied by policy.csv:{line}")
    assert len(data["matched"]) == 2
    assert data["agent"] == "review-agent"


def test_explain_sandbox_and_no_rule(run: Callable[..., Result]) -> None:
    data = orjson.loads(
        run("policy", "explain", "--tool", "python.exec", "--args", '{"code": "1"}', "--json").stdout
    )
    assert data["sandbox_profile"] == "default"
    text = run("policy", "explain", "--tool", "python.exec", "--args", '{"code": "1"}').stdout
    assert "sandbox:  default" in text
    none = orjson.loads(run("policy", "explain", "--tool", "nothing.here", "--json").stdout)
    assert none["rule"] is None
    assert none["effect"] == "deny"
    assert none["reason"] == "no rule matched; default is deny"


def test_explain_default_agent_from_settings(
    run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTGUARD_AGENT", "review-bot")
    data = orjson.loads(
        run("policy", "explain", "--tool", "shell.run", "--args", '{"command": "ls"}', "--json").stdout
    )
    assert data["agent"] == "review-bot"
    assert data["effect"] == "deny"


@pytest.mark.parametrize(
    ("args", "fragment"), [("{bad", "not valid JSON"), ("[1, 2]", "must be a JSON object")]
)
def test_explain_bad_json(run: Callable[..., Result], args: str, fragment: str) -> None:
    out = run("policy", "explain", "--tool", "fs.read", "--args", args)
    assert out.exit_code == 2
    assert fragment in out.stderr
    assert out.stdout == ""


def test_explain_broken_policy_exits_2(run: Callable[..., Result], make_policy: Callable[..., Path]) -> None:
    broken = make_policy("p, *, fs.read, nope(x), allow")
    out = run("policy", "explain", "--tool", "fs.read", policy=broken)
    assert out.exit_code == 2
    assert "policy.csv:1" in out.stderr
    assert "unknown function 'nope'" in out.stderr


# ---------------------------------------------------------------- check


def test_check_clean(run: Callable[..., Result]) -> None:
    out = run("policy", "check", "--strict")
    assert out.exit_code == 0, out.output
    assert "0 error(s), 0 warning(s)" in out.stdout


def test_check_errors(run: Callable[..., Result], make_policy: Callable[..., Path]) -> None:
    broken = make_policy('p, *, fs.read, *, allow\np, *, fs.write, eq(x, "a"), permit\np, *, a, b(, allow')
    out = run("policy", "check", policy=broken)
    assert out.exit_code == 1
    assert "policy.csv:2: error: effect at column" in out.stderr
    assert "policy.csv:3: error:" in out.stderr
    assert "2 error(s)" in out.stderr
    data = orjson.loads(run("policy", "check", "--json", policy=broken).stdout)
    assert data["ok"] is False
    assert [(f["line"], f["code"]) for f in data["findings"]] == [(2, "bad-effect"), (3, "brackets")]


def test_check_warnings_and_strict(run: Callable[..., Result], make_policy: Callable[..., Path]) -> None:
    warned = make_policy("p, *, *, *, allow\np, *, fs.read, *, allow\np, *, fs.read, *, allow")
    relaxed = run("policy", "check", policy=warned)
    assert relaxed.exit_code == 0
    assert "policy.csv:1: warning: allow rule for every tool" in relaxed.stdout
    assert "policy.csv:3: warning: duplicate of policy.csv:2" in relaxed.stdout
    strict = run("policy", "check", "--strict", policy=warned)
    assert strict.exit_code == 1


def test_check_bad_model(run: Callable[..., Result], make_policy: Callable[..., Path]) -> None:
    directory = make_policy("p, *, fs.read, *, allow")
    (directory / "model.conf").write_text("[request_definition]\nr = sub, obj, act\n")
    out = run("policy", "check", policy=directory)
    assert out.exit_code == 1
    assert "model.conf: error: request_definition must be" in out.stderr


# ---------------------------------------------------------------- test


def test_cases_pass(run: Callable[..., Result]) -> None:
    out = run("policy", "test", str(PERMISSIONS / "cases.yaml"))
    assert out.exit_code == 0, out.output
    assert "cases passed" in out.stdout
    ci = EXAMPLES / "ci-bot"
    assert run("policy", "test", str(ci / "cases.yaml"), policy=ci).exit_code == 0


def test_cases_mismatch(run: Callable[..., Result], tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "- {name: ok, tool: fs.read, args: {path: a.py}, expect: allow}\n"
        "- {name: wrong effect, tool: http.get, args: {url: 'https://x.test'}, expect: allow}\n"
        "- name: wrong rule\n  tool: fs.read\n  args: {path: a.py}\n  expect: allow\n  rule: policy.csv:1\n"
        "- {name: no rule expected, tool: nope, expect: deny, rule: null}\n"
    )
    out = run("policy", "test", str(cases))
    assert out.exit_code == 1
    assert f"{cases}:2: FAIL wrong effect: expected allow, got deny by policy.csv:" in out.stdout
    assert (
        f"{cases}:3: FAIL wrong rule: expected allow by policy.csv:1, got allow by policy.csv:" in out.stdout
    )
    assert "2/4 cases passed, 2 failed" in out.stdout
    data = orjson.loads(run("policy", "test", str(cases), "--json").stdout)
    assert [r["ok"] for r in data["results"]] == [True, False, False, True]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("- {tool: fs.read, expect: allow\n", ["invalid YAML", ":2"]),
        ("tool: fs.read\n", ["expected a YAML list"]),
        ("- {tool: fs.read, expect: allow}\n- {tool: fs.read}\n", ["case 1", "expect", ":2:"]),
        ("- {tool: fs.read, expect: maybe}\n", ["case 0", "expect"]),
        ("- {tool: fs.read, expect: allow, extra: 1}\n", ["case 0", "extra"]),
        ("- {tool: fs.read, expect: allow, args: [1]}\n", ["case 0", "args"]),
        ("- just a string\n", ["case 0", "expected a mapping"]),
        ("cases:\n  - {tool: fs.read, expect: allow}\n  - 3\n", ["case 1", ":3:"]),
    ],
)
def test_cases_malformed(run: Callable[..., Result], tmp_path: Path, text: str, fragments: list[str]) -> None:
    cases = tmp_path / "bad.yaml"
    cases.write_text(text)
    out = run("policy", "test", str(cases))
    assert out.exit_code == 2, out.output
    assert str(cases) in out.stderr
    for fragment in fragments:
        assert fragment in out.stderr


def test_cases_missing_file(run: Callable[..., Result], tmp_path: Path) -> None:
    out = run("policy", "test", str(tmp_path / "nope.yaml"))
    assert out.exit_code == 2
    assert "no such file" in out.stderr


def test_help_texts(run: Callable[..., Result]) -> None:
    for sub in ("explain", "check", "test"):
        out = run("policy", sub, "--help")
        assert out.exit_code == 0
        assert "Usage:" in out.stdout
    assert "expect: allow" in run("policy", "test", "--help").stdout


def test_cases_ignore_grants_but_explain_sees_them(run: Callable[..., Result], tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from agentguard.approval import GrantScope, SqliteApprovalStore
    from agentguard.approval._grants import new_grant
    from agentguard.models import ToolCall

    home = tmp_path / "home"
    with SqliteApprovalStore(home) as store:  # grants live in the approval store, the store of record
        call = ToolCall(agent="agent", tool="shell.run", arguments={"command": "make"})
        store.add_grant(new_grant(call, GrantScope.TOOL, created_by="alice", now=datetime.now(UTC)))
    cases = tmp_path / "cases.yaml"
    cases.write_text("- {tool: shell.run, args: {command: make}, expect: ask}\n")
    assert run("policy", "test", str(cases)).exit_code == 0
    data = orjson.loads(
        run("policy", "explain", "--tool", "shell.run", "--args", '{"command": "make"}', "--json").stdout
    )
    assert data["effect"] == "allow"
    assert data["rule"] == f"{home / 'grants.csv'}:4"  # the line it has in the grants.csv export
    assert (home / "grants.csv").read_text().splitlines()[3] == "p, agent, shell.run, *, allow"
