"""Addresses of the staff workspace's rate-card and alerts pages, and reading a record's id out of a tab's address."""

from __future__ import annotations

import reflex as rx

RATE_CARDS_ROUTE = "/staff/rate-cards"
RATE_CARD_ROUTE = f"{RATE_CARDS_ROUTE}/[rate_card_id]"
RATE_CHANGES_ROUTE = "/staff/rate-changes"
RATE_CHANGE_ROUTE = f"{RATE_CHANGES_ROUTE}/[rate_change_id]"
ALERTS_ROUTE = "/staff/alerts"
"""The staff page of the alert rules for every customer."""


def id_in_path(state: rx.State, prefix: str) -> str:
    """The id in this tab's address when it is ``<prefix>/<id>``, or empty."""
    path = state.router.url.path.rstrip("/")
    rest = path[len(prefix) + 1 :] if path.startswith(prefix + "/") else ""
    return rest if "/" not in rest else ""


def rate_card_href(rate_card_id: str) -> str:
    """The address of one rate card's page."""
    return f"{RATE_CARDS_ROUTE}/{rate_card_id}"


def rate_change_href(change_id: str) -> str:
    """The address of one price change's page (its simulation, scheduling, discarding)."""
    return f"{RATE_CHANGES_ROUTE}/{change_id}"
