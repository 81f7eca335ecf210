"""``agentguard serve`` itself, in its own process: TLS from --certfile/--keyfile, the contract's
routes behind a token, Secure cookies and HSTS under TLS, a clean stop."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from agentguard.cli import main
from tests.approval.conftest import wait_until
from tests.loopback import self_signed
from tests.web.conftest import REPO, _free_port


def _self_signed(directory: Path) -> tuple[Path, Path]:
    return self_signed(directory, "127.0.0.1")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_serve_over_tls_with_a_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = CliRunner().invoke(
        main, ["--home", str(home), "serve", "token", "create", "--approver", "carol"]
    )
    token = created.output.splitlines()[-1]
    certfile, keyfile = _self_signed(tmp_path)
    port = _free_port()
    args = [
        "--home",
        str(home),
        "serve",
        "--port",
        str(port),
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentguard.cli", *args], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(
            lambda: _listening(port) or proc.poll() is not None, timeout=30, what="the console to listen"
        )
        assert proc.poll() is None
        trust = ssl.create_default_context(cafile=str(certfile))
        url = f"https://127.0.0.1:{port}"
        with httpx.Client(base_url=url, verify=trust) as client:
            assert client.get("/api/requests").status_code == 401
            ok = client.get("/api/requests", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
            assert ok.json()["requests"] == []
            assert ok.headers["strict-transport-security"].startswith("max-age=")
            form = client.get("/login")
            nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
            assert nonce is not None
            done = client.post("/login", data={"token": token, "login_csrf": nonce.group(1)})
            assert done.status_code == 303
            cookie = done.headers["set-cookie"].lower()
            assert "secure" in cookie
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as plain, pytest.raises(httpx.HTTPError):
            plain.get("/api/requests")  # the TLS port does not answer plain HTTP
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert f"agentguard console on https://127.0.0.1:{port}" in err
