"""Which rules can apply to a call, found without looking at every rule.

Stock Casbin tests every rule on every request, so a decision costs time in proportion to the
policy's size. Here rules are bucketed by the literal start of their tool pattern (the text before
the first glob character): a tool name can only match patterns whose literal start is a prefix of
it, so a lookup checks the buckets for the tool's own prefixes and nothing else. Casbin's glob
matcher treats ``//`` as ``/``, so prefixes and tool names are compared with slash runs collapsed.
The surviving patterns are still checked with the exact matcher; the buckets only skip rules that
cannot match.

Results are cached per tool and per (agent, tool) for the life of one loaded policy; a reload
builds a new index, so a cache can never outlive the rules it was computed from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentguard.policy._conditions import Predicate
from agentguard.policy._loader import ToolPattern, tool_pattern
from agentguard.policy._types import Rule

if TYPE_CHECKING:
    from agentguard.models import Decision

__all__ = ["Plan", "RuleIndex", "literal_prefix"]

_WILD = re.compile(r"[*?\[\]{}\\!]")
_SLASHES = re.compile(r"/{2,}")
TOOL_CACHE_LIMIT = 10_000
PLAN_CACHE_LIMIT = 50_000
MEMO_LIMIT = 64


def _collapse(text: str) -> str:
    return _SLASHES.sub("/", text) if "//" in text else text


def literal_prefix(pattern: str) -> str:
    """The text every tool name matching ``pattern`` starts with (slash runs collapsed).

    ``*/x`` is rewritten by casbin and ``a/**`` also matches ``a``: both are accounted for, and
    when in doubt the prefix is shorter (a shorter prefix only means more patterns are checked).
    """
    if pattern.startswith("*/"):
        return ""
    found = _WILD.search(pattern)
    prefix = pattern[: found.start()] if found else pattern
    if pattern.endswith("/**"):
        base = pattern[:-3]
        found = _WILD.search(base)
        base_prefix = base[: found.start()] if found else base
        if len(base_prefix) < len(prefix):
            prefix = base_prefix
    return _collapse(prefix)


@dataclass(slots=True)
class Plan:
    """The rules that can apply to one (agent, tool), in file order, ready to evaluate.

    ``predicates[i]`` is ``None`` when rule ``i`` is unconditional. ``memo`` maps the indexes of the
    rules whose conditions held to the finished ``Decision`` (it depends on nothing else).
    """

    rules: tuple[Rule, ...]
    predicates: tuple[Predicate | None, ...]
    memo: dict[tuple[int, ...], Decision] = field(default_factory=dict)
    path_refs: tuple[tuple[str, ...], ...] = ()  # arguments any of these rules reads with path()


class RuleIndex:
    """Rules bucketed by tool-pattern prefix, plus per-tool and per-(agent, tool) caches."""

    __slots__ = ("_buckets", "_by_tool", "_lengths", "_plans", "_roles")

    def __init__(self, rules: Sequence[Rule], roles: Mapping[str, frozenset[str]]) -> None:
        self._roles = roles
        patterns: dict[str, tuple[ToolPattern, str]] = {}
        buckets: dict[str, list[tuple[ToolPattern, Rule]]] = {}
        for rule in rules:
            known = patterns.get(rule.tool)
            if known is None:
                known = patterns[rule.tool] = (tool_pattern(rule.tool), literal_prefix(rule.tool))
            pattern, prefix = known
            buckets.setdefault(prefix, []).append((pattern, rule))
        self._buckets = buckets
        self._lengths = tuple(sorted({len(prefix) for prefix in buckets}))
        self._by_tool: dict[str, tuple[Rule, ...]] = {}
        self._plans: dict[tuple[str, str], Plan] = {}

    def for_tool(self, tool: str) -> tuple[Rule, ...]:
        """Rules whose tool pattern matches the canonical name ``tool``, in file/line order."""
        found = self._by_tool.get(tool)
        if found is None:
            key = _collapse(tool)
            size = len(key)
            hits: list[Rule] = []
            for length in self._lengths:
                if length > size:
                    break
                bucket = self._buckets.get(key[:length])
                if bucket is not None:
                    hits.extend(rule for pattern, rule in bucket if pattern.matches(tool))
            hits.sort(key=lambda r: r.order)
            found = tuple(hits)
            if len(self._by_tool) >= TOOL_CACHE_LIMIT:
                self._by_tool.clear()
            self._by_tool[tool] = found
        return found

    def subjects(self, agent: str) -> frozenset[str]:
        """The agent plus every role it reaches through ``g`` lines (``agent`` canonical, lower case)."""
        return self._roles.get(agent) or frozenset({agent})

    def plan(self, agent: str, tool: str) -> Plan:
        """The rules that can apply to ``agent`` calling ``tool`` (canonical), cached."""
        key = (agent, tool)
        found = self._plans.get(key)
        if found is None:
            subjects = self.subjects(agent)
            rules = tuple(r for r in self.for_tool(tool) if r.subject == "*" or r.subject.lower() in subjects)
            predicates = tuple(None if r.unconditional else r.condition.predicate for r in rules)
            refs = sorted({ref for r in rules for ref in r.condition.path_refs})
            found = Plan(rules, predicates, path_refs=tuple(refs))
            if len(self._plans) >= PLAN_CACHE_LIMIT:
                self._plans.clear()
            self._plans[key] = found
        return found
