"""Finding what host git reads in a workspace: every ``.git`` and bare git directory (the walk),
what a gitlink or ``commondir`` names, and the hooks directories a repository's config names.

Kept apart from the mounts (``_protect``) and the sweep (``_quarantine``): both read the workspace
the same way.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from agentguard.errors import SandboxError

__all__ = [
    "BARE_NAMES",
    "GIT",
    "bare_head",
    "git_entries",
    "gitdir_of",
    "hooks_paths",
    "is_dot_git",
    "read_line",
    "user_hooks_paths",
]

GIT = ".git"
# What git reads or runs in a git directory: kept read-only where the workspace root itself is one
# (a bare repository), and set aside there when new (``commondir`` would send host git elsewhere).
BARE_NAMES = (
    "HEAD",
    "config",
    "config.worktree",
    "commondir",
    "objects",
    "refs",
    "packed-refs",
    "hooks",
    "info",
    "logs",
    "worktrees",
    "modules",
    "shallow",
    "branches",
    "remotes",
    "index",
)


def git_entries(root: Path) -> Iterator[Path]:
    """Every ``.git`` in the workspace, at any depth (without entering them or following symlinks),
    in any case: on a case-insensitive file system (macOS, Windows) ``.GIT`` is what git opens
    (and on HFS+, ``.g\u200cit``: see ``is_dot_git``).
    And every directory git takes as a git directory itself (a bare repository: ``HEAD``,
    ``objects`` and ``refs`` in it), which git's discovery opens with no ``.git`` name at all.
    And every directory below ``root`` that cannot be listed (``chmod 111``): git still opens a
    ``.git`` in it by name, so it is kept (mounted read-only, set aside when new) as a whole.
    One ``scandir`` per directory and no ``Path`` but for what is found: every rw call walks the
    whole workspace (``node_modules`` included: a ``.git`` there is opened as well) up to three
    times."""
    start = os.fspath(root)
    stack = [start]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as listing:
                entries = list(listing)
        except OSError:  # cannot be listed (or stopped listing): kept as a whole
            if top != start:
                yield Path(top)
            continue
        dirs: list[str] = []  # what git takes for a directory (a link to one included)
        names: list[str] = []
        for entry in entries:
            name = entry.name
            names.append(name)
            if (len(name) == len(GIT) or not name.isascii()) and is_dot_git(name):
                yield Path(entry.path)  # not entered
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(name)
                    stack.append(entry.path)
                elif entry.is_symlink() and entry.is_dir():
                    dirs.append(name)  # counts for a bare repository, not entered
            except OSError:
                continue
        if len(dirs) > 1 and bare_head(dirs, names) is not None:
            yield Path(top)


# code points HFS+ (a macOS volume) ignores when it compares names, as git's ``is_hfs_dotgit`` lists them
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF], None
)


def is_dot_git(name: str) -> bool:
    """Whether a file system may open ``name`` for ``.git``: in any case (macOS, Windows), and with the
    characters HFS+ ignores left out (``.g\u200cit`` is ``.git`` there)."""
    if name.isascii():  # the common name, without the translation
        return len(name) == len(GIT) and name.casefold() == GIT
    return name.translate(_HFS_IGNORED).casefold() == GIT


def bare_head(dirs: Iterable[str], names: Iterable[str]) -> str | None:
    """The name of ``HEAD`` among a directory's entries (``names``), when they make it a git directory
    (``objects`` and ``refs`` among its directories, ``dirs``)."""
    folded = {name.casefold() for name in dirs}
    if "objects" not in folded or "refs" not in folded:
        return None
    return next((name for name in names if name.casefold() == "head"), None)


def gitdir_of(gitlink: Path) -> Path | None:
    line = read_line(gitlink)
    if line is None or not line.startswith("gitdir:"):
        return None
    return gitlink.parent / line[len("gitdir:") :].strip()


def read_line(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    lines = text.splitlines()
    return lines[0].strip() if lines else None


def hooks_paths(entry: Path, gitdirs: Iterable[Path], user: Iterable[str] | None = None) -> list[Path]:
    """Where git looks for hooks of the repository at ``entry`` (a ``.git``, or a bare git directory)
    besides its ``hooks``: each ``core.hooksPath`` of its config files and of the user's and the
    system's (``user``: ``user_hooks_paths()``, read once for many repositories), relative to the
    working tree (``.husky``), or to the git directory when bare."""
    base = entry.parent if is_dot_git(entry.name) else entry
    values = list(user_hooks_paths() if user is None else user)
    for gitdir in gitdirs:
        for name in ("config", "config.worktree"):
            values.extend(_config_values(gitdir / name))
    return [base / Path(v).expanduser() for v in dict.fromkeys(values)]


def user_hooks_paths() -> list[str]:
    """``core.hooksPath`` of the user's and the system's configuration (includes followed)."""
    return _git_config(["--includes"], None)


# A config file holding neither of these cannot set core.hooksPath (a key name is never escaped or
# split across lines): git is not asked.
_MENTIONS = (b"hookspath", b"include")


def _config_values(config: Path) -> list[str]:
    """Every ``core.hooksPath`` in ``config`` (includes followed), as host git reads it."""
    try:
        if not stat.S_ISREG(config.lstat().st_mode):
            return []
        text = config.read_bytes().lower()
    except OSError:
        return []
    if not any(word in text for word in _MENTIONS):
        return []
    return _git_config(["--file", str(config), "--includes"], config)


def _git_config(where: list[str], config: Path | None) -> list[str]:
    git = shutil.which("git")
    if git is None:
        if config is not None and b"hookspath" in config.read_bytes().lower():
            raise SandboxError(
                f"{config} sets core.hooksPath and git is not on PATH to read it; refusing the rw "
                "workspace (the hooks it names could be written by code in the sandbox)",
                path=str(config),
            )
        return []
    argv = [git, "config", *where, "--get-all", "core.hooksPath"]
    # This process's environment, as host git run by the user sees it (GIT_CONFIG_GLOBAL, HOME,
    # XDG_CONFIG_HOME, GIT_CONFIG_COUNT...), outside any repository: a GIT_DIR no repository has.
    env = {**os.environ, "LC_ALL": "C", "GIT_DIR": os.devnull}
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, env=env, cwd="/", check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"cannot read core.hooksPath with git: {exc}; refusing the rw workspace") from exc
    if proc.returncode == 1 or (config is None and proc.returncode != 0):
        return []  # not set (or, outside a repository, nothing to read)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip()[:300]
        raise SandboxError(
            f"cannot read {config} with git ({detail}); refusing the rw workspace", path=str(config)
        )
    return [v for v in os.fsdecode(proc.stdout).splitlines() if v]
