"""Bad model and policy files: a clear PolicyError naming file and line, never a partial policy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.errors import PolicyError
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine, lint_policy

from .conftest import PERMISSIONS, decide

GOOD = 'p, *, fs.read, path(path, "{workspace}/**"), allow'


@pytest.mark.parametrize(
    ("bad_line", "fragment", "code"),
    [
        ('p, *, fs.read, path(path, "{workspace}/**", allow', "never closed", "brackets"),
        ('p, *, fs.read, eq(a, "x")), allow', "unbalanced ')'", "brackets"),
        ('p, *, fs.read, regex(a, "[a-z"), allow', "never closed", "brackets"),
        ('p, *, fs.read, paht(path, "/x/**"), allow', "unknown function 'paht'", "unknown-function"),
        ("p, *, fs.read, path(path), allow", "takes 2 arguments, got 1", "arity"),
        ('p, *, fs.read, eq(a, "x"), permit', "must be allow, ask or deny, got 'permit'", "bad-effect"),
        ('p, *, fs.read, eq(a, "x"), ALLOW', "must be allow, ask or deny", "bad-effect"),
        ("p, *, fs.read, allow", "4 fields", "columns"),
        ('p, *, fs.read, eq(a, "x"), allow, extra', "found 5", "columns"),
        ('p, *, fs.read, regex(a, "a{2,1}"), allow', "bad regular expression", "condition"),
        ('p, *, fs.read, regex(a, "(?P<x"), allow', "never closed", "brackets"),
        ('p, *, fs.read, regex(a, "(?<=a+)b"), allow', "bad regular expression", "condition"),
        ('p, *, fs.read, path(path, "src/**"), allow', "must be absolute", "condition"),
        ('p, *, fs.read, path(path, "{wrkspace}/**"), allow', "unknown placeholder", "condition"),
        ('p, *, fs.read, before("2026-12-01T00:00:00"), allow', "no time zone", "condition"),
        ('p, *, fs.read, before("next tuesday"), allow', "not an ISO 8601 time", "condition"),
        ('p, *, fs.read, eq(a, "x") || sandbox("default"), allow', "annotation", "condition"),
        ("p, *, fs.read, !timeout(5), ask", "annotation", "condition"),
        ('p, *, fs.read, timeout("soon"), ask', "must be a number", "condition"),
        ('p, *, fs.read, lt(n, "5"), allow', "must be a number", "condition"),
        ('p, *, fs.read, eq("a", "b"), allow', "must name a tool argument", "condition"),
        ('p, *, fs.read, eq(a, "x") &&, allow', "expected a function call", "condition"),
        ('p, *, fs.read, eq(a, "unterminated), allow', "unterminated string", "condition"),
        ('p, *, fs.read, url(u, "example.com"), allow', "needs a scheme", "condition"),
        ('p, *, fs.read, cmd(c, ""), allow', "names no command", "condition"),
        ("p, *, fs.read, between(n, 5, 1), allow", "lower bound", "condition"),
        ("p, *, FS.READ, *, allow", "lowercase", "tool-pattern"),
        ("p, *, fs read, *, allow", "lowercase", "tool-pattern"),
        ("p, , fs.read, *, allow", "empty subject", "empty-field"),
        ("p, *, fs.read, , allow", "empty condition", "empty-field"),
        ("x, *, fs.read, *, allow", "unknown line type 'x'", "line-type"),
        ("p2, *, fs.read, *, allow", "unknown line type 'p2'", "line-type"),
        ("g, alice", "'g' lines have 2 fields", "columns"),
        ("g, alice, role, domain", "'g' lines have 2 fields", "columns"),
    ],
)
def test_bad_policy_lines_name_file_and_line(
    make_policy: Callable[..., Path], tmp_path: Path, bad_line: str, fragment: str, code: str
) -> None:
    directory = make_policy(f"# header\n{GOOD}\n\n{bad_line}\n{GOOD}")
    with pytest.raises(PolicyError) as info:
        PolicyEngine.load(directory, workspace=tmp_path)
    err = info.value
    assert err.file == "policy.csv"
    assert err.line == 4
    assert fragment in err.message
    assert str(err).startswith("policy.csv:4: ")
    assert err.data["findings"][0]["code"] == code
    findings = lint_policy(directory, workspace=tmp_path)
    assert [(f.severity, f.line, f.code) for f in findings if f.severity == "error"] == [("error", 4, code)]


def test_condition_errors_give_the_column(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    line = 'p, *, fs.read, eq(a, "x") && nope(b), allow'
    directory = make_policy(line)
    with pytest.raises(PolicyError) as info:
        PolicyEngine.load(directory, workspace=tmp_path)
    column = line.index("nope") + 1
    assert f"column {column}" in info.value.message
    assert "'nope'" in info.value.message


def test_every_bad_line_is_reported_at_once(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    directory = make_policy("p, *, a, *, permit\np, *, b, x(), allow\np, *, c, *, allow\ng, x")
    findings = lint_policy(directory, workspace=tmp_path)
    assert [(f.line, f.code) for f in findings] == [
        (1, "bad-effect"),
        (2, "unknown-function"),
        (4, "columns"),
    ]
    with pytest.raises(PolicyError, match=r"and 2 more problems"):
        PolicyEngine.load(directory, workspace=tmp_path)


def test_bad_utf8_is_an_error(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    directory = make_policy(GOOD)
    (directory / "extra.csv").write_bytes(b'p, *, fs.read, eq(a, "\xff"), allow\n')
    with pytest.raises(PolicyError) as info:
        PolicyEngine.load(directory, workspace=tmp_path)
    assert (info.value.file, info.value.line) == ("extra.csv", 1)
    assert "UTF-8" in info.value.message


MODEL_OK = (PERMISSIONS / "model.conf").read_text()


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("garbage without sections\n", "casbin cannot parse the model"),
        ("", "missing 'r = ...'"),
        (MODEL_OK.replace("r = sub, tool, args, act", "r = sub, obj, act"), "request_definition must be"),
        (MODEL_OK.replace("p = sub, tool, cond, act", "p = sub, tool, act"), "policy_definition must be"),
        (MODEL_OK.replace("g = _, _", "g = _, _, _"), "role_definition must be"),
        (
            MODEL_OK.replace("some(where (p.eft == allow))", "!some(where (p.eft == deny))"),
            "policy_effect must be",
        ),
        (MODEL_OK.replace("&& r.act == p.act", ""), "matchers must be"),
        (MODEL_OK.replace("[role_definition]\ng = _, _\n", ""), "missing 'g = ...'"),
        (MODEL_OK + "\n[request_definition]\nr2 = sub, obj\n", "only one request_definition"),
    ],
)
def test_bad_models_are_rejected(
    make_policy: Callable[..., Path], tmp_path: Path, model: str, fragment: str
) -> None:
    directory = make_policy(GOOD)
    (directory / "model.conf").write_text(model)
    with pytest.raises(PolicyError) as info:
        PolicyEngine.load(directory, workspace=tmp_path)
    assert info.value.file == "model.conf"
    assert fragment in info.value.message


def test_model_whitespace_may_differ(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    directory = make_policy(GOOD)
    squeezed = MODEL_OK.replace(" && ", "&&").replace("r = sub, tool, args, act", "r = sub,tool,args,act")
    (directory / "model.conf").write_text(squeezed)
    assert PolicyEngine.load(directory, workspace=tmp_path).rules


def test_missing_directory_and_model(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy directory not found"):
        PolicyEngine.load(tmp_path / "nope", workspace=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match="model file not found"):
        PolicyEngine.load(tmp_path / "empty", workspace=tmp_path)


def test_a_directory_with_no_rules_denies_everything(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    assert engine.rules == ()
    assert decide(engine, "fs.read", path="x").effect is Effect.DENY
    allow_default = PolicyEngine.load(directory, workspace=tmp_path, default_effect=Effect.ASK)
    decision = decide(allow_default, "fs.read", path="x")
    assert decision.effect is Effect.ASK
    assert decision.reason == "no rule matched; default is ask"


def test_comments_blank_lines_and_crlf(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    directory = make_policy("")
    (directory / "policy.csv").write_bytes(
        b"# comment, with (unbalanced\r\n\r\n   # indented comment\r\n" + GOOD.encode() + b"\r\n"
    )
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    assert [(r.ref.line, r.ref.text) for r in engine.rules] == [(4, GOOD)]


def test_decide_never_raises(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for('p, *, fs.read, eq(a, "x") || secret(*), allow')

    class Exploding(dict[str, object]):
        def __contains__(self, key: object) -> bool:
            raise RuntimeError("boom")

    call = ToolCall.model_construct(
        id="x", agent="a", tool="fs.read", arguments=Exploding(a="x"), session=None, framework=None
    )
    decision = engine.decide(call)
    assert decision.effect is Effect.DENY
    assert "boom" in decision.reason
    assert "policy.csv:1" in decision.reason
    broken = ToolCall.model_construct(id="y", agent="a", tool=None, arguments={})  # type: ignore[arg-type]
    assert engine.decide(broken).effect is Effect.DENY


# ---------------------------------------------------------------- lint warnings


def test_lint_warnings(make_policy: Callable[..., Path], tmp_path: Path) -> None:
    directory = make_policy(
        "\n".join(
            [
                "p, *, fs.read, *, allow",  # 1 allow-any-tool? no: fs.read
                "p, *, fs.read, *, allow",  # 2 duplicate of 1
                "p, *, http.*, *, deny",  # 3
                'p, coder, http.get, url(url, "https://x.test"), allow',  # 4 shadowed by 3
                "p, reviewer, shell.run, *, ask",  # 5
                'p, bob, shell.run, cmd(command, "ls*"), allow',  # 6 shadowed by 5 via g
                "p, *, *, *, allow",  # 7 allow-any-tool
                "g, bob, reviewer",  # 8
                "g, a, b",  # 9
                "g, b, a",  # 10 cycle
                'p, *, fs.write, eq(path, "x"), ask',  # 11 not shadowed: the deny below is conditional
                'p, *, fs.write, eq(path, "y"), deny',  # 12
            ]
        )
    )
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    found = {(f.line, f.code) for f in engine.lint()}
    assert found == {
        (2, "duplicate"),
        (4, "shadowed"),
        (6, "shadowed"),
        (7, "allow-any-tool"),
        (9, "role-cycle"),
    }
    assert all(f.severity == "warning" for f in engine.lint())
    assert lint_policy(directory, workspace=tmp_path) == engine.lint()
    assert "policy.csv:3" in next(f.message for f in engine.lint() if f.line == 4)


def test_granted_allow_is_not_reported_as_shadowed_by_an_ask(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    directory = make_policy("p, *, shell.run, *, ask\np, *, http.*, *, deny")
    grants = tmp_path / "grants.csv"
    grants.write_text('p, coder, shell.run, cmd(command, "make*"), allow\np, coder, http.get, *, allow\n')
    engine = PolicyEngine.load(directory, workspace=tmp_path, extra_files=[grants])
    assert [(f.file, f.line, f.code) for f in engine.lint()] == [(str(grants), 2, "shadowed")]
