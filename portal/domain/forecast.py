"""Forecasts: when a balance runs out at its recent burn rate, and what is left (or missing) at the term's end.

Rules:

* The **burn rate** is the mean of the daily burns given (the trailing days, oldest first; usually 7). With
  no burn at all the balance never runs out at this rate.
* The **band** comes from the spread of those days: the rate plus and minus one standard deviation of the
  daily burns (population), never below zero. The fast rate gives the earliest run-out, the slow rate the
  latest (none when the slow rate is zero).
* The **run-out** instant is ``now + balance / rate`` days. A balance already at zero has run out now;
  one that would last more than 100 years never runs out.
* At the **term's end**, the projected balance is ``balance - rate x days left``: above zero it is the
  commitment left unused, below zero the shortfall (what usage at this rate will cost beyond the balance).
  ``runs_out_before_end`` says whether the run-out comes before the term ends.

All arithmetic is Decimal; instants are UTC; days are 86,400 seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from portal.domain.errors import InvalidAmount
from portal.domain.money import ZERO, to_decimal
from portal.domain.periods import ensure_utc

_DAY_SECONDS = Decimal(86_400)

HORIZON_DAYS = 36_500
"""A balance that lasts longer than this (100 years) at the rate is treated as never running out."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """A balance's run-out at its trailing burn rate, with a band, and its projection at the term's end."""

    balance: Decimal
    daily_rate: Decimal
    slow_rate: Decimal
    fast_rate: Decimal
    run_out_at: datetime | None
    earliest_run_out_at: datetime | None
    latest_run_out_at: datetime | None
    term_end: datetime | None
    projected_at_end: Decimal | None
    """Balance left at the term's end at this rate (negative: the shortfall); None without a term end."""

    @property
    def runs_out_before_end(self) -> bool:
        """True when, at this rate, the balance runs out before the term ends."""
        return self.run_out_at is not None and (self.term_end is None or self.run_out_at < self.term_end)

    @property
    def unused_at_end(self) -> Decimal:
        """The commitment projected to be left unused at the term's end (zero when it runs short)."""
        return max(self.projected_at_end or ZERO, ZERO)

    @property
    def shortfall_at_end(self) -> Decimal:
        """What usage at this rate is projected to need beyond the balance by the term's end."""
        return max(-(self.projected_at_end or ZERO), ZERO)


def _after(now: datetime, balance: Decimal, rate: Decimal) -> datetime | None:
    if balance <= 0:
        return now
    if rate <= 0:
        return None
    days = balance / rate
    if days > HORIZON_DAYS:
        return None
    return now + timedelta(seconds=int(days * _DAY_SECONDS))


def forecast(
    balance: object, daily_burns: Sequence[object], now: datetime, term_end: datetime | None = None
) -> Forecast:
    """Forecast ``balance`` at the mean of ``daily_burns`` (see the module rules)."""
    now = ensure_utc(now, "forecast time")
    end = ensure_utc(term_end, "term end") if term_end is not None else None
    left = to_decimal(balance, "balance")
    burns = [to_decimal(b, "daily burn") for b in daily_burns]
    if not burns:
        raise InvalidAmount("Give at least one day of burn to forecast from (usually the last 7 days).")
    if any(b < 0 for b in burns):
        raise InvalidAmount("A daily burn cannot be negative: give what was drawn each day.")
    rate = sum(burns, ZERO) / len(burns)
    spread = (sum(((b - rate) ** 2 for b in burns), ZERO) / len(burns)).sqrt()
    slow, fast = max(rate - spread, ZERO), rate + spread
    projected = None
    if end is not None:
        days_left = max(Decimal((end - now).total_seconds()) / _DAY_SECONDS, ZERO)
        projected = left - rate * days_left
    return Forecast(
        balance=left,
        daily_rate=rate,
        slow_rate=slow,
        fast_rate=fast,
        run_out_at=_after(now, left, rate),
        earliest_run_out_at=_after(now, left, fast),
        latest_run_out_at=_after(now, left, slow),
        term_end=end,
        projected_at_end=projected,
    )
