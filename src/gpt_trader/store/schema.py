"""The performance database: every run, its backtest results, and the paper/simulation trading record.

Money on the order path (orders, fills, cash, equity) is `Decimal` in an `ExactDecimal` column; backtest
metrics are floats, as the kernels compute them. Every time is an aware UTC datetime. Enumerated columns
are checked in Python and stored as plain text, so adding a kind later needs no table rebuild on SQLite.

Changing a model here needs a migration in `migrations/versions/` (see `migrations/env.py`); a test
fails while the models and the migrated schema differ.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gpt_trader.market.feed import HealthKind
from gpt_trader.store.plain import RunKind, RunStatus
from gpt_trader.store.types import ExactDecimal, UtcDateTime

# Stable constraint names let later migrations (and SQLite's batch mode) refer to constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class SessionMode(enum.StrEnum):
    SIMULATION = "simulation"
    PAPER = "paper"
    LIVE = "live"


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    """Stopped by its session (the end of a run, or rotated out); its record is complete."""
    FAILED = "failed"
    """Its strategy raised or its orders could not be placed: `error` says why; the others went on."""


class OrderSide(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Liquidity(enum.StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


# The feed's health events are stored under the names the feed gives them.
FeedEventKind = HealthKind


def _text_enum(enum_class: type[enum.StrEnum]) -> Enum:
    """Stores the member's value (`"backtest"`), validated on write, with no CHECK constraint."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=16,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute as is
        datetime: UtcDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Run(Base):
    """One invocation: a backtest, a sweep, a simulation, or a paper/live trading session."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RunKind] = mapped_column(_text_enum(RunKind))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[RunStatus] = mapped_column(_text_enum(RunStatus))
    config: Mapped[dict[str, Any]]
    code_version: Mapped[str] = mapped_column(String(100))
    data_fingerprint: Mapped[str | None] = mapped_column(Text)
    data_start: Mapped[datetime | None]
    data_end: Mapped[datetime | None]
    # Parameter combinations tried to get these results: the deflated Sharpe ratio needs it.
    trials: Mapped[int]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("trials >= 1", name="trials_positive"),
        Index(None, "kind", "started_at"),
        Index(None, "started_at"),
    )


class BacktestResult(Base):
    """The metrics of one strategy × product × parameter set in a backtest or sweep run."""

    __tablename__ = "backtest_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(32))
    granularity: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]]
    final_equity: Mapped[float | None] = mapped_column(Float)
    total_return: Mapped[float | None] = mapped_column(Float)
    cagr: Mapped[float | None] = mapped_column(Float)
    volatility: Mapped[float | None] = mapped_column(Float)
    sharpe: Mapped[float | None] = mapped_column(Float)
    sortino: Mapped[float | None] = mapped_column(Float)
    calmar: Mapped[float | None] = mapped_column(Float)
    max_drawdown: Mapped[float | None] = mapped_column(Float)
    max_drawdown_bars: Mapped[int | None]
    max_drawdown_seconds: Mapped[int | None]
    win_rate: Mapped[float | None] = mapped_column(Float)
    profit_factor: Mapped[float | None] = mapped_column(Float)
    expectancy: Mapped[float | None] = mapped_column(Float)
    avg_trade_return: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int | None]
    closed_trades: Mapped[int | None]
    exposure: Mapped[float | None] = mapped_column(Float)
    fees: Mapped[float | None] = mapped_column(Float)
    buy_and_hold_return: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index(None, "run_id", "strategy"),)


class RegimeResult(Base):
    """One backtest of a run broken down by market regime (see `backtest.regimes`)."""

    __tablename__ = "regime_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]]
    regime: Mapped[str] = mapped_column(String(32))
    bars: Mapped[int]
    share: Mapped[float | None] = mapped_column(Float)
    total_return: Mapped[float | None] = mapped_column(Float)
    sharpe: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index(None, "run_id", "regime"),)


# The metric columns, in the order the model declares them (the backtester's `METRIC_NAMES`; a test
# holds the two equal).
METRIC_COLUMNS: tuple[str, ...] = tuple(
    column.name
    for column in BacktestResult.__table__.columns
    if column.name not in ("id", "run_id", "strategy", "product_id", "granularity", "params")
)


class TradingSession(Base):
    """A paper, live or simulation session: what it trades, how it rotates, and the state to resume from."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    mode: Mapped[SessionMode] = mapped_column(_text_enum(SessionMode))
    strategies: Mapped[list[Any]]
    rotation: Mapped[dict[str, Any] | None]
    state: Mapped[dict[str, Any] | None]
    heartbeat_at: Mapped[datetime | None]
    owner: Mapped[str | None] = mapped_column(String(100))
    """Which process runs the session (host:pid:nonce); a resume takes it over only from a dead owner."""
    stop_requested_at: Mapped[datetime | None]
    """Set by `session stop` from another terminal; the running session polls it and stops gracefully."""


class Account(Base):
    """One strategy instance trading one product with its own cash, inside a session."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    product_id: Mapped[str] = mapped_column(String(32))
    starting_cash: Mapped[Decimal]
    quote_currency: Mapped[str] = mapped_column(String(16))
    # How it trades: fee rates, fill model, sizing, stops; what a resumed session needs to carry on alike.
    settings: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'"))
    status: Mapped[AccountStatus] = mapped_column(
        _text_enum(AccountStatus), server_default=AccountStatus.ACTIVE.value
    )
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("session_id", "name"),)


class PositionState(Base):
    """Where an account's position rules stand after the last bar it processed: the state to resume from.

    Units and the entry price are the ledger's exact amounts; the rule levels are the floats the
    position rules compute with, stored as they are so a resumed account takes the same decisions.
    """

    __tablename__ = "position_states"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(32))
    units: Mapped[Decimal]
    """Signed: negative when short."""
    entry_price: Mapped[Decimal | None]
    entry_time: Mapped[datetime | None]
    stop_loss_level: Mapped[float | None] = mapped_column(Float)
    take_profit_level: Mapped[float | None] = mapped_column(Float)
    trailing_best: Mapped[float | None] = mapped_column(Float)
    """The best price since entry, from which a trailing stop is measured."""
    pending_signal: Mapped[int | None]
    """A signal seen at a bar's close that fills at the next bar's open (+1 buy, -1 sell)."""
    last_bar_time: Mapped[datetime | None]
    """The open time of the last bar the account processed: a resumed run starts after it."""
    updated_at: Mapped[datetime]


class RoundTrip(Base):
    """A closed position: entry and exit, net result and why it was closed."""

    __tablename__ = "round_trips"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(32))
    side: Mapped[OrderSide] = mapped_column(_text_enum(OrderSide))
    """BUY for a long position, SELL for a short one."""
    units: Mapped[Decimal]
    entry_time: Mapped[datetime]
    entry_price: Mapped[Decimal]
    exit_time: Mapped[datetime]
    exit_price: Mapped[Decimal]
    fees: Mapped[Decimal]
    """Entry and exit fees together."""
    pnl: Mapped[Decimal]
    """Net of both fees."""
    # signal, stop_loss, take_profit, trailing_stop, ... (the position rules' vocabulary, which may grow).
    exit_reason: Mapped[str] = mapped_column(String(32))

    # An account closes at most one position at a time: a replayed close is a duplicate, not a new row.
    __table_args__ = (UniqueConstraint("account_id", "exit_time"),)


class Order(Base):
    """An order as sent to the venue (paper broker, sandbox or Coinbase) and its latest status."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    product_id: Mapped[str] = mapped_column(String(32))
    side: Mapped[OrderSide] = mapped_column(_text_enum(OrderSide))
    # Coinbase's vocabulary (MARKET, LIMIT, STOP_LIMIT, ... and OPEN, FILLED, CANCELLED, ...) grows
    # over time, so type and status are free text.
    order_type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(32))
    base_size: Mapped[Decimal | None]
    quote_size: Mapped[Decimal | None]
    limit_price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    reject_reason: Mapped[str | None] = mapped_column(Text)

    # Every account's working orders, counted on each dashboard refresh.
    __table_args__ = (Index(None, "status", "account_id"),)


class Fill(Base):
    """One execution of an order; the venue's trade id makes a replayed fill a duplicate, not a new row."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    trade_id: Mapped[str] = mapped_column(String(64))
    price: Mapped[Decimal]
    size: Mapped[Decimal]
    fee: Mapped[Decimal]
    liquidity: Mapped[Liquidity] = mapped_column(_text_enum(Liquidity))
    time: Mapped[datetime]
    # The quote the fill was made against (paper fills), so a fill can be checked against its market.
    bid: Mapped[Decimal | None]
    ask: Mapped[Decimal | None]

    # The newest fills first, as the dashboards list them.
    __table_args__ = (UniqueConstraint("order_id", "trade_id"), Index(None, "time"))


class EquitySnapshot(Base):
    """An account's cash, position and its marked value, and equity at one moment: the equity curve.

    One per account and time: writing the same moment again (a resumed run) replaces it.
    """

    __tablename__ = "equity_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    time: Mapped[datetime]
    cash: Mapped[Decimal]
    units: Mapped[Decimal] = mapped_column(server_default="0")
    position_value: Mapped[Decimal]
    equity: Mapped[Decimal]

    __table_args__ = (Index(None, "account_id", "time", unique=True),)


class Rotation(Base):
    """One decision of a session's rotation about one candidate: what was decided, why, and on what numbers.

    `decision` is start, wait, promote, retire or keep; `time` is the market time of the rotation, so a resumed
    session that replays a rotation finds it already taken rather than taking it twice.
    """

    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    time: Mapped[datetime]
    candidate: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    numbers: Mapped[dict[str, Any]]

    __table_args__ = (UniqueConstraint("session_id", "time", "candidate"),)


class FeedEvent(Base):
    """A change in market-feed health: connected, disconnected, a sequence gap, stale data, a resync."""

    __tablename__ = "feed_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    time: Mapped[datetime]
    kind: Mapped[FeedEventKind] = mapped_column(_text_enum(FeedEventKind))
    product_id: Mapped[str | None] = mapped_column(String(32))
    connection: Mapped[int | None]
    """Which connection of the feed, counting from 1."""
    detail: Mapped[dict[str, Any] | None]

    __table_args__ = (Index(None, "session_id", "time"), Index(None, "time"))
