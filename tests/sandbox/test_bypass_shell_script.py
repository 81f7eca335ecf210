"""What the sandboxed shell runs or leaves behind beyond what was decided.

A shell command bash would read from a file is not the command that was decided.

The runner hands bash a command of 64 KiB or more (or one with a NUL byte, which argv cannot carry)
as a script in an unsealed memfd: the command itself can append to that file (``>&3``, or
``>> /proc/$$/fd/255``) and bash then runs the appended lines, which no decision saw; and bash drops
NUL bytes from a script, so ``ec<NUL>ho`` runs ``echo``. The host refuses both before any container
starts: bash is only ever given the decided text as its ``-c`` argument.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import Sandbox, SandboxSettings

pytestmark = pytest.mark.docker

PAD = "#" + "x" * 70_000 + "\n"


@pytest.mark.parametrize(
    "code",
    [
        PAD + "printf 'echo INJECTED\\n' >&3\necho end\n",
        PAD + "printf 'echo INJECTED\\n' >> /proc/$$/fd/255\necho end\n",
        "echo end\nec\x00ho INJECTED\n",
    ],
    ids=["append-fd3", "append-proc-fd", "nul"],
)
def test_bash_never_runs_a_script_it_reads_from_a_file(cold_sandbox: Sandbox, code: str) -> None:
    # Before the refusal, each of these printed INJECTED.
    with pytest.raises(SandboxError, match="shell command"):
        cold_sandbox.run("shell", code)


def test_a_long_python_program_still_runs(cold_sandbox: Sandbox) -> None:
    assert cold_sandbox.run("python", PAD + "print('done')").stdout == "done\n"


def test_rw_workspace_code_cannot_leave_a_setuid_program_on_the_host(
    images: object, docker_client: object, tmp_path: Path
) -> None:
    # An rw workspace is a bind mount of a host file system that honours set-user-ID: a set-user-ID
    # copy of python owned by the workspace's owner would run as that owner for any host user who
    # can reach it. The runner's seccomp filter refuses the mode bit (tests/sandbox/test_abuse_escape.py).
    workspace = tmp_path / "ws"
    workspace.mkdir()
    if os.geteuid() == 0:
        os.chown(workspace, 1000, 1000)  # a user's workspace (a root-owned one runs as uid 10001)
    settings = SandboxSettings(pool_size=0)
    with Sandbox(settings, client=docker_client, workspace=workspace, reap_orphans=False) as sb:
        r = sb.run("shell", "cp /usr/bin/python3 p && chmod 6755 p", profile="workspace-rw")
    assert r.exit_code == 1, r.stderr  # chmod: Operation not permitted
    planted = workspace / "p"
    assert planted.exists()  # the copy itself is fine: the policy allowed writing the workspace
    assert not planted.stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
