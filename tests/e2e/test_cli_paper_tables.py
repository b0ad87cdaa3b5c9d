"""The paper command's tables, drawn from engine statuses: one live table per strategy, then the summary."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from gpt_trader.cli.live_table import instance_rows, live_tables, summary_table
from gpt_trader.trading.engine import InstanceStatus


def status(strategy: str, product: str, *, units: str = "0", error: str | None = None) -> InstanceStatus:
    return InstanceStatus(
        strategy, product, {"window": 20}, f"{strategy}:{product}:1", Decimal(10_000), Decimal("10250.5"),
        Decimal("250.5"), Decimal(units), 3, 2, Decimal("36.12"), 0.5, 0.0421, 1, error,
    )  # fmt: skip


def drawn(renderable: object) -> str:
    screen = Console(record=True, width=160, color_system=None)
    screen.print(renderable)
    return screen.export_text()


def test_the_live_view_has_a_table_per_strategy_and_the_feed_health() -> None:
    text = drawn(live_tables(
        [status("breakout", "BTC-USD", units="0.0123"), status("breakout", "ETH-USD"),
         status("momentum", "BTC-USD", error="momentum.py:12 ZeroDivisionError")],
        "connected; 1,204 events, 12 bars, 0 losses", 42.0, 78.0,
    ))  # fmt: skip
    assert "paper trading: 42 s, 78 s left; feed: connected; 1,204 events, 12 bars, 0 losses" in text
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines.index("breakout") < lines.index("momentum"), "one titled table per strategy, in order"
    assert any("BTC-USD" in line and "10,250.50" in line and "+250.50" in line and "0.0123" in line
               and "36.12" in line and "buy" in line for line in lines)  # fmt: skip
    assert any("ETH-USD" in line and "flat" in line for line in lines)
    assert any("momentum:BTC-USD:1" in line and "failed" in line for line in lines)


def test_the_summary_gives_return_trades_fees_win_rate_and_drawdown_per_instance() -> None:
    rows = [status("breakout", "BTC-USD"), status("momentum", "SOL-USD", error="it broke")]
    text = drawn(summary_table(rows))
    line = next(line for line in text.splitlines() if "breakout:BTC-USD:1" in line)
    for figure in ("+2.50%", " 3 ", "36.12", "50%", "4.21%", "10,250.50"):
        assert figure in line, (figure, line)
    assert "failed: it broke" in text
    exported = instance_rows(rows)
    assert exported[0]["final_equity"] == "10250.5" and exported[0]["params"] == {"window": 20}
    assert exported[0]["total_return"] == 0.02505 and exported[1]["error"] == "it broke"
