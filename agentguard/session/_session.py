"""A session: one agent conversation or task, what the user asked, and every tool output read in it.

The current session is a context variable, so it follows the code that runs a conversation: a
thread started inside a session does not inherit it (threads start with an empty context), asyncio
tasks created inside one do (they copy the context when created), and two sessions in two tasks or
threads never see each other's values.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from agentguard.session._compact import compact, compact_keys
from agentguard.session._encoded import decoded_runs
from agentguard.session._index import TRUSTED, TRUSTED_ANY, UNTRUSTED, USER, VOUCHED, Entry, ValueIndex
from agentguard.session._leaf import text_keys
from agentguard.session._phrases import PhraseIndex
from agentguard.session._values import (
    MAX_KEY_CHARS,
    MIN_CONTAINED,
    _text_keys,
    entities,
    is_field_name,
    key_of,
    keys_of,
    read_as_shown,
)

__all__ = [
    "MAX_SEARCH",
    "Leaf",
    "ResultRecord",
    "Session",
    "Source",
    "Trust",
    "current_session",
    "live_session",
]

Trust = Literal["trusted", "untrusted"]
_MARKS = frozenset({"untrusted", "secret", "pii"})
MAX_SEARCH = 1_000_000  # characters of a text argument searched for seen values
_WHOLE_WRITTEN = 100  # a written text up to this long is also tainted as a whole value


@dataclass(frozen=True, slots=True)
class Source:
    """Where values came from: the user's request, a vouched value, or a tool result's fields of one trust."""

    index: int
    kind: Literal["user", "vouched", "output"]
    trust: Trust
    tool: str | None = None
    call_id: str | None = None
    arguments: Mapping[str, Any] | None = None

    def describe(self) -> str:
        if self.kind == "user":
            return "the user's request"
        if self.kind == "vouched":
            return "a value the application vouched for"
        call = f", call {self.call_id[:8]}…" if self.call_id else ""
        return f"the {self.trust} output of {self.tool}{call}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "trust": self.trust, "tool": self.tool, "call_id": self.call_id}


@dataclass(frozen=True, slots=True)
class Leaf:
    """One field of a tool result: its JSON path, its scalar value and the trust the policy gives it."""

    path: str
    value: Any
    trust: Trust


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """What the session keeps about one tool result (the values themselves live in the index)."""

    call_id: str
    tool: str
    arguments: Mapping[str, Any]
    trusted_fields: int
    untrusted_fields: int
    marks: frozenset[str]
    redactions: Mapping[str, int] = field(default_factory=dict)


_CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar("agentguard_session", default=None)


def current_session() -> Session | None:
    """The session this code runs in, or ``None`` outside any session."""
    return _CURRENT.get()


def live_session() -> Session | None:
    """The current session if it has not ended: an ended one (still the context of a task created
    inside it) knows nothing more, so conditions answer as outside any session and nothing is recorded."""
    session = _CURRENT.get()
    return session if session is not None and not session.closed else None


def _written(value: Any, out: list[str], depth: int = 0) -> list[str]:
    """Strings a call sent: object values, list items and object keys that are not field names."""
    kind = type(value)
    if kind is str:
        out.append(value)
    elif depth > 64:
        pass
    elif kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is str and not is_field_name(key):
                out.append(key)
            if type(item) is str:  # the common argument: no call for it
                out.append(item)
            else:
                _written(item, out, depth + 1)
    elif kind is list or kind is tuple:
        for item in value:
            if type(item) is str:
                out.append(item)
            else:
                _written(item, out, depth + 1)
    return out


def _flatten(value: Any) -> Iterator[Any]:
    """Scalars inside vouched values: an address book may be a list, a contact a mapping."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


class Session:
    """One conversation: the user's request (trusted), vouched values, and the tool outputs read.

    Build it with ``guard.session(...)``; conditions read the current one. ``marks`` says what the
    session has read so far: ``untrusted`` content, a ``secret``, ``pii``.
    """

    def __init__(
        self,
        *,
        user_request: str | None = None,
        vouched: Iterable[Any] | Mapping[str, Any] = (),
        session_id: str | None = None,
    ) -> None:
        self.id = session_id or f"s-{uuid.uuid4().hex[:16]}"
        self.user_request = user_request
        self.vouched: tuple[Any, ...] = tuple(vouched.values() if isinstance(vouched, Mapping) else vouched)
        self.started = datetime.now(UTC)
        self.index = ValueIndex()
        self.compact = ValueIndex()  # compact keys (letters and digits only), to find values in text
        self.phrases = PhraseIndex()  # built only when a condition asks (copies_untrusted)
        self.sources: list[Source] = []
        self.results: list[ResultRecord] = []
        self._marks: set[str] = set()
        self._marked_by: dict[str, str] = {}  # mark -> what first set it (evidence)
        self._lock = threading.Lock()
        self._written: set[str] = set()  # keys the agent sent before any trusted source had them
        self.closed = False
        if user_request:
            source = self._source("user", "trusted")
            self._index_value(user_request, source.index, USER)
        if self.vouched:
            source = self._source("vouched", "trusted")
            for value in _flatten(self.vouched):
                self._index_value(value, source.index, VOUCHED, whole_only=True)

    def __repr__(self) -> str:
        return f"Session({self.id!r}, {len(self.results)} results, marks={sorted(self._marks)})"

    def add_user_request(self, text: str) -> None:
        """Add a later turn of the user's own text (trusted input), for sessions that outlive one
        request (an MCP connection whose client passes each turn). Never text a tool or model wrote."""
        if not text:
            return
        with self._lock:
            self.user_request = text if not self.user_request else f"{self.user_request}\n{text}"
            source = self._source("user", "trusted")
            self._index_value(text, source.index, USER)

    # -- reading -------------------------------------------------------------------------------
    @property
    def marks(self) -> frozenset[str]:
        return frozenset(self._marks)

    def has_read(self, mark: str) -> bool:
        return mark in self._marks

    def marked_by(self, mark: str) -> str | None:
        """What first gave the session ``mark`` ("the untrusted output of web.get, call 7f3a…")."""
        return self._marked_by.get(mark)

    def lookup(self, value: Any) -> tuple[int, list[Entry]]:
        """The union mask of every key of ``value`` and the entries found (empty: never seen)."""
        mask = 0
        found: list[Entry] = []
        get = self.index.get
        # keys_of's common case (a text short enough to have keys) without its call
        keys = _text_keys(value) if type(value) is str and len(value) <= MAX_KEY_CHARS else keys_of(value)
        for key in keys:
            entry = get(key)
            if entry is not None:
                mask |= entry.mask
                found.append(entry)
        return mask, found

    def find_in(self, text: str, *, short_compact: bool = False) -> list[tuple[str, Entry]]:
        """Seen values written inside ``text``: long values, URLs, e-mails, IBANs, hosts, or all of it;
        also in the compact reading (``_compact``), values of 12 characters or more, and with
        ``short_compact`` the shorter compact keys too (8 or more, a digit in them)."""
        if len(text) > MAX_SEARCH:  # callers treat longer text as "cannot tell" (carries_untrusted)
            text = text[:MAX_SEARCH]
        shown = read_as_shown(text)  # as written, and as a browser shows it
        readings = [text, *shown]
        for reading in (text, *shown) if shown else (text,):
            readings += decoded_runs(reading)  # base64, hex
        index, get, lock = self.index, self.index.get, self._lock
        hits: list[tuple[str, Entry]] = []
        for reading in readings:
            normalised = key_of(reading)
            with lock:  # a search may seal pending keys into a new automaton
                hits += index.found_in(normalised)
                if len(self.compact):  # regrouped or re-punctuated:
                    # 4237 4252 ..., hunter2 pass, a+b+c (see _compact)
                    found = self.compact.found_in(compact(reading))
                    if found:
                        hits += found if short_compact else [h for h in found if len(h[0]) >= MIN_CONTAINED]
            whole = get(normalised)  # the whole text, when it is one short value seen before
            if whole is not None:
                hits.append((normalised, whole))
            for entity in entities(reading):
                entry = get(entity.key)
                if entry is not None:
                    hits.append((entity.key, entry))
        return hits

    def copied(self, text: str) -> tuple[str, int] | None:
        """A phrase of ``text`` copied from untrusted output and held by no trusted source, and the
        index of the source it was first seen in (see ``_phrases``); None when there is none."""
        with self._lock:  # the first question builds the phrase index from the texts read so far
            return self.phrases.copied(text)

    def source(self, index: int) -> Source:
        return self.sources[index]

    # -- recording -----------------------------------------------------------------------------
    def wrote(self, arguments: Mapping[str, Any]) -> None:
        """Note the values a call sent that were not trusted when it sent them (a short text as a
        whole, and the URLs, addresses and IBANs in any text): a tool that stores them and gives them
        back (a note, a profile field, a file) does not make them the user's data, so they stay
        untrusted. Numbers are not noted."""
        if "untrusted" not in self._marks:  # nothing a third party wrote was read yet: nothing to carry
            return
        get, written = self.index.get, self._written
        with self._lock:
            for value in _written(arguments, []):
                size = len(value)
                if size > MAX_SEARCH:
                    continue
                # the entities written in text, and identifiers whole (names, ids, passwords)
                for entity in entities(value):
                    entry = get(entity.key)
                    if entry is None or not entry.mask & TRUSTED_ANY:
                        written.add(entity.key)
                if size <= _WHOLE_WRITTEN:
                    for key in keys_of(value):
                        entry = get(key)
                        if entry is None or not entry.mask & TRUSTED_ANY:
                            written.add(key)

    def record_result(
        self,
        *,
        tool: str,
        call_id: str,
        arguments: Mapping[str, Any],
        leaves: Iterable[Leaf],
        marks: Iterable[str] = (),
        redactions: Mapping[str, int] | None = None,
    ) -> ResultRecord:
        """Index one tool result's fields under their trust labels and update the session's marks."""
        counts = {"trusted": 0, "untrusted": 0}
        new_marks = set(marks) & _MARKS
        with self._lock:
            by_trust: dict[str, Source] = {}
            for leaf in leaves:
                source = by_trust.get(leaf.trust)
                if source is None:
                    source = by_trust[leaf.trust] = self._source(
                        "output", leaf.trust, tool, call_id, arguments
                    )
                bit = TRUSTED if leaf.trust == "trusted" else UNTRUSTED
                if self._index_value(leaf.value, source.index, bit):
                    counts[leaf.trust] += 1
            if counts["untrusted"]:
                new_marks.add("untrusted")
            first = by_trust.get("untrusted") or next(iter(by_trust.values()), None)
            for mark in new_marks - self._marks:
                where = first.describe() if first is not None else f"the output of {tool}"
                self._marked_by[mark] = (
                    where if mark == "untrusted" else f"the output of {tool} ({call_id[:8]}…)"
                )
            self._marks |= new_marks
            record = ResultRecord(
                call_id=call_id,
                tool=tool,
                arguments=dict(arguments),
                trusted_fields=counts["trusted"],
                untrusted_fields=counts["untrusted"],
                marks=frozenset(new_marks),
                redactions=dict(redactions or {}),
            )
            self.results.append(record)
        return record

    def take_marks(self, other: Session) -> None:
        """Add the marks of a session that ran inside this one (a sub-task): what it read, the agent
        that carries on here has read too."""
        if other is self:
            return
        for mark in other.marks - self.marks:
            with self._lock:
                self._marked_by.setdefault(mark, f"session {other.id} ({other.marked_by(mark)})")
                self._marks.add(mark)

    def read_earlier(self, texts: Iterable[str]) -> None:
        """Record what the model's context already holds besides the user's words (earlier tool
        results and replies of a continued conversation) as untrusted output: it was read before
        the session began, by whoever wrote it."""
        leaves = [Leaf(f"$[{i}]", text, "untrusted") for i, text in enumerate(texts) if text.strip()]
        if leaves:
            self.record_result(tool="(earlier conversation)", call_id="earlier", arguments={}, leaves=leaves)

    def mark(self, mark: str, *, by: str = "the application") -> None:
        """Note that the session read something (``untrusted``, ``secret``, ``pii``) outside a result;
        ``by`` says what, for the person asked (``marked_by``)."""
        if mark not in _MARKS:
            raise ValueError(f"unknown session mark {mark!r} (one of {sorted(_MARKS)})")
        with self._lock:
            self._marked_by.setdefault(mark, by)
            self._marks.add(mark)

    def _source(
        self,
        kind: Literal["user", "vouched", "output"],
        trust: Trust,
        tool: str | None = None,
        call_id: str | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> Source:
        source = Source(len(self.sources), kind, trust, tool, call_id, arguments)
        self.sources.append(source)
        return source

    def _index_value(self, value: Any, source: int, bit: int, *, whole_only: bool = False) -> bool:
        """Index one scalar: its keys, and for text the URLs, e-mails, IBANs, hosts and words in it."""
        add = self.index.add
        if bit == TRUSTED and self._written:
            written = self._written

            def add(key: str, source: int, mask: int, *, contained: bool = False) -> None:
                self.index.add(key, source, UNTRUSTED if key in written else mask, contained=contained)

        if not isinstance(value, str):
            keys = keys_of(value)
            for key in keys:
                add(key, source, bit)
            return bool(keys)
        found = text_keys(value, untrusted=bit == UNTRUSTED, whole_only=whole_only)
        # an echo of text the agent wrote while it was not trusted stays untrusted, as its keys do
        echoed = bit == TRUSTED and self._written and key_of(value) in self._written
        self.phrases.note(value, source, UNTRUSTED if echoed else bit)
        for key, contained in found:
            if contained:
                add(key, source, bit, contained=True)
            else:
                add(key, source, bit)
        if not whole_only:
            add_compact = self.compact.add
            for key in compact_keys(value):
                add_compact(key, source, UNTRUSTED if echoed else bit, contained=True)
        return bool(found) or bool(value.strip())

    # -- the current session ---------------------------------------------------------------------
    @contextmanager
    def active(self) -> Iterator[Session]:
        """Make this the current session for the code inside the ``with`` block (this context only)."""
        enclosing = _CURRENT.get()
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)
            if enclosing is not None:
                enclosing.take_marks(self)
