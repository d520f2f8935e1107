"""Several businesses: each Cliniko business invoices as its own PayPal invoicer."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_mapping import invoice, one
from test_validate import broken, line_of, validate

from map_cliniko_paypal.rules import load

NORTH, SOUTH, ELSEWHERE = "74899250", "74899251", "74899299"
RULES_TEXT = f"""
invoicers:
  by_business:
    {NORTH}:
      business_name: Harbourside Physio Newtown
      tax_id: 12 345 678 901
      website: https://newtown.example.com.au
      logo_url: https://newtown.example.com.au/logo.png
      address: {{line1: 1 King St, city: Newtown, state: NSW, postal_code: 2042,
                 country_code: AU}}
    "{SOUTH}":
      business_name: Harbourside Physio Cronulla
      email: cronulla@harbourside.example
      client_id_env: CRONULLA_PAYPAL_CLIENT_ID
      client_secret_env: CRONULLA_PAYPAL_CLIENT_SECRET
"""


def rules_of(tmp_path: Path, text: str = RULES_TEXT):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return load(path)


def test_each_listed_business_invoices_as_its_own_invoicer(tmp_path: Path) -> None:
    rules = rules_of(tmp_path)
    _, north = one("invoices", invoice(business_id=NORTH), rules)
    assert north["invoicer"] == {
        "business_name": "Harbourside Physio Newtown",
        "tax_id": "12 345 678 901",
        "website": "https://newtown.example.com.au",
        "logo_url": "https://newtown.example.com.au/logo.png",
        "address": {"address_line_1": "1 King St", "admin_area_2": "Newtown",
                    "admin_area_1": "NSW", "postal_code": "2042", "country_code": "AU"},
    }  # fmt: skip
    assert "email_address" not in north["invoicer"]  # the default account's own
    assert "paypal_account" not in north  # written to the default account


def test_a_business_with_its_own_paypal_account_names_its_variables(tmp_path) -> None:
    rules = rules_of(tmp_path)
    _, south = one("invoices", invoice(business_id=SOUTH), rules)
    assert south["invoicer"] == {
        "business_name": "Harbourside Physio Cronulla",
        "email_address": "cronulla@harbourside.example",
    }
    assert south["paypal_account"] == {
        "client_id_env": "CRONULLA_PAYPAL_CLIENT_ID",
        "client_secret_env": "CRONULLA_PAYPAL_CLIENT_SECRET",
    }
    assert rules.invoicers.account_keys() == [
        "CRONULLA_PAYPAL_CLIENT_ID:CRONULLA_PAYPAL_CLIENT_SECRET"
    ]
    # A void one still names its account: that is where its copy is cancelled.
    _, void = one("invoices", invoice(business_id=SOUTH, status=30), rules)
    assert void["paypal_account"] == south["paypal_account"]


def test_an_invoice_of_a_business_not_listed_is_parked_naming_the_business(tmp_path) -> None:
    stream, letter = one("invoices", invoice(business_id=ELSEWHERE), rules_of(tmp_path))
    assert stream == "rejects" and letter["action"] == "park"
    assert letter["reason"] == (
        f"business {ELSEWHERE} has no invoicer: add it under the mapping's "
        "invoicers.by_business, or set invoicers.other_businesses to default"
    )


def test_a_void_invoice_of_a_business_not_listed_is_still_cancelled(tmp_path) -> None:
    stream, h = one("invoices", invoice(business_id=ELSEWHERE, status=30), rules_of(tmp_path))
    assert stream == "invoices" and h["target_status"] == "VOID" and "invoicer" not in h


def test_other_businesses_default_sends_them_with_the_default_invoicer(tmp_path) -> None:
    text = RULES_TEXT + "  other_businesses: default\n"
    stream, h = one("invoices", invoice(business_id=ELSEWHERE), rules_of(tmp_path, text))
    assert stream == "invoices" and "invoicer" not in h


def test_without_businesses_listed_every_invoice_has_the_default_invoicer() -> None:
    stream, h = one("invoices", invoice(business_id=ELSEWHERE))  # the shipped rules
    assert stream == "invoices" and "invoicer" not in h


@pytest.mark.parametrize(
    ("new", "needle", "words"),
    [
        ("  by_business:\n    North: {business_name: N}", "North:", "does not match"),
        ("  by_business:\n    '1': {business_name: N, colour: red}", "'1':", "unknown key"),
        ("  by_business:\n    '1':\n      email: a@b.example\n      client_id_env: A_ID",
         "email: a@b", "email, client_id_env and client_secret_env go together"),
        ("  by_business:\n    '1':\n      email: a@b.example\n      client_id_env: a_id\n"
         "      client_secret_env: A_SECRET", "a_id", "does not match"),
        ("  by_business:\n    '1':\n      email: not-an-email", "not-an-email",
         "does not match"),
        ("  by_business:\n    '1':\n      address: {city: X}", "{city: X}", "country_code"),
        ("  by_business:\n    '1':\n      logo_url: http://x.example/l.png", "http://x",
         "does not match"),
        ("  by_business:\n    '1':\n      address: {country_code: Australia}", "Australia}",
         "does not match"),
        ("  other_businesses: skip", "other_businesses: skip", "invoicers.other_businesses"),
    ],
)  # fmt: skip
def test_a_mistake_in_the_invoicers_is_reported_with_file_and_line(
    tmp_path: Path, new, needle, words
) -> None:
    old = "  by_business: {}" if "by_business" in new else "  other_businesses: park"
    path = broken(tmp_path, old, new)
    result = validate(path)
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{path}:{line_of(path, needle)}: "), result.stdout
    assert words in first, first
