"""`gpt-trader dashboard`: the web dashboard over the performance database, on 127.0.0.1:8888 by default."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from gpt_trader.errors import UserError

TOKEN_VARIABLE = "GPT_TRADER_DASHBOARD_TOKEN"
MIN_TOKEN_LENGTH = 16


def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on; beyond loopback it needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")] = 8888,
    token: Annotated[
        str | None,
        typer.Option(help=f"Token every request must carry (default: ${TOKEN_VARIABLE}).", show_default=False),
    ] = None,
) -> None:
    """Serve the read-only web dashboard: live sessions, runs, sweeps' heat maps, results' curves."""
    chosen = token or os.environ.get(TOKEN_VARIABLE) or None
    check_exposure(host, chosen)
    import asyncio

    import uvicorn

    from gpt_trader.config import load_settings
    from gpt_trader.monitor.web import create_app
    from gpt_trader.sandbox.server import bind
    from gpt_trader.store import open_store

    with open_store(load_settings().database) as store:
        listener = bind(host, port)
        shown_host = f"[{host}]" if ":" in host else host
        config = uvicorn.Config(create_app(store, chosen), log_level="warning", access_log=False, proxy_headers=False)
        server = uvicorn.Server(config)
        typer.echo(f"dashboard: http://{shown_host}:{listener.getsockname()[1]}/ reading {store.url}")
        if chosen:
            typer.echo("  open it once with ?token=YOUR_TOKEN (the token you gave); it is not shown here")
        typer.echo("Press Ctrl-C to stop.")
        asyncio.run(server.serve(sockets=[listener]))


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token long enough not to be guessed."""
    if is_loopback(host):
        return
    if token is None:
        raise UserError(
            f"--host {host} would expose the dashboard beyond this machine; give a token with --token or "
            f"${TOKEN_VARIABLE} (e.g. `export {TOKEN_VARIABLE}=$(openssl rand -hex 16)`), or keep --host 127.0.0.1"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise UserError(
            f"the dashboard token must have at least {MIN_TOKEN_LENGTH} characters; make one with "
            "`openssl rand -hex 16`"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere
