"""A planted key never shows: not in the log, not in the SQLite files, not in anything the live broker or the
key command prints or raises, through orders, a lost answer, a refusal, reconciliation and the kill switch."""

from __future__ import annotations

import logging
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from gpt_trader.config import read_key_file
from gpt_trader.errors import UserError
from gpt_trader.market.events import Side
from gpt_trader.trading.live_broker import CoinbaseBroker
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import OrderRequest
from tests.support.cli import gpt_trader
from tests.support.live_sandbox import PRODUCT, live_session, running_sandbox
from tests.support.order_proxy import OrderProxy


async def test_the_key_reaches_no_log_no_database_and_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    with running_sandbox(tmp_path) as sandbox:
        planted = tmp_path / "planted_key.json"
        created = gpt_trader("sandbox", "keys", "create", "--state-dir", str(tmp_path / "sandbox-state"),
                             "--out", str(planted))  # fmt: skip
        assert created.returncode == 0, created.stderr
        outputs += [created.stdout, created.stderr]
        monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_FILE", str(planted))
        store, session_id = live_session(tmp_path / "store.db", ["alpha"])
        limits = LiveLimits(Decimal(150), Decimal(10_000), Decimal(1_000), 5)
        with OrderProxy(sandbox.url) as proxy:
            broker = CoinbaseBroker.open(
                LiveGuard.from_flags(True, True), store, session_id, limits, rest_url=proxy.url
            )
            try:
                outputs.append(repr(await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY,
                                                                            quote_size=Decimal(100)))))  # fmt: skip
                proxy.lose_next_order_answer(503)
                book = await broker.client.product_book(PRODUCT, limit=1)
                low = (book.bids[0].price / 2).quantize(Decimal("0.01"), ROUND_DOWN)
                limit = OrderRequest.limit("alpha", PRODUCT, Side.BUY, Decimal("0.001"), low)
                outputs.append(repr(await broker.submit(limit)))
                with pytest.raises(UserError) as refused:
                    await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(500)))
                outputs += [str(refused.value), repr(broker.client), repr(broker)]
                outputs.append(repr(await broker.reconcile()))
                outputs.append(repr(await broker.kill()))
            finally:
                await broker.aclose()
            tokens = [call.authorization for call in proxy.calls if call.authorization]
        store.close()

    credentials = read_key_file(planted)
    secrets = [credentials.key_name] + [line for line in credentials.private_key.splitlines() if "-----" not in line]
    secrets += [token.removeprefix("Bearer ") for token in tokens]
    assert len(tokens) >= 8 and len(secrets) > len(tokens) + 1
    database = b"".join(path.read_bytes() for path in tmp_path.glob("store.db*"))
    places = {"log": caplog.text, "database": database.decode("latin-1"), "outputs": "\n".join(outputs)}
    assert "503" in caplog.text and "kill switch" in caplog.text, "the lost answer and the kill were logged"
    leaks = {place: [secret[:12] for secret in secrets if secret in text] for place, text in places.items()}
    assert leaks == {"log": [], "database": [], "outputs": []}
