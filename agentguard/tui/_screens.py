"""Full screens: grants (list, revoke) and the audit log (recent events, filters, chain status)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from agentguard.approval import ApprovalDesk, Grant, grant_reach, render_rule, shown_text
from agentguard.errors import AgentGuardError
from agentguard.tui._dialogs import ConfirmDialog

__all__ = ["AuditScreen", "GrantsScreen", "audit_rows"]


class GrantsScreen(Screen[None]):
    """Standing approvals: who granted what and when; ``r`` revokes (the policy stops applying it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,g", "close", "Back"),
        Binding("r,delete", "revoke", "Revoke"),
        Binding("i", "toggle_inactive", "Show inactive"),
    ]

    def __init__(self, desk: ApprovalDesk) -> None:
        super().__init__()
        self.desk = desk
        self.show_inactive = False

    def compose(self) -> ComposeResult:
        yield Label(
            "Grants  (approve-always rules, enforced from the approval store)", classes="screen-title"
        )
        yield DataTable(id="grants", cursor_type="row", zebra_stripes=True)
        yield Static("", id="grant-rule", classes="rule-preview", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#grants", DataTable)
        table.add_column("id", key="id", width=8)
        table.add_column("state", key="state")
        table.add_column("agent", key="agent")
        table.add_column("tool", key="tool")
        table.add_column("scope", key="scope")
        table.add_column("by", key="by")
        table.add_column("created", key="created")
        table.add_column("expires", key="expires")
        self.reload()
        table.focus()

    def reload(self) -> None:
        table = self.query_one("#grants", DataTable)
        table.clear()
        self._grants: dict[str, Grant] = {}
        now = self.desk.store.now()
        for g in self.desk.store.grants(include_inactive=self.show_inactive):
            self._grants[g.id] = g
            state = g.state(now)
            table.add_row(
                g.id[:8],
                Text(state, style="green" if state == "active" else "dim", justify="left"),
                Text(shown_text(g.agent)[0]),  # Text, not str: a DataTable reads a str cell as markup
                Text(shown_text(g.tool)[0]),
                g.scope.value,
                Text(shown_text(g.created_by)[0]),
                g.created_at.strftime("%m-%d %H:%M"),
                g.expires_at.strftime("%m-%d %H:%M") if g.expires_at else "never",
                key=g.id,
            )
        self._show_selected()

    def _selected(self) -> Grant | None:
        table = self.query_one("#grants", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._grants.get(key or "")

    def _show_selected(self) -> None:
        grant = self._selected()
        self.query_one("#grant-rule", Static).update(
            render_rule(grant) + grant_reach(grant)
            if grant
            else "no grants yet: press A on a request to create one"
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_inactive(self) -> None:
        self.show_inactive = not self.show_inactive
        self.reload()

    def action_revoke(self) -> None:
        grant = self._selected()
        if grant is None or not grant.active(self.desk.store.now()):
            self.notify("select an active grant to revoke", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.desk.revoke(grant.id)
            except AgentGuardError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            self.notify(f"revoked grant {grant.id[:8]}")
            self.reload()

        self.app.push_screen(ConfirmDialog(f"Revoke grant {grant.id[:8]}?", render_rule(grant)), done)


_EFFECT_STYLE = {"allow": "green", "approved": "green", "deny": "red", "denied": "red", "ask": "yellow"}


def _outcome(record: dict[str, Any]) -> str:
    for key in ("effect", "status"):
        value = record.get(key)
        if isinstance(value, str):
            return value
    return ""


def _plain(value: Any) -> Text:
    return Text(shown_text(str(value or ""))[0])


def audit_rows(
    records: list[dict[str, Any]], *, agent: str = "", tool: str = "", effect: str = ""
) -> list[dict[str, Any]]:
    """Records matching the filters (substring, case-insensitive), newest first."""
    a, t, e = agent.strip().lower(), tool.strip().lower(), effect.strip().lower()
    out = []
    for r in reversed(records):
        if a and a not in str(r.get("agent") or "").lower():
            continue
        if t and t not in str(r.get("tool") or "").lower():
            continue
        if e and e not in _outcome(r).lower():
            continue
        out.append(r)
    return out


class AuditScreen(Screen[None]):
    """The tail of the audit log (never the whole file), with filters and the chain's status."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "close", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(
        self,
        path: Path | None,
        *,
        limit: int = 1000,
        reader: Callable[[Path, int], list[dict[str, Any]]] | None = None,
        verifier: Callable[[Path], str] | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.limit = limit
        self.reader = reader or _read_last
        self.verifier = verifier or _verify_text
        self.records: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Label(f"Audit log  {self.path or '(none)'}", classes="screen-title", markup=False)
        yield Static("chain: checking...", id="chain")
        with Horizontal(id="filters"):
            yield Input(placeholder="agent", id="f-agent")
            yield Input(placeholder="tool", id="f-tool")
            yield Input(placeholder="effect/status", id="f-effect")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#audit", DataTable)
        for name in ("time", "event", "agent", "tool", "effect", "call"):
            table.add_column(name, key=name)
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        self.records = []
        if self.path is not None:
            try:
                self.records = self.reader(self.path, self.limit)
            except AgentGuardError as exc:
                self.notify(str(exc), severity="error", markup=False)
        self._fill()
        self.query_one("#chain", Static).update("chain: checking...")
        self._verify()

    @work(thread=True, exclusive=True)
    def _verify(self) -> None:
        text = self.verifier(self.path) if self.path is not None else "no audit log configured"
        self.app.call_from_thread(self.query_one("#chain", Static).update, text)

    def _fill(self) -> None:
        table = self.query_one("#audit", DataTable)
        table.clear()
        rows = audit_rows(
            self.records,
            agent=self.query_one("#f-agent", Input).value,
            tool=self.query_one("#f-tool", Input).value,
            effect=self.query_one("#f-effect", Input).value,
        )
        for r in rows:
            outcome = _outcome(r)
            ts = str(r.get("ts") or "")
            # Every cell is Text, not str (a DataTable reads a str as markup), with invisible characters
            # as marks: a record is only as trustworthy as the file, which the chain line judges.
            table.add_row(
                _plain(ts[11:19] if len(ts) >= 19 else ts),
                _plain(r.get("event")),
                _plain(r.get("agent")),
                _plain(r.get("tool")),
                Text(shown_text(outcome)[0], style=_EFFECT_STYLE.get(outcome, ""), justify="left"),
                _plain(str(r.get("call_id") or "")[:8]),
            )

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill()

    def action_close(self) -> None:
        self.dismiss(None)


def _read_last(path: Path, n: int) -> list[dict[str, Any]]:
    from agentguard.audit import read_last

    return read_last(path, n) if path.exists() else []


def _verify_text(path: Path) -> str:
    from agentguard.audit import verify

    if not path.exists():
        return "chain: no audit log yet"
    try:
        report = verify(path)
    except AgentGuardError as exc:
        return f"chain: cannot verify: {exc}"
    if report.ok:
        head = (report.head or "")[:12]
        return f"chain: [green]intact[/green], {report.records_verified} records, head {head}"
    if report.first_bad is not None:
        bad = report.first_bad
        return f"chain: [red]BROKEN[/red] at line {bad.line} (seq {bad.seq}): {bad.reason}"
    if report.torn_tail is not None:
        return f"chain: [red]torn tail[/red] at byte {report.torn_tail.offset}"
    if report.unacknowledged:
        seg = report.unacknowledged[0]
        return (
            f"chain: [red]segment not acknowledged[/red] at line {seg.line}: {seg.reason} "
            "(see `agentguard audit verify`)"
        )
    return f"chain: [red]not verified[/red]: checkpoint {report.checkpoint.status.value}"
