"""Workspace-confined file tools.

The policy already decides on normalised paths; these tools confine themselves again
(defence in depth), so a policy mistake cannot reach outside the workspace.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Workspace"]

MAX_READ_BYTES = 4 * 1024 * 1024


class Workspace:
    """File operations rooted at one directory; every path is resolved and must stay inside."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))

    def resolve(self, path: str) -> Path:
        """The real path of ``path`` (relative to the root), refusing anything outside the root."""
        if "\x00" in path:
            raise PermissionError("path contains a NUL byte")
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            raise PermissionError(
                f"{path!r} resolves to {str(real)!r}, outside the workspace {str(self.root)!r}"
            )
        return real

    def read(self, path: str) -> str:
        """Read a UTF-8 text file inside the workspace (at most 4 MiB)."""
        real = self.resolve(path)
        size = real.stat().st_size
        if size > MAX_READ_BYTES:
            raise ValueError(f"{path!r} is {size} bytes; fs.read reads at most {MAX_READ_BYTES}")
        return real.read_text(encoding="utf-8", errors="replace")

    def write(self, path: str, content: str) -> str:
        """Write ``content`` to ``path`` atomically (temp file + rename); returns a short summary."""
        real = self.resolve(path)
        real.parent.mkdir(parents=True, exist_ok=True)
        tmp = real.with_name(f".{real.name}.agentguard-tmp")
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, real)
        return f"wrote {len(content.encode('utf-8'))} bytes to {real.relative_to(self.root)}"

    def list(self, path: str = ".") -> list[str]:
        """Names in a directory inside the workspace; directories end with ``/``."""
        real = self.resolve(path)
        return sorted(p.name + ("/" if p.is_dir() else "") for p in real.iterdir())
