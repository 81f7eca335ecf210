"""The quickstarts in docs/integrations/examples run as written, and a missing extra says what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "integrations" / "examples"


def run_python(code_or_file: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AGENTGUARD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, *code_or_file],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_quickstart_runs(example: str, tmp_path: Path) -> None:
    if example.startswith("mcp") and shutil.which("mcp-server-time") is None:
        pytest.skip("mcp-server-time is not installed (pip install mcp-server-time)")
    done = run_python([str(EXAMPLES / example)], tmp_path, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit:" in done.stdout


@pytest.mark.parametrize(
    ("module", "hidden", "pip"),
    [
        ("agentguard.integrations.mcp", "mcp", "agentguard[mcp]"),
        ("agentguard.integrations.langchain", "langchain_core", "agentguard[langchain]"),
        ("agentguard.integrations.openai_agents", "agents", "agentguard[openai-agents]"),
    ],
)
def test_missing_extra_names_the_pip_command(module: str, hidden: str, pip: str, tmp_path: Path) -> None:
    code = (
        f"import sys; sys.modules[{hidden!r}] = None\n"
        "from agentguard.integrations import MissingExtra\n"
        "try:\n"
        f"    import {module}\n"
        "except MissingExtra as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc.code, exc)\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
    )
    done = run_python(["-c", code], tmp_path, tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("integration.missing_extra ")
    assert f"pip install '{pip}'" in done.stdout
