"""Alerts to enterprise admins: a department's budget at 80% and at 100%, a shared commitment projected to run
out before its term ends.

Each alert is raised once per subject (department or commitment), kind and billing period, recorded (the
/enterprise page lists them) and mailed to the admins of every customer above the department (for a
commitment, to the admins of the customer that holds it). Evaluation runs for an enterprise whenever usage of
one of its customers has been stored: the ingest API tells the :class:`AlertWatcher`, whose thread evaluates
the enterprises touched in the last second (a database constraint keeps two processes from raising one alert
twice).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.auth.mail import Message, mailer
from portal.db.models import Customer, EnterpriseAlert, User, utcnow
from portal.db.session import get_engine
from portal.services import enterprise
from portal.services.customers import ancestors, customers_under, is_enterprise
from portal.services.enterprise import EnterpriseView
from portal.services.errors import Forbidden
from portal.services.identity import Identity
from portal.services.usage_watch import UsageWatcher

BUDGET_80, BUDGET_100, COMMITMENT_RUNOUT = "budget_80", "budget_100", "commitment_runout"
RECENT = 50
"""How many alerts the /enterprise page lists."""

ROOTS_KEPT_SECONDS = 30.0
"""How long the watcher trusts what it read of a customer's place in an enterprise."""


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as raised: about whom or what, its kind, what it says and when."""

    subject_id: str
    kind: str
    message: str
    raised_at: datetime

    @classmethod
    def of(cls, row: EnterpriseAlert) -> AlertView:
        """The view of a stored alert."""
        return cls(row.subject_id, row.kind, row.message, row.raised_at)


@dataclass(frozen=True, slots=True)
class Raised:
    """An alert to raise: for whom, about what, and what it says."""

    enterprise_id: str
    subject_id: str
    kind: str
    message: str


def _due(view: EnterpriseView) -> list[Raised]:
    """The alerts the view calls for (whether or not they were raised before)."""
    due: list[Raised] = []
    credit_type = view.credit_type
    for row in view.departments:
        if row.budget is None or row.depth == 0 or credit_type is None:
            continue
        budget = credit_type.format(row.budget)
        drawn = credit_type.format(row.figures.budget_drawn)
        if row.budget_percent >= 80:
            due.append(
                Raised(
                    row.parent_id or view.customer_id,
                    row.customer_id,
                    BUDGET_80,
                    f"{row.name} has drawn {drawn} of its {budget} budget for {view.period.label()} (80% or more).",
                )
            )
        if row.status == "exhausted":
            at_cap = "its usage is refused" if row.behaviour == "block" else "its usage is now billed as overage"
            due.append(
                Raised(
                    row.parent_id or view.customer_id,
                    row.customer_id,
                    BUDGET_100,
                    f"{row.name} has drawn its whole {budget} budget for {view.period.label()}: {at_cap}.",
                )
            )
    for commitment in view.commitments:
        forecast = commitment.forecast
        if forecast.runs_out_before_end and forecast.run_out_at is not None and credit_type is not None:
            due.append(
                Raised(
                    view.customer_id,
                    commitment.grant_id,
                    COMMITMENT_RUNOUT,
                    f"At the last week's burn of {credit_type.format(forecast.daily_rate)} a day, "
                    f"{commitment.reason} runs out around {forecast.run_out_at:%Y-%m-%d}, before its term ends"
                    + (f" on {commitment.ending_before:%Y-%m-%d}." if commitment.ending_before else "."),
                )
            )
    return due


def _admins(session: Session, customer_id: str) -> list[str]:
    """The emails of the admins of ``customer_id`` and of every customer above it."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return []
    ids = [customer.id, *(a.id for a in ancestors(session, customer))]
    query = select(User.email).where(col(User.customer_id).in_(ids), User.role == "admin")
    return sorted(session.exec(query).all())


def evaluate(enterprise_id: str, at: datetime | None = None) -> list[AlertView]:
    """Raise the alerts an enterprise calls for now that were not raised yet this period; returns the new ones."""
    at = at or utcnow()
    with Session(get_engine()) as session:
        customer = session.get(Customer, enterprise_id)
        if customer is None:
            return []
        view = enterprise.view_of(session, customer, at)
        due = _due(view)
        if not due:
            return []
        known = set(
            session.exec(
                select(EnterpriseAlert.subject_id, EnterpriseAlert.kind).where(
                    col(EnterpriseAlert.subject_id).in_([d.subject_id for d in due]),
                    EnterpriseAlert.period_start == view.period.start,
                )
            ).all()
        )
        raised: list[AlertView] = []
        for alert in due:
            if (alert.subject_id, alert.kind) in known:
                continue
            row = EnterpriseAlert(
                enterprise_id=alert.enterprise_id,
                subject_id=alert.subject_id,
                kind=alert.kind,
                period_start=view.period.start,
                message=alert.message,
                raised_at=at,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # raised meanwhile by another process
                session.rollback()
                continue
            raised.append(AlertView(alert.subject_id, alert.kind, alert.message, at))
            for email in _admins(session, alert.enterprise_id):
                mailer().send(Message(to=email, subject=f"Portal alert: {view.name}", body=alert.message))
    return raised


def recent_alerts(identity: Identity) -> list[AlertView]:
    """The latest alerts about the admin's customer and the departments under it."""
    if identity.customer_id is None or not identity.is_customer_admin:
        raise Forbidden("Only an admin of the account can see its alerts.")
    with Session(get_engine()) as session:
        customer = session.get(Customer, identity.customer_id)
        if customer is None:
            return []
        tree = customers_under(session, [customer.id])
        query = (
            select(EnterpriseAlert)
            .where(col(EnterpriseAlert.enterprise_id).in_(tree))
            .order_by(col(EnterpriseAlert.raised_at).desc(), col(EnterpriseAlert.id).desc())
            .limit(RECENT)
        )
        return [AlertView.of(row) for row in session.exec(query).all()]


class AlertWatcher(UsageWatcher):
    """Evaluates, on its own thread, the enterprises whose customers had usage stored since it last looked."""

    name = "enterprise-alerts"

    def __init__(self) -> None:
        super().__init__()
        self._roots: dict[str, tuple[float, str | None]] = {}

    def enterprise_of(self, customer_id: str) -> str | None:
        """The top customer of ``customer_id``'s enterprise, or None when it is not part of one (remembered for
        :data:`ROOTS_KEPT_SECONDS`: a customer that becomes an enterprise or a department is noticed then)."""
        now = time.monotonic()
        kept = self._roots.get(customer_id)
        if kept is not None and now - kept[0] < ROOTS_KEPT_SECONDS:
            return kept[1]
        with Session(get_engine()) as session:
            customer = session.get(Customer, customer_id)
            above = ancestors(session, customer) if customer is not None else []
            root = above[-1].id if above else None
            if root is None and customer is not None and is_enterprise(session, customer):
                root = customer.id
        self._roots[customer_id] = (now, root)
        return root

    def handle(self, customer_ids: set[str]) -> None:
        """Evaluate the enterprises of ``customer_ids``."""
        roots = {r for r in (self.enterprise_of(c) for c in customer_ids) if r is not None}
        for enterprise_id in sorted(roots):
            evaluate(enterprise_id)


_WATCHER = AlertWatcher()


def watcher() -> AlertWatcher:
    """The process's alert watcher."""
    return _WATCHER
