"""Enterprise accounts: departments, budgets on the shared commitment, moving budget, blocking at the cap.

Figures: the demo rate card bills AI tokens at 10 AI credits per 1,000 tokens (100 tokens a credit) and an AI
credit is worth $0.01. The enterprise holds a shared commitment of 10,000 credits.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from portal.db.models import AuditEntry, Customer, User, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import billing, budget_gate, enterprise, enterprise_alerts
from portal.services.api_keys import ApiPrincipal
from portal.services.customers import create_customer
from portal.services.demo_catalog import CREDITS, RATE_CARD, TOKENS_EVENT, ensure_catalog
from portal.services.enterprise import DepartmentSpec
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.ingest import ACCEPTED, REJECTED, ingest
from portal.services.ingest_writer import writer
from tests.integration.conftest import CUSTOMER_USER, STAFF
from tests.support.mail import Outbox
from tests.support.settings import settings_env
from tests.support.stripe import stripe_settings


def _admin_of(customer_id: str, email: str) -> Identity:
    return replace(CUSTOMER_USER, customer_id=customer_id, role="admin", email=email, is_enterprise_admin=True)


@pytest.fixture
def umbrella(database: str) -> Identity:
    """Umbrella Corp, an enterprise with a shared commitment of 10,000 AI credits; returns its admin."""
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
    customer = create_customer(STAFF, "Umbrella Corp")
    enterprise.open_enterprise(
        STAFF, customer.id, rate_card_id=RATE_CARD, commitment="10000", credit_type_id=CREDITS, term_months=12
    )
    writer().refresh_metrics()
    budget_gate.gate().forget()
    return _admin_of(customer.id, "admin@umbrella.test")


def _use(customer_id: str, tokens: int, tag: str) -> None:
    """``tokens`` AI tokens used by ``customer_id`` an hour ago."""
    at = utcnow() - timedelta(hours=1)
    event = UsageEvent(f"u-{tag}", customer_id, TOKENS_EVENT, at, {"tokens": str(tokens), "user_id": "ann"})
    writer().submit([event]).result()


def _two_departments(admin: Identity) -> tuple[str, str]:
    research = enterprise.create_department(admin, DepartmentSpec("Research", "lead@research.test", budget="600"))
    marketing = enterprise.create_department(admin, DepartmentSpec("Marketing", "lead@marketing.test", budget="400"))
    return research, marketing


def test_an_enterprise_admin_creates_departments_with_budgets_and_invited_admins(umbrella: Identity) -> None:
    research, marketing = _two_departments(umbrella)
    view = enterprise.enterprise_view(umbrella)
    assert [(d.name, d.depth, d.budget) for d in view.departments] == [
        ("Umbrella Corp", 0, None),
        ("Marketing", 1, Decimal(400)),
        ("Research", 1, Decimal(600)),
    ]
    assert view.allocated == Decimal(1000)
    assert [(c.amount, c.remaining) for c in view.commitments] == [(Decimal(10000), Decimal(10000))]
    with UnitOfWork() as uow:
        lead = uow.session.exec(select(User).where(User.email == "lead@research.test")).one()
        assert (lead.customer_id, lead.role) == (research, "admin")
        actions = uow.session.exec(select(AuditEntry.action).where(AuditEntry.subject_id == marketing)).all()
    assert actions == ["department.create"]


def test_usage_over_the_budget_is_the_departments_overage_until_budget_is_moved(umbrella: Identity) -> None:
    research, marketing = _two_departments(umbrella)
    _use(research, 80_000, "r1")  # 800 credits: 600 from the commitment (the budget), 200 overage ($2.00)
    row = enterprise.enterprise_view(umbrella).department(research)
    assert (row.figures.used, row.figures.from_commitment, row.figures.overage) == (
        Decimal(800),
        Decimal(600),
        Decimal(200),
    )
    assert (row.status, row.budget_percent) == ("exhausted", 100)
    enterprise.move_budget(umbrella, marketing, research, "300")  # Research 900, Marketing 100
    view = enterprise.enterprise_view(umbrella)
    row = view.department(research)
    assert (row.budget, row.figures.from_commitment, row.figures.overage) == (Decimal(900), Decimal(800), Decimal(0))
    assert view.department(marketing).budget == Decimal(100)
    assert view.commitments[0].remaining == Decimal(9200)
    with UnitOfWork() as uow:
        moved = uow.session.exec(select(AuditEntry).where(AuditEntry.action == "budget.move")).one()
    assert moved.summary == "moved 300 of budget from Marketing to Research"


def test_moving_more_budget_than_a_department_has_is_refused_and_changes_nothing(umbrella: Identity) -> None:
    research, marketing = _two_departments(umbrella)
    with pytest.raises(InvalidInput, match="Marketing's budget is 400: move at most that much"):
        enterprise.move_budget(umbrella, marketing, research, "401")
    with pytest.raises(InvalidInput, match="must be a number"):
        enterprise.move_budget(umbrella, marketing, research, "lots")
    view = enterprise.enterprise_view(umbrella)
    assert (view.department(research).budget, view.department(marketing).budget) == (Decimal(600), Decimal(400))


def test_a_blocking_budget_refuses_ingest_once_used_up_and_lets_it_in_when_raised(umbrella: Identity) -> None:
    _, marketing = _two_departments(umbrella)
    enterprise.set_budget(umbrella, marketing, "100", "block")
    _use(marketing, 50_000, "m1")  # 500 credits: 100 from the commitment, 400 blocked (not billed)
    row = enterprise.enterprise_view(umbrella).department(marketing)
    assert (row.figures.from_commitment, row.figures.blocked, row.figures.overage) == (
        Decimal(100),
        Decimal(400),
        Decimal(0),
    )
    key = ApiPrincipal("key_test", marketing, ("ingest",))
    event = {
        "transaction_id": "m2",
        "customer_id": marketing,
        "event_type": TOKENS_EVENT,
        "timestamp": utcnow().isoformat(),
        "properties": {"tokens": "100", "user_id": "ann"},
    }
    budget_gate.gate().forget()
    result = ingest(key, [event]).results[0]
    assert result.status == REJECTED
    assert result.reason.startswith("budget exhausted: Marketing has drawn its whole budget of 100 AI credits")
    enterprise.set_budget(umbrella, marketing, "1000", "block")
    budget_gate.gate().forget()
    assert ingest(key, [event]).results[0].status == ACCEPTED


def test_department_admins_see_only_their_department_and_cannot_change_their_budget(umbrella: Identity) -> None:
    research, marketing = _two_departments(umbrella)
    lead = replace(_admin_of(research, "lead@research.test"), is_enterprise_admin=False, is_department_admin=True)
    view = enterprise.enterprise_view(lead)
    assert [d.name for d in view.departments] == ["Research"]
    assert view.commitments == ()
    assert view.departments[0].budget == Decimal(600)
    with pytest.raises(Forbidden, match="Your own budget is set by the admins above"):
        enterprise.set_budget(lead, research, "5000")
    with pytest.raises(NotFound):
        enterprise.set_budget(lead, marketing, "0")
    with pytest.raises(NotFound):
        enterprise.move_budget(lead, marketing, research, "100")


def test_three_levels_a_divisions_budget_limits_its_departments_together(umbrella: Identity) -> None:
    division = enterprise.create_department(umbrella, DepartmentSpec("Labs", "lead@labs.test", budget="1000"))
    labs_admin = _admin_of(division, "lead@labs.test")
    alpha = enterprise.create_department(labs_admin, DepartmentSpec("Alpha", "lead@alpha.test", budget="700"))
    beta = enterprise.create_department(labs_admin, DepartmentSpec("Beta", "lead@beta.test", budget="700"))
    # 700 + 500 credits in the same window: each is under its own budget of 700, but Labs' budget of 1,000
    # caps the two together, so 1,000 come from the commitment and 200 are overage (charges of one window
    # draw in charge id order, so which department gets the overage depends on their ids).
    _use(alpha, 70_000, "a1")
    _use(beta, 50_000, "b1")
    view = enterprise.enterprise_view(umbrella)
    assert [(d.name, d.depth) for d in view.departments] == [
        ("Umbrella Corp", 0),
        ("Labs", 1),
        ("Alpha", 2),
        ("Beta", 2),
    ]
    assert view.department(division).figures.budget_drawn == Decimal(1000)
    alpha_row, beta_row = view.department(alpha).figures, view.department(beta).figures
    assert alpha_row.from_commitment + beta_row.from_commitment == Decimal(1000)
    assert alpha_row.overage + beta_row.overage == Decimal(200)
    assert {alpha_row.from_commitment, beta_row.from_commitment} in ({Decimal(700), Decimal(300)}, {Decimal(500)})
    assert view.department(division).status == "exhausted"
    assert [d.name for d in enterprise.enterprise_view(labs_admin).departments] == ["Labs", "Alpha", "Beta"]
    # The enterprise's statement shows each department's draw on the shared commitment, indented by level.
    statement = billing.draft(umbrella, umbrella.customer_id or "").statement
    assert sorted((row.department, row.depth) for row in statement) == [("Alpha", 2), ("Beta", 2)]
    shared = {row.department: row.from_shared_commitment for row in statement}
    assert shared == {
        "Alpha": f"{alpha_row.from_commitment.normalize():,f} AI credits",
        "Beta": f"{beta_row.from_commitment.normalize():,f} AI credits",
    }


def test_absurd_budgets_and_commitments_are_refused_by_name_and_limit(umbrella: Identity) -> None:
    research, marketing = _two_departments(umbrella)
    acme = create_customer(STAFF, "Acme").id
    too_large = "is too large: at most 1,000,000,000,000,000."
    for call, message in [
        (lambda: enterprise.set_budget(umbrella, marketing, "1e999999"), f"The budget 1E+999999 {too_large}"),
        (
            lambda: enterprise.move_budget(umbrella, marketing, research, "1e400"),
            f"The amount to move 1E+400 {too_large}",
        ),
        (
            lambda: enterprise.create_department(
                umbrella, DepartmentSpec("Ops", "ops@umbrella.test", budget=str(10**40))
            ),
            f"The budget 1.000000E+40 {too_large}",
        ),
        (
            lambda: enterprise.open_enterprise(
                STAFF, acme, rate_card_id=RATE_CARD, commitment="-1e999999", credit_type_id=CREDITS
            ),
            "The commitment -1E+999999 is too small: at least -1,000,000,000,000,000.",
        ),
    ]:
        with pytest.raises(InvalidInput) as refused:
            call()
        assert str(refused.value) == message
    view = enterprise.enterprise_view(umbrella)
    assert (view.department(research).budget, view.department(marketing).budget) == (Decimal(600), Decimal(400))
    assert sorted(d.name for d in view.departments) == ["Marketing", "Research", "Umbrella Corp"]


def test_only_staff_open_an_enterprise_and_departments_need_a_name_and_an_address(umbrella: Identity) -> None:
    with pytest.raises(Forbidden):
        enterprise.open_enterprise(umbrella, umbrella.customer_id or "", rate_card_id=RATE_CARD, commitment="1",
                                   credit_type_id=CREDITS)  # fmt: skip
    with pytest.raises(InvalidInput, match="Give the department a name"):
        enterprise.create_department(umbrella, DepartmentSpec("  ", "x@y.test"))
    with pytest.raises(InvalidInput):
        enterprise.create_department(umbrella, DepartmentSpec("Ops", "not an address"))
    enterprise.create_department(umbrella, DepartmentSpec("Ops", "ops@umbrella.test"))
    with pytest.raises(InvalidInput, match="already has a department called Ops"):
        enterprise.create_department(umbrella, DepartmentSpec("ops", "ops2@umbrella.test"))


def test_forecasts_project_the_trailing_weeks_burn(database: str) -> None:
    # A fixed instant in the past, so the trailing week lies inside one billing period whatever today is.
    now = utcnow()
    at = (now.replace(day=1) - timedelta(days=1)).replace(day=15, hour=12, minute=0, second=0, microsecond=0)
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
    customer = create_customer(STAFF, "Tyrell")
    enterprise.open_enterprise(
        STAFF, customer.id, rate_card_id=RATE_CARD, commitment="10000", credit_type_id=CREDITS, at=at
    )
    writer().refresh_metrics()
    admin = _admin_of(customer.id, "admin@tyrell.test")
    lab = enterprise.create_department(admin, DepartmentSpec("Lab", "lead@lab.test", budget="1000"), at=at)
    # 100 credits a day on each of the last 6 days, none on the 7th day back: daily burns 0, 100 x 6.
    events = [
        UsageEvent(f"f-{k}", lab, TOKENS_EVENT, at - timedelta(days=k, hours=-1), {"tokens": "10000", "user_id": "a"})
        for k in range(1, 7)
    ]
    writer().submit(events).result()
    view = enterprise.enterprise_view(admin, at)
    row = view.department(lab)
    assert row.figures.budget_drawn == Decimal(600)
    assert row.forecast is not None
    rate = Decimal(600) / 7  # 85.71 credits a day
    assert row.forecast.daily_rate == rate
    # 400 credits of budget left at 85.71 a day: 4.667 days, i.e. 4 days 16 hours.
    assert row.forecast.run_out_at is not None
    assert abs((row.forecast.run_out_at - (at + timedelta(days=4, hours=16))).total_seconds()) < 60
    commitment = view.commitments[0].forecast
    assert commitment.daily_rate == rate
    assert commitment.balance == Decimal(9400)
    assert commitment.runs_out_before_end  # 9,400 / 85.71 = 109.7 days, before the 12-month term ends
    assert commitment.latest_run_out_at is not None
    assert commitment.earliest_run_out_at is not None
    assert commitment.earliest_run_out_at < commitment.run_out_at < commitment.latest_run_out_at


def _with_user(admin: Identity) -> Identity:
    """Give the admin identity a user row, so alerts are mailed to them."""
    with UnitOfWork() as uow:
        uow.session.add(User(email=admin.email, customer_id=admin.customer_id, role="admin"))
    return admin


def test_budget_alerts_are_raised_once_each_at_80_and_100_percent_and_mailed(
    umbrella: Identity, outbox: Outbox
) -> None:
    admin = _with_user(umbrella)
    research, _ = _two_departments(admin)
    enterprise_id = admin.customer_id or ""

    def budget_alerts() -> list[enterprise_alerts.AlertView]:
        # At this week's burn the commitment also runs out before its term: that alert is tested below.
        return [a for a in enterprise_alerts.evaluate(enterprise_id) if a.kind.startswith("budget")]

    _use(research, 47_000, "r1")  # 470 of 600 credits: 78%, no alert yet
    assert budget_alerts() == []
    _use(research, 1_000, "r2")  # 480 of 600: exactly 80%
    [alert] = budget_alerts()
    assert (alert.kind, alert.subject_id) == (enterprise_alerts.BUDGET_80, research)
    assert alert.message.startswith("Research has drawn 480 AI credits of its 600 AI credits budget")
    assert budget_alerts() == []  # once per period
    _use(research, 20_000, "r3")  # 680 credits: the budget is used up
    [alert] = budget_alerts()
    assert alert.kind == enterprise_alerts.BUDGET_100
    assert "its usage is now billed as overage" in alert.message
    mails = [m for m in outbox.to(admin.email) if "budget" in m]
    assert len(mails) == 2
    assert "Research has drawn its whole 600 AI credits budget" in mails[-1]
    kinds = [a.kind for a in enterprise_alerts.recent_alerts(admin) if a.kind.startswith("budget")]
    assert kinds == [enterprise_alerts.BUDGET_100, enterprise_alerts.BUDGET_80]


def test_a_commitment_projected_to_run_out_before_its_term_raises_an_alert(umbrella: Identity) -> None:
    admin = _with_user(umbrella)
    research, _ = _two_departments(admin)
    enterprise.set_budget(admin, research, "")  # no cap: Research may draw all of the commitment
    _use(research, 900_000, "big")  # 9,000 of the 10,000 credits in the last day: runs out within days
    alerts = enterprise_alerts.evaluate(admin.customer_id or "")
    assert [a.kind for a in alerts] == [enterprise_alerts.COMMITMENT_RUNOUT]
    assert "runs out around" in alerts[0].message


def test_ingest_through_the_api_raises_alerts_within_seconds(umbrella: Identity) -> None:
    admin = _with_user(umbrella)
    research, _ = _two_departments(admin)
    _use(research, 50_000, "w1")  # 500 of 600 credits
    enterprise_alerts.watcher().touched([research])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not enterprise_alerts.recent_alerts(admin):
        time.sleep(0.1)
    assert enterprise_alerts.BUDGET_80 in [a.kind for a in enterprise_alerts.recent_alerts(admin)]


def test_only_admins_see_alerts(umbrella: Identity) -> None:
    with pytest.raises(Forbidden):
        enterprise_alerts.recent_alerts(replace(umbrella, role="member"))


def test_staff_set_up_three_levels_and_a_hundred_departments(umbrella: Identity) -> None:
    """Staff build Umbrella Corp -> 3 divisions -> 100 teams; teams paid by their division roll up to it."""
    root = umbrella.customer_id or ""
    divisions = [
        enterprise.create_department(STAFF, DepartmentSpec(f"Division {d}", payer="parent"), parent_id=root)
        for d in "ABC"
    ]
    teams = [
        enterprise.create_department(
            STAFF,
            DepartmentSpec(f"Team {n:03}", payer="parent" if n % 2 else "self", statement="consolidated"),
            parent_id=divisions[n % 3],
        )
        for n in range(100)
    ]
    separate = enterprise.create_department(
        STAFF, DepartmentSpec("Skunkworks", statement="separate", rate_card_id=RATE_CARD), parent_id=divisions[0]
    )
    _use(teams[1], 10_000, "t1")  # 100 credits by Team 001 (payer parent: Division B, payer parent: Umbrella)
    _use(teams[2], 20_000, "t2")  # 200 credits by Team 002 (pays for itself)
    view = enterprise.enterprise_view(umbrella)
    assert len(view.departments) == 1 + 3 + 100 + 1
    assert max(d.depth for d in view.departments) == 2
    assert view.department(teams[1]).figures.from_commitment == Decimal(100)
    assert view.commitments[0].remaining == Decimal(9700)
    assert view.department(separate).payer == "self"
    # Team 001 pays through Division B, which pays through Umbrella: its lines are on Umbrella's invoice.
    assert "Team 001" in {line.department for line in billing.draft(STAFF, root).lines}
    assert "Team 002" not in {line.department for line in billing.draft(STAFF, root).lines}
    assert {line.department for line in billing.draft(STAFF, teams[2]).lines} == {"Team 002"}
    with pytest.raises(InvalidInput, match="not a department under"):
        enterprise.set_commitment_access(STAFF, view.commitments[0].grant_id, ["cus_nobody"])
    enterprise.set_commitment_access(STAFF, view.commitments[0].grant_id, [teams[2]])
    # Access applies to the open period's draft as a whole: Team 001's 100 credits are now its overage.
    view = enterprise.enterprise_view(umbrella)
    assert (view.department(teams[1]).figures.from_commitment, view.department(teams[1]).figures.overage) == (
        Decimal(0),
        Decimal(100),
    )
    assert view.department(teams[2]).figures.from_commitment == Decimal(200)
    staff = enterprise.staff_view(STAFF, root)
    assert staff.view is not None
    assert staff.top_name == ""
    assert staff.view.commitments[0].child_access == (teams[2],)
    assert (staff.view.department(separate).statement, staff.view.department(divisions[0]).payer) == (
        "separate",
        "parent",
    )
    assert enterprise.staff_view(STAFF, teams[5]).top_name == "Umbrella Corp"
    newcomer = create_customer(STAFF, "No contract yet")
    assert enterprise.staff_view(STAFF, newcomer.id) == enterprise.StaffEnterprise(None, "", "")
    with pytest.raises(Forbidden):
        enterprise.staff_view(umbrella, root)


def test_the_watcher_notices_a_customer_that_becomes_an_enterprise(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
    customer = create_customer(STAFF, "Cyberdyne")
    watcher = enterprise_alerts.AlertWatcher()
    assert watcher.enterprise_of(customer.id) is None  # not an enterprise yet, and the watcher remembers that
    monkeypatch.setattr(enterprise_alerts, "ROOTS_KEPT_SECONDS", 0.0)  # as if the remembered answer had aged
    enterprise.open_enterprise(
        STAFF, customer.id, rate_card_id=RATE_CARD, commitment="10000", credit_type_id=CREDITS, term_months=12
    )
    writer().refresh_metrics()
    _use(customer.id, 900_000, "own")  # the enterprise itself burns 9,000 of its 10,000 credits in a day
    admin = _with_user(_admin_of(customer.id, "admin@cyberdyne.test"))
    assert watcher.enterprise_of(customer.id) == customer.id
    watcher.touched([customer.id])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not enterprise_alerts.recent_alerts(admin):
        time.sleep(0.1)
    assert [a.kind for a in enterprise_alerts.recent_alerts(admin)] == [enterprise_alerts.COMMITMENT_RUNOUT]


def test_a_department_that_pays_for_itself_gets_its_stripe_customer_at_once(
    umbrella: Identity, fake_stripe: str
) -> None:
    with settings_env(stripe_settings(fake_stripe)):
        own = enterprise.create_department(umbrella, DepartmentSpec("Research", "lead@research.test"))
        rolled_up = enterprise.create_department(umbrella, DepartmentSpec("Marketing", "lead@m.test", payer="parent"))
    with UnitOfWork() as uow:
        references = {c.id: c.payment_customer_id for c in uow.session.exec(select(Customer)).all()}
    assert (references[own] or "").startswith("cus_")
    assert references[rolled_up] is None  # its overage is on the invoice of the customer above it
