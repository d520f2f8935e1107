"""`PayPalClient.qr_code`: the PNG in PayPal's generate-qr-code answer, however it is wrapped."""

from __future__ import annotations

import base64
import struct

import pytest

from target_paypal.client import PNG_SIGNATURE, PayPalClient, PayPalError, png_of

PNG = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + bytes(range(256))
TEXT = base64.b64encode(PNG)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (PNG, "image/png"),
        (TEXT, "text/plain"),
        (TEXT[:40] + b"\r\n" + TEXT[40:] + b"\n", ""),  # Base64 in lines
        (
            b"--b1\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + TEXT
            + b"\r\n--b1--\r\n",
            "multipart/mixed; boundary=b1",
        ),
        (
            b"--b1\r\nContent-Type: image/png\r\n\r\n" + TEXT + b"\r\n--b1--\r\n",
            "multipart/mixed; boundary=b1",
        ),
    ],
)
def test_the_png_is_found_however_the_answer_wraps_it(content: bytes, content_type: str) -> None:
    assert png_of(content, content_type) == PNG


@pytest.mark.parametrize("content", [b'{"name": "INTERNAL_SERVER_ERROR"}', b"", b"bm90IGEgcG5n"])
def test_an_answer_without_a_png_is_an_error_not_a_file(content: bytes) -> None:
    with pytest.raises(ValueError, match="no PNG image"):
        png_of(content, "application/json")


def test_the_sandbox_qr_code_of_a_sent_invoice_is_a_png(make_sandbox) -> None:
    sandbox = make_sandbox(patients=2, invoices=2)
    client = PayPalClient(
        sandbox.paypal_url, sandbox.paypal_client_id, sandbox.paypal_client_secret
    )
    body = {
        "detail": {"currency_code": "AUD", "invoice_number": "QR-1"},
        "invoicer": {"email_address": sandbox.paypal.rules.merchant_email},
        "items": [
            {
                "name": "Consult",
                "quantity": "1",
                "unit_amount": {"currency_code": "AUD", "value": "90.00"},
            }
        ],
    }
    paypal_id = client.create_invoice(body)["id"]
    with pytest.raises(PayPalError) as refused:  # a draft is not payable yet
        client.qr_code(paypal_id)
    assert refused.value.status == 422
    client.send_invoice(paypal_id, send_to_recipient=False)
    png = client.qr_code(paypal_id, size=200)
    assert png.startswith(PNG_SIGNATURE)
    assert 150 <= struct.unpack(">I", png[16:20])[0] <= 200
