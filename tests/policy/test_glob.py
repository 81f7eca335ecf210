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
