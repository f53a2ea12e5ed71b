"""Staff's packages list at ``/staff/packages``: every version of every tier, cloning, and links to the editor.

Cloning asks whether the copy is the next version of the same tier or a new
tier of the line-up (with its own key, name and rank), then opens the new
draft in the editor.
"""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.layout import labelled, notice, page_header
from portal.components.staff_nav import staff_area, version_status_badge
from portal.services import packages
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = "/staff/packages"
NEXT_VERSION, NEW_TIER = "version", "tier"


def editor_href(version_id: str) -> str:
    """The editor's address for one package version."""
    return f"{ROUTE}/{version_id}"


def _rows(identity: Identity) -> list[dict[str, str]]:
    """Every package version as a row of preformatted strings (staff only)."""
    versions = packages.list_versions(identity)
    return [
        {
            "id": v.id,
            "name": v.name,
            "key": v.key,
            "rank": str(v.rank),
            "version": f"v{v.version}",
            "status": v.status,
            "tagline": str(v.terms.get("tagline", "")),
            "seat_price": v.seat_price,
            "href": editor_href(v.id),
        }
        for v in versions
    ]


class PackagesState(rx.State):
    """The version rows and the clone dialog."""

    access: str = LOADING
    denied_reason: str = ""
    versions: list[dict[str, str]] = []
    clone_open: bool = False
    clone_source: str = ""
    clone_label: str = ""
    clone_tier: str = ""
    clone_mode: str = NEXT_VERSION
    clone_error: str = ""

    @rx.event
    def load(self) -> None:
        """Load every package version (staff only)."""
        rows = load_guarded(self, _rows)
        if rows is not None:
            self.versions = rows

    @rx.event
    def open_clone(self, version_id: str, tier: str, version: str) -> None:
        """Open the clone dialog for ``version_id`` (``version`` of ``tier``), as the next version by default."""
        self.clone_source, self.clone_tier, self.clone_label = version_id, tier, f"{tier} {version}"
        self.clone_mode, self.clone_error, self.clone_open = NEXT_VERSION, "", True

    @rx.event
    def set_clone_open(self, is_open: bool) -> None:
        """Close (or open) the clone dialog."""
        self.clone_open = is_open

    @rx.event
    def set_clone_mode(self, mode: str) -> None:
        """Clone as the next version of the tier, or as a new tier."""
        self.clone_mode = NEW_TIER if mode == NEW_TIER else NEXT_VERSION
        self.clone_error = ""

    @rx.event
    def clone(self, form: dict[str, str]) -> EventSpec | None:
        """Clone the chosen version into a draft and open it in the editor; say what was wrong otherwise."""
        identity = identity_of(self)
        if identity is None:
            self.clone_open = False
            return session_ended()
        try:
            if self.clone_mode == NEW_TIER:
                rank_text = str(form.get("rank", "")).strip()
                if rank_text and not rank_text.isdigit():
                    self.clone_error = f"The rank must be a whole number, not {rank_text!r}."
                    return None
                draft = packages.clone_version(
                    identity,
                    self.clone_source,
                    key=str(form.get("key", "")),
                    name=str(form.get("name", "")),
                    rank=int(rank_text) if rank_text else None,
                )
            else:
                draft = packages.clone_version(identity, self.clone_source)
        except ServiceError as exc:
            self.clone_error = str(exc)
            return None
        self.clone_open, self.clone_error = False, ""
        return rx.redirect(editor_href(draft.id))


def _version_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(rx.text(row["name"], weight="medium"), href=row["href"], class_name="version-link"),
            rx.text(row["tagline"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(rx.code(row["key"], variant="ghost")),
        rx.table.cell(row["rank"], text_align="right"),
        rx.table.cell(row["version"]),
        rx.table.cell(version_status_badge(row["status"])),
        rx.table.cell(row["seat_price"], text_align="right", white_space="nowrap"),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    row["status"] == "draft",
                    rx.link(
                        rx.button(rx.icon("pencil", size=14), "Edit", size="1", variant="soft"),
                        href=row["href"],
                        class_name="edit-version",
                    ),
                    rx.link(
                        rx.button(rx.icon("eye", size=14), "View", size="1", variant="ghost", color_scheme="gray"),
                        href=row["href"],
                        class_name="view-version",
                    ),
                ),
                rx.button(
                    rx.icon("copy", size=14),
                    "Clone",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=PackagesState.open_clone(row["id"], row["name"], row["version"]),
                    class_name="clone-version",
                ),
                spacing="2",
                justify="end",
            )
        ),
        class_name="package-version-row",
        data_key=row["key"],
        data_status=row["status"],
        data_version=row["version"],
    )


def _versions_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Tier"),
                rx.table.column_header_cell("Key"),
                rx.table.column_header_cell("Rank", text_align="right"),
                rx.table.column_header_cell("Version"),
                rx.table.column_header_cell("Status"),
                rx.table.column_header_cell("Seat price", text_align="right"),
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(PackagesState.versions, _version_row)),
        variant="surface",
        width="100%",
        id="package-versions",
    )


def _new_tier_fields() -> rx.Component:
    return rx.vstack(
        labelled(
            "Key",
            rx.input(name="key", id="clone-key", placeholder="team-plus", width="100%"),
            "Lower-case letters, digits and dashes; checkout links use it. It cannot change later.",
        ),
        labelled("Name", rx.input(name="name", id="clone-name", placeholder="Team Plus", width="100%")),
        labelled(
            "Rank",
            rx.input(name="rank", id="clone-rank", type="number", min=0, max=1000, placeholder="4", width="100%"),
            "Position in the good-better-best line-up: lower ranks come first.",
        ),
        spacing="3",
        width="100%",
    )


def _clone_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.cond(
                PackagesState.clone_error != "",
                rx.callout(PackagesState.clone_error, icon="triangle-alert", color_scheme="red", id="clone-error"),
            ),
            rx.radio_group.root(
                rx.vstack(
                    rx.text(
                        rx.hstack(
                            rx.radio_group.item(value=NEXT_VERSION, id="clone-as-version"),
                            "The next version of " + PackagesState.clone_tier,
                            spacing="2",
                        ),
                        as_="label",
                        size="2",
                    ),
                    rx.text(
                        rx.hstack(
                            rx.radio_group.item(value=NEW_TIER, id="clone-as-tier"),
                            "A new tier of the line-up",
                            spacing="2",
                        ),
                        as_="label",
                        size="2",
                    ),
                    spacing="2",
                ),
                value=PackagesState.clone_mode,
                on_change=PackagesState.set_clone_mode,
            ),
            rx.cond(
                PackagesState.clone_mode == NEW_TIER,
                _new_tier_fields(),
                rx.text(
                    "Customers stay on their version until migrated; new customers get the new version once it is "
                    "published.",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                rx.button(rx.icon("copy", size=14), "Create draft", type="submit", id="clone-submit"),
                justify="end",
                width="100%",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=PackagesState.clone,
        reset_on_submit=False,
    )


def _clone_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Clone " + PackagesState.clone_label),
            rx.dialog.description(
                "The copy is a draft: edit it, simulate it over real usage, then publish it.",
                size="2",
                color_scheme="gray",
                margin_bottom="12px",
            ),
            _clone_form(),
            max_width="480px",
            id="clone-dialog",
        ),
        open=PackagesState.clone_open,
        on_open_change=PackagesState.set_clone_open,
    )


def staff_packages_page() -> rx.Component:
    """Every package version, with clone and edit."""
    return staff_area(
        PackagesState,
        ROUTE,
        page_header(
            "Packages",
            "The good-better-best line-up. Published versions never change: clone one into a draft, "
            "simulate it over real usage, then publish it.",
        ),
        rx.cond(
            PackagesState.versions.length() == 0,
            notice("package-open", "No packages yet", "Seed the demo catalog or create a package."),
            _versions_table(),
        ),
        _clone_dialog(),
    )
