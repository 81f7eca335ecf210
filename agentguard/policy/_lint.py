"""Warnings about policies that load but probably do not say what their author meant."""

from __future__ import annotations

import re

from agentguard.models import Effect
from agentguard.policy._index import RuleIndex
from agentguard.policy._loader import LoadedPolicy
from agentguard.policy._toolpattern import tool_pattern
from agentguard.policy._types import LintFinding, RoleLink, Rule

__all__ = ["lint_loaded"]

_GLOB = re.compile(r"[*?\[\]{}\\]")


def _warn(rule_file: str, line: int, message: str, code: str) -> LintFinding:
    return LintFinding(severity="warning", file=rule_file, line=line, message=message, code=code)


def _tool_covers(outer: str, inner: str) -> bool:
    """Conservatively: does every tool name ``inner`` matches also match ``outer``?"""
    if outer == inner or outer == "**":
        return True
    if outer == "*":
        return "/" not in inner
    if not _GLOB.search(inner):
        return tool_pattern(outer).matches(inner)
    if outer.endswith("*") and not _GLOB.search(outer[:-1]):
        prefix = outer[:-1]
        return inner.startswith(prefix) and "/" not in inner[len(prefix) :]
    return False


def _subject_covers(outer: str, inner: str, roles: dict[str, frozenset[str]]) -> bool:
    if outer == "*":
        return True
    if inner == "*":
        return False
    return outer == inner or outer in roles.get(inner, frozenset())


class _Shadowers:
    """The unconditional ask/deny rules, indexed by tool pattern so each rule is checked against the
    few that could cover it (``policy check`` stays near-linear at 100,000 rules)."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.position = {id(rule): i for i, rule in enumerate(rules)}
        self.any_tool: list[Rule] = []
        self.exact: dict[str, list[Rule]] = {}
        self.prefix: dict[str, list[Rule]] = {}
        self.other: list[Rule] = []
        self._others: RuleIndex | None = None
        for rule in rules:
            if rule.effect is Effect.ALLOW or not rule.unconditional:
                continue
            tool = rule.tool
            if tool in ("*", "**"):
                self.any_tool.append(rule)
            elif not _GLOB.search(tool):
                self.exact.setdefault(tool, []).append(rule)
            elif tool.endswith("*") and not _GLOB.search(tool[:-1]):
                self.prefix.setdefault(tool[:-1], []).append(rule)
            else:
                self.other.append(rule)

    def _covering_tool(self, inner: str) -> list[Rule]:
        found = [*self.any_tool, *self.exact.get(inner, ())]
        for end in range(len(inner) + 1):  # `prefix*` patterns: one lookup per prefix of the name
            for outer in self.prefix.get(inner[:end], ()):
                if _tool_covers(outer.tool, inner):
                    found.append(outer)
        if not _GLOB.search(inner):  # other glob shapes can only be checked against a literal name
            if self._others is None:  # found by their literal fragments, as decisions find rules
                self._others = RuleIndex(self.other, {})
            found.extend(self._others.for_tool(inner))
        return found

    def find(self, rule: Rule, roles: dict[str, frozenset[str]]) -> Rule | None:
        """The first rule (in file order) that is unconditional, wins over ``rule`` and covers it."""
        best: Rule | None = None
        for other in self._covering_tool(rule.tool):
            if other is rule or other.effect.rank <= rule.effect.rank:
                continue
            if rule.grant and other.effect is Effect.ASK:
                continue  # a granted allow settles an ask
            if not _subject_covers(other.subject, rule.subject, roles):
                continue
            if best is None or self.position[id(other)] < self.position[id(best)]:
                best = other
        return best


def _cycles(links: tuple[RoleLink, ...]) -> list[tuple[RoleLink, list[str]]]:
    """One finding per set of roles that reach each other (strongly connected, found in linear time)."""
    graph: dict[str, list[RoleLink]] = {}
    for link in links:
        graph.setdefault(link.member, []).append(link)
    component = _components(graph)
    found: list[tuple[RoleLink, list[str]]] = []
    reported: set[int] = set()
    for link in links:
        group = component.get(link.member)
        if group is None or group != component.get(link.role) or group in reported:
            continue
        reported.add(group)
        found.append((link, [link.member, *_path(graph, link.role, link.member)]))
    return found


_SHELL_FUNCTIONS = frozenset({"cmd", "cmd_any", "opt"})
_TEXT_FUNCTIONS = frozenset({"regex", "glob"})
_COMMAND_NAMES = frozenset({"command", "cmd", "script"})


def _text_over_commands(rules: tuple[Rule, ...]) -> list[LintFinding]:
    """regex()/glob() over a shell command see the text, not what bash runs: ``--out''put`` passes."""
    commands = set(_COMMAND_NAMES)
    for rule in rules:
        commands.update(arg for fn, arg in rule.condition.calls if fn in _SHELL_FUNCTIONS)
    out: list[LintFinding] = []
    for rule in rules:
        for fn, arg in sorted(rule.condition.calls):
            if fn in _TEXT_FUNCTIONS and arg in commands:
                out.append(
                    _warn(
                        rule.ref.file,
                        rule.ref.line,
                        f"{fn}() over the shell command {arg!r} matches its text, not what runs "
                        f"(quotes, abbreviated options and wrappers get past it); use cmd_any() or opt()",
                        "text-over-command",
                    )
                )
    return out


def _components(graph: dict[str, list[RoleLink]]) -> dict[str, int]:
    """Tarjan's algorithm, iterative; nodes on no cycle (and no self-link) get no entry."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: dict[str, int] = {}
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = graph.get(node, [])
            if i < len(edges):
                work.append((node, i + 1))
                nxt = edges[i].role
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                cyclic = len(members) > 1 or any(e.role == node for e in graph.get(node, []))
                if cyclic:
                    for member in members:
                        out[member] = index[node]
    return out


def _path(graph: dict[str, list[RoleLink]], start: str, goal: str) -> list[str]:
    """A shortest role path from ``start`` to ``goal`` (breadth first), both ends included."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    for name in queue:
        if name == goal:
            break
        for link in graph.get(name, []):
            if link.role not in previous:
                previous[link.role] = name
                queue.append(link.role)
    path: list[str] = []
    node: str | None = goal
    while node is not None:
        path.append(node)
        node = previous.get(node)
    return path[::-1]


def lint_loaded(policy: LoadedPolicy) -> list[LintFinding]:
    """Warnings for a loaded policy: duplicates, shadowed rules, role cycles, allow-everything rules."""
    out: list[LintFinding] = []
    shadowers = _Shadowers(policy.rules)
    seen: dict[tuple[str, str, str, str], Rule] = {}
    for rule in policy.rules:
        key = (rule.subject, rule.tool, re.sub(r"\s+", "", rule.cond), rule.effect.value)
        first = seen.setdefault(key, rule)
        if first is not rule:
            out.append(
                _warn(
                    rule.ref.file, rule.ref.line, f"duplicate of {first.ref} ({first.ref.text})", "duplicate"
                )
            )
            continue
        if rule.effect is not Effect.DENY:
            winner = shadowers.find(rule, policy.roles)
            if winner is not None:
                out.append(
                    _warn(
                        rule.ref.file,
                        rule.ref.line,
                        f"this {rule.effect.value} rule never takes effect: {winner.ref} ({winner.ref.text})"
                        f" is unconditional, covers this subject and tool, and {winner.effect.value} wins",
                        "shadowed",
                    )
                )
        if rule.effect is Effect.ALLOW and rule.tool in ("*", "**"):
            out.append(
                _warn(
                    rule.ref.file,
                    rule.ref.line,
                    f"allow rule for every tool ({rule.tool!r}): new tools are allowed without review",
                    "allow-any-tool",
                )
            )
    seen_links: dict[tuple[str, str], RoleLink] = {}
    for link in policy.links:
        first_link = seen_links.setdefault((link.member, link.role), link)
        if first_link is not link:
            out.append(_warn(link.ref.file, link.ref.line, f"duplicate of {first_link.ref}", "duplicate"))
    out.extend(_text_over_commands(policy.rules))
    for link, path in _cycles(policy.links):
        out.append(_warn(link.ref.file, link.ref.line, f"role cycle: {' -> '.join(path)}", "role-cycle"))
    out.sort(key=lambda f: (f.file, f.line or 0))
    return out
