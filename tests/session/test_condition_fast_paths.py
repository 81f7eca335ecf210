"""The provenance call's fast paths (issue 11) against the forms they replace, on generated text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard.policy._facts import PolicyFacts
from agentguard.policy._textfacts import _host_in
from agentguard.session import _links as links_mod
from agentguard.session import _values as v

_PIECES = [
    "https://",
    "http:",
    "ftp://",
    "mailto:",
    "www.",
    "example.com",
    "evil.example",
    "/",
    "//",
    ".",
    ":",
    " ",
    "\t",
    "\n",
    "\r",
    "%",
    "%40",
    "&",
    "&#64;",
    '"',
    "'",
    "a",
    "@",
    "x/y",
    "\u00e9",
]
texts = st.lists(st.sampled_from(_PIECES), max_size=20).map("".join)

_ATTRIBUTE = re.compile(r"\"[^\"<> ]*[\t\n\r][^\"<> ]*\"|'[^'<> ]*[\t\n\r][^'<> ]*'")
_STRIPS = re.compile(r"[\t\n\r]")


def _read_as_shown_slow(text: str) -> list[str]:
    """``read_as_shown`` without its fast path: every text through ``decoded``."""
    out: list[str] = []
    plain = v.decoded(text)
    for reading in (text,) if plain is None else (text, plain):
        if "\t" in reading or "\n" in reading or "\r" in reading:
            joined = _ATTRIBUTE.sub(lambda m: _STRIPS.sub("", m.group()), reading)
            if joined != reading:
                out.append(joined)
    if plain is not None:
        out.append(plain)
    return out


@settings(max_examples=400)
@given(texts)
def test_read_as_shown_equals_the_full_form(text: str) -> None:
    assert v.read_as_shown(text) == _read_as_shown_slow(text)


def _links_slow(text: str) -> list[str]:
    """``links`` with the sums it had before one loop counted the schemes and slashes."""
    web = links_mod._web_links(text)
    found = list(web)
    if text.count("://") > sum("://" in link for link in web):
        at = text.find("://")
        while at > 0:
            scheme = links_mod._OTHER_SCHEME.search(text, max(0, at - 31), at)
            tail = links_mod._TAIL.match(text, at + 3)
            if (
                scheme is not None
                and tail is not None
                and scheme.group().lower() not in links_mod._URL_SCHEMES
                and (scheme.start() == 0 or not text[scheme.start() - 1].isalnum())
            ):
                found.append(text[scheme.start() : tail.end()])
            at = text.find("://", at + 3)
    if text.count("/") > sum(link.count("/") for link in web):
        for word in text.split():
            if "/" in word and "." in word and "://" not in word:
                found.extend(m.group() for m in links_mod._SCHEMELESS.finditer(word))
    return found


@settings(max_examples=400)
@given(texts)
def test_links_equal_the_form_with_sums(text: str) -> None:
    assert list(links_mod.links(text)) == _links_slow(text)


_FACTS = PolicyFacts({"org": ["example.com", "corp.example"]})


class _Ctx:
    facts = _FACTS


hosts = st.lists(st.sampled_from(["a", "example", "com", "corp", ".", "..", "x-y"]), max_size=8).map("".join)


@settings(max_examples=400)
@given(hosts)
def test_host_in_equals_the_parent_list(host: str) -> None:
    parents = [host[i + 1 :] for i, char in enumerate(host) if char == "."]
    expected = _FACTS.contains("org", host) or any(p in _FACTS.members("org") for p in parents)
    assert _host_in(host, "org", _Ctx()) is expected  # type: ignore[arg-type]
