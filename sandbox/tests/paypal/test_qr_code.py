"""generate-qr-code: a sent invoice's QR code as a Base64 PNG in a multipart answer."""

from __future__ import annotations

import base64
import email
import struct

import pytest

INVOICES = "/v2/invoicing/invoices"
PNG = b"\x89PNG\r\n\x1a\n"


def png_in(response) -> bytes:
    """The PNG of a multipart/mixed answer's one part (Base64 text)."""
    head = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    [part] = email.message_from_bytes(head + response.content).get_payload()
    assert part.get_content_type() == "image/png"
    return base64.b64decode(part.get_payload(), validate=True)


def test_a_sent_invoice_has_a_qr_code_png_of_about_the_size_asked(paypal, invoice_body) -> None:
    invoice_id = paypal.create(invoice_body())["id"]
    assert paypal.send(invoice_id).status_code == 200
    response = paypal.post(
        f"{INVOICES}/{invoice_id}/generate-qr-code", {"width": 300, "height": 300}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    png = png_in(response)
    assert png.startswith(PNG)
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert 150 <= width == height <= 300
    # No body: PayPal's defaults (500 x 500, the pay page).
    default = paypal.post(f"{INVOICES}/{invoice_id}/generate-qr-code")
    assert default.status_code == 200 and png_in(default) != png


@pytest.mark.parametrize(
    ("body", "issue"),
    [
        ({"width": 501}, "INVALID_INTEGER_MAX_VALUE"),
        ({"height": 149}, "INVALID_INTEGER_MIN_VALUE"),
        ({"width": "300"}, "INVALID_PARAMETER_SYNTAX"),
        ({"action": "share"}, "INVALID_PARAMETER_SYNTAX"),
    ],
)
def test_a_bad_qr_config_is_refused_with_the_specs_issue(paypal, invoice_body, body, issue) -> None:
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    response = paypal.post(f"{INVOICES}/{invoice_id}/generate-qr-code", body)
    assert response.status_code == 400
    assert [d["issue"] for d in response.json()["details"]] == [issue]


def test_a_draft_or_unknown_invoice_has_no_qr_code(paypal, invoice_body) -> None:
    invoice_id = paypal.create(invoice_body())["id"]
    draft = paypal.post(f"{INVOICES}/{invoice_id}/generate-qr-code", {})
    assert draft.status_code == 422
    unknown = paypal.post(f"{INVOICES}/INV2-AAAA-BBBB-CCCC-DDDD/generate-qr-code", {})
    assert unknown.status_code == 404
