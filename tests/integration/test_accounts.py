"""Each area shows only what the signed-in user may see."""

from __future__ import annotations

import pytest

from portal.services.accounts import customer_overview, enterprise_overview, staff_overview
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import Forbidden
from portal.services.identity import Identity, sign_in

pytestmark = pytest.mark.usefixtures("database")


def _who(email: str) -> Identity:
    return sign_in(email, DEMO_PASSWORD).identity


@pytest.fixture(autouse=True)
def _demo(database: str) -> None:
    seed_demo()


def test_customer_overview_lists_only_the_callers_team() -> None:
    overview = customer_overview(_who("member@acme.test"))
    assert overview.name == "Acme AI"
    assert [(m.email, m.role) for m in overview.members] == [
        ("admin@acme.test", "admin"),
        ("member@acme.test", "member"),
    ]


def test_enterprise_admin_sees_departments_with_member_counts() -> None:
    departments = enterprise_overview(_who("admin@globex.test"))
    assert [(d.name, d.members) for d in departments] == [("Globex Marketing", 0), ("Globex Research", 0)]


def test_enterprise_area_is_refused_to_plain_customer_admins() -> None:
    with pytest.raises(Forbidden, match="enterprise account with departments"):
        enterprise_overview(_who("admin@acme.test"))


@pytest.mark.parametrize("email", ["admin@acme.test", "member@acme.test", "admin@globex.test"])
def test_staff_overview_is_for_staff_only(email: str) -> None:
    with pytest.raises(Forbidden, match="staff only"):
        staff_overview(_who(email))


def test_staff_see_every_package_version_and_customer() -> None:
    overview = staff_overview(_who("staff@portal.test"))
    assert [(p.key, p.status, p.seat_price) for p in overview.packages] == [
        ("starter", "published", "$20.00"),
        ("team", "published", "$40.00"),
        ("business", "published", "$75.00"),
    ]
    assert ("Globex Research", "Globex Corporation") in [(c.name, c.parent) for c in overview.customers]


def test_staff_without_a_customer_have_no_customer_area() -> None:
    with pytest.raises(Forbidden, match="does not belong to a customer"):
        customer_overview(_who("staff@portal.test"))
