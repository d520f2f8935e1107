"""Who PayPal emails: an open invoice's patient once, when it is sent; a paid invoice's patient
never (it was paid at the clinic); nobody on an update or a cancel; the clinic never.

The sandbox records, for every send, update, cancel and payment call, whom PayPal emailed by the
call's notification flags and PayPal's documented defaults (an update emails both sides unless
told not to).
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from paypal_expected import paypal_by_reference, read_clinic

JOB = "cliniko-to-paypal"
CLINIC = {"seed": 42, "patients": 60, "invoices": 100}


def emails_by_invoice(sandbox) -> dict[str, list[dict]]:
    """PayPal invoice id -> the calls that emailed someone."""
    sent: dict[str, list[dict]] = defaultdict(list)
    for notice in sandbox.paypal.notifications():
        if notice["recipient_emailed"] or notice["invoicer_emailed"]:
            sent[notice["invoice_id"]].append(notice)
    return sent


@pytest.mark.timeout(900)
def test_only_open_invoices_email_their_patient_once(make_sandbox, meltano_project) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    clinic = read_clinic(sandbox.cliniko)

    project.run(JOB)

    found = paypal_by_reference(sandbox)
    emailed = emails_by_invoice(sandbox)
    problems = []
    for cid, want in sorted(clinic.expected.items()):
        paypal_id = found[cid][0]["id"]
        notices = emailed.get(paypal_id, [])
        who = [(n["operation"], n["recipient_emailed"], n["invoicer_emailed"]) for n in notices]
        wanted = [("send", True, False)] if want.status == "UNPAID" else []
        if who != wanted:
            problems.append(f"invoice {cid} ({want.status}): emailed {who}, expected {wanted}")
    assert not problems, "\n".join(problems[:20])
    assert any(w.status == "MARKED_AS_PAID" for w in clinic.expected.values())

    # A change to every open invoice (the patient's email): updated without emailing anyone.
    unpaid = sorted(w.patient_id for w in clinic.expected.values() if w.status == "UNPAID")
    patient = unpaid[0]
    sandbox.cliniko.update("patients", patient, {"email": f"new-{patient}@example.com"})
    sandbox.paypal.notices.clear()

    project.run(JOB)

    updates = [n for n in sandbox.paypal.notifications() if n["operation"] == "update"]
    assert updates, "the patient's open invoices were not updated"
    assert emails_by_invoice(sandbox) == {}, "an update emailed someone"
