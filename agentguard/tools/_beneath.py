"""Open paths beneath a root directory without following any symlink on the way.

The policy decides on a resolved path; between that decision and the open, any component of the
path can be swapped for a symlink. Opening component by component from a directory descriptor
with ``O_NOFOLLOW`` (or in one ``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` call where the
kernel has it) means a swapped component makes the open fail instead of landing somewhere else.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import stat
import sys
from collections.abc import Iterator

__all__ = ["UnsafePath", "open_beneath", "open_dir_beneath", "relative_parts", "write_beneath"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_SYS_OPENAT2 = 437  # the same number on every Linux architecture (added after the table unification)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08


class UnsafePath(PermissionError):
    """The path is not a plain, symlink-free path beneath the root."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Openat2:
    """``openat2`` through ``syscall(2)``; ``None`` from :meth:`open` means "use the walk"."""

    def __init__(self) -> None:
        self._syscall = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                self._syscall = ctypes.CDLL(None, use_errno=True).syscall
        self.available = self._syscall is not None

    def open(self, dir_fd: int, path: str, flags: int, mode: int) -> int | None:
        if self._syscall is None:
            return None
        how = _OpenHow(flags, mode if flags & os.O_CREAT else 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS)
        how.resolve |= _RESOLVE_NO_MAGICLINKS
        fd = self._syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM, errno.E2BIG):  # old kernel or a seccomp filter
            self._syscall = None
            self.available = False
            return None
        if err in (errno.ELOOP, errno.EXDEV):
            raise UnsafePath(err, f"{path!r}: a component is a symlink or leaves the root")
        return None  # any other failure: the walk below says precisely which component and why


_OPENAT2 = _Openat2()


def relative_parts(root: str, path: str) -> list[str]:
    """The components of ``path`` below ``root``: absolute paths must start with ``root``, relative
    ones are taken from it. ``..`` is refused (the guard hands tools resolved paths, without it)."""
    if "\x00" in path:
        raise UnsafePath(f"{path!r} contains a NUL byte")
    if os.path.isabs(path):
        if path != root and not path.startswith(root.rstrip("/") + "/"):
            raise UnsafePath(f"{path!r} is outside the workspace {root!r}")
        path = path[len(root) :]
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"{path!r} contains '..'; pass the resolved path")
    return parts


def _open_component(dir_fd: int, name: str, flags: int, mode: int = 0o666) -> int:
    try:
        return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or (
            exc.errno == errno.ENOTDIR and _is_link(dir_fd, name)
        ):
            raise UnsafePath(
                exc.errno, f"{name!r} is a symlink; agentguard does not follow symlinks"
            ) from None
        raise


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_dir_beneath(root: str, parts: list[str], *, create: bool = False) -> int:
    """A descriptor for the directory ``root/parts...``, no symlink followed below ``root``.

    With ``create``, missing directories are made (``mkdir`` at a descriptor, then opened without
    following links, so a link planted in between is refused).
    """
    flags = os.O_RDONLY | _DIRECTORY
    fd = os.open(root, flags | _CLOEXEC)
    if not parts:
        return fd
    if not create:
        found = _OPENAT2.open(fd, "/".join(parts), flags | _NOFOLLOW | _CLOEXEC, 0)
        if found is not None:
            os.close(fd)
            return found
    try:
        for name in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
            child = _open_component(fd, name, flags)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_beneath(root: str, parts: list[str], flags: int = os.O_RDONLY) -> int:
    """A descriptor for the file ``root/parts...``; no component (the last included) may be a symlink."""
    if not parts:
        return os.open(root, flags | _CLOEXEC)
    root_fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        found = _OPENAT2.open(root_fd, "/".join(parts), flags | _NOFOLLOW | _CLOEXEC, 0)
    finally:
        os.close(root_fd)
    if found is not None:
        return found
    dir_fd = open_dir_beneath(root, parts[:-1])
    try:
        return _open_component(dir_fd, parts[-1], flags)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _temp_file(dir_fd: int, name: str) -> Iterator[tuple[int, str]]:
    """A new file with an unpredictable name next to ``name`` (``O_EXCL``: never an existing one)."""
    for _ in range(100):
        tmp = f".{name[:200]}.{secrets.token_hex(8)}.agentguard-tmp"
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666, dir_fd=dir_fd
            )
        except FileExistsError:
            continue
        try:
            yield fd, tmp
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        return
    raise FileExistsError(errno.EEXIST, "could not create a unique temp file")


def write_beneath(root: str, parts: list[str], data: bytes) -> None:
    """Replace ``root/parts...`` with ``data`` atomically: a fresh temp file, then a rename.

    The directory is reached without following links; the temp file is created ``O_EXCL`` under a
    random name; an existing target keeps its ``rwx`` permission bits (not set-user-ID, set-group-ID
    or sticky); a target that is a symlink or not a
    regular file is refused (the rename would replace the link, not write through it, but the
    policy decided on a file).
    """
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "cannot write the workspace root")
    name = parts[-1]
    dir_fd = open_dir_beneath(root, parts[:-1], create=True)
    try:
        try:
            existing: os.stat_result | None = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISLNK(existing.st_mode):
            raise UnsafePath(f"{name!r} is a symlink; agentguard does not write through symlinks")
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{name!r} is not a regular file")
        with _temp_file(dir_fd, name) as (fd, tmp):
            if existing is not None:
                # rwx only: set-user-ID/-group-ID would make the new content a privileged program
                # of this process's user (the kernel drops them on a write, too).
                os.fchmod(fd, stat.S_IMODE(existing.st_mode) & 0o777)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
