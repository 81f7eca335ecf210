"""Assembling the console: routes behind the gate, the webhook task, the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from agentguard.registry import arguments_model
from agentguard.settings import Settings
from agentguard.web._api import api_routes
from agentguard.web._middleware import Gate
from agentguard.web._notify import watch_and_notify
from agentguard.web._pages import page_routes
from agentguard.web._state import Console

__all__ = ["builtin_schemas", "create_app"]


def builtin_schemas(settings: Settings) -> dict[str, type[BaseModel]]:
    """The argument models of the built-in tools, which edits to their calls are validated against
    (other tools' schemas live in the agent's process: their edits are validated by the guard)."""
    from agentguard.tools import builtin_tools

    return {spec.name: arguments_model(spec.name, spec.fn) for spec in builtin_tools(settings)}


def create_app(console: Console) -> ASGIApp:
    """The console as an ASGI app: every route behind :class:`Gate`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(watch_and_notify(console))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    static = StaticFiles(directory=Path(__file__).parent / "static")
    app = Starlette(routes=[*page_routes, *api_routes, Mount("/static", static)], lifespan=lifespan)
    app.state.console = console
    return Gate(app, console)
