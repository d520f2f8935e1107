"""Alerts: one notification per run (or reconciliation) through Apprise, IDs and counts only.

An alert says that a run failed, parked records, that reconciliation found mismatches, or that
invoices have waited for approval longer than their rule allows (`approvals_alert`). It is
built from facts in the store (run id, status, counts, reasons, record IDs) and never from a
record's content, so no patient's name, email or treatment can reach a channel. Channels are
Apprise URLs (`alert_urls`): a Slack-compatible webhook (`json://` / `jsons://` with
`?:message=text`, or a Slack incoming-webhook URL), email (`mailto://` / `mailtos://`), and
every other service Apprise knows. Sending never raises into the sync: a channel that fails is
one warning line naming its scheme and host, never its credentials or path.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from target_paypal.store import Approval, Store
from target_paypal.store.sql import utc_now
from target_paypal.summary import CLINIKO_NAMES

LOGGER = logging.getLogger("target_paypal.alerts")
MAX_IDS = 10  # record IDs listed per reason or kind; the counts are always complete
APPRISE_LOGGER = "apprise"  # apprise.logger.LOGGER_NAME (apprise is imported when sending)


@dataclass(frozen=True)
class Alert:
    """What one notification says. `subject` is what it is about, sent once ("run:5").

    `also`: more subjects it speaks for, noted as sent with it (one per invoice of an
    approvals alert), so each is alerted once.
    """

    subject: str
    kind: str  # "failed", "parked" (or new conflicts), "reconciliation" or "approval"
    title: str
    lines: tuple[str, ...]
    run_id: int | None = None
    also: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        """The title, then the lines: a webhook payload carries the body only."""
        return "\n".join((self.title, *self.lines))


# --- building alerts from facts ---------------------------------------------------------------


def run_alert(store: Store, run_id: int) -> Alert | None:
    """The alert for a run that failed, parked new records or found new conflicts.

    None when it needs no one's attention. A failed run is one that never finished.
    """
    run = store.run(run_id)
    if run is None:
        return None
    failed = run["status"] != "succeeded"
    parked = store.new_parked(run_id)
    conflicts = store.new_conflicts(run_id)
    if not failed and not parked and not conflicts:
        return None
    counts = run["counts"] or {}
    if failed:
        title = (
            f"target-paypal run {run_id} did not finish (status {run['status']}, started "
            f"{run['started_at']:%Y-%m-%d %H:%M} UTC): its records are retried next run"
        )
    else:
        found = [f"parked {len(parked)} new record(s)"] if parked else []
        found += [f"found {len(conflicts)} new conflict(s)"] if conflicts else []
        title = f"target-paypal run {run_id} {' and '.join(found)}"
    lines = []
    invoices = store.run_outcomes(run_id).get("invoices") or {}
    if invoices:
        lines.append("Invoices: " + ", ".join(f"{k} {v}" for k, v in sorted(invoices.items())))
    if parked:
        lines.append(f"Newly parked in this run: {len(parked)}")
        lines.extend(_parked_lines(parked))
    if conflicts:
        lines.append(f"New conflicts, for a person to settle in PayPal: {len(conflicts)}")
        lines.extend(_parked_lines([("invoices", i, why) for i, why in conflicts]))
    if "open_dead_letters" in counts:
        lines.append(f"Open dead letters in all: {counts['open_dead_letters']}")
    else:
        lines.append(f"Open dead letters in all: {len(store.open_dead_letters())}")
    lines.append(f"Details: paypal-ops summary --run {run_id}")
    return Alert(f"run:{run_id}", "failed" if failed else "parked", title, tuple(lines), run_id)


def approval_subject(approval: Approval) -> str:
    """What an approvals alert is about for one invoice: this wait of it ("approval:<id>:<epoch>").

    An invoice that leaves the queue and comes back later waits anew, so it is alerted again.
    """
    return f"approval:{approval.invoice_id}:{int(approval.held_since.timestamp())}"


def approvals_alert(store: Store, now: dt.datetime | None = None) -> Alert | None:
    """The alert for invoices waiting for approval longer than their rule's `alert_after_days`.

    Each invoice is in one alert per wait: those already alerted about (`notify` notes every
    invoice's subject) are left out. None when no invoice is overdue and not yet alerted.
    """
    now = now or utc_now()
    waiting = store.approval_queue()
    due = [a for a in waiting if a.overdue(now) and not store.notified(approval_subject(a))]
    if not due:
        return None
    longest = max(a.waited(now) for a in due)
    title = (
        f"{len(due)} invoice(s) waiting for approval past their rule's alert time "
        f"(longest {wait_words(longest)})"
    )
    lines = [f"Waiting for approval in all: {len(waiting)}"]
    by_rule: dict[str, list[Approval]] = {}
    for approval in due:  # longest waiting first, as the queue is
        by_rule.setdefault(approval.rule, []).append(approval)
    for rule, held in sorted(by_rule.items(), key=lambda r: (-len(r[1]), r[0])):
        names = [
            f"{a.invoice_id} ({a.invoice_number})" if a.invoice_number else a.invoice_id
            for a in held
        ]
        lines.append(
            f"  {len(held)} held by rule {_reason(rule)} (alert after "
            f"{held[0].alert_after_days} d), longest {wait_words(held[0].waited(now))}; "
            f"IDs {_ids(names)}"
        )
    lines.append("Approve or reject them: paypal-ops approvals list")
    subjects = [approval_subject(a) for a in due]
    return Alert(subjects[0], "approval", title, tuple(lines), None, tuple(subjects[1:]))


def wait_words(waited: dt.timedelta) -> str:
    """A wait as people say it: "3 d 4 h", "5 h 12 min", "7 min"."""
    minutes = max(0, int(waited.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _parked_lines(parked: list[tuple[str, str, str]]) -> Iterator[str]:
    groups: dict[tuple[str, str], list[str]] = {}
    for stream, record_id, reason in parked:
        groups.setdefault((stream, reason), []).append(record_id)
    for (stream, reason), ids in sorted(groups.items(), key=lambda g: -len(g[1])):
        name = CLINIKO_NAMES.get(stream, stream)
        yield f"  {len(ids)} {name}: {_reason(reason)}; IDs {_ids(ids)}"


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


def _reason(reason: str) -> str:
    return (reason or "no reason recorded")[:200]


# --- sending ----------------------------------------------------------------------------------


def notify(
    urls: Sequence[str],
    alert: Alert,
    store: Store | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> int:
    """Send `alert` to every channel; returns how many channels took it.

    With a store, it is sent only if its subject was not notified yet, and noted once a channel
    took it. Never raises: a failure is one warning line on `logger`.
    """
    log = logger or LOGGER
    urls = [u for u in urls if u and u.strip()]
    if not urls:
        return 0
    try:
        if store is not None and store.notified(alert.subject):
            return 0
        delivered = sum(_send(url, alert, log) for url in urls)
        if store is not None and delivered:
            for subject in (alert.subject, *alert.also):
                store.note_notified(subject, alert.kind, alert.run_id, delivered, len(urls))
        return delivered
    except Exception as error:  # an alert must never stop or fail the sync
        log.warning("Alert %s not sent: %s", alert.subject, type(error).__name__)
        return 0


def _send(url: str, alert: Alert, log: Any) -> bool:
    label = channel(url)
    with _quiet_apprise():
        import apprise  # here, not at start-up: 0.2 s that a run without an alert never needs

        plugin = apprise.Apprise.instantiate(url.strip())
        if plugin is None:
            log.warning("Alert %s: %s is not a valid alert URL", alert.subject, label)
            return False
        try:
            sent = bool(
                plugin.notify(
                    body=alert.body, title=alert.title, body_format=apprise.NotifyFormat.TEXT
                )
            )
        except Exception as error:
            log.warning("Alert %s not sent to %s (%s)", alert.subject, label, type(error).__name__)
            return False
    if not sent:
        log.warning("Alert %s not delivered to %s: check alert_urls", alert.subject, label)
    return sent


def channel(url: str) -> str:
    """A channel named without secrets: scheme and host only (no user, password, path, query)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an alert URL that cannot be parsed"
    return f"{parts.scheme or '?'}://{host}{port}"


@contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Keep Apprise's logging out of the run's log: it carries URLs and server replies.

    Also hides the DeprecationWarning of imghdr that its plugins raise when loaded on
    Python 3.11+.
    """
    logger = logging.getLogger(APPRISE_LOGGER)
    propagate, level = logger.propagate, logger.level
    logger.propagate = False
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.propagate = propagate
        logger.setLevel(level)


def parse_urls(value: Any) -> list[str]:
    """alert_urls as Meltano hands it over: a list, a JSON list in a string, or one URL."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                LOGGER.warning("alert_urls is not a JSON list: no alerts sent")
                return []
        else:
            return [text]
    return [str(v) for v in value if str(v).strip()]
