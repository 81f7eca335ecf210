"""The console's gate over real HTTP: nothing without a token, CSRF and Origin/Host checks, escaping,
rate-limited login, revocable tokens, answers attributed to the approver, the JSON API contract."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

import httpx
import orjson
from click.testing import CliRunner

from agentguard.approval import Owner, QueuedRequest
from agentguard.cli import main
from agentguard.models import ApprovalRequest, Decision, Effect, RuleRef, ToolCall
from agentguard.web._middleware import CSP
from tests.web.conftest import Served

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def submit(
    served: Served,
    arguments: dict[str, object] | None = None,
    *,
    tool: str = "fs.write",
    agent: str = "coder",
    reason: str = "asked by policy.csv:1",
    rule_text: str = "p, *, fs.write, *, ask",
    session: str | None = None,
) -> QueuedRequest:
    """Queue a request as an agent in this process would (any text: the store takes what it is given)."""
    call = ToolCall(
        agent=agent, tool=tool, arguments=arguments or {"path": "notes.md", "content": "hi"}, session=session
    )
    rule = RuleRef(file="policy.csv", line=1, text=rule_text)
    decision = Decision(effect=Effect.ASK, rule=rule, reason=reason)
    return served.store.submit(ApprovalRequest(call=call, decision=decision, timeout_s=300), Owner.current())


def bearer(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.token}"}


def login(served: Served) -> tuple[httpx.Client, str]:
    """A browser-like client logged in with the token; the CSRF token its pages carry."""
    client = httpx.Client(base_url=served.url)
    form = client.get("/login")
    nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    done = client.post("/login", data={"token": served.token, "login_csrf": nonce.group(1)})
    assert done.status_code == 303
    page = client.get("/")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None
    assert csrf.group(1)
    return client, csrf.group(1)


def test_without_a_valid_token_every_route_reveals_nothing(serve: Callable[..., Served]) -> None:
    served = serve()
    q = submit(served, {"path": "secret-plan.md", "content": "TOPSECRET"})
    routes = [
        ("GET", "/"), ("GET", f"/requests/{q.id}"), ("GET", "/grants"), ("GET", "/audit"),
        ("GET", "/api/requests"), ("GET", f"/api/requests/{q.id}"), ("GET", "/api/grants"),
        ("GET", "/api/audit"), ("GET", "/api/events"), ("POST", f"/api/requests/{q.id}/approve"),
        ("POST", f"/api/requests/{q.id}/deny"), ("POST", f"/api/requests/{q.id}/preview-grant"),
        ("POST", "/api/grants/abc/revoke"), ("POST", "/logout"),
    ]  # fmt: skip
    for auth in ({}, {"Authorization": "Bearer agw_not-a-token"}, {"Cookie": "agentguard_session=forged"}):
        with httpx.Client(base_url=served.url, headers=auth) as client:
            for method, path in routes:
                r = client.request(method, path, json={"reason": "x"} if method == "POST" else None)
                assert r.status_code in (401, 303), (method, path, r.status_code)
                if path.startswith("/api/"):
                    assert r.status_code == 401
                    assert r.json() == {"error": "authentication required"}
                else:
                    assert r.headers["location"] == "/login"
                assert "TOPSECRET" not in r.text
                assert "secret-plan" not in r.text
                assert q.id not in r.text
    assert served.store.get(q.id).pending


def test_api_contract_matches_the_cli_and_answers_are_attributed(serve: Callable[..., Served]) -> None:
    served = serve()
    first, second = submit(served), submit(served, {"path": "b.md", "content": "b"})
    with httpx.Client(base_url=served.url, headers=bearer(served)) as client:
        listed = client.get("/api/requests").json()
        cli = CliRunner().invoke(main, ["--home", str(served.home), "approvals", "list", "--json"])
        assert listed == orjson.loads(cli.output)  # the same body as the CLI's
        listed = listed["requests"]
        assert [r["id"] for r in listed] == [first.id, second.id]

        r = client.post(f"/api/requests/{first.id}/approve")
        assert r.status_code == 200
        assert r.json()["request"]["state"] == "approved"
        assert r.json()["request"]["approver"] == "alice"
        assert r.json()["request"]["channel"] == "web"
        again = client.post(f"/api/requests/{first.id}/deny", json={"reason": "too late"})
        assert again.status_code == 409
        assert "already approved by alice" in again.json()["error"]

        assert client.post(f"/api/requests/{second.id}/deny", json={}).status_code == 400
        r = client.post(f"/api/requests/{second.id}/deny", json={"reason": "use staging"})
        assert r.json()["request"]["state"] == "denied"
        assert r.json()["request"]["answer_reason"] == "use staging"
        assert client.get("/api/grants").json() == {"grants": []}
        assert client.get("/api/requests/ffff").status_code == 404
        assert client.get(f"/api/requests/{first.id[:10]}").json()["id"] == first.id  # a prefix, as the CLI


def test_edits_are_validated_against_the_tool_schema(serve: Callable[..., Served]) -> None:
    served = serve()
    q = submit(served)
    with httpx.Client(base_url=served.url, headers=bearer(served)) as client:
        url = f"/api/requests/{q.id}/approve"
        bad = client.post(url, json={"arguments": {"path": "notes.md", "content": "x", "mode": "0777"}})
        assert bad.status_code == 422
        assert "mode" in bad.json()["error"]
        missing = client.post(url, json={"arguments": {"path": "notes.md"}})
        assert missing.status_code == 422
        assert missing.json()["problems"][0]["field"] == "content"
        assert client.post(url, json={"arguments": ["not", "an", "object"]}).status_code == 422
        assert served.store.get(q.id).pending
        ok = client.post(url, json={"arguments": {"path": "notes.md", "content": "edited"}})
        assert ok.json()["request"]["edited_arguments"] == {"path": "notes.md", "content": "edited"}


def test_csrf_origin_and_host_checks(serve: Callable[..., Served]) -> None:
    served = serve()
    q = submit(served)
    client, csrf = login(served)
    with contextlib.closing(client):
        url = f"/api/requests/{q.id}/approve"
        assert client.post(url, json={}).status_code == 403  # the cookie alone is not enough
        assert client.post(url, json={}, headers={"X-CSRF-Token": "guess"}).status_code == 403
        evil = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        assert client.post(url, json={}, headers=evil).status_code == 403
        assert served.store.get(q.id).pending
        rebinding = client.get("/api/requests", headers={"Host": "evil.example"})
        assert rebinding.status_code == 421
        assert q.id not in rebinding.text
        ok = client.post(url, json={}, headers={"X-CSRF-Token": csrf, "Origin": served.url})
        assert ok.status_code == 200
        assert ok.json()["request"]["approver"] == "alice"


def test_cookies_headers_and_escaping(serve: Callable[..., Served]) -> None:
    served = serve()
    q = submit(
        served, {"path": XSS, "content": XSS}, tool=XSS, agent=XSS, reason=XSS, rule_text=XSS, session=XSS
    )
    with httpx.Client(base_url=served.url) as client:
        form = client.get("/login")
        nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert nonce is not None
        done = client.post("/login", data={"token": served.token, "login_csrf": nonce.group(1)})
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "agentguard_session=" in cookie
        for path in ("/", f"/requests/{q.id}", "/audit"):
            page = client.get(path)
            assert page.headers["content-security-policy"] == CSP
            assert "'unsafe-inline'" not in CSP
            assert "script-src 'self'" in CSP
            assert "<script>window" not in page.text
            assert "<img src=x" not in page.text
        detail = client.get(f"/requests/{q.id}").text
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in detail
        assert re.search(r"<script(?! src=\"/static/app.js\")", detail) is None


def test_login_is_rate_limited_and_tokens_are_revocable(serve: Callable[..., Served]) -> None:
    served = serve()
    with httpx.Client(base_url=served.url) as client:

        def attempt(token: str) -> httpx.Response:
            form = client.get("/login")
            nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
            assert nonce is not None
            return client.post("/login", data={"token": token, "login_csrf": nonce.group(1)})

        for _ in range(5):
            assert attempt("agw_wrong").status_code == 401
        blocked = attempt(served.token)
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0


def test_revoked_token_ends_api_access_and_sessions(serve: Callable[..., Served]) -> None:
    served = serve()
    client, _ = login(served)
    with contextlib.closing(client), httpx.Client(base_url=served.url, headers=bearer(served)) as api:
        assert api.get("/api/requests").status_code == 200
        assert client.get("/api/grants").status_code == 200
        runner = CliRunner()
        listed = runner.invoke(main, ["--home", str(served.home), "serve", "token", "list"])
        assert "alice" in listed.output
        assert served.token not in listed.output
        out = runner.invoke(main, ["--home", str(served.home), "serve", "token", "revoke", "alice"])
        assert out.exit_code == 0, out.output
        assert api.get("/api/requests").status_code == 401
        assert client.get("/api/grants").status_code == 401


def test_token_create_prints_the_token_alone_on_the_last_line(serve: Callable[..., Served]) -> None:
    served = serve()
    out = CliRunner().invoke(
        main, ["--home", str(served.home), "serve", "token", "create", "--approver", "bob"]
    )
    assert out.exit_code == 0, out.output
    token = out.output.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"agw_[A-Za-z0-9_-]{43}", token)
    assert token not in served.tokens.path.read_bytes().decode("latin-1")  # stored hashed
    q = submit(served)
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {token}"}) as client:
        r = client.post(f"/api/requests/{q.id}/approve")
    assert r.json()["request"]["approver"] == "bob"


def test_bad_approver_names_are_refused() -> None:
    out = CliRunner().invoke(main, ["serve", "token", "create", "--approver", "a b<"])
    assert out.exit_code == 2
    assert "approver name" in out.output
