"""``facts.toml``: named sets and named conditions that live with the policy.

    [sets]                      # known(arg, "org_domains"), host_in(to, "org_domains"), contains_fact(...)
    org_domains = ["example.com", "example.org"]

    [conditions]                # is(arg, "iban"), every_url(body, "is(_, \\"org_link\\")")
    iban = 'regex(_, "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")'
    org_link = 'host_in(_, "org_domains")'

A named condition is written once and used by name; ``_`` stands for the value it is applied to.
Set members are compared after normalisation (case, whitespace, IBAN spacing, URL form). These
static sets are combined with the runtime ``FactSource`` given to the engine: a value is known when
any source knows it.
"""

from __future__ import annotations

import re
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path

import ahocorasick

from agentguard.policy._conditions import FactSource
from agentguard.policy._types import LintFinding
from agentguard.session._values import key_of, keys_of

__all__ = [
    "FACTS_FILE",
    "CombinedFacts",
    "EnumerableFacts",
    "PolicyFacts",
    "automaton_of",
    "load_facts",
]

FACTS_FILE = "facts.toml"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_MEMBER_CHARS = 4096


def automaton_of(keys: Iterable[str]) -> ahocorasick.Automaton:
    """An Aho-Corasick automaton that finds each of ``keys`` in a text, each reported as itself."""
    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(key, key)
    automaton.make_automaton()
    return automaton


class EnumerableFacts(ABC):
    """A fact source that can also list its (normalised) members and find them inside text.

    ``contains_fact`` and the sub-domain part of ``host_in`` need this; a plain ``FactSource``
    answers only ``known()`` and exact ``host_in``. Subclass it to offer them from runtime facts.
    """

    @abstractmethod
    def contains(self, fact: str, value: str) -> bool: ...

    @abstractmethod
    def find_in(self, fact: str, text: str) -> str | None: ...

    @abstractmethod
    def members(self, fact: str) -> frozenset[str]: ...


class PolicyFacts(EnumerableFacts):
    """The sets of ``facts.toml`` (normalised) and its named conditions (text, compiled on use)."""

    def __init__(
        self, sets: Mapping[str, Iterable[str]] | None = None, conditions: Mapping[str, str] | None = None
    ) -> None:
        self.raw_sets = {name: tuple(values) for name, values in (sets or {}).items()}
        self.conditions = dict(conditions or {})
        self._keys: dict[str, frozenset[str]] = {}
        self._automata: dict[str, ahocorasick.Automaton] = {}
        for name, values in self.raw_sets.items():
            keys: set[str] = set()
            for value in values:
                keys |= keys_of(value)
            self._keys[name] = frozenset(keys)

    def contains(self, fact: str, value: str) -> bool:
        keys = self._keys.get(fact)
        return bool(keys) and not keys.isdisjoint(keys_of(value))  # type: ignore[union-attr]

    def members(self, fact: str) -> frozenset[str]:
        return self._keys.get(fact, frozenset())

    def find_in(self, fact: str, text: str) -> str | None:
        """The first member of ``fact`` written inside ``text`` (both normalised), or None."""
        automaton = self._automata.get(fact)
        if automaton is None:
            keys = self._keys.get(fact)
            if not keys:
                return None
            automaton = self._automata[fact] = automaton_of(keys)
        for _end, key in automaton.iter(key_of(text)):
            return str(key)
        return None

    @property
    def empty(self) -> bool:
        return not self.raw_sets and not self.conditions


class CombinedFacts(EnumerableFacts):
    """Several fact sources as one: a value is known when any source knows it."""

    def __init__(self, *sources: FactSource | None) -> None:
        self.sources = tuple(s for s in sources if s is not None)

    def contains(self, fact: str, value: str) -> bool:
        return any(source.contains(fact, value) for source in self.sources)

    def members(self, fact: str) -> frozenset[str]:
        found = [source.members(fact) for source in self.sources if isinstance(source, EnumerableFacts)]
        if len(found) == 1:
            return found[0]  # no copy of a large set per call
        return frozenset().union(*found)

    def find_in(self, fact: str, text: str) -> str | None:
        for source in self.sources:
            if isinstance(source, EnumerableFacts):
                found = source.find_in(fact, text)
                if found is not None:
                    return found
        return None


def _line_of(text: str, pattern: str) -> int | None:
    rx = re.compile(pattern, re.MULTILINE)
    m = rx.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _key_line(text: str, name: str) -> int | None:
    return _line_of(text, rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")


def toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    m = re.search(r"at line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def load_facts(path: Path, label: str) -> tuple[PolicyFacts, list[LintFinding]]:
    """Read ``facts.toml`` (missing: no facts). Every problem is an error finding naming file and line."""

    def error(message: str, line: int | None, code: str = "facts") -> LintFinding:
        return LintFinding(severity="error", file=label, line=line, message=message, code=code)

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PolicyFacts(), []
    except (OSError, UnicodeDecodeError) as exc:
        return PolicyFacts(), [error(f"cannot read: {exc}", None, "io")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return PolicyFacts(), [error(f"invalid TOML: {exc}", toml_error_line(exc))]
    errors: list[LintFinding] = []
    unknown = sorted(set(data) - {"sets", "conditions"})
    if unknown:
        errors.append(error(f"unknown table(s) {', '.join(unknown)}; use [sets] and [conditions]", None))
    sets: dict[str, list[str]] = {}
    raw_sets = data.get("sets", {})
    if not isinstance(raw_sets, dict):
        errors.append(error("[sets] must be a table of name = [values]", _line_of(text, r"^\s*sets\s*=")))
        raw_sets = {}
    for name, values in raw_sets.items():
        line = _key_line(text, name)
        if not _NAME.match(name):
            errors.append(error(f"bad set name {name!r} (letters, digits, . _ -)", line))
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errors.append(error(f"set {name!r} must be a list of strings", line))
            continue
        bad = [v for v in values if not v.strip() or len(v) > _MAX_MEMBER_CHARS]
        if bad:
            errors.append(error(f"set {name!r} has an empty or over-long member", line))
            continue
        sets[name] = values
    conditions: dict[str, str] = {}
    raw_conditions = data.get("conditions", {})
    if not isinstance(raw_conditions, dict):
        errors.append(error("[conditions] must be a table of name = 'condition'", None))
        raw_conditions = {}
    for name, cond in raw_conditions.items():
        line = _key_line(text, name)
        if not _NAME.match(name):
            errors.append(error(f"bad condition name {name!r} (letters, digits, . _ -)", line))
        elif not isinstance(cond, str) or not cond.strip():
            errors.append(error(f"condition {name!r} must be a non-empty string", line))
        else:
            conditions[name] = cond
    return PolicyFacts(sets, conditions), errors
