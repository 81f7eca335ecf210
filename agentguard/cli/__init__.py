"""The ``agentguard`` command: one module per command group, all thin over the public API."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from agentguard.cli.context import AppContext

__all__ = ["main"]

# (module, attribute) of each command or group; a group lives in its own module.
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("agentguard.cli.policy", "policy"),
    ("agentguard.cli.audit", "audit"),
    ("agentguard.cli.init", "init"),
    ("agentguard.cli.demo", "demo"),
    ("agentguard.cli.sandbox", "sandbox"),
    ("agentguard.cli.approvals", "approvals"),
    ("agentguard.cli.approvals", "grants"),
    ("agentguard.cli.approve", "approve"),
    ("agentguard.cli.mcp_proxy", "mcp_proxy"),
    ("agentguard.cli.serve", "serve"),
    ("agentguard.cli.db", "db"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENTGUARD_HOME",
    help="State directory: audit log, approval queue. [env: AGENTGUARD_HOME; default: ~/.agentguard]",
)
@click.option(
    "--policy",
    "policy_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENTGUARD_POLICY",
    help="Permissions directory (model.conf + *.csv). [env: AGENTGUARD_POLICY; default: ./permissions, "
    "else the shipped default policy]",
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENTGUARD_WORKSPACE",
    help="Workspace root that {workspace} in path rules means. [default: the current directory]",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file. [default: ./agentguard.toml if present]",
)
@click.option(
    "--database-url",
    envvar="AGENTGUARD_DATABASE_URL",
    help="postgresql://... : approvals, grants and audit in that shared database (docs/deployment.md). "
    "[env: AGENTGUARD_DATABASE_URL; default: SQLite and files in the home]",
)
@click.version_option(package_name="agentguard")
@click.pass_context
def main(
    ctx: click.Context,
    home: Path | None,
    policy_dir: Path | None,
    workspace: Path | None,
    config_file: Path | None,
    database_url: str | None,
) -> None:
    """agentguard: every tool call an agent makes is checked against policy, approved by a
    person when the rule says so, run sandboxed, and written to a tamper-evident audit log.

    \b
    Start here:
      agentguard demo                      the whole pipeline on a scripted agent
      agentguard init                      scaffold permissions/ and agentguard.toml
      agentguard policy explain --tool fs.read --args '{"path": "README.md"}'
      agentguard audit verify              check the audit log's hash chain
    """
    ctx.obj = AppContext(
        config_file=config_file,
        overrides={
            "home": home,
            "policy_dir": policy_dir,
            "workspace": workspace,
            "database_url": database_url,
        },
    )


def _register() -> None:
    for module_name, attr in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command group not built yet
            raise
        main.add_command(getattr(module, attr))


_register()
