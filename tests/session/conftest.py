"""Fixtures for sessions and provenance: a real policy folder (policy.csv, facts.toml, outputs.toml),
a real audit log, and a guard over them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard
from agentguard.audit import AuditLog
from agentguard.policy import PolicyEngine
from agentguard.settings import Settings

REPO = Path(__file__).resolve().parents[2]

RULES = """\
p, *, web.get, *, allow
p, *, mail.read, *, allow
p, *, bank.history, *, allow
p, *, files.read, *, allow
p, *, bank.pay, trusted(iban), allow
p, *, bank.pay, untrusted_only(iban), deny
p, *, mail.send, every_email(body, "trusted(_) || host_in(_, \\"org\\")") && trusted(to), allow
p, *, mail.send, carries_untrusted(*), deny
p, *, http.post, session_read("untrusted"), ask
p, *, http.post, session_read("secret"), deny
p, *, http.post, *, allow
"""

FACTS = """\
[sets]
org = ["example.com"]
[conditions]
iban_shape = 'regex(_, "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")'
"""

OUTPUTS = """\
[[output]]
tool = "bank.history"
trust = "trusted"
untrusted = ["$[*].subject"]
[[output]]
tool = "files.read"
trust = "trusted"
redact = ["secret"]
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Callable[..., Path]:
    def make(rules: str = RULES, facts: str | None = FACTS, outputs: str | None = OUTPUTS) -> Path:
        directory = tmp_path / "policy"
        directory.mkdir(exist_ok=True)
        shutil.copyfile(REPO / "permissions" / "model.conf", directory / "model.conf")
        (directory / "policy.csv").write_text(rules, encoding="utf-8")
        if facts is not None:
            (directory / "facts.toml").write_text(facts, encoding="utf-8")
        if outputs is not None:
            (directory / "outputs.toml").write_text(outputs, encoding="utf-8")
        return directory

    return make


@pytest.fixture
def engine(policy_dir: Callable[..., Path], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine.load(policy_dir(), workspace=tmp_path)


class Tools:
    """Tools whose outputs the tests script: each returns what the test put in ``outputs`` (or raises it)."""

    def __init__(self) -> None:
        self.outputs: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        value = self.outputs.get(name, "")
        if isinstance(value, BaseException):  # a tool that fails
            raise value
        return value


@pytest.fixture
def guard(engine: PolicyEngine, tmp_path: Path) -> Iterator[tuple[Guard, Tools, Path]]:
    tools = Tools()
    audit_path = tmp_path / "audit.jsonl"
    settings = Settings(home=tmp_path / "home", workspace=tmp_path)
    with Guard(engine, audit=AuditLog(audit_path), settings=settings, agent="tester") as g:
        g.register("web.get", lambda url: tools.get("web.get"))
        g.register("mail.read", lambda folder="inbox": tools.get("mail.read"))
        g.register("bank.history", lambda n=10: tools.get("bank.history"))
        g.register("files.read", lambda path: tools.get("files.read"))
        g.register("bank.pay", lambda iban, amount, subject="": "paid")
        g.register("mail.send", lambda to, body="": "sent")
        g.register("http.post", lambda url, data="": "ok")
        yield g, tools, audit_path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
