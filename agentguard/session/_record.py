"""What happens to a tool's result after it ran: redaction, then recording in the current session.

The guard calls :func:`process_result` once per successful call. Redaction applies whether or not a
session is open (a secret must not reach the model either way); recording needs a session. The
session is marked ``secret``/``pii`` from the result as the tool returned it, before redaction:
the tool *read* the secret even if the model never sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol, cast, runtime_checkable

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from agentguard import detectors
from agentguard.errors import ToolFailed
from agentguard.session._session import Leaf, Session

__all__ = [
    "UNFORMED",
    "OutputHandling",
    "ReadResult",
    "Redacted",
    "TreatsOutputs",
    "keep_result",
    "plain_json",
    "plain_mapping",
    "process_failure",
    "process_result",
    "read_redacted",
    "read_result",
    "redact_result",
]


class OutputHandling(Protocol):
    """How one tool's results are treated (``agentguard.policy``'s ``OutputTreatment``)."""

    @property
    def redact(self) -> frozenset[str]: ...

    def apply_redaction(self, value: Any) -> tuple[Any, dict[str, int]]: ...

    def leaves(self, value: Any) -> Iterable[Leaf]: ...


@runtime_checkable
class TreatsOutputs(Protocol):
    """A policy that says how tool results are treated (the ``PolicyEngine`` does, from outputs.toml)."""

    def output_treatment(self, tool: str) -> OutputHandling: ...


_TREATS: dict[type, bool] = {}


def _treats_outputs(policy: object) -> TreatsOutputs | None:
    """``policy`` if it is a ``TreatsOutputs``; the Protocol check (slow) is remembered per class."""
    kind = type(policy)
    known = _TREATS.get(kind)
    if known is None:
        known = _TREATS[kind] = isinstance(policy, TreatsOutputs)
    return cast(TreatsOutputs, policy) if known else None


_SEQUENCES = (list, tuple)  # tuples: isinstance with ``a | b`` builds a union on each call
_STREAMS = (Iterator, AsyncIterator, Awaitable)
_PLAIN = frozenset({str, int, float, bool, type(None), bytes})


def _joined(value: Any, depth: int = 0, out: list[str] | None = None) -> list[str]:
    """The strings of each list (or tuple) inside ``value`` joined: chunks of one text. A list, not a
    generator: results are small, and a generator per node cost more than the walk itself."""
    out = [] if out is None else out
    if depth >= 64 or type(value) in _PLAIN:  # a scalar holds no list (no ABC checks for it)
        return out
    if isinstance(value, Mapping):
        for item in value.values():
            if type(item) not in _PLAIN:
                _joined(item, depth + 1, out)
    elif isinstance(value, _SEQUENCES):
        strings = [v for v in value if isinstance(v, str)]
        if len(strings) > 1:
            out.append("".join(strings))
        for item in value:
            if not isinstance(item, str):
                _joined(item, depth + 1, out)
    return out


def readable(value: Any) -> Any:
    """What the model reads of a result, as JSON-like data: a pydantic model (an MCP
    ``CallToolResult``), a dataclass or an object a framework prints (its ``str()``), at any depth.
    Detectors walk only strings, mappings and sequences; a secret inside an object is read too.
    Never call it on a stream (``_unreadable``): converting one would consume it."""
    if type(value) in _PLAIN:
        return value
    try:
        return to_jsonable_python(value, fallback=str, by_alias=True)
    except Exception:  # noqa: BLE001 - an object that cannot be converted: read what it prints
        try:
            return str(value)
        except Exception:  # noqa: BLE001 - nor printed: nothing the guard can read
            return ""


def _unreadable(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds content the guard cannot read without consuming it (a generator, an
    iterator, an open file, an awaitable): it is neither indexed nor scanned, so it cannot be told."""
    kind = type(value)
    if kind in _PLAIN:  # the common result, decided without the ABC checks below
        return False
    if kind is dict or kind is list:  # JSON containers (a wire result): no stream, no ABC checks
        if depth >= 64:
            return False
        return any(_unreadable(v, depth + 1) for v in (value.values() if kind is dict else value))
    if isinstance(value, _STREAMS):
        return True
    if depth >= 64:
        return False
    if isinstance(value, Mapping):
        return any(_unreadable(v, depth + 1) for v in value.values())
    if isinstance(value, _SEQUENCES):
        return any(_unreadable(v, depth + 1) for v in value)
    return False


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_PLAIN_MAPPINGS: set[type] = {dict}
_PLAIN_DEPTH = 32  # deeper: the general way (whose conversion may give up on a deep value)


def plain_mapping(kind: type[dict[str, Any]]) -> None:
    """Read ``kind`` (a ``dict`` subclass that overrides nothing, e.g. the MCP proxy's wire result) as
    a dict: a result of it and plain JSON is read as it is, without converting it first."""
    _PLAIN_MAPPINGS.add(kind)


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is JSON data of exact types with text keys, nested less than
    ``_PLAIN_DEPTH``: then it holds no stream (``_unreadable``) and ``readable`` of it has the same
    strings in the same places, so it is read as it is (no converted copy, no second walk)."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if depth >= _PLAIN_DEPTH:
        return False
    if kind is list:
        return all(type(v) in _JSON_SCALARS or _plain_json(v, depth + 1) for v in value)
    if kind in _PLAIN_MAPPINGS:
        return all(
            type(k) is str and (type(v) in _JSON_SCALARS or _plain_json(v, depth + 1))
            for k, v in value.items()
        )
    return False


UNFORMED: Any = object()  # ``ReadResult.formed`` of a result not read in a form


class ReadResult(NamedTuple):
    """A result as read for the caller and the session (``read_result``), before it is recorded."""

    shown: Any  # what the caller gets (redacted); None when withheld
    fields: dict[str, Any]  # for the audit record so far (``redacted``)
    withheld: ToolFailed | None  # the result could not be redacted: the caller gets this instead
    marks: list[str]
    leaves: list[Leaf]
    formed: Any = UNFORMED  # ``shown`` in the ``form`` it was read in (``read_result``), if it was


class Redacted(NamedTuple):
    """A result redacted for the caller (``redact_result``), not yet read for the session."""

    handling: OutputHandling | None
    shown: Any  # what the caller gets (redacted); None when withheld
    fields: dict[str, Any]  # for the audit record so far (``redacted``)
    withheld: ToolFailed | None  # the result could not be redacted: the caller gets this instead


def redact_result(policy: object, *, tool: str, value: Any) -> Redacted:
    """Redact ``value`` as the tool's output treatment says: all that decides what the caller gets."""
    treats = _treats_outputs(policy)
    handling = treats.output_treatment(tool) if treats is not None else None
    fields: dict[str, Any] = {}
    shown = value
    withheld: ToolFailed | None = None
    if handling is not None and handling.redact:
        try:
            shown, counts = handling.apply_redaction(value)
        except Exception as exc:  # noqa: BLE001 - fail closed: the model gets an error, not the secret
            withheld = ToolFailed(
                f"{tool}: the result was withheld: it could not be redacted ({type(exc).__name__})",
                tool=tool,
                withheld=True,
            )
            shown, counts = None, {}
        if counts:  # a list, not {kind: n}: the audit log would take "github_token" for a secret's name
            fields["redacted"] = [{"kind": kind, "count": n} for kind, n in sorted(counts.items())]
    return Redacted(handling, shown, fields, withheld)


plain_json = _plain_json  # reading JSON data cannot fail or consume it: it may follow the answer


def read_result(
    policy: object,
    session: Session | None,
    *,
    tool: str,
    value: Any,
    form: Callable[[Any], Any] | None = None,
) -> ReadResult:
    """Redact ``value`` and read it for the session (its marks and leaves), without recording it.

    Everything that decides what the caller gets, or that could fail on an odd result, happens here,
    so a result can be handed on before ``keep_result`` records it (``Guard.acall``'s ``deliver``).
    ``form`` (an adapter's wire form, ``Guard.acall``'s ``summarize``): the session reads the result
    in that form, as the caller's wire carries it, so one result reads the same whichever way it
    came (a typed model may hold fields its wire form leaves out). Raises for a result the guard
    cannot read (the caller withholds it)."""
    return read_redacted(session, redact_result(policy, tool=tool, value=value), value=value, form=form)


def read_redacted(
    session: Session | None,
    redacted: Redacted,
    *,
    value: Any,
    form: Callable[[Any], Any] | None = None,
) -> ReadResult:
    """``read_result`` after its redaction: the marks and leaves of ``redacted`` for ``session``."""
    handling, shown, fields, withheld = redacted
    if session is None:
        return ReadResult(shown, fields, withheld, [], [])
    result = shown
    if form is not None:  # the result and its redacted form as the caller's wire carries them
        unredacted = value
        value = form(value)
        shown = value if shown is unredacted else None if shown is None else form(shown)
    formed = shown if form is not None else UNFORMED
    if _plain_json(value):  # JSON data (a wire result): read as it is
        stream, read = False, value
    else:
        stream = _unreadable(value)
        read = value if stream else readable(value)
    found = detectors.categories_in(read)
    marks: list[str] = [mark for mark in ("secret", "pii") if mark in found]
    if "secret" not in marks and any(detectors.contains(text, "secret") for text in _joined(read)):
        marks.append("secret")  # a key split across the items of a list: the model joins them
    if stream:  # a stream the model reads later: nothing in it was seen, so anything may be
        marks = ["untrusted", "secret", "pii"]
    leaves: list[Leaf]
    if withheld is not None:
        leaves = []  # the model reads none of it
    elif handling is None:
        leaves = [Leaf("$", v, "untrusted") for v in detectors.iter_strings(read)]
    else:
        # a model's leaves from its dump above (the same JSON); anything else as the paths read it
        leaves = list(handling.leaves(read if shown is value and isinstance(value, BaseModel) else shown))
    return ReadResult(result, fields, withheld, marks, leaves, formed)


def keep_result(
    session: Session | None, read: ReadResult, *, tool: str, call_id: str, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """Record a read result in ``session``; the fields for the audit record. Raises the withheld error
    (after recording that the call's values were written) when the result was withheld."""
    fields = dict(read.fields)
    if session is not None:
        session.wrote(arguments)  # before the result is read: a store may give the values straight back
        record = session.record_result(
            tool=tool,
            call_id=call_id,
            arguments=arguments,
            leaves=read.leaves,
            marks=read.marks,
            redactions={r["kind"]: r["count"] for r in fields.get("redacted", ())},
        )
        fields["provenance"] = {
            "trusted_fields": record.trusted_fields,
            "untrusted_fields": record.untrusted_fields,
            "marks": sorted(record.marks),
        }
    if read.withheld is not None:
        raise read.withheld
    return fields


def process_result(
    policy: object,
    session: Session | None,
    *,
    tool: str,
    call_id: str,
    arguments: Mapping[str, Any],
    value: Any,
) -> tuple[Any, dict[str, Any]]:
    """(the value to hand back, fields for the audit record). Fields are empty when nothing applied."""
    read = read_result(policy, session, tool=tool, value=value)
    return read.shown, keep_result(session, read, tool=tool, call_id=call_id, arguments=arguments)


def process_failure(
    policy: object,
    session: Session | None,
    *,
    tool: str,
    call_id: str,
    arguments: Mapping[str, Any],
    error: BaseException,
) -> None:
    """Record a failed call's error text in the session, labelled like the tool's results: adapters
    hand it to the model (a server's error page, a message quoting what the tool read)."""
    if session is None or session.closed or not isinstance(error, Exception):
        return
    text = f"{type(error).__name__}: {error}"
    treats = _treats_outputs(policy)
    handling = treats.output_treatment(tool) if treats is not None else None
    leaves = handling.leaves(text) if handling is not None else [Leaf("$", text, "untrusted")]
    marks = [mark for mark in ("secret", "pii") if detectors.contains(text, mark)]
    session.record_result(tool=tool, call_id=call_id, arguments=arguments, leaves=leaves, marks=marks)
