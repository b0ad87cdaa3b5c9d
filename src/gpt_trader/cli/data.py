"""`gpt-trader data ...`: fetch, import, list, show and verify cached candles.

Settings come from `load_settings()` (`cache_dir`, `cache_ttl_seconds`); the flags override them.
NumPy, pandas, pyarrow and Rich are imported inside the commands, so `--help` answers at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gpt_trader.cli.output import console as make_console
from gpt_trader.cli.output import progress_bar
from gpt_trader.errors import DataError, UserError

if TYPE_CHECKING:
    from gpt_trader.config import Settings
    from gpt_trader.market.bars import Bars
    from gpt_trader.market.cache import CacheEntry, CandleCache

app = typer.Typer(no_args_is_help=True)

DAY = 86_400
DEFAULT_DAYS = 30
GRANULARITY_HELP = "Candle size: 1m, 5m, 15m, 30m, 1h, 2h, 6h or 1d."
DAYS_HELP = f"Days back from --end (default: {DEFAULT_DAYS}); or give --start."
_AGAIN = "fetch or import it again"
START_HELP = "First bar's time: ISO 8601 (2024-01-01, 2024-01-01T12:00Z) or Unix seconds."
END_HELP = "End, exclusive: ISO 8601 or Unix seconds (default: now)."
SOURCE_HELP = "Where from: coinbase, synthetic or synthetic:SEED."
TTL_HELP = "Fetch the newest bars again once older than this (default: the cache_ttl_seconds setting)."

CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache folder (default: the cache_dir setting).", show_default=False),
]
GranularityFilter = Annotated[
    str | None, typer.Option("--granularity", "-g", help="Only this granularity (1m, 15m, 1h, ...).")
]
SourceFilter = Annotated[
    str | None,
    typer.Option(help="Only this source: as `data list` shows it (local, coinbase, synthetic-7) or a spec."),
]


@app.command()
def fetch(
    products: Annotated[list[str], typer.Argument(help="Product ids, e.g. BTC-USD ETH-USD.")],
    granularity: Annotated[str, typer.Option("--granularity", "-g", help=GRANULARITY_HELP)] = "15m",
    days: Annotated[int | None, typer.Option(min=1, help=DAYS_HELP, show_default=False)] = None,
    start: Annotated[str | None, typer.Option(help=START_HELP)] = None,
    end: Annotated[str | None, typer.Option(help=END_HELP, show_default=False)] = None,
    source: Annotated[str, typer.Option(help=SOURCE_HELP)] = "coinbase",
    cache_dir: CacheDir = None,
    ttl_seconds: Annotated[int | None, typer.Option(min=0, help=TTL_HELP, show_default=False)] = None,
) -> None:
    """Fetch candles into the cache (only what is missing) and print bars, range and gaps per product."""
    from gpt_trader.coinbase.candles import CoinbaseSource
    from gpt_trader.coinbase.errors import CoinbaseUnavailable
    from gpt_trader.market.cache import CandleCache
    from gpt_trader.market.load import load_bars, parse_granularity, to_unix_seconds
    from gpt_trader.market.sources import SyntheticSource, open_source

    settings = _settings(cache_dir, ttl_seconds)
    size = parse_granularity(granularity)
    if start is not None and days is not None:
        raise UserError("give --days or --start, not both")
    origin = open_source(source, settings)
    if not isinstance(origin, CoinbaseSource | SyntheticSource):
        raise UserError(
            f"--source {source}: fetch reads from coinbase or synthetic[:SEED]; "
            "to store a file's candles use `gpt-trader data import PATH`"
        )
    stop = int(time.time()) if end is None else to_unix_seconds(end, "--end")
    begin = stop - (days or DEFAULT_DAYS) * DAY if start is None else to_unix_seconds(start, "--start")
    if stop <= begin:
        raise UserError(f"--end ({_when(stop)}) must come after the start ({_when(begin)})")
    cache = CandleCache(settings.cache_dir, settings.cache_ttl_seconds)
    try:
        with progress_bar("fetching") as progress:
            loaded = load_bars(products, size, begin, stop, source=origin, progress=progress, cache=cache)
    except CoinbaseUnavailable as error:
        # The general hint names --source file:PATH, which fetch refuses: say what fetch can do instead.
        hint = (
            f"Without network access, fetch from the synthetic market (`gpt-trader data fetch {' '.join(products)} "
            "--source synthetic`) or store a file's candles with `gpt-trader data import PATH`."
        )
        raise CoinbaseUnavailable(error.url, error.reason, hint) from None
    _print_loaded(loaded, f"fetched from {source} into {cache.root}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A CSV (optionally .gz) or Parquet file of candles.")],
    product: Annotated[
        str | None, typer.Option(help="Product id of a single-product file, or the one product to keep.")
    ] = None,
    granularity: Annotated[
        str | None, typer.Option("--granularity", "-g", help="Candle size (default: inferred from the times)")
    ] = None,
    cache_dir: CacheDir = None,
) -> None:
    """Import candles from a file as the `local` source, after validating every product.

    A file with bad rows is refused as a whole, naming each problem; an earlier import of the same
    product and granularity is replaced.
    """
    from gpt_trader.market.cache import CandleCache
    from gpt_trader.market.load import parse_granularity
    from gpt_trader.market.sources import FileSource
    from gpt_trader.market.validation import validate

    size = None if granularity is None else parse_granularity(granularity)
    held = FileSource(path, product_id=product, granularity=size).load_all()
    problems = [f"  {name}: {problem}" for name, bars in held.items() for problem in validate(bars)]
    if problems:
        raise DataError(
            f"{path} was not imported; {len(problems)} problem(s):\n" + "\n".join(problems)
            + "\nfix or drop these rows and import again"
        )
    cache = CandleCache(_settings(cache_dir).cache_dir)
    for name, bars in held.items():
        cache.path("local", name, bars.granularity)  # refuses a product id unfit for a file name
    for bars in held.values():
        cache.put("local", bars)
    _print_loaded(held, f"imported from {path} as source local")


@app.command("list")
def list_(cache_dir: CacheDir = None) -> None:
    """List cached candles: source, product, granularity, bars, range, gaps, size on disk and age."""
    from rich.table import Table

    cache = _cache(cache_dir)
    entries = cache.entries()
    console = make_console()
    if not entries:
        console.print(
            f"nothing cached in {cache.root}; use `gpt-trader data fetch` or `gpt-trader data import`",
            markup=False,
        )
        return
    table = Table("source", "product", "granularity", "bars", "from", "to", "gaps", "size", "age")
    now = time.time()
    for entry in entries:
        if entry.error is not None:
            cells = ["-", "-", "-", f"unreadable: {entry.error}"]
        else:
            bars = _stored_bars(cache, entry)
            cells = [f"{entry.bars:,}", _when(entry.first_time), _when(entry.last_time), _gap_cell(bars)]
        age = "-" if entry.error else _age(now - entry.fetched_at)
        row = [entry.source, entry.product_id, entry.granularity.short, *cells, _size(entry.size_bytes), age]
        table.add_row(*row)
    console.print(table)


@app.command()
def show(
    product: Annotated[str, typer.Argument(help="Product id, e.g. BTC-USD.")],
    source: SourceFilter = None,
    granularity: GranularityFilter = None,
    tail: Annotated[int, typer.Option(min=0, help="How many of the last bars to print.")] = 10,
    cache_dir: CacheDir = None,
) -> None:
    """Summarise one cached entry and print its last bars (--source/--granularity pick among several)."""
    from rich.table import Table

    cache = _cache(cache_dir)
    entry = _one_entry(cache, product.strip().upper(), source, granularity)
    bars = _stored_bars(cache, entry)
    console = make_console()
    lines = [
        f"{entry.source} {entry.product_id} {entry.granularity.short}: {len(bars):,} bars, "
        f"{_when(entry.first_time)} to {_when(entry.last_time)} UTC",
        f"covered {_when(entry.covered_start)} to {_when(entry.covered_end)}, stored "
        f"{_age(time.time() - entry.fetched_at)} ago, {_size(entry.size_bytes)} at {entry.path}",
        f"gaps: {_gap_cell(bars)}",
    ]
    if bars.synthetic is not None:
        lines.append(f"gap-filler bars flagged synthetic: {int(bars.synthetic.sum()):,}")
    for line in lines:
        console.print(line, markup=False, highlight=False)
    if tail and len(bars):
        table = Table("time (UTC)", "open", "high", "low", "close", "volume")
        last = bars[-tail:]
        for i in range(len(last)):
            prices = (last.open[i], last.high[i], last.low[i], last.close[i], last.volume[i])
            table.add_row(_when(int(last.time[i])), *(f"{value:,.8g}" for value in prices))
        console.print(table)


@app.command()
def verify(
    products: Annotated[
        list[str] | None, typer.Argument(help="Product ids to check (default: every cached product).")
    ] = None,
    source: SourceFilter = None,
    granularity: GranularityFilter = None,
    fail_on_gaps: Annotated[bool, typer.Option(help="Count gaps as problems too.")] = False,
    cache_dir: CacheDir = None,
) -> None:
    """Validate cached candles and look for gaps; print `clean` or the problems of each entry.

    Exits with status 1 if any entry has a problem (gaps count only with --fail-on-gaps).
    """
    from gpt_trader.market.gaps import find_gaps
    from gpt_trader.market.validation import validate

    cache = _cache(cache_dir)
    entries = _matching(cache, products, source, granularity)
    if not entries:
        raise UserError(f"nothing cached matches; see `gpt-trader data list` (cache: {cache.root})")
    console = make_console()
    failed = 0
    for entry in entries:
        label = f"{entry.source} {entry.product_id} {entry.granularity.short}"
        if entry.error is not None:
            failed += 1
            console.print(f"{label}: unreadable ({entry.error}); {_AGAIN}", markup=False)
            continue
        bars = _stored_bars(cache, entry)
        problems = validate(bars)
        gaps = find_gaps(bars) if not problems else None
        if problems:
            console.print(f"{label}: {len(problems)} problem(s)", style="red", markup=False)
            for problem in problems:
                console.print(f"  {problem}", markup=False, highlight=False)
        elif gaps is not None and gaps.gaps:
            console.print(f"{label}: {gaps.summary().partition(': ')[2]}", markup=False, highlight=False)
        else:
            console.print(f"{label}: clean", markup=False, highlight=False)
        failed += bool(problems) or (fail_on_gaps and gaps is not None and bool(gaps.gaps))
    if failed:
        console.print(f"{failed} of {len(entries)} entries have problems", style="red")
        raise typer.Exit(1)
    console.print(f"all {len(entries)} entries clean", style="green")


def _settings(cache_dir: Path | None, ttl_seconds: int | None = None) -> Settings:
    from gpt_trader.config import load_settings

    return load_settings(cache_dir=cache_dir, cache_ttl_seconds=ttl_seconds)


def _cache(cache_dir: Path | None) -> CandleCache:
    from gpt_trader.market.cache import CandleCache

    settings = _settings(cache_dir)
    return CandleCache(settings.cache_dir, settings.cache_ttl_seconds)


def _matching(
    cache: CandleCache, products: list[str] | None, source: str | None, granularity: str | None
) -> list[CacheEntry]:
    from gpt_trader.market.load import parse_granularity

    size = None if granularity is None else parse_granularity(granularity)
    entries = cache.entries(source=_cache_source(cache, source), granularity=size)
    wanted = {product.strip().upper() for product in products or ()}
    return [entry for entry in entries if not wanted or entry.product_id in wanted]


def _one_entry(cache: CandleCache, product: str, source: str | None, granularity: str | None) -> CacheEntry:
    found = _matching(cache, [product], source, granularity)
    readable = [entry for entry in found if entry.error is None]
    if len(readable) == 1:
        return readable[0]
    if not found:
        others = sorted({f"{e.source} {e.granularity.short}" for e in cache.entries(product_id=product)})
        cached = f"cached: {', '.join(others)}" if others else "see `gpt-trader data list`"
        raise UserError(f"no cached {product} candles match ({cached})")
    if not readable:
        raise UserError(f"{found[0].path} is unreadable ({found[0].error}); {_AGAIN}")
    choices = ", ".join(f"--source {e.source} --granularity {e.granularity.short}" for e in readable)
    raise UserError(f"{product} is cached more than once; pick one with {choices}")


def _cache_source(cache: CandleCache, source: str | None) -> str | None:
    """The cache folder of a --source value: a name `data list` shows, or a spec such as synthetic:7."""
    if source is None or (cache.root / source).is_dir():
        return source
    from gpt_trader.market.cache import cache_name
    from gpt_trader.market.sources import open_source

    opened = open_source(source)
    if opened.name == "file":
        raise UserError("files are read directly, not cached; import one with `gpt-trader data import PATH`")
    return cache_name(opened)


def _stored_bars(cache: CandleCache, entry: CacheEntry) -> Bars:
    stored = cache.read(entry.source, entry.product_id, entry.granularity)
    if stored is None:
        raise UserError(f"{entry.path} vanished or became unreadable while being read; run the command again")
    return stored.bars


def _print_loaded(loaded: dict[str, Bars], title: str) -> None:
    from rich.table import Table

    table = Table("product", "granularity", "bars", "from", "to (last bar)", "gaps", title=title)
    for product, bars in loaded.items():
        first, last = (bars.start, int(bars.time[-1])) if len(bars) else (None, None)
        size = bars.granularity.short
        table.add_row(product, size, f"{len(bars):,}", _when(first), _when(last), _gap_cell(bars))
    make_console().print(table)


def _gap_cell(bars: Bars) -> str:
    from gpt_trader.market.gaps import find_gaps

    report = find_gaps(bars)
    if not report.gaps:
        return "none"
    return f"{report.count:,} ({report.missing_bars:,} bars missing)"


def _when(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def _age(seconds: float) -> str:
    for unit, length in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds // length:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
