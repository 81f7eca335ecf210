"""Which rules can apply to a call, found without looking at every rule.

Stock Casbin tests every rule on every request, so a decision costs time in proportion to the
policy's size. Here a pattern without glob characters is found by the tool name itself, and a glob
by one of the literal fragments every matching name must contain (``*.admin`` -> ``.admin``,
``svc?.read`` -> ``.read`` or ``svc``, whichever is rarer in the policy): one Aho-Corasick pass over the
tool name finds every filed fragment in it, whatever the pattern's shape (prefix, suffix, infix,
``?`` and ``[]``). Only the patterns filed under those fragments, and the few globs with no literal
text at all, are checked with the exact matcher; the index only skips rules that cannot match.

Results are cached per tool and per (agent, tool) for the life of one loaded policy; a reload
builds a new index, so a cache can never outlive the rules it was computed from. Grants are a small
index layered over the policy's (``base``): a new grant rebuilds only that layer and its caches, while
the policy's per-tool candidates, which do not depend on grants, are kept.
"""

from __future__ import annotations

import functools
import operator
import re
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ahocorasick

from agentguard.policy._toolpattern import ToolPattern, tool_pattern
from agentguard.policy._types import Rule

if TYPE_CHECKING:
    from agentguard.models import Decision

__all__ = ["Plan", "RuleIndex", "literal_fragments"]

_WILD = re.compile(r"[*?\[\]{}\\!]")
_RUN_BREAKS = re.compile(r"[*?\[\]{}\\!/]+")
TOOL_CACHE_LIMIT = 10_000
PLAN_CACHE_LIMIT = 50_000
MEMO_LIMIT = 64
# A glob filed under its key fragment: the pattern, its rules, and a second fragment of it ("" if it has one)
_Entry = tuple[ToolPattern, tuple[Rule, ...], str]
# A pair seen once: its rules as their orders, in objects the cyclic GC does not track (below)
_Packed = int | bytes | tuple[Rule, ...]


_order = operator.attrgetter("order")
_value = operator.itemgetter(1)  # of an automaton hit: (end index, value)


@dataclass(slots=True)
class Plan:
    """The rules that can apply to one (agent, tool), in file order, ready to evaluate (a rule's
    ``condition.predicate`` unless ``condition.unconditional``).

    ``memo`` maps the indexes of the rules whose conditions held to the finished ``Decision`` (it
    depends on nothing else). It is made when the plan is used a second time: most (agent, tool)
    pairs of a large policy are seen once, and every object a first-sight decision leaves behind
    brings the next garbage-collection pass closer.
    """

    rules: tuple[Rule, ...]
    path_refs: tuple[tuple[str, ...], ...] = ()  # arguments any of these rules reads with path()
    path_names: tuple[str, ...] = ()  # the same, dotted (``options.destination``): Decision.path_arguments
    memo: dict[tuple[int, ...], Decision] | None = None
    used: bool = False  # decided once already: the next decision makes the memo


def literal_fragments(pattern: str) -> list[str]:
    """Runs of text every tool name matching ``pattern`` contains (casbin ``globMatch`` semantics).

    Glob characters and ``/`` end a run (slash runs may collapse, so a fragment never holds one).
    Everything from the first ``[`` to the last ``]``, and from the first ``{`` to the last ``}``, is
    skipped whole: classes and braces match text we cannot name, and skipping more than needed only
    means fewer fragments (a pattern without any is checked for every tool name).
    """
    if "[" in pattern or "{" in pattern:
        spans = []
        for opening, closing in ("[]", "{}"):  # both found in the pattern as written
            first = pattern.find(opening)
            if first >= 0:
                last = pattern.rfind(closing)
                spans.append((first, last + 1 if last > first else first + 1))
        for first, end in spans:  # a skipped span becomes breaks (same length): no run crosses it
            pattern = pattern[:first] + "/" * (end - first) + pattern[end:]
    return [run for run in _RUN_BREAKS.split(pattern) if run]


@functools.lru_cache(maxsize=1 << 18)
def _glob_runs(pattern: str) -> tuple[str, ...] | None:
    """``None`` for a pattern without glob characters, else its distinct literal fragments
    (remembered: a rebuild after an edit sees the same patterns again)."""
    if _WILD.search(pattern) is None and "/" not in pattern:
        return None
    return tuple(dict.fromkeys(literal_fragments(pattern)))


class RuleIndex:
    """Rules found by the literal text of their tool patterns, plus per-tool and per-(agent, tool) caches.

    A pattern without glob characters is looked up by the tool name itself. A glob is filed under
    one of its literal fragments (the rarest in the policy): an Aho-Corasick automaton finds every
    fragment that occurs in a tool name in one pass, so only patterns whose fragment is there are
    checked with the exact matcher. Globs with no fragment at all (``*``, ``[ab]?``) are checked for
    every new tool name. The candidates are a superset of the matches; the matcher decides.
    """

    __slots__ = (
        "_always",
        "_automaton",
        "_base",
        "_by_order",
        "_by_tool",
        "_exact",
        "_groups",
        "_only_base",
        "_packable",
        "_plan_count",
        "_plans",
        "_roles",
        "_seen_tools",
    )

    def __init__(
        self, rules: Sequence[Rule], roles: Mapping[str, frozenset[str]], base: RuleIndex | None = None
    ) -> None:
        """``base``: an index whose rules all come before these (every ``order`` lower); its
        candidates come first, then these. Its roles are the ones that apply."""
        self._base = base
        # a grants layer without grants: the base answers every look-up (no second pass, no caches here)
        self._only_base = base if not rules else None
        self._roles: Mapping[str, frozenset[str]] = roles if base is None else base.roles
        # order -> rule, for a seen-once pair kept as its rules' orders; orders name one rule each,
        # here and in the base (file position and line), else such pairs keep their rule tuples
        self._by_order: dict[int, Rule]
        self._packable: bool
        if base is not None and not rules:  # the base's own, so one look-up finds a rule
            self._by_order, self._packable = base._by_order, base._packable
        else:
            self._by_order = {rule.order: rule for rule in rules}
            self._packable = len(self._by_order) == len(rules) and (
                base is None or (base._packable and not any(o in base._by_order for o in self._by_order))
            )
        by_pattern: dict[str, list[Rule]] = {}
        for rule in rules:
            found = by_pattern.get(rule.tool)
            if found is None:
                by_pattern[rule.tool] = [rule]
            else:
                found.append(rule)
        exact: dict[str, tuple[Rule, ...]] = {}
        globs: list[tuple[str, tuple[str, ...], tuple[Rule, ...]]] = []
        counts: dict[str, int] = {}
        for text, named in by_pattern.items():
            runs = _glob_runs(text)
            if runs is None:
                exact[text] = tuple(named)
                continue
            globs.append((text, runs, tuple(named)))
            for run in runs:
                counts[run] = counts.get(run, 0) + 1
        always: list[tuple[ToolPattern, tuple[Rule, ...]]] = []
        keyed: dict[str, list[_Entry]] = {}
        for text, runs, matching in globs:
            if not runs:
                always.append((tool_pattern(text), matching))
                continue
            key, other = runs[0], ""
            if len(runs) > 1:  # the rarest fragment, the longest of those, the first of those
                best = counts[key]
                for run in runs[1:]:
                    count = counts[run]
                    if count < best or (count == best and len(run) > len(key)):
                        key, best = run, count
                # and the next rarest (longest, first), tested with ``in`` before the matcher runs
                rest = [run for run in runs if run != key]
                other, best = rest[0], counts[rest[0]]
                for run in rest[1:]:
                    count = counts[run]
                    if count < best or (count == best and len(run) > len(other)):
                        other, best = run, count
            entry = (tool_pattern(text), matching, other)
            group = keyed.get(key)
            if group is None:
                keyed[key] = [entry]
            else:
                group.append(entry)
        automaton = ahocorasick.Automaton()
        groups: list[list[_Entry]] = []
        for key, entries in keyed.items():
            automaton.add_word(key, len(groups))
            groups.append(entries)
        if groups:
            automaton.make_automaton()
        self._exact = exact
        self._automaton = automaton if groups else None
        self._groups = groups
        self._always = always
        self._by_tool: dict[str, tuple[Rule, ...]] = {}
        self._seen_tools: set[str] = set()
        # agent -> tool -> plan (no key tuple per pair), or its rules' orders for a pair seen once
        self._plans: dict[str, dict[str, Plan | _Packed]] = {}
        self._plan_count = 0

    def _literal_hits(self, tool: str) -> list[Rule]:
        """Globless patterns matching a name with ``/``: such a pattern is one segment, so it can only
        match a name one of whose segments it is (``fs.read`` also matches ``fs.read/``)."""
        hits: list[Rule] = []
        for segment in set(tool.split("/")):
            rules = self._exact.get(segment)
            if rules and tool_pattern(segment).matches(tool):
                hits.extend(rules)
        return hits

    def for_tool(self, tool: str) -> tuple[Rule, ...]:
        """Rules whose tool pattern matches the canonical name ``tool``, in file/line order."""
        if self._only_base is not None:
            return self._only_base.for_tool(tool)
        found = self._by_tool.get(tool)
        if found is None:
            exact = self._exact.get(tool) if "/" not in tool else self._literal_hits(tool)
            hits: list[Rule] = list(exact) if exact else []
            automaton = self._automaton
            if automaton is not None:
                groups = self._groups
                for group in set(map(_value, automaton.iter(tool))):  # each fragment found, once
                    for pattern, rules, other in groups[group]:
                        # ``other``: a second fragment every matching name contains ("" if none)
                        if other in tool and pattern.matches(tool):
                            hits.extend(rules)
            for pattern, rules in self._always:
                if pattern.matches(tool):
                    hits.extend(rules)
            if len(hits) > 1:
                hits.sort(key=_order)
            found = tuple(hits)
            if self._base is not None:
                found = self._base.for_tool(tool) + found if found else self._base.for_tool(tool)
            # kept from the second time a name is looked up (another agent, or ``may_allow``): a
            # name seen once is answered by its plans, and a kept tuple would only bring the next
            # garbage-collection pass closer (names go into a set, which leaves no object behind)
            if tool in self._seen_tools:
                if len(self._by_tool) >= TOOL_CACHE_LIMIT:
                    self._by_tool.clear()
                self._by_tool[tool] = found
            else:
                if len(self._seen_tools) >= TOOL_CACHE_LIMIT:
                    self._seen_tools.clear()
                self._seen_tools.add(tool)
        return found

    @property
    def roles(self) -> Mapping[str, frozenset[str]]:
        """Member -> itself plus every role it reaches (shared with a layer over this index)."""
        return self._roles

    def subjects(self, agent: str) -> frozenset[str]:
        """The agent plus every role it reaches through ``g`` lines (``agent`` canonical, lower case)."""
        return self._roles.get(agent) or frozenset({agent})

    def plan(self, agent: str, tool: str) -> Plan:
        """The rules that can apply to ``agent`` calling ``tool`` (both canonical), cached: policy rules
        for ``*``, the agent or one of its roles; grants for ``*`` or the agent itself.

        A pair seen once is cached as its rule tuple alone (no path arguments) and gets its ``Plan``,
        already ``used``, when it is looked up again: most pairs of a large policy are seen once,
        and a ``Plan`` kept for each was most of what a first-sight decision left behind (each
        object brings the next garbage-collection pass closer; that pass is a decision's slowest part).
        """
        plans = self._plans.get(agent)
        found = plans.get(tool) if plans is not None else None
        if plans is not None and found is not None:
            if isinstance(found, Plan):
                return found
            # seen once before: its rules alone (one rule's order the common case, looked up inline)
            one = self._by_order.get(found) if type(found) is int else None
            made = Plan((one,) if one is not None else self._unpacked(found), used=True)
            plans[tool] = made
            return made
        subjects = self._roles.get(agent) or frozenset((agent,))
        candidates = self.for_tool(tool)
        # A policy rule applies to the agent's roles too; a grant (a person's answer about one
        # agent) only to the agent it names: never to those that inherit that name as a role.
        own = (agent,)
        kept = [
            r for r in candidates if r.subject == "*" or r.subject.lower() in (own if r.grant else subjects)
        ]
        rules = candidates if len(kept) == len(candidates) else tuple(kept)  # none filtered: one tuple
        plan: Plan | None = None
        for rule in rules:
            if rule.condition.path_refs:
                refs = sorted({ref for r in rules for ref in r.condition.path_refs})
                plan = Plan(rules, tuple(refs), tuple(".".join(ref) for ref in refs))
                break
        if self._plan_count >= PLAN_CACHE_LIMIT:
            self._plans.clear()
            self._plan_count = 0
            plans = None
        if plans is None:
            plans = self._plans[agent] = {}
        plans[tool] = plan if plan is not None else _packed(rules) if self._packable else rules
        self._plan_count += 1
        return plan if plan is not None else Plan(rules)

    def _rule(self, order: int) -> Rule:
        """The rule of this index or its base with that ``order``."""
        found = self._by_order.get(order)
        if found is None and self._base is not None:
            return self._base._rule(order)
        if found is None:
            raise KeyError(order)  # never: orders are only packed from this index's candidates
        return found

    def _unpacked(self, packed: _Packed) -> tuple[Rule, ...]:
        if isinstance(packed, tuple):
            return packed
        if isinstance(packed, int):
            return (self._rule(packed),)
        return tuple(map(self._rule, array("q", packed)))


def _packed(rules: tuple[Rule, ...]) -> _Packed:
    """A seen-once pair's rules as objects the cyclic GC does not track: one rule's order (an
    ``int``) or the orders' bytes (an ``array`` is tracked). The per-pair rule tuple was most of what
    a first-sight decision left behind at 100,000 rules (0.85 of 1.37 tracked objects), so of the
    gen-0 collection passes among the slowest 1% of such decisions; each pass also walked those
    tuples' cold rules. ``()`` (shared) stays as it is, as do orders beyond 64 bits."""
    if len(rules) != 1:
        if not rules:
            return rules
        try:
            return array("q", [rule.order for rule in rules]).tobytes()
        except OverflowError:
            return rules
    return rules[0].order
