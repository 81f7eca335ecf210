"""Workspace-confined file tools.

The guard hands these tools the resolved absolute path the policy decided on. They open exactly
that path beneath the workspace root, following no symlink anywhere on the way (see
``_beneath``), so a component swapped for a symlink after the decision makes the call fail
instead of reaching another file. Relative paths are taken from the workspace root, never from
the process's working directory. A read also checks the opened file is the one the decision looked
at (``Decision.files``): a file renamed over the name, or a hard link to a credential made after
the decision, is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agentguard.context import current_call
from agentguard.tools._beneath import (
    UnsafePath,
    open_beneath,
    open_dir_beneath,
    relative_parts,
    write_beneath,
)

__all__ = ["UnsafePath", "Workspace"]

MAX_READ_BYTES = 4 * 1024 * 1024


class Workspace:
    """File operations rooted at one directory; no path may leave it or pass through a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))

    def _parts(self, path: str) -> list[str]:
        return relative_parts(str(self.root), os.fspath(path))

    def read(self, path: str) -> str:
        """Read a UTF-8 text file inside the workspace (at most 4 MiB)."""
        # O_NONBLOCK: opening a FIFO must not hang; it is then refused as not a regular file.
        fd = open_beneath(str(self.root), self._parts(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise IsADirectoryError(f"{path!r} is not a regular file")
            self._check_decided(path, info)
            if info.st_size > MAX_READ_BYTES:
                raise ValueError(f"{path!r} is {info.st_size} bytes; fs.read reads at most {MAX_READ_BYTES}")
            data = handle.read(MAX_READ_BYTES + 1)
        if len(data) > MAX_READ_BYTES:  # it grew after fstat: refused, never cut (a cut may halve a secret)
            raise ValueError(f"{path!r} grew past {MAX_READ_BYTES} bytes while it was read (fs.read's limit)")
        return data.decode("utf-8", errors="replace")

    def _check_decided(self, path: str, info: os.stat_result) -> None:
        """Refuse a file other than the one the decision looked at under this name (the guard's
        ``Decision.files``; no entry: the policy looked at no file there, nothing to hold it to)."""
        context = current_call()
        if context is None or not context.decision.files:
            return
        name = os.path.join(self.root, *self._parts(path))  # "/" + "tmp": "/tmp", never "//tmp"
        decided = context.decision.files
        if name not in decided:
            return
        if decided[name] != (info.st_dev, info.st_ino):
            raise UnsafePath(
                f"{path!r} is not the file the decision looked at: it was replaced since "
                "(renamed over, or a hard link to another file made), refused"
            )

    def write(self, path: str, content: str) -> str:
        """Write ``content`` to ``path`` atomically (fresh temp file + rename); returns a short summary."""
        parts = self._parts(path)
        data = content.encode("utf-8")
        write_beneath(str(self.root), parts, data)
        return f"wrote {len(data)} bytes to {'/'.join(parts)}"

    def list(self, path: str = ".") -> list[str]:
        """Names in a directory inside the workspace; directories end with ``/`` (links are not followed)."""
        fd = open_dir_beneath(str(self.root), self._parts(path))
        try:
            with os.scandir(fd) as entries:
                return sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries)
        finally:
            os.close(fd)
