"""Webhook routes: the signing certificate, signature verification and the webhook controls.

`verify-webhook-signature` is an API route (bearer token); `/_sandbox/paypal/webhooks` are
control routes (where events go, what was delivered, resend).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from .control import PREFIX, _body
from .errors import PayPalError, detail, not_found
from .webhooks import CERT_PATH

if TYPE_CHECKING:
    from .state import PayPalState

VERIFY_FIELDS = ("auth_algo", "cert_url", "transmission_id", "transmission_sig",
                 "transmission_time", "webhook_id", "webhook_event")


def add_webhook_routes(app: FastAPI, state: PayPalState, auth: list[Any]) -> None:
    """Add the webhook routes to `app`; `auth` holds the bearer-token dependency for the API."""
    sender = state.webhooks

    @app.get(CERT_PATH + "{cert_id}")
    async def certificate(cert_id: str) -> Response:
        if cert_id != sender.cert_id:
            raise not_found(cert_id)
        return Response(sender.certificate_pem(), media_type="application/x-pem-file")

    @app.post("/v1/notifications/verify-webhook-signature", dependencies=auth)
    async def verify(request: Request) -> Response:
        body = await _body(request)
        missing = [name for name in VERIFY_FIELDS if name not in body]
        if missing:
            raise PayPalError(400, [detail("MISSING_REQUIRED_PARAMETER", "A required field / "
                                           "parameter is missing.", field=missing[0],
                                           location="body")])
        status = "SUCCESS" if sender.verify(body) else "FAILURE"
        return JSONResponse({"verification_status": status})

    @app.get(PREFIX + "/webhooks")
    async def settings() -> Response:
        return JSONResponse(sender.settings())

    @app.put(PREFIX + "/webhooks")
    async def configure(request: Request) -> Response:
        body = await _body(request)
        if not sender.base_url:
            sender.base_url = str(request.base_url).rstrip("/")
        sender.configure(body.get("url"), body.get("webhook_id"), body.get("retries", 2))
        return JSONResponse(sender.settings())

    @app.get(PREFIX + "/webhooks/deliveries")
    async def deliveries() -> Response:
        return JSONResponse({"deliveries": [
            {"event_id": d.event_id, "event_type": d.event_type, "url": d.url,
             "transmission_id": d.headers["PAYPAL-TRANSMISSION-ID"], "status": d.status,
             "answer": d.answer} for d in sender.deliveries()]})

    @app.post(PREFIX + "/webhooks/events/{event_id}/resend")
    async def resend(event_id: str) -> Response:
        try:
            sender.resend(event_id)
        except KeyError:
            raise not_found(event_id) from None
        return Response(status_code=202)

    @app.post(PREFIX + "/invoices/{invoice_id}/refund")
    async def refund(invoice_id: str) -> Response:
        refund_id = state.refund(invoice_id)
        return JSONResponse({"refund_id": refund_id, "invoice": state.invoice(invoice_id)})
