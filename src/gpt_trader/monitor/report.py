"""A run as a self-contained HTML report: equity, drawdown, trades on price, monthly returns, metrics.

    write_report(StoreViews.of(store), run_id, Path("report.html"), png_folder=Path("charts"))

`gather` collects the run's numbers (recomputing a backtest's curves if needed), `render_html` makes one
page with plotly.js inlined (it opens with no internet), `pngs.write_pngs` draws the PNG charts.

A backtest or sweep reports one result (the best by Sharpe unless told which), its curves recomputed
from the run's recorded config and candles (see `curves.py`), buy and hold beside it, a sweep's
parameter heat map, and the breakdown by market regime where the run stored one; a trading run reports
each account's equity from the store and its closed positions.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpt_trader.errors import UserError
from gpt_trader.monitor.curves import Curves, recompute
from gpt_trader.monitor.research import heatmap, parameter_names
from gpt_trader.monitor.web import plotly_js

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.store.views import StoreViews

# One line per metric; docs/metrics.md has the full definitions and how each is computed.
METRIC_DEFINITIONS = {
    "final_equity": "Equity at the last bar's close, in the quote currency.",
    "total_return": "Final equity / initial cash - 1.",
    "cagr": "Compound annual growth rate over the span the bars cover.",
    "volatility": "Standard deviation of per-bar returns, annualised (365-day year).",
    "sharpe": "Mean / standard deviation of per-bar returns, annualised; risk-free rate 0.",
    "sortino": "Like Sharpe, with only downside deviation in the denominator.",
    "calmar": "CAGR / |max drawdown|.",
    "max_drawdown": "Deepest fall from a running equity peak (a fraction <= 0).",
    "max_drawdown_bars": "Bars from that drawdown's peak to recovery (or the end).",
    "max_drawdown_seconds": "The same, in seconds.",
    "win_rate": "Share of closed round trips with a positive result, net of fees.",
    "profit_factor": "Gross profit / gross loss of closed round trips.",
    "expectancy": "Mean result of a closed round trip, in cash.",
    "avg_trade_return": "Mean result of a closed round trip / the cash it committed.",
    "trades": "Entries (a position still open at the end counts).",
    "closed_trades": "Round trips closed.",
    "exposure": "Share of bars that close with a position open.",
    "fees": "Total fees paid.",
    "buy_and_hold_return": "One all-in buy at the first fill opportunity, same costs, marked at the last close.",
}
PERCENT_METRICS = frozenset(
    {
        "total_return",
        "cagr",
        "volatility",
        "max_drawdown",
        "win_rate",
        "exposure",
        "avg_trade_return",
        "buy_and_hold_return",
    }
)


@dataclass
class Series:
    """One line of a chart: a name, times (ISO strings) and values."""

    name: str
    times: list[str]
    values: list[float]


@dataclass
class ReportMaterial:
    """Everything a report draws, whatever the kind of run."""

    title: str
    facts: dict[str, str]
    equity: list[Series]
    drawdown: list[Series]
    metrics: dict[str, Any] = field(default_factory=dict)
    price: Series | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)
    heatmap: dict[str, Any] | None = None
    regimes: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def gather(views: StoreViews, run_id: int, result_id: int | None = None) -> ReportMaterial:
    """The material for a report of run `run_id` (of its result `result_id`, for a backtest or sweep)."""
    run = views.run(run_id)
    if run is None:
        raise UserError(f"there is no run {run_id} in the database; `gpt-trader runs list` shows the runs")
    facts = {
        "kind": run["kind"],
        "status": run["status"],
        "started": _when(run["started_at"]),
        "code version": run["code_version"],
        "data fingerprint": run["data_fingerprint"] or "",
        "data": f"{_when(run['data_start'])} → {_when(run['data_end'])}" if run["data_start"] else "",
        "trials": str(run["trials"]),
    }
    if run["results"]:
        return _backtest_material(views, run, facts, result_id)
    if result_id is not None:
        raise UserError(f"run {run_id} has no backtest results; leave out --result for a trading run's report")
    accounts = [account for session_id in run["sessions"] for account in views.accounts(session_id)]
    if not accounts:
        raise UserError(f"run {run_id} has neither backtest results nor trading accounts: nothing to report yet")
    equity, drawdown, trades = [], [], []
    for account in accounts:
        points = views.equity(account["id"])
        name = f"{account['name']} ({account['strategy']}, {account['product_id']})"
        values = [float(point["equity"]) for point in points]
        times = [point["time"].isoformat() for point in points]
        equity.append(Series(name, times, values))
        drawdown.append(Series(name, times, _drawdown(values)))
        trades += [{**trip, "account": account["name"]} for trip in views.round_trips(account["id"])]
    return ReportMaterial(f"Run {run_id}: {run['name']}", facts, equity, drawdown, trades=trades)


def _backtest_material(
    views: StoreViews, run: dict[str, Any], facts: dict[str, str], result_id: int | None
) -> ReportMaterial:
    results = views.results(run["id"])
    if result_id is None:
        result = results[0]
    else:
        chosen = [row for row in results if row["id"] == result_id]
        if not chosen:
            raise UserError(
                f"run {run['id']} has no result {result_id}; its results are ids "
                f"{results[-1]['id']}..{results[0]['id']} (see `gpt-trader runs show {run['id']}`)"
            )
        result = chosen[0]
    curves: Curves = recompute(run, result)
    shown = f"{result['strategy']} on {result['product_id']} ({_params(result['params'])})"
    facts = {**facts, "result": f"{result['id']}: {shown}", "config": _config(run["config"])}
    sweep = None
    if len(parameter_names(results)) >= 2:
        sweep = heatmap([row for row in results if row["strategy"] == result["strategy"]])
    note = (
        "Curves recomputed from the run's recorded config on the same candles (the data fingerprint matches)."
        if curves.same_data
        else "Curves recomputed from the run's recorded config; the candles changed since the run, so they may differ."
    )
    return ReportMaterial(
        title=f"Run {run['id']}: {run['name']}",
        facts=facts,
        equity=[
            Series("strategy", curves.times, curves.equity),
            Series("buy and hold", curves.times, curves.buy_and_hold),
        ],
        drawdown=[Series("strategy", curves.times, curves.drawdown)],
        metrics={name: result.get(name) for name in METRIC_DEFINITIONS},
        price=Series(result["product_id"], curves.times, curves.close),
        trades=curves.trades,
        heatmap=sweep,
        regimes=_regimes_of(views.regimes(run["id"]), result),
        note=note,
    )


def _regimes_of(rows: list[dict[str, Any]], result: dict[str, Any]) -> list[dict[str, Any]]:
    """The shown result's regime rows; where it has none, every row the run stored (its chosen candidates)."""
    own = [
        row
        for row in rows
        if (row["strategy"], row["product_id"], row["params"])
        == (result["strategy"], result["product_id"], result["params"])
    ]
    return own or rows


def write_report(
    views: StoreViews, run_id: int, out: Path, *, png_folder: Path | None = None, result_id: int | None = None
) -> list[Path]:
    """Write run `run_id`'s HTML report to `out` (and its PNG charts into `png_folder`); returns the files."""
    material = gather(views, run_id, result_id)
    page = render_html(material)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write the report to {out}: {error.strerror}; choose another --out") from None
    if png_folder is None:
        return [out]
    from gpt_trader.monitor.pngs import write_pngs  # matplotlib only for those who want PNGs

    return [out, *write_pngs(material, png_folder)]


def monthly_returns(series: Series) -> pd.DataFrame:
    """Return per calendar month (rows: years, columns: 1..12), each month against the previous month's end."""
    import pandas as pd

    values = pd.Series(series.values, index=pd.to_datetime(series.times, utc=True))
    month_ends = values.resample("ME").last().dropna()
    previous = month_ends.shift(1)
    previous.iloc[0] = values.iloc[0]
    returns = month_ends / previous - 1.0
    table = pd.DataFrame({"year": returns.index.year, "month": returns.index.month, "return": returns.to_numpy()})
    return table.pivot(index="year", columns="month", values="return").reindex(columns=range(1, 13))


def render_html(material: ReportMaterial) -> str:
    """The report as one HTML document with plotly.js inlined."""
    figures = [_line_figure("Equity", material.equity), _line_figure("Drawdown", material.drawdown, percent=True)]
    if material.price is not None:
        figures.append(_trades_figure(material.price, material.trades))
    months = monthly_returns(material.equity[0]) if material.equity and material.equity[0].values else None
    if months is not None:
        figures.append(_months_figure(months))
    if material.heatmap is not None:
        figures.append(_heatmap_figure(material.heatmap))
    plots = "\n".join(_figure_html(figure, f"chart-{index}") for index, figure in enumerate(figures))
    facts = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in material.facts.items() if value)
    return _PAGE.format(
        title=_e(material.title),
        plotly=plotly_js().read_text(encoding="utf-8"),
        facts=facts,
        note=_e(material.note),
        plots=plots,
        metrics=_metrics_table(material.metrics),
        months=_months_table(months) if months is not None else "",
        regimes=_regimes_table(material.regimes),
        trades=_trades_table(material.trades),
    )


def _line_figure(title: str, lines: list[Series], percent: bool = False) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure([go.Scatter(x=s.times, y=s.values, mode="lines", name=s.name) for s in lines])
    figure.update_layout(title=title, height=360, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    if percent:
        figure.update_yaxes(tickformat=".0%")
    return figure


def _trades_figure(price: Series, trades: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(
        [
            go.Scatter(
                x=price.times, y=price.values, mode="lines", name=f"{price.name} close", line={"color": "#6b7383"}
            ),
            go.Scatter(
                x=[t["entry_time"] for t in trades],
                y=[t["entry_price"] for t in trades],
                mode="markers",
                name="entry",
                marker={"symbol": "triangle-up", "size": 11, "color": "#137a3a"},
            ),
            go.Scatter(
                x=[t["exit_time"] for t in trades],
                y=[t["exit_price"] for t in trades],
                mode="markers",
                name="exit",
                marker={"symbol": "triangle-down", "size": 11, "color": "#b3261e"},
            ),
        ]
    )
    figure.update_layout(title="Trades on the price", height=400, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return figure


def _months_figure(months: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Heatmap(
            z=months.to_numpy().tolist(),
            x=[_MONTHS[m - 1] for m in months.columns],
            y=[str(y) for y in months.index],
            colorscale=_DIVERGING,
            zmid=0,
            texttemplate="%{z:.1%}",
            hoverongaps=False,
        )
    )
    figure.update_layout(
        title="Monthly returns", height=160 + 40 * len(months), margin={"l": 60, "r": 20, "t": 40, "b": 40}
    )
    return figure


def _heatmap_figure(heat: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Heatmap(
            z=heat["z"],
            x=[str(v) for v in heat["xs"]],
            y=[str(v) for v in heat["ys"]],
            colorscale=_DIVERGING,
            hoverongaps=False,
            colorbar={"title": heat["metric"]},
        )
    )
    figure.update_layout(
        title=f"Sweep: {heat['metric']} over {heat['y']} × {heat['x']}",
        height=420,
        xaxis={"title": heat["x"], "type": "category"},
        yaxis={"title": heat["y"], "type": "category"},
    )
    return figure


def _figure_html(figure: Any, element_id: str) -> str:
    import plotly.io as pio

    return str(
        pio.to_html(
            figure,
            include_plotlyjs=False,
            full_html=False,
            div_id=element_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _metrics_table(metrics: dict[str, Any]) -> str:
    if not metrics:
        return ""
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td class='number'>{_e(_metric(name, value))}</td>"
        f"<td>{_e(METRIC_DEFINITIONS[name])}</td></tr>"
        for name, value in metrics.items()
    )
    return (
        "<h2>Metrics</h2><p>Full definitions: <code>docs/metrics.md</code> in the GPT-Trader repository.</p>"
        f"<table><tr><th>metric</th><th>value</th><th>definition</th></tr>{rows}</table>"
    )


def _months_table(months: pd.DataFrame) -> str:
    head = "".join(f"<th>{m}</th>" for m in _MONTHS)
    rows = "".join(
        f"<tr><td>{year}</td>" + "".join(f"<td class='number'>{_metric('total_return', v)}</td>" for v in row) + "</tr>"
        for year, row in zip(months.index, months.to_numpy().tolist(), strict=True)
    )
    return f"<h2>Monthly returns</h2><table><tr><th>year</th>{head}</tr>{rows}</table>"


def _regimes_table(regimes: list[dict[str, Any]]) -> str:
    if not regimes:
        return ""
    head = "".join(
        f"<th>{name}</th>"
        for name in ("strategy", "product", "params", "regime", "bars", "share of bars", "return", "sharpe")
    )
    rows = "".join(
        f"<tr><td>{_e(r['strategy'])}</td><td>{_e(r['product_id'])}</td><td>{_e(_params(r['params']))}</td>"
        f"<td>{_e(r['regime'])}</td><td class='number'>{r['bars']}</td>"
        f"<td class='number'>{'' if r['share'] is None else format(r['share'], '.0%')}</td>"
        f"<td class='number'>{_metric('total_return', r['total_return'])}</td>"
        f"<td class='number'>{_metric('sharpe', r['sharpe'])}</td></tr>"
        for r in regimes
    )
    return (
        "<h2>By market regime</h2><p>Each bar is labelled causally (trending or ranging, high or low volatility) "
        "from the bars up to it; return and Sharpe are over the bars of each regime.</p>"
        f"<table id='regimes'><tr>{head}</tr>{rows}</table>"
    )


def _trades_table(trades: list[dict[str, Any]]) -> str:
    if not trades:
        return "<h2>Trades</h2><p>No trades.</p>"
    columns = [
        c
        for c in (
            "account",
            "side",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "pnl",
            "return",
            "exit_reason",
        )
        if c in trades[0]
    ]
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{_e(_metric('total_return', t[c]) if c == 'return' else _cell(t[c]))}</td>" for c in columns)
        + "</tr>"
        for t in trades
    )
    return f"<h2>Trades ({len(trades)})</h2><table><tr>{head}</tr>{rows}</table>"


def _drawdown(values: list[float]) -> list[float]:
    peak, falls = float("-inf"), []
    for value in values:
        peak = max(peak, value)
        falls.append(value / peak - 1.0 if peak > 0 else 0.0)
    return falls


def _metric(name: str, value: Any) -> str:
    if value is None or value != value:  # NaN: no closed trade, say
        return ""
    if name in PERCENT_METRICS:
        return f"{value:+.2%}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(getattr(value, "isoformat", lambda: value)())


def _when(value: Any) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


def _config(config: dict[str, Any]) -> str:
    from gpt_trader.store.types import json_dumps

    return json_dumps(config)


def _e(text: Any) -> str:
    return html.escape(str(text))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DIVERGING = [[0, "#b3261e"], [0.5, "#f3efd6"], [1, "#137a3a"]]
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; color: #1d2330; margin: 20px auto; max-width: 1200px; padding: 0 16px; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 24px; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }} dt {{ color: #6b7383; }}
dd {{ margin: 0; word-break: break-all; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ padding: 3px 8px; border-bottom: 1px solid #dde1e8; }}
th {{ background: #eef0f4; text-align: left; }} td.number {{ text-align: right; }}
</style>
<script>{plotly}</script></head>
<body><h1>{title}</h1><dl>{facts}</dl><p>{note}</p>
{plots}
{metrics}
{months}
{regimes}
{trades}
</body></html>
"""
