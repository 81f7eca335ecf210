"""Modal dialogs; each returns a typed result through ``ModalScreen[T]`` (``None`` = cancelled)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import orjson
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static, TextArea

from agentguard.approval import (
    Grant,
    GrantScope,
    QueuedRequest,
    grant_reach,
    parse_duration,
    render_rule,
    shown_json,
    suggest_pattern,
)
from agentguard.errors import ApprovalError

__all__ = ["ConfirmDialog", "DenyDialog", "EditDialog", "GrantChoice", "HelpScreen", "ScopeDialog"]


@dataclass(frozen=True)
class GrantChoice:
    """What the approver chose in the "approve always" dialog."""

    scope: GrantScope
    pattern: str | None
    expires_in: timedelta | None


_SCOPE_LABELS = {
    GrantScope.CALL: "this exact call",
    GrantScope.PATTERN: "this tool, matching a pattern",
    GrantScope.TOOL: "the whole tool, for this agent",
}


_T = TypeVar("_T")


class _Dialog(ModalScreen[_T]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def on_mount(self) -> None:
        # A steady cursor reads as well as a blinking one, and keeps screenshots deterministic.
        for field in self.query(Input).results():
            field.cursor_blink = False
        for area in self.query(TextArea).results():
            area.cursor_blink = False

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.action_cancel()
        elif event.button.id == "ok":
            self.submit()

    def submit(self) -> None:
        raise NotImplementedError

    def show_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(message)
        error.display = True


class DenyDialog(_Dialog[str | None]):
    """Asks for the reason; the agent receives it as the tool's error result."""

    def __init__(self, queued: QueuedRequest) -> None:
        super().__init__()
        self.queued = queued

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Deny {self.queued.call.tool} for {self.queued.call.agent}",
                classes="dialog-title",
                markup=False,
            )
            yield Label("Reason (the agent sees it):")
            yield Input(placeholder="e.g. use the staging bucket instead", id="reason", compact=True)
            yield Label("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Deny", variant="error", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.show_error("A denial needs a reason: the agent is told it.")
            return
        self.dismiss(reason)


class EditDialog(_Dialog[dict[str, Any] | None]):
    """Edit the arguments as JSON; the edited call (validated here as a JSON object) is approved."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Approve edited"),
    ]

    def __init__(self, queued: QueuedRequest) -> None:
        super().__init__()
        self.queued = queued

    def compose(self) -> ComposeResult:
        text = shown_json(orjson.dumps(self.queued.call.arguments, option=orjson.OPT_INDENT_2).decode())[0]
        with Vertical(classes="dialog wide"):
            yield Label(
                f"Edit the arguments of {self.queued.call.tool}, then approve",
                classes="dialog-title",
                markup=False,
            )
            yield TextArea(text, id="json", tab_behavior="indent", soft_wrap=True, compact=True)
            yield Label("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Approve edited (ctrl+s)", variant="success", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#json", TextArea).focus()

    def action_submit(self) -> None:
        self.submit()

    def submit(self) -> None:
        text = self.query_one("#json", TextArea).text
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self.show_error(f"Not valid JSON: {exc}")
            return
        if not isinstance(value, dict):
            self.show_error("The arguments must be a JSON object: { ... }")
            return
        self.dismiss(value)


class ScopeDialog(_Dialog[GrantChoice | None]):
    """Approve always: pick the scope, edit the pattern, set an expiry; shows the rule it will write."""

    def __init__(self, queued: QueuedRequest, preview: Callable[[GrantChoice], Grant]) -> None:
        super().__init__()
        self.queued = queued
        self.preview = preview
        self.suggested = suggest_pattern(queued.call)

    def compose(self) -> ComposeResult:
        call = self.queued.call
        with Vertical(classes="dialog wide"):
            yield Label(f"Approve always: {call.tool} for {call.agent}", classes="dialog-title", markup=False)
            with RadioSet(id="scope", compact=True):
                for scope, label in _SCOPE_LABELS.items():
                    disabled = scope is GrantScope.PATTERN and self.suggested is None
                    yield RadioButton(
                        label, value=scope is GrantScope.PATTERN and not disabled, disabled=disabled
                    )
            yield Label("Pattern:")
            yield Input(
                self.suggested or "",
                id="pattern",
                disabled=self.suggested is None,
                placeholder="(no path, command or url argument to match)",
                compact=True,
            )
            yield Label("Expires after (e.g. 30m, 8h, 7d; empty = never):")
            yield Input("", id="expires", placeholder="never", compact=True)
            yield Static("", id="rule", classes="rule-preview", markup=False)
            yield Label("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Grant", variant="warning", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        if self.suggested is None:
            self.query_one("#scope", RadioSet).query(RadioButton).first().value = True
        self.query_one("#scope", RadioSet).focus()
        self._refresh_preview()

    def _scope(self) -> GrantScope:
        index = self.query_one("#scope", RadioSet).pressed_index
        return list(_SCOPE_LABELS)[index] if index >= 0 else GrantScope.CALL

    def _choice(self) -> GrantChoice:
        expires = self.query_one("#expires", Input).value.strip()
        scope = self._scope()
        pattern = self.query_one("#pattern", Input).value if scope is GrantScope.PATTERN else None
        return GrantChoice(
            scope=scope, pattern=pattern, expires_in=parse_duration(expires) if expires else None
        )

    def _refresh_preview(self) -> GrantChoice | None:
        rule = self.query_one("#rule", Static)
        error = self.query_one("#error", Label)
        self.query_one("#pattern", Input).disabled = self._scope() is not GrantScope.PATTERN
        try:
            choice = self._choice()
            grant = self.preview(choice)
        except ApprovalError as exc:
            rule.update("")
            self.show_error(exc.message)
            return None
        error.display = False
        rule.update(render_rule(grant) + grant_reach(grant))
        return choice

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self._refresh_preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refresh_preview()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        choice = self._refresh_preview()
        if choice is not None:
            self.dismiss(choice)


class ConfirmDialog(_Dialog[bool]):
    """Yes or no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "No"),
        Binding("y", "yes", "Yes"),
        Binding("n", "cancel", "No"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title", markup=False)
            yield Static(self.detail, classes="rule-preview", markup=False)
            yield Label("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="ok", compact=True)
                yield Button("No (n)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error").display = False

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def submit(self) -> None:
        self.dismiss(True)


_HELP_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("a", "approve once", "A", "approve always (choose a scope)"),
    ("d", "deny with a reason", "e", "edit the arguments, then approve"),
    ("g", "grants: list, revoke", "l", "audit log: events, chain status"),
    ("↑ ↓", "select a request", "q", "quit"),
)
_HELP_OTHER: tuple[tuple[str, str], ...] = (
    ("Grants", "r revoke the selected grant · i show inactive too · esc back"),
    ("Audit", "type in the filters (agent, tool, effect) · r reload · esc back"),
    ("Dialogs", "enter or the button confirms · esc cancels · ctrl+s saves an edit"),
)
HELP_FOOTNOTE = (
    "The mouse works too: click a row, a button or a key in the footer. Requests live in the shared "
    "queue, so answers given with `agentguard approvals ...` show up here at once, and the other way round."
)


def help_table() -> Group:
    """The key reference shown by ``?``."""
    keys = Table.grid(padding=(0, 1))
    for style in ("bold yellow", "", "bold yellow", ""):
        keys.add_column(style=style, no_wrap=bool(style))
    for row in _HELP_KEYS:
        keys.add_row(*row)
    other = Table.grid(padding=(0, 1))
    other.add_column(style="bold", no_wrap=True)
    other.add_column()
    for name, text in _HELP_OTHER:
        other.add_row(name, text)
    return Group(keys, Text(""), other)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Label("agentguard approve: keys", classes="dialog-title")
            yield Static(help_table())
            yield Static(HELP_FOOTNOTE, classes="footnote")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", compact=True)

    def action_close(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)
