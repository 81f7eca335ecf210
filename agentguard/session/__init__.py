"""Sessions and provenance: what the user asked, what each tool returned, where each value was seen.

    with guard.session(user_request="Pay my rent to DE89 3704 0044 0532 0130 00") as session:
        guard.call("banking.send_money", {"recipient": "DE89370400440532013000", "amount": 900})

Every tool result read inside the session is indexed with its source (tool, call id, trust label
from the policy's ``outputs.toml``), so conditions such as ``trusted(recipient)`` or
``session_read("untrusted")`` can be decided without scanning the history. See docs/provenance.md.
"""

from agentguard.session._evidence import collecting_evidence
from agentguard.session._index import TRUSTED, TRUSTED_ANY, UNTRUSTED, USER, VOUCHED, Entry, ValueIndex
from agentguard.session._scope import SessionScope
from agentguard.session._session import (
    Leaf,
    ResultRecord,
    Session,
    Source,
    Trust,
    current_session,
    live_session,
)
from agentguard.session._values import Entity, canonical_url, entities, host_of, key_of, keys_of

__all__ = [
    "TRUSTED",
    "TRUSTED_ANY",
    "UNTRUSTED",
    "USER",
    "VOUCHED",
    "Entity",
    "Entry",
    "Leaf",
    "ResultRecord",
    "Session",
    "SessionScope",
    "Source",
    "Trust",
    "ValueIndex",
    "canonical_url",
    "collecting_evidence",
    "current_session",
    "entities",
    "host_of",
    "key_of",
    "keys_of",
    "live_session",
]
