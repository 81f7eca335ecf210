"""``net.connect`` under the example policy of docs/sandbox.md, and "approve always" for a host.

No Docker and no network: decisions only, with a fixed resolver (the addresses are never dialled).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from agentguard.approval._grants import condition_for, suggest_pattern
from agentguard.approval._records import GrantScope
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.policy._conditions import CompileEnv, EvalContext, compile_condition
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeResolver

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


def example_policy() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- egress example policy -->\n```csv\n(.*?)```", text, re.S)
    assert match, "the example policy block is missing from docs/sandbox.md"
    return match.group(1)


def connect(host: str, port: int = 443, scheme: str = "https", path: str = "/") -> ToolCall:
    default = {"https": 443, "http": 80}[scheme]
    authority = host if port == default else f"{host}:{port}"
    return ToolCall(
        agent="agent",
        tool="net.connect",
        arguments={
            "host": host,
            "port": port,
            "scheme": scheme,
            "url": f"{scheme}://{authority}{path}",
            "parent_call": "c1",
        },
    )


@pytest.fixture
def engine(tmp_path: Path) -> PolicyEngine:
    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "egress.csv").write_text(example_policy())
    resolver = FakeResolver(
        {
            "pypi.org": ["151.101.0.223"],
            "files.pythonhosted.org": ["151.101.64.223"],
            "example.com": ["93.184.215.14"],
            "sneaky.example": ["169.254.169.254"],
            "half.example": ["93.184.215.14", "127.0.0.1"],
        }
    )
    return PolicyEngine.load(policy, workspace=tmp_path, resolver=resolver)


@pytest.mark.parametrize(
    ("call", "effect"),
    [
        (connect("pypi.org"), Effect.ALLOW),
        (connect("files.pythonhosted.org"), Effect.ALLOW),
        (connect("example.com"), Effect.ASK),
        (connect("pypi.org", scheme="http", port=80, path="/simple/"), Effect.ASK),  # not over TLS
        (connect("pypi.org", port=8443), Effect.ASK),  # another port is another service
        (connect("sneaky.example"), Effect.DENY),  # a name resolving to the metadata service
        (connect("half.example"), Effect.DENY),  # partly internal: cannot tell, so the deny applies
        (connect("127.0.0.1", port=22), Effect.DENY),
        (connect("[::1]"), Effect.DENY),
        (connect("169.254.169.254", scheme="http", port=80, path="/latest/meta-data/"), Effect.DENY),
        (connect("no-such-name.example"), Effect.DENY),  # does not resolve: cannot tell, deny
    ],
)
def test_the_example_policy(engine: PolicyEngine, call: ToolCall, effect: Effect) -> None:
    assert engine.decide(call).effect is effect


def test_approve_always_for_a_host_is_a_grant_on_that_host_only() -> None:
    first = connect("example.com", path="/")
    assert suggest_pattern(first) == "https://example.com"
    condition = condition_for(first, GrantScope.PATTERN)
    assert condition == 'url(url, "https://example.com")'
    compiled = compile_condition(condition, CompileEnv(workspace="/", home="/root"))
    assert compiled(EvalContext(connect("example.com").arguments))
    assert not compiled(EvalContext(connect("example.org").arguments))
    assert not compiled(EvalContext(connect("example.com", port=8443).arguments))
    plain = connect("example.com", scheme="http", port=80, path="/a/b")
    assert suggest_pattern(plain) == "http://example.com"
