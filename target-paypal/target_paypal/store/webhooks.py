"""PayPal webhook events: each verified delivery remembered, each invoice event recorded once.

Transmission ids guard against replays; event ids against PayPal's own retries. A recorded
event sets its invoice's PayPal status in the cross-references unless a newer event came first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from target_paypal.store.directory import xref_from_row
from target_paypal.store.engine import StoreBase
from target_paypal.store.schema import invoices, webhook_events, webhook_transmissions, xrefs
from target_paypal.store.sql import utc_now

# Transmission ids older than this are forgotten; the receiver refuses far older events anyway.
KEEP_TRANSMISSIONS = dt.timedelta(days=7)
OTHER_ACCOUNT = "other account"


@dataclass(frozen=True)
class WebhookEvent:
    """What the store keeps of one PayPal event: IDs, type, status, PayPal's create_time."""

    event_id: str
    event_type: str
    paypal_id: str | None
    status: str | None
    created_at: str


class WebhookLog(StoreBase):
    """The store's part that records PayPal's webhook deliveries and lists their events."""

    def record_webhook(
        self,
        transmission_id: str,
        event: WebhookEvent,
        hand_closed: Callable[..., str | None],
        keep: bool = True,
        *,
        account: str | None = None,
    ) -> str:
        """Record one verified delivery, in one transaction, and say what became of it.

        Returns "replayed" when its transmission id was seen before (nothing changes),
        "duplicate" when its event id was already recorded (a PayPal retry), "ignored" when
        not `keep` (only the transmission is remembered), OTHER_ACCOUNT when the invoice's
        xref is in another PayPal account than `account`, the one the delivery was verified
        for (only the transmission is remembered), else "recorded" (the event row, and the
        invoice's xref status when the event is not older than the last one recorded for that
        invoice). `hand_closed(status, xref, staged)` gives the conflict reason when the
        status was not set by this sync.
        """
        args = (transmission_id, event, hand_closed, keep, account)
        try:
            return self._record_webhook(*args)
        except sa.exc.IntegrityError:  # the same delivery twice at once: the loser looks again
            return self._record_webhook(*args)

    def _record_webhook(
        self,
        transmission_id: str,
        event: WebhookEvent,
        hand_closed: Callable[..., str | None],
        keep: bool,
        account: str | None,
    ) -> str:
        with self.begin() as conn:
            seen = conn.execute(
                sa.select(webhook_transmissions.c.transmission_id).where(
                    webhook_transmissions.c.transmission_id == transmission_id
                )
            ).first()
            if seen is not None:
                return "replayed"
            at = utc_now()
            conn.execute(
                webhook_transmissions.delete().where(
                    webhook_transmissions.c.received_at < at - KEEP_TRANSMISSIONS
                )
            )
            conn.execute(
                webhook_transmissions.insert().values(
                    transmission_id=transmission_id, event_id=event.event_id, received_at=at
                )
            )
            if not keep:
                return "ignored"
            known = conn.execute(
                sa.select(webhook_events.c.event_id).where(
                    webhook_events.c.event_id == event.event_id
                )
            ).first()
            if known is not None:
                return "duplicate"
            row = (
                conn.execute(sa.select(xrefs).where(xrefs.c.paypal_id == event.paypal_id))
                .mappings()
                .one_or_none()
                if event.paypal_id
                else None
            )
            # PayPal sends an account's events to that account's webhooks only: a mismatch is
            # a misconfigured receiver, and recording nothing lets a resend be recorded later.
            if row is not None and row["account"] != account:
                return OTHER_ACCOUNT
            newer = conn.execute(
                sa.select(sa.func.max(webhook_events.c.created_at)).where(
                    webhook_events.c.paypal_id == event.paypal_id
                )
            ).scalar_one_or_none()
            conn.execute(
                webhook_events.insert().values(
                    event_id=event.event_id,
                    event_type=event.event_type,
                    paypal_id=event.paypal_id,
                    invoice_id=row["invoice_id"] if row else None,
                    status=event.status,
                    created_at=event.created_at,
                    received_at=at,
                )
            )
            if row is None or event.status is None or (newer or "") > event.created_at:
                return "recorded"
            xref = xref_from_row(row)
            staged = conn.execute(
                sa.select(invoices.c.record).where(invoices.c.invoice_id == xref.invoice_id)
            ).scalar_one_or_none()
            conflict = hand_closed(event.status, xref, staged)
            values: dict[str, Any] = {"paypal_status": event.status, "updated_at": at}
            if conflict:
                values["conflict"] = conflict[:300]
            conn.execute(xrefs.update().where(xrefs.c.invoice_id == xref.invoice_id).values(values))
            return "recorded"

    def webhook_events(self) -> list[dict[str, Any]]:
        """Return every recorded event, in the order received."""
        with self.begin() as conn:
            query = sa.select(webhook_events).order_by(webhook_events.c.received_at)
            return [dict(r) for r in conn.execute(query).mappings()]
