"""Red team: a bare Unicode host name was a different value from the same host in punycode.

A page linking ``https://xn--exmple-cua.com/drop`` (or mailing ``drop@xn--exmple-cua.com``)
names the host ``xn--exmple-cua.com``; an argument ``exämple.com`` (a ``host``, a ``domain``) is
that host to every resolver and URL parser, yet it was filed under its Unicode spelling only, so
``untrusted_only`` said *unseen*. E-mail domains and URLs already had both spellings share a key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.session import Session

RULES = """\
p, *, untrusted_only, untrusted_only(v), deny
p, *, untrusted_only, *, allow
"""


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(RULES, None, None), workspace=tmp_path)


@pytest.mark.parametrize("page", ["see https://xn--exmple-cua.com/drop", "mail drop@xn--exmple-cua.com"])
@pytest.mark.parametrize("value", ["exämple.com", "EXÄMPLE.COM", "exämple.com."])
def test_a_unicode_host_is_its_punycode(engine: PolicyEngine, page: str, value: str) -> None:
    s = Session(user_request="help")
    s.read_earlier([page])
    with s.active():
        call = ToolCall(agent="t", tool="untrusted_only", arguments={"v": value})
        assert engine.decide(call).effect is Effect.DENY
