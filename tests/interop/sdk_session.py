"""Drive Coinbase's official SDK (coinbase-advanced-py) against a sandbox; print what it read as JSON.

Run with the SDK's own interpreter (it pins an older `websockets` than GPT-Trader uses):

    python sdk_session.py REST_BASE WS_URL KEY_FILE PRODUCT START END

REST_BASE is `host:port` (the SDK always speaks https; REQUESTS_CA_BUNDLE trusts the sandbox's
certificate). Only the standard library and the SDK are imported here.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

from coinbase.rest import RESTClient
from coinbase.websocket import WSClient


def main() -> None:
    rest_base, ws_url, key_file, product, start, end = sys.argv[1:7]
    client = RESTClient(key_file=key_file, base_url=rest_base)
    read: dict[str, object] = {}

    read["products"] = sorted(p["product_id"] for p in client.get_products().to_dict()["products"])
    read["product"] = client.get_product(product).to_dict()
    read["candles"] = client.get_candles(product, start, end, "ONE_MINUTE").to_dict()["candles"]
    read["public_candles"] = client.get_public_candles(product, start, end, "ONE_MINUTE").to_dict()["candles"]

    bought = client.market_order_buy(str(uuid.uuid4()), product, quote_size="100").to_dict()
    read["market_buy"] = bought
    order_id = bought["success_response"]["order_id"]
    read["market_order"] = client.get_order(order_id).to_dict()["order"]

    price = float(read["product"]["price"])
    resting = client.limit_order_gtc_buy(
        str(uuid.uuid4()), product, base_size="0.001", limit_price=f"{price * 0.5:.2f}"
    ).to_dict()
    read["limit_buy"] = resting
    resting_id = resting["success_response"]["order_id"]
    read["limit_order_before"] = client.get_order(resting_id).to_dict()["order"]
    read["cancel"] = client.cancel_orders([resting_id]).to_dict()["results"]
    read["limit_order_after"] = client.get_order(resting_id).to_dict()["order"]

    messages: list[dict[str, object]] = []
    socket = WSClient(key_file=key_file, base_url=ws_url, on_message=lambda raw: messages.append(json.loads(raw)))
    socket.open()
    socket.subscribe([product], ["ticker", "heartbeats"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(m.get("channel") == "ticker" for m in messages):
        socket.sleep_with_exception_check(0.2)
    socket.close()
    read["ws_messages"] = messages
    print(json.dumps(read))


if __name__ == "__main__":
    main()
