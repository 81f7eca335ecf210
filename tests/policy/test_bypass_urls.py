"""URL bypasses (issue 10, finding 4): each trick must end in deny or ask, never allow.

Classes: IPv6 zone ids, percent-encoded / ``;``-suffixed / case-changed path segments against a
path-scoped deny, dot-segment variants against a path-scoped allow, address ranges (``ip()``), and
the table test of the normaliser against ada's own reading.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import ada_url
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import ApprovalDenied, Guard, InvalidArguments, PolicyDenied, Settings, ToolFailed
from agentguard.errors import PolicyError
from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._urls import UnreadableUrl, UrlPattern, parse_url
from agentguard.testing import FakeResolver, MemoryAudit, ScriptedApprover
from agentguard.tools.web import MAX_REDIRECTS, http_get
from tests.loopback import http_service

from .conftest import decide

# ---------------------------------------------------------------- zone ids, hosts

HOST_RULES = """
p, *, http.get, url(url, "*://[::1]:*") || url(url, "*://[fe80::1]:*") || url(url, "*://localhost:*"), deny
p, *, http.get, url(url, "*://*:*"), allow
"""


@pytest.fixture
def host_engine(engine_for: Callable[..., PolicyEngine]) -> PolicyEngine:
    return engine_for(HOST_RULES)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1%25eth0]/",
        "http://[::1%eth0]:8080/",
        "http://[::1%251]/admin",
        "http://[fe80::1%25lo]/",
        "http://[0:0::1%25eth0]/",
        "http://user@[::1]/",  # user info: parsers disagree about '@'
        "http://[::1]@evil.test/",
        "http:/\\[::1]/",
        "http://\t[::1]/",
        "http:[::1]/",  # no '//': WHATWG still reads host [::1], others read a path
        "http:///[::1]/",
        "http://LocalHost./",
        "http://loc%61lhost/",
    ],
)
def test_host_tricks_hit_the_deny(host_engine: PolicyEngine, url: str) -> None:
    decision = decide(host_engine, "http.get", url=url)
    assert decision.effect is Effect.DENY, (url, decision.reason)
    assert decision.rule is not None, (url, decision.reason)
    assert decision.rule.line == 1, (url, decision.reason)


@pytest.mark.parametrize(
    "url",
    ["https://example.test/", "http://[::2]/", "http://127.0.0.1:8080/x", "https://xn--bcher-kva.test/"],
)
def test_plain_hosts_still_pass(host_engine: PolicyEngine, url: str) -> None:
    assert decide(host_engine, "http.get", url=url).effect is Effect.ALLOW, url


# ---------------------------------------------------------------- paths against a deny

PATH_DENY_RULES = """
p, *, http.get, url(url, "https://api.test/v1/admin/**"), deny
p, *, http.get, url(url, "https://api.test/v1/**"), allow
"""


@pytest.fixture
def path_deny_engine(engine_for: Callable[..., PolicyEngine]) -> PolicyEngine:
    return engine_for(PATH_DENY_RULES)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/users",
        "/v1/%61dmin/users",  # unreserved character percent-encoded
        "/v1/%61%64%6D%69%6E/users",
        "/v1/admin;x/users",  # path parameter (Tomcat, Jetty, Spring drop it)
        "/v1/admin;/users",
        "/v1/admin;jsessionid=1",
        "/v1/ADMIN/users",  # case-insensitive servers (IIS, case-folding file systems)
        "/v1/Admin",
        "/v1/%2561dmin/users",  # double encoding
        "/v1/x/..%2Fadmin/users",  # encoded slash a server may decode
        "/v1/x%2F..%2Fadmin/users",
        "/v1/x/..%5Cadmin/users",
        "/v1/x/%2e%2e/admin/users",  # encoded dot segments
        "/v1/x/.%2E/admin/users",
        "/v1/./admin/users",
        "/v1//admin/users",
        "/v1/admin%3Bx/users",
        "/v1/admin",
    ],
)
def test_encoded_admin_paths_hit_the_deny(path_deny_engine: PolicyEngine, path: str) -> None:
    decision = decide(path_deny_engine, "http.get", url="https://api.test" + path)
    assert decision.effect is Effect.DENY, (path, decision.reason)
    assert decision.rule is not None, (path, decision.reason)
    assert decision.rule.line == 1, (path, decision.reason)


@pytest.mark.parametrize("path", ["/v1/users", "/v1/administrators", "/v1/users;page=2", "/v1/%7Euser"])
def test_other_paths_are_allowed(path_deny_engine: PolicyEngine, path: str) -> None:
    decision = decide(path_deny_engine, "http.get", url="https://api.test" + path)
    assert decision.effect is Effect.ALLOW, (path, decision.reason)


# ---------------------------------------------------------------- paths against an allow

PATH_ALLOW_RULES = """
p, *, http.get, url(url, "https://api.test/public/**"), allow
"""


@pytest.fixture
def path_allow_engine(engine_for: Callable[..., PolicyEngine]) -> PolicyEngine:
    return engine_for(PATH_ALLOW_RULES)


@pytest.mark.parametrize(
    "path",
    [
        "/public/..;/admin",  # Tomcat reads '..;' as '..'
        "/public/..;x/admin",
        "/public;/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2e/admin",
        "/public/..%2fadmin",
        "/public/..%2Fadmin",
        "/public/..%5cadmin",
        "/public/%252e%252e/admin",
        "/public/%252e%252e%252fadmin",
        "/public/.%252e/admin",
        "/PUBLIC/x",
        "/public/../admin",
        "/public/x/../../admin",
        "/publicx/y",
    ],
)
def test_dot_segment_variants_escape_no_allow(path_allow_engine: PolicyEngine, path: str) -> None:
    decision = decide(path_allow_engine, "http.get", url="https://api.test" + path)
    assert decision.effect is not Effect.ALLOW, (path, decision.reason)


@pytest.mark.parametrize(
    "path", ["/public", "/public/", "/public/a/b.html", "/public/a/../b", "/public/%7Ea", "/public/Readme.md"]
)
def test_plain_public_paths_are_allowed(path_allow_engine: PolicyEngine, path: str) -> None:
    decision = decide(path_allow_engine, "http.get", url="https://api.test" + path)
    assert decision.effect is Effect.ALLOW, (path, decision.reason)


def test_cannot_tell_applies_an_ask_and_never_an_allow(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for(
        """
p, *, http.get, !url(url, "https://api.test/v1/admin/**"), allow
p, *, http.get, url(url, "https://api.test/v1/admin/**"), ask
"""
    )
    decision = decide(engine, "http.get", url="https://api.test/v1/admin;x/users")
    assert decision.effect is Effect.ASK, decision.reason  # negation did not turn it into an allow
    assert "cannot tell" in decision.reason
    assert decide(engine, "http.get", url="https://api.test/v1/users").effect is Effect.ALLOW


def test_unreadable_urls_match_no_allow_but_every_deny(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for(
        """
p, *, http.get, url(url, "https://*:*"), allow
p, *, http.get, url(url, "https://nowhere.test"), deny
""",
        default_effect=Effect.ASK,
    )
    for url in ["https://a.test\\@b.test/", "", "https://a b/", "https://docs.python\uff0eorg/", 42]:
        decision = decide(engine, "http.get", url=url)
        assert decision.effect is Effect.DENY, (url, decision.reason)
        assert decision.rule is not None, url
        assert decision.rule.line == 2, url


# ---------------------------------------------------------------- address ranges: ip()

IP_RULES = """
p, *, http.get, ip(url, "loopback", "private", "link-local", "metadata", "unspecified"), deny
p, *, http.get, !ip(url, "internal") && url(url, "*://*:*"), allow
"""

DNS = FakeResolver(
    {
        "public.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
        "localtest.test": ["127.0.0.1"],
        "rebind.test": ["93.184.216.34", "127.0.0.1"],  # one public, one loopback answer
        "meta.test": ["169.254.169.254"],
        "v6meta.test": ["fd00:ec2::254"],
        "mapped.test": ["::ffff:10.0.0.1"],
        "empty.test": [],
        "junk.test": ["not-an-address"],
    }
)


@pytest.fixture
def ip_engine(engine_for: Callable[..., PolicyEngine]) -> PolicyEngine:
    return engine_for(IP_RULES, resolver=DNS, default_effect=Effect.ASK)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.2:8080/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://0251.0376.0251.0376/latest/meta-data/",  # octal metadata address
        "http://0xA9FEA9FE/",
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0:8000/",
        "http://[::]/",
        "http://[fc00::1]/",
        "http://localtest.test/",  # a name that resolves to loopback
        "http://LOCALTEST.test./",
        "http://meta.test/",
        "http://v6meta.test/",
        "http://mapped.test/",
        "http://rebind.test/",  # partly inside: cannot tell, so the deny applies
        "http://unknown.test/",  # does not resolve: cannot tell
        "http://empty.test/",
        "http://junk.test/",
        "http://[::1%25eth0]/",
    ],
)
def test_internal_addresses_are_denied(ip_engine: PolicyEngine, url: str) -> None:
    decision = decide(ip_engine, "http.get", url=url)
    assert decision.effect is Effect.DENY, (url, decision.reason)
    assert decision.rule is not None, url
    assert decision.rule.line == 1, (url, decision.reason)


@pytest.mark.parametrize("url", ["https://public.test/x", "http://93.184.216.34/", "http://[2606:4700::1]/"])
def test_public_addresses_are_allowed(ip_engine: PolicyEngine, url: str) -> None:
    decision = decide(ip_engine, "http.get", url=url)
    assert decision.effect is Effect.ALLOW, (url, decision.reason)


def test_the_checked_addresses_are_in_the_decision(engine_for: Callable[..., PolicyEngine]) -> None:
    dns = FakeResolver({"public.test": ["93.184.216.34"]})
    engine = engine_for(IP_RULES, resolver=dns)
    decision = decide(engine, "http.get", url="https://public.test/")
    assert decision.effect is Effect.ALLOW
    assert decision.resolved == {"public.test": ("93.184.216.34",)}
    assert dns.lookups == ["public.test"]  # two ip() conditions, one lookup: both saw the same answer


def test_ip_takes_bare_hosts_and_addresses(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for('p, *, net.connect, ip(host, "loopback", "10.0.0.0/8"), deny', resolver=DNS)
    for host in ["127.0.0.1", "localtest.test", "[::1]", "10.9.9.9", "unknown.test", "a/b", ""]:
        assert decide(engine, "net.connect", host=host).effect is Effect.DENY, host
    assert decide(engine, "net.connect", host="public.test").rule is None


def test_localhost_resolves_through_the_system(engine_for: Callable[..., PolicyEngine]) -> None:
    engine = engine_for('p, *, http.get, ip(url, "loopback"), deny\np, *, http.get, *, allow')
    decision = decide(engine, "http.get", url="http://localhost:8080/")
    assert decision.effect is Effect.DENY, decision.reason
    assert decision.resolved["localhost"]


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ('ip(url, "10.0.0.1/8")', "has host bits set"),
        ('ip(url, "intranet")', "one of loopback"),
        ("ip(url)", "takes 2 or more"),
        ('ip("x", "loopback")', "must name a tool argument"),
    ],
)
def test_bad_ranges_are_load_errors(make_policy: Callable[..., Path], cond: str, message: str) -> None:
    directory = make_policy(f"p, *, http.get, {cond}, deny")
    with pytest.raises(PolicyError, match=message):
        PolicyEngine.load(directory, workspace=directory)


# ---------------------------------------------------------------- the normaliser, against ada


TABLE: list[tuple[str, str | None]] = [
    # url, the host rules compare (None: unreadable)
    ("http://127.1/", "127.0.0.1"),
    ("http://0x7f.0.0.1/", "127.0.0.1"),
    ("http://0177.0.0.1/", "127.0.0.1"),
    ("http://2130706433/", "127.0.0.1"),
    ("http://0251.0376.0251.0376/", "169.254.169.254"),
    ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
    ("http://[0:0:0:0:0:0:0:1]/", "::1"),
    ("http://[::1%25eth0]/", None),
    ("https://B\u00dcCHER.test/", "xn--bcher-kva.test"),
    ("https://fa\u00df.test/", None),
    ("https://ex\u00adample.test/", None),
    ("https://docs.python\u3002org/", None),
    ("https://example.test./", "example.test"),
    ("https://example..test/", None),
    ("https://%65xample.test/", None),
    ("https://1.2.3/", "1.2.0.3"),
    ("https://999.1.1.1/", None),
    ("ws://Example.Test:9000/", "example.test"),
    ("git+ssh://Example.Test:22/x", "example.test"),
    ("https://a.test:99999/", None),
    ("https:example.test", None),
    ("mailto:a@example.test", None),
]


@pytest.mark.parametrize(("url", "host"), TABLE)
def test_normaliser_table(url: str, host: str | None) -> None:
    if host is None:
        with pytest.raises(UnreadableUrl):
            parse_url(url)
        return
    parsed = parse_url(url)
    assert parsed.host == host
    # what the matcher decides on is ada's own reading of the URL, never a second parse
    ada = ada_url.parse_url(url)
    assert parsed.href == ada["href"]
    if parsed.ip is not None:
        assert ipaddress.ip_address(ada["hostname"].strip("[]")) == parsed.ip
    else:
        assert ada["hostname"].rstrip(".").lower() == host  # opaque hosts (git+ssh:) keep their case


PATH_TABLE: list[tuple[str, str, bool | None]] = [
    # path, pattern, verdict (None: cannot tell)
    ("/a/b", "/a/**", True),
    ("/a/%62", "/a/b", True),
    ("/a/%7e", "/a/~", True),
    ("/a/%C3%A9", "/a/\u00e9", True),
    ("/a/\u00e9", "/a/\u00e9", True),
    ("/a/x/../b", "/a/b", True),
    ("/a/x/%2e%2e/b", "/a/b", True),
    ("/a;p/b", "/a/b", None),
    ("/a;p/b", "/a/**", None),
    ("/a;p/b", "/x/**", False),
    ("/A/b", "/a/**", None),
    ("/A/b", "/A/**", True),
    ("/a/b%2Fc", "/a/b/c", None),
    ("/a/%252e%252e/b", "/b", None),
    ("/a/b", "/c/**", False),
]


@pytest.mark.parametrize(("path", "pattern", "verdict"), PATH_TABLE)
def test_path_readings_table(path: str, pattern: str, verdict: bool | None) -> None:
    url = parse_url("https://h.test" + path)
    assert UrlPattern.parse("https://h.test" + pattern).matches(url) is verdict


_PIECES = st.sampled_from(
    [
        "a",
        "A",
        "admin",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        "%2f",
        "%5C",
        "%61",
        "%25",
        ";",
        ";x=1",
        "/",
        "//",
        "\u00e9",
        "~",
    ]
)
_HOSTS = st.sampled_from(
    [
        "x.test",
        "X.Test",
        "x.test.",
        "127.1",
        "0x7f.1",
        "[::1]",
        "[::ffff:10.0.0.1]",
        "b\u00fccher.test",
        "2130706433",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ws"]), host=_HOSTS, pieces=st.lists(_PIECES, max_size=8)
)
def test_normal_form_is_ada_and_a_fixed_point(scheme: str, host: str, pieces: list[str]) -> None:
    url = f"{scheme}://{host}/{''.join(pieces)}"
    parsed = parse_url(url)
    ada = ada_url.parse_url(url)
    assert parsed.href == ada["href"]
    if parsed.ip is None:
        assert parsed.host == ada["hostname"].rstrip(".")
    else:
        assert parsed.ip == ipaddress.ip_address(ada["hostname"].strip("[]"))
    again = parse_url(parsed.href)  # what http.get passes on decides the same way
    assert (again.scheme, again.host, again.port, again.path) == (
        parsed.scheme,
        parsed.host,
        parsed.port,
        parsed.path,
    )
    for pattern in ["/admin/**", "/a/**", "/**", "/"]:
        verdict = UrlPattern.parse(f"*://{host.lower()}:*{pattern}").matches(parsed)
        assert verdict == UrlPattern.parse(f"*://{host.lower()}:*{pattern}").matches(again)


# ---------------------------------------------------------------- http.get: redirects and pinning


class _Handler(BaseHTTPRequestHandler):
    """/ok, /host (echoes Host), /to?<location> (302), /frag, /loop-a <-> /loop-b, /chain/N, /big."""

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        self.server.seen.append((self.server.server_address[0], self.path))  # type: ignore[attr-defined]
        if path == "/to":
            return self._redirect(unquote(query))
        if path == "/frag":
            return self._redirect("/frag#again")
        if path in ("/loop-a", "/loop-b"):
            return self._redirect("/loop-b" if path == "/loop-a" else "/loop-a")
        if path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            return self._redirect(f"/chain/{n - 1}") if n > 0 else self._send(200, b"end of chain")
        if path == "/host":
            return self._send(200, str(self.headers["Host"]).encode())
        if path == "/big":
            return self._send(200, b"x" * (2 * 1024 * 1024))
        return self._send(200, f"{self.server.server_address[0]} {path}".encode())

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _server(address: str, port: int = 0) -> contextlib.AbstractContextManager[ThreadingHTTPServer]:
    return http_service(_Handler, address, port)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    """The same port on 127.0.0.1 (allowed) and 127.0.0.2 (a denied range): Linux routes all of 127/8."""
    with _server("127.0.0.1") as main, _server("127.0.0.2", main.server_address[1]) as other:
        yield main, other


WEB_RULES = """
p, *, http.get, url(url, "http://*:*/admin/**"), deny
p, *, http.get, ip(url, "127.0.0.2/32"), deny
p, *, http.get, url(url, "http://*:*/ask/**"), ask
p, *, http.get, url(url, "http://127.0.0.1:*"), allow
p, *, http.get, url(url, "http://*:*"), allow
"""


@pytest.fixture
def web(
    make_policy: Callable[..., Path], tmp_path: Path
) -> Callable[..., tuple[Guard, MemoryAudit, FakeResolver]]:
    built = itertools.count()

    def build(
        answers: list[str] | None = None, table: dict[str, list[str]] | None = None, rules: str = WEB_RULES
    ) -> tuple[Guard, MemoryAudit, FakeResolver]:
        dns = FakeResolver(table or {})
        audit = MemoryAudit()
        settings = Settings(home=tmp_path / "home", workspace=tmp_path)
        directory = make_policy(rules, name=f"policy-{next(built)}")
        guard = Guard(
            PolicyEngine.load(directory, workspace=tmp_path, resolver=dns),
            approver=ScriptedApprover(answers or []),
            audit=audit,
            settings=settings,
            agent="researcher",
            session="s1",
        )
        guard.register("http.get", http_get)
        return guard, audit, dns

    return build


def _decided(audit: MemoryAudit) -> list[tuple[str, str, str, str]]:
    calls = {r["call_id"]: r for r in audit.records if r["event"] == "call.received"}
    return [
        (calls[r["call_id"]]["arguments"]["url"], r["effect"], r["agent"], r["session"])
        for r in audit.records
        if r["event"] == "policy.decided"
    ]


def test_http_get_fetches_and_audits_one_call(servers: Any, web: Any) -> None:
    guard, audit, _ = web()
    port = servers[0].server_address[1]
    assert guard.call("http.get", {"url": f"http://127.0.0.1:{port}/ok"}) == "127.0.0.1 /ok"
    assert audit.events.count("policy.decided") == 1


def test_redirect_to_a_denied_path_is_its_own_denied_call(servers: Any, web: Any) -> None:
    guard, audit, _ = web()
    port = servers[0].server_address[1]
    before = len(servers[0].seen)
    with pytest.raises(PolicyDenied, match="denied by"):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/to?/admin/secret"})
    hop = f"http://127.0.0.1:{port}/admin/secret"
    assert _decided(audit)[-1] == (hop, "deny", "researcher", "s1")
    assert [p for _, p in servers[0].seen[before:]] == ["/to?/admin/secret"]  # never fetched


def test_redirect_to_a_denied_address_range_is_denied(servers: Any, web: Any) -> None:
    guard, audit, _ = web()
    port = servers[0].server_address[1]
    target = quote(f"http://127.0.0.2:{port}/internal", safe="")
    with pytest.raises(PolicyDenied):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/to?{target}"})
    assert _decided(audit)[-1][1] == "deny"
    assert servers[1].seen == []  # the other address was never contacted


def test_redirect_to_an_ask_path_goes_to_the_approver(servers: Any, web: Any) -> None:
    port = servers[0].server_address[1]
    guard, audit, _ = web(answers=["approve"])
    assert guard.call("http.get", {"url": f"http://127.0.0.1:{port}/to?/ask/x"}) == "127.0.0.1 /ask/x"
    assert "approval.requested" in audit.events
    guard, _, _ = web(answers=["deny: no"])
    with pytest.raises(ApprovalDenied):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/to?/ask/x"})


def test_redirect_hops_are_decided_and_limited(servers: Any, web: Any) -> None:
    guard, audit, _ = web()
    port = servers[0].server_address[1]
    assert guard.call("http.get", {"url": f"http://127.0.0.1:{port}/chain/{MAX_REDIRECTS}"}) == "end of chain"
    assert len(_decided(audit)) == MAX_REDIRECTS + 1
    with pytest.raises(ToolFailed, match=f"more than {MAX_REDIRECTS} redirects"):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/chain/{MAX_REDIRECTS + 1}"})


def test_redirect_loops_stop(servers: Any, web: Any) -> None:
    guard, audit, _ = web()
    port = servers[0].server_address[1]
    with pytest.raises(ToolFailed, match="redirect loop"):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/loop-a"})
    assert len(_decided(audit)) == 2


def test_outside_a_guard_redirects_are_not_followed(servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    port = servers[0].server_address[1]
    with pytest.raises(ToolFailed, match="internal address"):  # no decision names loopback
        http_get(f"http://127.0.0.1:{port}/to?/ok")
    # the servers stand for public hosts here: the redirect itself is what is not followed
    monkeypatch.setattr("agentguard.tools.web.is_internal", lambda address: False)
    with pytest.raises(ToolFailed, match="not followed"):
        http_get(f"http://127.0.0.1:{port}/to?/ok")


def test_the_checked_address_is_the_one_connected_to(servers: Any, web: Any) -> None:
    port = servers[0].server_address[1]
    # a name reaches a loopback address only through a rule naming that address (see test_bypass_web_internal)
    rules = WEB_RULES + 'p, *, http.get, ip(url, "127.0.0.1/32"), allow\n'
    guard, audit, dns = web(table={"pinned.test": ["127.0.0.1"]}, rules=rules)
    # the name is resolved once, for ip(); a rebinding answer later is never asked for
    result = guard.call("http.get", {"url": f"http://PINNED.test:{port}/host"})
    assert result == f"pinned.test:{port}"  # Host stays the name
    assert dns.lookups == ["pinned.test"]
    decided = [r for r in audit.records if r["event"] == "policy.decided"]
    assert decided[-1]["resolved"] == {"pinned.test": ("127.0.0.1",)}  # the audit names what was checked
    dns.table["pinned.test"] = ("127.0.0.2",)
    with pytest.raises(PolicyDenied):
        guard.call("http.get", {"url": f"http://pinned.test:{port}/host"})
    assert servers[1].seen == []


def test_the_tool_gets_the_canonical_url(servers: Any, web: Any) -> None:
    rule = r'regex(url, "http://127\.0\.0\.1:[0-9]+/ok") && ip(url, "127.0.0.1/32")'
    guard, _, _ = web(rules=f"p, *, http.get, {rule}, allow")
    port = servers[0].server_address[1]
    # the policy saw the normal form (or the regex would not match) and the tool fetched it
    assert guard.call("http.get", {"url": f"http://0x7f.1:{port}/a/%2e%2e/ok#frag"}) == "127.0.0.1 /ok"
    with pytest.raises(InvalidArguments, match="unambiguously"):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}\\@evil.test/ok"})
    with pytest.raises(InvalidArguments, match="http"):
        guard.call("http.get", {"url": "file:///etc/passwd"})


def test_bodies_are_bounded(servers: Any, web: Any) -> None:
    guard, _, _ = web()
    port = servers[0].server_address[1]
    text = guard.call("http.get", {"url": f"http://127.0.0.1:{port}/big"})
    assert text.endswith("[truncated]")
    assert len(text) < 1024 * 1024 + 20


async def test_redirect_hops_are_guarded_from_async_callers_too(servers: Any, web: Any) -> None:
    guard, audit, _ = web()
    port = servers[0].server_address[1]
    assert await guard.acall("http.get", {"url": f"http://127.0.0.1:{port}/to?/ok"}) == "127.0.0.1 /ok"
    with pytest.raises(PolicyDenied):
        await guard.acall("http.get", {"url": f"http://127.0.0.1:{port}/to?/admin/x"})
    assert [effect for _, effect, _, _ in _decided(audit)] == ["allow", "allow", "allow", "deny"]


def test_redirect_loops_through_fragments_stop(servers: Any, web: Any) -> None:
    guard, _, _ = web()
    port = servers[0].server_address[1]
    with pytest.raises(ToolFailed, match="redirect loop"):
        guard.call("http.get", {"url": f"http://127.0.0.1:{port}/frag"})  # -> /frag#again
