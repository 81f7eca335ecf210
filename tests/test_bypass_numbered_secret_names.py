"""Red team (review 2): field names read as words missed a secret name followed by a number or a
version (``password2``, ``DB_PASSWORD_2``, ``api_key_v2``, ``SECRET_KEY_1``): the last word was the
number, so the audit log wrote their values as is. And a huge agent-chosen argument name was split
into all its words (a 1 MB ``AaAa...`` name took seconds of the audit writer's time per record), though
only the last two words decide: a name is now read from its last ``_TAIL`` characters.
"""

from __future__ import annotations

import pytest

from agentguard import _secret_names
from agentguard._secret_names import is_sensitive_key


@pytest.mark.parametrize(
    "name",
    [
        "password2",
        "password_1",
        "DB_PASSWORD_2",
        "dbPassword2",
        "token2",
        "TOKEN_2",
        "access_token_v2",
        "api_key_v2",
        "apiKey2",
        "SECRET_KEY_1",
        "client_secret_v10",
        "auth_token_2024",
        "sessionId2",
    ],
)
def test_a_secret_name_with_a_number_or_version_after_it_is_redacted(name: str) -> None:
    assert is_sensitive_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "call_id",
        "session",
        "tool",
        "reason",
        "effect",
        "grant",
        "rule",
        "sha256",
        "md5",
        "oauth2",
        "key_1",
        "v2",
        "tokens_2",
        "max_tokens_2",
        "page_2",
        "http2",
        "step1",
        "1",
        "",
        "v",
        "_2",
    ],
)
def test_plain_names_with_numbers_stay_plain(name: str) -> None:
    assert not is_sensitive_key(name)


def test_only_the_tail_of_a_huge_name_is_split_into_words(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    split = _secret_names._key_words
    monkeypatch.setattr(_secret_names, "_key_words", lambda key: seen.append(len(key)) or split(key))
    assert is_sensitive_key("Aa" * 500_000 + "Password")
    assert not is_sensitive_key("Aa" * 500_000)
    assert is_sensitive_key("x" * 1_000_000 + "_session_id")
    assert seen
    assert max(seen) <= 256
