"""The broker's exact book against the real Advanced Trade level-2 capture, cross-checked with market/book.py."""

from __future__ import annotations

import gzip
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from gpt_trader.coinbase.feed import MessageTranslator
from gpt_trader.coinbase.messages import Level2Message, parse
from gpt_trader.market.book import OrderBook
from gpt_trader.market.events import BookUpdate, Side
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.money import ProductIncrements
from gpt_trader.trading.orders import OrderRequest

CAPTURE = "data/real/coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"
D = Decimal


def grid(product_id: str) -> ProductIncrements:
    return ProductIncrements(
        product_id, D("0.00000001"), D("0.01"), D("0.01"), D("0.00000001"), D("3400"), D("1"), D("150000000")
    )


def test_the_real_capture_keeps_the_same_top_as_the_float_book_and_fills_only_displayed_size(
    shared_dir: Path,
) -> None:
    frames = gzip.decompress((shared_dir / CAPTURE).read_bytes()).decode().splitlines()
    products = ("BTC-USD", "ETH-USD")
    paper = PaperBroker({product: grid(product) for product in products}, stale_after=None)
    for account in ("a", "b"):
        paper.open_account(account, D(1_000_000))
    reference = {product: OrderBook(product) for product in products}
    checked = orders = 0
    translator = MessageTranslator()
    for frame in frames:
        message = parse(frame)
        if not isinstance(message, Level2Message):
            continue
        time = float(message.sequence_num)
        for event in translator.translate(message):
            assert isinstance(event, BookUpdate)
            reference[event.product_id].apply(event)
            assert paper.on_event(replace(event, time=time)) == []
            ours, theirs = paper.books[event.product_id], reference[event.product_id]
            top = ours.top(time)
            assert top is not None and not top.crossed and ours.problem(time, None) is None
            best_bid, best_ask = theirs.best_bid(), theirs.best_ask()
            assert best_bid is not None and best_ask is not None
            assert (float(top.bid), float(top.bid_size)) == best_bid
            assert (float(top.ask), float(top.ask_size)) == best_ask
            checked += 1
            if message.sequence_num % 20:
                continue
            # Every 20th message, each account takes three times the top size from each side.
            for account in ("a", "b"):
                for side in (Side.BUY, Side.SELL):
                    size = 3 * (top.ask_size if side is Side.BUY else top.bid_size)
                    if side is Side.SELL:
                        size = min(size, paper.accounts[account].available_units(event.product_id))
                    if size <= 0:
                        continue
                    order = paper.submit(OrderRequest.market(account, event.product_id, side, base_size=size), time)
                    orders += 1
                    levels = dict(theirs.depth(1000)[0 if side is Side.SELL else 1])
                    for each in order.fills:
                        assert float(each.price) in levels
                        assert each.quote is not None and each.quote.ask == top.ask and each.quote.bid == top.bid
            for book_side in (ours.bids, ours.asks):
                for price, taken in book_side.consumed.items():
                    assert taken <= book_side.displayed(price), "paper orders took more than the book showed"
    assert checked > 700 and orders > 60
    tops = [paper.books[product].top(0.0) for product in products]
    marks = {top.product_id: top.bid for top in tops if top is not None}
    assert len(marks) == len(products)
    for account in paper.accounts.values():
        assert account.equity(marks) == account.start_cash + account.realised + account.unrealised(marks) - account.fees
        assert account.cash >= 0 and account.round_trips
