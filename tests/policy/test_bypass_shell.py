"""Shell commands parsed the way bash parses them (issue 10, finding 3), failing closed.

Each evasion class of the finding is a table; a denylist policy must deny every row *by its rule*
(a policy that fails to load also denies, so the rule is checked). A differential against real
bash (a PATH of recording stubs in a temp dir) checks that every command bash runs is reported.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._shellmatch import (
    CommandPattern,
    OptionSet,
    cmd_any_result,
    cmd_result,
    opt_result,
)

from .conftest import EXAMPLES, PERMISSIONS, decide

DENYLIST = """
p, *, shell.run, *, allow
p, *, shell.run, cmd_any(command, "rm *"), deny
"""
OPTION_DENYLIST = """
p, *, shell.run, *, allow
p, *, shell.run, opt(command, "git", "--output", "--exec"), deny
p, *, shell.run, opt(command, "rm", "-r", "-f", "--recursive", "--force"), deny
"""


def _engine(factory: pytest.TempPathFactory, rules: str) -> PolicyEngine:
    directory = factory.mktemp("policy")
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text(rules.strip() + "\n")
    return PolicyEngine.load(directory, workspace=factory.mktemp("ws"))


@pytest.fixture(scope="module")
def denylist(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return _engine(tmp_path_factory, DENYLIST)


@pytest.fixture(scope="module")
def option_denylist(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return _engine(tmp_path_factory, OPTION_DENYLIST)


def _denied_by_a_rule(engine: PolicyEngine, command: str) -> None:
    decision = decide(engine, "shell.run", command=command)
    assert decision.effect is Effect.DENY, (command, decision.reason)
    assert decision.rule is not None, (command, decision.reason)
    assert decision.rule.line > 1, (command, decision.reason)


EVASIONS = {
    # quoting forms the old lexer parsed successfully and wrongly, or that rules over text miss
    "quoting": [
        "r''m x",
        '"r"m x',
        "'r'\"m\" x",
        "r\\m x",
        "\\rm x",
        "$'rm' x",
        "$'\\x72m' x",
        "$'\\162m' x",
        "$'\\u0072m' x",
        'echo "$(echo "a"; rm x)"',
        "echo $(rm x)",
        "cat <(rm x)",
    ],
    "assignments": ["X=1 rm x", "X=1 Y='a b' rm x", "X=$(rm x) true", "env -i rm x", "env X=1 rm x"],
    "keywords-and-definitions": [
        "if true; then rm x; fi",
        "if false; then :; elif true; then :; else rm x; fi",
        "while true; do rm x; done",
        "until false; do rm x; done",
        "for f in a b; do rm $f; done",
        "function f { rm x; }; f",
        "f() { rm x; }; f",
        "f() ( rm x ); f",
        "{ rm x; }",
        "(rm x)",
        "! rm x",
        "true && rm x",
        "false || rm x",
        "time rm x",
        "coproc rm x",
    ],
    "shell-wrappers": [
        "bash -c 'rm x'",
        "sh -c 'rm x'",
        "bash -c -- 'rm x'",
        "bash -o pipefail -c 'rm x'",
        "bash -lc 'rm x'",
        "dash -ec 'rm x'",
        "su -c 'rm x' root",
        "su root --command='rm x'",
        "xargs sh -c 'rm x'",
        "eval 'rm x'",
        "eval rm x",
        "sudo rm x",
        "sudo -s 'rm x'",
        "env -S 'rm x'",
        "nice -n 5 rm x",
        "timeout 5 rm x",
        "find . -exec rm {} \\;",
        "find . -exec sh -c 'rm x' \\;",
        "busybox rm x",
        "busybox sh -c 'rm x'",
        "command rm x",
        "command -p rm x",
        "exec rm x",
        "builtin eval 'rm x'",
        "watch 'rm x'",
        "bash <<< 'rm x'",
        "echo 'rm x' | bash",
        'bash -c "$(echo rm x)"',
        "nohup bash -c 'sudo bash -c \"rm x\"'",
    ],
    "path-or-glob-names": [
        "/usr/bin/rm x",
        "/bin/rm x",
        "./rm x",
        "/bin/r? x",
        "r[m] x",
        "r* x",
        "rm{,} x",
        "~/bin/rm x",
        "$CMD x",
        '"$CMD" x',
        "${CMD} x",
    ],
    # constructs tree-sitter-bash gets wrong, or whose meaning is only known at run time
    "cannot-tell": [
        "cat <<EOF\nrm x\nEOF\n",
        "echo `rm x`",
        'echo $"rm"',
        "r\\\nm x",
        "echo $((1)); ls",
        "case a in a) rm x;; esac",
        "[[ -f x ]] && ls",
        "alias ls='rm x'",
        "trap 'rm x' EXIT",
        "source <(echo rm x)",
        "echo ${x@P}",
        "ls $'\\cA'",
        # the shell runs these strings as code: PS4 under set -x, imported functions, subscripts
        "PS4='$(rm x)'; set -x; ls",
        "env 'BASH_FUNC_ls%%=() { rm x; }' bash -c ls",
        "sudo PS4='$(rm x)' SHELLOPTS=xtrace ls",
        "printf -v 'a[$(rm x)]' %s 1",
        "test -v 'a[$(rm x)]'",
        "[ -v 'a[$(rm x)]' ]",
        "read 'a[$(rm x)]' <<< 1",
        "let 'x=a[$(rm x)]'",
        "mapfile -C 'rm x' -c 1 a < f",
        "a[$(rm x)]=1",
        "[ a < b ] && ls",
        "ls\rrm x",
        "ls\x0brm x",
    ],
}


OPTION_EVASIONS = {
    "options-after-operands": ["rm a -rf", "rm a b -r", "rm -- a -f", "git log HEAD --output x"],
    "abbreviated-options": ["rm --rec a", "rm --r a", "rm --forc a", "git log --outp=x", "git log --out x"],
    "quoted-options": ["git log --out''put=x", "git log '--output'=x", 'git log --"output" x', "rm -'r' a"],
    "combined-options": ["rm -vrf a", "rm -vf a", "git log -p --exe=x"],
    "wrapped-options": ["sudo git log --output x", "bash -c 'git log --output x'", "find . -exec rm -r {} +"],
    "cannot-tell-options": ["git log $OPTS", "rm $X a", "git log *", "ls | xargs rm"],
}


@pytest.mark.parametrize(
    "command",
    [c for rows in EVASIONS.values() for c in rows],
    ids=[f"{k}-{i}" for k, rows in EVASIONS.items() for i in range(len(rows))],
)
def test_evasions_are_denied_by_the_rule(denylist: PolicyEngine, command: str) -> None:
    _denied_by_a_rule(denylist, command)


@pytest.mark.parametrize(
    "command",
    [c for rows in OPTION_EVASIONS.values() for c in rows],
    ids=[f"{k}-{i}" for k, rows in OPTION_EVASIONS.items() for i in range(len(rows))],
)
def test_option_evasions_are_denied_by_the_rule(option_denylist: PolicyEngine, command: str) -> None:
    _denied_by_a_rule(option_denylist, command)


@pytest.mark.parametrize(
    "command",
    ["rm a", "rm -v a", "rmdir -p a", "git log --oneline src/*", "git log --no-output", "echo --output -rf"],
)
def test_commands_without_the_options_are_allowed(option_denylist: PolicyEngine, command: str) -> None:
    decision = decide(option_denylist, "shell.run", command=command)
    assert decision.effect is Effect.ALLOW, (command, decision.reason)


@pytest.mark.parametrize(
    "command",
    [
        "ls -la",
        "echo rm x",
        "git log --oneline",
        "git log --format=%h -- rm",
        "rmdir build",
        "echo 'rm -rf /'",
        "git commit -m 'rm -rf x'",
        "grep -r --include='*.py' x .",
        "find . -name '*.pyc' -delete",
        "bash build.sh",
        "ls $'\\x41'",
        "export A=1; make",
        "[ -f x ] && make",
        '[ "$a" != b ] || ls',
    ],
)
def test_plain_commands_are_not_denied(denylist: PolicyEngine, command: str) -> None:
    decision = decide(denylist, "shell.run", command=command)
    assert decision.effect is Effect.ALLOW, (command, decision.reason)


# ---------------------------------------------------------------- three values, function by function

RM = [CommandPattern.parse("rm *")]
LS = [CommandPattern.parse("ls*")]
GIT_OUT = (CommandPattern.parse("git", open_ended=True), OptionSet.parse(["--output", "-o"]))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("rm x", True),
        ("echo rm x", False),
        ("", False),
        ("ls | xargs rm", True),
        ("$X x", None),
        ("r? x", None),
        ("cat <<EOF\nx\nEOF\n", None),
        ("echo 'unbalanced", None),
        ("bash", None),  # reads its script from stdin
        ("bash script.sh", False),
        ('bash -c "$X"', None),
        ("eval $X", None),
        ('[ -n "$(rm x)" ]', True),
        # dialects: sh (dash) has no $'..', zsh and fish are not bash syntax (zsh: =rm is /bin/rm)
        ("sh -c \"$'rm' x\"", None),
        ('sh -c "eval \\"\\$\'x\' rm\\""', None),
        ("zsh -c '=rm x'", None),
        ("fish -c 'echo (rm x)'", None),
        ("bash -c \"$'rm' x\"", True),
    ],
)
def test_cmd_any_three_values(command: str, expected: bool | None) -> None:
    assert cmd_any_result(command, RM) is expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls -la && ls", True),
        ("ls *.py", True),  # a glob in the open tail does not matter
        ("ls; rm x", False),
        ("ls > x", False),
        ("ls $HOME", False),
        ("X=1 ls", False),
        ("/bin/ls", False),  # names as written for allow rules
        ("'ls' -a", True),
        ("l? -a", None),
        ("ls <<EOF\nx\nEOF\n", None),
    ],
)
def test_cmd_three_values(command: str, expected: bool | None) -> None:
    assert cmd_result(command, LS) is expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("git log --output=x", True),
        ("git log --out''put=x", True),
        ("git log --o x", True),
        ("git log -po x", True),
        ("git -C . log x --output x", True),
        ("sudo git log --output x", True),
        ("git log --oneline", False),
        ("git log --no-output", False),
        ("echo --output", False),
        ("git log $X", None),
        ("git log *", None),
        ("git log src/*", False),  # the glob's literal prefix is not an option
        ("$G log --output", None),
        ('git log "--output=$X"', True),  # the option is named in full before the run-time part
        ('git log "-o$X"', True),
        ('git log "--format=$X"', False),
        ("git log --format=$X", None),  # unquoted: $X may split into a second word --output
        ("git log a$X", None),  # X=" --output=y"
        ('git log "a$X"', False),
    ],
)
def test_opt_three_values(command: str, expected: bool | None) -> None:
    assert opt_result(command, *GIT_OUT) is expected


COND_RULES = """
p, *, t, {cond}, {effect}
"""


@pytest.mark.parametrize(
    ("cond", "effect", "expected"),
    [
        # "cannot tell" is a match for deny and ask, never for allow, also through ! and Kleene logic
        ('cmd_any(c, "rm *")', "deny", Effect.DENY),
        ('cmd_any(c, "rm *")', "ask", Effect.ASK),
        ('cmd_any(c, "rm *")', "allow", None),
        ('!cmd_any(c, "rm *")', "allow", None),
        ('!cmd_any(c, "rm *")', "deny", Effect.DENY),
        ('cmd_any(c, "rm *") || eq(x, "1")', "allow", None),
        ('cmd_any(c, "rm *") && eq(x, "1")', "deny", None),  # false && unknown is false
        ('cmd_any(c, "rm *") || eq(x, "2")', "deny", Effect.DENY),
        ('!cmd(c, "ls*") && eq(x, "2")', "ask", Effect.ASK),
    ],
)
def test_cannot_tell_by_rule_direction(
    engine_for: Callable[..., PolicyEngine], cond: str, effect: str, expected: Effect | None
) -> None:
    engine = engine_for(COND_RULES.format(cond=cond, effect=effect))
    decision = decide(engine, "t", c="$X x", x="2")
    if expected is None:
        assert decision.rule is None, decision.reason  # the default effect, deny
        assert decision.effect is Effect.DENY
    else:
        assert decision.effect is expected, decision.reason
        assert decision.rule is not None


def test_stock_casbin_decides_cannot_tell_the_same(tmp_path: Path, make_policy: Callable[..., Path]) -> None:
    import casbin

    directory = make_policy(
        'p, *, t, cmd(c, "ls*"), allow\np, *, t, !cmd(c, "ls*"), ask\np, *, t, cmd_any(c, "rm *"), deny'
    )
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    stock = casbin.Enforcer(str(directory / "model.conf"), str(directory / "policy.csv"))
    for name, function in engine.casbin_functions().items():
        stock.add_function(name, function)
    for command, expected in [
        ("ls <<EOF\nx\nEOF\n", "deny"),
        ("$X x", "deny"),
        ("ls", "allow"),
        ("ls; x", "ask"),
    ]:
        args = {"c": command}
        reference = next((e for e in ("deny", "ask", "allow") if stock.enforce("a", "t", args, e)), "deny")
        assert reference == expected == decide(engine, "t", **args).effect.value, command


# ---------------------------------------------------------------- the shipped policies


@pytest.mark.parametrize(
    "command",
    # git status: a form the shipped policy allows, so only opt() can make it ask
    ["git status --out''put=x", "git status --outp=x", "git status . --output x", "git status --ext-d ."],
)
def test_shipped_policy_asks_for_hidden_git_options(tmp_path: Path, command: str) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=tmp_path)
    decision = decide(engine, "shell.run", command=command)
    assert decision.effect is Effect.ASK, decision.reason
    assert decision.rule is not None
    assert "opt(command" in decision.rule.text


@pytest.mark.parametrize("command", ["git log --out''put=x", "git diff --ext-d", "git log HEAD --out x"])
def test_read_only_example_denies_hidden_git_options(tmp_path: Path, command: str) -> None:
    engine = PolicyEngine.load(EXAMPLES / "read-only", workspace=tmp_path)
    decision = decide(engine, "shell.run", command=command)
    assert decision.effect is Effect.DENY, decision.reason
    assert decision.rule is not None


@pytest.mark.parametrize(
    "command",
    [
        "rm a -rf",
        "rm --rec a",
        "git -C . push",
        "git -C a -c b=c --no-pager push",
        "git --git-dir x clean -fd",
        "git reset HEAD --ha",
        "git -C . reset --hard",
    ],
)
def test_shipped_policy_denies(tmp_path: Path, command: str) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=tmp_path)
    decision = decide(engine, "shell.run", command=command)
    assert decision.effect is Effect.DENY, decision.reason
    assert decision.rule is not None


# ---------------------------------------------------------------- differential against bash

BASH = shutil.which("bash")
STUBS = ("rm", "ls", "git")
REAL = ("env", "nice", "timeout", "xargs", "find", "sh", "bash")


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH holding only recording stubs and a few harmless real wrappers."""
    root = tmp_path_factory.mktemp("bashdiff")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    stub = (
        f"#!{sys.executable}\nimport json, os, sys\n"
        "with open(os.environ['AG_LOG'], 'a') as f:\n"
        "    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + '\\n')\n"
    )
    for name in STUBS:
        (bin_dir / name).write_text(stub)
        (bin_dir / name).chmod(0o755)
    for name in REAL:
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    (root / "work").mkdir()
    (root / "work" / "a").write_text("")
    return root


def _bash_runs(sandbox: Path, command: str) -> list[list[str]]:
    log = sandbox / "log.jsonl"
    log.write_text("")
    env = {"PATH": str(sandbox / "bin"), "AG_LOG": str(log), "FUNCNEST": "5", "HOME": str(sandbox)}
    proc = subprocess.Popen(
        [str(BASH), "--norc", "--noprofile", "-c", command],
        cwd=sandbox / "work",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def _check_against_bash(sandbox: Path, command: str) -> None:
    runs = _bash_runs(sandbox, command)
    for argv in runs:
        exact = CommandPattern(tuple(_escape(w) for w in argv), False)
        found = cmd_any_result(command, [exact])
        assert found is not False, (command, argv)
        if argv[0] == "rm" and any(w[:1] == "-" and w[1:2] != "-" and "r" in w for w in argv[1:]):
            assert opt_result(command, CommandPattern(("rm",), True), OptionSet.parse(["-r"])) is not False
    if cmd_result(command, LS):
        assert all(argv[0] == "ls" for argv in runs), (command, runs)


def _escape(word: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in word)


SPELLINGS = [
    "rm",
    "'rm'",
    '"rm"',
    "r''m",
    "r\\m",
    "\\rm",
    "$'rm'",
    "$'\\x72m'",
    "$'\\162\\155'",
    'r""m',
    "ls",
]
ARGS = ["-rf", "'-r'f", '"-"r', "a", "'a b'", '"a\\"b"', "$'a\\tb'", "--force", "--fo''rce", "-- -r", "x\\ y"]
FRAMES = [
    "{c}",
    "X=1 {c}",
    "if true; then {c}; fi",
    "f() {{ {c}; }}; f",
    "function g {{ {c}; }}; g",
    "true && {c}",
    "false || {c}",
    "{{ {c}; }}",
    "({c})",
    "echo $({c})",
    'echo "$({c})"',
    "bash -c {q}",
    "sh -c {q}",
    "eval {q}",
    "env -i {c}",
    "nice {c}",
    "timeout 5 {c}",
    "echo a | xargs {c}",
    "find a -exec {c} {{}} \\;",
    "{c} > out",
    "bash <<< {q}",
    "{c}; ls",
]


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.skipif(BASH is None, reason="needs bash")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spelling=st.sampled_from(SPELLINGS),
    args=st.lists(st.sampled_from(ARGS), max_size=3),
    frame=st.sampled_from(FRAMES),
)
def test_every_command_bash_runs_is_reported(
    sandbox_dir: Path, spelling: str, args: list[str], frame: str
) -> None:
    inner = " ".join([spelling, *args])
    command = frame.format(c=inner, q=_shell_quote(inner))
    _check_against_bash(sandbox_dir, command)


@pytest.mark.skipif(BASH is None, reason="needs bash")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="rmls -'\"\\$(){};|`<>\n", max_size=24))
def test_random_lines_never_hide_a_command(sandbox_dir: Path, command: str) -> None:
    """Bash runs only stubs here (no letters for other builtins, no '&'); all it runs is found."""
    _check_against_bash(sandbox_dir, command)


NESTED = [
    'echo "$(echo ")" ; rm x)"',
    'echo "$(echo \'"\'; rm x)"',
    'echo "$( echo "$(rm x)" )"',
    'echo "$(echo \\"; rm x)"',
    'echo "$(echo "\\")"; rm x)"',
    "echo \"$(echo ')'; rm x)\"",
    'echo "$(ls "a b")" "$(rm "-rf" x)"',
    'echo "$(# comment )\n rm x)"',
    "echo $(echo ')'; rm x)",
    "echo $(case a in a) rm x;; esac)",
    'echo "`echo \\"a\\"`" ; rm x',
    "echo $( (rm x) )",
    'x="$(rm -rf x)"',
    "echo ${x:-$(rm x)}",
    'echo "${x:-"$(rm x)"}"',
]


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", NESTED)
def test_nested_quotes_agree_with_bash(sandbox_dir: Path, command: str) -> None:
    assert _bash_runs(sandbox_dir, command), command  # each of these runs rm in bash
    _check_against_bash(sandbox_dir, command)


def test_stub_sandbox_records(sandbox_dir: Path) -> None:
    assert _bash_runs(sandbox_dir, "r''m -rf a; X=1 ls") == [["rm", "-rf", "a"], ["ls"]]


# ---------------------------------------------------------------- policy check --strict


def test_strict_check_warns_on_text_rules_over_commands(
    make_policy: Callable[..., Path], workspace: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from agentguard.cli import main

    directory = make_policy(
        'p, *, shell.run, regex(command, ".*--output.*"), ask\n'  # named command
        'p, *, job.run, cmd_any(line, "rm *"), deny\n'
        'p, *, job.run, glob(line, "*--force*"), deny\n'  # tested as a command by line 2
        'p, *, fs.read, glob(path, "*.md"), allow\n'  # not a command
        'p, *, http.get, regex(url, "https://.*"), allow'
    )
    base = ["--home", str(tmp_path / "home"), "--workspace", str(workspace), "--policy", str(directory)]
    out = CliRunner().invoke(main, [*base, "policy", "check", "--strict"], catch_exceptions=False)
    assert out.exit_code == 1, out.output
    assert "policy.csv:1: warning: regex() over the shell command 'command'" in out.stdout
    assert "policy.csv:3: warning: glob() over the shell command 'line'" in out.stdout
    assert "policy.csv:4:" not in out.stdout
    assert "policy.csv:5:" not in out.stdout


def test_the_reason_says_when_a_rule_matched_because_it_could_not_tell(
    engine_for: Callable[..., PolicyEngine],
) -> None:
    engine = engine_for('p, *, t, cmd_any(c, "rm *"), deny')
    unsure = decide(engine, "t", c="$X x")
    assert unsure.effect is Effect.DENY
    assert "cannot tell" in unsure.reason
    sure = decide(engine, "t", c="rm x")
    assert sure.effect is Effect.DENY
    assert "cannot tell" not in sure.reason


def test_a_model_with_the_older_two_argument_matcher_still_loads(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    import casbin

    directory = make_policy('p, *, t, cmd_any(c, "rm *"), deny\np, *, t, cmd(c, "ls*"), allow')
    model = directory / "model.conf"
    model.write_text(
        model.read_text().replace("argsMatch(r.args, p.cond, p.act)", "argsMatch(r.args, p.cond)")
    )
    assert "p.cond)" in model.read_text()
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    assert decide(engine, "t", c="$X x").effect is Effect.DENY
    assert decide(engine, "t", c="ls").effect is Effect.ALLOW
    stock = casbin.Enforcer(str(model), str(directory / "policy.csv"))
    for name, function in engine.casbin_functions().items():
        stock.add_function(name, function)
    assert stock.enforce("a", "t", {"c": "$X x"}, "deny")
    assert stock.enforce("a", "t", {"c": "ls"}, "allow")
