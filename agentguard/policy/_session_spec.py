"""A session written down: what ``policy explain --session`` and ``session:`` in case tables read.

user_request: "Summarise https://news.example/today"
vouched: ["DE89370400440532013000"]
marks: [secret]                      # optional: marks set directly
results:                             # tool results, in order, treated as outputs.toml says
  - {tool: http.get, args: {url: "https://news.example/today"}, output: "... text ..."}
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agentguard.models import FrozenModel
from agentguard.session import Session
from agentguard.session._record import process_result

__all__ = ["ResultSpec", "SessionSpec", "build_session"]


class ResultSpec(FrozenModel):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    call_id: str | None = None


class SessionSpec(FrozenModel):
    user_request: str | None = None
    vouched: list[Any] = Field(default_factory=list)
    marks: list[str] = Field(default_factory=list)
    results: list[ResultSpec] = Field(default_factory=list)


def build_session(spec: SessionSpec | Mapping[str, Any], policy: object) -> Session:
    """A session holding ``spec``'s request, vouched values and results (labelled by ``policy``)."""
    spec = spec if isinstance(spec, SessionSpec) else SessionSpec.model_validate(dict(spec))
    session = Session(user_request=spec.user_request, vouched=spec.vouched)
    for mark in spec.marks:
        session.mark(mark)
    for result in spec.results:
        process_result(
            policy,
            session,
            tool=result.tool.lower(),
            call_id=result.call_id or uuid.uuid4().hex,
            arguments=result.args,
            value=result.output,
        )
    return session
