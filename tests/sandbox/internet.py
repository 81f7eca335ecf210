"""A test "internet" the egress tests start: an HTTP and an HTTPS server on a private Docker network.

The network is ``internal`` (no route out of it) and made by the test under a name unique to this
process; the servers run in the sandbox image as a non-root user with every capability dropped.
The HTTPS server's certificate is self-signed, made here for ``web.test`` (and its address).
Nothing in the egress tests connects to any other address.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.loopback import self_signed

PREFIX = f"agtest-egress-{os.getpid()}"
HTTP_PORT = 8080
HTTPS_PORT = 8443

SERVER = r"""
import http.server, os, ssl, sys, threading

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path.startswith("/big/"):
            size = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            left = size
            while left:
                n = min(left, len(chunk))
                self.wfile.write(chunk[:n])
                left -= n
            return
        body = f"hello {self.server.name} host={self.headers.get('Host')} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n)
        body = f"posted {len(data)} {data[:20]!r}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

def serve(port, name, tls):
    srv = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    srv.name = name
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain("/certs/cert.pem", "/certs/key.pem")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()

threading.Thread(target=serve, args=(8443, "https", True), daemon=True).start()
serve(8080, "http", False)
"""


@dataclass(frozen=True)
class Internet:
    network: str
    address: str  # the servers' address on the test network
    cert_pem: str
    host: str = "web.test"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{HTTP_PORT}"

    @property
    def https_url(self) -> str:
        return f"https://{self.host}:{HTTPS_PORT}"


def _certificate(directory: Path, names: list[str]) -> str:
    certfile, _ = self_signed(directory, *names, ca=True)
    pem = certfile.read_text()
    for p in directory.iterdir():
        p.chmod(0o644)
    directory.chmod(0o755)
    return pem


def _wait_port(address: str, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def running_internet(client: Any, image: str = "agentguard-sandbox-python:latest") -> Iterator[Internet]:
    """Start the servers; yields where they are. Everything made here is removed afterwards."""
    network = client.networks.create(PREFIX, driver="bridge", internal=True, labels={"agtest": "egress"})
    work = Path(tempfile.mkdtemp(prefix="agtest-egress-"))
    container = None
    try:
        pem = _certificate(work, ["web.test", "other.test"])
        (work / "server.py").write_text(SERVER)
        (work / "server.py").chmod(0o644)
        container = client.containers.create(
            image,
            ["python3", "-I", "/certs/server.py"],
            name=f"{PREFIX}-web",
            user="10001:10001",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            mem_limit="128m",
            pids_limit=64,
            network=PREFIX,
            volumes={str(work): {"bind": "/certs", "mode": "ro"}},
            labels={"agtest": "egress"},
        )
        container.start()
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][PREFIX]["IPAddress"]
        _wait_port(address, HTTP_PORT)
        _wait_port(address, HTTPS_PORT)
        yield Internet(network=PREFIX, address=address, cert_pem=pem)
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        with contextlib.suppress(Exception):
            network.remove()
        for p in work.iterdir():
            p.unlink()
        work.rmdir()
