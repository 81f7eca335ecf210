"""Redaction of a tool's result: detector hits of the ``redact`` categories replaced in every part of it
the model can read (text, mapping keys of any type, a pydantic model's by-alias dump, an object's
printed form); a result that still reads with a hit afterwards is refused (``RedactionFailed``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from pydantic import BaseModel

from agentguard import detectors
from agentguard.session._record import readable

__all__ = ["MAX_DEPTH", "RedactionFailed", "redact"]

MAX_DEPTH = 64
_ENCODED = "[REDACTED:encoded_secret]"


class RedactionFailed(ValueError):
    """A result still reads with a hit of a ``redact`` category after redaction: it must be withheld."""


def redact(value: Any, categories: tuple[detectors.Category, ...]) -> tuple[Any, dict[str, int]]:
    """``value`` with detector hits of ``categories`` replaced, and the count per kind."""
    counts: dict[str, int] = {}

    def text(s: str) -> str:
        findings = detectors.scan(s, categories)
        out: list[str] = []
        pos = 0
        for f in findings:
            if f.start < pos:
                continue
            out.append(s[pos : f.start])
            out.append(f"[REDACTED:{f.kind}]")
            counts[f.kind] = counts.get(f.kind, 0) + 1
            pos = f.end
        out.append(s[pos:])
        shown = "".join(out)
        # A key in an encoded view (base64, hex, percent) is a secret too: the token carrying it goes.
        if "secret" in categories and detectors.contains(shown, "secret"):
            before = shown.count(_ENCODED)
            shown = detectors.redact_text(shown, ("secret",))
            added = shown.count(_ENCODED) - before
            if added:
                counts["encoded_secret"] = counts.get("encoded_secret", 0) + added
        return shown

    def joined(items: list[Any]) -> list[Any]:
        """Items that together hold a secret (a token split across chunks or lines) are replaced."""
        if "secret" not in categories or sum(isinstance(v, str) for v in items) < 2:
            return items
        starts: list[tuple[int, int]] = []  # (offset in the joined text, item index)
        pos = 0
        for i, v in enumerate(items):
            if isinstance(v, str):
                starts.append((pos, i))
                pos += len(v)
        whole = "".join(v for v in items if isinstance(v, str))
        for f in detectors.scan(whole, ("secret",)):
            hit = [i for (start, i) in starts if start < f.end and start + len(items[i]) > f.start]
            if len(hit) < 2:
                continue  # within one item: that item's own scan found it
            for i in hit:
                items[i] = f"[REDACTED:{f.kind}]"
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return items

    exotic = False  # a part the walk redacts in a form of its own: checked again at the end

    def key(k: Any, depth: int) -> Any:
        """A mapping key as the model reads it, redacted: a token used as a key reaches it too."""
        nonlocal exotic
        if isinstance(k, str):
            return text(k)
        if k is None or isinstance(k, bool | int | float):
            return k
        exotic = True  # bytes, a tuple, an object: read as the text a framework prints for it
        plain = k.decode("utf-8", "replace") if isinstance(k, bytes) else readable(k)
        shown = walk(plain, depth + 1)
        if shown == plain:
            return k
        return shown if isinstance(shown, str) else str(shown)

    def model(node: BaseModel, depth: int) -> Any:
        """A pydantic model redacted in its by-alias dump (what a framework serialises); handed back
        as a model when one can be rebuilt whose dump is exactly the redacted one, else the dump."""
        nonlocal exotic
        exotic = True
        try:
            dumped = node.model_dump(mode="json", by_alias=True)
        except Exception:  # noqa: BLE001 - it cannot be dumped: redacted as the text it prints
            return printed(node, depth)
        redacted = walk(dumped, depth + 1)
        if redacted == dumped:
            return node
        attempts: tuple[Callable[[], BaseModel], ...] = (
            lambda: type(node).model_validate(redacted),  # its own validation, when the dump is valid input
            lambda: node.model_copy(update=fields(node, depth)),  # aliases only for serialising
        )
        for attempt in attempts:
            try:
                candidate = attempt()
                if candidate.model_dump(mode="json", by_alias=True, warnings=False) == redacted:
                    return candidate
            except Exception:  # noqa: BLE001, S112 - not rebuilt this way: the next, else the dump itself
                continue
        return redacted

    def fields(node: BaseModel, depth: int) -> dict[str, Any]:
        """The model's fields that redaction changes, redacted (not counted again)."""
        saved = dict(counts)
        update: dict[str, Any] = {}
        try:
            for name in type(node).model_fields:
                value = getattr(node, name)
                shown = walk(value, depth + 1)
                if shown is not value:
                    update[name] = shown
        finally:
            counts.clear()
            counts.update(saved)
        return update

    def printed(node: Any, depth: int) -> Any:
        """An object redacted in the form the model reads; the object itself when nothing was found."""
        nonlocal exotic
        exotic = True
        plain = readable(node)
        redacted = walk(plain, depth + 1)
        return node if redacted == plain else redacted

    def walk(node: Any, depth: int) -> Any:
        nonlocal exotic
        if isinstance(node, str):
            return text(node)
        if depth >= MAX_DEPTH:
            exotic = True  # not walked further: the check at the end reads what is below
            return node
        if isinstance(node, dict):  # keys too: a token used as a key reaches the model as well
            return {
                (text(k) if type(k) is str else key(k, depth)): walk(v, depth + 1) for k, v in node.items()
            }
        if isinstance(node, list):
            return joined([walk(v, depth + 1) for v in node])
        if isinstance(node, tuple):
            return tuple(joined([walk(v, depth + 1) for v in node]))
        if isinstance(node, BaseModel):
            return model(node, depth)
        if isinstance(node, bytes):
            return text(node.decode("utf-8", "replace"))
        if node is None or isinstance(node, bool | int | float | Iterator | AsyncIterator | Awaitable):
            return node  # nothing to redact; a stream is marked, never consumed, here
        # a dataclass, a set, an object a framework prints: redacted in the form the model reads,
        # and handed back as the object itself when nothing was found
        return printed(node, depth)

    shown = walk(value, 0)
    if exotic and detectors.categories_in(readable(shown), categories):
        # A part redacted in a form of its own still reads with a hit (a model rebuilt by its own
        # validators, an object printing what its dump did not hold): redact the plain data the
        # guard read instead, and if even that keeps one, refuse rather than hand it back.
        counts.clear()
        shown = walk(readable(value), 0)
        if detectors.categories_in(shown, categories):
            raise RedactionFailed("a part of the result could not be redacted")
    return shown, counts
