"""What one text value of a tool result is indexed under: a pure function of the text, cached.

Results repeat values (``"sent"``, a status, the same address in every listing), and working out a
text's keys (normal form, entities, words, the other readings of an amount) costs far more than
filing them, so the keys of short texts are worked out once.
"""

from __future__ import annotations

import functools
import re

from agentguard.session._values import (
    MAX_KEY_CHARS,
    MIN_CONTAINED,
    decoded,
    entities,
    key_of,
    keys_of,
    mailbox_key,
    other_readings,
    tokens,
    url_keys,
)

__all__ = ["text_keys"]

_GROUPED_DIGITS = re.compile(r"\d[ .]\d{3}")
_CACHED_CHARS = 512  # longer texts (pages) rarely repeat: worked out every time, never cached

KeyList = tuple[tuple[str, bool], ...]  # (key, also found inside longer text)


def text_keys(value: str, *, untrusted: bool, whole_only: bool = False) -> KeyList:
    """Every key ``value`` is filed under, with whether it is a contained key; empty for blank text.

    Its keys as a whole; unless ``whole_only``, also the URLs, e-mails, IBANs and hosts written in it
    (and in its decoded form: ``%40`` is ``@``), the words, and for ``untrusted`` text the
    European or spaced reading of amounts (ambiguous, so never a source of trust).
    """
    if len(value) <= _CACHED_CHARS:
        return _cached(value, untrusted, whole_only)
    return _work_out(value, untrusted, whole_only)


@functools.lru_cache(maxsize=8192)
def _cached(value: str, untrusted: bool, whole_only: bool) -> KeyList:
    return _work_out(value, untrusted, whole_only)


def _work_out(value: str, untrusted: bool, whole_only: bool) -> KeyList:
    if not value.strip():
        return ()
    out: list[tuple[str, bool]] = []
    base = key_of(value)
    if len(base) <= MAX_KEY_CHARS:
        out.extend((key, len(key) >= MIN_CONTAINED) for key in keys_of(value))
    if whole_only:
        return tuple(out)
    plain = decoded(value)
    for text in (value,) if plain is None else (value, plain):
        for entity in entities(text):
            out.append((entity.key, entity.kind != "host"))
            if entity.kind == "url":
                out.extend((key, True) for key in url_keys(entity.text)[1:])  # the link over http/https
            elif entity.kind == "email":
                box = mailbox_key(entity.key)  # the mailbox Gmail delivers it to: dots dropped
                if box is not None:
                    out.append((box, True))
    if untrusted and _GROUPED_DIGITS.search(base):  # "1.000.000,00": also the million
        out.extend((key, False) for key in other_readings(base))
    for word in tokens(base):
        out.append((word, False))
        if "." in word and ":" not in word:  # a link written without its scheme: evil.example/drop
            out.extend((key, len(key) >= MIN_CONTAINED) for key in url_keys(word))
    return tuple(out)
