"""The customer dashboard at ``/customer``: plan, credits, daily usage and invoices, live while the page is open.

Admins see the whole account; members see their own seat. The service
(:mod:`portal.services.dashboard`) decides what each may see and formats
every figure; this module turns its views into small dicts and keeps them
up to date: a background loop per open page asks for a cheap usage marker
every second and reads the dashboard again only when it has news. The loop
ends when the tab leaves the page or disconnects (Reflex cancels the page's
load chain it belongs to), or when the session ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
from reflex.event import EventHandler

from portal.components.access import LOADING, OK, guarded
from portal.components.charts import metric_picker, series_color, series_legend, stacked_daily_chart
from portal.components.invoice import explain_dialog, invoice_lines, invoice_totals, status_badge
from portal.components.invoice_rows import explanation, grant_step, line_row
from portal.components.layout import notice, panel, shell
from portal.components.tables import figures_table
from portal.pages.customer_alerts import alerts_panel
from portal.pages.customer_card import card_panel
from portal.pages.customer_credits import credits_panel
from portal.pages.customer_payments import payment_banner
from portal.pages.customer_spend_caps import spend_cap_notice, spend_caps_panel
from portal.services import dashboard
from portal.services.dashboard import Dashboard, InvoiceDetail, LineDetail, MetricUsage, UsageMarker
from portal.services.identity import SESSION_ENDED, Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of

ROUTE = "/customer"
LIVE_SECONDS = 1.0
"""How often an open dashboard checks for new usage."""


def _read(identity: Identity) -> tuple[UsageMarker, Dashboard]:
    """The marker first, then the dashboard: usage that lands in between shows now or at the next check."""
    return dashboard.usage_marker(identity), dashboard.dashboard(identity)


def _series_label(seat_id: str) -> str:
    return seat_id or "No seat named"


def _chart(usage: MetricUsage) -> dict[str, Any]:
    """A metric's chart: per day whole numbers to plot and exact figures to read, and its series with colour and
    exact total."""
    keys = [f"s{i}" for i in range(len(usage.series))]
    return {
        "rows": [
            {
                "day": day.label,
                **dict(zip(keys, day.whole, strict=True)),
                **{f"{key}_exact": exact for key, exact in zip(keys, day.exact, strict=True)},
            }
            for day in usage.days
        ],
        "series": [
            {"key": key, "label": _series_label(seat), "color": series_color(i), "total": total}
            for i, (key, seat, total) in enumerate(zip(keys, usage.series, usage.totals, strict=True))
        ],
        "has_usage": usage.quantity != 0,
    }


def _explanation(row: dict[str, str], detail: LineDetail) -> dict[str, Any]:
    """What the explain dialog shows for one line (kept on the server until the line is explained)."""
    grants = [grant_step(g.order, g.grant, g.units, g.amount, g.explanations) for g in detail.grants]
    return explanation(row, detail.line, grants, detail.uncovered)


def _invoice(detail: InvoiceDetail, explanations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An invoice's row with its line rows and totals; each line's explanation goes into ``explanations``."""
    invoice = detail.invoice
    lines = []
    for line in detail.lines:
        row = line_row(f"{invoice.id}#{line.line.key}", line.line, line.context, line.basis)
        explanations[row["ref"]] = _explanation(row, line)
        lines.append(row)
    return {
        "id": invoice.id,
        "period": detail.period,
        "status": invoice.status,
        "note": invoice.payment_note,
        "subtotal": invoice.subtotal,
        "grants_applied": invoice.grants_applied,
        "due": invoice.total_due,
        "lines": lines,
        "statement": [
            {
                "department": "\u2003" * row.depth + row.department,
                "charged": row.charged,
                "own": row.from_own_credits,
                "shared": row.from_shared_commitment,
                "overage": row.overage + (" (pays its own)" if row.pays_own_overage else ""),
                "blocked": row.blocked,
            }
            for row in invoice.statement
        ],
    }


class CustomerState(rx.State):
    """The dashboard as small view fields; the charts and explanations not on screen stay on the server."""

    access: str = LOADING
    denied_reason: str = ""
    session_ended: bool = False
    customer_name: str = ""
    is_admin: bool = False
    seat_id: str = ""
    has_plan: bool = False
    plan: dict[str, str] = {}
    seat_warning: str = ""
    payment_alerts: list[dict[str, str]] = []
    members: list[dict[str, str]] = []
    pools: list[dict[str, str | int]] = []
    seats: list[dict[str, str | int | bool]] = []
    metrics: list[dict[str, str]] = []
    metric: str = ""
    chart_rows: list[dict[str, int | str]] = []
    chart_series: list[dict[str, str]] = []
    chart_has_usage: bool = False
    draft: dict[str, Any] = {}
    draft_statement: list[dict[str, str]] = []
    draft_lines: list[dict[str, str]] = []
    invoices: list[dict[str, Any]] = []
    explain_open: bool = False
    explain_ref: str = ""
    explained: dict[str, str] = {}
    explained_tiers: list[dict[str, str]] = []
    explained_groups: list[dict[str, str]] = []
    explained_grants: list[dict[str, Any]] = []
    explained_uncovered: list[str] = []
    _charts: dict[str, dict[str, Any]] = {}
    _explanations: dict[str, dict[str, Any]] = {}
    _marker: UsageMarker | None = None

    @rx.event
    def load(self) -> EventHandler | None:
        """Read the caller's dashboard and, when there is a plan, start keeping it live."""
        self.session_ended = False
        read = load_guarded(self, _read)
        if read is None:
            return None
        self._marker, view = read
        self._show(view)
        return CustomerState.watch if view.plan is not None else None

    @rx.event(background=True, supersedes=True)
    async def watch(self) -> None:
        """Every second, while the page is open: end on a lost session, re-read when the usage marker has news."""
        while True:
            await asyncio.sleep(LIVE_SECONDS)
            if not self._on_dashboard():
                return
            identity = await asyncio.to_thread(identity_of, self)
            if identity is None:
                async with self:
                    self._end_session()
                return
            marker = await asyncio.to_thread(dashboard.usage_marker, identity, self._marker)
            if not marker.news_since(self._marker):
                continue
            view = await asyncio.to_thread(dashboard.dashboard, identity)
            async with self:
                if not self._on_dashboard() or self.access != OK:
                    return
                self._marker = marker
                self._show(view)

    def _on_dashboard(self) -> bool:
        """Whether this tab is still on the dashboard (the production build's addresses end in a slash)."""
        return self.router.url.path.rstrip("/") == ROUTE

    @rx.event
    def select_metric(self, choice: str | list[str]) -> None:
        """Plot another metric (the picker allows one choice)."""
        if self._signed_out():
            return
        self.metric = choice if isinstance(choice, str) else "".join(choice[:1])
        self._plot()

    @rx.event
    def explain(self, ref: str) -> None:
        """Open the explanation of one invoice line."""
        if self._signed_out() or ref not in self._explanations:
            return
        self.explain_ref, self.explain_open = ref, True
        self._fill_explanation()

    @rx.event
    def set_explain_open(self, is_open: bool) -> None:
        """Close (or reopen) the explain dialog."""
        self.explain_open = is_open

    def _signed_out(self) -> bool:
        """True (and the page cleared) when the tab's session has ended."""
        if identity_of(self) is not None:
            return False
        self._end_session()
        return True

    def _end_session(self) -> None:
        """Forget every figure and say the session ended."""
        self.reset()
        self.session_ended, self.access = True, OK

    def _show(self, view: Dashboard) -> None:
        self.customer_name, self.is_admin, self.seat_id = view.customer_name, view.is_admin, view.seat_id
        self.members = [{"name": m.name, "email": m.email, "role": m.role} for m in view.members]
        plan = view.plan
        self.has_plan = plan is not None
        self.plan = (
            {
                "package": plan.package,
                "period": plan.period,
                "renews": plan.renews,
                "days_left": plan.days_left_label,
                "seats": f"{plan.seats_assigned} of {plan.seats}",
                "members": f"{plan.members} member{'s' if plan.members != 1 else ''}",
            }
            if plan
            else {}
        )
        self.seat_warning = plan.seat_warning if plan else ""
        self.payment_alerts = [{"invoice_id": f.invoice_id, "message": f.message} for f in view.failed_payments]
        self.pools = [
            {"credit_type": p.credit_type, "granted": p.granted, "used": p.used, "remaining": p.remaining}
            | {"percent": p.percent_left}
            for p in view.pools
        ]
        self.seats = [
            {
                "seat": s.seat_id,
                "granted": s.granted if s.has_allowance else "—",
                "used": s.used,
                "pool": s.drawn_from_pool,
                "remaining": s.remaining if s.has_allowance else "—",
                "has_allowance": s.has_allowance,
                "percent": s.percent_left,
            }
            for s in view.seats
        ]
        self._charts = {m.metric_id: _chart(m) for m in view.usage}
        self.metrics = [{"id": m.metric_id, "name": m.name, "total": m.total} for m in view.usage]
        if self.metric not in self._charts:
            self.metric = view.usage[0].metric_id if view.usage else ""
        self._plot()
        explanations: dict[str, dict[str, Any]] = {}
        self.draft = _invoice(view.draft, explanations) if view.draft else {}
        self.draft_lines = self.draft.get("lines", [])
        self.draft_statement = self.draft.get("statement", [])
        self.invoices = [_invoice(i, explanations) for i in view.invoices]
        self._explanations = explanations
        if self.explain_open:
            self._fill_explanation()

    def _plot(self) -> None:
        chart = self._charts.get(self.metric, {})
        self.chart_rows = chart.get("rows", [])
        self.chart_series = chart.get("series", [])
        self.chart_has_usage = bool(chart.get("has_usage"))

    def _fill_explanation(self) -> None:
        payload = self._explanations.get(self.explain_ref)
        if payload is None:
            self.explain_open = False
            return
        self.explained = payload["line"]
        self.explained_tiers, self.explained_groups = payload["tiers"], payload["groups"]
        self.explained_grants, self.explained_uncovered = payload["grants"], payload["uncovered"]


# --- layout ----------------------------------------------------------------------------------------


def _eyebrow(text: str | rx.Var) -> rx.Component:
    return rx.text(
        text, size="1", weight="bold", color_scheme="gray", text_transform="uppercase", letter_spacing="0.05em"
    )


def _stat(icon: str, label: str, value: rx.Var | str, detail: rx.Component, stat_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.center(
                    rx.icon(icon, size=16, color=rx.color("accent", 11)),
                    background=rx.color("accent", 3),
                    border_radius="var(--radius-2)",
                    width="28px",
                    height="28px",
                ),
                _eyebrow(label),
                align="center",
                spacing="2",
            ),
            rx.heading(value, size="6", class_name="stat-value"),
            detail,
            spacing="2",
            width="100%",
        ),
        size="3",
        id=stat_id,
    )


def _link(label: str, href: str, link_id: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.text(label), rx.icon("arrow-right", size=14), spacing="1", align="center"),
        href=href,
        size="2",
        weight="medium",
        id=link_id,
    )


def _alerts() -> rx.Component:
    return rx.vstack(
        payment_banner(CustomerState.payment_alerts),
        rx.cond(
            CustomerState.seat_warning != "",
            rx.callout.root(
                rx.callout.icon(rx.icon("users")),
                rx.callout.text(
                    CustomerState.seat_warning, " ", rx.link("Manage seats", href="/customer/seats", weight="medium")
                ),
                color_scheme="amber",
                id="seat-warning",
                width="100%",
            ),
        ),
        width="100%",
        spacing="3",
    )


def _plan_stat() -> rx.Component:
    return _stat(
        "package",
        "Plan",
        CustomerState.plan["package"],
        rx.vstack(
            rx.hstack(
                rx.text(CustomerState.plan["period"], size="2", color_scheme="gray", id="plan-period"),
                rx.badge(CustomerState.plan["days_left"], variant="soft", id="days-left"),
                align="center",
                wrap="wrap",
            ),
            rx.cond(CustomerState.is_admin, _link("Change plan", "/customer/plan", "change-plan")),
            spacing="2",
        ),
        "plan-card",
    )


def _seats_stat() -> rx.Component:
    return _stat(
        "users",
        "Seats assigned",
        CustomerState.plan["seats"],
        rx.vstack(
            rx.text(CustomerState.plan["members"], " on the team", size="2", color_scheme="gray"),
            _link("Manage seats", "/customer/seats", "manage-seats"),
            spacing="2",
        ),
        "seats-card",
    )


def _meter(percent: rx.Var, *caption: rx.Component, **props: Any) -> rx.Component:
    """A progress bar of what is left, with a caption under it."""
    return rx.vstack(
        rx.progress(value=percent.to(int), max=100, size="2", **props),
        rx.hstack(*caption, width="100%"),
        spacing="2",
        width="100%",
    )


def _pool_stat(pool: rx.Var) -> rx.Component:
    return _stat(
        "coins",
        "Credits left",
        pool["remaining"],
        _meter(
            pool["percent"],
            rx.text(pool["used"], " used", size="1", color_scheme="gray"),
            rx.spacer(),
            rx.text("of ", pool["granted"], size="1", color_scheme="gray", class_name="pool-granted"),
            class_name="pool-progress",
        ),
        "pool-card",
    )


def _own_credit_stat(seat: rx.Var) -> rx.Component:
    return _stat(
        "coins",
        "Your usage this period",
        seat["used"],
        rx.cond(
            seat["has_allowance"].to(bool),
            _meter(
                seat["percent"],
                rx.text(seat["remaining"], " left of your ", seat["granted"], size="1", color_scheme="gray"),
            ),
            rx.text(seat["pool"], " drawn from your team's shared pool", size="1", color_scheme="gray"),
        ),
        "own-credit-card",
    )


def _seat_table() -> rx.Component:
    return figures_table(
        ("Seat", "Granted", "Used", "Drawn from pool", "Remaining"),
        CustomerState.seats,
        lambda s: rx.hstack(
            rx.avatar(fallback=s["seat"].to(str)[0:1], size="1", radius="full", variant="soft"),
            rx.text(s["seat"], size="2"),
            align="center",
        ),
        ("granted", "used", "pool", "remaining"),
        "seat-credits",
        variant="ghost",
    )


def _usage_panel() -> rx.Component:
    return panel(
        "Daily usage",
        rx.cond(CustomerState.is_admin, "This period, by seat", "This period, your seat"),
        rx.cond(
            CustomerState.chart_has_usage,
            rx.vstack(
                stacked_daily_chart(CustomerState.chart_rows, CustomerState.chart_series, "usage-chart"),
                series_legend(CustomerState.chart_series, "usage-legend"),
                spacing="3",
                width="100%",
            ),
            rx.center(
                rx.vstack(
                    rx.icon("chart-column", size=28, color=rx.color("gray", 8)),
                    rx.text("No usage yet this period", weight="medium"),
                    rx.text(
                        rx.cond(
                            CustomerState.is_admin,
                            "Send usage events with an API key and they appear here within a second.",
                            "Usage from your seat appears here within a second.",
                        ),
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.cond(CustomerState.is_admin, _link("Create an API key", "/api-keys", "no-usage-api-keys")),
                    align="center",
                    spacing="2",
                ),
                padding_y="48px",
                width="100%",
                id="no-usage",
            ),
        ),
        action=rx.cond(
            CustomerState.metrics.length() > 1,
            metric_picker(CustomerState.metrics, CustomerState.metric, CustomerState.select_metric, "metric-picker"),
        ),
        id="usage-panel",
    )


def _draft_panel() -> rx.Component:
    return panel(
        "Current invoice",
        "Draft for " + CustomerState.plan["period"].to(str) + ": it grows with usage and is finalized at period end.",
        rx.cond(
            CustomerState.draft_lines.length() > 0,
            invoice_lines(CustomerState.draft_lines, CustomerState.explain, "draft-lines"),
            rx.text("Nothing billed yet this period.", size="2", color_scheme="gray"),
        ),
        invoice_totals(CustomerState.draft, "draft-totals"),
        rx.cond(
            CustomerState.draft_statement.length() > 0,
            rx.vstack(
                rx.heading("Usage by department", size="3"),
                rx.text(
                    "What each department used this period, what its own credits and the shared commitment "
                    "covered, and its overage (billed here unless the department pays its own).",
                    size="2",
                    color_scheme="gray",
                ),
                figures_table(
                    ["Department", "Used", "Own credits", "Shared commitment", "Overage", "Blocked"],
                    CustomerState.draft_statement,
                    lambda row: rx.text(row["department"], white_space="pre"),
                    ["charged", "own", "shared", "overage", "blocked"],
                    "statement",
                ),
                width="100%",
                align="start",
                spacing="2",
                id="statement-panel",
            ),
        ),
        action=status_badge("draft"),
        id="draft-panel",
    )


def _past_invoice(invoice: rx.Var) -> rx.Component:
    return rx.accordion.item(
        header=rx.hstack(
            rx.text(invoice["period"], weight="medium", size="2", color=rx.color("gray", 12)),
            status_badge(invoice["status"]),
            rx.spacer(),
            rx.text(invoice["due"], weight="medium", size="2", color=rx.color("gray", 12)),
            width="100%",
            align="center",
            padding_right="12px",
        ),
        content=rx.vstack(
            rx.cond(invoice["note"] != "", rx.text(invoice["note"], size="2", color_scheme="gray")),
            invoice_lines(invoice["lines"].to(list[dict[str, str]]), CustomerState.explain, "invoice-lines"),
            invoice_totals(invoice, "invoice-totals"),
            spacing="3",
            width="100%",
            padding_y="8px",
        ),
        value=invoice["id"],
        class_name="past-invoice",
    )


def _invoices_panel() -> rx.Component:
    return panel(
        "Past invoices",
        "Finalized invoices, newest first.",
        rx.cond(
            CustomerState.invoices.length() > 0,
            rx.accordion.root(
                rx.foreach(CustomerState.invoices, _past_invoice),
                type="multiple",
                variant="ghost",
                color_scheme="gray",
                width="100%",
            ),
            rx.text("No invoices yet: the first one is finalized when you buy a plan.", size="2", color_scheme="gray"),
        ),
        id="past-invoices",
    )


def _team_panel() -> rx.Component:
    return panel(
        "Team",
        "People with access to this account.",
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("Name", "Email", "Role")])),
            rx.table.body(
                rx.foreach(
                    CustomerState.members,
                    lambda m: rx.table.row(
                        rx.table.cell(m["name"]),
                        rx.table.cell(m["email"]),
                        rx.table.cell(rx.badge(m["role"], variant="surface", color_scheme="gray")),
                    ),
                )
            ),
            variant="ghost",
            width="100%",
            id="members",
        ),
    )


def _header() -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.heading(CustomerState.customer_name, size="7"),
            rx.text(
                rx.cond(
                    CustomerState.is_admin,
                    "Your account at a glance: figures update live as usage arrives.",
                    "Your seat, " + CustomerState.seat_id + ": figures update live as you use credits.",
                ),
                color_scheme="gray",
                size="3",
            ),
            spacing="1",
        ),
        rx.spacer(),
        rx.cond(
            CustomerState.is_admin,
            rx.link(
                rx.button(rx.icon("key-round", size=16), "API keys", variant="soft"),
                href="/api-keys",
                id="api-keys-link",
            ),
        ),
        width="100%",
        align="end",
        margin_bottom="8px",
    )


def _admin_view() -> rx.Component:
    return rx.vstack(
        rx.grid(
            _plan_stat(),
            _seats_stat(),
            rx.foreach(CustomerState.pools, _pool_stat),
            columns=rx.breakpoints(initial="1", sm="2", md="3"),
            spacing="4",
            width="100%",
        ),
        _usage_panel(),
        panel("Credits by seat", "Each seat's usage this period and where its credits came from.", _seat_table()),
        _draft_panel(),
        _invoices_panel(),
        credits_panel(),
        spend_caps_panel(),
        alerts_panel(),
        card_panel(),
        _team_panel(),
        spacing="5",
        width="100%",
    )


def _member_view() -> rx.Component:
    return rx.vstack(
        spend_cap_notice(),
        rx.grid(
            _plan_stat(),
            rx.foreach(CustomerState.seats, _own_credit_stat),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
        ),
        _usage_panel(),
        _team_panel(),
        spacing="5",
        width="100%",
    )


def _no_plan() -> rx.Component:
    return rx.card(
        notice(
            "package-open",
            "No plan yet",
            rx.cond(
                CustomerState.is_admin,
                "Pick a tier and a number of seats to get credits for your team and start sending usage.",
                "Your team has no plan yet: ask an admin of your account to pick one.",
            ),
            rx.cond(
                CustomerState.is_admin,
                rx.link(rx.button("See plans and pricing", size="3"), href="/", id="see-pricing"),
            ),
        ),
        size="3",
        width="100%",
        id="no-plan",
    )


def _dashboard() -> rx.Component:
    return rx.vstack(
        _header(),
        _alerts(),
        rx.cond(CustomerState.has_plan, rx.cond(CustomerState.is_admin, _admin_view(), _member_view()), _no_plan()),
        explain_dialog(
            CustomerState.explain_open,
            CustomerState.set_explain_open,
            CustomerState.explained,
            CustomerState.explained_tiers,
            CustomerState.explained_groups,
            CustomerState.explained_grants,
            CustomerState.explained_uncovered,
        ),
        spacing="5",
        width="100%",
    )


def customer_page() -> rx.Component:
    """The customer dashboard: the admin's view of the account, or a member's view of their own seat."""
    return shell(
        rx.cond(
            CustomerState.session_ended,
            notice(
                "log-out",
                SESSION_ENDED,
                "For your account's safety the dashboard no longer shows its figures.",
                rx.link(rx.button("Sign in"), href="/sign-in", id="session-ended-sign-in"),
            ),
            guarded(CustomerState.access, CustomerState.denied_reason, _dashboard()),
        )
    )
