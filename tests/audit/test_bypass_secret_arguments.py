"""A ``SecretStr`` argument was decided masked: pydantic's JSON form of one is ``**********``, so a rule
on its value (``eq(value, ...)``) read the mask while the tool got the text (found by the red team).
The policy now decides on the text; the audit log (every record, also a reason, an error or a result
that repeats it) and the approval request a person sees hold ``[REDACTED:secret_argument]`` instead.
The secret here is under names and in a form no detector or key-name redaction would catch: only the
masking keeps it out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from agentguard import Guard, Settings
from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore
from agentguard.audit import AuditLog
from agentguard.errors import ApprovalError, InvalidArguments, PolicyDenied, ToolFailed
from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus, Decision, Effect, ToolCall
from agentguard.secret_arguments import MASK
from agentguard.testing import ScriptedApprover

SECRET = "opensesame-7781"
RULES = f"""
p, *, *, *, allow
p, *, unlock, eq(value, "{SECRET}"), deny
p, *, nested, eq(creds.pin, "{SECRET}"), deny
p, *, many, eq(pins.1, "{SECRET}"), deny
p, *, anything, eq(thing.pin, "{SECRET}"), deny
p, *, gated, *, ask
"""
RAN: list[Any] = []


class Creds(BaseModel):
    user: str
    pin: SecretStr


def unlock(door: str, value: SecretStr) -> str:
    RAN.append(value.get_secret_value())
    return "opened"


def nested(creds: Creds) -> str:
    RAN.append(creds.pin.get_secret_value())
    return "ok"


def many(pins: list[SecretStr]) -> str:
    RAN.append([p.get_secret_value() for p in pins])
    return "ok"


def anything(thing: Any) -> str:
    RAN.append(thing)
    return "ok"


def gated(door: str, value: SecretStr) -> str:
    RAN.append((door, value.get_secret_value()))
    return "ok"


def echo(value: SecretStr) -> str:
    return f"you said {value.get_secret_value()}"


def fails(value: SecretStr) -> str:
    raise RuntimeError(f"login with {value.get_secret_value()} failed")


@pytest.fixture
def guard_with(make_policy: Callable[[str], Path], tmp_path: Path) -> Callable[..., Guard]:
    def make(approver: Any = None) -> Guard:
        guard = Guard(
            make_policy(RULES),
            approver=approver or ScriptedApprover(),
            audit=AuditLog(tmp_path / "audit.jsonl"),
            settings=Settings(home=tmp_path / "home", workspace=tmp_path),
        )
        for fn in (unlock, nested, many, anything, gated, echo, fails):
            guard.register(fn.__name__, fn)
        return guard

    RAN.clear()
    return make


def _log(tmp_path: Path) -> str:
    return (tmp_path / "audit.jsonl").read_text()


def test_a_rule_reads_the_secret_the_tool_gets(guard_with: Callable[..., Guard], tmp_path: Path) -> None:
    guard = guard_with()
    with pytest.raises(PolicyDenied):
        guard.call("unlock", {"door": "front", "value": SECRET})
    with pytest.raises(PolicyDenied):
        guard.call("unlock", {"door": "front", "value": SecretStr(SECRET)})
    assert RAN == []
    assert guard.call("unlock", {"door": "front", "value": "other-secret-1"}) == "opened"
    assert RAN == ["other-secret-1"]
    log = _log(tmp_path)
    assert SECRET not in log
    assert "other-secret-1" not in log
    assert MASK in log


def test_nested_and_listed_secrets_are_decided_on_their_text(
    guard_with: Callable[..., Guard], tmp_path: Path
) -> None:
    guard = guard_with()
    with pytest.raises(PolicyDenied):
        guard.call("nested", {"creds": {"user": "u", "pin": SECRET}})
    with pytest.raises(PolicyDenied):
        guard.call("many", {"pins": ["a-first-pin", SECRET]})
    with pytest.raises(PolicyDenied):  # a SecretStr handed to an argument that takes anything
        guard.call("anything", {"thing": {"pin": SecretStr(SECRET)}})
    assert RAN == []
    guard.call("many", {"pins": [SECRET, "a-second-pin"]})  # the rule is on the second only
    assert RAN == [[SECRET, "a-second-pin"]]
    assert SECRET not in _log(tmp_path)
    assert "a-second-pin" not in _log(tmp_path)


def test_a_secret_that_cannot_be_paired_with_its_json_form_is_refused(
    guard_with: Callable[..., Guard],
) -> None:
    guard = guard_with()
    with pytest.raises(InvalidArguments):
        guard.call("anything", {"thing": {SecretStr(SECRET)}})  # a set: no order to pair it by
    assert RAN == []


def test_the_secret_stays_out_of_results_errors_and_rejections(
    guard_with: Callable[..., Guard], tmp_path: Path
) -> None:
    guard = guard_with()
    assert guard.call("echo", {"value": SECRET}) == f"you said {SECRET}"  # the agent reads its result
    with pytest.raises(ToolFailed):
        guard.call("fails", {"value": SECRET})
    with pytest.raises(InvalidArguments):  # the call is rejected (door is missing): still masked
        guard.call("unlock", {"value": SECRET})
    log = _log(tmp_path)
    assert SECRET not in log
    assert log.count(MASK) >= 5


def test_an_approver_sees_the_secret_masked_and_the_tool_gets_it(
    guard_with: Callable[..., Guard], tmp_path: Path
) -> None:
    approver = ScriptedApprover(["approve"])
    guard = guard_with(approver)
    assert guard.call("gated", {"door": "front", "value": SECRET}) == "ok"
    (request,) = approver.requests
    assert request.call.arguments == {"door": "front", "value": MASK}
    assert SECRET not in request.model_dump_json()  # what a queue would store and a view show
    assert RAN == [("front", SECRET)]
    assert SECRET not in _log(tmp_path)


def _edit(arguments: dict[str, Any]) -> Callable[[ApprovalRequest], ApprovalResult]:
    def answer(_request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(
            status=ApprovalStatus.APPROVED, approver="alice", channel="test", edited_arguments=arguments
        )

    return answer


def test_an_edit_that_keeps_the_mask_keeps_the_secret(
    guard_with: Callable[..., Guard], tmp_path: Path
) -> None:
    guard = guard_with(ScriptedApprover(_edit({"door": "back", "value": MASK})))
    guard.call("gated", {"door": "front", "value": SECRET})
    assert RAN == [("back", SECRET)]
    assert SECRET not in _log(tmp_path)


def test_an_edit_that_sets_a_new_secret_is_decided_and_masked(
    guard_with: Callable[..., Guard], tmp_path: Path
) -> None:
    guard = guard_with(ScriptedApprover(_edit({"door": "back", "value": "typed-by-alice"})))
    guard.call("gated", {"door": "front", "value": SECRET})
    assert RAN == [("back", "typed-by-alice")]
    log = _log(tmp_path)
    assert SECRET not in log
    assert "typed-by-alice" not in log


def test_a_request_with_secrets_cannot_be_approved_always_as_the_exact_call(tmp_path: Path) -> None:
    call = ToolCall(
        agent="coder", tool="gated", arguments={"door": "front", "value": MASK}, secrets=(("value",),)
    )
    request = ApprovalRequest(call=call, decision=Decision(effect=Effect.ASK, reason="ask"), timeout_s=60)
    with SqliteApprovalStore(tmp_path / "home") as store:
        queued = store.submit(request, Owner.current())
        assert store.get(queued.id).request.call.secrets == (("value",),)  # kept by the queue
        desk = ApprovalDesk(store, approver="alice")
        with pytest.raises(ApprovalError, match="secret arguments"):
            desk.approve_always(queued.id, GrantScope.CALL)
        desk.approve_always(queued.id, GrantScope.TOOL)  # the whole tool, for this agent, still can


def vault(path: SecretStr) -> str:
    RAN.append(path.get_secret_value())
    return "ok"


@pytest.mark.parametrize("written", ["relative", "absolute"])
def test_a_secret_path_stays_out_of_the_files_the_request_carries(
    make_policy: Callable[[str], Path], tmp_path: Path, written: str
) -> None:
    """A secret a ``path()`` rule reads is resolved, and the decision names the file it looked at
    under that resolved path (``Decision.files``): masked with the arguments, not stored as a key."""
    RAN.clear()
    approver = ScriptedApprover(["approve"])
    guard = Guard(
        make_policy('p, *, vault, path(path, "{workspace}/**"), ask\n'),
        approver=approver,
        audit=AuditLog(tmp_path / "audit.jsonl"),
        settings=Settings(home=tmp_path / "home", workspace=tmp_path),
    )
    guard.register("vault", vault)
    secret = SECRET if written == "relative" else str(tmp_path / SECRET)
    (tmp_path / SECRET).write_text("sealed\n")
    assert guard.call("vault", {"path": secret}) == "ok"
    (request,) = approver.requests
    assert SECRET not in request.model_dump_json()  # what a queue would store and a view show
    ran = RAN.copy()
    assert ran == [str(tmp_path / SECRET)]
    assert SECRET not in _log(tmp_path)
