"""The session's value index: key -> where it was seen, without scanning the history.

Exact lookups are one dict probe. "Does this text argument *contain* a value seen in an output"
runs an Aho-Corasick automaton (pyahocorasick) over the argument, so its cost depends on the
argument's length, not on how much output the session has read. Keys added since the last search
become a new automaton; automata of similar size are merged (like a binary counter), so there are
O(log n) of them and each key is rebuilt into a larger automaton O(log n) times in all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import ahocorasick

__all__ = ["TRUSTED", "TRUSTED_ANY", "UNTRUSTED", "USER", "VOUCHED", "Entry", "ValueIndex"]

USER = 1  # the user's own request
VOUCHED = 2  # a value the application vouched for
TRUSTED = 4  # a trusted output (the user's own data)
UNTRUSTED = 8  # an untrusted output (content third parties can write)
TRUSTED_ANY = USER | VOUCHED | TRUSTED
MAX_SOURCES = 32  # sources remembered per key (evidence and from_tool); the mask never forgets


class Entry:
    """Where one key was seen: a bit mask of source kinds and the first sources of each kind."""

    __slots__ = ("first", "first_trusted", "first_untrusted", "mask", "sources")

    def __init__(self) -> None:
        self.mask = 0
        self.first = -1
        self.first_trusted = -1
        self.first_untrusted = -1
        self.sources: list[int] = []

    def add(self, source: int, mask: int) -> None:
        if self.first < 0:
            self.first = source
        if mask & TRUSTED_ANY and self.first_trusted < 0:
            self.first_trusted = source
        if mask & UNTRUSTED and self.first_untrusted < 0:
            self.first_untrusted = source
        self.mask |= mask
        if len(self.sources) < MAX_SOURCES and (not self.sources or self.sources[-1] != source):
            self.sources.append(source)


class ValueIndex:
    """Keys of one session. Not thread-safe on its own: the session serialises writers."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._contained: set[str] = set()
        self._pending: list[str] = []
        self._runs: list[tuple[list[str], ahocorasick.Automaton]] = []  # oldest (largest) first
        # the entry of a key, or None: the dict's own get (conditions probe it a dozen times a call)
        self.get: Callable[[str], Entry | None] = self._entries.get

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: str, source: int, mask: int, *, contained: bool = False) -> None:
        """Record ``key`` as seen in ``source``; ``contained`` keys are also found inside longer text."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = Entry()
        entry.add(source, mask)
        if contained and key not in self._contained:
            self._contained.add(key)
            self._pending.append(key)

    def find_in(self, text: str) -> Iterator[tuple[str, Entry]]:
        """Every contained key that occurs inside ``text`` (already normalised), with its entry."""
        if self._pending:
            self._seal()
        entries = self._entries
        for _keys, automaton in self._runs:
            for _end, key in automaton.iter(text):
                yield key, entries[key]

    def found_in(self, text: str) -> list[tuple[str, Entry]]:
        """``list(find_in(text))``, without a generator's frame per key found."""
        if self._pending:
            self._seal()
        entries = self._entries
        return [(key, entries[key]) for _keys, automaton in self._runs for _end, key in automaton.iter(text)]

    def _seal(self) -> None:
        keys, self._pending = self._pending, []
        while self._runs and len(self._runs[-1][0]) <= 2 * len(keys):
            keys = self._runs.pop()[0] + keys
        automaton = ahocorasick.Automaton()
        for key in keys:
            automaton.add_word(key, key)
        automaton.make_automaton()
        self._runs.append((keys, automaton))
