"""`gpt-trader sandbox ...`: run the local Coinbase-compatible exchange, and make API keys for it.

The server's modules (FastAPI, uvicorn, NumPy) are imported inside the commands, so `--help` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpt_trader.errors import UserError

app = typer.Typer(no_args_is_help=True)
keys_app = typer.Typer(no_args_is_help=True)
app.add_typer(keys_app, name="keys", help="Make API keys the sandbox accepts.")

DEFAULT_PRODUCTS_HELP = "Comma-separated product ids (default: every product of the source)."
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the sandbox keeps its keys, certificate and exchange state (balances, orders, fills, market "
        "clock), all of which survive a restart; delete exchange.json there to start the accounts afresh "
        "(default: DATA_DIR/sandbox).",
        show_default=False,
    ),
]


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port for REST and WebSocket (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless others must connect.")] = (
        "127.0.0.1"
    ),
    source: Annotated[
        str, typer.Option(help="Market to replay: synthetic[:SEED], file:PATH, cache or cache:local.")
    ] = "synthetic",
    products: Annotated[str | None, typer.Option(help=DEFAULT_PRODUCTS_HELP, show_default=False)] = None,
    speed: Annotated[float, typer.Option(min=0.001, help="Market seconds per wall-clock second.")] = 60.0,
    start: Annotated[
        str | None,
        typer.Option(
            help="Market time to start from: ISO 8601 or Unix seconds (default: now for synthetic, a file's first "
            "bar, or --days ago for cache).",
            show_default=False,
        ),
    ] = None,
    granularity: Annotated[str, typer.Option("--granularity", "-g", help="Bars the ticks are made from.")] = "1m",
    days: Annotated[float, typer.Option(min=0.01, help="Days of market loaded after the start.")] = 30.0,
    history_days: Annotated[float, typer.Option(min=0, help="Days of candles served before the start.")] = 31.0,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Inject WebSocket faults every N seconds per connection: disconnect=30,gap=10,duplicate=5,stall=20:8 "
            "(gap=N:SIZE skips SIZE numbers, stall=N:SECONDS stalls that long).",
            show_default=False,
        ),
    ] = None,
    tls: Annotated[bool, typer.Option(help="Serve HTTPS and WSS with a self-signed certificate.")] = False,
    cert_out: Annotated[
        Path | None,
        typer.Option(help="Where to write the certificate (default: STATE_DIR/sandbox-cert.pem).", show_default=False),
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option(help="Products payload (.json or .json.gz) to list instead of the built-in USD pairs."),
    ] = None,
    rate_limits: Annotated[
        bool, typer.Option(help="Enforce Coinbase's REST limits (10/s per IP public, 30/s per key private).")
    ] = True,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the trades made inside each bar.")] = 0,
    state_dir: StateDir = None,
) -> None:
    """Run the sandbox exchange on loopback: Coinbase's REST and WebSocket APIs over a replayed market."""
    from gpt_trader.log import configure_logging
    from gpt_trader.market.load import to_unix_seconds
    from gpt_trader.sandbox.faults import FaultSchedule
    from gpt_trader.sandbox.ratelimit import RateLimits
    from gpt_trader.sandbox.server import SandboxConfig
    from gpt_trader.sandbox.server import serve as run_server

    if cert_out is not None and not tls:
        raise UserError("--cert-out is where the --tls certificate goes; add --tls or drop --cert-out")
    settings_state = _state_dir(state_dir)
    configure_logging()
    config = SandboxConfig(
        state_dir=settings_state,
        host=host,
        port=port,
        source=source,
        products=tuple(p.strip().upper() for p in (products or "").split(",") if p.strip()),
        speed=speed,
        start=None if start is None else to_unix_seconds(start, "--start"),
        granularity=granularity,
        history_days=history_days,
        days=days,
        faults=FaultSchedule.parse(faults),
        tls=tls,
        cert_out=cert_out,
        catalog_file=catalog,
        rate_limits=RateLimits() if rate_limits else RateLimits.off(),
        seed=seed,
    )
    stopped_by = run_server(config, announce=typer.echo)
    typer.echo(f"sandbox stopped ({stopped_by})")


@keys_app.command("create")
def create_key(
    out: Annotated[
        Path, typer.Option(help="Where to write the CDP-style key file (JSON holding the private key).")
    ] = Path("sandbox_api_key.json"),
    name: Annotated[
        str | None, typer.Option(help="Key name (default: organizations/{uuid}/apiKeys/{uuid}).", show_default=False)
    ] = None,
    ed25519: Annotated[bool, typer.Option(help="Make an Ed25519 key (EdDSA) instead of EC P-256 (ES256).")] = False,
    state_dir: StateDir = None,
) -> None:
    """Register a new API key with the sandbox and write its key file; the private key is never printed."""
    from gpt_trader.config import mask
    from gpt_trader.sandbox.keys import KeyStore

    state = _state_dir(state_dir)
    try:
        created = KeyStore(state).create_key(name, ed25519_key=ed25519, out=out)
    except OSError as error:
        where = error.filename or f"{state} or {out}"
        raise UserError(
            f"cannot write the sandbox key at {where} ({error.strerror or error}); "
            "make --state-dir a folder you may write, and --out a file path in one"
        ) from None
    typer.echo(f"created sandbox key {mask(created.key_name)} ({created.algorithm})")
    typer.echo(f"key file: {created.path}")
    typer.echo(f"use it with: GPT_TRADER_COINBASE_KEY_FILE={created.path} (or coinbase_key_file in the config)")


def _state_dir(given: Path | None) -> Path:
    if given is not None:
        return given.expanduser()
    from gpt_trader.config import load_settings

    return load_settings().data_dir / "sandbox"
