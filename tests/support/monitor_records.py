"""A store filled as the backtester and a paper session would fill it, for the monitoring tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gpt_trader.backtest.regimes import record_regimes
from gpt_trader.store import Store
from gpt_trader.trading.rotation import Decision
from gpt_trader.trading.session_records import SessionRecords

START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class Planted:
    """The ids of what `plant` wrote, and the numbers the tests check the views against."""

    backtest_run: int
    sweep_run: int
    paper_run: int
    session: int
    accounts: dict[str, int] = field(default_factory=dict)
    final_equity: dict[str, Decimal] = field(default_factory=dict)


def plant(store: Store) -> Planted:
    """One backtest run, one 3×3 sweep with its regime breakdown, and a paper session of two accounts that
    traded and rotated twice."""
    backtest = store.start_run(
        "backtest",
        "ma_crossover × BTC-USD",
        {"source": "synthetic", "strategies": ["ma_crossover"]},
        data_fingerprint="abc123",
        data_range=(START, START + timedelta(days=30)),
    )
    store.add_backtest_results(backtest, [_result("ma_crossover", "BTC-USD", {"fast": 10, "slow": 30}, 0.12, 1.4)])
    store.finish_run(backtest)
    sweep = store.start_run("sweep", "momentum sweep", {"source": "coinbase", "strategies": ["momentum"]}, trials=9)
    store.add_backtest_results(
        sweep,
        [
            _result(
                "momentum",
                "ETH-USD",
                {"lookback": lookback, "threshold": threshold},
                lookback * threshold / 100,
                lookback / 10 - threshold,
            )
            for lookback in (10, 20, 30)
            for threshold in (1, 2, 3)
        ],
    )
    record_regimes(store, sweep, REGIME_ROWS)
    store.finish_run(sweep)
    paper = store.start_run("paper", "paper BTC/ETH", {"source": "sandbox"})
    session = store.start_session(paper, "paper", ["ma_crossover", "momentum"])
    planted = Planted(backtest, sweep, paper, session)
    for name, strategy, product, price in (
        ("a", "ma_crossover", "BTC-USD", 50_000),
        ("b", "momentum", "ETH-USD", 3_000),
    ):
        account = store.add_account(
            session, name, strategy=strategy, product_id=product, starting_cash=10_000, quote_currency="USD"
        )
        planted.accounts[name] = account
        _trade(store, account, name, product, price)
        for minute in range(5):
            store.add_equity_snapshot(
                account,
                cash=9_000,
                position_value=1_000 + 10 * minute * (1 if name == "a" else -1),
                units="0.02",
                time=START + timedelta(minutes=minute),
            )
        planted.final_equity[name] = Decimal(10_000 + 40 * (1 if name == "a" else -1))
    store.record_feed_event("connected", session_id=session, product_id="BTC-USD", connection=1, time=START)
    store.record_feed_event(
        "gap",
        {"expected": 7, "got": 9},
        session_id=session,
        product_id="BTC-USD",
        connection=1,
        time=START + timedelta(minutes=2),
    )
    _rotate(store, session, planted.accounts)
    return planted


REGIME_ROWS = [
    {
        "strategy": "momentum",
        "product_id": "ETH-USD",
        "params": {"lookback": 30, "threshold": 1},
        "regime": regime,
        "bars": bars,
        "share": bars / 400,
        "total_return": total_return,
        "sharpe": sharpe,
    }
    for regime, bars, total_return, sharpe in (
        ("trending, high volatility", 100, 0.081, 2.25),
        ("ranging, low volatility", 300, -0.032, -0.75),
    )
]
LATEST_ROTATION = START + timedelta(hours=4)


def _rotate(store: Store, session: int, accounts: dict[str, int]) -> None:
    """A first rotation that started both accounts, then one that retired b and kept a."""
    records = SessionRecords(store)
    first = START - timedelta(minutes=1)
    records.record_decisions(
        session,
        first,
        [
            Decision("ma_crossover:BTC-USD", "start", "ranked 1 of 2 by backtest Sharpe", {"rank": 1}),
            Decision("momentum:ETH-USD", "start", "ranked 2 of 2 by backtest Sharpe", {"rank": 2}),
        ],
    )
    records.record_decisions(
        session,
        LATEST_ROTATION,
        [
            Decision(
                "ma_crossover:BTC-USD",
                "keep",
                "within its backtest's reach",
                {"paper_return": 0.004, "shortfall": 0.0123456},
                accounts["a"],
            ),
            Decision(
                "momentum:ETH-USD",
                "retire",
                "drawdown 12.0% reached the limit 10.0%",
                {"drawdown": 0.12, "round_trips": 1},
                accounts["b"],
            ),
        ],
    )


def _result(
    strategy: str, product: str, params: dict[str, int], total_return: float, sharpe: float
) -> dict[str, object]:
    return {
        "strategy": strategy,
        "product_id": product,
        "granularity": "1h",
        "params": params,
        "total_return": total_return,
        "sharpe": sharpe,
        "max_drawdown": -0.1,
        "trades": 12,
        "closed_trades": 11,
        "win_rate": 0.5,
        "final_equity": 10_000 * (1 + total_return),
        "buy_and_hold_return": 0.05,
    }


def _trade(store: Store, account: int, name: str, product: str, price: int) -> None:
    """A filled buy, a filled sell closing it at a profit (or loss), and a resting limit order."""
    buy, sell, resting = f"{name}-1", f"{name}-2", f"{name}-3"
    store.record_order(
        account, buy, product_id=product, side="BUY", order_type="MARKET", status="FILLED", base_size="0.02", time=START
    )
    store.add_fill(buy, trade_id=f"{name}-t1", price=price, size="0.02", fee="1.5", liquidity="TAKER", time=START)
    exit_price = price + (1_000 if name == "a" else -1_000)
    store.record_order(
        account,
        sell,
        product_id=product,
        side="SELL",
        order_type="MARKET",
        status="FILLED",
        base_size="0.02",
        time=START + timedelta(minutes=1),
    )
    store.add_fill(
        sell,
        trade_id=f"{name}-t2",
        price=exit_price,
        size="0.02",
        fee="1.5",
        liquidity="TAKER",
        time=START + timedelta(minutes=1),
    )
    store.add_round_trip(
        account,
        product_id=product,
        side="BUY",
        units="0.02",
        entry_time=START,
        entry_price=price,
        exit_time=START + timedelta(minutes=1),
        exit_price=exit_price,
        fees=3,
        pnl=Decimal("0.02") * (exit_price - price) - 3,
        exit_reason="signal",
    )
    store.record_order(
        account,
        resting,
        product_id=product,
        side="BUY",
        order_type="LIMIT",
        status="OPEN",
        base_size="0.02",
        limit_price=price - 500,
        time=START + timedelta(minutes=2),
    )
    store.save_position_state(account, product_id=product, units="0.02", entry_price=price, time=START)
