"""Loading what the rating engine needs from the database: contracts with their terms, families, ledgers,
finalized invoices and usage rollups.

One :class:`Catalog` per unit of work caches the shared pieces (credit
types, products, metrics, rate cards, package terms) so that a family of
contracts is assembled with a handful of queries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlmodel import Session, SQLModel, col, select

from portal.db.codecs import invoice_from_row, lookup_credit_type, override_from_doc, price_from_doc
from portal.db.event_store import event_store
from portal.db.models import (
    BillableMetricRow,
    BudgetCapRow,
    Contract,
    ContractTerms,
    CreditPurchaseRow,
    CreditTypeRow,
    GrantRow,
    InvoiceRow,
    LedgerEntryRow,
    Package,
    PackageVersion,
    ProductRow,
    RateCardRow,
    RateRow,
    SeatChangeRow,
    SeatSubscriptionRow,
)
from portal.db.repositories import metric_from_row
from portal.domain import contracts as dc
from portal.domain.errors import DomainError
from portal.domain.grants import ChildAccess, Grant, GrantKind, GrantScope, GrantSource
from portal.domain.hierarchy import BudgetCap, CapBehaviour, ChildContract, Hierarchy, Payer, StatementMode
from portal.domain.invoicing import Invoice
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.metrics import AggregationState, BillableMetric, BucketedUsage, GroupValues, WindowedAggregation
from portal.domain.money import CreditType, currency
from portal.domain.periods import Frequency, Period
from portal.domain.pricing import (
    ConversionOperation,
    Product,
    ProductKind,
    QuantityConversion,
    QuantityRounding,
    Rate,
    RateCard,
    RoundingMode,
)
from portal.domain.seats import (
    CreditAllocation,
    CreditProration,
    DecreasePolicy,
    IncreasePolicy,
    SeatChange,
    SeatChangeKind,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
)


class ContractDataError(DomainError):
    """Stored contract data that the rating engine cannot use (named, so staff can fix it)."""


def product_from_row(row: ProductRow) -> Product:
    """The domain product a row describes."""
    conversion = (
        QuantityConversion(row.conversion_factor, ConversionOperation(row.conversion_operation))
        if row.conversion_factor is not None and row.conversion_operation
        else None
    )
    rounding = (
        QuantityRounding(RoundingMode[row.rounding_mode.upper()], row.rounding_places or 0)
        if row.rounding_mode
        else None
    )
    return Product(
        id=row.id,
        name=row.name,
        kind=ProductKind(row.kind),
        metric_id=row.metric_id,
        quantity_conversion=conversion,
        quantity_rounding=rounding,
        pricing_group_key=row.pricing_group_key,
        presentation_group_key=row.presentation_group_key,
    )


def credit_type_from_row(row: CreditTypeRow) -> CreditType:
    """The custom credit unit a row describes."""
    return CreditType(row.id, row.name, currency(row.currency), row.unit_price, row.places)


class Catalog:
    """Shared catalog pieces, read once per unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.credit_types = {r.id: credit_type_from_row(r) for r in session.exec(select(CreditTypeRow)).all()}
        self.products = {r.id: product_from_row(r) for r in session.exec(select(ProductRow)).all()}
        self.metrics = {r.id: metric_from_row(r) for r in session.exec(select(BillableMetricRow)).all()}
        self._rate_cards: dict[str, RateCard] = {}
        self._terms: dict[tuple[str | None, str | None], dc.Terms] = {}
        self._versions: dict[str, PackageVersion] = {}

    def credit_type(self, credit_type_id: str) -> CreditType:
        """A credit type by id (an ISO code or a custom unit)."""
        return lookup_credit_type(self.credit_types, credit_type_id)

    def rate_card(self, rate_card_id: str) -> RateCard:
        """A rate card with all its rates."""
        if rate_card_id not in self._rate_cards:
            card = self.session.get(RateCardRow, rate_card_id)
            if card is None:
                raise ContractDataError(f"Rate card {rate_card_id} does not exist.")
            rows = self.session.exec(select(RateRow).where(RateRow.rate_card_id == rate_card_id)).all()
            rates = tuple(
                Rate(
                    r.product_id,
                    r.starting_at,
                    r.ending_before,
                    price_from_doc(r.price),
                    self.credit_type(r.credit_type_id),
                    r.entitled,
                )
                for r in rows
            )
            self._rate_cards[rate_card_id] = RateCard(card.id, card.name, rates)
        return self._rate_cards[rate_card_id]

    def version(self, version_id: str) -> PackageVersion:
        """A package version row, read once per catalog."""
        found = self._versions.get(version_id)
        if found is None:
            found = self.session.get(PackageVersion, version_id)
            if found is None:
                raise ContractDataError(f"Package version {version_id} does not exist.")
            self._versions[version_id] = found
        return found

    def version_terms(self, version: PackageVersion) -> dc.Terms:
        """The terms a package version bills by."""
        key = (version.id, None)
        if key not in self._terms:
            package = self.session.get(Package, version.package_id)
            if version.rate_card_id is None:
                raise ContractDataError(f"Package version {version.id} has no rate card.")
            money = self.credit_type(version.currency)
            credits = None
            if version.credits_per_seat > 0:
                credits = SeatCreditPolicy(
                    id=f"{version.id}.credits",
                    credit_type=self.credit_type(version.credit_type_id or version.currency),
                    allowance_per_seat=version.credits_per_seat,
                    allocation=CreditAllocation(version.credit_allocation.lower()),
                    pool_per_seat=version.pool_per_seat,
                    proration=CreditProration(version.credit_proration),
                )
            self._terms[key] = dc.Terms(
                name=f"{package.name if package else version.package_id} v{version.version}",
                rate_card=self.rate_card(version.rate_card_id),
                overrides=tuple(override_from_doc(o, self.credit_types) for o in version.overrides),
                seat_pricing=SeatPricing(
                    version.seat_price,
                    money,
                    IncreasePolicy(version.seat_increases),
                    DecreasePolicy(version.seat_decreases),
                ),
                seat_credits=credits,
                rank=package.rank if package else 0,
                included=tuple(
                    dc.IncludedGrant(
                        str(doc["id"]), GrantKind(doc["kind"]), self.credit_type(doc["credit_type_id"]), doc["amount"]
                    )
                    for doc in version.included_grants
                ),
            )
        return self._terms[key]

    def terms(self, row: ContractTerms, contract_overrides: Sequence[Mapping[str, Any]]) -> dc.Terms:
        """The terms of one entry of a contract's terms history (contract overrides on top)."""
        if row.package_version_id is not None:
            base = self.version_terms(self.version(row.package_version_id))
        elif row.rate_card_id is not None:
            card = self.rate_card(row.rate_card_id)
            base = dc.Terms(name=card.name, rate_card=card)
        else:
            raise ContractDataError(f"Terms {row.id} of contract {row.contract_id} name no package or rate card.")
        return self.with_contract_overrides(base, contract_overrides)

    def with_contract_overrides(self, base: dc.Terms, contract_overrides: Sequence[Mapping[str, Any]]) -> dc.Terms:
        """``base`` with a contract's own overrides on top of its package's."""
        extra = tuple(override_from_doc(o, self.credit_types) for o in contract_overrides)
        return replace(base, overrides=(*base.overrides, *extra)) if extra else base

    def billed_by(
        self, terms: Sequence[dc.Terms], seat_product_id: str | None
    ) -> tuple[tuple[Product, ...], tuple[BillableMetric, ...]]:
        """The products these terms bill (their rate cards' and the seat product) and the metrics behind them."""
        product_ids = {r.product_id for t in terms for r in t.rate_card.rates}
        if seat_product_id is not None:
            product_ids.add(seat_product_id)
        products = tuple(self.products[p] for p in sorted(product_ids))
        metric_ids = sorted({p.metric_id for p in products if p.metric_id})
        return products, tuple(self.metrics[m] for m in metric_ids)

    def seat_product_id(self, history: Sequence[ContractTerms]) -> str | None:
        """The seat product of the package versions in a terms history (they share one)."""
        for row in history:
            if row.package_version_id is not None:
                version = self.version(row.package_version_id)
                if version.seat_product_id is not None:
                    return version.seat_product_id
        return None


def _seats(
    contract_id: str, product_id: str | None, row: SeatSubscriptionRow | None, changes: Sequence[SeatChangeRow]
) -> SeatSubscription | None:
    if row is None:
        return None
    if product_id is None:
        raise ContractDataError(f"Contract {contract_id} has seats but its package has no seat product.")
    return SeatSubscription(
        id=row.id,
        contract_id=contract_id,
        product_id=product_id,
        mode=SubscriptionMode(row.mode),
        started_at=row.started_at,
        initial=SeatState(row.quantity, tuple(row.seat_ids)),
        changes=tuple(SeatChange(c.at, SeatChangeKind(c.kind), tuple(c.seat_ids), c.quantity) for c in changes),
    )


def grant_from_row(row: GrantRow, catalog: Catalog) -> Grant:
    """The domain grant a row describes."""
    access: ChildAccess | tuple[str, ...] | None = None
    if row.scope == GrantScope.SHARED.value:
        children = row.child_access or []
        access = ChildAccess.ALL if children == ["*"] else ChildAccess.NONE if not children else tuple(children)
    return Grant(
        id=row.id,
        contract_id=row.contract_id,
        kind=GrantKind(row.kind),
        credit_type=catalog.credit_type(row.credit_type_id),
        amount=row.amount,
        starting_at=row.starting_at,
        ending_before=row.ending_before,
        priority=row.priority,
        applicable_product_ids=tuple(row.applicable_product_ids) if row.applicable_product_ids else None,
        scope=GrantScope(row.scope),
        seat_id=row.seat_id,
        child_access=access,
        source=GrantSource(row.source),
    )


M = TypeVar("M", bound=SQLModel)

_IN_CHUNK = 500
"""Ids per ``IN (...)`` list when reading many contracts' rows at once."""


def _rows_in(session: Session, model: type[M], column: Any, ids: Iterable[str], *order: Any) -> list[M]:
    """The rows of ``model`` whose ``column`` is one of ``ids``, read :data:`_IN_CHUNK` ids at a time."""
    wanted = sorted(set(ids))
    rows: list[M] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        rows += session.exec(select(model).where(col(column).in_(chunk)).order_by(*order)).all()
    return rows


def _by(rows: Iterable[M], key: Callable[[M], str]) -> dict[str, list[M]]:
    grouped: dict[str, list[M]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


@dataclass(frozen=True)
class _ContractRows:
    """The rows behind many contracts, read with one query per table (chunked)."""

    terms: dict[str, list[ContractTerms]]
    seats: dict[str, SeatSubscriptionRow]
    seat_changes: dict[str, list[SeatChangeRow]]
    grants: dict[str, list[GrantRow]]

    @classmethod
    def read(cls, session: Session, contract_ids: Sequence[str]) -> _ContractRows:
        terms = _rows_in(
            session, ContractTerms, ContractTerms.contract_id, contract_ids, col(ContractTerms.starting_at)
        )
        seats = _rows_in(session, SeatSubscriptionRow, SeatSubscriptionRow.contract_id, contract_ids)
        changes = _rows_in(
            session,
            SeatChangeRow,
            SeatChangeRow.subscription_id,
            [s.id for s in seats],
            col(SeatChangeRow.at),
            col(SeatChangeRow.id),
        )
        grants = _rows_in(session, GrantRow, GrantRow.contract_id, contract_ids, col(GrantRow.created_at))
        return cls(
            terms=_by(terms, lambda t: t.contract_id),
            seats={s.contract_id: s for s in seats},
            seat_changes=_by(changes, lambda c: c.subscription_id),
            grants=_by(grants, lambda g: g.contract_id),
        )

    def contract(self, row: Contract, catalog: Catalog) -> dc.Contract:
        """The domain contract of a row: its terms history, catalog, seats and grants."""
        history = self.terms.get(row.id, [])
        if not history:
            raise ContractDataError(f"Contract {row.id} has no terms.")
        terms = [catalog.terms(t, row.overrides) for t in history]
        seat_product = catalog.seat_product_id(history)
        products, metrics = catalog.billed_by(terms, seat_product)
        seats = self.seats.get(row.id)
        return dc.Contract(
            id=row.id,
            customer_id=row.customer_id,
            currency=currency(row.currency),
            starting_at=row.starting_at,
            terms=terms[0],
            products=products,
            metrics=metrics,
            ending_before=row.ending_before,
            frequency=Frequency[row.billing_frequency],
            seats=_seats(row.id, seat_product, seats, self.seat_changes.get(seats.id, []) if seats else []),
            grants=tuple(grant_from_row(g, catalog) for g in self.grants.get(row.id, [])),
            seat_key=row.seat_key or None,
            changes=tuple(dc.TermsChange(t.starting_at, terms[i + 1]) for i, t in enumerate(history[1:])),
        )


@dataclass(frozen=True)
class Family:
    """A payer's family of contracts (a contract, or a parent with its children) with what rating needs."""

    contracts: tuple[dc.Contract, ...]
    hierarchy: Hierarchy
    ledger: tuple[LedgerEntry, ...]

    def contract(self, contract_id: str) -> dc.Contract:
        """One contract of the family."""
        return next(c for c in self.contracts if c.id == contract_id)


def load_family(session: Session, contract_id: str, catalog: Catalog) -> Family:
    """The family ``contract_id`` belongs to: the contract at the top of its tree and every contract under it."""
    return load_families(session, [contract_id], catalog)[contract_id]


def contract_overrides(session: Session, contract_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each contract's own price overrides (on top of its package's)."""
    return {r.id: r.overrides for r in _rows_in(session, Contract, Contract.id, contract_ids)}


def load_families(session: Session, contract_ids: Sequence[str], catalog: Catalog) -> dict[str, Family]:
    """For each of ``contract_ids``, its family (:func:`load_family`), all read with a few queries."""
    given = {r.id: r for r in _rows_in(session, Contract, Contract.id, contract_ids)}
    missing = [c for c in contract_ids if c not in given]
    if missing:
        raise ContractDataError(f"Contract {missing[0]} does not exist.")
    roots = _roots(session, given)
    members = _trees(session, {roots[c] for c in contract_ids})
    rows = _ContractRows.read(session, [r.id for family in members.values() for r in family])
    contracts = {root: tuple(rows.contract(r, catalog) for r in family) for root, family in members.items()}
    caps = _by(
        _rows_in(
            session, BudgetCapRow, BudgetCapRow.child_contract_id, [r.id for f in members.values() for r in f[1:]]
        ),
        lambda cap: cap.child_contract_id,
    )
    grant_ids = {g.id for family in contracts.values() for c in family for g in c.grants}
    entries = _by(
        (
            e
            for e in _rows_in(
                session,
                LedgerEntryRow,
                LedgerEntryRow.grant_contract_id,
                [c.id for family in contracts.values() for c in family if c.grants],
                col(LedgerEntryRow.id),
            )
            if e.grant_id in grant_ids
        ),
        lambda e: e.grant_contract_id,
    )
    families: dict[str, Family] = {}
    for root, family_rows in members.items():
        kids = family_rows[1:]
        anchors = {r.id: (r.starting_at, Frequency[r.billing_frequency]) for r in family_rows}
        hierarchy = Hierarchy(
            children=tuple(
                ChildContract(c.id, c.parent_contract_id or root, Payer(c.payer), StatementMode(c.statement))
                for c in kids
            ),
            caps=tuple(
                BudgetCap(
                    cap.child_contract_id,
                    catalog.credit_type(cap.credit_type_id),
                    cap.amount,
                    anchors[cap.child_contract_id][0],
                    anchors[cap.child_contract_id][1],
                    CapBehaviour(cap.behaviour),
                )
                for child in kids
                for cap in caps.get(child.id, [])
            ),
        )
        recorded = sorted((e for r in family_rows for e in entries.get(r.id, [])), key=lambda e: e.id or 0)
        ledger = tuple(
            LedgerEntry(e.grant_id, e.at, EntryKind(e.kind), e.amount, e.reference, e.contract_id, e.seat_id)
            for e in recorded
        )
        families[root] = Family(contracts[root], hierarchy, ledger)
    return {c: families[roots[c]] for c in contract_ids}


def _roots(session: Session, given: dict[str, Contract]) -> dict[str, str]:
    """The root contract (the one without a parent) above each given contract, reading one level per query."""
    known = dict(given)
    wanted = {
        r.parent_contract_id for r in known.values() if r.parent_contract_id and r.parent_contract_id not in known
    }
    while wanted:
        found = _rows_in(session, Contract, Contract.id, wanted)
        known.update((r.id, r) for r in found)
        wanted = {r.parent_contract_id for r in found if r.parent_contract_id and r.parent_contract_id not in known}
    roots: dict[str, str] = {}
    for contract_id in given:
        seen: set[str] = set()
        current = known[contract_id]
        while current.parent_contract_id in known and current.id not in seen:
            seen.add(current.id)
            current = known[current.parent_contract_id]
        roots[contract_id] = current.id
    return roots


def _trees(session: Session, roots: set[str]) -> dict[str, list[Contract]]:
    """Each root contract and every contract under it (parents before their children), one level per query."""
    root_rows = {r.id: r for r in _rows_in(session, Contract, Contract.id, roots)}
    trees = {root: [root_rows[root]] for root in roots}
    tree_of = {root: root for root in roots}
    level = list(roots)
    while level:
        found = _rows_in(session, Contract, Contract.parent_contract_id, level, col(Contract.created_at))
        found = [r for r in found if r.id not in tree_of]
        for row in found:
            tree_of[row.id] = tree_of[row.parent_contract_id or ""]
            trees[tree_of[row.id]].append(row)
        level = [r.id for r in found]
    return trees


def finalized_invoices(
    session: Session, contract_ids: Iterable[str], period: Period, catalog: Catalog
) -> list[Invoice]:
    """The stored invoices of these contracts for ``period`` (any status but draft); invoices of credit purchases
    are not part of what a period billed and are left out."""
    rows = session.exec(
        select(InvoiceRow).where(
            col(InvoiceRow.contract_id).in_(list(contract_ids)),
            InvoiceRow.period_start == period.start,
            col(InvoiceRow.id).not_in(select(CreditPurchaseRow.invoice_id)),
        )
    ).all()
    return [stored_invoice(r, catalog.credit_types) for r in rows]


def stored_invoice(row: InvoiceRow, credit_types: Mapping[str, CreditType]) -> Invoice:
    """A stored invoice as a domain value."""
    return invoice_from_row(
        invoice_id=row.id,
        contract_id=row.contract_id,
        customer_id=row.customer_id,
        period=Period(row.period_start, row.period_end),
        currency_code=row.currency,
        status=row.status,
        document=row.document,
        finalized_at=row.finalized_at,
        credit_types=credit_types,
    )


def bucketed_usage(session: Session, contracts: Sequence[dc.Contract], period: Period) -> dict[str, BucketedUsage]:
    """Each contract's usage in ``period`` from the hourly rollups of its customer."""
    customers = sorted({c.customer_id for c in contracts})
    by_customer: dict[str, dict[str, dict[tuple[datetime, GroupValues], AggregationState]]] = {}
    for key, state in event_store(session.connection()).load_rollups(customers, period.start, period.end):
        group = tuple(json.loads(key.group_values))
        by_customer.setdefault(key.customer_id, {}).setdefault(key.metric_id, {})[(key.bucket_start, group)] = state
    return {c.id: BucketedUsage(by_customer.get(c.customer_id, {})) for c in contracts}


class StoredUsage:
    """One customer's usage as stored (hourly rollups), aggregated by the database over the windows asked for.

    Each (metrics, windows) is read once and kept: drafting a period under two sets of terms with the same
    windows, as a simulation does, reads the rollups once.
    """

    def __init__(self, connection: Connection, customer_id: str) -> None:
        self._store = event_store(connection)
        self._customer_id = customer_id
        self._kept: dict[tuple[tuple[str, ...], tuple[Period, ...]], dict[str, WindowedAggregation]] = {}

    def aggregate(self, metrics: Sequence[BillableMetric], windows: Sequence[Period]) -> dict[str, WindowedAggregation]:
        """Each metric's aggregation over ``windows``, keyed by metric id."""
        key = (tuple(m.id for m in metrics), tuple(windows))
        found = self._kept.get(key)
        if found is None:
            found = self._kept[key] = self._store.window_states(self._customer_id, metrics, windows)
        return found

    def prefetch(self, plans: Sequence[tuple[Sequence[BillableMetric], Sequence[Period]]]) -> None:
        """Read the usage of several drafts that follow each other in time (``(metrics, windows)`` each, as
        :func:`~portal.domain.invoicing.usage_plans` gives them) with one query, and keep each."""
        spans = [tuple(windows) for _, windows in plans]
        if len(plans) < 2 or any(later[0].start != earlier[-1].end for earlier, later in pairwise(spans)):
            return
        metrics = list({m.id: m for chosen, _ in plans for m in chosen}.values())
        together = self._store.window_states(self._customer_id, metrics, [w for span in spans for w in span])
        offset = 0
        for (chosen, _), span in zip(plans, spans, strict=True):
            last = offset + len(span)
            self._kept[(tuple(m.id for m in chosen), span)] = {
                m.id: WindowedAggregation(
                    m.id,
                    m.aggregation,
                    m.group_keys,
                    span,
                    MappingProxyType(
                        {
                            (w - offset, g): state
                            for (w, g), state in together[m.id].states.items()
                            if offset <= w < last
                        }
                    ),
                )
                for m in chosen
            }
            offset = last


def stored_usage(session: Session, contracts: Sequence[dc.Contract]) -> dict[str, StoredUsage]:
    """Each contract's usage, read from the database when rating asks for it (see :class:`StoredUsage`)."""
    connection = session.connection()
    return {c.id: StoredUsage(connection, c.customer_id) for c in contracts}
