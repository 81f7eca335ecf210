"""Working-tree files host git runs because its configuration names them in a command line.

``filter.<driver>.clean = python tools/strip.py``, ``alias.x = !./run.sh``, ``core.fsmonitor =
tools/watch.sh``: host git runs these on the next ``git add``, ``git x``, ``git status``, from the top
level of the working tree. A rw sandbox could rewrite the file first. So every command-valued key of
the configuration git reads (``COMMAND_KEYS``, from git-config(1)) is read with the policy's shell
parser (tree-sitter-bash, as ``sh -c`` would split it; inline scripts such as ``sh -c '..'``
followed) and each word that may name a file is resolved against the top level: a word with a
``/`` (there or not: one the code makes is set aside after the run), any other word naming a file
there now (``python strip.py``), the value after ``=`` (``--config=tools/x``), the files a glob
matches, and a program looked up in a ``PATH`` directory inside the workspace. Directories there
are not kept (``pytest tests``: what a program reads by its own convention, ``Makefile``,
``package.json``, ``conftest.py``, is not seen: docs/sandbox.md); one the code makes is set aside.
A line the parser cannot read whole (a here-document, ``case``, ``[[ ]]``, a shell reading a pipe, a
program known only at run time) refuses the rw workspace, naming the file and key: what it runs
cannot be told.
"""

from __future__ import annotations

import glob
import os
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

from agentguard.errors import SandboxError

__all__ = [
    "COMMAND_KEYS",
    "CannotTellRun",
    "argv_paths",
    "command_kind",
    "line_paths",
    "mentions_command",
    "named_by_commands",
]

_NAME_MAX = 255  # bytes in one file name (Linux, macOS)
_PATH_MAX = 4096  # bytes in a path (Linux): a longer one cannot be opened
# (section, variable) of the keys whose value host git runs ("*": any variable), with how it runs:
# "shell" a command line for sh -c (git runs a line with no shell syntax directly: the same words),
# "program" one path run as is, "bang" only a value starting with "!" (the rest a line for sh),
# "url" a remote's URL (``ext::<command line>``; ``<transport>::<address>`` runs git-remote-<transport>),
# "vcs" git-remote-<value>, "helper" credential.helper.
COMMAND_KEYS: dict[tuple[str, str], str] = {
    ("alias", "*"): "alias",
    ("core", "editor"): "shell",
    ("core", "pager"): "shell",
    ("core", "sshcommand"): "shell",
    ("core", "fsmonitor"): "shell",
    ("core", "gitproxy"): "shell",
    ("core", "alternaterefscommand"): "shell",
    ("core", "askpass"): "program",
    ("sequence", "editor"): "shell",
    ("pager", "*"): "shell",
    ("credential", "helper"): "helper",
    ("diff", "external"): "shell",
    ("diff", "command"): "shell",
    ("diff", "textconv"): "shell",
    ("difftool", "cmd"): "shell",
    ("difftool", "path"): "program",
    ("mergetool", "cmd"): "shell",
    ("mergetool", "path"): "program",
    ("merge", "driver"): "shell",
    ("filter", "clean"): "shell",
    ("filter", "smudge"): "shell",
    ("filter", "process"): "shell",
    ("gpg", "program"): "program",  # gpg.program and gpg.<format>.program (gpg.ssh.program)
    ("gpg", "defaultkeycommand"): "shell",
    ("uploadpack", "packobjectshook"): "shell",
    ("interactive", "difffilter"): "shell",
    ("browser", "cmd"): "shell",
    ("browser", "path"): "program",
    ("man", "cmd"): "shell",
    ("man", "path"): "program",
    ("sendemail", "smtpserver"): "program",
    ("sendemail", "sendmailcmd"): "shell",
    ("sendemail", "tocmd"): "shell",
    ("sendemail", "cccmd"): "shell",
    ("sendemail", "headercmd"): "shell",
    ("remote", "receivepack"): "shell",
    ("remote", "uploadpack"): "shell",
    ("remote", "url"): "url",
    ("remote", "pushurl"): "url",
    ("remote", "vcs"): "vcs",
    ("imap", "tunnel"): "shell",
    ("submodule", "update"): "bang",
    ("instaweb", "httpd"): "shell",
    ("guitool", "cmd"): "shell",
    ("trailer", "command"): "shell",
    ("trailer", "cmd"): "shell",
    ("hook", "command"): "shell",
    ("tar", "command"): "shell",  # tar.<format>.command (git archive)
    ("svn", "authorsprog"): "shell",  # git svn
    # git-lfs reads these from git's configuration: lfs.extension.<name>.clean and .smudge,
    # lfs.customtransfer.<name>.path and .args (the agent's arguments: read as words)
    ("lfs", "clean"): "shell",
    ("lfs", "smudge"): "shell",
    ("lfs", "path"): "program",
    ("lfs", "args"): "shell",
}


def command_kind(key: str) -> str | None:
    """How host git runs the value of ``key`` (lower case, ``section[.subsection].variable``), or
    None when it runs nothing."""
    section, _, rest = key.partition(".")
    variable = rest.rpartition(".")[2]
    return COMMAND_KEYS.get((section, variable)) or COMMAND_KEYS.get((section, "*"))


def mentions_command(text: bytes) -> bool:
    """Whether a config file's text (lower case) may set a command-valued key: its section and
    variable names both appear in it (git never escapes or splits a name)."""
    return any(
        section.encode() in text
        and (variable == "*" or variable.encode() in text)
        and (kind != "url" or b"::" in text)  # a remote's URL: only <transport>:: runs a program
        for (section, variable), kind in COMMAND_KEYS.items()
    )


def named_by_commands(
    commands: Iterable[tuple[str, str, str]], tops: list[Path], root: Path, *, strict: bool
) -> list[Path]:
    """The working-tree files the command-valued ``commands`` (origin, key, value) may run, joined
    to each top level in ``tops`` (there or not). ``strict``: a line that cannot be read refuses
    the workspace (before a run); after it, the line is passed over (the sweep goes on)."""
    found: list[Path] = []
    for origin, key, value in commands:
        line = _line(key, value)
        if line is None:
            continue
        try:
            if line[0] == "program":
                paths = list(_candidates([line[1]], tops, root, program=True))
            elif line[0] == "args":
                paths = argv_paths(["git", *_split(line[1])], tops, root)
            else:
                paths = line_paths(line[1], tops, root)
            if _run_from_any_directory(key) and _relative(paths, tops):
                raise CannotTellRun(
                    "a relative file in a line git may run from the directory git is run in, "
                    "not the top level (git -p version in a subdirectory)"
                )
            found.extend(paths)
        except CannotTellRun as exc:
            if strict:
                where = origin or "the environment (GIT_CONFIG_COUNT)"
                raise SandboxError(
                    f"{where}: {key} is a command host git runs, and which working-tree "
                    f"files it runs cannot be told ({exc}); refusing the rw workspace (code in the "
                    "sandbox could rewrite them: put the command in a script outside the workspace)",
                    path=where,
                ) from None
    return found


def _run_from_any_directory(key: str) -> bool:
    """Whether host git may run ``key``'s line before it moves to the top level: a pager
    (``git -p version``, ``git help -a``, ``git diff --no-index``) and ``git help``'s viewers."""
    section = key.partition(".")[0]
    return key == "core.pager" or section in ("pager", "man", "browser")


def _relative(paths: Iterable[Path], tops: list[Path]) -> bool:
    """Whether any of ``paths`` was resolved against a top level (not an absolute ``PATH`` entry)."""
    absolute = {Path(e) for e in os.environ.get("PATH", "").split(os.pathsep) if os.path.isabs(e)}
    return any(
        path.parent not in absolute and any(top == path or top in path.parents for top in tops)
        for path in paths
    )


class CannotTellRun(Exception):
    """What a command line runs cannot be told."""


def _split(value: str) -> list[str]:
    """Words as git splits an alias (``split_cmdline``: quotes and backslashes, no shell syntax)."""
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise CannotTellRun(str(exc)) from None


def _line(key: str, value: str) -> tuple[str, str] | None:
    """("program", path), ("shell", line) or ("args", git's arguments) for what host git runs
    from ``key = value``."""
    kind = command_kind(key)
    if kind is None or not value.strip():
        return None
    if kind in ("alias", "bang", "helper") and value.startswith("!"):
        return ("shell", value[1:])
    if kind == "bang":
        return None
    if kind == "helper" and not os.path.isabs(value):  # git runs "git credential-<value>"
        return ("shell", f"git credential-{value}")
    if kind == "url":
        transport, sep, rest = value.partition("::")
        if not sep or "/" in transport or ":" in transport:
            return None  # a URL or a path: git's own transports
        return ("shell", rest) if transport == "ext" else ("program", f"git-remote-{transport}")
    if kind == "vcs":
        return ("program", f"git-remote-{value}")
    if kind == "program":
        return ("program", value)
    if kind == "alias":
        return ("args", value)  # git's own arguments: -c core.pager=.., rebase -x ..
    return ("shell", value)


def argv_paths(argv: list[str], tops: list[Path], root: Path) -> list[Path]:
    """``line_paths`` of a command given as words (quoted for the shell parser, which then reads
    what wrappers and ``sh -c`` in them run)."""
    return line_paths(shlex.join(argv), tops, root)


def line_paths(line: str, tops: list[Path], root: Path) -> list[Path]:
    """The files the command line ``line`` may run or read, joined to each top level; raises
    ``CannotTellRun``."""
    from agentguard.policy._shell import Dyn, ShellParseError, parse_script
    from agentguard.policy._shellruns import runs_of

    try:
        script = parse_script(line, posix=True)
    except ShellParseError as exc:
        raise CannotTellRun(str(exc)) from None
    runs = runs_of(script)
    if runs.unknown:
        raise CannotTellRun(runs.unknown)
    unknown: list[str] = []
    tops = _moved_to(runs.argvs, tops, unknown)
    found: list[Path] = []
    words: list[str] = []
    for argv in runs.argvs:
        head = argv[0]
        if isinstance(head, Dyn) and "=" not in head.prefix:  # (an assignment a wrapper passes on)
            raise CannotTellRun(f"a program known only at run time ({head.text})")
        if isinstance(head, str):
            found.extend(_candidates([head], tops, root, program=True))
        for word in argv:
            if isinstance(word, str):
                words.append(word)
            elif word.glob:
                found.extend(_globbed(word.text, tops))
    found.extend(_candidates(words, tops, root, program=False))
    for word in words:  # "-c core.pager=./x": the value of a command-valued key
        key, equals, value = word.partition("=")
        if equals and _moves_what_git_reads(key.lower(), value, root):
            raise CannotTellRun(f"{key} set for one command, to a directory or file the workspace may hold")
        if equals and command_kind(key.lower()) is not None:
            nested = _line(key.lower(), value)
            if nested is not None and nested[0] == "shell":
                found.extend(line_paths(nested[1], tops, root))
            elif nested is not None and nested[0] == "args":
                found.extend(argv_paths(["git", *_split(nested[1])], tops, root))
    if unknown and _relative([path for path in found if not os.path.isdir(path)], tops):
        raise CannotTellRun(f"a relative file after a directory known only at run time ({unknown[0]})")
    return found


_CD = frozenset({"cd", "pushd", "chdir"})
_CD_OPTIONS = frozenset({"--", "-P", "-L", "-e", "-@"})
_MAX_DIRS = 64


def _moved_to(argvs: Iterable[tuple[object, ...]], tops: list[Path], unknown: list[str]) -> list[Path]:
    """``tops`` and each directory a ``cd`` (``pushd``, ``env -C``) in the line moves to, against
    every directory before it (``cd tools && ./build.sh`` runs ``tools/build.sh``): more than is
    run, never less. A directory known only at run time (``cd "$GIT_PREFIX"``, ``cd -``) is noted
    in ``unknown``: a relative file after it cannot be told."""
    found = list(tops)
    for argv in argvs:
        head, rest = argv[0], list(argv[1:])
        if head in _CD:
            args = [word for word in rest if word not in _CD_OPTIONS]
        elif head == "env" and any(isinstance(w, str) and w.startswith(("-C", "--chdir")) for w in rest):
            word = next(w for w in rest if isinstance(w, str) and w.startswith(("-C", "--chdir")))
            joined = word.partition("=")[2] if word.startswith("--chdir=") else word[2:]
            args = [joined] if joined and not word.startswith("--chdir") else rest[rest.index(word) + 1 :]
        else:
            continue
        target = args[0] if args else "~"
        if not isinstance(target, str) or target == "-":
            unknown.append(f"cd {getattr(target, 'text', target)}")
            continue
        named = Path(os.path.expanduser(target))
        found.extend(Path(os.path.normpath(base / named)) for base in list(found))
        found = list(dict.fromkeys(found))
        if len(found) > _MAX_DIRS:
            raise CannotTellRun("too many directories changed to")
    return found


def _moves_what_git_reads(key: str, value: str, root: Path) -> bool:
    """Whether ``-c key=value`` sends git to hooks, templates or configuration that may lie in the
    workspace (``core.hooksPath=githooks``; ``core.hooksPath=/dev/null`` turns hooks off)."""
    if key in ("core.hookspath", "init.templatedir"):
        named = os.path.expanduser(value)
        real = Path(os.path.realpath(named))
        return not os.path.isabs(named) or real == root or root in real.parents
    return key.startswith(("include.", "includeif."))


def _globbed(pattern: str, tops: list[Path]) -> Iterator[Path]:
    """What a glob word matches now (what the code adds is matched after the run too), or the path
    a ``~`` word names (the host user's home)."""
    if any(char in pattern for char in "'\"\\$`{"):
        raise CannotTellRun(f"a pattern with quotes or expansions ({pattern})")
    if pattern.startswith("~"):
        pattern = os.path.expanduser(pattern)
        if pattern.startswith("~"):
            raise CannotTellRun(f"a home directory that cannot be told ({pattern})")
        if not any(char in pattern for char in "*?["):
            yield Path(pattern)
            return
    for top in tops:
        yield from (top / match for match in glob.glob(pattern, root_dir=top))


def _candidates(words: Iterable[str], tops: list[Path], root: Path, *, program: bool) -> Iterator[Path]:
    """Paths ``words`` may name: against each top level (a word with ``/`` there or not, one
    without when something is there now), and after ``=`` the same. Directories too: ``_protect``
    keeps only files, but one the code makes is set aside (``python x.py`` runs
    ``x.py/__main__.py``). ``program``: a word without ``/``
    is looked up in ``PATH``: the directories there inside the workspace (or relative) too."""
    for word in words:
        for text in (word, word.partition("=")[2]):
            if not _may_name_a_file(text):
                continue  # a script given to sh -c, say
            slash = "/" in text
            if slash and _down_and_up(text) and (not text.startswith("/") or text.startswith(f"{root}/")):
                raise CannotTellRun(
                    f"a path that goes down and back up ({text}): the directory it enters is not kept"
                )
            for top in tops:
                path = top / text
                if not _may_name_a_file(str(path)):
                    continue
                if slash or _lexists(path):
                    yield path
            if program and not slash:
                for directory in _path_dirs(tops, root):
                    yield directory / text


def _down_and_up(text: str) -> bool:
    """Whether ``text`` has a ``..`` after a directory name (``build/../x``): the kernel follows
    ``build`` first, which code could replace with a link; leading ``../`` climbs out of a top level."""
    parts = [part for part in text.split("/") if part not in ("", ".")]
    return any(part == ".." and any(p != ".." for p in parts[:i]) for i, part in enumerate(parts))


def _may_name_a_file(text: str) -> bool:
    """Whether ``text`` fits a path (longer names cannot be opened: nothing to keep)."""
    raw = os.fsencode(text)
    return (
        0 < len(raw) < _PATH_MAX
        and b"\0" not in raw
        and all(len(part) <= _NAME_MAX for part in raw.split(b"/"))
    )


def _lexists(path: Path) -> bool:
    """Whether something is at ``path`` (a link there counts)."""
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


def _path_dirs(tops: list[Path], root: Path) -> Iterator[Path]:
    """The ``PATH`` directories inside the workspace: relative ones (an empty entry is the current
    directory) against each top level."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if os.path.isabs(entry):
            real = Path(os.path.realpath(entry))
            if real == root or root in real.parents:
                yield Path(entry)
        else:
            yield from (top / entry for top in tops)
