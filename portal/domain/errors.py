"""Typed domain errors.

Every error the rating engine raises is a :class:`DomainError` whose message
tells the person reading it what was wrong and what to fix, in plain words
("Tier 2 starts at 100 but tier 1 ends at 50: tiers must be contiguous").
Adapters map these to HTTP 4xx responses or form errors; they never leak a
stack trace to a user.
"""

from __future__ import annotations


class DomainError(ValueError):
    """Base class: a rule of the billing domain was broken by the input."""


class UnknownCurrency(DomainError):
    """A currency code that the portal does not know."""


class CurrencyMismatch(DomainError):
    """Two amounts in different currencies were combined."""


class InvalidAmount(DomainError):
    """An amount that is not a finite decimal number, or negative where it must not be."""


class InvalidPeriod(DomainError):
    """A period or instant that is not timezone-aware UTC, or ends before it starts."""


class InvalidAllocation(DomainError):
    """A split whose weights cannot be used (empty, negative, or all zero)."""


class InvalidMetric(DomainError):
    """A billable metric or property filter that cannot be evaluated as defined."""


class InvalidUsageEvent(DomainError):
    """A usage event that is missing something every event must have."""


class InvalidWindows(InvalidPeriod):
    """Aggregation windows that are empty, unsorted, overlapping or not contiguous."""


class IncompatibleStates(DomainError):
    """Two aggregation states of different kinds (a SUM and a MAX) were merged."""


class InvalidPriceModel(DomainError):
    """A price model whose tiers, prices or package size cannot price a quantity."""


class InvalidQuantity(DomainError):
    """A quantity that cannot be priced (negative or not a finite number)."""


class InvalidProduct(DomainError):
    """A product whose kind, metric, conversion, rounding or group keys do not fit together."""


class InvalidRate(DomainError):
    """A rate, or a rate card, that does not say unambiguously what a product costs."""


class OverlappingRates(InvalidRate):
    """Two rates of one rate card price the same product at the same time."""


class InvalidOverride(DomainError):
    """An override that is incomplete, or conflicts with another override."""


class RatingInputMismatch(DomainError):
    """Rating inputs that do not belong together (another metric, windows across a rate change)."""


class InvalidGrant(DomainError):
    """A grant (commit or credit) whose amount, dates, scope or applicability do not fit together."""


class InvalidLedgerEntry(DomainError):
    """A ledger entry, or a ledger, that contradicts the grants it records."""


class InvalidBurnDown(DomainError):
    """Charges that cannot be drawn down as given (negative, duplicated, or already drawn)."""


class InvalidSeatChange(DomainError):
    """A seat change that the subscription cannot take (unknown seat, too few seats, out of order)."""


class InvalidSeatPolicy(DomainError):
    """A seat price or seat-based credit policy that cannot be applied as configured."""


class InvalidHierarchy(DomainError):
    """Parent and child contracts, or budget caps, that do not form a valid account hierarchy."""


class InvalidContract(DomainError):
    """A contract whose dates, terms, products, seats, grants or currency do not fit together."""


class InvalidInvoice(DomainError):
    """Invoicing inputs that do not belong together, or an invoice change its status does not allow."""


class InvalidChange(DomainError):
    """A pending change (seats, tier switch, package migration) that cannot be previewed as given."""
