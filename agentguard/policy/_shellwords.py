"""Static word expansion for shell words: what bash's quote removal makes of them, no run time needed."""

from __future__ import annotations

__all__ = ["CannotTell", "ansi_c", "dq_unescape", "unescape"]


class CannotTell(Exception):
    """The construct's meaning is known only when it runs, or the parser may have it wrong."""


_DQ_ESCAPES = frozenset('$`"\\')
_ANSI = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
         "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def unescape(raw: str) -> list[tuple[str, bool]]:
    """An unquoted word's text as (text, quoted) pieces: ``\\x`` is a quoted ``x``, ``\\<newline>`` goes."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(raw):
        j = raw.find("\\", i)
        if j < 0:
            out.append((raw[i:], False))
            break
        if j > i:
            out.append((raw[i:j], False))
        if j + 1 < len(raw):
            if raw[j + 1] != "\n":
                out.append((raw[j + 1], True))
            i = j + 2
        else:
            out.append(("\\", True))
            i = j + 1
    return out


def dq_unescape(raw: str) -> str:
    """Text inside double quotes: a backslash escapes only ``$ ` " \\`` and newline."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) and (raw[i + 1] in _DQ_ESCAPES or raw[i + 1] == "\n"):
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def ansi_c(raw: str) -> str:
    """The inside of ``$'...'`` with bash's escapes decoded; a NUL or ``\\c`` cannot be told."""
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = raw[i + 1]
        i += 2
        if e in _ANSI:
            out.append(_ANSI[e])
        elif e in "01234567":
            j = i
            while j < n and j < i + 2 and raw[j] in "01234567":
                j += 1
            out.append(chr(int(e + raw[i:j], 8) & 0xFF))
            i = j
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            j = i
            while j < n and j < i + width and raw[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i:
                out.append("\\" + e)
                continue
            code = int(raw[i:j], 16)
            if code > 0x10FFFF:
                raise CannotTell("$'...' escape out of range")
            out.append(chr(code))
            i = j
        elif e == "c":
            raise CannotTell("$'\\c' control escape")
        else:
            out.append("\\" + e)
    text = "".join(out)
    if "\x00" in text:
        raise CannotTell("NUL in $'...'")  # bash cuts the word there
    return text
