"""Red team: the agent could rewrite the policy that guards it.

``agentguard init`` puts the policy in ``./permissions`` and the settings in ``./agentguard.toml``:
in the project, which is the workspace the agent writes. The default policy denied every file tool
in agentguard's state directory (audit log, approvals, grants) but only *asked* for writes to its own
rule files and settings, and the engine reloads a changed rule file within half a second. So one
"approve always" for writes in the workspace (a grant ``path(path, "{workspace}/**")``) let the agent
add ``p, *, *, *, allow`` to ``permissions/policy.csv``, or a sandbox profile with the network on to
``agentguard.toml``, without anyone seeing it.

Fixed: ``{policy}`` in a path pattern is the policy directory being loaded, and the default policy
denies writes there and to ``agentguard.toml`` (a deny beats a grant)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.settings import DEFAULT_POLICY_DIR

from .conftest import EXAMPLES, PERMISSIONS, decide

TARGETS = [
    "permissions/policy.csv",
    "permissions/zz-more.csv",  # a new rule file is loaded too
    "permissions/model.conf",
    "permissions/facts.toml",
    "permissions/outputs.toml",
    "agentguard.toml",
    "sub/agentguard.toml",
]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, PolicyEngine]:
    """A project set up as ``agentguard init`` does, with a grant for writes in the workspace."""
    ws = tmp_path / "project"
    ws.mkdir()
    shutil.copytree(PERMISSIONS, ws / "permissions", ignore=shutil.ignore_patterns("examples", "cases.yaml"))
    (ws / "agentguard.toml").write_text('agent = "coder"\n')
    grants = tmp_path / "grants.csv"
    grants.write_text('p, coder, fs.write, path(path, "{workspace}/**"), allow\n')
    engine = PolicyEngine.load(ws / "permissions", workspace=ws, extra_files=[grants])
    return ws, engine


@pytest.mark.parametrize("target", TARGETS)
def test_the_agent_cannot_rewrite_its_own_policy(project: tuple[Path, PolicyEngine], target: str) -> None:
    ws, engine = project
    decision = decide(engine, "fs.write", path=str(ws / target), content="p, *, *, *, allow\n")
    assert decision.effect is Effect.DENY, decision.reason


def test_other_writes_still_follow_the_grant(project: tuple[Path, PolicyEngine]) -> None:
    ws, engine = project
    assert decide(engine, "fs.write", path=str(ws / "src" / "app.py"), content="x").effect is Effect.ALLOW
    assert decide(engine, "fs.read", path=str(ws / "permissions" / "policy.csv")).effect is Effect.ALLOW


def test_policy_placeholder_is_the_loaded_directory(tmp_path: Path, make_policy) -> None:  # type: ignore[no-untyped-def]
    directory = make_policy('p, *, fs.write, path(path, "{policy}/**"), deny\np, *, fs.write, *, allow\n')
    engine = PolicyEngine.load(directory, workspace=tmp_path)
    assert decide(engine, "fs.write", path=str(directory / "x.csv"), content="").effect is Effect.DENY
    assert decide(engine, "fs.write", path=str(tmp_path / "x.csv"), content="").effect is Effect.ALLOW


@pytest.mark.parametrize("target", TARGETS)
def test_trifecta_which_allows_workspace_writes_keeps_its_policy(tmp_path: Path, target: str) -> None:
    """The trifecta example allows writes in the workspace without asking: there no grant was needed."""
    ws = tmp_path / "project"
    ws.mkdir()
    shutil.copytree(EXAMPLES / "trifecta", ws / "permissions", ignore=shutil.ignore_patterns("cases.yaml"))
    engine = PolicyEngine.load(ws / "permissions", workspace=ws)
    decision = decide(engine, "fs.write", path=str(ws / target), content="p, *, *, *, allow\n")
    assert decision.effect is Effect.DENY, decision.reason
    assert decide(engine, "fs.write", path=str(ws / "src" / "app.py"), content="x").effect is Effect.ALLOW


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("mcp.filesystem.write_file", {"path": "permissions/policy.csv", "content": "p, *, *, *, allow"}),
        ("mcp.filesystem.edit_file", {"path": "agentguard.toml", "edits": []}),
        ("mcp.filesystem.move_file", {"source": "notes.csv", "destination": "permissions/zz.csv"}),
    ],
)
def test_mcp_desktop_keeps_its_policy_under_a_write_grant(
    tmp_path: Path, tool: str, arguments: dict[str, object]
) -> None:
    ws = tmp_path / "notes"
    ws.mkdir()
    shutil.copytree(EXAMPLES / "mcp-desktop", ws / "permissions", ignore=shutil.ignore_patterns("cases.yaml"))
    grants = tmp_path / "grants.csv"
    grants.write_text("p, desktop, mcp.filesystem.*, *, allow\n")
    engine = PolicyEngine.load(ws / "permissions", workspace=ws, extra_files=[grants])
    absolute = {k: str(ws / v) if isinstance(v, str) and k != "content" else v for k, v in arguments.items()}
    decision = decide(engine, tool, agent="desktop", **absolute)
    assert decision.effect is Effect.DENY, decision.reason


# Red team (review): before ``agentguard init`` the shipped default (inside the package) is the
# policy, so ``{policy}`` is not in the project; but a ``permissions/model.conf`` in the working
# directory makes that folder the policy of the next start (``Settings.resolved_policy_dir``). Under
# a workspace write grant (trifecta: without one) the agent wrote model.conf and an allow-all
# policy.csv there. Fixed: the shipped policies deny writes to any ``permissions/model.conf`` in the
# workspace (the file that makes a folder a policy; the rest of such a folder stays writable).
BOOTSTRAP = ["permissions/model.conf", "tools/permissions/model.conf"]
OUTSIDE = [
    (DEFAULT_POLICY_DIR, "coder", "fs.write", "path"),
    (EXAMPLES / "trifecta", "coder", "fs.write", "path"),
    (EXAMPLES / "mcp-desktop", "desktop", "mcp.filesystem.write_file", "path"),
    (EXAMPLES / "mcp-desktop", "desktop", "mcp.filesystem.move_file", "destination"),
]


@pytest.mark.parametrize("target", BOOTSTRAP)
@pytest.mark.parametrize(("policy", "agent", "tool", "key"), OUTSIDE)
def test_the_agent_cannot_plant_the_policy_of_the_next_start(
    tmp_path: Path, policy: Path, agent: str, tool: str, key: str, target: str
) -> None:
    ws = tmp_path / "project"
    ws.mkdir()
    grants = tmp_path / "grants.csv"
    grants.write_text(f"p, {agent}, {tool.rsplit('.', 1)[0]}.*, *, allow\n")
    engine = PolicyEngine.load(policy, workspace=ws, extra_files=[grants])
    arguments = {key: str(ws / target), "content": "[request_definition]\n"}
    if key == "destination":
        arguments["source"] = str(ws / "notes.txt")
    decision = decide(engine, tool, agent=agent, **arguments)
    assert decision.effect is Effect.DENY, decision.reason
    other = {**arguments, key: str(ws / "permissions" / "views.py")}
    assert decide(engine, tool, agent=agent, **other).effect is not Effect.DENY


# Red team (review): a rule file in the policy folder may be a symlink (the loader reads it).
# ``path()`` resolves links, so a write to the link's name or to its target landed outside
# ``{policy}``: writing ``shared/policy.csv`` (or ``permissions/policy.csv``, resolved there)
# rewrote the rules. Fixed: ``{policy}`` also covers the real path of every file the load reads
# (and of the extra grant files), re-read at each reload.
LINKED = ["policy.csv", "model.conf", "facts.toml", "zz-more.csv"]


@pytest.fixture
def linked_project(tmp_path: Path) -> tuple[Path, PolicyEngine]:
    ws = tmp_path / "project"
    shared = ws / "shared"
    shared.mkdir(parents=True)
    shutil.copytree(PERMISSIONS, ws / "permissions", ignore=shutil.ignore_patterns("examples", "cases.yaml"))
    for name in LINKED:
        source = ws / "permissions" / name
        if source.exists():
            source.rename(shared / name)
        source.symlink_to(Path("..") / "shared" / name)
    (shared / "zz-more.csv").write_text("# more rules\n")
    grants = ws / "grants.csv"
    grants.write_text('p, coder, fs.write, path(path, "{workspace}/**"), allow\n')
    engine = PolicyEngine.load(ws / "permissions", workspace=ws, extra_files=[grants])
    return ws, engine


@pytest.mark.parametrize("name", LINKED)
@pytest.mark.parametrize("folder", ["permissions", "shared"])
def test_a_linked_rule_file_is_kept_from_the_agent(
    linked_project: tuple[Path, PolicyEngine], folder: str, name: str
) -> None:
    ws, engine = linked_project
    decision = decide(engine, "fs.write", path=str(ws / folder / name), content="p, *, *, *, allow\n")
    assert decision.effect is Effect.DENY, decision.reason


def test_the_extra_grant_file_is_kept_from_the_agent(linked_project: tuple[Path, PolicyEngine]) -> None:
    ws, engine = linked_project
    decision = decide(engine, "fs.write", path=str(ws / "grants.csv"), content="p, *, *, *, allow\n")
    assert decision.effect is Effect.DENY, decision.reason
    notes = decide(engine, "fs.write", path=str(ws / "shared" / "notes.md"), content="x")
    assert notes.effect is Effect.ALLOW


def test_a_link_added_later_is_kept_after_the_reload(linked_project: tuple[Path, PolicyEngine]) -> None:
    ws, engine = linked_project
    (ws / "shared" / "later.csv").write_text("# more rules\n")
    (ws / "permissions" / "later.csv").symlink_to(Path("..") / "shared" / "later.csv")
    engine.reload()
    later = str(ws / "shared" / "later.csv")
    decision = decide(engine, "fs.write", path=later, content="p, *, *, *, allow\n")
    assert decision.effect is Effect.DENY, decision.reason
