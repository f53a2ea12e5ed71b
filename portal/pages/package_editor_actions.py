"""The package editor's actions beyond the form: migrating existing customers to a published version, and
discarding a draft (each with its confirmation)."""

from __future__ import annotations

import reflex as rx

from portal.pages.package_editor_state import EditorState


def migration_card() -> rx.Component:
    """For a published version: how many contracts are on older versions, and moving them from their next period."""
    return rx.card(
        rx.hstack(
            rx.icon("arrow-right-left", size=18),
            rx.vstack(
                rx.text("Existing customers", weight="bold"),
                rx.text(
                    rx.cond(
                        EditorState.migration_pending == 0,
                        "No contract is on an older version of this tier.",
                        EditorState.migration_pending.to_string()
                        + " contracts are on older versions. Migrating moves them to this version from the start of "
                        "their next billing period.",
                    ),
                    size="2",
                    color_scheme="gray",
                    id="migration-pending",
                ),
                rx.cond(
                    EditorState.migration_blocker != "",
                    rx.text(EditorState.migration_blocker, size="2", color_scheme="amber", id="migration-blocker"),
                ),
                spacing="1",
                align="start",
            ),
            rx.spacer(),
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(
                    rx.button(
                        "Schedule migration",
                        disabled=(EditorState.migration_pending == 0) | (EditorState.migration_blocker != ""),
                        id="schedule-migration",
                    )
                ),
                rx.alert_dialog.content(
                    rx.alert_dialog.title("Migrate existing customers?"),
                    rx.alert_dialog.description(
                        "Every contract on an older version of this tier moves to this version from the start of its "
                        "next billing period, as the simulation showed. Contracts with a change already scheduled are "
                        "left alone."
                    ),
                    rx.hstack(
                        rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.alert_dialog.action(
                            rx.button("Migrate", on_click=EditorState.schedule_migration, id="confirm-migration")
                        ),
                        justify="end",
                        spacing="3",
                        margin_top="16px",
                    ),
                ),
                open=EditorState.migration_open,
                on_open_change=EditorState.set_migration_open,
            ),
            align="center",
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="migration-card",
    )


def discard_dialog() -> rx.Component:
    """Confirm before a draft (and its simulations) is deleted."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Discard this draft?"),
            rx.alert_dialog.description(
                "The draft and its simulations are deleted; a new tier that was never published disappears with "
                "it. This cannot be undone."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button("Discard", color_scheme="red", on_click=EditorState.discard, id="confirm-discard")
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=EditorState.discard_open,
        on_open_change=EditorState.set_discard_open,
    )
