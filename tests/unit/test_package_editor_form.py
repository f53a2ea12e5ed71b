"""The package editor's form: entitlements and overrides as staff type them, to what the service takes."""

from __future__ import annotations

import pytest

from portal.pages.package_editor_state import changes_from, entitlements_from
from portal.services.errors import InvalidInput


def test_entitlement_lines_become_flags_and_limits() -> None:
    text = "api_access = true\n\nspend_alerts = FALSE\nprojects = 25\nsso = maybe\n"
    assert entitlements_from(text) == {"api_access": True, "spend_alerts": False, "projects": "25", "sso": "maybe"}


def test_a_line_without_a_value_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"Entitlement line 2 \('projects'\) is not 'name = value'"):
        entitlements_from("api_access = true\nprojects")


def test_overrides_are_json_and_a_mistake_is_named() -> None:
    form = {"seat_price": "40", "entitlements": "", "overrides": '[{"product_id": "prd_ai_tokens"}]'}
    assert changes_from(form, new_package=False) == {
        "seat_price": "40",
        "entitlements": {},
        "overrides": [{"product_id": "prd_ai_tokens"}],
    }
    assert changes_from({**form, "overrides": "  "}, new_package=False)["overrides"] == []
    with pytest.raises(InvalidInput, match="The overrides are not valid JSON"):
        changes_from({**form, "overrides": "[{"}, new_package=False)


def test_included_lines_become_grants_and_a_short_line_is_named() -> None:
    assert changes_from({"included_grants": "credit 1,000 ai-credits\n\ncommit 50 USD"}, new_package=False) == {
        "included_grants": [
            {"kind": "credit", "amount": "1000", "credit_type_id": "ai-credits"},
            {"kind": "commit", "amount": "50", "credit_type_id": "USD"},
        ]
    }
    with pytest.raises(InvalidInput, match=r"Included line 1 \('credit 1000'\) is not 'kind amount unit'"):
        changes_from({"included_grants": "credit 1000"}, new_package=False)
