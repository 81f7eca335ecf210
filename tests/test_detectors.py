"""Secret and PII detectors: each kind is found, glued or encoded, and the fast paths never hide a hit."""

from __future__ import annotations

import base64
import re
import time
import urllib.parse
from typing import Any

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import _decoded, _secret_names, detectors
from agentguard.audit._redact import redact
from agentguard.detectors import Finding, contains, redact_text, scan

AWS = "AKIAIOSFODNN7EXAMPLE"


def _reference(text: str, category: str) -> list[tuple[str, int, int]]:
    """Every detector, one by one, on RE2 alone: no set prefilter, no Python fast path, no cache."""
    data = text.encode("ascii", "replace")
    hits: list[tuple[str, int, int]] = []
    for d in detectors._DETECTORS:
        if d.category != category:
            continue
        for m in d.regex.finditer(data):
            if d.check is None or d.check(m.group()):
                hits.append((d.kind, m.start(), m.end()))
    return sorted(hits, key=lambda h: (h[1], -h[2]))


def _found(findings: list[Finding]) -> list[tuple[str, int, int]]:
    return [(f.kind, f.start, f.end) for f in findings]


SAMPLES = {
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "aws_access_key": f"key {AWS} here",
    "github_token": "ghp_" + "a1B2" * 9,
    "slack_token": "xoxb-1234567890-abcdef",
    "stripe_key": "sk_live_" + "a" * 24,
    "openai_key": "sk-proj-" + "Ab1_" * 8,
    "google_api_key": "AIza" + "B" * 35,
    "jwt": "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4",
    "bearer_token": "Authorization: Bearer " + "t" * 30,
    "basic_auth": "Authorization: Basic " + base64.b64encode(b"admin:hunter2").decode(),
    "assigned_secret": "PASSWORD = 'hunter2hunter2'",
    "gitlab_token": "glpat-" + "a1B2_" * 4,
    "npm_token": "npm_" + "a1B2" * 9,
    "huggingface_token": "hf_" + "a1B2" * 9,
    "azure_storage_key": "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + "Ab1+" * 22 + "==",
}


@pytest.mark.parametrize(("kind", "text"), sorted(SAMPLES.items()))
def test_each_secret_kind_is_found_and_redacted(kind: str, text: str) -> None:
    assert kind in {f.kind for f in scan(text, ("secret",))}
    assert contains({"nested": [text]}, "secret", [kind])
    assert f"[REDACTED:{kind}]" in redact_text(text)


def test_pii_kinds_are_found() -> None:
    text = "mail ann@example.com, ssn 123-45-6789, card 4111 1111 1111 1111, DE89370400440532013000"
    assert {f.kind for f in scan(text, ("pii",))} == {"email", "ssn", "credit_card", "iban"}
    assert scan("ssn 666-45-6789 card 4111 1111 1111 1112", ("pii",)) == []


def test_clean_text_and_call_ids_have_no_hits() -> None:
    assert scan("hello world") == []
    assert scan("3f2a" * 8, ("secret",)) == []
    assert not contains({"text": "hello", "times": 2}, "secret")
    for prose in (
        "risk-assessment-for-project-alpha",
        "disk-0123456789abcdef0123456789",
        "max_tokens: 100000000",
    ):
        assert not contains(prose, "secret"), prose


# -------------------------------------------------------- keys glued to other text (issue 10, finding 8)


@pytest.mark.parametrize(
    "text",
    [
        f"x{AWS}",  # one leading character hid the key from the old \b-anchored pattern
        f"id{AWS}tail",
        f"key={AWS}&x=1",
        f'{{"k":"{AWS}"}}',
        f"https://example.test/{AWS}/x",
        "DB_PASSWORD=hunter2hunter2",  # "_" is a word character: \bpassword never matched here
        '{"password": "hunter2hunter2"}',  # JSON: a quote between the name and the colon
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "https://example.test/cb?code=1&access_token=abcdef123456",
        "export GITHUB_TOKEN=0123abcdefXYZ",
        "xghp_" + "a1B2" * 9,
        "prefixAIza" + "B" * 35,
        "Authorization:Bearer " + "t" * 30,
    ],
)
def test_keys_inside_longer_strings_are_found(text: str) -> None:
    assert contains(text, "secret")
    redacted = redact_text(text)
    assert "[REDACTED:" in redacted
    assert not contains(redacted, "secret")


def _pct_all(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("percent", "https://example.test/?k=" + _pct_all(AWS)),
        ("percent twice", urllib.parse.quote(_pct_all(AWS))),
        ("percent partial", "q=AKIA%49OSFODNN7EXAMPLE"),
        ("base64 whole", base64.b64encode(AWS.encode()).decode()),
        ("base64 no padding", base64.b64encode(AWS.encode()).decode().rstrip("=")),
        ("base64 url-safe", base64.urlsafe_b64encode(b"\xfb\xff" + f"password={AWS}".encode()).decode()),
        ("base64 inside", "data: " + base64.b64encode(f"hello {AWS}".encode()).decode() + " end"),
        ("base64 glued", "x" + base64.b64encode(AWS.encode()).decode()),
        ("base64 wrapped", base64.encodebytes(b"padding padding " + AWS.encode() * 4).decode()),
        ("base64 of a private key", base64.b64encode(SAMPLES["private_key"].encode()).decode()),
        ("hex", AWS.encode().hex()),
        ("hex upper inside", "blob=" + AWS.encode().hex().upper() + ";"),
        ("base64 of percent", "v=" + urllib.parse.quote(base64.b64encode(AWS.encode()).decode(), safe="")),
    ],
)
def test_keys_in_common_encodings_are_found_and_redacted(label: str, text: str) -> None:
    assert contains({"arg": text}, "secret"), label
    assert contains(text, "secret", ["aws_access_key"]), label  # an encoded key counts for any kind filter
    redacted = redact_text(text)
    assert "[REDACTED:" in redacted, label
    assert not contains(redacted, "secret"), (label, redacted)


def test_encoded_redaction_keeps_the_clean_parts() -> None:
    text = "before " + base64.b64encode(AWS.encode()).decode() + " after"
    assert redact_text(text) == "before [REDACTED:encoded_secret] after"


def test_binary_base64_is_not_a_secret() -> None:
    blob = base64.b64encode(bytes(range(256)) * 64).decode()
    assert not contains(blob, "secret")
    assert redact_text(blob) == blob


# ---------------------------------------------------------------- fast paths equal the slow path

# Alphabet weighted towards the characters the detectors key on, so hits are common.
_ALPHABET = st.sampled_from(
    [*"abcdefxyzAKIASGHPQ0123456789_-:=@. '\"\n%+/", "sk-", "ghp_", "xoxb-", "eyJ", "password", "4111 "]
)
_TEXT = st.lists(_ALPHABET, max_size=80).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.sampled_from(["secret", "pii"]))
def test_fast_paths_find_exactly_what_every_detector_finds(text: str, category: str) -> None:
    assert _found(scan(text, (category,))) == _reference(text, category)  # type: ignore[arg-type]
    if category == "pii":
        assert contains(text, "pii") is bool(_reference(text, "pii"))
    elif _reference(text, "secret"):
        assert contains(text, "secret")


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_redaction_leaves_nothing_a_detector_finds(text: str) -> None:
    assert not contains(redact_text(text), "secret")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdef", max_size=31))
def test_short_lower_hex_never_holds_a_secret(text: str) -> None:
    assert _reference(text, "secret") == []


# ---------------------------------------------------------------- linear time, proved by structure


def test_every_detector_runs_on_re2_and_python_only_sees_bounded_patterns() -> None:
    """RE2 is linear by construction. Python's backtracking engine only lists matches of patterns
    whose matches have a bounded length, so its work per position is bounded: linear too."""
    for d in detectors._DETECTORS:
        assert isinstance(d.regex, re2._Regexp), d.kind
        if d.bounded is not None:
            _low, high = re._parser.parse(d.bounded.pattern).getwidth()  # type: ignore[attr-defined]
            assert high <= 64, (d.kind, high)
    assert isinstance(_secret_names._SENSITIVE_KEY, re2._Regexp)
    for name in ("_B64_RUN", "_HEX_RUN", "_PCT"):
        assert isinstance(getattr(_decoded, name), re2._Regexp), name


MB = 1 << 20

# Inputs the old Python-re detectors took minutes (or hours) on: a failed match at every position
# scanned to the end of the string.
ADVERSARIAL = {
    "email local part": "a" * MB,
    "email domain": "a@" + "a" * MB,
    "card digits": "1" * MB,
    "iban": "DE" + "1" * MB,
    "private key": "-----BEGIN PRIVATE KEY-----" + "A" * MB,
    "assigned": "password=" * (MB // 9),
    "bearer": "bearer " * (MB // 7),
    "percent": "%41" * (MB // 3),
    "base64": "QUFB" * (MB // 4),
}


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("label", sorted(ADVERSARIAL))
def test_adversarial_megabyte_inputs_finish(label: str) -> None:
    text = ADVERSARIAL[label]
    started = time.process_time()
    contains(text, "secret")
    contains(text, "pii")
    out: Any = redact({"arg": text})
    assert isinstance(out["arg"], str)
    # Not a timing assertion (the benchmarks measure that); only a guard against minutes.
    assert time.process_time() - started < 60


def test_many_failed_candidates_count_as_a_hit() -> None:
    """Each card candidate costs a Luhn check: past MAX_CANDIDATES failures the string counts as PII."""
    bad = "4111 1111 1111 1112 "
    assert not contains(bad * 10, "pii")
    assert contains(bad * (detectors.MAX_CANDIDATES + 1), "pii")


# ------------------------------------------------------------- field names that hold a secret (audit)

SECRET_FIELD_NAMES = [
    "password",
    "api_key",
    "x-auth-token",
    "client_secret",
    "session_id",  # the original spellings
    "dbPassword",
    "userPassword",
    "accessToken",
    "authToken",
    "refreshToken",
    "sessionId",
    "apiKey",
    "SECRET_KEY",
    "secret_key",
    "AWSSecretKey",
    "secretAccessKey",
    "APIKey",
    "SSHKey",
    "accountKey",
    "PGPASSWORD",
    "MYSQL_PWD",
    "HF_TOKEN",
    "jwt",
    "OTP",
    "connectionString",
    "user.password",
    "Passwords",
    "SECRETKEY",
    "secretkey",
    "privKey",
    "PRIVATEKEY",
    "GITHUB_PAT",
    "pass_phrase",
    "seedPhrase",
    "recovery_phrase",
    "mnemonic",
    "DB_PASS",
    "smtpPass",
    "card_pin",
    "cvv",
    "otp_code",
    "mfaCode",
    "backup_codes",
]
PLAIN_FIELD_NAMES = [
    "max_tokens",
    "input_tokens",
    "token_id",
    "password_hash",
    "primary_key",
    "sort_key",
    "key",
    "keyId",
    "name",
    "path",
    "command",
    "url",
    "author",
    "authority",
    "tokenizer",
    "bypass",
    "secretary",
    "compass",
    "passage",
    "phrase",
    "code",
    "zip_code",
    "source_code",
    "pinned",
    "spinner",
    "patch",
    "path_pattern",
]


@pytest.mark.parametrize("name", SECRET_FIELD_NAMES)
def test_a_field_named_for_a_secret_is_redacted_however_it_is_spelled(name: str) -> None:
    """camelCase, SCREAMING_CASE, acronyms and a prefix glued on ("PGPASSWORD") name the same secret:
    the old name pattern only knew ``..._password``-style names, so ``dbPassword`` was logged."""
    assert detectors.is_sensitive_key(name), name
    assert redact({name: "plain-value-42"}) == {name: "[REDACTED]"}


@pytest.mark.parametrize("name", PLAIN_FIELD_NAMES)
def test_ordinary_field_names_keep_their_values(name: str) -> None:
    assert not detectors.is_sensitive_key(name), name
