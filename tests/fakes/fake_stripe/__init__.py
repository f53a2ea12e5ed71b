# SPDX-License-Identifier: GPL-3.0-or-later
"""A Stripe-compatible fake for the tests (localstripe + patches); test-only, never imported by portal/."""
