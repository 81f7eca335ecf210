"""A policy line's fields, split at top-level commas exactly as casbin's ``_extract_tokens`` splits
them (the tests compare the two on random lines), with unbalanced brackets explained.

Plain text work with no imports from the rest of the policy, so that ``rule_names_address`` can
split a rule line without loading the rule reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["_column", "_pieces", "_token_spans"]  # for the policy package only

_SPLIT_CHARS = re.compile(r"[,\[\]()]")
_BRACKET = re.compile(r"[\[\]()]")
# A field whose brackets nest at most two deep, as casbin counts them (any closer closes any opener,
# quotes do not hide brackets), and a line of five such fields (a rule): a line this matches has no
# other top-level comma, so the groups are casbin's fields. Most rule lines are read this way.
_FLAT_GROUP = r"[(\[][^()\[\]]*[)\]]"
_GROUP = rf"[(\[](?:[^()\[\]]++|{_FLAT_GROUP})*+[)\]]"
_FIELD = rf"((?:[^,()\[\]]++|{_GROUP})*+)"
_RULE_FIELDS = re.compile(",".join([_FIELD] * 5))


def _token_spans(line: str) -> list[tuple[int, int]] | str:
    """Casbin's top-level comma split, as (start, end) spans; a string explains unbalanced brackets.

    The same walk as casbin's ``_extract_tokens`` (over the same characters, found by a regex), except
    that unbalanced brackets are reported instead of crashing or silently changing the split; the
    tests compare the two on random lines.
    """
    depth: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    start = 0
    for found in _SPLIT_CHARS.finditer(line):
        ch = found.group()
        i = found.start()
        if ch == "(" or ch == "[":
            depth.append((ch, i))
        elif ch == ")" or ch == "]":
            if not depth:
                return f"unbalanced {ch!r} at column {i + 1} (casbin counts brackets even inside quotes)"
            depth.pop()
        elif not depth:
            spans.append((start, i))
            start = i + 1
    if depth:
        ch, i = depth[-1]
        return f"{ch!r} at column {i + 1} is never closed (casbin counts brackets even inside quotes)"
    spans.append((start, len(line)))
    return spans


def _pieces(line: str) -> list[str] | str:
    """The line's fields, unstripped, split at top-level commas (see ``_token_spans``).

    Most lines need no bracket walk: split at every comma; a rule line whose brackets nest at most
    two deep is read by one regex (``_RULE_FIELDS``); else pieces are joined back while brackets are
    open, and a piece that closes more brackets than are open before it takes the exact walk (which
    explains the problem).
    """
    raw = line.split(",")
    if "(" not in line and "[" not in line and ")" not in line and "]" not in line:
        return raw
    fields = _RULE_FIELDS.fullmatch(line)
    if fields is not None:
        return list(fields.groups())
    out: list[str] = []
    depth = 0
    for piece in raw:
        if _BRACKET.search(piece) is None:
            if depth:
                out[-1] = out[-1] + "," + piece
            else:
                out.append(piece)
            continue
        closes = piece.count(")") + piece.count("]")
        if closes > depth:  # may go below zero inside the piece: let the exact walk decide
            spans = _token_spans(line)
            return spans if isinstance(spans, str) else [line[a:b] for a, b in spans]
        if depth:
            out[-1] = out[-1] + "," + piece
        else:
            out.append(piece)
        depth += piece.count("(") + piece.count("[") - closes
    if depth:
        spans = _token_spans(line)
        return spans if isinstance(spans, str) else [line[a:b] for a, b in spans]
    return out


def _column(pieces: Sequence[str], index: int) -> int:
    """1-based column where field ``index`` starts (after its leading blanks)."""
    start = sum(len(p) + 1 for p in pieces[:index])
    piece = pieces[index]
    return start + (len(piece) - len(piece.lstrip())) + 1
