"""PayPal's HTTP transport: urllib3's connection pool, called directly.

requests (which sends through urllib3 itself) spent about 1 ms of CPU on every PayPal call
preparing, merging and wrapping it: hooks, cookie jars, case-insensitive header copies, a
Response object. At two or three calls an invoice that was half of target-paypal's CPU
(`python -m bench.target_profile`). What the client used requests for is kept here: proxies and
the CA bundle taken from the environment (once), JSON and form bodies, query strings and basic
auth. Retries and redirects are off: the client decides what to do about every failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3
from requests.utils import get_environ_proxies
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProxyError

USER_AGENT = "target-paypal"
# Every way of getting no answer, or half of one: no connection, a timeout, a connection
# dropped before or while the answer came (retries off, urllib3 raises them as they are).
TRANSPORT_ERRORS = (HTTPError,)


@dataclass
class Answer:
    """PayPal's answer, read in full (the connection goes back to the pool at once)."""

    status_code: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    content: bytes

    def json(self) -> Any:
        """The body as JSON (raises ValueError when it is not)."""
        return json.loads(self.content)


class Transport:
    """Requests to one base URL over a pool of kept-alive connections (thread-safe)."""

    def __init__(self, base_url: str, timeout_seconds: float, pool_size: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.proxy = get_environ_proxies(self.base_url).get(self.base_url.split(":", 1)[0])
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self.ca_certs = bundle or certifi.where()
        options: dict[str, Any] = {
            "maxsize": pool_size,
            "timeout": urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
            "retries": False,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": self.ca_certs,
        }
        if self.proxy:
            auth = urllib3.util.parse_url(self.proxy).auth
            headers = urllib3.make_headers(proxy_basic_auth=auth) if auth else None
            self.pool: urllib3.PoolManager = urllib3.ProxyManager(
                self.proxy, proxy_headers=headers, **options
            )
        else:
            self.pool = urllib3.PoolManager(**options)
        # Without a proxy every call goes to the one host: straight to its connection pool,
        # without the manager parsing each URL and looking the pool up again.
        self._direct = None if self.proxy else self.pool.connection_from_url(self.base_url)
        self._path_prefix = urllib3.util.parse_url(self.base_url).path or ""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | bytes | None = None,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request; raises one of `TRANSPORT_ERRORS` when no full answer came."""
        query = f"?{urlencode(params)}" if params else ""
        sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        body: bytes | None = None
        if json is not None:
            body = _dumps(json)
            sent.setdefault("Content-Type", "application/json")
        elif isinstance(data, Mapping):
            body = urlencode(data).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif data is not None:
            body = data
        if auth is not None:
            sent.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        if self._direct is not None:
            target = self._path_prefix + path + query
            answer = self._direct.urlopen(
                method, target, body=body, headers=sent, redirect=False, assert_same_host=False
            )
        else:
            url = self.base_url + path + query
            answer = self.pool.urlopen(method, url, body=body, headers=sent, redirect=False)
        return Answer(answer.status, answer.reason or "", answer.headers, answer.data)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False).encode()


def no_connection(error: Exception) -> bool:
    """True when the request never left: no connection made.

    Refused, an unknown host, the proxy unreachable, or a connect timeout; not a connection
    dropped or timed out after sending.
    """
    if isinstance(error, ProxyError):
        error = error.original_error
    return isinstance(error, ConnectTimeoutError)  # NewConnectionError is one
