"""git's own reading of its command line: which words are its global options and subcommand, and
where config that may define an alias comes from (``-c alias.p=push``, the environment, files).

Apart from ``_shellruns`` because it is a table of git's commands and options, read by pure functions
of one argv; ``_shellruns`` decides what to do with the answers (consider ``git push`` for
``git -C dir push``, record that an alias cannot be followed).
"""

from __future__ import annotations

import re

from agentguard.policy._shell import Dyn, Word

__all__ = [
    "GIT_CONFIG",
    "GIT_CONFIG_FILES",
    "GIT_OWN",
    "git_alias",
    "git_dashed",
    "git_subcommand",
    "subtree_command",
]

# git reads config (aliases: GIT_CONFIG_KEY_0=alias.p GIT_CONFIG_VALUE_0=push git p) from these,
GIT_CONFIG = re.compile(r"GIT_CONFIG(_[A-Za-z0-9_]*)?(=|\Z)")
# and its global and repository config from files these name (HOME=. reads ./.gitconfig).
GIT_CONFIG_FILES = re.compile(r"(HOME|XDG_CONFIG_HOME|GIT_DIR|GIT_COMMON_DIR)(=|\Z)")
# Config keys that read another file, which may define an alias (section names ignore case).
_GIT_INCLUDE_KEYS = ("include.", "includeif.")
# git's own commands: git ignores an alias of the same name, so config read from a file (-c
# include.path, --git-dir, HOME=..) cannot make one of these run another (git --list-cmds=builtins).
GIT_OWN = frozenset(
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

_GIT_VALUED = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env"}
)


def git_subcommand(argv: tuple[Word, ...]) -> tuple[Word, ...] | None:
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


def git_alias(argv: tuple[Word, ...]) -> bool:
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
            return from_file and word not in GIT_OWN
        if word == "--config-env" or isinstance(value, Dyn):
            return True
        if value is not None and value.lower().startswith("alias."):
            return True
        from_file = from_file or (value is not None and value.lower().startswith(_GIT_INCLUDE_KEYS))
    return False


def git_dashed(argv: tuple[Word, ...], name: str) -> tuple[Word, ...] | None:
    """``git-send-pack ...`` (git's own programs under ``git-core``, ``git-lfs`` on the PATH) is also
    considered as ``git send-pack ...``: the program a subcommand runs, called by its own name."""
    if not name.startswith("git-") or len(name) == 4:
        return None
    return ("git", name[4:], *argv[1:])


# git-subtree's options that take the next word as their value (``-P docs``, ``--prefix docs``).
_SUBTREE_VALUED = frozenset({"-P", "--prefix", "-m", "--message", "-b", "--branch", "--onto", "--annotate"})


def subtree_command(argv: tuple[Word, ...]) -> tuple[Word, ...] | None:
    """``git subtree -q -P docs push ...`` is also considered as ``git subtree push ...``: git-subtree
    reads its options anywhere (``rev-parse --parseopt``), its first other word is the command."""
    if len(argv) < 3 or argv[1] != "subtree":
        return None
    k = 2
    while k < len(argv):
        word = argv[k]
        if isinstance(word, Dyn):
            return None  # matching the line as written already cannot tell
        if word == "--":
            k += 1
            break
        if word in _SUBTREE_VALUED:
            k += 2
        elif word.startswith("-"):
            k += 1
        else:
            break
    if k == 2 or k >= len(argv):
        return None
    return (argv[0], argv[1], *argv[k:])
