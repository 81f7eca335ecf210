"""The README's two set-up commands are real: the test command is the one CI runs, the main job's
subcommand and flags exist in the CLI, and every command the README's table names exists."""

import re
import shlex
from pathlib import Path

import click
from click.testing import CliRunner

from agentguard.cli import main

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _setup_commands() -> list[str]:
    """The ```sh blocks of the "Set-up on a fresh machine" section, in order."""
    section = README.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    pytest_lines = [line.strip() for line in ci if "pytest" in line]
    assert pytest_lines == [_setup_commands()[1]]


def _main_job() -> list[str]:
    """The agentguard invocation in the first set-up command, as argv (shell words)."""
    parts = [shlex.split(p) for p in _setup_commands()[0].split("&&")]
    jobs = [p for p in parts if p and p[0] == "agentguard"]
    assert len(jobs) == 1, parts
    return jobs[0][1:]


def _help(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_main_job_command_exists_in_the_cli() -> None:
    argv = _main_job()
    assert isinstance(main, click.Group)
    options = {opt for p in main.params for opt in getattr(p, "opts", [])}
    top = _help()
    words = iter(argv)
    subcommand = None
    for word in words:
        if word.startswith("-"):
            assert word in options, f"{word} is not an option of agentguard"
            assert word in top
            next(words)  # its value (every global option takes one)
        else:
            subcommand = word
            break
    assert subcommand == "demo"
    assert subcommand in main.commands
    _help(subcommand)
    assert list(words) == []  # nothing after the subcommand that --help did not vouch for


def test_every_command_in_the_readme_table_exists() -> None:
    assert isinstance(main, click.Group)
    named = set(re.findall(r"^\| `agentguard ([a-z-]+)", README, flags=re.M))
    named |= set(re.findall(r", `agentguard ([a-z-]+)", README))
    assert {"demo", "policy", "audit", "sandbox", "mcp-proxy"} <= named
    assert named <= set(main.commands), named - set(main.commands)
