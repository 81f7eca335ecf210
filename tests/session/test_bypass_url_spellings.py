"""``untrusted_only(url)`` on the attacker's link spelled another way that fetches the same resource:
a percent-encoded unreserved character (``/%64rop`` is ``/drop`` to every server, RFC 3986 6.2.2.2)
or a trailing ``/`` after the path. The key was the WHATWG serialisation, which keeps both, so the
link was *unseen*, and a deny on ``untrusted_only`` did not fire while the tool fetched the page the
attacker named.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.session import Session, canonical_url

RULES = """\
p, *, fetch, untrusted_only(url), deny
p, *, fetch, trusted(url), allow
p, *, fetch, !trusted(url), ask
"""
PAGE = "Read more at https://evil.example/drop?id=7 or https://evil.example/files/a_b-c.txt"


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(RULES, None, None), workspace=tmp_path)


def effect(engine: PolicyEngine, url: str) -> Effect:
    return engine.decide(ToolCall(agent="t", tool="fetch", arguments={"url": url})).effect


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/%64rop?id=7",
        "https://evil.example/%44ROP?id=7",  # case is already folded; the escape was not
        "https://evil.example/drop?%69d=7",
        "https://evil.example/files/a%5Fb%2Dc%2Etxt",
        "https://evil.example/files/a_b-c.txt/",
        "https://evil.example/files/a_b-c.txt//",
        "https://evil.example/%66iles/a_b-c.txt/",
    ],
)
def test_another_spelling_of_an_untrusted_link_is_untrusted(engine: PolicyEngine, url: str) -> None:
    s = Session(user_request="summarise the news")
    s.read_earlier([PAGE])
    with s.active():
        assert effect(engine, url) is Effect.DENY


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://x.example/%7Euser/a%2Fb", "https://x.example/~user/a%2fb"),  # %2F stays: a reserved char
        ("https://x.example/a%20b", "https://x.example/a%20b"),
        ("https://x.example/p/?q=1", "https://x.example/p?q=1"),
        ("https://x.example/", "https://x.example"),
    ],
)
def test_only_unreserved_escapes_and_trailing_slashes_are_folded(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_reserved_escapes_stay_distinct() -> None:
    """``%2F`` is not ``/`` and ``%3F`` is not ``?``: decoding them would change the resource."""
    assert canonical_url("https://x.example/a%2Fb") != canonical_url("https://x.example/a/b")
    assert canonical_url("https://x.example/a%3Fb") != canonical_url("https://x.example/a?b")


def test_the_users_link_in_another_spelling_stays_trusted(engine: PolicyEngine) -> None:
    s = Session(user_request="summarise https://docs.example.com/q3/report for me")
    with s.active():
        assert effect(engine, "https://docs.example.com/q3/report/") is Effect.ALLOW
        assert effect(engine, "https://docs.example.com/q3/%72eport") is Effect.ALLOW
