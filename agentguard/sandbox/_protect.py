"""What stays read-only inside a rw workspace, and the mounts that keep it there.

Read-only: the guard's own files inside the workspace (the policy directory, ``agentguard.toml``, the
state directory), every ``.git`` of the workspace (directories, and ``.git`` files: gitlinks of
submodules and linked worktrees), and the git directories those gitlinks and ``commondir`` files name
inside the workspace. Git runs programs the host executes from these (hooks, ``core.fsmonitor`` on the
next ``git status``); making all of ``.git`` read-only means no git writes inside a rw sandbox.

A read-only mount protects an inode, not a name: code could rename the protected path's parent away
and make a new one, which the host then reads. So each directory between the workspace root and a
protected path is bound onto itself (read-write): a mount point cannot be renamed or removed
(``EBUSY``), and what is inside it stays writable. Protected paths named through a symlink inside
the workspace, or hard-linked files, cannot be kept that way: the container is refused (fail closed).

What did not exist cannot be mounted: a new ``.git`` (``git init``, a clone, a planted ``sub/.git``
that a shell prompt's ``git status`` reads), a new ``agentguard.toml``, or a directory a gitlink or
``commondir`` names that was missing. ``Watch`` notes which of these exist before a call and, once
its processes are gone, renames each new one aside (``<name>.agentguard-quarantine-<random>``, never
over an existing name): host
git and the guard's next start do not read it, and nothing is deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from docker.types import Mount

from agentguard.errors import SandboxError

__all__ = ["WORKSPACE_TARGET", "Watch", "git_entries", "mount_key", "protected_mounts"]

WORKSPACE_TARGET = "/workspace"
GIT = ".git"
# Inside a git directory: what git reads as configuration or runs (hard links there would let the
# same bytes be written through another, writable name).
_GIT_RUN = ("config", "config.worktree", "commondir")


def protected_mounts(source: str, protected: Iterable[Path] = ()) -> list[Mount]:
    """Mounts over a rw workspace at ``source`` (resolved): read-only for each protected path and
    git directory inside it, and read-write self-binds pinning the directories above them."""
    root = Path(source)
    read_only: set[Path] = set()
    for path in protected:
        real = _inside(root, path)
        if real is not None:
            _refuse_hard_links(real, whole=True)
            read_only.add(real)
    for entry in git_entries(root):
        if entry != root:  # the workspace itself as a bare repository: only what appears is set aside
            read_only.update(_git_paths(root, entry))
    kept = sorted(
        (p for p in read_only if not any(a in read_only for a in p.parents)),
        key=lambda p: (len(p.parts), str(p)),
    )
    pins = {a for p in kept for a in p.parents if root in a.parents}
    mounts = [
        (path, path not in pins) for path in sorted(pins | set(kept), key=lambda p: (len(p.parts), str(p)))
    ]
    return [
        Mount(f"{WORKSPACE_TARGET}/{path.relative_to(root).as_posix()}", str(path), type="bind", read_only=ro)
        for path, ro in mounts
    ]


def mount_key(mounts: Iterable[Mount]) -> tuple[str, ...]:
    """The mounts below /workspace, comparable: a warm container made before a ``.git`` or a
    protected path appeared lacks its mount, and must not take the call."""
    below = (m for m in mounts if str(m.get("Target", "")).startswith(f"{WORKSPACE_TARGET}/"))
    return tuple(sorted(f"{m['Target']}={m['Source']}:{'ro' if m.get('ReadOnly') else 'rw'}" for m in below))


def git_entries(root: Path) -> Iterator[Path]:
    """Every ``.git`` in the workspace, at any depth (without entering them or following symlinks),
    in any case: on a case-insensitive file system (macOS, Windows) ``.GIT`` is what git opens
    (and on HFS+, ``.g\u200cit``: see ``is_dot_git``).
    And every directory git takes as a git directory itself (a bare repository: ``HEAD``,
    ``objects`` and ``refs`` in it), which git's discovery opens with no ``.git`` name at all.
    And every directory below ``root`` that cannot be listed (``chmod 111``): git still opens a
    ``.git`` in it by name, so it is kept (mounted read-only, set aside when new) as a whole."""
    unlisted: list[Path] = []
    for top, dirs, files in os.walk(
        root, onerror=lambda e: unlisted.append(Path(e.filename)), followlinks=False
    ):
        yield from (d for d in _drain(unlisted) if d != root)
        here = Path(top)
        if len(dirs) > 1 and bare_head(dirs, dirs + files) is not None:
            yield here
        for name in [d for d in dirs if is_dot_git(d)]:
            dirs.remove(name)
            yield here / name
        for name in files:
            if is_dot_git(name):
                yield here / name
    yield from (d for d in _drain(unlisted) if d != root)


def _drain(items: list[Path]) -> Iterator[Path]:
    while items:
        yield items.pop()


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


def _git_paths(root: Path, entry: Path) -> list[Path]:
    """``entry`` (a ``.git``) and the git directories inside the workspace it leads host git to."""
    if entry.is_symlink():
        raise SandboxError(
            f"{entry} is a symlink: code in a rw sandbox could replace it with a git directory of its "
            "own; refusing the rw workspace (make it a directory or a gitdir: file)",
            path=str(entry),
        )
    found = [entry]
    if entry.is_file():
        _refuse_hard_links(entry)
        target = _gitdir_of(entry)
        if target is None:
            return found
        gitdir = _inside(root, target)
        if gitdir is None or not gitdir.is_dir():
            return found
    else:
        gitdir = entry
    seen: set[Path] = set()
    while gitdir not in seen:  # a linked worktree's git directory names the common one in commondir
        seen.add(gitdir)
        found.append(gitdir)
        _refuse_hard_links(gitdir)
        common = _read_line(gitdir / "commondir")
        if common is None:
            break
        nxt = _inside(root, gitdir / common)
        if nxt is None or not nxt.is_dir():
            break
        gitdir = nxt
    return found


def _gitdir_of(gitlink: Path) -> Path | None:
    line = _read_line(gitlink)
    if line is None or not line.startswith("gitdir:"):
        return None
    return gitlink.parent / line[len("gitdir:") :].strip()


def _read_line(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    lines = text.splitlines()
    return lines[0].strip() if lines else None


def _inside(root: Path, path: Path) -> Path | None:
    """``path`` resolved, when it exists strictly inside ``root``; refusing a symlink on its way
    below ``root`` (code could swap the link: the host would follow the new one)."""
    real = Path(os.path.realpath(path))
    if root not in real.parents or not real.exists():
        return None
    probe = Path(os.path.abspath(path))
    while probe != probe.parent:
        parent_real = Path(os.path.realpath(probe.parent))
        if parent_real != root and root not in parent_real.parents:
            break
        if probe.is_symlink():
            raise SandboxError(
                f"{path} is reached through the symlink {probe} inside the workspace, which code in a "
                "rw sandbox could replace; refusing the rw workspace",
                path=str(path),
            )
        probe = probe.parent
    return real


def _refuse_hard_links(path: Path, *, whole: bool = False) -> None:
    """A read-only mount keeps a name, not an inode: another hard link elsewhere in the workspace
    would let code write the same file. ``whole``: every file below a directory; else only what
    git reads as configuration or runs."""
    if path.is_file():
        candidates: Iterable[Path] = [path]
    elif whole:
        candidates = (Path(top) / f for top, _, files in os.walk(path) for f in files)
    else:
        hooks = path / "hooks"
        candidates = [
            *(path / name for name in _GIT_RUN),
            *(hooks.iterdir() if hooks.is_dir() else ()),
        ]
    for file in candidates:
        try:
            st = file.lstat()
        except OSError:
            continue
        if st.st_nlink > 1 and file.is_file() and not file.is_symlink():
            raise SandboxError(
                f"{file} has {st.st_nlink} hard links: code in a rw sandbox could write it through "
                "another one; refusing the rw workspace (copy the file to break the links)",
                path=str(file),
            )


QUARANTINE = ".agentguard-quarantine-"


class Watch:
    """What host git or the guard would read next in a rw workspace: which of it exists, and
    setting aside what appeared since a snapshot."""

    def __init__(self, source: str, protected: Iterable[Path] = ()) -> None:
        self.root = Path(source)
        self.protected = tuple(protected)

    def snapshot(self) -> frozenset[str]:
        return self._present(None)

    def settle(self, before: frozenset[str]) -> tuple[str, ...]:
        """Rename aside each watched path absent from ``before``; ``"<old> -> <new>"``
        (workspace-relative). What a new ``.git`` file names is left: the file is renamed, nothing
        reads its target."""
        moved = []
        for rel in sorted(self._present(before) - before, key=lambda r: (r.count("/"), r)):
            try:
                moved.append(f"{rel} -> {_rename_aside(self.root, rel)}")
            except OSError as exc:
                moved.append(f"{rel} (left in place: {exc.strerror or exc})")
        return tuple(moved)

    def _present(self, old: frozenset[str] | None) -> frozenset[str]:
        names: set[str] = set()
        for entry in git_entries(self.root):
            rel = entry.relative_to(self.root).as_posix()
            if not is_dot_git(entry.name):  # a bare git directory: its HEAD is set aside, not it
                try:
                    listed = os.listdir(entry) if entry.is_dir() else []
                except OSError:  # a directory that cannot be listed: it, as a whole
                    listed = None
                head = "" if listed is None else bare_head(listed, listed)
                if head is None:
                    continue
                if head:
                    rel = (entry.relative_to(self.root) / head).as_posix()
            names.add(rel)
            if old is None or rel in old:
                names.update(_named_by(self.root, entry))
        for path in self.protected:
            nominal = _nominal(self.root, Path(path))
            if nominal is not None:
                names.add(nominal)
        return frozenset(n for n in names if os.path.lexists(self.root / n))


def _named_by(root: Path, entry: Path) -> set[str]:
    """The directories a ``.git`` file's ``gitdir:`` and a git directory's ``commondir`` name inside
    the workspace, whether they exist or not (one that is missing can be made by the code)."""
    found: set[str] = set()
    gitdir = _gitdir_of(entry) if entry.is_file() and not entry.is_symlink() else entry
    for _ in range(4):
        if gitdir is None:
            break
        rel = _nominal(root, gitdir)
        if rel is not None and gitdir != entry:
            found.add(rel)
        common = _read_line(gitdir / "commondir") if gitdir.is_dir() else None
        gitdir = gitdir / common if common else None
    return found


def _nominal(root: Path, path: Path) -> str | None:
    """``path`` relative to ``root``, its directory resolved and its last name kept (a link there is
    itself what the host would read), when inside ``root``."""
    absolute = Path(os.path.abspath(path))
    parent = Path(os.path.realpath(absolute.parent))
    candidate = parent / absolute.name
    if root not in candidate.parents:
        return None
    return candidate.relative_to(root).as_posix()


def _rename_aside(root: Path, rel: str) -> str:
    """Rename ``root/rel`` to a quarantine name beside it, following no symlink on the way and
    replacing nothing (a taken name: another one)."""
    *dirs, name = rel.split("/")
    flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(root, flags)
    try:
        for part in dirs:
            nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
        for _ in range(8):
            new = f"{name}{QUARANTINE}{secrets.token_hex(4)}"
            try:
                _rename_noreplace(fd, name, new)
            except FileExistsError:
                continue
            return "/".join([*dirs, new])
        raise FileExistsError(errno.EEXIST, "every quarantine name tried was taken", rel)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _load_renameat2() -> Any:
    """libc's ``renameat2`` (glibc 2.28+, musl 1.2.?), or None (macOS, an old libc)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()
_RENAME_NOREPLACE = 1


def _rename_noreplace(fd: int, name: str, new: str) -> None:
    """Rename ``name`` to ``new`` in the directory ``fd``; ``FileExistsError`` when ``new`` exists.

    ``renameat2(RENAME_NOREPLACE)`` does it in one step. Without it (no such call, or a file
    system that refuses the flag): a hard link, which never replaces, then the old name removed,
    for anything but a directory; a directory is renamed after checking the name is free (a
    rename fails over a non-empty directory or a file; only an empty directory made in between
    could be replaced).
    """
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(fd, os.fsencode(name), fd, os.fsencode(new), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), name)
    if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
        if _exists_at(fd, new):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), new)
        os.rename(name, new, src_dir_fd=fd, dst_dir_fd=fd)
        return
    os.link(name, new, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
    os.unlink(name, dir_fd=fd)


def _exists_at(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
