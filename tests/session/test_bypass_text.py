"""Attacks on the text conditions: a host, link or address a tool would use that ``host_in``,
``every_url`` or ``every_email`` did not read, so "every link is ours" held for a text with a
foreign one. Each test names the class it stands for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """\
p, *, host, host_in(v, "org"), allow
p, *, urls, every_url(v, "host_in(_, \\"org\\")"), allow
p, *, emails, every_email(v, "host_in(_, \\"org\\")"), allow
"""
FACTS = '[sets]\norg = ["example.com"]\n'


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(RULES, FACTS, None), workspace=tmp_path)


def holds(engine: PolicyEngine, tool: str, value: str) -> bool:
    return engine.decide(ToolCall(agent="t", tool=tool, arguments={"v": value})).effect is Effect.ALLOW


@pytest.mark.parametrize(
    "host",
    [
        "evil.example?.example.com",
        "evil.example#.example.com",
        "evil.example\\.example.com",
        "evil.example%2f.example.com",
        "evil.example;.example.com",
        "evil.example,.example.com",
        "evil.example..example.com",
    ],
)
def test_a_bare_host_must_be_a_host_name(engine: PolicyEngine, host: str) -> None:
    """Class: ``host_in`` on a bare host (no scheme) only checked the text's ending, so a string a
    tool turns into a URL for another host (``https://`` + ``evil.example?.example.com``) passed."""
    assert not holds(engine, "host", host)


def test_real_hosts_still_hold(engine: PolicyEngine) -> None:
    for host in (
        "example.com",
        "mail.example.com",
        "EXAMPLE.COM.",
        "https://example.com/x",
        "bob@example.com",
    ):
        assert holds(engine, "host", host), host


@pytest.mark.parametrize(
    "text",
    [
        "see https:/evil.example/x",  # one slash: browsers and WHATWG parsers read https://
        "see https:\\\\evil.example/x",  # backslashes
        "see https:evil.example/x",  # none
        "see ftp://evil.example/x",
        "see wss://evil.example/socket",
        "see evil.example/drop?d=1",  # no scheme: mail clients and chat make it a link
        "see gopher://evil.example/x",  # a scheme the guard does not read: cannot tell
        "<a href='//evil.example/x'>here</a>",  # protocol-relative
    ],
)
def test_every_url_reads_every_link(engine: PolicyEngine, text: str) -> None:
    """Class: ``every_url`` found only ``http(s)://`` and ``www.`` links, so a link written another
    way a browser or mail client still follows was not checked ("every link is ours" held)."""
    assert not holds(engine, "urls", text)


def test_text_without_foreign_links_still_holds(engine: PolicyEngine) -> None:
    for text in ("see https://example.com/x and docs.example.com/y", "no links, v1.2, e.g. this"):
        assert holds(engine, "urls", text), text


@pytest.mark.parametrize(
    "text",
    [
        "to bob@évil.example",  # an internationalised domain
        'to "bob"@evil.example',  # a quoted local part
        "to bob@[192.0.2.1]",  # an address literal
        "to bob@evil.example.",
    ],
)
def test_every_email_reads_every_address(engine: PolicyEngine, text: str) -> None:
    """Class: ``every_email`` found only ASCII ``local@domain.tld``; addresses a mail server delivers
    (internationalised domains, quoted local parts, address literals) were not checked."""
    assert not holds(engine, "emails", text)


def test_own_addresses_still_hold(engine: PolicyEngine) -> None:
    assert holds(engine, "emails", "to bob@example.com and ann@mail.example.com, thanks")
