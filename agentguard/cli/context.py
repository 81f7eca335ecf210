"""State shared by every command: settings resolved once, errors printed the same way."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import click

from agentguard.errors import AgentGuardError
from agentguard.settings import Settings, load_settings

__all__ = ["AppContext", "fail", "pass_app", "reports_errors"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    config_file: Path | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config_file, overrides=self.overrides)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


@contextmanager
def reports_errors() -> Iterator[None]:
    """Turn an ``AgentGuardError`` into one clear line on stderr and exit code 2."""
    try:
        yield
    except AgentGuardError as exc:
        fail(str(exc))
