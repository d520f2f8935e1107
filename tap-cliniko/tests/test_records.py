"""Record clean-up: dates, numbers, IDs and foreign keys."""

from __future__ import annotations

from decimal import Decimal

from tap_cliniko.records import add_foreign_keys, conform, id_from_link
from tap_cliniko.registry import packaged_definitions
from tap_cliniko.tap import shard_of

ITEMS = packaged_definitions()["invoice_items"].schema
INVOICES = packaged_definitions()["invoices"].schema


def test_empty_date_becomes_null() -> None:
    record = conform({"archived_at": "", "deleted_at": "2025-01-01T00:00:00Z"}, ITEMS)
    assert record == {"archived_at": None, "deleted_at": "2025-01-01T00:00:00Z"}


def test_empty_decimal_string_becomes_null() -> None:
    assert conform({"unit_price": "", "tax_amount": "0.0"}, ITEMS) == {
        "unit_price": None,
        "tax_amount": "0.0",
    }


def test_integer_and_string_quantities_both_become_decimal_strings() -> None:
    assert conform({"quantity": 2}, ITEMS)["quantity"] == "2"
    assert conform({"quantity": Decimal("1.5")}, ITEMS)["quantity"] == "1.5"
    assert conform({"quantity": "3.0"}, ITEMS)["quantity"] == "3.0"


def test_number_sent_as_string_is_read_as_number() -> None:
    assert conform({"total_including_tax": "90.0"}, ITEMS)["total_including_tax"] == Decimal("90.0")


def test_numeric_id_stays_a_string() -> None:
    assert conform({"id": 836447129235883061}, INVOICES)["id"] == "836447129235883061"


def test_foreign_keys_from_links() -> None:
    record = {
        "patient": {
            "links": {"self": "https://api.au1.cliniko.com/v1/patients/1234567890123456789"}
        },
        "practitioner": None,
        "invoice_items": {
            "links": {"self": "https://api.au1.cliniko.com/v1/invoices/1/invoice_items"}
        },
    }
    out = add_foreign_keys(record, INVOICES)
    assert out["patient_id"] == "1234567890123456789"
    assert out["practitioner_id"] is None
    assert "invoice_items_id" not in out


def test_collection_and_filter_links_are_not_foreign_keys() -> None:
    assert (
        id_from_link({"links": {"self": "https://x/v1/invoices?q%5B%5D=invoice_id%3A%3D1"}}) is None
    )
    assert id_from_link({}) is None


def test_shard_from_key_suffix() -> None:
    assert shard_of("MS0xLTEyMzQ1Ng-au2") == "au2"
    assert shard_of("abc-def-uk1") == "uk1"
    assert shard_of("oldkeywithoutsuffix") == "au1"
    assert shard_of("key-with-hyphens-notashard") == "au1"
