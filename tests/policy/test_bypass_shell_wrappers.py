"""Programs that run their arguments as a command, as ``sudo`` and ``nice`` do: ``pkexec``, ``run0``,
``setpriv``, ``prlimit``, ``setarch`` ... were not peeled, so ``cmd_any(command, "rm *")`` read
``setpriv rm x`` as running no ``rm``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.policy._shellmatch import CommandPattern, OptionSet, cmd_any_result, opt_result
from tests.policy.test_bypass_shell import BASH

RM = [CommandPattern.parse("rm *")]
WRAPPED = [
    "pkexec rm x",
    "run0 rm x",
    "setpriv --reuid=1000 rm x",
    "prlimit --nofile=10 rm x",
    "setarch x86_64 -R rm x",
    "linux64 rm x",
    "numactl -N 0 rm x",
    "cgexec -g cpu:x rm x",
    "runcon -t t rm x",
    "faketime '2020-01-01' rm x",
    "valgrind -q rm x",
    "dbus-run-session -- rm x",
    "xvfb-run -a rm x",
    "chpst -u nobody rm x",
]


@pytest.mark.parametrize("command", WRAPPED)
def test_wrapped_commands_are_seen(command: str) -> None:
    assert cmd_any_result(command, RM) is True
    assert opt_result(command.replace("rm x", "rm -rf x"), RM[0], OptionSet.parse(["-r"])) is True


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("wrapper", ["setpriv", "prlimit", "setarch x86_64", "linux64"])
def test_these_wrappers_run_the_command(tmp_path: Path, wrapper: str) -> None:
    if shutil.which(wrapper.split()[0]) is None:
        pytest.skip(f"no {wrapper}")
    subprocess.run([str(BASH), "--norc", "-c", f"{wrapper} touch marker"], cwd=tmp_path, check=False)
    assert (tmp_path / "marker").exists()


# capsh hands the words after "--" to /bin/bash (or --shell=PATH): found by the red team, last session
CAPSH = [
    "capsh -- -c 'rm x'",
    "capsh --caps=cap_net_raw+ep -- -c 'rm -rf x'",
    "capsh --user=nobody -- -c 'true; rm x'",
    "capsh --shell=/bin/rm -- x",
    "capsh --shell=/bin/sh -- -c 'rm x'",
]


@pytest.mark.parametrize("command", CAPSH)
def test_capsh_runs_its_shell_arguments(command: str) -> None:
    assert cmd_any_result(command, RM) is True


@pytest.mark.parametrize("command", ["capsh --print", "capsh -- -c 'ls'", "capsh --shell=/bin/ls -- x"])
def test_capsh_without_rm_runs_no_rm(command: str) -> None:
    assert cmd_any_result(command, RM) is False


@pytest.mark.parametrize("command", ['capsh "$opt" -- -c ls', "capsh == -- -c 'rm x'"])
def test_capsh_it_cannot_follow_is_cannot_tell_or_seen(command: str) -> None:
    assert cmd_any_result(command, RM) is not False


@pytest.mark.skipif(BASH is None or shutil.which("capsh") is None, reason="needs bash and capsh")
def test_capsh_really_runs_the_script(tmp_path: Path) -> None:
    subprocess.run(["capsh", "--", "-c", "touch marker"], cwd=tmp_path, check=False)
    assert (tmp_path / "marker").exists()
