"""What stays read-only inside a rw workspace, and the mounts that keep it there.

Read-only: the guard's own files inside the workspace (the policy directory, ``agentguard.toml``, the
state directory), every ``.git`` of the workspace (directories, and ``.git`` files: gitlinks of
submodules and linked worktrees), every bare git directory (at the root: its git files), the git
directories those gitlinks and ``commondir`` files name inside the workspace, the hooks directories
``core.hooksPath`` names there (``.husky``), what hook symlinks name there, and the files configs
include from there (``_gitconfig``), the files their command-valued keys run (``_gitcommands``) and
the pre-commit framework's configuration when a hook runs it (``_precommit``), for the repositories in
the workspace and above it. Git runs programs the host executes from these (hooks, ``core.fsmonitor``
on the next ``git status``);
making all of ``.git`` read-only means no git writes inside a rw sandbox.

A read-only mount protects an inode, not a name: code could rename the protected path's parent away
and make a new one, which the host then reads. So each directory between the workspace root and a
protected path is bound onto itself (read-write): a mount point cannot be renamed or removed
(``EBUSY``), and what is inside it stays writable. Protected paths named through a symlink inside
the workspace, or hard-linked files, cannot be kept that way: the container is refused (fail closed).
What did not exist cannot be mounted: ``_quarantine`` sets it aside after the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from docker.types import Mount

from agentguard.errors import SandboxError
from agentguard.sandbox._gitcommands import named_by_commands
from agentguard.sandbox._gitconfig import ConfigReach, hooks_paths, repo_config, tops_of, user_config
from agentguard.sandbox._gitscan import (
    BARE_NAMES,
    enclosing_gits,
    git_entries,
    gitdir_of,
    gitdirs_of,
    hook_links,
    read_line,
)
from agentguard.sandbox._precommit import precommit_paths

__all__ = ["WORKSPACE_TARGET", "mount_key", "protected_mounts"]

WORKSPACE_TARGET = "/workspace"
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
    user = user_config()
    read_only.update(_kept(root, user.includes))
    for entry in git_entries(root):
        if entry == root:  # the workspace itself is a bare repository: its git files, not all of it
            gitdirs = [root]
            read_only.update(_bare_root_paths(root))
        else:
            found, gitdirs = _git_paths(root, entry)
            read_only.update(found)
        read_only.update(_named(root, entry, gitdirs, user + repo_config(gitdirs)))
    for entry in enclosing_gits(root):  # a repository above the workspace: what it names inside
        gitdirs = gitdirs_of(entry)
        read_only.update(_named(root, entry, gitdirs, user + repo_config(gitdirs)))
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


def _bare_root_paths(root: Path) -> list[Path]:
    """What git reads or runs in a workspace root that is a bare repository (the rest of the root
    stays writable; what of ``BARE_NAMES`` appears there is set aside after the run)."""
    found = []
    for name in BARE_NAMES:
        path = root / name
        if path.is_symlink():
            raise SandboxError(
                f"{path} is a symlink in a workspace that is a bare git repository: code in a rw "
                "sandbox could replace it; refusing the rw workspace",
                path=str(path),
            )
        if path.exists():
            found.append(path)
    _refuse_hard_links(root)
    return found


def _named(root: Path, entry: Path, gitdirs: list[Path], reach: ConfigReach) -> list[Path]:
    """What ``entry``'s repository runs or reads from the workspace: the hooks directories
    ``core.hooksPath`` names (``.husky``; husky 9's ``.husky/_`` runs the scripts one level up, so
    there the parent), what hook symlinks name (``.git/hooks/pre-commit -> ../../scripts/x``), and
    the files its configs include (``include.path = ../.gitconfig``: ``core.fsmonitor`` there runs
    on the next ``git status``), the files its configured commands run (``filter.x.clean = python
    tools/strip.py``) and the pre-commit framework's configuration when a hook runs it."""
    tops = tops_of(entry, gitdirs, reach)
    hooks = hooks_paths(tops, reach)
    for path in hooks:
        if os.path.realpath(path) == str(root):
            raise SandboxError(
                f"core.hooksPath of {entry} names the workspace root itself: every file of a rw sandbox "
                "could be a hook; refusing the rw workspace",
                path=str(entry),
            )
    husky = [path.parent for path in hooks if path.name == "_" and os.path.realpath(path.parent) != str(root)]
    hook_dirs = [*(gitdir / "hooks" for gitdir in gitdirs), *hooks]
    links = hook_links(hook_dirs)
    runs = named_by_commands(reach.commands, tops, root, strict=True)
    runs += precommit_paths(hook_dirs, tops, root, strict=True)
    files = [path for path in runs if not os.path.isdir(path)]  # a directory a command names stays writable
    return _kept(root, [*hooks, *husky, *links, *reach.includes, *files])


def _kept(root: Path, paths: Iterable[Path]) -> list[Path]:
    """Those of ``paths`` inside the workspace (resolved), with no other hard link to a file in them."""
    found = []
    for path in paths:
        _refuse_links_on_the_way(root, path)
        real = _inside(root, path)
        if real is not None:
            _refuse_hard_links(real, whole=True)
            found.append(real)
    return found


def _git_paths(root: Path, entry: Path) -> tuple[list[Path], list[Path]]:
    """``entry`` (a ``.git``) and the git directories inside the workspace it leads host git to; and
    every git directory it leads to, inside the workspace or not, whose configs host git reads (a
    worktree's common directory elsewhere can name ``core.hooksPath = .husky`` in the workspace)."""
    if entry.is_symlink():
        raise SandboxError(
            f"{entry} is a symlink: code in a rw sandbox could replace it with a git directory of its "
            "own; refusing the rw workspace (make it a directory or a gitdir: file)",
            path=str(entry),
        )
    found = [entry]
    if entry.is_file():
        _refuse_hard_links(entry)
        gitdir = gitdir_of(entry)
    else:
        gitdir = entry
    gitdirs: list[Path] = []
    while gitdir is not None:  # a linked worktree's git directory names the common one in commondir
        real = Path(os.path.realpath(gitdir))
        if real in gitdirs or not real.is_dir():
            break
        gitdirs.append(real)
        inside = _inside(root, gitdir)
        if inside is not None:
            found.append(inside)
            _refuse_hard_links(inside)
        common = read_line(real / "commondir")
        gitdir = real / common if common else None
    return found, gitdirs


def _refuse_links_on_the_way(root: Path, path: Path) -> None:
    """Refuse a symlink inside the workspace on ``path``'s way as named, wherever it points: one
    pointing out (``tools/fmt.sh -> /opt/fmt.sh``, ``tools -> ../shared``) keeps nothing, and code
    could replace it with a file of its own or point it back in (``/proc/self/cwd/evil``)."""
    probe = Path(os.path.abspath(path))
    while root in probe.parents:
        if probe.is_symlink():
            raise SandboxError(
                f"{path} is named through the symlink {probe} inside the workspace, which code in a rw "
                "sandbox could replace; refusing the rw workspace",
                path=str(path),
            )
        probe = probe.parent


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
