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


def _views_without_shortcut(data: bytes) -> list[bytes]:
    """``_binary_views`` as it was before its length and one-search shortcut: both searches, always."""
    from agentguard import _decoded as d

    out: list[bytes] = []
    if d._B64_RUN.search(data) is not None:
        stream = data.translate(d._B64_TABLE, d._NON_B64)
        for k in range(4):
            chunk = stream[k:]
            if len(chunk) % 4 == 1:
                chunk = chunk[:-1]
            if chunk:
                out.append(base64.b64decode(chunk + b"=" * (-len(chunk) % 4)))
    if d._HEX_RUN.search(data) is not None:
        stream = data.translate(None, d._NON_HEX)
        for k in range(2):
            chunk = stream[k:]
            out.append(bytes.fromhex(chunk[: len(chunk) // 2 * 2].decode("ascii")))
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=80) | st.text(alphabet="abcdefABCDEF0123456789+/_-= .\n", max_size=80).map(str.encode)
)
def test_the_decoded_views_shortcut_drops_no_view(data: bytes) -> None:
    from agentguard._decoded import _binary_views

    assert list(_binary_views(data)) == _views_without_shortcut(data)
