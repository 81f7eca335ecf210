"""Reading model.conf and the policy CSVs through real pycasbin, recording file:line for every rule.

Every line is split the way casbin's own tokenizer (``_extract_tokens``) splits it (the tests
compare the two), so the files agentguard enforces are exactly the files a stock ``casbin.Enforcer``
loads. Lines casbin would crash on or silently skip (unbalanced brackets, unknown line types, wrong
column counts) are errors here.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import casbin
from casbin.util import escape_assertion
from wcmatch._wcparse import PatternLimitException

from agentguard.models import Effect, RuleRef, canonical_agent_name
from agentguard.policy._conditions import CompileEnv, Condition, ConditionError, compile_condition
from agentguard.policy._facts import FACTS_FILE, PolicyFacts, load_facts
from agentguard.policy._outputs import OUTPUTS_FILE, OutputRules, load_outputs
from agentguard.policy._toolpattern import ToolPattern, tool_pattern
from agentguard.policy._types import LintFinding, RoleLink, Rule

__all__ = [
    "EXPECTED_MATCHER",
    "MODEL_FILE",
    "LoadedPolicy",
    "ParsedSource",
    "ToolPattern",
    "expand_roles",
    "parse_source",
    "paused_gc",
    "policy_files",
    "provenance_files",
    "read_source",
    "source_label",
    "tool_pattern",
    "validate_model",
]

MODEL_FILE = "model.conf"
EXPECTED_MATCHER = (
    '(p.sub == "*" || g(r.sub, p.sub)) && globMatch(r.tool, p.tool) '
    "&& argsMatch(r.args, p.cond, p.act) && r.act == p.act"
)
# Before conditions could answer "cannot tell", argsMatch did not need the rule's effect.
LEGACY_MATCHER = EXPECTED_MATCHER.replace("p.cond, p.act)", "p.cond)")
EXPECTED_EFFECT = "some(where (p.eft == allow))"
MAX_ROLE_DEPTH = 9  # casbin's default role manager follows at most 10 levels, the member itself included
_TOOL_PATTERN_CHARS = re.compile(r"^[a-z0-9._\-/:*?\[\]!{}]+$")


@dataclass(frozen=True)
class LoadedPolicy:
    rules: tuple[Rule, ...]
    links: tuple[RoleLink, ...]
    roles: dict[str, frozenset[str]]  # member -> itself plus every role it reaches, as casbin's g() sees it
    files: tuple[Path, ...]  # every policy file read, extra files that do not exist included
    errors: tuple[LintFinding, ...]
    skipped: tuple[LintFinding, ...] = ()  # grant lines that did not load (warnings; the rest applies)
    facts: PolicyFacts = field(default_factory=PolicyFacts)  # facts.toml
    outputs: OutputRules = field(default_factory=OutputRules)  # outputs.toml
    env: CompileEnv | None = None  # what the conditions were compiled with (named conditions included)


def policy_files(directory: Path, extra_files: Sequence[Path] = ()) -> list[Path]:
    """``*.csv`` directly inside ``directory`` sorted by name, then ``extra_files`` in order."""
    own = sorted((p for p in directory.glob("*.csv") if p.is_file()), key=lambda p: p.name)
    return [*own, *(p for p in extra_files if p not in own)]


def source_label(path: Path, directory: Path) -> str:
    return path.name if path.parent == directory else str(path)


def _error(file: str, line: int | None, message: str, code: str) -> LintFinding:
    return LintFinding(severity="error", file=file, line=line, message=message, code=code)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def validate_model(path: Path) -> tuple[Any, list[LintFinding]]:
    """Load ``model.conf`` with casbin and check it is the model agentguard implements."""
    label = path.name
    if not path.is_file():
        return None, [
            _error(
                str(path), None, "model file not found (expected model.conf in the policy directory)", "model"
            )
        ]
    model = casbin.Model()
    try:
        model.load_model(str(path))
    except Exception as exc:  # noqa: BLE001 - casbin raises bare RuntimeError/KeyError/IndexError
        return None, [_error(label, None, f"casbin cannot parse the model: {exc}", "model")]
    problems: list[str] = []

    sections: dict[str, dict[str, Any]] = model.model  # casbin.Model has no __contains__: use its dict

    def section(sec: str, key: str) -> Any:
        if sec not in sections or key not in sections[sec]:
            problems.append(f"missing '{key} = ...' ({_SECTION_NAMES[sec]})")
            return None
        extra = sorted(set(sections[sec]) - {key})
        if extra:
            problems.append(f"only one {_SECTION_NAMES[sec]} is supported; remove {', '.join(extra)}")
        return sections[sec][key]

    r, p, g, e, m = (
        section("r", "r"),
        section("p", "p"),
        section("g", "g"),
        section("e", "e"),
        section("m", "m"),
    )
    if r is not None and r.tokens != ["r_sub", "r_tool", "r_args", "r_act"]:
        problems.append(f"request_definition must be 'r = sub, tool, args, act', got 'r = {r.value}'")
    if p is not None and p.tokens != ["p_sub", "p_tool", "p_cond", "p_act"]:
        problems.append(f"policy_definition must be 'p = sub, tool, cond, act', got 'p = {p.value}'")
    if g is not None and _squash(g.value) != "_,_":
        problems.append(f"role_definition must be 'g = _, _', got 'g = {g.value}'")
    if e is not None and _squash(e.value) != _squash(escape_assertion(EXPECTED_EFFECT)):
        problems.append(f"policy_effect must be 'e = {EXPECTED_EFFECT}'")
    if m is not None and _squash(m.value) not in (
        _squash(escape_assertion(EXPECTED_MATCHER)),
        _squash(escape_assertion(LEGACY_MATCHER)),
    ):
        problems.append(
            f"matchers must be 'm = {EXPECTED_MATCHER}' (agentguard implements this matcher natively)"
        )
    return model, [_error(label, None, problem, "model") for problem in problems]


_SECTION_NAMES = {
    "r": "request_definition",
    "p": "policy_definition",
    "g": "role_definition",
    "e": "policy_effect",
    "m": "matchers",
}


_SPLIT_CHARS = re.compile(r"[,\[\]()]")
_BRACKET = re.compile(r"[\[\]()]")


def _token_spans(line: str) -> list[tuple[int, int]] | str:
    """Casbin's top-level comma split, as (start, end) spans; a string explains unbalanced brackets.

    The same walk as casbin's ``_extract_tokens`` (over the same characters, found by a regex), except
    that unbalanced brackets are reported instead of crashing or silently changing the split; the
    tests compare the two on random lines.
    """
    depth: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    start = 0
    for found in _SPLIT_CHARS.finditer(line):
        ch = found.group()
        i = found.start()
        if ch == "(" or ch == "[":
            depth.append((ch, i))
        elif ch == ")" or ch == "]":
            if not depth:
                return f"unbalanced {ch!r} at column {i + 1} (casbin counts brackets even inside quotes)"
            depth.pop()
        elif not depth:
            spans.append((start, i))
            start = i + 1
    if depth:
        ch, i = depth[-1]
        return f"{ch!r} at column {i + 1} is never closed (casbin counts brackets even inside quotes)"
    spans.append((start, len(line)))
    return spans


def _pieces(line: str) -> list[str] | str:
    """The line's fields, unstripped, split at top-level commas (see ``_token_spans``).

    Most lines need no bracket walk: split at every comma, then join pieces back while brackets are
    open; a piece that closes more brackets than are open before it takes the exact walk (which
    explains the problem).
    """
    raw = line.split(",")
    if "(" not in line and "[" not in line and ")" not in line and "]" not in line:
        return raw
    out: list[str] = []
    depth = 0
    for piece in raw:
        if _BRACKET.search(piece) is None:
            if depth:
                out[-1] = out[-1] + "," + piece
            else:
                out.append(piece)
            continue
        closes = piece.count(")") + piece.count("]")
        if closes > depth:  # may go below zero inside the piece: let the exact walk decide
            spans = _token_spans(line)
            return spans if isinstance(spans, str) else [line[a:b] for a, b in spans]
        if depth:
            out[-1] = out[-1] + "," + piece
        else:
            out.append(piece)
        depth += piece.count("(") + piece.count("[") - closes
    if depth:
        spans = _token_spans(line)
        return spans if isinstance(spans, str) else [line[a:b] for a, b in spans]
    return out


def _column(pieces: Sequence[str], index: int) -> int:
    """1-based column where field ``index`` starts (after its leading blanks)."""
    start = sum(len(p) + 1 for p in pieces[:index])
    piece = pieces[index]
    return start + (len(piece) - len(piece.lstrip())) + 1


@dataclass(frozen=True, slots=True)
class ParsedSource:
    """One source's valid rules and role links, and its problems; ``first_order`` is the first rule's
    ``order`` (rules are numbered ``first_order``, ``first_order + 1``, ... in line order)."""

    rules: tuple[Rule, ...]
    links: tuple[RoleLink, ...]
    errors: tuple[LintFinding, ...]
    skipped: tuple[LintFinding, ...]
    first_order: int

    def renumbered(self, first_order: int) -> ParsedSource:
        """The same source at another place in the load order (a file before it grew or shrank)."""
        if first_order == self.first_order:
            return self
        shift = first_order - self.first_order
        rules = tuple(
            Rule(
                ref=r.ref,
                subject=r.subject,
                tool=r.tool,
                cond=r.cond,
                effect=r.effect,
                order=r.order + shift,
                condition=r.condition,
                grant=r.grant,
            )
            for r in self.rules
        )
        return ParsedSource(rules, self.links, self.errors, self.skipped, first_order)


def read_source(path: Path, label: str, in_directory: bool) -> bytes | LintFinding | None:
    """A policy file's bytes, the problem reading it, or ``None`` for an extra file (``grants.csv``)
    that does not exist yet (simply empty)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return _error(label, None, "file vanished while loading", "io") if in_directory else None
    except OSError as exc:
        return _error(label, None, f"cannot read: {exc.strerror or exc}", "io")


def parse_source(
    label: str,
    data: bytes | LintFinding | None,
    *,
    grant: bool,
    env: CompileEnv,
    cache: MutableMapping[str, Condition | ConditionError],
    first_order: int,
) -> ParsedSource:
    """Parse one source (what ``read_source`` returned, or grant text). In a grant source a problem
    skips the line (reported in ``skipped``); anywhere else it is an error."""
    reader = _LineReader(env, cache, grant, first_order)
    if isinstance(data, LintFinding):
        reader._problem(data)
    elif data is not None:
        reader.read(label, data)
    return ParsedSource(
        tuple(reader.rules), tuple(reader.links), tuple(reader.errors), tuple(reader.skipped), first_order
    )


class _LineReader:
    """Reads one source's lines as casbin's file adapter would, keeping the valid ones with where each
    came from. (Building a casbin ``Enforcer`` as well would double a large policy's load time and add
    nothing: its rules are these lines split the same way.)"""

    def __init__(
        self,
        env: CompileEnv,
        cache: MutableMapping[str, Condition | ConditionError],
        grant_file: bool,
        first_order: int,
    ) -> None:
        self.env = env
        self.cache = cache
        self._grant_file = grant_file
        self._first_order = first_order
        self.rules: list[Rule] = []
        self.links: list[RoleLink] = []
        self.errors: list[LintFinding] = []
        self.skipped: list[LintFinding] = []

    def _problem(self, finding: LintFinding) -> None:
        """A problem in the policy is an error (nothing loads); in a grant file the line is skipped."""
        if not self._grant_file:
            self.errors.append(finding)
            return
        self.skipped.append(
            finding.model_copy(
                update={
                    "severity": "warning",
                    "code": "grant-skipped",
                    "message": f"grant skipped (it does not apply): {finding.message}",
                }
            )
        )

    def read(self, label: str, data: bytes) -> None:
        try:  # the whole file at once; line by line only to name the lines that are not UTF-8
            lines: list[str | None] = list(data.decode("utf-8").split("\n"))
        except UnicodeDecodeError:
            lines = []
            for number, raw in enumerate(data.split(b"\n"), start=1):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    self._problem(_error(label, number, f"not UTF-8: {exc.reason}", "encoding"))
                    lines.append(None)
        for number, text in enumerate(lines, start=1):
            line = text.strip() if text is not None else ""
            if not line or line.startswith("#"):
                continue
            self._check_line(line, label, number)

    def _check_line(self, line: str, label: str, number: int) -> bool:
        pieces = _pieces(line)
        if isinstance(pieces, str):
            self._problem(_error(label, number, pieces, "brackets"))
            return False
        texts = [piece.strip() for piece in pieces]
        ref = RuleRef(file=label, line=number, text=line)
        kind = texts[0]
        if kind == "p":
            return self._rule(ref, pieces, texts, label, number)
        if kind == "g" and self._grant_file:
            self._problem(_error(label, number, "a grant file holds only 'p' rules, not roles", "line-type"))
            return False
        if kind == "g":
            if len(texts) != 3:
                self._problem(
                    _error(
                        label,
                        number,
                        f"'g' lines have 2 fields (g, member, role), found {len(texts) - 1}",
                        "columns",
                    )
                )
                return False
            if not texts[1] or not texts[2]:
                self._problem(_error(label, number, "empty member or role", "empty-field"))
                return False
            bad = [p for p in (_subject_problem(texts[1], "member"), _subject_problem(texts[2], "role")) if p]
            if bad:
                self.errors.extend(_error(label, number, problem, "subject") for problem in bad)
                return False
            self.links.append(RoleLink(ref=ref, member=texts[1], role=texts[2]))
            return True
        self._problem(
            _error(
                label,
                number,
                f"unknown line type {kind!r}; lines start with 'p' (rule) or 'g' (role)",
                "line-type",
            )
        )
        return False

    def _rule(self, ref: RuleRef, pieces: list[str], texts: list[str], label: str, number: int) -> bool:
        if len(texts) != 5:
            self._problem(
                _error(
                    label,
                    number,
                    f"'p' lines have 4 fields (p, subject, tool, condition, effect), found {len(texts) - 1}"
                    " (a comma outside brackets starts a new field)",
                    "columns",
                )
            )
            return False
        _, sub, tool, cond, act = texts
        ok = True
        for name, value in (("subject", sub), ("tool", tool), ("condition", cond), ("effect", act)):
            if not value:
                self._problem(_error(label, number, f"empty {name} field", "empty-field"))
                ok = False
        if not ok:
            return False
        problem = None if sub == "*" else _subject_problem(sub, "subject")
        if problem:
            self._problem(_error(label, number, problem, "subject"))  # in a grant file: skipped
            ok = False
        if act not in ("allow", "ask", "deny"):
            self._problem(
                _error(
                    label,
                    number,
                    f"effect at column {_column(pieces, 4)} must be allow, ask or deny, got {act!r}",
                    "bad-effect",
                )
            )
            ok = False
        if not _TOOL_PATTERN_CHARS.match(tool):
            self._problem(
                _error(
                    label,
                    number,
                    f"tool pattern {tool!r} at column {_column(pieces, 2)}: tool names are lowercase ASCII "
                    "(letters, digits, . _ - / :) plus glob characters * ? [ ] !",
                    "tool-pattern",
                )
            )
            ok = False
        else:
            try:
                tool_pattern(tool)
            except (ValueError, re.error, PatternLimitException) as exc:
                self._problem(_error(label, number, f"tool pattern {tool!r}: {exc}", "tool-pattern"))
                ok = False
        condition = self._condition(cond)
        if isinstance(condition, ConditionError):
            column = _column(pieces, 3) + condition.column - 1
            near = f" near {condition.token!r}" if condition.token else ""
            self._problem(
                _error(
                    label,
                    number,
                    f"condition, column {column}{near}: {condition.message}",
                    _cond_code(condition),
                )
            )
            return False
        if not ok:
            return False
        self.rules.append(
            Rule(
                ref=ref,
                subject=sub,
                tool=tool,
                cond=cond,
                effect=Effect(act),
                order=self._first_order + len(self.rules),
                condition=condition,
                grant=self._grant_file,
            )
        )
        return True

    def _condition(self, text: str) -> Condition | ConditionError:
        key = condition_cache_key(text, self.env)
        cached = self.cache.get(key)
        if cached is None:
            try:
                cached = compile_condition(text, self.env)
            except ConditionError as exc:
                cached = exc
            if len(self.cache) > 50_000:
                self.cache.clear()
            self.cache[key] = cached
        return cached


def condition_cache_key(text: str, env: CompileEnv) -> str:
    """Compiled conditions are cached by text, and by the named conditions they may refer to."""
    return text if not env.definitions else f"{text}\x00{hash(env.definitions)}"


def provenance_files(
    directory: Path, env: CompileEnv
) -> tuple[PolicyFacts, OutputRules, CompileEnv, list[LintFinding]]:
    """facts.toml and outputs.toml: the named sets and conditions, and how tool results are treated."""
    facts, errors = load_facts(directory / FACTS_FILE, FACTS_FILE)
    env = replace(env, definitions=tuple(sorted(facts.conditions.items())))
    for name, text in facts.conditions.items():
        inner = replace(env, definitions=tuple((k, v) for k, v in env.definitions if k != name))
        try:
            compile_condition(text, inner)
        except ConditionError as exc:
            line = next(
                (
                    n
                    for n, raw in enumerate(_read_lines(directory / FACTS_FILE), 1)
                    if raw.lstrip().startswith(name)
                ),
                None,
            )
            errors.append(
                _error(
                    FACTS_FILE,
                    line,
                    f"condition {name!r}, column {exc.column}: {exc.message}",
                    _cond_code(exc),
                )
            )

    def matcher(pattern: str) -> Callable[[str], bool]:
        if not _TOOL_PATTERN_CHARS.match(pattern):
            raise ValueError("tool names are lowercase ASCII plus glob characters")
        try:
            return tool_pattern(pattern).matches
        except (re.error, PatternLimitException) as exc:
            raise ValueError(str(exc)) from None

    outputs, problems = load_outputs(directory / OUTPUTS_FILE, OUTPUTS_FILE, matcher)
    return facts, outputs, env, errors + problems


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


_SUBJECT_GLOB = re.compile(r"[*?\[\]{}!]")


@functools.lru_cache(maxsize=4096)
def _subject_problem(name: str, what: str) -> str | None:
    """Why ``name`` cannot be an agent or role name in a rule, or None.

    Casbin compares subjects literally (the model has no matching function for them), so a glob
    such as ``review-*`` would silently name nobody: it is refused instead.
    """
    if _SUBJECT_GLOB.search(name):
        return (
            f"{what} {name!r}: the subject column has no globs (only a lone * for every agent); "
            "name each agent, or give them a role with 'g, AGENT, ROLE' lines"
        )
    try:
        canonical_agent_name(name)
    except ValueError as exc:
        return f"{what} {name!r}: {exc}"
    return None


def _cond_code(err: ConditionError) -> str:
    if err.message.startswith("unknown function"):
        return "unknown-function"
    if "takes " in err.message and " argument" in err.message:
        return "arity"
    return "condition"


def expand_roles(links: Iterable[RoleLink]) -> dict[str, frozenset[str]]:
    """Every member's roles, by canonical (lower-case) name, as casbin's role manager walks them."""
    graph: dict[str, set[str]] = {}
    for link in links:
        graph.setdefault(link.member.lower(), set()).add(link.role.lower())
    members = set(graph) | {role for roles_ in graph.values() for role in roles_}
    roles: dict[str, frozenset[str]] = {}
    for member in members:
        seen = {member}
        frontier = deque([(member, 0)])
        while frontier:
            name, depth = frontier.popleft()
            if depth >= MAX_ROLE_DEPTH:
                continue
            for role in graph.get(name, ()):
                if role not in seen:
                    seen.add(role)
                    frontier.append((role, depth + 1))
        roles[member] = frozenset(seen)
    return roles


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a large policy is built: it makes ~100,000 objects that all
    live on, and each automatic pass would walk them again (a third of the load time at 100,000 rules)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # Hand what was built straight to the oldest generation: re-enabled as is, the first
            # automatic pass would walk every one of those new objects at once (0.3 s at 100,000 rules).
            # Only a full collection looks at them again, as at any long-lived data.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def compile_env(workspace: Path, state_dir: Path | None = None) -> CompileEnv:
    """The placeholders' meaning for one load: workspace, home and state directory, resolved."""
    home = os.path.realpath(Path.home())
    state = os.path.realpath(state_dir) if state_dir is not None else ""
    return CompileEnv(workspace=os.path.realpath(workspace), home=home, state=state)
