"""`search-invoices`: ANDed filters, exact vs partial matching, paging."""

from __future__ import annotations

import pytest

SEARCH = "/v2/invoicing/search-invoices"


@pytest.fixture
def three(paypal, invoice_body, state, clock):
    """Three patients' invoices in different states, dates and totals."""
    a = paypal.create(invoice_body(reference="cliniko-1", invoice_number="C-1",
                                   memo="Cliniko business 7", invoice_date="2025-02-01"))
    paypal.send(a["id"])
    clock.advance(86400)
    paypal.refresh()
    b = invoice_body(reference="cliniko-10", invoice_number="C-10", invoice_date="2025-03-01")
    b["primary_recipients"][0]["billing_info"].update(
        email_address="Bob.Smith@Example.com", name={"given_name": "Bob", "surname": "Smith"})
    b["items"][0]["unit_amount"]["value"] = "200.00"
    b = paypal.create(b)
    paypal.send(b["id"])
    state.mark_paid(b["id"])
    c = paypal.create(invoice_body(reference="other-3", invoice_number="C-3", currency_code="NZD",
                                   items=[{"name": "Consult", "quantity": "1",
                                           "unit_amount": {"currency_code": "NZD",
                                                           "value": "50.00"}}]))
    return a["id"], b["id"], c["id"]


def found(paypal, criteria, **params):
    response = paypal.post(SEARCH, criteria, params=params)
    assert response.status_code == 200, response.text
    return sorted(i["id"] for i in response.json()["items"])


def test_reference_and_number_match_exactly(paypal, three):
    a, b, _ = three
    assert found(paypal, {"reference": "cliniko-1"}) == [a]
    assert found(paypal, {"reference": "cliniko"}) == []
    assert found(paypal, {"invoice_number": "C-10"}) == [b]


def test_recipient_email_is_exact_ignoring_case(paypal, three):
    _, b, _ = three
    assert found(paypal, {"recipient_email": "bob.smith@example.com"}) == [b]
    assert found(paypal, {"recipient_email": "bob"}) == []


def test_names_and_memo_match_partially(paypal, three):
    a, b, _ = three
    assert found(paypal, {"recipient_last_name": "smi"}) == [b]
    assert found(paypal, {"memo": "business 7"}) == [a]


def test_status_currency_dates_and_totals(paypal, three):
    a, b, c = three
    assert found(paypal, {"status": ["PAID"]}) == [b]
    assert found(paypal, {"status": ["UNPAID", "DRAFT"]}) == sorted([a, c])
    assert found(paypal, {"currency_code": "NZD"}) == [c]
    assert found(paypal, {"invoice_date_range": {"start": "2025-02-01",
                                                 "end": "2025-02-28"}}) == [a]
    assert found(paypal, {"total_amount_range": {
        "lower_amount": {"currency_code": "AUD", "value": "100.00"},
        "upper_amount": {"currency_code": "AUD", "value": "200.00"}}}) == [a]
    assert found(paypal, {"creation_date_range": {"start": "2025-03-02T00:00:00Z",
                                                  "end": "2025-03-03T00:00:00Z"}}) == \
        sorted([b, c])
    assert found(paypal, {"payment_date_range": {"start": "2025-03-02T00:00:00Z",
                                                 "end": "2025-03-02T23:59:59Z"}}) == [b]


def test_filters_are_anded(paypal, three):
    a, _, _ = three
    assert found(paypal, {"reference": "cliniko-1", "status": ["UNPAID"]}) == [a]
    assert found(paypal, {"reference": "cliniko-1", "status": ["PAID"]}) == []


def test_empty_criteria_find_everything_with_paging(paypal, three):
    response = paypal.post(SEARCH, {}, params={"page_size": 2, "total_required": "true"})
    body = response.json()
    assert body["total_items"] == 3 and body["total_pages"] == 2 and len(body["items"]) == 2


def test_archived_true_finds_nothing(paypal, three):
    assert found(paypal, {"archived": True}) == []
    assert len(found(paypal, {"archived": False})) == 3


@pytest.mark.parametrize("criteria,issue", [
    ({"invoice_number": "N" * 26}, "INVALID_STRING_MAX_LENGTH"),
    ({"reference": "r" * 121}, "INVALID_STRING_MAX_LENGTH"),
    ({"status": ["DRAFT", "SENT", "PAID", "UNPAID", "CANCELLED", "REFUNDED"]},
     "INVALID_ARRAY_MAX_ITEMS"),
    ({"status": ["NOPE"]}, "INVALID_PARAMETER_SYNTAX"),
    ({"invoice_date_range": {"start": "2025-01-01"}}, "MISSING_REQUIRED_PARAMETER"),
    ({"creation_date_range": {"start": "yesterday", "end": "2025-01-01T00:00:00Z"}},
     "INVALID_PARAMETER_SYNTAX"),
])
def test_bad_criteria_are_400(paypal, criteria, issue):
    response = paypal.post(SEARCH, criteria)
    assert response.status_code == 400
    assert response.json()["details"][0]["issue"] == issue
