"""The alert for a reconciliation that found mismatches: kinds, counts and IDs, never details."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from paypal_ops.reconcile import kind_words
from target_paypal.alerts import MAX_IDS, Alert


def reconciliation_alert(report: dict[str, Any]) -> Alert | None:
    """The alert for a reconciliation report; None when everything matches.

    The report is {"ok", "counts", "items"}, as in reconcile.json. Items give kind, IDs, invoice
    number and field names only (their free-text `detail` is left out).
    """
    counts = {k: int(v) for k, v in (report.get("counts") or {}).items() if v}
    if report.get("ok", not counts) and not counts:
        return None
    total = sum(counts.values())
    when = str(report.get("generated_at") or "")
    lines = []
    for kind, count in counts.items():
        items = [i for i in report.get("items") or [] if i.get("kind") == kind]
        lines.append(f"{kind_words(kind)}: {count}")
        for item in items[:MAX_IDS]:
            lines.append("  " + _item(item))
        if len(items) > MAX_IDS:
            lines.append(f"  and {len(items) - MAX_IDS} more")
    lines.append("Details: the reconcile report (reconcile.html, .csv, .json)")
    title = f"Reconciliation found {total} mismatch(es) between Cliniko and PayPal"
    subject = f"reconcile:{when}" if when else f"reconcile:{_fingerprint(report)}"
    return Alert(subject[:80], "reconciliation", title, tuple(lines))


def _item(item: dict[str, Any]) -> str:
    parts = [
        f"Cliniko invoice {item['cliniko_invoice_id']}" if item.get("cliniko_invoice_id") else "",
        f"PayPal {item['paypal_id']}" if item.get("paypal_id") else "",
        f"account {item['account']}" if item.get("account") else "",
        f"number {item['invoice_number']}" if item.get("invoice_number") else "",
        f"fields {', '.join(map(str, item['fields']))}" if item.get("fields") else "",
    ]
    return "; ".join(p for p in parts if p) or "(no IDs)"


def _fingerprint(report: dict[str, Any]) -> str:
    ids = json.dumps(
        sorted(
            (str(i.get("kind")), str(i.get("cliniko_invoice_id")), str(i.get("paypal_id")))
            for i in report.get("items") or []
        )
    )
    return hashlib.sha256(ids.encode()).hexdigest()[:16]
