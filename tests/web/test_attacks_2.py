"""Red-team round 2 on the web console, over real HTTP against a served console (see conftest)."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable

import httpx

from tests.web.conftest import Served
from tests.web.test_security import bearer, login, submit


def _raw(served: Served, request: bytes) -> bytes:
    """Bytes on the wire, for what httpx will not send (no Host, odd Host forms)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while True:
            data = s.recv(65536)
            if not data:
                return out
            out += data


def test_host_header_variants_are_refused(serve: Callable[..., Served]) -> None:
    served = serve()
    submit(served)
    auth = f"Authorization: Bearer {served.token}\r\n".encode()
    for host in (
        b"evil.example",
        b"127.0.0.1.evil.example",
        b"127.0.0.1.",
        b"localhost.",
        b"[::1]evil.example",
        b"127.0.0.1:80@evil.example",
        b"evil.example:127.0.0.1",
        b"127.0.0.1:8x",
        b"[::1]:80evil",
    ):
        out = _raw(
            served,
            b"GET /api/requests HTTP/1.1\r\nHost: " + host + b"\r\n" + auth + b"Connection: close\r\n\r\n",
        )
        assert out.startswith(b"HTTP/1.1 421"), (host, out[:200])
    out = _raw(served, b"GET /api/requests HTTP/1.0\r\n" + auth + b"\r\n")
    assert out.startswith(b"HTTP/1.1 421"), out[:200]


def test_null_and_lookalike_origins_are_refused(serve: Callable[..., Served]) -> None:
    served = serve()
    q = submit(served)
    client, csrf = login(served)
    with contextlib.closing(client):
        url = f"/api/requests/{q.id}/approve"
        for origin in (
            "null",
            served.url + ".evil.example",
            served.url.replace("http:", "https:"),
            "file://",
        ):
            r = client.post(url, json={}, headers={"X-CSRF-Token": csrf, "Origin": origin})
            assert r.status_code == 403, origin
        assert served.store.get(q.id).pending


def test_every_post_needs_the_csrf_token(serve: Callable[..., Served]) -> None:
    served = serve()
    q = submit(served)
    client, _csrf = login(served)
    with contextlib.closing(client):
        for path in (
            f"/api/requests/{q.id}/approve",
            f"/api/requests/{q.id}/deny",
            f"/api/requests/{q.id}/preview-grant",
            "/api/grants/abc/revoke",
            "/logout",
        ):
            assert client.post(path, json={"reason": "x"}).status_code == 403, path
            text = client.post(
                path, content=b'{"reason": "x"}', headers={"Content-Type": "text/plain"}
            ).status_code
            assert text == 403, path
            # a method override does not turn a GET into a POST
            assert client.get(path + "?_method=POST").status_code in (404, 405), path
        assert served.store.get(q.id).pending
        assert client.get("/api/requests").status_code == 200  # logout did not happen


def test_login_refuses_a_cross_site_form_and_rotates_the_session(serve: Callable[..., Served]) -> None:
    served = serve()
    with httpx.Client(base_url=served.url) as client:
        # A fixed session id planted before login is never the one issued.
        client.cookies.set("agentguard_session", "planted-by-attacker")
        form = client.get("/login")
        nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert nonce is not None
        evil = client.post(
            "/login",
            data={"token": served.token, "login_csrf": nonce.group(1)},
            headers={"Origin": "http://evil.example"},
        )
        assert evil.status_code == 403
        no_nonce = httpx.post(served.url + "/login", data={"token": served.token})
        assert no_nonce.status_code == 403
        done = client.post("/login", data={"token": served.token, "login_csrf": nonce.group(1)})
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        issued = done.cookies.get("agentguard_session")
        assert issued
        assert issued != "planted-by-attacker"


def test_login_has_no_open_redirect(serve: Callable[..., Served]) -> None:
    served = serve()
    with httpx.Client(base_url=served.url) as client:
        for target in ("/login?next=http://evil.example", "/login?next=//evil.example"):
            form = client.get(target)
            nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
            assert nonce is not None
            done = client.post(target, data={"token": served.token, "login_csrf": nonce.group(1)})
            assert done.status_code == 303
            assert done.headers["location"] == "/"


def test_static_files_do_not_traverse(serve: Callable[..., Served]) -> None:
    served = serve()
    for path in (
        b"/static/../_tokens.py",
        b"/static/%2e%2e/_tokens.py",
        b"/static/..%2f_tokens.py",
        b"/static/%2e%2e%2f%2e%2e%2f__init__.py",
        b"/static/....//_tokens.py",
    ):
        out = _raw(served, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert b"hashlib" not in out, path
        assert b"import" not in out, path


def test_api_answers_are_json_with_nosniff(serve: Callable[..., Served]) -> None:
    served = serve()
    submit(served, {"path": "<html><script>alert(1)</script>", "content": "x"})
    with httpx.Client(base_url=served.url, headers=bearer(served)) as api:
        for path in ("/api/requests", "/api/grants", "/api/audit", "/api/requests/zz"):
            r = api.get(path)
            assert r.headers["content-type"].startswith("application/json"), path
            assert r.headers["x-content-type-options"] == "nosniff"
    with httpx.Client(base_url=served.url) as anon:
        r = anon.get("/api/events")
        assert r.status_code == 401
        assert "requests" not in r.text


def test_a_prefix_matching_several_requests_is_refused(serve: Callable[..., Served]) -> None:
    served = serve()
    made = [submit(served, {"path": f"n{i}.md", "content": "x"}) for i in range(40)]
    by_first: dict[str, list[str]] = {}
    for q in made:
        by_first.setdefault(q.id[0], []).append(q.id)
    prefix = next(k for k, v in by_first.items() if len(v) > 1)
    with httpx.Client(base_url=served.url, headers=bearer(served)) as api:
        r = api.post(f"/api/requests/{prefix}/approve", json={})
        assert r.status_code in (400, 404, 409), r.text
        assert all(served.store.get(i).pending for i in by_first[prefix])


def test_an_answer_is_given_once_and_attributed_to_the_logged_in_approver(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    q = submit(served)
    with httpx.Client(base_url=served.url, headers=bearer(served)) as api:
        first = api.post(
            f"/api/requests/{q.id}/approve", json={"approver": "mallory", "by": "mallory", "answered_by": "m"}
        )
        assert first.status_code == 200
        assert first.json()["request"]["approver"] == "alice"
        again = api.post(f"/api/requests/{q.id}/deny", json={"reason": "changed my mind"})
        assert again.status_code == 409
        twice = api.post(f"/api/requests/{q.id}/approve", json={})
        assert twice.status_code == 409
    assert not served.store.get(q.id).pending


def test_approve_always_refuses_a_rule_other_than_the_one_previewed(serve: Callable[..., Served]) -> None:
    # The page previews the rule 150 ms after typing stops; a quick Enter would otherwise store a
    # wider pattern than the one on screen. The page sends the condition it showed; the server checks.
    served = serve()
    q = submit(served, {"path": str(served.workspace / "docs" / "a.md"), "content": "x"})
    narrow = f"{served.workspace}/docs/*.md"
    wide = f"{served.workspace}/**"
    with httpx.Client(base_url=served.url, headers=bearer(served)) as api:
        shown = api.post(
            f"/api/requests/{q.id}/preview-grant", json={"scope": "pattern", "pattern": narrow}
        ).json()["grant"]["condition"]
        r = api.post(
            f"/api/requests/{q.id}/approve",
            json={"always": {"scope": "pattern", "pattern": wide, "condition": shown}},
        )
        assert r.status_code == 409, r.text
        assert "preview" in r.json()["error"]
        assert served.store.get(q.id).pending
        assert served.store.grants() == []
        bad = api.post(
            f"/api/requests/{q.id}/approve",
            json={"always": {"scope": "pattern", "pattern": narrow, "condition": 3}},
        )
        assert bad.status_code == 400
        ok = api.post(
            f"/api/requests/{q.id}/approve",
            json={"always": {"scope": "pattern", "pattern": narrow, "condition": shown}},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["grant"]["condition"] == shown


def test_an_open_event_stream_ends_when_its_token_is_revoked_or_its_session_logs_out(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    submit(served)
    client, csrf = login(served)
    with contextlib.closing(client), client.stream("GET", "/api/events") as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        secret = submit(served, {"path": "after-logout.md", "content": "secret"})
        rest = list(lines)  # the server must end the stream; a hang fails by the client's timeout
        assert not any(secret.id in line for line in rest)
    api = httpx.Client(base_url=served.url, headers=bearer(served), timeout=60)
    with api, api.stream("GET", "/api/events") as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        served.tokens.revoke("alice")
        secret = submit(served, {"path": "after-revoke.md", "content": "secret"})
        rest = list(lines)
        assert not any(secret.id in line for line in rest)
