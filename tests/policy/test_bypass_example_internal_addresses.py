"""The trifecta example allows ``http.post`` in a clean session and ``http.get`` always, and kept
internal addresses out with ``url()`` patterns for four spellings (``localhost``, ``127.0.0.1``,
``[::1]``, ``169.254.169.254``). Every other internal address got through to a tool that is not the
built-in ``http.get`` (which refuses internal addresses itself): ``127.0.0.2``, ``0.0.0.0`` and
``[::]`` (both reach this host), the ECS credentials endpoint ``169.254.170.2``, AWS's IPv6 metadata
``[fd00:ec2::254]``, the private ranges, and any name that resolves to one of them.

The example now denies by address, ``ip(url, "internal")``; the case table gives the DNS answers its
names get (``dns:``), so the table decides the same with and without a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine, load_cases, run_cases
from agentguard.policy._cases import PolicyCase
from agentguard.testing import FakeResolver

from .conftest import EXAMPLES

TRIFECTA = EXAMPLES / "trifecta"
CLEAN = {"user_request": "The tests fail; please fix src/app.py"}

INTERNAL = [
    "http://127.0.0.2:6379/",
    "http://0.0.0.0:8080/",
    "http://[::]:8080/",
    "http://169.254.170.2/v2/credentials/abc",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.5/admin",
    "http://192.168.1.1/",
    "http://[::ffff:10.0.0.1]/",
    "http://2130706434/",
    "https://rebind.test/",  # a name: resolves to loopback
]


def _case(tool: str, url: str) -> PolicyCase:
    return PolicyCase.model_validate(
        {"tool": tool, "args": {"url": url, "data": "3 passed"}, "expect": "deny", "session": CLEAN}
    )


@pytest.mark.parametrize("tool", ["http.post", "http.get"])
@pytest.mark.parametrize("url", INTERNAL)
def test_trifecta_never_sends_to_an_internal_address(tmp_path: Path, tool: str, url: str) -> None:
    dns = FakeResolver({"rebind.test": ["127.0.0.1"], "ci.example": ["93.184.216.34"]})
    engine = PolicyEngine.load(TRIFECTA, workspace=tmp_path, resolver=dns)
    [result] = run_cases(engine, [_case(tool, url)], default_agent="coder")
    assert result.decision.effect is Effect.DENY, result.decision.reason


def test_trifecta_still_posts_to_a_public_host(tmp_path: Path) -> None:
    engine = PolicyEngine.load(
        TRIFECTA, workspace=tmp_path, resolver=FakeResolver({"ci.example": ["93.184.216.34"]})
    )
    case = PolicyCase.model_validate(
        {
            "tool": "http.post",
            "args": {"url": "https://ci.example/report", "data": "ok"},
            "expect": "allow",
            "session": CLEAN,
        }
    )
    [result] = run_cases(engine, [case], default_agent="coder")
    assert result.decision.effect is Effect.ALLOW, result.decision.reason


def test_a_case_table_gives_its_own_dns_answers(tmp_path: Path) -> None:
    """``dns:`` at the top of a table (and per case) answers ip() instead of the system's resolver;
    a name the table does not list does not resolve, so the table decides the same offline."""
    table = tmp_path / "cases.yaml"
    table.write_text(
        "dns: {public.test: [93.184.216.34], inside.test: [10.1.2.3]}\n"
        "cases:\n"
        "- {tool: http.post, args: {url: 'https://public.test'}, session: {user_request: a}, expect: allow}\n"
        "- {tool: http.post, args: {url: 'https://inside.test/'}, session: {user_request: a}, expect: deny}\n"
        "- {tool: http.post, args: {url: 'https://other.test'}, session: {user_request: a}, expect: deny}\n"
        "- {tool: http.post, args: {url: 'https://public.test/'}, dns: {public.test: [127.0.0.1]},"
        " session: {user_request: a}, expect: deny}\n"
    )
    cases = load_cases(table)
    engine = PolicyEngine.load(TRIFECTA, workspace=tmp_path)  # the system resolver: never asked
    results = run_cases(engine, cases, default_agent="coder")
    assert [r.decision.effect for r in results] == [r.case.expect for r in results]
    assert [r.case.dns for r in results][-1] == {"public.test": ("127.0.0.1",)}
