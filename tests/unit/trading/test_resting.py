from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.trading.resting import PriceLadder

prices = st.integers(min_value=1, max_value=20).map(Decimal)


@settings(max_examples=150, deadline=None)
@given(
    added=st.lists(prices, max_size=30),
    removed=st.lists(st.integers(min_value=0, max_value=29), max_size=10),
    probe=prices,
    inclusive=st.booleans(),
)
def test_the_ladder_finds_what_a_plain_scan_finds(
    added: list[Decimal], removed: list[int], probe: Decimal, inclusive: bool
) -> None:
    ladder: PriceLadder[int] = PriceLadder()
    items = list(enumerate(added))
    for number, price in items:
        ladder.add(price, number)
    for index in sorted(set(removed), reverse=True):
        if index < len(items):
            number, price = items.pop(index)
            ladder.remove(price, number)
    # Best price first, then first come first served: a stable sort by price keeps arrival order within one.
    high = [n for n, p in sorted(items, key=lambda item: -item[1]) if (p >= probe if inclusive else p > probe)]
    low = [n for n, p in sorted(items, key=lambda item: item[1]) if (p <= probe if inclusive else p < probe)]
    assert ladder.from_highest(probe, inclusive=inclusive) == high
    assert ladder.from_lowest(probe, inclusive=inclusive) == low
    assert sorted(ladder) == sorted(number for number, _ in items)
    assert ladder.from_highest(None) == ladder.from_lowest(None) == []
    assert bool(ladder) == bool(items)
