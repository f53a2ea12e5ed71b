"""Prepaid credits bought with money: what a number of credits costs, and how many an auto-recharge buys.

Rules:

* Credits are bought in whole units, from :data:`MIN_CREDITS` to :data:`MAX_CREDITS` at a time, in a custom
  credit type (such as "AI credits"), never in a currency itself.
* The price is credits × the credit type's unit price, computed exactly and rounded **once** to the currency's
  minor unit with :data:`portal.domain.money.ROUNDING` (half up): 10,000 credits at $0.01 cost $100.00; 3 credits
  at $0.125 cost $0.38 (0.375 rounded half up). A price that rounds to nothing is refused.
* Auto-recharge: when the pooled balance is below the threshold, buy the target minus the balance, rounded **up**
  to whole credits, so the balance reaches the target. The target is at least :data:`MIN_CREDITS` above the
  threshold, so a recharge is never smaller than the smallest purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from portal.domain.errors import InvalidAmount
from portal.domain.money import ZERO, CreditType, Money, exact_arithmetic, to_decimal

MIN_CREDITS = Decimal(100)
"""The fewest credits one purchase buys."""
MAX_CREDITS = Decimal(10_000_000)
"""The most credits one purchase buys (and the highest auto-recharge target)."""
_TOO_MANY = Decimal("1e18")


@dataclass(frozen=True, slots=True)
class CreditQuote:
    """What ``credits`` of ``credit_type`` cost: ``amount`` exactly, ``price_minor`` rounded once to integer minor
    units of its currency."""

    credit_type: CreditType
    credits: Decimal
    amount: Decimal
    price_minor: int

    @property
    def price(self) -> Money:
        """The price as money."""
        return Money.from_minor(self.price_minor, self.credit_type.currency)

    @property
    def label(self) -> str:
        """The credits as a person reads them: ``10,000 AI credits``."""
        return self.credit_type.format(self.credits)


def whole_credits(value: object, what: str = "number of credits") -> Decimal:
    """``value`` (a decimal string or integer) as a whole number of credits, zero or more; :class:`InvalidAmount`
    naming ``what`` otherwise (floats are refused)."""
    number = to_decimal(value, what)
    if number != number.to_integral_value():
        raise InvalidAmount(f"The {what} must be a whole number of credits, not {value}.")
    if number < 0:
        raise InvalidAmount(f"The {what} cannot be negative ({value}).")
    if number >= _TOO_MANY:
        raise InvalidAmount(f"The {what} {value} is far too large.")
    return number.quantize(Decimal(1))


def quote(credit_type: CreditType, credits: object) -> CreditQuote:
    """The price of ``credits`` whole credits of ``credit_type`` (see the module rules)."""
    if credit_type.is_fiat:
        raise InvalidAmount(f"Balances in {credit_type.name} are money, not credits: there are no credits to buy.")
    count = whole_credits(credits)
    if count < MIN_CREDITS or count > MAX_CREDITS:
        raise InvalidAmount(
            f"Buy between {credit_type.format(MIN_CREDITS)} and {credit_type.format(MAX_CREDITS)} at a time, "
            f"not {credit_type.format(count)}."
        )
    with exact_arithmetic():
        amount = count * credit_type.unit_price
    price_minor = credit_type.currency.minor_units(amount)
    if price_minor <= 0:
        raise InvalidAmount(
            f"{credit_type.format(count)} cost less than the smallest amount of {credit_type.currency.code} "
            "that can be charged: buy more."
        )
    return CreditQuote(credit_type, count, amount, price_minor)


def check_recharge(threshold: object, target: object) -> tuple[Decimal, Decimal]:
    """The auto-recharge threshold and target as whole credits, if they fit the module rules; else
    :class:`InvalidAmount` saying which does not."""
    low = whole_credits(threshold, "threshold")
    high = whole_credits(target, "target")
    if low <= 0:
        raise InvalidAmount("The threshold must be more than 0 credits: recharge before the balance runs out.")
    if high > MAX_CREDITS:
        raise InvalidAmount(f"The target can be at most {MAX_CREDITS:,} credits, not {high:,}.")
    if high - low < MIN_CREDITS:
        raise InvalidAmount(
            f"The target ({high:,}) must be at least {MIN_CREDITS:,} credits above the threshold ({low:,}): "
            f"a recharge buys {MIN_CREDITS:,} credits at least."
        )
    return low, high


def recharge_credits(balance: Decimal, target: Decimal) -> Decimal:
    """How many whole credits bring ``balance`` up to ``target``: the difference rounded up (0 when it is there)."""
    with exact_arithmetic():
        missing = target - balance
    if missing <= ZERO:
        return ZERO
    return missing.to_integral_value(rounding=ROUND_CEILING)
