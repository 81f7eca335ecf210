"""``outputs.toml``: how the guard treats each tool's *result*: trust labels and redaction.

    [[output]]
    tool = "banking.get_*"       # glob over policy tool names, as in policy.csv's tool column
    trust = "trusted"            # the user's own data; anything no entry labels is "untrusted"
    untrusted = ["$[*].subject"] # JSON paths of fields third parties can write
    [[output]]
    tool = "**"
    redact = ["secret"]          # take secrets (and with "pii", personal data) out of every result

Every entry whose ``tool`` matches applies, in file order: a later ``trust`` overrides an earlier
one, field lists add up (the longest matching path decides a field), ``redact`` categories add up.
JSON paths: ``$`` then ``.name``, ``["name"]``, ``[3]``, ``[*]`` or ``.*``; a path labels the whole
subtree under it. A string result that holds JSON (an object or array) is read as that JSON.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from agentguard import detectors
from agentguard.policy._redact import MAX_DEPTH, RedactionFailed, redact
from agentguard.policy._types import LintFinding
from agentguard.session._session import Leaf, Trust
from agentguard.session._values import is_field_name

__all__ = [
    "OUTPUTS_FILE",
    "OutputRules",
    "OutputTreatment",
    "RedactionFailed",
    "load_outputs",
    "parse_json_path",
]

OUTPUTS_FILE = "outputs.toml"
MAX_LEAVES = 200_000
_Segment = str | int | None  # None: any key or index
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*|\*)|\[(\*|\d+|\"[^\"]*\"|'[^']*')\]")
_CATEGORIES: dict[str, detectors.Category] = {"secret": "secret", "pii": "pii"}


def parse_json_path(text: str) -> tuple[_Segment, ...]:
    """``$.a[*].b`` -> ``("a", None, "b")``; ``ValueError`` for anything outside the subset."""
    if not text.startswith("$"):
        raise ValueError(f"JSON path {text!r} must start with $")
    segments: list[_Segment] = []
    pos = 1
    while pos < len(text):
        m = _PATH_PART.match(text, pos)
        if m is None:
            raise ValueError(
                f'JSON path {text!r}: cannot read {text[pos:]!r} (use .name, ["name"], [3], [*])'
            )
        name, bracket = m.group(1), m.group(2)
        if name is not None:
            segments.append(None if name == "*" else name)
        elif bracket == "*":
            segments.append(None)
        elif bracket.isdigit():
            segments.append(int(bracket))
        else:
            segments.append(bracket[1:-1])
        pos = m.end()
    return tuple(segments)


def _path_matches(pattern: tuple[_Segment, ...], path: tuple[str | int, ...]) -> bool:
    if len(pattern) > len(path):
        return False
    return all(p is None or p == q for p, q in zip(pattern, path, strict=False))


@functools.lru_cache(maxsize=4096)  # a tool's results repeat the same few paths call after call
def _render(path: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


_SEQUENCES = (list, tuple)  # tuples: isinstance with ``a | b`` builds a union on each call
_SCALARS = (str, int, float)
_JSON_NODES = frozenset({dict, list, int, float, bool, type(None)})


def _as_json(value: Any) -> Any:
    if type(value) in _JSON_NODES:  # a dumped result's nodes, without the model class's ABC check
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, str) and value[:1] in ("{", "[") and len(value) < 20_000_000:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _duplicate_keys(text: str) -> bool:
    """Whether JSON ``text`` has an object with a key written twice (or parses differently here)."""
    found = False

    def pairs(items: list[tuple[str, Any]]) -> None:
        nonlocal found
        if not found and len({k for k, _ in items}) != len(items):
            found = True

    try:
        json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return True
    return found


@dataclass(frozen=True, slots=True)
class OutputTreatment:
    """What applies to one tool's results: its trust, per-field trust, redaction categories."""

    trust: Trust = "untrusted"
    fields: tuple[tuple[tuple[_Segment, ...], Trust], ...] = ()
    redact: frozenset[str] = frozenset()

    def leaves(self, value: Any) -> Iterator[Leaf]:
        """Every scalar of the result with its JSON path and trust (past ``MAX_LEAVES``: untrusted).

        Object keys that are not field names (an address, a URL used as a key) are values too.
        """
        if type(value) is str and value[:1] not in ("{", "["):  # plain text (most results): one leaf
            return iter((Leaf("$", value, self.trust_of(())),))
        return self._walk(value)

    def _walk(self, value: Any) -> Iterator[Leaf]:
        count = 0
        stack: list[tuple[tuple[str | int, ...], Any, int]] = [((), value, 0)]
        while stack:
            path, raw, depth = stack.pop()
            if type(raw) is str and raw[:1] not in ("{", "["):  # plain text: _as_json keeps it as it is
                count += 1
                trust = self.trust_of(path) if count <= MAX_LEAVES else "untrusted"
                yield Leaf(_render(path), raw, trust)
                continue
            node = _as_json(raw)
            if (
                node is not raw
                and isinstance(raw, str)
                and self.trust_of(path) == "untrusted"
                and _duplicate_keys(raw)
            ):
                # JSON text where a third party writes, with a key written twice: the parse keeps one
                # value, the model reads both, so the text is also read as the text it is.
                count += 1
                yield Leaf(_render(path), raw, "untrusted")
            if isinstance(node, dict) and depth < MAX_DEPTH:
                for k in node:
                    if isinstance(k, str) and not is_field_name(k):
                        count += 1
                        trust = self.trust_of((*path, k)) if count <= MAX_LEAVES else "untrusted"
                        yield Leaf(_render(path) + f"{{{k!r}}}", k, trust)
                stack.extend([((*path, str(k)), v, depth + 1) for k, v in reversed(node.items())])
                continue
            if isinstance(node, _SEQUENCES) and depth < MAX_DEPTH:
                stack.extend([((*path, i), v, depth + 1) for i, v in reversed(list(enumerate(node)))])
                continue
            if node is None or isinstance(node, bool):
                continue
            if not isinstance(node, _SCALARS):
                node = repr(node)
            count += 1
            trust = self.trust_of(path) if count <= MAX_LEAVES else "untrusted"
            yield Leaf(_render(path), node, trust)

    def trust_of(self, path: tuple[str | int, ...]) -> Trust:
        """The trust of the field at ``path``: the longest matching path's, or the tool's; untrusted when
        an untrusted path reaches *inside* it (text or an object the paths cannot split into fields:
        YAML, a printed list, a row where a list of rows was expected), since that field may be in it."""
        if not self.fields:  # no per-field trust (most tools): the tool's own
            return self.trust
        best: tuple[int, Trust] = (-1, self.trust)
        for pattern, trust in self.fields:
            inside = len(pattern) > len(path) and _path_matches(pattern[: len(path)], path)
            if inside and trust == "untrusted":
                return "untrusted"
            if len(pattern) >= best[0] and _path_matches(pattern, path):
                best = (len(pattern), trust)
        return best[1]

    def apply_redaction(self, value: Any) -> tuple[Any, dict[str, int]]:
        """``value`` with detector hits of the ``redact`` categories replaced, and the count per kind."""
        if not self.redact:
            return value, {}
        return redact(value, tuple(_CATEGORIES[c] for c in sorted(self.redact)))


class OutputRules:
    """The entries of ``outputs.toml``, matched per tool name (answers are cached per tool)."""

    def __init__(self, entries: tuple[tuple[Callable[[str], bool], OutputTreatment], ...] = ()) -> None:
        self.entries = entries
        self._cache: dict[str, OutputTreatment] = {}

    def for_tool(self, tool: str) -> OutputTreatment:
        found = self._cache.get(tool)
        if found is not None:
            return found
        trust: Trust = "untrusted"
        fields: list[tuple[tuple[_Segment, ...], Trust]] = []
        redact: set[str] = set()
        for matches, entry in self.entries:
            if matches(tool):
                trust = entry.trust if entry.trust else trust
                fields.extend(entry.fields)
                redact |= entry.redact
        found = OutputTreatment(trust, tuple(fields), frozenset(redact))
        if len(self._cache) < 10_000:
            self._cache[tool] = found
        return found


def load_outputs(
    path: Path, label: str, tool_matcher: Callable[[str], Callable[[str], bool]]
) -> tuple[OutputRules, list[LintFinding]]:
    """Read ``outputs.toml`` (missing: every result untrusted, nothing redacted); errors name the entry."""

    def error(message: str, line: int | None = None) -> LintFinding:
        return LintFinding(severity="error", file=label, line=line, message=message, code="outputs")

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return OutputRules(), []
    except (OSError, UnicodeDecodeError) as exc:
        return OutputRules(), [error(f"cannot read: {exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        return OutputRules(), [error(f"invalid TOML: {exc}", int(m.group(1)) if m else None)]
    errors: list[LintFinding] = []
    if set(data) - {"output"}:
        errors.append(
            error(f"unknown key(s) {', '.join(sorted(set(data) - {'output'}))}; use [[output]] entries")
        )
    raw = data.get("output", [])
    if not isinstance(raw, list):
        return OutputRules(), [*errors, error("'output' must be an array of tables: [[output]]")]
    starts = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"^\s*\[\[output\]\]", text, re.M)]
    entries: list[tuple[Callable[[str], bool], OutputTreatment]] = []
    for n, item in enumerate(raw):
        line = starts[n] if n < len(starts) else None
        where = f"[[output]] entry {n + 1}"
        if not isinstance(item, dict):
            errors.append(error(f"{where} must be a table", line))
            continue
        unknown = sorted(set(item) - {"tool", "trust", "trusted", "untrusted", "redact"})
        if unknown:
            errors.append(error(f"{where}: unknown key(s) {', '.join(unknown)}", line))
            continue
        tool = item.get("tool")
        if not isinstance(tool, str) or not tool:
            errors.append(error(f"{where}: 'tool' (a tool name or glob) is required", line))
            continue
        try:
            matcher = tool_matcher(tool)
        except ValueError as exc:
            errors.append(error(f"{where}: tool pattern {tool!r}: {exc}", line))
            continue
        trust = item.get("trust", "")
        if trust not in ("", "trusted", "untrusted"):
            errors.append(error(f"{where}: trust must be 'trusted' or 'untrusted', got {trust!r}", line))
            continue
        fields: list[tuple[tuple[_Segment, ...], Trust]] = []
        ok = True
        for label_ in ("trusted", "untrusted"):
            paths = item.get(label_, [])
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                errors.append(error(f"{where}: '{label_}' must be a list of JSON paths", line))
                ok = False
                continue
            for p in paths:
                try:
                    fields.append((parse_json_path(p), "trusted" if label_ == "trusted" else "untrusted"))
                except ValueError as exc:
                    errors.append(error(f"{where}: {exc}", line))
                    ok = False
        redact = item.get("redact", [])
        if not isinstance(redact, list) or not set(redact) <= set(_CATEGORIES):
            errors.append(error(f'{where}: \'redact\' must be a list of "secret" and/or "pii"', line))
            ok = False
        if ok:
            treatment = OutputTreatment(trust or "", tuple(fields), frozenset(redact))  # type: ignore[arg-type]
            entries.append((matcher, treatment))
    return OutputRules(tuple(entries)), errors
