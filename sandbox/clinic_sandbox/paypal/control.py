"""`/_sandbox/paypal/...`: unauthenticated routes that change the sandbox by hand.

They are the HTTP twin of `PayPalState`'s Python API: not faulted, not logged, no token needed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from .errors import not_found

if TYPE_CHECKING:
    from .state import PayPalState

PREFIX = "/_sandbox/paypal"


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    return body if isinstance(body, dict) else {}


def add_control_routes(app: FastAPI, state: PayPalState) -> None:
    """Add the invoice controls (pay, cancel, ...) and the switches (outage, ...) to `app`."""
    _add_invoice_controls(app, state)
    _add_switches(app, state)


def _add_invoice_controls(app: FastAPI, state: PayPalState) -> None:
    @app.get(PREFIX + "/invoices")
    async def all_invoices() -> Response:
        return JSONResponse({"items": state.invoices()})

    @app.post(PREFIX + "/invoices")
    async def add_invoice(request: Request) -> Response:
        send = request.query_params.get("send", "false").lower() == "true"
        return JSONResponse(state.add_invoice(await _body(request), send=send), status_code=201)

    @app.get(PREFIX + "/invoices/{invoice_id}")
    async def one_invoice(invoice_id: str) -> Response:
        invoice = state.invoice(invoice_id)
        if invoice is None:
            raise not_found(invoice_id)
        return JSONResponse(invoice)

    @app.post(PREFIX + "/invoices/{invoice_id}/pay")
    async def pay(invoice_id: str, request: Request) -> Response:
        transaction_id = state.mark_paid(invoice_id, (await _body(request)).get("value"))
        return JSONResponse({"transaction_id": transaction_id,
                             "invoice": state.invoice(invoice_id)})

    @app.post(PREFIX + "/invoices/{invoice_id}/record-payment")
    async def record(invoice_id: str, request: Request) -> Response:
        body = await _body(request)
        payment_id = state.record_payment(invoice_id, body.get("method", "CASH"),
                                          body.get("value"))
        return JSONResponse({"payment_id": payment_id, "invoice": state.invoice(invoice_id)})

    @app.post(PREFIX + "/invoices/{invoice_id}/cancel")
    async def cancel(invoice_id: str) -> Response:
        state.cancel(invoice_id)
        return JSONResponse(state.invoice(invoice_id))

    @app.patch(PREFIX + "/invoices/{invoice_id}/amount")
    async def set_total(invoice_id: str, request: Request) -> Response:
        return JSONResponse(state.set_total(invoice_id, str((await _body(request))["value"])))

    @app.patch(PREFIX + "/invoices/{invoice_id}")
    async def edit(invoice_id: str, request: Request) -> Response:
        return JSONResponse(state.edit(invoice_id, await _body(request)))

    @app.delete(PREFIX + "/invoices/{invoice_id}")
    async def delete(invoice_id: str) -> Response:
        if not state.delete(invoice_id):
            raise not_found(invoice_id)
        return Response(status_code=204)


def _add_switches(app: FastAPI, state: PayPalState) -> None:
    @app.get(PREFIX + "/outage")
    async def outage() -> Response:
        return JSONResponse({"down": state.outage})

    @app.put(PREFIX + "/outage")
    async def set_outage(request: Request) -> Response:
        state.set_outage(bool((await _body(request)).get("down", True)))
        return JSONResponse({"down": state.outage})

    @app.get(PREFIX + "/credentials")
    async def credentials() -> Response:
        return JSONResponse({"client_id": state.credentials.client_id,
                             "client_secret": state.credentials.client_secret,
                             "token_expires_in": state.tokens.expires_in})

    @app.put(PREFIX + "/credentials")
    async def set_credentials(request: Request) -> Response:
        body = await _body(request)
        state.set_credentials(body["client_id"], body["client_secret"])
        return Response(status_code=204)

    @app.put(PREFIX + "/token-expiry")
    async def set_token_expiry(request: Request) -> Response:
        state.set_token_expiry(int((await _body(request))["seconds"]))
        return Response(status_code=204)

    @app.post(PREFIX + "/tokens/expire")
    async def expire_tokens() -> Response:
        state.expire_tokens()
        return Response(status_code=204)

    @app.get(PREFIX + "/calls")
    async def calls() -> Response:
        return JSONResponse({"calls": state.call_log_dicts(),
                             "writes": sum(1 for c in state.call_log if c.is_write)})

    @app.delete(PREFIX + "/calls")
    async def clear_calls() -> Response:
        state.clear_call_log()
        return Response(status_code=204)

    @app.get(PREFIX + "/notifications")
    async def notifications(request: Request) -> Response:
        found = state.notifications(request.query_params.get("invoice_id"))
        return JSONResponse({"notifications": found})

    @app.delete(PREFIX + "/notifications")
    async def clear_notifications() -> Response:
        state.notices.clear()
        return Response(status_code=204)

    @app.post(PREFIX + "/reset")
    async def reset() -> Response:
        state.reset()
        return Response(status_code=204)
