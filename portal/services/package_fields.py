"""The fields of a package version draft staff may edit, each with the parser that checks it.

Every parser takes the field's name, the submitted value and the session, and returns the value to store or
raises :class:`~portal.services.errors.InvalidInput` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from portal.db.codecs import lookup_credit_type, override_from_doc
from portal.db.loaders import Catalog
from portal.db.models import CreditTypeRow, RateCardRow
from portal.domain.errors import DomainError, InvalidAmount
from portal.domain.money import bounded_decimal
from portal.domain.periods import Frequency
from portal.domain.seats import MAX_SEATS, CreditAllocation, CreditProration, DecreasePolicy, IncreasePolicy
from portal.services.errors import InvalidInput

MAX_TRIAL_DAYS = 365

Parser = Callable[[str, Any, Session], Any]
"""Checks one submitted field: (name, value, session) to the value to store."""


def text(limit: int) -> Parser:
    """A parser of text of at most ``limit`` characters (surrounding space dropped)."""

    def parse(name: str, value: Any, _: Session) -> str:
        text = str(value or "").strip()
        if len(text) > limit:
            raise InvalidInput(f"The {name} is {len(text)} characters long: keep it to {limit}.")
        return text

    return parse


def _amount(name: str, value: Any, _: Session) -> Decimal:
    try:
        amount = bounded_decimal(value, name.replace("_", " "))
    except InvalidAmount as exc:
        raise InvalidInput(str(exc)) from None
    if amount < 0:
        raise InvalidInput(f"The {name.replace('_', ' ')} must be zero or more, not {amount}.")
    return amount


def whole(low: int, high: int | None = None, optional: bool = False) -> Parser:
    """A parser of a whole number from ``low`` to ``high`` (empty allowed when ``optional``)."""

    def parse(name: str, value: Any, _: Session) -> int | None:
        label = name.replace("_", " ")
        if optional and (value is None or str(value).strip() == ""):
            return None
        try:
            number = int(str(value).strip())
        except ValueError:
            raise InvalidInput(f"The {label} must be a whole number, not {value!r}.") from None
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"{low} or more"
            raise InvalidInput(f"The {label} must be {bound}, not {number}.")
        return number

    return parse


def _choice(values: list[str], upper: bool = False) -> Callable[[str, Any, Session], Any]:
    def parse(name: str, value: Any, _: Session) -> str:
        text = str(value or "").strip()
        text = text.upper() if upper else text.lower()
        if text not in values:
            raise InvalidInput(f"The {name.replace('_', ' ')} must be one of {', '.join(values)}, not {value!r}.")
        return text

    return parse


def _features(name: str, value: Any, _: Session) -> list[str]:
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise InvalidInput("The features must be a list of lines of text.")
    features = [i.strip() for i in items if i.strip()]
    if any(len(f) > 200 for f in features):
        raise InvalidInput("A feature is longer than 200 characters: keep each to one short line.")
    return features


def _entitlements(name: str, value: Any, _: Session) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise InvalidInput("The entitlements must map feature names to a limit (a number) or true/false.")
    for key, limit in value.items():
        if not isinstance(limit, bool | int | str) or (isinstance(limit, str) and not limit.isdigit()):
            raise InvalidInput(f"Entitlement {key!r} must be true, false or a whole-number limit, not {limit!r}.")
        try:
            if not isinstance(limit, bool):
                bounded_decimal(limit, f"limit of entitlement {key!r}")
        except InvalidAmount as exc:
            raise InvalidInput(str(exc)) from None
    return {k: int(v) if isinstance(v, str) else v for k, v in value.items()}


def _credit_type(name: str, value: Any, session: Session) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if session.get(CreditTypeRow, text) is None:
        raise InvalidInput(f"There is no credit type {text!r}: create it first or pick an existing one.")
    return text


def _rate_card(name: str, value: Any, session: Session) -> str:
    text = str(value or "").strip()
    if session.get(RateCardRow, text) is None:
        raise InvalidInput(f"There is no rate card {text!r}.")
    return text


def _overrides(name: str, value: Any, session: Session) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
        raise InvalidInput("The overrides must be a list of override documents.")
    credit_types = Catalog(session).credit_types
    for number, doc in enumerate(value, start=1):
        try:
            override_from_doc(doc, credit_types)
        except (DomainError, ValueError, TypeError) as exc:
            raise InvalidInput(f"Override {number}: {exc}") from None
    return list(value)


def _included(name: str, value: Any, session: Session) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(g, dict) for g in value):
        raise InvalidInput("The included grants must be a list of {kind, amount, credit_type_id}.")
    included: list[dict[str, Any]] = []
    for number, grant in enumerate(value, start=1):
        kind = str(grant.get("kind", "")).strip().lower()
        if kind not in ("credit", "commit"):
            raise InvalidInput(f"Included grant {number}: the kind must be credit or commit, not {kind!r}.")
        unit = str(grant.get("credit_type_id") or "").strip()
        try:
            lookup_credit_type(Catalog(session).credit_types, unit)
        except DomainError:
            raise InvalidInput(
                f"Included grant {number}: {unit!r} is no credit type or currency; use e.g. ai-credits or USD."
            ) from None
        amount = _amount("amount", grant.get("amount"), session)
        if amount <= 0:
            raise InvalidInput(f"Included grant {number}: the amount must be more than zero, not {amount}.")
        included.append({"id": str(grant.get("id") or number), "kind": kind, "credit_type_id": unit,
                         "amount": str(amount)})  # fmt: skip
    return included


FIELDS: dict[str, Parser] = {
    "tagline": text(200),
    "seat_price": _amount,
    "min_seats": whole(1, MAX_SEATS),
    "max_seats": whole(1, MAX_SEATS, optional=True),
    "credits_per_seat": _amount,
    "credit_type_id": _credit_type,
    "credit_allocation": _choice([a.name for a in CreditAllocation], upper=True),
    "pool_per_seat": _amount,
    "trial_days": whole(0, MAX_TRIAL_DAYS),
    "features": _features,
    "entitlements": _entitlements,
    "rate_card_id": _rate_card,
    "overrides": _overrides,
    "included_grants": _included,
    "seat_increases": _choice([p.value for p in IncreasePolicy]),
    "seat_decreases": _choice([p.value for p in DecreasePolicy]),
    "credit_proration": _choice([p.value for p in CreditProration]),
    "billing_frequency": _choice([f.name for f in Frequency], upper=True),
}
"""The fields of a draft staff may edit, each with the parser that checks it and names what is wrong."""

PACKAGE_FIELDS: dict[str, Parser] = {"name": text(100), "rank": whole(0, 1000)}
"""Fields of the package itself, editable while the package has never been published (a new tier)."""
