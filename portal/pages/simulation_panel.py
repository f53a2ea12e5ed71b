"""The simulation panel of a proposal: run, progress, totals, the per-customer table, acknowledge, then the final
action (publish a package draft, schedule a price change), in the words :class:`PanelWords` gives."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from portal.pages.simulation_state import PERIOD_CHOICES, SimulationState
from portal.services.simulation import DONE, FAILED, RUNNING

_TREND_COLORS = (("up", "grass"), ("down", "tomato"))


@dataclass(frozen=True)
class PanelWords:
    """What the panel says about one kind of proposal, and its final action."""

    intro: str
    """Under the heading: what a run replays."""
    none_yet: str
    """Before the first run."""
    stale: str
    """When the proposal changed after the shown run."""
    nobody: str
    """When no customer is affected."""
    results_note: str
    """Under the results: what the amounts are."""
    action: str
    """The final action's label, e.g. ``Publish``; its button's id is the label in lower case."""
    action_icon: str
    """A lucide icon name for the action's button."""
    ready: str
    """Once the action is allowed."""
    confirm_title: str
    confirm_body: str

    @property
    def action_id(self) -> str:
        """The final action button's element id; its blocker's is ``<id>-blocker``, its confirmation's
        ``confirm-<id>``."""
        return self.action.lower()


def _trend_text(value: rx.Var, trend: rx.Var, **props: object) -> rx.Component:
    """A figure coloured by its sign (more revenue green, less red, unchanged grey)."""
    return rx.match(
        trend,
        *[(name, rx.text(value, color_scheme=color, weight="medium", **props)) for name, color in _TREND_COLORS],
        rx.text(value, color_scheme="gray", **props),
    )


def _controls() -> rx.Component:
    return rx.hstack(
        rx.text("Closed periods", as_="label", size="2", weight="medium"),
        rx.select(
            PERIOD_CHOICES,
            value=SimulationState.periods,
            on_change=SimulationState.set_periods,
            size="2",
            id="simulation-periods",
        ),
        rx.button(
            rx.icon("play", size=14),
            "Run simulation",
            on_click=SimulationState.run,
            loading=SimulationState.status == RUNNING,
            id="run-simulation",
        ),
        rx.spacer(),
        rx.cond(
            SimulationState.status == DONE,
            rx.button(
                rx.icon("download", size=14),
                "Download CSV",
                variant="soft",
                color_scheme="gray",
                on_click=SimulationState.download_csv,
                id="download-csv",
            ),
        ),
        align="center",
        spacing="3",
        width="100%",
        wrap="wrap",
    )


def _progress() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(
                rx.cond(
                    SimulationState.status == RUNNING,
                    SimulationState.progress_label,
                    "Finished: "
                    + SimulationState.rows.length().to_string()
                    + " customers compared over up to "
                    + SimulationState.simulated_periods
                    + " closed periods",
                ),
                size="2",
                weight="medium",
                id="simulation-status",
            ),
            rx.spacer(),
            rx.text(SimulationState.percent.to_string() + "%", size="2", color_scheme="gray"),
            width="100%",
        ),
        rx.progress(value=SimulationState.percent, max=100, size="2", id="simulation-progress"),
        rx.text("Run by ", SimulationState.created, size="1", color_scheme="gray"),
        spacing="2",
        width="100%",
    )


def _stat(label: str, value: rx.Component, caption: rx.Component | None = None) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", weight="bold", color_scheme="gray", text_transform="uppercase"),
        value,
        caption or rx.fragment(),
        spacing="1",
    )


def _total(total: rx.Var) -> rx.Component:
    return rx.card(
        rx.grid(
            _stat(
                "Revenue change",
                _trend_text(total["difference"], total["trend"], size="6", class_name="total-difference"),
                rx.text(total["current"], " → ", total["proposed"], size="1", color_scheme="gray"),
            ),
            _stat("Paying more", rx.heading(total["paying_more"], size="6", class_name="total-more")),
            _stat("Paying less", rx.heading(total["paying_less"], size="6", class_name="total-less")),
            _stat("Paying the same", rx.heading(total["paying_same"], size="6", class_name="total-same")),
            _stat(
                "Newly running out",
                rx.heading(total["newly_running_out"], size="6", class_name="total-newly-out"),
                rx.text("of seat credits", size="1", color_scheme="gray"),
            ),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="4",
            width="100%",
        ),
        rx.text(total["customers"], " customers billed in ", total["currency"], size="1", color_scheme="gray"),
        width="100%",
        class_name="simulation-total",
        data_currency=total["currency"],
    )


def _sort_header(label: str, column: str, right: bool = True) -> rx.Component:
    sorted_here = SimulationState.sort_column == column
    return rx.table.column_header_cell(
        rx.button(
            rx.text(label, weight="bold"),
            rx.cond(
                sorted_here,
                rx.cond(SimulationState.sort_descending, rx.icon("arrow-down", size=13), rx.icon("arrow-up", size=13)),
                rx.icon("chevrons-up-down", size=13, opacity="0.4"),
            ),
            variant="ghost",
            color_scheme="gray",
            high_contrast=True,
            size="2",
            on_click=SimulationState.sort_by(column),
            id=f"sort-{column}",
        ),
        text_align="right" if right else "left",
        aria_sort=rx.cond(sorted_here, rx.cond(SimulationState.sort_descending, "descending", "ascending"), "none"),
    )


def _customer_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.text(row["customer"], weight="medium"),
                rx.cond(row["newly_runs_out"] != "", rx.badge("Newly runs out", color_scheme="red", variant="soft")),
                spacing="2",
                align="center",
            ),
            rx.text(row["periods"], " closed periods · ", row["currency"], size="1", color_scheme="gray"),
            class_name="sim-customer",
        ),
        rx.table.cell(row["current"], text_align="right", white_space="nowrap", class_name="sim-current"),
        rx.table.cell(row["proposed"], text_align="right", white_space="nowrap", class_name="sim-proposed"),
        rx.table.cell(
            _trend_text(row["difference"], row["trend"], size="2"),
            text_align="right",
            white_space="nowrap",
            class_name="sim-difference",
        ),
        rx.table.cell(row["burn_change"], text_align="right", white_space="nowrap", class_name="sim-burn"),
        rx.table.cell(row["runs_out"], text_align="right", class_name="sim-runs-out"),
        class_name="simulation-row",
        data_customer=row["customer"],
    )


def _customer_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                _sort_header("Customer", "customer", right=False),
                _sort_header("Current", "current"),
                _sort_header("Proposed", "proposed"),
                _sort_header("Difference", "difference"),
                _sort_header("Seat-credit burn", "burn_change"),
                rx.table.column_header_cell("Runs out of credits", text_align="right"),
            )
        ),
        rx.table.body(rx.foreach(SimulationState.rows, _customer_row)),
        variant="surface",
        width="100%",
        id="simulation-customers",
    )


def _nobody_affected(words: PanelWords) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("users", size=28, color=rx.color("gray", 9)),
            rx.heading("No customer is affected", size="4"),
            rx.text(
                words.nobody,
                size="2",
                color_scheme="gray",
                text_align="center",
            ),
            align="center",
            spacing="2",
            max_width="440px",
        ),
        padding_y="32px",
        width="100%",
        id="simulation-empty",
    )


def _acknowledgement() -> rx.Component:
    return rx.cond(
        SimulationState.acknowledged_by != "",
        rx.badge(
            rx.icon("circle-check", size=13),
            "Acknowledged by " + SimulationState.acknowledged_by,
            color_scheme="green",
            variant="soft",
            size="2",
            id="acknowledged",
        ),
        rx.button(
            rx.icon("clipboard-check", size=14),
            "Acknowledge results",
            on_click=SimulationState.acknowledge,
            disabled=~SimulationState.current,
            variant="outline",
            id="acknowledge",
        ),
    )


def _results(words: PanelWords) -> rx.Component:
    return rx.vstack(
        rx.foreach(SimulationState.totals, _total),
        rx.cond(SimulationState.rows.length() == 0, _nobody_affected(words), _customer_table()),
        rx.hstack(
            rx.text(
                words.results_note,
                size="1",
                color_scheme="gray",
            ),
            rx.spacer(),
            _acknowledgement(),
            width="100%",
            align="center",
        ),
        spacing="4",
        width="100%",
    )


def _run(words: PanelWords) -> rx.Component:
    return rx.cond(
        SimulationState.has_run,
        rx.vstack(
            rx.cond(
                ~SimulationState.current & (SimulationState.status != RUNNING),
                rx.callout(
                    words.stale,
                    icon="triangle-alert",
                    color_scheme="amber",
                    id="simulation-stale",
                    width="100%",
                ),
            ),
            rx.cond(
                SimulationState.status == FAILED,
                rx.callout(
                    "The simulation failed: " + SimulationState.error,
                    icon="circle-x",
                    color_scheme="red",
                    id="simulation-failed",
                    width="100%",
                ),
                _progress(),
            ),
            rx.cond(SimulationState.status == DONE, _results(words)),
            spacing="4",
            width="100%",
        ),
        rx.text(
            words.none_yet,
            size="2",
            color_scheme="gray",
            id="simulation-none",
        ),
    )


def _confirm_dialog(words: PanelWords) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(words.confirm_title),
            rx.alert_dialog.description(words.confirm_body),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Not yet", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(words.action, on_click=SimulationState.finish, id=f"confirm-{words.action_id}")
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=SimulationState.confirm_open,
        on_open_change=SimulationState.set_confirm_open,
    )


def _action_bar(words: PanelWords) -> rx.Component:
    return rx.hstack(
        rx.cond(
            SimulationState.blocker != "",
            rx.hstack(
                rx.icon("lock", size=16, color=rx.color("amber", 10)),
                rx.text(SimulationState.blocker, size="2", id=f"{words.action_id}-blocker"),
                align="center",
                spacing="2",
            ),
            rx.hstack(
                rx.icon("circle-check", size=16, color=rx.color("grass", 10)),
                rx.text(words.ready, size="2", id=f"{words.action_id}-ready"),
                align="center",
                spacing="2",
            ),
        ),
        rx.spacer(),
        rx.button(
            rx.icon(words.action_icon, size=14),
            words.action,
            size="3",
            disabled=SimulationState.blocker != "",
            on_click=SimulationState.set_confirm_open(True),
            id=words.action_id,
        ),
        _confirm_dialog(words),
        align="center",
        width="100%",
        id=f"{words.action_id}-bar",
    )


def simulation_panel(words: PanelWords) -> rx.Component:
    """Simulate the proposal over real usage, review the results, then take the final action."""
    return rx.card(
        rx.vstack(
            rx.vstack(
                rx.heading("Simulate over real usage", size="5"),
                rx.text(words.intro, size="2", color_scheme="gray"),
                spacing="1",
            ),
            _controls(),
            _run(words),
            rx.separator(size="4"),
            _action_bar(words),
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
        id="simulation-panel",
    )
