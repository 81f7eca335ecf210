"""The real server's tools as the proxy knows them: their policy names, and which the agent is shown.

Each listed tool is registered with the guard under ``mcp.<server>.<tool>`` (its argument model
read from the server's current input schema), or kept with the reason it cannot be guarded. A
tool no call of which could run is left out of ``tools/list`` (or, with ``show_hidden``, listed
with the reason), so the agent does not plan around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from agentguard.guard import Guard
from agentguard.integrations._arguments import json_schema_model
from agentguard.integrations.mcp._naming import policy_tool_name
from agentguard.integrations.mcp._upstream import Upstream, UpstreamUnavailable, connection_lost
from agentguard.models import Decision, Effect
from agentguard.pipeline import ListablePolicy

__all__ = ["Catalogue", "CatalogueEntry", "is_unconditional_deny"]


def is_unconditional_deny(decision: Decision) -> bool:
    """Whether ``decision`` denies every call of the tool, whatever its arguments.

    True when the deciding rule is a deny whose condition is ``*``: deny outranks ask and allow,
    so no argument can change the outcome. A deny because no rule matched is not unconditional
    (a conditional allow may match other arguments), so such tools stay listed.
    """
    if decision.effect is not Effect.DENY or decision.rule is None:
        return False
    fields = [part.strip() for part in decision.rule.text.split(",")]
    return len(fields) >= 5 and fields[3] in ("*", "")


@dataclass
class CatalogueEntry:
    """One tool of the real server: its policy name, or (``None``) why it has none."""

    upstream: types.Tool
    policy_name: str | None
    problem: str | None = None


class Catalogue:
    """The latest ``tools/list`` of the real server, and the guard registrations made for it."""

    def __init__(
        self, guard: Guard, server_name: str, upstream: Upstream, *, agent: str | None, show_hidden: bool
    ) -> None:
        self.guard = guard
        self.server_name = server_name
        self.agent = agent
        self.show_hidden = show_hidden
        self._upstream = upstream
        self.tools: dict[str, CatalogueEntry] = {}
        self._registered: set[str] = set()

    def forget(self) -> None:
        """Drop the list (the server said it changed); the next call or listing fetches it again."""
        self.tools.clear()

    def guardable(self, name: str) -> bool:
        """Whether a call of ``name`` may take the fast path: a listed tool that can be guarded."""
        entry = self.tools.get(name)
        return entry is not None and entry.policy_name is not None

    async def refresh(self) -> dict[str, CatalogueEntry]:
        """Fetch every page of the server's tools and register the new ones with the guard."""
        session = await self._upstream.get()
        listed: list[types.Tool] = []
        cursor: str | None = None
        try:
            while True:
                page = await session.list_tools(
                    params=types.PaginatedRequestParams(cursor=cursor) if cursor else None
                )
                listed.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
        except MCPError as exc:
            if connection_lost(exc):
                self._upstream.lost(session)
            raise
        tools: dict[str, CatalogueEntry] = {}
        seen: dict[str, str] = {}
        for tool in listed:
            entry = self._entry(tool, seen)
            tools[tool.name] = entry
            if entry.policy_name is not None:
                self._register(entry.policy_name)
        self.tools = tools
        return tools

    async def listing(self) -> types.ListToolsResult:
        """The agent's ``tools/list``: a fresh list, less the tools every call of which is refused."""
        tools = await self.refresh()
        visible: list[types.Tool] = []
        for entry in tools.values():
            hidden_because = entry.problem
            if hidden_because is None and entry.policy_name is not None:
                hidden_because = self.refused_outright(entry.policy_name)
            if hidden_because is None:
                visible.append(entry.upstream)
            elif self.show_hidden:
                note = f"[agentguard: every call is refused: {hidden_because}]"
                description = f"{note} {entry.upstream.description or ''}".strip()
                visible.append(entry.upstream.model_copy(update={"description": description}))
        return types.ListToolsResult(tools=visible)

    def refused_outright(self, policy_name: str) -> str | None:
        """Why every call of the tool is refused (so it is not listed), or None if some call may run:
        an unconditional deny rule, or no allow or ask rule whose tool pattern matches it for this agent."""
        decision = self.guard.decide(policy_name, {}, agent=self.agent)
        if is_unconditional_deny(decision):
            return f"denied by policy rule {decision.rule_id}: {decision.reason}"
        policy = self.guard.policy
        if isinstance(policy, ListablePolicy) and not policy.may_allow(
            self.agent or self.guard.agent, policy_name
        ):
            return f"no allow or ask rule names {policy_name}"
        return None

    def _entry(self, tool: types.Tool, seen: dict[str, str]) -> CatalogueEntry:
        try:
            name = policy_tool_name(self.server_name, tool.name)
        except ValueError as exc:
            return CatalogueEntry(tool, None, f"its name cannot be named in policy ({exc})")
        if name in seen:
            return CatalogueEntry(
                tool, None, f"its policy name {name} is also the name of tool {seen[name]!r}"
            )
        seen[name] = tool.name
        return CatalogueEntry(tool, name)

    def _register(self, policy_name: str) -> None:
        if policy_name in self._registered:
            return

        def schema() -> Mapping[str, Any] | None:
            for entry in self.tools.values():
                if entry.policy_name == policy_name:
                    return entry.upstream.input_schema
            return None

        async def outside_proxy(**_arguments: Any) -> Any:
            raise UpstreamUnavailable("an MCP tool was called outside the proxy")

        self.guard.register(
            policy_name,
            outside_proxy,
            description=f"MCP tool of server {self.server_name!r}",
            args_model=json_schema_model(policy_name, schema, json_text=True),
        )
        self._registered.add(policy_name)
