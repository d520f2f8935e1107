"""The Cliniko API (`/v1/...`) and the sandbox control routes (`/_sandbox/...`) as one ASGI app."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..faults import ApiGuard, Denial, FaultInjector, RateLimiter, Scope, Stats
from ..knobs import add_knob_routes
from .query import Filter, QueryError, parse_filter
from .resources import RESOURCES
from .store import ClinikoStore, NotFound

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
HIDING_FLAGS = ("archived_at", "cancelled_at", "deleted_at")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Fields a client may send when creating or updating a patient.
PATIENT_WRITABLE = {
    name for name, kind in RESOURCES["patients"].fields.items()
    if not kind.startswith(("id", "self", "ref", "sub", "filter", "const"))
    and name not in ("created_at", "updated_at", "archived_at", "deleted_at", "merged_at")
} | {"concession_type_id", "referring_doctor_id"}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    """`payload` as a JSON response with `status` and any extra headers."""
    return Response(json.dumps(payload), status_code=status, headers=headers,
                    media_type="application/json")


def error(status: int, message: str) -> Response:
    """An error in Cliniko's shape: `{"message": ...}` with `status`."""
    return json_response({"message": message}, status)


def make_authenticator(api_key: str) -> Callable[[Scope], tuple[str | None, Denial | None]]:
    """The `/v1` authentication callback: HTTP Basic with `api_key` as the user name.

    The key's shard suffix is optional and the password empty. A User-Agent is required
    (Cliniko "may block" requests without one: we always do).
    """
    accepted = {api_key, api_key.rsplit("-", 1)[0]}

    def authenticate(scope: Scope) -> tuple[str | None, Denial | None]:
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if not headers.get(b"user-agent", b"").strip():
            body = {"message": "A User-Agent header with your app name and a contact email is "
                               "required, e.g. 'My app (devs@example.com)'."}
            return None, Denial(403, json.dumps(body).encode())
        user = _basic_user(headers.get(b"authorization", b""))
        if user is None or user not in accepted:
            return None, Denial(401, b"HTTP Basic: Access denied.\n", "text/plain; charset=utf-8")
        return api_key, None

    return authenticate


def _basic_user(header: bytes) -> str | None:
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if sep and password == "" else None


def base_url(request: Request) -> str:
    """The server's own base URL as the client reached it."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}/v1"


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high else f"at least {low}"
        raise QueryError(f"{name} must be {bound}")
    return value


def _filters(request: Request, path: str) -> list[Filter]:
    resource = RESOURCES[path]
    texts = request.query_params.getlist("q[]") + request.query_params.getlist("q")
    return [parse_filter(text, resource.filters) for text in texts]


def _page_link(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    params.append(("page", str(page)))
    return f"{base_url(request)}{request.url.path[3:]}?{urlencode(params, quote_via=quote)}"


def list_records(store: ClinikoStore, request: Request, path: str) -> Response:
    """One page of a list endpoint, with `total_entries` and self/next/previous links."""
    resource = RESOURCES[path]
    try:
        page = _int_param(request, "page", 1, 1, None)
        per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        filters = _filters(request, path)
        ids = store.query(path, filters, request.query_params.get("sort"),
                          request.query_params.get("order"))
    except QueryError as exc:
        return error(400, str(exc))
    chunk = ids[(page - 1) * per_page: page * per_page]
    links = {"self": _page_link(request, page)}
    if page * per_page < len(ids):
        links["next"] = _page_link(request, page + 1)
    if page > 1:
        links["previous"] = _page_link(request, page - 1)
    body = {resource.records_key: store.page(chunk, base_url(request)),
            "total_entries": len(ids), "links": links}
    return json_response(body)


def get_record(store: ClinikoStore, request: Request, path: str, record_id: str) -> Response:
    """Like Cliniko's spec, GET by id takes `q[]=archived_at:*` (etc.) to see removed records."""
    try:
        resource = RESOURCES[path]
        texts = request.query_params.getlist("q[]")
        flags = {f: t for f, t in resource.filters.items() if f in HIDING_FLAGS}
        filters = [parse_filter(text, flags) for text in texts]
    except QueryError as exc:
        return error(400, str(exc))
    try:
        collection, row = store.find_visible(path, record_id, filters)
    except NotFound:
        return error(404, "Not found")
    return json_response(store.serialise(collection, row, base_url(request)))


def validate_patient(data: dict[str, Any], creating: bool) -> dict[str, str]:
    """Cliniko-style 422 errors: {field: message}."""
    errors: dict[str, str] = {}
    for name in ("first_name", "last_name"):
        if (creating or name in data) and not str(data.get(name) or "").strip():
            errors[name] = "can't be blank"
    if data.get("email") and not _EMAIL.match(str(data["email"])):
        errors["email"] = "is invalid"
    if data.get("date_of_birth"):
        try:
            date.fromisoformat(str(data["date_of_birth"]))
        except ValueError:
            errors["date_of_birth"] = "is not a valid date"
    return errors


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def create_cliniko_app(store: ClinikoStore, api_key: str, limiter: RateLimiter,
                       faults: FaultInjector, stats: Stats) -> ApiGuard:
    """The Cliniko API over `store`, behind the guard that authenticates, limits and faults."""
    app = FastAPI(title="Cliniko sandbox", docs_url="/_sandbox/docs", openapi_url=None)
    add_api_routes(app, store)
    add_control_routes(app, store, limiter, faults, stats)
    return ApiGuard(app, {"/v1": make_authenticator(api_key)}, limiter, faults, stats)


def add_api_routes(app: FastAPI, store: ClinikoStore) -> None:
    """Every collection's list and get-by-id routes, and the patient writes Cliniko allows."""
    @app.get("/v1/practitioners/inactive")
    async def inactive_practitioners(request: Request) -> Response:
        return list_records(store, request, "practitioners/inactive")

    @app.get("/v1/{collection}")
    async def list_collection(collection: str, request: Request) -> Response:
        if collection not in RESOURCES:
            return error(404, "Not found")
        return list_records(store, request, collection)

    @app.get("/v1/{collection}/{record_id}")
    async def get_one(collection: str, record_id: str, request: Request) -> Response:
        if collection not in RESOURCES or not record_id.isdigit():
            return error(404, "Not found")
        return get_record(store, request, collection, record_id)

    @app.post("/v1/patients")
    async def create_patient(request: Request) -> Response:
        data = await _json_body(request)
        if data is None:
            return error(400, "Request body must be a JSON object")
        data = {k: v for k, v in data.get("patient", data).items() if k in PATIENT_WRITABLE}
        errors = validate_patient(data, creating=True)
        if errors:
            return json_response({"message": "Validation Failed", "errors": errors}, 422)
        record = store.create("patients", data)
        return json_response(record, 201, {"Location": record["links"]["self"]})

    @app.patch("/v1/patients/{record_id}")
    async def update_patient(record_id: str, request: Request) -> Response:
        data = await _json_body(request)
        if data is None:
            return error(400, "Request body must be a JSON object")
        data = {k: v for k, v in data.get("patient", data).items() if k in PATIENT_WRITABLE}
        try:
            store.find_visible("patients", record_id, [])
        except NotFound:
            return error(404, "Not found")
        errors = validate_patient(data, creating=False)
        if errors:
            return json_response({"message": "Validation Failed", "errors": errors}, 422)
        store.update("patients", record_id, data)
        return get_record(store, request, "patients", record_id)

    @app.post("/v1/patients/{record_id}/archive")
    async def archive_patient(record_id: str) -> Response:
        try:
            store.find_visible("patients", record_id, [])
        except NotFound:
            return error(404, "Not found")
        store.archive("patients", record_id)
        return Response(status_code=204)


def add_control_routes(app: FastAPI, store: ClinikoStore, limiter: RateLimiter,
                       faults: FaultInjector, stats: Stats) -> None:
    """Unauthenticated knobs for tests and benchmarks; not counted, limited or faulted."""
    add_knob_routes(app, "/_sandbox", limiter, faults, stats)

    @app.get("/_sandbox/cliniko/{collection}/count")
    async def count(collection: str) -> Response:
        return _control(lambda: {"count": store.count(collection)})

    @app.get("/_sandbox/cliniko/{collection}/{record_id}")
    async def control_get(collection: str, record_id: str) -> Response:
        return _control(lambda: store.get(collection, record_id))

    @app.post("/_sandbox/cliniko/{collection}")
    async def control_create(collection: str, request: Request) -> Response:
        data = await _json_body(request) or {}
        return _control(lambda: store.create(collection, data), 201)

    @app.patch("/_sandbox/cliniko/{collection}/{record_id}")
    async def control_update(collection: str, record_id: str, request: Request) -> Response:
        data = await _json_body(request) or {}
        return _control(lambda: store.update(collection, record_id, data))

    @app.post("/_sandbox/cliniko/{collection}/{record_id}/archive")
    async def control_archive(collection: str, record_id: str) -> Response:
        return _control(lambda: store.archive(collection, record_id))

    @app.delete("/_sandbox/cliniko/{collection}/{record_id}")
    async def control_delete(collection: str, record_id: str) -> Response:
        return _control(lambda: store.delete(collection, record_id) or {"deleted": record_id})


def _control(action: Callable[[], Any], status: int = 200) -> Response:
    try:
        return json_response(action(), status)
    except NotFound as exc:
        return error(404, f"Not found: {exc.args[0] if exc.args else ''}")
    except ValueError as exc:
        return error(400, str(exc))
