"""The PayPal sandbox as a FastAPI app: OAuth2 token, Invoicing v2, and `/_sandbox/paypal` control.

Every API request (`/v1/...`, `/v2/...`) passes, in order: the outage switch (503), the optional
fault hook, bearer-token authentication (invoicing routes), then the route.  Each is logged in
`state.call_log` with the status it got.  Control routes are neither faulted nor logged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .auth import OAuthError
from .control import add_control_routes
from .errors import PayPalError, detail, error_body, not_yours
from .notices import body_flags, query_flags
from .qr import qr_answer, qr_config
from .search import matches, newest_first, page_of, summary
from .state import PayPalState
from .store import new_debug_id
from .validation import validate_search
from .webhook_routes import add_webhook_routes

API_PREFIXES = ("/v1/", "/v2/")
INVOICES = "/v2/invoicing/invoices"
Handler = Callable[[], Awaitable[tuple[int, Any]]]


class Faults(Protocol):
    """Anything that may answer a request before the API does (None: carry on).

    It may also have `async finish(request, response) -> Response | None`, run after the API
    answered: a replacement for that answer (the write is done, the answer is lost), or None.
    """

    async def apply(self, request: Request) -> Response | None:
        """The answer to send instead of the API's, or None to let the API answer."""


def paypal_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """`body` as JSON with `status`; a None body gives an empty response (e.g. 204)."""
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(status: int, details: list[dict[str, Any]]) -> Response:
    """A PayPal REST error with `details` and a fresh debug id (body and header agree)."""
    debug_id = new_debug_id()
    return JSONResponse(error_body(status, details, debug_id), status_code=status,
                        headers={"Paypal-Debug-Id": debug_id})


def base_url(request: Request) -> str:
    """Scheme, host and port the client called, for links back to this server."""
    return str(request.base_url).rstrip("/")


def invoice_links(invoice: dict[str, Any], base: str) -> list[dict[str, str]]:
    """HATEOAS links for what the invoice's status allows next."""
    href = f"{base}{INVOICES}/{invoice['id']}"
    actions = {
        "DRAFT": [("send", "/send", "POST"), ("replace", "", "PUT"), ("delete", "", "DELETE")],
        "SCHEDULED": [("replace", "", "PUT"), ("delete", "", "DELETE")],
        "SENT": [("replace", "", "PUT"), ("cancel", "/cancel", "POST"),
                 ("record-payment", "/payments", "POST"), ("remind", "/remind", "POST")],
        "PARTIALLY_PAID": [("record-payment", "/payments", "POST"), ("remind", "/remind", "POST")],
    }
    actions["UNPAID"] = actions["SENT"]
    links = [{"href": href, "rel": "self", "method": "GET"}]
    links += [{"href": href + suffix, "rel": rel, "method": method}
              for rel, suffix, method in actions.get(invoice["status"], [])]
    return links


def render(invoice: dict[str, Any], request: Request) -> dict[str, Any]:
    """The stored invoice as the API returns it: with its HATEOAS links."""
    return {**invoice, "links": invoice_links(invoice, base_url(request))}


def self_link(invoice_id: str, request: Request) -> dict[str, str]:
    """The link PayPal answers a write with when no representation was asked for."""
    return {"rel": "self", "href": f"{base_url(request)}{INVOICES}/{invoice_id}", "method": "GET"}


def wants_representation(request: Request) -> bool:
    """Whether the client sent `Prefer: return=representation` (the full invoice back)."""
    return "return=representation" in request.headers.get("prefer", "").replace(" ", "")


async def json_body(request: Request, required: bool = True) -> dict[str, Any]:
    """The request's JSON object; PayPal's 400 if it is missing (when required) or malformed."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise PayPalError(400, [detail("MISSING_REQUEST_BODY", "Request body is missing.")])
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise PayPalError(400, [detail("MALFORMED_REQUEST_JSON",
                                       "The request JSON is not well formed.")])
    return body


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    """Integer query parameter `name` in [low, high]; PayPal's 400 for anything else."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit():
        raise PayPalError(400, [detail("INVALID_PARAMETER_SYNTAX", "the value of a field does not "
                                       "conform to the expected format.", field=name, value=raw,
                                       location="query")])
    value = int(raw)
    if value < low:
        raise PayPalError(400, [detail("INVALID_INTEGER_MIN_VALUE", "Value less than minimum "
                                       "value.", field=name, value=raw, location="query")])
    if value > high:
        raise PayPalError(400, [detail("INVALID_INTEGER_MAX_VALUE", "Value exceeds max value.",
                                       field=name, value=raw, location="query")])
    return value


def paged(request: Request, invoices: list[dict[str, Any]]) -> dict[str, Any]:
    """The `invoices` body for list and search: a page, totals on request, navigation links."""
    page = int_query(request, "page", 1, 1, 1000)
    size = int_query(request, "page_size", 20, 1, 100)
    total_required = request.query_params.get("total_required", "false").lower() == "true"
    items, totals = page_of(newest_first(invoices), page, size, total_required)
    brief = request.query_params.get("fields", "all").lower() == "none"
    body: dict[str, Any] = dict(totals)
    body["items"] = [summary(render(i, request)) if brief else render(i, request) for i in items]
    url = f"{base_url(request)}{request.url.path}"
    body["links"] = [{"href": f"{url}?page={page}&page_size={size}", "rel": "self",
                      "method": request.method}]
    if page * size < len(invoices):
        body["links"].append({"href": f"{url}?page={page + 1}&page_size={size}", "rel": "next",
                              "method": request.method})
    if page > 1:
        body["links"].append({"href": f"{url}?page={page - 1}&page_size={size}", "rel": "prev",
                              "method": request.method})
    return body


def create_paypal_app(state: PayPalState, faults: Faults | None = None) -> FastAPI:
    """A PayPal API simulator over `state`; `faults.apply(request)` runs before each API call."""
    app = FastAPI(title="PayPal sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    _add_gate(app, state, faults)
    _add_error_handlers(app)
    _add_token_route(app, state)
    _add_invoice_routes(app, state)
    add_control_routes(app, state)
    add_webhook_routes(app, state, [Depends(_bearer(state))])
    return app


def _add_gate(app: FastAPI, state: PayPalState, faults: Faults | None) -> None:
    @app.middleware("http")
    async def api_gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                       ) -> Response:
        path = request.url.path
        if not path.startswith(API_PREFIXES):
            return await call_next(request)
        response: Response | None = None
        lost = False
        if state.outage:
            response = error_response(503, [])
        elif faults is not None:
            response = await faults.apply(request)
        if response is None:
            response = await call_next(request)
            finish = getattr(faults, "finish", None)
            replacement = await finish(request, response) if finish is not None else None
            if replacement is not None:
                response, lost = replacement, True
        response.headers.setdefault("Paypal-Debug-Id", new_debug_id())
        state.log_call(request.method, path, response.status_code, request.url.query, lost)
        return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PayPalError)
    async def paypal_error(request: Request, exc: PayPalError) -> Response:
        return error_response(exc.status, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith(API_PREFIXES):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return error_response(exc.status_code, [])


def _add_token_route(app: FastAPI, state: PayPalState) -> None:
    @app.post("/v1/oauth2/token")
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace"))
                .items()}
        try:
            body = state.tokens.issue(request.headers.get("authorization"), form)
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(body)


def _bearer(state: PayPalState) -> Callable[[Request], None]:
    def require_token(request: Request) -> None:
        problem = state.tokens.check(request.headers.get("authorization"))
        if problem is None:
            return
        if problem != "missing" and state.stale_token_body == "oauth":
            raise _OAuthDenied()
        raise PayPalError(401, [])
    return require_token


def _owner(state: PayPalState) -> Callable[[Request], None]:
    """After the token check: refuse an `invoice_id` held by another account (`accounts.py`).

    Only the answer differs from an unknown id's 404: the rule picks it (UNCONFIRMED).
    """
    def require_owner(request: Request) -> None:
        invoice_id = request.path_params.get("invoice_id")
        if invoice_id is not None and state.rules.foreign_invoice_status == 403 \
                and state.belongs_elsewhere(invoice_id):
            raise not_yours(invoice_id)
    return require_owner


class _OAuthDenied(Exception):
    """A stale token answered with the `invalid_token` body seen in the wild (notes §1)."""


async def _replayable(state: PayPalState, request: Request, handler: Handler) -> Response:
    """Run a POST, replaying the first success for a repeated `PayPal-Request-Id`.

    Only with `state.honour_request_id`; the replayed 201 becomes a 200 ("the resource already
    exists", notes §6).
    """
    request_id = request.headers.get("paypal-request-id")
    key = (request.method, request.url.path, request_id or "")
    if state.honour_request_id and request_id:
        earlier = state.store.reply(key)
        if earlier is not None:
            status, body = earlier
            return paypal_json(200 if status == 201 else status, body)
    status, body = await handler()
    if state.honour_request_id and request_id and status < 300:
        state.store.remember_reply(key, status, body)
    return paypal_json(status, body)


def _add_invoice_routes(app: FastAPI, state: PayPalState) -> None:
    ops, notices = state.invoicing, state.notices
    auth = [Depends(_bearer(state)), Depends(_owner(state))]

    @app.exception_handler(_OAuthDenied)
    async def oauth_denied(request: Request, exc: _OAuthDenied) -> Response:
        return JSONResponse({"error": "invalid_token",
                             "error_description": "Access Token not found in cache"},
                            status_code=401)

    @app.post(INVOICES, dependencies=auth)
    async def create_invoice(request: Request) -> Response:
        async def run() -> tuple[int, Any]:
            invoice = ops.create(await json_body(request))
            body = render(invoice, request) if wants_representation(request) \
                else self_link(invoice["id"], request)
            return 201, body
        return await _replayable(state, request, run)

    @app.get(INVOICES, dependencies=auth)
    async def list_invoices(request: Request) -> Response:
        return JSONResponse(paged(request, state.invoices()))

    @app.get(INVOICES + "/{invoice_id}", dependencies=auth)
    async def get_invoice(invoice_id: str, request: Request) -> Response:
        return JSONResponse(render(ops.get(invoice_id), request))

    @app.put(INVOICES + "/{invoice_id}", dependencies=auth)
    async def replace_invoice(invoice_id: str, request: Request) -> Response:
        flags, body = query_flags(request.query_params), await json_body(request)
        invoice = notices.around(invoice_id, "update", flags, lambda: ops.replace(invoice_id, body))
        body = render(invoice, request) if wants_representation(request) \
            else self_link(invoice_id, request)
        return JSONResponse(body)

    @app.delete(INVOICES + "/{invoice_id}", dependencies=auth)
    async def delete_invoice(invoice_id: str) -> Response:
        ops.delete(invoice_id)
        return Response(status_code=204)

    @app.post(INVOICES + "/{invoice_id}/send", dependencies=auth)
    async def send_invoice(invoice_id: str, request: Request) -> Response:
        async def run() -> tuple[int, Any]:
            body = await json_body(request, required=False)
            invoice = notices.around(invoice_id, "send", body_flags(body),
                                     lambda: ops.send(invoice_id, body))
            if invoice["status"] == "SCHEDULED":
                return 202, {"links": [self_link(invoice_id, request)]}
            payer_view = invoice["detail"]["metadata"]["recipient_view_url"]
            return 200, {"href": payer_view, "rel": "payer-view", "method": "GET"}
        return await _replayable(state, request, run)

    @app.post(INVOICES + "/{invoice_id}/remind", dependencies=auth)
    async def remind_invoice(invoice_id: str, request: Request) -> Response:
        body = await json_body(request, required=False)
        notices.around(invoice_id, "remind", body_flags(body), lambda: ops.remind(invoice_id, body))
        return Response(status_code=204)

    @app.post(INVOICES + "/{invoice_id}/cancel", dependencies=auth)
    async def cancel_invoice(invoice_id: str, request: Request) -> Response:
        async def run() -> tuple[int, Any]:
            body = await json_body(request, required=False)
            notices.around(invoice_id, "cancel", body_flags(body),
                           lambda: ops.cancel(invoice_id, body))
            return 204, None
        return await _replayable(state, request, run)

    @app.post(INVOICES + "/{invoice_id}/payments", dependencies=auth)
    async def record_payment(invoice_id: str, request: Request) -> Response:
        async def run() -> tuple[int, Any]:
            body = await json_body(request)
            # Recording a payment has no notification flags and emails nobody (notices.py).
            return 200, {"payment_id": notices.around(
                invoice_id, "record_payment", None, lambda: ops.record_payment(invoice_id, body))}
        return await _replayable(state, request, run)

    @app.delete(INVOICES + "/{invoice_id}/payments/{transaction_id}", dependencies=auth)
    async def delete_payment(invoice_id: str, transaction_id: str) -> Response:
        ops.delete_payment(invoice_id, transaction_id)
        return Response(status_code=204)

    @app.post(INVOICES + "/{invoice_id}/refunds", dependencies=auth)
    async def record_refund(invoice_id: str, request: Request) -> Response:
        async def run() -> tuple[int, Any]:
            body = await json_body(request)
            return 200, {"refund_id": ops.record_refund(invoice_id, body)}
        return await _replayable(state, request, run)

    @app.delete(INVOICES + "/{invoice_id}/refunds/{transaction_id}", dependencies=auth)
    async def delete_refund(invoice_id: str, transaction_id: str) -> Response:
        ops.delete_refund(invoice_id, transaction_id)
        return Response(status_code=204)

    @app.post(INVOICES + "/{invoice_id}/generate-qr-code", dependencies=auth)
    async def generate_qr_code(invoice_id: str, request: Request) -> Response:
        config = qr_config(await json_body(request, required=False))
        return qr_answer(ops.get(invoice_id), *config)

    @app.post("/v2/invoicing/generate-next-invoice-number", dependencies=auth)
    async def next_invoice_number() -> Response:
        return JSONResponse({"invoice_number": ops.next_number()})

    @app.post("/v2/invoicing/search-invoices", dependencies=auth)
    async def search_invoices(request: Request) -> Response:
        criteria = await json_body(request, required=False)
        details = validate_search(criteria)
        if details:
            raise PayPalError(400, details)
        reference = criteria.get("reference") if isinstance(criteria, dict) else None
        found = state.store.matching(lambda invoice: matches(invoice, criteria),
                                     reference if isinstance(reference, str) else None)
        return JSONResponse(paged(request, found))
