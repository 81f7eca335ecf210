"""Red team: ``http.get`` on a name the policy allows, which resolves to an internal address.

An allow on ``http://*.test:*`` (or ``https://*.example-hosting.io``, where anyone may publish a
name) is a decision about names. A name that resolves to loopback, a private range or the cloud
metadata address is then a request to a host service the policy never saw: the egress proxy
refuses exactly this unless a rule names the address with ``ip()``; ``http.get`` connected.
An approver's edit had the same gap one step later: the edited URL is decided again, but the tool
connected by the first decision's addresses and rules (a second lookup for the new name). And the
check just before an approved call runs saw the name's new address, while the tool connected to the
one from before the wait, which the policy may have denied meanwhile.
A real guard and policy decide; a real HTTP server on loopback stands for the host service.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentguard import Guard, Settings, ToolFailed
from agentguard.models import ApprovalResult, ApprovalStatus
from agentguard.policy import PolicyEngine
from agentguard.testing import FakeResolver, MemoryAudit, ScriptedApprover
from agentguard.tools.web import http_get
from tests.loopback import http_service


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path[4:])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"host service secret"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def service() -> Iterator[ThreadingHTTPServer]:
    with http_service(_Handler) as server:
        yield server


@pytest.fixture
def guard_for(make_policy: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., Guard]]:
    made: list[Guard] = []

    def build(rules: str, table: dict[str, list[str]]) -> Guard:
        guard = Guard(
            PolicyEngine.load(
                make_policy(rules, name=f"p{len(made)}"), workspace=tmp_path, resolver=FakeResolver(table)
            ),
            approver=ScriptedApprover(["approve"] * 4),
            audit=MemoryAudit(),
            settings=Settings(home=tmp_path / "home", workspace=tmp_path),
            agent="researcher",
        )
        guard.register("http.get", http_get)
        made.append(guard)
        return guard

    yield build
    for guard in made:
        with contextlib.suppress(Exception):
            guard.close()


# The ip() deny on another range makes the engine resolve every name (the address is pinned).
NAME_RULES = """
p, *, http.get, ip(url, "203.0.113.0/24"), deny
p, *, http.get, url(url, "http://*.test:*"), allow
"""


def _seen(server: ThreadingHTTPServer) -> list[str]:
    return list(server.seen)  # type: ignore[attr-defined]


def test_an_allowed_name_resolving_to_loopback_is_not_fetched(
    service: ThreadingHTTPServer, guard_for: Callable[..., Guard]
) -> None:
    guard = guard_for(NAME_RULES, {"docs.test": ["127.0.0.1"]})
    port = service.server_address[1]
    before = _seen(service)
    with pytest.raises(ToolFailed, match="internal address"):
        guard.call("http.get", {"url": f"http://docs.test:{port}/admin"})
    assert _seen(service) == before  # the host service never saw a request


def test_the_same_holds_when_no_rule_resolved_the_name(
    service: ThreadingHTTPServer, guard_for: Callable[..., Guard]
) -> None:
    # No ip() rule: the tool's own single lookup (the system's: localhost is loopback).
    guard = guard_for('p, *, http.get, url(url, "http://localhost:*"), allow', {})
    port = service.server_address[1]
    before = _seen(service)
    with pytest.raises(ToolFailed, match="internal address"):
        guard.call("http.get", {"url": f"http://localhost:{port}/admin"})
    assert _seen(service) == before


def test_a_redirect_to_such_a_name_is_refused_too(
    service: ThreadingHTTPServer, guard_for: Callable[..., Guard]
) -> None:
    rules = NAME_RULES + 'p, *, http.get, url(url, "http://127.0.0.1:*/to"), allow\n'
    guard = guard_for(rules, {"docs.test": ["127.0.0.1"]})
    port = service.server_address[1]
    with pytest.raises(ToolFailed, match="internal address"):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/to?http://docs.test:{port}/hop"})
    assert "/hop" not in _seen(service)


def test_a_rule_that_names_the_address_with_ip_allows_it(
    service: ThreadingHTTPServer, guard_for: Callable[..., Guard]
) -> None:
    rules = 'p, *, http.get, url(url, "http://*.test:*") && ip(url, "loopback"), allow\n'
    guard = guard_for(rules, {"docs.test": ["127.0.0.1"]})
    port = service.server_address[1]
    assert guard.call("http.get", {"url": f"http://docs.test:{port}/ok"}) == "host service secret"
    # an ask rule naming the address, approved by a person, is enough as well
    rules = 'p, *, http.get, ip(url, "127.0.0.1/32"), ask\n'
    guard = guard_for(rules, {"docs.test": ["127.0.0.1"]})
    assert guard.call("http.get", {"url": f"http://docs.test:{port}/ok"}) == "host service secret"


def test_an_address_written_in_the_url_is_what_the_policy_saw(
    service: ThreadingHTTPServer, guard_for: Callable[..., Guard]
) -> None:
    # A literal is decided as written: a rule allowing it allowed that address.
    guard = guard_for('p, *, http.get, url(url, "http://127.0.0.1:*"), allow', {})
    port = service.server_address[1]
    assert guard.call("http.get", {"url": f"http://127.0.0.1:{port}/ok"}) == "host service secret"


# ---------------------------------------------------------------- an approver's edit


def test_an_edited_url_connects_to_the_addresses_its_re_decision_checked(
    service: ThreadingHTTPServer, make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    """The edit is decided again (ip() resolves the new name); the tool used the first decision's
    addresses, which do not cover the new name, and so looked the name up a second time (the
    lookup a rebinding DNS server answers differently) and checked it against the first call's rules."""
    port = service.server_address[1]
    rules = """
p, *, http.get, ip(url, "203.0.113.0/24"), deny
p, *, http.get, url(url, "http://asked.test:*"), ask
p, *, http.get, url(url, "http://edited.test:*") && ip(url, "loopback"), ask
"""
    dns = FakeResolver({"asked.test": ["198.51.100.7"], "edited.test": ["127.0.0.1"]})
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED,
        approver="ops",
        channel="t",
        edited_arguments={"url": f"http://edited.test:{port}/edited"},
    )
    guard = Guard(
        PolicyEngine.load(make_policy(rules), workspace=tmp_path, resolver=dns),
        approver=ScriptedApprover([edit]),
        audit=MemoryAudit(),
        settings=Settings(home=tmp_path / "home", workspace=tmp_path),
        agent="researcher",
    )
    guard.register("http.get", http_get)
    with guard:
        assert guard.call("http.get", {"url": f"http://asked.test:{port}/asked"}) == "host service secret"
    assert "/edited" in _seen(service)
    assert dns.lookups.count("edited.test") == 1  # the re-decision's lookup, and no other


# ---------------------------------------------------------------- the check just before it runs


@pytest.fixture
def two_services() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    """The same port on 127.0.0.1 and 127.0.0.2 (Linux routes all of 127/8 to lo)."""
    with (
        http_service(_Handler) as first,
        http_service(_Handler, "127.0.0.2", first.server_address[1]) as second,
    ):
        yield first, second


def test_an_approved_call_connects_to_what_the_last_check_saw(
    two_services: tuple[ThreadingHTTPServer, ThreadingHTTPServer],
    make_policy: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """During the wait the operator denies the address the name had, and the name moves. The check
    before running decided on the new address; the tool connected to the old, now denied, one."""
    first, second = two_services
    port = first.server_address[1]
    ask = 'p, *, http.get, url(url, "http://*.test:*") && ip(url, "loopback"), ask\n'
    directory = make_policy(ask)
    dns = FakeResolver({"moving.test": ["127.0.0.2"]})
    engine = PolicyEngine.load(directory, workspace=tmp_path, resolver=dns)

    def answer(request: object) -> str:
        (directory / "policy.csv").write_text('p, *, http.get, ip(url, "127.0.0.2/32"), deny\n' + ask)
        engine.reload()
        dns.table["moving.test"] = ("127.0.0.1",)
        return "approve"

    guard = Guard(
        engine,
        approver=ScriptedApprover([answer]),
        audit=MemoryAudit(),
        settings=Settings(home=tmp_path / "home", workspace=tmp_path),
        agent="researcher",
    )
    guard.register("http.get", http_get)
    with guard:
        assert guard.call("http.get", {"url": f"http://moving.test:{port}/x"}) == "host service secret"
    assert _seen(second) == []  # the denied address was never contacted
    assert _seen(first) == ["/x"]
