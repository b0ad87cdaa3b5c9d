"""The level-2 order book: snapshot and update rules, crossed-book detection, and the real capture."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase.messages import Level2Message, parse
from gpt_trader.market.book import Level, OrderBook

CAPTURE = "data/real/coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"


@dataclass(frozen=True)
class Change:
    side: str
    price_level: str
    new_quantity: str


@dataclass(frozen=True)
class Event:
    type: str
    updates: list[Change]


def levels(*rows: tuple[str, str, str]) -> list[Change]:
    return [Change(*row) for row in rows]


SNAPSHOT = Event(
    "snapshot", levels(("bid", "100.00", "1"), ("bid", "99.5", "2"), ("offer", "101", "3"), ("ask", "102", "4"))
)


def test_a_snapshot_builds_the_book_and_accepts_ask_for_offer() -> None:
    book = OrderBook("BTC-USD")
    assert book.needs_snapshot and book.best_bid() is None and book.mid() is None and book.spread() is None
    assert book.apply(SNAPSHOT)
    assert book.best_bid() == Level(100.0, 1.0) and book.best_ask() == Level(101.0, 3.0)
    assert book.mid() == 100.5 and book.spread() == 1.0 and len(book) == 4
    assert book.depth(5) == ([Level(100.0, 1.0), Level(99.5, 2.0)], [Level(101.0, 3.0), Level(102.0, 4.0)])
    assert book.depth(1) == ([Level(100.0, 1.0)], [Level(101.0, 3.0)])
    assert book.depth(0) == ([], [])


def test_updates_set_sizes_and_zero_removes_a_level() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert book.apply(Event("update", levels(("bid", "100", "0"), ("offer", "100.75", "5"), ("bid", "99.50", "7"))))
    assert book.best_bid() == Level(99.5, 7.0), "'99.50' and '99.5' are the same level"
    assert book.best_ask() == Level(100.75, 5.0)
    assert book.apply(Event("update", levels(("offer", "100.75", "0.000"), ("bid", "98", "0"))))
    assert book.best_ask() == Level(101.0, 3.0) and len(book) == 3


def test_a_new_snapshot_replaces_everything() -> None:
    book = OrderBook("ETH-USD")
    book.apply(SNAPSHOT)
    book.apply(Event("snapshot", levels(("bid", "10", "1"), ("offer", "11", "1"), ("bid", "9", "0"))))
    assert book.depth() == ([Level(10.0, 1.0)], [Level(11.0, 1.0)])


def test_a_crossed_book_asks_for_a_snapshot_until_it_gets_one() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert not book.apply(Event("update", levels(("bid", "101", "1"))))
    assert book.crossed and book.needs_snapshot
    assert not book.apply(Event("update", levels(("bid", "101", "0"))))
    assert not book.crossed and book.needs_snapshot, "updates cannot restore what was lost"
    assert book.apply(SNAPSHOT) and not book.crossed and not book.needs_snapshot


def test_a_crossed_snapshot_is_not_trusted() -> None:
    book = OrderBook("BTC-USD")
    assert not book.apply(Event("snapshot", levels(("bid", "101", "1"), ("offer", "100", "1"))))
    assert book.crossed and book.needs_snapshot


def test_a_locked_book_counts_as_crossed() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert not book.apply(Event("update", levels(("bid", "101", "1")))) and book.crossed


@pytest.mark.parametrize("bad", [("bid", "abc", "1"), ("bid", "100", "x"), ("offer", "nan", "1"), ("bid", "inf", "1"),
                                 ("offer", "-5", "1"), ("bid", "100", "-1")])
def test_an_unreadable_level_is_counted_and_the_book_distrusted(bad: tuple[str, str, str]) -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert not book.apply(Event("update", levels(bad)))
    assert book.unreadable_levels == 1 and book.needs_snapshot
    assert book.best_bid() == Level(100.0, 1.0) and len(book) == 4, "the unreadable level changed nothing"
    assert book.apply(SNAPSHOT)


def test_unknown_sides_and_event_types_are_skipped_and_counted() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert book.apply(Event("update", levels(("middle", "100.5", "1"))))
    assert book.apply(Event("partial", levels(("bid", "100.6", "1"))))
    assert book.unknown_sides == 1 and book.best_bid() == Level(100.0, 1.0)


def test_invalidate_holds_until_the_next_snapshot() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    book.invalidate()
    assert book.needs_snapshot and not book.apply(Event("update", levels(("bid", "99", "1"))))
    assert book.apply(SNAPSHOT)


prices = st.integers(1, 60).map(lambda cents: f"{Decimal(cents) / 4:.2f}")
changes = st.tuples(st.sampled_from(["bid", "offer", "ask"]), prices, st.sampled_from(["0", "0.5", "1", "2.25"]))


@settings(max_examples=200, deadline=None)
@given(snapshot=st.lists(changes, max_size=30), batches=st.lists(st.lists(changes, max_size=8), max_size=12))
def test_the_book_agrees_with_a_plain_dictionary_book(
    snapshot: list[tuple[str, str, str]], batches: list[list[tuple[str, str, str]]]
) -> None:
    book = OrderBook("X")
    reference: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "ask": {}}

    def apply_to_reference(rows: list[tuple[str, str, str]]) -> None:
        for side, price, quantity in rows:
            sizes = reference["bid" if side == "bid" else "ask"]
            sizes[Decimal(price)] = Decimal(quantity)
            if not Decimal(quantity):
                del sizes[Decimal(price)]

    book.apply(Event("snapshot", levels(*snapshot)))
    apply_to_reference(snapshot)
    for batch in batches:
        book.apply(Event("update", levels(*batch)))
        apply_to_reference(batch)
        bids = sorted(reference["bid"].items(), reverse=True)[:5]
        asks = sorted(reference["ask"].items())[:5]
        expected = [Level(float(p), float(s)) for p, s in bids], [Level(float(p), float(s)) for p, s in asks]
        assert book.depth(5) == expected
        assert book.crossed == bool(bids and asks and bids[0][0] >= asks[0][0])
        assert len(book) == len(reference["bid"]) + len(reference["ask"])


def test_the_book_rebuilt_from_the_real_capture_is_never_crossed(shared_dir: Path) -> None:
    books: dict[str, OrderBook] = {}
    checks = 0
    for frame in gzip.decompress((shared_dir / CAPTURE).read_bytes()).splitlines():
        message = parse(frame)
        if not isinstance(message, Level2Message):
            continue
        for event in message.events:
            book = books.setdefault(event.product_id, OrderBook(event.product_id))
            assert book.apply(event), f"{event.product_id} book untrustworthy after sequence_num {message.sequence_num}"
        assert not any(book.crossed for book in books.values())
        checks += 1
    assert checks == 775 and set(books) == {"BTC-USD", "ETH-USD"}
    for book in books.values():
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None and ask is not None and 0 < ask.price - bid.price < 0.001 * bid.price
        assert book.unknown_sides == book.unreadable_levels == 0
