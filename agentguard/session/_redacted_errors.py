"""A failed call's error as the model may read it: its text, its copy and its cause chain with the
tool's ``redact`` categories replaced (the adapters hand errors to the model as they hand it results)."""

from __future__ import annotations

import traceback
from typing import cast

from agentguard import detectors
from agentguard.session._record import OutputHandling, _treats_outputs

__all__ = ["redacted_chain", "redacted_error", "redacted_text"]


def redacted_text(policy: object, tool: str, text: str) -> str:
    """``text`` (a failed call's error message) with the tool's ``redact`` categories replaced: the
    adapters hand it to the model as they hand it a result."""
    treats = _treats_outputs(policy)
    handling = treats.output_treatment(tool) if treats is not None else None
    if handling is None or not handling.redact:
        return text
    shown, _ = handling.apply_redaction(text)
    return shown if isinstance(shown, str) else text


def redacted_error(policy: object, tool: str, error: BaseException) -> BaseException | None:
    """``error`` as the model may read it (its message, arguments and attributes, through ``str``,
    ``repr`` or a framework's handler) with the tool's ``redact`` categories replaced: ``error`` itself
    when nothing is, else a copy of the same type (its ``__init__`` not run), or ``None`` when no copy
    reads clean (a ``__str__`` that finds the secret elsewhere): the caller then raises its own text."""
    treats = _treats_outputs(policy)
    handling = treats.output_treatment(tool) if treats is not None else None
    if handling is None or not handling.redact:
        return error
    try:
        args, _ = handling.apply_redaction(list(error.args))
        state, _ = handling.apply_redaction(dict(vars(error)))
        if args == list(error.args) and state == vars(error) and _clean(handling, error):
            return error
        copy = type(error).__new__(type(error))
        copy.args = tuple(args)
        copy.__dict__.update(state)
        copy.__traceback__ = error.__traceback__
        return copy if _clean(handling, copy) else None
    except Exception:  # noqa: BLE001 - fail closed: the caller raises redacted text of its own
        return None


def _printed(error: BaseException) -> str:
    """What a traceback prints of ``error`` itself: its text and repr, its notes, a ``SyntaxError``'s
    source line, and an exception group's members with their own causes (printed under the group)."""
    text = f"{error}\n{error!r}\n" + "".join(traceback.format_exception(error, chain=False))
    if isinstance(error, BaseExceptionGroup):
        text += "".join("".join(traceback.format_exception(sub)) for sub in error.exceptions)
    return text


def _clean(handling: OutputHandling, error: BaseException) -> bool:
    """Whether ``error`` prints (``str``, ``repr``, a traceback of it) without a hit of the ``redact``
    categories."""
    try:
        text = _printed(error)
    except Exception:  # noqa: BLE001 - an exception that cannot be printed cannot be shown clean
        return False
    return not any(detectors.contains(text, cast(detectors.Category, c)) for c in handling.redact)


_MAX_CHAIN = 16  # links of a cause chain read; a longer chain is cut there


def _link(error: BaseException) -> BaseException | None:
    """The next exception a traceback prints after ``error``: its cause, else its unsuppressed context."""
    if error.__cause__ is not None:
        return error.__cause__
    return None if error.__suppress_context__ else error.__context__


def redacted_chain(policy: object, tool: str, error: BaseException, _depth: int = 0) -> BaseException | None:
    """``error`` and every cause a traceback prints after it, as :func:`redacted_error` shows each:
    ``error`` itself when no link needs redacting, else a copy whose chain is the redacted links
    (cut at a link that cannot be made clean, or past ``_MAX_CHAIN``). A framework that prints the
    traceback of a failed call (``ToolFailed`` raised from the tool's error) shows the model every
    link, so a secret in a cause is a secret handed to the model."""
    shown = redacted_error(policy, tool, error)
    if shown is None:
        return None
    link = _link(error)
    if link is None:
        return shown
    inner = redacted_chain(policy, tool, link, _depth + 1) if _depth < _MAX_CHAIN else None
    if shown is error and inner is link:
        return error
    if shown is error:
        try:  # a copy: the tool's own exception keeps its chain
            shown = type(error).__new__(type(error))
            shown.args = error.args
            shown.__dict__.update(vars(error))
            shown.__traceback__ = error.__traceback__
        except Exception:  # noqa: BLE001 - an exception that cannot be copied: the chain is cut
            return None
    shown.__cause__ = inner
    shown.__suppress_context__ = True
    return shown
