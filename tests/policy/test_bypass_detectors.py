"""Attack tests for detectors, regex(), glob() and path() matching (issue 10, findings 8 and 9).

Each trick must end in deny or ask, and no crafted value or pattern may stall a decision.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.errors import PolicyError
from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import PERMISSIONS, decide

AWS = "AKIAIOSFODNN7EXAMPLE"

# ---------------------------------------------------------------- secret() finds keys the agent disguises


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return PolicyEngine.load(PERMISSIONS, workspace=tmp_path_factory.mktemp("ws"))


SECRET_RULES = """
p, *, http.post, *, allow
p, *, http.post, secret(*), deny
"""


@pytest.mark.parametrize(
    "body",
    [
        f"x{AWS}",
        f"id={AWS}&next=1",
        "token%3D" + "".join(f"%{ord(c):02x}" for c in AWS),
        base64.b64encode(f"creds {AWS}".encode()).decode(),
        "zz" + base64.urlsafe_b64encode(AWS.encode()).decode(),
        AWS.encode().hex(),
        "DB_PASSWORD=correct-horse-battery",
        '{"password": "correct-horse-battery"}',
    ],
)
def test_disguised_keys_are_still_denied(engine_for: Callable[..., PolicyEngine], body: str) -> None:
    engine = engine_for(SECRET_RULES)
    assert decide(engine, "http.post", url="https://example.test/", body=body).effect is Effect.DENY
    assert decide(engine, "http.post", url="https://example.test/", body="hello").effect is Effect.ALLOW


# ---------------------------------------------------------------- regex() runs on RE2


@pytest.mark.parametrize(
    ("pattern", "column"),
    [(r"(a)\\1", 28), ("(?=a)a", 28), ("(?<!x)a", 28), ("a++", 28)],
)
def test_regex_that_re2_cannot_run_is_a_load_error_naming_the_column(
    engine_for: Callable[..., PolicyEngine], pattern: str, column: int
) -> None:
    with pytest.raises(PolicyError) as info:
        engine_for(f'p, *, fs.read, regex(path, "{pattern}"), allow')
    message = info.value.message
    assert f"column {column}" in message
    assert "regex(): bad regular expression" in message
    assert "RE2" in message


@pytest.mark.timeout(60)
def test_a_catastrophic_regex_cannot_stall_a_decision(engine_for: Callable[..., PolicyEngine]) -> None:
    """``(a+)+b`` backtracks 2**n times in Python's engine: n = 100,000 never finished there."""
    engine = engine_for('p, *, fs.read, *, allow\np, *, fs.read, regex(path, "(a+)+b"), deny')
    started = time.process_time()
    assert decide(engine, "fs.read", path="a" * 100_000 + "!").effect is Effect.ALLOW
    assert decide(engine, "fs.read", path="a" * 100 + "b").effect is Effect.DENY
    assert time.process_time() - started < 30  # a guard against minutes, not a benchmark


def test_regex_is_a_full_match(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for('p, *, fs.read, regex(path, "src/[a-z]+\\.py"), allow')
    assert decide(engine, "fs.read", path="src/app.py").effect is Effect.ALLOW
    assert decide(engine, "fs.read", path="src/app.py.bak").effect is Effect.DENY
    assert decide(engine, "fs.read", path="x/src/app.py").effect is Effect.DENY


# ---------------------------------------------------------------- glob() and path() run on RE2 too

GLOBSTARS = "**/a/**/a/**/a/**/b"


@pytest.mark.timeout(60)
def test_many_globstars_cannot_stall_glob(engine_for: Callable[..., PolicyEngine]) -> None:
    """wcmatch's Python regex for this took 48 s at 200 characters (and doubled with each few more)."""
    engine = engine_for(f'p, *, fs.read, *, allow\np, *, fs.read, glob(path, "{GLOBSTARS}"), deny')
    started = time.process_time()
    assert decide(engine, "fs.read", path="a/" * 50_000 + "x").effect is Effect.ALLOW
    assert decide(engine, "fs.read", path="a/x/a/a/y/b").effect is Effect.DENY
    assert time.process_time() - started < 30


@pytest.mark.timeout(60)
def test_many_globstars_cannot_stall_path(engine_for: Callable[..., PolicyEngine], workspace: Path) -> None:
    engine = engine_for(
        f'p, *, fs.read, path(path, "{{workspace}}/**"), allow\n'
        f'p, *, fs.read, path(path, "{{workspace}}/{GLOBSTARS}"), deny'
    )
    started = time.process_time()
    deep = "/".join(["a"] * 2000) + "/x"  # within PATH_MAX: what an agent can send
    assert decide(engine, "fs.read", path=deep).effect is Effect.ALLOW
    assert decide(engine, "fs.read", path="a/a/a/b").effect is Effect.DENY
    assert time.process_time() - started < 30


def test_glob_wildcards_never_match_dot_segments(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for('p, *, http.get, glob(page, "docs/*/index"), allow')
    assert decide(engine, "http.get", page="docs/v1/index").effect is Effect.ALLOW
    for sneaky in ("docs/../index", "docs/./index", "docs//index"):
        assert decide(engine, "http.get", page=sneaky).effect is Effect.DENY, sneaky


# ---------------------------------------------------------------- defaults (issue 10, finding 9)

CREDENTIAL_FILES_IN_WORKSPACE = [
    ".git-credentials",
    ".envrc",
    ".flaskenv",
    ".env.local",
    "config/prod.env",
    "keys/id_ecdsa",
    "keys/id_dsa",
    "keys/id_ed25519_sk",
    "certs/client.p12",
    "certs/client.pfx",
    "vault.kdbx",
    ".pgpass",
    ".my.cnf",
    "infra/terraform.tfvars",
    ".config/gh/hosts.yml",
    ".config/git/credentials",
    ".local/share/direnv/allow/abc",
    ".aws/credentials",
    ".kube/config",
    ".docker/config.json",
    ".cargo/credentials.toml",
    ".m2/settings.xml",
]


@pytest.mark.parametrize("path", CREDENTIAL_FILES_IN_WORKSPACE)
def test_credential_files_in_the_workspace_ask(shipped: PolicyEngine, path: str) -> None:
    assert decide(shipped, "fs.read", path=path).effect is Effect.ASK


@pytest.mark.parametrize(
    "path",
    [
        "~/.git-credentials",
        "~/.config/git/credentials",
        "~/.local/share/direnv/allow/0123",
        "~/.azure/accessTokens.json",
        "~/.config/gh/hosts.yml",
        "~/.terraform.d/credentials.tfrc.json",
        "~/.cargo/credentials.toml",
        "~/.gem/credentials",
        "~/.m2/settings.xml",
        "~/.password-store/email.gpg",
        "~/.pgpass",
        "~/.my.cnf",
        "~/.netrc",
    ],
)
def test_credential_stores_in_home_are_denied_even_when_home_is_the_workspace(path: str) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=Path.home())
    assert decide(engine, "fs.read", path=path).effect is Effect.DENY


def test_the_state_directory_is_protected_wherever_settings_put_it(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    state = workspace / ".agentguard-state"
    state.mkdir(parents=True)
    (state / "audit.jsonl").write_text("{}\n")
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace, state_dir=state)
    assert decide(engine, "fs.read", path=".agentguard-state/audit.jsonl").effect is Effect.DENY
    assert decide(engine, "fs.list", path=".agentguard-state").effect is Effect.DENY
    write = decide(engine, "fs.write", path=".agentguard-state/grants.csv", content="p, *, *, *, allow")
    assert write.effect is Effect.DENY
    assert decide(engine, "fs.read", path="notes.txt").effect is Effect.ALLOW


def test_state_placeholder_defaults_to_home_agentguard(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for('p, *, fs.read, *, allow\np, *, fs.read, path(path, "{state}/**"), deny')
    assert decide(engine, "fs.read", path="~/.agentguard/grants.csv").effect is Effect.DENY
    assert decide(engine, "fs.read", path="~/notes.txt").effect is Effect.ALLOW


@pytest.mark.parametrize(
    "line", ["p, review-*, fs.write, *, deny", "p, review?, fs.write, *, deny", "g, review-*, reviewer"]
)
def test_subject_globs_are_refused_at_load(engine_for: Callable[..., PolicyEngine], line: str) -> None:
    with pytest.raises(PolicyError) as info:
        engine_for(f"p, *, fs.read, *, allow\n{line}")
    assert "review" in info.value.message
    assert "no globs" in info.value.message


def test_agent_names_match_case_insensitively_like_tool_names(shipped: PolicyEngine) -> None:
    for agent in ("review-agent", "Review-Agent", "REVIEW-AGENT"):
        decision = decide(shipped, "fs.write", agent=agent, path="src/app.py", content="x")
        assert decision.effect is Effect.DENY, agent
    homoglyph = "rеview-agent"  # Cyrillic "е"
    decision = decide(shipped, "fs.read", agent=homoglyph, path="src/app.py")
    assert decision.effect is Effect.DENY
    assert "invalid agent name" in decision.reason


def test_mixed_case_subjects_and_roles_are_one_name(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for("p, *, fs.write, *, allow\np, Reviewer, fs.write, *, deny\ng, Review-Agent, reviewer")
    assert decide(engine, "fs.write", agent="review-agent", path="x").effect is Effect.DENY
    assert decide(engine, "fs.write", agent="coder", path="x").effect is Effect.ALLOW


def test_lone_surrogates_cannot_hide_a_value_from_regex(engine_for: Callable[..., PolicyEngine]) -> None:
    """JSON admits lone surrogates; RE2 wants UTF-8. The value must still be matched, not skipped."""
    engine = engine_for('p, *, shell.run, *, allow\np, *, shell.run, regex(command, ".*--output.*"), deny')
    assert decide(engine, "shell.run", command="git log --output=x \ud800").effect is Effect.DENY
    assert decide(engine, "shell.run", command="git log \ud800").effect is Effect.ALLOW
