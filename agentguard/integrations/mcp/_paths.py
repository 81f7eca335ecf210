"""A sandboxed server's file names: the host workspace is ``/workspace`` in its container.

The same file then has two names, and the policy's ``path()`` rules are written on the host's
(``{workspace}/secret.env``). So a call is decided on the host name of every container path in its
arguments (``/workspace/secret.env`` is decided as ``<workspace>/secret.env``), and the server is
sent the container name of every host path the decision resolved (a relative ``secret.env``,
decided as ``<workspace>/secret.env``, reaches the server as ``/workspace/secret.env``). A path the
decision resolved outside the workspace is sent as it is: the container has no such host file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agentguard.policy._paths import file_uri_path

__all__ = ["ContainerPaths"]

_DEPTH = 32  # nested arguments deeper than this are left as they are


@dataclass(frozen=True, slots=True)
class ContainerPaths:
    """The host directory mounted at ``container`` in the server's container."""

    host: Path
    container: str = "/workspace"

    def holds(self, host_path: str) -> bool:
        """Whether ``host_path`` (absolute, resolved) is the mounted directory or below it."""
        return _renamed(host_path, str(self.host), self.container) is not host_path

    def outside(self, arguments: Mapping[str, Any], names: Iterable[str]) -> tuple[str, str] | None:
        """The first (name, text) of the arguments ``names`` (dotted for nested ones, as a decision's
        ``path_arguments``: ``options.destination``, ``files.0``) whose text is not under the mount."""
        for name in names:
            value = arguments.get(name) if name in arguments else _at(arguments, name.split("."))
            if isinstance(value, str) and not self.holds(value):
                return name, value
        return None

    def to_host(self, value: Any, depth: int = 0) -> Any:
        """``value`` with each text that is a container path under the mount renamed to the host's."""
        return self._map(value, self.container, str(self.host), depth)

    def to_container(self, value: Any, depth: int = 0) -> Any:
        """``value`` with each text that is a host path under the mount renamed to the container's."""
        return self._map(value, str(self.host), self.container, depth)

    def _map(self, value: Any, source: str, target: str, depth: int) -> Any:
        if type(value) is str:
            return _renamed(value, source, target)
        if depth >= _DEPTH:
            return value
        if type(value) is dict:
            return {key: self._map(item, source, target, depth + 1) for key, item in value.items()}
        if type(value) is list:
            return [self._map(item, source, target, depth + 1) for item in value]
        return value


def _at(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _renamed(text: str, source: str, target: str) -> str:
    """``text`` under ``target`` if, read as a file system reads a path (``//``, ``.`` and ``..``
    dropped: ``//workspace/x``, ``/tmp/../workspace/x``), it is ``source`` or below it; else ``text``
    itself (the same object). A ``file:`` URI is renamed so by the path every reader takes from it."""
    if text[:5].lower() == "file:":  # file:///workspace/x: the URI of the file under the mount
        local = file_uri_path(text)  # None where readers differ: uri_path() cannot tell either
        renamed = _renamed(local, source, target) if local is not None else local
        return text if renamed is local or renamed is None else "file://" + quote(renamed)
    if not text.startswith("/") or any(c in text for c in _NOT_A_PATH):
        return text
    normal = "/" + posixpath.normpath(text).lstrip("/")
    if normal != source and not normal.startswith(source + "/"):
        return text  # /workspace2 is not below /workspace
    rest = normal[len(source) :].lstrip("/")
    return posixpath.join(target, rest) if rest else target


_NOT_A_PATH = ("\n", "\r", "\x00")  # a text of several lines (a file's content) is not one path
