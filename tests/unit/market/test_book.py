"""The level-2 order book: snapshot and update rules, crossed-book detection, against a plain reference."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.book import Level, OrderBook
from gpt_trader.market.events import BookLevel, BookUpdate


def book_event(kind: str, rows: list[tuple[str, str, str]]) -> BookUpdate:
    """A BookUpdate of (side, price, size) text rows, side `bid` or `ask`."""
    bids = tuple(BookLevel(Decimal(price), Decimal(size)) for side, price, size in rows if side == "bid")
    asks = tuple(BookLevel(Decimal(price), Decimal(size)) for side, price, size in rows if side == "ask")
    return BookUpdate("BTC-USD", 0.0, bids, asks, snapshot=kind == "snapshot")


def levels(*rows: tuple[str, str, str]) -> list[tuple[str, str, str]]:
    return list(rows)


SNAPSHOT = book_event(
    "snapshot", levels(("bid", "100.00", "1"), ("bid", "99.5", "2"), ("ask", "101", "3"), ("ask", "102", "4"))
)


def test_a_snapshot_builds_the_book() -> None:
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
    assert book.apply(book_event("update", levels(("bid", "100", "0"), ("ask", "100.75", "5"), ("bid", "99.50", "7"))))
    assert book.best_bid() == Level(99.5, 7.0), "'99.50' and '99.5' are the same level"
    assert book.best_ask() == Level(100.75, 5.0)
    assert book.apply(book_event("update", levels(("ask", "100.75", "0.000"), ("bid", "98", "0"))))
    assert book.best_ask() == Level(101.0, 3.0) and len(book) == 3


def test_a_new_snapshot_replaces_everything() -> None:
    book = OrderBook("ETH-USD")
    book.apply(SNAPSHOT)
    book.apply(book_event("snapshot", levels(("bid", "10", "1"), ("ask", "11", "1"), ("bid", "9", "0"))))
    assert book.depth() == ([Level(10.0, 1.0)], [Level(11.0, 1.0)])


def test_a_crossed_book_asks_for_a_snapshot_until_it_gets_one() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert not book.apply(book_event("update", levels(("bid", "101", "1"))))
    assert book.crossed and book.needs_snapshot
    assert not book.apply(book_event("update", levels(("bid", "101", "0"))))
    assert not book.crossed and book.needs_snapshot, "updates cannot restore what was lost"
    assert book.apply(SNAPSHOT) and not book.crossed and not book.needs_snapshot


def test_a_crossed_snapshot_is_not_trusted() -> None:
    book = OrderBook("BTC-USD")
    assert not book.apply(book_event("snapshot", levels(("bid", "101", "1"), ("ask", "100", "1"))))
    assert book.crossed and book.needs_snapshot


def test_a_locked_book_counts_as_crossed() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert not book.apply(book_event("update", levels(("bid", "101", "1")))) and book.crossed


@pytest.mark.parametrize("bad", [("abc", "1"), ("100", "x"), ("nan", "1"), ("inf", "1"), ("-5", "1"), ("100", "-1")])
def test_an_unreadable_level_is_counted_and_the_book_distrusted(bad: tuple[str, str]) -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    assert not book.apply_changes([bad], [])
    assert book.unreadable_levels == 1 and book.needs_snapshot
    assert book.best_bid() == Level(100.0, 1.0) and len(book) == 4, "the unreadable level changed nothing"
    assert book.apply(SNAPSHOT)


def test_levels_may_be_text_pairs_or_decimals_alike() -> None:
    text, exact = OrderBook("X"), OrderBook("X")
    assert text.apply_snapshot([("100.50", "1.5")], [("101", "2")])
    assert exact.apply_snapshot([BookLevel(Decimal("100.5"), Decimal("1.5"))], [(Decimal("101.00"), Decimal(2))])
    assert text.depth() == exact.depth() == ([Level(100.5, 1.5)], [Level(101.0, 2.0)])


def test_invalidate_holds_until_the_next_snapshot() -> None:
    book = OrderBook("BTC-USD")
    book.apply(SNAPSHOT)
    book.invalidate()
    assert book.needs_snapshot and not book.apply(book_event("update", levels(("bid", "99", "1"))))
    assert book.apply(SNAPSHOT)


prices = st.integers(1, 60).map(lambda cents: f"{Decimal(cents) / 4:.2f}")
changes = st.tuples(st.sampled_from(["bid", "ask"]), prices, st.sampled_from(["0", "0.5", "1", "2.25"]))


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

    book.apply(book_event("snapshot", levels(*snapshot)))
    apply_to_reference(snapshot)
    for batch in batches:
        book.apply(book_event("update", levels(*batch)))
        apply_to_reference(batch)
        bids = sorted(reference["bid"].items(), reverse=True)[:5]
        asks = sorted(reference["ask"].items())[:5]
        expected = [Level(float(p), float(s)) for p, s in bids], [Level(float(p), float(s)) for p, s in asks]
        assert book.depth(5) == expected
        assert book.crossed == bool(bids and asks and bids[0][0] >= asks[0][0])
        assert len(book) == len(reference["bid"]) + len(reference["ask"])
