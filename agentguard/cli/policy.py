"""``agentguard policy``: explain a decision, lint the policy, run a table of expected decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
import yaml
from pydantic import ValidationError

from agentguard.approval import settings_grant_source
from agentguard.cli.context import AppContext, fail, pass_app, reports_errors
from agentguard.database import Database, check_schema
from agentguard.models import Decision, ToolCall
from agentguard.policy import (
    LintFinding,
    PolicyEngine,
    StoredPolicy,
    load_cases,
    pull_policy,
    push_policy,
    run_cases,
)
from agentguard.policy._engine import check_policy
from agentguard.policy._session_spec import SessionSpec, build_session
from agentguard.session._evidence import collecting_evidence

__all__ = ["policy"]


def _engine(app: AppContext, *, include_grants: bool = True) -> PolicyEngine:
    grants = settings_grant_source(app.settings) if include_grants else None
    if app.settings.policy.source == "database":  # the newest pushed version, written under the home
        return StoredPolicy(app.settings, grants=grants).engine
    return PolicyEngine.from_settings(app.settings, grants=grants)


def _database(app: AppContext) -> Database:
    url = app.settings.database_url
    if url is None:
        fail("no database_url is set (agentguard.toml, AGENTGUARD_DATABASE_URL or --database-url)")
        raise AssertionError  # fail exits
    return Database(url, max_size=1)


def _dump(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


@click.group()
def policy() -> None:
    """Inspect and test the permission policy (model.conf + *.csv in the policy directory).

    \b
    agentguard policy explain --tool fs.read --args '{"path": "README.md"}'
    agentguard policy check --strict
    agentguard policy test permissions/cases.yaml

    The policy directory is --policy / AGENTGUARD_POLICY, else ./permissions, else the shipped
    default; grants from `approvals approve --always` (the approval store in <home>) are loaded too.
    """


@policy.command()
@click.option("--agent", help="Agent name the call comes from. [default: settings' agent]")
@click.option("--tool", required=True, help="Tool name, e.g. fs.read or shell.run.")
@click.option("--args", "args_json", default="{}", show_default=True, help="Tool arguments as a JSON object.")
@click.option(
    "--session",
    "session_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Decide inside this session (YAML/JSON: user_request, vouched, results); shows the evidence.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@pass_app
def explain(
    app: AppContext, agent: str | None, tool: str, args_json: str, session_file: Path | None, as_json: bool
) -> None:
    """Show the effect a call would get, the rule that decides it and every rule that matches.

    Nothing runs and nobody is asked: this is the policy's verdict alone. With --session the call
    is decided inside that session, and provenance conditions say where each value came from.
    """
    try:
        arguments = orjson.loads(args_json)
    except orjson.JSONDecodeError as exc:
        fail(f"--args is not valid JSON: {exc}")
    if not isinstance(arguments, dict):
        fail(f'--args must be a JSON object like \'{{"path": "x"}}\', got {type(arguments).__name__}')
    evidence: list[str] = []
    with reports_errors():
        engine = _engine(app)
        call = ToolCall(agent=agent or app.settings.agent, tool=tool, arguments=arguments)
        if session_file is None:
            decision = engine.decide(call)
        else:
            session = build_session(_session_spec(session_file), engine)
            with session.active(), collecting_evidence() as evidence:
                decision = engine.decide(call)
    if as_json:
        click.echo(_dump({**_decision_json(call, decision), "evidence": evidence}))
        return
    click.echo(
        f"effect:   {click.style(decision.effect.value, fg=_COLOUR[decision.effect.value], bold=True)}"
    )
    click.echo(f"rule:     {f'{decision.rule}  {decision.rule.text}' if decision.rule else '(none)'}")
    click.echo(f"reason:   {decision.reason}")
    if decision.sandbox_profile:
        click.echo(f"sandbox:  {decision.sandbox_profile}")
    if decision.approval_timeout_s is not None:
        click.echo(f"timeout:  {decision.approval_timeout_s:g}s")
    roles = sorted(engine.roles_of(call.agent) - {call.agent})
    click.echo(f"agent:    {call.agent}" + (f" (roles: {', '.join(roles)})" if roles else ""))
    if decision.matched:
        click.echo("matched:")
        for ref in decision.matched:
            click.echo(f"  {ref}  {ref.text}")
    else:
        click.echo("matched:  (no rule)")
    if evidence:
        click.echo("evidence:")
        for line in evidence:
            click.echo(f"  {line}")


def _session_spec(path: Path) -> SessionSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return SessionSpec.model_validate(data or {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError) as exc:
        fail(f"--session {path}: {exc}")
        raise  # not reached: fail() exits


_COLOUR = {"allow": "green", "ask": "yellow", "deny": "red"}


def _decision_json(call: ToolCall, decision: Decision) -> dict[str, Any]:
    return {
        "agent": call.agent,
        "tool": call.tool,
        "arguments": call.arguments,
        "effect": decision.effect.value,
        "rule": str(decision.rule) if decision.rule else None,
        "rule_text": decision.rule.text if decision.rule else None,
        "reason": decision.reason,
        "matched": [{"rule": str(ref), "text": ref.text} for ref in decision.matched],
        "sandbox_profile": decision.sandbox_profile,
        "approval_timeout_s": decision.approval_timeout_s,
    }


@policy.command()
@click.option("--strict", is_flag=True, help="Also fail (exit 1) on warnings.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every finding.")
@pass_app
def check(app: AppContext, strict: bool, as_json: bool) -> None:
    """Load the policy and lint it: errors stop it from loading, warnings flag likely mistakes.

    \b
    Errors: syntax, unknown functions, wrong arity, bad effects, column counts, bad model.
    Warnings: duplicates, rules that can never take effect, role cycles, allow for every tool.
    Exit status: 1 on errors (and on warnings with --strict), else 0.
    """

    with reports_errors():
        settings = app.settings
        directory = settings.resolved_policy_dir()
        findings, loaded = check_policy(
            directory,
            workspace=settings.workspace,
            grants=settings_grant_source(settings),
            state_dir=settings.home,
        )
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    failed = bool(errors) or (strict and bool(warnings))
    if as_json:
        click.echo(
            _dump(
                {
                    "directory": str(directory),
                    "ok": not failed,
                    "errors": len(errors),
                    "warnings": len(warnings),
                    "findings": [f.model_dump() for f in findings],
                }
            )
        )
    else:
        for finding in findings:
            click.echo(_finding_line(finding), err=finding.severity == "error")
        summary = f"{directory}: {len(errors)} error(s), {len(warnings)} warning(s)"
        if not errors:  # counted from the same load (building an engine again doubled the time)
            files = [f for f in loaded.files if f.exists()]
            summary += f"; {len(loaded.rules)} rules, {len(loaded.links)} role links in {len(files)} file(s)"
        click.secho(summary, fg="red" if failed else "green", err=failed)
    if failed:
        raise SystemExit(1)


def _finding_line(finding: LintFinding) -> str:
    colour = "red" if finding.severity == "error" else "yellow"
    where = f"{finding.file}:{finding.line}" if finding.line else finding.file
    return f"{where}: {click.style(finding.severity, fg=colour)}: {finding.message} [{finding.code}]"


@policy.command("test")
@click.argument("cases_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every result.")
@pass_app
def test_cases(app: AppContext, cases_file: Path, as_json: bool) -> None:
    """Run a YAML table of calls against the policy and report every mismatch.

    \b
    CASES_FILE is a YAML list; each case:
      - name: read inside the workspace     # optional
        agent: coder                        # optional, default: settings' agent
        tool: fs.read
        args: {path: README.md}
        expect: allow                       # allow | ask | deny
        rule: policy.csv:17                 # optional; null = no rule may match
    Grants (from the approval store) are not loaded, so results depend on the policy files alone.
    Exit status: 1 on any mismatch, 2 when the file or the policy cannot be read.
    """
    if not cases_file.is_file():
        fail(f"{cases_file}: no such file")
    with reports_errors():
        cases = load_cases(cases_file)
        engine = _engine(app, include_grants=False)
        results = run_cases(engine, cases, default_agent=app.settings.agent)
    failures = [r for r in results if not r.ok]
    if as_json:
        click.echo(
            _dump(
                {
                    "file": str(cases_file),
                    "total": len(results),
                    "failed": len(failures),
                    "results": [
                        {
                            "index": r.case.index,
                            "line": r.case.line,
                            "name": r.case.label,
                            "ok": r.ok,
                            "expect": r.case.expect.value,
                            "effect": r.decision.effect.value,
                            "expect_rule": r.case.rule,
                            "rule": r.decision.rule_id,
                            "reason": r.decision.reason,
                        }
                        for r in results
                    ],
                }
            )
        )
    else:
        for r in failures:
            got = f"{r.decision.effect.value} by {r.decision.rule_id}"
            want = r.case.expect.value + (f" by {r.case.rule}" if r.case.rule else "")
            click.echo(f"{cases_file}:{r.case.line}: FAIL {r.case.label}: expected {want}, got {got}")
            click.echo(f"    reason: {r.decision.reason}")
        passed = len(results) - len(failures)
        click.secho(
            f"{passed}/{len(results)} cases passed" + (f", {len(failures)} failed" if failures else ""),
            fg="red" if failures else "green",
        )
    if failures:
        raise SystemExit(1)


@policy.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--as", "who", help="Who pushed it, recorded with the version. [default: the OS user name]")
@pass_app
def push(app: AppContext, directory: Path, who: str | None) -> None:
    """Store DIRECTORY's policy in the shared database as a new version (it must load first).

    Agents with policy.source = "database" load it at their next call (woken by a notification).
    """
    from agentguard.approval import current_user

    with reports_errors():
        database = _database(app)
        try:
            check_schema(database)
            version = push_policy(
                database, directory, workspace=app.settings.workspace, pushed_by=who or current_user()
            )
        finally:
            database.close()
    click.echo(f"{database.label}: policy version {version} pushed from {directory}")


@policy.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version", type=int, help="A stored version. [default: the newest]")
@pass_app
def pull(app: AppContext, directory: Path, version: int | None) -> None:
    """Write a policy version from the shared database into DIRECTORY (files are replaced)."""
    with reports_errors():
        database = _database(app)
        try:
            check_schema(database)
            got = pull_policy(database, directory, version=version)
        finally:
            database.close()
    click.echo(f"{database.label}: policy version {got} written to {directory}")
