"""Setting aside what a rw run made that host git or the guard's next start would read.

What did not exist cannot be mounted: a new ``.git`` (``git init``, a clone, a planted ``sub/.git``
that a shell prompt's ``git status`` reads), a bare git directory's ``HEAD``, a new
``agentguard.toml``, a directory a gitlink, ``commondir`` or ``core.hooksPath`` names that was
missing, a file a configured command runs (``_gitcommands``) or a pre-commit configuration a hook
reads (``_precommit``) that was missing. ``Watch`` notes which of these exist before a call and,
once its processes are gone, renames each new one aside (``<name>.agentguard-quarantine-<random>``,
never over an existing name): host git and the guard's next start do not read it, and nothing is
deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from agentguard.sandbox._gitcommands import named_by_commands
from agentguard.sandbox._gitconfig import (
    ConfigReach,
    hooks_paths,
    repo_config,
    tops_of,
    user_config,
    user_files,
)
from agentguard.sandbox._gitscan import (
    BARE_NAMES,
    bare_head,
    enclosing_gits,
    git_entries,
    gitdir_of,
    hook_links,
    is_dot_git,
    read_line,
)
from agentguard.sandbox._precommit import precommit_paths

__all__ = ["QUARANTINE", "Watch"]

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
        user: ConfigReach | None = None  # the user's configuration, read once (for the first repository)
        for entry in git_entries(self.root):
            rel = entry.relative_to(self.root).as_posix()
            if not is_dot_git(entry.name):  # a bare git directory: its HEAD is set aside, not it
                try:
                    listed = os.listdir(entry) if entry.is_dir() else []
                except OSError:  # a directory that cannot be listed: it, as a whole
                    listed = None
                head = "" if listed is None else bare_head(entry, listed)
                if head is None:
                    continue
                if head:
                    rel = (entry.relative_to(self.root) / head).as_posix()
            names.add(rel)
            if old is None or rel in old:
                user = user_config(strict=old is None) if user is None else user
                names.update(_named_by(self.root, entry, user, strict=old is None))
                if entry == self.root:  # a bare repository: what git reads there, when it appears
                    names.update(BARE_NAMES)
        for entry in enclosing_gits(self.root):  # a repository above the workspace: what it names inside
            user = user_config(strict=old is None) if user is None else user
            names.update(_named_by(self.root, entry, user, strict=old is None))
        if user is not None or any(_user_file_inside(self.root, path) for path in user_files()):
            # the user's own config files (a home or dotfiles workspace), read by host git anywhere
            user = user_config(strict=old is None) if user is None else user
            names.update(n for p in user.includes if (n := _user_file_inside(self.root, p)) is not None)
            names.update(n for p in user.includes for n in _links_on_the_way(self.root, p))
        for path in self.protected:
            nominal = _nominal(self.root, Path(path))
            if nominal is not None:
                names.add(nominal)
        return frozenset(n for n in names if _lexists(self.root / n))


def _lexists(path: Path) -> bool:
    """Whether ``path`` may exist: one the code hid behind a directory without ``x`` (``chmod 666``)
    counts (the owner can search it again, and host git read it then)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _named_by(root: Path, entry: Path, user: ConfigReach, *, strict: bool) -> set[str]:
    """The directories a ``.git`` file's ``gitdir:``, a git directory's ``commondir`` and its config's
    ``core.hooksPath`` name inside the workspace, what hook symlinks name, and the files its config
    includes, whether they exist or not (one that is missing can be made by the code). ``strict``: a
    config git cannot read refuses the run (before it); after it, the sweep goes on without it (code
    could make an included file unreadable to stop it)."""
    found: set[str] = set()
    gitdirs: list[Path] = []
    gitdir = gitdir_of(entry) if entry.is_file() and not entry.is_symlink() else entry
    for _ in range(4):
        if gitdir is None:
            break
        rel = _nominal(root, gitdir)
        if rel is not None and gitdir != entry:
            found.add(rel)
        is_dir = gitdir.is_dir()
        if is_dir:
            gitdirs.append(gitdir)
        common = read_line(gitdir / "commondir") if is_dir else None
        gitdir = gitdir / common if common else None
    reach = user + repo_config(gitdirs, strict=strict)
    tops = tops_of(entry, gitdirs, reach)
    hooks = hooks_paths(tops, reach)
    hook_dirs = [*(gitdir / "hooks" for gitdir in gitdirs), *hooks]
    links = hook_links(hook_dirs)
    runs = named_by_commands(reach.commands, tops, root, strict=strict)
    runs += precommit_paths(hook_dirs, tops, root, strict=strict)
    for path in (
        *hooks,
        *links,
        *reach.includes,
        *runs,
    ):  # hooks, a config, what a command runs, made by the code
        rel = _nominal(root, path)
        if rel is not None:
            found.add(rel)
        found.update(_links_on_the_way(root, path))
    return found


def _links_on_the_way(root: Path, path: Path) -> list[str]:
    """The symlinks among ``path``'s directories below ``root``, as named. The guard resolves a
    link the code made there otherwise than host git may (``tools -> /proc/self/cwd/evil`` is
    below git's current directory, the top level, not the guard's): a new one is set aside itself."""
    absolute = Path(os.path.abspath(path))
    found = []
    probe = absolute.parent
    while root in probe.parents:
        if probe.is_symlink():
            found.append(probe.relative_to(root).as_posix())
        probe = probe.parent
    return found


def _user_file_inside(root: Path, path: Path) -> str | None:
    """``path`` (a config file of the user's, a link outside the workspace perhaps: ``~/.gitconfig
    -> dotfiles/gitconfig``, there or not) relative to ``root``, as named or resolved."""
    return _nominal(root, path) or _nominal(root, Path(os.path.realpath(path)))


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
    replacing nothing (a taken name: another one).

    The code runs as the workspace's owner, as the guard does: it can take the permissions off a
    directory on the way (``chmod 0 sub``) to keep what it made there. The owner can give them back:
    each such directory gets ``u+rwx`` again, and the step is retried."""
    *dirs, name = rel.split("/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in dirs:
            nxt = _writable_retry(fd, _open_at(part))
            os.close(fd)
            fd = nxt
        for _ in range(8):
            new = f"{_stem(name)}{QUARANTINE}{secrets.token_hex(4)}"
            try:
                _writable_retry(fd, _rename_at(name, new))
            except FileExistsError:
                continue
            return "/".join([*dirs, new])
        raise FileExistsError(errno.EEXIST, "every quarantine name tried was taken", rel)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


# A directory opened by path only (O_PATH: no read permission needed), never through a symlink.
_DIR_FLAGS = (
    getattr(os, "O_PATH", os.O_RDONLY)
    | os.O_DIRECTORY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_T = TypeVar("_T")


def _stem(name: str) -> str:
    """``name``, cut to leave room for the quarantine suffix in a 255-byte name (a name the code chose
    could fill it: the rename would fail, ``ENAMETOOLONG``, and leave it)."""
    room = 255 - len(QUARANTINE) - 8
    raw = os.fsencode(name)
    return name if len(raw) <= room else os.fsdecode(raw[:room])


def _open_at(part: str) -> Callable[[int], int]:
    return lambda at: os.open(part, _DIR_FLAGS, dir_fd=at)


def _rename_at(name: str, new: str) -> Callable[[int], None]:
    return lambda at: _rename_noreplace(at, name, new)


def _writable_retry(fd: int, step: Callable[[int], _T]) -> _T:
    """``step(fd)``; on ``PermissionError``, the directory ``fd`` made ``u+rwx`` (when it is ours) and
    ``step`` tried once more."""
    try:
        return step(fd)
    except PermissionError:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise
        # chmod of the very directory opened (an O_PATH descriptor has no fchmod)
        os.chmod(
            f"/proc/self/fd/{fd}" if os.path.isdir("/proc/self/fd") else fd, stat.S_IMODE(st.st_mode) | 0o700
        )
        return step(fd)


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
