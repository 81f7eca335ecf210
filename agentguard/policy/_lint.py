"""Warnings about policies that load but probably do not say what their author meant."""

from __future__ import annotations

import re

from agentguard.models import Effect
from agentguard.policy._loader import LoadedPolicy, tool_pattern
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


def _shadowing(rule: Rule, rules: tuple[Rule, ...], roles: dict[str, frozenset[str]]) -> Rule | None:
    for other in rules:
        if other is rule or other.effect.rank <= rule.effect.rank or not other.unconditional:
            continue
        if rule.grant and other.effect is Effect.ASK:
            continue  # a granted allow settles an ask
        if _subject_covers(other.subject, rule.subject, roles) and _tool_covers(other.tool, rule.tool):
            return other
    return None


def _cycles(links: tuple[RoleLink, ...]) -> list[tuple[RoleLink, list[str]]]:
    graph: dict[str, list[RoleLink]] = {}
    for link in links:
        graph.setdefault(link.member, []).append(link)
    found: list[tuple[RoleLink, list[str]]] = []
    reported: set[frozenset[str]] = set()
    for link in links:
        # is there a path from link.role back to link.member?
        stack: list[tuple[str, list[str]]] = [(link.role, [link.member, link.role])]
        seen: set[str] = set()
        while stack:
            name, path = stack.pop()
            if name == link.member:
                key = frozenset(path)
                if key not in reported:
                    reported.add(key)
                    found.append((link, path))
                break
            if name in seen:
                continue
            seen.add(name)
            for nxt in graph.get(name, []):
                stack.append((nxt.role, [*path, nxt.role]))
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


def lint_loaded(policy: LoadedPolicy) -> list[LintFinding]:
    """Warnings for a loaded policy: duplicates, shadowed rules, role cycles, allow-everything rules."""
    out: list[LintFinding] = []
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
            winner = _shadowing(rule, policy.rules, policy.roles)
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
