"""Field limits and business checks on what a client sends (400 INVALID_REQUEST / 422)."""

from __future__ import annotations

import pytest

INVOICES = "/v2/invoicing/invoices"


def issues(response):
    return [(d["issue"], d.get("field")) for d in response.json()["details"]]


def test_error_body_has_paypal_shape(paypal, invoice_body):
    response = paypal.post(INVOICES, invoice_body(reference="r" * 121))
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "INVALID_REQUEST"
    assert body["message"].startswith("Request is not well-formed")
    assert body["debug_id"]
    [entry] = body["details"]
    assert entry == {"field": "/detail/reference", "value": "r" * 121, "location": "body",
                     "issue": "INVALID_STRING_MAX_LENGTH",
                     "description": "Reference field length should be less than 120 "
                                    "characters."}
    assert body["links"] == [{
        "href": "https://developer.paypal.com/docs/api/invoicing/v2/#error-INVALID_STRING_MAX_LENGTH",
        "rel": "information_link", "method": "GET"}]


@pytest.mark.parametrize("field,limit", [("reference", 120), ("note", 4000), ("memo", 500),
                                         ("terms_and_conditions", 4000)])
def test_detail_text_limits(paypal, invoice_body, field, limit):
    assert paypal.post(INVOICES, invoice_body(**{field: "x" * limit})).status_code == 201
    response = paypal.post(INVOICES, invoice_body(**{field: "x" * (limit + 1)}))
    assert response.status_code == 400
    assert issues(response) == [("INVALID_STRING_MAX_LENGTH", f"/detail/{field}")]


@pytest.mark.parametrize("field,limit", [("name", 200), ("description", 1000)])
def test_item_text_limits(paypal, invoice_body, item, field, limit):
    ok = item("Consult", "10.00") | {field: "y" * limit}
    assert paypal.post(INVOICES, invoice_body(items=[ok])).status_code == 201
    long = item("Consult", "10.00") | {field: "y" * (limit + 1)}
    response = paypal.post(INVOICES, invoice_body(items=[long]))
    assert issues(response) == [("INVALID_STRING_MAX_LENGTH", f"/items/0/{field}")]


def test_invoice_number_longer_than_25_is_refused(paypal, invoice_body):
    assert paypal.post(INVOICES, invoice_body(invoice_number="N" * 25)).status_code == 201
    response = paypal.post(INVOICES, invoice_body(invoice_number="N" * 26))
    # The spec lists this under create/update 400 (not 422).
    assert response.status_code == 400
    assert issues(response) == [("INVALID_STRING_MAX_LENGTH", "/detail/invoice_number")]
    assert response.json()["details"][0]["description"] == \
        "Invoice number length should be less than 25 characters."


def test_duplicate_invoice_number_is_422(paypal, invoice_body, state):
    paypal.create(invoice_body(invoice_number="CLN-1"))
    response = paypal.post(INVOICES, invoice_body(invoice_number="CLN-1"))
    assert response.status_code == 422
    body = response.json()
    assert body["name"] == "UNPROCESSABLE_ENTITY"
    assert issues(response) == [("DUPLICATE_INVOICE_NUMBER", "/detail/invoice_number")]
    assert len(state.invoices()) == 1


def test_duplicate_number_on_put_is_422(paypal, invoice_body):
    paypal.create(invoice_body(invoice_number="CLN-1"))
    other = paypal.create(invoice_body(invoice_number="CLN-2"))
    response = paypal.put(f"{INVOICES}/{other['id']}", invoice_body(invoice_number="CLN-1"))
    assert response.status_code == 422


def test_duplicate_issue_name_is_configurable(paypal, invoice_body, state):
    state.rules.duplicate_number_issue = "INVOICE_NUMBER_ALREADY_EXISTS"
    paypal.create(invoice_body(invoice_number="CLN-1"))
    response = paypal.post(INVOICES, invoice_body(invoice_number="CLN-1"))
    assert issues(response)[0][0] == "INVOICE_NUMBER_ALREADY_EXISTS"


def test_number_of_a_cancelled_invoice_stays_taken(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body(invoice_number="CLN-9"))["id"]
    paypal.send(invoice_id)
    paypal.post(f"{INVOICES}/{invoice_id}/cancel", {})
    assert paypal.post(INVOICES, invoice_body(invoice_number="CLN-9")).status_code == 422


@pytest.mark.parametrize("code,issue", [("AU", "INVALID_STRING_LENGTH"),
                                        ("AUDD", "INVALID_STRING_LENGTH"),
                                        ("XYZ", "NOT_SUPPORTED")])
def test_currency_code(paypal, invoice_body, code, issue):
    response = paypal.post(INVOICES, invoice_body(currency_code=code))
    assert response.status_code == 400
    assert (issue, "/detail/currency_code") in issues(response)


def test_missing_required_fields(paypal, invoice_body):
    body = invoice_body()
    del body["detail"]["currency_code"]
    body["items"] = [{"quantity": "1"}]
    response = paypal.post(INVOICES, body)
    assert response.status_code == 400
    assert set(issues(response)) == {
        ("MISSING_REQUIRED_PARAMETER", "/detail/currency_code"),
        ("MISSING_REQUIRED_PARAMETER", "/items/0/name"),
        ("MISSING_REQUIRED_PARAMETER", "/items/0/unit_amount")}


def test_items_are_required(paypal, invoice_body):
    response = paypal.post(INVOICES, invoice_body(items=[]))
    assert issues(response) == [("MISSING_REQUIRED_PARAMETER", "/items")]


@pytest.mark.parametrize("value", ["abc", "1.234", "1e5", "10000000.00", ""])
def test_amount_formats(paypal, invoice_body, item, value):
    response = paypal.post(INVOICES, invoice_body(items=[item("Consult", value)]))
    assert response.status_code == 400
    assert issues(response)[0][1] == "/items/0/unit_amount/value"


def test_amount_in_another_currency_is_refused(paypal, invoice_body, item):
    other = item("Consult", "10.00")
    other["unit_amount"]["currency_code"] = "USD"
    response = paypal.post(INVOICES, invoice_body(items=[other]))
    assert issues(response) == [("CURRENCY_MISMATCH", "/items/0/unit_amount/currency_code")]


@pytest.mark.parametrize("quantity,ok", [("1", True), ("0.12345", True), ("1000000", True),
                                         ("-2", True), ("0.123456", False), ("1000001", False),
                                         ("two", False), ("", False), ("1" * 15, False)])
def test_quantity(paypal, invoice_body, item, quantity, ok):
    response = paypal.post(INVOICES, invoice_body(items=[item("Consult", "1.00", quantity)]))
    assert (response.status_code == 201) is ok, response.text


@pytest.mark.parametrize("percent", ["101", "-1", "ten", "10.123456"])
def test_tax_percent(paypal, invoice_body, item, percent):
    response = paypal.post(INVOICES, invoice_body(items=[item("Consult", "1.00", gst=percent)]))
    assert issues(response) == [("INVALID_PARAMETER_SYNTAX", "/items/0/tax/percent")]


def test_dates(paypal, invoice_body):
    response = paypal.post(INVOICES, invoice_body(invoice_date="2025-02-30"))
    assert issues(response) == [("INVALID_PARAMETER_SYNTAX", "/detail/invoice_date")]
    assert response.json()["details"][0]["description"] == "Invoice date is invalid."


def test_recipient_limits(paypal, invoice_body):
    body = invoice_body()
    billing = body["primary_recipients"][0]["billing_info"]
    billing.update(email_address="no-at-sign", additional_info="z" * 41)
    billing["name"]["surname"] = "s" * 141
    billing["address"] = {"address_line_1": "1 Main St"}
    response = paypal.post(INVOICES, body)
    pointer = "/primary_recipients/0/billing_info"
    assert set(issues(response)) == {
        ("INVALID_PARAMETER_SYNTAX", f"{pointer}/email_address"),
        ("INVALID_STRING_MAX_LENGTH", f"{pointer}/additional_info"),
        ("INVALID_STRING_MAX_LENGTH", f"{pointer}/name/surname"),
        ("MISSING_REQUIRED_PARAMETER", f"{pointer}/address/country_code")}


def test_validation_applies_to_put_too(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    response = paypal.put(f"{INVOICES}/{invoice_id}", invoice_body(memo="m" * 501))
    assert response.status_code == 400
    assert paypal.invoice(invoice_id).get("detail", {}).get("memo") is None


PAYMENT_CASES = [
    ({}, "MISSING_REQUIRED_PARAMETER"),
    ({"method": "BITCOIN"}, "INVALID_PAYMENT_METHOD"),
    ({"method": "CASH", "payment_date": "02/03/2025"}, "INVALID_PARAMETER_SYNTAX"),
    ({"method": "CASH", "amount": {"currency_code": "AUD", "value": "0"}},
     "VALUE_CANNOT_BE_ZERO"),
    ({"method": "CASH", "amount": {"currency_code": "AUD", "value": "-5.00"}},
     "INVALID_DECIMAL_VALUE"),
    ({"method": "CASH", "amount": {"currency_code": "AUD", "value": "5.001"}},
     "INVALID_DECIMAL_VALUE"),
    ({"method": "CASH", "amount": {"currency_code": "AUD", "value": "five"}},
     "INVALID_PARAMETER_SYNTAX"),
    ({"method": "CASH", "amount": {"currency_code": "USD", "value": "5.00"}}, "NOT_SUPPORTED"),
]


@pytest.mark.parametrize("body,issue", PAYMENT_CASES)
def test_payment_fields(paypal, invoice_body, body, issue):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    response = paypal.post(f"{INVOICES}/{invoice_id}/payments", body)
    assert response.status_code == 400
    assert issues(response)[0][0] == issue


def test_concurrent_creates_with_one_number_store_exactly_one(state, invoice_body):
    """The duplicate check and the insert are atomic (the store is shared by server threads)."""
    from concurrent.futures import ThreadPoolExecutor

    from clinic_sandbox.paypal.errors import PayPalError

    def attempt(_: int) -> bool:
        try:
            state.invoicing.create(invoice_body(invoice_number="RACE-1"))
            return True
        except PayPalError:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(32)))
    assert results.count(True) == 1
    assert len(state.invoices()) == 1
