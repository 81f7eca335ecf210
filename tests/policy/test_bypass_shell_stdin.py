"""A shell reading its script from standard input behind ``-`` (the end of its options) or an option
that takes a value (``-o posix``, ``-O extglob``): ``posix`` was read as the script file, so
``echo 'rm x' | bash -o posix`` looked like running a file, not stdin, and ``bash - <<< 'rm x'``
ignored the here-string."""

from __future__ import annotations

import pytest

from agentguard.policy._shellmatch import CommandPattern, cmd_any_result
from tests.policy.test_bypass_shell import (  # noqa: F401 - sandbox_dir is a fixture
    BASH,
    _bash_runs,
    sandbox_dir,
)

RM = [CommandPattern.parse("rm *")]
FROM_STDIN = [
    "echo 'rm x' | bash -",
    "echo 'rm x' | sh -",
    "echo 'rm x' | bash --norc -",
    "echo 'rm x' | bash -o posix",
    "echo 'rm x' | bash -O extglob",
    "echo 'rm x' | bash +O extglob",
    "echo 'rm x' | bash -e -o pipefail",
]


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", [*FROM_STDIN, "bash - <<< 'rm x'", "bash -o posix <<< 'rm x'"])
def test_bash_runs_rm(sandbox_dir, command: str) -> None:  # noqa: F811
    assert ["rm", "x"] in _bash_runs(sandbox_dir, command), command


@pytest.mark.parametrize("command", FROM_STDIN)
def test_a_shell_reading_a_pipe_is_cannot_tell(command: str) -> None:
    assert cmd_any_result(command, RM) is None


@pytest.mark.parametrize(
    "command", ["bash - <<< 'rm x'", "bash -o posix <<< 'rm x'", "bash -co posix 'rm x'"]
)
def test_the_script_is_read(command: str) -> None:
    assert cmd_any_result(command, RM) is True


@pytest.mark.parametrize(
    "command",
    [
        "bash -o posix build.sh",
        "bash - build.sh",
        "bash -e -- build.sh",
        "su - root -c 'ls'",
        "bash -o errexit -c ls",
    ],
)
def test_script_files_and_inline_scripts_are_still_told(command: str) -> None:
    assert cmd_any_result(command, RM) is False
