"""PayPal's REST error bodies (notes §6): `{name, message, debug_id, details[], links[]}`.

`name` and `message` are fixed per HTTP status in PayPal's specs; the fine-grained reason goes
in `details[].issue`. Handlers raise `PayPalError`; the app renders it with a fresh debug_id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Fixed per status in the spec's error_4xx/5xx schemas (429 from PayPal's rate-limit docs).
STATUS_NAMES: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST",
          "Request is not well-formed, syntactically incorrect, or violates schema."),
    401: ("AUTHENTICATION_FAILURE",
          "Authentication failed due to missing authorization header, or invalid "
          "authentication credentials."),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    405: ("METHOD_NOT_SUPPORTED", "The server does not implement the requested HTTP method."),
    409: ("RESOURCE_CONFLICT", "The server has detected a conflict while processing this request."),
    415: ("UNSUPPORTED_MEDIA_TYPE",
          "The server does not support the request payload's media type."),
    422: ("UNPROCESSABLE_ENTITY",
          "The requested action could not be performed, semantically incorrect, or failed "
          "business validation."),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}

INFO_LINK = "https://developer.paypal.com/docs/api/invoicing/v2/#error-{issue}"


def detail(issue: str, description: str, field: str | None = None, value: Any = None,
           location: str = "body") -> dict[str, Any]:
    """One `details[]` entry; `field` is a JSON pointer for body fields."""
    entry: dict[str, Any] = {}
    if field is not None:
        entry["field"] = field
        if value is not None:
            # The schema types `value` as a string; PayPal echoes it as text.
            entry["value"] = value if isinstance(value, str) else str(value)
        entry["location"] = location
    entry["issue"] = issue
    entry["description"] = description
    return entry


@dataclass
class PayPalError(Exception):
    """An API failure carrying the HTTP status and its details."""

    status: int
    details: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        issues = ", ".join(d["issue"] for d in self.details) or "-"
        return f"PayPal {self.status}: {issues}"


def error_body(status: int, details: list[dict[str, Any]], debug_id: str) -> dict[str, Any]:
    """The body PayPal sends for `status`; one information link per distinct issue."""
    name, message = STATUS_NAMES.get(status, STATUS_NAMES[500])
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": debug_id}
    if status >= 500:
        # The 5xx schemas define no `details`; PayPal sends only name, message, debug_id, links.
        body["links"] = []
        return body
    issues = list(dict.fromkeys(d["issue"] for d in details))
    body["details"] = details
    body["links"] = [{"href": INFO_LINK.format(issue=i), "rel": "information_link",
                      "method": "GET"} for i in issues]
    return body


def unprocessable(issue: str, description: str) -> PayPalError:
    """A 422 business-rule failure (status machine, duplicates, ...)."""
    return PayPalError(422, [detail(issue, description)])


def not_found(invoice_id: str) -> PayPalError:
    """PayPal's 404 INVALID_RESOURCE_ID for an unknown invoice id."""
    return PayPalError(404, [detail("INVALID_RESOURCE_ID", "Requested resource ID was not found.",
                                    field="invoice_id", value=invoice_id, location="path")])


def not_yours(invoice_id: str) -> PayPalError:
    """PayPal's 403 PERMISSION_DENIED: the invoice is another merchant account's.

    The spec gives this 403 for every operation on an `invoice_id`; that live PayPal answers it
    (rather than a 404) for another account's id is UNCONFIRMED (`InvoicingRules`).
    """
    return PayPalError(403, [detail("PERMISSION_DENIED", "The requested invoice is not "
                                    "associated with the requested user.", field="invoice_id",
                                    value=invoice_id, location="path")])
