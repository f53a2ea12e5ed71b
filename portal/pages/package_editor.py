"""The package editor at ``/staff/packages/<version id>``: the draft's form beside the line-up preview, then the
simulation panel that gates publishing. A published version opens read-only."""

from __future__ import annotations

import reflex as rx

from portal.components.staff_nav import staff_area, version_status_badge
from portal.components.tier_card import choose_button, tier_card
from portal.domain.periods import Frequency
from portal.domain.seats import CreditAllocation, CreditProration, DecreasePolicy, IncreasePolicy
from portal.pages.package_editor_actions import discard_dialog, migration_card
from portal.pages.package_editor_state import NO_CREDIT_TYPE, EditorState
from portal.pages.simulation_panel import PanelWords, simulation_panel
from portal.pages.simulation_state import SimulationState
from portal.pages.staff_packages import ROUTE as PACKAGES_ROUTE

_LABELS = {
    "POOLED": "Pooled",
    "INDIVIDUAL": "Individual",
    "HYBRID": "Hybrid",
    "prorate_immediately": "Prorated, charged at once",
    "full_period": "Full period, charged at once",
    "next_period": "From the next period",
    "at_period_end": "At the end of the period",
    "immediately_with_credit": "At once, with a credit",
    "prorated": "Prorated credits",
    "full": "A full period's credits",
    "MONTHLY": "Monthly",
    "QUARTERLY": "Quarterly",
    "ANNUAL": "Annually",
}
"""How the editor names each choice of the draft's policies (the values are the service's)."""


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [(value, _LABELS.get(value, value)) for value in values]


ALLOCATIONS = _choices([a.name for a in CreditAllocation])
INCREASES = _choices([p.value for p in IncreasePolicy])
DECREASES = _choices([p.value for p in DecreasePolicy])
PRORATIONS = _choices([p.value for p in CreditProration])
FREQUENCIES = _choices([f.name for f in Frequency])

PUBLISH_WORDS = PanelWords(
    intro="Replays the last closed billing periods of every affected customer under their current terms and under "
    "this draft, so you see who pays more or less before anyone is billed by it.",
    none_yet="No simulation yet. Publishing needs a simulation of this draft, reviewed and acknowledged.",
    stale="The draft changed since this simulation: run it again, then review the new results.",
    nobody="Nobody is on this tier (or, for a new tier, the tier it was cloned from) today, so publishing changes no "
    "existing customer's bill.",
    results_note="Amounts are what each customer was billed over the closed periods, and what they would have been "
    "billed under this draft.",
    action="Publish",
    action_icon="rocket",
    ready="Simulated and reviewed: ready to publish.",
    confirm_title="Publish this draft?",
    confirm_body="New customers get it from now on, and the pricing page shows it. Customers on older versions stay "
    "there until migrated. A published version never changes.",
)
"""What the simulation panel says about a package draft."""


def _field(label: str, name: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=f"field-{name}", weight="medium", size="2"),
        control,
        rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
        spacing="1",
        width="100%",
    )


def _input(label: str, name: str, hint: str = "", **props: object) -> rx.Component:
    control = rx.input(name=name, id=f"field-{name}", default_value=EditorState.values[name], width="100%", **props)
    return _field(label, name, control, hint)


def _text_area(label: str, name: str, hint: str, rows: str, monospace: bool = True) -> rx.Component:
    control = rx.text_area(
        name=name,
        id=f"field-{name}",
        default_value=EditorState.values[name],
        rows=rows,
        width="100%",
        **({"font_family": "monospace"} if monospace else {}),
    )
    return _field(label, name, control, hint)


def _select(label: str, name: str, choices: list[tuple[str, str]], hint: str = "") -> rx.Component:
    control = rx.select.root(
        rx.select.trigger(width="100%", id=f"field-{name}"),
        rx.select.content(*[rx.select.item(text, value=value) for value, text in choices]),
        name=name,
        default_value=EditorState.values[name],
    )
    return _field(label, name, control, hint)


def _credit_type_select() -> rx.Component:
    control = rx.select.root(
        rx.select.trigger(width="100%", id="field-credit_type_id"),
        rx.select.content(
            rx.select.item("No credits", value=NO_CREDIT_TYPE),
            rx.foreach(EditorState.credit_types, lambda t: rx.select.item(t, value=t)),
        ),
        name="credit_type_id",
        default_value=EditorState.values["credit_type_id"],
    )
    return _field("Credit type", "credit_type_id", control, "The unit the seat credits are in.")


def _rate_card_select() -> rx.Component:
    control = rx.select.root(
        rx.select.trigger(width="100%", id="field-rate_card_id"),
        rx.select.content(rx.foreach(EditorState.rate_cards, lambda c: rx.select.item(c[1], value=c[0]))),
        name="rate_card_id",
        default_value=EditorState.values["rate_card_id"],
    )
    return _field("Rate card", "rate_card_id", control, "The usage prices of this tier (dated, shared by tiers).")


def _section(title: str, *fields: rx.Component, columns: str = "2") -> rx.Component:
    return rx.vstack(
        rx.text(title, size="1", weight="bold", color_scheme="gray", text_transform="uppercase"),
        rx.grid(*fields, columns=rx.breakpoints(initial="1", sm=columns), spacing="3", width="100%"),
        spacing="2",
        width="100%",
    )


def _fields() -> rx.Component:
    return rx.vstack(
        rx.cond(
            EditorState.new_package,
            _section(
                "New tier",
                _input("Name", "name", "What customers see on the pricing page."),
                _input("Rank", "rank", "Lower ranks come first in the line-up.", type="number", min=0),
            ),
        ),
        _section(
            "Listing",
            _input("Tagline", "tagline"),
            _text_area(
                "Features",
                "features",
                "One per line, in the order the card lists them.",
                "5",
                monospace=False,
            ),
            columns="1",
        ),
        _section(
            "Price and seats",
            _input("Seat price", "seat_price", "Per seat and billing period, e.g. 40 or 39.50."),
            _select("Billing frequency", "billing_frequency", FREQUENCIES),
            _input("Minimum seats", "min_seats", type="number", min=1),
            _input("Maximum seats", "max_seats", "Empty for no maximum.", type="number", min=1),
            _input("Trial days", "trial_days", "0 for no free trial.", type="number", min=0),
        ),
        _section(
            "Credits",
            _input("Credits per seat", "credits_per_seat", "Granted every period; 0 for none."),
            _credit_type_select(),
            _select(
                "Allocation",
                "credit_allocation",
                ALLOCATIONS,
                "Pooled: one pool for the team; individual: each seat its own; hybrid: both.",
            ),
            _input("Pool per seat", "pool_per_seat", "Hybrid only: credits per seat put into the shared pool."),
            _select(
                "Seats added mid-period earn", "credit_proration", PRORATIONS, "Credits of a seat added mid-period."
            ),
            _text_area(
                "Included every period",
                "included_grants",
                "For the whole account, one per line: kind amount unit, e.g. 'credit 1000 ai-credits' or "
                "'commit 500 USD'.",
                "2",
            ),
        ),
        _section(
            "Prices and access",
            _rate_card_select(),
            _text_area(
                "Entitlements",
                "entitlements",
                "One per line: name = true, false or a whole-number limit (your product reads them through the "
                "entitlements API).",
                "4",
            ),
            _text_area(
                "Price overrides",
                "overrides",
                "Advanced: a JSON list of overrides on top of the rate card (e.g. a multiplier for a product).",
                "4",
            ),
            columns="1",
        ),
        _section(
            "Seat changes",
            _select("Seat increases", "seat_increases", INCREASES),
            _select("Seat decreases", "seat_decreases", DECREASES),
        ),
        spacing="5",
        width="100%",
    )


def _actions() -> rx.Component:
    return rx.vstack(
        rx.cond(
            EditorState.save_error != "",
            rx.callout(
                EditorState.save_error, icon="triangle-alert", color_scheme="red", id="save-error", width="100%"
            ),
        ),
        rx.hstack(
            rx.button(
                rx.icon("trash-2", size=14),
                "Discard draft",
                type="button",
                variant="soft",
                color_scheme="red",
                on_click=EditorState.set_discard_open(True),
                id="discard-draft",
            ),
            rx.spacer(),
            rx.button(rx.icon("save", size=14), "Save draft", type="submit", size="3", id="save-draft"),
            width="100%",
            align="center",
        ),
        spacing="3",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.el.fieldset(
                _fields(),
                disabled=~EditorState.is_draft,
                style={"border": "none", "padding": "0", "margin": "0", "min_width": "0"},
            ),
            rx.cond(EditorState.is_draft, rx.box(_actions(), margin_top="24px")),
            key=EditorState.form_key,
            on_submit=[EditorState.save, SimulationState.refresh],
            reset_on_submit=False,
            id="draft-form",
        ),
        size="3",
        width="100%",
    )


def _preview_card(tier: rx.Var) -> rx.Component:
    label = rx.cond(EditorState.is_draft, "Your draft", "This version")
    return tier_card(tier, choose_button(tier, disabled=True), compact=True, highlight_label=label)


def _preview() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Line-up preview", size="4"),
            rx.text(
                "The pricing page as customers will see it with this version published.", size="2", color_scheme="gray"
            ),
            rx.grid(
                rx.foreach(EditorState.lineup, _preview_card),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
                padding="4px",
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id="lineup-preview",
    )


def _header() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), rx.text("All packages"), spacing="1", align="center"),
            href=PACKAGES_ROUTE,
            size="2",
            color_scheme="gray",
        ),
        rx.hstack(
            rx.heading(EditorState.tier_name, " ", EditorState.version_label, size="7", id="editor-title"),
            version_status_badge(EditorState.status),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.text("Key ", rx.code(EditorState.tier_key), size="2", color_scheme="gray"),
        spacing="2",
        margin_bottom="12px",
    )


def _read_only_note() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("lock")),
        rx.callout.text(
            rx.cond(EditorState.published_at != "", "Published on " + EditorState.published_at + ". ", ""),
            "A published version never changes: to change it, clone it into a draft from the ",
            rx.link("packages list", href=PACKAGES_ROUTE),
            ".",
        ),
        id="read-only-note",
        width="100%",
    )


def package_editor_page() -> rx.Component:
    """One package version: the draft editor and its simulation, or the published version read-only."""
    return staff_area(
        EditorState,
        PACKAGES_ROUTE,
        _header(),
        rx.cond(~EditorState.is_draft, _read_only_note()),
        rx.cond(EditorState.status == "published", migration_card()),
        rx.grid(
            _form(),
            rx.box(_preview(), width="100%", position="sticky", top="80px"),
            grid_template_columns=rx.breakpoints(initial="1fr", lg="minmax(0, 5fr) minmax(0, 7fr)"),
            gap="24px",
            width="100%",
            align_items="start",
        ),
        rx.cond(EditorState.is_draft, simulation_panel(PUBLISH_WORDS)),
        discard_dialog(),
        spacing="4",
    )
