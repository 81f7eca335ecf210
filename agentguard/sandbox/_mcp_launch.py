"""An MCP stdio server in a hardened sandbox container, as a process: what ``mcp-proxy --sandbox`` starts.

``python -m agentguard.sandbox._mcp_launch --image IMAGE --profile NAME --profile-json JSON
[--workspace DIR] [--egress-dir DIR] -- CMD ...`` creates the container with every hardening item of
a sandbox container (checked before it starts: read-only root, non-root, capabilities dropped,
limits, the profile's workspace mount and network), attaches to its stdio and relays this process's
stdin to it and its stdout/stderr back. The container goes when the server exits, when stdin closes
and the server ends, or when this process is told to stop; a container whose launcher died is an
orphan ``agentguard sandbox reap`` (and the next Sandbox) removes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import struct
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from docker.errors import DockerException

from agentguard.errors import SandboxError
from agentguard.sandbox._container import PoolKey, check_workspace, container_config, remove
from agentguard.sandbox._engine import CALL_ID, LANGUAGE, connect
from agentguard.sandbox._hardening import check_hardening
from agentguard.sandbox._managed import reap_rw_orphans
from agentguard.sandbox._quarantine import Watch
from agentguard.sandbox._rwgate import ServerHold, mounting
from agentguard.sandbox_api import SandboxProfile

__all__ = ["launch_argv", "main"]

_MUX = struct.Struct(">BxxxI")


class _MountedEndpoint:
    """The egress directory the parent process serves; here only mounted, never served."""

    def __init__(self, directory: str) -> None:
        self._directory = directory

    @property
    def directory(self) -> str:
        return self._directory

    def attach(self, owner: object | None) -> None:
        """The parent process decides for whom."""

    def settle(self, timeout_s: float) -> bool:
        """The parent process handles the connections."""
        return True

    def close(self) -> None:
        """The parent process owns the socket."""


def launch_argv(
    *,
    image: str,
    profile_name: str,
    profile: SandboxProfile,
    command: list[str],
    workspace: Path | None,
    egress_dir: str | None,
    docker_host: str | None,
    protected: Iterable[Path] = (),
) -> list[str]:
    """The argv that starts ``command`` in a sandbox container through this module (``protected``:
    paths kept read-only inside a rw workspace, see ``protected_mounts``)."""
    argv = [sys.executable, "-m", "agentguard.sandbox._mcp_launch", "--image", image]
    argv += ["--profile", profile_name, "--profile-json", profile.model_dump_json()]
    if workspace is not None:
        argv += ["--workspace", str(workspace)]
        for path in protected:
            argv += ["--protect", str(path.absolute())]
    if egress_dir is not None:
        argv += ["--egress-dir", egress_dir]
    if docker_host is not None:
        argv += ["--docker-host", docker_host]
    return [*argv, "--", *command]


def _pump_stdin(sock: socket.socket) -> None:
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # EOF reaches the server: it ends, and so does its container


def _pump_output(sock: socket.socket) -> None:
    buf = bytearray()
    while True:
        data = sock.recv(65536)
        if not data:
            return
        buf += data
        while len(buf) >= _MUX.size:
            stream, length = _MUX.unpack_from(buf)
            if len(buf) < _MUX.size + length:
                break
            payload = bytes(buf[_MUX.size : _MUX.size + length])
            del buf[: _MUX.size + length]
            fd = 1 if stream == 1 else 2
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]


def run(args: argparse.Namespace) -> int:
    profile = SandboxProfile.model_validate_json(args.profile_json)
    workspace = Path(args.workspace) if args.workspace else None
    protected = [Path(p) for p in args.protect]
    if profile.workspace != "rw":
        return _serve(args, profile, workspace, protected, None)
    # A rw server's code runs as long as it lives: it holds the rw gate all that time (no rw
    # container is made on the workspace meanwhile, no second rw server starts), and what it made
    # that host git or the guard would read is set aside when it is gone.
    source = check_workspace(workspace, "rw")
    if source is None:  # check_workspace raises first; kept for the type
        raise SandboxError("a rw MCP server needs a workspace")
    hold = ServerHold(source, f"the rw sandboxed MCP server `{' '.join(args.command)}`")
    watch = Watch(source, protected)
    try:
        return _serve(args, profile, workspace, protected, (hold, watch))
    finally:
        hold.release()


def _serve(
    args: argparse.Namespace,
    profile: SandboxProfile,
    workspace: Path | None,
    protected: list[Path],
    rw: tuple[ServerHold, Watch] | None,
) -> int:
    key = PoolKey("python", args.profile, profile)
    client = connect(args.docker_host)
    api: Any = client.api
    egress = _MountedEndpoint(args.egress_dir) if args.egress_dir else None
    cid: str | None = None
    before: frozenset[str] | None = None
    try:
        with _making(profile, workspace, rw):
            if rw is not None:  # a killed launcher's server may run on: gone before this one starts
                reap_rw_orphans(api, rw[0].source)
            config = container_config(
                api,
                image=args.image,
                key=key,
                workspace=workspace,
                call_id="mcp",
                egress=egress,
                command=args.command,
                protected=protected,
            )
            config["labels"][LANGUAGE] = "mcp-server"
            config["labels"][CALL_ID] = "mcp-server"
            try:
                cid = api.create_container(**config)["Id"]
            except DockerException as exc:
                raise SandboxError(
                    f"cannot create the MCP server container from {args.image}: {exc}"
                ) from exc
            failures = [i for i in check_hardening(api.inspect_container(cid), profile) if not i.ok]
            if failures:
                detail = "; ".join(f"{i.name} ({i.detail})" for i in failures)
                raise SandboxError(f"the MCP server container failed the hardening check: {detail}")
            handle = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            sock: socket.socket = getattr(handle, "_sock", handle)
            if rw is not None:
                before = rw[1].snapshot()
            api.start(cid)
        threading.Thread(target=_pump_stdin, args=(sock,), daemon=True).start()
        _pump_output(sock)
        return 0
    finally:
        if cid is not None:
            with contextlib.suppress(DockerException, OSError):
                remove(api, cid)
        client.close()
        if rw is not None and before is not None:
            _sweep(rw[1], before)


def _making(
    profile: SandboxProfile, workspace: Path | None, rw: tuple[ServerHold, Watch] | None
) -> contextlib.AbstractContextManager[None]:
    """The gate while the server's container is made: a rw server's own; a ro one waits for rw code
    running above the workspace (it could swap the workspace for a link to a host directory)."""
    if rw is not None:
        return rw[0].making()
    if profile.workspace == "ro":
        return mounting(str(check_workspace(workspace, "ro")))
    return contextlib.nullcontext()


def _sweep(watch: Watch, before: frozenset[str]) -> None:
    """Set aside what the server made (its container is gone), and say so on stderr."""
    try:
        moved = watch.settle(before)
    except (OSError, SandboxError) as exc:
        print(f"agentguard mcp sandbox: cannot sweep the workspace: {exc}", file=sys.stderr)
        return
    for line in moved:
        print(f"agentguard mcp sandbox: set aside {line}", file=sys.stderr)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentguard-mcp-sandbox")
    parser.add_argument("--image", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--profile-json", required=True)
    parser.add_argument("--workspace")
    parser.add_argument("--protect", action="append", default=[])
    parser.add_argument("--egress-dir")
    parser.add_argument("--docker-host")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no server command after --")
    signal.signal(signal.SIGTERM, _stop)
    try:
        return run(args)
    except SandboxError as exc:
        print(f"agentguard mcp sandbox: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
