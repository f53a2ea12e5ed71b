"""Records built from values the engine checked: equal to, and as frozen as, records built the normal way."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.periods import utc
from portal.domain.records import builder


def test_a_built_record_equals_the_normal_one_and_stays_frozen() -> None:
    build = builder(LedgerEntry)
    values = ("g", utc(2026, 1, 1), EntryKind.USAGE, Decimal("-1.5"), "charge-1", "c1", "ann")
    built = build(*values)
    normal = LedgerEntry(*values)
    assert (type(built), built, hash(built), repr(built)) == (LedgerEntry, normal, hash(normal), repr(normal))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.amount = Decimal(0)  # type: ignore[misc]


def test_a_builder_takes_the_fields_by_name_too() -> None:
    build = builder(LedgerEntry)
    entry = build(
        grant_id="g",
        at=utc(2026, 1, 1),
        kind=EntryKind.GRANT_START,
        amount=Decimal(5),
        reference="credit from manual",
        contract_id=None,
        seat_id=None,
    )
    assert entry == LedgerEntry("g", utc(2026, 1, 1), EntryKind.GRANT_START, Decimal(5), "credit from manual")


def test_only_a_slotted_dataclass_of_its_own_has_a_builder() -> None:
    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        value: int

    with pytest.raises(TypeError, match="build it the normal way"):
        builder(Unslotted)
