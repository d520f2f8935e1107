"""`paypal-ops webhooks`: PayPal's INVOICING.INVOICE.* events into target-paypal's store.

POST /paypal/webhooks, in this order: body size, signature headers, transmission time (stale or
from the future), signature (offline certificate check or PayPal's online endpoint) for one of
the configured webhook ids, one per PayPal account (webhook_ids.py), the event, then one store
transaction that refuses a transmission id seen before and records the event once per event id.
Answers: 200 recorded / duplicate event (PayPal retries a delivery under the same event id and
a new transmission: it must get a 2xx, but nothing is recorded twice) / ignored: another event
type, or an invoice the store has in another account than the one the delivery verified for (a
misconfigured `--webhook-id`, logged as a warning; nothing but the transmission is kept, so the
event resent from PayPal's dashboard is recorded once the ids are fixed); 400 malformed, stale
or replayed; 401 not signed by PayPal for any configured id; 503 the signature cannot be
checked now (PayPal will retry). A refusal's body is one line naming the reason, never anything
from the request. Logs carry event, transmission and invoice IDs and account keys only.

PAID, CANCELLED and REFUNDED set the invoice's `xrefs.paypal_status` at once (unless a later
event for that invoice is already recorded), with a conflict when PayPal closed the invoice
and this sync did not, exactly as the applier records one when it finds it on its next run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import click
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from paypal_ops.accounts import AccountClients
from paypal_ops.options import StoreAddress, open_store, paypal_client, paypal_options
from paypal_ops.webhook_ids import account_name, webhook_ids_callback
from paypal_ops.webhook_verify import (
    DEFAULT_CERT_HOSTS,
    CertificateSource,
    Delivery,
    OfflineVerifier,
    OnlineVerifier,
    Refused,
    Verifier,
    WebhookIds,
    check_fresh,
    parse_allowed,
)
from target_paypal.accounts import AccountUnusable, credentials
from target_paypal.client import CLOSED_BY_HAND, PAID, PayPalClient
from target_paypal.store import Store, WebhookEvent, Xref
from target_paypal.store.webhooks import OTHER_ACCOUNT

log = logging.getLogger("paypal_ops.webhooks")
PATH = "/paypal/webhooks"
MAX_BODY = 1_000_000
RECORDED = {
    "INVOICING.INVOICE.PAID": "PAID",
    "INVOICING.INVOICE.CANCELLED": "CANCELLED",
    "INVOICING.INVOICE.REFUNDED": "REFUNDED",
}
STATUSES = {  # the invoice statuses each event may report (PAID covers partial and pending)
    "INVOICING.INVOICE.PAID": {"PAID", "MARKED_AS_PAID", "PARTIALLY_PAID", "PAYMENT_PENDING"},
    "INVOICING.INVOICE.CANCELLED": {"CANCELLED"},
    "INVOICING.INVOICE.REFUNDED": {"REFUNDED", "PARTIALLY_REFUNDED", "MARKED_AS_REFUNDED"},
}
_SAFE_ID = re.compile(r"[^A-Za-z0-9._:-]")


def safe_id(value: Any) -> str:
    """An ID fit for a log line (what arrives in a header is not trusted)."""
    return _SAFE_ID.sub("?", str(value))[:100]


def hand_closed(status: str, xref: Xref, staged: dict | None) -> str | None:
    """The applier's rule: a closed status this sync neither set nor wants is a conflict."""
    if status not in CLOSED_BY_HAND or status == xref.paypal_status:
        return None
    target = (staged or {}).get("target_status")
    if (target == "PAID" and status in PAID) or (target == "VOID" and status == "CANCELLED"):
        return None
    return f"{status} in PayPal, not by this sync: left as it is"


def parse_event(body: bytes) -> WebhookEvent:
    """The event's IDs, type, invoice status and time from the body; refused if not an event."""
    try:
        event = json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise Refused(400, "the body is not a PayPal event")
    event_type = str(event.get("event_type") or "")
    resource = event.get("resource")
    resource = resource if isinstance(resource, dict) else {}
    invoice = resource.get("invoice")
    invoice = invoice if isinstance(invoice, dict) else resource
    status = invoice.get("status")
    if status not in STATUSES.get(event_type, ()):
        status = RECORDED.get(event_type)
    paypal_id = invoice.get("id")
    return WebhookEvent(
        event_id=event["id"][:60],
        event_type=event_type[:60],
        paypal_id=paypal_id[:40] if isinstance(paypal_id, str) else None,
        status=status,
        created_at=_utc(event.get("create_time")),
    )


def _utc(value: Any) -> str:
    """PayPal's create_time as one sortable form (unparseable: the empty string, oldest)."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _read_limited(request: Request) -> bytes:
    """The raw body, refused past MAX_BODY bytes without reading it all."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, "the body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _logged(result: str, event: WebhookEvent, transmission_id: str, account: str | None) -> str:
    """Log what became of a verified delivery; the answer's one line."""
    event_id, invoice = safe_id(event.event_id), safe_id(event.paypal_id)
    transmission, name = safe_id(transmission_id), account_name(account)
    if result == OTHER_ACCOUNT:
        log.warning(
            "webhook ignored: event=%s invoice=%s transmission=%s verified for account %s, "
            "but the invoice is in another one: check --webhook-id",
            event_id,
            invoice,
            transmission,
            name,
        )
        return "ignored: the invoice is in another PayPal account"
    event_type = safe_id(event.event_type)
    log.info(
        "webhook %s: event=%s type=%s invoice=%s transmission=%s account=%s",
        *(result, event_id, event_type, invoice, transmission, name),
    )
    return result


def create_app(
    store: Store,
    webhook_ids: WebhookIds,
    verifier: Verifier,
    max_age_seconds: float = 300,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Starlette:
    """The receiver as an ASGI app (serve it with uvicorn, or test it in process)."""
    max_age = dt.timedelta(seconds=max_age_seconds)

    def handle(headers: dict[str, str], body: bytes) -> tuple[int, str]:
        delivery = Delivery.from_request(headers, body)
        check_fresh(delivery, clock(), max_age)
        account = verifier.account(delivery, webhook_ids)
        event = parse_event(body)
        keep = event.event_type in RECORDED
        transmission = delivery.transmission_id
        result = store.record_webhook(transmission, event, hand_closed, keep, account=account)
        if result == "replayed":
            raise Refused(400, "replayed: this transmission id was delivered before")
        return 200, _logged(result, event, transmission, account)

    async def receive(request: Request) -> PlainTextResponse:
        try:
            body = await _read_limited(request)
            status, text = await run_in_threadpool(handle, dict(request.headers), body)
        except Refused as refused:
            log.warning(
                "webhook refused (%s): %s; transmission=%s",
                refused.status,
                refused.reason,
                safe_id(request.headers.get("paypal-transmission-id", "-")),
            )
            return PlainTextResponse(f"refused: {refused.reason}\n", status_code=refused.status)
        return PlainTextResponse(f"{text}\n", status_code=status)

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    return Starlette(
        routes=[Route(PATH, receive, methods=["POST"]), Route("/healthz", health)],
    )


@click.command("webhooks")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8767, show_default=True, type=int)
@click.option(
    "--webhook-id",
    "webhook_ids",
    envvar=["PAYPAL_OPS_WEBHOOK_ID", "PAYPAL_WEBHOOK_ID"],
    multiple=True,
    required=True,
    callback=webhook_ids_callback,
    metavar="[ACCOUNT_KEY=]WEBHOOK_ID",
    help="A webhook's id in PayPal's developer dashboard (part of what PayPal signs), one per "
    "PayPal account: WEBHOOK_ID for the default account, ACCOUNT_KEY=WEBHOOK_ID for a "
    "business's own (ACCOUNT_KEY as xrefs.account: ID_VARIABLE:SECRET_VARIABLE). Repeatable; "
    "the variables take several separated by spaces.",
)
@click.option(
    "--verify",
    type=click.Choice(["offline", "online"]),
    default="offline",
    show_default=True,
    help="offline: check the certificate signature here; online: ask PayPal.",
)
@click.option(
    "--allowed-cert-hosts",
    envvar=["PAYPAL_OPS_WEBHOOK_CERT_HOSTS", "PAYPAL_WEBHOOK_CERT_HOSTS"],
    default=",".join(DEFAULT_CERT_HOSTS),
    show_default=True,
    help="Where certificates may come from: hosts (https) or scheme://host:port origins.",
)
@click.option(
    "--max-age-seconds",
    type=click.IntRange(1, 86400),
    default=300,
    show_default=True,
    help="Refuse deliveries sent longer ago than this.",
)
@paypal_options
@click.pass_obj
def webhooks_command(
    store_url: StoreAddress,
    host: str,
    port: int,
    webhook_ids: WebhookIds,
    verify: str,
    allowed_cert_hosts: str,
    max_age_seconds: int,
    paypal_base_url: str,
    paypal_client_id: str | None,
    paypal_client_secret: str | None,
) -> None:
    """Receive PayPal's invoice events (PAID, CANCELLED, REFUNDED) into the store."""
    verifier: Verifier
    if verify == "online":
        paypal = (paypal_base_url, paypal_client_id, paypal_client_secret)
        verifier = OnlineVerifier(AccountClients(_default_client(webhook_ids, *paypal)))
    else:
        allowed = parse_allowed(allowed_cert_hosts)
        if not allowed:
            raise click.UsageError("--allowed-cert-hosts is empty")
        verifier = OfflineVerifier(CertificateSource(allowed))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = create_app(open_store(store_url), webhook_ids, verifier, max_age_seconds)
    click.echo(f"PayPal webhooks: listening on http://{host}:{port}{PATH} ({verify} checks)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _default_client(
    webhook_ids: WebhookIds, base_url: str, client_id: str | None, secret: str | None
) -> PayPalClient:
    """The default account's client for online checks; each account's variables must be set.

    Without a webhook id of the default account its credentials are not needed: the client is
    then only the pattern (URL, retries) of the others'.
    """
    try:
        for key in webhook_ids:
            if key is not None:
                credentials(key, runs="paypal-ops")
    except AccountUnusable as unusable:
        raise click.UsageError(str(unusable)) from None
    if None in webhook_ids:
        return paypal_client(base_url, client_id, secret, max_tries=3)
    return PayPalClient(base_url, client_id or "", secret or "", max_tries=3)
