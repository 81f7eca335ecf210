"""A git repository nested in the workspace runs its config too: ``git status`` and ``git diff``
in the top repository look into every submodule (a gitlink in the index, which a cloned repository
brings) by running git there, and that git reads ``sub/.git/config`` (``core.fsmonitor``, ...). The
shipped rules denied writes only under ``{workspace}/.git/``, so ``sub/.git/config`` was an ask (an
allow in the trifecta example) and the auto-allowed ``git status`` then ran the planted command;
so did the user's next ``git status`` on the host."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import EXAMPLES, PERMISSIONS, decide

GIT = shutil.which("git")
NESTED = ["sub/.git/config", "sub/.git/HEAD", "a/b/.git/hooks/pre-commit", "sub/.git", "x/.git/y/config"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run([str(GIT), *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_a_gitlinks_config_runs_on_git_status(tmp_path: Path) -> None:
    """Why it matters: only text files written under sub/.git, then a plain ``git status``."""
    top = tmp_path / "top"
    top.mkdir()
    _git(top, "init", "-q")
    _git(top, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "i")
    blob = "3e77eea0ce8dc5e7e6a54f1d229878cee86ba036"  # any id: the gitlink a cloned repository brings
    _git(top, "update-index", "--add", "--cacheinfo", f"160000,{blob},sub")
    (top / "sub" / ".git" / "objects").mkdir(parents=True)
    (top / "sub" / ".git" / "refs").mkdir()
    (top / "sub" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    marker = tmp_path / "ran"
    (top / "sub" / ".git" / "config").write_text(f"[core]\n\tfsmonitor = touch {marker}; false\n")
    subprocess.run([str(GIT), "status", "--porcelain"], cwd=top, check=False, capture_output=True)
    assert marker.exists()


@pytest.mark.parametrize("path", NESTED)
def test_default_policy_denies_writing_a_nested_git_directory(path: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "fs.write", path=path, content="x").effect is Effect.DENY
    assert decide(engine, "fs.write", path="src/app.py", content="x").effect is Effect.ASK


@pytest.mark.parametrize("path", NESTED)
def test_trifecta_denies_writing_a_nested_git_directory(path: str, workspace: Path) -> None:
    engine = PolicyEngine.load(EXAMPLES / "trifecta", workspace=workspace)
    assert decide(engine, "fs.write", path=path, content="x").effect is not Effect.ALLOW
    assert decide(engine, "fs.write", path="src/git.py", content="x").effect is Effect.ALLOW
