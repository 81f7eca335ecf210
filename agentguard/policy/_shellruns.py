"""What a command line may run: every simple command, what wrappers run, scripts given to shells.

``sudo``, ``env``, ``timeout``, ``xargs``, ``find -exec``, ``busybox`` ... are peeled (every later word
may be the command: wrapper options differ); scripts for ``bash -c``, ``su -c``, ``eval``, here-strings
and ``watch`` are parsed in the dialect of the shell that runs them, recursively. Whatever cannot be
followed (a shell reading a pipe, ``alias``, ``PS4=..``, ``printf -v 'a[$(..)]'``) is recorded as
``Runs.unknown``.
"""

from __future__ import annotations

import posixpath
import re
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
from agentguard.policy._shellwalk import integer_value

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
# Builtins that evaluate an array subscript in a name argument (a[$(cmd)]) or run a callback.
_SUBSCRIPT_BUILTINS = frozenset({"let", "printf", "read", "mapfile", "readarray", "test", "[", "unset",
                                 "wait", "getopts", "declare", "typeset", "local", "export",
                                 "readonly"})  # fmt: skip
_NO_ASSIGNMENT = frozenset({"test", "[", "unset", "wait"})  # name arguments they never assign
# git reads config (aliases: GIT_CONFIG_KEY_0=alias.p GIT_CONFIG_VALUE_0=push git p) from these,
_GIT_CONFIG = re.compile(r"GIT_CONFIG(_[A-Za-z0-9_]*)?(=|\Z)")
# and its global and repository config from files these name (HOME=. reads ./.gitconfig).
_GIT_CONFIG_FILES = re.compile(r"(HOME|XDG_CONFIG_HOME|GIT_DIR|GIT_COMMON_DIR)(=|\Z)")
# Config keys that read another file, which may define an alias (section names ignore case).
_GIT_INCLUDE_KEYS = ("include.", "includeif.")
# git's own commands: git ignores an alias of the same name, so config read from a file (-c
# include.path, --git-dir, HOME=..) cannot make one of these run another (git --list-cmds=builtins).
_GIT_OWN = frozenset(
    {
        "add",
        "am",
        "annotate",
        "apply",
        "archive",
        "bisect",
        "blame",
        "branch",
        "bugreport",
        "bundle",
        "cat-file",
        "check-attr",
        "check-ignore",
        "check-mailmap",
        "check-ref-format",
        "checkout",
        "checkout-index",
        "cherry",
        "cherry-pick",
        "clean",
        "clone",
        "column",
        "commit",
        "commit-graph",
        "commit-tree",
        "config",
        "count-objects",
        "credential",
        "credential-cache",
        "credential-store",
        "describe",
        "diagnose",
        "diff",
        "diff-files",
        "diff-index",
        "diff-tree",
        "difftool",
        "fast-export",
        "fast-import",
        "fetch",
        "fetch-pack",
        "filter-branch",
        "fmt-merge-msg",
        "for-each-ref",
        "for-each-repo",
        "format-patch",
        "fsck",
        "fsck-objects",
        "gc",
        "get-tar-commit-id",
        "grep",
        "hash-object",
        "help",
        "hook",
        "index-pack",
        "init",
        "init-db",
        "interpret-trailers",
        "log",
        "ls-files",
        "ls-remote",
        "ls-tree",
        "mailinfo",
        "mailsplit",
        "maintenance",
        "merge",
        "merge-base",
        "merge-file",
        "merge-index",
        "merge-ours",
        "merge-recursive",
        "merge-recursive-ours",
        "merge-recursive-theirs",
        "merge-subtree",
        "merge-tree",
        "mergetool",
        "mktag",
        "mktree",
        "multi-pack-index",
        "mv",
        "name-rev",
        "notes",
        "pack-objects",
        "pack-redundant",
        "pack-refs",
        "patch-id",
        "pickaxe",
        "prune",
        "prune-packed",
        "pull",
        "push",
        "range-diff",
        "read-tree",
        "rebase",
        "receive-pack",
        "reflog",
        "refs",
        "remote",
        "remote-ext",
        "remote-fd",
        "repack",
        "replace",
        "replay",
        "request-pull",
        "rerere",
        "reset",
        "restore",
        "rev-list",
        "rev-parse",
        "revert",
        "rm",
        "send-pack",
        "shortlog",
        "show",
        "show-branch",
        "show-index",
        "show-ref",
        "sparse-checkout",
        "stage",
        "stash",
        "status",
        "stripspace",
        "submodule",
        "switch",
        "symbolic-ref",
        "tag",
        "unpack-file",
        "unpack-objects",
        "update-index",
        "update-ref",
        "update-server-info",
        "upload-archive",
        "upload-pack",
        "var",
        "verify-commit",
        "verify-pack",
        "verify-tag",
        "version",
        "whatchanged",
        "worktree",
        "write-tree",
    }
)

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
            sub = _git_subcommand(argv) or argv[:2]  # None: right after git, or none known
            if len(sub) < 2 or sub[1] not in _GIT_OWN:
                return True
    return False


def _git_environment(script: Script, runs: Runs) -> None:
    """git config set in the environment by the line itself (a prefix, an assignment then export),
    or moved to files the line names (``HOME=.``: an alias in ``./.gitconfig``)."""
    if any(_GIT_CONFIG.match(name) for name in script.assigned) and any(
        _runs_git(simple.words) for simple in script.commands
    ):
        runs.fail("git with config from the environment (GIT_CONFIG_*)")
    if any(_GIT_CONFIG_FILES.match(name) for name in script.assigned) and any(
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
        elif name in _SUBSCRIPT_BUILTINS and _evaluates(name, argv):
            runs.fail(f"{name} evaluates its arguments as code (array subscripts, callbacks)")
        if any(isinstance(w, str) and _GIT_CONFIG.match(w) and "=" in w for w in argv[1:]) and _runs_git(
            argv[1:]
        ):
            runs.fail("git with config from the environment (env GIT_CONFIG_*=..)")
        if any(
            isinstance(w, str) and _GIT_CONFIG_FILES.match(w) and "=" in w for w in argv[1:]
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
            sub = _git_subcommand(argv)
            if sub is not None:
                runs.argvs.append(sub)
            if _git_alias(argv):
                runs.fail("git with an alias (or config from the environment) on its command line")
            _git_commands(sub or argv, depth, runs, shell)
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


_GIT_VALUED = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env"}
)


def _git_subcommand(argv: tuple[Word, ...]) -> tuple[Word, ...] | None:
    """``git -C dir -c k=v push`` is also considered as ``git push`` (global options set aside)."""
    k = 1
    while k < len(argv):
        word = argv[k]
        if isinstance(word, Dyn):
            return None  # matching the line as written already cannot tell
        if word in _GIT_VALUED:
            k += 2
        elif word.startswith("-"):
            k += 1
        else:
            return None if k == 1 else (argv[0], *argv[k:])
    return None


def _git_commands(argv: tuple[Word, ...], depth: int, runs: Runs, shell: str) -> None:
    """What ``git SUBCOMMAND ...`` runs itself: ``bisect run`` an argv; ``rebase -x/--exec``,
    ``submodule foreach`` and ``filter-branch``'s ``--*-filter`` options a script for sh."""
    sub, args = (argv[1], argv[2:]) if len(argv) > 1 else (None, ())
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


def _git_alias(argv: tuple[Word, ...]) -> bool:
    """Whether git's global options may define an alias: ``-c alias.p=push`` makes ``git p`` a push
    (section and key names ignore case); ``--config-env`` and run-time words may hold one. Config
    read from a file (``-c include.path=f``, ``--git-dir``: another repository's) may too, which
    matters unless the subcommand is one of git's own (an alias never renames those)."""
    from_file = False
    k = 1
    while k < len(argv):
        word = argv[k]
        if isinstance(word, Dyn):
            return True
        value: Word | None = None
        if word in ("-c", "--config-env"):
            value = argv[k + 1] if k + 1 < len(argv) else None
            k += 2
        elif word.startswith("--config-env="):
            return True
        elif word.startswith("--git-dir"):
            from_file = True
            k += 1 if "=" in word else 2
            continue
        elif word in _GIT_VALUED:
            k += 2
            continue
        elif word.startswith("-"):
            k += 1
            continue
        else:  # the subcommand: later words are its own
            return from_file and word not in _GIT_OWN
        if word == "--config-env" or isinstance(value, Dyn):
            return True
        if value is not None and value.lower().startswith("alias."):
            return True
        from_file = from_file or (value is not None and value.lower().startswith(_GIT_INCLUDE_KEYS))
    return False


def _evaluates(name: str, argv: tuple[Word, ...]) -> bool:
    """Whether a name argument may hold an array subscript (``a[$(cmd)]``) or ``-C`` a callback.

    A word known only at run time in a name position may be one (``printf -v "$n"``)."""
    args = argv[1:]
    if name == "let" or (
        name not in _NO_ASSIGNMENT and any(isinstance(w, str) and integer_value(w) for w in args)
    ):
        return True  # read OPTIND, printf -v RANDOM, export OPTIND=x: the value is arithmetic
    if name == "printf":
        return _printf_name_evaluates(args)
    if name in ("test", "["):
        return _test_evaluates(args)
    if name == "wait":
        option_p = any(isinstance(w, str) and w.startswith("-") and "p" in w for w in args)
        if any(isinstance(w, Dyn) and (option_p or w.multi or k < len(args) - 1)
               for k, w in enumerate(args)):  # fmt: skip
            return True
    elif any(isinstance(w, Dyn) for w in args):
        return True  # read "$n", read a* (a file may be named 'a[$(cmd)]')
    for word in args:
        if not isinstance(word, str):
            continue
        if "[" in word:
            return True
        if name in ("mapfile", "readarray") and word[:1] == "-" and word[1:2] != "-" and "C" in word:
            return True  # -C callback, also in a cluster: -tC 'cmd'
    return False


def _printf_name_evaluates(args: tuple[Word, ...]) -> bool:
    """``printf -v name``: the name (attached or the next word); a run-time word may be ``-v...``."""
    k = 0
    while k < len(args):
        word = args[k]
        if isinstance(word, Dyn):
            return True  # "$fmt" may be -va[$(cmd)]; a glob may expand to -v and a name
        if word == "--" or not word.startswith("-v"):
            return False
        target = word[2:] if len(word) > 2 else (args[k + 1] if k + 1 < len(args) else "")
        if isinstance(target, Dyn) or "[" in target:
            return True
        k += 1 if len(word) > 2 else 2
    return False


def _test_evaluates(args: tuple[Word, ...]) -> bool:
    """``test -v name`` / ``[ -R name ]``; a run-time word (or a glob over file names) may split
    into, or be, ``-v`` and the name."""
    if any(isinstance(w, str) and "[" in w for w in args):
        return True
    dyn = {k: w for k, w in enumerate(args) if isinstance(w, Dyn)}
    if not dyn:
        return False
    if any(w in ("-v", "-R") for w in args):
        return True
    return any(w.multi or k + 1 in dyn for k, w in dyn.items())


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
