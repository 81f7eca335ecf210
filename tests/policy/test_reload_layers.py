"""Reloading only what changed: grants as their own layer, per-file parse caching, background rebuilds.

Every incremental result is compared with a fresh ``PolicyEngine.load`` of the same files: the same
decisions (whole ``Decision`` objects), rules, files, grant problems and lint findings.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard.models import Decision, Effect, ToolCall
from agentguard.policy import PolicyEngine, _engine, _reload
from agentguard.policy._layers import BaseLayer

from .conftest import PERMISSIONS, decide

FILES = {
    "10-base.csv": "g, coder, dev\ng, dev, staff\np, staff, fs.read, *, allow\np, *, shell.run, *, ask\n",
    "20-deny.csv": 'p, *, shell.run, cmd_any(command, "rm *"), deny\n'
    'p, *, fs.*, glob(path, "/etc/**"), deny\n',
    "30-tail.csv": 'p, dev, fs.write, glob(path, "/tmp/**"), ask\np, *, net.*, *, ask\n',
}
CALLS = [
    ToolCall(agent=agent, tool=tool, arguments=arguments)
    for agent in ("coder", "reviewer", "ops")
    for tool, arguments in (
        ("fs.read", {"path": "/srv/a"}),
        ("fs.read", {"path": "/etc/passwd"}),
        ("fs.write", {"path": "/tmp/x"}),
        ("shell.run", {"command": "make test"}),
        ("shell.run", {"command": "rm -rf /"}),
        ("net.get", {"url": "https://example.org"}),
        ("db.drop", {}),
    )
]


def _write(path: Path, text: str) -> None:
    """Atomically, as an editor or the approval store does (a new inode every time)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Grants:
    """A grant store of record: the text and a version that changes with it."""

    label = "<home>/grants.csv"

    def __init__(self) -> None:
        self.text = ""
        self.version = 0

    def set(self, text: str) -> None:
        self.text = text
        self.version += 1

    def grants_version(self) -> object:
        return self.version

    def grants_snapshot(self) -> tuple[object, str]:
        return self.version, self.text


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "permissions"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    for name, text in FILES.items():
        (directory / name).write_text(text)
    (tmp_path / "home").mkdir()
    return directory, tmp_path / "home" / "grants.csv"


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_engine, "POLICY_RECHECK_S", 0.0)  # every per-call check looks at the files


def _engine_for(directory: Path, grants_file: Path, store: Grants | None) -> PolicyEngine:
    return PolicyEngine.load(directory, workspace=directory, extra_files=[grants_file], grants=store)


def _same_as_fresh(engine: PolicyEngine, directory: Path, grants_file: Path, store: Grants | None) -> None:
    fresh = _engine_for(directory, grants_file, store)
    assert engine.load_error == fresh.load_error
    assert engine.rules == fresh.rules
    assert engine.files == fresh.files
    assert engine.role_links == fresh.role_links
    assert engine.grant_problems == fresh.grant_problems
    assert engine.lint() == fresh.lint()
    for call in CALLS:
        assert engine.decide(call) == fresh.decide(call), call


def _base(engine: PolicyEngine) -> BaseLayer:
    state = engine._state
    assert state is not None
    return state.base


GRANT_STEPS = [
    # (grants file text, grant store text, what the coder's `make test` gets)
    ('p, coder, shell.run, cmd(command, "make*"), allow\n', "", Effect.ALLOW),
    ("", 'p, coder, shell.run, cmd(command, "make*"), allow\n', Effect.ALLOW),
    ("p, coder, shell.run, *, allow\n", "p, coder, fs.write, *, allow\n", Effect.ALLOW),
    ("", "", Effect.ASK),  # revoked in both: applies no more at the very next call
    ("p, coder, shell.run, *, allow\ng, coder, admin\np, coder, shell.run, *, allowed\n", "", Effect.ALLOW),
    ("", "p, nobody, fs.read, *, deny\np, coder, shell.run, bad(, allow\n", Effect.ASK),
]


@pytest.mark.parametrize("step", range(len(GRANT_STEPS)))
def test_a_grant_change_rebuilds_only_the_grant_layer(
    layout: tuple[Path, Path], no_wait: None, step: int
) -> None:
    directory, grants_file = layout
    store = Grants()
    engine = _engine_for(directory, grants_file, store)
    base = _base(engine)
    parsed = engine._reloader._base_cache.parsed
    for file_text, store_text, want in GRANT_STEPS[: step + 1]:
        _write(grants_file, file_text)
        store.set(store_text)
        assert engine.refresh_due() is True
        assert decide(engine, "shell.run", command="make test").effect is want
    assert _base(engine) is base  # the policy files were not read, parsed or indexed again
    assert engine._reloader._base_cache.parsed == parsed
    _same_as_fresh(engine, directory, grants_file, store)


def test_skipped_grants_are_reported_once_each(layout: tuple[Path, Path]) -> None:
    directory, _ = layout
    seen: list[str] = []
    store = Grants()
    engine = PolicyEngine.load(
        directory, workspace=directory, grants=store, on_grant_problem=lambda f: seen.append(f.message)
    )
    store.set("p, coder, shell.run, *, allowed\n")
    assert engine.refresh() is True
    assert [p.code for p in engine.grant_problems] == ["grant-skipped"]
    store.set("p, coder, shell.run, *, allowed\np, coder, fs.read, *, allow\n")
    assert engine.refresh() is True
    assert len(seen) == 1  # the same problem is not reported again
    assert engine.load_error is None


EDITS = [
    # (file, new text appended) -- each edit re-parses exactly that one file
    ("10-base.csv", "p, *, db.*, *, deny\n"),
    ("20-deny.csv", 'p, coder, shell.run, cmd(command, "make*"), allow\n'),
    ("30-tail.csv", "p, ops, net.get, *, allow\n"),
    ("10-base.csv", "# a comment only\n"),
]


@pytest.mark.parametrize(("name", "line"), EDITS)
def test_an_edit_reparses_only_that_file(layout: tuple[Path, Path], name: str, line: str) -> None:
    directory, grants_file = layout
    engine = _engine_for(directory, grants_file, None)
    cache = engine._reloader._base_cache
    parsed = cache.parsed
    _write(directory / name, FILES[name] + line)
    assert engine.refresh() is True
    assert cache.parsed == parsed + 1
    _same_as_fresh(engine, directory, grants_file, None)


def test_a_new_file_before_the_others_shifts_them_without_parsing_them(layout: tuple[Path, Path]) -> None:
    directory, grants_file = layout
    engine = _engine_for(directory, grants_file, None)
    cache = engine._reloader._base_cache
    parsed = cache.parsed
    (directory / "00-first.csv").write_text("p, *, db.drop, *, deny\n")
    assert engine.refresh() is True
    assert cache.parsed == parsed + 1
    assert decide(engine, "db.drop").effect is Effect.DENY
    _same_as_fresh(engine, directory, grants_file, None)
    (directory / "00-first.csv").unlink()
    assert engine.refresh() is True
    assert cache.parsed == parsed + 1  # the others were kept; renumbered back
    _same_as_fresh(engine, directory, grants_file, None)


BROKEN = [
    ("10-base.csv", "p, *, fs.read, *, allowed\n", "10-base.csv:5"),
    ("20-deny.csv", 'p, *, shell.run, cmd_any(command, "rm *", deny\n', "20-deny.csv:3"),
    ("30-tail.csv", "g, coder\n", "30-tail.csv:3"),
]


@pytest.mark.parametrize(("name", "line", "where"), BROKEN)
def test_an_error_in_an_edited_file_fails_closed(
    layout: tuple[Path, Path], name: str, line: str, where: str
) -> None:
    directory, grants_file = layout
    engine = _engine_for(directory, grants_file, None)
    _write(directory / name, FILES[name] + line)
    assert engine.refresh() is True
    assert engine.load_error is not None
    assert engine.rules == ()
    for call in CALLS:
        decision = engine.decide(call)
        assert decision.effect is Effect.DENY
        assert where in decision.reason
        assert "failing closed" in decision.reason
    _write(directory / name, FILES[name])
    assert engine.refresh() is True
    assert engine.load_error is None
    _same_as_fresh(engine, directory, grants_file, None)


class Gate:
    """Every policy rebuild runs in the background; each base build, once it has read the files,
    waits for ``release``. ``builds`` counts them."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.builds = 0


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    real = _reload.build_base

    def build(*args: Any, **kwargs: Any) -> BaseLayer:
        built = real(*args, **kwargs)
        gate.builds += 1
        gate.started.set()
        assert gate.release.wait(10)
        return built

    monkeypatch.setattr(_reload, "BACKGROUND_RULES", 0)
    monkeypatch.setattr(_reload, "build_base", build)
    yield gate
    gate.release.set()


def _make_test(engine: PolicyEngine) -> Decision:
    return decide(engine, "shell.run", command="make test")


def test_a_background_rebuild_serves_the_old_policy_until_the_swap(
    layout: tuple[Path, Path], no_wait: None, gated: Gate
) -> None:
    started, release = gated.started, gated.release
    directory, grants_file = layout
    release.set()  # the first load is not held
    engine = _engine_for(directory, grants_file, None)
    release.clear()
    started.clear()
    assert _make_test(engine).effect is Effect.ASK
    _write(directory / "20-deny.csv", FILES["20-deny.csv"] + "p, *, shell.run, *, deny\n")
    assert engine.refresh_due() is True
    assert started.wait(10)
    assert _make_test(engine).effect is Effect.ASK  # the old policy decides meanwhile
    _write(grants_file, "p, coder, fs.write, *, allow\n")  # a grant is never deferred
    assert engine.refresh_due() is True
    assert decide(engine, "fs.write", path="/srv/x").effect is Effect.ALLOW
    assert engine.wait_reloaded(0.05) is False
    release.set()
    assert engine.wait_reloaded(10) is True
    assert _make_test(engine).effect is Effect.DENY
    assert decide(engine, "fs.write", path="/srv/x").effect is Effect.ALLOW  # the grant survived the swap
    _same_as_fresh(engine, directory, grants_file, None)


def test_an_edit_during_a_background_rebuild_starts_another(
    layout: tuple[Path, Path], no_wait: None, gated: Gate
) -> None:
    started, release = gated.started, gated.release
    directory, grants_file = layout
    release.set()  # the first load is not held
    engine = _engine_for(directory, grants_file, None)
    release.clear()
    started.clear()
    policy = directory / "30-tail.csv"
    _write(policy, FILES["30-tail.csv"] + "p, *, shell.run, *, deny\n")
    assert engine.refresh_due() is True
    assert started.wait(10)
    _write(
        policy, FILES["30-tail.csv"] + "p, coder, fs.list, *, allow\n"
    )  # after the first build read the files
    assert engine.refresh_due() is True  # one is running: it runs again when done
    builds = gated.builds
    release.set()
    assert engine.wait_reloaded(10) is True
    assert gated.builds == builds + 1  # the edit after the first build's read was built too
    assert decide(engine, "fs.list").effect is Effect.ALLOW  # the second edit is in force...
    assert _make_test(engine).effect is Effect.ASK  # ...not the first
    _same_as_fresh(engine, directory, grants_file, None)


def test_a_failed_background_rebuild_fails_closed(
    layout: tuple[Path, Path], no_wait: None, gated: Gate
) -> None:
    started, release = gated.started, gated.release
    directory, grants_file = layout
    release.set()
    engine = _engine_for(directory, grants_file, None)
    _write(directory / "10-base.csv", FILES["10-base.csv"] + "p, *, fs.read, *, allowed\n")
    assert engine.refresh_due() is True
    assert engine.wait_reloaded(10) is True
    assert started.is_set()
    decision = _make_test(engine)
    assert decision.effect is Effect.DENY
    assert "10-base.csv:5" in decision.reason
    _write(directory / "10-base.csv", FILES["10-base.csv"])
    assert engine.refresh_due() is True
    assert engine.wait_reloaded(10) is True
    assert engine.load_error is None
    assert _make_test(engine).effect is Effect.ASK


def test_a_small_policy_is_rebuilt_before_the_call(layout: tuple[Path, Path], no_wait: None) -> None:
    directory, grants_file = layout
    engine = _engine_for(directory, grants_file, None)
    _write(directory / "20-deny.csv", FILES["20-deny.csv"] + "p, *, shell.run, *, deny\n")
    assert engine.refresh_due() is True
    assert engine._reloader._worker is None
    assert _make_test(engine).effect is Effect.DENY


LINES = [
    "p, {who}, {tool}, *, {effect}",
    'p, {who}, {tool}, eq(force, "true"), {effect}',
    'p, {who}, {tool}, glob(path, "/etc/**"), {effect}',
    "p, {who}, {tool}, lt(n, 5), {effect}",
]
TOOLS = ["fs.read", "fs.*", "shell.run", "*.run", "net.get", "db.drop", "*"]
WHO = ["*", "coder", "dev", "staff", "ops"]


def _line(rng: random.Random, effects: tuple[str, ...]) -> str:
    return rng.choice(LINES).format(who=rng.choice(WHO), tool=rng.choice(TOOLS), effect=rng.choice(effects))


def _random_calls(rng: random.Random, n: int) -> list[ToolCall]:
    tools = ["fs.read", "fs.write", "shell.run", "x.run", "net.get", "db.drop", "other"]
    return [
        ToolCall(
            agent=rng.choice(["coder", "ops", "reviewer"]),
            tool=rng.choice(tools),
            arguments={
                "force": rng.choice(["true", "false"]),
                "path": rng.choice(["/etc/x", "/srv/y"]),
                "n": rng.randrange(10),
            },
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(4))
def test_incremental_reloads_decide_as_a_fresh_load(
    layout: tuple[Path, Path], no_wait: None, seed: int
) -> None:
    rng = random.Random(seed)
    directory, grants_file = layout
    store = Grants()
    engine = _engine_for(directory, grants_file, store)
    texts = dict(FILES)
    for _ in range(12):
        target = rng.choice([*texts, "grants-file", "grant-store", "new-file"])
        if target == "grants-file":
            _write(
                grants_file, "\n".join(_line(rng, ("allow", "ask", "deny")) for _ in range(rng.randrange(4)))
            )
        elif target == "grant-store":
            store.set("\n".join(_line(rng, ("allow", "deny")) for _ in range(rng.randrange(4))))
        else:
            name = f"{rng.randrange(100):02d}-new.csv" if target == "new-file" else target
            texts[name] = (
                texts.get(name, "") + "\n".join(_line(rng, ("allow", "ask", "deny")) for _ in range(3)) + "\n"
            )
            _write(directory / name, texts[name])
        assert engine.refresh_due() is True
        fresh = _engine_for(directory, grants_file, store)
        assert engine.rules == fresh.rules
        for call in _random_calls(rng, 40):
            assert engine.decide(call) == fresh.decide(call), call


def test_lint_sees_the_grants_after_a_grant_only_rebuild(layout: tuple[Path, Path], no_wait: None) -> None:
    directory, grants_file = layout
    _write(directory / "10-base.csv", FILES["10-base.csv"] + "p, *, db.*, *, deny\n")
    engine = _engine_for(directory, grants_file, None)
    assert not any(f.file == str(grants_file) for f in engine.lint())
    _write(grants_file, "p, coder, db.drop, *, allow\n")  # can never apply: the deny covers it
    assert engine.refresh_due() is True
    assert [f.line for f in engine.lint() if f.file == str(grants_file)] == [1]
    _same_as_fresh(engine, directory, grants_file, None)


def test_a_grant_written_as_a_background_rebuild_starts_applies_at_once(
    layout: tuple[Path, Path], no_wait: None, gated: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, grants_file = layout
    gated.release.set()
    engine = _engine_for(directory, grants_file, None)
    gated.release.clear()
    gated.started.clear()
    real = _reload.policy_files

    def listing(*args: Any) -> Any:  # the rebuild lists the files: an approver writes a grant just then
        if threading.current_thread().name == "agentguard-policy-reload":
            _write(grants_file, "p, coder, shell.run, *, allow\n")
        return real(*args)

    monkeypatch.setattr(_reload, "policy_files", listing)
    _write(directory / "30-tail.csv", FILES["30-tail.csv"] + "p, *, fs.list, *, allow\n")
    assert engine.refresh_due() is True
    assert gated.started.wait(10)
    assert engine.refresh_due() is True  # the grant is seen while the policy is still being rebuilt
    assert _make_test(engine).effect is Effect.ALLOW
    assert decide(engine, "fs.list").effect is Effect.DENY  # the edit is not in force yet
    gated.release.set()
    assert engine.wait_reloaded(10) is True
    assert decide(engine, "fs.list").effect is Effect.ALLOW
    _same_as_fresh(engine, directory, grants_file, None)
