"""`meltano run cliniko-to-paypal` end to end: Cliniko sandbox -> the pipeline -> PayPal.

What PayPal should show is worked out here from the Cliniko sandbox's own records, by the rules of
the shipped mapping (transforms/map_cliniko_paypal/mapping.yaml), without importing the mapper or
the target: a bug in either cannot hide behind a shared helper.

The rules, as a clinic's finance team states them:

* A patient's billing email is `invoice_email` (stripped) if set, else `email` (stripped). It is
  usable when it looks like an email and is at most 254 characters. Invoices of a patient without
  a usable email, or whose email another patient also uses (case-insensitive: a family sharing
  one inbox), stay out of PayPal (parked for a human).
* Cliniko Open (10) -> PayPal UNPAID (sent); Paid (20) -> MARKED_AS_PAID with the payment recorded
  on the Sydney date of `closed_at`; Closed (30) -> never created (cancelled if it already was);
  Open credit (40) -> parked. Archived or deleted -> like Closed.
* Number "CLK-<number>", reference = Cliniko id, invoice date = issue_date, AUD, tax inclusive
  when calculation_method is 3, one line per live invoice item (quantity, unit price, GST
  percent, discount percent or amount), and PayPal's own total and GST equal Cliniko's to the cent.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from target_paypal.store import Store

JOB = "cliniko-to-paypal"
# Small enough for a quick run, big enough to hold every case (asserted in `assert_coverage`).
CLINIC = {"seed": 42, "patients": 120, "invoices": 200}
SYDNEY = ZoneInfo("Australia/Sydney")
EMAIL = re.compile(r"^[^@\s]+@[^@\s\"-][^@\s]*\.[^@\s]+$")
OPEN, PAID, CLOSED, OPEN_CREDIT = 10, 20, 30, 40
TAX_INCLUSIVE = 3
# Every list request of the job's five streams (practitioners reads active and inactive).
ONE_REQUEST_PER_STREAM = {
    "/v1/patients": 1,
    "/v1/invoices": 1,
    "/v1/invoice_items": 1,
    "/v1/practitioners": 1,
    "/v1/practitioners/inactive": 1,
    "/v1/users": 1,
}
INVOICES_PATH = "/v2/invoicing/invoices/"


# --- what PayPal should hold, from Cliniko's records ---------------------------------------------


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit_amount: Decimal
    tax_percent: Decimal | None
    discount: tuple[str, Decimal] | None  # ("percent", 12.5) or ("amount", 5.00)

    def sort_key(self) -> tuple[Any, ...]:
        """Numeric, so "1.0" and "1" sort alike on both sides."""
        none = Decimal(-1)
        kind, value = self.discount or ("", none)
        tax = none if self.tax_percent is None else self.tax_percent
        return (self.name, self.quantity, self.unit_amount, tax, kind, value)


@dataclass
class Expected:
    """One Cliniko invoice as PayPal should show it."""

    cliniko_id: str
    number: str
    status: str  # UNPAID, MARKED_AS_PAID or CANCELLED
    invoice_date: str
    total: Decimal
    tax_total: Decimal
    tax_inclusive: bool
    email: str
    patient_id: str
    lines: list[Line] = field(default_factory=list)
    payment_date: str | None = None


@dataclass
class Clinic:
    """Cliniko's records read back from the sandbox, and what PayPal should hold."""

    invoices: dict[str, dict[str, Any]]
    patients: dict[str, dict[str, Any]]
    items: dict[str, list[dict[str, Any]]]  # live items by invoice id
    all_items: list[dict[str, Any]]
    emails: dict[str, str]  # usable billing email by patient id
    shared: dict[str, list[str]]  # patient id -> the other patients with the same email
    expected: dict[str, Expected]
    left_out: dict[str, str]  # Cliniko invoice id -> why it is not in PayPal


def link_id(record: dict[str, Any], name: str) -> str | None:
    link = record.get(name)
    if not link:
        return None
    return str(link["links"]["self"]).rstrip("/").rsplit("/", 1)[-1]


def billing_email(patient: dict[str, Any]) -> str:
    return (patient.get("invoice_email") or "").strip() or (patient.get("email") or "").strip()


def usable(email: str) -> bool:
    return bool(email) and len(email) <= 254 and EMAIL.match(email) is not None


def sydney_date(utc_timestamp: str) -> str:
    moment = datetime.fromisoformat(utc_timestamp.replace("Z", "+00:00"))
    return moment.astimezone(SYDNEY).date().isoformat()


def utc_date(utc_timestamp: str) -> str:
    return datetime.fromisoformat(utc_timestamp.replace("Z", "+00:00")).date().isoformat()


def line_of(item: dict[str, Any]) -> Line:
    discount: tuple[str, Decimal] | None = None
    if item.get("is_monetary_discount"):
        amount = Decimal(str(item.get("discounted_amount") or "0"))
        discount = ("amount", amount) if amount else None
    elif item.get("discount_percentage") not in (None, ""):
        percent = Decimal(str(item["discount_percentage"]))
        discount = ("percent", percent) if percent else None
    rate = item.get("tax_rate")
    return Line(
        name=str(item["name"]).strip()[:200],
        quantity=Decimal(str(item["quantity"])),
        unit_amount=Decimal(str(item["unit_price"])),
        tax_percent=Decimal(str(rate)) if rate not in (None, "") else None,
        discount=discount,
    )


def gone(record: dict[str, Any]) -> bool:
    return bool(record.get("archived_at") or record.get("deleted_at"))


def read_clinic(cliniko, was_in_paypal: Collection[str] = ()) -> Clinic:
    """What PayPal should hold now. `was_in_paypal`: Cliniko ids PayPal already had, so that a
    Closed, archived or deleted one is expected CANCELLED rather than absent."""
    patients = {p["id"]: p for p in cliniko.records("patients")}
    invoices = {i["id"]: i for i in cliniko.records("invoices")}
    all_items = cliniko.records("invoice_items")
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in all_items:
        if not gone(item):
            items[str(link_id(item, "invoice"))].append(item)

    # Archived patients count too when looking for a shared email (in this seed no archived
    # patient shares one, so the choice does not change what is expected).
    emails = {pid: billing_email(p) for pid, p in patients.items() if usable(billing_email(p))}
    by_email: dict[str, list[str]] = defaultdict(list)
    for pid, email in emails.items():
        by_email[email.lower()].append(pid)
    shared = {
        pid: sorted(set(by_email[email.lower()]) - {pid})
        for pid, email in emails.items()
        if len(by_email[email.lower()]) > 1
    }

    expected: dict[str, Expected] = {}
    left_out: dict[str, str] = {}
    for cid, invoice in invoices.items():
        status = int(invoice["status"])
        patient_id = str(link_id(invoice, "patient"))
        voided = (
            "deleted"
            if invoice.get("deleted_at")
            else "archived"
            if invoice.get("archived_at")
            else "status 30 (Closed)"
            if status == CLOSED
            else None
        )
        if voided:
            if cid in was_in_paypal:
                status_wanted = "CANCELLED"
            else:
                left_out[cid] = f"{voided}: never created"
                continue
        elif status == OPEN_CREDIT:
            left_out[cid] = "status 40 (Open credit): parked"
            continue
        elif patient_id not in emails:
            left_out[cid] = f"patient {patient_id} has no usable email: parked"
            continue
        elif patient_id in shared:
            left_out[cid] = (
                f"patient {patient_id} shares its email with patient(s) "
                f"{', '.join(shared[patient_id])}: parked for review"
            )
            continue
        elif status == OPEN:
            status_wanted = "UNPAID"
        elif status == PAID:
            status_wanted = "MARKED_AS_PAID"
        else:
            raise AssertionError(f"Cliniko invoice {cid}: unknown status {status}")
        expected[cid] = Expected(
            cliniko_id=cid,
            number=f"CLK-{invoice['number']}",
            status=status_wanted,
            invoice_date=str(invoice["issue_date"]),
            total=Decimal(str(invoice["total_amount"])),
            tax_total=Decimal(str(invoice["tax_amount"])),
            tax_inclusive=int(invoice["calculation_method"]) == TAX_INCLUSIVE,
            email=emails.get(patient_id, ""),
            patient_id=patient_id,
            lines=sorted((line_of(i) for i in items[cid]), key=Line.sort_key),
            payment_date=sydney_date(invoice["closed_at"])
            if status_wanted == "MARKED_AS_PAID"
            else None,
        )
    return Clinic(invoices, patients, dict(items), all_items, emails, shared, expected, left_out)


# --- what PayPal holds ----------------------------------------------------------------------------


def paypal_by_reference(sandbox) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in sandbox.paypal.invoices():
        found[str(invoice["detail"].get("reference"))].append(invoice)
    return found


def paypal_lines(invoice: dict[str, Any]) -> list[Line]:
    lines = []
    for item in invoice.get("items") or []:
        discount = item.get("discount") or {}
        if discount.get("amount"):
            wanted: tuple[str, Decimal] | None = ("amount", Decimal(discount["amount"]["value"]))
        elif discount.get("percent") not in (None, ""):
            wanted = ("percent", Decimal(str(discount["percent"])))
        else:
            wanted = None
        tax = item.get("tax") or {}
        lines.append(
            Line(
                name=item.get("name", ""),
                quantity=Decimal(str(item["quantity"])),
                unit_amount=Decimal(str(item["unit_amount"]["value"])),
                tax_percent=Decimal(str(tax["percent"]))
                if tax.get("percent") not in (None, "")
                else None,
                discount=wanted,
            )
        )
    return sorted(lines, key=Line.sort_key)


def money(obj: dict[str, Any] | None) -> Decimal | None:
    return Decimal(str(obj["value"])) if obj and obj.get("value") is not None else None


def invoice_problems(want: Expected, got: dict[str, Any]) -> list[str]:
    """Differences a finance user would see between Cliniko's invoice and PayPal's copy."""
    cid, problems = want.cliniko_id, []

    def check(what: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            problems.append(
                f"invoice {cid} ({got.get('id')}): {what} is {actual!r}, expected {expected!r}"
            )

    detail = got.get("detail") or {}
    check("status", want.status, got.get("status"))
    check("invoice_number", want.number, detail.get("invoice_number"))
    if want.status == "CANCELLED":
        return problems  # what it showed before cancelling is checked by the earlier run
    amount = got.get("amount") or {}
    breakdown = amount.get("breakdown") or {}
    recipients = got.get("primary_recipients") or [{}]
    check("invoice_date", want.invoice_date, detail.get("invoice_date"))
    check("currency", "AUD", detail.get("currency_code"))
    check("amount currency", "AUD", amount.get("currency_code"))
    check("total (PayPal's amount.value)", want.total, money(amount))
    check("GST (PayPal's tax_total)", want.tax_total, money(breakdown.get("tax_total")))
    check(
        "tax_inclusive",
        want.tax_inclusive,
        (got.get("configuration") or {}).get("tax_inclusive", False),
    )
    check(
        "recipient email",
        want.email,
        (recipients[0].get("billing_info") or {}).get("email_address"),
    )
    lines = paypal_lines(got)
    check("line count", len(want.lines), len(lines))
    if len(lines) == len(want.lines):
        for n, (wanted_line, line) in enumerate(zip(want.lines, lines, strict=True)):
            check(f"line {n + 1}", wanted_line, line)
    transactions = (got.get("payments") or {}).get("transactions") or []
    if want.status == "MARKED_AS_PAID":
        check("payments recorded", 1, len(transactions))
        check("payment date(s)", [want.payment_date], [t.get("payment_date") for t in transactions])
        check("paid amount", want.total, money((got.get("payments") or {}).get("paid_amount")))
        check("amount due", Decimal("0"), money(got.get("due_amount")))
    else:
        check("payments recorded", 0, len(transactions))
    return problems


def paypal_problems(sandbox, clinic: Clinic) -> list[str]:
    """Every difference between PayPal and what Cliniko says it should hold."""
    found = paypal_by_reference(sandbox)
    problems = []
    for cid, copies in sorted(found.items()):
        if cid in clinic.expected and len(copies) > 1:
            problems.append(
                f"invoice {cid}: {len(copies)} PayPal invoices "
                f"({', '.join(c['id'] for c in copies)}), expected one"
            )
        elif cid not in clinic.expected:
            why = clinic.left_out.get(cid, "not a Cliniko invoice")
            problems.append(
                f"invoice {cid}: in PayPal as {copies[0]['id']} "
                f"({copies[0]['status']}), expected not ({why})"
            )
    for cid, want in sorted(clinic.expected.items()):
        if cid not in found:
            problems.append(f"invoice {cid}: missing from PayPal, expected {want.status}")
        else:
            problems.extend(invoice_problems(want, found[cid][0]))
    return problems


def report(problems: list[str], limit: int = 40) -> str:
    shown = "\n".join(problems[:limit])
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} difference(s) between Cliniko and PayPal:\n{shown}{more}"


def assert_only_these_changed(sandbox, before: dict, changed: Collection[str]) -> None:
    unchanged = [
        f"{inv['id']} (Cliniko {inv['detail'].get('reference')})"
        for inv in sandbox.paypal.invoices()
        if inv["id"] not in changed and inv != before.get(inv["id"])
    ]
    assert not unchanged, f"PayPal invoices changed that should not have: {unchanged}"


def written_paypal_ids(sandbox) -> dict[str, list[str]]:
    """PayPal invoice id -> the write calls made on it (method and path)."""
    out: dict[str, list[str]] = defaultdict(list)
    for call in sandbox.paypal.writes():
        rest = call.path[len(INVOICES_PATH) :] if call.path.startswith(INVOICES_PATH) else ""
        out[rest.split("/")[0] or call.path].append(f"{call.method} {call.path}")
    return dict(out)


# --- running the job ------------------------------------------------------------------------------


def run_job(project, sandbox, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`meltano run cliniko-to-paypal` against the sandbox, with this test's own target store."""
    return project.run(JOB, check=check)


@pytest.fixture
def synced(make_sandbox, meltano_project):
    """A seeded clinic after its first sync: (sandbox, project, clinic as read before the run)."""
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    clinic = read_clinic(sandbox.cliniko)
    run_job(project, sandbox)
    return sandbox, project, clinic


def assert_coverage(clinic: Clinic) -> None:
    """The seed must hold every case the rules distinguish, or the checks prove little."""
    invoices = clinic.invoices.values()
    statuses = Counter(int(i["status"]) for i in invoices if not gone(i))
    assert {OPEN, PAID, CLOSED, OPEN_CREDIT} <= set(statuses), f"statuses seeded: {statuses}"
    synced = clinic.expected.values()
    assert {w.tax_inclusive for w in synced} == {True, False}, (
        "need synced invoices with calculation_method 2 and 3"
    )
    lines = [line for w in synced for line in w.lines]
    rates = {line.tax_percent for line in lines}
    assert {Decimal(10), Decimal(0)} <= rates, f"need GST 10% and GST-free lines; got {rates}"
    kinds = Counter(line.discount[0] for line in lines if line.discount)
    assert kinds["percent"] and kinds["amount"], f"need both kinds of discount; got {kinds}"
    assert any(i.get("archived_at") for i in invoices), "need an archived invoice"
    assert any(i.get("deleted_at") for i in invoices), "need a deleted invoice"
    live_invoices = {cid for cid, i in clinic.invoices.items() if not gone(i)}
    assert any(
        gone(item) and link_id(item, "invoice") in live_invoices for item in clinic.all_items
    ), "need a deleted line on a live invoice"
    reasons = " | ".join(clinic.left_out.values())
    assert "no usable email" in reasons, "need a patient without a usable email"
    assert "shares its email" in reasons, "need patients sharing an email"
    statuses_synced = Counter(w.status for w in synced)
    assert statuses_synced["UNPAID"] >= 3 and statuses_synced["MARKED_AS_PAID"], statuses_synced


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_first_run_puts_every_invoice_in_paypal_as_cliniko_says(synced) -> None:
    sandbox, _, clinic = synced
    assert_coverage(clinic)

    # Time zones: a payment closed late in the UTC day is recorded on the next Sydney day.
    paid = [w for w in clinic.expected.values() if w.status == "MARKED_AS_PAID"]
    shifted = [
        w.cliniko_id
        for w in paid
        if utc_date(clinic.invoices[w.cliniko_id]["closed_at"]) != w.payment_date
    ]
    assert shifted, "the seed needs a paid invoice whose UTC and Sydney closing dates differ"

    found = paypal_by_reference(sandbox)
    duplicates = {cid: len(c) for cid, c in found.items() if len(c) > 1}
    assert not duplicates, f"Cliniko invoices in PayPal more than once: {duplicates}"
    # Which invoices are there (each once), then every field of each.
    problems = paypal_problems(sandbox, clinic)
    assert not problems, report(problems)


@pytest.mark.timeout(600)
def test_rerun_without_changes_writes_nothing(synced) -> None:
    sandbox, project, clinic = synced
    before = sandbox.paypal.invoices()
    sandbox.paypal.clear_call_log()
    sandbox.reset_stats()

    run_job(project, sandbox)

    writes = [f"{c.method} {c.path} -> {c.status}" for c in sandbox.paypal.writes()]
    assert not writes, f"a rerun with no change in Cliniko wrote to PayPal: {writes[:20]}"
    assert sandbox.paypal.invoices() == before, "PayPal changed on a rerun without changes"
    assert sandbox.stats()["by_path"] == ONE_REQUEST_PER_STREAM, (
        "a rerun with no changes should make one Cliniko request per stream "
        "(practitioners two: active and inactive)"
    )


@pytest.mark.timeout(600)
def test_changed_patient_email_updates_only_their_open_invoices(synced) -> None:
    sandbox, project, clinic = synced
    open_by_patient: dict[str, list[str]] = defaultdict(list)
    paid_by_patient: dict[str, list[str]] = defaultdict(list)
    for want in clinic.expected.values():
        mine = open_by_patient if want.status == "UNPAID" else paid_by_patient
        mine[want.patient_id].append(want.cliniko_id)
    # The patient with the most open invoices (and, to show paid ones are left alone, a paid one).
    patient_id = max(
        open_by_patient,
        key=lambda pid: (bool(paid_by_patient.get(pid)), len(open_by_patient[pid]), pid),
    )
    open_ids, paid_ids = sorted(open_by_patient[patient_id]), sorted(paid_by_patient[patient_id])
    patient = clinic.patients[patient_id]
    old_email = clinic.emails[patient_id]
    new_email = f"billing.{patient_id}@new-employer.example.com.au"
    assert new_email.lower() not in {e.lower() for e in clinic.emails.values()}
    # Change the address Cliniko bills to: invoice_email when the patient has one.
    which = "invoice_email" if (patient.get("invoice_email") or "").strip() else "email"
    found = paypal_by_reference(sandbox)
    for cid in open_ids:
        assert cid in found and found[cid][0]["status"] == "UNPAID", (
            f"invoice {cid} should be UNPAID in PayPal after the first run: "
            f"{[c['status'] for c in found.get(cid, [])]}"
        )
    paypal_ids = {found[cid][0]["id"]: cid for cid in open_ids}
    before = {inv["id"]: inv for inv in sandbox.paypal.invoices()}

    sandbox.cliniko.update("patients", patient_id, {which: f"  {new_email} "})
    sandbox.paypal.clear_call_log()
    run_job(project, sandbox)

    after = paypal_by_reference(sandbox)
    problems = []
    for cid in open_ids:
        got = after[cid][0]
        email = got["primary_recipients"][0]["billing_info"].get("email_address")
        if email != new_email:
            problems.append(
                f"open invoice {cid} ({got['id']}): recipient {email!r}, "
                f"expected the new {new_email!r}"
            )
    for cid in paid_ids:  # PayPal keeps a paid invoice as it was sent
        got = after[cid][0]
        email = got["primary_recipients"][0]["billing_info"].get("email_address")
        if got["status"] != "MARKED_AS_PAID" or email != old_email:
            problems.append(
                f"paid invoice {cid} ({got['id']}): {got['status']} to {email!r}, "
                f"expected MARKED_AS_PAID to {old_email!r} as before"
            )
    assert not problems, f"patient {patient_id} changed {which}:\n" + "\n".join(problems)

    written = written_paypal_ids(sandbox)
    others = {pid: calls for pid, calls in written.items() if pid not in paypal_ids}
    assert not others, (
        f"patient {patient_id}'s email change wrote to other PayPal invoices: {others}"
    )
    assert set(written) == set(paypal_ids), (
        f"expected writes on {sorted(paypal_ids)} (Cliniko {open_ids}); got {written}"
    )
    assert_only_these_changed(sandbox, before, paypal_ids)


@pytest.mark.timeout(600)
def test_paid_archived_and_deleted_in_cliniko_reach_paypal(synced) -> None:
    sandbox, project, clinic = synced
    open_ids = sorted(w.cliniko_id for w in clinic.expected.values() if w.status == "UNPAID")
    to_pay, to_archive, to_delete = open_ids[:3]
    found = paypal_by_reference(sandbox)
    paypal_id = {}
    for cid in (to_pay, to_archive, to_delete):
        assert cid in found and found[cid][0]["status"] == "UNPAID", (
            f"invoice {cid} should be UNPAID in PayPal after the first run"
        )
        paypal_id[cid] = found[cid][0]["id"]
    before = {inv["id"]: inv for inv in sandbox.paypal.invoices()}

    # Paid at 14:30 UTC the day after it was issued: 00:30 or 01:30 the next day in Sydney.
    issued = date.fromisoformat(clinic.invoices[to_pay]["issue_date"])
    closed_at = datetime.combine(issued + timedelta(days=1), time(14, 30), UTC)
    closed_text = closed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sydney_date(closed_text) != utc_date(closed_text)
    store = sandbox.cliniko
    store.update(
        "invoices", to_pay, {"status": PAID, "status_description": "Paid", "closed_at": closed_text}
    )
    store.archive("invoices", to_archive)
    store.delete("invoices", to_delete)
    assert store.get("invoices", to_delete)["deleted_at"], "invoices are soft-deleted in Cliniko"
    sandbox.paypal.clear_call_log()

    run_job(project, sandbox)

    # The three as Cliniko now says: paid on the Sydney date, the two voided ones CANCELLED.
    now = read_clinic(store, was_in_paypal=set(found))
    assert now.expected[to_pay].status == "MARKED_AS_PAID"
    assert now.expected[to_pay].payment_date == sydney_date(closed_text)
    assert now.expected[to_archive].status == now.expected[to_delete].status == "CANCELLED"
    changed = {to_pay, to_archive, to_delete}
    after = paypal_by_reference(sandbox)
    problems = []
    for cid in sorted(changed):
        copies = after.get(cid, [])
        if len(copies) != 1:
            problems.append(f"invoice {cid}: {len(copies)} PayPal invoices, expected one")
        else:
            problems.extend(invoice_problems(now.expected[cid], copies[0]))
    assert not problems, report(problems)

    written = written_paypal_ids(sandbox)
    wanted_ids = {paypal_id[cid] for cid in changed}
    others = {pid: calls for pid, calls in written.items() if pid not in wanted_ids}
    assert not others, f"PayPal invoices written that did not change in Cliniko: {others}"
    paid_calls = written.get(paypal_id[to_pay], [])
    assert any(c.startswith("POST") and c.endswith("/payments") for c in paid_calls), (
        f"no payment recorded on {paypal_id[to_pay]} (Cliniko {to_pay}): {paid_calls}"
    )
    for cid in (to_archive, to_delete):
        calls = written.get(paypal_id[cid], [])
        assert any(c.startswith("POST") and c.endswith("/cancel") for c in calls), (
            f"{paypal_id[cid]} (Cliniko {cid}) not cancelled: {calls}"
        )
    assert_only_these_changed(sandbox, before, wanted_ids)


@pytest.mark.timeout(600)
def test_the_run_summary_accounts_for_every_invoice(synced) -> None:
    sandbox, project, clinic = synced
    store = Store(f"sqlite:///{project.workdir / 'store.db'}")
    summary = store.runs(limit=1)[0]["counts"]
    outcomes = summary["invoices"]
    assert sum(outcomes.values()) == len(clinic.invoices), outcomes
    assert outcomes["created"] == len(clinic.expected), outcomes
    assert summary["read"]["invoices"] == len(clinic.invoices)
    assert summary["read"]["customers"] == len(clinic.patients)
    # Owner: no practitioner of the seed is in the shipped owners table.
    memos = {i["detail"].get("memo") for i in sandbox.paypal.invoices()}
    assert memos and all(m.endswith(", owner unassigned") for m in memos), memos


SHIPPED_RULES = (
    Path(__file__).resolve().parents[1] / "transforms" / "map_cliniko_paypal" / "mapping.yaml"
)


@pytest.mark.timeout(600)
def test_rules_change_by_editing_yaml_only(make_sandbox, meltano_project, tmp_path) -> None:
    """Open credit skipped instead of parked, and one business only: a copy of the shipped
    YAML with two edits, named by MAP_CLINIKO_PAYPAL_MAPPING_FILE. A mistake in the copy stops
    the run with its file and line."""
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    clinic = read_clinic(sandbox.cliniko)
    business = Counter(str(link_id(i, "business")) for i in clinic.invoices.values()).most_common(
        1
    )[0][0]
    rules = SHIPPED_RULES.read_text()
    rules = rules.replace(
        'park: "open credit: refund or apply it by hand in PayPal"', 'skip: "open credit"'
    )
    rules = rules.replace(
        "filters:\n  patients: []\n  invoices:\n",
        "filters:\n  patients: []\n  invoices:\n"
        f"    - keep: \"business_id == '{business}'\"\n      action: skip\n"
        "      reason: other site\n",
    )
    custom = tmp_path / "rules.yaml"
    custom.write_text(rules)
    project.env["MAP_CLINIKO_PAYPAL_MAPPING_FILE"] = str(custom)
    run_job(project, sandbox)

    store = Store(f"sqlite:///{project.workdir / 'store.db'}")
    reasons = " | ".join(
        r for _, r, _ in store.run_reasons(store.runs(limit=1)[0]["id"], "skipped")
    )
    assert "status 40: open credit" in reasons and "other site" in reasons, reasons
    parked = " | ".join(r for _, r, _ in store.run_reasons(store.runs(limit=1)[0]["id"], "parked"))
    assert "open credit" not in parked
    in_paypal = set(paypal_by_reference(sandbox))
    assert in_paypal, "the chosen business has invoices in PayPal"
    assert all(str(link_id(clinic.invoices[c], "business")) == business for c in in_paypal)

    custom.write_text(rules.replace("    20: PAID", "    20: PAYED"))
    failed = run_job(project, sandbox, check=False)
    assert failed.returncode != 0
    line = next(n for n, text in enumerate(custom.read_text().splitlines(), 1) if "PAYED" in text)
    assert f"{custom}:{line}:" in failed.stderr + failed.stdout
