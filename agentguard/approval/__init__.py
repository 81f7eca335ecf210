"""Human approval: the shared approval queue, grants ("approve always") and the approver's desk.

The guard asks through :class:`QueueApprover`; people answer through :class:`ApprovalDesk` (used by
``agentguard approve`` and ``agentguard approvals``). Both meet in an :class:`ApprovalStore`, by default
:class:`SqliteApprovalStore` in the state directory, or :class:`PostgresApprovalStore` when
``database_url`` is set (``open_store(settings)`` picks).
"""

from agentguard.approval._desk import ApprovalDesk, current_user
from agentguard.approval._grants import check_grant, parse_duration, render_rule, suggest_pattern
from agentguard.approval._open import open_store, settings_grant_source
from agentguard.approval._pg_source import PostgresGrantSource
from agentguard.approval._pg_store import PostgresApprovalStore
from agentguard.approval._queue import QueueApprover, queue_approver_from_settings
from agentguard.approval._records import KEY_ARGUMENTS, Answer, Grant, GrantScope, QueuedRequest, RequestState
from agentguard.approval._shown import shown_json, shown_text
from agentguard.approval._source import SqliteGrantSource, grant_source
from agentguard.approval._store import SqliteApprovalStore
from agentguard.approval._store_api import AlreadyAnswered, ApprovalStore
from agentguard.approval._view import (
    grant_json,
    grant_reach,
    host_text,
    key_argument_text,
    request_json,
    short_duration,
    short_refs,
)
from agentguard.owner import Owner  # the one owner notion (the sandbox's containers use it too)

__all__ = [
    "KEY_ARGUMENTS",
    "AlreadyAnswered",
    "Answer",
    "ApprovalDesk",
    "ApprovalStore",
    "Grant",
    "GrantScope",
    "Owner",
    "PostgresApprovalStore",
    "PostgresGrantSource",
    "QueueApprover",
    "QueuedRequest",
    "RequestState",
    "SqliteApprovalStore",
    "SqliteGrantSource",
    "check_grant",
    "current_user",
    "grant_json",
    "grant_reach",
    "grant_source",
    "host_text",
    "key_argument_text",
    "open_store",
    "parse_duration",
    "queue_approver_from_settings",
    "render_rule",
    "request_json",
    "settings_grant_source",
    "short_duration",
    "short_refs",
    "shown_json",
    "shown_text",
    "suggest_pattern",
]
