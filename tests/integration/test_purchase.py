"""Self-serve buying: quotes from the engine, purchase by a new user, tier switches, payment outcomes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from portal.db.models import utcnow
from portal.domain.money import Money, currency
from portal.domain.periods import Period, prorate
from portal.payments.gateway import CollectionRequest, CollectionResult, PaymentStatus
from portal.payments.offline import NOT_CONFIGURED
from portal.services import billing
from portal.services.dashboard import dashboard
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import Forbidden, InvalidInput, NotSignedIn
from portal.services.identity import Identity, sign_in
from portal.services.purchase import purchase, quote, switch_tier


def test_a_quote_prices_the_first_period_in_advance(database: str) -> None:
    seed_demo()
    team = quote("team", 3)
    # 3 seats x $40 for the first period, then the same each period.
    assert (team.name, team.due_today, team.due_today_minor, team.per_period) == ("Team", "$120.00", 12000, "$120.00")
    assert (team.min_seats, team.max_seats) == (3, 50)
    with pytest.raises(InvalidInput, match="at least 5 seats"):
        quote("business", 2)


def test_a_purchase_makes_the_buyer_admin_of_a_new_customer_holding_the_first_seat(buyer: Identity) -> None:
    bought = purchase(buyer, "team", 3, "Initech")
    assert bought.invoice is not None
    assert (bought.invoice.total_due, bought.invoice.status) == ("$120.00", "finalized")
    assert bought.invoice.payment_note == NOT_CONFIGURED
    me = sign_in("new@initech.test", "pw-123456").identity
    assert (me.customer_name, me.role) == ("Initech", "admin")
    contract = billing.contract_view(me, bought.customer_id)
    assert (contract.seats, contract.seat_ids) == (3, ("new@initech.test",))
    [invoice] = billing.invoices(me, bought.customer_id)
    assert invoice.payment_note == NOT_CONFIGURED


def test_purchase_refusals_name_the_reason(buyer: Identity) -> None:
    with pytest.raises(NotSignedIn):
        purchase(None, "team", 3, "Initech")
    with pytest.raises(InvalidInput, match="company's name"):
        purchase(buyer, "team", 3, " ")
    with pytest.raises(Forbidden, match="Staff accounts"):
        purchase(sign_in("staff@portal.test", DEMO_PASSWORD).identity, "team", 3, "X")
    with pytest.raises(InvalidInput, match="already belongs to Acme AI"):
        purchase(sign_in("admin@acme.test", DEMO_PASSWORD).identity, "team", 3, "X")
    with pytest.raises(InvalidInput, match="at least 3 seats"):
        purchase(buyer, "team", 1, "Initech")
    assert sign_in("new@initech.test", "pw-123456").identity.customer_id is None, "nothing half-written"


def test_an_upgrade_charges_the_difference_now_and_a_downgrade_waits_for_the_next_period(buyer: Identity) -> None:
    start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    bought = purchase(buyer, "starter", 3, "Initech", at=start)
    admin = sign_in("new@initech.test", "pw-123456").identity
    at = start + timedelta(days=10)
    preview = billing.preview_switch(admin, bought.customer_id, "team", at=at)
    contract, invoice = switch_tier(admin, bought.customer_id, "team", at=at)
    period = Period(contract.period_start, contract.period_end)
    # 3 seats x ($40 - $20) for the rest of the period.
    expected = Money(prorate(Decimal(60), Period(at, period.end), period), currency("USD")).rounded()
    assert invoice is not None
    assert invoice.total_due == expected.format() == preview.due_now
    assert billing.contract_view(admin, bought.customer_id, at + timedelta(hours=1)).package == "Team v1"
    later = at + timedelta(days=1)
    contract, invoice = switch_tier(admin, bought.customer_id, "starter", at=later)
    assert invoice is None, "a downgrade charges nothing now"
    assert billing.contract_view(admin, bought.customer_id, later).package == "Team v1"
    assert billing.contract_view(admin, bought.customer_id, period.end + timedelta(hours=1)).package == "Starter v1"


def test_a_switch_the_seats_do_not_fit_is_refused(buyer: Identity) -> None:
    bought = purchase(buyer, "team", 3, "Initech")
    admin = sign_in("new@initech.test", "pw-123456").identity
    with pytest.raises(InvalidInput, match="at least 5 seats"):
        switch_tier(admin, bought.customer_id, "business")
    with pytest.raises(InvalidInput, match="already on Team"):
        switch_tier(admin, bought.customer_id, "team")


class _DecliningGateway:
    """A payment provider that declines every card (the protocol's failure answer)."""

    name = "declining"

    def ensure_customer(
        self, customer_id: str, name: str, email: str | None, existing_reference: str | None
    ) -> str | None:
        return existing_reference or f"dc_{customer_id}"

    def prepare(self, request: CollectionRequest) -> str | None:
        return f"ch_{request.invoice_id}"

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        return CollectionResult(PaymentStatus.FAILED, self.name, "The card was declined.", reference)


def test_a_declined_payment_keeps_the_purchase_and_is_shown_to_the_admin(
    buyer: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(billing, "configured_gateway", _DecliningGateway)
    bought = purchase(buyer, "team", 3, "Initech")
    assert bought.invoice is not None
    assert (bought.invoice.status, bought.invoice.payment_note) == ("payment_failed", "The card was declined.")
    admin = sign_in("new@initech.test", "pw-123456").identity
    assert billing.contract_view(admin, bought.customer_id).seats == 3  # what was bought stays
    [failed] = dashboard(admin).failed_payments
    [invoice] = billing.invoices(admin, bought.customer_id)
    retry = invoice.next_payment_at  # a day after the declined payment
    assert retry is not None
    assert (failed.invoice_id, failed.message) == (
        bought.invoice.id,
        f"Payment of $120.00 for {bought.invoice.period} failed: The card was declined. "
        f"We will try again on {retry:%b} {retry.day}, {retry:%Y}. Update your card, then pay again.",
    )
