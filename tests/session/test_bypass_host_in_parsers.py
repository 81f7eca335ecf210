"""``host_in`` on a URL argument must name the host the tool will connect to, whatever parser the
tool uses. The guard cannot know whether a tool parses URLs the WHATWG way (browsers, ada) or the
RFC 3986 way (``urllib.parse``, httpx), so a URL the two read with different hosts is "cannot tell"
and ``host_in`` is false for it, as the URL conditions (``url_host``...) already refuse it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """\
p, *, host, host_in(v, "org"), allow
p, *, urls, every_url(v, "host_in(_, \\"org\\")"), allow
"""
FACTS = '[sets]\norg = ["example.com"]\n'


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(RULES, FACTS, None), workspace=tmp_path)


def holds(engine: PolicyEngine, tool: str, value: str) -> bool:
    return engine.decide(ToolCall(agent="t", tool=tool, arguments={"v": value})).effect is Effect.ALLOW


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com\\@evil.example/x",  # WHATWG: example.com; urllib, httpx: evil.example
        "https://example.com\\\\@evil.example",
        "https://ex\tample.com/x",  # WHATWG strips the tab; other parsers keep it
        "https://example.com\n/x",
        "http://evil.example%23@example.com/",  # user info: a host a reader is shown, not the one used
        "https:example.com/x",  # no slashes: a path to RFC 3986 parsers
    ],
)
def test_a_url_parsers_disagree_on_is_not_in_the_set(engine: PolicyEngine, url: str) -> None:
    """Class: ``host_in`` read a URL argument with the lenient WHATWG parser only, so
    ``https://example.com\\@evil.example/x`` was "in org" while a tool built on ``urllib`` or httpx
    fetches it from evil.example (decided on one URL, ran another)."""
    assert not holds(engine, "host", url)


def test_the_rfc_parser_really_reads_another_host() -> None:
    """The disagreement the test above is about, shown with the standard library."""
    assert urlsplit("https://example.com\\@evil.example/x").hostname == "evil.example"


def test_plain_urls_and_addresses_still_hold(engine: PolicyEngine) -> None:
    for value in (
        "https://example.com/x",
        "https://Mail.Example.COM:8443/a?b=c#d",
        "www.example.com/x",
        "example.com",
        "bob@example.com",
    ):
        assert holds(engine, "host", value), value
    assert holds(engine, "urls", "see https://a.example.com/x, www.example.com and docs.example.com/y")
