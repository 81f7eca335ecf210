"""Reading one policy source's lines into rules and role links, recording file:line for each.

Every line is split the way casbin's own tokenizer splits it (``_casbin_fields``), so the files
agentguard enforces are exactly the files a stock ``casbin.Enforcer`` loads. Lines casbin would
crash on or silently skip (unbalanced brackets, unknown line types, wrong column counts) are errors
here; in a grant source they are skipped instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from wcmatch._wcparse import PatternLimitException

from agentguard.models import Effect, RuleRef, canonical_agent_name, rule_ref
from agentguard.policy._casbin_fields import _FIELD, _column, _pieces
from agentguard.policy._conditions import CompileEnv, Condition, ConditionError, compile_condition
from agentguard.policy._toolpattern import tool_pattern
from agentguard.policy._types import LintFinding, RoleLink, Rule, new_rule

__all__ = ["ParsedSource", "condition_cache_key", "parse_source", "read_source"]

_EFFECTS = {effect.value: effect for effect in Effect}
_TOOL_PATTERN_CHARS = re.compile(r"^[a-z0-9._\-/:*?\[\]!{}]+$")
# A rule line of the common shape, read in one match (``_LineReader.read``): a subject without
# blanks, brackets or glob characters; a tool pattern of ``_TOOL_PATTERN_CHARS`` without braces
# (compiled at load) whose brackets pair up flat; a condition casbin reads as one field (``_FIELD``);
# an effect. Blanks around fields are spaces and tabs. So the line's top-level commas are these
# four, and the groups are casbin's fields stripped (the condition after ``strip``). Any other line,
# and a line this matches whose subject or condition has a problem, is read by ``_check_line``.
_TOOL_CHARS = r"[a-z0-9._\-/:*?!]"
_PLAIN_RULE = re.compile(
    r"p[ \t]*+,[ \t]*+(\*|[^\s,()\[\]{}*?!]++)[ \t]*+,[ \t]*+"
    rf"((?:{_TOOL_CHARS}++|\[{_TOOL_CHARS}*+\])++)[ \t]*+,"
    rf"{_FIELD},[ \t]*+(allow|ask|deny)"
)


def _error(file: str, line: int | None, message: str, code: str) -> LintFinding:
    return LintFinding(severity="error", file=file, line=line, message=message, code=code)


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
            new_rule(r.ref, r.subject, r.tool, r.cond, r.effect, r.order + shift, r.condition, r.grant)
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
        self._key_suffix = _key_suffix(env)
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
        # Lines of the common shape are read here, inline (at 100,000 rules a call per line and per
        # check is a good part of the load); every other line, and any problem, goes to _check_line.
        plain = _PLAIN_RULE.fullmatch
        cache = self.cache
        suffix = self._key_suffix
        grant = self._grant_file
        rules = self.rules
        add = rules.append
        order = self._first_order + len(rules)
        effects = _EFFECTS
        names: dict[str, str] = {}  # one string per distinct subject and tool: less to allocate and walk
        for number, text in enumerate(lines, start=1):
            if not text:
                continue
            line = text.strip()
            if not line or line[0] == "#":
                continue
            fields = plain(line) if line[0] == "p" else None
            if fields is not None:
                sub, tool, cond, act = fields.groups()
                cond = cond.strip()
                condition = cache.get(cond if suffix is None else cond + suffix) if cond else None
                if condition is None and cond:
                    condition = self._condition(cond)
                if (
                    condition is not None
                    and not isinstance(condition, ConditionError)
                    and (sub == "*" or _subject_problem(sub, "subject") is None)
                ):
                    sub = names.setdefault(sub, sub)
                    tool = names.setdefault(tool, tool)
                    ref = rule_ref(label, number, line)
                    add(new_rule(ref, sub, tool, cond, effects[act], order, condition, grant))
                    order += 1
                    continue
            self._check_line(line, label, number)
            order = self._first_order + len(rules)

    def _check_line(self, line: str, label: str, number: int) -> bool:
        pieces = _pieces(line)
        if isinstance(pieces, str):
            self._problem(_error(label, number, pieces, "brackets"))
            return False
        texts = list(map(str.strip, pieces))
        ref = rule_ref(label, number, line)  # 100,000s at a load
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
        if not (sub and tool and cond and act):
            for name, value in (("subject", sub), ("tool", tool), ("condition", cond), ("effect", act)):
                if not value:
                    self._problem(_error(label, number, f"empty {name} field", "empty-field"))
            return False
        ok = True
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
        elif "{" in tool:  # only braces are compiled when a pattern is made: nothing else can fail here
            try:
                tool_pattern(tool)
            except (ValueError, re.error, PatternLimitException) as exc:
                self._problem(_error(label, number, f"tool pattern {tool!r}: {exc}", "tool-pattern"))
                ok = False
        key = cond if self._key_suffix is None else cond + self._key_suffix  # as _condition: mostly seen
        condition = self.cache.get(key)
        if condition is None:
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
        rules = self.rules
        order = self._first_order + len(rules)
        rules.append(new_rule(ref, sub, tool, cond, _EFFECTS[act], order, condition, self._grant_file))
        return True

    def _condition(self, text: str) -> Condition | ConditionError:
        key = text if self._key_suffix is None else text + self._key_suffix  # condition_cache_key
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
    """Compiled conditions are cached by text, by the named conditions they may refer to, and by the
    files ``{policy}`` covers besides the folder (a reload may add a linked rule file)."""
    suffix = _key_suffix(env)
    return text if suffix is None else text + suffix


def _key_suffix(env: CompileEnv) -> str | None:
    if not env.definitions and not env.policy_files:
        return None
    files = "\x01".join(env.policy_files)
    return f"\x00{hash(env.definitions)}\x00{files}"


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
