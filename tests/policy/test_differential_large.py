"""The rule index changes nothing: 100,000 random requests decided by agentguard and by a reference.

Two references, both written from the documented semantics (docs/policy.md, "The model" and
"Precedence") and never from the index:

* stock ``casbin.Enforcer`` with ``engine.casbin_functions()`` registered, for a subset of the
  requests on small policies (it is slow: every rule on every request);
* a brute-force evaluator for every request: it walks every rule in file order, asks casbin's own
  role manager for ``g(agent, subject)`` (a grant: ``*`` or the agent's own name) and the tool
  matcher for the glob, and applies the
  precedence rule (deny > granted allow > ask > allow > default). It reports the deciding rule and
  every matching rule, so ``Decision.rule`` and ``Decision.matched`` are compared too.

The brute-force evaluator is itself checked against stock casbin on the subset, and its glob
matcher against casbin's ``glob_match`` on every (pattern, name) pair it is used for.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import casbin
from casbin.rbac.default_role_manager import RoleManager
from casbin.util import glob_match

from agentguard.models import Decision, ToolCall, canonical_tool_name
from agentguard.policy import PolicyEngine
from agentguard.policy._loader import tool_pattern

from .conftest import PERMISSIONS

# ---------------------------------------------------------------- generated policies

VERBS = ["read", "write", "list", "delete", "exec", "get", "post", "search"]
CONDS: list[tuple[str, int]] = [
    ("*", 40),
    ('eq(mode, "a")', 8),
    ('oneof(mode, "a", "b")', 6),
    ("gt(n, 3)", 6),
    ("lt(n, 2)", 4),
    ('!eq(mode, "b")', 4),
    ('path(path, "{workspace}/**")', 5),
    ('cmd(command, "git status*")', 3),
    ('cmd_any(command, "rm *")', 2),
    ('url(url, "https://*.example.com")', 4),
    ('regex(mode, "[ab]")', 4),
    ('glob(name, "*.py")', 4),
    ('eq(mode, "a") || lt(n, 2)', 4),
    ('sandbox("default")', 2),
    ('timeout(60) && eq(mode, "c")', 2),
    ('before("2000-01-01T00:00:00Z")', 1),
]


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


@dataclass(frozen=True)
class ScalePolicy:
    lines: list[str]
    agents: list[str]
    tools: list[str]


def scale_policy(n_rules: int, seed: int = 0) -> ScalePolicy:
    """A policy shaped like a big deployment: many services and roles, mostly exact tool names,
    some per-service globs, MCP namespaces, a few broad globs; conditions on a third of the rules."""
    rng = random.Random(seed)
    n_svc = max(2, n_rules // 10)
    roles = [f"role{i}" for i in range(max(2, n_rules // 50))]
    agents = [f"agent{i}" for i in range(50)]
    lines: list[str] = []
    for agent in agents:
        lines.extend(f"g, {agent}, {r}" for r in rng.sample(roles, min(len(roles), rng.randint(1, 3))))
    lines.extend(f"g, role{i}, role{rng.randrange(i)}" for i in range(1, len(roles)) if rng.random() < 0.3)
    tools: set[str] = set()
    for _ in range(n_rules):
        x = rng.random()
        sub = "*" if x < 0.1 else (rng.choice(agents) if x < 0.2 else rng.choice(roles))
        k = rng.randrange(n_svc)
        verb = rng.choice(VERBS)
        y = rng.random()
        if y < 0.70:
            tool = f"svc{k}.{verb}"
            tools.add(tool)
        elif y < 0.80:
            tool = f"svc{k}.*"
            tools.add(f"svc{k}.{verb}")
        elif y < 0.88:
            tool = f"mcp/srv{k}/{verb}"
            tools.add(tool)
        elif y < 0.93:
            tool = f"mcp/srv{k}/*"
            tools.add(f"mcp/srv{k}/{verb}")
        elif y < 0.96:
            tool = f"svc{k}.[rw]*"
            tools.add(f"svc{k}.read")
        elif y < 0.99:
            tool = f"svc{k}.?et"
            tools.add(f"svc{k}.get")
        elif y < 0.995:
            tool = f"mcp/srv{k}/**"
        else:
            tool = rng.choice(["*.read", "mcp/**", "svc1*.get", "*"])
            sub = rng.choice(roles)
        eff = _weighted(rng, [("allow", 60), ("ask", 25), ("deny", 15)])
        lines.append(f"p, {sub}, {tool}, {_weighted(rng, CONDS)}, {eff}")
    rng.shuffle(lines)
    return ScalePolicy(lines, agents, sorted(tools))


def random_args(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if rng.random() < 0.8:
        args["mode"] = rng.choice(["a", "b", "c", 1, None])
    if rng.random() < 0.7:
        args["n"] = rng.choice([0, 1, 2, 3, 4, 5, 3.5, "4", True])
    if rng.random() < 0.3:
        args["path"] = rng.choice(["src/x.py", "../x", "/etc/passwd", "."])
    if rng.random() < 0.2:
        args["command"] = rng.choice(
            ["git status", "git status; rm -rf x", "ls", "rm x", "$X -rf x", "ls <<EOF\nx\nEOF\n"]
        )
    if rng.random() < 0.2:
        args["url"] = rng.choice(["https://a.example.com/x", "https://example.com"])
    if rng.random() < 0.3:
        args["name"] = rng.choice(["a.py", "b.txt", "d/c.py"])
    return args


# Small policies use a tight vocabulary so rules collide often, with the tool-name shapes where the
# index could go wrong: slashes (casbin treats // as /), trailing slashes, "a/**" matching "a",
# "*/x" (casbin rewrites it), classes, negated classes and "?".
SMALL_AGENTS = ["a0", "a1", "a2", "a3"]
SMALL_ROLES = ["r0", "r1", "r2", "r3", "r4"]
SMALL_PATTERNS = [
    "*", "**", "fs.*", "fs.read", "fs.read/", "fs.read/**", "http.*", "*.read", "shell.run", "mcp/*",
    "mcp/**", "mcp//*", "mcp/*/read", "mcp/**/read", "mcp/fs/read", "mcp/fs", "*/read", "**/read",
    "fs.[rw]*", "fs.[!r]*", "?s.list", "x", "svc1*", "svc1?.get", "s?c1.*", "[fm]*",
]  # fmt: skip
SMALL_TOOLS = [
    "fs.read", "fs.write", "fs.list", "shell.run", "http.get", "x", "FS.Read", "mcp", "mcp/",
    "mcp/fs", "mcp/fs/read", "mcp//fs/read", "mcp/fs//read", "mcp/fs/read/", "mcp/fs/x/read",
    "fs.read/", "fs.read//", "fs.read/x", "/read", "//read", "read", "svc1.get", "svc12.get",
    "svc1", "s.list", "fs.", "a//b",
]  # fmt: skip


def small_policy(rng: random.Random) -> tuple[list[str], list[str]]:
    lines = []
    for _ in range(rng.randint(1, 30)):
        sub = rng.choice(["*", *SMALL_AGENTS, *SMALL_ROLES, *SMALL_ROLES])
        cond = _weighted(rng, CONDS)
        eff = rng.choice(["allow", "ask", "deny"])
        lines.append(f"p, {sub}, {rng.choice(SMALL_PATTERNS)}, {cond}, {eff}")
    lines.extend(f"g, {rng.choice(SMALL_AGENTS + SMALL_ROLES)}, {rng.choice(SMALL_ROLES)}" for _ in range(6))
    rng.shuffle(lines)
    grants = [
        f"p, {rng.choice(['*', *SMALL_AGENTS, *SMALL_ROLES])}, {rng.choice(SMALL_PATTERNS)}, "
        f"{_weighted(rng, CONDS)}, allow"
        for _ in range(rng.randint(0, 4))
    ]
    return lines, grants


# ---------------------------------------------------------------- the brute-force reference


@dataclass(frozen=True)
class RefRule:
    file: str
    line: int
    subject: str
    tool: str
    cond: str
    effect: str
    grant: bool


class BruteForce:
    """Every rule, every request, in file order: the documented semantics and nothing cleverer."""

    def __init__(self, rules: list[RefRule], role_manager: Any, args_match: Callable[..., bool]) -> None:
        self.rules = rules
        self.rm = role_manager
        self.args_match = args_match
        self.patterns = {r.tool: tool_pattern(r.tool) for r in rules}
        self.links: dict[tuple[str, str], bool] = {}
        self.by_tool: dict[str, list[RefRule]] = {}
        self.globs_used: set[tuple[str, str]] = set()

    def _link(self, agent: str, rule: RefRule) -> bool:
        subject = rule.subject
        if rule.grant:  # a grant binds the agent it names, never the members of a role of that name
            return subject == "*" or subject.lower() == agent.lower()
        key = (agent, subject)
        found = self.links.get(key)
        if found is None:
            found = self.links[key] = subject == "*" or bool(self.rm.has_link(agent, subject))
        return found

    def _tool_rules(self, tool: str) -> list[RefRule]:
        # memoised by the exact tool name, computed by testing every rule's pattern
        found = self.by_tool.get(tool)
        if found is None:
            found = self.by_tool[tool] = [r for r in self.rules if self.patterns[r.tool].matches(tool)]
            self.globs_used.update((pattern, tool) for pattern in self.patterns)
        return found

    def decide(
        self, agent: str, tool: str, args: dict[str, Any]
    ) -> tuple[str, RefRule | None, list[RefRule]]:
        matched = [
            r
            for r in self._tool_rules(tool)
            if self._link(agent, r) and self.args_match(args, r.cond, r.effect)
        ]
        for effect, grant_only in (("deny", False), ("allow", True), ("ask", False), ("allow", False)):
            for rule in matched:
                if rule.effect == effect and (rule.grant or not grant_only):
                    return effect, rule, matched
        return "deny", None, matched


def _stock(model: Path, csv: Path, engine: PolicyEngine) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(model), str(csv))
    for name, fn in engine.casbin_functions().items():
        enforcer.add_function(name, fn)
    return enforcer


def _casbin_effect(stock: casbin.Enforcer, grants: casbin.Enforcer | None, req: tuple[Any, ...]) -> str:
    if stock.enforce(*req, "deny"):
        return "deny"
    if grants is not None and grants.enforce(*req, "allow"):
        return "allow"
    for effect in ("ask", "allow"):
        if stock.enforce(*req, effect):
            return effect
    return "deny"


class Case:
    """One generated policy on disk, loaded by agentguard, by stock casbin and by the brute force."""

    def __init__(
        self, root: Path, name: str, lines: list[str], grants: list[str], rng: random.Random
    ) -> None:
        directory = root / name
        directory.mkdir()
        shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
        self.model = directory / "model.conf"
        split = rng.randint(0, len(lines))
        rules: list[RefRule] = []
        for file_name, body in (("a.csv", ["# first", *lines[:split]]), ("b.csv", lines[split:])):
            (directory / file_name).write_text("\n".join(body) + "\n")
            rules.extend(_ref_rules(file_name, body, grant=False))
        extra: list[Path] = []
        if grants:
            grants_file = root / f"{name}-grants.csv"
            grants_file.write_text("\n".join(grants) + "\n")
            extra = [grants_file]
            rules.extend(_ref_rules(str(grants_file), grants, grant=True))
        self.engine = PolicyEngine.load(directory, workspace=root / "ws", extra_files=extra)
        self.files = {
            "plain": _write(root / f"{name}-plain.csv", lines),
            "all": _write(root / f"{name}-all.csv", lines + grants),
            "grants": _write(root / f"{name}-grants-ref.csv", grants),  # no role links: grants are exact
        }
        self.has_grants = bool(grants)
        roles = RoleManager(MAX_HIERARCHY)  # casbin's own role manager, as its enforcer configures it
        for link in lines:
            if link.startswith("g,"):
                roles.add_link(*(part.strip() for part in link.split(",")[1:]))
        self.brute = BruteForce(rules, roles, self.engine.casbin_functions()["argsMatch"])

    def stock(self) -> tuple[casbin.Enforcer, casbin.Enforcer | None]:
        """Stock enforcers: the directory's rules, and the grant rules alone (no role links: exact)."""
        plain = _stock(self.model, self.files["plain"], self.engine)
        grants = _stock(self.model, self.files["grants"], self.engine) if self.has_grants else None
        return plain, grants

    def check(self, agent: str, tool: str, args: dict[str, Any]) -> tuple[Decision, str]:
        """Decide with agentguard, compare with the brute force in full; return both."""
        decision = self.engine.decide(ToolCall(agent=agent, tool=tool, arguments=args))
        want, rule, matched = self.brute.decide(agent, canonical_tool_name(tool), args)
        context = (agent, tool, args, decision.reason)
        assert decision.effect.value == want, context
        if rule is None:
            assert decision.rule is None, context
        else:
            assert decision.rule is not None, context
            assert (decision.rule.file, decision.rule.line) == (rule.file, rule.line), context
        assert [(r.file, r.line) for r in decision.matched] == [(r.file, r.line) for r in matched], context
        return decision, want


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _ref_rules(label: str, body: list[str], *, grant: bool) -> list[RefRule]:
    out = []
    for number, text in enumerate(body, start=1):
        if text.startswith("p,"):
            _, sub, tool, cond, eff = (part.strip() for part in _split(text))
            out.append(RefRule(label, number, sub, tool, cond, eff, grant))
    return out


def _split(line: str) -> list[str]:
    """Casbin's comma split: commas inside brackets stay in the column."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(line):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(line[start:i])
            start = i + 1
    parts.append(line[start:])
    return parts


# ---------------------------------------------------------------- the tests

SMALL_POLICIES, SMALL_REQUESTS, CASBIN_PER_POLICY, CASBIN_POLICIES = 250, 240, 12, 250
SCALE = [(300, 8_000), (1_000, 8_000), (3_000, 12_000), (10_000, 12_000)]
MAX_HIERARCHY = 10  # casbin.Enforcer's default role manager depth
TOTAL = SMALL_POLICIES * SMALL_REQUESTS + sum(n for _, n in SCALE)


def _weird(rng: random.Random, tool: str) -> str:
    """Spellings of ``tool`` that casbin's matcher treats specially (or upper case)."""
    roll = rng.random()
    if roll < 0.05:
        return tool.replace("/", "//")
    if roll < 0.08:
        return tool + "/"
    if roll < 0.10:
        return tool.upper()
    return tool


def test_hundred_thousand_requests_agree(tmp_path: Path) -> None:
    assert TOTAL >= 100_000
    (tmp_path / "ws").mkdir()
    rng = random.Random(20260601)

    compared = casbin_compared = 0
    effects: dict[str, int] = {"allow": 0, "ask": 0, "deny": 0}
    for number in range(SMALL_POLICIES):
        lines, grants = small_policy(rng)
        case = Case(tmp_path, f"s{number}", lines, grants, rng)
        stock, stock_grants = case.stock() if number < CASBIN_POLICIES else (None, None)
        for i in range(SMALL_REQUESTS):
            agent = rng.choice([*SMALL_AGENTS, *SMALL_ROLES, "stranger"])
            tool = rng.choice(SMALL_TOOLS)
            args = random_args(rng)
            _, want = case.check(agent, tool, args)
            effects[want] += 1
            compared += 1
            if stock is not None and i < CASBIN_PER_POLICY:
                assert _casbin_effect(stock, stock_grants, (agent, canonical_tool_name(tool), args)) == want
                casbin_compared += 1
        _globs_agree_with_casbin(case.brute)
    for size, requests in SCALE:
        policy = scale_policy(size, seed=size)
        grants = [f"p, {rng.choice(policy.agents)}, {rng.choice(policy.tools)}, *, allow" for _ in range(20)]
        case = Case(tmp_path, f"scale{size}", policy.lines, grants, rng)
        # a working set: agents use some tools over and over, with fresh arguments
        tools = [_weird(rng, t) for t in rng.sample(policy.tools, min(150, len(policy.tools)))]
        pairs = [(rng.choice(policy.agents), rng.choice(tools)) for _ in range(600)]
        pairs += [("stranger", "svc1.read"), (policy.agents[0], "unknown.tool")]
        for _ in range(requests):
            agent, tool = rng.choice(pairs)
            _, want = case.check(agent, tool, random_args(rng))
            effects[want] += 1
            compared += 1
        assert len(case.engine.rules) == size + len(grants)
    assert compared == TOTAL
    assert casbin_compared >= 3_000
    assert min(effects.values()) > 5_000, effects


_GLOBS_CHECKED: set[tuple[str, str]] = set()


def _globs_agree_with_casbin(brute: BruteForce) -> None:
    """The brute force's glob matcher is casbin's ``glob_match`` on every pair it looked at."""
    for pattern, tool in brute.globs_used - _GLOBS_CHECKED:
        _GLOBS_CHECKED.add((pattern, tool))
        assert brute.patterns[pattern].matches(tool) == glob_match(tool, pattern), (pattern, tool)
