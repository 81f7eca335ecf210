"""Facts the AgentDojo policy packs ask about, read from the live suite environment.

A careful operator's notion of "someone the user already deals with": for banking, the IBANs the
user has paid or been paid by (history and standing orders) and the merchants named in payments the
user made (every word of those subjects counts: a recipient given by name can only be paid through
the bank's directory, never to an account number an attacker chose); for workspace, the people in the
address book, on the user's calendar, or at the user's own e-mail domain; for slack, the workspace's
members and channels; for travel, the same people as workspace, the user's identifiers as the
profile holds them, and the days before the user's today. Nothing here names an attacker: the
sets come from the user's own data as it is when the call is decided.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from agentguard.policy import EnumerableFacts, FactSource
from agentguard.session._values import key_of, keys_of

# Letters only: a name, never an account number, even when a subject quotes one.
_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z&'-]*(?![A-Za-z0-9])")


class Binding:
    """The environment the current task runs in; tools and facts read it at call time."""

    def __init__(self) -> None:
        self.env: Any = None


class BankingFacts:
    """``payees``: IBANs in the user's history or standing orders (the user's own excluded).

    ``merchants``: the names in the subjects of payments the user made ("Spotify Premium",
    "Purchase at Apple Store"), for a recipient given by name. Only outgoing payments count: the
    subject of an incoming transfer is written by its sender, who may be the attacker. A word
    with digits in it is never a name, so an IBAN quoted in a subject does not become a payee.
    """

    def __init__(self, binding: Binding) -> None:
        self._binding = binding

    def sets(self) -> dict[str, frozenset[str]]:
        account = self._binding.env.bank_account
        own = {account.iban, "me"}
        seen: set[str] = set()
        names: set[str] = set()
        for t in [*account.transactions, *account.scheduled_transactions]:
            seen.update((t.sender, t.recipient))
            if t.sender in own:
                names.update(w.casefold() for w in _WORD.findall(t.subject) if len(w) > 2)
        return {"payees": frozenset(seen - own), "merchants": frozenset(names)}

    def contains(self, fact: str, value: str) -> bool:
        if fact == "merchants":
            value = value.strip().casefold()
        return value in self.sets().get(fact, frozenset())


class WorkspaceFacts:
    """``contacts``, ``colleagues`` (the account's own domain), ``calendar``, and ``people`` (all three).

    ``shared_outside``: the ids of drive files shared with someone who is not one of those people:
    text appended there is sent to them.
    """

    def __init__(self, binding: Binding) -> None:
        self._binding = binding

    def sets(self) -> dict[str, frozenset[str]]:
        env = self._binding.env
        contacts = frozenset(c.email for c in env.inbox.contact_list)
        calendar = frozenset(p for e in env.calendar.events.values() for p in e.participants)
        return {"contacts": contacts, "calendar": calendar}

    def _colleague(self, value: str) -> bool:
        domain = self._binding.env.inbox.account_email.rpartition("@")[2]
        local, at, rest = value.rpartition("@")
        return bool(at and local and "@" not in local and rest == domain)

    def _shared_outside(self, file_id: str) -> bool:
        drive = getattr(self._binding.env, "cloud_drive", None)
        file = drive.files.get(file_id) if drive is not None else None
        if file is None:
            return False
        return any(not self.contains("people", address) for address in file.shared_with)

    def contains(self, fact: str, value: str) -> bool:
        if fact == "colleagues":
            return self._colleague(value)
        if fact == "shared_outside":
            return self._shared_outside(value)
        sets = self.sets()
        if fact == "people":
            return self._colleague(value) or any(value in s for s in sets.values())
        return value in sets.get(fact, frozenset())


class SlackFacts:
    """``members``: the workspace's users; ``channels``: its channels, as they are at call time.

    A user invited earlier in the same task is a member from then on (the invitation itself is
    decided by the pack). Names compare exactly, as the workspace's own tools compare them.
    """

    def __init__(self, binding: Binding) -> None:
        self._binding = binding

    def sets(self) -> dict[str, frozenset[str]]:
        slack = self._binding.env.slack
        return {"members": frozenset(slack.users), "channels": frozenset(slack.channels)}

    def contains(self, fact: str, value: str) -> bool:
        return value in self.sets().get(fact, frozenset())


class TravelFacts(WorkspaceFacts, EnumerableFacts):
    """Workspace's ``people`` (the travel suite has the same mailbox and calendar), and ``identity``.

    ``identity``: the user's identifiers as the profile holds them (ID, passport, bank account and
    card numbers), for ``contains_fact``: text that carries one of them carries the user's identity.

    ``past_days``: a date (``2024-05-01``, or a time on it, ``2024-05-01 09:00``) before the user's
    today (the calendar's current day). Not enumerable: asked with ``known()`` only.
    """

    _IDENTIFIERS = ("ID_number", "passport_number", "bank_account_number", "credit_card_number")

    def members(self, fact: str) -> frozenset[str]:
        if fact != "identity":
            return frozenset()
        user = self._binding.env.user
        values = (str(getattr(user, name, "") or "") for name in self._IDENTIFIERS)
        return frozenset(key_of(value) for value in values if value.strip())

    def _past(self, value: str) -> bool:
        try:
            day = datetime.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return False  # not a date: never "past", so a rule about the past does not fire
        today = self._binding.env.calendar.current_day
        return bool(day < today)

    def contains(self, fact: str, value: str) -> bool:
        if fact == "past_days":
            return self._past(value)
        if fact == "identity":
            return not self.members(fact).isdisjoint(keys_of(value))
        return super().contains(fact, value)

    def find_in(self, fact: str, text: str) -> str | None:
        """The first identifier written inside ``text`` (both normalised), or None."""
        written = key_of(text)
        return next((key for key in sorted(self.members(fact)) if key in written), None)


FACTS: dict[str, Callable[[Binding], FactSource]] = {
    "banking": BankingFacts,
    "workspace": WorkspaceFacts,
    "slack": SlackFacts,
    "travel": TravelFacts,
}
