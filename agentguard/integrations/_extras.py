"""The error an integration raises when its optional dependency is not installed."""

from __future__ import annotations

import importlib
from types import ModuleType

from agentguard.errors import AgentGuardError

__all__ = ["MissingExtra", "require"]


class MissingExtra(AgentGuardError, ImportError):
    """An integration was imported without its extra; the message names the pip command."""

    code = "integration.missing_extra"


def require(module: str, extra: str, integration: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"the {integration} integration needs the {module!r} package, which is not installed: "
            f"pip install 'agentguard[{extra}]'",
            module=module,
            extra=extra,
        ) from exc
