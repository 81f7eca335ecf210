"""Table-driven tests over the shipped default policy and the examples, with real pycasbin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine, lint_policy, load_cases, run_cases
from agentguard.settings import DEFAULT_POLICY_DIR

from .conftest import EXAMPLES, PERMISSIONS, decide, line_of

POLICY = PERMISSIONS / "policy.csv"


def test_shipped_default_is_an_exact_copy() -> None:
    for name in ("model.conf", "policy.csv"):
        assert (DEFAULT_POLICY_DIR / name).read_bytes() == (PERMISSIONS / name).read_bytes(), name
    assert sorted(p.name for p in DEFAULT_POLICY_DIR.iterdir()) == ["model.conf", "policy.csv"]


@pytest.fixture(scope="module")
def default_engine(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    ws = tmp_path_factory.mktemp("ws")
    (ws / ".git" / "hooks").mkdir(parents=True)
    return PolicyEngine.load(PERMISSIONS, workspace=ws)


# Starts of the rule lines the table refers to (looked up in policy.csv, so edits keep the table honest).
READ = 'p, *, fs.read, path(path, "{workspace}/**"), allow'
LIST = 'p, *, fs.list, path(path, "{workspace}/**"), allow'
SECRET_FILES = 'p, *, fs.read, path(path, "{workspace}/**/{.env'
SSH = 'p, *, fs.*, path(path, "{home}/{.ssh,'
STATE = 'p, *, fs.*, path(path, "{state}/**")'
WRITE = 'p, *, fs.write, path(path, "{workspace}/**") && timeout(600), ask'
GIT_DIR = 'p, *, fs.write, path(path, "{workspace}/**/.git/**") || git_dir(path), deny'
SHELL_RO = 'p, *, shell.run, cmd(command, "git status*"'
SHELL_ASK = "p, *, shell.run, !cmd(command"
GIT_OPTS = 'p, *, shell.run, opt(command, "git", "--output"'
RM = 'p, *, shell.run, opt(command, "rm", "-r"'
SUDO = 'p, *, shell.run, cmd_any(command, "sudo *"'
PUSH = 'p, *, shell.run, cmd_any(command, "git push*"'
PYTHON = 'p, *, python.exec, sandbox("default"), allow'
HTTP = "p, *, http.*, *, deny"

# (agent, tool, arguments, expected effect, start of the deciding rule's line or None for "no rule")
DEFAULT_ROWS: list[tuple[str, str, dict[str, Any], Effect, str | None]] = [
    ("coder", "fs.read", {"path": "src/app.py"}, Effect.ALLOW, READ),
    ("coder", "fs.list", {"path": "."}, Effect.ALLOW, LIST),
    ("coder", "fs.list", {"path": ""}, Effect.DENY, None),
    ("coder", "fs.read", {"path": "/etc/shadow"}, Effect.DENY, None),
    ("coder", "fs.read", {}, Effect.DENY, None),
    ("coder", "fs.read", {"path": ".env"}, Effect.ASK, SECRET_FILES),
    ("coder", "fs.read", {"path": "config/.env.production"}, Effect.ASK, SECRET_FILES),
    ("coder", "fs.read", {"path": "~/.ssh/id_ed25519"}, Effect.DENY, SSH),
    (
        "coder",
        "fs.write",
        {"path": "~/.agentguard/grants.csv", "content": "p, *, *, *, allow"},
        Effect.DENY,
        STATE,
    ),
    ("coder", "fs.write", {"path": "src/app.py", "content": "x"}, Effect.ASK, WRITE),
    ("coder", "fs.write", {"path": ".git/config", "content": "x"}, Effect.DENY, GIT_DIR),
    ("coder", "fs.write", {"path": "/tmp/x", "content": "x"}, Effect.DENY, None),
    ("coder", "shell.run", {"command": "git status"}, Effect.ALLOW, SHELL_RO),
    ("coder", "shell.run", {"command": "ls -la src | grep app"}, Effect.ASK, SHELL_ASK),
    ("coder", "shell.run", {"command": "pwd; git log -3"}, Effect.ALLOW, SHELL_RO),
    ("coder", "shell.run", {"command": "git status --output=/tmp/x"}, Effect.ASK, GIT_OPTS),
    ("coder", "shell.run", {"command": "git status --out''put=/tmp/x"}, Effect.ASK, GIT_OPTS),
    ("coder", "shell.run", {"command": "git status . --outp /tmp/x"}, Effect.ASK, GIT_OPTS),
    ("coder", "shell.run", {"command": "npm test"}, Effect.ASK, SHELL_ASK),
    ("coder", "shell.run", {"command": "rm -fr build"}, Effect.DENY, RM),
    ("coder", "shell.run", {"command": "rm -v --recursive build"}, Effect.DENY, RM),
    ("coder", "shell.run", {"command": "rm -rfv /"}, Effect.DENY, RM),
    ("coder", "shell.run", {"command": "rm notes.txt"}, Effect.ASK, SHELL_ASK),
    ("coder", "shell.run", {"command": "rm build -r"}, Effect.DENY, RM),
    ("coder", "shell.run", {"command": "cat <<'EOF'\nrm notes\nEOF\n"}, Effect.DENY, RM),
    ("coder", "shell.run", {"command": "echo x | sudo tee /etc/hosts"}, Effect.DENY, SUDO),
    ("coder", "shell.run", {"command": "git push --force"}, Effect.DENY, PUSH),
    ("coder", "python.exec", {"code": "print(1)"}, Effect.ALLOW, PYTHON),
    ("coder", "http.get", {"url": "https://docs.python.org/3/"}, Effect.DENY, HTTP),
    ("coder", "unknown.tool", {}, Effect.DENY, None),
    ("review-agent", "fs.read", {"path": "src/app.py"}, Effect.ALLOW, READ),
    (
        "review-agent",
        "fs.write",
        {"path": "src/app.py", "content": "x"},
        Effect.DENY,
        "p, reviewer, fs.write, *, deny",
    ),
    ("review-bot", "shell.run", {"command": "git status"}, Effect.DENY, "p, reviewer, shell.run, *, deny"),
    ("review-bot", "python.exec", {"code": "1"}, Effect.DENY, "p, reviewer, python.exec, *, deny"),
    ("reviewer", "python.exec", {"code": "1"}, Effect.DENY, "p, reviewer, python.exec, *, deny"),
]


@pytest.mark.parametrize(("agent", "tool", "arguments", "effect", "rule_start"), DEFAULT_ROWS)
def test_default_policy_table(
    default_engine: PolicyEngine,
    agent: str,
    tool: str,
    arguments: dict[str, Any],
    effect: Effect,
    rule_start: str | None,
) -> None:
    decision = decide(default_engine, tool, agent, **arguments)
    assert decision.effect is effect, decision.reason
    if rule_start is None:
        assert decision.rule is None, decision.reason
    else:
        assert decision.rule is not None, decision.reason
        assert (decision.rule.file, decision.rule.line) == ("policy.csv", line_of(POLICY, rule_start))
        assert decision.rule.text.startswith(rule_start)
        assert decision.rule in decision.matched


def test_default_annotations_reach_the_decision(default_engine: PolicyEngine) -> None:
    assert decide(default_engine, "python.exec", code="1").sandbox_profile == "default"
    write = decide(default_engine, "fs.write", path="a.txt", content="x")
    assert write.approval_timeout_s == 600
    assert decide(default_engine, "fs.read", path="a.txt").approval_timeout_s is None


def test_default_reasons_name_the_rule(default_engine: PolicyEngine) -> None:
    d = decide(default_engine, "http.get", url="https://x.test")
    line = line_of(POLICY, "p, *, http.*, *, deny")
    assert d.reason == f"denied by policy.csv:{line} (p, *, http.*, *, deny)"
    assert decide(default_engine, "nothing.here").reason == "no rule matched; default is deny"


EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if (p / "model.conf").is_file())


def test_examples_are_present() -> None:
    assert {"read-only", "web-research", "ci-bot", "mcp-desktop"} <= {p.name for p in EXAMPLE_DIRS}


@pytest.mark.parametrize("directory", [PERMISSIONS, *EXAMPLE_DIRS], ids=lambda p: p.name)
def test_every_shipped_policy_lints_clean(directory: Path, tmp_path: Path) -> None:
    assert lint_policy(directory, workspace=tmp_path) == []
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    assert engine.rules
    assert engine.lint() == []


CASE_TABLES = [
    (PERMISSIONS, PERMISSIONS / "cases.yaml"),
    *[(d, d / "cases.yaml") for d in EXAMPLE_DIRS if (d / "cases.yaml").is_file()],
]


@pytest.mark.parametrize(("directory", "cases_file"), CASE_TABLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_case_tables(directory: Path, cases_file: Path, workspace: Path) -> None:
    cases = load_cases(cases_file)
    assert len(cases) >= 8
    effects = {c.expect for c in cases}
    assert Effect.ALLOW in effects
    assert Effect.DENY in effects
    results = run_cases(PolicyEngine.load(directory, workspace=workspace), cases, default_agent="coder")
    failures = [
        f"{r.case.label}: want {r.case.expect} {r.case.rule}, got {r.decision.effect} {r.decision.rule_id}"
        for r in results
        if not r.ok
    ]
    assert failures == []


def test_example_web_research_allowlist(workspace: Path) -> None:
    engine = PolicyEngine.load(EXAMPLES / "web-research", workspace=workspace)
    ok = "https://docs.python.org/3/library/os.html"
    assert decide(engine, "http.get", "web-agent", url=ok).effect is Effect.ALLOW
    assert decide(engine, "http.get", "web-agent-2", url=ok).effect is Effect.ALLOW
    assert decide(engine, "http.get", "stranger", url=ok).effect is Effect.DENY
    assert engine.roles_of("web-agent") == frozenset({"web-agent", "researcher"})
