"""Path arguments as the rules see them, handed on to the tool (decide on what will run).

Every argument some ``path()`` condition of the applicable rules reads is resolved once per
decision (``~``, joined to the workspace when relative, symlinks and ``..`` resolved). The rules
match that resolved path, and the decision carries it, so the guard calls the tool with the very
path that was decided on instead of a relative or linked spelling the tool would resolve again
(from its own working directory, after a symlink was swapped, ...).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import ada_url

__all__ = [
    "decided_identities",
    "detect_case_folding",
    "file_uri_path",
    "looked_up",
    "normalise_path",
    "on_disk_spelling",
    "resolve_path_arguments",
]

_MISSING: Any = object()


def _get(arguments: Any, ref: tuple[str, ...]) -> Any:
    value = arguments
    for part in ref:
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _put(arguments: Any, ref: tuple[str, ...], new: Any) -> Any:
    """A copy of ``arguments`` with the value at ``ref`` replaced (only the containers on the way)."""
    if not ref:
        return new
    head, rest = ref[0], ref[1:]
    if isinstance(arguments, Mapping):
        copy = dict(arguments)
        copy[head] = _put(arguments[head], rest, new)
        return copy
    items = list(arguments)
    items[int(head)] = _put(items[int(head)], rest, new)
    return items


def normalise_path(value: Any, workspace: str, fold: bool = False) -> str | None:
    """The absolute, symlink-free path a tool would open, or ``None`` for values that are not paths.

    With ``fold`` (a case-folding file system), existing components are spelled as on disk."""
    if not isinstance(value, str) or not value or "\x00" in value or len(value) > 4096:
        return None
    text: str = value
    if not text.isascii():
        # One spelling per name on disk: "\udcc3\udcbc" (surrogate escapes) opens the bytes of "ü",
        # but a glob naming "ü" would not match it. Lone surrogates no file name has: None.
        try:
            text = os.fsdecode(os.fsencode(text))
        except UnicodeError:
            return None
    path = os.path.expanduser(text) if text.startswith("~") else text
    if not os.path.isabs(path):
        path = os.path.join(workspace, path)
    try:
        resolved = os.path.realpath(path)
        # realpath leaves a symlink loop in place instead of failing: refuse any symlink left over.
        # The common case in one call: the path is there and not a link, so the kernel walked every
        # component above it (a loop among them fails the lstat with ELOOP). Any failure (not there,
        # a loop, not a directory, no permission) takes the component walk below, as before.
        try:
            if not stat.S_ISLNK(os.lstat(resolved).st_mode):
                return on_disk_spelling(resolved, workspace) if fold else resolved
        except OSError:
            pass
        probe, parent = resolved, os.path.dirname(resolved)
        while probe != parent:
            if os.path.islink(probe):
                return None
            probe, parent = parent, os.path.dirname(parent)
        if fold:
            resolved = on_disk_spelling(resolved, workspace)
    except (OSError, ValueError):
        return None
    return resolved


_URI_REFUSED = ("%2f", "%5c", "%00")
_DRIVE = re.compile(r"[A-Za-z][:|]$")  # a separator or NUL inside a segment: servers read these differently


def file_uri_path(value: str) -> str | None:
    """The absolute path a ``file:`` URI names, as a WHATWG parser (Node's ``fileURLToPath``) and a
    server joining urllib's path read it alike: dot segments (``..``, ``%2e%2e``) resolved and the
    path percent-decoded. None when readings may differ or it names no local file: another scheme, a
    host other than ``localhost``, a query or fragment, backslashes, white space or control
    characters, an encoded separator or NUL, a dot segment (``..``: WHATWG removes ``a/..`` as text,
    a server's ``open`` lets the kernel follow a symlink ``a`` first), a Windows drive letter."""
    if value[:6].lower() != "file:/" or not value.isprintable() or any(c in value for c in " \\?#"):
        return None  # file:x is /x to WHATWG, x under the server's working directory to urllib
    segments = unquote(value[5:]).split("/")
    if any(part in (".", "..") for part in segments):
        return None  # WHATWG drops a/.. by text; a server opening the path lets the kernel follow a first
    if _DRIVE.match(next((part for part in segments if part), "")):
        return None  # C:/.. : WHATWG never pops a drive letter, os.path does
    try:
        parsed = ada_url.URL(value)
    except ValueError:
        return None
    if parsed.protocol != "file:" or parsed.hostname or parsed.search or parsed.hash:
        return None
    path = parsed.pathname
    if any(code in path.lower() for code in _URI_REFUSED):
        return None
    return unquote(path)


def resolve_path_arguments(
    arguments: Mapping[str, Any],
    refs: Sequence[tuple[str, ...]],
    resolve: Callable[[Any], str | None],
    memo: dict[Any, Any],
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the arguments with each path resolved, or ``None`` when nothing changed; the names of string
    arguments that cannot be resolved: a symlink loop, a NUL byte, too long, empty).

    Each result is also stored in ``memo`` under ``("path", ref)``, where ``path()`` looks first.
    """
    changed: Any = None
    unresolved: list[str] = []
    for ref in refs:
        value = _get(arguments, ref)
        if value is _MISSING:
            continue
        resolved = resolve(value)
        memo[("path", ref)] = resolved
        if resolved is None:
            if isinstance(value, str):
                unresolved.append(".".join(ref))
            continue
        with contextlib.suppress(OSError):  # kept as "could not be looked at" for the conditions
            looked_up(memo, resolved)
        if resolved != value:
            changed = _put(arguments if changed is None else changed, ref, resolved)
    return changed, unresolved


# Nothing there: no file. Any other failure of lstat is "cannot tell".
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR})


def looked_up(memo: dict[Any, Any], path: str) -> os.stat_result | None:
    """``lstat`` of a resolved path, once per decision, so every condition and the decision's
    ``files`` see the same file (a second look could see another one swapped in). ``None``: nothing
    there; any other failure (``EACCES``, ``EIO``) raises the ``OSError`` each time it is asked."""
    key = ("lstat", path)
    found = memo.get(key, _MISSING)
    if found is _MISSING:
        try:
            found = os.lstat(path)
        except OSError as exc:
            found = None if exc.errno in _ABSENT else exc
        memo[key] = found
    if isinstance(found, OSError):
        raise found
    return found  # type: ignore[no-any-return]


def decided_identities(memo: dict[Any, Any]) -> dict[str, tuple[int, int] | None]:
    """``Decision.files``: each path looked up while deciding -> ``(st_dev, st_ino)`` of the
    regular file it was, ``None`` when it was none (absent, a directory, could not be looked at)."""
    files: dict[str, tuple[int, int] | None] = {}
    for key, found in memo.items():
        if type(key) is tuple and key[0] == "lstat":
            regular = isinstance(found, os.stat_result) and stat.S_ISREG(found.st_mode)
            files[key[1]] = (found.st_dev, found.st_ino) if regular else None
    return files


# ---------------------------------------------------------------- case-folding file systems


def detect_case_folding(workspace: str) -> bool:
    """True when the workspace's file system folds case (``.ENV`` opens ``.env``: macOS, Windows,
    some mounts). Probed with a fresh temp file and its swapped-case name; if the workspace cannot
    be written, its own name is probed in its parent; if that cannot tell either, True (fold):
    then deny rules match every spelling."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".agentguard-case-", suffix=".probe", dir=workspace)
    except OSError:
        return _probe_by_name(workspace)
    os.close(fd)
    try:
        swapped = os.path.join(os.path.dirname(probe), os.path.basename(probe).swapcase())
        try:
            return os.path.samefile(probe, swapped)
        except OSError:
            return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


def _probe_by_name(workspace: str) -> bool:
    parent, name = os.path.split(os.path.realpath(workspace))
    if name.swapcase() == name:
        return True
    try:
        return os.path.samefile(workspace, os.path.join(parent, name.swapcase()))
    except FileNotFoundError:
        return False
    except OSError:
        return True


def on_disk_spelling(path: str, workspace: str) -> str:
    """``path`` (absolute, resolved) with each existing component spelled as the directory lists it.

    On a case-folding file system ``/ws/.ENV`` and ``/ws/.env`` are one file; rules are written for
    the listed spelling. Such file systems (APFS, HFS+, ext4 casefold) also take ``u\u0308`` for ``ü``,
    so names compare in Unicode's canonical caseless form. A component that does not exist (or
    matches several entries) keeps the caller's spelling; ``path()`` patterns then match it
    case-insensitively.
    """
    folded_ws = workspace.casefold()
    if path.casefold() == folded_ws or path.casefold().startswith(folded_ws.rstrip("/") + "/"):
        base, rest = workspace, path[len(workspace) :]
    else:
        base, rest = "/", path
    out = base
    for name in (p for p in rest.split("/") if p):
        try:
            entries = os.listdir(out)
        except OSError:
            entries = []
        if name not in entries:
            key = _caseless(name)
            matches = [e for e in entries if _caseless(e) == key]
            if len(matches) == 1:
                name = matches[0]
        out = os.path.join(out, name)
    return out


def _caseless(name: str) -> str:
    """Unicode's canonical caseless form (NFD, case fold, NFD): ``.ENV`` is ``.env``, ``u\u0308`` is ``ü``."""
    if name.isascii():
        return name.casefold()
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())
