"""Server-side request forgery through outgoing webhooks: endpoint URLs must resolve to public addresses, checked
when an endpoint is added and again before each delivery, unless the installation allows private targets."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.db.models import WebhookDelivery, WebhookEndpoint
from portal.db.uow import UnitOfWork
from portal.services import billing
from portal.services import outgoing_webhooks as hooks
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import InvalidInput
from portal.services.identity import Identity, sign_in
from portal.services.webhook_targets import check_target
from tests.support.settings import settings_env
from tests.support.webhook_receiver import listening

ALLOW_PRIVATE = {"PORTAL_WEBHOOKS_ALLOW_PRIVATE": "true"}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000/hook", "a loopback address"),
        ("http://localhost/hook", "a loopback address"),
        ("http://2130706433/hook", "a loopback address"),  # 127.0.0.1 written as one number
        ("http://0x7f.1/hook", "a loopback address"),
        ("http://[::1]/hook", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", r"a loopback address \(inside the IPv6 address"),
        ("http://[64:ff9b::a9fe:a9fe]/hook", r"a link-local address \(inside the IPv6 address"),  # NAT64
        ("http://[2002:a00:1::1]/hook", r"a private address \(inside the IPv6 address"),  # 6to4 of 10.0.0.1
        ("http://0.0.0.0/hook", "an unspecified address"),
        ("http://[::]/hook", "an unspecified address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[fe80::1]/hook", "a link-local address"),
        ("https://10.1.2.3/hook", "a private address"),
        ("https://172.16.0.1/hook", "a private address"),
        ("https://192.168.1.1/hook", "a private address"),
        ("https://[fd00::1]/hook", "a private address"),
        ("http://100.64.0.1/hook", "not a public address"),  # carrier-grade NAT
        ("http://224.0.0.1/hook", "a multicast address"),
        ("http://[ff02::1]/hook", "a multicast address"),
        ("http://240.0.0.1/hook", "a private address|a reserved address"),
        ("http://192.0.2.10/hook", "a private address"),  # documentation range
    ],
)
def test_a_url_that_reaches_a_non_public_address_is_refused_naming_it_and_why(url: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        check_target(url)
    assert url in str(refused.value)
    assert "PORTAL_WEBHOOKS_ALLOW_PRIVATE" in str(refused.value)


def test_a_public_address_passes_and_a_host_that_does_not_resolve_is_refused() -> None:
    check_target("https://93.184.216.34/hook")
    check_target("https://[2606:4700::1111]:8443/hook")
    with pytest.raises(InvalidInput, match=r"'no-such-host\.invalid' does not resolve"):
        check_target("https://no-such-host.invalid/hook")


def test_an_installation_that_allows_private_targets_skips_the_check() -> None:
    with settings_env(ALLOW_PRIVATE):
        check_target("http://127.0.0.1:8000/hook")
        check_target("http://169.254.169.254/")


@pytest.fixture
def acme_admin(database: str) -> Identity:
    seed_demo()
    return sign_in("admin@acme.test", DEMO_PASSWORD).identity


def test_an_admin_cannot_add_an_endpoint_on_the_servers_network(acme_admin: Identity) -> None:
    assert acme_admin.customer_id is not None
    for url in ("http://169.254.169.254/latest/meta-data/", "http://localhost:5432/", "http://[::1]:6379/"):
        with pytest.raises(InvalidInput, match="is refused"):
            hooks.create_endpoint(acme_admin, acme_admin.customer_id, url)
    with UnitOfWork() as uow:
        assert uow.session.exec(select(WebhookEndpoint)).all() == [], "nothing was stored"
    made = hooks.create_endpoint(acme_admin, acme_admin.customer_id, "https://93.184.216.34/hook")
    assert made.url == "https://93.184.216.34/hook"


def test_the_sender_checks_again_before_each_delivery(acme_admin: Identity) -> None:
    customer_id = acme_admin.customer_id
    assert customer_id is not None
    with listening() as receiver:
        with settings_env(ALLOW_PRIVATE):
            endpoint = hooks.create_endpoint(acme_admin, customer_id, receiver.url, ["seat.added"])
        billing.change_seats(acme_admin, customer_id, add=["ann@acme.test"])
        run = hooks.deliver_due()
        assert (run.delivered, run.retrying, receiver.event_ids) == (0, 1, []), "nothing reaches a loopback receiver"
        with UnitOfWork() as uow:
            [delivery] = uow.session.exec(select(WebhookDelivery)).all()
        assert f"{receiver.url!r} is refused" in delivery.last_error
        assert "a loopback address" in delivery.last_error
        assert delivery.last_status_code is None
        receiver.secret = endpoint.secret
        with settings_env(ALLOW_PRIVATE):
            assert hooks.deliver_due(delivery.next_attempt_at).delivered == 1
        assert len(receiver.event_ids) == 1
