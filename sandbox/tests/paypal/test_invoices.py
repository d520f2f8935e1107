"""Create, read, list, replace and delete invoices as a PayPal API client would."""

from __future__ import annotations

import re

INVOICES = "/v2/invoicing/invoices"
ID_PATTERN = re.compile(r"^INV2(-[A-Z0-9]{4}){4}$")


def test_create_returns_a_draft_with_computed_amounts(paypal, invoice_body):
    invoice = paypal.create(invoice_body())
    assert ID_PATTERN.match(invoice["id"])
    assert invoice["status"] == "DRAFT"
    assert invoice["amount"]["value"] == "110.00"
    assert invoice["due_amount"] == {"currency_code": "AUD", "value": "110.00"}
    assert invoice["items"][0]["tax"]["amount"]["value"] == "10.00"
    assert invoice["detail"]["reference"] == "cliniko-invoice-1001"
    assert invoice["detail"]["payment_term"]["due_date"] == "2025-03-31"  # NET_30
    assert invoice["detail"]["metadata"]["create_time"] == "2025-03-01T00:00:00Z"
    assert {link["rel"] for link in invoice["links"]} >= {"self", "send", "replace", "delete"}


def test_create_without_prefer_returns_a_self_link(paypal, invoice_body):
    response = paypal.post(INVOICES, invoice_body(), representation=False)
    assert response.status_code == 201
    link = response.json()
    assert set(link) == {"rel", "href", "method"}
    assert link["rel"] == "self" and link["method"] == "GET"
    invoice_id = link["href"].rsplit("/", 1)[1]
    assert paypal.invoice(invoice_id)["status"] == "DRAFT"


def test_read_only_fields_in_the_body_are_ignored(paypal, invoice_body):
    body = invoice_body()
    body.update(id="INV2-FAKE-FAKE-FAKE-FAKE", status="PAID",
                due_amount={"currency_code": "AUD", "value": "1.00"})
    invoice = paypal.create(body)
    assert invoice["id"] != "INV2-FAKE-FAKE-FAKE-FAKE"
    assert invoice["status"] == "DRAFT"
    assert invoice["due_amount"]["value"] == "110.00"


def test_invoice_numbers_default_to_the_next_in_sequence(paypal, invoice_body):
    first = paypal.create(invoice_body(invoice_number="CLN-0099"))
    second = paypal.create(invoice_body())
    assert first["detail"]["invoice_number"] == "CLN-0099"
    assert second["detail"]["invoice_number"] == "CLN-0100"
    response = paypal.post("/v2/invoicing/generate-next-invoice-number")
    assert response.json() == {"invoice_number": "CLN-0101"}


def test_get_unknown_invoice_is_404(paypal):
    response = paypal.get(f"{INVOICES}/INV2-AAAA-BBBB-CCCC-DDDD")
    assert response.status_code == 404
    assert response.json()["name"] == "RESOURCE_NOT_FOUND"


def test_list_pages_newest_first_with_totals_on_request(paypal, invoice_body):
    ids = [paypal.create(invoice_body(reference=f"ref-{n}"))["id"] for n in range(5)]
    first = paypal.get(INVOICES, params={"page_size": 2, "total_required": "true"}).json()
    assert first["total_items"] == 5 and first["total_pages"] == 3
    assert [i["id"] for i in first["items"]] == ids[::-1][:2]
    assert "next" in {link["rel"] for link in first["links"]}
    last = paypal.get(INVOICES, params={"page": 3, "page_size": 2}).json()
    assert [i["id"] for i in last["items"]] == [ids[0]]
    assert "total_items" not in last and "total_pages" not in last
    beyond = paypal.get(INVOICES, params={"page": 4, "page_size": 2}).json()
    assert beyond["items"] == []


def test_list_fields_none_leaves_out_items(paypal, invoice_body):
    paypal.create(invoice_body())
    listed = paypal.get(INVOICES, params={"fields": "none"}).json()["items"][0]
    assert "items" not in listed and listed["amount"]["value"] == "110.00"


def test_list_paging_limits_are_enforced(paypal):
    too_big = paypal.get(INVOICES, params={"page_size": 101})
    assert too_big.status_code == 400
    assert too_big.json()["details"][0]["issue"] == "INVALID_INTEGER_MAX_VALUE"
    assert too_big.json()["details"][0]["location"] == "query"
    assert paypal.get(INVOICES, params={"page": 0}).json()["details"][0]["issue"] == \
        "INVALID_INTEGER_MIN_VALUE"
    assert paypal.get(INVOICES, params={"page": "x"}).status_code == 400


def test_put_replaces_the_whole_invoice(paypal, invoice_body, item):
    invoice = paypal.create(invoice_body(memo="first", invoice_number="A-1"))
    items = [item("Follow-up", "60.00"), item("Report", "20.00", gst=None)]
    replacement = invoice_body(reference="cliniko-invoice-1001-v2", invoice_number="A-1",
                               items=items)
    response = paypal.put(f"{INVOICES}/{invoice['id']}", replacement)
    assert response.status_code == 200
    updated = response.json()
    assert updated["id"] == invoice["id"] and updated["status"] == "DRAFT"
    assert "memo" not in updated["detail"]  # full replace: fields left out are gone
    assert [i["name"] for i in updated["items"]] == ["Follow-up", "Report"]
    assert updated["amount"]["value"] == "86.00"
    assert updated["detail"]["metadata"]["create_time"] == invoice["detail"]["metadata"][
        "create_time"]
    assert paypal.invoice(invoice["id"])["amount"]["value"] == "86.00"


def test_put_keeps_the_number_when_left_out(paypal, invoice_body):
    invoice = paypal.create(invoice_body(invoice_number="KEEP-1"))
    body = invoice_body()
    updated = paypal.put(f"{INVOICES}/{invoice['id']}", body).json()
    assert updated["detail"]["invoice_number"] == "KEEP-1"


def test_put_accepts_an_echoed_invoice(paypal, invoice_body):
    invoice = paypal.create(invoice_body())
    echoed = paypal.put(f"{INVOICES}/{invoice['id']}", invoice).json()
    assert echoed["amount"] == invoice["amount"]


def test_put_without_prefer_returns_a_link(paypal, invoice_body):
    invoice = paypal.create(invoice_body())
    response = paypal.put(f"{INVOICES}/{invoice['id']}", invoice_body(), representation=False)
    assert response.status_code == 200
    assert response.json()["rel"] == "self"


def test_delete_removes_a_draft_and_frees_its_number(paypal, invoice_body):
    invoice = paypal.create(invoice_body(invoice_number="DEL-1"))
    response = paypal.delete(f"{INVOICES}/{invoice['id']}")
    assert response.status_code == 204 and response.content == b""
    assert paypal.get(f"{INVOICES}/{invoice['id']}").status_code == 404
    assert paypal.create(invoice_body(invoice_number="DEL-1"))["detail"]["invoice_number"] == \
        "DEL-1"


def test_delete_unknown_invoice_is_404(paypal):
    assert paypal.delete(f"{INVOICES}/INV2-AAAA-BBBB-CCCC-DDDD").status_code == 404


def test_malformed_json_is_400(paypal):
    response = paypal.client.post(INVOICES, content=b"{not json",
                                  headers={"Authorization": f"Bearer {paypal.token}",
                                           "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["details"][0]["issue"] == "MALFORMED_REQUEST_JSON"


def test_unknown_api_path_gets_paypal_404_body(paypal):
    response = paypal.client.get("/v2/invoicing/nothing-here",
                                 headers={"Authorization": f"Bearer {paypal.token}"})
    assert response.status_code == 404
    assert response.json()["name"] == "RESOURCE_NOT_FOUND"


def test_request_id_is_ignored_by_default(paypal, invoice_body, state):
    headers = {"PayPal-Request-Id": "retry-1"}
    paypal.post(INVOICES, invoice_body(), headers=headers)
    paypal.post(INVOICES, invoice_body(), headers=headers)
    assert len(state.invoices()) == 2


def test_request_id_replays_when_honoured(paypal, invoice_body, state):
    state.honour_request_id = True
    headers = {"PayPal-Request-Id": "retry-1"}
    first = paypal.post(INVOICES, invoice_body(), headers=headers)
    again = paypal.post(INVOICES, invoice_body(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(state.invoices()) == 1
    other = paypal.post(INVOICES, invoice_body(reference="other"),
                        headers={"PayPal-Request-Id": "retry-2"})
    assert other.status_code == 201
