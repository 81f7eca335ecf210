"""Red team: "read-only" git commands printed committed files that ``fs.read`` asks for or denies.

After ``git diff`` was narrowed (34e7fcd), the shipped policy and the ``read-only`` example still
allowed ``git show*`` and ``git log*`` unasked, and ``git diff HEAD*``/``HEAD~N *`` with any
second revision. A committed ``.env`` or key is printed by ``git show REV:path``, ``git show REV``
(the commit's patch), ``git log -p``/``-L``/``--cc``, and ``git diff HEAD <empty tree>``. The
allowed git forms are now an allowlist of ones that print names, status and metadata, plus the
uncommitted work (``git diff``, ``--cached``, ``HEAD``); every form that prints committed content
asks (shipped) or is denied (read-only). The first test shows with the real git that each of
these commands prints the committed file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import EXAMPLES, PERMISSIONS, decide
from .test_bypass_git_diff import READS_A_FILE
from .test_bypass_git_diff import STILL_ALLOWED as DIFF_STILL_ALLOWED

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
PRINTS_COMMITTED = [
    "git show HEAD~1:.env",
    "git show --stat HEAD~1:.env",  # a blob is printed whatever the options
    "git show HEAD~1",  # the commit that added it
    "git show HEAD~1 -- .env",
    "git log -p",
    "git log --oneline -p",
    "git log -L1,1:.env",
    "git log --cc",
    f"git diff HEAD {EMPTY_TREE}",
    "git diff HEAD~2",  # every commit's changes since HEAD~2, .env's addition included
    "git diff HEAD~2 HEAD~1",
    f"git diff --unified=3 {EMPTY_TREE}",  # what mcp-server-git's git_diff runs for that target
    "git cat-file -p HEAD~1:.env",
    "git grep API_KEY HEAD~1",
    "git blame HEAD~1 -- .env",
    "git archive HEAD~1",
    "git stash show -p",
]
REAL_GIT = [c for c in PRINTS_COMMITTED if "stash" not in c]
STILL_ALLOWED = [
    "git status",
    "git status --short",
    "git log",
    "git log --oneline",
    "git log --oneline -5",
    "git log --stat",
    "git show --stat",
    "git show --stat HEAD~1",
    "git diff",
    "git diff --stat",
    "git diff --cached",
    "git diff HEAD",
    "git diff --stat HEAD~3",
    "git diff HEAD -- src",
    "ls -la",
    "pwd",
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@t.invalid")
    git("config", "user.name", "t")
    (tmp_path / "README.md").write_text("hi\n")
    git("add", "-A")
    git("commit", "-qm", "zero")
    (tmp_path / ".env").write_text("API_KEY=s3cret\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    (tmp_path / "README.md").write_text("hi\nthere\n")
    git("commit", "-qam", "two")
    return tmp_path


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("command", REAL_GIT)
def test_git_prints_the_committed_file(repo: Path, command: str) -> None:
    shown = subprocess.run(command.split(), cwd=repo, capture_output=True, check=False)
    assert b"s3cret" in shown.stdout


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PolicyEngine]:
    ws = tmp_path_factory.mktemp("ws")
    return {
        "shipped": PolicyEngine.load(PERMISSIONS, workspace=ws),
        "read-only": PolicyEngine.load(EXAMPLES / "read-only", workspace=ws),
    }


@pytest.mark.parametrize("command", PRINTS_COMMITTED + READS_A_FILE)
@pytest.mark.parametrize("policy", ["shipped", "read-only"])
def test_committed_content_is_not_printed_unasked(
    engines: dict[str, PolicyEngine], policy: str, command: str
) -> None:
    assert decide(engines[policy], "fs.read", path=".env").effect is not Effect.ALLOW
    decision = decide(engines[policy], "shell.run", command=command)
    assert decision.effect is not Effect.ALLOW, (policy, command, decision.reason)


@pytest.mark.parametrize("command", STILL_ALLOWED + DIFF_STILL_ALLOWED)
@pytest.mark.parametrize("policy", ["shipped", "read-only"])
def test_names_status_and_uncommitted_work_stay_allowed(
    engines: dict[str, PolicyEngine], policy: str, command: str
) -> None:
    assert decide(engines[policy], "shell.run", command=command).effect is Effect.ALLOW


MCP_GIT_PRINTS = [
    ("mcp.git.git_show", {"revision": "HEAD"}),  # the commit's patch
    ("mcp.git.git_diff", {"target": EMPTY_TREE}),  # runs git diff --unified=3 TARGET
    ("mcp.git.git_diff", {"target": "HEAD~2"}),
    ("mcp.git.git_diff", {"target": "--output=/tmp/x"}),  # an option, passed to git as it is
]
MCP_GIT_ALLOWED = [
    ("mcp.git.git_status", {}),
    ("mcp.git.git_log", {"max_count": 5}),
    ("mcp.git.git_diff_unstaged", {}),
    ("mcp.git.git_diff_staged", {}),
    ("mcp.git.git_diff", {"target": "HEAD"}),
]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> tuple[PolicyEngine, Path]:
    ws = tmp_path_factory.mktemp("ws")
    return PolicyEngine.load(EXAMPLES / "mcp-desktop", workspace=ws), ws


@pytest.mark.parametrize(("tool", "arguments"), MCP_GIT_PRINTS)
def test_mcp_git_committed_content_is_not_printed_unasked(
    desktop: tuple[PolicyEngine, Path], tool: str, arguments: dict[str, object]
) -> None:
    engine, ws = desktop
    # the filesystem server's rules deny .env inside the workspace
    env = decide(engine, "mcp.filesystem.read_text_file", agent="desktop", path=str(ws / ".env"))
    assert env.effect is Effect.DENY
    decision = decide(engine, tool, agent="desktop", repo_path=str(ws), **arguments)
    assert decision.effect is not Effect.ALLOW, (tool, arguments, decision.reason)


@pytest.mark.parametrize(("tool", "arguments"), MCP_GIT_ALLOWED)
def test_mcp_git_status_history_and_uncommitted_work_stay_allowed(
    desktop: tuple[PolicyEngine, Path], tool: str, arguments: dict[str, object]
) -> None:
    engine, ws = desktop
    assert decide(engine, tool, agent="desktop", repo_path=str(ws), **arguments).effect is Effect.ALLOW
