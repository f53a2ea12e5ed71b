"""Prices: price models, products, rate cards over time, and overrides on top of them.

Rules (these are exactly how a quantity becomes an amount):

* **Price models** return the amount at full precision and a per-tier
  breakdown; nothing is rounded here (an amount is rounded once, when it
  becomes an invoice line, see :mod:`portal.domain.money`). A quantity of
  zero costs zero and has an empty breakdown, whatever the model. Negative
  quantities are refused.

  - ``FLAT``: quantity × unit price.
  - ``TIERED`` (graduated): each tier's units at that tier's price. Tier
    *k* holds the units above the previous tier's ``up_to`` up to and
    **including** its own ``up_to``: with tier 1 up to 100 at $1 and tier 2
    at $0.50, a quantity of 100 is 100 units in tier 1 ($100) and 101 is
    100 units in tier 1 plus 1 unit in tier 2 ($100.50). A tier's flat fee
    is added once when the quantity reaches into that tier (is above the
    previous tier's bound).
  - ``VOLUME``: all units at the price of the tier the total lands in, plus
    that tier's flat fee, with the same inclusive bounds: 100 units land in
    a tier that goes up to 100.
  - ``PACKAGE``: a price per block of ``size`` units; a partial block costs
    a whole block (1,001 units in blocks of 1,000 are 2 blocks).

  Tier bounds must increase from tier to tier, and the last tier has no
  upper bound so every quantity has a price. Prices and fees are zero or
  more.
* A **product** is what appears on an invoice: ``USAGE`` (bound to a
  billable metric), ``SUBSCRIPTION`` or ``FIXED``. A usage product may
  convert the metric's quantity before pricing: first the conversion
  (multiply or divide by a factor), then the rounding (up, down or half up to
  a number of decimal places). "$1 per 1,000 tokens, rounded up" is: divide
  by 1,000, round up to 0 places, flat price $1; 1,001 tokens then cost $2.
  A ``pricing_group_key`` prices each value of that group key separately
  (tiers apply per value); a ``presentation_group_key`` prices all values
  together and only shows the amount per value.
* A **rate** prices one product from ``starting_at`` (inclusive) until
  ``ending_before`` (exclusive, or open-ended), in a credit type (the
  contract currency or a custom unit such as "AI credits"). A rate card
  never has two rates for a product at the same instant; a scheduled price
  change is a new rate starting later.
* **Overrides** (from a package or a contract) change a product's rate for a
  time: an ``OVERWRITE`` replaces the price model (and, if given, the credit
  type); a ``MULTIPLIER`` multiplies every price and fee in the model by a
  factor (0.8 is 20% off). When several apply at once, the ``OVERWRITE``
  with the lowest priority number wins (two at the same priority are
  refused as ambiguous), then every ``MULTIPLIER`` applies on top of it
  (their factors multiply). Overrides change an existing rate; they do not
  price a product where the rate card has no rate.
* :func:`rate_segments` cuts a period at every instant where a rate or an
  override starts or ends and gives the effective rate of each piece; a
  piece without a rate is a gap, where usage is not billed but reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from enum import Enum
from functools import lru_cache
from itertools import pairwise

from portal.domain.errors import (
    DomainError,
    InvalidOverride,
    InvalidPriceModel,
    InvalidProduct,
    InvalidQuantity,
    InvalidRate,
    OverlappingRates,
)
from portal.domain.money import ZERO, CreditType, to_decimal
from portal.domain.periods import Period, ensure_utc


@dataclass(frozen=True, slots=True)
class TierLine:
    """One tier's share of a price: ``quantity`` units (blocks, for PACKAGE) at ``unit_price``, plus ``flat_fee``."""

    tier: int
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PriceResult:
    """The full-precision amount for a quantity and the per-tier lines that add up to it."""

    amount: Decimal
    breakdown: tuple[TierLine, ...]


FREE = PriceResult(ZERO, ())
"""The price of a zero quantity under every model."""


def _quantity(value: Decimal) -> Decimal:
    """Check that a quantity can be priced: a finite Decimal of zero or more."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidQuantity(f"Cannot price the quantity {value!r}: give a decimal number of zero or more.")
    return value


def _price(value: object, what: str) -> Decimal:
    """Parse a price or fee, which must be zero or more."""
    result = to_decimal(value, what)
    if result < 0:
        raise InvalidPriceModel(f"The {what} {result} is negative; prices and fees must be zero or more.")
    return result


def _factor(value: object, what: str) -> Decimal:
    """Parse a multiplier or conversion factor, which must be zero or more."""
    result = to_decimal(value, what)
    if result < 0:
        raise InvalidPriceModel(f"The {what} {result} is negative; use zero or more.")
    return result


@dataclass(frozen=True, slots=True)
class Flat:
    """FLAT: every unit at ``unit_price``."""

    unit_price: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit_price", _price(self.unit_price, "unit price"))

    def price(self, quantity: Decimal) -> PriceResult:
        """Quantity × unit price."""
        if _quantity(quantity) == 0:
            return FREE
        amount = quantity * self.unit_price
        return PriceResult(amount, (TierLine(1, quantity, self.unit_price, ZERO, amount),))

    def scaled(self, factor: Decimal) -> Flat:
        """The same model with the unit price multiplied by ``factor``."""
        return Flat(self.unit_price * _factor(factor, "multiplier"))


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier up to and including ``up_to`` units (None: no upper bound), at ``unit_price`` plus ``flat_fee``."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.up_to is not None:
            bound = to_decimal(self.up_to, "tier bound")
            if bound <= 0:
                raise InvalidPriceModel(f"A tier must end above 0 units, not at {bound}.")
            object.__setattr__(self, "up_to", bound)
        object.__setattr__(self, "unit_price", _price(self.unit_price, "tier unit price"))
        object.__setattr__(self, "flat_fee", _price(self.flat_fee, "tier flat fee"))

    def scaled(self, factor: Decimal) -> Tier:
        """The same tier with its unit price and flat fee multiplied by ``factor``."""
        checked = _factor(factor, "multiplier")
        return Tier(self.up_to, self.unit_price * checked, self.flat_fee * checked)


def _check_tiers(tiers: Sequence[Tier], model: str) -> tuple[Tier, ...]:
    """Check tiers increase and only the last is unbounded; return them as a tuple."""
    if not tiers:
        raise InvalidPriceModel(f"A {model} price needs at least one tier.")
    checked = tuple(tiers)
    previous: Decimal = ZERO
    for number, tier in enumerate(checked, 1):
        if tier.up_to is None:
            if number != len(checked):
                raise InvalidPriceModel(
                    f"Tier {number} of {len(checked)} has no upper bound: only the last tier may be unbounded."
                )
        elif tier.up_to <= previous:
            raise InvalidPriceModel(
                f"Tier {number} ends at {tier.up_to} but tier {number - 1} already ends at {previous}: "
                "each tier must end above the one before."
            )
        else:
            previous = tier.up_to
    if checked[-1].up_to is not None:
        raise InvalidPriceModel(
            f"The last tier ends at {checked[-1].up_to}: leave its upper bound empty so every quantity has a price."
        )
    return checked


@dataclass(frozen=True, slots=True)
class Tiered:
    """TIERED (graduated): each tier's units at that tier's price; bounds are inclusive."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _check_tiers(self.tiers, "tiered"))

    def price(self, quantity: Decimal) -> PriceResult:
        """Sum over the tiers the quantity reaches of (units in tier × tier price + tier flat fee)."""
        if _quantity(quantity) == 0:
            return FREE
        lower = ZERO
        total = ZERO
        lines: list[TierLine] = []
        for number, tier in enumerate(self.tiers, 1):
            if quantity <= lower:
                break
            upper = tier.up_to
            units = quantity - lower if upper is None or quantity < upper else upper - lower
            amount = units * tier.unit_price + tier.flat_fee
            lines.append(TierLine(number, units, tier.unit_price, tier.flat_fee, amount))
            total += amount
            if upper is None:
                break
            lower = upper
        return PriceResult(total, tuple(lines))

    def scaled(self, factor: Decimal) -> Tiered:
        """The same tiers with every price and fee multiplied by ``factor``."""
        return Tiered(tuple(tier.scaled(factor) for tier in self.tiers))


@dataclass(frozen=True, slots=True)
class Volume:
    """VOLUME: all units at the price of the tier the total lands in; bounds are inclusive."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _check_tiers(self.tiers, "volume"))

    def price(self, quantity: Decimal) -> PriceResult:
        """Quantity × price of the tier it lands in, plus that tier's flat fee."""
        if _quantity(quantity) == 0:
            return FREE
        number = next(
            (n for n, tier in enumerate(self.tiers, 1) if tier.up_to is None or quantity <= tier.up_to),
            len(self.tiers),
        )
        tier = self.tiers[number - 1]
        amount = quantity * tier.unit_price + tier.flat_fee
        return PriceResult(amount, (TierLine(number, quantity, tier.unit_price, tier.flat_fee, amount),))

    def scaled(self, factor: Decimal) -> Volume:
        """The same tiers with every price and fee multiplied by ``factor``."""
        return Volume(tuple(tier.scaled(factor) for tier in self.tiers))


@dataclass(frozen=True, slots=True)
class Package:
    """PACKAGE: ``price_per_block`` for each block of ``size`` units; a partial block costs a whole block."""

    size: Decimal
    price_per_block: Decimal

    def __post_init__(self) -> None:
        size = to_decimal(self.size, "package size")
        if size <= 0:
            raise InvalidPriceModel(f"A package must hold more than 0 units, not {size}.")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "price_per_block", _price(self.price_per_block, "package price"))

    def price(self, quantity: Decimal) -> PriceResult:
        """Number of blocks (rounded up) × price per block."""
        if _quantity(quantity) == 0:
            return FREE
        blocks, rest = divmod(quantity, self.size)
        if rest:
            blocks += 1
        amount = blocks * self.price_per_block
        return PriceResult(amount, (TierLine(1, blocks, self.price_per_block, ZERO, amount),))

    def scaled(self, factor: Decimal) -> Package:
        """The same package with its block price multiplied by ``factor``."""
        return Package(self.size, self.price_per_block * _factor(factor, "multiplier"))


PriceModel = Flat | Tiered | Volume | Package
"""Any price model: each has ``price(quantity) -> PriceResult`` and ``scaled(factor)``."""


class ProductKind(Enum):
    """What a product bills for."""

    USAGE = "usage"
    SUBSCRIPTION = "subscription"
    FIXED = "fixed"


class ConversionOperation(Enum):
    """How a conversion factor is applied to a quantity."""

    MULTIPLY = "multiply"
    DIVIDE = "divide"


@dataclass(frozen=True, slots=True)
class QuantityConversion:
    """Multiply or divide the metric's quantity by ``factor`` (above zero) before pricing."""

    factor: Decimal
    operation: ConversionOperation

    def __post_init__(self) -> None:
        factor = to_decimal(self.factor, "conversion factor")
        if factor <= 0:
            raise InvalidProduct(f"A quantity conversion factor must be above 0, not {factor}.")
        object.__setattr__(self, "factor", factor)

    def apply(self, quantity: Decimal) -> Decimal:
        """The converted quantity."""
        if self.operation is ConversionOperation.MULTIPLY:
            return quantity * self.factor
        return quantity / self.factor


class RoundingMode(Enum):
    """How a converted quantity is rounded (quantities are never negative)."""

    UP = ROUND_UP
    DOWN = ROUND_DOWN
    HALF_UP = ROUND_HALF_UP


@dataclass(frozen=True, slots=True)
class QuantityRounding:
    """Round the (converted) quantity to ``decimal_places`` places with ``mode``."""

    mode: RoundingMode
    decimal_places: int = 0

    def __post_init__(self) -> None:
        if self.decimal_places < 0:
            raise InvalidProduct(f"Round quantities to 0 or more decimal places, not {self.decimal_places}.")

    def apply(self, quantity: Decimal) -> Decimal:
        """The rounded quantity."""
        return quantity.quantize(Decimal(1).scaleb(-self.decimal_places), rounding=self.mode.value)


@dataclass(frozen=True, slots=True)
class Product:
    """Something that appears on an invoice; see the module rules for conversion and group keys."""

    id: str
    name: str
    kind: ProductKind
    metric_id: str | None = None
    quantity_conversion: QuantityConversion | None = None
    quantity_rounding: QuantityRounding | None = None
    pricing_group_key: str | None = None
    presentation_group_key: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidProduct("A product needs an id.")
        if self.kind is ProductKind.USAGE:
            if not self.metric_id:
                raise InvalidProduct(f"Usage product {self.id!r} needs the billable metric it bills.")
        else:
            usage_only = {
                "metric": self.metric_id,
                "quantity conversion": self.quantity_conversion,
                "quantity rounding": self.quantity_rounding,
                "pricing group key": self.pricing_group_key,
                "presentation group key": self.presentation_group_key,
            }
            given = [name for name, value in usage_only.items() if value is not None]
            if given:
                raise InvalidProduct(
                    f"Product {self.id!r} is {self.kind.name}, but only usage products take a "
                    f"{' and a '.join(given)}; remove it or make the product USAGE."
                )
        if self.pricing_group_key is not None and self.pricing_group_key == self.presentation_group_key:
            raise InvalidProduct(
                f"Product {self.id!r} both prices and presents by {self.pricing_group_key!r}; choose one."
            )

    def billable_quantity(self, quantity: Decimal) -> Decimal:
        """The metric's quantity after this product's conversion, then rounding: the quantity that is priced."""
        if self.quantity_conversion is not None:
            quantity = self.quantity_conversion.apply(quantity)
        if self.quantity_rounding is not None:
            quantity = self.quantity_rounding.apply(quantity)
        return quantity


def _span_text(starting_at: datetime, ending_before: datetime | None) -> str:
    """Human text for a validity span."""
    end = ending_before.isoformat() if ending_before is not None else "open-ended"
    return f"{starting_at.isoformat()} to {end}"


def _check_span(item: Rate | Override, what: str, error: type[DomainError]) -> None:
    """Store a validity span in UTC after checking it ends after it starts (else raise ``error``)."""
    start = ensure_utc(item.starting_at, f"{what} start")
    object.__setattr__(item, "starting_at", start)
    if item.ending_before is not None:
        end = ensure_utc(item.ending_before, f"{what} end")
        if end <= start:
            raise error(f"The {what} must end after it starts, not from {start.isoformat()} to {end.isoformat()}.")
        object.__setattr__(item, "ending_before", end)


def _active(starting_at: datetime, ending_before: datetime | None, instant: datetime) -> bool:
    """True when ``starting_at <= instant`` and the span has not ended at ``instant``."""
    return starting_at <= instant and (ending_before is None or instant < ending_before)


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of one product from ``starting_at`` until ``ending_before`` (None: open-ended).

    ``entitled`` False means the customer has no access to the product in
    that time: its usage is not billed (and is reported as such).
    """

    product_id: str
    starting_at: datetime
    ending_before: datetime | None
    price: PriceModel
    credit_type: CreditType
    entitled: bool = True

    def __post_init__(self) -> None:
        _check_span(self, f"rate for {self.product_id!r}", InvalidRate)

    def active_at(self, instant: datetime) -> bool:
        """True when this rate is in force at ``instant``."""
        return _active(self.starting_at, self.ending_before, instant)


@dataclass(frozen=True, slots=True)
class RateCard:
    """Prices for products over time; never two rates for one product at the same instant."""

    id: str
    name: str
    rates: tuple[Rate, ...]
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", tuple(self.rates))
        object.__setattr__(self, "_hash", hash((self.id, self.name, self.rates)))
        for product_id in {rate.product_id for rate in self.rates}:
            ordered = self.rates_for(product_id)
            for before, after in pairwise(ordered):
                if before.ending_before is None or before.ending_before > after.starting_at:
                    raise OverlappingRates(
                        f"Rate card {self.id!r} has two rates for {product_id!r} at once: "
                        f"{_span_text(before.starting_at, before.ending_before)} and "
                        f"{_span_text(after.starting_at, after.ending_before)}. End the first before the "
                        "second starts (a scheduled change is a new rate with a later start)."
                    )

    def __hash__(self) -> int:
        """Worked out once: a card is immutable, and keys the cache of :func:`rate_segments`."""
        return self._hash

    def rates_for(self, product_id: str) -> tuple[Rate, ...]:
        """The product's rates, earliest first."""
        return tuple(sorted((r for r in self.rates if r.product_id == product_id), key=lambda r: r.starting_at))


class OverrideKind(Enum):
    """How an override changes a rate."""

    OVERWRITE = "overwrite"
    MULTIPLIER = "multiplier"


@dataclass(frozen=True, slots=True)
class Overwrite:
    """Replace the price model, and the credit type when one is given."""

    price: PriceModel
    credit_type: CreditType | None = None

    def apply(self, rate: Rate) -> Rate:
        """The rate with this price model (and credit type)."""
        return replace(rate, price=self.price, credit_type=self.credit_type or rate.credit_type)


@dataclass(frozen=True, slots=True)
class Multiplier:
    """Multiply every price and fee of the model by ``factor`` (zero or more; 0.8 is 20% off)."""

    factor: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "factor", _factor(self.factor, "multiplier"))

    def apply(self, rate: Rate) -> Rate:
        """The rate with every price scaled by the factor."""
        return replace(rate, price=rate.price.scaled(self.factor))


@dataclass(frozen=True, slots=True)
class Override:
    """A change to a product's rate for a time, from a package or a contract (see the module rules).

    ``change`` is an :class:`Overwrite` or a :class:`Multiplier`. Lower
    ``priority`` numbers win among overwrites.
    """

    product_id: str
    starting_at: datetime
    ending_before: datetime | None
    change: Overwrite | Multiplier
    priority: int = 0

    def __post_init__(self) -> None:
        _check_span(self, f"override for {self.product_id!r}", InvalidOverride)

    @property
    def kind(self) -> OverrideKind:
        """OVERWRITE or MULTIPLIER."""
        return OverrideKind.OVERWRITE if isinstance(self.change, Overwrite) else OverrideKind.MULTIPLIER

    @classmethod
    def overwrite(
        cls,
        product_id: str,
        starting_at: datetime,
        ending_before: datetime | None,
        price: PriceModel,
        *,
        credit_type: CreditType | None = None,
        priority: int = 0,
    ) -> Override:
        """An override that replaces the price model (and the credit type, when given)."""
        return cls(product_id, starting_at, ending_before, Overwrite(price, credit_type), priority)

    @classmethod
    def multiply(
        cls,
        product_id: str,
        starting_at: datetime,
        ending_before: datetime | None,
        factor: object,
        *,
        priority: int = 0,
    ) -> Override:
        """An override that multiplies every price in the model by ``factor`` (a decimal string or Decimal)."""
        return cls(product_id, starting_at, ending_before, Multiplier(to_decimal(factor, "multiplier")), priority)

    def active_at(self, instant: datetime) -> bool:
        """True when this override is in force at ``instant``."""
        return _active(self.starting_at, self.ending_before, instant)


@dataclass(frozen=True, slots=True)
class RateSegment:
    """A piece of a period with one effective rate.

    ``rate`` is the rate after overrides (None in a gap, where the rate card
    has no rate), ``base_rate`` the rate card's rate and ``overrides`` those
    that were applied, winning overwrite first.
    """

    period: Period
    rate: Rate | None
    base_rate: Rate | None
    overrides: tuple[Override, ...] = ()

    @property
    def is_gap(self) -> bool:
        """True when no rate prices the product in this piece."""
        return self.rate is None


def apply_overrides(rate: Rate, overrides: Sequence[Override]) -> tuple[Rate, tuple[Override, ...]]:
    """The effective rate under the given (active) overrides, and the overrides in the order they applied.

    The overwrite with the lowest priority number applies first, then every
    multiplier; two overwrites sharing the lowest priority are refused.
    """
    overwrites = sorted((o for o in overrides if o.kind is OverrideKind.OVERWRITE), key=lambda o: o.priority)
    multipliers = tuple(o for o in overrides if o.kind is OverrideKind.MULTIPLIER)
    if len(overwrites) > 1 and overwrites[0].priority == overwrites[1].priority:
        first, second = overwrites[0], overwrites[1]
        raise InvalidOverride(
            f"Two overwrites for {rate.product_id!r} with priority {first.priority} apply at the same time "
            f"({_span_text(first.starting_at, first.ending_before)} and "
            f"{_span_text(second.starting_at, second.ending_before)}): give them different priorities "
            "or make them not overlap."
        )
    applied = (*overwrites[:1], *multipliers)
    effective = rate
    for override in applied:
        effective = override.change.apply(effective)
    return effective, applied


def rate_segments(
    rate_card: RateCard, overrides: Sequence[Override], product_id: str, period: Period
) -> tuple[RateSegment, ...]:
    """Cut ``period`` wherever the product's rate or an override of it starts or ends; the effective rate per piece.

    Pieces with no rate on the card are gaps (``rate`` None). Pieces follow
    each other without holes and cover the whole period. Kept for each card,
    overrides, product and period: every contract on the same terms asks for
    the same segments.
    """
    return _rate_segments(rate_card, tuple(overrides), product_id, period)


@lru_cache(maxsize=1024)
def _rate_segments(
    rate_card: RateCard, overrides: tuple[Override, ...], product_id: str, period: Period
) -> tuple[RateSegment, ...]:
    """:func:`rate_segments`, worked out."""
    rates = rate_card.rates_for(product_id)
    mine = [o for o in overrides if o.product_id == product_id]
    spans: list[Rate | Override] = [*rates, *mine]
    cuts = [t for item in spans for t in (item.starting_at, item.ending_before) if t is not None]
    segments: list[RateSegment] = []
    for piece in period.split_at(cuts):
        base = next((rate for rate in rates if rate.active_at(piece.start)), None)
        if base is None:
            segments.append(RateSegment(piece, None, None))
            continue
        effective, applied = apply_overrides(base, [o for o in mine if o.active_at(piece.start)])
        segments.append(RateSegment(piece, effective, base, applied))
    return tuple(segments)
