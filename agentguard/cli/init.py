"""``agentguard init``: scaffold ``permissions/`` and ``agentguard.toml`` in a project."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click

from agentguard.cli.context import fail
from agentguard.settings import DEFAULT_POLICY_DIR, SETTINGS_FILE

__all__ = ["init"]

SETTINGS_TEMPLATE = """\
# agentguard settings. Precedence (lowest first): this file, environment variables, command-line flags.

# State directory: audit log, approval queue, grants. [env: AGENTGUARD_HOME]
# home = "~/.agentguard"

# Permissions directory: model.conf plus every *.csv in it. [env: AGENTGUARD_POLICY]
policy_dir = "permissions"

# The directory {workspace} means in path rules, and the one sandboxes may mount. [env: AGENTGUARD_WORKSPACE]
workspace = "."

# What happens when no rule matches: deny (safe) or ask. [env: AGENTGUARD_DEFAULT_EFFECT]
default_effect = "deny"

# Agent name used when a call does not say. [env: AGENTGUARD_AGENT]
agent = "agent"

[audit]
# fsync: every record is on disk before the call goes on. batch: written in the background; a crash
# loses the records still queued (at most batch_size).
durability = "fsync"
batch_size = 4096

[approval]
# Seconds a call waits for a person before on_timeout applies (a rule's timeout(N) overrides it).
timeout_s = 300
on_timeout = "deny"

[policy]
# Do path() rules fold case (.ENV is .env)? "auto" probes the workspace's file system; true on
# macOS/Windows-style file systems, false on case-sensitive ones. [env: AGENTGUARD_CASE_INSENSITIVE_PATHS]
case_insensitive_paths = "auto"

[sandbox]
default_profile = "default"
pool_size = 2

# Built-in profiles: "default" (no workspace), "workspace-ro", "workspace-rw". Define more here and
# choose one per rule with the policy annotation sandbox("NAME"); every loosening is audited.
# [sandbox.profiles.build]
# workspace = "rw"
# memory_mb = 1024
# timeout_s = 120
"""


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: Path, force: bool) -> None:
    """Scaffold permissions/ (model.conf, policy.csv) and agentguard.toml in DIRECTORY.

    Nothing is overwritten unless --force; either every file is written or none is.
    """
    directory = directory.resolve()
    shipped = sorted(p for p in DEFAULT_POLICY_DIR.iterdir() if p.is_file())
    targets = {directory / "permissions" / p.name: p for p in shipped}
    settings_path = directory / SETTINGS_FILE
    existing = [p for p in [*targets, settings_path] if p.exists()]
    if existing and not force:
        fail(
            "refusing to overwrite "
            + ", ".join(str(p.relative_to(directory)) for p in existing)
            + " (use --force)",
            code=1,
        )
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".agentguard-init-", dir=directory))
    try:
        (staging / "permissions").mkdir()
        for target, source in targets.items():
            shutil.copyfile(source, staging / "permissions" / target.name)
        (staging / SETTINGS_FILE).write_text(SETTINGS_TEMPLATE, encoding="utf-8")
        (directory / "permissions").mkdir(exist_ok=True)
        for target in targets:
            os.replace(staging / "permissions" / target.name, target)
        os.replace(staging / SETTINGS_FILE, settings_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path in [*targets, settings_path]:
        click.echo(f"wrote {path.relative_to(directory)}")
    click.echo("next: edit permissions/policy.csv, then `agentguard policy check`")
