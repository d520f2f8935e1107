"""How a Cliniko page is read: its JSON decoded once, money exact, and the link to the next page."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import requests
from singer_sdk.pagination import BaseHATEOASPaginator

# Pages decoded with msgspec (several times faster than `json`). A number with a fraction or an
# exponent (invoice items' `total_including_tax`) becomes a Decimal of its exact text.
PAGE_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def decode_page(content: bytes) -> Any:
    """A page's JSON (ValueError if it is not).

    msgspec refuses a lone UTF-16 surrogate escape (a name cut inside an emoji), which `json`
    reads: such a page is read as before.
    """
    try:
        return PAGE_DECODER.decode(content)
    except msgspec.DecodeError:
        return json.loads(content, parse_float=Decimal)


def body_of(response: requests.Response) -> dict[str, Any]:
    """The decoded page, parsed once (records and paginator both read it); money as Decimal."""
    body = getattr(response, "_cliniko_body", None)
    if body is None:
        body = decode_page(response.content)
        response._cliniko_body = body  # type: ignore[attr-defined]
    return body  # type: ignore[no-any-return]


class ClinikoPaginator(BaseHATEOASPaginator):
    """Follows `links.next`, which Cliniko leaves out on the last page."""

    def get_next_url(self, response: requests.Response) -> str | None:
        """The next page's URL from the body's `links.next`; None on the last page."""
        links = body_of(response).get("links") or {}
        return links.get("next")  # type: ignore[no-any-return]
