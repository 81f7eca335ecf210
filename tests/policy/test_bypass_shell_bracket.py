"""``[`` and ``]`` are test words only between blanks. bash reads ``[m]`` as a glob (it runs the
command named by a one-letter file ``m`` in the working directory) and ``[m ]`` as the command ``[m``;
tree-sitter-bash read both as the test ``[ m ]``, so an allow for ``[ *`` allowed them. Such a
line is cannot tell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy._shellmatch import CommandPattern, cmd_any_result, cmd_result
from tests.policy.conftest import decide
from tests.policy.test_bypass_shell import BASH, _engine

TEST = [CommandPattern.parse("[ *"), CommandPattern.parse("ls*")]
# casbin counts brackets even inside quotes: "x]" balances the "[" of the pattern that matters
ALLOW_TEST = 'p, *, shell.run, cmd(command, "[ *", "x]"), allow\n'
GLOB_NAMES = ["[m]", "[xm]", "[m] && ls", "ls; [%m]", "[ m]", "[m ]", "[ a ]#"]


@pytest.mark.parametrize("command", GLOB_NAMES)
def test_a_bracket_not_between_blanks_is_cannot_tell(command: str) -> None:
    assert cmd_result(command, TEST) is None
    assert cmd_any_result(command, [CommandPattern.parse("m")]) is None


def test_the_engine_does_not_allow_a_glob_command(tmp_path_factory: pytest.TempPathFactory) -> None:
    engine = _engine(tmp_path_factory, ALLOW_TEST)
    assert decide(engine, "shell.run", command="[m]").effect is not Effect.ALLOW
    assert decide(engine, "shell.run", command="[ -f a ] && [ a = b ]").effect is Effect.ALLOW


@pytest.mark.parametrize(
    ("command", "argvs"),
    [
        ("[ m ]", [("[", "m", "]")]),
        ("[ -f x ]&&ls", [("[", "-f", "x", "]"), ("ls",)]),
        ("[\ta\t];ls", [("[", "a", "]"), ("ls",)]),
        ("([ a ])", [("[", "a", "]")]),
        ("[ a ]>x", [("[", "a", "]")]),
    ],
)
def test_test_commands_between_blanks_are_still_read(command: str, argvs: list[tuple[str, ...]]) -> None:
    for argv in argvs:
        assert cmd_any_result(command, [CommandPattern(argv, False)]) is True, argv


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_bash_runs_the_file_a_bracket_glob_names(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "work").mkdir()
    stub = tmp_path / "bin" / "m"
    stub.write_text(f"#!/bin/sh\n: > {tmp_path / 'ran'}\n")
    stub.chmod(0o755)
    (tmp_path / "work" / "m").write_text("")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    subprocess.run([str(BASH), "--norc", "-c", "[m]"], cwd=tmp_path / "work", env=env, check=False)
    assert (tmp_path / "ran").exists()
    assert shutil.which("m", path=env["PATH"]) == str(stub)
