"""The RE2 glob matcher agrees with wcmatch (GLOBSTAR | DOTGLOB | BRACE), the matcher it replaced."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wcmatch import glob

from agentguard.policy._glob import Glob, GlobError

FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.BRACE
_PATTERN_TOKENS = [
    "a", "b", ".", "/", "*", "?", "**", "[ab]", "[!a]", "{a,b}", "\\*", "[.]", "..", "//",
    "[[:alpha:]]", "[a-c]", "{a..c}", "\\", "[", "]", "[]a]", "[!]]", "[^.]", "{,a}",
]  # fmt: skip
_VALUE_TOKENS = ["a", "b", ".", "/", "*", "..", "ab", "c", "]"]


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(_PATTERN_TOKENS), min_size=1, max_size=6).map("".join),
    st.lists(st.lists(st.sampled_from(_VALUE_TOKENS), max_size=7).map("".join), min_size=1, max_size=12),
)
def test_matches_exactly_what_wcmatch_matches(pattern: str, values: list[str]) -> None:
    try:
        ours = Glob(pattern)
    except GlobError:
        return  # patterns refused outright ("\/", classes that include "/") are refused at load
    theirs = glob.compile(pattern, flags=FLAGS)
    for value in values:
        assert ours.match(value) == bool(theirs.match(value)), (pattern, value)


@pytest.mark.parametrize("pattern", ["a\\/b", "[+-0]x", "x/[.-0]"])
def test_patterns_that_cannot_mean_what_they_say_are_refused(pattern: str) -> None:
    with pytest.raises(GlobError):
        Glob(pattern)


def test_brace_expansion_is_bounded() -> None:
    with pytest.raises(GlobError, match="brace expansions"):
        Glob("{a,b}" * 11)


def test_a_value_prepared_for_one_glob_is_never_reused_for_another_value() -> None:
    """``_subject`` keeps the last value it prepared (path() checks one path against several globs):
    values in any order, including ones equal but for a dot segment, a sentinel character or a lone
    surrogate, answer as each does alone."""
    from agentguard.policy import _glob

    globs = [Glob("/w/**/.env"), Glob("/w/*/x"), Glob("/w/{a,b}/**"), Glob("/w/?/\u00e9*")]
    values = [
        "/w/a/.env",
        "/w/./.env",
        "/w/../.env",
        "/w/a/x",
        "/w/\ue000/x",
        "/w/b/\u00e9\ud800",
        "/w/b/\u00e9x",
        "",
    ]

    def alone(g: Glob, v: str) -> bool:
        _glob._last_subject = ("", b"")
        return g.match(v)

    expected = {(i, v): alone(g, v) for i, g in enumerate(globs) for v in values}
    assert True in expected.values()
    assert False in expected.values()
    for order in (values, values[::-1], values[1::2] + values[::2]):
        for v in order:
            for i, g in enumerate(globs):
                assert g.match(v) is expected[(i, v)], (g.pattern, v)
