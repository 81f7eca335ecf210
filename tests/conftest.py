"""Shared fixtures: real policy directories written to tmp, real audit logs."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PERMISSIONS = REPO / "permissions"


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


# --- PostgreSQL: a real server (never mocked). CI starts one on loopback and sets the URL (.ci/run). ---

PG_SERVER_ENV = "AGENTGUARD_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A database upgraded to the current schema, copied for each test that asks for ``pg_url``."""
    import os

    server = os.environ.get(PG_SERVER_ENV)
    if not server:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_SERVER_ENV} is not set: CI must start PostgreSQL (.ci/run)")
        pytest.skip(f"no PostgreSQL server: set {PG_SERVER_ENV}=postgresql://...")
    import psycopg

    from agentguard.database import Database, upgrade

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
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, upgraded database of its own for one test (a copy of the template); dropped after."""
    import os

    import psycopg

    server = os.environ[PG_SERVER_ENV]
    name = f"agentguard_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield _with_database(server, name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
