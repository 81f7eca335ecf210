"""A loaded policy in two layers, each built from sources parsed once per content.

The base layer is the policy directory (model, facts, outputs, every ``*.csv``) with its rule
index; the grant layer is the grant files and the grant store's text, which hold only ``p`` lines
and come after every policy rule. A new or revoked grant rebuilds only the small grant layer, whose
index is layered over the base's (same roles). Each source's parse is kept by label, content and
compile environment, so an edited file is the only one parsed again.

Rule ``order`` is ``position * STRIDE + line order``, grants from ``GRANT_ORDER`` on: load order,
unique, and a file that grows or shrinks shifts no other file's numbers (a file that moves to
another position is renumbered, without parsing it again).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentguard.models import Decision
from agentguard.policy._conditions import CompileEnv, Condition, ConditionError, FactSource
from agentguard.policy._facts import CombinedFacts
from agentguard.policy._index import RuleIndex
from agentguard.policy._lint import lint_loaded
from agentguard.policy._loader import (
    MODEL_FILE,
    LoadedPolicy,
    ParsedSource,
    compile_env,
    expand_roles,
    files_elsewhere,
    parse_source,
    paused_gc,
    policy_files,
    provenance_files,
    read_source,
    source_label,
    validate_model,
)
from agentguard.policy._types import GrantSource, LintFinding, Rule

__all__ = [
    "GRANT_ORDER",
    "STRIDE",
    "BaseLayer",
    "GrantLayer",
    "PolicyState",
    "SourceCache",
    "build_base",
    "build_grants",
    "check_policy",
    "combine",
    "grant_files",
    "lint_policy",
    "load_policy",
]

STRIDE = 1 << 32  # rule orders per source: no file holds four billion rules
GRANT_ORDER = 1 << 62  # the first grant rule's order: after every policy rule

Conditions = MutableMapping[str, Condition | ConditionError]
_Source = tuple[str, bool, bytes | LintFinding | None]  # label, grant, what read_source returned


class SourceCache:
    """Parsed sources by label, grant flag, content digest and compile environment, kept for the
    sources of the last build only. ``parsed`` counts the sources actually parsed."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, bool, bytes, CompileEnv], ParsedSource] = {}
        self.parsed = 0

    def parse_all(
        self, sources: Sequence[_Source], env: CompileEnv, conditions: Conditions, first_order: int
    ) -> list[ParsedSource]:
        entries: dict[tuple[str, bool, bytes, CompileEnv], ParsedSource] = {}
        out: list[ParsedSource] = []
        for position, (label, grant, data) in enumerate(sources):
            order = first_order + position * STRIDE
            if not isinstance(data, bytes):  # a read problem or a missing grants file: nothing to keep
                out.append(
                    parse_source(label, data, grant=grant, env=env, cache=conditions, first_order=order)
                )
                continue
            key = (label, grant, hashlib.blake2b(data, digest_size=16).digest(), env)
            found = entries.get(key) or self._entries.get(key)
            if found is None:
                self.parsed += 1
                found = parse_source(label, data, grant=grant, env=env, cache=conditions, first_order=order)
            else:
                found = found.renumbered(order)
            entries[key] = found
            out.append(found)
        self._entries = entries
        return out


def _rules(parsed: Sequence[ParsedSource]) -> tuple[Rule, ...]:
    return tuple(itertools.chain.from_iterable(p.rules for p in parsed))


@dataclass(frozen=True)
class BaseLayer:
    """The policy directory: ``policy.files`` are its own CSVs; no rules when it has errors."""

    policy: LoadedPolicy
    env: CompileEnv | None  # what grants compile with; None without a policy directory
    index: RuleIndex | None  # None when the policy has errors (or it was not asked for)


@dataclass(frozen=True)
class GrantLayer:
    """The grant files and the grant store's text, parsed with the base's environment."""

    rules: tuple[Rule, ...]
    errors: tuple[LintFinding, ...]
    skipped: tuple[LintFinding, ...]  # grant lines that did not load (they do not apply)
    files: tuple[Path, ...]
    index: RuleIndex | None  # the base's index with these rules over it; None if either failed


def build_base(
    directory: Path,
    env: CompileEnv,
    extra: Sequence[Path],
    conditions: Conditions,
    cache: SourceCache,
    *,
    index: bool = True,
) -> BaseLayer:
    """Read the policy directory (an extra file inside it stays in its place there, as a grant)."""
    if not directory.is_dir():
        error = LintFinding(
            severity="error", file=str(directory), message="policy directory not found", code="io"
        )
        return BaseLayer(LoadedPolicy((), (), {}, (), (error,)), None, None)
    env = replace(env, policy_files=files_elsewhere(directory, extra))
    facts, outputs, env, fact_errors = provenance_files(directory, env)
    model, model_errors = validate_model(directory / MODEL_FILE)
    grants = frozenset(Path(p) for p in extra)
    own = policy_files(directory)
    sources: list[_Source] = []
    for path in own:
        label = source_label(path, directory)
        sources.append((label, path in grants, read_source(path, label, in_directory=True)))
    with paused_gc():
        parsed = cache.parse_all(sources, env, conditions, 0)
        errors = (*fact_errors, *model_errors, *(e for p in parsed for e in p.errors))
        skipped = tuple(s for p in parsed for s in p.skipped)
        if model is None or errors:
            return BaseLayer(LoadedPolicy((), (), {}, tuple(own), errors, skipped), env, None)
        rules = _rules(parsed)
        links = tuple(itertools.chain.from_iterable(p.links for p in parsed))
        roles = expand_roles(links)
        built = RuleIndex(rules, roles) if index else None
    policy = LoadedPolicy(rules, links, roles, tuple(own), (), skipped, facts=facts, outputs=outputs, env=env)
    return BaseLayer(policy, env, built)


def grant_files(base: BaseLayer, extra: Sequence[Path]) -> list[Path]:
    """The extra files not already read in the policy directory, in order."""
    own = base.policy.files
    return [Path(p) for p in extra if Path(p) not in own]


def build_grants(
    base: BaseLayer,
    directory: Path,
    files: Sequence[Path],
    texts: Sequence[tuple[str, bytes]],
    conditions: Conditions,
    cache: SourceCache,
) -> GrantLayer:
    """Parse the grants (``texts``: label and content, from the grant store) over ``base``."""
    if base.env is None:
        return GrantLayer((), (), (), tuple(files), None)
    sources: list[_Source] = []
    for path in files:
        label = source_label(path, directory)
        sources.append((label, True, read_source(path, label, in_directory=path.parent == directory)))
    sources.extend((label, True, data) for label, data in texts)
    with paused_gc():
        parsed = cache.parse_all(sources, base.env, conditions, GRANT_ORDER)
        rules = _rules(parsed)
        errors = tuple(e for p in parsed for e in p.errors)
        skipped = tuple(s for p in parsed for s in p.skipped)
        index = None
        if base.index is not None and not errors:
            index = RuleIndex(rules, base.policy.roles, base=base.index)
    return GrantLayer(rules, errors, skipped, tuple(files), index)


def combine(base: BaseLayer, grants: GrantLayer) -> LoadedPolicy:
    """Both layers as one policy, as lint, ``explain`` and the counts see it."""
    policy = base.policy
    errors = policy.errors + grants.errors
    files = policy.files + grants.files
    skipped = policy.skipped + grants.skipped
    if errors or base.env is None:
        return LoadedPolicy((), (), {}, files, errors, skipped)
    rules = policy.rules + grants.rules if grants.rules else policy.rules
    return replace(policy, rules=rules, files=files, skipped=skipped)


# matched rules' orders: one ``int``, their bytes (``array("q")``), or a tuple (none, or beyond 64 bits)
VerdictKey = int | bytes | tuple[int, ...]


@dataclass
class PolicyState:
    """One valid loaded policy, immutable once built. ``verdicts`` (matched rules' orders, ``~order``
    when matched as "cannot tell", -> the Decision) lives and dies with it, as the plans in ``index``."""

    base: BaseLayer
    grants: GrantLayer
    loaded: LoadedPolicy
    runtime_facts: FactSource | None = None
    index: RuleIndex = field(init=False)
    facts: FactSource | None = field(init=False)
    verdicts: dict[VerdictKey, Decision] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.grants.index is None:
            raise ValueError("a policy state needs both layers loaded")
        self.index = self.grants.index
        static = self.loaded.facts
        if static.empty or self.runtime_facts is None:  # one source: asked directly, not through a combiner
            self.facts = self.runtime_facts if static.empty else static
        else:
            self.facts = CombinedFacts(static, self.runtime_facts)

    def candidates(self, tool: str) -> tuple[Rule, ...]:
        """Rules whose tool pattern matches ``tool``, in file/line order."""
        return self.index.for_tool(tool)


def load_policy(
    directory: Path,
    *,
    workspace: Path,
    extra_files: Sequence[Path] = (),
    cache: Conditions | None = None,
    case_insensitive: bool = False,
    state_dir: Path | None = None,
    grant_texts: Sequence[tuple[str, bytes]] = (),
) -> LoadedPolicy:
    """Read a policy directory. Problems are returned as error findings, never raised.

    ``extra_files`` and ``grant_texts`` (label, content) hold grants: a line there that does not load
    is skipped and reported in ``skipped``, so one broken grant cannot stop the whole policy.
    ``case_insensitive``: ``path()`` patterns match case-insensitively (a case-folding workspace).
    ``state_dir`` is what ``{state}`` in path patterns means (default ``~/.agentguard``).
    """
    directory = Path(directory)
    env = replace(compile_env(workspace, state_dir, directory), case_insensitive=case_insensitive)
    conditions: Conditions = {} if cache is None else cache
    base = build_base(directory, env, extra_files, conditions, SourceCache(), index=False)
    files = grant_files(base, extra_files)
    return combine(base, build_grants(base, directory, files, grant_texts, conditions, SourceCache()))


def lint_policy(
    directory: Path,
    *,
    workspace: Path,
    extra_files: Sequence[Path] = (),
    case_insensitive: bool = False,
    grants: GrantSource | None = None,
    state_dir: Path | None = None,
) -> list[LintFinding]:
    """Every error and warning in a policy directory, without raising."""
    return check_policy(
        directory,
        workspace=workspace,
        extra_files=extra_files,
        case_insensitive=case_insensitive,
        grants=grants,
        state_dir=state_dir,
    )[0]


def check_policy(
    directory: Path,
    *,
    workspace: Path,
    extra_files: Sequence[Path] = (),
    case_insensitive: bool = False,
    grants: GrantSource | None = None,
    state_dir: Path | None = None,
) -> tuple[list[LintFinding], LoadedPolicy]:
    """Every error and warning in a policy directory, without raising, and what was loaded (for
    counts): what ``policy check`` prints, from one load.

    Grant lines that would be skipped are warnings: they never stop the policy from loading.
    """
    texts: list[tuple[str, bytes]] = []
    findings: list[LintFinding] = []
    if grants is not None:
        try:
            texts.append((grants.label, grants.grants_snapshot()[1].encode("utf-8")))
        except Exception as exc:  # noqa: BLE001 - reported, like the engine does
            findings.append(
                LintFinding(
                    severity="warning",
                    file=grants.label,
                    message=f"grants unavailable, none applies: {type(exc).__name__}: {exc}",
                    code="grants-unavailable",
                )
            )
    loaded = load_policy(
        Path(directory),
        workspace=Path(workspace),
        extra_files=extra_files,
        grant_texts=texts,
        case_insensitive=case_insensitive,
        state_dir=state_dir,
    )
    findings.extend(loaded.errors)
    findings.extend(loaded.skipped)
    if loaded.rules or loaded.links:
        findings.extend(lint_loaded(loaded))
    return findings, loaded
