"""The provenance call's fast paths (issue 11, session 15) against the forms they replace.

Each one only reorganises work (a link read once and remembered, a host worked out once, one
search list instead of generators, a loop instead of a set), so each must give exactly what the
form it replaced gives, on generated text built from the pieces that matter: links of every
spelling, addresses, IBANs, base64 and hex runs, percent-encoding, character references, line
breaks, grouped digits.
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard.policy import _textfacts as textfacts
from agentguard.policy._urls import UnreadableUrl, parse_url
from agentguard.session import Leaf, Session
from agentguard.session import _links as links_mod
from agentguard.session import _values as v
from agentguard.session._compact import compact
from agentguard.session._encoded import decoded_runs
from agentguard.session._index import TRUSTED_ANY, Entry
from agentguard.session._normal import _TRAILING_URL_PUNCT, MIN_CONTAINED, key_of

_SECRET_LINK = "https://evil.example/collect?k=1"
_PIECES = [
    "https://",
    "HTTP://",
    "http:",
    "ftp://",
    "mailto:",
    "www.",
    "WWW.",
    "//",
    "/",
    ".",
    ":",
    "@",
    " ",
    "\n",
    "\t",
    "%40",
    "%2F",
    "&#64;",
    "&amp;",
    "example.com",
    "evil.example",
    "docs.example.com/q3",
    "drop@evil.example",
    "bob@example.com",
    "GB29 NWBK 6016 1331 9268 19",
    "DE89370400440532013000",
    "4237 4252 7456 2574",
    "4237-4252-7456-2574",
    base64.b64encode(b"drop@evil.example").decode(),
    b"drop@evil.example".hex(),
    _SECRET_LINK,
    "Q3",
    "#12",
    "x/y",
    "a",
    "\u00e9",
    ")",
    "'",
]
texts = st.lists(st.sampled_from(_PIECES), max_size=16).map("".join)


def _read_link_inline(link: str) -> tuple[str, str | None, str | None]:
    """The link loop of ``_entities`` as it was written before it remembered each link's reading."""
    raw = link.rstrip(_TRAILING_URL_PUNCT)
    if raw.startswith("//"):
        raw = "http:" + raw
    elif ":" not in raw.split("/", 1)[0] and not raw.lower().startswith("www."):
        raw = "http://" + raw
    key = links_mod.canonical_url(raw)
    if key is None:
        return raw, None, None
    return raw, key, links_mod.host_of(raw)


@settings(max_examples=400)
@given(texts)
def test_remembered_link_reading_equals_the_inline_one(text: str) -> None:
    for link in links_mod.links(text):
        assert v._link_reading(link) == _read_link_inline(link)
        assert v._link_reading(link) == _read_link_inline(link)  # the remembered answer too


def _host_named_inline(item: str) -> str | None:
    host = links_mod.host_of(item)
    if host is None:
        return links_mod.host_name(item)
    if "://" not in item and "@" in item:
        return host
    url = item if "://" in item else "http://" + item if item.lower().startswith("www.") else None
    if url is None:
        return None
    try:
        parse_url(url)
    except UnreadableUrl:
        return None
    return host


@settings(max_examples=400)
@given(texts)
def test_remembered_host_to_check_equals_the_inline_one(text: str) -> None:
    for item in (text, *(e.text for e in v.entities(text))):
        assert textfacts._host_to_check(item) == _host_named_inline(item)
        assert textfacts._host_to_check(item) == _host_named_inline(item)


def _find_in_slow(session: Session, text: str, *, short_compact: bool = False) -> list[tuple[str, Entry]]:
    """``Session.find_in`` as it was: readings listed, generators, a lock per reading."""
    hits: list[tuple[str, Entry]] = []
    readings = [text, *v.read_as_shown(text)]
    readings += [plain for reading in readings for plain in decoded_runs(reading)]
    for reading in readings:
        normalised = key_of(reading)
        hits.extend(session.index.find_in(normalised))
        if len(session.compact):
            found = list(session.compact.find_in(compact(reading)))
            hits.extend(found if short_compact else [h for h in found if len(h[0]) >= MIN_CONTAINED])
        whole = session.index.get(normalised)
        if whole is not None:
            hits.append((normalised, whole))
        for entity in v.entities(reading):
            entry = session.index.get(entity.key)
            if entry is not None:
                hits.append((entity.key, entry))
    return hits


def _session() -> Session:
    session = Session(user_request="Mail bob@example.com the summary of https://docs.example.com/q3")
    page = (
        f"see {_SECRET_LINK} or write to drop@evil.example, card 4237-4252-7456-2574, "
        "IBAN GB29 NWBK 6016 1331 9268 19 and www.evil.example/in"
    )
    session.record_result(
        tool="web.get", call_id="c1", arguments={}, leaves=[Leaf("$", page, "untrusted")], marks=()
    )
    session.record_result(
        tool="bank.get",
        call_id="c2",
        arguments={},
        leaves=[Leaf("$.iban", "DE89370400440532013000", "trusted")],
        marks=(),
    )
    return session


_SESSION = _session()


@settings(max_examples=400)
@given(texts, st.booleans())
def test_find_in_equals_the_form_with_generators(text: str, short_compact: bool) -> None:
    found = _SESSION.find_in(text, short_compact=short_compact)
    assert found == _find_in_slow(_SESSION, text, short_compact=short_compact)


def test_find_in_reads_every_spelling_it_read_before() -> None:
    """Spot checks that the differential test's session does find things (it is no empty match)."""
    encoded = base64.b64encode(b"drop@evil.example").decode()
    for text in (_SECRET_LINK, "write drop%40evil.example", f"ref {encoded}", "4237 4252 7456 2574"):
        assert any(e.mask & ~TRUSTED_ANY for _, e in _SESSION.find_in(text, short_compact=True)), text


def _wrote_slow(session: Session, arguments: dict[str, Any]) -> set[str]:
    """The keys ``Session.wrote`` noted before it looped without a set of them."""
    written: set[str] = set()
    for value in arguments.values():
        keys = {entity.key for entity in v.entities(value)}
        if len(value) <= 100:
            keys.update(v.keys_of(value))
        for key in keys:
            entry = session.index.get(key)
            if entry is None or not entry.mask & TRUSTED_ANY:
                written.add(key)
    return written


@settings(max_examples=300)
@given(texts, texts)
def test_wrote_notes_what_it_noted_before(to: str, body: str) -> None:
    session = _session()
    before = set(session._written)
    session.wrote({"to": to, "body": body})
    assert session._written - before == _wrote_slow(_session(), {"to": to, "body": body}) - before
