"""Red team: ``git diff`` reads any file, so "read-only git commands" printed the files policies close.

The shipped policy and the ``read-only`` example allowed ``git diff*`` without asking,
in a sandbox that mounts the whole workspace, while ``fs.read`` of ``.env`` asks (shipped) or is
denied (read-only). ``git diff`` compares two files on disk (``--no-index``) when asked to, and also
*without* the option when one path is outside the work tree (``git diff /dev/null .env``) or the
workspace is no repository: it prints an ignored ``.env`` in full. The allowed ``git diff``
forms are now ones without file operands or after a revision, and ``--no-index`` asks. The first
test shows with the real git that the command reads the file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

READS_A_FILE = [
    "git diff /dev/null .env",
    "git diff --no-index /dev/null .env",
    "git diff README.md .env",  # a workspace that is no repository: two files on disk
    "git diff --stat -p /dev/null .env",
    "git diff -- /dev/null .env",
    "git diff HEAD --no-index .env",  # --no-index reads files even after a revision word
    "git diff HEAD~1:README.md .env",  # a blob against a file on disk
    "git diff HEAD:README.md .env",
]
STILL_ALLOWED = [
    "git diff",
    "git diff --stat",
    "git diff --cached",
    "git diff HEAD",
    "git diff HEAD -- src",  # after HEAD, operands are paths in the repository only
    # git diff HEAD~N (a diff between revisions) prints committed content: test_bypass_git_history
    "git status",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_diff_prints_an_ignored_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("API_KEY=s3cret\n")
    (tmp_path / ".gitignore").write_text(".env\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    shown = subprocess.run(
        ["git", "diff", "/dev/null", ".env"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert "+API_KEY=s3cret" in shown.stdout  # no option needed: /dev/null is outside the work tree


# The decisions on these tables run in test_bypass_git_history.py, with its own tables.
