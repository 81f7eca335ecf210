"""Fixtures for the sandbox tests: the real Docker engine, images built once per session.

Without an engine the Docker tests skip with the reason, except when CI=true: there a missing
engine fails them. The images are built (or found up to date) once; the root filesystem tarball
is cached in AGENTGUARD_SANDBOX_CACHE (default ~/.agentguard/sandbox), so only the first run on a
machine pays for debootstrap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import Sandbox, SandboxResult, SandboxSettings, build_images
from agentguard.sandbox._engine import MANAGED, OWNER_PID, connect

# The first test to need the images may build them from scratch (debootstrap): allow for that.
BUILD_TIMEOUT_S = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_S))


CACHE = Path(os.environ.get("AGENTGUARD_SANDBOX_CACHE", Path.home() / ".agentguard" / "sandbox"))

# A test that empties a pool the kernel shares beyond its own containers (every container's ptys,
# a uid's inotify instances: for a developer not running as root, the container runs as their uid,
# so their editor's too) disturbs whatever else runs on the machine meanwhile: other test runs, the
# developer's own containers. It runs where the machine is the test run's alone (CI=true, as
# .ci/run is run) or when asked for with AGENTGUARD_EXHAUSTING_TESTS=1.
exhausts_a_shared_kernel_pool = pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("AGENTGUARD_EXHAUSTING_TESTS") != "1",
    reason="empties a kernel pool shared with the rest of the machine: runs with CI=true or "
    "AGENTGUARD_EXHAUSTING_TESTS=1 only",
)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        client = connect()
    except SandboxError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the Docker engine is unreachable: {exc}")
        pytest.skip(f"Docker engine unreachable (set CI=true to make this a failure): {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client: Any) -> list[Any]:
    """Build the sandbox images (a no-op when their recipes have not changed)."""
    statuses = build_images(docker_client.api, SandboxSettings(), cache_dir=CACHE)
    assert all(s.present and s.up_to_date for s in statuses), statuses
    return statuses


@pytest.fixture(scope="module")
def cold_sandbox(images: list[Any], docker_client: Any) -> Iterator[Sandbox]:
    """No warm pool: every run starts its own container (labelled with its call id)."""
    with Sandbox(SandboxSettings(pool_size=0), client=docker_client, reap_orphans=False) as sb:
        yield sb


def containers_of(api: Any, pid: int | None = None) -> list[dict[str, Any]]:
    labels = [f"{MANAGED}=true"]
    if pid is not None:
        labels.append(f"{OWNER_PID}={pid}")
    rows: list[dict[str, Any]] = api.containers(all=True, filters={"label": labels})
    return rows


def wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true or fail after ``timeout_s`` (never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def assert_gone(sb: Sandbox, result: SandboxResult) -> None:
    """The call's container no longer exists (after background removal)."""
    assert sb.drain(30), "background removals did not finish"
    assert result.container_id
    left = sb.api.containers(all=True, filters={"id": result.container_id})
    assert left == [], f"container {result.container_id[:12]} was left behind"
