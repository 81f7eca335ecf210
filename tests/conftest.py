"""Shared fixtures: real policy directories written to tmp, real audit logs."""

from __future__ import annotations

import shutil
import signal
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PERMISSIONS = REPO / "permissions"


def pytest_configure(config: pytest.Config) -> None:
    """Run with the signal dispositions of a foreground run. Started under ``nohup``, or in the
    background of a shell without job control, the run inherits SIGHUP or SIGINT ignored, and so
    would every process the tests start: the tests that stop one with Ctrl-C or a hang-up (the MCP
    proxy, the audit log's flush on a signal) would wait for an exit that never comes."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        if signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)


@pytest.fixture
def make_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write ``policy.csv`` next to the shipped ``model.conf`` in a fresh directory; return the directory."""

    def make(rules: str, name: str = "policy") -> Path:
        directory = tmp_path / name
        directory.mkdir()
        shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
        (directory / "policy.csv").write_text(rules.strip() + "\n", encoding="utf-8")
        return directory

    return make


# --- PostgreSQL: a real server (never mocked), started by the session on loopback unless one is given. ---

PG_SERVER_ENV = "AGENTGUARD_TEST_DATABASE_URL"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    """``argv`` as the ``postgres`` user when run as root (PostgreSQL refuses to run as root)."""
    import os

    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL: ``$AGENTGUARD_TEST_DATABASE_URL`` if set, else a private cluster this
    session starts from Debian's ``postgresql`` package (initdb + pg_ctl, loopback only, own port)."""
    import glob
    import os
    import subprocess
    import tempfile

    given = os.environ.get(PG_SERVER_ENV)
    if given:
        yield given
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed: CI installs Debian's postgresql package (.ci/run)")
        pytest.skip(f"no PostgreSQL: apt-get install postgresql, or set {PG_SERVER_ENV}=postgresql://...")
    bin_dir = Path(found[-1]).parent
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="agentguard-test-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60"]
    subprocess.run(_as_postgres([*ctl, "-o", options, "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "fast", "stop"]), check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A database upgraded to the current schema, copied for each test that asks for ``pg_url``."""
    import psycopg

    from agentguard.database import Database, upgrade

    server = pg_server
    name = f"agentguard_tmpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = _with_database(server, name)
    db = Database(url, max_size=1)
    try:
        upgrade(db)
    finally:
        db.close()
    yield name
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> Iterator[str]:
    """A fresh, upgraded database of its own for one test (a copy of the template); dropped after."""
    import psycopg

    server = pg_server
    name = f"agentguard_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield _with_database(server, name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def schema_checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every instance the JSON-schema validator of ``json_schema_model`` is run on (objects copied)."""
    from agentguard.integrations import _arguments

    seen: list[Any] = []
    real = _arguments._compiled_valid

    def counting(check: Any, raw: bytes, data: Mapping[str, Any]) -> bool:
        """Each check of a call's arguments starts here (compiled, then jsonschema's if it refuses)."""
        seen.append(dict(data))
        return real(check, raw, data)

    monkeypatch.setattr(_arguments, "_compiled_valid", counting)
    return seen
