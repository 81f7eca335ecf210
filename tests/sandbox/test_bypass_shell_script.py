"""A shell command bash would read from a file is not the command that was decided.

The runner hands bash a command of 64 KiB or more (or one with a NUL byte, which argv cannot carry)
as a script in an unsealed memfd: the command itself can append to that file (``>&3``, or
``>> /proc/$$/fd/255``) and bash then runs the appended lines, which no decision saw; and bash drops
NUL bytes from a script, so ``ec<NUL>ho`` runs ``echo``. The host refuses both before any container
starts: bash is only ever given the decided text as its ``-c`` argument.
"""

from __future__ import annotations

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import Sandbox

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
