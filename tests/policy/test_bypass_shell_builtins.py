"""Builtins that run their arguments as code: an array subscript in a variable name is evaluated
(``printf -v 'a[$(cmd)]'``, ``test -v``, ``read``, ``wait -p``), ``mapfile -C`` runs a callback,
``compgen -W``/``-C``/``-F`` expands or runs its arguments, ``fc -s`` a history entry, ``jobs -x`` a command.
``cmd()`` once allowed such a line when the builtin was an allowed pattern (it looked only at the
words, not at what they run), and ``cmd_any``/``opt`` missed ``compgen``, ``fc``, ``jobs -x``, a clustered
``mapfile -tC`` and a name known only at run time (``printf -v "$n"``). All are cannot tell now."""

from __future__ import annotations

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._shellmatch import CommandPattern, cmd_any_result, cmd_result
from tests.policy.conftest import decide
from tests.policy.test_bypass_shell import (  # noqa: F401 - sandbox_dir is a fixture
    BASH,
    _bash_runs,
    _engine,
    sandbox_dir,
)

ALLOWED = [
    "jobs*",
    "history *",
    "fc *",
    "printf *",
    "test *",
    "[ *",
    "read *",
    "wait *",
    "mapfile *",
    "compgen *",
    "echo *",
    "true",
]
# casbin counts brackets even inside quotes: the policy line cannot name "[ *"
_NAMED = ", ".join(f'"{p}"' for p in ALLOWED if "[" not in p)
ALLOWLIST = f"p, *, shell.run, cmd(command, {_NAMED}), allow\n"
RM = CommandPattern(("rm",), True)

# Each line runs rm in bash although its only command is an allowed builtin.
ALLOWED_BUILTIN_RUNS_RM = [
    "printf -v 'a[$(rm x)]' 1",
    "printf -v'a[$(rm x)]' 1",
    "test -v 'a[$(rm x)]'",
    "[ -v 'a[$(rm x)]' ]",
    "echo 1 | read 'a[$(rm x)]'",
    "true & wait -n -p 'a[$(rm x)]'",
    "echo a | mapfile -C 'rm x' -c 1",
    "compgen -W '$(rm x)' w",
    "compgen -A function -W '`rm x`'",
    "history -s 'rm x'; fc -s",
    "jobs -x rm x",
]
# Lines cmd_any once read as running no rm.
HIDDEN_FROM_DENY_RULES = [
    "jobs -x rm x",
    "history -s 'rm x'; fc -s",
    "compgen -W '$(rm x)' w",
    "echo a | mapfile -tC 'rm x' -c 1",
    "n='a[$(rm x)]'; printf -v \"$n\" 1",
    "n='a[$(rm x)]'; [ -v \"$n\" ]",
]


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", sorted(set(ALLOWED_BUILTIN_RUNS_RM + HIDDEN_FROM_DENY_RULES)))
def test_bash_runs_rm(sandbox_dir, command: str) -> None:  # noqa: F811
    assert any(argv[:2] == ["rm", "x"] for argv in _bash_runs(sandbox_dir, command)), command


@pytest.mark.parametrize("command", ALLOWED_BUILTIN_RUNS_RM)
def test_cmd_never_allows_a_builtin_that_runs_code(command: str) -> None:
    patterns = [CommandPattern.parse(p) for p in ALLOWED]
    assert cmd_result(command, patterns) is None
    assert cmd_any_result(command, [RM]) is not False


@pytest.fixture(scope="module")
def allowlist(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return _engine(tmp_path_factory, ALLOWLIST)


@pytest.mark.parametrize("command", [c for c in ALLOWED_BUILTIN_RUNS_RM if not c.startswith("[")])
def test_the_engine_does_not_allow_them(allowlist: PolicyEngine, command: str) -> None:
    decision = decide(allowlist, "shell.run", command=command)
    assert decision.effect is not Effect.ALLOW, (command, decision.reason)


@pytest.mark.parametrize("command", HIDDEN_FROM_DENY_RULES)
def test_deny_rules_see_them(command: str) -> None:
    assert cmd_any_result(command, [RM]) is None


@pytest.mark.parametrize(
    "command",
    [
        "printf '%s\\n' \"$x\" 'a[1]'",
        "printf -v out '%s' \"$x\"",
        '[ -f "$f" ] && ls',
        '[ "$a" != b ] || ls',
        'test -n "$(echo a)"',
        'true & wait "$pid"',
        "echo a | mapfile -t lines",
    ],
)
def test_ordinary_uses_are_still_told(command: str) -> None:
    assert cmd_any_result(command, [RM]) is False


def test_ordinary_builtins_are_still_allowed(allowlist: PolicyEngine) -> None:
    for command in ["printf '%s\\n' a", "test -f x", "echo a | read b", "true", "jobs -l"]:
        assert decide(allowlist, "shell.run", command=command).effect is Effect.ALLOW, command
