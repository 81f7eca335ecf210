"""Secret and PII detectors: each kind is found, and the fast paths never hide a hit."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import detectors
from agentguard.detectors import Finding, contains, redact_text, scan


def _reference(text: str, category: str) -> list[tuple[str, int, int]]:
    """Every detector, one by one, with no prefilter and no cache."""
    hits: list[tuple[str, int, int]] = []
    if category == "secret":
        for kind, pattern in detectors._SECRET_PATTERNS:
            hits += [(kind, m.start(), m.end()) for m in pattern.finditer(text)]
    else:
        hits += [("email", m.start(), m.end()) for m in detectors._EMAIL.finditer(text)]
        hits += [("ssn", m.start(), m.end()) for m in detectors._SSN.finditer(text)]
        for m in detectors._CARD.finditer(text):
            digits = re.sub(r"[ -]", "", m.group())
            if 13 <= len(digits) <= 19 and detectors._luhn(digits):
                hits.append(("credit_card", m.start(), m.end()))
        hits += [
            ("iban", m.start(), m.end())
            for m in detectors._IBAN.finditer(text)
            if detectors._iban_ok(m.group())
        ]
    return sorted(hits, key=lambda h: (h[1], -h[2]))


def _found(findings: list[Finding]) -> list[tuple[str, int, int]]:
    return [(f.kind, f.start, f.end) for f in findings]


SAMPLES = {
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "aws_access_key": "key AKIAIOSFODNN7EXAMPLE here",
    "github_token": "ghp_" + "a1B2" * 9,
    "slack_token": "xoxb-1234567890-abcdef",
    "stripe_key": "sk_live_" + "a" * 24,
    "openai_key": "sk-proj-" + "Ab1_" * 8,
    "google_api_key": "AIza" + "B" * 35,
    "jwt": "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4",
    "bearer_token": "Authorization: Bearer " + "t" * 30,
    "assigned_secret": "PASSWORD = 'hunter2hunter2'",
}


@pytest.mark.parametrize(("kind", "text"), sorted(SAMPLES.items()))
def test_each_secret_kind_is_found_and_redacted(kind: str, text: str) -> None:
    assert kind in {f.kind for f in scan(text, ("secret",))}
    assert contains({"nested": [text]}, "secret", [kind])
    assert f"[REDACTED:{kind}]" in redact_text(text)


def test_pii_kinds_are_found() -> None:
    text = "mail ann@example.com, ssn 123-45-6789, card 4111 1111 1111 1111, DE89370400440532013000"
    assert {f.kind for f in scan(text, ("pii",))} == {"email", "ssn", "credit_card", "iban"}


def test_clean_text_and_call_ids_have_no_hits() -> None:
    assert scan("hello world") == []
    assert scan("3f2a" * 8, ("secret",)) == []
    assert not contains({"text": "hello", "times": 2}, "secret")


# Alphabet weighted towards the characters the detectors key on, so hits are common.
_ALPHABET = st.sampled_from([*"abcdefxyzAKIASGHPQ0123456789_-:=@. '\"\n", "sk-", "ghp_", "xoxb-", "eyJ"])
_TEXT = st.lists(_ALPHABET, max_size=80).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.sampled_from(["secret", "pii"]))
def test_fast_paths_find_exactly_what_every_detector_finds(text: str, category: str) -> None:
    assert _found(scan(text, (category,))) == _reference(text, category)  # type: ignore[arg-type]
    assert contains(text, category) is bool(_reference(text, category))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdef", max_size=80))
def test_lower_hex_never_holds_a_secret(text: str) -> None:
    assert _reference(text, "secret") == []
