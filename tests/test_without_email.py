"""Patients without an email, end to end (`customers.missing_email: without_email`).

`meltano run cliniko-to-paypal` with that rule on the seeded clinic: every invoice of a patient
with no email at all is in PayPal, field by field as Cliniko says, with no recipient email, and
nobody was emailed about it; a patient whose email is invalid is still parked. Then `paypal-ops
links` gives the front desk each open one's pay link and QR code, and reconcile finds PayPal
matching Cliniko.

The same rules put the practitioner's name on the memo (`{practitioner}`) and the invoice's
extra patient information in the recipient's additional information (`bill_to.
extra_information: additional_info`: an NDIS participant or policy number for the payer), and
the patient's "Funding type" custom field on the memo, while a patient filter on that field
skips workers-cover patients, and each line says when and by whom the patient was seen
(`invoices.line_description` with `{service_date}`, from the appointments stream), and each of
the seeded businesses invoices as itself (`invoicers.by_business`), the last from a PayPal
account of its own (its email, and the variables holding its credentials), while the invoices
of a location opened later are parked naming it; so the run also checks that these reach every
PayPal invoice, in the right account, through the tap and mapper.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from paypal_expected import (
    billing_email,
    custom_fields,
    link_id,
    paypal_by_reference,
    paypal_problems,
    project_invoicer,
    read_clinic,
    report,
)
from test_pipeline import CLINIC, JOB, SHIPPED_RULES

from target_paypal.store import Store

MEMO = "Cliniko invoice {number}, owner {owner}, seen by {practitioner}, {custom[Funding type]}"
EXTRA = "additional_info"
LINE = "Seen {service_date} by {practitioner}"
WORKERS_COVER = "Workers cover"  # skipped by a patient filter on a custom field


def workers_cover(patient: dict) -> bool:
    return custom_fields(patient)["Funding type"] == WORKERS_COVER


NEW_LOCATION = "Harbourside Physio Penrith"  # opened after the rules were written
# The last seeded business has a PayPal account of its own (a second sandbox merchant).
OWN_ID, OWN_SECRET, OWN_EMAIL = "harbourside-south-id", "harbourside-south-secret", \
    "accounts@harbourside-south.example"
OWN_VARIABLES = {"SOUTH_PAYPAL_CLIENT_ID": OWN_ID, "SOUTH_PAYPAL_CLIENT_SECRET": OWN_SECRET}


def invoicers_of(cliniko) -> dict[str, dict]:
    """`invoicers.by_business` for the seed's businesses (PayPal's names): the first with all
    its details, the others with their name and ABN, the last with its own PayPal account's
    email too. A business opened later is not listed, so its invoices are parked naming it."""
    seeded = [b for b in cliniko.records("businesses") if b["business_name"] != NEW_LOCATION]
    first, *others = sorted(seeded, key=lambda b: b["id"])
    invoicers = {
        first["id"]: {
            "business_name": first["business_name"],
            "tax_id": first["business_registration_value"],
            "logo_url": "https://harbourside-physio.example.com.au/logo.png",
            "address": {"address_line_1": first["address_1"], "admin_area_2": first["city"],
                        "admin_area_1": first["state"], "postal_code": first["post_code"],
                        "country_code": "AU"},
        },
        **{other["id"]: {"business_name": other["business_name"],
                         "tax_id": other["business_registration_value"]} for other in others},
    }  # fmt: skip
    invoicers[others[-1]["id"]]["email_address"] = OWN_EMAIL
    return invoicers


def open_a_new_location(cliniko, invoice_ids: list[str]) -> str:
    """A business added in Cliniko after the rules were written, and these invoices made there."""
    business = cliniko.create("businesses", {"business_name": NEW_LOCATION,
                                             "display_name": NEW_LOCATION, "country_code": "AU"})
    for invoice_id in invoice_ids:
        cliniko.update("invoices", invoice_id, {"business_id": business["id"]})
    return str(business["id"])


def invoicers_yaml(invoicers: dict[str, dict]) -> str:
    """The same as the rules file's `invoicers` block."""
    names = {"address_line_1": "line1", "admin_area_2": "city", "admin_area_1": "state",
             "postal_code": "postal_code", "country_code": "country_code"}  # fmt: skip
    own = dict(zip(("client_id_env", "client_secret_env"), OWN_VARIABLES, strict=True))
    by_business = {
        business: {
            **{k: v for k, v in fields.items() if k not in ("address", "email_address")},
            **({"email": fields["email_address"], **own} if "email_address" in fields else {}),
            **({"address": {names[k]: v for k, v in fields["address"].items()}}
               if "address" in fields else {}),
        }
        for business, fields in invoicers.items()
    }  # fmt: skip
    return "invoicers:\n" + "".join(
        f"  {line}\n" for line in yaml.safe_dump({"by_business": by_business}).splitlines()
    ) + "  other_businesses: park\n"


def expected_by_these_rules(project, cliniko, was_in_paypal=()):
    """What PayPal should hold under `rules_without_email` (the oracle, told each rule)."""
    return read_clinic(
        cliniko,
        was_in_paypal=was_in_paypal,
        invoicer=project_invoicer(project.env),
        without_email=True,
        memo=MEMO,
        extra_information=EXTRA,
        skip_patient=workers_cover,
        line_description=LINE,
        reversals_paid="refund",
        invoicers=invoicers_of(cliniko),
    )


def rules_without_email(folder: Path, cliniko) -> Path:
    text = SHIPPED_RULES.read_text()
    shipped_invoicers = "invoicers:\n"
    start = text.index(shipped_invoicers)
    end = text.index("\ninvoices:\n", start) + 1
    text = text[:start] + invoicers_yaml(invoicers_of(cliniko)) + "\n" + text[end:]
    assert "  missing_email: park\n" in text, "the shipped mapping.yaml's missing_email moved"
    path = folder / "rules.yaml"
    text = text.replace("  missing_email: park\n", "  missing_email: without_email\n")
    shipped_memo = 'memo: "Cliniko invoice {number}, owner {owner}"'
    assert shipped_memo in text, "the shipped mapping.yaml's memo changed"
    assert "  extra_information: none\n" in text, "the shipped bill_to.extra_information moved"
    text = text.replace("  extra_information: none\n", "  extra_information: additional_info\n")
    assert "    paid: park\n" in text, "the shipped invoices.reversals.paid moved"
    text = text.replace("    paid: park\n", "    paid: refund\n")
    assert "  line_description: null\n" in text, "the shipped line_description moved"
    text = text.replace("  line_description: null\n", f'  line_description: "{LINE}"\n')
    assert "  patients: []\n" in text, "the shipped filters.patients moved"
    text = text.replace(
        "  patients: []\n",
        f"  patients:\n    - keep: \"custom('Funding type') != '{WORKERS_COVER}'\"\n"
        "      action: skip\n      reason: workers cover is claimed through the insurer's portal\n",
    )
    path.write_text(text.replace(shipped_memo, f'memo: "{MEMO}"'))
    return path


@pytest.mark.timeout(600)
def test_patients_without_email_are_invoiced_by_link_and_qr_code(
    make_sandbox, meltano_project, tmp_path
) -> None:
    sandbox = make_sandbox(**CLINIC)
    second = sandbox.add_paypal_account(OWN_ID, OWN_SECRET, OWN_EMAIL)
    project = meltano_project(sandbox)
    rules = rules_without_email(tmp_path, sandbox.cliniko)
    project.env["MAP_CLINIKO_PAYPAL_MAPPING_FILE"] = str(rules)
    project.env.update(OWN_VARIABLES)  # where the pipeline (and paypal-ops) runs
    cliniko = sandbox.cliniko
    before = expected_by_these_rules(project, cliniko)
    no_email = {pid for pid, p in before.patients.items() if not billing_email(p)}
    # A patient with an open invoice gets a typo for an email: still parked, to be corrected.
    typo_invoice = next(
        cid
        for cid, want in sorted(before.expected.items())
        if want.status == "UNPAID" and want.patient_id not in no_email
    )
    typo_patient = before.expected[typo_invoice].patient_id
    cliniko.update("patients", typo_patient, {"email": "front.desk@clinic", "invoice_email": None})
    moved = [
        cid for cid, want in sorted(before.expected.items())
        if want.status == "UNPAID" and want.patient_id not in no_email | {typo_patient}
    ][-2:]
    new_location = open_a_new_location(cliniko, moved)
    clinic = expected_by_these_rules(project, cliniko)
    sent_without = {c for c, w in clinic.expected.items() if w.patient_id in no_email}
    open_without = {c for c in sent_without if clinic.expected[c].status == "UNPAID"}
    assert open_without and sent_without - open_without, "the seed lacks such invoices"
    assert typo_invoice in clinic.left_out
    extra = {w.additional_info.split()[0] for w in clinic.expected.values() if w.additional_info}
    assert {"NDIS", "Policy", "Medicare:"} <= extra, f"the seed lacks extra information: {extra}"
    assert any("skipped by a filter" in why for why in clinic.left_out.values())
    assert any(w.memo.endswith(", NDIS plan managed") for w in clinic.expected.values())
    refunded = [w for w in clinic.expected.values() if w.status == "PARTIALLY_REFUNDED"]
    assert refunded, "the seed needs a paid invoice reversed in part"
    seen = [w.line_description or "" for w in clinic.expected.values()]
    assert any(s.startswith("Seen date unknown by ") for s in seen), "no invoice lacks a visit"
    assert sum(bool(re.match(r"Seen \d{4}-\d\d-\d\d by \w", s)) for s in seen) > 10
    no_invoicer = {c for c, why in clinic.left_out.items() if why.startswith("business ")}
    by_business = {w.invoicer.get("business_name") for w in clinic.expected.values()}
    assert no_invoicer == set(moved) and len(by_business) == 3, (no_invoicer, by_business)

    project.run(JOB)

    problems = paypal_problems(sandbox, clinic)  # recipient email absent on exactly those
    assert not problems, report(problems)
    found = paypal_by_reference(sandbox)
    # The business with its own account: its invoices there, and there only, from its email.
    theirs = {c for c, w in clinic.expected.items() if w.invoicer["email_address"] == OWN_EMAIL}
    assert theirs and {i["detail"]["reference"] for i in second.invoices()} == theirs
    for cid in sent_without:
        account = second if cid in theirs else sandbox.paypal
        notices = account.notifications(found[cid][0]["id"])
        assert notices and not any(n["recipient_emailed"] for n in notices), (cid, notices)
    store = Store(project.store_url)
    outcomes = store.run_invoice_outcomes(store.runs(limit=1)[0]["id"])
    assert outcomes[typo_invoice] == "parked"
    letters = {d["record_id"]: d["reason"] for d in store.open_dead_letters()}
    for cid in no_invoicer:
        assert letters[cid].endswith(f"business {new_location} has no invoicer: add it under the "
                                     "mapping's invoicers.by_business, or set "
                                     "invoicers.other_businesses to default"), letters[cid]
    assert {outcomes[c] for c in sent_without} == {"created"}, outcomes

    listed = project.meltano(
        "invoke",
        "paypal-ops",
        "links",
        "--json",
        "--qr-dir",
        str(tmp_path / "qr"),
        env=project.paypal_env(),
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    rows = {row["invoice_id"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == open_without
    for cid, row in rows.items():
        invoice = found[cid][0]
        assert row["pay_link"] == invoice["detail"]["metadata"]["recipient_view_url"]
        assert Path(row["qr_code"]).read_bytes().startswith(b"\x89PNG")
        assert str(link_id(clinic.invoices[cid], "patient")) in no_email

    project.run("reconcile")
    report_file = json.loads((project.workdir / "reconcile" / "reconcile.json").read_text())
    assert report_file["items"] == [], report_file["items"]
    # Each business's own ABN files its own GST: reconciled apart, each to the cent.
    abns = {fields["tax_id"] for fields in invoicers_of(cliniko).values()}
    gst = report_file["gst_by_month"]
    assert {row["abn"] for row in gst} == abns, gst
    assert {row["difference"] for row in gst} == {"0.00"}, gst

    # Cliniko reverses an open and a paid invoice PayPal holds: the next run cancels the open
    # one and records the paid one's refund (invoices.reversals.paid: refund).
    open_one = next(c for c, w in sorted(clinic.expected.items()) if w.status == "UNPAID")
    paid_one = next(c for c, w in sorted(clinic.expected.items()) if w.status == "MARKED_AS_PAID")
    number = max(int(i["number"]) for i in clinic.invoices.values())
    for n, original in enumerate((open_one, paid_one), start=1):
        reverse(cliniko, clinic.invoices[original], number + n)
    was_in_paypal = set(paypal_by_reference(sandbox))
    project.run(JOB)
    after = expected_by_these_rules(project, cliniko, was_in_paypal)
    assert (after.expected[open_one].status, after.expected[paid_one].status) == (
        "CANCELLED", "MARKED_AS_REFUNDED")
    problems = paypal_problems(sandbox, after)
    assert not problems, report(problems)
    # Reconcile checks them as the sync left them: one cancelled, one refunded to the cent.
    project.run("reconcile")
    report_file = json.loads((project.workdir / "reconcile" / "reconcile.json").read_text())
    assert report_file["items"] == [], report_file["items"]


def reverse(cliniko, original: dict, number: int) -> None:
    """Reverse an invoice in full in Cliniko, as a reversing invoice of its own."""
    negated = {k: str(-Decimal(str(original[k]))) for k in ("total_amount", "tax_amount")}
    cliniko.create(
        "invoices",
        {
            "original_invoice_id": original["id"],
            "patient_id": link_id(original, "patient"),
            "practitioner_id": link_id(original, "practitioner"),
            "business_id": link_id(original, "business"),
            "number": number,
            "status": 30,
            "issue_date": "2026-11-30",
            "calculation_method": original["calculation_method"],
            **negated,
        },
    )
