"""``import agentguard`` stays light: the core never loads the Docker SDK or requests (only running code
in the Docker sandbox does), and its import time is measured and printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
import agentguard
after_import = sorted(m for m in ("docker", "requests", "agentguard.sandbox") if m in sys.modules)
from agentguard import Guard, Settings
from agentguard.testing import MemoryAudit
settings = Settings(home=sys.argv[1], workspace=sys.argv[1])
guard = Guard(settings=settings, audit=MemoryAudit())
guard.register_builtins()
guard.decide("python.exec", {"code": "print(1)"})
after_guard = sorted(m for m in ("docker", "requests", "agentguard.sandbox") if m in sys.modules)
print(json.dumps([after_import, after_guard]))
"""


def test_import_agentguard_loads_neither_docker_nor_requests(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    after_import, after_guard = json.loads(proc.stdout)
    assert after_import == []
    assert after_guard == []  # a guard with the built-ins, deciding a python.exec call: still no Docker
    own = [line for line in proc.stderr.splitlines() if line.rstrip().endswith("| agentguard")]
    total_us = int(own[0].split("|")[1])
    print(f"import agentguard: {total_us / 1000:.0f} ms (python -X importtime, cumulative)")
