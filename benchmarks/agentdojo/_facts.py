"""Facts the AgentDojo policy packs ask about, read from the live suite environment.

A careful operator's notion of "someone the user already deals with": for banking, the IBANs the
user has paid or been paid by (history and standing orders); for workspace, the people in the
address book, on the user's calendar, or at the user's own e-mail domain. Nothing here names an
attacker: the sets come from the user's own data as it is when the call is decided.
"""

from __future__ import annotations

from typing import Any


class Binding:
    """The environment the current task runs in; tools and facts read it at call time."""

    def __init__(self) -> None:
        self.env: Any = None


class BankingFacts:
    """``payees``: IBANs in the user's transaction history or standing orders, the user's own excluded."""

    def __init__(self, binding: Binding) -> None:
        self._binding = binding

    def sets(self) -> dict[str, frozenset[str]]:
        account = self._binding.env.bank_account
        own = {account.iban, "me"}
        seen: set[str] = set()
        for t in [*account.transactions, *account.scheduled_transactions]:
            seen.update((t.sender, t.recipient))
        return {"payees": frozenset(seen - own)}

    def contains(self, fact: str, value: str) -> bool:
        return value in self.sets().get(fact, frozenset())


class WorkspaceFacts:
    """``contacts``, ``colleagues`` (the account's own domain), ``calendar``, and ``people`` (all three)."""

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

    def contains(self, fact: str, value: str) -> bool:
        if fact == "colleagues":
            return self._colleague(value)
        sets = self.sets()
        if fact == "people":
            return self._colleague(value) or any(value in s for s in sets.values())
        return value in sets.get(fact, frozenset())


FACTS = {"banking": BankingFacts, "workspace": WorkspaceFacts}
