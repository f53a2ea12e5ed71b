"""The customer dashboard's figures, who sees which, and the live usage marker, on SQLite and PostgreSQL.

Figures are hand-computed from the demo catalog: Team gives 2,000 AI credits per seat, pooled (3 seats: 6,000);
AI tokens cost 10 credits per 1,000 tokens, rounded up to whole thousands; an API request costs 0.5 credits;
an AI credit is worth $0.01.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, update

from portal.auth.passwords import hash_password
from portal.db.models import InvoiceRow, User
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import billing
from portal.services.customers import create_customer
from portal.services.dashboard import Dashboard, MetricUsage, dashboard, seat_figures, usage_marker
from portal.services.demo_catalog import ensure_catalog, ensure_tiers
from portal.services.errors import Forbidden
from portal.services.identity import Identity, operator_identity, sign_in
from portal.services.ingest_writer import writer

OPERATOR = operator_identity()
PASSWORD = "dashboard-pw-1"
ANN, BOB, CY = "ann@initech.test", "bob@initech.test", "cy@initech.test"
START = datetime(2026, 11, 10, 9, tzinfo=UTC)
"""The contract start; its first period runs to 2026-12-10 09:00."""
NOW = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)


def _user(email: str, customer_id: str, role: str) -> None:
    with UnitOfWork() as uow:
        uow.session.add(User(email=email, password_hash=hash_password(PASSWORD), customer_id=customer_id, role=role))


def _who(email: str) -> Identity:
    return sign_in(email, PASSWORD).identity


def _ingest(customer_id: str, *events: tuple[str, datetime, dict[str, str]]) -> None:
    """Store events (event type, time, properties) for the customer, as the ingest API does."""
    stored = [
        UsageEvent(f"{customer_id}-{kind}-{at.isoformat()}-{sorted(props.items())}", customer_id, kind, at, props)
        for kind, at, props in events
    ]
    writer().submit(stored).result()


@pytest.fixture
def initech(database: str) -> str:
    """Initech on Team with 3 seats held by Ann (admin) and Bob (member); Cy is a member without a seat.

    Usage an hour after the start: Ann 1,000 and 600 tokens, Bob 1,500 tokens; then 4 API requests by Ann.
    """
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    writer().refresh_metrics()
    customer = create_customer(OPERATOR, "Initech")
    for email, role in ((ANN, "admin"), (BOB, "member"), (CY, "member")):
        _user(email, customer.id, role)
    billing.provision(OPERATOR, customer.id, "team", 3, (ANN, BOB), at=START + timedelta(minutes=20))
    tokens_at, requests_at = START + timedelta(hours=1), START + timedelta(hours=2)
    _ingest(
        customer.id,
        *[
            ("ai_usage", tokens_at + timedelta(minutes=i), {"tokens": t, "user_id": u, "model": "gpt-4o"})
            for i, (u, t) in enumerate(((ANN, "1000"), (BOB, "1500"), (ANN, "600")))
        ],
        *[("api_request", requests_at + timedelta(minutes=i), {"user_id": ANN}) for i in range(4)],
    )
    return customer.id


def _metric(view: Dashboard | Sequence[MetricUsage], metric_id: str) -> MetricUsage:
    usage = view.usage if isinstance(view, Dashboard) else view
    return next(m for m in usage if m.metric_id == metric_id)


def _day(usage: MetricUsage, day: date) -> tuple[int, ...]:
    return next(d.whole for d in usage.days if d.day == day)


def test_admin_sees_plan_pool_and_seats_from_the_rating_engine(initech: str) -> None:
    view = dashboard(_who(ANN), NOW)
    assert view.customer_name == "Initech"
    assert view.is_admin
    plan = view.plan
    assert plan is not None
    assert (plan.package, plan.seats, plan.seats_assigned, plan.members, plan.seat_warning) == ("Team v1", 3, 2, 3, "")
    # The period runs from Nov 10, 09:00 to Dec 10, 09:00: 27 days and 23.5 hours are left, counted up.
    assert (plan.period, plan.renews, plan.days_left, plan.days_left_label) == (
        "Nov 10 – Dec 10, 2026",
        "Renews Dec 10, 2026",
        28,
        "28 days left",
    )
    # 3,100 tokens -> 4 thousands x 10 = 40 credits; 4 requests x 0.5 = 2 credits; 42 of 6,000 used.
    [pool] = view.pools
    assert (pool.granted, pool.used, pool.remaining, pool.percent_left) == (
        "6,000 AI credits",
        "42 AI credits",
        "5,958 AI credits",
        99,
    )
    # The 40 token credits split by tokens, 1,600 : 1,500 -> 20.6 : 19.4, whole credits 21 and 19 (largest
    # remainder); Ann's 4 requests add 2.
    seats = {s.seat_id: (s.has_allowance, s.granted, s.used, s.drawn_from_pool, s.remaining) for s in view.seats}
    assert seats == {
        ANN: (False, "0 AI credits", "23 AI credits", "23 AI credits", "0 AI credits"),
        BOB: (False, "0 AI credits", "19 AI credits", "19 AI credits", "0 AI credits"),
    }


def test_daily_usage_is_per_metric_and_per_seat_over_the_whole_period(initech: str) -> None:
    view = dashboard(_who(ANN), NOW)
    tokens, requests = _metric(view, "met_ai_tokens"), _metric(view, "met_api_requests")
    assert (tokens.name, tokens.series, tokens.totals, tokens.total) == (
        "AI tokens",
        (ANN, BOB),
        ("1,600", "1,500"),
        "3,100",
    )
    assert _day(tokens, (START + timedelta(hours=1)).date()) == (1600, 1500)
    assert (requests.series, requests.totals, requests.total) == ((ANN, BOB), ("4", "0"), "4")
    assert _day(requests, (START + timedelta(hours=2)).date()) == (4, 0)
    # Nov 10 to Dec 10 (the period ends at 09:00 on Dec 10): 31 days.
    assert [d.day for d in tokens.days] == [date(2026, 11, 10) + timedelta(days=n) for n in range(31)]
    assert (tokens.days[0].label, tokens.days[-1].label) == ("Nov 10", "Dec 10")


def test_the_draft_explains_each_line_with_the_grants_that_absorbed_it(initech: str) -> None:
    draft = dashboard(_who(ANN), NOW).draft
    assert draft is not None
    lines = {d.line.description: d for d in draft.lines}
    tokens = lines["AI tokens (per 1,000)"]
    assert (tokens.line.quantity, tokens.line.unit_price, tokens.line.units, tokens.line.amount, tokens.line.due) == (
        "4",
        "10 AI credits",
        "40 AI credits",
        "$0.40",
        "$0.00",
    )
    assert tokens.basis == (
        "3,100 AI tokens in the period, billed per 1,000, rounded up to the whole unit per rating window"
    )
    [paid_by] = tokens.grants
    assert (paid_by.order, paid_by.grant, paid_by.units, paid_by.amount) == (
        1,
        "Seat credits (pooled)",
        "40 AI credits",
        "$0.40",
    )
    assert paid_by.explanations == ("the only grant that applies to this charge",)
    assert tokens.uncovered == ()
    assert tokens.context == ""
    assert sorted((g.group, g.units) for g in tokens.line.groups) == [
        (f"model=gpt-4o, user_id={ANN}", "21 AI credits"),
        (f"model=gpt-4o, user_id={BOB}", "19 AI credits"),
    ]
    requests = lines["API requests"]
    assert (requests.line.quantity, requests.line.units, requests.basis) == (
        "4",
        "2 AI credits",
        "4 API requests in the period",
    )
    assert (draft.invoice.subtotal, draft.invoice.grants_applied, draft.invoice.total_due) == (
        "$0.42",
        "$0.42",
        "$0.00",
    )


def test_usage_beyond_the_pool_is_due_and_the_explanation_says_why(initech: str) -> None:
    _ingest(initech, ("ai_usage", START + timedelta(hours=3), {"tokens": "700000", "user_id": BOB, "model": "gpt-4o"}))
    view = dashboard(_who(ANN), NOW)
    # 703,100 tokens -> 704 thousands x 10 = 7,040 credits, plus 2 for requests: 7,042 against 6,000 pooled.
    [pool] = view.pools
    assert (pool.used, pool.remaining, pool.percent_left) == ("6,000 AI credits", "0 AI credits", 0)
    assert view.draft is not None
    # 1,042 credits over the pool, at $0.01 each.
    assert view.draft.invoice.total_due == "$10.42"
    assert any(line.uncovered for line in view.draft.lines)


def test_past_invoices_carry_their_lines_and_a_failed_payment_is_told(initech: str) -> None:
    [invoice] = dashboard(_who(ANN), NOW).invoices
    assert (invoice.invoice.total_due, [line.line.description for line in invoice.lines]) == (
        "$120.00",
        ["3 seats in advance"],
    )
    assert invoice.period == "Nov 10 – Dec 10, 2026"
    with UnitOfWork() as uow:
        uow.session.exec(
            update(InvoiceRow)
            .where(col(InvoiceRow.customer_id) == initech)
            .values(status="payment_failed", payment_note="The card was declined.")
        )
    view = dashboard(_who(ANN), NOW)
    assert [(f.invoice_id, f.message) for f in view.failed_payments] == [
        (
            invoice.invoice.id,
            f"Payment of $120.00 for {invoice.invoice.period} failed: The card was declined. "
            "Update your card, then pay again.",
        )
    ]


def test_a_seat_count_below_the_team_size_is_warned_about(initech: str) -> None:
    _user("dee@initech.test", initech, "member")
    plan = dashboard(_who(ANN), NOW).plan
    assert plan is not None
    assert plan.seat_warning == (
        "Your team has 4 members but the plan has 3 seats: 1 person has no seat and no credits. "
        "Add seats or remove members."
    )


def test_a_member_sees_only_their_own_seat(initech: str) -> None:
    view = dashboard(_who(BOB), NOW)
    assert not view.is_admin
    assert view.seat_id == BOB
    assert [(s.seat_id, s.used) for s in view.seats] == [(BOB, "19 AI credits")]
    tokens, requests = _metric(view, "met_ai_tokens"), _metric(view, "met_api_requests")
    assert (tokens.series, tokens.totals, tokens.total) == ((BOB,), ("1,500",), "1,500")
    assert _day(tokens, (START + timedelta(hours=1)).date()) == (1500,)
    assert (requests.series, requests.total) == ((BOB,), "0")
    assert (view.pools, view.draft, view.invoices) == ((), None, ())


def test_a_member_asking_for_another_seat_gets_nothing(initech: str) -> None:
    assert seat_figures(_who(BOB), ANN, NOW) is None
    own = seat_figures(_who(BOB), BOB, NOW)
    assert own is not None
    assert [s.seat_id for s in own.credits] == [BOB]
    assert {m.series for m in own.usage} == {(BOB,)}
    # A member without a seat sees no figures of anyone.
    cy = dashboard(_who(CY), NOW)
    assert (cy.seats, cy.pools, cy.draft) == ((), (), None)
    assert all(m.total == "0" for m in cy.usage)
    admin = seat_figures(_who(ANN), BOB, NOW)
    assert admin is not None
    assert [s.used for s in admin.credits] == ["19 AI credits"]


def test_no_contract_gives_an_empty_dashboard_and_staff_have_none(database: str) -> None:
    customer = create_customer(OPERATOR, "Hooli")
    _user("gavin@hooli.test", customer.id, "admin")
    view = dashboard(_who("gavin@hooli.test"), at=NOW)
    assert (view.customer_name, view.plan, view.seats, view.usage, view.draft) == ("Hooli", None, (), (), None)
    assert seat_figures(_who("gavin@hooli.test"), "gavin@hooli.test") is None
    with pytest.raises(Forbidden, match="does not belong to a customer"):
        dashboard(OPERATOR)


def test_the_marker_has_news_only_for_the_customers_own_usage_and_invoices(initech: str) -> None:
    ann = _who(ANN)
    first = usage_marker(ann)
    assert not usage_marker(ann, first).news_since(first)
    other = create_customer(OPERATOR, "Other")
    _ingest(other.id, ("api_request", START + timedelta(hours=3), {"user_id": "x"}))
    elsewhere = usage_marker(ann, first)
    assert elsewhere.newest_event > first.newest_event
    assert not elsewhere.news_since(first)
    _ingest(initech, ("api_request", START + timedelta(hours=3), {"user_id": BOB}))
    own = usage_marker(ann, elsewhere)
    assert own.news_since(elsewhere)
    assert not usage_marker(ann, own).news_since(own)
    with UnitOfWork() as uow:
        uow.session.exec(update(InvoiceRow).where(col(InvoiceRow.customer_id) == initech).values(status="paid"))
    assert usage_marker(ann, own).news_since(own)


def test_a_seat_with_its_own_allowance_shows_what_is_left_of_it(database: str) -> None:
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    writer().refresh_metrics()
    customer = create_customer(OPERATOR, "Umbrella")
    _user("alice@umbrella.test", customer.id, "member")
    billing.provision(OPERATOR, customer.id, "business", 10, ("alice@umbrella.test",), at=START)
    _ingest(
        customer.id,
        ("ai_usage", START + timedelta(hours=1), {"tokens": "1000", "user_id": "alice@umbrella.test", "model": "o"}),
    )
    # Business: 4,000 credits per seat of its own, 1,000 per seat into a shared pool, tokens at 80%:
    # 1 thousand x 10 x 0.8 = 8 credits, taken from Alice's own allowance first.
    [seat] = dashboard(_who("alice@umbrella.test"), NOW).seats
    assert (seat.has_allowance, seat.granted, seat.used, seat.drawn_from_pool, seat.remaining, seat.percent_left) == (
        True,
        "4,000 AI credits",
        "8 AI credits",
        "0 AI credits",
        "3,992 AI credits",
        99,
    )
