"""Reading model.conf and the policy directory through real pycasbin: the model checked against the
one agentguard implements, the policy files listed, facts.toml and outputs.toml read, role links
expanded as casbin's role manager walks them. Each source's lines are read by ``_policy_lines``;
``_layers`` puts the pieces together.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import casbin
from casbin.util import escape_assertion
from wcmatch._wcparse import PatternLimitException

from agentguard.policy._conditions import CompileEnv, ConditionError, compile_condition
from agentguard.policy._facts import FACTS_FILE, PolicyFacts, load_facts
from agentguard.policy._outputs import OUTPUTS_FILE, OutputRules, load_outputs
from agentguard.policy._policy_lines import (
    _TOOL_PATTERN_CHARS,
    ParsedSource,
    _cond_code,
    _error,
    condition_cache_key,
    parse_source,
    read_source,
)
from agentguard.policy._toolpattern import ToolPattern, tool_pattern
from agentguard.policy._types import LintFinding, RoleLink, Rule

__all__ = [
    "EXPECTED_MATCHER",
    "MODEL_FILE",
    "LoadedPolicy",
    "ParsedSource",
    "ToolPattern",
    "condition_cache_key",
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
    # A symlink whose target is missing is kept: reading it fails the policy closed (its rules may be
    # denies on an unmounted share), where skipping it would load the policy without them.
    own = sorted((p for p in directory.glob("*.csv") if p.is_file() or p.is_symlink()), key=lambda p: p.name)
    return [*own, *(p for p in extra_files if p not in own)]


def source_label(path: Path, directory: Path) -> str:
    return path.name if path.parent == directory else str(path)


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


def files_elsewhere(directory: Path, extra: Sequence[Path] = ()) -> tuple[str, ...]:
    """The real paths of the files a load of ``directory`` reads that lie outside it: a rule file,
    ``model.conf`` or ``facts.toml`` that is a symlink, and the extra (grant) files. Writing one
    rewrites the policy as surely as writing in the folder."""
    real = os.path.realpath(directory)
    fixed = [directory / MODEL_FILE, directory / FACTS_FILE, directory / OUTPUTS_FILE]
    try:
        own = policy_files(directory, extra)
    except OSError:
        own = list(extra)
    found = {os.path.realpath(path) for path in (*fixed, *own)}
    return tuple(sorted(p for p in found if os.path.dirname(p) != real))


def compile_env(
    workspace: Path,
    state_dir: Path | None = None,
    policy_dir: Path | None = None,
    state_files: Sequence[Path] = (),
) -> CompileEnv:
    """The placeholders' meaning for one load: workspace, home, state and policy directory, resolved;
    ``state_files`` (the audit log) count as ``{state}`` where they lie outside the state directory."""
    home = os.path.realpath(Path.home())
    state = os.path.realpath(state_dir) if state_dir is not None else ""
    policy = os.path.realpath(policy_dir) if policy_dir is not None else ""
    env = CompileEnv(workspace=os.path.realpath(workspace), home=home, state=state, policy=policy)
    under = env.state_dir.rstrip("/") + "/"
    outside = {real for real in map(os.path.realpath, state_files) if not real.startswith(under)}
    return replace(env, state_files=tuple(sorted(outside))) if outside else env
