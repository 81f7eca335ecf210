"""Programs that run their arguments as a command, which the wrapper list still did not peel after
97ba10c: project runners agents use all the time (``uv run``, ``poetry run``, ``pipenv run``,
``bundle exec``, ``direnv exec``, ``dotenv --``), secret injectors (``aws-vault exec``, ``doppler
run``), eatmydata, toybox (as busybox), proot, s6-setuidgid, run-one, lckdo, with-lock-ex,
timelimit, cpulimit, trickle, nocache, tsocks, schedtool: ``uv run rm -rf x`` was asked, not denied."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import PERMISSIONS, decide

WRAPPED = [
    "uv run rm -rf x",
    "uv run --with requests -- rm -rf x",
    "poetry run rm -rf x",
    "pipenv run rm -rf x",
    "bundle exec rm -rf x",
    "direnv exec . rm -rf x",
    "dotenv -- rm -rf x",
    "aws-vault exec prod -- rm -rf x",
    "doppler run -- rm -rf x",
    "eatmydata rm -rf x",
    "toybox rm -rf x",
    "proot -0 rm -rf x",
    "s6-setuidgid nobody rm -rf x",
    "run-one rm -rf x",
    "lckdo /tmp/l rm -rf x",
    "with-lock-ex /tmp/l rm -rf x",
    "timelimit -t 5 rm -rf x",
    "cpulimit -l 50 -- rm -rf x",
    "trickle -d 10 rm -rf x",
    "nocache rm -rf x",
    "tsocks rm -rf x",
    "schedtool -B -e rm -rf x",
    "uv run git push",
]


@pytest.mark.parametrize("command", WRAPPED)
def test_default_policy_denies_the_wrapped_command(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


@pytest.mark.parametrize("command", ["uv run pytest -q", "poetry run python -m app", "bundle exec rake test"])
def test_plain_runs_are_still_asked(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.ASK
