"""`agentguard serve` answers from the store the settings name: with database_url, PostgreSQL (the
queue the agents on every host use), not a SQLite file in the home nobody writes to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentguard.approval import PostgresApprovalStore, SqliteApprovalStore
from agentguard.cli import main


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_serve_opens_the_store_the_settings_name(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(app: object, **_: object) -> None:  # the server itself is not the point here
        seen["store"] = type(app.console.store)  # type: ignore[attr-defined]

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    args = ["--home", str(tmp_path / "home")]
    if backend == "postgres":
        args += ["--database-url", request.getfixturevalue("pg_url")]
    result = CliRunner().invoke(main, [*args, "serve", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert seen["store"] is (PostgresApprovalStore if backend == "postgres" else SqliteApprovalStore)
