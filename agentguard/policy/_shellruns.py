"""What a command line may run: every simple command, what wrappers run, scripts given to shells.

``sudo``, ``env``, ``timeout``, ``xargs``, ``find -exec``, ``busybox`` ... are peeled (every later word
may be the command: wrapper options differ); scripts for ``bash -c``, ``su -c``, ``eval``, here-strings
and ``watch`` are parsed in the dialect of the shell that runs them, recursively. Whatever cannot be
followed (a shell reading a pipe, ``alias``, ``PS4=..``, ``printf -v 'a[$(..)]'``) is recorded as
``Runs.unknown``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from agentguard.policy._shell import (
    EVAL_VARIABLE,
    MAX_DEPTH,
    Dyn,
    Script,
    ShellParseError,
    Word,
    parse_script,
)
from agentguard.policy._shellgit import (
    GIT_CONFIG,
    GIT_CONFIG_FILES,
    GIT_OWN,
    git_alias,
    git_dashed,
    git_subcommand,
    subtree_command,
)
from agentguard.policy._shellsubscripts import SUBSCRIPT_BUILTINS, evaluates

__all__ = ["Runs", "runs_of"]

MAX_RUNS = 5000  # commands considered per line (wrappers multiply them); beyond it: cannot tell

_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nice", "nohup", "time", "timeout", "xargs",
     "parallel", "stdbuf", "ionice", "chroot", "setsid", "unbuffer", "busybox", "strace", "ltrace", "watch",
     "caffeinate", "coproc", "taskset", "chrt", "flock", "torsocks", "proxychains", "proxychains4",
     "firejail", "systemd-run", "runuser", "su", "sg", "script", "unshare", "nsenter", "fakeroot", "pkexec",
     "run0", "setpriv", "prlimit", "setarch", "linux32", "linux64", "numactl", "cgexec", "runcon", "faketime",
     "catchsegv", "valgrind", "dbus-run-session", "xvfb-run", "chpst", "gosu", "su-exec", "tini", "dumb-init",
     "ssh-agent", "dbus-launch", "bwrap", "chronic", "ifne", "entr", "sem", "envdir", "setuidgid",
     "softlimit", "systemd-nspawn", "uv", "poetry", "pipenv", "bundle", "direnv", "dotenv", "aws-vault",
     "doppler", "eatmydata", "toybox", "proot", "s6-setuidgid", "run-one", "lckdo", "with-lock-ex",
     "timelimit", "cpulimit", "trickle", "nocache", "tsocks", "schedtool"}
)  # fmt: skip
_SHELLS = frozenset({"sh", "bash", "dash", "ksh", "mksh", "ash", "rbash", "yash", "posh", "zsh", "fish",
                     "csh", "tcsh"})  # fmt: skip
_POSIX_SHELLS = frozenset({"sh", "dash", "ash", "yash", "posh"})
_FOREIGN_SHELLS = frozenset({"zsh", "fish", "csh", "tcsh"})  # not bash syntax: =cmd, (cmd), glob qualifiers
_SCRIPT_OPTION = frozenset({"su", "runuser", "flock", "script", "sg"})  # -c/--command takes a script
_EACH_WORD_A_SCRIPT = frozenset({"watch", "parallel"})  # they hand their words to sh -c
# Builtins that change what later words mean in ways the line does not show.
_STATE_CHANGERS = frozenset({"alias", "shopt", "enable", "hash", "trap", "bind"})
# Builtins that expand or run their arguments as code: compgen -W '$(cmd)', compgen -C cmd, -F func;
# fc runs history entries (history -s 'cmd'; fc -s) and its -e editor.
_RUN_ARGUMENTS = frozenset({"compgen", "complete", "fc"})
_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})

_STDIN = Dyn("<stdin>", True)
_ANY = Dyn("<run time>", False)
_FOUND = Dyn("{}", False, ".")  # a path find found: it starts with a starting point, never with "-"


@dataclass(slots=True)
class Runs:
    """Every argv that may run, wrappers peeled and inline scripts parsed; ``unknown``: why not all."""

    argvs: list[tuple[Word, ...]] = field(default_factory=list)
    unknown: str | None = None

    def fail(self, why: str) -> None:
        if self.unknown is None:
            self.unknown = why


def runs_of(script: Script) -> Runs:
    """The commands ``script`` may run (kept on the parsed script, which is itself cached)."""
    found = script.runs
    if isinstance(found, Runs):
        return found
    runs = Runs()
    if script.unknown:
        runs.fail(script.unknown)
    _git_environment(script, runs)
    for simple in script.commands:
        _unwrap(simple.words, simple.stdin, 0, runs)
    script.runs = runs
    return runs


def _name(word: str) -> str:
    return posixpath.basename(word) if "/" in word else word


def _script(word: Word, depth: int, runs: Runs, shell: str = "bash") -> None:
    """A word that ``shell`` will run as a script."""
    if shell in _FOREIGN_SHELLS:
        runs.fail(f"a {shell} script (not bash syntax)")
        return
    if isinstance(word, Dyn):
        runs.fail("a script known only at run time")
        return
    if depth >= MAX_DEPTH:
        runs.fail("scripts nest too deeply")
        return
    try:
        inner = parse_script(word, posix=shell in _POSIX_SHELLS)
    except ShellParseError as exc:
        runs.fail(str(exc))
        return
    if inner.unknown:
        runs.fail(inner.unknown)
    _git_environment(inner, runs)
    for simple in inner.commands:
        _unwrap(simple.words, simple.stdin, depth + 1, runs, shell)


def _runs_git(words: tuple[Word, ...]) -> bool:
    return any(isinstance(w, str) and _name(w) == "git" for w in words)


def _runs_git_alias(words: tuple[Word, ...]) -> bool:
    """Whether ``words`` run git with a subcommand an alias may name (none of git's own commands)."""
    for k, word in enumerate(words):
        if isinstance(word, str) and _name(word) == "git":
            argv = words[k:]
            sub = git_subcommand(argv) or argv[:2]  # None: right after git, or none known
            if len(sub) < 2 or sub[1] not in GIT_OWN:
                return True
    return False


def _git_environment(script: Script, runs: Runs) -> None:
    """git config set in the environment by the line itself (a prefix, an assignment then export),
    or moved to files the line names (``HOME=.``: an alias in ``./.gitconfig``)."""
    if any(GIT_CONFIG.match(name) for name in script.assigned) and any(
        _runs_git(simple.words) for simple in script.commands
    ):
        runs.fail("git with config from the environment (GIT_CONFIG_*)")
    if any(GIT_CONFIG_FILES.match(name) for name in script.assigned) and any(
        _runs_git_alias(simple.words) for simple in script.commands
    ):
        runs.fail(
            "git with config from files the line names (HOME, GIT_DIR, ..) and a subcommand an alias may name"
        )


def _unwrap(words: tuple[Word, ...], stdin: Word | None, depth: int, runs: Runs, shell: str = "bash") -> None:
    """Add ``words`` and what it runs to ``runs``; ``shell`` is the dialect the line was read in."""
    if depth > MAX_DEPTH:
        runs.fail("wrappers nest too deeply")
        return
    starts = [0]
    seen: set[int] = set()
    while starts:
        i = starts.pop()
        if i in seen or i >= len(words):
            continue
        seen.add(i)
        if len(runs.argvs) >= MAX_RUNS:
            runs.fail("too many wrapped commands")
            return
        argv = words[i:]
        runs.argvs.append(argv)
        head = argv[0]
        if isinstance(head, Dyn):
            continue  # the command name is known only at run time: matching it says "cannot tell"
        name = _name(head)
        if name in _STATE_CHANGERS:
            runs.fail(f"{name} changes how later commands are read")
        elif name in _RUN_ARGUMENTS or (name == "jobs" and any(_option_x(w) for w in argv[1:])):
            runs.fail(f"{name} expands or runs its arguments as code")  # jobs -x cmd runs cmd
        elif name in SUBSCRIPT_BUILTINS and evaluates(name, argv):
            runs.fail(f"{name} evaluates its arguments as code (array subscripts, callbacks)")
        if any(isinstance(w, str) and GIT_CONFIG.match(w) and "=" in w for w in argv[1:]) and _runs_git(
            argv[1:]
        ):
            runs.fail("git with config from the environment (env GIT_CONFIG_*=..)")
        if any(
            isinstance(w, str) and GIT_CONFIG_FILES.match(w) and "=" in w for w in argv[1:]
        ) and _runs_git_alias(argv[1:]):
            runs.fail(
                "git with config from files the line names (env HOME=..) and a subcommand an alias may name"
            )
        if any(isinstance(w, str) and EVAL_VARIABLE.match(w) for w in argv[1:]):
            runs.fail("sets a variable the shell runs as code (env PS4=.., BASH_FUNC_f%%=..)")
        elif name in _SHELLS or name in _SCRIPT_OPTION:
            _shell(argv, name, stdin, depth, runs)
        elif name == "eval":
            if any(isinstance(w, Dyn) for w in argv[1:]):
                runs.fail("eval of words known only at run time")
            else:
                _script(" ".join(w for w in argv[1:] if isinstance(w, str)), depth, runs, shell)
        elif name in ("source", "."):
            target = argv[1] if len(argv) > 1 else None
            if isinstance(target, Dyn) or (target or "").startswith(("/dev/", "/proc/")):
                runs.fail("source of a script known only at run time")
        elif name == "find":
            _find_exec(argv, depth, runs, shell)
        elif name == "git":
            sub = git_subcommand(argv)
            if sub is not None:
                runs.argvs.append(sub)
            if git_alias(argv):
                runs.fail("git with an alias (or config from the environment) on its command line")
            _git_commands(sub or argv, depth, runs, shell)
        elif (dashed := git_dashed(argv, name)) is not None:
            runs.argvs.append(dashed)
            _git_commands(dashed, depth, runs, shell)
        elif name == "env":
            _env_split(argv, depth, runs)
        elif name == "capsh":
            _capsh(argv, stdin, depth, runs)
        if name in _EACH_WORD_A_SCRIPT or (name in ("sudo", "doas") and _has_shell_flag(argv)):
            for word in argv[1:]:
                if not (isinstance(word, str) and word.startswith("-")):
                    _script(word, depth, runs, "sh")
        if name in ("xargs", "parallel"):
            replace = any(isinstance(w, str) and w.startswith(("-I", "-i", "--replace")) for w in argv[1:])
            for k in range(1, len(argv)):
                tail = argv[k:]
                if replace:
                    tail = (tail[0], *(_ANY for _ in tail[1:]))
                _unwrap((*tail, _STDIN), None, depth + 1, runs, shell)
        elif name in _WRAPPERS:
            # Wrapper options differ (``sudo -u root``, ``timeout 5``): every later word may be the command.
            starts.extend(range(len(words) - 1, i, -1))


def _capsh(argv: tuple[Word, ...], stdin: Word | None, depth: int, runs: Runs) -> None:
    """``capsh [options] -- args`` runs ``/bin/bash args`` (``--shell=PATH``: that program instead);
    ``== args`` runs capsh again with ``args``. ``capsh -- -c 'rm x'`` is ``bash -c 'rm x'``."""
    shell: Word = "/bin/bash"
    for k in range(1, len(argv)):
        word = argv[k]
        if isinstance(word, Dyn):
            runs.fail("capsh with arguments known only at run time")  # may be --, == or --shell=
            return
        if word.startswith("--shell="):
            shell = word.partition("=")[2]
        elif word == "--":
            _unwrap((shell, *argv[k + 1 :]), stdin, depth + 1, runs)
            return
        elif word == "==":
            _unwrap(("capsh", *argv[k + 1 :]), stdin, depth + 1, runs)
            return


def _git_commands(argv: tuple[Word, ...], depth: int, runs: Runs, shell: str) -> None:
    """What ``git SUBCOMMAND ...`` runs itself: ``bisect run`` an argv; ``rebase -x/--exec``,
    ``submodule foreach`` and ``filter-branch``'s ``--*-filter`` options a script for sh."""
    sub, args = (argv[1], argv[2:]) if len(argv) > 1 else (None, ())
    if (subtree := subtree_command(argv)) is not None:
        runs.argvs.append(subtree)
    if sub == "bisect" and args[:1] == ("run",):
        _unwrap(args[1:], None, depth + 1, runs, shell)
    elif sub == "submodule" and "foreach" in args:
        tail = list(args[args.index("foreach") + 1 :])
        while tail and isinstance(tail[0], str) and tail[0].startswith("-"):
            del tail[0]  # --recursive, --quiet
        if tail:  # one word: a script; more: sh -c 'FIRST "$@"' with the others as its arguments
            _script(tail[0], depth, runs, "sh")
            _unwrap(tuple(tail), None, depth + 1, runs, shell)
    elif sub in ("rebase", "filter-branch"):
        for k, word in enumerate(args):
            if isinstance(word, Dyn):
                continue  # an option known only at run time: the line as written already cannot tell
            value: Word | None = None
            if word.startswith("--") and (
                word.startswith("--exec") or word.partition("=")[0].endswith("-filter")
            ):
                value = (
                    word.partition("=")[2] if "=" in word else (args[k + 1] if k + 1 < len(args) else None)
                )
            elif sub == "rebase" and word[:1] == "-" and word[1:2] != "-" and "x" in word:
                rest = word[word.index("x") + 1 :]
                value = rest if rest else (args[k + 1] if k + 1 < len(args) else None)
            if value is not None:
                _script(value, depth, runs, "sh")


def _option_x(word: Word) -> bool:
    return isinstance(word, Dyn) or (word[:1] == "-" and "x" in word)


def _has_shell_flag(argv: tuple[Word, ...]) -> bool:
    for word in argv[1:]:
        if not isinstance(word, str) or not word.startswith("-"):
            return False
        if word in ("--shell", "--login") or (not word.startswith("--") and ("s" in word or "i" in word)):
            return True
    return False


def _shell(argv: tuple[Word, ...], name: str, stdin: Word | None, depth: int, runs: Runs) -> None:
    """``bash -c 'script'``, ``su -c``, a shell reading stdin or a here-string."""
    inline = False
    reads_stdin = False
    operands: list[str] = []
    values: list[str] = []  # of -o/-O/--rcfile: not the script file ("bash -o posix" reads stdin)
    options_done = False
    takes_value = False
    for word in argv[1:]:
        if isinstance(word, Dyn):
            runs.fail(f"{name} with arguments known only at run time")
            continue
        if takes_value:
            takes_value = False
            values.append(word)
        elif options_done or not word.startswith(("-", "+")) or word in ("-", "+"):
            if word == "-" and name in _SHELLS and not options_done:
                options_done = True  # "bash -" ends the options: it reads stdin, or runs the next word
            else:
                operands.append(word)
        elif word == "--":
            options_done = True
        elif name in _SHELLS and (
            (word[-1] in "oO" and word[1:2] != "-") or word in ("--rcfile", "--init-file")
        ):
            takes_value = True
            if "c" in word[1:] and not word.startswith("--"):
                inline = True
        elif word.startswith("--"):
            if word.startswith("--command") or word.startswith("--session-command"):
                inline = True
                value = word.partition("=")[2]
                if value:
                    operands.append(value)
        elif "c" in word[1:]:
            inline = True
        elif "s" in word[1:]:
            reads_stdin = True
    shell = name if name in _SHELLS else "sh"  # su -c and friends run the user's shell: sh at best
    if any(v.startswith(("/dev/", "/proc/")) for v in values):
        runs.fail(f"{name} runs a start-up file known only at run time")
    if inline:
        for operand in operands + values:
            _script(operand, depth, runs, shell)
    elif name in _SHELLS:
        if reads_stdin or not operands:
            if stdin is not None:
                _script(stdin, depth, runs, shell)
            else:
                runs.fail(f"{name} reads its script from standard input")
        elif operands[0].startswith(("/dev/", "/proc/")):
            runs.fail(f"{name} runs a script known only at run time")


def _find_exec(argv: tuple[Word, ...], depth: int, runs: Runs, shell: str) -> None:
    k = 1
    while k < len(argv):
        if argv[k] in _EXEC:
            sub: list[Word] = []
            k += 1
            while k < len(argv) and argv[k] not in (";", "+"):
                word = argv[k]
                sub.append(_FOUND if isinstance(word, str) and "{}" in word else word)
                k += 1
            if sub:
                _unwrap(tuple(sub), None, depth + 1, runs, shell)
        k += 1


def _env_split(argv: tuple[Word, ...], depth: int, runs: Runs) -> None:
    """``env -S 'rm -rf /'`` splits one word into a command line."""
    for k, word in enumerate(argv[1:], start=1):
        if not isinstance(word, str) or not word.startswith("-"):
            continue
        if word.startswith("--s"):
            value = word.partition("=")[2]
            if value:
                _script(value, depth, runs, "sh")
            elif k + 1 < len(argv):
                _script(argv[k + 1], depth, runs, "sh")
        elif not word.startswith("--") and "S" in word:
            rest = word[word.index("S") + 1 :]
            if rest:
                _script(rest, depth, runs, "sh")
            elif k + 1 < len(argv):
                _script(argv[k + 1], depth, runs, "sh")
