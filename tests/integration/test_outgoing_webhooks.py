"""Outgoing webhooks: signing, delivery to a real receiver on a loopback port, retries with backoff while it is
down, redelivery, system events emitted by the services, and who may manage endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from portal.db.models import WebhookDelivery, WebhookEvent, utcnow
from portal.db.uow import UnitOfWork
from portal.jobs import webhook_sender
from portal.services import billing
from portal.services import outgoing_webhooks as hooks
from portal.services.demo import DEMO_PASSWORD
from portal.services.demo_catalog import CREDITS
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity, sign_in
from portal.services.purchase import purchase
from portal.services.staff_customers import grant_credits
from portal.webhooks.verify import SignatureError, signature_header, verify
from tests.support.settings import settings_env
from tests.support.webhook_receiver import Receiver, free_port, listening


@pytest.fixture(autouse=True)
def _private_targets_allowed() -> Iterator[None]:
    """The receivers here listen on loopback ports, which only an installation that allows private targets may
    send to (tests/integration/security/test_webhook_targets.py covers the refusal)."""
    with settings_env({"PORTAL_WEBHOOKS_ALLOW_PRIVATE": "true"}):
        yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, listening; stopped by its handle at the end."""
    with listening() as found:
        yield found


def _admin(buyer: Identity) -> tuple[Identity, str]:
    bought = purchase(buyer, "team", 3, "Initech")
    return sign_in("new@initech.test", "pw-123456").identity, bought.customer_id


def _types(customer_id: str) -> list[str]:
    with UnitOfWork() as uow:
        return list(
            uow.session.exec(
                select(WebhookEvent.type).where(WebhookEvent.customer_id == customer_id).order_by(col(WebhookEvent.id))
            ).all()
        )


def test_the_verification_helper_accepts_a_signature_and_refuses_changes() -> None:
    body, secret, t = b'{"id":"evt_1","type":"invoice.paid"}', "whsec_abc", 1_795_000_000
    header = signature_header(secret, body, t)
    assert verify(secret, body, header, now=t + 10) == t
    with pytest.raises(SignatureError, match="does not match"):
        verify(secret, body.replace(b"paid", b"void"), header, now=t)
    with pytest.raises(SignatureError, match="does not match"):
        verify("whsec_other", body, header, now=t)
    with pytest.raises(SignatureError, match="seconds old"):
        verify(secret, body, header, now=t + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify(secret, body, None, now=t)
    with pytest.raises(SignatureError, match="needs t="):
        verify(secret, body, "v1=abc", now=t)
    # A second v1 (a secret being rolled over) is accepted when either matches.
    assert verify(secret, body, f"{header},v1={'0' * 64}", now=t) == t


def test_an_event_is_delivered_once_signed_and_verified_by_the_receiver(buyer: Identity, receiver: Receiver) -> None:
    admin, customer_id = _admin(buyer)
    endpoint = hooks.create_endpoint(admin, customer_id, receiver.url)
    receiver.secret = endpoint.secret
    assert endpoint.secret.startswith("whsec_")
    billing.change_seats(admin, customer_id, add=["ann@initech.test"])
    run = hooks.deliver_due()
    assert (run.delivered, run.failed, receiver.rejected) == (1, 0, [])
    [body] = receiver.bodies
    assert body["type"] == "seat.added"
    assert body["data"]["seat_ids"] == ["ann@initech.test"]
    assert receiver.event_ids == [body["id"]]
    assert body["id"].startswith("evt_")
    assert hooks.deliver_due().delivered == 0, "a delivered event is not sent again"
    [entry] = hooks.delivery_log(admin, customer_id)
    assert (entry.status, entry.attempts, entry.last_status_code) == ("delivered", 1, 200)
    assert entry.event_type == "seat.added"


def test_a_receiver_down_for_a_while_gets_every_event_once_in_order(buyer: Identity) -> None:
    admin, customer_id = _admin(buyer)
    receiver = Receiver(free_port())  # not listening yet: connections are refused
    endpoint = hooks.create_endpoint(admin, customer_id, receiver.url, ["seat.added", "seat.removed"])
    receiver.secret = endpoint.secret
    for person in ("a@initech.test", "b@initech.test"):
        billing.change_seats(admin, customer_id, add=[person])
    billing.change_seats(admin, customer_id, remove=["a@initech.test"])
    start = utcnow()
    run = hooks.deliver_due(start)
    assert (run.delivered, run.retrying) == (0, 1), "the oldest fails, the later ones wait behind it"
    log = {d.id: d for d in hooks.delivery_log(admin, customer_id)}
    head = min(log.values(), key=lambda d: d.id)
    assert (head.attempts, head.next_attempt_at) == (1, start + hooks.RETRY_DELAYS[0])
    assert "ConnectError" in head.last_error
    assert hooks.deliver_due(start + timedelta(seconds=5)).retrying == 0, "not due before its backoff"
    try:
        receiver.start()
        receiver.answer = 500  # up, but in trouble
        at = start + hooks.RETRY_DELAYS[0]
        assert hooks.deliver_due(at).retrying == 1
        head = next(d for d in hooks.delivery_log(admin, customer_id) if d.id == head.id)
        assert (head.attempts, head.last_status_code, head.status) == (2, 500, "pending")
        assert head.next_attempt_at == at + hooks.RETRY_DELAYS[1]
        receiver.answer = 200
        run = hooks.deliver_due(at + hooks.RETRY_DELAYS[1])
        assert (run.delivered, run.retrying, run.failed) == (3, 0, 0)
    finally:
        receiver.stop()
    with UnitOfWork() as uow:
        emitted = uow.session.exec(
            select(WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(col(WebhookDelivery.id))
        ).all()
    assert receiver.unique_ids() == list(emitted), "every event, each once, in the order it happened"
    assert [b["type"] for b in receiver.bodies] == ["seat.added", "seat.added", "seat.removed"]
    assert receiver.rejected == []


def test_a_lost_answer_is_sent_again_with_the_same_event_id_and_a_receiver_deduplicates(
    buyer: Identity, receiver: Receiver
) -> None:
    admin, customer_id = _admin(buyer)
    hooks.create_endpoint(admin, customer_id, receiver.url)
    billing.change_seats(admin, customer_id, add=["ann@initech.test"])
    # The receiver processed the event, but its answer never reached us: the attempt's claim expires.
    start = utcnow()
    [claimed] = hooks.delivery_log(admin, customer_id)
    with UnitOfWork() as uow:
        row = uow.session.get(WebhookDelivery, claimed.id)
        assert row is not None
        row.next_attempt_at, row.attempts = start - timedelta(seconds=1), 1
        uow.session.add(row)
    receiver.event_ids.append(claimed.event_id)
    assert hooks.deliver_due(start).delivered == 1
    assert receiver.event_ids == [claimed.event_id, claimed.event_id]
    assert receiver.unique_ids() == [claimed.event_id]


def test_the_last_failure_fails_the_delivery(buyer: Identity) -> None:
    admin, customer_id = _admin(buyer)
    hooks.create_endpoint(admin, customer_id, f"http://127.0.0.1:{free_port()}/never")
    billing.change_seats(admin, customer_id, add=["ann@initech.test"])
    at = utcnow()
    for delay in (*hooks.RETRY_DELAYS, None):
        hooks.deliver_due(at)
        at += delay or timedelta(0)
    [entry] = hooks.delivery_log(admin, customer_id)
    assert (entry.status, entry.attempts, entry.next_attempt_at) == ("failed", len(hooks.RETRY_DELAYS) + 1, None)


def test_redeliver_sends_the_same_event_again(buyer: Identity, receiver: Receiver) -> None:
    admin, customer_id = _admin(buyer)
    hooks.create_endpoint(admin, customer_id, receiver.url)
    billing.change_seats(admin, customer_id, add=["ann@initech.test"])
    hooks.deliver_due()
    [first] = hooks.delivery_log(admin, customer_id)
    again = hooks.redeliver(admin, first.id)
    assert hooks.deliver_due().delivered == 1
    assert receiver.event_ids == [first.event_id, first.event_id]
    newest, oldest = hooks.delivery_log(admin, customer_id)
    assert (newest.id, newest.event_id, newest.status, oldest.id) == (again, first.event_id, "delivered", first.id)


def test_system_events_from_buying_and_changing_seats(buyer: Identity) -> None:
    admin, customer_id = _admin(buyer)
    assert sorted(_types(customer_id)) == ["contract.started", "invoice.finalized"]
    billing.change_seats(admin, customer_id, add=["ann@initech.test"], quantity=4)
    billing.change_seats(admin, customer_id, remove=["ann@initech.test"])
    assert {"seat.added", "seat.removed"} <= set(_types(customer_id))
    assert _types(customer_id).count("invoice.finalized") == 2, "the added seat's prorated charge"
    with UnitOfWork() as uow:
        added, removed = (
            uow.session.exec(
                select(WebhookEvent).where(WebhookEvent.customer_id == customer_id, WebhookEvent.type == kind)
            ).one()
            for kind in ("seat.added", "seat.removed")
        )
        assert (added.payload["seat_ids"], added.payload["quantity"], added.payload["previous_quantity"]) == (
            ["ann@initech.test"],
            4,
            3,
        )
        assert (removed.payload["seat_ids"], removed.payload["quantity"]) == (["ann@initech.test"], 3)


def test_paying_an_invoice_emits_invoice_paid(buyer: Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    admin, customer_id = _admin(buyer)
    [invoice] = billing.invoices(admin, customer_id)

    class _Paying:
        name = "paying"

        def ensure_customer(self, customer_id: str, name: str, email: str | None, existing: str | None) -> str:
            return existing or f"pc_{customer_id}"

        def prepare(self, request: billing.CollectionRequest) -> str:
            return f"ch_{request.invoice_id}"

        def settle(self, request: billing.CollectionRequest, reference: str | None) -> billing.CollectionResult:
            return billing.CollectionResult(billing.PaymentStatus.PAID, self.name, "Paid.", reference)

    monkeypatch.setattr(billing, "configured_gateway", _Paying)
    assert billing.pay_again(admin, invoice.id).status == "paid"
    with UnitOfWork() as uow:
        [paid] = uow.session.exec(
            select(WebhookEvent).where(WebhookEvent.customer_id == customer_id, WebhookEvent.type == "invoice.paid")
        ).all()
    assert (paid.payload["invoice_id"], paid.payload["status"]) == (invoice.id, "paid")


def test_an_event_of_a_change_that_rolls_back_is_never_recorded(buyer: Identity) -> None:
    admin, customer_id = _admin(buyer)
    hooks.create_endpoint(admin, customer_id, "https://example.test/hook")
    before = _types(customer_id)

    def failing_change() -> None:
        with UnitOfWork() as uow:
            hooks.emit(uow.session, customer_id, "seat.added", {"seat_ids": ["x"]})
            raise RuntimeError("the change fails after the event was written")

    with pytest.raises(RuntimeError):
        failing_change()
    assert _types(customer_id) == before
    assert hooks.delivery_log(admin, customer_id) == []


def test_endpoints_take_http_urls_and_known_types_only(buyer: Identity) -> None:
    admin, customer_id = _admin(buyer)
    for bad in ("ftp://example.test/hook", "example.test/hook", "javascript:alert(1)", "http:///nohost"):
        with pytest.raises(InvalidInput, match=r"https://|names no host"):
            hooks.create_endpoint(admin, customer_id, bad)
    with pytest.raises(InvalidInput, match=r"Unknown event type 'invoice\.eaten'"):
        hooks.create_endpoint(admin, customer_id, "https://example.test/hook", ["invoice.eaten"])
    made = hooks.create_endpoint(admin, customer_id, " https://example.test/hook ", ["invoice.paid"])
    assert (made.url, made.event_types) == ("https://example.test/hook", ("invoice.paid",))
    billing.change_seats(admin, customer_id, add=["ann@initech.test"])
    assert hooks.delivery_log(admin, customer_id) == [], "an endpoint gets only the types it chose"
    hooks.set_enabled(admin, made.id, False)
    assert not hooks.list_endpoints(admin, customer_id)[0].enabled
    hooks.delete_endpoint(admin, made.id)
    assert hooks.list_endpoints(admin, customer_id) == []


def test_members_and_other_customers_cannot_manage_webhooks(buyer: Identity) -> None:
    admin, customer_id = _admin(buyer)
    made = hooks.create_endpoint(admin, customer_id, "https://example.test/hook")
    billing.change_seats(admin, customer_id, add=["ann@initech.test"])
    [delivery] = hooks.delivery_log(admin, customer_id)
    member = sign_in("member@acme.test", DEMO_PASSWORD).identity
    other_admin = sign_in("admin@acme.test", DEMO_PASSWORD).identity
    assert member.customer_id is not None
    with pytest.raises(Forbidden, match="Only an admin"):
        hooks.create_endpoint(member, member.customer_id, "https://example.test/hook")
    with pytest.raises(Forbidden, match="Only an admin"):
        hooks.list_endpoints(member, member.customer_id)
    with pytest.raises(NotFound):
        hooks.list_endpoints(other_admin, customer_id)
    with pytest.raises(NotFound):
        hooks.create_endpoint(other_admin, customer_id, "https://example.test/hook")
    with pytest.raises(NotFound, match=made.id):
        hooks.delete_endpoint(other_admin, made.id)
    with pytest.raises(NotFound, match=str(delivery.id)):
        hooks.redeliver(other_admin, delivery.id)
    staff = sign_in("staff@portal.test", DEMO_PASSWORD).identity
    assert [e.id for e in hooks.list_endpoints(staff, customer_id)] == [made.id]


def test_the_lifespan_task_sends_events_soon_after_they_happen(buyer: Identity, receiver: Receiver) -> None:
    admin, customer_id = _admin(buyer)
    hooks.create_endpoint(admin, customer_id, receiver.url, ["seat.added"])

    async def serve() -> None:
        async with webhook_sender():
            await asyncio.to_thread(billing.change_seats, admin, customer_id, ["ann@initech.test"])
            for _ in range(50):
                if receiver.event_ids:
                    return
                await asyncio.sleep(0.1)

    asyncio.run(serve())
    assert [b["type"] for b in receiver.bodies] == ["seat.added"]


def test_a_grant_made_by_staff_and_its_expiry_are_sent_once(buyer: Identity, receiver: Receiver) -> None:
    admin, customer_id = _admin(buyer)
    hooks.create_endpoint(admin, customer_id, receiver.url, ["grant.created", "grant.expired"])
    staff = sign_in("staff@portal.test", DEMO_PASSWORD).identity
    expires = utcnow() + timedelta(days=1)
    grant = grant_credits(staff, customer_id, "50", CREDITS, "Goodwill", ending_before=expires)
    assert hooks.deliver_due().delivered == 1
    hooks.emit_expired_grants(expires - timedelta(seconds=1))
    assert "grant.expired" not in _types(customer_id), "not expired yet"
    for later in (expires, expires + timedelta(hours=1), expires + hooks.GRANT_EXPIRY_LOOKBACK / 2):
        hooks.emit_expired_grants(later)
    assert _types(customer_id).count("grant.expired") == 1, "recorded once"
    hooks.deliver_due(expires + timedelta(hours=1))
    assert [(b["type"], b["data"]["grant_id"]) for b in receiver.bodies] == [
        ("grant.created", grant.id),
        ("grant.expired", grant.id),
    ]
    assert receiver.bodies[1]["id"] == hooks.expiry_event_id(grant.id)
