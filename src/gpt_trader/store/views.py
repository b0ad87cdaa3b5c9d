"""What the dashboards, `runs` and reports ask of the store: read-only queries shaped for a screen.

    views = StoreViews.of(store)
    views.runs(kind="sweep", strategy="ma_crossover", since=yesterday)     # plain rows (dicts)
    views.runs_frame(strategy="ma_crossover")                              # the same as a DataFrame
    views.sessions()                                                       # accounts with equity, PnL, ...

Each method is one short read transaction. Rows are dicts of plain values (money stays `Decimal`, times
are aware UTC datetimes); the `*_frame` methods give the same rows as pandas DataFrames for the Python
API. Every list is bounded by a `limit`, so a screen's query stays fast however large the store grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Float, Select, and_, case, cast, exists, func, or_, select

from gpt_trader.store.base import StoreBase
from gpt_trader.store.runs import RESULT_COLUMNS
from gpt_trader.store.schema import (
    Account,
    BacktestResult,
    EquitySnapshot,
    FeedEvent,
    Fill,
    Order,
    PositionState,
    RegimeResult,
    Rotation,
    RoundTrip,
    Run,
    RunKind,
    TradingSession,
)

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.store.db import Store

# Coinbase's words for an order still working on the venue (the paper broker uses OPEN).
OPEN_ORDER_STATUSES = ("OPEN", "PENDING", "QUEUED", "NEW")
RUN_COLUMNS = (
    "id",
    "kind",
    "name",
    "status",
    "source",
    "started_at",
    "ended_at",
    "trials",
    "results",
    "best_sharpe",
    "best_return",
    "code_version",
    "data_fingerprint",
    "data_start",
    "data_end",
)
ACCOUNT_COLUMNS = (
    "id",
    "session_id",
    "name",
    "strategy",
    "product_id",
    "status",
    "quote_currency",
    "starting_cash",
    "equity",
    "pnl",
    "pnl_pct",
    "equity_time",
    "units",
    "entry_price",
    "open_orders",
    "fills",
    "round_trips",
    "error",
)
FILL_COLUMNS = (
    "id",
    "time",
    "account_id",
    "account",
    "product_id",
    "side",
    "price",
    "size",
    "fee",
    "liquidity",
    "client_order_id",
)
ORDER_COLUMNS = (
    "id",
    "account_id",
    "client_order_id",
    "product_id",
    "side",
    "order_type",
    "status",
    "base_size",
    "quote_size",
    "limit_price",
    "stop_price",
    "created_at",
    "updated_at",
    "reject_reason",
)
ROTATION_COLUMNS = ("id", "session_id", "time", "candidate", "account_id", "account", "decision", "reason", "numbers")
REGIME_COLUMNS = ("strategy", "product_id", "params", "regime", "bars", "share", "total_return", "sharpe")
_RUN_FIELDS = frozenset(Run.__table__.columns.keys())


class StoreViews(StoreBase):
    """Read-only queries for screens over one store's engine."""

    @classmethod
    def of(cls, store: Store) -> Self:
        """Views over an open store (they share its engine and connections)."""
        return cls(store.engine)

    # Runs: the research record.

    def runs(
        self,
        *,
        kind: RunKind | str | None = None,
        strategy: str | None = None,
        product: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        source: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Runs newest first, with their result count and best Sharpe and return, filtered as asked.

        `strategy` and `product` match a run's backtest results or its trading accounts; `since` and
        `until` bound when it started; `source` is the candle source its config names.
        """
        best = (
            select(
                BacktestResult.run_id,
                func.count().label("results"),
                func.max(BacktestResult.sharpe).label("best_sharpe"),
                func.max(BacktestResult.total_return).label("best_return"),
            )
            .group_by(BacktestResult.run_id)
            .subquery()
        )
        source_column = Run.config["source"].as_string()
        statement = (
            select(
                *(getattr(Run, name) for name in RUN_COLUMNS if name in _RUN_FIELDS),
                source_column.label("source"),
                func.coalesce(best.c.results, 0).label("results"),
                best.c.best_sharpe,
                best.c.best_return,
            )
            .outerjoin(best, best.c.run_id == Run.id)
            .order_by(Run.started_at.desc(), Run.id.desc())
            .limit(limit)
        )
        if kind is not None:
            statement = statement.where(Run.kind == RunKind(kind))
        if since is not None:
            statement = statement.where(Run.started_at >= since)
        if until is not None:
            statement = statement.where(Run.started_at < until)
        if source is not None:
            statement = statement.where(source_column == source)
        statement = _where_traded(statement, strategy, product)
        with self._reading() as session:
            return [{name: row[name] for name in RUN_COLUMNS} for row in session.execute(statement).mappings()]

    def runs_frame(self, **filters: Any) -> pd.DataFrame:
        """`runs` as a DataFrame, one row per run."""
        return _frame(self.runs(**filters), RUN_COLUMNS)

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run's record: config, code version, data fingerprint and range, trials, and result count."""
        with self._reading() as session:
            run = session.get(Run, run_id)
            if run is None:
                return None
            results = session.scalar(select(func.count()).where(BacktestResult.run_id == run_id)) or 0
            session_ids = list(session.scalars(select(TradingSession.id).where(TradingSession.run_id == run_id)))
        return {
            "id": run.id,
            "kind": run.kind.value,
            "name": run.name,
            "status": run.status.value,
            "config": run.config,
            "code_version": run.code_version,
            "data_fingerprint": run.data_fingerprint,
            "data_start": run.data_start,
            "data_end": run.data_end,
            "trials": run.trials,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "error": run.error,
            "results": int(results),
            "sessions": session_ids,
        }

    def results(
        self, run_id: int, *, sort: str = "sharpe", descending: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A run's backtest results with their ids, best first by `sort` (a metric column); NULLs last."""
        if sort not in RESULT_COLUMNS or sort == "params":
            raise ValueError(f"cannot sort results by {sort!r}; choose one of {', '.join(RESULT_COLUMNS)}")
        column = getattr(BacktestResult, sort)
        order = column.desc() if descending else column.asc()
        statement = (
            select(BacktestResult.id, *(getattr(BacktestResult, name) for name in RESULT_COLUMNS))
            .where(BacktestResult.run_id == run_id)
            .order_by(column.is_(None), order, BacktestResult.id)
            .limit(limit)
        )
        with self._reading() as session:
            return [dict(row) for row in session.execute(statement).mappings()]

    def result(self, result_id: int) -> dict[str, Any] | None:
        """One backtest result row, with its run id."""
        statement = select(
            BacktestResult.id, BacktestResult.run_id, *(getattr(BacktestResult, name) for name in RESULT_COLUMNS)
        ).where(BacktestResult.id == result_id)
        with self._reading() as session:
            row = session.execute(statement).mappings().first()
        return None if row is None else dict(row)

    def strategy_runs(self, strategy: str, limit: int = 200) -> list[dict[str, Any]]:
        """Every record of `strategy`, newest first: one row per backtest result and per trading account.

        Backtest rows carry the result's metrics; trading rows carry the account's return so far and its
        closed round trips, so backtest and paper runs of one strategy line up side by side.
        """
        backtests = (
            select(
                Run.id.label("run_id"),
                Run.kind,
                Run.name,
                Run.started_at,
                BacktestResult.product_id,
                BacktestResult.params,
                BacktestResult.total_return,
                BacktestResult.sharpe,
                BacktestResult.max_drawdown,
                BacktestResult.win_rate,
                BacktestResult.closed_trades,
            )
            .join(BacktestResult, BacktestResult.run_id == Run.id)
            .where(BacktestResult.strategy == strategy)
            .order_by(Run.started_at.desc(), BacktestResult.id)
            .limit(limit)
        )
        with self._reading() as session:
            rows = [dict(row) for row in session.execute(backtests).mappings()]
        accounts = self._accounts(Account.strategy == strategy, limit)
        for account in accounts:
            rows.append(
                {
                    "run_id": account["run_id"],
                    "kind": account["run_kind"],
                    "name": account["run_name"],
                    "started_at": account["run_started_at"],
                    "product_id": account["product_id"],
                    "params": account["params"],
                    "total_return": account["pnl_pct"],
                    "sharpe": None,
                    "max_drawdown": None,
                    "win_rate": account["win_rate"],
                    "closed_trades": account["round_trips"],
                }
            )
        for row in rows:
            row["kind"] = RunKind(row["kind"]).value
        return rows

    # Sessions: the trading record.

    def sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Trading sessions newest first, each with its run's name and status and its accounts (see `accounts`)."""
        statement = (
            select(
                TradingSession.id,
                TradingSession.run_id,
                TradingSession.mode,
                TradingSession.heartbeat_at,
                TradingSession.rotation,
                Run.name,
                Run.status,
                Run.started_at,
                Run.ended_at,
            )
            .join(Run, Run.id == TradingSession.run_id)
            .order_by(TradingSession.id.desc())
            .limit(limit)
        )
        with self._reading() as session:
            sessions = [dict(row) for row in session.execute(statement).mappings()]
        by_session: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in sessions}
        if by_session:
            for account in self._accounts(Account.session_id.in_(by_session), None):
                by_session[account["session_id"]].append(account)
        for row in sessions:
            row["mode"] = row["mode"].value
            row["status"] = row["status"].value
            row["accounts"] = by_session[row["id"]]
        return sessions

    def accounts(self, session_id: int | None = None) -> list[dict[str, Any]]:
        """Accounts (of one session, or all) with latest equity, PnL, position, open orders and counts."""
        condition = Account.session_id == session_id if session_id is not None else Account.id.is_not(None)
        return self._accounts(condition, None)

    def account(self, account_id: int) -> dict[str, Any] | None:
        """One account as `accounts` shows it, or None."""
        found = self._accounts(Account.id == account_id, 1)
        return found[0] if found else None

    def accounts_frame(self, session_id: int | None = None) -> pd.DataFrame:
        return _frame(self.accounts(session_id), ACCOUNT_COLUMNS)

    def equity(self, account_id: int, *, after_id: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        """An account's equity snapshots in time order, those with an id above `after_id` (for live updates)."""
        statement = (
            select(
                EquitySnapshot.id,
                EquitySnapshot.time,
                EquitySnapshot.equity,
                EquitySnapshot.cash,
                EquitySnapshot.units,
                EquitySnapshot.position_value,
            )
            .where(EquitySnapshot.account_id == account_id, EquitySnapshot.id > after_id)
            .order_by(EquitySnapshot.time, EquitySnapshot.id)
            .limit(limit)
        )
        with self._reading() as session:
            return [dict(row) for row in session.execute(statement).mappings()]

    def session_equity(self, session_id: int, *, after_id: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        """The equity snapshots of every account of a session with an id above `after_id`, in id order:
        what a live chart has not drawn yet."""
        statement = (
            select(EquitySnapshot.id, EquitySnapshot.account_id, EquitySnapshot.time, EquitySnapshot.equity)
            .join(Account, Account.id == EquitySnapshot.account_id)
            .where(Account.session_id == session_id, EquitySnapshot.id > after_id)
            .order_by(EquitySnapshot.id)
            .limit(limit)
        )
        with self._reading() as session:
            return [dict(row) for row in session.execute(statement).mappings()]

    def equity_frame(self, account_id: int) -> pd.DataFrame:
        """An account's equity curve as a DataFrame indexed by time."""
        frame = _frame(self.equity(account_id), ("id", "time", "equity", "cash", "units", "position_value"))
        return frame.set_index("time")

    def fills(
        self, *, session_id: int | None = None, account_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest fills first, of one account, one session, or all."""
        statement = (
            select(
                Fill.id,
                Fill.time,
                Order.account_id,
                Account.name.label("account"),
                Order.product_id,
                Order.side,
                Fill.price,
                Fill.size,
                Fill.fee,
                Fill.liquidity,
                Order.client_order_id,
            )
            .join(Order, Order.id == Fill.order_id)
            .join(Account, Account.id == Order.account_id)
            .order_by(Fill.time.desc(), Fill.id.desc())
            .limit(limit)
        )
        if account_id is not None:
            statement = statement.where(Order.account_id == account_id)
        if session_id is not None:
            # `+ 0` keeps SQLite from starting at the session's accounts and sorting all their fills: it walks
            # the fills newest first (ix_fills_time) and stops at `limit`, which is what a live screen asks.
            statement = statement.where(Account.session_id + 0 == session_id)
        with self._reading() as session:
            rows = [dict(row) for row in session.execute(statement).mappings()]
        for row in rows:
            row["side"], row["liquidity"] = row["side"].value, row["liquidity"].value
        return rows

    def fills_frame(self, **filters: Any) -> pd.DataFrame:
        return _frame(self.fills(**filters), FILL_COLUMNS)

    def orders(
        self,
        *,
        session_id: int | None = None,
        account_id: int | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest orders first, of one account, one session, or all; only working ones if `open_only`."""
        statement = (
            select(*(getattr(Order, name) for name in ORDER_COLUMNS))
            .join(Account, Account.id == Order.account_id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
        if account_id is not None:
            statement = statement.where(Order.account_id == account_id)
        if session_id is not None:
            statement = statement.where(Account.session_id == session_id)
        if open_only:
            statement = statement.where(Order.status.in_(OPEN_ORDER_STATUSES))
        with self._reading() as session:
            rows = [dict(row) for row in session.execute(statement).mappings()]
        for row in rows:
            row["side"] = row["side"].value
        return rows

    def round_trips(self, account_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """An account's closed positions, newest first."""
        columns = [c for c in RoundTrip.__table__.columns if c.name != "account_id"]
        statement = (
            select(*columns)
            .where(RoundTrip.account_id == account_id)
            .order_by(RoundTrip.exit_time.desc(), RoundTrip.id.desc())
            .limit(limit)
        )
        with self._reading() as session:
            rows = [dict(row) for row in session.execute(statement).mappings()]
        for row in rows:
            row["side"] = row["side"].value
        return rows

    def feed_health(self, session_id: int | None = None, limit: int = 50) -> dict[str, Any]:
        """The feed's latest state per product and connection, and its newest events.

        `latest` has one row per (product, connection) that ever reported: the kind of its last event
        (connected, disconnected, gap, stale, ...) and when; `events` are the newest `limit` events.
        """
        scope = FeedEvent.session_id == session_id if session_id is not None else FeedEvent.id.is_not(None)
        newest = (
            select(func.max(FeedEvent.id).label("id"))
            .where(scope)
            .group_by(FeedEvent.product_id, FeedEvent.connection)
            .subquery()
        )
        columns = (
            FeedEvent.id,
            FeedEvent.session_id,
            FeedEvent.time,
            FeedEvent.kind,
            FeedEvent.product_id,
            FeedEvent.connection,
            FeedEvent.detail,
        )
        latest = select(*columns).join(newest, newest.c.id == FeedEvent.id).order_by(FeedEvent.product_id)
        events = select(*columns).where(scope).order_by(FeedEvent.time.desc(), FeedEvent.id.desc()).limit(limit)
        with self._reading() as session:
            latest_rows = [dict(row) for row in session.execute(latest).mappings()]
            event_rows = [dict(row) for row in session.execute(events).mappings()]
        for row in (*latest_rows, *event_rows):
            row["kind"] = row["kind"].value
        return {"latest": latest_rows, "events": event_rows}

    def rotations(self, session_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """A session's (or every session's) rotation decisions, newest rotation first, each with its reason,
        its numbers and the name of the account it concerns (None for a candidate not trading)."""
        scope = Rotation.session_id == session_id if session_id is not None else Rotation.id.is_not(None)
        return self._rotations(scope, limit)

    def latest_rotation(self, session_id: int) -> list[dict[str, Any]]:
        """The decisions of a session's newest rotation (empty before its first)."""
        newest = select(func.max(Rotation.time)).where(Rotation.session_id == session_id).scalar_subquery()
        return self._rotations(and_(Rotation.session_id == session_id, Rotation.time == newest), None)

    def _rotations(self, condition: Any, limit: int | None) -> list[dict[str, Any]]:
        statement = (
            select(
                *(getattr(Rotation, name) for name in ROTATION_COLUMNS if name != "account"),
                Account.name.label("account"),
            )
            .outerjoin(Account, Account.id == Rotation.account_id)
            .where(condition)
            .order_by(Rotation.time.desc(), Rotation.id)
            .limit(limit)
        )
        with self._reading() as session:
            return [{name: row[name] for name in ROTATION_COLUMNS} for row in session.execute(statement).mappings()]

    def regimes(self, run_id: int, limit: int = 1_000) -> list[dict[str, Any]]:
        """A run's results broken down by market regime, as stored with them (see `backtest.regimes`)."""
        statement = (
            select(*(getattr(RegimeResult, name) for name in REGIME_COLUMNS))
            .where(RegimeResult.run_id == run_id)
            .order_by(RegimeResult.id)
            .limit(limit)
        )
        with self._reading() as session:
            return [dict(row) for row in session.execute(statement).mappings()]

    def _accounts(self, condition: Any, limit: int | None) -> list[dict[str, Any]]:
        latest_time = (
            select(EquitySnapshot.account_id, func.max(EquitySnapshot.time).label("time"))
            .group_by(EquitySnapshot.account_id)
            .subquery()
        )
        latest = (
            select(EquitySnapshot.account_id, EquitySnapshot.time, EquitySnapshot.equity)
            .join(
                latest_time,
                and_(latest_time.c.account_id == EquitySnapshot.account_id, latest_time.c.time == EquitySnapshot.time),
            )
            .subquery()
        )
        open_orders = (
            select(Order.account_id, func.count().label("open_orders"))
            .where(Order.status.in_(OPEN_ORDER_STATUSES))
            .group_by(Order.account_id)
            .subquery()
        )
        fills = (
            select(Order.account_id, func.count().label("fills"))
            .join(Fill, Fill.order_id == Order.id)
            .group_by(Order.account_id)
            .subquery()
        )
        trips = (
            select(
                RoundTrip.account_id,
                func.count().label("round_trips"),
                # Money is exact text on SQLite: compared as a number, not as a string.
                func.sum(case((cast(RoundTrip.pnl, Float) > 0, 1), else_=0)).label("wins"),
            )
            .group_by(RoundTrip.account_id)
            .subquery()
        )
        statement = (
            select(
                *(
                    getattr(Account, name)
                    for name in (
                        "id",
                        "session_id",
                        "name",
                        "strategy",
                        "product_id",
                        "status",
                        "quote_currency",
                        "starting_cash",
                        "params",
                        "error",
                    )
                ),
                latest.c.equity,
                latest.c.time.label("equity_time"),
                PositionState.units,
                PositionState.entry_price,
                func.coalesce(open_orders.c.open_orders, 0).label("open_orders"),
                func.coalesce(fills.c.fills, 0).label("fills"),
                func.coalesce(trips.c.round_trips, 0).label("round_trips"),
                trips.c.wins,
                TradingSession.run_id,
                Run.kind.label("run_kind"),
                Run.name.label("run_name"),
                Run.started_at.label("run_started_at"),
            )
            .join(TradingSession, TradingSession.id == Account.session_id)
            .join(Run, Run.id == TradingSession.run_id)
            .outerjoin(latest, latest.c.account_id == Account.id)
            .outerjoin(PositionState, PositionState.account_id == Account.id)
            .outerjoin(open_orders, open_orders.c.account_id == Account.id)
            .outerjoin(fills, fills.c.account_id == Account.id)
            .outerjoin(trips, trips.c.account_id == Account.id)
            .where(condition)
            .order_by(Account.session_id.desc(), Account.id)
            .limit(limit)
        )
        with self._reading() as session:
            rows = [dict(row) for row in session.execute(statement).mappings()]
        for row in rows:
            row["status"] = row["status"].value
            equity, start = row["equity"], row["starting_cash"]
            row["pnl"] = None if equity is None else equity - start
            row["pnl_pct"] = None if equity is None or not start else float((equity - start) / start)
            trips_closed = row["round_trips"]
            row["win_rate"] = float(row.pop("wins") or 0) / trips_closed if trips_closed else None
        return rows


def _where_traded(statement: Select[Any], strategy: str | None, product: str | None) -> Select[Any]:
    """Keep runs whose backtest results or trading accounts match `strategy` and `product`."""
    if strategy is None and product is None:
        return statement
    result_conditions = [BacktestResult.run_id == Run.id]
    account_conditions = [Account.session_id == TradingSession.id, TradingSession.run_id == Run.id]
    if strategy is not None:
        result_conditions.append(BacktestResult.strategy == strategy)
        account_conditions.append(Account.strategy == strategy)
    if product is not None:
        result_conditions.append(BacktestResult.product_id == product.upper())
        account_conditions.append(Account.product_id == product.upper())
    return statement.where(or_(exists().where(*result_conditions), exists().where(*account_conditions)))


def _frame(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd  # only the callers who want a frame pay for importing pandas

    return pd.DataFrame(list(rows), columns=list(columns)) if rows else pd.DataFrame(columns=list(columns))
