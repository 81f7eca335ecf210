"""A fleet on a real network: agent hosts and an approver host, each in its own network and UTS
namespace (own host name), reach one PostgreSQL server over veth links. One agent is killed with
SIGKILL mid-wait, the server is restarted mid-run, one host is cut off the network for a while.

Checked: no answer reaches the wrong call, no answer given is contradicted by what the agent did (a
call may fail closed while the database is away: then it was not approved, or its audit record could
not be written and it did not run),
every call ends in a definite outcome and every request in a definite state, every audit record the
database acknowledged is in it, and the chain verifies. Needs root (namespaces) and PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from agentguard.database import Database, roles_sql, upgrade

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
AGENTS = 3
CALLS = 10


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, detail: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} {detail()}".rstrip())
        time.sleep(0.1)


@dataclass
class Host:
    name: str
    netns: str
    outside: str  # the veth end in the root namespace (cut it to cut the host off)
    server_ip: str  # the database's address as this host reaches it


@dataclass
class Server:
    ctl: list[str]
    options: str
    port: int

    def restart(self) -> None:
        _run(*self.ctl, "-o", self.options, "-m", "fast", "restart")


APPROVER_ROLE = "fleet_approver"


def _role(host: Host) -> str:
    """The database role ``host`` logs in as (agent hosts: one each, made by ``roles_sql``)."""
    return host.name.replace("-", "_")


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture
def fleet() -> Iterator[tuple[Server, list[Host], str]]:
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if os.geteuid() != 0 or not initdb or shutil.which("ip") is None or shutil.which("unshare") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the fleet test needs root, ip, unshare and PostgreSQL in CI")
        pytest.skip("the fleet test needs root (network namespaces), ip, unshare and PostgreSQL")
    tag = uuid.uuid4().hex[:5]
    net = random.randint(200, 250)  # a subnet this test creates and removes
    hosts = [
        Host(
            f"fleet-agent-{k}" if k <= AGENTS else "fleet-approver",
            f"agf{tag}{k}",
            f"agf{tag}{k}o",
            f"10.{net}.{k}.1",
        )
        for k in range(1, AGENTS + 2)
    ]
    base = Path(tempfile.mkdtemp(prefix="agentguard-fleet-"))
    shutil.chown(base, "postgres")
    data = base / "data"
    bin_dir = Path(initdb[-1]).parent
    made: list[Host] = []
    ctl = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60"])
    started = False
    try:
        for k, host in enumerate(hosts, start=1):
            _run("ip", "netns", "add", host.netns)
            made.append(host)
            inside = f"agf{tag}{k}i"
            _run("ip", "link", "add", host.outside, "type", "veth", "peer", "name", inside)
            _run("ip", "link", "set", inside, "netns", host.netns)
            _run("ip", "addr", "add", f"10.{net}.{k}.1/30", "dev", host.outside)
            _run("ip", "link", "set", host.outside, "up")
            _run("ip", "netns", "exec", host.netns, "ip", "addr", "add", f"10.{net}.{k}.2/30", "dev", inside)
            _run("ip", "netns", "exec", host.netns, "ip", "link", "set", inside, "up")
            _run("ip", "netns", "exec", host.netns, "ip", "link", "set", "lo", "up")
        _run(*_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]))
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all 10.{net}.0.0/16 trust\n")
        sock = __import__("socket").socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        listen = ",".join(["127.0.0.1"] + [h.server_ip for h in hosts])
        options = f"-p {port} -k {base} -c listen_addresses={listen}"
        _run(*ctl, "-o", options, "start")
        started = True
        server = Server(ctl, options, port)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE fleet")
        db = Database(f"postgresql://postgres@127.0.0.1:{port}/fleet", max_size=1)
        upgrade(db)
        db.close()
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/fleet", autocommit=True) as owner:
            owner.execute("CREATE ROLE fleet_agent NOLOGIN")  # every agent host logs in as its own role
            owner.execute(f"CREATE ROLE {APPROVER_ROLE} LOGIN")
            owner.execute(
                roles_sql(
                    agent="fleet_agent", approver=APPROVER_ROLE, hosts=[_role(h) for h in hosts[:AGENTS]]
                )
            )
        yield server, hosts, str(base)
    finally:
        if started:
            subprocess.run([*ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        for host in made:
            subprocess.run(["ip", "link", "del", host.outside], check=False, capture_output=True)
            subprocess.run(["ip", "netns", "del", host.netns], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _spawn(host: Host, script: str, *args: str, stderr: Path) -> subprocess.Popen[bytes]:
    """``script`` on ``host``: its own network namespace and its own host name. Its stderr goes to a
    file, not a pipe: a pipe nobody reads while the test waits stops the process once it is full."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with stderr.open("ab") as err:
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                host.netns,
                "unshare",
                "--uts",
                "sh",
                "-c",
                f'hostname {host.name} && exec "$@"',
                "sh",
                sys.executable,
                str(HERE / script),
                *args,
            ],
            env=env,
            cwd=REPO,
            stderr=err,
        )


def _outcomes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_fleet_survives_kills_restarts_and_a_cut(fleet: tuple[Server, list[Host], str]) -> None:
    server, hosts, base_dir = fleet
    base = Path(base_dir)
    agents, approver_host = hosts[:AGENTS], hosts[AGENTS]
    local = f"postgresql://postgres@127.0.0.1:{server.port}/fleet"

    def url(host: Host, role: str | None = None) -> str:
        user = role or _role(host)
        return f"postgresql://{user}@{host.server_ip}:{server.port}/fleet?connect_timeout=3"

    stop = base / "stop"
    killed, cut = agents[0], agents[2]
    approver = _spawn(
        approver_host,
        "fleet_approver.py",
        url(approver_host, APPROVER_ROLE),
        str(stop),
        killed.name,
        stderr=base / "approver.err",
    )
    procs = {
        h.name: _spawn(
            h,
            "fleet_agent.py",
            url(h),
            str(base / h.name),
            str(CALLS),
            str(base / f"{h.name}.out"),
            stderr=base / f"{h.name}.err",
        )
        for h in agents
    }

    def err(name: str) -> str:
        return (base / f"{name}.err").read_text(errors="replace")[-3000:]

    def made_calls(h: Host, n: int) -> Callable[[], bool]:
        """Whether ``h`` has ended ``n`` calls; a failure naming why if it has exited or the approver has."""

        def check() -> bool:
            for name, proc in ((h.name, procs[h.name]), ("approver", approver)):
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited with {proc.returncode}: {err(name)}")
            return len(_outcomes(base / f"{h.name}.out")) >= n

        return check

    def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(local, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    try:
        # kill -9 the first agent while it waits (the approver leaves its requests unanswered)
        wait_until(
            lambda: bool(
                rows("SELECT 1 FROM ag_requests WHERE owner_host = %s AND status = 'pending'", killed.name)
            ),
            60,
            "the first agent to wait",
        )
        procs[killed.name].send_signal(signal.SIGKILL)
        procs[killed.name].wait(10)
        # restart the database while the others are mid-run: every live agent up first (a host that
        # starts while the server shuts down refuses to start, naming why: docs/deployment.md; under
        # CI's load the third agent was still importing when the restart came)
        wait_until(made_calls(agents[1], 2), 60, "calls to be answered")
        for h in agents[2:]:
            wait_until(made_calls(h, 1), 60, f"{h.name} to be up", lambda h=h: f"(its stderr: {err(h.name)})")
        server.restart()
        # cut the third host off for longer than the heartbeat allows, then reconnect it
        wait_until(
            made_calls(cut, 5), 90, "the third host to make calls", lambda: f"(its stderr: {err(cut.name)})"
        )
        _run("ip", "link", "set", cut.outside, "down")
        time.sleep(5)  # the outage itself (not synchronisation): longer than owner_stale_s (3 s)
        _run("ip", "link", "set", cut.outside, "up")
        for h in agents[1:]:
            assert procs[h.name].wait(180) == 0, err(h.name)
        # every request ends in a definite state (the approver sweeps what has no waiter left)
        wait_until(
            lambda: not rows("SELECT 1 FROM ag_requests WHERE status = 'pending'"), 60, "no request pending"
        )
    finally:
        stop.touch()
        try:
            approver.wait(20)
        finally:
            for proc in [approver, *procs.values()]:
                if proc.poll() is None:
                    proc.kill()

    states = {
        r[0]: (r[1], r[2], r[3]) for r in rows("SELECT id, status, owner_host, request FROM ag_requests")
    }
    # every request carries the role of the host that submitted it, set by the database
    assert set(rows("SELECT owner_host, db_role FROM ag_requests")) == {(h.name, _role(h)) for h in agents}
    by_tag = {orjson.loads(req)["call"]["arguments"]["tag"]: status for status, _, req in states.values()}
    # the killed agent's request: abandoned, noticed by the approver's sweep
    killed_states = {status for status, host, _ in states.values() if host == killed.name}
    assert killed_states == {"abandoned"}
    misrouted, contradicted, failed_closed = [], [], []
    for h in agents[1:]:
        outcomes = _outcomes(base / f"{h.name}.out")
        assert [o["n"] for o in outcomes] == list(range(CALLS))  # every call ended, in order
        for o in outcomes:
            stored = by_tag.get(o["tag"])
            if o["outcome"] == "ran":
                if o["n"] % 2 or o["result"]["approved_for"] != o["tag"]:
                    misrouted.append(o)
                if stored != "approved":
                    contradicted.append((o, stored))
            elif o["code"] == "approval.denied" and f"deny {o['tag']}" in o["message"]:
                if o["n"] % 2 == 0:
                    misrouted.append(o)
                if stored != "denied":
                    contradicted.append((o, stored))
            else:  # refused for another reason: the database was unreachable at that moment
                failed_closed.append((o, stored))
    assert misrouted == []
    assert contradicted == []
    # An answer is never lost: a call refused while the database was away was not approved, unless the
    # approval reached it and what stopped the call was the audit record it could not write (the guard
    # runs nothing it cannot audit).
    lost = [f for f in failed_closed if f[1] == "approved" and f[0]["code"] != "audit.error"]
    assert lost == [], failed_closed
    # every audit record the database acknowledged is there, and the chain is intact
    stored_acks = {orjson.loads(line).get("ack") for (line,) in rows("SELECT line FROM ag_audit")}
    for h in agents:
        acks_file = base / h.name / "acks"
        acked = set(acks_file.read_text().split()) if acks_file.exists() else set()
        assert acked
        assert acked <= stored_acks, f"{h.name}: {len(acked - stored_acks)} acknowledged records missing"
    db = Database(local, max_size=1)
    try:
        from agentguard.audit import verify_database

        report = verify_database(db)
    finally:
        db.close()
    assert report.ok, report
    print(
        f"fleet: {len(states)} requests, {report.records_verified} audit records, "
        f"{len(failed_closed)} call(s) failed closed during the restart/cut; stderr bytes: "
        + ", ".join(f"{e.stem} {e.stat().st_size}" for e in sorted(base.glob("*.err")))
    )
