"""``uri_path(uri, glob)``: the local file a ``file:`` URI names (an MCP resource), resolved as ``path()``
resolves a path.

Class: the only way to confine ``mcp-resource.<server>.read`` to a folder was ``regex(uri, ...)`` (the
documented example), which ``file:///home/me/src/../../etc/passwd`` satisfies while the server reads
``/home/etc/passwd``; ``%2e%2e`` segments, a symlink inside the folder and host or query forms went
the same way. The URI is now read as a WHATWG parser and a urllib-based server both read it, dot
segments resolved and symlinks followed; a URI they could read differently is *cannot tell*.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import casbin
import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import decide


@pytest.fixture
def engine(engine_for: Callable[..., PolicyEngine], workspace: Path, tmp_path: Path) -> PolicyEngine:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("s")
    (workspace / "src" / "link").symlink_to(tmp_path / "outside")
    (workspace / "src" / ".env").write_text("K=v")
    return engine_for(
        'p, *, read, uri_path(uri, "{workspace}/src/**/.env"), deny\n'
        'p, *, read, uri_path(uri, "{workspace}/src/**"), allow\n'
    )


def _uri(workspace: Path, rest: str) -> str:
    return f"file://{workspace}/{rest}"


@pytest.mark.parametrize("rest", ["src/app.py", "src", "src/sub%20dir/a.py"])
def test_files_inside_are_allowed(engine: PolicyEngine, workspace: Path, rest: str) -> None:
    assert decide(engine, "read", uri=_uri(workspace, rest)).effect is Effect.ALLOW


@pytest.mark.parametrize(
    "rest",
    [
        "src/../../outside/secret.txt",
        "src/%2e%2e/%2E%2E/outside/secret.txt",
        "src/.%2e/.%2E/outside/secret.txt",
        "src/link/secret.txt",  # a symlink inside the folder to a file outside
        "src/link/../outside/secret.txt",  # the kernel follows link before .. (found by the review)
        "src/link/%2e%2e/outside/secret.txt",
        "src/./app.py",
        "src/.env",
        "src/x/../.env",
        "src/%2eenv",
    ],
)
def test_files_outside_or_denied_are_not_allowed(engine: PolicyEngine, workspace: Path, rest: str) -> None:
    assert decide(engine, "read", uri=_uri(workspace, rest)).effect is Effect.DENY


@pytest.mark.parametrize(
    "uri",
    [
        "file://evil.example{ws}/src/app.py",  # a host: not a local file
        "file://{ws}/src/app.py?x=1",  # a query: some servers keep it in the path
        "file://{ws}/src/app.py#x",
        "file://{ws}/src\\..\\..\\outside/secret.txt",  # a backslash: a separator to WHATWG only
        "file://{ws}/src/..%2F..%2Foutside/secret.txt",
        "file:{ws_rel}/src/app.py",  # relative to the server's working directory for urllib
        "https://example.com{ws}/src/app.py",
        "file:///C:/../..{ws}/src/app.py",  # WHATWG keeps a drive letter, os.path pops it
        "file:///c|/..{ws}/src/app.py",
        "file://{ws}/src/app.py\n",
    ],
)
def test_uris_readers_may_read_differently_cannot_tell(
    engine: PolicyEngine, workspace: Path, uri: str
) -> None:
    value = uri.format(ws=workspace, ws_rel=str(workspace).lstrip("/"))
    decision = decide(engine, "read", uri=value)
    assert decision.effect is Effect.DENY  # the deny rule applies; the allow rule cannot
    assert decision.rule_id is not None


def test_a_non_string_cannot_tell(engine: PolicyEngine) -> None:
    assert decide(engine, "read", uri=["file:///x"]).effect is Effect.DENY


def test_stock_pycasbin_decides_the_same(engine: PolicyEngine, workspace: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    enforcer = casbin.Enforcer(str(policy / "model.conf"), str(policy / "policy.csv"))
    for name, fn in engine.casbin_functions().items():
        enforcer.add_function(name, fn)
    for rest in ["src/app.py", "src/../../outside/secret.txt", "src/.env", "src/link/secret.txt"]:
        args = {"uri": _uri(workspace, rest)}
        theirs = next(
            (
                e
                for e in (Effect.DENY, Effect.ASK, Effect.ALLOW)
                if enforcer.enforce("coder", "read", args, e.value)
            ),
            Effect.DENY,
        )
        assert theirs is decide(engine, "read", **args).effect
