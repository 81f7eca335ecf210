"""The literal-fragment index and the regex-free matchers against casbin's own answers.

Every shortcut taken to make a first-sight decision cheap is compared with the slow, exact thing it
stands in for: fragments with ``globMatch``, the index with a scan of every rule, the one-segment tool
matcher with ``globMatch``, the line splitter with casbin's tokenizer, ``dir/**`` globs with the
compiled RE2 pattern, and whole decisions with a stock ``casbin.Enforcer``.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import casbin
import pytest
from casbin.persist.adapter import _extract_tokens
from casbin.util import glob_match
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard.errors import PolicyError
from agentguard.models import Effect, RuleRef, ToolCall
from agentguard.policy import PolicyEngine, _policy_lines
from agentguard.policy._casbin_fields import _pieces, _token_spans
from agentguard.policy._conditions import (
    CompileEnv,
    ConditionError,
    _tokenize,
    _tokenize_exact,
    compile_condition,
)
from agentguard.policy._glob import Glob
from agentguard.policy._index import RuleIndex, literal_fragments
from agentguard.policy._loader import ToolPattern, tool_pattern
from agentguard.policy._types import Rule

from .conftest import PERMISSIONS

PIECES = [
    "a",
    "b",
    "ab",
    "ba",
    ".",
    "-",
    "/",
    "//",
    "*",
    "**",
    "?",
    "[ab]",
    "[!a]",
    "[a-c]",
    "{a,b}",
    "!",
    "]",
    "[",
]
patterns = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
names = st.text(alphabet="ab.-/!c", min_size=1, max_size=9)
SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_ALWAYS = compile_condition("*", CompileEnv(workspace="/", home="/", state=""))


def _rule(order: int, tool: str) -> Rule:
    ref = RuleRef(file="p.csv", line=order + 1, text=f"p, *, {tool}, *, allow")
    return Rule(
        ref=ref, subject="*", tool=tool, cond="*", effect=Effect.ALLOW, order=order, condition=_ALWAYS
    )


def _compiles(pattern: str) -> bool:
    try:
        tool_pattern(pattern)
    except Exception:  # noqa: BLE001 - a pattern the loader would refuse is not a rule
        return False
    return True


@SETTINGS
@given(pattern=patterns, name=names)
def test_every_name_a_glob_matches_contains_its_fragments(pattern: str, name: str) -> None:
    if glob_match(name, pattern):
        for fragment in literal_fragments(pattern):
            assert fragment in name, (pattern, name, fragment)


@SETTINGS
@given(tools=st.lists(patterns, min_size=1, max_size=12), name=names)
def test_the_index_finds_exactly_what_a_full_scan_finds(tools: list[str], name: str) -> None:
    rules = [_rule(i, tool) for i, tool in enumerate(t for t in tools if _compiles(t))]
    want = [r for r in rules if glob_match(name, r.tool)]
    assert list(RuleIndex(rules, {}).for_tool(name)) == want


def test_the_index_over_many_shapes_agrees_with_a_scan_and_looks_at_few_patterns() -> None:
    shapes = [
        "svc{n}.read",
        "svc{n}.*",
        "*.svc{n}-export",
        "*svc{n}.admin",
        "team*.svc{n}.write",
        "svc{n}?.re[a-e]d",
    ]
    rules = [_rule(len(shapes) * n + k, s.format(n=n)) for n in range(60) for k, s in enumerate(shapes)]
    rules.append(_rule(len(rules), "*.admin"))
    index = RuleIndex(rules, {})
    rng = random.Random(5)
    names = [f"svc{rng.randrange(80)}.{v}" for v in ("read", "admin", "write") for _ in range(10)]
    names += [f"team3.svc{rng.randrange(80)}.write" for _ in range(10)]
    names += [f"x.svc{rng.randrange(80)}-export" for _ in range(10)]
    names += [f"svc{rng.randrange(80)}{rng.randrange(10)}.read" for _ in range(10)]
    matched = 0
    for name in names:
        want = [r for r in rules if glob_match(name, r.tool)]
        assert list(index.for_tool(name)) == want, name
        matched += bool(want)
    assert matched > len(names) // 2
    checked: list[str] = []
    original = ToolPattern.matches

    def spy(self: ToolPattern, tool: str) -> bool:
        checked.append(self.text)
        return original(self, tool)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ToolPattern, "matches", spy)
        RuleIndex(rules, {}).for_tool("svc42.admin")
    assert 0 < len(checked) <= 10, checked  # a scan would check ~300 glob patterns


@SETTINGS
@given(pattern=patterns, name=names)
def test_the_one_segment_matcher_is_casbins_glob_match(pattern: str, name: str) -> None:
    if not _compiles(pattern):
        return
    assert ToolPattern(pattern).matches(name) == bool(glob_match(name, pattern)), (pattern, name)


FIXED_LENGTH = [
    "svc12?.re[a-e]d",
    "[!a]x",
    "[e-a]b",
    "a?[b-c9]",
    "!a?",
    "x[]a]",
    "a]?",
    "[ab?",
    "?",
    "a-b:c.d",
]


@pytest.mark.parametrize("pattern", FIXED_LENGTH)
def test_patterns_of_one_length_first_reached_by_names_of_every_length_match_as_casbin(pattern: str) -> None:
    """A star-less pattern turns away names of another length before it is parsed (on first use, where
    the parse was most of a decision's cost): each name here is the first one a fresh pattern sees."""
    names = ["svc12.read", "svc123.read", "svc1234.read", "svc12x.reed", "ax", "bx", "b", "ab", "a9", "ac"]
    names += ["!ab", "x]", "xa", "a]b", "a]", "[abc", "q", "a-b:c.d", "a-b:c.dd", "ba", "aab"]
    for name in names:
        assert ToolPattern(pattern).matches(name) == bool(glob_match(name, pattern)), (pattern, name)
    shared = ToolPattern(pattern)  # one pattern reached by every name in turn, as in a policy
    for name in names:
        assert shared.matches(name) == bool(glob_match(name, pattern)), (pattern, name)


STAR_PIECES = ["svc*?.re[a-e]d", "*svc?2.a[a-d]min", "a*b?c*[x-z]d", "*?", "??*", "*[!a]b?c*", "x*ab?ab*y"]
STAR_PIECES += ["*a?*", "*[ab]a?b*"]


@pytest.mark.parametrize("pattern", STAR_PIECES)
def test_pieces_with_wildcards_between_stars_match_as_casbin(pattern: str) -> None:
    """Pieces holding ``?`` or a class are matched run by run (``startswith`` per literal run, the
    first run located with ``find`` between stars): names that match, nearly match, or repeat a run."""
    names = ["svc12.read", "svc1.reed", "svcx9.rexd", "ops-svc12.admin", "ops-svc32.aamin", "svc92.admin"]
    names += ["abxcyd", "abcd", "a.bbc..zd", "a", "", "ab", "bbxc", "cbbc", "xabyabay", "xab-ab.y", "xaby"]
    names += ["ab.", "a.a", "aa"]
    for name in names:
        assert ToolPattern(pattern).matches(name) == bool(glob_match(name, pattern)), (pattern, name)


@SETTINGS
@given(
    line=st.lists(st.sampled_from(["p", ",", " ", "(", ")", "[", "]", "a", '"', "x,y", "b c"]), max_size=16)
)
def test_lines_split_as_casbin_splits_them(line: list[str]) -> None:
    text = "".join(line).strip()  # the reader skips blank lines, as casbin does
    if not text:
        return
    pieces = _pieces(text)
    spans = _token_spans(text)
    if isinstance(spans, str):  # unbalanced: casbin would crash or mis-split; both our paths refuse it
        assert isinstance(pieces, str)
        return
    assert not isinstance(pieces, str)
    assert [p.strip() for p in pieces] == _extract_tokens(text)


FIELD_PIECES = ["(", ")", "[", "]", "a", '"', ",", " ", "x,y", "(b, c)", "[d]"]


@SETTINGS
@given(
    fields=st.lists(
        st.lists(
            st.sampled_from(["(", ")", "[", "]", "a", '"', ",", " ", "x,y", "(b, c)", "[d]"]), max_size=8
        ),
        min_size=4,
        max_size=6,
    )
)
def test_rule_lines_split_by_the_regex_as_casbin_splits_them(fields: list[list[str]]) -> None:
    """Lines of about five fields with brackets: the ones ``_RULE_FIELDS`` reads (nested brackets,
    commas inside them, mixed kinds) and the ones it leaves to the walk."""
    text = ", ".join(["p", *("".join(field) for field in fields)])
    pieces = _pieces(text)
    spans = _token_spans(text)
    if isinstance(spans, str):
        assert isinstance(pieces, str)
        return
    assert pieces == [text[a:b] for a, b in spans]  # unstripped: error columns are counted from them
    assert [p.strip() for p in pieces] == _extract_tokens(text)


@SETTINGS
@given(
    pattern=st.lists(st.sampled_from(["a", "b", "x.y", "a-b", "."]), min_size=1, max_size=3).map(
        lambda segs: "/" + "/".join(segs) + "/**"
    ),
    value=st.lists(st.sampled_from(["a", "b", "x.y", ".", "..", "", "\ue000"]), max_size=5).map("/".join),
    lead=st.sampled_from(["", "/", "//"]),
)
def test_dir_globs_without_a_regex_match_as_the_compiled_glob(pattern: str, value: str, lead: str) -> None:
    fast = Glob(pattern)
    slow = Glob(pattern)
    slow._under = None  # the compiled RE2 path
    assert fast.match(lead + value) == slow.match(lead + value), (pattern, lead + value)


def test_patterns_compiled_on_first_use_still_fail_at_load(tmp_path: Path) -> None:
    shutil.copyfile(PERMISSIONS / "model.conf", tmp_path / "model.conf")
    for line, needle in [
        ("p, *, a{1..5000}, *, allow", "tool pattern"),
        ('p, *, t, glob(path, "x{1..5000}"), allow', "brace"),
        ('p, *, t, glob(path, "a\\/b"), allow', "bad glob"),
    ]:
        (tmp_path / "policy.csv").write_text(line + "\n")
        with pytest.raises(PolicyError, match=needle):
            PolicyEngine.load(tmp_path, workspace=tmp_path)


def test_decisions_over_every_pattern_shape_match_stock_casbin(tmp_path: Path) -> None:
    shutil.copyfile(PERMISSIONS / "model.conf", tmp_path / "model.conf")
    rng = random.Random(11)
    shapes = [
        "svc{n}.read",
        "svc{n}.*",
        "*.svc{n}-export",
        "*svc{n}.admin",
        "team*.svc{n}.write",
        "svc{n}?.re[a-e]d",
        "*/svc{n}",
        "mcp/**",
        "*.admin",
    ]
    conds = ["*", 'eq(env, "prod")', 'glob(path, "/data/svc{n}/**")', "lt(limit, 100)"]
    lines = [f"g, agent{i}, role{i % 3}" for i in range(6)]
    for n in range(40):
        for shape in shapes:
            subject = rng.choice(["*", "role0", "role1", "role2", "agent4"])
            cond = rng.choice(conds).format(n=n)
            lines.append(f"p, {subject}, {shape.format(n=n)}, {cond}, {rng.choice(['allow', 'ask', 'deny'])}")
    (tmp_path / "policy.csv").write_text("\n".join(lines) + "\n")
    engine = PolicyEngine.load(tmp_path, workspace=tmp_path)
    stock = casbin.Enforcer(str(tmp_path / "model.conf"), str(tmp_path / "policy.csv"))
    for name, fn in engine.casbin_functions().items():
        stock.add_function(name, fn)
    tools = [
        "svc{n}.read",
        "svc{n}.admin",
        "ops-svc{n}.admin",
        "bi.svc{n}-export",
        "team2.svc{n}.write",
        "svc{n}7.read",
        "a/svc{n}",
        "mcp/x/svc{n}",
    ]
    seen: set[Effect] = set()
    for i in range(400):
        tool = rng.choice(tools).format(n=rng.randrange(45))
        agent = f"agent{rng.randrange(7)}"
        args = {
            "env": rng.choice(["prod", "dev"]),
            "path": f"/data/{tool.split('.')[0]}/f{i}",
            "limit": rng.randrange(200),
        }
        got = engine.decide(ToolCall(agent=agent, tool=tool, arguments=args)).effect
        want = next(
            (e for e in (Effect.DENY, Effect.ASK, Effect.ALLOW) if stock.enforce(agent, tool, args, e.value)),
            Effect.DENY,
        )
        assert got is want, (agent, tool, args)
        seen.add(got)
    assert seen == {Effect.ALLOW, Effect.ASK, Effect.DENY}


COND_PIECES = [
    "eq",
    "(",
    "a",
    ",",
    " ",
    '"x"',
    '"a\\"b"',
    '"\\\\"',
    '"\\n"',
    "\\",
    '"',
    "1",
    "-2",
    ".5",
    "1e3",
]
COND_PIECES += ["-", ".", "&&", "||", "!", "*", ")", "x.y", "_", "é", "\t", "-a", "1.", "3e", "²"]


def _tokens(tokenize: Callable[[str], list[Any]], text: str) -> object:
    try:
        return [(t.kind, t.value, t.col, t.text) for t in tokenize(text)]
    except ConditionError as exc:
        return ("error", exc.message, exc.column, exc.token)


@SETTINGS
@given(text=st.lists(st.sampled_from(COND_PIECES), min_size=1, max_size=10).map("".join))
def test_the_regex_tokenizer_reads_conditions_as_the_exact_one_does(text: str) -> None:
    assert _tokens(_tokenize, text) == _tokens(_tokenize_exact, text), text


def test_a_reload_after_an_edit_compiles_only_the_new_condition(tmp_path: Path) -> None:
    shutil.copyfile(PERMISSIONS / "model.conf", tmp_path / "model.conf")
    lines = [f'p, *, svc{n}.write, glob(path, "/data/svc{n}/**"), allow' for n in range(500)]
    policy = tmp_path / "policy.csv"
    policy.write_text("\n".join(lines) + "\n")
    engine = PolicyEngine.load(tmp_path, workspace=tmp_path)
    compiled: list[str] = []
    real = _policy_lines.compile_condition

    def counting(text: str, env: CompileEnv) -> Any:
        compiled.append(text)
        return real(text, env)

    lines[7] = 'p, *, svc7.write, glob(path, "/data/other/**"), allow'
    policy.write_text("\n".join(lines) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_policy_lines, "compile_condition", counting)
        assert engine.refresh()
    assert compiled == ['glob(path, "/data/other/**")']
    call = ToolCall(agent="a", tool="svc7.write", arguments={"path": "/data/other/x"})
    assert engine.decide(call).effect is Effect.ALLOW


def test_threads_never_see_a_half_loaded_policy(tmp_path: Path) -> None:
    """Two 3,000-rule versions swapped back and forth: every snapshot a thread takes is one whole version."""
    shutil.copyfile(PERMISSIONS / "model.conf", tmp_path / "model.conf")
    versions = [
        "\n".join(f"p, *, svc{n}.*, *, {effect}" for n in range(3000)) + "\n" for effect in ("allow", "ask")
    ]
    policy = tmp_path / "policy.csv"
    policy.write_text(versions[0])
    engine = PolicyEngine.load(tmp_path, workspace=tmp_path)
    mixed: list[set[Effect]] = []
    effects: set[Effect] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rules = engine.rules
            seen = {r.effect for r in rules}
            if len(rules) != 3000 or len(seen) != 1:
                mixed.append(seen)
            effects.add(
                engine.decide(ToolCall(agent="a", tool=f"svc{len(effects) * 7}.x", arguments={})).effect
            )

    threads = [threading.Thread(target=watch) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for i in range(1, 7):
            policy.write_text(versions[i % 2])
            engine.reload()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not mixed
    assert effects <= {Effect.ALLOW, Effect.ASK}
