"""Contracts: one customer's agreement, tying prices, seats, fees and grants together.

Rules (see ``portal/domain/README.md``):

* A contract belongs to one customer and bills in one **currency**: every
  rate, override, seat price, seat credit and grant must be in that currency
  or in a custom credit unit priced in it.
* It runs from ``starting_at`` (inclusive) to ``ending_before`` (exclusive,
  or open-ended). Both are whole UTC hours, because usage is stored and
  rated by the hour (:data:`portal.domain.metrics.METERING_RESOLUTION`);
  the end is also the end of a billing period, so no period is cut short.
* **Billing periods** follow the contract's frequency (monthly, quarterly,
  annual) anchored on its start (:mod:`portal.domain.periods`): a contract
  starting on 31 January bills on the last day of shorter months.
* Its **terms** are what it is billed by: a rate card with overrides, the
  seat price and seat credit policy, and fixed fees (a package version's
  terms, or hand-made ones). Terms can change at an instant (a tier switch
  or a package migration, :class:`TermsChange`); the terms in force at an
  instant are the last ones that started at or before it.
* **Products and metrics**: every product the terms or grants bill is listed
  on the contract; a usage product's metric must be one of the contract's
  metrics. A seat subscription bills a ``SUBSCRIPTION`` product, a fixed fee
  a ``FIXED`` product (priced by the rate card, charged in advance at the
  start of each period).
* **Seats**: a seat price or a seat credit policy needs a seat subscription,
  and a subscription needs a seat price (zero for free seats). A seat credit
  given to each seat (``INDIVIDUAL`` or ``HYBRID``) needs named seats and a
  ``seat_key``: the event property naming the seat (e.g. ``user_id``), which
  must be a group key of at least one metric.
* **Grants** (commits and credits) listed on the contract belong to it; seat
  credits are not listed, they are earned each period from the policy.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal

from portal.domain.errors import InvalidContract
from portal.domain.grants import Grant, GrantKind
from portal.domain.metrics import BillableMetric, on_the_hour
from portal.domain.money import CreditType, Currency, to_decimal
from portal.domain.periods import Frequency, Period, billing_period, ensure_utc, is_billing_period, period_index
from portal.domain.pricing import Override, Overwrite, Product, ProductKind, RateCard
from portal.domain.seats import CreditAllocation, SeatCreditPolicy, SeatPricing, SeatSubscription, SubscriptionMode


@dataclass(frozen=True, slots=True)
class FixedFee:
    """A flat fee: ``quantity`` of a ``FIXED`` product at its rate-card price, charged at the start of each period."""

    product_id: str
    quantity: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        quantity = to_decimal(self.quantity, f"quantity of fixed fee {self.product_id}")
        if quantity <= 0:
            raise InvalidContract(f"The fixed fee {self.product_id} has quantity {quantity}: use more than zero.")
        object.__setattr__(self, "quantity", quantity)


@dataclass(frozen=True, slots=True)
class IncludedGrant:
    """A credit or commit the terms include every billing period, for the whole contract.

    Each period's grant starts with the period and expires at its end; ``id``
    names it in the grant ids (``{contract}/{period start}/included/{id}``).
    """

    id: str
    kind: GrantKind
    credit_type: CreditType
    amount: Decimal

    def __post_init__(self) -> None:
        amount = to_decimal(self.amount, f"included {self.kind.value} {self.id}")
        if amount <= 0:
            raise InvalidContract(f"The included {self.kind.value} {self.id} is {amount}: include more than zero.")
        object.__setattr__(self, "amount", self.credit_type.round(amount))


@dataclass(frozen=True, slots=True)
class Terms:
    """What a contract is billed by: a package version's terms (``name``, ``rank``) or hand-made ones.

    ``rank`` orders packages (good 1, better 2, best 3): switching to a higher
    rank is an upgrade, which takes effect at once.
    """

    name: str
    rate_card: RateCard
    overrides: tuple[Override, ...] = ()
    seat_pricing: SeatPricing | None = None
    seat_credits: SeatCreditPolicy | None = None
    fixed_fees: tuple[FixedFee, ...] = ()
    rank: int = 0
    included: tuple[IncludedGrant, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "fixed_fees", tuple(self.fixed_fees))
        object.__setattr__(self, "included", tuple(self.included))
        if len({g.id for g in self.included}) < len(self.included):
            raise InvalidContract(f"Terms {self.name} include two grants with one id: give each its own.")

    def credit_types(self) -> tuple[tuple[str, CreditType], ...]:
        """Every credit type these terms price in, each with what uses it (for currency checks)."""
        found = [(f"rate for {r.product_id}", r.credit_type) for r in self.rate_card.rates]
        found += [
            (f"override for {o.product_id}", o.change.credit_type)
            for o in self.overrides
            if isinstance(o.change, Overwrite) and o.change.credit_type is not None
        ]
        if self.seat_pricing is not None:
            found.append(("seat price", self.seat_pricing.credit_type))
        if self.seat_credits is not None:
            found.append((f"seat credit policy {self.seat_credits.id}", self.seat_credits.credit_type))
        found += [(f"included {g.kind.value} {g.id}", g.credit_type) for g in self.included]
        return tuple(found)


@dataclass(frozen=True, slots=True)
class TermsChange:
    """New terms for a contract from ``at`` on (a tier switch or a package migration)."""

    at: datetime
    terms: Terms

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_utc(self.at, "terms change time"))


@dataclass(frozen=True, slots=True)
class Contract:
    """One customer's agreement; see the module rules.

    ``terms`` are in force from ``starting_at``; ``changes`` replace them
    later, in time order. ``seats`` is the seat subscription (its
    ``contract_id`` is this contract's). ``seat_key`` names the event
    property that says which seat used something.
    """

    id: str
    customer_id: str
    currency: Currency
    starting_at: datetime
    terms: Terms
    products: tuple[Product, ...] = ()
    metrics: tuple[BillableMetric, ...] = ()
    ending_before: datetime | None = None
    frequency: Frequency = Frequency.MONTHLY
    seats: SeatSubscription | None = None
    grants: tuple[Grant, ...] = ()
    seat_key: str | None = None
    changes: tuple[TermsChange, ...] = ()
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        """The hash of the compared fields, worked out once: drafts key their cached parts by the contract."""
        cached = self._hash
        if cached is None:
            cached = hash(tuple(getattr(self, name) for name in _COMPARED))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __post_init__(self) -> None:
        for name in ("products", "metrics", "grants", "changes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.id or not self.customer_id:
            raise InvalidContract("A contract needs its own id and the id of the customer it belongs to.")
        self._check_span()
        self._check_changes()
        self._check_catalog()
        self._check_seats()
        self._check_currency()
        foreign = [g.id for g in self.grants if g.contract_id != self.id]
        if foreign:
            raise InvalidContract(
                f"Grants {', '.join(foreign)} belong to another contract: list only contract {self.id}'s own grants."
            )

    def _check_span(self) -> None:
        start = ensure_utc(self.starting_at, f"start of contract {self.id}")
        object.__setattr__(self, "starting_at", start)
        if not on_the_hour(start):
            raise InvalidContract(
                f"Contract {self.id} starts at {start.isoformat()}: start it on a whole hour (usage is rated by the "
                "hour), e.g. at 00:00 UTC."
            )
        if self.ending_before is None:
            return
        end = ensure_utc(self.ending_before, f"end of contract {self.id}")
        object.__setattr__(self, "ending_before", end)
        if end <= start:
            raise InvalidContract(
                f"Contract {self.id} ends ({end.isoformat()}) before it starts ({start.isoformat()}): "
                "set an end after the start, or none."
            )
        index = period_index(start, self.frequency, end)
        if billing_period(start, self.frequency, index).start != end:
            raise InvalidContract(
                f"Contract {self.id} ends at {end.isoformat()}, inside a billing period: end it where a period ends, "
                f"e.g. {billing_period(start, self.frequency, index + 1).start.isoformat()}."
            )

    def _check_changes(self) -> None:
        starts = [self.starting_at]
        for change in self.changes:
            if change.at <= starts[-1]:
                raise InvalidContract(
                    f"The terms change to {change.terms.name!r} at {change.at.isoformat()} does not come after "
                    f"{starts[-1].isoformat()}: list changes in time order, after the contract starts."
                )
            if self.ending_before is not None and change.at >= self.ending_before:
                raise InvalidContract(
                    f"The terms change to {change.terms.name!r} at {change.at.isoformat()} is after contract "
                    f"{self.id} ends."
                )
            starts.append(change.at)
        object.__setattr__(self, "_starts", tuple(starts))

    def all_terms(self) -> tuple[Terms, ...]:
        """The terms of the contract, then of each change, in time order."""
        return (self.terms, *(c.terms for c in self.changes))

    def _check_catalog(self) -> None:
        products: dict[str, Product] = {}
        for product in self.products:
            if product.id in products:
                raise InvalidContract(f"Contract {self.id} lists product {product.id} twice.")
            products[product.id] = product
        metrics = {m.id for m in self.metrics}
        if len(metrics) != len(self.metrics):
            raise InvalidContract(f"Contract {self.id} lists a metric twice: metric ids must be unique.")
        for product in products.values():
            if product.kind is ProductKind.USAGE and product.metric_id not in metrics:
                raise InvalidContract(
                    f"Usage product {product.id} bills metric {product.metric_id}, which contract {self.id} does not "
                    "have: add the metric to the contract."
                )
        for terms in self.all_terms():
            for fee in terms.fixed_fees:
                self._require(products, fee.product_id, ProductKind.FIXED, f"fixed fee of {terms.name!r}")
        if self.seats is not None:
            self._require(products, self.seats.product_id, ProductKind.SUBSCRIPTION, "seat subscription")

    def _require(self, products: dict[str, Product], product_id: str, kind: ProductKind, what: str) -> None:
        product = products.get(product_id)
        if product is None or product.kind is not kind:
            raise InvalidContract(
                f"The {what} bills product {product_id}, which is not a {kind.name} product of contract {self.id}: "
                f"add it to the contract's products as {kind.name}."
            )

    def _check_seats(self) -> None:
        for terms in self.all_terms():
            if self.seats is None and (terms.seat_pricing is not None or terms.seat_credits is not None):
                raise InvalidContract(
                    f"The terms {terms.name!r} price seats or give seat credits, but contract {self.id} has no seat "
                    "subscription: add one, or remove the seat price and seat credits."
                )
            if self.seats is not None and terms.seat_pricing is None:
                raise InvalidContract(
                    f"Contract {self.id} has a seat subscription but the terms {terms.name!r} have no seat price: "
                    "give one (zero for free seats)."
                )
            policy = terms.seat_credits
            if policy is not None and policy.allocation is not CreditAllocation.POOLED:
                if self.seats is not None and self.seats.mode is not SubscriptionMode.SEAT_BASED:
                    raise InvalidContract(
                        f"Seat credit policy {policy.id} gives each seat its own credit, so contract {self.id}'s seats "
                        "must be named: make the subscription SEAT_BASED, or pool the credits."
                    )
                if self.seat_key is None:
                    raise InvalidContract(
                        f"Seat credit policy {policy.id} gives each seat its own credit: set the contract's seat key, "
                        "the event property naming the seat (e.g. user_id)."
                    )
        if self.seats is not None and self.seats.contract_id != self.id:
            raise InvalidContract(
                f"The seat subscription {self.seats.id} belongs to contract {self.seats.contract_id}, not {self.id}."
            )
        if self.seat_key is not None and not any(self.seat_key in m.group_keys for m in self.metrics):
            raise InvalidContract(
                f"The seat key {self.seat_key!r} is not a group key of any metric of contract {self.id}: "
                f"add {self.seat_key!r} to the group keys of the metrics that bill seats' usage."
            )

    def _check_currency(self) -> None:
        used = [(what, ct) for terms in self.all_terms() for what, ct in terms.credit_types()]
        used += [(f"grant {g.id}", g.credit_type) for g in self.grants]
        for what, credit_type in used:
            if credit_type.currency != self.currency:
                raise InvalidContract(
                    f"Contract {self.id} bills in {self.currency.code}, but its {what} is in {credit_type.name} "
                    f"({credit_type.currency.code}): price everything in {self.currency.code} or in a credit unit "
                    f"priced in {self.currency.code}."
                )

    def terms_at(self, at: datetime) -> Terms:
        """The terms in force at ``at`` (the first terms before the contract starts)."""
        index = bisect_right(self._starts, ensure_utc(at)) - 1
        return self.all_terms()[max(index, 0)]

    def terms_in(self, period: Period) -> tuple[tuple[Period, Terms], ...]:
        """``period`` cut where the terms change, with the terms in force in each piece."""
        if not self.changes and not period.start < self.starting_at < period.end:
            return ((period, self.terms),)
        return tuple((piece, self.terms_at(piece.start)) for piece in period.split_at(self._starts))

    def billing_period(self, index: int) -> Period:
        """Billing period number ``index`` (0 starts at ``starting_at``)."""
        return billing_period(self.starting_at, self.frequency, index)

    def billing_period_containing(self, at: datetime) -> Period:
        """The billing period that contains ``at``."""
        return self.billing_period(period_index(self.starting_at, self.frequency, at))

    def is_billing_period(self, period: Period) -> bool:
        """True when ``period`` is one of this contract's billing periods."""
        return is_billing_period(self.starting_at, self.frequency, period)

    def active_in(self, period: Period) -> bool:
        """True when the contract runs at some point of ``period``."""
        return self.starting_at < period.end and (self.ending_before is None or self.ending_before > period.start)

    def product(self, product_id: str) -> Product:
        """The contract's product with this id."""
        for product in self.products:
            if product.id == product_id:
                return product
        raise InvalidContract(f"Contract {self.id} has no product {product_id}: add it to the contract's products.")

    def usage_products(self) -> tuple[Product, ...]:
        """The usage products, in the order listed."""
        return tuple(p for p in self.products if p.kind is ProductKind.USAGE)

    def with_seats(self, seats: SeatSubscription) -> Contract:
        """The same contract with another seat history (e.g. one more seat change)."""
        return replace(self, seats=seats)

    def with_terms_from(self, at: datetime, terms: Terms) -> Contract:
        """The same contract with ``terms`` from ``at`` on; later changes already scheduled are dropped."""
        kept = tuple(c for c in self.changes if c.at < at)
        if at <= self.starting_at:
            return replace(self, terms=terms, changes=())
        return replace(self, changes=(*kept, TermsChange(at, terms)))

    def with_grants(self, grants: Iterable[Grant]) -> Contract:
        """The same contract with more grants."""
        return replace(self, grants=(*self.grants, *grants))


_COMPARED = tuple(f.name for f in fields(Contract) if f.compare)
"""The fields two contracts are compared (and hashed) by."""
