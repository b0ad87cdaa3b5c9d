"""Planted markets for session tests: one product with a real, tradable cycle, the others random walks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

EDGE = "EDGE-USD"
NOISE = ("NOISEA-USD", "NOISEB-USD", "NOISEC-USD", "NOISED-USD", "NOISEE-USD")
FIVE_MINUTES = 300
START = 1_767_225_600  # 2026-01-01T00:00:00Z


def planted_candles(path: Path, hours: int = 72, seed: int = 3) -> Path:
    """A long CSV of 5-minute candles: EDGE-USD swings ±5 % on a 12-hour cycle; the NOISE-* wander."""
    rng = np.random.default_rng(seed)
    count = hours * 3600 // FIVE_MINUTES
    times = START + FIVE_MINUTES * np.arange(count)
    frames = []
    cycle = 100 * (1 + 0.05 * np.sin(2 * np.pi * np.arange(count + 1) / 144)) + rng.normal(0, 0.05, count + 1)
    paths = {EDGE: cycle}
    for product in NOISE:
        paths[product] = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, count + 1)))
    for product, closes in paths.items():
        opens, ends = closes[:-1], closes[1:]
        frames.append(
            pd.DataFrame(
                {
                    "product_id": product,
                    "time": times,
                    "open": opens.round(4),
                    "high": (np.maximum(opens, ends) * 1.0005).round(4),
                    "low": (np.minimum(opens, ends) * 0.9995).round(4),
                    "close": ends.round(4),
                    "volume": 10.0,
                }
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


def session_toml(candles: Path, *, name: str = "planted", speed: float = 0, slots: int = 6, hours: int = 48) -> str:
    products = ", ".join(f'"{product}"' for product in (EDGE, *NOISE))
    return f"""\
name = "{name}"
duration_hours = {hours}

[accounts]
capital = 10000
slots = {slots}
fee_rate = 0.001

[feed]
source = "replay"
candles = "file:{candles}"
granularity = "5m"
speed = {speed}

[rotation]
every_hours = 6
history_hours = 24
min_round_trips = 3
sharpe = "deflated"
min_sharpe = 1.0
max_drawdown = 0.10

[[candidates]]
strategy = "ma_crossover"
products = [{products}]
params = [{{ fast = 6, slow = 24 }}]
"""
