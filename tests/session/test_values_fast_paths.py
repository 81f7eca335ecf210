"""The fast paths of value normalisation give exactly what the plain regular expressions give.

Each fast path skips work sre would do position by position; a difference would be a value the
guard reads differently from the way it was indexed, so every one is checked against the slow form
on generated text built from the characters that matter (schemes, colons, slashes, case, digits,
white space of every kind, non-ASCII look-alikes).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard.policy._outputs import OutputTreatment
from agentguard.session import _ibans as ibans_mod
from agentguard.session import _links as links_mod
from agentguard.session import _normal as normal_mod
from agentguard.session import _values as v

_PIECES = [
    "http",
    "HTTPS",
    "hTtPs",
    "ftp",
    "FTP",
    "ws",
    "wss",
    "WsS",
    "www.",
    "WWW.",
    "wWw.",
    ":",
    "://",
    ":/",
    ":\\\\",
    "/",
    ".",
    "example.com",
    "evil.example",
    "a",
    "Z",
    "_",
    "-",
    " ",
    "  ",
    "\t",
    "\n",
    "\x1c",
    "\x0b",
    "(",
    ")",
    "<",
    ">",
    '"',
    "'",
    "1",
    "23",
    "DE89",
    "gb29",
    "k",
    "\u212a",
    "\u017f",
    "\u00e9",
    "\u0130",
    "\u200b",
    "\u00a0",
    "\uff48ttps",
    "x",
    "@",
    "%40",
    "#",
    "?q=1",
]
texts = st.lists(st.sampled_from(_PIECES), max_size=24).map("".join)


def _slow_key(text: str) -> str:
    return normal_mod._SPACE.sub(" ", normal_mod._clean(text)).strip()


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_web_links_equal_finditer(text: str) -> None:
    assert links_mod._web_links(text) == [m.group() for m in links_mod._URL.finditer(text)]


_COMPACT_START = re.compile(r"(?i)[a-z]{2}\d\d")
_EVERY_START = re.compile("(?=(" + ibans_mod._IBAN_START.pattern + "))")


def _hint_by_search(text: str) -> bool:
    """What ``iban_hint`` answers, by plain searches: a compact start (``GB29``, any two letters), or
    a start written apart (``GB 29``) at any position whose two letters are an IBAN country."""
    if _COMPACT_START.search(text) is not None:
        return True
    for m in _EVERY_START.finditer(text):
        letters = [c for c in m.group(1) if c.isascii() and c.isalpha()]
        if (letters[0] + letters[1]).upper() in ibans_mod._IBAN_LENGTHS:
            return True
    return False


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_iban_hint_equals_search(text: str) -> None:
    assert ibans_mod.iban_hint(text) == _hint_by_search(text)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_iban_hint_equals_search_on_any_ascii(text: str) -> None:
    assert ibans_mod.iban_hint(text) == _hint_by_search(text)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="GBDEXQ 2904-#.", max_size=30))
def test_iban_hint_equals_search_on_starts_written_apart(text: str) -> None:
    assert ibans_mod.iban_hint(text) == _hint_by_search(text)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(texts, st.text(max_size=40)))
def test_has_space_equals_search(text: str) -> None:
    assert links_mod._has_space(text) == (normal_mod._SPACE.search(text) is not None)


def test_has_space_on_every_white_space_character() -> None:
    """Every character sre reads as white space, and every printable one, answers as sre does."""
    for code in range(0x110000):
        char = chr(code)
        if char.isspace() or char.isprintable():
            assert links_mod._has_space(f"a{char}b") == (normal_mod._SPACE.search(char) is not None)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(texts, st.text(max_size=40)))
def test_key_of_equals_slow_form(text: str) -> None:
    assert v.key_of(text) == _slow_key(text)


def test_cases_that_need_the_slow_path() -> None:
    """Look-alikes and white space other than single spaces take the full normal form."""
    assert v.key_of("Bob\u00a0Smith") == "bob smith"
    assert v.key_of("bob\t smith ") == "bob smith"
    assert v.key_of("\uff22ob") == "bob"
    assert links_mod._web_links("xhttps://a.example https://b.example") == ["https://b.example"]
    assert links_mod._web_links("xwww.https://evil.example") == ["https://evil.example"]
    assert ibans_mod.iban_hint("a1b23") is False
    assert ibans_mod.iban_hint("iban: de89 3704") is True
    assert ibans_mod.iban_hint("\u212ab12") is True  # the Kelvin sign is a k to (?i)[a-z]: not ASCII
    assert links_mod._has_space("https://a.example/\u2028x") is True
    assert links_mod._has_space("https://a.example/x") is False


_TREATMENTS = [
    OutputTreatment(),
    OutputTreatment(trust="trusted"),
    OutputTreatment(trust="trusted", fields=(((None, "subject"), "untrusted"),)),
    OutputTreatment(trust="untrusted", fields=(((), "trusted"),)),
    OutputTreatment(trust="trusted", fields=((("body",), "untrusted"),)),
]


@settings(max_examples=2000, deadline=None)
@given(st.one_of(texts, st.text(max_size=40)), st.sampled_from(_TREATMENTS))
def test_plain_text_leaf_equals_the_walk(text: str, treatment: OutputTreatment) -> None:
    """A text result's one leaf is what walking it gives (JSON-looking text still takes the walk)."""
    assert list(treatment.leaves(text)) == list(treatment._walk(text))
    assert list(treatment.leaves("{" + text)) == list(treatment._walk("{" + text))
