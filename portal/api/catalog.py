"""``GET /api/v1/packages``: the published tiers, as on the pricing page."""

from __future__ import annotations

from fastapi import APIRouter

from portal.services.catalog import TierCard, published_tiers

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/packages", response_model=list[TierCard])
def list_packages() -> list[TierCard]:
    """The newest published version of every package, in good-better-best order; amounts are formatted strings."""
    return published_tiers()
