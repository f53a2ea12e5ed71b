"""Alert rules: a customer's admins (or staff) are told when a figure of the customer crosses a threshold.

The rules (also in the README, "Alerts"):

* Kinds: ``balance_below`` (the pooled credit left, one seat's with a seat, or one grant's), ``spend_above`` (what
  the period's usage costs before grants, the customer's or one seat's, in the contract's currency, exactly as
  spend caps count it: :func:`portal.services.spend_caps.spent`), ``usage_above`` (a metric's quantity in the
  period, optionally only of the events whose group key, e.g. ``user_id`` or ``model``, has one value), and
  ``pacing_ahead`` / ``pacing_behind`` (a grant with a term, usually a commitment: the share of it used less the
  share of its term elapsed, in percentage points, e.g. 60% used half-way through is 10 points ahead).
* **At the boundary**: "below" is strictly below (a balance of exactly the threshold is ok); "above" is at or
  above (a spend or usage of exactly the threshold is in alarm, as a spend cap is reached at the cap); pacing
  "by at least" N points is in alarm at exactly N.
* **Firing on crossing only**: a rule is ``ok`` or in ``alarm``; each change is recorded
  (:class:`~portal.db.models.AlertStateChange`) with the value, the billing period judged and the transaction id
  of the usage event whose evaluation saw it (``evaluation`` when none did). Going into alarm notifies the
  customer's admins in the app and by email; going back to ok is recorded and shown in the app. A figure that
  flaps around the threshold fires once per crossing.
* **Per period**: spend and usage start again each billing period (a rule with no change in a period is ok
  there); a backfilled event is judged in the period of its timestamp, against that period's figures. Balances
  and pacing are judged as of now.
* **When**: the ingest API tells the :class:`AlertRuleWatcher` which events were stored; its thread evaluates
  their customers' rules within a second. A new rule is evaluated when it is created.
* **Every customer**: staff may set a rule with no customer (:data:`ALL_CUSTOMER_KINDS` only: the pooled
  balance, the customer's spend, a metric's usage). It is judged with each customer's own rules, its state kept per
  customer (each crosses on its own); its changes notify staff in the app and mail the staff user who set it, never
  the customer's admins or webhooks. Customers never see it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, func, select

from portal.auth.mail import Message, mailer
from portal.db.event_store import event_store
from portal.db.loaders import Catalog
from portal.db.models import (
    AlertRuleRow,
    AlertStateChange,
    BillableMetricRow,
    Contract,
    Customer,
    GrantRow,
    utcnow,
)
from portal.db.repositories import metric_from_row
from portal.db.session import get_engine
from portal.db.uow import UnitOfWork
from portal.domain.errors import DomainError
from portal.domain.invoicing import balances as rated_balances
from portal.domain.metrics import AggregationState, UsageEvent, merge, quantity
from portal.domain.money import to_decimal
from portal.domain.periods import Period
from portal.services import audit, billing, notifications, outgoing_webhooks, spend_caps
from portal.services.billing import Rated
from portal.services.customers import visible_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.usage_watch import UsageWatcher

log = logging.getLogger(__name__)

BALANCE_BELOW, SPEND_ABOVE, USAGE_ABOVE = "balance_below", "spend_above", "usage_above"
PACING_AHEAD, PACING_BEHIND = "pacing_ahead", "pacing_behind"
KINDS = {
    BALANCE_BELOW: "Credit balance below",
    SPEND_ABOVE: "Spend in the period at or above",
    USAGE_ABOVE: "Usage in the period at or above",
    PACING_AHEAD: "Commitment used ahead of plan by at least (points)",
    PACING_BEHIND: "Commitment used behind plan by at least (points)",
}
"""The kinds of rule, with how the UI names them."""

AS_OF_NOW = frozenset({BALANCE_BELOW, PACING_AHEAD, PACING_BEHIND})
"""Kinds judged as of now (their state carries over periods); the others are judged per billing period."""

ALL_CUSTOMER_KINDS = (BALANCE_BELOW, SPEND_ABOVE, USAGE_ABOVE)
"""The kinds a rule for every customer may have (seats and grants are one customer's)."""

HUNDRED = Decimal(100)
CENT = Decimal("0.01")

OK, ALARM = "ok", "alarm"
EVALUATION = "evaluation"
"""The cause recorded for a change no usage event caused."""

MAX_THRESHOLD = Decimal("1000000000000")
"""The largest threshold accepted (a typo guard)."""

MAX_TEXT = 320


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule as listed: what it watches, its threshold and its current state."""

    id: str
    customer_id: str | None
    """None: every customer (staff only)."""
    kind: str
    subject: str
    threshold: Decimal
    state: str
    value: Decimal | None
    """The value at the latest state change (None before the first)."""
    since: datetime | None
    created_by: str
    in_alarm: tuple[str, ...] = ()
    """A rule for every customer: the names of the customers in alarm (by their latest change)."""

    @property
    def summary(self) -> str:
        """E.g. ``Spend in the period at or above 50 (customer)``."""
        return f"{KINDS[self.kind]} {self.threshold} ({self.subject})"


@dataclass(frozen=True, slots=True)
class Change:
    """A rule's state change made by an evaluation."""

    rule_id: str
    from_state: str
    to_state: str
    value: Decimal
    cause: str
    period_start: datetime
    customer_id: str


def _subject(row: AlertRuleRow) -> str:
    if row.kind == USAGE_ABOVE:
        group = f", {row.group_key}={row.group_value}" if row.group_key else ""
        return f"metric {row.metric_id}{group}"
    if row.grant_id:
        return f"grant {row.grant_id}"
    return f"seat {row.seat_id}" if row.seat_id else ("pooled credit" if row.kind == BALANCE_BELOW else "customer")


# --- managing rules --------------------------------------------------------------------------------


def _may_manage(session: Session, identity: Identity, customer_id: str | None) -> None:
    """Staff manage any customer's rules and those for every customer (``None``); a customer's admins their own
    customer's."""
    if customer_id is None:
        if not identity.is_staff:
            raise Forbidden("Only staff manage alerts for every customer.")
        return
    visible_customer(session, identity, customer_id)
    if not (identity.is_staff or (identity.is_customer_admin and identity.customer_id == customer_id)):
        raise Forbidden("Only an admin of the account can manage its alerts.")


def _text(value: str | None, what: str) -> str | None:
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"The {what} is {len(text)} characters long: keep it to {MAX_TEXT}.")
    return text or None


def _threshold(value: object) -> Decimal:
    if isinstance(value, str) and not value.strip():
        raise InvalidInput("Enter a threshold, e.g. 500.")
    try:
        threshold = to_decimal(value.strip() if isinstance(value, str) else value, "threshold")
    except DomainError:
        raise InvalidInput(f"The threshold {value!r} is not a number: enter e.g. 500 or 49.99.") from None
    if threshold < 0:
        raise InvalidInput("The threshold cannot be negative.")
    if threshold > MAX_THRESHOLD:
        raise InvalidInput(f"The threshold is larger than {MAX_THRESHOLD:,}: check for a typo.")
    return threshold


def _check_grant(session: Session, customer_id: str, grant_id: str, seat_id: str | None) -> GrantRow:
    """A grant rule names one of the customer's grants, and no seat besides; the grant."""
    if seat_id is not None:
        raise InvalidInput("Watch either a seat's balance or a grant's, not both.")
    grant = session.get(GrantRow, grant_id)
    contract = session.get(Contract, grant.contract_id) if grant is not None else None
    if grant is None or contract is None or contract.customer_id != customer_id:
        raise InvalidInput(f"There is no grant {grant_id} on this account.")
    return grant


def grant_choices(identity: Identity, customer_id: str) -> list[tuple[str, str]]:
    """The grants a balance rule can watch, as (id, label), on the customer's contracts."""
    with UnitOfWork() as uow:
        session = uow.session
        _may_manage(session, identity, customer_id)
        query = (
            select(GrantRow)
            .join(Contract, col(Contract.id) == col(GrantRow.contract_id))
            .where(Contract.customer_id == customer_id)
            .order_by(col(GrantRow.starting_at), col(GrantRow.id))
        )
        return [(g.id, f"{g.reason or g.kind} ({g.id})") for g in session.exec(query).all()]


def _check_all_customer(kind: str, seat_id: str | None, grant_id: str | None) -> None:
    """A rule for every customer watches what every customer has: no seat, no grant, no pacing."""
    if kind not in ALL_CUSTOMER_KINDS:
        names = ", ".join(KINDS[k].lower() for k in ALL_CUSTOMER_KINDS)
        raise InvalidInput(f"An alert for every customer cannot be {KINDS[kind].lower()!r}: use {names}.")
    if seat_id is not None or grant_id is not None:
        raise InvalidInput("Seats and grants belong to one customer: an alert for every customer cannot watch one.")


def create_rule(
    identity: Identity,
    customer_id: str | None,
    kind: str,
    threshold: object,
    *,
    seat_id: str | None = None,
    grant_id: str | None = None,
    metric_id: str | None = None,
    group_key: str | None = None,
    group_value: str | None = None,
) -> RuleView:
    """Add an alert rule for ``customer_id``, or for every customer with None (staff only), checked and evaluated at
    once; returns it with its state."""
    if kind not in KINDS:
        raise InvalidInput(f"Unknown kind of alert {kind!r}: use one of {', '.join(KINDS)}.")
    amount = _threshold(threshold)
    grant = _text(grant_id, "grant")
    seat, metric, key, value = (
        _text(seat_id, "seat"),
        _text(metric_id, "metric"),
        _text(group_key, "group key"),
        _text(group_value, "group value"),
    )
    with UnitOfWork() as uow:
        session = uow.session
        _may_manage(session, identity, customer_id)
        if customer_id is None:
            _check_all_customer(kind, seat, grant)  # so no seat, grant or pacing below
        elif kind in (PACING_AHEAD, PACING_BEHIND):
            if grant is None:
                raise InvalidInput("Choose the commitment whose pacing the alert watches.")
            if _check_grant(session, customer_id, grant, seat).ending_before is None:
                raise InvalidInput("That grant never ends, so it has no plan to pace against: choose one with an end.")
        elif kind != BALANCE_BELOW:
            grant = None
        elif grant is not None:
            _check_grant(session, customer_id, grant, seat)
        if kind == USAGE_ABOVE:
            seat = None
            if metric is None:
                raise InvalidInput("Choose the metric whose usage the alert watches.")
            row = session.get(BillableMetricRow, metric)
            if row is None:
                raise InvalidInput(f"There is no metric {metric}.")
            keys = metric_from_row(row).group_keys
            if key is not None and key not in keys:
                raise InvalidInput(
                    f"Metric {row.name!r} cannot be grouped by {key!r}; its group keys: {', '.join(keys) or 'none'}."
                )
            if (key is None) != (value is None):
                raise InvalidInput("Give both the group key and its value (e.g. user_id and ann), or neither.")
        else:
            metric = key = value = None
        owner = session.get(Customer, customer_id) if customer_id is not None else None
        if seat is not None and owner is not None:
            spend_caps.plan_seat(session, owner, seat, utcnow())  # a seat of this customer's plan, or refused
        rule = AlertRuleRow(
            customer_id=customer_id,
            kind=kind,
            threshold=amount,
            seat_id=seat,
            grant_id=grant,
            metric_id=metric,
            group_key=key,
            group_value=value,
            created_by=identity.audit_name,
        )
        session.add(rule)
        audit.record_if_staff(session, identity, "alert_rule.created", _audit_subject(rule), f"Alert {_subject(rule)}")
        rule_id = rule.id
        judged = [customer_id] if customer_id is not None else _customers_with_contracts(session)
    for customer in judged:
        evaluate(customer)
    listed = rules(identity, customer_id) if customer_id is not None else all_customer_rules(identity)
    return next(r for r in listed if r.id == rule_id)


def _audit_subject(rule: AlertRuleRow) -> tuple[str, str]:
    return ("customer", rule.customer_id) if rule.customer_id is not None else ("alert_rule", rule.id)


def _customers_with_contracts(session: Session) -> list[str]:
    """Every customer with a contract in force now (those an all-customer rule is judged for when created)."""
    ids = session.exec(select(Contract.customer_id).distinct()).all()
    return sorted(billing.active_contracts(session, ids, utcnow()))


def _managed_rule(session: Session, identity: Identity, rule_id: str) -> AlertRuleRow:
    """The rule, if ``identity`` may manage it; another customer's is :class:`NotFound` like a missing one (its
    customer is never named)."""
    rule = session.get(AlertRuleRow, rule_id)
    if rule is None:
        raise NotFound(f"There is no alert {rule_id}.")
    try:
        _may_manage(session, identity, rule.customer_id)
    except NotFound:
        raise NotFound(f"There is no alert {rule_id}.") from None
    return rule


def delete_rule(identity: Identity, rule_id: str) -> None:
    """Remove an alert rule and its history."""
    with UnitOfWork() as uow:
        session = uow.session
        rule = _managed_rule(session, identity, rule_id)
        session.exec(delete(AlertStateChange).where(col(AlertStateChange.rule_id) == rule_id))
        audit.record_if_staff(session, identity, "alert_rule.deleted", _audit_subject(rule), f"Alert {_subject(rule)}")
        session.delete(rule)


def _latest(session: Session, rule_ids: Iterable[str]) -> dict[str, AlertStateChange]:
    """Each rule's latest state change."""
    ids = list(rule_ids)
    if not ids:
        return {}
    query = select(AlertStateChange).where(col(AlertStateChange.rule_id).in_(ids)).order_by(col(AlertStateChange.seq))
    return {change.rule_id: change for change in session.exec(query).all()}


def rules(identity: Identity, customer_id: str) -> list[RuleView]:
    """The customer's alert rules with their latest state (admins of the customer, and staff)."""
    with UnitOfWork() as uow:
        session = uow.session
        _may_manage(session, identity, customer_id)
        rows = session.exec(
            select(AlertRuleRow).where(AlertRuleRow.customer_id == customer_id).order_by(col(AlertRuleRow.created_at))
        ).all()
        latest = _latest(session, (r.id for r in rows))
        return [
            RuleView(
                r.id,
                r.customer_id,
                r.kind,
                _subject(r),
                r.threshold,
                latest[r.id].to_state if r.id in latest else OK,
                latest[r.id].value if r.id in latest else None,
                latest[r.id].at if r.id in latest else None,
                r.created_by,
            )
            for r in rows
        ]


def all_customer_rules(identity: Identity) -> list[RuleView]:
    """The rules for every customer (staff only), each with the customers in alarm by their latest change."""
    with UnitOfWork() as uow:
        session = uow.session
        _may_manage(session, identity, None)
        rows = session.exec(
            select(AlertRuleRow).where(col(AlertRuleRow.customer_id).is_(None)).order_by(col(AlertRuleRow.created_at))
        ).all()
        ids = [r.id for r in rows]
        changes = session.exec(
            select(AlertStateChange, Customer.name)
            .join(Customer, col(Customer.id) == col(AlertStateChange.customer_id))
            .where(col(AlertStateChange.rule_id).in_(ids))
            .order_by(col(AlertStateChange.seq))
        ).all()
        latest: dict[tuple[str, str], tuple[AlertStateChange, str]] = {}
        for change, name in changes:
            latest[(change.rule_id, change.customer_id)] = (change, name)
        alarmed: dict[str, list[str]] = {}
        for (rule_id, _), (change, name) in latest.items():
            if change.to_state == ALARM:
                alarmed.setdefault(rule_id, []).append(name)
        return [
            RuleView(
                r.id,
                None,
                r.kind,
                _subject(r),
                r.threshold,
                ALARM if r.id in alarmed else OK,
                None,
                None,
                r.created_by,
                tuple(sorted(alarmed.get(r.id, []))),
            )
            for r in rows
        ]


def history(identity: Identity, rule_id: str) -> list[Change]:
    """A rule's state changes, oldest first."""
    with UnitOfWork() as uow:
        session = uow.session
        _managed_rule(session, identity, rule_id)
        query = select(AlertStateChange).where(AlertStateChange.rule_id == rule_id)
        return [
            Change(c.rule_id, c.from_state, c.to_state, c.value, c.cause, c.period_start, c.customer_id)
            for c in session.exec(query.order_by(col(AlertStateChange.customer_id), col(AlertStateChange.seq))).all()
        ]


def metric_choices(identity: Identity, customer_id: str | None) -> list[tuple[str, str, tuple[str, ...]]]:
    """The metrics a usage rule can watch (of the customer, or of every customer with None): (id, name, group
    keys), by name."""
    with UnitOfWork() as uow:
        _may_manage(uow.session, identity, customer_id)
        query = select(BillableMetricRow).where(col(BillableMetricRow.archived_at).is_(None))
        rows = uow.session.exec(query.order_by(col(BillableMetricRow.name))).all()
        return [(row.id, row.name, metric_from_row(row).group_keys) for row in rows]


# --- evaluation ------------------------------------------------------------------------------------


def _balance(rated: Rated, rule: AlertRuleRow, at: datetime) -> Decimal | None:
    """The pooled credit left (of the first credit type pooled), one seat's or one grant's; None when there is
    none."""
    result = rated_balances(rated.contract_id, rated.run.grants, (*rated.family.ledger, *rated.run.ledger_entries), at)
    seat_id = rule.seat_id
    if rule.grant_id is not None:
        return next((g.remaining for g in result.grants if g.grant.id == rule.grant_id), None)
    if seat_id is None:
        return result.pooled[0][1] if result.pooled else None
    return next((b.remaining for b in result.seats if b.seat_id == seat_id), None)


def _usage(session: Session, customer_id: str, rule: AlertRuleRow, period: Period) -> Decimal | None:
    """The metric's quantity in ``period``, of the events whose group key has the rule's value if it names one."""
    row = session.get(BillableMetricRow, rule.metric_id or "")
    if row is None:
        return None
    metric = metric_from_row(row)
    position = metric.group_keys.index(rule.group_key) if rule.group_key in metric.group_keys else None
    if rule.group_key is not None and position is None:
        return None
    total: AggregationState | None = None
    for key, state in event_store(session.connection()).load_rollups([customer_id], period.start, period.end):
        if key.metric_id != metric.id:
            continue
        if position is not None and json.loads(key.group_values)[position] != rule.group_value:
            continue
        total = state if total is None else merge(total, state)
    return Decimal(quantity(total)) if total is not None else Decimal(0)


def _pacing(rated: Rated, rule: AlertRuleRow, at: datetime) -> Decimal | None:
    """How far the grant's use is ahead of plan, in percentage points (negative: behind): the share of it used less
    the share of its term elapsed, as of ``at``. None for a grant not in play, without an end, or not started."""
    result = rated_balances(rated.contract_id, rated.run.grants, (*rated.family.ledger, *rated.run.ledger_entries), at)
    statement = next((g for g in result.grants if g.grant.id == rule.grant_id), None)
    end = statement.grant.ending_before if statement is not None else None
    if statement is None or end is None or statement.grant.amount <= 0:
        return None
    grant = statement.grant
    term, elapsed = end - grant.starting_at, min(at, end) - grant.starting_at
    if elapsed < timedelta(0) or term <= timedelta(0):
        return None
    elapsed_share = Decimal(elapsed // timedelta(microseconds=1)) / Decimal(term // timedelta(microseconds=1))
    used_share = (grant.amount - statement.remaining) / grant.amount
    return ((used_share - elapsed_share) * HUNDRED).quantize(CENT)


def _value(session: Session, customer_id: str, rule: AlertRuleRow, rated: Rated, at: datetime) -> Decimal | None:
    if rule.kind == BALANCE_BELOW:
        return _balance(rated, rule, at)
    if rule.kind in (PACING_AHEAD, PACING_BEHIND):
        pace = _pacing(rated, rule, at)
        return None if pace is None else (pace if rule.kind == PACING_AHEAD else -pace)
    if rule.kind == SPEND_ABOVE:
        return spend_caps.spent(rated, rule.seat_id)
    return _usage(session, customer_id, rule, rated.period)


def _in_alarm(rule: AlertRuleRow, value: Decimal) -> bool:
    """Below is strictly below; above (and pacing's "by at least") is at or above."""
    return value < rule.threshold if rule.kind == BALANCE_BELOW else value >= rule.threshold


def _state_in(session: Session, customer_id: str, rule: AlertRuleRow, period: Period) -> str:
    """The rule's state for the customer: its latest change (in ``period``, for spend and usage rules), else ok."""
    query = select(AlertStateChange).where(
        AlertStateChange.rule_id == rule.id, AlertStateChange.customer_id == customer_id
    )
    if rule.kind not in AS_OF_NOW:
        query = query.where(AlertStateChange.period_start == period.start)
    latest = session.exec(query.order_by(col(AlertStateChange.seq).desc())).first()
    return latest.to_state if latest is not None else OK


def _message(rule: AlertRuleRow, change: Change, period: Period) -> tuple[str, str]:
    subject = _subject(rule)
    if change.to_state == ALARM:
        title = f"Alert: {KINDS[rule.kind].lower()} {rule.threshold}"
        body = (
            f"{KINDS[rule.kind]} {rule.threshold} ({subject}): the value is now {billing.plain_number(change.value)} "
            f"(billing period {spend_caps.period_name(period)}; caused by {change.cause})."
        )
    else:
        title = f"Resolved: {KINDS[rule.kind].lower()} {rule.threshold}"
        body = f"{subject} is back within {rule.threshold}: the value is now {billing.plain_number(change.value)}."
    return title, body


_WEBHOOK = {ALARM: "alert.triggered", OK: "alert.resolved"}
"""The outgoing webhook event of each state a rule goes into."""


def _payload(rule: AlertRuleRow, change: Change) -> dict[str, object]:
    """What the webhook event says: the rule, the state change and its cause (decimals as strings)."""
    return {
        "rule_id": rule.id,
        "kind": rule.kind,
        "threshold": str(rule.threshold),
        "seat_id": rule.seat_id,
        "grant_id": rule.grant_id,
        "metric_id": rule.metric_id,
        "group_key": rule.group_key,
        "group_value": rule.group_value,
        "from": change.from_state,
        "to": change.to_state,
        "value": str(change.value),
        "cause": change.cause,
        "period_start": change.period_start.isoformat(),
    }


def _readings(
    session: Session, customer_id: str, events: Mapping[datetime, str], last: str | None, at: datetime
) -> tuple[list[Rated], dict[datetime, str]] | None:
    """Every period to judge, rated (the current one first, then those the events fall in), and the cause to record
    per period start; None without a contract."""
    contract_row = billing.active_contracts(session, [customer_id], at).get(customer_id)
    if contract_row is None:
        return None
    catalog = Catalog(session)
    current = billing.rate(session, catalog, contract_row.id, at)
    contract = current.family.contract(current.contract_id)
    causes: dict[datetime, str] = {current.period.start: last or EVALUATION}
    rated = {current.period.start: current}
    for when, transaction_id in events.items():
        try:
            period = contract.billing_period_containing(when)
        except DomainError:
            continue  # before the contract: no period of it to judge
        if period.start not in rated:
            rated[period.start] = billing.rate(session, catalog, contract_row.id, at, period)
            causes[period.start] = transaction_id
    return list(rated.values()), causes


def _record(
    session: Session,
    customer_id: str,
    rule: AlertRuleRow,
    readings: list[Rated],
    causes: Mapping[datetime, str],
    at: datetime,
) -> list[tuple[Change, Period]]:
    """Judge ``rule`` for the customer in each reading (balances in the first, the current one, only) and add its
    state changes."""
    seq = (
        session.exec(
            select(func.max(AlertStateChange.seq)).where(
                AlertStateChange.rule_id == rule.id, AlertStateChange.customer_id == customer_id
            )
        ).one()
        or 0
    )
    made = []
    for reading in readings[:1] if rule.kind in AS_OF_NOW else readings:
        value = _value(session, customer_id, rule, reading, at)
        if value is None:
            continue
        before = _state_in(session, customer_id, rule, reading.period)
        after = ALARM if _in_alarm(rule, value) else OK
        if before == after:
            continue
        seq += 1
        cause = causes.get(reading.period.start, EVALUATION)
        change = Change(rule.id, before, after, value, cause, reading.period.start, customer_id)
        session.add(
            AlertStateChange(
                rule_id=rule.id,
                customer_id=customer_id,
                seq=seq,
                period_start=change.period_start,
                from_state=before,
                to_state=after,
                value=value,
                cause=change.cause,
                at=at,
            )
        )
        session.flush()  # the next period's state of this rule reads this change
        made.append((change, reading.period))
    return made


def _evaluate_once(
    customer_id: str, events: Mapping[datetime, str], last: str | None, at: datetime
) -> tuple[list[Change], list[Message]]:
    """One evaluation in one transaction: the changes made and the mail to send once they are committed."""
    changes: list[Change] = []
    mail: list[Message] = []
    with Session(get_engine()) as session:
        rows = session.exec(
            select(AlertRuleRow)
            .where((col(AlertRuleRow.customer_id) == customer_id) | col(AlertRuleRow.customer_id).is_(None))
            .order_by(col(AlertRuleRow.created_at), col(AlertRuleRow.id))
        ).all()
        found = _readings(session, customer_id, events, last, at) if rows else None
        if found is None:
            return [], []
        readings, causes = found
        for rule in rows:
            for change, period in _record(session, customer_id, rule, readings, causes, at):
                title, body = _message(rule, change, period)
                if rule.customer_id is None:  # every customer's: staff are told, not the customer
                    customer = session.get(Customer, customer_id)
                    name = customer.name if customer is not None else customer_id
                    sent = notifications.notify_staff(
                        session, f"{title} ({name})", f"{name}: {body}", rule.created_by, customer_id
                    )
                else:
                    sent = notifications.notify_admins(session, customer_id, title, body)
                    outgoing_webhooks.emit(session, customer_id, _WEBHOOK[change.to_state], _payload(rule, change))
                mail += sent if change.to_state == ALARM else []
                changes.append(change)
        session.commit()
    return changes, mail


def evaluate(
    customer_id: str, events: Mapping[datetime, str] | None = None, last: str | None = None, at: datetime | None = None
) -> list[Change]:
    """Judge the customer's rules now and record (and notify) each state change; returns the changes.

    ``events`` maps the timestamps of newly stored events (any instant in their hour will do) to a transaction
    id among them; ``last`` is the last stored event's transaction id. Spend and usage rules are judged in the
    current period and in each period an event falls in (a backfilled event's past period); balance and pacing
    rules as of now. The recorded cause is the transaction id of an event in the judged period (``last`` for the
    current one), else ``evaluation``. When another process recorded a change of the same rule meanwhile (the unique
    ``seq``), nothing of this evaluation is kept and it runs again on what that process recorded. Mail goes out
    after the commit.
    """
    at = at or utcnow()
    for attempt in range(3):
        try:
            changes, mail = _evaluate_once(customer_id, events or {}, last, at)
        except (IntegrityError, OperationalError):  # a change recorded meanwhile (or SQLite's stale snapshot)
            if attempt == 2:
                raise
            continue
        for message in mail:
            mailer().send(message)
        return changes
    return []


def with_rules(customer_ids: set[str]) -> set[str]:
    """Those of ``customer_ids`` that some rule watches: all of them when there is a rule for every customer, else
    those with rules of their own (one query, so that a round over customers without rules costs next to nothing)."""
    with Session(get_engine()) as session:
        owners = set(session.exec(select(AlertRuleRow.customer_id).distinct()).all())
    return set(customer_ids) if None in owners else customer_ids & owners


class AlertRuleWatcher(UsageWatcher):
    """Evaluates, on its own thread, the rules of customers whose usage was stored since it last looked."""

    name = "alert-rules"

    def __init__(self) -> None:
        super().__init__()
        self._batches: list[tuple[frozenset[str], Sequence[UsageEvent]]] = []

    def stored(self, events: Sequence[UsageEvent], customers: frozenset[str]) -> None:
        """Keep the stored ``events`` (of ``customers``) for the thread and wake it (cheap on the request path: the
        thread picks out the hours and transaction ids of the customers that have rules)."""
        with self._lock:
            self._batches.append((customers, events))
        self.touched(customers)

    def handle(self, customer_ids: set[str]) -> None:
        """Evaluate the rules of those of ``customer_ids`` (and of the customers of the events kept meanwhile)
        that have rules, against the hours of their events."""
        with self._lock:
            batches, self._batches = self._batches, []
        watched = with_rules(customer_ids.union(*(customers for customers, _ in batches)))
        hours: dict[str, dict[datetime, str]] = {customer_id: {} for customer_id in watched}
        last: dict[str, str] = {}
        for customers, events in batches:
            if customers.isdisjoint(watched):
                continue
            for event in events:
                if (noted := hours.get(event.customer_id)) is not None:
                    noted[event.timestamp.replace(minute=0, second=0, microsecond=0)] = event.transaction_id
                    last[event.customer_id] = event.transaction_id
        for customer_id in sorted(watched):
            try:
                evaluate(customer_id, hours[customer_id], last.get(customer_id))
            except Exception:  # one customer's failure must not keep the others' alerts from firing
                log.exception("Evaluating the alerts of %s failed; its next usage evaluates them again", customer_id)


_WATCHER = AlertRuleWatcher()


def watcher() -> AlertRuleWatcher:
    """The process's alert-rule watcher (the ingest API tells it which events were stored)."""
    return _WATCHER
