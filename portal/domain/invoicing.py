"""Invoices: the draft of a billing period as a pure function of contracts, usage, ledger and prior invoices.

Rules (see ``portal/domain/README.md``):

* **One invoice per payer and billing period.** A contract pays for itself,
  except a child contract whose payer is its ``PARENT``: its lines go on its
  parent's payer's invoice (rolling up level by level until a contract that
  pays for itself, or the root), marked with the child's contract id (a
  department). A family is drafted as one whole tree (a root and everything
  under it, every contract on the root's calendar and currency); a payer
  with children gets a consolidated statement.
* **Lines.** Seats are charged in advance (the period's seats at its start,
  increases at the moment of the change, :func:`portal.domain.seats.seat_charges`);
  fixed fees in advance, at the start of the period, at the rate-card price
  in force then; usage in arrears, one line per product, rate segment and
  pricing group (:func:`portal.domain.rating.rate_usage`) with its quantity,
  unit price or tier breakdown, and the split by seat and presentation group.
* **Terms.** A period in which the terms change (a tier switch) is billed
  piece by piece: usage at each piece's rates (rated by the hour, see
  :mod:`portal.domain.metrics`), seats at each piece's price. A switch to a
  dearer seat price charges the difference for the seats held, prorated
  for the rest of the period; a switch to a richer seat credit gives the
  difference as a prorated top-up grant (in full when the credit unit or
  allocation changes). Credit is never taken back and seats already paid
  for are never refunded by a switch.
* **Grants.** Every charge (seats, fees and usage) is drawn from the grants
  that apply to it in the published burn-down order
  (:func:`portal.domain.grants.burn_down`): the contract's grants, the
  period's seat credits, and the shared commits of its ancestors, the
  nearest first (within the budget caps on the way up). What no grant
  covers is due; what a ``BLOCK`` cap stopped is blocked (neither drawn nor
  billed). Each line lists the grants applied to it, with the reasons each
  came when it did.
* **Money.** A line shows three figures, each rounded **once** from full
  precision to the currency's minor unit with
  :data:`portal.domain.money.ROUNDING` (half up): what grants paid, what was
  blocked, and what is due; its amount is their sum. A line priced in a
  custom credit unit is valued in the currency at the unit's price (units ×
  price per unit) before rounding. A line's figures are split across its
  grants and groups with the total-preserving :func:`~portal.domain.money.allocate`.
  Invoice totals are sums of line figures, in integer minor units.
* **Expected minus already billed.** The draft recomputes everything the
  period should bill, then subtracts, line by line (by a stable line key),
  what invoices already finalized for that payer and period billed (``VOID``
  invoices billed nothing). Re-rating therefore never bills twice, and
  drafting again right after finalizing gives an empty draft.
* **Ledger.** The period's burn-down starts from the ledger without the
  period's own usage, expiry and correction entries, and gives the entries
  the ledger should have: :attr:`InvoiceRun.ledger_entries` are the ones
  still missing (or corrections of recorded ones) to append.
* **Statuses** are data: ``DRAFT`` (recomputed live), ``FINALIZED``
  (frozen by :func:`finalize`), ``PAID``, ``PAYMENT_FAILED``, ``VOID``.
* **Previews** (:func:`preview`) draft the period with and without a pending
  change (seats, tier switch, package migration) and report the difference:
  what is due at once, what changes at the period's end, what changes in
  the next period's advance charges, and the balances after the change.
* **Usage** is read as raw events, hourly rollups, or usage aggregated once
  over the windows the draft rates in (:func:`aggregated_usage`, to keep per
  contract and period while usage, grants and terms stay the same); the
  invoices are the same. A run's per-charge outcomes (:meth:`InvoiceRun.outcomes`)
  are worked out when first asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from operator import itemgetter

from portal.domain.charges import Charge
from portal.domain.contracts import Contract, Terms
from portal.domain.errors import InvalidChange, InvalidInvoice
from portal.domain.grants import BurnDownResult, ChargeOutcome, DrawnCharge, Grant, GrantScope, GrantSource, burn_down
from portal.domain.hierarchy import NO_HIERARCHY, ConsolidatedStatement, Hierarchy, consolidated_statement
from portal.domain.ledger import EntryKind, LedgerEntry, ledger_order
from portal.domain.ledger import balances as ledger_balances
from portal.domain.metrics import (
    METERING_RESOLUTION,
    AggregatedUsage,
    BillableMetric,
    BucketedUsage,
    RejectedEvent,
    UsageSource,
    rated_from,
)
from portal.domain.money import ZERO, CreditType, Currency, Money, exact_arithmetic, split_units
from portal.domain.periods import Period, ensure_utc, stamp
from portal.domain.pricing import Override, Product, RateCard, RateSegment, TierLine, rate_segments
from portal.domain.rating import RatedLine, UnbilledUsage, hourly_segments, rate_cells, windows_for
from portal.domain.records import builder
from portal.domain.seats import (
    CreditAllocation,
    SeatBalance,
    SeatChargeLine,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
    seat_balances,
    seat_charges,
    seat_credit_grants,
)


class InvoiceStatus(Enum):
    """Where an invoice is in its life."""

    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    VOID = "void"


BILLED = frozenset({InvoiceStatus.FINALIZED, InvoiceStatus.PAID, InvoiceStatus.PAYMENT_FAILED})
"""Statuses of invoices whose lines count as billed."""


class LineKind(Enum):
    """What a line bills for."""

    SEATS = "seats"
    FIXED = "fixed"
    USAGE = "usage"


class Timing(Enum):
    """When a line is billed: at the start of the period (or of a change), or after the period."""

    IN_ADVANCE = "in_advance"
    IN_ARREARS = "in_arrears"


@dataclass(frozen=True, slots=True)
class GrantApplied:
    """What one grant paid of a line: ``units`` of the line's credit type, ``amount_minor`` of its value.

    ``explanations`` say why the grant was drawn when it was (from burn-down).
    """

    grant_id: str
    units: Decimal
    amount_minor: int
    explanations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LineGroup:
    """A line's part for one seat and/or presentation group (e.g. ``user_id=ann``, ``model=gpt``)."""

    group: tuple[tuple[str, str], ...]
    units: Decimal
    amount_minor: int
    grants_minor: int
    blocked_minor: int
    due_minor: int


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line of an invoice; amounts in minor units of the invoice currency (see the module rules).

    ``units`` is the full-precision amount in ``credit_type`` (a custom unit
    for credits-priced usage), ``overage_units`` and ``blocked_units`` its
    uncovered parts. ``amount_minor`` = ``grants_minor`` + ``blocked_minor``
    + ``due_minor``. ``contract_id`` is the contract whose seats, fees or
    usage the line bills (a child's, on a parent's invoice).
    ``previously_billed_minor`` is what finalized invoices already billed
    under this key (already subtracted from the figures).
    """

    key: str
    kind: LineKind
    timing: Timing
    contract_id: str
    product_id: str
    description: str
    period: Period
    credit_type: CreditType
    quantity: Decimal
    unit_price: Decimal | None
    units: Decimal
    overage_units: Decimal
    blocked_units: Decimal
    amount_minor: int
    grants_minor: int
    blocked_minor: int
    due_minor: int
    pricing_group: str | None = None
    tiers: tuple[TierLine, ...] = ()
    grants: tuple[GrantApplied, ...] = ()
    groups: tuple[LineGroup, ...] = ()
    charge_ids: tuple[str, ...] = ()
    previously_billed_minor: int = 0

    @property
    def currency(self) -> Currency:
        """The currency the line is billed in."""
        return self.credit_type.currency

    @property
    def amount(self) -> Money:
        """The line's amount."""
        return Money.from_minor(self.amount_minor, self.currency)

    @property
    def due(self) -> Money:
        """What the line adds to the amount due."""
        return Money.from_minor(self.due_minor, self.currency)

    @property
    def is_empty(self) -> bool:
        """True when the line bills nothing and its quantity is zero."""
        return not (self.amount_minor or self.grants_minor or self.due_minor or self.blocked_minor or self.quantity)


@dataclass(frozen=True, slots=True)
class Invoice:
    """One payer's invoice for one billing period: lines, totals in minor units, status.

    ``statement`` is the consolidated usage statement of a parent (None for
    a contract without children). ``unbilled`` lists usage and fees that
    had no rate.
    """

    id: str
    contract_id: str
    customer_id: str
    period: Period
    currency: Currency
    status: InvoiceStatus
    lines: tuple[InvoiceLine, ...]
    as_of: datetime
    finalized_at: datetime | None = None
    statement: ConsolidatedStatement | None = field(default=None, compare=False)
    unbilled: tuple[UnbilledUsage, ...] = ()

    @property
    def subtotal_minor(self) -> int:
        """The sum of the lines' amounts."""
        return sum(line.amount_minor for line in self.lines)

    @property
    def grants_applied_minor(self) -> int:
        """What grants paid, over all lines."""
        return sum(line.grants_minor for line in self.lines)

    @property
    def blocked_minor(self) -> int:
        """What budget caps blocked, over all lines (not billed)."""
        return sum(line.blocked_minor for line in self.lines)

    @property
    def total_due_minor(self) -> int:
        """What the payer owes: subtotal − grants applied − blocked."""
        return due_minor(self.lines)

    @property
    def due_now_minor(self) -> int:
        """What the in-advance lines (seats, fees) add to the amount due."""
        return due_minor(self.lines, Timing.IN_ADVANCE)

    @property
    def due_in_arrears_minor(self) -> int:
        """What the in-arrears lines (usage) add to the amount due."""
        return due_minor(self.lines, Timing.IN_ARREARS)

    @property
    def subtotal(self) -> Money:
        """The subtotal as money."""
        return Money.from_minor(self.subtotal_minor, self.currency)

    @property
    def grants_applied(self) -> Money:
        """Grants applied as money."""
        return Money.from_minor(self.grants_applied_minor, self.currency)

    @property
    def total_due(self) -> Money:
        """The total due as money."""
        return Money.from_minor(self.total_due_minor, self.currency)

    @property
    def is_empty(self) -> bool:
        """True when the invoice has no lines."""
        return not self.lines

    def grant_totals(self) -> tuple[tuple[str, int], ...]:
        """What each grant paid over the whole invoice, in minor units, by grant id."""
        totals: dict[str, int] = {}
        for line in self.lines:
            for applied in line.grants:
                totals[applied.grant_id] = totals.get(applied.grant_id, 0) + applied.amount_minor
        return tuple(sorted(totals.items()))

    def by_contract(self) -> tuple[tuple[str, tuple[InvoiceLine, ...]], ...]:
        """The lines grouped by the contract they bill: the payer's own first, then each contract it pays for (a
        department), by contract id."""
        groups: dict[str, list[InvoiceLine]] = {}
        for line in self.lines:
            groups.setdefault(line.contract_id, []).append(line)
        order = sorted(groups, key=lambda c: (c != self.contract_id, c))
        return tuple((c, tuple(groups[c])) for c in order)


def due_minor(lines: Iterable[InvoiceLine], timing: Timing | None = None) -> int:
    """What ``lines`` (those billed with ``timing``, when given) add to the amount due, in minor units."""
    return sum(line.due_minor for line in lines if timing in (None, line.timing))


def finalize(invoice: Invoice, at: datetime) -> Invoice:
    """The draft frozen as ``FINALIZED`` at ``at``; its lines then count as billed for later drafts."""
    if invoice.status is not InvoiceStatus.DRAFT:
        raise InvalidInvoice(
            f"Invoice {invoice.id} is {invoice.status.value}: only a draft can be finalized; draft the period again."
        )
    return replace(invoice, status=InvoiceStatus.FINALIZED, finalized_at=ensure_utc(at, "finalization time"))


@dataclass(frozen=True, slots=True, eq=False)
class InvoiceRun:
    """The drafts of one family of contracts for one period, with the burn-down behind them.

    ``grants`` are the grants in play (the contracts' own, the period's seat
    credits and top-ups); :attr:`ledger_entries` the entries the recorded
    ledger still lacks for this period (append them when finalizing; balances
    as of now are the recorded ledger plus these), worked out when first read
    from the burn-down and ``recorded_movements`` (the period's movements the
    recorded ledger already has). ``rejected`` lists usage events that
    raw-event rating could not use. Runs are equal when their period, draft
    time, invoices, grants, ledger entries and rejected events are.
    """

    period: Period
    as_of: datetime
    invoices: tuple[Invoice, ...]
    burn_down: BurnDownResult
    grants: tuple[Grant, ...] = ()
    rejected: tuple[RejectedEvent, ...] = ()
    recorded_movements: tuple[LedgerEntry, ...] = field(default=(), repr=False)
    _entries: tuple[LedgerEntry, ...] | None = field(default=None, init=False, repr=False)

    @property
    def ledger_entries(self) -> tuple[LedgerEntry, ...]:
        """The entries to append to the recorded ledger: the burn-down's, less the period's movements already
        recorded (see :func:`_missing_entries`)."""
        entries = self._entries
        if entries is None:
            entries = _missing_entries(self.burn_down.new_entries, self.recorded_movements)
            object.__setattr__(self, "_entries", entries)  # worked out once: the run is otherwise immutable
        return entries

    def _compared(self) -> tuple[object, ...]:
        return (self.period, self.as_of, self.invoices, self.grants, self.ledger_entries, self.rejected)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InvoiceRun):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def invoice(self, contract_id: str) -> Invoice:
        """The invoice of one payer contract."""
        for invoice in self.invoices:
            if invoice.contract_id == contract_id:
                return invoice
        raise InvalidInvoice(
            f"Contract {contract_id} has no invoice in this run: it is not a payer, or not active in the period."
        )

    def outcomes(self, line: InvoiceLine) -> tuple[ChargeOutcome, ...]:
        """How each charge of a line was paid, with the explanation of each deduction."""
        wanted = set(line.charge_ids)
        return tuple(o for o in self.burn_down.outcomes if o.charge.id in wanted)


# --- building the expected lines ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """A line to bill, before burn-down: what it bills, and the charges burn-down draws for it."""

    key: str
    kind: LineKind
    timing: Timing
    contract_id: str
    product_id: str
    description: str
    period: Period
    credit_type: CreditType
    quantity: Decimal
    unit_price: Decimal | None
    units: Decimal
    pricing_group: str | None = None
    tiers: tuple[TierLine, ...] = ()
    group_key: str | None = None
    charges: tuple[Charge, ...] = ()


@dataclass(frozen=True, slots=True)
class _Standing:
    """What a contract's draft for a period holds whatever its usage: the seat and fixed-fee lines with their
    charges, the fees no rate prices, the period's grants, and how its usage is rated (None: no usage products)."""

    lines: tuple[_Line, ...]
    unbilled: tuple[UnbilledUsage, ...]
    grants: tuple[Grant, ...]
    plan: _UsagePlan | None


@dataclass(slots=True)
class _ContractDraft:
    """Everything one contract contributes to a period before burn-down."""

    lines: list[_Line]
    grants: tuple[Grant, ...]
    unbilled: list[UnbilledUsage]
    rejected: tuple[RejectedEvent, ...] = ()


def _seat_lines(contract: Contract, period: Period) -> list[SeatChargeLine]:
    """The period's seat charge lines, piece by piece of the terms, with the price differences of switches."""
    sub = contract.seats
    if sub is None:
        return []
    pieces = contract.terms_in(period)
    lines: list[SeatChargeLine] = []
    previous: SeatPricing | None = None
    for piece, terms in pieces:
        pricing = terms.seat_pricing
        if pricing is None:
            continue
        lines += [line for line in seat_charges(sub, pricing, period) if piece.contains(line.at)]
        if previous is not None:
            same_unit = previous.credit_type == pricing.credit_type
            dearer = pricing.price_per_seat - (previous.price_per_seat if same_unit else ZERO)
            held = sub.state_at(piece.start).quantity
            if dearer > 0 and held:
                switch = SeatSubscription(
                    f"{sub.id}@{stamp(piece.start)}",
                    contract.id,
                    sub.product_id,
                    SubscriptionMode.QUANTITY_ONLY,
                    piece.start,
                    SeatState(held),
                )
                lines += seat_charges(switch, SeatPricing(dearer, pricing.credit_type), period)
        previous = pricing
    return lines


def _top_up(before: SeatCreditPolicy | None, after: SeatCreditPolicy, at: datetime) -> SeatCreditPolicy | None:
    """The policy that gives, from a switch at ``at``, what ``after`` gives beyond ``before`` (None: nothing)."""
    policy_id = f"{after.id}@{stamp(at)}"
    if before is None or before.credit_type != after.credit_type or before.allocation is not after.allocation:
        return replace(after, id=policy_id)
    allowance = max(after.allowance_per_seat - before.allowance_per_seat, ZERO)
    pool = max(after.pool_per_seat - before.pool_per_seat, ZERO)
    if not allowance and not pool:
        return None
    allocation = after.allocation
    if allocation is CreditAllocation.HYBRID and not pool:
        allocation = CreditAllocation.INDIVIDUAL
    return replace(after, id=policy_id, allowance_per_seat=allowance, allocation=allocation, pool_per_seat=pool)


def _seat_credits(contract: Contract, period: Period) -> list[Grant]:
    """The seat credits the period earns, with prorated top-ups where a switch gives more."""
    sub = contract.seats
    if sub is None:
        return []
    grants: list[Grant] = []
    previous: SeatCreditPolicy | None = None
    for piece, terms in contract.terms_in(period):
        policy = terms.seat_credits
        if piece.start == period.start:
            if policy is not None:
                grants += seat_credit_grants(sub, policy, period)
        elif policy is not None:
            top_up = _top_up(previous, policy, piece.start)
            if top_up is not None:
                later = tuple(c for c in sub.changes if c.at > piece.start)
                rest = replace(sub, started_at=piece.start, initial=sub.state_at(piece.start), changes=later)
                grants += seat_credit_grants(rest, top_up, period)
        previous = policy
    return grants


def _seat_line(contract: Contract, line: SeatChargeLine, period: Period) -> _Line:
    key = f"{contract.id}:seats:{line.subscription_id}:{line.kind.value}:{stamp(line.at)}"
    words = {"in_advance": "in advance", "increase": "added", "decrease_credit": "given up"}[line.kind.value]
    share = "" if line.covered == period else f", {line.covered.label()}"
    charges = (Charge(key, contract.id, line.product_id, line.at, line.amount, line.credit_type),)
    return _Line(
        key=key,
        kind=LineKind.SEATS,
        timing=Timing.IN_ADVANCE,
        contract_id=contract.id,
        product_id=line.product_id,
        description=f"{line.quantity} seat{'s' if line.quantity != 1 else ''} {words}{share}",
        period=line.covered,
        credit_type=line.credit_type,
        quantity=Decimal(line.quantity),
        unit_price=line.unit_price,
        units=line.amount,
        charges=charges if line.amount > 0 else (),
    )


def _fixed_fees(contract: Contract, period: Period, unbilled: list[UnbilledUsage]) -> list[_Line]:
    """The lines of the fixed fees of the terms in force at the start of the period (fees without a rate go to
    ``unbilled``)."""
    terms = contract.terms_at(period.start)
    first_hour = Period(period.start, period.start + METERING_RESOLUTION)
    lines: list[_Line] = []
    for fee in terms.fixed_fees:
        rate = rate_segments(terms.rate_card, terms.overrides, fee.product_id, first_hour)[0].rate
        if rate is None or not rate.entitled:
            reason = "No rate prices this fixed fee at the start of the period: add a rate to the rate card."
            unbilled.append(UnbilledUsage(fee.product_id, period, None, fee.quantity, reason))
            continue
        result = rate.price.price(fee.quantity)
        key = f"{contract.id}:fixed:{fee.product_id}"
        charges = (Charge(key, contract.id, fee.product_id, period.start, result.amount, rate.credit_type),)
        line = _Line(
            key=key,
            kind=LineKind.FIXED,
            timing=Timing.IN_ADVANCE,
            contract_id=contract.id,
            product_id=fee.product_id,
            description=contract.product(fee.product_id).name,
            period=period,
            credit_type=rate.credit_type,
            quantity=fee.quantity,
            unit_price=_unit_price(result.breakdown),
            units=result.amount,
            tiers=result.breakdown,
            charges=charges if result.amount > 0 else (),
        )
        lines.append(line)
    return lines


def _unit_price(tiers: tuple[TierLine, ...]) -> Decimal | None:
    """The one unit price of a price without tiers or fees (None when tiers or fees make it more than one)."""
    if len(tiers) == 1 and not tiers[0].flat_fee:
        return tiers[0].unit_price
    return None


def _segments(contract: Contract, product: Product, period: Period) -> tuple[RateSegment, ...]:
    """The product's rate segments over the period, terms piece by terms piece, as hourly usage sees them."""
    pieces = contract.terms_in(period)
    if len(pieces) == 1:
        piece, terms = pieces[0]
        return _hourly_segments(terms.rate_card, terms.overrides, product.id, piece)
    return tuple(s for piece, t in pieces for s in _hourly_segments(t.rate_card, t.overrides, product.id, piece))


@lru_cache(maxsize=1024)
def _hourly_segments(
    rate_card: RateCard, overrides: tuple[Override, ...], product_id: str, piece: Period
) -> tuple[RateSegment, ...]:
    """:func:`~portal.domain.rating.hourly_segments` of a product's rate segments in one piece of a period.

    Kept per rate card, overrides, product and piece: every contract on the
    same terms asks for the same segments.
    """
    return hourly_segments(rate_segments(rate_card, overrides, product_id, piece))


@dataclass(frozen=True, slots=True)
class _UsagePlan:
    """What rating a contract's usage for a period needs: each product's rate segments, the windows, the metrics."""

    products: tuple[Product, ...]
    segments: dict[str, tuple[RateSegment, ...]]
    windows: tuple[Period, ...]
    metrics: tuple[BillableMetric, ...]


def _usage_plan(contract: Contract, period: Period, grants: Iterable[Grant]) -> _UsagePlan | None:
    """The segments, and the windows cut where a rate or one of ``grants`` changes (None: no usage products)."""
    products = contract.usage_products()
    if not products:
        return None
    segments = {p.id: _segments(contract, p, period) for p in products}
    cuts = [rated_from(t) for t in {t for g in grants for t in (g.starting_at, g.ending_before) if t is not None}]
    windows = windows_for(period, [s for segs in segments.values() for s in segs], cuts)
    wanted = {p.metric_id for p in products}
    return _UsagePlan(products, segments, windows, tuple(m for m in contract.metrics if m.id in wanted))


def _usage(contract: Contract, plan: _UsagePlan, source: UsageSource, draft: _ContractDraft) -> None:
    """Rate every usage product of the contract and add its lines and charges."""
    aggregations = source.aggregate(plan.metrics, plan.windows)
    rejected: list[RejectedEvent] = []
    for product in plan.products:
        aggregation = aggregations[product.metric_id or ""]
        rejected += aggregation.rejected
        seat_key = contract.seat_key if contract.seat_key in aggregation.group_keys else None
        rated = rate_cells(
            contract.id, product, plan.segments[product.id], aggregation, seat_key=seat_key, shares=False
        )
        draft.unbilled += rated.unbilled
        draft.lines += [_usage_line(contract, product, cell.line, cell.charges) for cell in rated.cells]
    draft.rejected = tuple(dict.fromkeys(rejected))


def _usage_line(contract: Contract, product: Product, rated: RatedLine, charges: tuple[Charge, ...]) -> _Line:
    key = f"{contract.id}:usage:{product.id}:{stamp(rated.period.start)}"
    name = product.name
    if rated.pricing_group is not None:
        key += f":{product.pricing_group_key}={rated.pricing_group}"
        name += f" ({product.pricing_group_key} {rated.pricing_group})"
    return _Line(
        key=key,
        kind=LineKind.USAGE,
        timing=Timing.IN_ARREARS,
        contract_id=contract.id,
        product_id=product.id,
        description=name,
        period=rated.period,
        credit_type=rated.rate.credit_type,
        quantity=rated.quantity,
        unit_price=_unit_price(rated.result.breakdown),
        units=rated.result.amount,
        pricing_group=rated.pricing_group,
        tiers=rated.result.breakdown,
        group_key=product.pricing_group_key,
        charges=charges,
    )


_STANDING_KEPT = 4096
"""How many contracts' standing parts (per period and shared grants) are kept between drafts."""


@lru_cache(maxsize=_STANDING_KEPT)
def _standing(contract: Contract, period: Period, shared: tuple[Grant, ...]) -> _Standing:
    """The part of a contract's draft that does not depend on its usage (``shared``: its ancestors' shared grants
    in play), kept per contract, period and shared grants: drafting the same contract again, as a service does
    whenever usage arrives, finds it worked out."""
    lines = [_seat_line(contract, line, period) for line in _seat_lines(contract, period)]
    unbilled: list[UnbilledUsage] = []
    lines += _fixed_fees(contract, period, unbilled)
    grants = tuple(_period_grants(contract, period))
    return _Standing(tuple(lines), tuple(unbilled), grants, _usage_plan(contract, period, (*grants, *shared)))


def _contract_draft(contract: Contract, period: Period, source: UsageSource, shared: Sequence[Grant]) -> _ContractDraft:
    """One contract's lines, charges and period grants (before burn-down)."""
    standing = _standing(contract, period, tuple(shared))
    draft = _ContractDraft(list(standing.lines), standing.grants, list(standing.unbilled))
    if standing.plan is not None:
        _usage(contract, standing.plan, source, draft)
    return draft


def _period_grants(contract: Contract, period: Period) -> list[Grant]:
    """The contract's own grants in play in the period, the seat credits it earns and what its terms include."""
    return [*_in_play(contract.grants, period), *_seat_credits(contract, period), *_included(contract, period)]


def _included(contract: Contract, period: Period) -> list[Grant]:
    """The credits and commits the terms in force at the period's start include, for the period."""
    start = max(period.start, contract.starting_at)
    if contract.ending_before is not None and start >= contract.ending_before:
        return []
    return [
        Grant(
            id=f"{contract.id}/{stamp(period.start)}/included/{g.id}",
            contract_id=contract.id,
            kind=g.kind,
            credit_type=g.credit_type,
            amount=g.amount,
            starting_at=start,
            ending_before=period.end,
            source=GrantSource.PACKAGE_RECURRENCE,
        )
        for g in contract.terms_at(start).included
    ]


def _shared_grants(contracts: Iterable[Contract], hierarchy: Hierarchy, period: Period) -> dict[str, list[Grant]]:
    """For each contract of a family, its ancestors' shared grants in play in the period, the nearest ancestor's
    first (none for a root)."""
    own_shared = {c.id: [g for g in c.grants if g.scope is GrantScope.SHARED] for c in contracts}
    in_play: dict[str, list[Grant]] = {}
    shared: dict[str, list[Grant]] = {}
    for contract_id in own_shared:
        above: list[Grant] = []
        for ancestor in hierarchy.ancestors_of(contract_id):
            grants = in_play.get(ancestor)
            if grants is None:
                grants = in_play[ancestor] = _in_play(own_shared.get(ancestor, ()), period)
            above += grants
        shared[contract_id] = above
    return shared


def usage_plans(
    contracts: Sequence[Contract], period: Period, *, hierarchy: Hierarchy = NO_HIERARCHY
) -> dict[str, tuple[tuple[BillableMetric, ...], tuple[Period, ...]]]:
    """For each contract's draft of ``period``, the metrics its usage is rated by and the windows it is
    aggregated over (contracts without usage products, or not active, are left out)."""
    active = [c for c in contracts if c.active_in(period)]
    shared = _shared_grants(active, hierarchy, period)
    plans: dict[str, tuple[tuple[BillableMetric, ...], tuple[Period, ...]]] = {}
    for contract in active:
        plan = _standing(contract, period, tuple(shared[contract.id])).plan
        if plan is not None:
            plans[contract.id] = (plan.metrics, plan.windows)
    return plans


def aggregated_usage(
    contracts: Sequence[Contract],
    period: Period,
    usage: Mapping[str, UsageSource],
    *,
    hierarchy: Hierarchy = NO_HIERARCHY,
) -> dict[str, AggregatedUsage]:
    """Each contract's usage aggregated over the windows its draft for ``period`` rates it in.

    This is what a service can keep per contract and period (and drop when
    usage, grants or terms change): :func:`draft_invoices` given it instead
    of raw events or rollups skips aggregating usage and gives the same
    invoices. Contracts without usage products, or not active, are left out.
    """
    return {
        contract_id: AggregatedUsage.of(usage.get(contract_id, _NO_USAGE), metrics, windows)
        for contract_id, (metrics, windows) in usage_plans(contracts, period, hierarchy=hierarchy).items()
    }


def _in_play(grants: Iterable[Grant], period: Period) -> list[Grant]:
    """The grants active at some time in ``period``."""
    return [
        g for g in grants if g.starting_at < period.end and (g.ending_before is None or g.ending_before > period.start)
    ]


# --- from burn-down to invoice lines ----------------------------------------------------------------


def _minor(credit_type: CreditType, units: Decimal) -> int:
    """The value of ``units`` rounded once to the currency's minor unit, as an integer."""
    return credit_type.currency.minor_units(units * credit_type.unit_price) if units else 0


def _split(total: int, weights: Sequence[Decimal]) -> list[int]:
    """``total`` minor units split in proportion to ``weights`` (never negative; all to nothing when there is
    nothing), as :func:`~portal.domain.money.allocate` splits (parts of the same sign as ``total``)."""
    if not total or not any(weights):
        return [0] * len(weights)
    if len(weights) == 1:
        return [total]
    parts = split_units(abs(total), weights)
    return parts if total > 0 else [-part for part in parts]


def _finish(expected: _Line, drawn_charges: Sequence[DrawnCharge]) -> InvoiceLine:
    """Turn a line and what burn-down made of its charges (in the order they were drawn) into invoice figures,
    rounded once each."""
    credit_type = expected.credit_type
    per_grant: dict[str, Decimal] = {}
    reasons: dict[str, dict[str, None]] = {}
    rows: list[_GroupRow] = []
    overage = blocked = covered_total = ZERO
    group_key = expected.group_key
    with exact_arithmetic():
        for drawn in drawn_charges:
            covered = ZERO
            for grant, amount, explanation in drawn.draws:
                grant_id = grant.id
                so_far = per_grant.get(grant_id)
                if so_far is None:
                    per_grant[grant_id] = amount
                    reasons[grant_id] = {explanation: None}
                else:
                    per_grant[grant_id] = so_far + amount
                    reasons[grant_id][explanation] = None
                covered += amount
            covered_total += covered
            # Blocked and overage are mostly zero: only what is not is added (the sums come out the same).
            if drawn.blocked:
                blocked += drawn.blocked
            if drawn.overage:
                overage += drawn.overage
            charge = drawn.charge
            group = charge.group
            if group and group_key is not None:
                group = tuple(pair for pair in group if pair[0] != group_key)
            if group:
                rows.append((group, charge.amount, covered, drawn.blocked, drawn.overage))
    due_units = overage if drawn_charges else expected.units
    grants_minor = _minor(credit_type, covered_total)
    blocked_minor = _minor(credit_type, blocked)
    due_minor = _minor(credit_type, due_units)
    grant_ids = sorted(per_grant)
    grant_minors = _split(grants_minor, [per_grant[g] for g in grant_ids])
    applied = tuple(
        _grant_applied(g, per_grant[g], m, tuple(reasons[g])) for g, m in zip(grant_ids, grant_minors, strict=True)
    )
    # Charges of one window have a group each: only a line over several windows has groups to merge.
    one_window = drawn_charges[0].charge.at == drawn_charges[-1].charge.at if drawn_charges else True
    return _invoice_line(
        key=expected.key,
        kind=expected.kind,
        timing=expected.timing,
        contract_id=expected.contract_id,
        product_id=expected.product_id,
        description=expected.description,
        period=expected.period,
        credit_type=credit_type,
        quantity=expected.quantity,
        unit_price=expected.unit_price,
        units=expected.units,
        overage_units=overage,
        blocked_units=blocked,
        amount_minor=grants_minor + blocked_minor + due_minor,
        grants_minor=grants_minor,
        blocked_minor=blocked_minor,
        due_minor=due_minor,
        pricing_group=expected.pricing_group,
        tiers=expected.tiers,
        grants=applied,
        groups=_groups(rows if one_window else _merged(rows), grants_minor, blocked_minor, due_minor),
        charge_ids=tuple(d.charge.id for d in drawn_charges),
        previously_billed_minor=0,
    )


_GroupRow = tuple[tuple[tuple[str, str], ...], Decimal, Decimal, Decimal, Decimal]
"""A group's charged units and how much of them grants covered, was blocked and is overage."""


def _merged(rows: list[_GroupRow]) -> list[_GroupRow]:
    """``rows`` with those of the same group added up (in the order each group first came)."""
    by_group: dict[tuple[tuple[str, str], ...], _GroupRow] = {}
    with exact_arithmetic():
        for row in rows:
            group = row[0]
            had = by_group.get(group)
            by_group[group] = (
                row if had is None else (group, had[1] + row[1], had[2] + row[2], had[3] + row[3], had[4] + row[4])
            )
    return list(by_group.values())


def _groups(rows: list[_GroupRow], grants_minor: int, blocked_minor: int, due_minor: int) -> tuple[LineGroup, ...]:
    """Split a line's figures across its groups (one row each) in proportion to their own parts."""
    if not rows:
        return ()
    rows = sorted(rows, key=_group_of)
    keys = [row[0] for row in rows]
    covered = _split(grants_minor, [row[2] for row in rows])
    blocked = _split(blocked_minor, [row[3] for row in rows]) if blocked_minor else [0] * len(keys)
    due = _split(due_minor, [row[4] for row in rows]) if due_minor else [0] * len(keys)
    amounts = [c + b + d for c, b, d in zip(covered, blocked, due, strict=True)]
    return tuple(map(_line_group, keys, [row[1] for row in rows], amounts, covered, blocked, due))


_group_of = itemgetter(0)


_invoice_line = builder(InvoiceLine)
_grant_applied = builder(GrantApplied)
_line_group = builder(LineGroup)
"""Build the records of the lines :func:`_finish` works out (no checks to run: these classes have none)."""


# --- expected minus already billed ------------------------------------------------------------------


def _minus(expected: InvoiceLine | None, billed: Sequence[InvoiceLine]) -> InvoiceLine | None:
    """``expected`` less what ``billed`` lines of the same key already billed (None when nothing is left)."""
    if not billed:
        return None if expected is None or expected.is_empty else expected
    base = expected or replace(
        billed[-1],
        quantity=ZERO,
        units=ZERO,
        overage_units=ZERO,
        blocked_units=ZERO,
        amount_minor=0,
        grants_minor=0,
        blocked_minor=0,
        due_minor=0,
        grants=(),
        groups=(),
        charge_ids=(),
        previously_billed_minor=0,
    )
    with exact_arithmetic():
        grants = {g.grant_id: g for g in base.grants}
        groups = {g.group: g for g in base.groups}
        for line in billed:
            for g in line.grants:
                mine = grants.get(g.grant_id) or GrantApplied(g.grant_id, ZERO, 0, g.explanations)
                grants[g.grant_id] = replace(
                    mine, units=mine.units - g.units, amount_minor=mine.amount_minor - g.amount_minor
                )
            for grp in line.groups:
                had = groups.get(grp.group) or LineGroup(grp.group, ZERO, 0, 0, 0, 0)
                groups[grp.group] = LineGroup(
                    grp.group,
                    had.units - grp.units,
                    had.amount_minor - grp.amount_minor,
                    had.grants_minor - grp.grants_minor,
                    had.blocked_minor - grp.blocked_minor,
                    had.due_minor - grp.due_minor,
                )
        left = replace(
            base,
            quantity=base.quantity - sum((b.quantity for b in billed), ZERO),
            units=base.units - sum((b.units for b in billed), ZERO),
            overage_units=base.overage_units - sum((b.overage_units for b in billed), ZERO),
            blocked_units=base.blocked_units - sum((b.blocked_units for b in billed), ZERO),
            amount_minor=base.amount_minor - sum(b.amount_minor for b in billed),
            grants_minor=base.grants_minor - sum(b.grants_minor for b in billed),
            blocked_minor=base.blocked_minor - sum(b.blocked_minor for b in billed),
            due_minor=base.due_minor - sum(b.due_minor for b in billed),
            grants=tuple(g for _, g in sorted(grants.items()) if g.units or g.amount_minor),
            groups=tuple(g for _, g in sorted(groups.items()) if g.units or g.amount_minor),
            previously_billed_minor=sum(b.amount_minor for b in billed),
        )
    return None if left.is_empty else left


def subtract_lines(expected: Iterable[InvoiceLine], billed: Iterable[InvoiceLine]) -> tuple[InvoiceLine, ...]:
    """What is left to bill: each expected line less the billed lines with the same key; billed lines no
    longer expected come back negated (a credit). Empty results are left out."""
    by_key: dict[str, list[InvoiceLine]] = {}
    for line in billed:
        by_key.setdefault(line.key, []).append(line)
    result: list[InvoiceLine] = []
    seen: set[str] = set()
    for line in expected:
        seen.add(line.key)
        left = _minus(line, by_key.get(line.key, ()))
        if left is not None:
            result.append(left)
    for key, lines in by_key.items():
        if key not in seen:
            left = _minus(None, lines)
            if left is not None:
                result.append(left)
    return tuple(result)


# --- the ledger of the period -----------------------------------------------------------------------


def _period_movements(
    ledger: Iterable[LedgerEntry], in_play: set[str], family: set[str], period: Period, charge_ids: set[str]
) -> tuple[list[LedgerEntry], list[LedgerEntry]]:
    """Split the recorded ledger into the opening entries and the period's own recorded movements.

    The period's movements are the family's usage draws dated in the
    period, the expiries during it (up to its end), and the corrections of
    either (entries on the same grant with the same reference). The opening
    is every grant start, and every other entry of a grant in play dated
    before the period ends.
    """
    entries = [e for e in ledger if e.grant_id in in_play]
    mine = {(e.grant_id, e.reference) for e in entries if e.kind is EntryKind.USAGE and e.reference in charge_ids}
    for entry in entries:
        if (entry.kind is EntryKind.USAGE and entry.contract_id in family and period.contains(entry.at)) or (
            entry.kind is EntryKind.EXPIRY and period.start < entry.at <= period.end
        ):
            mine.add((entry.grant_id, entry.reference))
    opening: list[LedgerEntry] = []
    movements: list[LedgerEntry] = []
    for entry in entries:
        if entry.kind is EntryKind.GRANT_START:
            opening.append(entry)
        elif (entry.grant_id, entry.reference) in mine:
            movements.append(entry)
        elif entry.at < period.end:
            opening.append(entry)
    return opening, movements


def _missing_entries(expected: Sequence[LedgerEntry], recorded: Iterable[LedgerEntry]) -> tuple[LedgerEntry, ...]:
    """The entries that turn the recorded movements into the expected ones (given in ledger order), per grant and
    reference, in ledger order.

    A larger draw or expiry is a new entry of that kind for the difference;
    a smaller one an ``ADJUSTMENT`` giving the difference back.
    """
    recorded = tuple(recorded)
    if not recorded:
        return tuple(expected)
    sums: dict[tuple[str, str], list[Decimal]] = {}
    template: dict[tuple[str, str], LedgerEntry] = {}
    missing: list[LedgerEntry] = []
    with exact_arithmetic():
        for entry in expected:
            if entry.kind is EntryKind.GRANT_START:
                missing.append(entry)
                continue
            key = (entry.grant_id, entry.reference)
            sums.setdefault(key, [ZERO, ZERO])[0] += entry.amount
            template[key] = entry
        for entry in recorded:
            key = (entry.grant_id, entry.reference)
            sums.setdefault(key, [ZERO, ZERO])[1] += entry.amount
            template.setdefault(key, entry)
        for key, (want, have) in sums.items():
            diff = want - have
            if diff:
                kind = template[key].kind if diff < 0 else EntryKind.ADJUSTMENT
                missing.append(replace(template[key], kind=kind, amount=diff))
    return tuple(sorted(missing, key=ledger_order))


# --- drafting -----------------------------------------------------------------------------------


def _check_family(contracts: Sequence[Contract], hierarchy: Hierarchy, period: Period) -> dict[str, Contract]:
    """The contracts by id, once checked to be one whole tree (or one contract) on one calendar and currency."""
    by_id: dict[str, Contract] = {}
    for contract in contracts:
        if contract.id in by_id:
            raise InvalidInvoice(f"Contract {contract.id} is given twice: give each contract of the family once.")
        by_id[contract.id] = contract
    roots = []
    for contract_id in by_id:
        parent = hierarchy.parent_of(contract_id)
        if parent is None:
            roots.append(contract_id)
        elif parent not in by_id:
            raise InvalidInvoice(
                f"Child contract {contract_id} is given without its parent {parent}: "
                "draft a parent together with its children."
            )
    for contract_id in by_id:
        for child in hierarchy.children_of(contract_id):
            if child.contract_id not in by_id:
                raise InvalidInvoice(
                    f"Contract {contract_id} is given without its child {child.contract_id}: "
                    "draft a parent together with its children."
                )
    if len(roots) > 1:
        raise InvalidInvoice(
            f"Contracts {', '.join(sorted(roots))} are in different families: draft one family (one contract, or "
            "a root with everything under it) at a time."
        )
    currencies = {c.currency for c in contracts}
    if len(currencies) > 1:
        raise InvalidInvoice(
            f"The contracts of one family bill in {', '.join(sorted(c.code for c in currencies))}: "
            "a parent and its children share one currency."
        )
    for contract in contracts:
        if contract.active_in(period) and not contract.is_billing_period(period):
            expected = contract.billing_period_containing(period.start)
            raise InvalidInvoice(
                f"{period.label()} is not a billing period of contract {contract.id} (its period there is "
                f"{expected.label()}): children must bill on their parent's calendar, at every level."
            )
    return by_id


def draft_invoices(
    contracts: Sequence[Contract],
    period: Period,
    usage: Mapping[str, UsageSource],
    *,
    as_of: datetime,
    hierarchy: Hierarchy = NO_HIERARCHY,
    ledger: Iterable[LedgerEntry] = (),
    finalized: Iterable[Invoice] = (),
) -> InvoiceRun:
    """Draft the invoices of a family of contracts for one billing period (see the module rules).

    ``contracts`` is one contract, or one whole tree: a root with every
    contract under it, at any depth (as ``hierarchy`` relates them).
    ``usage`` maps a contract id to its usage (raw events or hourly
    rollups; none means no usage). ``ledger`` is the
    recorded ledger; ``finalized`` the invoices already finalized (others
    are ignored, as are those of other periods). ``as_of`` is the time of
    the draft: grants that expired by then (within the period) get their
    expiry entries.
    """
    as_of = ensure_utc(as_of, "draft time")
    by_id = _check_family(contracts, hierarchy, period)
    active = [c for c in contracts if c.active_in(period)]
    shared = _shared_grants(active, hierarchy, period)
    drafts = {c.id: _contract_draft(c, period, usage.get(c.id, _NO_USAGE), shared[c.id]) for c in active}
    grants = tuple(g for d in drafts.values() for g in d.grants)
    to_bill = [line for d in drafts.values() for line in d.lines]
    charges = [c for line in to_bill for c in line.charges]
    ledger = tuple(ledger)
    opening, recorded = (
        _period_movements(ledger, {g.id for g in grants}, set(drafts), period, {c.id for c in charges})
        if ledger
        else ([], [])
    )
    result = burn_down(charges, grants, opening, hierarchy, min(as_of, period.end))
    line_of = {charge.id: n for n, line in enumerate(to_bill) for charge in line.charges}
    drawn_for: list[list[DrawnCharge]] = [[] for _ in to_bill]
    for drawn in result.drawn:
        drawn_for[line_of[drawn.charge.id]].append(drawn)
    billed: dict[str, list[InvoiceLine]] = {}
    prior: dict[str, int] = {}
    for invoice in finalized:
        if invoice.status is InvoiceStatus.DRAFT:
            raise InvalidInvoice(f"Invoice {invoice.id} is a draft: pass only finalized invoices as already billed.")
        if invoice.period == period and invoice.contract_id in by_id:
            prior[invoice.contract_id] = prior.get(invoice.contract_id, 0) + 1
            if invoice.status in BILLED:
                billed.setdefault(invoice.contract_id, []).extend(invoice.lines)
    payers = {contract_id: hierarchy.payer_of(contract_id) for contract_id in drafts}
    expected_by_payer: dict[str, list[InvoiceLine]] = {}
    unbilled_by_payer: dict[str, list[UnbilledUsage]] = {}
    for contract_id, draft in drafts.items():
        expected_by_payer.setdefault(payers[contract_id], [])
        unbilled_by_payer.setdefault(payers[contract_id], []).extend(draft.unbilled)
    for line, drawn_charges in zip(to_bill, drawn_for, strict=True):
        expected_by_payer[payers[line.contract_id]].append(_finish(line, drawn_charges))
    invoices = []
    for payer_id in sorted(expected_by_payer):
        payer_contract = by_id[payer_id]
        lines = subtract_lines(expected_by_payer[payer_id], billed.get(payer_id, ()))
        children = hierarchy.children_of(payer_id)
        invoices.append(
            Invoice(
                id=f"{payer_id}/{stamp(period.start)}/{prior.get(payer_id, 0) + 1}",
                contract_id=payer_id,
                customer_id=payer_contract.customer_id,
                period=period,
                currency=payer_contract.currency,
                status=InvoiceStatus.DRAFT,
                lines=tuple(sorted(lines, key=lambda line: _line_order(line, payer_id))),
                as_of=as_of,
                statement=consolidated_statement(payer_id, hierarchy, result) if children else None,
                unbilled=tuple(unbilled_by_payer[payer_id]),
            )
        )
    return InvoiceRun(
        period=period,
        as_of=as_of,
        invoices=tuple(invoices),
        burn_down=result,
        grants=grants,
        rejected=tuple(r for d in drafts.values() for r in d.rejected),
        recorded_movements=tuple(recorded),
    )


_NO_USAGE = BucketedUsage()
_KIND_ORDER = {LineKind.SEATS: 0, LineKind.FIXED: 1, LineKind.USAGE: 2}


def _line_order(line: InvoiceLine, payer_id: str) -> tuple[bool, str, int, str, datetime, str]:
    return (
        line.contract_id != payer_id,
        line.contract_id,
        _KIND_ORDER[line.kind],
        line.product_id,
        line.period.start,
        line.key,
    )


# --- balances ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrantStatement:
    """One grant's balance as of an instant, with the ledger entries that make it."""

    grant: Grant
    remaining: Decimal
    entries: tuple[LedgerEntry, ...]


@dataclass(frozen=True, slots=True)
class Balances:
    """A contract's balances as of an instant: per grant, pooled per credit type, and per seat.

    ``pooled`` sums what is left of the grants every usage of the contract
    may draw from (contract and shared grants, not seat grants) and that are
    active at ``as_of``.
    """

    contract_id: str
    as_of: datetime
    grants: tuple[GrantStatement, ...]
    pooled: tuple[tuple[CreditType, Decimal], ...]
    seats: tuple[SeatBalance, ...]

    def grant(self, grant_id: str) -> GrantStatement:
        """The statement of one grant."""
        for statement in self.grants:
            if statement.grant.id == grant_id:
                return statement
        raise InvalidInvoice(f"Grant {grant_id} is not one of contract {self.contract_id}'s grants.")


def balances(contract_id: str, grants: Iterable[Grant], ledger: Iterable[LedgerEntry], as_of: datetime) -> Balances:
    """A contract's balances as of ``as_of`` from its grants and ledger (e.g. a run's grants, and the
    recorded ledger plus the run's ``ledger_entries``)."""
    as_of = ensure_utc(as_of, "balance time")
    mine = sorted((g for g in grants if g.contract_id == contract_id), key=lambda g: g.id)
    ids = {g.id for g in mine}
    entries = sorted((e for e in ledger if e.grant_id in ids and e.at <= as_of), key=ledger_order)
    left = ledger_balances(entries)
    statements = tuple(
        GrantStatement(g, left.get(g.id, ZERO), tuple(e for e in entries if e.grant_id == g.id)) for g in mine
    )
    pooled: dict[str, tuple[CreditType, Decimal]] = {}
    with exact_arithmetic():
        for s in statements:
            if s.grant.scope is not GrantScope.SEAT and s.grant.active_at(as_of):
                credit_type = s.grant.credit_type
                pooled[credit_type.id] = (credit_type, pooled.get(credit_type.id, (credit_type, ZERO))[1] + s.remaining)
    return Balances(
        contract_id=contract_id,
        as_of=as_of,
        grants=statements,
        pooled=tuple(pooled[k] for k in sorted(pooled)),
        seats=seat_balances(contract_id, mine, entries, as_of),
    )


# --- previews ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeatCountChange:
    """A pending seat change at ``at``: seat ids added and removed, or a new quantity."""

    contract_id: str
    at: datetime
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class NewTerms:
    """A pending move of ``contract_id`` to other ``terms``, decided at ``at``, effective at ``effective_at``."""

    contract_id: str
    terms: Terms
    at: datetime
    effective_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TierSwitch(NewTerms):
    """A switch to another package's terms: unless ``effective_at`` says otherwise, an upgrade (a higher
    rank) takes effect at ``at``, a downgrade at the start of the next period."""


@dataclass(frozen=True, slots=True)
class PackageMigration(NewTerms):
    """A move to a new package version's terms, from the next period unless ``effective_at`` is given."""


PendingChange = SeatCountChange | TierSwitch | PackageMigration
"""A change that can be previewed before it is committed."""


def apply_change(contract: Contract, change: PendingChange) -> Contract:
    """The contract as it would be with ``change`` committed."""
    if change.contract_id != contract.id:
        raise InvalidChange(f"The change is for contract {change.contract_id}, not {contract.id}.")
    if isinstance(change, SeatCountChange):
        seats = contract.seats
        if seats is None:
            raise InvalidChange(f"Contract {contract.id} has no seat subscription to change: provision seats first.")
        if not (change.add or change.remove or change.quantity is not None):
            raise InvalidChange("Say what changes: seat ids to add or remove, or a new number of seats.")
        if change.remove:
            seats = seats.remove_seat_ids(change.at, *change.remove)
        if change.add:
            seats = seats.add_seat_ids(change.at, *change.add)
        if change.quantity is not None:
            seats = seats.set_quantity(change.at, change.quantity)
        return contract.with_seats(seats)
    next_start = contract.billing_period_containing(change.at).end
    effective = change.effective_at
    if effective is None:
        upgrade = isinstance(change, TierSwitch) and change.terms.rank > contract.terms_at(change.at).rank
        effective = change.at if upgrade else next_start
    return contract.with_terms_from(ensure_utc(effective, "effective time"), change.terms)


@dataclass(frozen=True, slots=True)
class Preview:
    """What a pending change would do, without committing it.

    ``due_now``: the in-advance lines it adds to the current period (a
    prorated seat charge, an upgrade's price difference). ``at_period_end``:
    how the current period's usage lines change. ``next_period``: how the
    next period's in-advance charges change. Amounts are minor units of the
    payer's currency; ``balances`` are the contract's balances after the change.
    """

    change: PendingChange
    payer_contract_id: str
    currency: Currency
    due_now: tuple[InvoiceLine, ...]
    at_period_end: tuple[InvoiceLine, ...]
    next_period: tuple[InvoiceLine, ...]
    balances: Balances
    after: InvoiceRun = field(compare=False)

    @property
    def due_now_minor(self) -> int:
        """What the change makes due at once."""
        return due_minor(self.due_now)

    @property
    def at_period_end_minor(self) -> int:
        """How much the amount due at the end of the period changes."""
        return due_minor(self.at_period_end)

    @property
    def next_period_minor(self) -> int:
        """How much the next period's advance charges change."""
        return due_minor(self.next_period)


def preview(
    change: PendingChange,
    contracts: Sequence[Contract],
    period: Period,
    usage: Mapping[str, UsageSource],
    *,
    as_of: datetime,
    hierarchy: Hierarchy = NO_HIERARCHY,
    ledger: Iterable[LedgerEntry] = (),
    finalized: Iterable[Invoice] = (),
) -> Preview:
    """Preview ``change`` on one contract of the family in ``period`` (see :class:`Preview`)."""
    target = next((c for c in contracts if c.id == change.contract_id), None)
    if target is None:
        raise InvalidChange(f"Contract {change.contract_id} is not among the contracts given: include it.")
    changed = [apply_change(c, change) if c.id == target.id else c for c in contracts]
    recorded = tuple(ledger)
    billed = tuple(finalized)
    before = draft_invoices(
        contracts, period, usage, as_of=as_of, hierarchy=hierarchy, ledger=recorded, finalized=billed
    )
    after = draft_invoices(changed, period, usage, as_of=as_of, hierarchy=hierarchy, ledger=recorded, finalized=billed)
    payer = hierarchy.payer_of(target.id)
    delta = subtract_lines(after.invoice(payer).lines, before.invoice(payer).lines)
    entries = (*recorded, *after.ledger_entries)
    upcoming = Period(period.end, target.billing_period_containing(period.end).end)
    next_lines: tuple[InvoiceLine, ...] = ()
    if target.active_in(upcoming):
        next_before = _advance_lines(contracts, upcoming, hierarchy, (*recorded, *before.ledger_entries), payer)
        next_after = _advance_lines(changed, upcoming, hierarchy, entries, payer)
        next_lines = subtract_lines(next_after, next_before)
    return Preview(
        change=change,
        payer_contract_id=payer,
        currency=target.currency,
        due_now=tuple(line for line in delta if line.timing is Timing.IN_ADVANCE),
        at_period_end=tuple(line for line in delta if line.timing is Timing.IN_ARREARS),
        next_period=next_lines,
        balances=balances(target.id, after.grants, entries, as_of),
        after=after,
    )


def _advance_lines(
    contracts: Sequence[Contract], period: Period, hierarchy: Hierarchy, ledger: Sequence[LedgerEntry], payer: str
) -> list[InvoiceLine]:
    """The in-advance lines of one payer's invoice for a period that has not started (no usage yet)."""
    run = draft_invoices(contracts, period, {}, as_of=period.start, hierarchy=hierarchy, ledger=ledger)
    return [line for line in run.invoice(payer).lines if line.timing is Timing.IN_ADVANCE]
