"""Closing every position at the stop of a live run, when the book cannot take them all at once.

At the stop each position is one market order on the book as it stands. Several accounts closing one product
take its bids (or asks) in turn, and what one order took is not there for the next until the feed shows it
again (the broker's rule); a book that lost messages refuses every order until its snapshot. So a position
the book did not take in full waits: the engine follows the feed, deciding nothing, and the position's order
goes again each time its product's book is sound and shows size no order took, until every position is
closed or the events end (the caller bounds them in time). A refusal no later book changes (a remainder
worth less than the venue's smallest order) is final.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeAlias

from gpt_trader.market.events import MarketEvent
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.instance import Instance
from gpt_trader.trading.orders import Order, OrderStatus, RejectReason


async def close_out(
    engine: Engine, events: AsyncIterator[MarketEvent], reason: str = "stop",
    on_wait: Callable[[int], None] | None = None,
) -> list[Order]:  # fmt: skip
    """Flatten the engine's positions, trying again on `events` for those the book did not take in full
    (`on_wait` hears how many, if any); returns the last order of each position left open."""
    last = {_position(order): order for order in engine.flatten(reason)}
    waiting = _waiting(engine, last)
    if waiting and on_wait is not None:
        on_wait(len(waiting))
    while waiting:
        event = await anext(events, None)
        if event is None:
            break
        engine.follow(event)
        product_id = getattr(event, "product_id", None)
        ready = [instance for instance in waiting if instance.spec.product_id == product_id
                 and engine.broker.takes(product_id, engine.closing_side(instance), engine.market_time)]  # fmt: skip
        if ready:
            last.update((_position(order), order) for order in engine.flatten(reason, ready))
            waiting = _waiting(engine, last)
    return [last[key] for key in map(_held, engine.holding()) if key in last]


Held: TypeAlias = tuple[str, str]
"""A position by its account and product."""


def _position(order: Order) -> Held:
    return order.request.account_id, order.request.product_id


def _held(instance: Instance) -> Held:
    return instance.account.account_id, instance.spec.product_id


def _waiting(engine: Engine, last: dict[Held, Order]) -> list[Instance]:
    """The positions left open whose last order a later book may fill: it was cut short by the book, or
    refused because the book was not sound."""
    waiting = []
    for instance in engine.holding():
        order = last.get(_held(instance))
        if order is not None and (order.status is OrderStatus.CANCELLED or (
                order.rejection is not None and order.rejection.reason is RejectReason.NO_MARKET)):  # fmt: skip
            waiting.append(instance)
    return waiting
