"""A secret that a size limit cuts through: sandbox stdout/stderr are cut at ``output_bytes`` and
``http.get`` bodies at ``MAX_BYTES`` before the result is redacted for the model. The part of a token
the cut leaves is no secret a detector recognises (too short, checksum gone), so it reached the model
unredacted. The cut now drops the token it went through."""

from __future__ import annotations

import pytest

from agentguard.detectors import redact_text
from agentguard.sandbox._outcome import _text
from agentguard.tools import web

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # 40 chars: a GitHub token
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
PART = 14  # the cut leaves this many characters of the secret


@pytest.mark.parametrize("secret", [GITHUB, AWS])
def test_whole_secret_is_redacted(secret: str) -> None:
    """The detectors know these secrets whole (else the tests below prove nothing)."""
    assert secret not in redact_text(f"token: {secret}\n")


@pytest.mark.parametrize("secret", [GITHUB, AWS])
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_sandbox_output_cut_through_a_secret(secret: str, stream: str) -> None:
    head = "line of output\n" * 20 + "the key: "
    kept = (head + secret[:PART]).encode()
    shown = redact_text(_text(bytearray(kept), True, stream, len(kept)))
    assert secret[:PART] not in shown
    assert shown.startswith("line of output\n" * 20)
    assert f"{stream} truncated" in shown


def test_sandbox_output_not_cut_is_left_alone() -> None:
    text = "all of it ends in a word"
    assert _text(bytearray(text.encode()), False, "stdout", 1024) == text


@pytest.mark.parametrize("secret", [GITHUB, AWS])
def test_http_body_cut_through_a_secret(secret: str) -> None:
    pad = b"x" * (web.MAX_BYTES - PART - 1) + b" "
    body = pad + secret.encode() + b" tail"
    cut_at = web.MAX_BYTES - len(pad)  # characters of the secret the 1 MiB cut leaves
    assert 4 <= cut_at < len(secret)
    shown = redact_text(web.body_text(body))
    assert secret[:cut_at] not in shown
    assert shown.endswith("\n[truncated]")
    assert shown.startswith("x" * 100)


def test_http_body_within_the_limit_is_whole() -> None:
    assert web.body_text(b"short body ends mid") == "short body ends mid"


def test_private_key_cut_in_its_body_is_still_redacted() -> None:
    line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    kept = f"log\n-----BEGIN PRIVATE KEY-----\n{line}\n{line}\n{line[:20]}".encode()
    shown = redact_text(_text(bytearray(kept), True, "stdout", len(kept)))
    assert "MIIE" not in shown
    assert shown.startswith("log\n[REDACTED:private_key]")


def test_a_long_token_loses_at_most_4096_characters() -> None:
    kept = ("word " + "x" * 10_000).encode()
    shown = _text(bytearray(kept), True, "stdout", len(kept))
    assert (
        shown == "word " + "x" * (10_000 - 4096) + f"\n[agentguard: stdout truncated at {len(kept)} bytes]\n"
    )
