"""`gpt-trader monitor`: the terminal dashboard over the performance database."""

from __future__ import annotations

from typing import Annotated

import typer


def monitor(
    session: Annotated[int | None, typer.Option(help="Start on this session (default: the newest).")] = None,
) -> None:
    """Watch trading sessions in the terminal: accounts, equity, fills, feed health (refreshes every second)."""
    from gpt_trader.config import load_settings
    from gpt_trader.monitor.tui import MonitorApp
    from gpt_trader.store import open_store
    from gpt_trader.store.views import StoreViews

    with open_store(load_settings().database) as store:
        MonitorApp(StoreViews.of(store), session).run()
