"""``redact_text``'s shortcut for a text with no secret (the audit log's common case) never changes
what is redacted: it agrees with the full path on clean, secret, encoded and non-ASCII text."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import detectors
from agentguard.detectors import redact_text

AWS = "AKIAIOSFODNN7EXAMPLE"
PIECES = [
    AWS,
    base64.b64encode(AWS.encode()).decode(),
    AWS.encode().hex(),
    "ghp_" + "a1B2c3D4e5" * 4,
    "password=hunter2hunter2",
    "hello",
    " ",
    "é",
    "{'text': 'hello 1'}",
]


def _full(text: str) -> str:
    return detectors._redact_found(text, ("secret",))


@pytest.mark.parametrize("text", ["hello 1", "", "ünïcode", *PIECES, "a " + AWS + " b"])
def test_the_shortcut_agrees_with_the_full_path(text: str) -> None:
    assert redact_text(text) == _full(text)


def test_a_clean_text_comes_back_as_it_is() -> None:
    text = "{'meta': None, 'content': [{'type': 'text', 'text': 'hello 1'}]}"
    assert redact_text(text) is text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=6))
def test_any_mix_agrees_with_the_full_path(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact_text(text) == _full(text)
