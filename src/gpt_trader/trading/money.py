"""A product's order grid and the exact arithmetic of money on it.

Everything here is `Decimal`: sizes are whole numbers of the product's base increment, prices of its price
increment, and amounts of quote currency (a fill's value, its fee) are rounded to the quote increment once
per fill, half up, as Coinbase and the sandbox round them. The caller supplies the grid (from the product
list, or the catalogue offline); nothing here looks a product up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)


def round_to(amount: Decimal, increment: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """`amount` as a whole number of `increment`s (increments need not be powers of ten)."""
    return (amount / increment).to_integral_value(rounding=rounding) * increment


def floor_to(amount: Decimal, increment: Decimal) -> Decimal:
    """`amount` rounded towards zero to a whole number of `increment`s."""
    return round_to(amount, increment, ROUND_DOWN)


def is_multiple(amount: Decimal, increment: Decimal) -> bool:
    return amount % increment == 0


@dataclass(frozen=True, slots=True)
class ProductIncrements:
    """One product's order grid, as Coinbase's product list gives it.

    An order's base size is a multiple of `base_increment` within [`base_min_size`, `base_max_size`]; a
    price is a multiple of `price_increment`; an order's value in quote currency lies within
    [`quote_min_size`, `quote_max_size`], and a size given in quote currency is a multiple of
    `quote_increment`.
    """

    product_id: str
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal

    def __post_init__(self) -> None:
        for name in ("base_increment", "quote_increment", "price_increment"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{self.product_id}: {name} must be positive, got {getattr(self, name)}")
        if not ZERO <= self.base_min_size <= self.base_max_size:
            raise ValueError(f"{self.product_id}: base sizes need 0 <= base_min_size <= base_max_size")
        if not ZERO <= self.quote_min_size <= self.quote_max_size:
            raise ValueError(f"{self.product_id}: quote sizes need 0 <= quote_min_size <= quote_max_size")

    def floor_size(self, size: Decimal) -> Decimal:
        """The largest base size on the grid not above `size`."""
        return floor_to(size, self.base_increment)

    def quote_amount(self, amount: Decimal) -> Decimal:
        """An amount of quote currency rounded to the quote increment."""
        return round_to(amount, self.quote_increment)

    def value(self, size: Decimal, price: Decimal) -> Decimal:
        """What `size` costs at `price`, in quote currency on the quote grid."""
        return self.quote_amount(size * price)

    def fee(self, value: Decimal, rate: Decimal) -> Decimal:
        """The fee at `rate` on a fill worth `value`, on the quote grid."""
        return self.quote_amount(value * rate)

    def buy_cost(self, size: Decimal, price: Decimal, rate: Decimal) -> Decimal:
        """All a buy of `size` at `price` takes from cash: its value and its fee."""
        value = self.value(size, price)
        return value + self.fee(value, rate)

    def affordable_size(self, budget: Decimal, price: Decimal, rate: Decimal) -> Decimal:
        """The largest base size on the grid whose cost at `price`, fee at `rate` included, fits in `budget`."""
        if budget <= 0:
            return ZERO
        per_unit = price * (1 + rate)
        size = self.floor_size(budget / per_unit)
        if self.buy_cost(size, price, rate) > budget:
            # Rounding the value and the fee up by half a quote increment each overshoots by less than two.
            size = self.floor_size(max(budget - 2 * self.quote_increment, ZERO) / per_unit)
        return size
