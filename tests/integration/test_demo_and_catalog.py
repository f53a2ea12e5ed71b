"""Demo data is idempotent and the catalog shows the published tiers with exact, formatted prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import func, select

from portal.db.models import Customer, IngestAlias, Package, PackageVersion, User, utcnow
from portal.db.uow import UnitOfWork
from portal.services.catalog import published_tiers
from portal.services.demo import demo_accounts, seed_demo

pytestmark = pytest.mark.usefixtures("database")


def _counts() -> dict[str, int]:
    with UnitOfWork() as uow:
        return {
            model.__name__: uow.session.exec(select(func.count()).select_from(model)).one()
            for model in (Customer, IngestAlias, User, Package, PackageVersion)
        }


def test_seed_demo_is_idempotent() -> None:
    seed_demo()
    first = _counts()
    seed_demo()
    assert _counts() == first
    assert first == {"Customer": 4, "IngestAlias": 4, "User": 4, "Package": 3, "PackageVersion": 3}


def test_demo_accounts_name_their_roles() -> None:
    assert [(a.email, a.role) for a in demo_accounts()] == [
        ("staff@portal.test", "staff"),
        ("admin@acme.test", "admin of Acme AI"),
        ("member@acme.test", "member of Acme AI"),
        ("admin@globex.test", "admin of Globex Corporation"),
    ]


def test_catalog_lists_published_tiers_in_rank_order_with_formatted_terms() -> None:
    seed_demo()
    tiers = published_tiers()
    assert [t.name for t in tiers] == ["Starter", "Team", "Business"]
    team = tiers[1]
    assert team.seat_price == "$40.00"
    assert team.per == "per seat / month"
    assert team.credits == "2,000 AI credits per seat / month"
    assert team.allocation == "pooled across your team"
    assert team.seats == "3 to 50 seats"
    assert tiers[2].seats == "from 5 seats"
    assert tiers[2].trial == ""


def test_catalog_shows_the_newest_published_version_and_never_drafts() -> None:
    seed_demo()
    with UnitOfWork() as uow:
        team = uow.session.exec(select(Package).where(Package.key == "team")).one()
        uow.session.add(
            PackageVersion(
                package_id=team.id, version=2, status="published", published_at=utcnow(), seat_price=Decimal("45.5")
            )
        )
        uow.session.add(PackageVersion(package_id=team.id, version=3, status="draft", seat_price=Decimal("99")))
    team_card = next(t for t in published_tiers() if t.key == "team")
    assert (team_card.version, team_card.seat_price, team_card.credits) == (2, "$45.50", "")


def test_catalog_is_empty_before_anything_is_published() -> None:
    assert published_tiers() == []
