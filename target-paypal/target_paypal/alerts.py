"""Alerts: one notification per run (or reconciliation) through Apprise, IDs and counts only.

An alert says that a run failed, parked records, or that reconciliation found mismatches. It is
built from facts in the store (run id, status, counts, reasons, record IDs) and never from a
record's content, so no patient's name, email or treatment can reach a channel. Channels are
Apprise URLs (`alert_urls`): a Slack-compatible webhook (`json://` / `jsons://` with
`?:message=text`, or a Slack incoming-webhook URL), email (`mailto://` / `mailtos://`), and
every other service Apprise knows. Sending never raises into the sync: a channel that fails is
one warning line naming its scheme and host, never its credentials or path.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import apprise
from apprise.logger import LOGGER_NAME as APPRISE_LOGGER

from target_paypal.store import Store
from target_paypal.summary import CLINIKO_NAMES

LOGGER = logging.getLogger("target_paypal.alerts")
MAX_IDS = 10  # record IDs listed per reason or kind; the counts are always complete


@dataclass(frozen=True)
class Alert:
    """What one notification says. `subject` is what it is about, sent once ("run:5")."""

    subject: str
    kind: str  # "failed", "parked" (or new conflicts) or "reconciliation"
    title: str
    lines: tuple[str, ...]
    run_id: int | None = None

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
            store.note_notified(alert.subject, alert.kind, alert.run_id, delivered, len(urls))
        return delivered
    except Exception as error:  # an alert must never stop or fail the sync
        log.warning("Alert %s not sent: %s", alert.subject, type(error).__name__)
        return 0


def _send(url: str, alert: Alert, log: Any) -> bool:
    label = channel(url)
    with _quiet_apprise():
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
