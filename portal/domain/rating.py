"""Rating usage: from a metric's windowed aggregation and a product's rates to invoice lines and charges.

Rules (these are exactly how a usage product is billed for a period):

* The period is cut into **rate segments** wherever the product's rate or an
  override changes (:func:`portal.domain.pricing.rate_segments`). Each
  segment is priced on its own total quantity: **tiers restart at a rate
  change**, so 600 units before a change and 600 after, with a tier up to
  1,000, are 600 + 600 units in the first tier, never 1,200 units.
* A segment's quantity is the metric's aggregation of the segment's events,
  converted and rounded by the product (see :mod:`portal.domain.pricing`),
  then priced. A product with a ``pricing_group_key`` is priced separately
  per value of that key (each value has its own tiers); groups that are not
  priced separately (a ``presentation_group_key``, the seat key, or metric
  group keys the product does not use) are aggregated together, as if the
  metric did not group by them (so a MAX is the maximum over all of them).
* **By the hour.** Usage is stored and rated by the hour
  (:data:`portal.domain.metrics.METERING_RESOLUTION`): usage in an hour is
  rated with the rate in force at the start of that hour, so a rate change
  at 10:20 applies to usage from 11:00. :func:`hourly_segments` moves each
  segment boundary to that hour; a segment shorter than that vanishes.
* Usage in a segment without a rate, or whose rate is not ``entitled``, is
  not billed; it is listed in ``unbilled`` with the reason.
* **Charges.** Within a segment, usage is cut into the caller's *windows*
  (spans in which the set of active credits and commits does not change).
  Each window gets a charge dated at the window's start, so a credit that
  expires mid-period only pays for usage before it expires:

  - FLAT, TIERED and PACKAGE prices (which never fall as quantity grows)
    are attributed by **marginal cost**: window *k* is charged
    price(quantity up to the end of window *k*) − price(quantity up to the
    end of window *k−1*). The charges of a segment add up exactly to its
    price.
  - VOLUME prices can fall as quantity grows (reaching a cheaper tier
    reprices every unit), so each window is charged the segment's price in
    **proportion to the usage it added** (each unit costs the segment's
    average price); the last window takes the remainder, so they add up
    exactly.
  - LATEST metrics bill the last value reported in the segment, so the
    segment's price is charged **once**, in the window (and group) where
    that value was reported.

* A window's charge is split across the groups that share it (the seat key,
  e.g. ``user_id``, and the presentation group) in proportion to each
  group's own quantity in that window, with the project's total-preserving
  allocation (:func:`portal.domain.money.allocate`), so the parts add up
  exactly. The seat key's value becomes the charge's ``seat_id``, so a
  seat's own credit can pay for that seat's usage; usage without a seat
  value has no seat and draws from the shared pool. A presentation group's
  amount on the line is the sum of its charges.
* Precision: a line's amount is the price model's full-precision amount.
  Its charges are never negative and are multiples of 10^-12 (of a finer
  step if the line's amount has more decimals), so they add up to the
  line's amount exactly, in any order; a charge can differ from the exact
  proportional share by at most that step, far below any minor unit. Zero
  charges are left out.
* Charge ids are stable across re-rating: ``contract:product:window-start``
  followed by ``:key=value`` for each group (``:`` and ``%`` in values are
  escaped as ``%3A`` and ``%25``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from operator import add, itemgetter

from portal.domain.charges import Charge, charge_order
from portal.domain.errors import InvalidAllocation, RatingInputMismatch
from portal.domain.metrics import (
    AggregationState,
    GroupValues,
    LatestState,
    RejectedEvent,
    WindowedAggregation,
    merge,
    merge_all,
    quantity,
    rated_from,
)
from portal.domain.money import ZERO, CreditType, split_units
from portal.domain.periods import Period
from portal.domain.pricing import PriceResult, Product, ProductKind, Rate, RateSegment, Volume
from portal.domain.records import builder


@dataclass(frozen=True, slots=True)
class GroupShare:
    """A presentation group's part of a line: its own usage and the part of the amount charged to it."""

    value: str
    usage_quantity: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class RatedLine:
    """One invoice line: a product's usage in one rate segment (and pricing group), priced.

    ``usage_quantity`` is the metric's quantity, ``quantity`` the quantity
    priced after the product's conversion and rounding; ``result`` holds the
    full-precision amount and the tier breakdown; ``presentation`` the parts
    per presentation group (empty without a presentation group key).
    """

    product_id: str
    period: Period
    rate: Rate
    pricing_group: str | None
    usage_quantity: Decimal
    quantity: Decimal
    result: PriceResult
    presentation: tuple[GroupShare, ...] = ()


@dataclass(frozen=True, slots=True)
class UnbilledUsage:
    """Usage that was measured but not billed, and why."""

    product_id: str
    period: Period
    pricing_group: str | None
    usage_quantity: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class ProductRating:
    """The rating of one usage product for one contract: lines, charges, unbilled usage, rejected events."""

    contract_id: str
    product_id: str
    lines: tuple[RatedLine, ...]
    charges: tuple[Charge, ...]
    unbilled: tuple[UnbilledUsage, ...]
    rejected: tuple[RejectedEvent, ...]

    @property
    def amount(self) -> Decimal:
        """The sum of the lines' full-precision amounts (each line's charges add up to its amount exactly)."""
        return sum((line.result.amount for line in self.lines), ZERO)


def hourly_segments(segments: Iterable[RateSegment]) -> tuple[RateSegment, ...]:
    """The segments as hourly usage sees them: each boundary moved to the first whole hour at or after it.

    Segments that no longer hold a whole hour are left out; the rest still
    follow each other without holes.
    """
    moved: list[RateSegment] = []
    for segment in segments:
        start, end = rated_from(segment.period.start), rated_from(segment.period.end)
        if start < end:
            moved.append(replace(segment, period=Period(start, end)))
    return tuple(moved)


def windows_for(period: Period, segments: Iterable[RateSegment], cuts: Iterable[datetime] = ()) -> tuple[Period, ...]:
    """Split ``period`` at every rate segment boundary and at every instant in ``cuts`` (e.g. credit expiries).

    Aggregating over these windows guarantees that no window crosses a rate change.
    """
    bounds = [instant for segment in segments for instant in (segment.period.start, segment.period.end)]
    return period.split_at([*bounds, *cuts])


# Per (segment index, pricing group): window index -> charge group -> merged state.
_Cells = dict[tuple[int, str | None], dict[int, dict[GroupValues, AggregationState]]]


def _charge_keys(product: Product, aggregation: WindowedAggregation, seat_key: str | None) -> tuple[str, ...]:
    """The group keys charges are split by (pricing, presentation, seat; each once), checked against the metric."""
    if product.kind is not ProductKind.USAGE:
        raise RatingInputMismatch(f"Product {product.id!r} is {product.kind.name}; only usage products are rated here.")
    if product.metric_id != aggregation.metric_id:
        raise RatingInputMismatch(
            f"Product {product.id!r} bills metric {product.metric_id!r}, but the usage given is for metric "
            f"{aggregation.metric_id!r}."
        )
    keys: list[str] = []
    for role, key in (
        ("prices by", product.pricing_group_key),
        ("presents by", product.presentation_group_key),
        ("takes seats from", seat_key),
    ):
        if key is None or key in keys:
            continue
        if key not in aggregation.group_keys:
            raise RatingInputMismatch(
                f"Product {product.id!r} {role} {key!r}, but metric {aggregation.metric_id!r} does not group by it: "
                f"add {key!r} to the metric's group keys."
            )
        keys.append(key)
    return tuple(keys)


def _segment_of_windows(windows: Sequence[Period], segments: Sequence[RateSegment]) -> list[int]:
    """For each window, the index of the rate segment that contains it; refuse windows that cross a change."""
    found: list[int] = []
    for window in windows:
        index = next(
            (i for i, s in enumerate(segments) if s.period.start <= window.start and window.end <= s.period.end),
            None,
        )
        if index is None:
            raise RatingInputMismatch(
                f"The window {window.label()} is not inside one rate segment: split the windows where rates "
                "change (windows_for does this)."
            )
        found.append(index)
    return found


def _cells(
    aggregation: WindowedAggregation, keys: tuple[str, ...], pricing_key: str | None, segment_of: list[int]
) -> _Cells:
    """Regroup the aggregation by segment and pricing group, keeping only the group keys charges split by."""
    group_keys = aggregation.group_keys
    positions = tuple(group_keys.index(key) for key in keys)
    by_window: dict[int, dict[GroupValues, AggregationState]] = {}
    states = aggregation.states
    if len(positions) == len(group_keys):  # the metric's own keys, maybe reordered: no two groups meet
        # Reordered, there are two keys or more: itemgetter gives a tuple.
        project = None if positions == tuple(range(len(group_keys))) else itemgetter(*positions)
        if len(aggregation.windows) == 1:  # the usual case: every state is in window 0
            if states:
                by_window[0] = (
                    {group: state for (_, group), state in states.items()}
                    if project is None
                    else {project(group): state for (_, group), state in states.items()}
                )
        else:
            for (w, group), state in states.items():
                groups = by_window.get(w)
                if groups is None:
                    groups = by_window[w] = {}
                groups[group if project is None else project(group)] = state
    else:
        for (w, group), state in states.items():
            projected = tuple(map(group.__getitem__, positions))
            groups = by_window.get(w)
            if groups is None:
                groups = by_window[w] = {}
            previous = groups.get(projected)
            groups[projected] = state if previous is None else merge(previous, state)
    cells: _Cells = {}
    pricing_position = keys.index(pricing_key) if pricing_key is not None else None
    for w, groups in by_window.items():
        if pricing_position is None:
            cells.setdefault((segment_of[w], None), {})[w] = groups
            continue
        for group, state in groups.items():
            cells.setdefault((segment_of[w], group[pricing_position]), {}).setdefault(w, {})[group] = state
    return cells


def _grid(total: Decimal) -> Decimal:
    """The step all charges of a line are multiples of: 12 decimal places, finer if ``total`` itself is finer.

    With every charge a non-negative multiple of one step and no charge above
    the total, the charges add up to the total exactly in any order (no
    intermediate sum needs more than the 28 significant digits of Decimal).
    """
    exponent = total.adjusted() - len(total.as_tuple().digits) + 1
    return Decimal(1).scaleb(min(exponent, max(-12, total.adjusted() - 26)))


def _escape(value: str) -> str:
    """Make a group value safe inside a charge id."""
    return value.replace("%", "%25").replace(":", "%3A")


_charge = builder(Charge)
"""Builds the charges rating works out (a charge has no checks of its own to run)."""


_GroupParts = tuple[str, tuple[tuple[str, str], ...], str | None]
"""A group's charge id suffix, (key, value) pairs and seat."""

_GROUP_PARTS: dict[tuple[tuple[str, ...], str | None], dict[GroupValues, _GroupParts]] = {}
"""The parts of the groups seen so far, per group keys and seat key: the same groups (seat ids, models) recur in
every draft of a contract, and often across contracts."""

_GROUP_PARTS_KEPT = 10_000
"""How many groups' parts are kept per group keys and seat key (beyond that, they are worked out again)."""


class _ChargeMaker:
    """Builds the charges of one product and contract (id prefixes are worked out once per window with charges,
    group parts once per group keys, seat key and group)."""

    __slots__ = ("contract_id", "groups", "keys", "prefixes", "product_id", "seat_key", "windows")

    def __init__(
        self, contract_id: str, product_id: str, windows: Sequence[Period], keys: tuple[str, ...], seat_key: str | None
    ) -> None:
        self.contract_id = contract_id
        self.product_id = product_id
        self.keys = keys
        self.seat_key = seat_key
        self.windows = windows
        self.prefixes: list[str | None] = [None] * len(windows)
        groups = _GROUP_PARTS.get((keys, seat_key))
        if groups is None or len(groups) >= _GROUP_PARTS_KEPT:
            groups = _GROUP_PARTS[(keys, seat_key)] = {}
        self.groups = groups

    def _prefix(self, w: int) -> str:
        """The charge id prefix of window ``w``."""
        prefix = self.prefixes[w] = f"{self.contract_id}:{self.product_id}:{self.windows[w].start.isoformat()}"
        return prefix

    def _group_parts(self, group: GroupValues) -> _GroupParts:
        """The id suffix, the (key, value) pairs and the seat of a group."""
        labels = [f":{key}=" for key in self.keys]
        suffix = "".join(map(add, labels, group))
        if "%" in suffix or suffix.count(":") != len(group):  # a value holds a separator: escape the values
            suffix = "".join(label + _escape(value) for label, value in zip(labels, group, strict=True))
        seat = group[self.keys.index(self.seat_key)] if self.seat_key is not None else ""
        parts = (suffix, tuple(zip(self.keys, group, strict=False)), seat or None)
        self.groups[group] = parts
        return parts

    def make(self, w: int, group: GroupValues, amount: Decimal, credit_type: CreditType) -> Charge:
        """The charge for one window and group."""
        return self._charges(w, ((group, amount),), credit_type)[0]

    def _charges(self, w: int, amounts: Iterable[tuple[GroupValues, Decimal]], credit_type: CreditType) -> list[Charge]:
        """The charges of window ``w``, one per (group, amount)."""
        prefix = self.prefixes[w] or self._prefix(w)
        start = self.windows[w].start
        contract_id = self.contract_id
        product_id = self.product_id
        parts_of = self.groups.get
        charges = []
        for group, amount in amounts:
            suffix, pairs, seat = parts_of(group) or self._group_parts(group)
            charges.append(_charge(prefix + suffix, contract_id, product_id, start, amount, credit_type, seat, pairs))
        return charges

    def split(
        self,
        w: int,
        amount: Decimal,
        grid: Decimal,
        groups: dict[GroupValues, AggregationState],
        credit_type: CreditType,
    ) -> list[Charge]:
        """Window ``w``'s charge ``amount`` split across its groups in proportion to their quantities.

        The split of :func:`~portal.domain.money.allocate` in whole ``grid``
        steps, groups in sorted order; groups whose part is zero get no charge.
        """
        ordered = sorted(groups)
        weights = list(map(quantity, map(groups.__getitem__, ordered)))
        if not any(weights):
            raise InvalidAllocation("Split weights must not all be zero.")
        units = int((amount / grid).to_integral_value())
        shares = split_units(units, weights) if len(weights) > 1 else [units]
        return self._charges(
            w,
            ((group, Decimal(share) * grid) for group, share in zip(ordered, shares, strict=True) if share),
            credit_type,
        )


def _window_amounts(
    product: Product, rate: Rate, cumulative: list[AggregationState], total: Decimal, grid: Decimal
) -> list[Decimal]:
    """The part of the segment's price ``total`` charged to each window with usage (see the module rules).

    The price reached by the end of each window is put on ``grid`` (the last
    one is ``total`` itself); each window is charged the increase.
    """
    if isinstance(rate.price, Volume):
        usage_total = quantity(cumulative[-1])
        reached = [total * quantity(state) / usage_total for state in cumulative[:-1]]
    else:
        reached = [rate.price.price(product.billable_quantity(quantity(state))).amount for state in cumulative[:-1]]
    steps = [min(value.quantize(grid, rounding=ROUND_HALF_EVEN), total) for value in reached]
    steps.append(total)
    return [after - before for before, after in zip([ZERO, *steps[:-1]], steps, strict=True)]


def _rate_cell(
    product: Product,
    segment: RateSegment,
    rate: Rate,
    unit: str | None,
    by_window: dict[int, dict[GroupValues, AggregationState]],
    maker: _ChargeMaker,
    presentation_position: int | None,
) -> RatedCell:
    """Price one segment and pricing group, and attribute its price to windows and groups as charges."""
    window_ids = sorted(by_window)
    cumulative: list[AggregationState] = []
    for w in window_ids:
        merged = merge_all((*cumulative[-1:], *by_window[w].values()))
        if merged is not None:
            cumulative.append(merged)
    total_state = cumulative[-1] if cumulative else None
    usage_quantity = quantity(total_state)
    billable = product.billable_quantity(usage_quantity)
    result = rate.price.price(billable)
    charges: list[Charge] = []
    if isinstance(total_state, LatestState):
        w, group = next((w, g) for w in window_ids for g, state in by_window[w].items() if state == total_state)
        if result.amount:
            charges.append(maker.make(w, group, result.amount, rate.credit_type))
    elif result.amount:
        grid = _grid(result.amount)
        for w, amount in zip(window_ids, _window_amounts(product, rate, cumulative, result.amount, grid), strict=True):
            if amount:
                charges += maker.split(w, amount, grid, by_window[w], rate.credit_type)
    presentation: tuple[GroupShare, ...] = ()
    if presentation_position is not None:
        presentation = _presentation(by_window, charges, presentation_position)
    line = RatedLine(product.id, segment.period, rate, unit, usage_quantity, billable, result, presentation)
    return RatedCell(line, tuple(charges))


def _presentation(
    by_window: dict[int, dict[GroupValues, AggregationState]], charges: list[Charge], position: int
) -> tuple[GroupShare, ...]:
    """Each presentation group's usage in the segment and the sum of the charges made to it."""
    states: dict[str, list[AggregationState]] = {}
    for groups in by_window.values():
        for group, state in groups.items():
            found = states.get(group[position])
            if found is None:
                states[group[position]] = [state]
            else:
                found.append(state)
    amounts: dict[str, Decimal] = {}
    for charge in charges:
        value = charge.group[position][1]
        amounts[value] = amounts.get(value, ZERO) + charge.amount
    return tuple(
        GroupShare(value, quantity(merge_all(parts)), amounts.get(value, ZERO))
        for value, parts in sorted(states.items())
    )


@dataclass(frozen=True, slots=True)
class RatedCell:
    """One line of a rating and the charges it is attributed to (in window, then group order)."""

    line: RatedLine
    charges: tuple[Charge, ...]


@dataclass(frozen=True, slots=True)
class RatedUsage:
    """:func:`rate_cells`' result: each line with its own charges, and the usage that was not billed."""

    cells: tuple[RatedCell, ...]
    unbilled: tuple[UnbilledUsage, ...]


def rate_cells(
    contract_id: str,
    product: Product,
    segments: Sequence[RateSegment],
    aggregation: WindowedAggregation,
    *,
    seat_key: str | None = None,
    shares: bool = True,
) -> RatedUsage:
    """:func:`rate_usage` with each line kept next to its own charges.

    Without ``shares`` the lines leave out their presentation groups' shares
    (``RatedLine.presentation`` is empty): an invoice works them out from the
    charges, after burn-down.
    """
    keys = _charge_keys(product, aggregation, seat_key)
    segment_of = _segment_of_windows(aggregation.windows, segments)
    cells = _cells(aggregation, keys, product.pricing_group_key, segment_of)
    maker = _ChargeMaker(contract_id, product.id, aggregation.windows, keys, seat_key)
    presentation_position = (
        keys.index(product.presentation_group_key) if shares and product.presentation_group_key is not None else None
    )
    rated: list[RatedCell] = []
    unbilled: list[UnbilledUsage] = []
    for index, segment in enumerate(segments):
        units = sorted((unit for s, unit in cells if s == index), key=lambda unit: "" if unit is None else unit)
        if not units and product.pricing_group_key is None:
            units = [None]
        rate = segment.rate
        for unit in units:
            by_window = cells.get((index, unit), {})
            if rate is None or not rate.entitled:
                if by_window:
                    usage = quantity(merge_all(s for groups in by_window.values() for s in groups.values()))
                    unbilled.append(UnbilledUsage(product.id, segment.period, unit, usage, _unbilled_reason(segment)))
                continue
            rated.append(_rate_cell(product, segment, rate, unit, by_window, maker, presentation_position))
    return RatedUsage(tuple(rated), tuple(unbilled))


def rate_usage(
    contract_id: str,
    product: Product,
    segments: Sequence[RateSegment],
    aggregation: WindowedAggregation,
    *,
    seat_key: str | None = None,
) -> ProductRating:
    """Rate one usage product for one contract (see the module rules).

    ``segments`` come from :func:`~portal.domain.pricing.rate_segments` for
    the billing period; ``aggregation`` is the product's metric aggregated
    over windows that each lie inside one segment (see :func:`windows_for`).
    ``seat_key`` names the metric group key whose value is the seat (e.g.
    ``user_id``); it must be one of the metric's group keys.
    """
    rated = rate_cells(contract_id, product, segments, aggregation, seat_key=seat_key)
    charges = sorted((charge for cell in rated.cells for charge in cell.charges), key=charge_order)
    return ProductRating(
        contract_id=contract_id,
        product_id=product.id,
        lines=tuple(cell.line for cell in rated.cells),
        charges=tuple(charges),
        unbilled=rated.unbilled,
        rejected=aggregation.rejected,
    )


def _unbilled_reason(segment: RateSegment) -> str:
    """Why usage in a segment is not billed, in words."""
    if segment.rate is None:
        return f"No rate prices this product from {segment.period.label()}: add a rate to the rate card to bill it."
    return f"The rate from {segment.period.label()} does not entitle the customer to this product."
