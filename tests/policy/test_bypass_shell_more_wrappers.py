"""More programs that run their arguments as a command, which the wrapper list did not peel:
``gosu root rm -rf x`` (and su-exec, common in container images), init shims (tini, dumb-init),
agents and sandboxes (ssh-agent, dbus-launch, bwrap, systemd-nspawn), moreutils (chronic, ifne),
entr, GNU parallel's sem, daemontools (envdir, setuidgid, softlimit): all asked, not denied."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import PERMISSIONS, decide

WRAPPED = [
    "gosu root rm -rf x",
    "su-exec root rm -rf x",
    "tini -- rm -rf x",
    "dumb-init rm -rf x",
    "ssh-agent rm -rf x",
    "dbus-launch --exit-with-session rm -rf x",
    "bwrap --bind / / rm -rf x",
    "systemd-nspawn -D / rm -rf x",
    "chronic rm -rf x",
    "ifne rm -rf x",
    "ls | entr rm -rf x",
    "sem rm -rf x",
    "envdir env rm -rf x",
    "setuidgid nobody rm -rf x",
    "softlimit -m 1000 rm -rf x",
    "gosu root git push",
]


@pytest.mark.parametrize("command", WRAPPED)
def test_default_policy_denies_the_wrapped_command(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY
