"""`meltano run cliniko-to-paypal` end to end: Cliniko sandbox -> the pipeline -> PayPal.

What PayPal should show is worked out from the Cliniko sandbox's own records, by the rules of
the shipped mapping as a finance team states them (see `tests/paypal_expected.py`), without
importing the mapper or the target: a bug in either cannot hide behind a shared helper.

Every test runs twice, once per store backend of target-paypal and paypal-ops (`[sqlite]`, and
`[postgresql]` on the session's throwaway cluster: the `store_backend` and `store_url` fixtures),
but for draft mode and rules edited in YAML: what they change is the mapper's and the target's
choices, not what the store does, so they run on SQLite only (CI time).
"""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from meltano_project import MeltanoProject
from paypal_expected import (
    CLOSED,
    OPEN,
    OPEN_CREDIT,
    PAID,
    Clinic,
    gone,
    invoice_problems,
    link_id,
    paypal_by_reference,
    paypal_problems,
    project_invoicer,
    read_clinic,
    report,
    sydney_date,
    utc_date,
)

from clinic_sandbox import SandboxServer
from clinic_sandbox.cliniko.money import invoice_totals, item_amounts
from target_paypal.apply import TO_PAYER
from target_paypal.store import Store

JOB = "cliniko-to-paypal"
SQLITE_ONLY = pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)
# Small enough for a quick run, big enough to hold every case (asserted in `assert_coverage`).
CLINIC = {"seed": 42, "patients": 120, "invoices": 200}
# Every list request of the job's six streams (practitioners reads active and inactive).
ONE_REQUEST_PER_STREAM = {
    "/v1/patients": 1,
    "/v1/invoices": 1,
    "/v1/invoice_items": 1,
    "/v1/practitioners": 1,
    "/v1/practitioners/inactive": 1,
    "/v1/users": 1,
    "/v1/individual_appointments": 1,
}
INVOICES_PATH = "/v2/invoicing/invoices/"
# The clinic's ABN and website, set as a clinic would (environment; meltano.yml's dev
# environment names the clinic and its PayPal email), so every invoicer field is checked.
INVOICER_ENV = {
    "TARGET_PAYPAL_INVOICER_TAX_ID": "51 824 753 556",
    "TARGET_PAYPAL_INVOICER_WEBSITE": "https://sunrise-clinic.example",
}


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


def clinic_project(project: MeltanoProject, **env: str) -> MeltanoProject:
    """The project with the clinic's invoicer settings (and `env`) in its environment."""
    project.env.update({**INVOICER_ENV, **env})
    return project


def expected_now(project: MeltanoProject, **kwargs) -> Clinic:
    """What PayPal should hold now, for the target settings this project runs with."""
    invoicer = project_invoicer(project.env)
    return read_clinic(project.sandbox.cliniko, invoicer=invoicer, **kwargs)


@pytest.fixture
def synced(make_sandbox, meltano_project, store_url):
    """A seeded clinic after its first sync: (sandbox, project, clinic as read before the run),
    for a test that changes it (once per store backend)."""
    sandbox = make_sandbox(**CLINIC)
    project = clinic_project(meltano_project(sandbox, store_url))
    clinic = expected_now(project)
    run_job(project, sandbox)
    return sandbox, project, clinic


@pytest.fixture(scope="module")
def first_sync(tmp_path_factory, store_backend, make_store_url):
    """The same, shared by the tests that only look at the first sync (and a no-change rerun,
    which leaves it as it was), one per store backend."""
    with SandboxServer(**CLINIC) as sandbox:
        folder = tmp_path_factory.mktemp(f"first-sync-{store_backend}")
        store_url = make_store_url(store_backend, folder)
        project = clinic_project(MeltanoProject(folder, sandbox, store_url))
        clinic = expected_now(project)
        run_job(project, sandbox)
        yield sandbox, project, clinic


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
    tax_names = {line.tax_name for line in lines}
    assert {"GST", "GST-free"} <= tax_names, f"need both tax names on lines; got {tax_names}"
    assert any(clinic.patients[w.patient_id].get("preferred_first_name") for w in synced), (
        "need a synced patient with a preferred first name"
    )
    assert all(w.address and w.phones for w in synced), "every seeded patient has both"
    assert any(i.get("archived_at") for i in invoices), "need an archived invoice"
    assert any(i.get("deleted_at") for i in invoices), "need a deleted invoice"
    live_invoices = {cid for cid, i in clinic.invoices.items() if not gone(i)}
    assert any(
        gone(item) and link_id(item, "invoice") in live_invoices for item in clinic.all_items
    ), "need a deleted line on a live invoice"
    reasons = " | ".join(clinic.left_out.values())
    assert "no usable email" in reasons, "need a patient without a usable email"
    assert "shares its email" in reasons, "need patients sharing an email"
    payers = Counter(w.business_name for w in synced if w.business_name)
    assert {"Coastal Plan Management", "Sample Health Insurance"} <= set(payers), (
        f"need plan-managed and insurer-billed invoices delivered to the payer; got {payers}"
    )
    readdressed = [
        w for w in synced if w.business_name and clinic.invoices[w.cliniko_id]["invoice_to"]
        and not clinic.invoices[w.cliniko_id]["invoice_to"].startswith(w.business_name)
    ]
    assert readdressed, "need a payer's invoice made before its billing details named the payer"
    reasons_out = Counter(clinic.left_out.values())
    assert reasons_out["a reversal: never an invoice in PayPal"] >= 3, "need reversals"
    assert reasons_out["reversed in full before it reached PayPal: never created"], reasons_out
    assert any(r.startswith(("reversed in part", "paid, then reversed")) for r in reasons_out)
    merged = {pid for pid, p in clinic.patients.items() if link_id(p, "merged_with_patient")}
    assert any(link_id(clinic.invoices[w.cliniko_id], "patient") in merged for w in synced), (
        "need an invoice of a merged patient, delivered to the patient it was merged into"
    )
    statuses_synced = Counter(w.status for w in synced)
    assert statuses_synced["UNPAID"] >= 3 and statuses_synced["MARKED_AS_PAID"], statuses_synced


def live_items(cliniko, invoice_id: str) -> list[dict]:
    return [
        i
        for i in cliniko.records("invoice_items")
        if link_id(i, "invoice") == invoice_id and not gone(i)
    ]


def edit_item(cliniko, item: dict, quantity: Decimal, unit_price: Decimal, method: int) -> None:
    """Change an invoice item's quantity and unit price as Cliniko would: its discount, net,
    tax and total worked out again (by the sandbox's money rule) and its updated_at bumped."""
    monetary = bool(item.get("is_monetary_discount"))
    percent = item.get("discount_percentage")
    amounts = item_amounts(
        quantity,
        unit_price,
        Decimal(str(item["tax_rate"])),
        method,
        None if monetary or percent in (None, "") else Decimal(str(percent)),
        Decimal(str(item["discounted_amount"])) if monetary else None,
    )
    cliniko.update(
        "invoice_items",
        item["id"],
        {
            "quantity": f"{quantity:.1f}",
            "unit_price": str(unit_price),
            "discounted_amount": str(amounts.discount),
            "net_price": str(amounts.net_price),
            "tax_amount": str(amounts.tax),
            "total_including_tax": float(amounts.total_including_tax),
        },
    )


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_first_run_puts_every_invoice_in_paypal_as_cliniko_says(first_sync) -> None:
    sandbox, _, clinic = first_sync
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
def test_rerun_without_changes_writes_nothing(first_sync) -> None:
    sandbox, project, clinic = first_sync
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
def test_lines_edited_after_the_sync_update_paypal(synced) -> None:
    """Two open invoices already in PayPal get a line edited in Cliniko: one line repriced (the
    invoice's totals follow, so the invoice changes too), and on another invoice a line's
    quantity doubled at half the price, the same line total, so only the line changes. PayPal
    must then show both invoices as Cliniko does, field by field, and nothing else changes."""
    sandbox, project, clinic = synced
    store = sandbox.cliniko
    found = paypal_by_reference(sandbox)
    open_ids = sorted(
        cid
        for cid, w in clinic.expected.items()
        if w.status == "UNPAID" and len(found.get(cid, [])) == 1
    )
    assert len(open_ids) >= 2, "need two open invoices in PayPal"
    repriced_id = open_ids[0]
    # An item for one, at quantity 1 and a price in even cents, so it halves exactly.
    halved_id, halved_item = next(
        (cid, item)
        for cid in open_ids[1:]
        for item in live_items(store, cid)
        if Decimal(str(item["quantity"])) == 1 and Decimal(str(item["unit_price"])) * 50 % 1 == 0
    )
    paypal_ids = {found[cid][0]["id"]: cid for cid in (repriced_id, halved_id)}
    before = {inv["id"]: inv for inv in sandbox.paypal.invoices()}

    # The repriced line: $10 more a unit; the invoice's totals follow, as Cliniko keeps them.
    invoice = clinic.invoices[repriced_id]
    method = int(invoice["calculation_method"])
    item = live_items(store, repriced_id)[0]
    price = Decimal(str(item["unit_price"])) + 10
    edit_item(store, item, Decimal(str(item["quantity"])), price, method)
    store.update("invoices", repriced_id, invoice_totals(live_items(store, repriced_id)))
    # The halved line: same total, so Cliniko's invoice record stays as it was.
    method = int(clinic.invoices[halved_id]["calculation_method"])
    old_price = Decimal(str(halved_item["unit_price"]))
    edit_item(store, halved_item, Decimal(2), old_price / 2, method)
    assert invoice_totals(live_items(store, halved_id)) == {
        k: clinic.invoices[halved_id][k]
        for k in ("net_amount", "tax_amount", "total_amount", "discounted_amount")
    }, "halving the price of a doubled quantity should leave the invoice's totals alone"
    assert store.get("invoices", halved_id) == clinic.invoices[halved_id]
    sandbox.paypal.clear_call_log()

    run_job(project, sandbox)

    now = expected_now(project)
    assert now.expected[repriced_id].total > clinic.expected[repriced_id].total
    assert now.expected[halved_id].lines != clinic.expected[halved_id].lines
    after = paypal_by_reference(sandbox)
    problems = []
    for what, cid in (
        ("repriced line", repriced_id),
        ("halved price, doubled quantity", halved_id),
    ):
        copies = after.get(cid, [])
        if len(copies) != 1:
            problems.append(f"invoice {cid}: {len(copies)} PayPal invoices, expected one")
            continue
        problems.extend(f"{what}: {p}" for p in invoice_problems(now.expected[cid], copies[0]))
    assert not problems, report(problems)
    written = written_paypal_ids(sandbox)
    others = {pid: calls for pid, calls in written.items() if pid not in paypal_ids}
    assert not others, f"PayPal invoices written whose lines did not change: {others}"
    assert_only_these_changed(sandbox, before, paypal_ids)


@SQLITE_ONLY
@pytest.mark.timeout(600)
def test_draft_mode_keeps_open_invoices_as_unsent_drafts(
    make_sandbox, meltano_project, store_url
) -> None:
    """`send_invoices: false` (TARGET_PAYPAL_SEND_INVOICES=false): open invoices are complete
    drafts in PayPal, never sent. Paid ones are still recorded as paid (MARKED_AS_PAID on the
    Sydney date): PayPal records a payment only on a sent invoice, so the target sends them
    without notifying the patient (send_to_recipient false; the sandbox does not log that flag).
    Then a draft paid in Cliniko becomes MARKED_AS_PAID, and an archived one is deleted."""
    sandbox = make_sandbox(**CLINIC)
    project = clinic_project(
        meltano_project(sandbox, store_url), TARGET_PAYPAL_SEND_INVOICES="false"
    )
    clinic = expected_now(project, send_invoices=False)
    statuses = Counter(w.status for w in clinic.expected.values())
    assert statuses["DRAFT"] >= 3 and statuses["MARKED_AS_PAID"], statuses

    run_job(project, sandbox)

    problems = paypal_problems(sandbox, clinic)
    assert not problems, report(problems)
    found = paypal_by_reference(sandbox)
    paypal_id = {cid: copies[0]["id"] for cid, copies in found.items()}
    written = written_paypal_ids(sandbox)
    drafts = sorted(cid for cid, w in clinic.expected.items() if w.status == "DRAFT")
    sent = {
        cid: written[paypal_id[cid]]
        for cid in drafts
        if any(c.endswith("/send") for c in written.get(paypal_id[cid], []))
    }
    assert not sent, f"draft mode sent open invoices: {sent}"
    for cid, want in clinic.expected.items():
        if want.status == "MARKED_AS_PAID":
            calls = written.get(paypal_id[cid], [])
            assert calls[-2:] == [
                f"POST {INVOICES_PATH}{paypal_id[cid]}/send",
                f"POST {INVOICES_PATH}{paypal_id[cid]}/payments",
            ], f"paid invoice {cid} ({paypal_id[cid]}): sent then paid? {calls}"

    # A day later: one draft paid in Cliniko, one archived.
    to_pay, to_archive = drafts[:2]
    closed_text = f"{clinic.invoices[to_pay]['issue_date']}T23:30:00Z"
    sandbox.cliniko.update(
        "invoices", to_pay, {"status": PAID, "status_description": "Paid", "closed_at": closed_text}
    )
    sandbox.cliniko.archive("invoices", to_archive)
    before = {inv["id"]: inv for inv in sandbox.paypal.invoices()}
    sandbox.paypal.clear_call_log()

    run_job(project, sandbox)

    # A draft never reached the patient: archived, it is deleted (not cancelled).
    now = expected_now(project, send_invoices=False)
    assert now.expected[to_pay].status == "MARKED_AS_PAID" and to_archive in now.left_out
    problems = paypal_problems(sandbox, now)
    assert not problems, report(problems)
    written = written_paypal_ids(sandbox)
    assert written == {
        paypal_id[to_pay]: [
            f"POST {INVOICES_PATH}{paypal_id[to_pay]}/send",
            f"POST {INVOICES_PATH}{paypal_id[to_pay]}/payments",
        ],
        paypal_id[to_archive]: [f"DELETE {INVOICES_PATH}{paypal_id[to_archive]}"],
    }, f"expected the paid draft sent and paid, the archived one deleted, nothing else: {written}"
    assert_only_these_changed(sandbox, before, {paypal_id[to_pay], paypal_id[to_archive]})
    emailed = [n for n in sandbox.paypal.notifications() if n["recipient_emailed"]]
    assert not emailed, f"draft mode emailed a patient: {emailed[:5]}"


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
    now = expected_now(project, was_in_paypal=set(found))
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
def test_the_run_summary_accounts_for_every_invoice(first_sync) -> None:
    sandbox, project, clinic = first_sync
    store = Store(project.store_url)
    summary = store.runs()[-1]["counts"]  # the first run's (a rerun may have followed)
    outcomes = summary["invoices"]
    reversals = sum(1 for i in clinic.invoices.values() if link_id(i, "original_invoice"))
    assert sum(outcomes.values()) == len(clinic.invoices) - reversals, outcomes
    assert outcomes["created"] == len(clinic.expected), outcomes
    assert summary["read"]["invoices"] + summary["read"]["reversals"] == len(clinic.invoices)
    assert summary["read"]["customers"] == len(clinic.patients)
    to_payers = sum(
        n
        for outcome in ("created", "updated")
        for _, reason, n in store.run_reasons(store.runs()[-1]["id"], outcome)
        if reason == TO_PAYER
    )
    assert to_payers == sum(1 for w in clinic.expected.values() if w.business_name)
    # Owner: no practitioner of the seed is in the shipped owners table.
    memos = {i["detail"].get("memo") for i in sandbox.paypal.invoices()}
    assert memos and all(m.endswith(", owner unassigned") for m in memos), memos


SHIPPED_RULES = (
    Path(__file__).resolve().parents[1] / "transforms" / "map_cliniko_paypal" / "mapping.yaml"
)


@SQLITE_ONLY
@pytest.mark.timeout(600)
def test_rules_change_by_editing_yaml_only(
    make_sandbox, meltano_project, store_url, tmp_path
) -> None:
    """Open credit skipped instead of parked, and one business only: a copy of the shipped
    YAML with two edits, named by MAP_CLINIKO_PAYPAL_MAPPING_FILE. A mistake in the copy stops
    the run with its file and line."""
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox, store_url)
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

    store = Store(project.store_url)
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
