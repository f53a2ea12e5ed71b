"""``portal bench rating``: how fast the rating engine turns a month of usage into invoices, in process.

It generates a month deterministically from a seed: 1,000 contracts by
default on three packages (good: a pooled seat credit; better: a credit for
each seat; best: both, plus a platform fee), with 1,000,000 usage events
(AI calls: tokens per user and model, and requests per user). Two mixes:

* **realistic** (the default): a typical month, where a minority of
  contracts carry a complication. Packages good:better:best 50:35:15 (most
  customers on the entry package); 2 to 20 seats, mostly small teams (a
  triangular draw peaking at 4: median 8, mean 8.7), one contract in two
  with an unassigned seat; a seat added during the month on 8% of
  contracts and removed on 3% (seat churn of a few percent of accounts a
  month); a prepaid commit on 20%, a tenth of them bought during the month
  (the rest earlier, so they do not cut the month); a promotional credit
  expiring mid-month on 3%; no catalog price change (one in a month is
  rare), but a negotiated discount from a random instant on 2% and an
  upgrade to the next package mid-month on 2%; one parent with three
  children (shared commit, budget caps, some billed to the parent) every
  50 contracts, so 8% of contracts are in a family; calls use the fast,
  smart and vision models 60:30:10.
* **worst case** (``--mix worst-case``): the previous benchmark's month,
  unchanged (the same seed gives the same month): packages and seat counts
  drawn evenly, a seat added on 30% of contracts and removed on 10%, a
  commit bought mid-month on 30%, an expiring promotion on 20%, the AI price
  changing mid-month for every contract, 12% of contracts in families and
  the models used evenly.

Each event comes from one of the seat holders or a guest without a seat
(all equally likely) or, 1% of the time, from no user; one in 2,000
carries an unusable token count. Events are generated customer by customer
and rated as soon as they exist.

It reports three figures, on one core:

* **events/s aggregated and rated**: raw events to draft invoices (metric
  aggregation, pricing, seats, burn-down, invoice lines), timed without
  generating the events;
* **drafts/s from aggregated usage**: the invoices drafted again and again
  from usage already aggregated over each draft's windows
  (:func:`portal.domain.invoicing.aggregated_usage` over the hourly
  rollups: what a service keeps per contract and period until usage,
  grants or terms change), so rating, seats, burn-down and invoice lines,
  never aggregation;
* **drafts/s from hourly rollups**: the same drafts from the hourly rollups
  the portal stores (aggregation included);

plus the process's peak memory, and checks that the three paths bill the
same and that every generated event was counted. Drafts recompute
everything that depends on usage: from one draft of a contract to the next
the engine keeps only what depends on the packages alone (their rate
segments), the text of recurring instants, and each contract's standing
part for the period (seat and fixed-fee lines, period grants, how its usage
is rated), as a service drafting a contract again whenever usage arrives
would; usage rating, burn-down and invoice lines are redone. The generated
inputs are frozen out of the cyclic garbage collector's sight
(``gc.freeze``, as a long-running server does with long-lived data), so
the figures time rating, not the collector rescanning the benchmark's own
data; rating's allocations are collected as usual.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from portal.domain.contracts import Contract, FixedFee, Terms
from portal.domain.grants import ChildAccess, Grant, GrantKind, GrantScope, GrantSource
from portal.domain.hierarchy import NO_HIERARCHY, BudgetCap, CapBehaviour, ChildContract, Hierarchy, Payer
from portal.domain.invoicing import aggregated_usage, draft_invoices
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
    Override,
    Package,
    PriceModel,
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


AI_PRICES: tuple[tuple[PriceModel, PriceModel], ...] = (
    (Flat(Decimal(2)), Flat(Decimal("1.8"))),
    (
        Tiered((Tier(Decimal(5000), Decimal(2)), Tier(None, Decimal("1.5")))),
        Tiered((Tier(Decimal(5000), Decimal("1.8")), Tier(None, Decimal("1.4")))),
    ),
    (
        Volume((Tier(Decimal(10000), Decimal("1.5")), Tier(None, Decimal(1)))),
        Volume((Tier(Decimal(10000), Decimal("1.4")), Tier(None, Decimal("0.9")))),
    ),
)
"""The AI price (per 1,000 tokens, in AI credits) of good, better and best: before and after the price change."""


def _card(name: str, ai: tuple[PriceModel, PriceModel], price_change: bool) -> RateCard:
    before, after = ai
    since = START - timedelta(days=365)
    ai_rates = (Rate("ai", since, PRICE_CHANGE, before, AI), Rate("ai", PRICE_CHANGE, None, after, AI))
    return RateCard(
        name,
        name,
        (
            *(ai_rates if price_change else (Rate("ai", since, None, before, AI),)),
            Rate("requests", since, None, Package(Decimal(1000), Decimal("0.50")), USD),
            Rate("platform", since, None, Flat(Decimal(500)), USD),
        ),
    )


def packages(price_change: bool) -> tuple[Terms, Terms, Terms]:
    """Good (pooled seat credits), better (a credit for each seat) and best (both, plus a platform fee)."""
    good, better, best = (
        _card(name, ai, price_change) for name, ai in zip(("good", "better", "best"), AI_PRICES, strict=True)
    )
    return (
        Terms(
            "good",
            good,
            seat_pricing=SeatPricing(Decimal(20), USD),
            seat_credits=SeatCreditPolicy("good-credits", AI, Decimal(1000)),
            rank=1,
        ),
        Terms(
            "better",
            better,
            seat_pricing=SeatPricing(Decimal(40), USD),
            seat_credits=SeatCreditPolicy("better-credits", AI, Decimal(2000), CreditAllocation.INDIVIDUAL),
            rank=2,
        ),
        Terms(
            "best",
            best,
            seat_pricing=SeatPricing(Decimal(60), USD),
            seat_credits=SeatCreditPolicy(
                "best-credits", AI, Decimal(2000), CreditAllocation.HYBRID, pool_per_seat=Decimal(1000)
            ),
            fixed_fees=(FixedFee("platform"),),
            rank=3,
        ),
    )


@dataclass(frozen=True, slots=True)
class Mix:
    """What a generated month holds: shares of contracts (0 to 1) with each complication.

    ``packages`` weighs good, better and best (None: an even draw); seats
    are 2 to 20 per contract, drawn evenly (``seats_mode`` None) or from a
    triangular distribution peaking at ``seats_mode``; ``models`` weighs
    the fast, smart and vision models in events (None: an even draw).
    """

    name: str
    packages: tuple[int, int, int] | None
    seats_mode: int | None
    seat_added: float
    seat_removed: float
    commit: float
    commit_mid_month: float
    promo: float
    catalog_price_change: bool
    discount: float
    upgrade: float
    family_every: int
    models: tuple[int, int, int] | None

    def describe(self) -> Iterator[str]:
        """The mix in words, one line each."""
        packages = "even" if self.packages is None else ":".join(str(w) for w in self.packages)
        seats = "even draw" if self.seats_mode is None else f"mostly about {self.seats_mode}"
        models = "even" if self.models is None else ":".join(str(w) for w in self.models)
        price = (
            "the catalog's AI price changes mid-month for every contract"
            if self.catalog_price_change
            else ("no catalog price change")
        )
        yield f"packages good:better:best {packages}; 2-20 seats ({seats}), one contract in two with an unassigned seat"
        yield f"a seat added mid-month {self.seat_added:.0%}, removed {self.seat_removed:.0%}"
        yield (
            f"prepaid commit {self.commit:.0%} ({self.commit_mid_month:.0%} of them bought mid-month), "
            f"promotional credit expiring mid-month {self.promo:.0%}"
        )
        yield f"{price}; negotiated discount from mid-month {self.discount:.0%}; upgrade mid-month {self.upgrade:.0%}"
        yield (
            f"families: one parent with 3 children every {self.family_every} contracts "
            f"({4 / self.family_every:.0%} of contracts); models fast:smart:vision {models}"
        )


REALISTIC = Mix(
    name="realistic",
    packages=(50, 35, 15),
    seats_mode=4,
    seat_added=0.08,
    seat_removed=0.03,
    commit=0.2,
    commit_mid_month=0.1,
    promo=0.03,
    catalog_price_change=False,
    discount=0.02,
    upgrade=0.02,
    family_every=50,
    models=(60, 30, 10),
)
"""A typical month (the default): see the module docstring for why these shares."""

WORST_CASE = Mix(
    name="worst case",
    packages=None,
    seats_mode=None,
    seat_added=0.3,
    seat_removed=0.1,
    commit=0.3,
    commit_mid_month=1.0,
    promo=0.2,
    catalog_price_change=True,
    discount=0.0,
    upgrade=0.0,
    family_every=25,
    models=None,
)
"""The previous benchmark's month, unchanged (the same seed gives the same month): every complication, often."""


@dataclass(frozen=True, slots=True)
class Family:
    """Contracts drafted together: one contract, or a parent with its children."""

    contracts: tuple[Contract, ...]
    hierarchy: Hierarchy
    weights: tuple[float, ...]


def _instant(rnd: random.Random) -> datetime:
    return START + timedelta(seconds=rnd.randrange(31 * 86_400))


def _chance(rnd: random.Random, share: float) -> bool:
    """True with probability ``share``; draws nothing when the share is 0 or 1 (so adding a share to a mix
    whose value is 0 leaves the months it generates unchanged)."""
    if share <= 0 or share >= 1:
        return share >= 1
    return rnd.random() < share


def _package(rnd: random.Random, mix: Mix, catalog: tuple[Terms, ...]) -> Terms:
    if mix.packages is None:
        return rnd.choice(catalog)
    return rnd.choices(catalog, mix.packages)[0]


def _contract(
    index: int, rnd: random.Random, terms: Terms, parent: str | None, mix: Mix, catalog: tuple[Terms, ...]
) -> Contract:
    """One contract on ``terms`` (one of ``catalog``) with seats, seat changes and grants, drawn from ``rnd``."""
    contract_id = f"con-{index:05d}"
    seats = rnd.randint(2, 20) if mix.seats_mode is None else round(rnd.triangular(2, 20, mix.seats_mode))
    holders = tuple(f"u{n}" for n in range(seats - rnd.randint(0, 1)))
    sub = SeatSubscription(
        f"sub-{index:05d}", contract_id, "seat", SubscriptionMode.SEAT_BASED, START, SeatState(seats, holders)
    )
    added = _instant(rnd) if _chance(rnd, mix.seat_added) else None
    removed = _instant(rnd) if _chance(rnd, mix.seat_removed) and holders else None
    for at, adds in sorted((at, adds) for at, adds in ((added, True), (removed, False)) if at is not None):
        sub = sub.add_seat_ids(at, f"u{seats}") if adds else sub.remove_seat_ids(at, holders[-1])
    grants: list[Grant] = []
    if _chance(rnd, mix.commit):
        bought = _instant(rnd) if _chance(rnd, mix.commit_mid_month) else START - timedelta(days=rnd.randrange(1, 300))
        grants.append(
            Grant(
                f"{contract_id}/commit",
                contract_id,
                GrantKind.COMMIT,
                AI,
                Decimal(10_000),
                bought,
                priority=50,
                source=GrantSource.PURCHASE,
            )
        )
    if _chance(rnd, mix.promo):
        grants.append(
            Grant(f"{contract_id}/promo", contract_id, GrantKind.CREDIT, USD, Decimal(50), START, utc(2026, 1, 16))
        )
    if parent is None and index % mix.family_every == 0:
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
    upgrade = catalog[terms.rank] if terms.rank < len(catalog) else None
    if _chance(rnd, mix.discount):
        discount = Override.multiply("ai", _instant(rnd), None, "0.9")
        terms = replace(terms, name=f"{terms.name}/{contract_id}", overrides=(discount,))
    contract = Contract(
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
    if upgrade is not None and _chance(rnd, mix.upgrade):
        contract = contract.with_terms_from(_instant(rnd), upgrade)
    return contract


def generate_families(contracts: int, seed: int, mix: Mix = REALISTIC) -> list[Family]:
    """The month's contracts, grouped into families; each contract gets a usage weight (its share of events)."""
    rnd = random.Random(seed)
    catalog = packages(mix.catalog_price_change)
    good, better, best = catalog
    families: list[Family] = []
    index = 0
    while index < contracts:
        if index % mix.family_every == 0 and contracts - index >= 4:
            parent = _contract(index, rnd, best, None, mix, catalog)
            children = tuple(
                _contract(index + n, rnd, rnd.choice((good, better)), parent.id, mix, catalog) for n in (1, 2, 3)
            )
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
            contract = _contract(index, rnd, _package(rnd, mix, catalog), None, mix, catalog)
            families.append(Family((contract,), NO_HIERARCHY, (_weight(rnd, contract),)))
            index += 1
    return families


def _weight(rnd: random.Random, contract: Contract) -> float:
    """How busy a contract is: its seats times a heavy-tailed intensity."""
    seats = contract.seats.initial.quantity if contract.seats is not None else 1
    return seats * rnd.lognormvariate(0, 0.6)


def generate_events(contract: Contract, count: int, seed: int, mix: Mix = REALISTIC) -> list[UsageEvent]:
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
        model = MODELS[rnd.randrange(3)] if mix.models is None else rnd.choices(MODELS, mix.models)[0]
        props = {"tokens": tokens, "model": model}
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
    """What the benchmark measured; amounts in minor units (cents).

    ``drafts``/``drafting_seconds`` time drafts from aggregated usage,
    ``rollup_drafts``/``rollup_drafting_seconds`` drafts from hourly rollups.
    """

    mix: Mix
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
    due_from_aggregated_minor: int
    rollup_drafts: int
    rollup_drafting_seconds: float
    due_from_rollups_minor: int
    peak_memory_mib: float

    @property
    def events_per_second(self) -> float:
        """Events aggregated and rated per second."""
        return self.events_generated / self.rating_seconds if self.rating_seconds else 0.0

    @property
    def drafts_per_second(self) -> float:
        """Invoice drafts per second from aggregated usage."""
        return self.drafts / self.drafting_seconds if self.drafting_seconds else 0.0

    @property
    def rollup_drafts_per_second(self) -> float:
        """Invoice drafts per second from hourly rollups."""
        return self.rollup_drafts / self.rollup_drafting_seconds if self.rollup_drafting_seconds else 0.0

    @property
    def consistent(self) -> bool:
        """True when every event was counted (requests count all of them) and the three paths billed the same."""
        return self.events_counted == self.events_generated and (
            self.due_from_events_minor == self.due_from_aggregated_minor == self.due_from_rollups_minor
        )

    def lines(self) -> Iterator[str]:
        """The report as text."""
        yield f"month                {self.mix.name}"
        for line in self.mix.describe():
            yield f"                     {line}"
        yield f"contracts            {self.contracts:>12,} in {self.families:,} families"
        yield f"events generated     {self.events_generated:>12,}"
        yield f"events counted       {self.events_counted:>12,} ({self.events_rejected:,} token counts rejected)"
        yield (
            f"aggregated and rated {self.events_per_second:>12,.0f} events/s "
            f"({self.rating_seconds:.2f} s for {self.invoices_from_events:,} invoices)"
        )
        yield f"hourly rollups       {self.rollups:>12,}"
        yield (
            f"drafts from aggregated usage {self.drafts_per_second:>4,.0f} invoices/s "
            f"({self.drafts:,} drafts in {self.drafting_seconds:.2f} s)"
        )
        yield (
            f"drafts from rollups  {self.rollup_drafts_per_second:>12,.0f} invoices/s "
            f"({self.rollup_drafts:,} drafts in {self.rollup_drafting_seconds:.2f} s)"
        )
        yield f"total due            {self.due_from_events_minor / 100:>15,.2f} USD from events"
        yield f"                     {self.due_from_aggregated_minor / 100:>15,.2f} USD from aggregated usage"
        yield f"                     {self.due_from_rollups_minor / 100:>15,.2f} USD from rollups"
        yield f"peak memory          {self.peak_memory_mib:>12,.0f} MiB"
        yield f"consistent           {'yes' if self.consistent else 'NO'}"


def _draft_repeatedly(
    families: Sequence[Family], usage: Sequence[Mapping[str, UsageSource]], drafts: int
) -> tuple[int, float, int]:
    """Draft the families in turn until ``drafts`` invoices (at least one pass): (invoices, seconds, due in the
    first pass)."""
    clock = time.perf_counter
    drafted = due = passes = 0
    seconds = 0.0
    while drafted < drafts or passes == 0:
        for family, family_usage in zip(families, usage, strict=True):
            if passes and drafted >= drafts:
                break
            started = clock()
            run = draft_invoices(family.contracts, MONTH, family_usage, as_of=MONTH.end, hierarchy=family.hierarchy)
            seconds += clock() - started
            drafted += len(run.invoices)
            if passes == 0:
                due += sum(i.total_due_minor for i in run.invoices)
        passes += 1
    return drafted, seconds, due


def measure(contracts: int, events: int, drafts: int, seed: int, mix: Mix = REALISTIC) -> RatingReport:
    """Generate the month, rate it from raw events, then draft it repeatedly from aggregated usage and from rollups."""
    families = generate_families(contracts, seed, mix)
    counts = _split_events(events, families)
    rollups: list[dict[str, UsageSource]] = []
    aggregated: list[dict[str, UsageSource]] = []
    rating_seconds = 0.0
    generated = counted = rejected = invoices = due_events = rollup_count = 0
    clock = time.perf_counter
    for family, family_counts in zip(families, counts, strict=True):
        raw: dict[str, UsageSource] = {}
        for contract, count in zip(family.contracts, family_counts, strict=True):
            raw[contract.id] = RawUsage(tuple(generate_events(contract, count, seed, mix)))
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
        aggregated.append(dict(aggregated_usage(family.contracts, MONTH, bucketed, hierarchy=family.hierarchy)))
        del raw
    gc.collect()
    gc.freeze()
    drafted, drafting_seconds, due_aggregated = _draft_repeatedly(families, aggregated, drafts)
    from_rollups, rollup_seconds, due_rollups = _draft_repeatedly(families, rollups, drafts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return RatingReport(
        mix=mix,
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
        due_from_aggregated_minor=due_aggregated,
        rollup_drafts=from_rollups,
        rollup_drafting_seconds=rollup_seconds,
        due_from_rollups_minor=due_rollups,
        peak_memory_mib=peak,
    )


MIXES = {"realistic": REALISTIC, "worst-case": WORST_CASE}
"""The months ``--mix`` chooses from."""


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with the command line's sizes and month, and print the report (exit 1 if inconsistent)."""
    mix = MIXES.get(args.mix)
    if mix is None:
        print(f"Unknown month {args.mix!r}: use {' or '.join(MIXES)}.", file=sys.stderr)
        return 2
    report = measure(args.contracts, args.events, args.drafts, args.seed, mix)
    for line in report.lines():
        print(line)
    sys.stdout.flush()
    return 0 if report.consistent else 1
