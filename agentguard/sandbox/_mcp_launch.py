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
from agentguard.sandbox._container import PoolKey, container_config, remove
from agentguard.sandbox._engine import CALL_ID, LANGUAGE, connect
from agentguard.sandbox._hardening import check_hardening
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
    key = PoolKey("python", args.profile, profile)
    client = connect(args.docker_host)
    api: Any = client.api
    egress = _MountedEndpoint(args.egress_dir) if args.egress_dir else None
    workspace = Path(args.workspace) if args.workspace else None
    config = container_config(
        api,
        image=args.image,
        key=key,
        workspace=workspace,
        call_id="mcp",
        egress=egress,
        command=args.command,
        protected=[Path(p) for p in args.protect],
    )
    config["labels"][LANGUAGE] = "mcp-server"
    config["labels"][CALL_ID] = "mcp-server"
    try:
        cid = api.create_container(**config)["Id"]
    except DockerException as exc:
        raise SandboxError(f"cannot create the MCP server container from {args.image}: {exc}") from exc
    try:
        failures = [i for i in check_hardening(api.inspect_container(cid), profile) if not i.ok]
        if failures:
            detail = "; ".join(f"{i.name} ({i.detail})" for i in failures)
            raise SandboxError(f"the MCP server container failed the hardening check: {detail}")
        handle = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        sock: socket.socket = getattr(handle, "_sock", handle)
        api.start(cid)
        threading.Thread(target=_pump_stdin, args=(sock,), daemon=True).start()
        _pump_output(sock)
        return 0
    finally:
        with contextlib.suppress(DockerException, OSError):
            remove(api, cid)
        client.close()


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
