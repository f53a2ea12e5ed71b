"""Exact decimals and UTC instants survive a round trip through both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.exc import StatementError

from portal.db.models import CreditTypeRow, UsageEvent
from portal.db.uow import UnitOfWork


@pytest.mark.usefixtures("database")
def test_decimal_text_keeps_every_digit() -> None:
    price = Decimal("0.000000123456789012345678901")
    with UnitOfWork() as uow:
        uow.session.add(CreditTypeRow(id="tokens", name="tokens", unit_price=price))
    with UnitOfWork() as uow:
        row = uow.session.get(CreditTypeRow, "tokens")
        assert row is not None
        assert row.unit_price == price
        assert str(row.unit_price) == "1.23456789012345678901E-7"


@pytest.mark.usefixtures("database")
def test_instants_come_back_aware_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    with UnitOfWork() as uow:
        uow.session.add(
            UsageEvent(
                transaction_id="t1",
                customer_id="c",
                event_type="e",
                timestamp=datetime(2026, 1, 31, 23, 30, tzinfo=paris),
            )
        )
    with UnitOfWork() as uow:
        event = uow.session.get(UsageEvent, 1)
        assert event is not None
        assert event.timestamp == datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
        assert event.timestamp.tzinfo == UTC


@pytest.mark.usefixtures("database")
def test_naive_instants_are_refused_and_nothing_is_written() -> None:
    with pytest.raises(StatementError, match="naive datetime"), UnitOfWork() as uow:
        uow.session.add(
            UsageEvent(transaction_id="t2", customer_id="c", event_type="e", timestamp=datetime(2026, 1, 1))
        )
    with UnitOfWork() as uow:
        assert uow.session.get(UsageEvent, 1) is None
