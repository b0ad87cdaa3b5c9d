"""Candles replayed as events: a Quote by the stated spread rule and the BarClosed of every bar, in
market-time order, the bars arriving whole (a buffer fed by the replay holds the very same Bars)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed, Quote
from gpt_trader.market.gaps import apply_gap_policy
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.replay import CandleReplay
from gpt_trader.market.sources.synthetic import SyntheticSource

T0 = 1_717_200_000


def synthetic(product: str, granularity: Granularity, hours: int = 6) -> Bars:
    return SyntheticSource(seed=3).fetch(product, granularity, T0, T0 + hours * 3600)


async def test_each_bar_is_a_quote_then_its_bar_at_the_bars_end_and_a_buffer_rebuilds_the_bars() -> None:
    bars = synthetic("BTC-USD", Granularity.ONE_MINUTE)
    replay = CandleReplay(bars, half_spread_bps=2.5)
    buffer = BarBuffer("BTC-USD", Granularity.ONE_MINUTE, capacity=4)
    events = []
    async for event in replay.events():
        events.append(event)
        if isinstance(event, BarClosed):
            assert replay.clock() == event.end
            buffer.append(event)
    assert [type(event) for event in events] == [Quote, BarClosed] * len(bars)
    assert all(quote.time == bar.end for quote, bar in zip(events[::2], events[1::2], strict=True))
    view = buffer.view()
    for column in ("time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(view, column), getattr(bars, column))


def test_the_quote_prices_a_fill_exactly_as_the_backtest_prices_one_at_the_close() -> None:
    bars = synthetic("ETH-USD", Granularity.ONE_HOUR, hours=48)
    for half_spread in (0.5, 5.0, 37.5):
        settings = SimulationSettings(half_spread_bps=half_spread)
        quotes = [event for event in CandleReplay(bars, half_spread_bps=half_spread) if isinstance(event, Quote)]
        assert [float(q.ask) for q in quotes] == (bars.close * settings.buy_factor).tolist()
        assert [float(q.bid) for q in quotes] == (bars.close * settings.sell_factor).tolist()
        assert [float(q.bid_size) for q in quotes] == bars.volume.tolist()
        assert not any(q.crossed for q in quotes)


def test_products_interleave_by_bar_end_and_fill_flat_bars_stay_synthetic() -> None:
    hourly = synthetic("BTC-USD", Granularity.ONE_HOUR, hours=3)
    gappy = synthetic("ETH-USD", Granularity.FIFTEEN_MINUTE, hours=3)
    keep = np.ones(len(gappy), dtype=bool)
    keep[[3, 4]] = False
    filled = apply_gap_policy(Bars("ETH-USD", gappy.granularity, gappy.time[keep], gappy.open[keep],
                                   gappy.high[keep], gappy.low[keep], gappy.close[keep], gappy.volume[keep]),
                              "fill-flat")
    closed = [event for event in CandleReplay([hourly, filled]) if isinstance(event, BarClosed)]
    assert [bar.end for bar in closed] == sorted(bar.end for bar in closed)
    at_the_hour = [bar.product_id for bar in closed if bar.end == T0 + 3600]
    assert at_the_hour == ["BTC-USD", "ETH-USD"], "equal ends keep the order the products were given"
    assert [bar.start for bar in closed if bar.synthetic] == [T0 + 3 * 900, T0 + 4 * 900]


def test_a_zero_spread_is_refused_because_it_would_lock_every_quote() -> None:
    with pytest.raises(ValueError, match="locked"):
        CandleReplay(synthetic("BTC-USD", Granularity.ONE_HOUR), half_spread_bps=0.0)


def reference_events(bars: list[Bars], half_spread_bps: float) -> list[Quote | BarClosed]:
    """The replay written plainly, one bar at a time: what the vectorised replay must yield exactly."""
    half = half_spread_bps * 1e-4
    rows = sorted((int(b.time[row]) + b.granularity.seconds, index, row)
                  for index, b in enumerate(bars) for row in range(len(b)))  # fmt: skip
    events: list[Quote | BarClosed] = []
    for end, index, row in rows:
        b = bars[index]
        close, volume = float(b.close[row]), Decimal(repr(float(b.volume[row])))
        bid, ask = Decimal(repr(close * (1.0 - half))), Decimal(repr(close * (1.0 + half)))
        events.append(Quote(b.product_id, float(end), bid, ask, volume, volume))
        events.append(BarClosed(b.product_id, b.granularity.seconds, int(b.time[row]), float(b.open[row]),
                                float(b.high[row]), float(b.low[row]), close, float(b.volume[row]),
                                synthetic=bool(b.synthetic[row]) if b.synthetic is not None else False))  # fmt: skip
    return events


def test_long_replays_of_several_products_yield_exactly_what_a_bar_by_bar_replay_would() -> None:
    minutes = synthetic("BTC-USD", Granularity.ONE_MINUTE, hours=150)  # past the replay's 8,192-bar chunks
    quarters = synthetic("SOL-USD", Granularity.FIFTEEN_MINUTE, hours=150)
    keep = np.ones(len(quarters), dtype=bool)
    keep[[5, 6, 300]] = False
    gappy = Bars("SOL-USD", quarters.granularity, quarters.time[keep], quarters.open[keep], quarters.high[keep],
                 quarters.low[keep], quarters.close[keep], quarters.volume[keep])  # fmt: skip
    products = [minutes, apply_gap_policy(gappy, "fill-flat")]
    events = list(CandleReplay(products, half_spread_bps=3.0))
    expected = reference_events(products, 3.0)
    assert len(events) == len(expected) > 2 * 8192
    assert events == expected
    for event, reference in zip(events[-2:], expected[-2:], strict=True):
        assert field_types(event) == field_types(reference)


def field_types(event: Quote | BarClosed) -> list[type]:
    return [type(getattr(event, name)) for name in event.__slots__]
