"""Entitlements: what a customer's tier grants right now, for the vendor's own product to ask on every request.

The answer (features, limits, remaining pooled credits) is kept in memory per
customer for :data:`FRESH_FOR` (one second, the same promise balances make),
so a burst of checks costs one indexed read each (the customer, to check the
caller may see it) and the rating behind it once a second at most. It is
worked out from the contract's terms at that instant: the package version it
is on and, for entitlements, that version's feature flags and limits.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from portal.db.models import Package, PackageVersion, RateCardRow, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing
from portal.services.customers import Actor, visible_customer
from portal.services.errors import InvalidInput, NotFound
from portal.services.proposals import current_terms

FRESH_FOR = 1.0
"""Seconds an answer is kept."""
KEPT = 10_000
"""Customers whose answer is kept at most (the least recently asked are dropped first)."""


@dataclass(frozen=True, slots=True)
class CreditsLeft:
    """What is left of the pooled credits of one credit type."""

    credit_type: str
    remaining: str
    remaining_units: str


@dataclass(frozen=True, slots=True)
class Entitlements:
    """A customer's tier right now: its name and version, features, limits (a number, or true/false) and credits."""

    customer_id: str
    package: str
    version: int
    features: tuple[str, ...]
    limits: dict[str, bool | int]
    credits: tuple[CreditsLeft, ...]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class FeatureCheck:
    """One feature: granted or not, and its limit when it has one."""

    customer_id: str
    feature: str
    granted: bool
    limit: int | None


class _Kept:
    """Answers kept per customer with the monotonic time they were worked out (thread-safe, bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, tuple[float, Entitlements]] = OrderedDict()

    def get(self, customer_id: str) -> Entitlements | None:
        with self._lock:
            found = self._answers.get(customer_id)
            if found is None or time.monotonic() - found[0] > FRESH_FOR:
                return None
            self._answers.move_to_end(customer_id)
            return found[1]

    def put(self, answer: Entitlements) -> None:
        with self._lock:
            self._answers[answer.customer_id] = (time.monotonic(), answer)
            self._answers.move_to_end(answer.customer_id)
            while len(self._answers) > KEPT:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


_kept = _Kept()


def forget() -> None:
    """Drop every kept answer (tests, and a server that must answer afresh)."""
    _kept.clear()


def _work_out(actor: Actor, customer_id: str, at: datetime) -> Entitlements:
    with UnitOfWork() as uow:
        session = uow.session
        contract = billing.active_contract(session, customer_id, at)
        terms = current_terms(session, at, [customer_id]).get(contract.id)
        version = session.get(PackageVersion, terms.package_version_id) if terms and terms.package_version_id else None
        package = session.get(Package, version.package_id) if version else None
        card = session.get(RateCardRow, terms.rate_card_id) if terms and terms.rate_card_id else None
        label = f"{package.name} v{version.version}" if package and version else card.name if card else ""
    balances = billing.balances(actor, customer_id, at)
    return Entitlements(
        customer_id=customer_id,
        package=label,
        version=version.version if version else 0,
        features=tuple(version.features) if version else (),
        limits=dict(version.entitlements) if version else {},
        credits=tuple(CreditsLeft(p.credit_type, p.remaining, p.remaining_units) for p in balances.pooled),
        as_of=at,
    )


def entitlements(actor: Actor, customer_id: str) -> Entitlements:
    """What the customer's tier grants right now (kept for up to a second)."""
    with UnitOfWork() as uow:
        visible_customer(uow.session, actor, customer_id)
    found = _kept.get(customer_id)
    if found is None:
        found = _work_out(actor, customer_id, utcnow())
        _kept.put(found)
    return found


def check(actor: Actor, customer_id: str, feature: str) -> FeatureCheck:
    """Whether the customer's tier grants ``feature`` now, and its limit; a feature the tier does not name is
    refused (404) with the names it does, so a misspelt check never passes silently."""
    name = feature.strip()
    if not name:
        raise InvalidInput("Name the feature to check, e.g. 'api_access'.")
    answer = entitlements(actor, customer_id)
    value = answer.limits.get(name)
    if value is None:
        raise NotFound(
            f"The tier {answer.package} does not name a feature {name!r}; it names "
            f"{', '.join(sorted(answer.limits)) or 'none'}."
        )
    if isinstance(value, bool):
        return FeatureCheck(customer_id, name, value, None)
    return FeatureCheck(customer_id, name, value > 0, value)
