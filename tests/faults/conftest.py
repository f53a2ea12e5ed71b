"""Fixtures of the fault tier: those of the integration tier (Initech with closed periods, the fake Stripe)."""

from tests.integration.conftest import fake_stripe, initech

__all__ = ["fake_stripe", "initech"]
