"""Webhooks: one POST per new pending request, generic JSON or a Slack-compatible message, each with
a link to the request's page. Runs as a task of the console; a receiver that fails is reported on
stderr and does not stop the others (nor the console).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import quote

import httpx

from agentguard.approval import QueuedRequest, key_argument_text, request_json
from agentguard.audit import redact
from agentguard.errors import AgentGuardError
from agentguard.web._state import Console, Webhook

__all__ = ["payload", "watch_and_notify"]

_TIMEOUT_S = 10.0


def _slack_escape(text: str) -> str:
    """Slack reads ``<...>`` as links and mentions (``<!channel>``): the agent's text must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(hook: Webhook, queued: QueuedRequest, link: str) -> dict[str, Any]:
    """What is POSTed for ``queued``: redacted as the audit log is (the receiver, and a Slack channel's
    history, are no place for a token in a command); the approver's page shows the whole call."""
    call = queued.call.model_copy(update={"arguments": redact(queued.call.arguments)})
    if hook.style == "slack":
        named = queued.id[:8] + (f"@{queued.db_role}" if queued.db_role else "")
        summary = (
            f"*{_slack_escape(call.agent)}* asks to run *{_slack_escape(call.tool)}*: "
            f"`{_slack_escape(key_argument_text(call, 200))}`"
        )
        return {
            "text": f"agentguard: {_slack_escape(call.agent)} asks for {_slack_escape(call.tool)}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
                {
                    "type": "section",
                    # the host role that asked, where the store knows it: ids are unique per host role
                    "text": {"type": "mrkdwn", "text": f"<{link}|Open request {_slack_escape(named)}>"},
                },
            ],
        }
    return {"event": "approval.pending", "url": link, "request": redact(request_json(queued))}


async def _post(client: httpx.AsyncClient, hook: Webhook, body: dict[str, Any]) -> None:
    try:
        response = await client.post(hook.url, json=body, timeout=_TIMEOUT_S)
        if response.status_code >= 400:
            print(f"webhook {hook.url}: HTTP {response.status_code}", file=sys.stderr)
    except httpx.HTTPError as exc:
        print(f"webhook {hook.url}: {exc}", file=sys.stderr)


async def watch_and_notify(console: Console) -> None:
    """Announce every pending request not announced yet (those waiting at start-up too), then each new
    one as the store changes; also sweeps requests of dead agents now and then, like the TUI."""
    hooks = console.options.webhooks
    announced: set[str] = set()
    base = console.options.public_url.rstrip("/")
    seen = -1
    loop = asyncio.get_running_loop()
    next_sweep = loop.time()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        while True:
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + console.options.sweep_every_s
                    await asyncio.to_thread(console.store.sweep)
                version = console.store.version()
                if version != seen:
                    pending = await asyncio.to_thread(console.store.pending)
                    seen = version
                    # by ref: a host filing a request under another's call id must not keep that one
                    # from being announced (ids are unique per host role, not across hosts)
                    fresh = [q for q in pending if q.ref not in announced]
                    announced.intersection_update(q.ref for q in pending)
                    for queued in fresh:
                        announced.add(queued.ref)
                        link = f"{base}/requests/{quote(queued.ref, safe='@')}"
                        await asyncio.gather(*(_post(client, h, payload(h, queued, link)) for h in hooks))
            except AgentGuardError as exc:  # a locked or unreadable store: say so, try again next change
                print(f"agentguard serve: approval store: {exc}", file=sys.stderr)
            await console.store.await_change(seen, min(console.options.sweep_every_s, 30.0))
