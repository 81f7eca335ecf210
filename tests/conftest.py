"""Shared fixtures: real policy directories written to tmp, real audit logs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
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
