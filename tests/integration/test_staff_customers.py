"""Staff find customers, grant credits by hand with a reason, and void unpaid invoices; on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import InvoiceRow, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing, purchase, staff_customers
from portal.services.api_keys import create_api_key, revoke_api_key
from portal.services.audit import audit_log
from portal.services.demo_catalog import CREDITS
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import operator_identity
from tests.integration.conftest import CUSTOMER_USER, STAFF


def test_search_by_name_id_or_alias(initech: str) -> None:
    (found,) = staff_customers.search(STAFF, "init")
    assert (found.id, found.name, found.parent, found.package, found.users) == (initech, "Initech", "", "Team v1", 0)
    assert [c.id for c in staff_customers.search(STAFF, initech[-8:])] == [initech]
    assert staff_customers.search(STAFF, "no such customer") == []


def test_a_credit_granted_by_hand_is_in_the_balances_with_its_reason(initech: str) -> None:
    expires = utcnow() + timedelta(days=30)
    grant = staff_customers.grant_credits(
        STAFF, initech, "500", CREDITS, "Goodwill for the 3 November outage", ending_before=expires
    )
    assert (grant.amount, grant.reason) == ("500 AI credits", "Goodwill for the 3 November outage")
    balances = billing.balances(STAFF, initech)
    (manual,) = [g for g in balances.grants if g.id == grant.id]
    assert (manual.source, manual.kind, manual.granted, manual.remaining) == (
        "manual",
        "credit",
        "500 AI credits",
        "500 AI credits",
    )
    (entry,) = audit_log(STAFF, action="grant.manual")
    assert (entry.actor, entry.summary) == (
        "staff@portal.test",
        "500 AI credits granted to Initech: Goodwill for the 3 November outage",
    )


@pytest.mark.parametrize(
    ("amount", "credit_type", "reason", "message"),
    [
        ("0", CREDITS, "why", "more than zero, not 0"),
        ("ten", CREDITS, "why", "credit amount 'ten' is not a number"),
        ("5", CREDITS, "  ", "Say why the credit is granted"),
        ("5", "zorkmids", "why", "Unknown credit type 'zorkmids'"),
    ],
)
def test_wrong_grants_are_refused_by_name(
    initech: str, amount: str, credit_type: str, reason: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        staff_customers.grant_credits(STAFF, initech, amount, credit_type, reason)
    assert [g.source for g in billing.balances(STAFF, initech).grants].count("manual") == 0


def test_an_expiry_before_the_start_and_an_unknown_customer_are_refused(initech: str) -> None:
    with pytest.raises(InvalidInput, match="expires"):
        staff_customers.grant_credits(STAFF, initech, "5", CREDITS, "why", ending_before=utcnow() - timedelta(days=1))
    with pytest.raises(NotFound, match="no customer cus_nope"):
        staff_customers.grant_credits(STAFF, "cus_nope", "5", CREDITS, "why")


def test_void_an_unpaid_invoice_never_a_paid_one(initech: str) -> None:
    (first,) = billing.invoices(STAFF, initech)
    with pytest.raises(InvalidInput, match="Say why"):
        staff_customers.void_invoice(STAFF, first.id, "")
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, first.id)
        assert row is not None
        status = row.status
        row.status = "paid"
    with pytest.raises(InvalidInput, match="is paid: refund the payment first"):
        staff_customers.void_invoice(STAFF, first.id, "billed twice")
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, first.id)
        assert row is not None
        row.status = status
    assert staff_customers.void_invoice(STAFF, first.id, "billed twice") == "void"
    assert [i.status for i in billing.invoices(STAFF, initech)] == ["void"]
    with pytest.raises(InvalidInput, match="already void"):
        staff_customers.void_invoice(STAFF, first.id, "again")
    (entry,) = audit_log(STAFF, action="invoice.void")
    assert (entry.before, entry.after) == ({"status": status}, {"status": "void", "reason": "billed twice"})


def test_customers_cannot_use_staff_customer_tools(initech: str) -> None:
    for call in (
        lambda: staff_customers.search(CUSTOMER_USER, ""),
        lambda: staff_customers.grant_credits(CUSTOMER_USER, initech, "5", CREDITS, "free credits for me"),
        lambda: staff_customers.void_invoice(CUSTOMER_USER, "inv_x", "no"),
    ):
        with pytest.raises(Forbidden):
            call()


def test_the_staff_api_searches_grants_and_voids(initech: str) -> None:
    operator = operator_identity()
    staff = {"Authorization": f"Bearer {create_api_key(operator, 'staff', ['staff']).token}"}
    own = {"Authorization": f"Bearer {create_api_key(operator, 'read', ['read', 'ingest'], initech).token}"}
    (invoice,) = billing.invoices(STAFF, initech)
    with TestClient(create_api()) as client:
        assert [
            c["id"] for c in client.get("/api/v1/staff/customers", params={"search": "Init"}, headers=staff).json()
        ] == [initech]
        body = {"amount": "250", "credit_type_id": CREDITS, "reason": "Pilot extension"}
        granted = client.post(f"/api/v1/staff/customers/{initech}/grants", json=body, headers=staff)
        assert (granted.status_code, granted.json()["amount"]) == (201, "250 AI credits")
        voided = client.post(f"/api/v1/staff/invoices/{invoice.id}/void", json={"reason": "test"}, headers=staff)
        assert voided.json() == {"id": invoice.id, "status": "void"}
        for method, path, payload in [
            ("GET", "/api/v1/staff/customers", None),
            ("POST", f"/api/v1/staff/customers/{initech}/grants", body),
            ("POST", f"/api/v1/staff/invoices/{invoice.id}/void", {"reason": "mine"}),
        ]:
            assert client.request(method, path, json=payload, headers=own).status_code == 403


def test_staff_changes_elsewhere_are_in_the_audit_log(initech: str) -> None:
    key = create_api_key(STAFF, "backend", ["ingest"], initech)
    revoke_api_key(STAFF, key.key.id)
    billing.change_seats(STAFF, initech, add=("cat",))
    purchase.switch_tier(STAFF, initech, "starter")
    actions = [e.action for e in audit_log(STAFF)]
    # The initech fixture created the customer and provisioned it; then the key was made and revoked, a seat
    # added and the tier switched.
    assert actions[:6] == [
        "contract.switch",
        "contract.seats",
        "api_key.revoke",
        "api_key.create",
        "contract.provision",
        "customer.create",
    ]
    provisioned = audit_log(STAFF, action="contract.provision")[0]
    assert provisioned.summary == "Initech provisioned on team (version 1) with 3 seats"
    assert provisioned.actor == "staff@portal.test"
