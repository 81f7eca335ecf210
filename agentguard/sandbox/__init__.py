"""Code execution in hardened single-use Docker containers.

``Sandbox(settings, workspace=...)`` runs ``python`` or ``shell`` code; each execution gets a fresh
container (from a warm pool when one is ready) that is removed afterwards. Limits come from a
named ``SandboxProfile``; see docs/sandbox.md.
"""

from agentguard.sandbox._doctor import DoctorCheck
from agentguard.sandbox._hardening import HardeningItem, check_hardening, hardening_failures
from agentguard.sandbox._images import BuildEvent, ImageStatus, build_images, image_status
from agentguard.sandbox._managed import ManagedContainer, list_managed, reap
from agentguard.sandbox._sandbox import Sandbox
from agentguard.sandbox_api import (
    EndReason,
    Language,
    SandboxBackend,
    SandboxProfile,
    SandboxRequest,
    SandboxResult,
    SandboxSettings,
)

__all__ = [
    "BuildEvent",
    "DoctorCheck",
    "EndReason",
    "HardeningItem",
    "ImageStatus",
    "Language",
    "ManagedContainer",
    "Sandbox",
    "SandboxBackend",
    "SandboxProfile",
    "SandboxRequest",
    "SandboxResult",
    "SandboxSettings",
    "build_images",
    "check_hardening",
    "hardening_failures",
    "image_status",
    "list_managed",
    "reap",
]
