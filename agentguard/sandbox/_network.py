"""The container side of ``network = "policy"``: no interface but ``lo``, one mounted socket out.

The container keeps ``network_mode=none`` (its own network namespace with only loopback: no route,
no DNS server, no IPv6 address, nothing to send a UDP or ICMP packet through). The egress proxy's
per-container socket directory is mounted read-only at ``/run/agentguard-egress``; the shim
(``_egress_shim.py``, mounted read-only too) listens on ``127.0.0.1:3128`` inside and forwards to it,
and the proxy variables point every HTTP client there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docker.types import Mount

from agentguard.sandbox_api import EGRESS_SOCKET

__all__ = ["EGRESS_DIR", "EGRESS_PORT", "policy_command", "policy_environment", "policy_mounts"]

EGRESS_DIR = "/run/agentguard-egress"
EGRESS_PORT = 3128
SHIM_SOURCE = Path(__file__).resolve().with_name("_egress_shim.py")
SHIM_TARGET = "/opt/agentguard-egress/shim.py"


def policy_mounts(endpoint_dir: str) -> list[Any]:
    return [
        Mount(EGRESS_DIR, endpoint_dir, type="bind", read_only=True),
        Mount(SHIM_TARGET, str(SHIM_SOURCE), type="bind", read_only=True),
    ]


def policy_command(command: list[str]) -> list[str]:
    """``command`` started behind the shim: the forwarder is listening before ``command`` runs."""
    shim = ["python3", "-I", "-B", SHIM_TARGET, str(EGRESS_PORT), f"{EGRESS_DIR}/{EGRESS_SOCKET}", "--"]
    return [*shim, *command]


def policy_environment() -> dict[str, str]:
    proxy = f"http://127.0.0.1:{EGRESS_PORT}"
    return {
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "ALL_PROXY": proxy,
        "all_proxy": proxy,
        "NO_PROXY": "",
        "no_proxy": "",
        "PIP_PROXY": proxy,
    }
