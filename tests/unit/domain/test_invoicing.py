"""Invoice drafts, expected minus billed, balances and previews, with hand-computed figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from portal.domain.contracts import Contract, FixedFee, IncludedGrant, Terms
from portal.domain.errors import InvalidChange, InvalidContract, InvalidInvoice, InvalidWindows
from portal.domain.grants import Grant, GrantKind, GrantScope
from portal.domain.hierarchy import BudgetCap, CapBehaviour, ChildContract, Hierarchy, Payer
from portal.domain.invoicing import (
    Invoice,
    InvoiceLine,
    InvoiceRun,
    InvoiceStatus,
    LineKind,
    PackageMigration,
    SeatCountChange,
    TierSwitch,
    Timing,
    aggregated_usage,
    balances,
    draft_invoices,
    finalize,
    preview,
)
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.metrics import Aggregation, BillableMetric, RawUsage, UsageEvent
from portal.domain.money import Money, currency, custom_credit, fiat
from portal.domain.periods import Period, utc
from portal.domain.pricing import Flat, Product, ProductKind, Rate, RateCard
from portal.domain.seats import (
    CreditAllocation,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
)

D = Decimal
USD = fiat("USD")
JPY = fiat("JPY")
AI = custom_credit("ai", "AI credits", "USD", "0.01")
JAN_1 = utc(2026, 1, 1)
FEB_1 = utc(2026, 2, 1)
JANUARY = Period(JAN_1, FEB_1)  # 31 days
CREDITS = BillableMetric("credits", "AI credits", "ai_call", Aggregation.SUM, "credits", group_keys=("user_id",))
AI_USAGE = Product("ai", "AI usage", ProductKind.USAGE, metric_id="credits")
SEAT = Product("seat", "Seat", ProductKind.SUBSCRIPTION)
PLATFORM = Product("platform", "Platform fee", ProductKind.FIXED)
CARD = RateCard(
    "team",
    "Team",
    (Rate("ai", JAN_1, None, Flat(D(1)), AI), Rate("platform", JAN_1, None, Flat(D(100)), USD)),
)


def terms(
    price: int = 40,
    allowance: int = 2000,
    allocation: CreditAllocation = CreditAllocation.POOLED,
    rank: int = 2,
    **fields: Any,
) -> Terms:
    """$``price`` a seat and ``allowance`` AI credits a seat a month (at $0.01 a credit)."""
    policy = SeatCreditPolicy(f"credits-{rank}", AI, D(allowance), allocation)
    return Terms(
        f"tier-{rank}", CARD, seat_pricing=SeatPricing(D(price), USD), seat_credits=policy, rank=rank, **fields
    )


TEAM = terms()


def contract(*holders: str, quantity: int | None = None, contract_id: str = "c1", **fields: Any) -> Contract:
    """A monthly contract from 1 January 2026 with seats held by ``holders`` (plus unassigned ones)."""
    seats = SeatSubscription(
        f"sub-{contract_id}",
        contract_id,
        "seat",
        SubscriptionMode.SEAT_BASED,
        fields.pop("seats_from", JAN_1),
        SeatState(len(holders) if quantity is None else quantity, holders),
    )
    values: dict[str, Any] = {
        "id": contract_id,
        "customer_id": f"cus-{contract_id}",
        "currency": currency("USD"),
        "starting_at": JAN_1,
        "terms": TEAM,
        "products": (AI_USAGE, SEAT, PLATFORM),
        "metrics": (CREDITS,),
        "seats": seats,
        "seat_key": "user_id",
    }
    values.update(fields)
    return Contract(**values)


def usage_only(contract_id: str = "c1", **fields: Any) -> Contract:
    """A contract without seats: AI usage at 1 credit a credit, $0.01 a credit."""
    values: dict[str, Any] = {"terms": Terms("usage", CARD), "seats": None, "products": (AI_USAGE,)}
    values.update(fields)
    return contract(contract_id=contract_id, **values)


def use(txn: str, at: datetime, credits: int | str, user: str | None = "ann") -> UsageEvent:
    props = {"credits": str(credits)}
    if user is not None:
        props["user_id"] = user
    return UsageEvent(txn, "any", "ai_call", at, props)


def draft(
    contracts: Sequence[Contract],
    events: dict[str, list[UsageEvent]] | None = None,
    *,
    period: Period = JANUARY,
    as_of: datetime | None = None,
    **kwargs: Any,
) -> InvoiceRun:
    usage = {cid: RawUsage(tuple(evs)) for cid, evs in (events or {}).items()}
    return draft_invoices(contracts, period, usage, as_of=as_of or period.end, **kwargs)


def line(invoice: Invoice, kind: LineKind, contract_id: str | None = None) -> InvoiceLine:
    (found,) = [ln for ln in invoice.lines if ln.kind is kind and contract_id in (None, ln.contract_id)]
    return found


def figures(ln: InvoiceLine) -> tuple[int, int, int, int]:
    """(amount, grants, blocked, due) in cents."""
    return (ln.amount_minor, ln.grants_minor, ln.blocked_minor, ln.due_minor)


# --- a monthly seat-based contract ---------------------------------------------------------------


def test_seats_in_advance_and_pooled_credits_then_overage_billed_in_dollars() -> None:
    c = contract("ann", "bob", "cat")
    events = [
        use("a", utc(2026, 1, 5), 3000),
        use("b", utc(2026, 1, 9), 2500, "bob"),
        use("c", utc(2026, 1, 20), 1500, "cat"),
    ]
    invoice = draft([c], {"c1": events}).invoice("c1")
    seats = line(invoice, LineKind.SEATS)
    # 3 seats × $40 = $120, in advance, nothing draws on it (the credits are AI credits, not dollars).
    assert (seats.timing, seats.quantity, seats.unit_price, figures(seats)) == (
        Timing.IN_ADVANCE,
        D(3),
        D(40),
        (12000, 0, 0, 12000),
    )
    usage = line(invoice, LineKind.USAGE)
    # 3,000 + 2,500 + 1,500 = 7,000 credits = $70 at $0.01. The pool holds 3 × 2,000 = 6,000 credits ($60);
    # the other 1,000 credits are overage: 1,000 × $0.01 = $10.
    assert (usage.timing, usage.quantity, usage.units, usage.overage_units) == (
        Timing.IN_ARREARS,
        D(7000),
        D(7000),
        D(1000),
    )
    assert figures(usage) == (7000, 6000, 0, 1000)
    (pool,) = usage.grants
    assert (pool.grant_id, pool.units, pool.amount_minor) == ("credits-2/sub-c1/2026-01-01T00:00:00Z/pool", 6000, 6000)
    # Per seat: charges are drawn in order of charge id (ann, bob, cat), so cat's usage found the pool empty.
    assert [(g.group, g.amount_minor, g.grants_minor, g.due_minor) for g in usage.groups] == [
        ((("user_id", "ann"),), 3000, 3000, 0),
        ((("user_id", "bob"),), 2500, 2500, 0),
        ((("user_id", "cat"),), 1500, 500, 1000),
    ]
    # Totals: subtotal $120 + $70 = $190; grants applied $60; due $120 + $10 = $130.
    assert (invoice.subtotal, invoice.grants_applied, invoice.total_due) == (
        Money.of("190", "USD"),
        Money.of("60", "USD"),
        Money.of("130", "USD"),
    )
    assert (invoice.due_now_minor, invoice.due_in_arrears_minor, invoice.status) == (12000, 1000, InvoiceStatus.DRAFT)
    assert invoice.grant_totals() == (("credits-2/sub-c1/2026-01-01T00:00:00Z/pool", 6000),)


def test_a_seat_added_on_the_last_day_of_the_period() -> None:
    c = contract("ann", "bob", "cat")
    c = c.with_seats(c.seats.add_seat_ids(utc(2026, 1, 31), "dan"))  # type: ignore[union-attr]
    run = draft([c], {"c1": [use("d", utc(2026, 1, 31, 12), 50, "dan")]})
    invoice = run.invoice("c1")
    advance, added = [ln for ln in invoice.lines if ln.kind is LineKind.SEATS]
    # In advance 3 × $40 = $120; dan's seat for 1 of 31 days: $40 / 31 = $1.2903… → $1.29.
    assert (advance.due_minor, added.due_minor, added.quantity) == (12000, 129, D(1))
    assert added.period == Period(utc(2026, 1, 31), FEB_1)
    # The extra seat earns 2,000 × 1/31 = 64.5… → 65 AI credits (whole credits), usable from 31 January.
    top_up = next(g for g in run.grants if g.id.endswith("pool@2026-01-31T00:00:00Z"))
    assert (top_up.amount, top_up.starting_at) == (D(65), utc(2026, 1, 31))
    # dan's 50 credits are covered: total due $120 + $1.29.
    assert invoice.total_due_minor == 12129


def test_a_credit_expiring_mid_period_pays_only_for_usage_before_it() -> None:
    promo = Grant("promo", "c1", GrantKind.CREDIT, AI, D(1000), JAN_1, utc(2026, 1, 16, 10, 20))
    c = usage_only(grants=(promo,))
    events = [
        use("a", utc(2026, 1, 10), 800),
        use("b", utc(2026, 1, 16, 10, 40), 100),  # in the hour that starts at 10:00, before the expiry: covered
        use("c", utc(2026, 1, 20), 600),
    ]
    run = draft([c], {"c1": events})
    usage = line(run.invoice("c1"), LineKind.USAGE)
    # 900 credits before the expiry are covered ($9); 600 after it are overage: $6.
    assert figures(usage) == (1500, 900, 0, 600)
    # The 100 credits left expire at the grant's expiry.
    (expiry,) = [e for e in run.ledger_entries if e.kind is EntryKind.EXPIRY]
    assert (expiry.grant_id, expiry.at, expiry.amount) == ("promo", utc(2026, 1, 16, 10, 20), D(-100))


def test_a_seats_usage_in_two_windows_is_one_group_on_the_line() -> None:
    promo = Grant("promo", "c1", GrantKind.CREDIT, AI, D(1000), JAN_1, utc(2026, 1, 16))
    c = usage_only(grants=(promo,))
    events = [
        use("a", utc(2026, 1, 10), 700),
        use("b", utc(2026, 1, 12), 200, "bob"),
        use("c", utc(2026, 1, 20), 500),  # after the promo ended: a second window
        use("d", utc(2026, 1, 21), 50, "bob"),
    ]
    usage = line(draft([c], {"c1": events}).invoice("c1"), LineKind.USAGE)
    # Before the 16th ann's 700 and bob's 200 are covered by the promo ($9); after it, ann's 500 and bob's 50 are
    # overage ($5.50). Per seat over both windows: ann $12 of which $7 covered, bob $2.50 of which $2.
    assert figures(usage) == (1450, 900, 0, 550)
    assert [(g.group, g.units, g.amount_minor, g.grants_minor, g.due_minor) for g in usage.groups] == [
        ((("user_id", "ann"),), D(1200), 1200, 700, 500),
        ((("user_id", "bob"),), D(250), 250, 200, 50),
    ]


def test_one_charge_split_across_three_grants_with_the_reasons() -> None:
    commit = Grant("commit", "c1", GrantKind.COMMIT, AI, D(5000), JAN_1)
    # Two seats, only ann's assigned: ann gets her own 2,000 credits, the unassigned seat's 2,000 go to the pool.
    c = contract("ann", quantity=2, terms=terms(allocation=CreditAllocation.INDIVIDUAL), grants=(commit,))
    run = draft([c], {"c1": [use("a", utc(2026, 1, 10), 6000)]})
    usage = line(run.invoice("c1"), LineKind.USAGE)
    seat, pool = "credits-2/sub-c1/2026-01-01T00:00:00Z/seat/ann", "credits-2/sub-c1/2026-01-01T00:00:00Z/pool"
    # 6,000 credits: ann's seat grant 2,000 (seat before contract), the pool 2,000 (free credit before paid
    # commit), the commit 2,000: $20 each, nothing due.
    assert [(g.grant_id, g.units, g.amount_minor) for g in usage.grants] == [
        ("commit", 2000, 2000),
        (pool, 2000, 2000),
        (seat, 2000, 2000),
    ]
    assert figures(usage) == (6000, 6000, 0, 0)
    (outcome,) = run.outcomes(usage)
    assert [d.grant_id for d in outcome.deductions] == [seat, pool, "commit"]
    assert outcome.deductions[0].explanation.startswith("#1 of 3 applicable grants: seat grant before contract grant")
    assert "free credit before paid commit (commit)" in outcome.deductions[1].explanation
    assert outcome.deductions[2].explanation.endswith("last in burn-down order")


def test_fixed_fees_are_charged_in_advance_at_the_rate_card_price() -> None:
    c = contract("ann", terms=terms(fixed_fees=(FixedFee("platform"),)))
    fee = line(draft([c]).invoice("c1"), LineKind.FIXED)
    assert (fee.timing, fee.quantity, fee.unit_price, fee.due_minor, fee.description) == (
        Timing.IN_ADVANCE,
        D(1),
        D(100),
        10000,
        "Platform fee",
    )


def test_a_fixed_fee_without_a_rate_is_reported_unbilled() -> None:
    bare = Terms(
        "bare", RateCard("none", "None", ()), seat_pricing=SeatPricing(D(0), USD), fixed_fees=(FixedFee("platform"),)
    )
    invoice = draft([contract("ann", terms=bare)]).invoice("c1")
    (unbilled,) = invoice.unbilled
    assert (unbilled.product_id, "add a rate" in unbilled.reason) == ("platform", True)
    assert all(ln.kind is not LineKind.FIXED for ln in invoice.lines)


# --- hierarchy ------------------------------------------------------------------------------------


def family(payer: Payer, behaviour: CapBehaviour = CapBehaviour.OVERAGE) -> tuple[list[Contract], Hierarchy]:
    """A parent with a shared commit of 10,000 AI credits and one child capped at 3,000 credits a month."""
    shared = Grant("shared", "parent", GrantKind.COMMIT, AI, D(10_000), JAN_1, scope=GrantScope.SHARED)
    parent = usage_only("parent", grants=(shared,))
    child = usage_only("kid")
    hierarchy = Hierarchy(
        (ChildContract("kid", "parent", payer),),
        (BudgetCap("kid", AI, D(3000), JAN_1, behaviour=behaviour),),
    )
    return [parent, child], hierarchy


def test_a_child_past_its_budget_cap_pays_the_overage_itself() -> None:
    contracts, hierarchy = family(Payer.SELF)
    run = draft(contracts, {"kid": [use("k", utc(2026, 1, 10), 5000)]}, hierarchy=hierarchy)
    # 5,000 credits: 3,000 from the parent's shared commit (the cap), 2,000 overage = $20 on the child's invoice.
    assert figures(line(run.invoice("kid"), LineKind.USAGE)) == (5000, 3000, 0, 2000)
    assert run.invoice("parent").is_empty
    statement = run.invoice("parent").statement
    assert statement is not None
    group = statement.group("kid", AI)
    assert group is not None
    assert (group.from_shared_commit, group.overage, group.payer_contract_id) == (D(3000), D(2000), "kid")


def test_a_child_past_its_budget_cap_is_billed_to_the_parent_grouped_by_child() -> None:
    contracts, hierarchy = family(Payer.PARENT)
    run = draft(
        contracts,
        {"kid": [use("k", utc(2026, 1, 10), 5000)], "parent": [use("p", utc(2026, 1, 3), 1000)]},
        hierarchy=hierarchy,
    )
    invoice = run.invoice("parent")
    # The parent's own 1,000 credits and the child's first 3,000 come from the shared commit; the child's
    # other 2,000 are overage on the parent's invoice, under the child.
    assert figures(line(invoice, LineKind.USAGE, "parent")) == (1000, 1000, 0, 0)
    assert figures(line(invoice, LineKind.USAGE, "kid")) == (5000, 3000, 0, 2000)
    assert [contract_id for contract_id, _ in invoice.by_contract()] == ["parent", "kid"]
    assert [i.contract_id for i in run.invoices] == ["parent"]
    assert invoice.total_due == Money.of("20", "USD")


def test_a_blocking_cap_blocks_the_rest_instead_of_billing_it() -> None:
    contracts, hierarchy = family(Payer.SELF, CapBehaviour.BLOCK)
    run = draft(contracts, {"kid": [use("k", utc(2026, 1, 10), 5000)]}, hierarchy=hierarchy)
    invoice = run.invoice("kid")
    # 3,000 drawn, 2,000 blocked ($20 neither drawn nor billed), nothing due.
    assert figures(line(invoice, LineKind.USAGE)) == (5000, 3000, 2000, 0)
    assert (invoice.blocked_minor, invoice.total_due_minor) == (2000, 0)


def test_a_child_must_come_with_its_parent_and_its_calendar() -> None:
    contracts, hierarchy = family(Payer.SELF)
    with pytest.raises(InvalidInvoice, match="without its parent parent: draft a parent together with its children"):
        draft(contracts[1:], hierarchy=hierarchy)
    late = replace(contracts[1], starting_at=utc(2026, 1, 10))
    with pytest.raises(InvalidInvoice, match="children must bill on their parent's calendar"):
        draft([contracts[0], late], hierarchy=hierarchy)


def enterprise(payers: dict[str, Payer], *caps: BudgetCap, pool: int = 10_000) -> tuple[list[Contract], Hierarchy]:
    """root (a shared commit of ``pool`` AI credits for everything under it) -> divisions east and west;
    east -> dept-a; west -> dept-c. Payers SELF unless told otherwise."""
    shared = Grant("pool", "root", GrantKind.COMMIT, AI, D(pool), JAN_1, scope=GrantScope.SHARED)
    relations = (("east", "root"), ("west", "root"), ("dept-a", "east"), ("dept-c", "west"))
    contracts = [usage_only("root", grants=(shared,)), *(usage_only(kid) for kid, _ in relations)]
    children = tuple(ChildContract(kid, parent, payers.get(kid, Payer.SELF)) for kid, parent in relations)
    return contracts, Hierarchy(children, caps)


def test_a_parent_payer_rolls_up_two_levels_to_the_roots_invoice_and_a_self_division_stops_it() -> None:
    payers = {"east": Payer.PARENT, "dept-a": Payer.PARENT, "dept-c": Payer.PARENT}
    contracts, hierarchy = enterprise(payers, pool=9000)
    events = {
        "root": [use("r", utc(2026, 1, 3), 1000)],
        "dept-a": [use("a", utc(2026, 1, 5), 4000)],
        "dept-c": [use("c", utc(2026, 1, 10), 6000)],
        "east": [use("e", utc(2026, 1, 12), 500)],
    }
    run = draft(contracts, events, hierarchy=hierarchy)
    # Each usage line is one charge at the period's start, drawn in charge id order from the root's 9,000 credits:
    # dept-a 4,000 (5,000 left), dept-c 5,000 of its 6,000 (1,000 = $10 overage), east 500 ($5 overage), root
    # 1,000 ($10 overage).
    # dept-a -> east -> root: on the root's invoice; dept-c -> west, which pays for itself: on west's invoice.
    assert [i.contract_id for i in run.invoices] == ["root", "west"]
    root = run.invoice("root")
    assert [c for c, _ in root.by_contract()] == ["root", "dept-a", "east"]
    assert figures(line(root, LineKind.USAGE, "root")) == (1000, 0, 0, 1000)
    assert figures(line(root, LineKind.USAGE, "dept-a")) == (4000, 4000, 0, 0)
    assert figures(line(root, LineKind.USAGE, "east")) == (500, 0, 0, 500)
    west = run.invoice("west")
    assert figures(line(west, LineKind.USAGE, "dept-c")) == (6000, 5000, 0, 1000)
    assert (root.total_due, west.total_due) == (Money.of("15", "USD"), Money.of("10", "USD"))
    # Both payers have children, so both invoices carry a statement; the root's walks the whole tree.
    assert root.statement is not None
    assert west.statement is not None
    assert [(g.contract_id, g.parent_contract_id, g.depth) for g in root.statement.groups] == [
        ("root", None, 0),
        ("east", "root", 1),
        ("dept-a", "east", 2),
        ("dept-c", "west", 2),
    ]
    assert [(g.contract_id, g.depth, g.payer_contract_id) for g in west.statement.groups] == [("dept-c", 1, "west")]


def test_a_hundred_departments_under_three_divisions_draft_in_one_call() -> None:
    divisions = ("div-0", "div-1", "div-2")
    departments = [(f"dept-{n:03d}", divisions[n % 3]) for n in range(100)]
    shared = Grant("pool", "root", GrantKind.COMMIT, AI, D(100_000), JAN_1, scope=GrantScope.SHARED)
    contracts = [usage_only("root", grants=(shared,)), *(usage_only(c) for c in (*divisions, *dict(departments)))]
    relations = [ChildContract(d, "root") for d in divisions]
    relations += [
        ChildContract(c, d, Payer.PARENT if n % 2 == 0 else Payer.SELF) for n, (c, d) in enumerate(departments)
    ]
    caps = tuple(BudgetCap(d, AI, D(20_000), JAN_1) for d in divisions)
    hierarchy = Hierarchy(tuple(relations), caps)
    events = {c: [use(c, utc(2026, 1, 10 + n % 20), 1000)] for n, (c, _) in enumerate(departments)}
    run = draft(contracts, events, hierarchy=hierarchy)
    # 100 departments × 1,000 credits = 100,000 credits ($1,000). div-0 has 34 departments (34,000 credits),
    # div-1 and div-2 33 each; each division (with its departments) may draw 20,000 of the root's commit:
    # 60,000 drawn ($600), 40,000 overage ($400), 40,000 left on the commit.
    # Invoices: the root, the 3 divisions (even departments are on their division's), the 50 odd departments.
    assert len(run.invoices) == 1 + 3 + 50
    assert sum(i.subtotal_minor for i in run.invoices) == 100_000
    assert sum(i.grants_applied_minor for i in run.invoices) == 60_000
    assert sum(i.total_due_minor for i in run.invoices) == 40_000
    assert run.burn_down.balance("pool") == D(40_000)
    for division, count in zip(divisions, (34, 33, 33), strict=True):
        mine = [
            o
            for o in run.burn_down.outcomes
            if hierarchy.root_of(o.charge.contract_id) == "root"
            and division in (o.charge.contract_id, *hierarchy.ancestors_of(o.charge.contract_id))
        ]
        assert len(mine) == count
        assert sum((o.drawn_from_shared for o in mine), D(0)) == D(20_000)
        assert sum((o.overage for o in mine), D(0)) == D(count * 1000 - 20_000)
    statement = run.invoice("root").statement
    assert statement is not None
    assert len(statement.groups) == 100  # one row per department with usage, each two levels down
    assert {(g.depth, g.parent_contract_id in divisions) for g in statement.groups} == {(2, True)}
    (total,) = statement.totals
    assert (total.charged, total.from_shared_commit, total.overage) == (D(100_000), D(60_000), D(40_000))


def test_a_family_is_drafted_as_one_whole_tree_on_one_calendar() -> None:
    contracts, hierarchy = enterprise({})
    by_id = {c.id: c for c in contracts}
    with pytest.raises(InvalidInvoice, match="Child contract dept-a is given without its parent east"):
        draft([by_id[c] for c in ("root", "west", "dept-a", "dept-c")], hierarchy=hierarchy)
    with pytest.raises(InvalidInvoice, match="Contract east is given without its child dept-a"):
        draft([by_id[c] for c in ("root", "east", "west", "dept-c")], hierarchy=hierarchy)
    with pytest.raises(InvalidInvoice, match="Contracts c1, c2 are in different families"):
        draft([usage_only("c1"), usage_only("c2")])
    late = replace(by_id["dept-c"], starting_at=utc(2026, 1, 10))
    with pytest.raises(InvalidInvoice, match="children must bill on their parent's calendar"):
        draft([*(by_id[c] for c in ("root", "east", "west", "dept-a")), late], hierarchy=hierarchy)


# --- money and calendars --------------------------------------------------------------------------


def test_jpy_rounds_to_the_yen_half_up() -> None:
    yen = RateCard("jp", "JP", (Rate("ai", JAN_1, None, Flat(D("0.5")), JPY),))
    jp_terms = Terms("jp", yen, seat_pricing=SeatPricing(D(3100), JPY))
    c = contract("ann", terms=jp_terms, currency=currency("JPY"))
    c = c.with_seats(c.seats.set_quantity(utc(2026, 1, 31), 2))  # type: ignore[union-attr]
    invoice = draft([c], {"c1": [use("a", utc(2026, 1, 5), 3)]}).invoice("c1")
    # ¥3,100 in advance; the second seat for 1 of 31 days: ¥100; 3 units × ¥0.5 = ¥1.5 → ¥2 (half up).
    assert [ln.due_minor for ln in invoice.lines] == [3100, 100, 2]
    assert invoice.total_due.format() == "¥3,202"


def test_a_rate_change_mid_period_applies_from_the_next_whole_hour() -> None:
    change = utc(2026, 1, 15, 10, 20)
    card = RateCard(
        "c",
        "C",
        (
            Rate("ai", JAN_1, change, Flat(D("0.10")), USD),
            Rate("ai", change, None, Flat(D("0.05")), USD),
        ),
    )
    c = usage_only(terms=Terms("dated", card))
    events = [use("a", utc(2026, 1, 15, 10, 40), 100), use("b", utc(2026, 1, 15, 11, 5), 100)]
    lines = draft([c], {"c1": events}).invoice("c1").lines
    # 10:40 is in the hour starting 10:00, rated at the rate in force then: 100 × $0.10 = $10.
    # From 11:00 the new rate: 100 × $0.05 = $5.
    assert [(ln.period.start, ln.quantity, ln.unit_price, ln.due_minor) for ln in lines] == [
        (JAN_1, D(100), D("0.10"), 1000),
        (utc(2026, 1, 15, 11), D(100), D("0.05"), 500),
    ]
    assert lines[0].key != lines[1].key


@pytest.mark.parametrize(
    ("start", "period_index", "label", "added", "price"),
    [
        # Anchored on the 31st: the second period runs from 28 February to 31 March (31 days).
        (utc(2026, 1, 31), 1, "2026-02-28 to 2026-03-31", utc(2026, 3, 30), 31),
        # Anchored on the 30th: February's period ends on its last day, 28 February (29 days from 30 January).
        (utc(2026, 1, 30), 0, "2026-01-30 to 2026-02-28", utc(2026, 2, 27), 29),
        # Anchored on the 29th in a leap year: 29 January to 29 February 2028 (31 days).
        (utc(2028, 1, 29), 0, "2028-01-29 to 2028-02-29", utc(2028, 2, 28), 31),
        # February itself: 28 days.
        (utc(2026, 2, 1), 0, "2026-02-01 to 2026-03-01", utc(2026, 2, 28), 28),
    ],
)
def test_billing_anchors_late_in_the_month_and_february(
    start: datetime, period_index: int, label: str, added: datetime, price: int
) -> None:
    c = contract("ann", starting_at=start, seats_from=start, terms=terms(price=price))
    c = c.with_seats(c.seats.add_seat_ids(added, "bob"))  # type: ignore[union-attr]
    period = c.billing_period(period_index)
    assert period.label() == label
    seats = [ln for ln in draft([c], period=period).invoice("c1").lines if ln.kind is LineKind.SEATS]
    # A seat added on the last day of an N-day period at $N costs exactly $1 (one division, no rounded fraction).
    assert seats[-1].units == D(1)
    assert seats[-1].due_minor == 100


# --- expected minus billed -------------------------------------------------------------------------


def test_advance_then_arrears_then_a_late_event_bill_each_thing_once() -> None:
    c = contract("ann", "bob", "cat")
    first = draft([c], as_of=JAN_1).invoice("c1")
    # On 1 January only the seats are billed: 3 × $40.
    assert ([ln.kind for ln in first.lines], first.total_due_minor) == ([LineKind.SEATS], 12000)
    advance = finalize(first, JAN_1)
    events = [use("a", utc(2026, 1, 5), 7000)]
    closing = draft([c], {"c1": events}, finalized=[advance]).invoice("c1")
    # At the period's end: only the usage, 7,000 − 6,000 pooled = 1,000 credits over: $10.
    assert ([ln.kind for ln in closing.lines], closing.total_due_minor, closing.id) == (
        [LineKind.USAGE],
        1000,
        "c1/2026-01-01T00:00:00Z/2",
    )
    final = finalize(closing, FEB_1)
    late = draft([c], {"c1": [*events, use("late", utc(2026, 1, 30), 500)]}, finalized=[advance, final])
    (delta,) = late.invoice("c1").lines
    # A late event of 500 credits: the usage line is now 7,500 credits, 1,500 over ($15), of which $10 was
    # billed: $5 more.
    assert (delta.key, delta.quantity, delta.due_minor, delta.previously_billed_minor) == (
        final.lines[0].key,
        D(500),
        500,
        7000,
    )


def test_drafting_again_after_finalizing_adds_nothing() -> None:
    c = contract("ann", "bob")
    events = {"c1": [use("a", utc(2026, 1, 5), 5000)]}
    run = draft([c], events)
    invoice = finalize(run.invoice("c1"), FEB_1)
    again = draft([c], events, finalized=[invoice])
    assert again.invoice("c1").is_empty
    # With the first run's ledger entries recorded, nothing is missing from the ledger either.
    recorded = draft([c], events, finalized=[invoice], ledger=run.ledger_entries)
    assert (recorded.invoice("c1").is_empty, recorded.ledger_entries) == (True, ())


def test_a_void_invoice_billed_nothing() -> None:
    c = contract("ann")
    voided = replace(finalize(draft([c]).invoice("c1"), JAN_1), status=InvoiceStatus.VOID)
    assert draft([c], finalized=[voided]).invoice("c1").total_due_minor == 4000


def test_a_line_no_longer_expected_is_credited_back() -> None:
    c = contract("ann", "bob")
    billed = finalize(draft([c]).invoice("c1"), JAN_1)
    fewer = contract("ann")
    (credit,) = draft([fewer], finalized=[billed]).invoice("c1").lines
    # Billed 2 seats ($80), now expected 1 ($40) under the same key: $40 back.
    assert (credit.quantity, credit.due_minor) == (D(-1), -4000)


def test_only_drafts_are_finalized_and_only_finalized_invoices_count_as_billed() -> None:
    invoice = draft([contract("ann")]).invoice("c1")
    final = finalize(invoice, FEB_1)
    assert (final.status, final.finalized_at) == (InvoiceStatus.FINALIZED, FEB_1)
    with pytest.raises(InvalidInvoice, match="only a draft can be finalized"):
        finalize(final, FEB_1)
    with pytest.raises(InvalidInvoice, match="pass only finalized invoices"):
        draft([contract("ann")], finalized=[invoice])


def test_re_rating_corrects_the_recorded_ledger() -> None:
    c = usage_only(grants=(Grant("g", "c1", GrantKind.CREDIT, AI, D(1000), JAN_1),))
    charge_id = "c1:ai:2026-01-01T00:00:00+00:00:user_id=ann"
    recorded = [
        LedgerEntry("g", JAN_1, EntryKind.GRANT_START, D(1000), "credit from manual", "c1"),
        LedgerEntry("g", JAN_1, EntryKind.USAGE, D(-700), charge_id, "c1", "ann"),
    ]
    run = draft([c], {"c1": [use("a", utc(2026, 1, 3), 400)]}, ledger=recorded)
    # The charge now draws 400, not 700: 300 goes back to the grant as an adjustment.
    (fix,) = run.ledger_entries
    assert (fix.kind, fix.amount, fix.reference) == (EntryKind.ADJUSTMENT, D(300), charge_id)


# --- balances ----------------------------------------------------------------------------------------


def test_balances_per_grant_pooled_and_per_seat() -> None:
    commit = Grant("commit", "c1", GrantKind.COMMIT, AI, D(5000), JAN_1)
    c = contract("ann", "bob", terms=terms(allocation=CreditAllocation.INDIVIDUAL), grants=(commit,))
    run = draft([c], {"c1": [use("a", utc(2026, 1, 3), 2500), use("b", utc(2026, 1, 4), 100, "bob")]})
    now = balances("c1", run.grants, run.ledger_entries, utc(2026, 1, 20))
    # ann: her 2,000, then 500 from the commit; bob: 100 of his 2,000.
    assert now.grant("commit").remaining == D(4500)
    assert [e.kind for e in now.grant("commit").entries] == [EntryKind.GRANT_START, EntryKind.USAGE]
    assert [(b.seat_id, b.remaining, b.drawn_from_pool) for b in now.seats] == [
        ("ann", D(0), D(500)),
        ("bob", D(1900), D(0)),
    ]
    assert now.pooled == ((AI, D(4500)),)
    with pytest.raises(InvalidInvoice, match="not one of contract c1's grants"):
        now.grant("nope")


# --- previews ------------------------------------------------------------------------------------------


def test_preview_adding_a_seat_mid_period() -> None:
    c = contract("ann", "bob", "cat")
    change = SeatCountChange("c1", utc(2026, 1, 16), add=("dan",))
    result = preview(change, [c], JANUARY, {}, as_of=utc(2026, 1, 16))
    # Now: 1 seat × $40 × 16/31 days = $20.645… → $20.65. Next period: 4 seats instead of 3, +$40.
    assert (result.due_now_minor, result.at_period_end_minor, result.next_period_minor) == (2065, 0, 4000)
    # The new seat earns 2,000 × 16/31 = 1,032.2… → 1,032 pooled credits at once.
    assert result.balances.pooled == ((AI, D(6000 + 1032)),)


def test_preview_an_upgrade_takes_effect_at_once_with_prorated_charge_and_credit() -> None:
    c = contract("ann", "bob", "cat")
    business = terms(price=60, allowance=3000, rank=3)
    switch = TierSwitch("c1", business, utc(2026, 1, 16))
    result = preview(switch, [c], JANUARY, {"c1": RawUsage((use("a", utc(2026, 1, 2), 100),))}, as_of=switch.at)
    # 3 seats × ($60 − $40) × 16/31 = $30.967… → $30.97 now; next period 3 × $60 instead of 3 × $40: +$60.
    assert (result.due_now_minor, result.next_period_minor) == (3097, 6000)
    # Credit top-up: 3 × (3,000 − 2,000) × 16/31 = 1,548.3… → 1,548 credits; 100 were used of the 6,000.
    assert result.balances.pooled == ((AI, D(6000 - 100 + 1548)),)
    assert result.after.invoice("c1").total_due_minor == 12000 + 3097


def test_preview_a_downgrade_waits_for_the_period_end() -> None:
    c = contract("ann", "bob", "cat")
    result = preview(
        TierSwitch("c1", terms(price=20, allowance=500, rank=1), utc(2026, 1, 16)),
        [c],
        JANUARY,
        {},
        as_of=utc(2026, 1, 16),
    )
    # Nothing changes now; the next period's seats cost 3 × $20 instead of 3 × $40: −$60.
    assert (result.due_now, result.at_period_end, result.next_period_minor) == ((), (), -6000)


def test_preview_a_package_migration_from_the_next_period_or_at_once() -> None:
    c = contract("ann")
    migration = PackageMigration("c1", terms(price=45), utc(2026, 1, 10))
    result = preview(migration, [c], JANUARY, {}, as_of=utc(2026, 1, 10))
    assert (result.due_now_minor, result.next_period_minor) == (0, 500)
    at_once = replace(migration, effective_at=utc(2026, 1, 10))
    # At once on 10 January: 1 seat × $5 × 22/31 = $3.548… → $3.55.
    assert preview(at_once, [c], JANUARY, {}, as_of=utc(2026, 1, 10)).due_now_minor == 355


def test_a_preview_needs_its_contract_and_something_to_change() -> None:
    c = contract("ann")
    with pytest.raises(InvalidChange, match="Contract c9 is not among the contracts given"):
        preview(SeatCountChange("c9", JAN_1, add=("x",)), [c], JANUARY, {}, as_of=JAN_1)
    with pytest.raises(InvalidChange, match="Say what changes"):
        preview(SeatCountChange("c1", JAN_1), [c], JANUARY, {}, as_of=JAN_1)
    with pytest.raises(InvalidChange, match="has no seat subscription"):
        preview(SeatCountChange("c1", JAN_1, quantity=2), [usage_only()], JANUARY, {}, as_of=JAN_1)


def seat_units(lines: Iterable[InvoiceLine]) -> list[Decimal]:
    return [ln.quantity for ln in lines if ln.kind is LineKind.SEATS]


def test_preview_removing_a_seat_changes_the_next_period_only() -> None:
    c = contract("ann", "bob")
    result = preview(SeatCountChange("c1", utc(2026, 1, 20), remove=("bob",)), [c], JANUARY, {}, as_of=utc(2026, 1, 20))
    assert (result.due_now, seat_units(result.next_period), result.next_period_minor) == ((), [D(-1)], -4000)


# --- usage kept per contract and period ----------------------------------------------------------


def test_usage_aggregated_for_the_drafts_windows_drafts_the_same_invoice() -> None:
    promo = Grant("promo", "c1", GrantKind.CREDIT, AI, D(1000), JAN_1, utc(2026, 1, 16, 10, 20))
    c = contract("ann", "bob", grants=(promo,))
    events = [use("a", utc(2026, 1, 5), 3000), use("b", utc(2026, 1, 20), 2500, "bob")]
    raw = {"c1": RawUsage(tuple(events))}
    kept = aggregated_usage([c], JANUARY, raw)
    # The promotion's expiry cuts the month: usage is kept for the two windows the draft rates in.
    assert kept["c1"].windows == (Period(JAN_1, utc(2026, 1, 16, 11)), Period(utc(2026, 1, 16, 11), FEB_1))
    from_kept = draft_invoices([c], JANUARY, dict(kept), as_of=FEB_1)
    assert from_kept.invoices == draft([c], {"c1": events}).invoices
    # A contract whose grants changed rates in other windows: the kept usage refuses rather than guesses.
    moved = c.with_grants([Grant("late", "c1", GrantKind.CREDIT, AI, D(10), utc(2026, 1, 25))])
    with pytest.raises(InvalidWindows, match="aggregate its rollups again"):
        draft_invoices([moved], JANUARY, dict(kept), as_of=FEB_1)


# --- credits and commits the terms include every period -------------------------------------------


def test_included_credits_come_every_period_and_draw_before_overage() -> None:
    bonus = IncludedGrant("bonus", GrantKind.CREDIT, AI, D(500))
    c = contract("ann", terms=terms(allowance=1000, included=(bonus,)))
    invoice = draft([c], {"c1": [use("a", utc(2026, 1, 5), 1800)]}).invoice("c1")
    usage = line(invoice, LineKind.USAGE)
    # 1,800 credits: the 1,000 seat credits and the 500 included cover 1,500; 300 × $0.01 = $3 overage.
    assert figures(usage) == (1800, 1500, 0, 300)
    assert sorted(g.grant_id for g in usage.grants) == [
        "c1/2026-01-01T00:00:00Z/included/bonus",
        "credits-2/sub-c1/2026-01-01T00:00:00Z/pool",
    ]
    february = draft([c], period=Period(FEB_1, utc(2026, 3, 1)))
    (bonus_in_february,) = [g for g in february.grants if "/included/" in g.id]
    assert (bonus_in_february.id, bonus_in_february.amount, bonus_in_february.ending_before) == (
        "c1/2026-02-01T00:00:00Z/included/bonus",
        D(500),
        utc(2026, 3, 1),
    )


def test_included_grants_must_be_positive_and_named_once() -> None:
    with pytest.raises(InvalidContract, match="is 0: include more than zero"):
        IncludedGrant("zero", GrantKind.CREDIT, AI, D(0))
    twice = IncludedGrant("x", GrantKind.COMMIT, USD, D(10))
    with pytest.raises(InvalidContract, match="two grants with one id"):
        terms(included=(twice, twice))
