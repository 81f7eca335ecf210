"""agentguard's decisions == stock pycasbin's on the same files, over random policies and requests.

The reference is computed the way the model defines it: deny if ``enforce(..., "deny")`` else ask if
``enforce(..., "ask")`` else allow if ``enforce(..., "allow")`` else the default. Grants (extra files)
are checked against a second stock enforcer over the grant file alone, without the policy's role links
(a grant binds the agent it names, not the members of a role of that name): a granted allow settles an ask.
"""

from __future__ import annotations

import itertools
import random
import shutil
import time
from pathlib import Path
from typing import Any

import casbin
import pytest
from casbin.util import glob_match

from agentguard.models import Effect, ToolCall, canonical_tool_name
from agentguard.policy import PolicyEngine
from agentguard.policy._loader import ToolPattern

from .conftest import PERMISSIONS

AGENTS = ["a0", "a1", "a2", "a3"]
ROLES = ["r0", "r1", "r2", "r3", "r4"]
TOOLS = [
    "fs.read",
    "fs.write",
    "fs.list",
    "shell.run",
    "http.get",
    "http.post",
    "python.exec",
    "mcp/fs/read",
    "x",
    "FS.Read",
]
TOOL_PATTERNS = [
    "*",
    "**",
    "fs.*",
    "fs.read",
    "http.*",
    "*.read",
    "shell.run",
    "mcp/*",
    "mcp/**",
    "fs.[rw]*",
    "?s.list",
    "*/read",
    "x",
]
CONDS = [
    "*",
    'eq(mode, "a")',
    'oneof(mode, "a", "b")',
    "gt(n, 3)",
    '!eq(mode, "b")',
    'eq(mode, "a") || lt(n, 2)',
    'path(path, "{workspace}/**")',
    "secret(*)",
    'regex(mode, "[ab]")',
    'before("2000-01-01T00:00:00Z")',
    'before("2999-01-01T00:00:00Z") && eq(mode, "c")',
    'sandbox("default")',
    'cmd(command, "git status*")',
    'cmd_any(command, "rm *")',
    'url(url, "https://*.example.com")',
]  # fmt: skip
EFFECTS = ["allow", "ask", "deny"]
ROUNDS, REQUESTS = 25, 80  # 2,000 requests, each checked against up to four stock enforce calls


def _random_policy(rng: random.Random) -> tuple[list[str], list[str]]:
    lines = []
    for _ in range(rng.randint(1, 25)):
        sub = rng.choice(["*", *AGENTS, *ROLES, *ROLES])
        lines.append(f"p, {sub}, {rng.choice(TOOL_PATTERNS)}, {rng.choice(CONDS)}, {rng.choice(EFFECTS)}")
    for _ in range(rng.randint(0, 8)):
        lines.append(f"g, {rng.choice(AGENTS + ROLES)}, {rng.choice(ROLES)}")
    rng.shuffle(lines)
    grants = [
        f"p, {rng.choice(['*', *AGENTS, *ROLES])}, {rng.choice(TOOL_PATTERNS)}, {rng.choice(CONDS)}, allow"
        for _ in range(rng.randint(0, 4))
    ]
    return lines, grants


def _random_args(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if rng.random() < 0.8:
        args["mode"] = rng.choice(["a", "b", "c", 1, None])
    if rng.random() < 0.7:
        args["n"] = rng.choice([0, 1, 2, 3, 4, 5, 3.5, "4", True])
    if rng.random() < 0.5:
        args["path"] = rng.choice(["src/x.py", "../x", "/etc/passwd", ".", "a/../../b"])
    if rng.random() < 0.3:
        args["command"] = rng.choice(
            ["git status", "git status; rm -rf x", "ls", "echo $(rm x)", "$X x", "git status *"]
        )
    if rng.random() < 0.3:
        args["url"] = rng.choice(["https://a.example.com/x", "https://example.com", "http://a.example.com"])
    if rng.random() < 0.1:
        args["body"] = "token AKIAABCDEFGHIJKLMNOP"
    return args


def _stock(directory: Path, csv: Path, engine: PolicyEngine) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(directory / "model.conf"), str(csv))
    for name, fn in engine.casbin_functions().items():
        enforcer.add_function(name, fn)
    return enforcer


def _reference(
    stock: casbin.Enforcer, grants: casbin.Enforcer | None, agent: str, tool: str, args: dict[str, Any]
) -> tuple[str, list[str] | None]:
    ok, explain = stock.enforce_ex(agent, tool, args, "deny")
    if ok:
        return "deny", explain
    if grants is not None:
        ok, explain = grants.enforce_ex(agent, tool, args, "allow")
        if ok:
            return "allow", explain
    for effect in ("ask", "allow"):
        ok, explain = stock.enforce_ex(agent, tool, args, effect)
        if ok:
            return effect, explain
    return "deny", None


def test_tool_globs_agree_with_casbin_glob_match() -> None:
    names = [*TOOLS, "fs.", "fs.read/", "a//b", ".x", "mcp/fs", "x/y/read", "fs.read.x", "s.list", "fs.list"]
    for pattern in [*TOOL_PATTERNS, "fs.read/**", "*/**", "**/read", "mcp/fs/*"]:
        compiled = ToolPattern(pattern)
        for name in names:
            assert compiled.matches(name) == glob_match(name, pattern), (name, pattern)


def test_random_policies_agree_with_stock_casbin(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    started = time.monotonic()
    compared = 0
    effects_seen: dict[str, int] = {"allow": 0, "ask": 0, "deny": 0}
    for round_ in range(ROUNDS):
        lines, grant_lines = _random_policy(rng)
        directory = tmp_path / f"p{round_}"
        directory.mkdir()
        shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
        split = rng.randint(0, len(lines))
        # two files in the directory; stock casbin reads them concatenated in the same (sorted) order
        (directory / "a.csv").write_text("# first\n" + "\n".join(lines[:split]) + "\n")
        (directory / "b.csv").write_text("\n".join(lines[split:]) + "\n")
        combined = tmp_path / f"combined{round_}.csv"
        combined.write_text("\n".join(lines) + "\n")
        grants_file = tmp_path / f"grants{round_}.csv"
        extra: list[Path] = []
        if grant_lines:
            grants_file.write_text("\n".join(grant_lines) + "\n")
            extra = [grants_file]
        engine = PolicyEngine.load(directory, workspace=workspace, extra_files=extra)
        stock = _stock(directory, combined, engine)
        stock_grants = None
        if grant_lines:  # the grant rules alone, without role links: a grant binds the agent it names
            grants_ref = tmp_path / f"grants_ref{round_}.csv"
            grants_ref.write_text("\n".join(grant_lines) + "\n")
            stock_grants = _stock(directory, grants_ref, engine)
        for _ in range(REQUESTS):
            agent = rng.choice([*AGENTS, *ROLES, "stranger"])
            tool = rng.choice(TOOLS)
            args = _random_args(rng)
            decision = engine.decide(ToolCall(agent=agent, tool=tool, arguments=args))
            want, explain = _reference(stock, stock_grants, agent, canonical_tool_name(tool), args)
            assert decision.effect.value == want, (lines, grant_lines, agent, tool, args, decision.reason)
            effects_seen[want] += 1
            if explain:
                assert decision.rule is not None
                # casbin stops at the first matching rule of the effect it was asked about: the same rule
                assert decision.rule.text.split(", ", 1)[1].replace(" ", "") == ",".join(explain).replace(
                    " ", ""
                )
            else:
                assert decision.rule is None
            compared += 1
    assert compared == ROUNDS * REQUESTS
    assert min(effects_seen.values()) > 100, effects_seen
    assert time.monotonic() - started < 60


def test_role_depth_limit_matches_casbin(tmp_path: Path) -> None:
    chain = ["agent"] + [f"r{i}" for i in range(14)]
    lines = [f"g, {a}, {b}" for a, b in itertools.pairwise(chain)]
    lines += [f"p, {role}, t{i}, *, allow" for i, role in enumerate(chain)]
    directory = tmp_path / "deep"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text("\n".join(lines) + "\n")
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    stock = _stock(directory, directory / "policy.csv", engine)
    answers = []
    for i in range(len(chain)):
        ours = engine.decide(ToolCall(agent="agent", tool=f"t{i}")).effect is Effect.ALLOW
        assert ours == stock.enforce("agent", f"t{i}", {}, "allow"), i
        answers.append(ours)
    assert answers[0]
    assert answers[5]
    assert not answers[-1]  # the limit exists and both sides agree on it


@pytest.mark.parametrize("cycle", [["a", "b", "a"], ["a", "b", "c", "a"], ["a", "a"]])
def test_role_cycles_agree(tmp_path: Path, cycle: list[str]) -> None:
    lines = [f"g, {x}, {y}" for x, y in itertools.pairwise(cycle)]
    lines += ["p, b, fs.read, *, allow", "p, a, fs.write, *, ask"]
    directory = tmp_path / "cyc"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text("\n".join(lines) + "\n")
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    stock = _stock(directory, directory / "policy.csv", engine)
    for agent in {*cycle, "b"}:
        for tool in ("fs.read", "fs.write"):
            want, _ = _reference(stock, None, agent, tool, {})
            assert engine.decide(ToolCall(agent=agent, tool=tool)).effect.value == want
    assert any(f.code == "role-cycle" for f in engine.lint()) == (len(set(cycle)) > 1 or cycle == ["a", "a"])
