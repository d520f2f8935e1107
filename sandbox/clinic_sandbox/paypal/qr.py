"""`POST /v2/invoicing/invoices/{id}/generate-qr-code`: an invoice's QR code as a PNG.

What the spec says (`invoices.generate-qr-code`, `qr_config`): the body is optional, with
`width` and `height` (integers, 150 to 500, default 500) and `action` (`pay` or `details`, any
case, default `pay`); errors 400 `INVALID_INTEGER_MAX_VALUE` / `INVALID_INTEGER_MIN_VALUE` /
`INVALID_PARAMETER_SYNTAX`, 404 for an unknown invoice. The answer is "a PNG image in
Base64-encoded format", sent as `multipart/mixed` (the spec's error media type; the notes say
"200 (PNG, multipart)"): here one part, `image/png`, holding the Base64 text.

UNCONFIRMED: that a draft is refused. The spec only says to send an invoice before asking for
its QR code; the sandbox refuses a DRAFT with 422 `CANNOT_GENERATE_QR_CODE` (its own name).
"""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import segno
from fastapi import Response

from .errors import PayPalError, detail

SIDE = (150, 500)  # qr_config's minimum and maximum, in pixels
ACTIONS = ("pay", "details")


def qr_config(body: Any) -> tuple[int, int, str]:
    """(width, height, action) of a request body, or PayPal's 400."""
    body = body if isinstance(body, dict) else {}
    sides = []
    for name in ("width", "height"):
        value = body.get(name, SIDE[1])
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("INVALID_PARAMETER_SYNTAX", "Value of the field does not conform to the "
                       "expected format.", name, value)
        if value > SIDE[1]:
            raise _bad("INVALID_INTEGER_MAX_VALUE", "Value exceeds max value.", name, value)
        if value < SIDE[0]:
            raise _bad("INVALID_INTEGER_MIN_VALUE", "Value less than minimum value.", name, value)
        sides.append(value)
    action = body.get("action", "pay")
    if not isinstance(action, str) or action.lower() not in ACTIONS:
        raise _bad("INVALID_PARAMETER_SYNTAX", "Value of the field does not conform to the "
                   "expected format.", "action", action)
    return sides[0], sides[1], action.lower()


def _bad(issue: str, description: str, name: str, value: Any) -> PayPalError:
    return PayPalError(400, [detail(issue, description, field=f"/{name}", value=value)])


def qr_png(url: str, width: int, height: int) -> bytes:
    """A PNG of the QR code of `url`, as near `width` x `height` as whole modules allow."""
    code = segno.make(url, error="m")
    modules = code.symbol_size(border=4)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, min(width, height) // modules), border=4)
    return out.getvalue()


def multipart_png(png: bytes) -> Response:
    """The Base64 text of `png` as the one part of a multipart/mixed answer."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Type: image/png\r\n\r\n").encode()
    body += base64.b64encode(png) + f"\r\n--{boundary}--\r\n".encode()
    return Response(body, media_type=f"multipart/mixed; boundary={boundary}")


def qr_answer(invoice: dict[str, Any], width: int, height: int, action: str) -> Response:
    """The QR code of an invoice's pay page (`pay`) or details page; a draft is refused."""
    if invoice["status"] == "DRAFT":
        raise PayPalError(422, [detail(
            "CANNOT_GENERATE_QR_CODE", "Send the invoice before generating its QR code.",
            field="invoice_id", value=invoice["id"], location="path")])
    links = invoice["detail"]["metadata"]
    url = links["recipient_view_url" if action == "pay" else "invoicer_view_url"]
    return multipart_png(qr_png(url, width, height))
