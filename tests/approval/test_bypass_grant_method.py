"""Red team: "approve always" for a GET through the egress proxy also allowed DELETE and POST.

``net.connect`` is decided with the request's method, and the documented policy asks for anything
but ``GET``/``HEAD``/``CONNECT``. A pattern grant made from an approved ``GET http://host/...`` was
``url(url, "http://host")``: an allow that matched every later request to the host whatever its
method, so the next ``DELETE`` ran unasked. A pattern grant on a URL now keeps the approved
call's method (``&& oneof(method, "GET")``) when the call has one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.approval._grants import condition_for
from agentguard.approval._records import GrantScope
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeResolver

RULES = """\
p, *, net.connect, !oneof(method, "GET", "HEAD", "CONNECT"), ask
p, *, net.connect, url(url, "http://*:*"), ask
"""


def _call(method: str, path: str = "/x") -> ToolCall:
    return ToolCall(
        agent="a",
        tool="net.connect",
        arguments={
            "host": "example.com",
            "port": 80,
            "scheme": "http",
            "url": f"http://example.com{path}",
            "parent_call": None,
            "method": method,
        },
    )


def _engine(tmp_path: Path, grant: str) -> PolicyEngine:
    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copyfile(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(RULES)
    grants = tmp_path / "grants.csv"
    grants.write_text(f"p, *, net.connect, {grant}, allow\n")
    resolver = FakeResolver({"example.com": ["192.0.2.10"]})
    return PolicyEngine.load(policy, workspace=tmp_path, resolver=resolver, extra_files=[grants])


@pytest.mark.parametrize("later", ["DELETE", "POST", "PUT"])
def test_a_grant_from_a_get_does_not_allow_another_method(tmp_path: Path, later: str) -> None:
    engine = _engine(tmp_path, condition_for(_call("GET"), GrantScope.PATTERN))
    assert engine.decide(_call("GET", "/other")).effect is Effect.ALLOW  # the grant still works
    assert engine.decide(_call(later)).effect is Effect.ASK


def test_a_grant_from_a_delete_covers_that_method_only(tmp_path: Path) -> None:
    engine = _engine(tmp_path, condition_for(_call("DELETE"), GrantScope.PATTERN, "http://example.com"))
    assert engine.decide(_call("DELETE", "/y")).effect is Effect.ALLOW
    assert engine.decide(_call("POST")).effect is Effect.ASK
