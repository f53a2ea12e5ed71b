"""Staff clone a tier, edit the draft, simulate it over real usage, and publish it: on SQLite and PostgreSQL.

Figures are hand-computed from the demo catalog: Team is $40 a seat a month with 2,000 AI credits a seat,
pooled; AI tokens cost 10 credits per 1,000 tokens; an AI credit is worth $0.01.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.loaders import Catalog, load_family
from portal.db.models import PackageVersion, utcnow
from portal.db.uow import UnitOfWork
from portal.services import package_migrations, packages, simulation
from portal.services.api_keys import create_api_key
from portal.services.audit import audit_actions, audit_log
from portal.services.catalog import lineup_preview, published_tiers
from portal.services.errors import Forbidden, InvalidInput
from portal.services.identity import operator_identity
from tests.integration.conftest import CUSTOMER_USER, STAFF


def _team_version() -> str:
    (team,) = [v for v in packages.list_versions(STAFF) if v.key == "team" and v.status == "published"]
    return team.id


def test_clone_edit_simulate_acknowledge_publish(initech: str) -> None:
    draft = packages.clone_version(STAFF, _team_version(), key="team-plus", name="Team Plus", rank=4)
    assert (draft.status, draft.version, draft.new_package, draft.seat_price) == ("draft", 1, True, "$40.00")
    assert packages.credit_type_ids(STAFF) == ["ai-credits"]
    assert draft.terms["credits_per_seat"] == "2000"
    draft = packages.update_draft(STAFF, draft.id, {"credits_per_seat": "2500", "tagline": "More credits per seat."})
    assert draft.publish_blocker == "Simulate this draft before publishing it."
    with pytest.raises(InvalidInput, match="Simulate this draft"):
        packages.publish(STAFF, draft.id)

    run = simulation.start(STAFF, draft.id, periods=3, background=False)
    assert (run.status, run.percent, run.current) == ("done", 100, True)
    (row,) = [r for r in run.rows if r["customer_id"] == initech]
    # Current: month 1: 3 seats × $40 = $120, 7,000 credits against a 6,000 pool: 1,000 × $0.01 = $10 overage;
    # month 2: $120. Proposed (2,500 a seat): a 7,500 pool covers month 1; $120 + $120.
    assert (row["periods"], row["current_minor"], row["proposed_minor"], row["difference_minor"]) == (
        2,
        25000,
        24000,
        -1000,
    )
    assert (row["difference"], row["burn_current"], row["burn_proposed"], row["burn_change"]) == (
        "-$10.00",
        "6000",
        "7000",
        "1000",
    )
    assert (row["ran_out_current"], row["ran_out_proposed"], row["newly_runs_out"]) == (True, False, False)
    (total,) = run.totals
    assert (total["customers"], total["difference"], total["paying_less"]) == (len(run.rows), "-$10.00", 1)
    csv_text = simulation.as_csv(run)
    assert csv_text.splitlines()[0].startswith("Customer,Customer id,Contract id")
    assert f"Initech,{initech}," in csv_text
    assert "-$10.00" in csv_text

    with pytest.raises(InvalidInput, match="acknowledge"):
        packages.publish(STAFF, draft.id)
    simulation.acknowledge(STAFF, run.id)
    published = packages.publish(STAFF, draft.id)
    assert (published.status, published.publish_blocker) == ("published", "")
    assert "team-plus" in [t.key for t in published_tiers()]
    with pytest.raises(InvalidInput, match="never changes"):
        packages.update_draft(STAFF, draft.id, {"seat_price": "1"})
    with pytest.raises(InvalidInput, match="nobody to migrate"):  # a new tier has no customers on older versions
        package_migrations.schedule(STAFF, draft.id)

    entries = audit_log(STAFF, search="Team Plus")
    assert [e.action for e in entries] == [
        "package.publish",
        "simulation.acknowledge",
        "package.edit",
        "package.clone",
    ]
    edit = entries[2]
    assert (edit.actor, edit.before, edit.after) == (
        "staff@portal.test",
        {"credits_per_seat": "2000", "tagline": "For teams that build with AI every day."},
        {"credits_per_seat": "2500", "tagline": "More credits per seat."},
    )
    assert "package.publish" in audit_actions(STAFF)
    assert [e.action for e in audit_log(STAFF, action="package.clone")] == ["package.clone"]


def test_an_edit_after_the_simulation_needs_a_new_one(initech: str) -> None:
    draft = packages.clone_version(STAFF, _team_version())
    assert (draft.key, draft.version, draft.new_package) == ("team", 2, False)
    run = simulation.start(STAFF, draft.id, background=False)
    simulation.acknowledge(STAFF, run.id)
    packages.update_draft(STAFF, draft.id, {"seat_price": "45"})
    assert simulation.view(STAFF, run.id).current is False
    with pytest.raises(InvalidInput, match="changed since its last simulation"):
        packages.publish(STAFF, draft.id)
    with pytest.raises(InvalidInput, match="changed after this simulation"):
        simulation.acknowledge(STAFF, run.id)
    rerun = simulation.start(STAFF, draft.id, background=False)
    (row,) = [r for r in rerun.rows if r["customer_id"] == initech]
    # $5 more a seat: 3 seats × $5 × 2 months.
    assert row["difference_minor"] == 3000
    simulation.acknowledge(STAFF, rerun.id)
    assert packages.publish(STAFF, draft.id).status == "published"
    # The alias moved: new customers get version 2; Initech stays on version 1 until migrated.
    assert [t.version for t in published_tiers() if t.key == "team"] == [2]
    assert package_migrations.pending_count(STAFF, draft.id) == (1, "")
    migration = package_migrations.schedule(STAFF, draft.id)
    next_period = (utcnow().replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    ((contract_id, moves_on),) = migration.scheduled
    assert (moves_on, migration.skipped) == (next_period.date().isoformat(), ())
    with UnitOfWork() as uow:
        contract = load_family(uow.session, contract_id, Catalog(uow.session)).contract(contract_id)
    assert (contract.terms_at(utcnow()).name, contract.terms_at(next_period).name) == ("Team v1", "Team v2")
    again = package_migrations.schedule(STAFF, draft.id)
    assert again.scheduled == ()
    assert again.skipped == ((contract_id, f"a change of terms is already scheduled for {next_period:%Y-%m-%d}"),)
    assert [e.action for e in audit_log(STAFF, action="package.migrate")] == ["package.migrate"] * 2


def test_one_draft_per_package_and_bad_fields_are_named(initech: str) -> None:
    draft = packages.clone_version(STAFF, _team_version())
    with pytest.raises(InvalidInput, match="already has a draft"):
        packages.clone_version(STAFF, _team_version())
    for changes, message in [
        ({"seat_price": "-1"}, "seat price must be zero or more"),
        ({"seat_price": "ten"}, "seat price 'ten' is not a number"),
        ({"min_seats": "0"}, "min seats must be between 1 and 1000000"),
        ({"max_seats": "2"}, r"maximum seats \(2\) is below the minimum \(3\)"),
        ({"credit_allocation": "SHARED"}, "credit allocation must be one of POOLED, INDIVIDUAL, HYBRID"),
        ({"rate_card_id": "rcd_nope"}, "no rate card 'rcd_nope'"),
        ({"trial_days": "400"}, "trial days must be between 0 and 365"),
        ({"colour": "red"}, "Unknown fields colour"),
        ({"name": "Squad"}, "name of Team cannot change"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            packages.update_draft(STAFF, draft.id, changes)
    with UnitOfWork() as uow:
        row = uow.session.get(PackageVersion, draft.id)
        assert row is not None
        assert (row.seat_price, row.min_seats, row.max_seats) == (40, 3, 50)
    with pytest.raises(InvalidInput, match="already exists"):
        packages.clone_version(STAFF, draft.id, key="team", name="Team again")
    with pytest.raises(InvalidInput, match="key 'Team Plus!' is not usable"):
        packages.clone_version(STAFF, draft.id, key="Team Plus!", name="x")
    packages.discard_draft(STAFF, draft.id)
    assert [v.status for v in packages.list_versions(STAFF) if v.key == "team"] == ["published"]


def test_customers_get_nothing_from_staff_services(initech: str) -> None:
    version = _team_version()
    for call in (
        lambda: packages.list_versions(CUSTOMER_USER),
        lambda: packages.credit_type_ids(CUSTOMER_USER),
        lambda: packages.version_detail(CUSTOMER_USER, version),
        lambda: packages.clone_version(CUSTOMER_USER, version),
        lambda: packages.update_draft(CUSTOMER_USER, version, {"seat_price": "1"}),
        lambda: packages.publish(CUSTOMER_USER, version),
        lambda: packages.discard_draft(CUSTOMER_USER, version),
        lambda: simulation.start(CUSTOMER_USER, version, background=False),
        lambda: simulation.latest(CUSTOMER_USER, version),
        lambda: audit_log(CUSTOMER_USER),
        lambda: package_migrations.schedule(CUSTOMER_USER, version),
        lambda: package_migrations.pending_count(CUSTOMER_USER, version),
    ):
        with pytest.raises(Forbidden, match="staff only"):
            call()


def test_the_preview_shows_the_line_up_with_the_draft_in_place(initech: str) -> None:
    draft = packages.clone_version(STAFF, _team_version(), key="team-plus", name="Team Plus", rank=2)
    packages.update_draft(STAFF, draft.id, {"credits_per_seat": "2500", "seat_price": "45"})
    lineup = lineup_preview(STAFF, draft.id)
    assert [(t.key, t.seat_price, t.credits) for t in lineup] == [
        ("starter", "$20.00", "500 AI credits per seat / month"),
        ("team", "$40.00", "2,000 AI credits per seat / month"),
        ("team-plus", "$45.00", "2,500 AI credits per seat / month"),
        ("business", "$75.00", "4,000 AI credits per seat / month"),
    ]
    assert "team-plus" not in [t.key for t in published_tiers()]
    new_team = packages.clone_version(STAFF, _team_version())
    packages.update_draft(STAFF, new_team.id, {"seat_price": "42"})
    assert [t.seat_price for t in lineup_preview(STAFF, new_team.id) if t.key == "team"] == ["$42.00"]
    with pytest.raises(Forbidden):
        lineup_preview(CUSTOMER_USER, draft.id)


@pytest.fixture
def staff_api(initech: str) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    """The API, with the headers of a staff key and of a customer's key that has every customer scope."""
    operator = operator_identity()
    staff_key = create_api_key(operator, "staff", ["staff"]).token
    customer_key = create_api_key(operator, "initech", ["ingest", "read"], initech).token
    with TestClient(create_api()) as client:
        yield client, {"Authorization": f"Bearer {staff_key}"}, {"Authorization": f"Bearer {customer_key}"}


def test_the_staff_api_does_all_the_pages_do(staff_api: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, staff, _ = staff_api
    team = _team_version()
    cloned = client.post(f"/api/v1/staff/packages/{team}/clone", json={"key": "team-x", "name": "Team X", "rank": 5})
    assert cloned.status_code == 401
    cloned = client.post(
        f"/api/v1/staff/packages/{team}/clone", json={"key": "team-x", "name": "Team X", "rank": 5}, headers=staff
    )
    assert cloned.status_code == 201, cloned.text
    draft = cloned.json()["id"]
    bad = client.patch(f"/api/v1/staff/packages/{draft}", json={"seat_price": "-5"}, headers=staff)
    assert (bad.status_code, bad.json()["detail"]) == (422, "The seat price must be zero or more, not -5.")
    edited = client.patch(f"/api/v1/staff/packages/{draft}", json={"credits_per_seat": "2500"}, headers=staff)
    assert edited.json()["terms"]["credits_per_seat"] == "2500"
    refused = client.post(f"/api/v1/staff/packages/{draft}/publish", headers=staff)
    assert (refused.status_code, refused.json()["detail"]) == (
        422,
        "Not published. Simulate this draft before publishing it.",
    )
    preview = client.get(f"/api/v1/staff/packages/{draft}/preview", headers=staff).json()
    assert [t["key"] for t in preview] == ["starter", "team", "business", "team-x"]
    started = client.post(f"/api/v1/staff/packages/{draft}/simulations", json={"periods": 2}, headers=staff)
    assert started.status_code == 202
    simulation_id = started.json()["id"]
    deadline = time.monotonic() + 30
    while (run := client.get(f"/api/v1/staff/simulations/{simulation_id}", headers=staff).json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline, "the simulation did not finish in 30 s"
        time.sleep(0.1)
    assert run["status"] == "done"
    assert [r["difference"] for r in run["rows"] if r["customer"] == "Initech"] == ["-$10.00"]
    csv_response = client.get(f"/api/v1/staff/simulations/{simulation_id}/csv", headers=staff)
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "Initech" in csv_response.text
    assert client.post(f"/api/v1/staff/simulations/{simulation_id}/acknowledge", headers=staff).status_code == 200
    published = client.post(f"/api/v1/staff/packages/{draft}/publish", headers=staff)
    assert published.json()["status"] == "published"
    pending = client.get(f"/api/v1/staff/packages/{draft}/migration", headers=staff).json()
    assert pending == {"pending": 0, "blocker": ""}
    nobody = client.post(f"/api/v1/staff/packages/{draft}/migration", headers=staff)
    assert (nobody.status_code, nobody.json()["detail"]) == (
        422,
        "No customer is on an older version of this package: there is nobody to migrate.",
    )
    audit = client.get("/api/v1/staff/audit", params={"search": "Team X"}, headers=staff).json()
    assert [e["action"] for e in audit] == [
        "package.publish",
        "simulation.acknowledge",
        "package.edit",
        "package.clone",
    ]
    assert all(e["actor"].startswith("API key key_") for e in audit)


def test_a_customer_key_gets_nothing_from_the_staff_api(
    staff_api: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, _, customer = staff_api
    team = _team_version()
    for method, path, body in [
        ("GET", "/api/v1/staff/packages", None),
        ("GET", f"/api/v1/staff/packages/{team}", None),
        ("POST", f"/api/v1/staff/packages/{team}/clone", {}),
        ("PATCH", f"/api/v1/staff/packages/{team}", {"seat_price": "1"}),
        ("DELETE", f"/api/v1/staff/packages/{team}", None),
        ("POST", f"/api/v1/staff/packages/{team}/publish", None),
        ("GET", f"/api/v1/staff/packages/{team}/preview", None),
        ("GET", f"/api/v1/staff/packages/{team}/migration", None),
        ("POST", f"/api/v1/staff/packages/{team}/migration", None),
        ("POST", f"/api/v1/staff/packages/{team}/simulations", {}),
        ("GET", "/api/v1/staff/simulations/sim_x", None),
        ("GET", "/api/v1/staff/simulations/sim_x/csv", None),
        ("POST", "/api/v1/staff/simulations/sim_x/acknowledge", None),
        ("GET", "/api/v1/staff/audit", None),
        ("GET", "/api/v1/staff/rate-cards", None),
        ("GET", "/api/v1/staff/products", None),
        ("POST", "/api/v1/staff/products", {"name": "x", "kind": "fixed"}),
        ("GET", "/api/v1/staff/rate-cards/rcd_standard", None),
        (
            "POST",
            "/api/v1/staff/rate-cards/rcd_standard/changes",
            {"product_id": "prd_ai_tokens", "starting_at": "2099-01-01T00:00:00Z", "price": {}, "credit_type_id": "x"},
        ),
        ("GET", "/api/v1/staff/rate-changes/rch_x", None),
        ("DELETE", "/api/v1/staff/rate-changes/rch_x", None),
        ("POST", "/api/v1/staff/rate-changes/rch_x/simulations", {}),
        ("POST", "/api/v1/staff/rate-changes/rch_x/schedule", None),
    ]:
        response = client.request(method, path, json=body, headers=customer)
        assert response.status_code == 403, (method, path, response.text)
        assert "staff" in response.json()["detail"]
    assert [v.status for v in packages.list_versions(STAFF)].count("draft") == 0


def test_credits_included_every_period_are_simulated_and_named_when_wrong(initech: str) -> None:
    draft = packages.clone_version(STAFF, _team_version())
    with pytest.raises(InvalidInput, match="Included grant 1: the kind must be credit or commit, not 'bonus'"):
        packages.update_draft(STAFF, draft.id, {"included_grants": [{"kind": "bonus", "amount": "5"}]})
    with pytest.raises(InvalidInput, match="Included grant 1: the amount must be more than zero, not 0"):
        packages.update_draft(
            STAFF, draft.id, {"included_grants": [{"kind": "credit", "amount": "0", "credit_type_id": "ai-credits"}]}
        )
    with pytest.raises(InvalidInput, match="Included grant 1: 'zorkmids' is no credit type or currency"):
        packages.update_draft(
            STAFF, draft.id, {"included_grants": [{"kind": "credit", "amount": "5", "credit_type_id": "zorkmids"}]}
        )
    included = [{"kind": "credit", "amount": "1000", "credit_type_id": "ai-credits"}]
    edited = packages.update_draft(STAFF, draft.id, {"included_grants": included})
    (team,) = [t for t in lineup_preview(STAFF, draft.id) if t.key == "team"]
    assert team.included == "1,000 AI credits included every month"
    assert edited.terms["included_grants"] == [
        {"id": "1", "kind": "credit", "credit_type_id": "ai-credits", "amount": "1000"}
    ]
    run = simulation.start(STAFF, draft.id, background=False)
    (row,) = [r for r in run.rows if r["customer_id"] == initech]
    # 1,000 more credits every month: month 1's 1,000 credits of overage ($10) are covered; month 2 used none.
    assert (row["difference_minor"], row["ran_out_current"], row["ran_out_proposed"]) == (-1000, True, False)
