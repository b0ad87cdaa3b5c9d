"""The dashboard in a real browser (Debian's Chromium through Playwright): live while a simulation runs, then
the research pages and the report on a recorded sweep.

Skips, saying why, where Chromium or Playwright is missing (`.ci/run` installs Chromium when it can).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gpt_trader.monitor.report import gather, render_html
from gpt_trader.monitor.web import create_app
from gpt_trader.sandbox.server import BackgroundServer
from gpt_trader.store import Store, open_store
from gpt_trader.store.views import StoreViews

# The monitoring tests' fixtures: a store with a recorded sweep and a planted paper session.
from tests.integration.monitor.conftest import filled_store, planted, recorded_sweep  # noqa: F401
from tests.support.monitor_records import Planted
from tests.support.paced_sim import paced_sim

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's chromium package to run the browser tests",
        allow_module_level=True,
    )


@dataclass
class Watch:
    """What the page did: console errors, uncaught exceptions, and requests that tried to leave loopback."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, Watch]]:
    watch = Watch()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda message: message.type == "error" and watch.errors.append(message.text))
        page.on("pageerror", lambda error: watch.errors.append(str(error)))

        def only_loopback(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith(("data:", "file:")) or host == "127.0.0.1":
                route.continue_()
            else:
                watch.outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)
        try:
            yield page, watch
        finally:
            browser.close()


@pytest.mark.slow
def test_a_running_simulation_is_drawn_live_without_a_reload(browser_page: tuple[Any, Watch], tmp_path: Path) -> None:
    page, watch = browser_page
    database = tmp_path / "sim.db"
    with paced_sim(database) as sim, open_store(f"sqlite:///{database}") as store:
        chart = f"document.getElementById('equity-{sim.account}')?.data?.[0]?.x?.length"
        server = BackgroundServer(create_app(store, stream_interval=0.2))
        with server:
            page.goto(f"{server.url}/#live")
            page.wait_for_function(f"{chart} > 0")
            before = page.evaluate(chart)
            page.screenshot(path=str(tmp_path / "live-before.png"), full_page=True)
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.wait_for_function(f"{chart} >= {before + 3}", timeout=120_000)
            assert sim.process.wait(timeout=120) == 0
            final = sim.snapshots()
            assert final >= before + 3
            page.wait_for_function(f"{chart} === {final}", timeout=30_000)  # every point, each drawn once
            assert navigations == []  # the chart grew in place: no reload
            page.screenshot(path=str(tmp_path / "live-after.png"), full_page=True)
            assert "ma_crossover/BTC-USD/1" in page.inner_text("#fills-table")
            assert "ma_crossover/BTC-USD/1" in page.inner_text("#accounts-table")
    assert watch.errors == []
    assert watch.outside == []
    for name in ("live-before", "live-after"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_the_pages_draw_rotations_runs_a_heat_map_and_trades(
    filled_store: Store,  # noqa: F811
    planted: Planted,  # noqa: F811
    browser_page: tuple[Any, Watch],
    tmp_path: Path,
) -> None:
    page, watch = browser_page
    server = BackgroundServer(create_app(filled_store, stream_interval=0.1))
    with server:
        page.goto(f"{server.url}/#live")
        page.wait_for_selector("#rotations-table td:has-text('retire')")
        rotations = page.inner_text("#rotations-table")
        assert "drawdown 12.0% reached the limit 10.0%" in rotations and "drawdown=0.12 round_trips=1" in rotations
        assert "shortfall=0.01235" in rotations  # numbers shown to four significant digits
        assert page.locator("#rotations-table tbody tr").count() == 4
        assert "a-3" in page.inner_text("#orders-table") and "gap" in page.inner_text("#feed-table")
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)

        page.click("#nav-runs")
        page.wait_for_selector("#runs-table tbody tr.link")
        page.fill("#run-filters input[name=strategy]", "ma_crossover")
        page.click("#run-filters button")
        page.wait_for_selector("#compare-panel:not([hidden]) #gap-table td:has-text('BTC-USD')")
        assert page.inner_text("#compare-table").count("no runs yet") == 2  # simulation and live
        page.click("#runs-table th[data-key='best_sharpe']")
        page.click("#runs-table tbody tr.link:has-text('ma_crossover')")
        page.wait_for_function("document.getElementById('heatmap')?.data?.[0]?.type === 'heatmap'")
        heat = page.evaluate("document.getElementById('heatmap').data[0].z.flat().filter(v => v !== null).length")
        assert heat == 9
        assert page.evaluate("document.getElementById('distribution').data[0].x.length") == 9
        page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)

        page.click("#results-table tbody tr.link >> nth=0")
        page.wait_for_function("document.getElementById('result-price')?.data?.length === 3")
        entries = page.evaluate("document.getElementById('result-price').data[1].x.length")
        trades_rows = page.locator("#trades-table tbody tr").count()
        assert entries > 0 and trades_rows == entries
        assert "fingerprint matches" in page.inner_text("#result-note")
        page.screenshot(path=str(tmp_path / "result.png"), full_page=True)

        page.goto(f"{server.url}/#run/{planted.sweep_run}")
        page.wait_for_selector("#regimes-panel:not([hidden]) td:has-text('trending, high volatility')")
        assert "+8.10%" in page.inner_text("#regimes-table")
    assert watch.errors == []
    assert watch.outside == []
    for name in ("live", "sweep", "result"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    print(f"screenshots: {tmp_path}")


def test_the_report_opens_offline_without_errors(
    filled_store: Store,  # noqa: F811
    browser_page: tuple[Any, Watch],
    tmp_path: Path,
) -> None:
    page, watch = browser_page
    report = tmp_path / "report.html"
    report.write_text(render_html(gather(StoreViews.of(filled_store), 1)), encoding="utf-8")
    page.goto(report.as_uri())
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 5")
    drawn = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(d => d.data.length)")
    assert drawn == [2, 1, 3, 1, 1]  # equity + buy and hold, drawdown, price + entries + exits, months, heat map
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert watch.errors == []
    assert watch.outside == []
