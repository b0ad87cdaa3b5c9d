"""A store writer in a process of its own, for crash tests: it records orders and their fills through a
`StoreWriter` without end, and after each `flush()` prints how many orders are committed, until killed::

    python -m tests.support.writer_process DATABASE ACCOUNT_ID

Order n has client id `o{n}` and one fill, trade id `1`; each flush covers the next 500 orders.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gpt_trader.store import open_store
from gpt_trader.store.writer import StoreWriter

PER_FLUSH = 500
START = datetime(2024, 1, 1, tzinfo=UTC)


def main(database: str, account_id: int) -> None:
    with open_store(f"sqlite:///{database}") as store, StoreWriter(store) as writer:
        number = 0
        while True:
            for _ in range(PER_FLUSH):
                time = START + timedelta(minutes=number)
                writer.record_order(account_id, f"o{number}", product_id="BTC-USD", side="BUY", order_type="MARKET",
                                    status="FILLED", base_size=Decimal("0.5"), time=time)  # fmt: skip
                writer.add_fill(f"o{number}", trade_id="1", price=Decimal(100 + number), size=Decimal("0.5"),
                                fee=Decimal("0.3"), liquidity="TAKER", time=time)  # fmt: skip
                number += 1
            writer.flush()
            print(number, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
