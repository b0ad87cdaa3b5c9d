"""A seeded synthetic market: realistic enough to test strategies on, reproducible bar for bar.

The model, chosen for the stylised facts strategies react to:

- a daily path per product from a fixed origin (2015-01-01): GARCH(1,1) volatility clustering,
  Student-t shocks (fat tails), a common market factor (correlated products), and a slow pull of the log
  price towards the product's typical price, so levels stay plausible in any year;
- intraday bars per UTC day: their own GARCH(1,1) clustering on Student-t shocks with the same market
  factor, scaled by a volatility interpolated between the day's and the next day's, and bridged so the
  day closes exactly where the daily path says; so price and volatility run on across midnight;
- each bar's high and low drawn from the distribution of a Brownian bridge's extremes (so they always
  bracket open and close), prices rounded to the product's tick, volume rising with the absolute return.

Determinism: every random number comes from a `SeedSequence` keyed on (seed, product, granularity,
UTC day), so the bar at a given open time is the same whatever range was asked for, in every process.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numba import njit

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.base import Progress
from gpt_trader.market.validation import iso_time

__all__ = ["DEFAULT_PRODUCTS", "ORIGIN", "SyntheticProduct", "SyntheticSource"]

ORIGIN = 1_420_070_400
"""2015-01-01T00:00:00Z: the synthetic market's first bar."""
DAY = 86_400
MAX_BARS = 10_000_000
"""The most bars one fetch makes (19 years of minutes, about 0.5 GB): a guard against a mistyped end."""
CHUNK_DAYS = 256
"""The daily path is drawn in chunks of this many days, so extending it never changes earlier days."""

DAILY_GARCH = (0.10, 0.86)  # (alpha, beta): persistence 0.96, a half-life of about 17 days
INTRADAY_GARCH = (0.06, 0.92)
DAILY_TAIL_DF = 5.0
INTRADAY_TAIL_DF = 4.0
MEAN_REVERSION_PER_DAY = math.log(2) / 365  # the log price's distance from typical halves in a year
MEAN_ABS_SHOCK = 0.75  # E|z| of the unit-variance shocks, so volume's activity term averages about 1
_MARKET = "market factor"


@dataclass(frozen=True)
class SyntheticProduct:
    """How one synthetic product behaves."""

    price: float
    """Typical price: the path starts here and its log wanders around it."""
    annual_volatility: float
    tick: float
    """Price increment; every price is a whole number of ticks."""
    market_beta: float
    """Loading on the common market factor, 0..1: the correlation of its shocks with the market's."""
    daily_volume: float
    """Typical volume per day, in the base currency."""


DEFAULT_PRODUCTS: Mapping[str, SyntheticProduct] = {
    "BTC-USD": SyntheticProduct(40_000.0, 0.60, 0.01, 0.90, 15_000.0),
    "ETH-USD": SyntheticProduct(2_500.0, 0.75, 0.01, 0.88, 200_000.0),
    "SOL-USD": SyntheticProduct(100.0, 1.10, 0.01, 0.75, 2_000_000.0),
    "LINK-USD": SyntheticProduct(15.0, 0.95, 0.001, 0.75, 2_000_000.0),
    "POL-USD": SyntheticProduct(0.8, 1.00, 0.0001, 0.70, 30_000_000.0),
    "DOGE-USD": SyntheticProduct(0.1, 1.00, 0.00001, 0.60, 500_000_000.0),
    "LTC-USD": SyntheticProduct(80.0, 0.80, 0.01, 0.80, 300_000.0),
}


class SyntheticSource:
    """A `Source` of synthetic candles; `seed` picks one of many equally plausible markets."""

    name = "synthetic"

    def __init__(self, seed: int = 7, products: Mapping[str, SyntheticProduct] | None = None) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed}")
        self.seed = int(seed)
        self._products = dict(DEFAULT_PRODUCTS if products is None else products)

    def products(self) -> list[str]:
        return list(self._products)

    def fetch(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        """The bars of `product_id` whose open time lies in [start, end); the market has no gaps."""
        spec = self._products.get(product_id)
        if spec is None:
            raise DataError(
                f"the synthetic market has no product {product_id!r}; known: {', '.join(self._products)}"
            )
        size = Granularity.parse(granularity)
        step = size.seconds
        first = -(-start // step) * step
        if first < ORIGIN:
            raise DataError(
                f"the synthetic market starts at {iso_time(ORIGIN)}; ask for {product_id} bars from then on"
            )
        if end <= first:
            return Bars.empty(product_id, size, spec.tick)
        if (end - first) // step > MAX_BARS:
            raise DataError(
                f"{iso_time(first)} to {iso_time(end)} is over {MAX_BARS:,} {size.short} bars of "
                f"{product_id}; ask for a shorter range"
            )
        days = range((first - ORIGIN) // DAY, (end - 1 - ORIGIN) // DAY + 1)
        return _bars(self.seed, product_id, spec, size, days).slice(start, end)


def _bars(seed: int, product: str, spec: SyntheticProduct, size: Granularity, days: range) -> Bars:
    per_day = DAY // size.seconds
    log_open_day, daily_scale = _daily_path(seed, product, spec, days.stop // CHUNK_DAYS + 1)
    day = np.arange(days.start, days.stop)

    draws = [_day_draws(seed, product, spec.market_beta, size.seconds, d, per_day) for d in days]
    shock, up, down, noise = (np.stack(parts) for parts in zip(*draws, strict=True))
    variance = _garch_variance(shock.ravel(), per_day, *INTRADAY_GARCH)[:-1].reshape(shock.shape)

    # The bar volatility glides from this day's level to the next day's, so it has no step at midnight.
    fraction = np.arange(per_day) / per_day
    day_sigma = daily_scale[day, None] * (1 - fraction) + daily_scale[day + 1, None] * fraction
    bar_sigma = spec.annual_volatility / math.sqrt(365 * per_day) * day_sigma * np.sqrt(variance)
    returns = bar_sigma * shock
    # Bridge: spread the difference from the daily path's return evenly, so the day ends on the path.
    day_return = log_open_day[day + 1] - log_open_day[day]
    returns -= ((returns.sum(axis=1) - day_return) / per_day)[:, None]
    log_close = log_open_day[day, None] + np.cumsum(returns, axis=1)
    log_close[:, -1] = log_open_day[day + 1]
    log_open = np.concatenate([log_open_day[day, None], log_close[:, :-1]], axis=1)

    # Extremes of a Brownian bridge from 0 to c with variance s²: P(max > m) = exp(-2m(m - c) / s²).
    move = log_close - log_open
    high_reach = (move + np.sqrt(move**2 - 2 * bar_sigma**2 * np.log(up))) / 2
    low_reach = (move - np.sqrt(move**2 - 2 * bar_sigma**2 * np.log(down))) / 2
    open_, close = _on_ticks(np.exp(log_open), spec.tick), _on_ticks(np.exp(log_close), spec.tick)
    high = np.maximum(_on_ticks(np.exp(log_open + high_reach), spec.tick), np.maximum(open_, close))
    low = np.minimum(_on_ticks(np.exp(log_open + low_reach), spec.tick), np.minimum(open_, close))

    activity = np.abs(returns) / (spec.annual_volatility / math.sqrt(365 * per_day) * MEAN_ABS_SHOCK)
    volume = spec.daily_volume / per_day * (0.3 + 0.7 * activity) * np.exp(0.4 * noise - 0.08)
    time = ORIGIN + DAY * day[:, None] + size.seconds * np.arange(per_day)
    return Bars(
        product,
        size,
        time.ravel(),
        open_.ravel(),
        high.ravel(),
        low.ravel(),
        close.ravel(),
        np.round(volume, 8).ravel(),
        price_increment=spec.tick,
    )


def _day_draws(
    seed: int, product: str, beta: float, step: int, day: int, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One UTC day's random numbers: correlated shocks, two uniforms for the extremes, volume noise."""
    market = _student_t(_generator(seed, _MARKET, step, day), count, INTRADAY_TAIL_DF)
    own = _generator(seed, product, step, day)
    shock = beta * market + math.sqrt(1 - beta**2) * _student_t(own, count, INTRADAY_TAIL_DF)
    return shock, 1 - own.random(count), 1 - own.random(count), own.standard_normal(count)


@functools.lru_cache(maxsize=32)
def _daily_path(
    seed: int, product: str, spec: SyntheticProduct, chunks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Log price at each UTC day's open and the day's volatility scale (mean about 1), from the origin."""

    def daily_shocks(stream: str) -> np.ndarray:
        generators = (_generator(seed, stream, DAY, -1 - chunk) for chunk in range(chunks))
        return np.concatenate([_student_t(generator, CHUNK_DAYS, DAILY_TAIL_DF) for generator in generators])

    beta = spec.market_beta
    shock = beta * daily_shocks(_MARKET) + math.sqrt(1 - beta**2) * daily_shocks(product)
    scale = np.sqrt(_garch_variance(shock, len(shock) + 1, *DAILY_GARCH))
    steps = spec.annual_volatility / math.sqrt(365) * scale[:-1] * shock
    return math.log(spec.price) + _mean_reverting_walk(steps, MEAN_REVERSION_PER_DAY), scale


def _generator(seed: int, stream: str, step: int, index: int) -> np.random.Generator:
    """A generator for one stream (a product or the market), bar size and day: the determinism key.

    Daily-path chunks use negative indices so they never share a key with an intraday day.
    """
    stream_key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "big")
    key = np.random.SeedSequence([seed, stream_key, step, index + 2**32])
    return np.random.Generator(np.random.PCG64(key))


def _student_t(generator: np.random.Generator, count: int, df: float) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return generator.standard_t(df, count) * math.sqrt((df - 2) / df)


def _on_ticks(prices: np.ndarray, tick: float) -> np.ndarray:
    # Dividing whole tick counts by the integer ticks-per-unit gives the double nearest the decimal
    # price (42007.13, not 42007.130000000005), and no price rounds down to zero.
    per_unit = round(1 / tick)
    return np.maximum(np.round(prices * per_unit), 1) / per_unit


@njit(cache=True, nogil=True)
def _garch_variance(shock: np.ndarray, block: int, alpha: float, beta: float) -> np.ndarray:
    """GARCH(1,1) variance (unconditional mean 1) before each shock and after the last, restarting
    at 1 every `block` shocks."""
    variance = np.empty(len(shock) + 1)
    variance[0] = 1.0
    for i in range(len(shock)):
        if (i + 1) % block == 0:
            variance[i + 1] = 1.0
        else:
            variance[i + 1] = 1.0 - alpha - beta + (alpha * shock[i] ** 2 + beta) * variance[i]
    return variance


@njit(cache=True, nogil=True)
def _mean_reverting_walk(steps: np.ndarray, reversion: float) -> np.ndarray:
    """x[0] = 0, x[t+1] = (1 - reversion) x[t] + steps[t]."""
    level = np.empty(len(steps) + 1)
    level[0] = 0.0
    for i in range(len(steps)):
        level[i + 1] = (1.0 - reversion) * level[i] + steps[i]
    return level
