"""Webhooks reach a receiver the test starts on loopback: one POST per new pending request, with a
link to the request; the Slack form escapes what the agent wrote."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agentguard.web import Webhook
from tests.web.conftest import Served
from tests.web.test_security import submit


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[str, dict[str, Any]]]]]:
    got: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            got.put((self.path, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


def test_each_new_pending_request_is_announced_once(
    serve: Callable[..., Served], receiver: tuple[str, queue.Queue[tuple[str, dict[str, Any]]]]
) -> None:
    base, got = receiver
    served = serve(webhooks=(Webhook(base + "/generic"), Webhook(base + "/slack", "slack")))
    q = submit(served, {"path": "<!channel> & <http://evil|click>", "content": "x"})
    posts = dict(got.get(timeout=20) for _ in range(2))
    generic, slack = posts["/generic"], posts["/slack"]
    link = f"{served.url}/requests/{q.id}"
    assert generic["event"] == "approval.pending"
    assert generic["url"] == link
    assert generic["request"]["id"] == q.id
    assert generic["request"]["tool"] == "fs.write"
    text = json.dumps(slack)
    assert f"<{link}|Open request {q.id[:8]}>" in slack["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text
    second = submit(served, {"path": "b.md", "content": "b"})
    posts = dict(got.get(timeout=20) for _ in range(2))
    assert posts["/generic"]["request"]["id"] == second.id  # the first is not announced again
    assert got.empty()
