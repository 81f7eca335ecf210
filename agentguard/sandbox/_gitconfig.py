"""What git configuration makes host git read or run in a rw workspace: the ``core.hooksPath`` values,
the files configs include, the command-valued keys (``_gitcommands``) and ``core.worktree``, read the
way host git reads them.

Every config file reached is read on its own (``--no-includes``) and its includes followed here:
``include.path`` and every ``includeIf.<condition>.path`` whatever the condition (read outside the
repository, ``gitdir:`` and ``onbranch:`` never hold, though host git run in the workspace takes
them). An included file inside the workspace is configuration too: code that wrote it could set
``core.fsmonitor``, run on the next ``git status``. So ``_protect`` keeps it read-only and
``_quarantine`` sets it aside when the code made it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agentguard.errors import SandboxError
from agentguard.sandbox._gitcommands import command_kind, mentions_command
from agentguard.sandbox._gitscan import is_dot_git

__all__ = ["ConfigReach", "hooks_paths", "repo_config", "tops_of", "user_config", "user_files"]

# git's own limit on nested includes
_MAX_DEPTH = 10
# A config file holding none of these (nor a command-valued key's names) sets no core.hooksPath or
# core.worktree and includes nothing (a key name is never escaped or split across lines): git is not asked.
_MENTIONS = (b"hookspath", b"templatedir", b"include", b"worktree")


@dataclass(frozen=True)
class ConfigReach:
    """``hooks``: every ``core.hooksPath`` and ``init.templateDir`` value (its ``hooks`` are copied into
    each repository the host makes); ``includes``: every file included (as named,
    ``~`` expanded, relative ones against the including file's directory), there or not;
    ``commands``: every command-valued entry (origin file, key, value); ``worktrees``: every
    ``core.worktree`` value."""

    hooks: tuple[str, ...] = ()
    includes: tuple[Path, ...] = ()
    commands: tuple[tuple[str, str, str], ...] = ()
    worktrees: tuple[str, ...] = ()

    def __add__(self, other: ConfigReach) -> ConfigReach:
        return ConfigReach(
            tuple(dict.fromkeys(self.hooks + other.hooks)),
            tuple(dict.fromkeys(self.includes + other.includes)),
            tuple(dict.fromkeys(self.commands + other.commands)),
            tuple(dict.fromkeys(self.worktrees + other.worktrees)),
        )


def user_config(*, strict: bool = True) -> ConfigReach:
    """The user's and the system's configuration (and the environment's ``GIT_CONFIG_COUNT``), as
    host git run by the user in this environment reads it, with what it includes. Its own files
    count as included (``user_files``, and each file an entry came from): a workspace holding
    them (a dotfiles repository ``~/.gitconfig`` links into, a home directory) must not be able to
    write or make them."""
    files = ConfigReach(includes=tuple(user_files()))
    if shutil.which("git") is None:
        return files
    entries = _read([], None, strict=strict)
    origins = ConfigReach(includes=tuple(Path(origin) for origin, _, _ in entries if origin))
    return files + origins + _follow(entries, strict=strict)


def user_files() -> list[Path]:
    """The files host git reads as the user's and the system's configuration, there or not:
    ``$GIT_CONFIG_GLOBAL``, else ``~/.gitconfig`` and ``$XDG_CONFIG_HOME/git/config`` (default
    ``~/.config``); ``$GIT_CONFIG_SYSTEM``, else ``/etc/gitconfig``."""
    env = os.environ
    found = [Path(env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig").expanduser()]
    if env.get("GIT_CONFIG_GLOBAL"):
        return [*found, Path(env["GIT_CONFIG_GLOBAL"]).expanduser()]
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg:
        found.append(Path(xdg) / "git" / "config")
    home = env.get("HOME")
    if home:
        found.append(Path(home) / ".gitconfig")
        if not xdg:
            found.append(Path(home) / ".config" / "git" / "config")
    return found


def repo_config(gitdirs: Iterable[Path], *, strict: bool = True) -> ConfigReach:
    """The ``config`` and ``config.worktree`` of each git directory (inside the workspace or not: a
    linked worktree's common directory may be elsewhere), with what they include. ``strict``: a file
    git cannot read refuses the workspace (before a run); after it, that file is passed over (code
    could break an included working-tree file it made, to stop the sweep)."""
    reach = ConfigReach()
    for gitdir in gitdirs:
        for name in ("config", "config.worktree"):
            config = gitdir / name
            try:
                if not stat.S_ISREG(config.lstat().st_mode):
                    continue
                text = config.read_bytes().lower()
            except OSError:
                continue
            if not any(word in text for word in _MENTIONS) and not mentions_command(text):
                continue
            reach += _follow(_read(["--file", str(config)], config, strict=strict), strict=strict)
    return reach


def tops_of(entry: Path, gitdirs: list[Path], reach: ConfigReach) -> list[Path]:
    """Where host git runs hooks and configured commands for the repository at ``entry`` (a
    ``.git``, or a bare git directory): the top level of its working tree (the git directory when
    bare), and each ``core.worktree`` its configs name (which moves the working tree: relative
    values against each of its git directories, as git reads them against its own)."""
    tops = [entry.parent if is_dot_git(entry.name) else entry]
    for value in reach.worktrees:
        named = Path(value).expanduser()
        bases = [Path("/")] if named.is_absolute() else gitdirs
        tops.extend(Path(os.path.normpath(base / named)) for base in bases)
    return list(dict.fromkeys(tops))


def hooks_paths(tops: list[Path], reach: ConfigReach) -> list[Path]:
    """Where git looks for hooks besides a git directory's ``hooks``: relative ``core.hooksPath``
    values against each top level (``tops_of``: ``.husky``)."""
    return [top / Path(value).expanduser() for top in tops for value in reach.hooks]


_Entry = tuple[str, str, str]  # origin file ("" when not a file), key (lower case), value


def _follow(entries: list[_Entry], *, strict: bool) -> ConfigReach:
    hooks: list[str] = []
    includes: list[Path] = []
    commands: list[tuple[str, str, str]] = []
    worktrees: list[str] = []
    seen: set[Path] = set()
    queue = [(entries, 0)]
    while queue:
        batch, depth = queue.pop()
        for origin, key, value in batch:
            if key in ("core.hookspath", "init.templatedir"):  # hooks, or the hooks git init copies
                hooks.append(value)
                continue
            if key == "core.worktree" and value:
                worktrees.append(value)
                continue
            if command_kind(key) is not None:
                commands.append((origin, key, value))
                continue
            if not (key == "include.path" or (key.startswith("includeif.") and key.endswith(".path"))):
                continue
            named = Path(value).expanduser()
            if not value or not (origin or named.is_absolute()):
                continue  # from the environment (GIT_CONFIG_COUNT): a relative one is a git error
            target = Path(origin).parent / named if origin else named
            includes.append(target)
            if target in seen or depth >= _MAX_DEPTH or not os.path.isfile(target):
                continue
            seen.add(target)
            queue.append((_read(["--file", str(target)], target, strict=strict), depth + 1))
    return ConfigReach(
        tuple(dict.fromkeys(hooks)),
        tuple(dict.fromkeys(includes)),
        tuple(dict.fromkeys(commands)),
        tuple(dict.fromkeys(worktrees)),
    )


def _read(where: list[str], config: Path | None, *, strict: bool) -> list[_Entry]:
    """The entries of ``config`` (None: the user's, the system's, the environment's), no include
    followed."""
    git = shutil.which("git")
    if git is None:  # a repository's config mentions core.hooksPath or an include: cannot be read
        if strict and config is not None:
            raise SandboxError(
                f"{config} may set core.hooksPath, a command or include a file, and git is not on PATH "
                "to read it; "
                "refusing the rw workspace (code in the sandbox could write what it names)",
                path=str(config),
            )
        return []
    argv = [git, "config", *where, "--no-includes", "--show-origin", "--null", "--list"]
    # This process's environment, as host git run by the user sees it (GIT_CONFIG_GLOBAL, HOME,
    # XDG_CONFIG_HOME, GIT_CONFIG_COUNT...), outside any repository: a GIT_DIR no repository has.
    env = {**os.environ, "LC_ALL": "C", "GIT_DIR": os.devnull}
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, env=env, cwd="/", check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        if not strict:
            return []
        raise SandboxError(f"cannot read git configuration: {exc}; refusing the rw workspace") from exc
    if proc.returncode != 0:
        if not strict:
            return []
        detail = proc.stderr.decode("utf-8", "replace").strip()[:300]
        what = config if config is not None else "the user's git configuration"
        raise SandboxError(
            f"cannot read {what} with git ({detail}); refusing the rw workspace", path=str(what)
        )
    fields = proc.stdout.split(b"\0")
    entries = []
    for origin, item in zip(fields[0::2], fields[1::2], strict=False):
        key, _, value = item.partition(b"\n")
        source = os.fsdecode(origin[len(b"file:") :]) if origin.startswith(b"file:") else ""
        entries.append((source, os.fsdecode(key).lower(), os.fsdecode(value)))
    return entries
