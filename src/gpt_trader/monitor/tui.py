"""The terminal dashboard: sessions, accounts, an equity sparkline, feed health, the latest rotation and fills,
refreshed every second.

    MonitorApp(StoreViews.of(store)).run()

Built for an 80×24 terminal over SSH: the accounts table keeps its key columns (account, equity, return,
position, open orders) within 80 columns. Keys: `n`/`p` next and previous session, `/` filter the
accounts, `enter` open the selected account (its orders and closed positions), `escape` back, `q` quit.
Every refresh reads the store on a worker thread, so a slow query never freezes the screen.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Sparkline, Static

from gpt_trader.store.views import StoreViews

REFRESH_SECONDS = 1.0
SPARK_POINTS = 120
ACCOUNT_COLUMNS = ("account", "strategy", "product", "equity", "return", "pos", "open", "fills")
FILL_COLUMNS = ("time", "account", "side", "price", "size", "fee")


class AccountScreen(ModalScreen[None]):
    """One account: its open and recent orders and its closed positions."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "back"), Binding("q", "dismiss", "back")]

    def __init__(self, views: StoreViews, account: dict[str, Any]) -> None:
        super().__init__()
        self.views = views
        self.account = account

    def compose(self) -> ComposeResult:
        a = self.account
        with Vertical(id="account-detail"):
            yield Static(
                f"[b]{a['name']}[/b] {a['strategy']} on {a['product_id']} ({a['status']}): equity "
                f"{_money(a['equity'])}, pnl {_money(a['pnl'])} {_pct(a['pnl_pct'])}",
                id="account-title",
            )
            yield DataTable(id="account-orders", cursor_type="row")
            yield DataTable(id="account-trips", cursor_type="row")
            yield Footer()

    def on_mount(self) -> None:
        orders = self.query_one("#account-orders", DataTable)
        orders.add_columns("order", "side", "type", "status", "size", "limit")
        for o in self.views.orders(account_id=self.account["id"], limit=50):
            orders.add_row(
                o["client_order_id"],
                o["side"],
                o["order_type"],
                o["status"],
                _num(o["base_size"]),
                _money(o["limit_price"]),
            )
        trips = self.query_one("#account-trips", DataTable)
        trips.add_columns("exit", "side", "entry", "exit price", "pnl", "reason")
        for t in self.views.round_trips(self.account["id"], limit=50):
            trips.add_row(
                f"{t['exit_time']:%m-%d %H:%M}",
                t["side"],
                _money(t["entry_price"]),
                _money(t["exit_price"]),
                _money(t["pnl"]),
                t["exit_reason"],
            )


class MonitorApp(App[None]):
    """The trading record of one session at a time, as the engines write it."""

    TITLE = "GPT-Trader monitor"
    CSS = """
    #session { height: 1; background: $boost; }
    #accounts { height: 1fr; min-height: 5; }
    #spark-label, #feed { height: 1; }
    #rotation { height: 2; }
    #spark { height: 3; }
    #fills { height: 1fr; min-height: 4; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    #account-detail { background: $surface; border: round $accent; width: 100%; height: 100%; }
    #account-orders, #account-trips { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("n", "session(1)", "next session"),
        Binding("p", "session(-1)", "prev session"),
        Binding("slash", "filter", "filter"),
        Binding("enter", "open_account", "open account", show=True, priority=False),
    ]

    def __init__(self, views: StoreViews, session_id: int | None = None) -> None:
        super().__init__()
        self.views = views
        self.session_id = session_id
        self.sessions: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []
        self.filter_text = ""
        self.spark_account_id: int | None = None
        """Whose equity the sparkline draws: the highlighted account."""
        self.refreshes = 0
        """How many refreshes have been drawn (tests wait on it)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="session")
        yield Input(placeholder="filter accounts by name, strategy or product; enter to apply", id="filter")
        yield DataTable(id="accounts", cursor_type="row", zebra_stripes=True)
        yield Static("", id="spark-label")
        yield Sparkline([], id="spark")
        yield Static("", id="feed")
        yield Static("", id="rotation")
        yield DataTable(id="fills", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#accounts", DataTable).add_columns(*ACCOUNT_COLUMNS)
        self.query_one("#fills", DataTable).add_columns(*FILL_COLUMNS)
        self.query_one("#accounts", DataTable).focus()  # not the hidden filter box, or keys would type into it
        self.load()
        self.set_interval(REFRESH_SECONDS, self.load)

    @work(thread=True, exclusive=True, group="refresh")
    def load(self) -> None:
        """Read the store off the event loop, then draw what was read."""
        requested = self.session_id
        sessions = self.views.sessions()
        chosen = next((s for s in sessions if s["id"] == requested), sessions[0] if sessions else None)
        snapshot: dict[str, Any] = {"sessions": sessions, "session": chosen, "requested": requested}
        if chosen is not None:
            snapshot["fills"] = self.views.fills(session_id=chosen["id"], limit=20)
            snapshot["feed"] = self.views.feed_health(chosen["id"], limit=1)["latest"]
            snapshot["rotation"] = self.views.latest_rotation(chosen["id"])
            ids = [account["id"] for account in chosen["accounts"]]
            spark_id = self.spark_account_id if self.spark_account_id in ids else (ids[0] if ids else None)
            curve = self.views.equity(spark_id) if spark_id is not None else []
            snapshot["spark"] = (spark_id, [float(point["equity"]) for point in curve[-SPARK_POINTS:]])
        self.call_from_thread(self.draw, snapshot)

    def draw(self, snapshot: dict[str, Any]) -> None:
        # A read that started before the user switched session is out of date.
        if snapshot["requested"] != self.session_id:
            return
        try:
            self._draw(snapshot)
        except NoMatches:
            # The read finished while the app was closing: its widgets are gone, and so is the need to draw.
            if self.is_running and self.screen.is_mounted:
                raise

    def _draw(self, snapshot: dict[str, Any]) -> None:
        self.sessions = snapshot["sessions"]
        session = snapshot["session"]
        if session is None:
            self.query_one("#session", Static).update("No trading sessions in the database yet.")
            self.refreshes += 1
            return
        self.session_id = session["id"]
        position = self.sessions.index(session) + 1
        self.query_one("#session", Static).update(
            f"[b]session {session['id']}[/b] {session['name']} · {session['mode']} · {session['status']} · "
            f"{position}/{len(self.sessions)} · heartbeat {_clock(session['heartbeat_at'])}"
        )
        wanted = self.filter_text.lower()
        self.accounts = [
            a
            for a in session["accounts"]
            if not wanted or wanted in f"{a['name']} {a['strategy']} {a['product_id']}".lower()
        ]
        table = self.query_one("#accounts", DataTable)
        row = table.cursor_row
        table.clear()
        for a in self.accounts:
            table.add_row(
                a["name"],
                a["strategy"],
                a["product_id"],
                _money(a["equity"]),
                _pct(a["pnl_pct"]),
                _num(a["units"]),
                str(a["open_orders"]),
                str(a["fills"]),
                key=str(a["id"]),
            )
        if self.accounts:
            table.move_cursor(row=min(row, len(self.accounts) - 1))
        self.draw_spark(*snapshot["spark"])
        feed = snapshot["feed"]
        self.query_one("#feed", Static).update(
            "feed: "
            + (", ".join(f"{f['product_id'] or 'all'} {f['kind']} {_clock(f['time'])}" for f in feed) or "no events")
        )
        self.query_one("#rotation", Static).update(_rotation_line(snapshot["rotation"]))
        fills = self.query_one("#fills", DataTable)
        fills.clear()
        for f in snapshot["fills"]:
            fills.add_row(
                _clock(f["time"]), f["account"], f["side"], _money(f["price"]), _num(f["size"]), _money(f["fee"])
            )
        self.refreshes += 1

    def draw_spark(self, account_id: int | None, values: list[float]) -> None:
        account = next((a for a in self.accounts if a["id"] == account_id), None)
        self.query_one("#spark", Sparkline).data = values if account else []
        self.query_one("#spark-label", Static).update(
            f"equity of {account['name']}: last {len(values)} points, now {_money(account['equity'])}"
            if account
            else ""
        )

    def selected(self, table: DataTable | None = None) -> dict[str, Any] | None:
        table = table or self.query_one("#accounts", DataTable)
        if not self.accounts or table.cursor_row < 0:
            return None
        return self.accounts[min(table.cursor_row, len(self.accounts) - 1)]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "accounts":
            return
        # The event's own table: while the app closes, the screen may no longer hold it.
        account = self.selected(event.data_table)
        if account is not None and account["id"] != self.spark_account_id:
            self.spark_account_id = account["id"]
            self.load()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "accounts":
            self.action_open_account()

    def action_session(self, step: int) -> None:
        if not self.sessions:
            return
        ids = [s["id"] for s in self.sessions]
        current = ids.index(self.session_id) if self.session_id in ids else 0
        self.session_id = ids[(current + step) % len(ids)]
        self.load()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        # Shown from the next refresh on: a widget still hidden cannot take the focus.
        self.call_after_refresh(box.focus)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        event.input.remove_class("shown")
        self.query_one("#accounts", DataTable).focus()
        self.load()

    def action_open_account(self) -> None:
        account = self.selected()
        if account is not None:
            self.push_screen(AccountScreen(self.views, account))


def _rotation_line(decisions: list[dict[str, Any]]) -> str:
    """The newest rotation in a line or two: when, then each candidate's decision and its reason."""
    if not decisions:
        return "rotation: none yet"
    said = "; ".join(f"[b]{d['decision']}[/b] {escape(d['candidate'])} ({escape(d['reason'])})" for d in decisions)
    return f"rotation {_clock(decisions[0]['time'])}: {said}"


def _money(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):,.2f}"


def _num(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):g}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.2%}"


def _clock(value: Any) -> str:
    return "" if value is None else f"{value:%m-%d %H:%M:%S}"
