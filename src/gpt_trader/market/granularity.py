"""Candle granularities: the set Coinbase serves, and parsing of the names users type.

`Granularity` is the one table of candle sizes: each member is named as Coinbase's candles endpoint names it
(`coinbase/` sends `granularity.name` as it is) and its value is its length in seconds.
"""

from __future__ import annotations

import enum
import re


class Granularity(enum.Enum):
    """A candle size. The value is its length in seconds."""

    ONE_MINUTE = 60
    FIVE_MINUTE = 300
    FIFTEEN_MINUTE = 900
    THIRTY_MINUTE = 1800
    ONE_HOUR = 3600
    TWO_HOUR = 7200
    SIX_HOUR = 21600
    ONE_DAY = 86400

    @property
    def seconds(self) -> int:
        return self.value

    @property
    def short(self) -> str:
        """The short name used in flags, file names and tables: `1m`, `15m`, `1h`, `1d`."""
        return _SHORT[self]

    @property
    def bars_per_year(self) -> float:
        """Bars in a year of a 24/7 market (365 days): the annualisation factor for this bar size."""
        return 365 * 86400 / self.value

    @classmethod
    def parse(cls, text: str | int | Granularity) -> Granularity:
        """Read `15m`, `1h`, `FIFTEEN_MINUTE`, `900` or a Granularity; raise ValueError naming the choices."""
        if isinstance(text, Granularity):
            return text
        if isinstance(text, int) or (isinstance(text, str) and text.strip().isdigit()):
            seconds = int(text)
            for granularity in cls:
                if granularity.value == seconds:
                    return granularity
            raise ValueError(f"no granularity of {seconds} seconds; choose one of {choices()}")
        cleaned = text.strip()
        if cleaned.upper() in cls.__members__:
            return cls[cleaned.upper()]
        match = re.fullmatch(r"(\d+)\s*(m|min|h|d)", cleaned.lower())
        if match:
            seconds = int(match.group(1)) * {"m": 60, "min": 60, "h": 3600, "d": 86400}[match.group(2)]
            for granularity in cls:
                if granularity.value == seconds:
                    return granularity
        raise ValueError(f"unknown granularity {text!r}; choose one of {choices()}")


_SHORT = {
    Granularity.ONE_MINUTE: "1m",
    Granularity.FIVE_MINUTE: "5m",
    Granularity.FIFTEEN_MINUTE: "15m",
    Granularity.THIRTY_MINUTE: "30m",
    Granularity.ONE_HOUR: "1h",
    Granularity.TWO_HOUR: "2h",
    Granularity.SIX_HOUR: "6h",
    Granularity.ONE_DAY: "1d",
}


def choices() -> str:
    return ", ".join(g.short for g in Granularity)
