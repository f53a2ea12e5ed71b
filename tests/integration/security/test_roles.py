"""Roles at the service level: what a member, an admin, an enterprise admin, a department admin and staff may read
and change in the account, enterprise and staff areas (the UI's handlers and the API call these services)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from portal.services import (
    alerts,
    api_keys,
    credit_purchases,
    enterprise,
    members,
    metrics,
    packages,
    products,
    rate_changes,
    spend_caps,
    staff_customers,
)
from portal.services import outgoing_webhooks as hooks
from portal.services.adoption import adoption
from portal.services.audit import audit_log
from portal.services.customers import create_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from tests.integration.security.conftest import World, changed_tables, snapshot

PEOPLE = ("acme_admin", "acme_member", "globex_admin", "research_admin", "staff")
Call = Callable[[World, Identity], object]

READS: dict[str, tuple[Call, set[str]]] = {
    # account area (Acme): its admins and staff
    "Acme's webhook endpoints": (lambda w, p: hooks.list_endpoints(p, w.acme), {"acme_admin", "staff"}),
    "Acme's API keys": (lambda w, p: api_keys.list_api_keys(p, w.acme), {"acme_admin", "staff"}),
    "Acme's alert rules": (lambda w, p: alerts.rules(p, w.acme), {"acme_admin", "staff"}),
    "Acme's spend caps": (lambda w, p: spend_caps.caps_view(p, w.acme), {"acme_admin", "staff"}),
    "Acme's members": (lambda w, p: members.members(p, w.acme), {"acme_admin", "staff"}),
    "Acme's credit purchases": (lambda w, p: credit_purchases.purchases(p, w.acme), {"acme_admin", "staff"}),
    # enterprise area: an admin sees their own customer and what is under it; staff see any enterprise
    "the enterprise page": (
        lambda _w, p: enterprise.enterprise_view(p),
        {"acme_admin", "globex_admin", "research_admin"},
    ),
    "Globex's staff view": (lambda w, p: enterprise.staff_view(p, w.globex), {"staff"}),
    # staff area
    "customer search": (lambda _w, p: staff_customers.search(p, ""), {"staff"}),
    "audit log": (lambda _w, p: audit_log(p), {"staff"}),
    "adoption": (lambda _w, p: adoption(p, 1), {"staff"}),
    "package versions": (lambda _w, p: packages.list_versions(p), {"staff"}),
    "metrics": (lambda _w, p: metrics.list_metrics(p), {"staff"}),
    "products": (lambda _w, p: products.list_products(p), {"staff"}),
    "rate cards": (lambda _w, p: rate_changes.list_rate_cards(p), {"staff"}),
    "alert rules for every customer": (lambda _w, p: alerts.all_customer_rules(p), {"staff"}),
}
"""What each role may read: (the read, who may). Everyone else is refused (403 or 404)."""

WRITES: dict[str, tuple[Call, set[str]]] = {
    "add a webhook endpoint to Acme": (
        lambda w, p: hooks.create_endpoint(p, w.acme, "https://93.184.216.34/x"),
        {"acme_member", "globex_admin", "research_admin"},
    ),
    "cap a seat of Acme": (
        lambda w, p: spend_caps.set_cap(p, w.acme, "1", w.acme_seat),
        {"acme_member", "globex_admin", "research_admin"},
    ),
    "invite to Acme": (
        lambda w, p: members.invite_member(p, w.acme, "new@acme.test"),
        {"acme_member", "globex_admin", "research_admin"},
    ),
    "set Research's budget": (
        lambda w, p: enterprise.set_budget(p, w.research, "1"),
        {"acme_admin", "acme_member", "research_admin"},
    ),
    "move budget from Marketing to Research": (
        lambda w, p: enterprise.move_budget(p, w.marketing, w.research, "1"),
        {"acme_admin", "acme_member", "research_admin"},
    ),
    "create a department under Globex": (
        lambda w, p: enterprise.create_department(
            p, enterprise.DepartmentSpec(name="Spies", admin_email="spy@example.test"), parent_id=w.globex
        ),
        {"acme_admin", "acme_member", "research_admin"},
    ),
    "grant Acme credits": (
        lambda w, p: staff_customers.grant_credits(p, w.acme, "1000", "ai-credits", "x"),
        {"acme_admin", "acme_member", "globex_admin", "research_admin"},
    ),
    "void Acme's invoice": (
        lambda w, p: staff_customers.void_invoice(p, w.acme_invoice, "x"),
        {"acme_admin", "acme_member", "globex_admin", "research_admin"},
    ),
    "create a customer": (
        lambda _w, p: create_customer(p, "Intruder"),
        {"acme_admin", "acme_member", "globex_admin", "research_admin"},
    ),
    "archive a metric": (
        lambda _w, p: metrics.archive_metric(p, "met_ai_tokens"),
        {"acme_admin", "acme_member", "globex_admin", "research_admin"},
    ),
}
"""Changes and who must be refused them (the others may; they are not made here)."""


def _refused(call: Callable[[], object]) -> bool:
    try:
        call()
    except (Forbidden, NotFound):
        return True
    return False


def test_each_role_reads_what_it_may_and_nothing_else(world: World) -> None:
    wrong = [
        f"{what}: {person} {'was refused' if person in allowed else 'was let through'}"
        for what, (read, allowed) in READS.items()
        for person in PEOPLE
        if _refused(lambda read=read, person=person: read(world, world.who(person))) == (person in allowed)
    ]
    assert not wrong, "\n".join(wrong)


def test_each_role_is_refused_the_changes_it_may_not_make(world: World) -> None:
    before = snapshot()
    let_through = [
        f"{what}: {person}"
        for what, (write, refused) in WRITES.items()
        for person in sorted(refused)
        if not _refused(lambda write=write, person=person: write(world, world.who(person)))
    ]
    assert not let_through, "changes that were not refused:\n" + "\n".join(let_through)
    assert changed_tables(before) == []


def test_an_alert_cannot_watch_a_seat_that_is_not_on_the_customers_plan(world: World) -> None:
    with pytest.raises(InvalidInput, match=r"There is no seat 'admin@acme\.test' on Globex Corporation's plan"):
        alerts.create_rule(world.who("globex_admin"), world.globex, alerts.BALANCE_BELOW, "5", seat_id=world.acme_seat)


def test_a_department_admin_sees_only_their_department_and_cannot_manage_it(world: World) -> None:
    view = enterprise.enterprise_view(world.who("research_admin"))
    assert (view.customer_id, [d.customer_id for d in view.departments]) == (world.research, [world.research])
    assert not view.can_manage
    whole = enterprise.enterprise_view(world.who("globex_admin"))
    assert {d.customer_id for d in whole.departments} == {world.globex, world.research, world.marketing}


def test_another_customers_alert_history_is_missing_without_naming_its_customer(world: World) -> None:
    with pytest.raises(NotFound) as refused:
        alerts.history(world.who("globex_admin"), world.acme_rule)
    assert str(refused.value) == f"There is no alert {world.acme_rule}."
