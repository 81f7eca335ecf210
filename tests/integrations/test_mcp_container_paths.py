"""``ContainerPaths``: a sandboxed MCP server's names for the host workspace (``/workspace/...``).

Each spelling a file system reads as a path under the mount is decided as the host's name; nothing
else is renamed (a sibling directory, a text of several lines, a path leaving the mount)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.integrations.mcp._paths import ContainerPaths

PATHS = ContainerPaths(Path("/home/u/ws"))


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("/workspace/secret.env", "/home/u/ws/secret.env"),
        ("//workspace/secret.env", "/home/u/ws/secret.env"),
        ("/./workspace//secret.env", "/home/u/ws/secret.env"),
        ("/tmp/../workspace/secret.env", "/home/u/ws/secret.env"),
        ("/workspace", "/home/u/ws"),
        ("/workspace/", "/home/u/ws"),
        ("/workspace/a/../b", "/home/u/ws/b"),
        ("/workspace2/x", "/workspace2/x"),  # a sibling, not below the mount
        ("/workspace/../etc/passwd", "/workspace/../etc/passwd"),  # leaves the mount: decided as written
        ("secret.env", "secret.env"),  # relative: the policy resolves it in the workspace
        ("/workspace/a\nb", "/workspace/a\nb"),  # several lines: content, not one path
        ("see /workspace/x", "see /workspace/x"),
    ],
)
def test_a_container_path_is_decided_as_the_hosts(given: str, host: str) -> None:
    assert PATHS.to_host(given) == host


def test_nested_values_are_renamed_and_others_kept() -> None:
    given = {"paths": ["/workspace/a", {"to": "/workspace/b"}], "n": 3, "flag": True, "text": "hi"}
    assert PATHS.to_host(given) == {
        "paths": ["/home/u/ws/a", {"to": "/home/u/ws/b"}],
        "n": 3,
        "flag": True,
        "text": "hi",
    }


@pytest.mark.parametrize(
    ("decided", "container", "held"),
    [
        ("/home/u/ws/secret.env", "/workspace/secret.env", True),
        ("/home/u/ws", "/workspace", True),
        ("/home/u/wsx/a", "/home/u/wsx/a", False),
        ("/etc/passwd", "/etc/passwd", False),
        ("/workspace/secret.env", "/workspace/secret.env", False),  # a host path that is no host file
    ],
)
def test_a_decided_path_reaches_the_server_by_its_container_name(
    decided: str, container: str, held: bool
) -> None:
    assert PATHS.to_container({"path": decided}) == {"path": container}
    assert PATHS.holds(decided) is held


@pytest.mark.parametrize(
    ("decided", "names"),
    [
        ({"path": "/workspace/secret.env"}, ("path",)),
        ({"options": {"destination": "/workspace/secret.env"}}, ("options.destination",)),
        ({"files": ["/home/u/ws/a", "/etc/passwd"]}, ("files.0", "files.1")),
    ],
)
def test_a_nested_path_decided_outside_the_workspace_is_found(
    decided: dict[str, object], names: tuple[str, ...]
) -> None:
    # A host link <ws>/x -> /workspace/secret.env is decided as /workspace/secret.env (no host file):
    # the container would read its workspace's secret.env. Dotted names reach nested arguments.
    found = PATHS.outside(decided, names)
    assert found is not None
    assert found[0] == names[-1]


def test_paths_in_the_workspace_or_absent_are_not_outside() -> None:
    decided = {"options": {"destination": "/home/u/ws/a"}, "n": 3}
    assert PATHS.outside(decided, ("options.destination", "options.missing", "n", "x.y")) is None
