"""The detectors' shared, cached answers never change what is found: a text the audit log's redaction
settled first is still judged by the full scan for the session's marks, and ``categories_in``'s one
answer per string for both categories agrees with asking ``contains`` for each."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import detectors
from agentguard.detectors import categories_in, contains, iter_strings, redact_text

AWS = "AKIAIOSFODNN7EXAMPLE"
PIECES = [
    AWS,
    base64.b64encode(AWS.encode()).decode(),
    AWS.encode().hex(),
    "ghp_" + "a1B2c3D4e5" * 4,
    "4111 1111 1111 1111",  # a card number (pii)
    "alice@example.com",
    "hello",
    " ",
    "é",
]
_texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=5).map("".join)
_values = st.recursive(
    st.one_of(_texts, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(_texts, inner, max_size=4),
    ),
    max_leaves=12,
)


def _reference_kinds(text: str) -> frozenset[str]:
    """The secret kinds of ``text`` as the scan finds them with no cache in the way."""
    data = detectors._ascii(text)
    kinds = detectors._kinds_in(data, "secret", None)
    if not kinds and detectors._encoded_secret(data):
        return frozenset({"encoded_secret"})
    return kinds


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_a_text_redacted_first_is_still_judged_by_the_full_scan(text: str) -> None:
    redact_text(text)  # the audit log sees the argument first and settles it
    assert detectors._kinds_uncached(text, "secret") == _reference_kinds(text)
    assert bool(detectors._kinds(text, "secret")) == bool(_reference_kinds(text))


@settings(max_examples=300, deadline=None)
@given(_values)
def test_categories_in_agrees_with_contains_for_each_category(value: object) -> None:
    expected = {c for c in ("secret", "pii") if contains(value, c)}
    assert categories_in(value) == expected
    assert categories_in(value, ("pii",)) == expected & {"pii"}


def _reference_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _reference_strings(k) + _reference_strings(v)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _reference_strings(item)]
    return []


@settings(max_examples=300, deadline=None)
@given(_values)
def test_iter_strings_yields_every_string_in_order(value: object) -> None:
    assert list(iter_strings(value)) == _reference_strings(value)
