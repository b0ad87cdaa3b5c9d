"""A live broker in a process of its own, for crash tests. Once started and reconciled it prints `ready`, reads
a price from its standard input, places a limit buy of SIZE at that price, prints the order's client order id
and status as one JSON line, and then waits (at most a minute) to be killed::

    python -m tests.support.live_broker_process REST_URL DATABASE SESSION_ID ACCOUNT SIZE

The key comes from the configured key loading (GPT_TRADER_COINBASE_KEY_FILE, say), as for any broker.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal

from gpt_trader.market.events import Side
from gpt_trader.store import open_store
from gpt_trader.trading.live_broker import CoinbaseBroker
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import OrderRequest

LIMITS = LiveLimits(Decimal(5_000), Decimal(50_000), Decimal(1_000), 10)
WAIT_SECONDS = 60


async def place(rest_url: str, database: str, session_id: int, account: str, size: str) -> None:
    store = open_store(f"sqlite:///{database}")
    broker = CoinbaseBroker.open(LiveGuard.from_flags(True, True), store, session_id, LIMITS, rest_url=rest_url)
    await broker.reconcile()
    print("ready", flush=True)
    price = Decimal(sys.stdin.readline().strip())
    order = await broker.submit(OrderRequest.limit(account, "BTC-USD", Side.BUY, Decimal(size), price))
    print(json.dumps({"client_order_id": order.order_id, "status": order.status.value}), flush=True)


def main() -> None:
    rest_url, database, session_id, account, size = sys.argv[1:6]
    asyncio.run(place(rest_url, database, int(session_id), account, size))
    time.sleep(WAIT_SECONDS)


if __name__ == "__main__":
    main()
