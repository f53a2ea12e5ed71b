"""``portal bench rating``: how fast the rating engine turns a month of usage into invoices, in process.

It generates a realistic month, deterministically from a seed: contracts
on three packages (good: pooled seat credits; better: a credit for each
seat; best: both, plus a platform fee), 2 to 20 seats with seats added and
removed during the month, purchased commits and expiring promotional
credits, a mid-month price change, and parents whose shared commit their
children draw on within budget caps (some overage, some blocked, some
children paying their own invoice and some billed to the parent). Events are
generated customer by customer and rated as soon as they exist (holding
one customer's events at a time is also what keeps memory access local).

It reports two figures:

* **events/s** aggregated and rated: raw events to draft invoices (metric
  aggregation, pricing, seats, burn-down, invoice lines), timed without the
  time spent generating events;
* **drafts/s** from already aggregated usage: the same invoices drafted
  again and again from hourly rollups (what the portal stores), never from
  raw events;

plus the process's peak memory, and checks that both paths agree and that
every generated event was counted. The generated inputs are frozen out of
the cyclic garbage collector's sight (``gc.freeze``, as a long-running
server does with long-lived data), so the figures time rating, not the
collector rescanning the benchmark's own data; rating's allocations are
collected as usual.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from portal.domain.contracts import Contract, FixedFee, Terms
from portal.domain.grants import ChildAccess, Grant, GrantKind, GrantScope, GrantSource
from portal.domain.hierarchy import NO_HIERARCHY, BudgetCap, CapBehaviour, ChildContract, Hierarchy, Payer
from portal.domain.invoicing import draft_invoices
from portal.domain.metrics import (
    Aggregation,
    BillableMetric,
    BucketedUsage,
    RawUsage,
    UsageEvent,
    UsageSource,
    fold_events,
)
from portal.domain.money import custom_credit, fiat
from portal.domain.periods import Period, utc
from portal.domain.pricing import (
    ConversionOperation,
    Flat,
    Package,
    Product,
    ProductKind,
    QuantityConversion,
    Rate,
    RateCard,
    Tier,
    Tiered,
    Volume,
)
from portal.domain.seats import (
    CreditAllocation,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
)

USD = fiat("USD")
AI = custom_credit("ai", "AI credits", "USD", "0.01")
START = utc(2026, 1, 1)
MONTH = Period(START, utc(2026, 2, 1))
PRICE_CHANGE = utc(2026, 1, 15, 9, 30)
MODELS = ("fast", "smart", "vision")
FAMILY_EVERY = 25
"""Every 25th contract is a parent with three children (so 12% of contracts are in a family)."""

TOKENS = BillableMetric("tokens", "Tokens", "ai_call", Aggregation.SUM, "tokens", group_keys=("user_id", "model"))
REQUESTS = BillableMetric("requests", "Requests", "ai_call", Aggregation.COUNT, group_keys=("user_id",))
PRODUCTS = (
    Product("seat", "Seat", ProductKind.SUBSCRIPTION),
    Product(
        "ai",
        "AI usage (credits per 1,000 tokens)",
        ProductKind.USAGE,
        metric_id="tokens",
        quantity_conversion=QuantityConversion(Decimal(1000), ConversionOperation.DIVIDE),
        presentation_group_key="model",
    ),
    Product("requests", "API requests", ProductKind.USAGE, metric_id="requests"),
    Product("platform", "Platform fee", ProductKind.FIXED),
)


def _card(name: str, ai_before: Flat | Tiered | Volume, ai_after: Flat | Tiered | Volume) -> RateCard:
    return RateCard(
        name,
        name,
        (
            Rate("ai", START - timedelta(days=365), PRICE_CHANGE, ai_before, AI),
            Rate("ai", PRICE_CHANGE, None, ai_after, AI),
            Rate("requests", START - timedelta(days=365), None, Package(Decimal(1000), Decimal("0.50")), USD),
            Rate("platform", START - timedelta(days=365), None, Flat(Decimal(500)), USD),
        ),
    )


GOOD = Terms(
    "good",
    _card("good", Flat(Decimal(2)), Flat(Decimal("1.8"))),
    seat_pricing=SeatPricing(Decimal(20), USD),
    seat_credits=SeatCreditPolicy("good-credits", AI, Decimal(1000)),
    rank=1,
)
BETTER = Terms(
    "better",
    _card(
        "better",
        Tiered((Tier(Decimal(5000), Decimal(2)), Tier(None, Decimal("1.5")))),
        Tiered((Tier(Decimal(5000), Decimal("1.8")), Tier(None, Decimal("1.4")))),
    ),
    seat_pricing=SeatPricing(Decimal(40), USD),
    seat_credits=SeatCreditPolicy("better-credits", AI, Decimal(2000), CreditAllocation.INDIVIDUAL),
    rank=2,
)
BEST = Terms(
    "best",
    _card(
        "best",
        Volume((Tier(Decimal(10000), Decimal("1.5")), Tier(None, Decimal(1)))),
        Volume((Tier(Decimal(10000), Decimal("1.4")), Tier(None, Decimal("0.9")))),
    ),
    seat_pricing=SeatPricing(Decimal(60), USD),
    seat_credits=SeatCreditPolicy(
        "best-credits", AI, Decimal(2000), CreditAllocation.HYBRID, pool_per_seat=Decimal(1000)
    ),
    fixed_fees=(FixedFee("platform"),),
    rank=3,
)
PACKAGES = (GOOD, BETTER, BEST)


@dataclass(frozen=True, slots=True)
class Family:
    """Contracts drafted together: one contract, or a parent with its children."""

    contracts: tuple[Contract, ...]
    hierarchy: Hierarchy
    weights: tuple[float, ...]


def _instant(rnd: random.Random) -> datetime:
    return START + timedelta(seconds=rnd.randrange(31 * 86_400))


def _contract(index: int, rnd: random.Random, terms: Terms, parent: str | None) -> Contract:
    """One contract with seats, seat changes and grants, all drawn from ``rnd``."""
    contract_id = f"con-{index:05d}"
    seats = rnd.randint(2, 20)
    holders = tuple(f"u{n}" for n in range(seats - rnd.randint(0, 1)))
    sub = SeatSubscription(
        f"sub-{index:05d}", contract_id, "seat", SubscriptionMode.SEAT_BASED, START, SeatState(seats, holders)
    )
    added = _instant(rnd) if rnd.random() < 0.3 else None
    removed = _instant(rnd) if rnd.random() < 0.1 and holders else None
    for at, adds in sorted((at, adds) for at, adds in ((added, True), (removed, False)) if at is not None):
        sub = sub.add_seat_ids(at, f"u{seats}") if adds else sub.remove_seat_ids(at, holders[-1])
    grants: list[Grant] = []
    if rnd.random() < 0.3:
        grants.append(
            Grant(
                f"{contract_id}/commit",
                contract_id,
                GrantKind.COMMIT,
                AI,
                Decimal(10_000),
                _instant(rnd),
                priority=50,
                source=GrantSource.PURCHASE,
            )
        )
    if rnd.random() < 0.2:
        grants.append(
            Grant(f"{contract_id}/promo", contract_id, GrantKind.CREDIT, USD, Decimal(50), START, utc(2026, 1, 16))
        )
    if parent is None and index % FAMILY_EVERY == 0:
        grants.append(
            Grant(
                f"{contract_id}/shared",
                contract_id,
                GrantKind.COMMIT,
                AI,
                Decimal(50_000),
                START,
                scope=GrantScope.SHARED,
                child_access=ChildAccess.ALL,
                source=GrantSource.PURCHASE,
            )
        )
    return Contract(
        id=contract_id,
        customer_id=f"cus-{index:05d}",
        currency=USD.currency,
        starting_at=START,
        terms=terms,
        products=PRODUCTS,
        metrics=(TOKENS, REQUESTS),
        seats=sub,
        grants=tuple(grants),
        seat_key="user_id",
    )


def generate_families(contracts: int, seed: int) -> list[Family]:
    """The month's contracts, grouped into families; each contract gets a usage weight (its share of events)."""
    rnd = random.Random(seed)
    families: list[Family] = []
    index = 0
    while index < contracts:
        if index % FAMILY_EVERY == 0 and contracts - index >= 4:
            parent = _contract(index, rnd, BEST, None)
            children = tuple(_contract(index + n, rnd, rnd.choice((GOOD, BETTER)), parent.id) for n in (1, 2, 3))
            relations = tuple(
                ChildContract(child.id, parent.id, rnd.choice((Payer.SELF, Payer.PARENT))) for child in children
            )
            caps = tuple(
                BudgetCap(
                    child.id,
                    AI,
                    Decimal(rnd.choice((2_000, 5_000, 10_000))),
                    START,
                    behaviour=rnd.choice((CapBehaviour.OVERAGE, CapBehaviour.BLOCK)),
                )
                for child in children
            )
            members = (parent, *children)
            families.append(Family(members, Hierarchy(relations, caps), tuple(_weight(rnd, c) for c in members)))
            index += 4
        else:
            contract = _contract(index, rnd, rnd.choice(PACKAGES), None)
            families.append(Family((contract,), NO_HIERARCHY, (_weight(rnd, contract),)))
            index += 1
    return families


def _weight(rnd: random.Random, contract: Contract) -> float:
    """How busy a contract is: its seats times a heavy-tailed intensity."""
    seats = contract.seats.initial.quantity if contract.seats is not None else 1
    return seats * rnd.lognormvariate(0, 0.6)


def generate_events(contract: Contract, count: int, seed: int) -> list[UsageEvent]:
    """``count`` usage events of one customer over the month, in time order, deterministic for the seed.

    Users are the seat holders plus, rarely, someone without a seat or no
    user at all; one event in 2,000 carries an unusable token count.
    """
    rnd = random.Random(f"{seed}/{contract.id}")
    holders = list(contract.seats.initial.seat_ids) if contract.seats is not None else []
    users = [*holders, "guest"] if holders else ["guest"]
    customer = contract.customer_id
    seconds = sorted(rnd.randrange(31 * 86_400) for _ in range(count))
    events = []
    for n, second in enumerate(seconds):
        tokens = str(int(rnd.paretovariate(1.6) * 400)) if rnd.random() >= 0.0005 else "lots"
        props = {"tokens": tokens, "model": MODELS[rnd.randrange(3)]}
        if rnd.random() >= 0.01:
            props["user_id"] = users[rnd.randrange(len(users))]
        events.append(UsageEvent(f"{contract.id}-{n}", customer, "ai_call", START + timedelta(seconds=second), props))
    return events


def _split_events(total: int, families: Sequence[Family]) -> list[list[int]]:
    """Share ``total`` events among contracts in proportion to their weights (largest remainder)."""
    weights = [w for family in families for w in family.weights]
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[: total - sum(counts)]:
        counts[i] += 1
    result, position = [], 0
    for family in families:
        result.append(counts[position : position + len(family.contracts)])
        position += len(family.contracts)
    return result


@dataclass(frozen=True, slots=True)
class RatingReport:
    """What the benchmark measured; amounts in minor units (cents)."""

    contracts: int
    families: int
    events_generated: int
    events_counted: int
    events_rejected: int
    rating_seconds: float
    invoices_from_events: int
    due_from_events_minor: int
    rollups: int
    drafts: int
    drafting_seconds: float
    due_from_rollups_minor: int
    peak_memory_mib: float

    @property
    def events_per_second(self) -> float:
        """Events aggregated and rated per second."""
        return self.events_generated / self.rating_seconds if self.rating_seconds else 0.0

    @property
    def drafts_per_second(self) -> float:
        """Invoice drafts per second from rollups."""
        return self.drafts / self.drafting_seconds if self.drafting_seconds else 0.0

    @property
    def consistent(self) -> bool:
        """True when every event was counted (requests count all of them) and both paths billed the same."""
        return (
            self.events_counted == self.events_generated and self.due_from_events_minor == self.due_from_rollups_minor
        )

    def lines(self) -> Iterator[str]:
        """The report as text."""
        yield f"contracts            {self.contracts:>12,} in {self.families:,} families"
        yield f"events generated     {self.events_generated:>12,}"
        yield f"events counted       {self.events_counted:>12,} ({self.events_rejected:,} token counts rejected)"
        yield (
            f"aggregated and rated {self.events_per_second:>12,.0f} events/s "
            f"({self.rating_seconds:.2f} s for {self.invoices_from_events:,} invoices)"
        )
        yield f"hourly rollups       {self.rollups:>12,}"
        yield (
            f"drafts from rollups  {self.drafts_per_second:>12,.0f} invoices/s "
            f"({self.drafts:,} drafts in {self.drafting_seconds:.2f} s)"
        )
        yield f"total due            {self.due_from_events_minor / 100:>15,.2f} USD from events"
        yield f"                     {self.due_from_rollups_minor / 100:>15,.2f} USD from rollups"
        yield f"peak memory          {self.peak_memory_mib:>12,.0f} MiB"
        yield f"consistent           {'yes' if self.consistent else 'NO'}"


def measure(contracts: int, events: int, drafts: int, seed: int) -> RatingReport:
    """Generate the month, rate it from raw events, then draft it repeatedly from rollups."""
    families = generate_families(contracts, seed)
    counts = _split_events(events, families)
    rollups: list[dict[str, UsageSource]] = []
    rating_seconds = 0.0
    generated = counted = rejected = invoices = due_events = rollup_count = 0
    clock = time.perf_counter
    for family, family_counts in zip(families, counts, strict=True):
        raw: dict[str, UsageSource] = {}
        for contract, count in zip(family.contracts, family_counts, strict=True):
            raw[contract.id] = RawUsage(tuple(generate_events(contract, count, seed)))
            generated += count
        gc.freeze()  # the generated inputs live long: keep the collector from rescanning them
        started = clock()
        run = draft_invoices(family.contracts, MONTH, raw, as_of=MONTH.end, hierarchy=family.hierarchy)
        rating_seconds += clock() - started
        invoices += len(run.invoices)
        rejected += len(run.rejected)
        due_events += sum(i.total_due_minor for i in run.invoices)
        counted += sum(int(line.quantity) for i in run.invoices for line in i.lines if line.product_id == "requests")
        bucketed: dict[str, UsageSource] = {}
        for contract in family.contracts:
            usage = raw[contract.id]
            assert isinstance(usage, RawUsage)
            folded = fold_events((TOKENS, REQUESTS), usage.events).buckets(contract.customer_id)
            rollup_count += sum(len(b) for b in folded.values())
            bucketed[contract.id] = BucketedUsage(folded)
        rollups.append(bucketed)
        del raw
    gc.collect()
    gc.freeze()
    drafted = due_rollups = passes = 0
    drafting_seconds = 0.0
    while drafted < drafts or passes == 0:
        for family, usage in zip(families, rollups, strict=True):
            if passes and drafted >= drafts:
                break
            started = clock()
            run = draft_invoices(family.contracts, MONTH, usage, as_of=MONTH.end, hierarchy=family.hierarchy)
            drafting_seconds += clock() - started
            drafted += len(run.invoices)
            if passes == 0:
                due_rollups += sum(i.total_due_minor for i in run.invoices)
        passes += 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return RatingReport(
        contracts=sum(len(f.contracts) for f in families),
        families=len(families),
        events_generated=generated,
        events_counted=counted,
        events_rejected=rejected,
        rating_seconds=rating_seconds,
        invoices_from_events=invoices,
        due_from_events_minor=due_events,
        rollups=rollup_count,
        drafts=drafted,
        drafting_seconds=drafting_seconds,
        due_from_rollups_minor=due_rollups,
        peak_memory_mib=peak,
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with the command line's sizes and print the report (exit 1 if inconsistent)."""
    report = measure(args.contracts, args.events, args.drafts, args.seed)
    for line in report.lines():
        print(line)
    sys.stdout.flush()
    return 0 if report.consistent else 1
