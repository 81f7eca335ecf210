"""The condition language, function by function, through real engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import decide


def _allowed(engine_for: Callable[..., PolicyEngine], cond: str, **arguments: Any) -> bool:
    engine = engine_for(f"p, *, t, {cond}, allow")
    return decide(engine, "t", **arguments).effect is Effect.ALLOW


@pytest.mark.parametrize(
    ("cond", "arguments", "expected"),
    [
        ("*", {}, True),
        ('eq(mode, "a")', {"mode": "a"}, True),
        ('eq(mode, "a")', {"mode": "b"}, False),
        ('eq(mode, "a")', {}, False),
        ("eq(n, 1)", {"n": 1}, True),
        ("eq(n, 1)", {"n": 1.0}, True),
        ("eq(n, 1)", {"n": True}, False),
        ("eq(n, 1)", {"n": "1"}, False),
        ('eq(opts, "{\\"a\\": [1, true]}")', {"opts": {"a": [1, True]}}, True),
        ('eq(opts, "{\\"a\\": [1, true]}")', {"opts": {"a": [1, 1]}}, False),
        ('eq(flag, "true")', {"flag": True}, True),
        ('eq(flag, "null")', {"flag": None}, True),
        ('eq(headers.host, "x.test")', {"headers": {"host": "x.test"}}, True),
        ('eq(items.1, "b")', {"items": ["a", "b"]}, True),
        ('eq(items.5, "b")', {"items": ["a", "b"]}, False),
        ('oneof(mode, "a", "b", 3)', {"mode": "b"}, True),
        ('oneof(mode, "a", "b", 3)', {"mode": 3}, True),
        ('oneof(mode, "a", "b", 3)', {"mode": "c"}, False),
        ("lt(n, 5)", {"n": 4}, True),
        ("lt(n, 5)", {"n": 5}, False),
        ("le(n, 5)", {"n": 5}, True),
        ("gt(n, -1.5)", {"n": -1}, True),
        ("ge(n, 2)", {"n": 1.99}, False),
        ("lt(n, 5)", {"n": "4"}, False),
        ("lt(n, 5)", {"n": True}, False),
        ("lt(n, 5)", {"n": float("nan")}, False),
        ("between(n, 1, 3)", {"n": 3}, True),
        ("between(n, 1, 3)", {"n": 3.01}, False),
        ('regex(name, "[a-z]+\\d")', {"name": "abc1"}, True),
        ('regex(name, "[a-z]+")', {"name": "abc1"}, False),
        ('regex(name, "a.*")', {"name": 1}, False),
        ('glob(file, "*.py")', {"file": "x.py"}, True),
        ('glob(file, "*.py")', {"file": "dir/x.py"}, False),
        ('glob(file, "**/*.py")', {"file": "dir/x.py"}, True),
        ('glob(file, "*.{py,md}")', {"file": "README.md"}, True),
        ("secret(*)", {"body": "key=AKIAABCDEFGHIJKLMNOP"}, True),
        ("secret(*)", {"nested": {"deep": ["ghp_" + "x" * 36]}}, True),
        ("secret(*)", {"body": "nothing here"}, False),
        ("secret(body)", {"other": "AKIAABCDEFGHIJKLMNOP"}, False),
        ("pii(*)", {"to": "alice@example.com"}, True),
        ("pii(*)", {"card": "4111 1111 1111 1111"}, True),
        ("email(to)", {"to": "alice@example.com"}, True),
        ("email(to)", {"to": "4111 1111 1111 1111"}, False),
        ('!eq(mode, "a")', {"mode": "b"}, True),
        ('!eq(mode, "a")', {}, True),
        ('eq(a, "1") && (eq(b, "2") || eq(c, "3"))', {"a": "1", "c": "3"}, True),
        ('eq(a, "1") && (eq(b, "2") || eq(c, "3"))', {"b": "2", "c": "3"}, False),
        ('eq(a, "1") || eq(b, "2") && eq(c, "3")', {"a": "1"}, True),
        ('!!eq(a, "1")', {"a": "1"}, True),
        ('before("2999-01-01T00:00:00Z")', {}, True),
        ('before("2001-01-01T00:00:00+02:00")', {}, False),
        ('sandbox("default") && timeout(30)', {}, True),
        ('cmd(c, "git status*")', {"c": "git status"}, True),
        ('cmd(c, "git status*")', {"c": "git stash"}, False),
        ('cmd(c, "pwd")', {"c": "pwd -P"}, False),
        ('cmd(c, "ls*", "pwd")', {"c": "pwd && ls -a"}, True),
        ('cmd(c, "ls*")', {"c": "lsof"}, False),
        ('cmd(c, "ls* *")', {"c": "lsof -i"}, True),
        ('cmd(c, "echo \\"a b\\"")', {"c": "echo 'a b'"}, True),
        ('cmd(c, "ls*")', {"c": ""}, False),
        ('cmd_any(c, "curl *")', {"c": "ls && curl x"}, True),
        ('cmd_any(c, "curl *")', {"c": "echo curl"}, False),
        ('cmd_any(c, "curl *")', {"c": ""}, False),
        # cannot tell: a match for deny/ask rules, never for this allow rule
        ('cmd_any(c, "curl *")', {"c": 'echo "unbalanced'}, False),
        ('url(u, "https://x.test")', {"u": "https://x.test/a?b"}, True),
        ('url(u, "https://x.test/api/*")', {"u": "https://x.test/api/v1"}, True),
        ('url(u, "https://x.test/api/*")', {"u": "https://x.test/api/v1/deep"}, False),
        ('url(u, "https://x.test/api/**")', {"u": "https://x.test/api"}, True),
        ('url(u, "*://x.test:*")', {"u": "ws://x.test:9000"}, True),
        ('url(u, "http://localhost:8080")', {"u": "http://localhost:8080/"}, True),
        ('url(u, "http://localhost:8080")', {"u": "http://localhost/"}, False),
        ('url(u, "https://bücher.test")', {"u": "https://xn--bcher-kva.test/"}, True),
    ],
)
def test_functions(
    engine_for: Callable[..., PolicyEngine], cond: str, arguments: dict[str, Any], expected: bool
) -> None:
    assert _allowed(engine_for, cond, **arguments) is expected


def test_path_placeholders(engine_for: Callable[..., PolicyEngine], workspace: Path) -> None:
    engine = engine_for(
        'p, *, t, path(p, "{home}/**"), allow\np, *, u, path(p, "{workspace}/src/*.py"), allow'
    )
    assert decide(engine, "t", p="~/notes.txt").effect is Effect.ALLOW
    assert decide(engine, "t", p=str(Path.home() / "x")).effect is Effect.ALLOW
    assert decide(engine, "u", p="src/app.py").effect is Effect.ALLOW
    assert decide(engine, "u", p="src/deeper/app.py").effect is Effect.DENY
    assert decide(engine, "u", p=str(workspace / "src" / "app.py")).effect is Effect.ALLOW


def test_annotations_fill_the_decision(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for(
        "\n".join(
            [
                'p, *, python.exec, eq(mode, "fast") && sandbox("small"), allow',
                'p, *, python.exec, sandbox("default"), allow',
                'p, *, fs.write, timeout(45) && sandbox("x"), ask',
                'p, *, fs.write, eq(path, "big") && timeout(900), ask',
            ]
        )
    )
    fast = decide(engine, "python.exec", mode="fast")
    assert (fast.rule.line if fast.rule else None, fast.sandbox_profile) == (1, "small")
    slow = decide(engine, "python.exec", mode="slow")
    assert slow.sandbox_profile == "default"
    write = decide(engine, "fs.write", path="big")
    assert write.effect is Effect.ASK
    assert write.approval_timeout_s == 45  # from the deciding (first) ask rule
    assert write.sandbox_profile == "x"
    assert [m.line for m in write.matched] == [3, 4]


def test_before_expires_a_rule(engine_for: Callable[..., PolicyEngine]) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    engine = engine_for(f'p, *, a, before("{soon}"), allow\np, *, b, before("{past}"), allow')
    assert decide(engine, "a").effect is Effect.ALLOW
    assert decide(engine, "b").effect is Effect.DENY


def test_conditions_are_parsed_once(engine_for: Callable[..., PolicyEngine]) -> None:
    cond = 'path(path, "{workspace}/**") && !secret(*)'
    engine = engine_for("\n".join(f"p, agent{i}, fs.read, {cond}, allow" for i in range(50)))
    assert len({id(rule.condition) for rule in engine.rules}) == 1


def test_precedence_is_independent_of_order(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    rules = ["p, *, t, *, allow", "p, *, t, *, ask", "p, *, t, *, deny"]
    for i, order in enumerate((rules, rules[::-1], [rules[1], rules[2], rules[0]])):
        engine = PolicyEngine.load(make_policy("\n".join(order), name=f"p{i}"), workspace=tmp_path)
        decision = decide(engine, "t")
        assert decision.effect is Effect.DENY
        assert decision.rule is not None
        assert decision.rule.text == "p, *, t, *, deny"
        assert len(decision.matched) == 3


def test_first_rule_of_the_winning_effect_decides(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for("p, *, t, *, allow\np, *, t, *, ask\np, *, t*, *, ask\np, *, x, *, deny")
    decision = decide(engine, "t")
    assert decision.rule is not None
    assert decision.rule.line == 2
    assert [m.line for m in decision.matched] == [1, 2, 3]


def test_roles_inherit(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for("p, dev, t, *, allow\np, senior, u, *, allow\ng, alice, senior\ng, senior, dev")
    assert decide(engine, "t", "alice").effect is Effect.ALLOW
    assert decide(engine, "u", "alice").effect is Effect.ALLOW
    assert decide(engine, "t", "senior").effect is Effect.ALLOW
    assert decide(engine, "u", "dev").effect is Effect.DENY
    assert decide(engine, "t", "mallory").effect is Effect.DENY
    assert engine.roles_of("alice") == frozenset({"alice", "senior", "dev"})
    assert engine.roles_of("nobody") == frozenset({"nobody"})


def test_files_load_in_name_order_then_extra_files(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    directory = make_policy("p, *, t, *, ask")
    (directory / "00-first.csv").write_text("p, *, t, *, ask\n")
    (directory / "notes.txt").write_text("p, *, t, *, deny\n")  # not a .csv: ignored
    extra = tmp_path / "more.csv"
    extra.write_text("p, *, t, *, allow\n")
    engine = PolicyEngine.load(directory, workspace=tmp_path, extra_files=[extra, tmp_path / "missing.csv"])
    assert [r.ref.file for r in engine.rules] == ["00-first.csv", "policy.csv", str(extra)]
    decision = decide(engine, "t")
    assert decision.rule is not None
    assert decision.rule.file == str(extra)  # a granted allow settles the asks
    assert decision.effect is Effect.ALLOW
    assert decision.reason.startswith(f"allowed by grant {extra}:1")
