"""Sandbox limits; they live in :mod:`agentguard.sandbox_api` so settings can use them without Docker."""

from agentguard.sandbox_api import LANGUAGES, Language, SandboxProfile, SandboxSettings, WorkspaceMode

__all__ = ["LANGUAGES", "Language", "SandboxProfile", "SandboxSettings", "WorkspaceMode"]
