"""The pre-commit framework's configuration, when an installed hook runs it.

``pre-commit install`` writes a hook that runs ``pre-commit hook-impl``, which reads
``.pre-commit-config.yaml`` from the working tree and runs its hooks: those of a ``repo: local`` run
their ``entry`` command line, often a working-tree script (``entry: python tools/check.py``). Code in
a rw sandbox could add such a hook, or rewrite the script. So when a hook file of the repository
mentions ``pre-commit``, the configuration (``.pre-commit-config.yaml`` and ``.yml`` at each top
level, there or not) is kept, and the files its local hooks' entries and ``args`` name (read as
``_gitcommands`` reads a configured command). A configuration that cannot be read refuses the rw
workspace; another file given by ``--config`` in a hand-written hook is not seen (docs/sandbox.md).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

import yaml

from agentguard.errors import SandboxError
from agentguard.sandbox._gitcommands import CannotTellRun, argv_paths

__all__ = ["CONFIG_NAMES", "precommit_paths"]

CONFIG_NAMES = (".pre-commit-config.yaml", ".pre-commit-config.yml")
_MARK = b"pre-commit"
_READ = 64 * 1024  # the framework's hook names itself near its top
# languages whose entry is not a command line (a regular expression; a message)
_NOT_COMMANDS = frozenset({"pygrep", "fail"})


def precommit_paths(hook_dirs: Iterable[Path], tops: list[Path], root: Path, *, strict: bool) -> list[Path]:
    """The framework's configuration files at each top level and what their local hooks run, when
    a hook in ``hook_dirs`` mentions the framework; else nothing."""
    if not any(_mentions(directory) for directory in hook_dirs):
        return []
    found: list[Path] = []
    for top in tops:
        for name in CONFIG_NAMES:
            config = top / name
            found.append(config)
            if config.is_file():
                found.extend(_local_entries(config, tops, root, strict=strict))
    return found


def _mentions(directory: Path) -> bool:
    """Whether a hook file in ``directory`` (samples aside: git never runs them) names the framework."""
    try:
        with os.scandir(directory) as listing:
            files = [entry.path for entry in listing if not entry.name.endswith(".sample")]
    except OSError:
        return False
    for file in files:
        try:
            with open(file, "rb") as handle:
                if _MARK in handle.read(_READ).lower():
                    return True
        except OSError:
            continue
    return False


def _local_entries(config: Path, tops: list[Path], root: Path, *, strict: bool) -> list[Path]:
    try:
        data = yaml.safe_load(config.read_text("utf-8"))
        hooks = [
            hook
            for repo in (data or {}).get("repos", [])
            if isinstance(repo, dict) and repo.get("repo") == "local"
            for hook in repo.get("hooks", [])
        ]
        found: list[Path] = []
        for hook in hooks:
            if not isinstance(hook, dict) or hook.get("language") in _NOT_COMMANDS:
                continue
            entry, args = hook.get("entry", ""), hook.get("args", [])
            if not isinstance(entry, str) or not isinstance(args, list):
                raise CannotTellRun(f"hook {hook.get('id')!r}: entry or args of an unexpected type")
            try:  # the framework splits the entry with shlex and appends the args: no shell
                argv = shlex.split(entry) + [str(arg) for arg in args]
            except ValueError as exc:
                raise CannotTellRun(f"hook {hook.get('id')!r}: {exc}") from None
            found.extend(argv_paths(argv, tops, root))
    except (OSError, UnicodeError, yaml.YAMLError, AttributeError, TypeError, CannotTellRun) as exc:
        if not strict:
            return []
        raise SandboxError(
            f"{config}: an installed git hook runs the pre-commit framework, which runs what this file "
            f"names, and it cannot be read ({exc}); refusing the rw workspace (code in the sandbox "
            "could rewrite the scripts it runs)",
            path=str(config),
        ) from None
    return found
