"""Reloading on change: grants apply and stop at once; a broken edit fails closed until fixed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.errors import PolicyError
from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import decide

BASE = 'p, *, shell.run, *, ask\np, *, shell.run, cmd_any(command, "rm *"), deny'


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def setup(make_policy: Callable[..., Path], tmp_path: Path) -> tuple[PolicyEngine, Path, Path]:
    directory = make_policy(BASE)
    grants = tmp_path / "home" / "grants.csv"
    grants.parent.mkdir()
    engine = PolicyEngine.load(directory, workspace=tmp_path, extra_files=[grants])
    return engine, directory, grants


def test_unchanged_files_do_not_reload(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, _, _ = setup
    rules = engine.rules
    assert engine.refresh() is False
    assert engine.refresh() is False
    assert engine.rules is rules


def test_grant_appears_and_is_revoked(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, _, grants = setup
    assert decide(engine, "shell.run", command="make").effect is Effect.ASK
    _atomic_write(grants, '# granted by alice\np, coder, shell.run, cmd(command, "make*"), allow\n')
    assert engine.refresh() is True
    assert decide(engine, "shell.run", command="make test").effect is Effect.ALLOW
    assert decide(engine, "shell.run", "someone-else", command="make").effect is Effect.ASK
    assert decide(engine, "shell.run", command="make; rm -rf /").effect is Effect.DENY  # deny still wins
    _atomic_write(grants, "")
    assert engine.refresh() is True
    assert decide(engine, "shell.run", command="make test").effect is Effect.ASK
    grants.unlink()
    assert engine.refresh() is True
    assert decide(engine, "shell.run", command="make test").effect is Effect.ASK


def test_same_size_rewrite_is_noticed(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, _, grants = setup
    grants.write_text('p, coder, shell.run, eq(command, "aaaa"), allow\n')
    engine.refresh()
    assert decide(engine, "shell.run", command="aaaa").effect is Effect.ALLOW
    _atomic_write(grants, 'p, coder, shell.run, eq(command, "bbbb"), allow\n')  # same size, new inode
    assert engine.refresh() is True
    assert decide(engine, "shell.run", command="aaaa").effect is Effect.ASK
    assert decide(engine, "shell.run", command="bbbb").effect is Effect.ALLOW


def test_broken_edit_fails_closed_until_fixed(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, directory, _ = setup
    policy = directory / "policy.csv"
    _atomic_write(policy, BASE + "\np, *, fs.read, *, allow\n")
    assert engine.refresh() is True
    assert decide(engine, "fs.read").effect is Effect.ALLOW
    _atomic_write(policy, BASE + '\np, *, fs.read, path(path, "{workspace}/**", allow\n')
    assert engine.refresh() is True
    decision = decide(engine, "fs.read", path="x")
    assert decision.effect is Effect.DENY
    assert "policy.csv:3" in decision.reason
    assert "failing closed" in decision.reason
    assert isinstance(engine.load_error, PolicyError)
    assert engine.refresh() is False  # nothing changed since the failed attempt
    assert decide(engine, "shell.run", command="ls").effect is Effect.DENY
    _atomic_write(policy, BASE + "\np, *, fs.read, *, allow\n")
    assert engine.refresh() is True
    assert engine.load_error is None
    assert decide(engine, "fs.read").effect is Effect.ALLOW


def test_new_and_removed_csv_files_are_noticed(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, directory, _ = setup
    (directory / "zz-extra.csv").write_text("p, *, fs.list, *, allow\n")
    assert engine.refresh() is True
    assert decide(engine, "fs.list").effect is Effect.ALLOW
    (directory / "zz-extra.csv").unlink()
    assert engine.refresh() is True
    assert decide(engine, "fs.list").effect is Effect.DENY


def test_model_change_is_noticed(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, directory, _ = setup
    model = directory / "model.conf"
    good = model.read_text()
    _atomic_write(model, good.replace("r.act == p.act", "r.act == p.act || true"))
    assert engine.refresh() is True
    assert decide(engine, "shell.run", command="ls").effect is Effect.DENY
    assert engine.load_error is not None
    assert engine.load_error.file == "model.conf"
    _atomic_write(model, good)
    assert engine.refresh() is True
    assert decide(engine, "shell.run", command="ls").effect is Effect.ASK


def test_reload_raises_and_fails_closed(setup: tuple[PolicyEngine, Path, Path]) -> None:
    engine, directory, _ = setup
    (directory / "policy.csv").write_text("p, *, x, *, allowed\n")
    with pytest.raises(PolicyError, match=r"policy.csv:1"):
        engine.reload()
    assert engine.rules == ()
    assert decide(engine, "shell.run", command="ls").effect is Effect.DENY


def test_per_call_check_sees_grants_at_once_and_policy_edits_when_due(
    setup: tuple[PolicyEngine, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentguard.policy import _engine

    engine, directory, grants = setup
    monkeypatch.setattr(_engine, "POLICY_RECHECK_S", 3600.0)  # the directory is never due in this test
    assert engine.refresh_due() is False
    _atomic_write(grants, "p, *, shell.run, *, allow\n")
    assert engine.refresh_due() is True  # a grant (or its revocation) applies to the very next call
    assert decide(engine, "shell.run", command="ls").effect is Effect.ALLOW
    _atomic_write(grants, "")
    assert engine.refresh_due() is True
    assert decide(engine, "shell.run", command="ls").effect is Effect.ASK
    _atomic_write(directory / "policy.csv", "p, *, shell.run, *, deny\n")
    assert engine.refresh_due() is False  # hand edits wait for the next recheck...
    monkeypatch.setattr(_engine, "POLICY_RECHECK_S", 0.0)
    assert engine.refresh_due() is True  # ...and apply once it is due
    assert decide(engine, "shell.run", command="ls").effect is Effect.DENY
