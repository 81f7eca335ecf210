"""``agentguard sandbox``: build the images, check the setup, list and reap containers, run code."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click
import orjson

from agentguard.cli.context import AppContext, pass_app, reports_errors
from agentguard.errors import ConfigError
from agentguard.settings import Settings

__all__ = ["sandbox"]

# Exit codes of `sandbox run` for the ways an execution can end (a program's own code otherwise).
EXIT_FOR_REASON = {"timeout": 124, "output_limit": 125, "oom": 137, "error": 3}


def _echo_json(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str).decode())


def _settings(app: AppContext, base: str | None = None) -> Settings:
    settings = app.settings
    if base is not None:
        settings = settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update={"base": base})})
    return settings


@click.group()
def sandbox() -> None:
    """The Docker sandbox that python.exec and shell.run execute in.

    \b
    First time:   agentguard sandbox build     (offline: debootstraps a Debian base)
    Check it:     agentguard sandbox doctor
    Try it:       agentguard sandbox run --lang python --code 'print(6*7)'
    Clean up:     agentguard sandbox reap      (containers of processes that died)
    """


@sandbox.command()
@click.option("--force", is_flag=True, help="Rebuild even when the recipes have not changed.")
@click.option(
    "--base",
    type=click.Choice(["auto", "debootstrap", "pull"]),
    default=None,
    help="Where the base image comes from. auto: one already in the engine, else debootstrap "
    "(Debian's package archive, no registry); pull: let the engine pull the recipe's FROM. "
    "[default: [sandbox] base, i.e. auto]",
)
@click.option(
    "--pip",
    "pip_packages",
    multiple=True,
    metavar="PKG",
    help="Also build a derived image with this PyPI package (repeatable), e.g. an MCP server for "
    "`mcp-proxy --sandbox`. Fetched by pip on this host, installed in a build without network.",
)
@click.option("--tag", help="Name of the derived image (with --pip), e.g. mcp-time.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the image status.")
@pass_app
def build(
    app: AppContext,
    force: bool,
    base: str | None,
    pip_packages: tuple[str, ...],
    tag: str | None,
    as_json: bool,
) -> None:
    """Build the sandbox images (python, shell) from sandbox_images/.

    Rebuilds only when a recipe changed (its content hash is an image label). The debootstrapped
    root filesystem is cached under the state directory, so a rebuild after `docker rmi` is fast.
    With --pip PKG --tag NAME, also builds NAME: the python image plus those packages.
    """
    if bool(pip_packages) != bool(tag):
        raise click.UsageError("--pip PKG and --tag NAME go together")
    from rich.console import Console

    from agentguard.cli._first_run import build_display
    from agentguard.sandbox import build_images
    from agentguard.sandbox._engine import connect

    with reports_errors():
        settings = _settings(app, base)
        client = connect(settings.sandbox.docker_host)
        console = Console(stderr=True, quiet=as_json)
        with build_display(console) as display:
            statuses = build_images(
                client.api,
                settings.sandbox,
                cache_dir=settings.home / "sandbox",
                progress=display.event,
                force=force,
            )
            derived = None
            if tag is not None:
                from agentguard.sandbox._derived import build_derived

                derived = build_derived(
                    client.api, settings.sandbox, pip_packages, tag, progress=display.event
                )
        client.close()
    if as_json:
        out: dict[str, Any] = {"images": [dataclasses.asdict(s) for s in statuses]}
        if derived is not None:
            out["derived"] = {"tag": tag, "id": derived, "packages": list(pip_packages)}
        _echo_json(out)
        return
    if derived is not None:
        click.echo(f"✓ {tag} ({derived[7:19]}): {' '.join(pip_packages)}")
    for st in statuses:
        ok = st.present and st.up_to_date
        click.echo(f"{'✓' if ok else '✗'} {st.image} ({(st.built_hash or '-')[:12]})")


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every check.")
@pass_app
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the engine, the images and a probe container's hardening (exit 1 if anything fails).

    The probe is a real container of the default profile: its `docker inspect` is checked against
    the CIS Docker Benchmark container-runtime items, and code inside it confirms non-root, no
    capabilities, no-new-privileges, seccomp, a read-only root and a network with only loopback.
    """
    from agentguard.sandbox import DoctorCheck, Sandbox
    from agentguard.tools.egress import EgressProxy

    checks: list[DoctorCheck]
    with reports_errors():
        settings = app.settings
        quiet = settings.sandbox.model_copy(update={"pool_size": 0})
        egress = EgressProxy()  # a network = "policy" default profile probes through it (no call: no way out)
        try:
            with Sandbox(quiet, workspace=settings.workspace, reap_orphans=False, egress=egress) as sb:
                checks = sb.doctor()
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
            checks = [DoctorCheck(name="engine reachable", ok=False, detail=str(exc))]
        finally:
            egress.close()
    failed = [c for c in checks if not c.ok and not c.warning]
    if as_json:
        _echo_json({"ok": not failed, "checks": [c.model_dump() for c in checks]})
    else:
        for c in checks:
            mark = click.style("✓", fg="green") if c.ok else click.style("!" if c.warning else "✗", fg="red")
            click.echo(f"{mark} {c.name}: {c.detail}")
        click.echo("all checks passed" if not failed else f"{len(failed)} check(s) failed")
    if failed:
        sys.exit(1)


@sandbox.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one per container.")
@pass_app
def ps(app: AppContext, as_json: bool) -> None:
    """List agentguard's sandbox containers (label io.agentguard.managed=true)."""
    from agentguard.sandbox import list_managed
    from agentguard.sandbox._engine import connect

    with reports_errors():
        client = connect(app.settings.sandbox.docker_host)
        rows = list_managed(client.api)
        client.close()
    if as_json:
        for row in rows:
            _echo_json({**dataclasses.asdict(row), "orphaned": row.orphaned})
        return
    if not rows:
        click.echo("no sandbox containers")
        return
    click.echo(f"{'CONTAINER':12}  {'LANG':6}  {'PROFILE':10}  {'CALL':12}  {'OWNER':14}  STATUS")
    for r in rows:
        owner = f"{r.owner_pid}" + {True: "", False: " (dead)", None: f"@{r.owner_host}"}[r.owner_alive]
        call = "(warm pool)" if r.pool else r.call_id[:12]
        click.echo(
            f"{r.id[:12]}  {r.language:6}  {r.profile[:10]:10}  {call:12}  {owner[:14]:14}  {r.status}"
        )


@sandbox.command()
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Remove every agentguard container, also those of running processes (stops their calls).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object listing what was removed.")
@pass_app
def reap(app: AppContext, everything: bool, as_json: bool) -> None:
    """Remove sandbox containers whose owning process is dead (orphans).

    A Sandbox reaps orphans when it starts, so this is only needed to clean up on demand.
    """
    from agentguard.sandbox import reap as reap_containers
    from agentguard.sandbox._engine import connect

    with reports_errors():
        client = connect(app.settings.sandbox.docker_host)
        removed = reap_containers(client.api, everything=everything)
        client.close()
    if as_json:
        _echo_json({"removed": [r.id for r in removed]})
        return
    for r in removed:
        click.echo(f"removed {r.id[:12]} ({r.language}, owner pid {r.owner_pid})")
    click.echo(f"{len(removed)} container(s) removed")


@sandbox.command()
@click.option("--lang", "language", type=click.Choice(["python", "shell"]), required=True, help="Runtime.")
@click.option("--code", help="The code to run (instead of FILE).")
@click.argument("file", required=False, type=click.File("r", encoding="utf-8"))
@click.option(
    "--profile", help="Sandbox profile from [sandbox.profiles] (a policy sandbox() annotation wins)."
)
@click.option(
    "--timeout", "timeout_s", type=float, help="Wall-clock limit in seconds (overrides the profile)."
)
@click.option("--memory", "memory_mb", type=int, help="Memory limit in MB (overrides the profile).")
@click.option("--agent", help="Agent name the policy sees. [default: settings agent]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: exit_code, stdout, stderr, ...")
@pass_app
def run(
    app: AppContext,
    language: str,
    code: str | None,
    file: Any,
    profile: str | None,
    timeout_s: float | None,
    memory_mb: int | None,
    agent: str | None,
    as_json: bool,
) -> None:
    """Run code in the sandbox as an agent's python.exec / shell.run call would.

    The call goes through the guard: the policy decides (allow / ask / deny), an ask rule prompts
    on the terminal, and the call is written to the audit log. FILE may be - for stdin.

    \b
    Exit code: the program's own; 124 timeout, 125 output limit, 137 out of memory,
    3 sandbox error, 2 rejected (policy, approval) or bad usage.
    """
    from agentguard.guard import Guard
    from agentguard.sandbox import SandboxProfile, SandboxResult

    if (code is None) == (file is None):
        raise click.UsageError("give the code with --code or as FILE (one of them)")
    source = code if code is not None else file.read()
    with reports_errors():
        settings = app.settings
        sb = settings.sandbox
        name = profile or sb.default_profile
        if name not in sb.profiles:
            raise ConfigError(f"unknown sandbox profile {name!r}; defined: {', '.join(sorted(sb.profiles))}")
        chosen = name
        updates = {k: v for k, v in (("timeout_s", timeout_s), ("memory_mb", memory_mb)) if v is not None}
        if updates:
            try:
                derived = SandboxProfile.model_validate({**sb.profiles[name].model_dump(), **updates})
            except ValueError as exc:
                raise ConfigError(f"--timeout/--memory: {exc}") from exc
            chosen = f"{name}.cli"
            sb = sb.model_copy(update={"profiles": {**sb.profiles, chosen: derived}})
        sb = sb.model_copy(update={"default_profile": chosen, "pool_size": 0})
        guard = Guard.from_settings(settings.model_copy(update={"sandbox": sb}), agent=agent)
        guard.register_builtins()
        tool, args = (
            ("python.exec", {"code": source}) if language == "python" else ("shell.run", {"command": source})
        )
        result = guard.call(tool, args)
    if not isinstance(result, SandboxResult):
        raise click.ClickException(f"{tool} returned {type(result).__name__}, not a sandbox result")
    if result.profile != chosen:
        click.secho(f"note: the policy chose sandbox profile {result.profile!r}", fg="yellow", err=True)
    if as_json:
        _echo_json(result.model_dump(mode="json"))
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        if result.end_reason.value != "exited":
            click.secho(
                f"[sandbox: {result.end_reason.value}] {result.error or ''}".rstrip(), fg="red", err=True
            )
    reason = result.end_reason.value
    code_out = result.exit_code if reason == "exited" else EXIT_FOR_REASON.get(reason, 3)
    sys.exit(code_out or 0)
