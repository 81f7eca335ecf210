"""``agentguard approve``: the approval queue as a Textual app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from agentguard.approval import (
    ApprovalDesk,
    ApprovalStore,
    Grant,
    QueuedRequest,
    grant_reach,
    key_argument_text,
    render_rule,
    short_duration,
    short_refs,
    shown_text,
)
from agentguard.errors import AgentGuardError
from agentguard.sandbox_api import SandboxProfile
from agentguard.tui._detail import render_detail
from agentguard.tui._dialogs import (
    ConfirmDialog,
    DenyDialog,
    EditDialog,
    GrantChoice,
    HelpScreen,
    ScopeDialog,
)
from agentguard.tui._screens import AuditScreen, GrantsScreen

__all__ = ["ApprovalApp"]

_FIXED_COLUMNS = (("id", 8), ("agent", 10), ("tool", 11), ("age", 6), ("left", 6))
_WIDE = 110  # from this many columns on, queue and detail sit side by side
_QUEUE_ACTIONS = frozenset({"approve", "approve_always", "deny", "edit", "grants", "audit", "help"})


def _named(q: QueuedRequest) -> str:
    """A request's short id in messages, with the host role that asked where the store knows it (a
    host can file a request under another host's call id: the role tells the two apart)."""
    return q.id[:8] + (f"@{q.db_role}" if q.db_role else "")


class ApprovalApp(App[None]):
    """Pending requests on the left (or top), the selected one in detail; keys answer it.

    The queue is polled every ``refresh_s`` seconds through the store's cheap change counter; rows
    are added and removed incrementally, so hundreds of pending requests stay responsive. The clock
    is the store's (``store.now``), the one that also stamps requests and expires grants;
    ``audit_reader`` and ``audit_verifier`` exist so screenshots can be taken with fixed data.
    """

    TITLE = "agentguard approve"
    CSS_PATH = "approve.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("A", "approve_always", "Always…"),
        Binding("d", "deny", "Deny…"),
        Binding("e", "edit", "Edit…"),
        Binding("g", "grants", "Grants"),
        Binding("l", "audit", "Audit"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        store: ApprovalStore,
        *,
        approver: str | None = None,
        audit_path: Path | None = None,
        profiles: dict[str, SandboxProfile] | None = None,
        default_profile: str = "default",
        refresh_s: float = 0.5,
        sweep_every_s: float = 30.0,
        audit_reader: Callable[[Path, int], list[dict[str, Any]]] | None = None,
        audit_verifier: Callable[[Path], str] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.desk = ApprovalDesk(store, approver=approver, channel="tui")
        self.audit_path = audit_path
        self.profiles = profiles or {}
        self.default_profile = default_profile
        self.clock: Callable[[], datetime] = store.now
        self.refresh_s = refresh_s
        self.sweep_every_s = sweep_every_s
        self.audit_reader = audit_reader
        self.audit_verifier = audit_verifier
        self._rows: dict[str, QueuedRequest] = {}
        self._seen_version: int | None = None
        self._shown: str | None = None
        # The request that came under the cursor because the one the approver had selected left the
        # queue (answered here or elsewhere, timed out), until the approver moves the cursor: ``a``
        # asks before approving it, so a keypress meant for the one that left cannot approve it.
        self._slid_in: str | None = None
        self._arg_width = 0
        # How the queue names each row (by ref): the short id, with @role while it holds more than one
        # host's requests (a host can file one under another's call id, or one starting alike).
        self._names: dict[str, str] = {}
        self._laid_out: tuple[int, int] = (0, 0)  # (argument, id) column widths the table has

    # -- layout ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Queue keys act only on the queue itself, never from behind a dialog or another screen."""
        return not (action in _QUEUE_ACTIONS and len(self.screen_stack) > 1)

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one searches the *active* screen, which may be a dialog.
        self._table: DataTable[Any] = DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        self._body = Static("", id="detail-body", markup=False)
        self._status_line = Static("", id="status", markup=False)
        self._main = Container(id="main")
        yield Header()
        with self._main:
            yield self._table
            with VerticalScroll(id="detail"):
                yield self._body
        yield self._status_line
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"approver: {self.desk.approver}"
        self._layout_for(self.size.width)
        self.refresh_queue(notify=False)
        self._table.focus()
        self.set_interval(self.refresh_s, self.refresh_queue)
        self.set_interval(self.sweep_every_s, self._sweep)

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width)

    def _layout_for(self, width: int) -> None:
        """Side by side when wide; the argument column takes whatever width the others leave."""
        wide = width >= _WIDE
        self._main.set_class(wide, "-wide")
        queue_width = width * 11 // 20 if wide else width
        widths = {**dict(_FIXED_COLUMNS), "id": max([8, *map(len, self._names.values())])}  # never cut
        fixed = sum(widths.values()) + 2 * (len(widths) + 1)
        arg_width = max(10, queue_width - 2 - 1 - fixed)
        if (arg_width, widths["id"]) == self._laid_out:
            return
        self._laid_out = (arg_width, widths["id"])
        self._arg_width = arg_width
        table = self._table
        selected = self.selected() if table.columns else None
        table.clear(columns=True)
        for name, _ in _FIXED_COLUMNS[:3]:
            table.add_column(name, key=name, width=widths[name])
        table.add_column("argument", key="argument", width=arg_width)
        for name, _ in _FIXED_COLUMNS[3:]:
            table.add_column(name, key=name, width=widths[name])
        now = self.clock()
        for q in self._rows.values():
            table.add_row(*self._cells(q, now), key=q.ref)
        if selected is not None and selected.ref in self._rows:
            table.move_cursor(row=table.get_row_index(selected.ref))

    # -- the queue ------------------------------------------------------------------------------

    def refresh_queue(self, notify: bool = True) -> None:
        """Bring the table in line with the store: add arrivals, drop answered rows, tick the clocks."""
        try:
            version = self.store.version()
            if version != self._seen_version:
                self._seen_version = version
                self._sync(self.store.pending(), notify)
        except AgentGuardError as exc:
            self._status(Text.assemble(("queue error:", "red"), f" {exc}"))
            return
        self._tick()

    def _sync(self, pending: list[QueuedRequest], notify: bool) -> None:
        table = self._table
        before = self._shown
        current = {q.ref: q for q in pending}
        for gone in [rid for rid in self._rows if rid not in current]:
            table.remove_row(gone)
            del self._rows[gone]
        arrivals = [q for q in pending if q.ref not in self._rows]
        shown, self._names = self._names, short_refs([*self._rows.values(), *arrivals])
        now = self.clock()
        for q in arrivals:
            self._rows[q.ref] = q
            table.add_row(*self._cells(q, now), key=q.ref)
        for ref, name in self._names.items():  # a row that now reads like an arrival is renamed
            if ref in shown and shown[ref] != name:
                table.update_cell(ref, "id", Text(name))
        self._layout_for(self.size.width)  # the id column widens to the longest name (or narrows)
        if arrivals and notify:
            first = arrivals[0]
            more = f" (+{len(arrivals) - 1} more)" if len(arrivals) > 1 else ""
            self.notify(
                f"{first.call.agent} asks for {first.call.tool}{more}", title="new request", markup=False
            )
            self.bell()
        self._status(f"{len(self._rows)} pending")
        if before is not None and before not in current:
            now_selected = self.selected()
            self._slid_in = now_selected.ref if now_selected is not None else None
        self._show_selected()

    def _cells(self, q: QueuedRequest, now: datetime) -> tuple[Any, ...]:
        return (
            Text(self._names.get(q.ref, q.id[:8])),
            Text(shown_text(q.call.agent)[0]),  # Text, not str: a DataTable reads a str cell as markup
            Text(shown_text(q.call.tool)[0]),
            Text(key_argument_text(q.call, self._arg_width)),
            short_duration((now - q.submitted_at).total_seconds()),
            self._left(q, now),
        )

    @staticmethod
    def _left(q: QueuedRequest, now: datetime) -> Text:
        left = (q.deadline - now).total_seconds()
        if left <= 0:
            return Text("0s", style="red", justify="left")
        return Text(short_duration(left), style="red" if left < 30 else "", justify="left")

    def _tick(self) -> None:
        table = self._table
        now = self.clock()
        for rid, q in self._rows.items():
            table.update_cell(rid, "age", short_duration((now - q.submitted_at).total_seconds()))
            table.update_cell(rid, "left", self._left(q, now))
        if self._shown is not None:
            self._show_selected()  # the detail pane's "waiting ... left" line counts down too

    def _sweep(self) -> None:
        try:
            self.store.sweep()
        except AgentGuardError as exc:
            self._status(Text.assemble(("sweep failed:", "red"), f" {exc}"))

    def _status(self, text: str | Text) -> None:
        self._status_line.update(text)

    def selected(self) -> QueuedRequest | None:
        table = self._table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._rows.get(key or "")

    def _show_selected(self) -> None:
        q = self.selected()
        body = self._body
        if q is None:
            self._shown = None
            body.update(Text("No pending requests. New ones appear here as agents ask.", style="dim"))
            return
        self._shown = q.ref
        body.update(
            render_detail(q, now=self.clock(), profiles=self.profiles, default_profile=self.default_profile)
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "queue":
            key = event.row_key.value
            now_selected = self.selected()
            # A highlight the cursor has left already (the table laid out again lights row 0 before
            # the cursor is put back) is no choice of the approver's.
            if key != self._slid_in and now_selected is not None and now_selected.ref == key:
                self._slid_in = None  # the approver chose a row
            self._show_selected()

    # -- answers --------------------------------------------------------------------------------

    def _answer(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except AgentGuardError as exc:
            self.notify(str(exc), title=f"{what} failed", severity="error", markup=False)
        else:
            self.notify(what, markup=False)
        self.refresh_queue(notify=False)

    def _need_selection(self) -> QueuedRequest | None:
        q = self.selected()
        if q is None:
            self.notify("no request selected", severity="warning")
        return q

    def action_approve(self) -> None:
        q = self._need_selection()
        if q is None:
            return
        if q.ref != self._slid_in:
            self._answer(f"approved {q.call.tool} ({_named(q)})", lambda: self.desk.approve(q.ref))
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._slid_in = None
                self._answer(f"approved {q.call.tool} ({_named(q)})", lambda: self.desk.approve(q.ref))

        self.push_screen(
            ConfirmDialog(
                f"Approve {q.call.agent}: {q.call.tool} ({_named(q)})?",
                "The request you had selected left the queue; this one took its place:\n"
                + key_argument_text(q.call, 200),
            ),
            done,
        )

    def action_deny(self) -> None:
        q = self._need_selection()
        if q is None:
            return

        def done(reason: str | None) -> None:
            if reason is not None:
                self._answer(f"denied {q.call.tool} ({_named(q)})", lambda: self.desk.deny(q.ref, reason))

        self.push_screen(DenyDialog(q), done)

    def action_edit(self) -> None:
        q = self._need_selection()
        if q is None:
            return

        def done(arguments: dict[str, Any] | None) -> None:
            if arguments is not None:
                self._answer(
                    f"approved edited {q.call.tool} ({_named(q)})",
                    lambda: self.desk.approve(q.ref, edited_arguments=arguments),
                )

        self.push_screen(EditDialog(q), done)

    def action_approve_always(self) -> None:
        q = self._need_selection()
        if q is None:
            return

        def preview(choice: GrantChoice) -> Grant:
            return self.desk.preview_grant(
                q.ref, choice.scope, pattern=choice.pattern, expires_in=choice.expires_in
            )

        def done(choice: GrantChoice | None) -> None:
            if choice is None:
                return
            box: list[Grant] = []

            def grant() -> None:
                _, g = self.desk.approve_always(
                    q.ref, choice.scope, pattern=choice.pattern, expires_in=choice.expires_in
                )
                box.append(g)

            self._answer(f"approved {q.call.tool} always", grant)
            if box:
                self._status(f"grant {box[0].id[:8]}: {render_rule(box[0])}{grant_reach(box[0])}")

        self.push_screen(ScopeDialog(q, preview), done)

    # -- other screens --------------------------------------------------------------------------

    def action_grants(self) -> None:
        self.push_screen(GrantsScreen(self.desk))

    def action_audit(self) -> None:
        self.push_screen(AuditScreen(self.audit_path, reader=self.audit_reader, verifier=self.audit_verifier))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
