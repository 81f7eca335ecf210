"""The log wrote a ``str``/``int``/``float`` subclass as its own ``__str__``/``__int__``/``__float__``
said, and a ``dict``/``list`` subclass as its own ``items()``/``__iter__`` said; validation, the policy
and the tool see the data the value holds. A caller's argument could so make ``call.received`` show
``{"cmd": "ls", "n": 1}`` for a call that was decided on and ran ``rm -rf /`` with ``n`` a million,
and a nested dict hide a key from the log. Each is now written as the data it holds.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from agentguard import Guard
from agentguard.audit import AuditLog, redact
from agentguard.models import Decision, Effect, ToolCall


class Quiet(str):
    def __str__(self) -> str:
        return "ls"


class Small(int):
    def __int__(self) -> int:
        return 1

    def __index__(self) -> int:
        return 1


class Tame(float):
    def __float__(self) -> float:
        return 0.5


class Hiding(dict[str, Any]):
    def items(self) -> Any:
        return [(k, v) for k, v in super().items() if k != "target"]


class Short(list[Any]):
    def __iter__(self) -> Any:
        return iter(["harmless"])


class Kind(str, Enum):  # noqa: UP042 - the mixin whose str() is not its value
    READ = "read"


class Allow:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def decide(self, call: ToolCall) -> Decision:
        self.seen.append(call.arguments)
        return Decision(effect=Effect.ALLOW, reason="test")


def test_a_call_is_logged_as_the_data_it_ran_with(tmp_path: Path) -> None:
    ran: list[tuple[str, int]] = []

    def run(cmd: str, n: int) -> str:
        ran.append((cmd, n))
        return "ok"

    path = tmp_path / "audit.jsonl"
    policy = Allow()
    with Guard(policy, audit=AuditLog(path)) as guard:
        guard.register("run", run)
        guard.call("run", {"cmd": Quiet("rm -rf /"), "n": Small(1_000_000)})
    assert ran == [("rm -rf /", 1_000_000)]
    assert policy.seen == [{"cmd": "rm -rf /", "n": 1_000_000}]
    received = orjson.loads(path.read_bytes().splitlines()[0])
    assert received["event"] == "call.received"
    assert received["arguments"] == {"cmd": "rm -rf /", "n": 1_000_000}


def test_subclasses_are_written_as_the_data_they_hold() -> None:
    value = Hiding(target="/etc/shadow", mode="w")
    assert redact(Kind.READ) == "read"  # docs/audit.md: enums become their value (was "Kind.READ")
    assert redact({"a": value, "b": Short(["rm", "-rf", "/"]), "c": Tame(2.5), Quiet("key"): 1}) == {
        "a": {"target": "/etc/shadow", "mode": "w"},
        "b": ["rm", "-rf", "/"],
        "c": 2.5,
        "key": 1,
    }
