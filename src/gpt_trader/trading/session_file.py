"""`session.toml`: what a long paper-trading session trades, on which feed, for how long, and how it rotates.

    session = load_session_file("session.toml")
    session.all_candidates()    # every strategy × parameter set × product the session may trade

The file is read with `tomllib` and checked by pydantic models; every problem is a `SessionFileError` that
names the file, the key and its line (tomllib keeps no positions, so `key_line` finds the key in the
text). A documented example is docs/session.example.toml, explained in docs/sessions.md.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gpt_trader.errors import UserError
from gpt_trader.market.granularity import Granularity
from gpt_trader.strategies.base import ParamValue
from gpt_trader.trading.live_guard import LiveLimits


class SessionFileError(UserError):
    """A session file that cannot be used: the message names the file, the key and its line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _defaults_only() -> list[dict[str, ParamValue]]:
    return [{}]


class CandidateGroup(_Section):
    """One `[[candidates]]` table: a strategy, the parameter sets to try, and the products to trade."""

    strategy: str
    products: list[str] = Field(min_length=1)
    params: list[dict[str, ParamValue]] = Field(default_factory=_defaults_only)

    @field_validator("products")
    @classmethod
    def _upper(cls, products: list[str]) -> list[str]:
        return [product.strip().upper() for product in products]

    @field_validator("params")
    @classmethod
    def _some(cls, params: list[dict[str, ParamValue]]) -> list[dict[str, ParamValue]]:
        return params or [{}]


class AccountsSection(_Section):
    """How many candidates paper-trade at once, and the cash each account starts with."""

    capital: float = Field(default=10_000.0, gt=0)
    slots: int = Field(default=3, ge=1)
    quote_currency: str = "USD"
    fee_rate: float | None = Field(default=None, ge=0, lt=1)
    """The fee on every fill, as a fraction; default: Coinbase's entry-tier taker fee."""


FeedSource = Literal["replay", "sandbox", "coinbase"]


class FeedSection(_Section):
    """Where bars come from: a replay of stored candles, the local sandbox, or Coinbase itself."""

    source: FeedSource = "replay"
    candles: str = "synthetic"
    """For a replay, and for every rotation's backtest: a candle source spec (synthetic:SEED, file:PATH, local)."""
    granularity: str = "1m"
    start: datetime | None = None
    """Where a replay starts; default: `rotation.history_hours` before the end of its data."""
    speed: float = Field(default=0.0, ge=0)
    """Replay speed as a multiple of real time; 0 replays as fast as the machine allows."""
    url: str | None = None
    """The sandbox's WebSocket URL (`ws://127.0.0.1:PORT`), for `source = "sandbox"`."""

    @field_validator("granularity")
    @classmethod
    def _known_granularity(cls, value: str) -> str:
        Granularity.parse(value)
        return value

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def venue(self) -> str:
        """The feed as `trading.live.feed_endpoints` takes it: the sandbox's URL, or `coinbase`."""
        return self.url if self.source == "sandbox" and self.url else self.source

    @model_validator(mode="after")
    def _sandbox_needs_url(self) -> FeedSection:
        if self.source == "sandbox" and not self.url:
            raise ValueError('a sandbox feed needs url, e.g. url = "ws://127.0.0.1:8765"')
        return self


SharpeKind = Literal["deflated", "out_of_sample"]


class RotationSection(_Section):
    """When the candidates are re-ranked, and the evidence that promotes or retires an account."""

    every_hours: float = Field(default=4.0, gt=0)
    at_start: bool = True
    history_hours: float = Field(default=72.0, gt=0)
    """How much of the latest candles each rotation backtests."""
    min_round_trips: int = Field(default=5, ge=1)
    sharpe: SharpeKind = "deflated"
    min_sharpe: float = 0.5
    """Annualised Sharpe of the paper record, deflated for the number of candidates (or measured out of
    sample: only on the account's own paper trades), that promotion needs."""
    max_drawdown: float = Field(default=0.15, gt=0, lt=1)
    """Retire an account whose equity falls this fraction below its peak."""
    max_shortfall: float = Field(default=0.05, gt=0)
    """Fall short of the account's own backtest over the same bars by more than this fraction ..."""
    shortfall_rotations: int = Field(default=2, ge=1)
    """... at this many rotations in a row, and the account is retired."""


class LiveLimitsSection(_Section):
    """`[live_limits]`: what a live session may do (see `live_guard.LiveLimits`); every key is required."""

    max_order_notional: Decimal = Field(gt=0, allow_inf_nan=False)
    max_daily_notional: Decimal = Field(gt=0, allow_inf_nan=False)
    max_daily_loss: Decimal = Field(gt=0, allow_inf_nan=False)
    max_open_orders: int = Field(ge=1)

    def limits(self) -> LiveLimits:
        return LiveLimits(self.max_order_notional, self.max_daily_notional, self.max_daily_loss,
                          self.max_open_orders)  # fmt: skip


class SessionFile(_Section):
    """The whole session file; see docs/session.example.toml."""

    name: str = Field(min_length=1, max_length=200)
    live: bool = False
    """Real orders; also needs `--live` on the command line (guarded live orders) and `[live_limits]`."""
    live_limits: LiveLimitsSection | None = None
    duration_hours: float | None = Field(default=None, gt=0)
    end: datetime | None = None
    accounts: AccountsSection = Field(default_factory=AccountsSection)
    feed: FeedSection = Field(default_factory=FeedSection)
    rotation: RotationSection = Field(default_factory=RotationSection)
    candidates: list[CandidateGroup] = Field(min_length=1)

    @field_validator("end")
    @classmethod
    def _aware_end(cls, value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _one_end(self) -> SessionFile:
        if (self.duration_hours is None) == (self.end is None):
            raise ValueError("give exactly one of duration_hours (e.g. 24) and end (e.g. 2026-12-04T12:00:00Z)")
        if self.end is not None and self.feed.source == "replay" and self.feed.start is None:
            raise ValueError("a replay that ends at `end` needs feed.start, the market time it starts from")
        return self

    @model_validator(mode="after")
    def _live_needs_limits_and_a_feed(self) -> SessionFile:
        if self.live and self.live_limits is None:
            raise ValueError(
                "live = true needs a [live_limits] table with max_order_notional, max_daily_notional, "
                "max_daily_loss and max_open_orders (see docs/session.example.toml)"
            )
        if self.live and self.feed.source == "replay":
            raise ValueError('live = true trades a live feed: set feed.source = "sandbox" or "coinbase"')
        return self

    def all_candidates(self) -> list[Candidate]:
        """Every strategy × parameter set × product, in file order, each with a unique name."""
        found = [
            Candidate(group.strategy, dict(params), product)
            for group in self.candidates
            for params in group.params
            for product in group.products
        ]
        seen: set[str] = set()
        for candidate in found:
            if candidate.name in seen:
                raise SessionFileError(f"candidate {candidate.name} is listed twice; list each one once")
            seen.add(candidate.name)
        return found

    def duration(self, start: datetime) -> timedelta:
        """How long a session that starts at `start` (market time) runs."""
        if self.duration_hours is not None:
            return timedelta(hours=self.duration_hours)
        assert self.end is not None  # one of the two is given: `_one_end`
        return self.end - start


@dataclass(frozen=True)
class Candidate:
    """A strategy with one parameter set on one product: what a paper account trades."""

    strategy: str
    params: dict[str, ParamValue]
    product_id: str

    @property
    def name(self) -> str:
        shown = ",".join(f"{key}={value}" for key, value in sorted(self.params.items()))
        return f"{self.strategy}({shown})@{self.product_id}"


def load_session_file(path: str | Path) -> SessionFile:
    """Read and check a session file; unknown strategies and parameters are refused here, before any run."""
    source = Path(path).expanduser()
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionFileError(f"session file {source} does not exist; see docs/session.example.toml") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SessionFileError(f"cannot read session file {source}: {error}") from None
    return parse_session_file(text, str(source))


def parse_session_file(text: str, where: str = "session.toml") -> SessionFile:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SessionFileError(f"{where}: not valid TOML: {error}") from None
    try:
        session = SessionFile.model_validate(document)
    except ValidationError as error:
        problem = error.errors()[0]
        location = tuple(problem["loc"])
        key = ".".join(str(part) for part in location) or "(top level)"
        line = key_line(text, location)
        at = f", line {line}" if line else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a session file key (see docs/session.example.toml)"
        elif problem["type"] == "missing":
            message = "is required"
        more = f" (and {len(error.errors()) - 1} more problems)" if len(error.errors()) > 1 else ""
        raise SessionFileError(f"{where}{at}: {key}: {message}{more}") from None
    _check_strategies(session, text, where)
    return session


def _check_strategies(session: SessionFile, text: str, where: str) -> None:
    from gpt_trader.strategies.registry import get_strategy

    for index, group in enumerate(session.candidates):
        line = key_line(text, ("candidates", index, "strategy"))
        at = f", line {line}" if line else ""
        try:
            strategy = get_strategy(group.strategy)
        except UserError as error:
            raise SessionFileError(f"{where}{at}: candidates.{index}.strategy: {error}") from None
        for number, params in enumerate(group.params):
            try:
                strategy.resolve(params)
            except ValueError as error:
                line = key_line(text, ("candidates", index, "params", number)) or line
                raise SessionFileError(f"{where}, line {line}: candidates.{index}.params.{number}: {error}") from None
    session.all_candidates()


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def key_line(text: str, location: Sequence[str | int]) -> int | None:
    """The 1-based line that sets the deepest part of `location` (`("candidates", 1, "strategy")`) found.

    Tables (`[feed]`), arrays of tables (`[[candidates]]`, counted to give their index) and `key =` lines
    are followed; a location inside an inline value falls back to the line of its key. None when not even
    its first part is in the text (a missing top-level key).
    """
    wanted = tuple(str(part) for part in location)
    best: tuple[int, int] | None = None  # (matched parts, line)
    table: tuple[str, ...] = ()
    array_counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = tuple(part.strip().strip("\"'") for part in header.group(2).split("."))
            if header.group(1) == "[[":
                index = array_counts.get(names, -1) + 1
                array_counts[names] = index
                table = (*names, str(index))
            else:
                table = names
            best = _better(best, _matched(table, wanted), number)
            continue
        key = _KEY.match(line)
        if key:
            names = tuple(part.strip().strip("\"'") for part in key.group(1).split("."))
            best = _better(best, _matched((*table, *names), wanted), number)
    return None if best is None else best[1]


def _matched(path: tuple[str, ...], wanted: tuple[str, ...]) -> int:
    """How many leading parts of `wanted` `path` names, or 0 when `path` leads elsewhere."""
    if len(path) > len(wanted) or wanted[: len(path)] != path:
        return 0
    return len(path)


def _better(best: tuple[int, int] | None, matched: int, line: int) -> tuple[int, int] | None:
    if matched and (best is None or matched > best[0]):
        return (matched, line)
    return best


def session_config(session: SessionFile) -> dict[str, Any]:
    """The file as plain JSON values, recorded with the run so a resumed session reads the same file."""
    return session.model_dump(mode="json")
