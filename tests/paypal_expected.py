"""What PayPal should hold, worked out from the Cliniko sandbox's own records, and how PayPal's
copy differs from it. Shared by the end-to-end tests (`tests/test_pipeline.py`) and the
reliability suite (`tests/reliability/`); importable because pytest puts `tests/` on the path.

It follows the rules of the shipped mapping (transforms/map_cliniko_paypal/mapping.yaml) without
importing the mapper or the target: a bug in either cannot hide behind a shared helper.

The rules, as a clinic's finance team states them:

* A patient's billing email is `invoice_email` (stripped) if set, else `email` (stripped). It is
  usable when it looks like an email and is at most 254 characters. Invoices of a patient without
  a usable email, or whose email another patient also uses (case-insensitive: a family sharing
  one inbox), stay out of PayPal (parked for a human). With `customers.missing_email:
  without_email`, those of a patient with no email at all go to PayPal without a recipient email.
* Cliniko Open (10) -> PayPal UNPAID (sent); Paid (20) -> MARKED_AS_PAID with the payment recorded
  on the Sydney date of `closed_at`; Closed (30) -> never created (cancelled if it already was);
  Open credit (40) -> parked. Archived or deleted -> like Closed.
* Number "CLK-<number>", reference = Cliniko id, invoice date = issue_date, AUD, tax inclusive
  when calculation_method is 3, one line per live invoice item (quantity, unit price, GST
  percent and the tax's name as Cliniko calls it, discount percent or amount; never the
  treatment description), and PayPal's own total and GST equal Cliniko's to the cent.
* Terms "net 30" (due 30 days after the issue date); the note to the patient "Thank you for
  visiting the clinic."; the clinic's private memo "Cliniko invoice <number>, owner <owner>",
  where the owner comes from the owners table by the practitioner's user's email, and the
  shipped table is empty, so every owner is "unassigned".
* The recipient is the patient as Cliniko has them: preferred first name (else first name) and
  last name, the address (address_1, address_2, city, state, post code, country code; AU when
  unset), and the first phone number when it is Australian (+61), typed as Cliniko types it
  (Mobile, Home, Fax, Pager; Work and others as OTHER).
* A patient merged into another (`merged_with_patient`): their invoices go to the surviving
  patient, recipient and rules as that patient's; the merged record's own email counts for
  nothing (not shared with the survivor's).
* Third-party payers: a patient whose billing details name one (`invoice_default_to`) has their
  invoices addressed to it. PayPal's recipient keeps the patient's name and shows the payer's
  name (the first line of the invoice's `invoice_to`, or of the patient's default when the
  invoice's names the patient by surname or is blank) as the business name; the email is the
  patient's billing email as above. Such a billing email (`invoice_email` of a patient with a
  payer) may be shared by many patients: only personal emails count as shared. Everyone else
  has no business name. The invoice's extra patient information goes nowhere by default; the
  rules' `bill_to.extra_information` can put it in additional_info, the note, the memo or
  each line's description.
* The invoicer is the clinic as target-paypal's settings name it (email, business name,
  website, ABN as tax id): meltano.yml's environment, overridden by TARGET_PAYPAL_INVOICER_*.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

SYDNEY = ZoneInfo("Australia/Sydney")
EMAIL = re.compile(r"^[^@\s]+@[^@\s\"-][^@\s]*\.[^@\s]+$")
OPEN, PAID, CLOSED, OPEN_CREDIT = 10, 20, 30, 40
TAX_INCLUSIVE = 3
NOTE = "Thank you for visiting the clinic."
NET_DAYS = 30
OWNER = "unassigned"  # the shipped owners table is empty
PHONE_TYPES = {"mobile": "MOBILE", "home": "HOME", "fax": "FAX", "pager": "PAGER"}
MELTANO_YML = Path(__file__).resolve().parents[1] / "meltano.yml"
INVOICER_FIELDS = {  # PayPal's invoicer field -> target-paypal's setting
    "email_address": "invoicer_email",
    "business_name": "invoicer_business_name",
    "website": "invoicer_website",
    "tax_id": "invoicer_tax_id",
}


# --- what PayPal should hold, from Cliniko's records ---------------------------------------------


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit_amount: Decimal
    tax_percent: Decimal | None
    discount: tuple[str, Decimal] | None  # ("percent", 12.5) or ("amount", 5.00)
    tax_name: str | None = None  # "GST", "GST-free": the name the patient sees

    def sort_key(self) -> tuple[Any, ...]:
        """Numeric, so "1.0" and "1" sort alike on both sides."""
        none = Decimal(-1)
        kind, value = self.discount or ("", none)
        tax = none if self.tax_percent is None else self.tax_percent
        return (self.name, self.quantity, self.unit_amount, tax, kind, value, self.tax_name or "")


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
    payment_term: dict[str, str] = field(default_factory=dict)  # term_type, due_date
    note: str | None = None
    memo: str | None = None
    name: dict[str, str] = field(default_factory=dict)  # given_name, surname
    address: dict[str, str] | None = None
    phones: list[dict[str, str]] = field(default_factory=list)
    invoicer: dict[str, str] = field(default_factory=dict)
    refunds: list[tuple[Decimal, str]] = field(default_factory=list)  # (amount, date), sorted
    business_name: str | None = None  # the third party that pays, if any
    additional_info: str | None = None
    line_description: str | None = None


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


def first_line(value: Any) -> str | None:
    """The first line with words in it, as a person reads it (a payer's name)."""
    for line in str(value or "").splitlines():
        if shown(line):
            return shown(line)[:300]  # type: ignore[index]
    return None


def payer_of(patient: dict[str, Any]) -> str | None:
    """The third party the patient's billing details address invoices to, if any."""
    return first_line(patient.get("invoice_default_to"))


def payer_email(patient: dict[str, Any]) -> bool:
    """Whether the billing email is a payer's (shared by its patients by design)."""
    return bool(payer_of(patient)) and bool((patient.get("invoice_email") or "").strip())


def addressed_to(invoice: dict[str, Any], patient: dict[str, Any]) -> str | None:
    """The business name PayPal should show: the payer, for a patient with one."""
    default = payer_of(patient)
    if not default:
        return None
    named = first_line(invoice.get("invoice_to"))
    surname = str(patient.get("last_name") or "").casefold()
    if not named or (surname and surname in re.findall(r"\w+", named.casefold())):
        return default
    return named


def custom_fields(patient: dict[str, Any]) -> dict[str, str]:
    """The patient's custom fields by name, as Cliniko shows them: a text, or the selected
    options' names joined by ", "; archived sections and fields left out."""
    found: dict[str, str] = defaultdict(str)
    for section in (patient.get("custom_fields") or {}).get("sections") or []:
        if section.get("archived"):
            continue
        for item in section.get("fields") or []:
            if item.get("archived"):
                continue
            if item.get("type") in ("checkboxes", "radiobuttons"):
                chosen = [o["name"] for o in item.get("options") or [] if o.get("selected")]
                found[item["name"]] = ", ".join(chosen)
            else:
                found[item["name"]] = shown(item.get("value")) or ""
    return found


PAID_STATUSES = ("MARKED_AS_PAID", "PARTIALLY_REFUNDED", "MARKED_AS_REFUNDED")


@dataclass(frozen=True)
class Reversed:
    status: str  # CANCELLED, or what PayPal shows once refunds are recorded (or still paid)
    refunds: list[tuple[Decimal, str]] = field(default_factory=list)


def reversed_as(
    invoice: dict[str, Any], reversals: list[dict[str, Any]], was_in_paypal: bool, paid_rule: str
) -> Reversed | str | None:
    """What Cliniko's reversals of an open or paid invoice make of it in PayPal: a status (and
    the refunds recorded), why it is not there (a reason), or None (not reversed)."""
    status = int(invoice["status"])
    if not reversals or status not in (OPEN, PAID) or gone(invoice):
        return None
    amounts = [abs(Decimal(str(r["total_amount"]))) for r in reversals]
    in_full = sum(amounts) >= Decimal(str(invoice["total_amount"]))
    paid = status == PAID
    if not was_in_paypal and in_full:
        return "reversed in full before it reached PayPal: never created"
    if not paid:
        if in_full:
            return Reversed("CANCELLED")
        return Reversed("UNPAID") if was_in_paypal else "reversed in part while unpaid: parked"
    if paid_rule != "refund":
        return Reversed("MARKED_AS_PAID") if was_in_paypal else "paid, then reversed: parked"
    refunds = sorted((a, str(r["issue_date"])) for a, r in zip(amounts, reversals, strict=True))
    return Reversed("MARKED_AS_REFUNDED" if in_full else "PARTIALLY_REFUNDED", refunds)


def usable(email: str) -> bool:
    return bool(email) and len(email) <= 254 and EMAIL.match(email) is not None


def sydney_date(utc_timestamp: str) -> str:
    moment = datetime.fromisoformat(utc_timestamp.replace("Z", "+00:00"))
    return moment.astimezone(SYDNEY).date().isoformat()


def utc_date(utc_timestamp: str) -> str:
    return datetime.fromisoformat(utc_timestamp.replace("Z", "+00:00")).date().isoformat()


def shown(value: Any) -> str | None:
    """Text as a person reads it: one space between words, nothing when blank."""
    if value is None:
        return None
    return unicodedata.normalize("NFC", " ".join(str(value).split())) or None


def recipient_name(patient: dict[str, Any]) -> dict[str, str]:
    given = shown(patient.get("preferred_first_name")) or shown(patient.get("first_name"))
    names = {"given_name": given, "surname": shown(patient.get("last_name"))}
    return {k: v for k, v in names.items() if v}


def recipient_address(patient: dict[str, Any]) -> dict[str, str] | None:
    lines = {
        "address_line_1": shown(patient.get("address_1")),
        "address_line_2": shown(patient.get("address_2")),
        "admin_area_2": shown(patient.get("city")),
        "admin_area_1": shown(patient.get("state")),
        "postal_code": shown(patient.get("post_code")),
    }
    lines = {k: v for k, v in lines.items() if v}
    if not lines:
        return None
    country = str(patient.get("country_code") or "").upper()
    return {**lines, "country_code": country if re.fullmatch(r"[A-Z]{2}", country) else "AU"}


def recipient_phones(patient: dict[str, Any]) -> list[dict[str, str]]:
    """The patient's first number, when it is Australian; PayPal splits off the country code."""
    numbers = patient.get("patient_phone_numbers") or []
    if not numbers:
        return []
    first = numbers[0]
    normalized = str(first.get("normalized_number") or "")
    if not normalized.startswith("+61"):
        return []  # (the seed has only +61 numbers; others are left off)
    kind = PHONE_TYPES.get(str(first.get("phone_type") or "").lower(), "OTHER")
    national = re.sub(r"\D", "", normalized[3:])
    return [{"country_code": "61", "national_number": national, "phone_type": kind}]


def project_invoicer(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The invoicer target-paypal is configured with in the tests: meltano.yml's environment
    (MELTANO_ENVIRONMENT, default dev) overridden by TARGET_PAYPAL_INVOICER_* variables."""
    env = os.environ if env is None else env
    project = yaml.safe_load(MELTANO_YML.read_text())
    config: dict[str, Any] = {}
    for loader in project["plugins"].get("loaders") or []:
        if loader["name"] == "target-paypal":
            config.update(loader.get("config") or {})
    wanted = env.get("MELTANO_ENVIRONMENT") or project.get("default_environment") or "dev"
    for environment in project.get("environments") or []:
        if environment["name"] == wanted:
            plugins = (environment.get("config") or {}).get("plugins") or {}
            for loader in plugins.get("loaders") or []:
                if loader["name"] == "target-paypal":
                    config.update(loader.get("config") or {})
    invoicer = {}
    for paypal_name, setting in INVOICER_FIELDS.items():
        value = env.get(f"TARGET_PAYPAL_{setting.upper()}", config.get(setting))
        if value:
            invoicer[paypal_name] = str(value)
    return invoicer


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
        tax_name=shown(item.get("tax_name")) if rate not in (None, "") else None,
    )


def mapped_void(invoice: dict[str, Any]) -> bool:
    """Whether the shipped status rules make the invoice VOID (closed, archived or deleted)."""
    return bool(gone(invoice) or int(invoice["status"]) == CLOSED)


def gone(record: dict[str, Any]) -> bool:
    return bool(record.get("archived_at") or record.get("deleted_at"))


def read_clinic(
    cliniko,
    was_in_paypal: Collection[str] = (),
    invoicer: dict[str, str] | None = None,
    send_invoices: bool = True,
    without_email: bool = False,
    memo: str = "Cliniko invoice {number}, owner {owner}",
    extra_information: str = "none",
    skip_patient: Callable[[dict[str, Any]], bool] | None = None,
    line_description: str | None = None,
    reversals_paid: str = "park",
    invoicers: Mapping[str, dict[str, Any]] | None = None,
) -> Clinic:
    """What PayPal should hold now. `was_in_paypal`: Cliniko ids PayPal already had, so that a
    Closed, archived or deleted one is expected CANCELLED rather than absent. `invoicer`: the
    target's invoicer settings (default `project_invoicer()`). `send_invoices` false (draft
    mode): open invoices stay DRAFT; paid ones are still MARKED_AS_PAID. `without_email`
    (`customers.missing_email: without_email`): a patient with no email at all (both empty)
    has their invoices in PayPal without a recipient email; an invalid email is still parked.
    `memo`: the rules' `invoices.memo`, with `{number}`, `{owner}`, `{custom[Name]}` (the
    patient's custom field, empty when absent) and `{practitioner}` (the
    practitioner's `display_name`, else "practitioner unknown"). `extra_information`: the
    rules' `bill_to.extra_information` (none, additional_info, note, memo or line).
    `skip_patient`: a `filters.patients` skip rule, as a test of a Cliniko patient; a skipped
    patient's invoices (or those of a patient merged into one) stay out, and its email is
    nobody's. `line_description`: the rules' `invoices.line_description`, with `{number}`,
    `{practitioner}` and `{service_date}` (the Sydney day of the invoice's appointment, else
    "date unknown"). `reversals_paid`: the rules' `invoices.reversals.paid` (park or refund).
    `invoicers`: the rules' `invoicers.by_business` as PayPal invoicer fields by Cliniko business
    id (`other_businesses: park`): a listed business's invoices show them over the default
    invoicer's; an invoice of another business is parked unless it is void."""
    invoicer = project_invoicer() if invoicer is None else invoicer
    patients = {p["id"]: p for p in cliniko.records("patients")}
    practitioners = {p["id"]: p for p in cliniko.records("practitioners")}
    invoices = {i["id"]: i for i in cliniko.records("invoices")}
    appointments = {a["id"]: a for a in cliniko.records("individual_appointments")}
    all_items = cliniko.records("invoice_items")
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in all_items:
        if not gone(item):
            items[str(link_id(item, "invoice"))].append(item)

    # A merged patient's invoices go to the surviving patient, as that one's billing details
    # say; the merged record's own email is nobody's.
    merged = {pid: link_id(p, "merged_with_patient") for pid, p in patients.items()}
    merged = {pid: into for pid, into in merged.items() if into}
    skipped = {pid for pid, p in patients.items() if skip_patient and skip_patient(p)}
    # Archived patients count too when looking for a shared email (in this seed no archived
    # patient shares one, so the choice does not change what is expected).
    emails = {
        pid: billing_email(p)
        for pid, p in patients.items()
        if pid not in merged and pid not in skipped and usable(billing_email(p))
    }
    no_email = {pid for pid, p in patients.items() if pid not in merged and not billing_email(p)}
    by_email: dict[str, list[str]] = defaultdict(list)
    for pid, email in emails.items():
        by_email[email.lower()].append(pid)
    shared = {
        pid: sorted(set(by_email[email.lower()]) - {pid})
        for pid, email in emails.items()
        if len(by_email[email.lower()]) > 1 and not payer_email(patients[pid])
    }

    expected: dict[str, Expected] = {}
    left_out: dict[str, str] = {}
    reversals_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in invoices.values():
        if link_id(invoice, "original_invoice") and not gone(invoice):
            reversals_of[str(link_id(invoice, "original_invoice"))].append(invoice)
    for cid, invoice in invoices.items():
        status = int(invoice["status"])
        if link_id(invoice, "original_invoice"):
            left_out[cid] = "a reversal: never an invoice in PayPal"
            continue
        business = str(link_id(invoice, "business"))
        if invoicers and business not in invoicers and not mapped_void(invoice):
            left_out[cid] = f"business {business} has no invoicer: parked by the mapper"
            continue
        reversal = reversed_as(invoice, reversals_of.get(cid, []), cid in was_in_paypal,
                               reversals_paid)
        if isinstance(reversal, str):
            left_out[cid] = reversal
            continue
        patient_id = str(link_id(invoice, "patient"))
        skip = patient_id in skipped
        while patient_id in merged:
            patient_id = str(merged[patient_id])  # the surviving patient's billing details
        voided = (
            "deleted"
            if invoice.get("deleted_at")
            else "archived"
            if invoice.get("archived_at")
            else "status 30 (Closed)"
            if status == CLOSED
            else None
        )
        if reversal and reversal.status == "CANCELLED":
            voided = "reversed in full"
        if voided:
            if cid in was_in_paypal:
                status_wanted = "CANCELLED"
            else:
                left_out[cid] = f"{voided}: never created"
                continue
        elif status == OPEN_CREDIT:
            left_out[cid] = "status 40 (Open credit): parked"
            continue
        elif skip or patient_id in skipped:
            left_out[cid] = f"patient {patient_id} skipped by a filter"
            continue
        elif patient_id not in emails and not (without_email and patient_id in no_email):
            left_out[cid] = f"patient {patient_id} has no usable email: parked"
            continue
        elif patient_id in shared:
            left_out[cid] = (
                f"patient {patient_id} shares its email with patient(s) "
                f"{', '.join(shared[patient_id])}: parked for review"
            )
            continue
        elif reversal:
            status_wanted = reversal.status
        elif status == OPEN:
            status_wanted = "UNPAID" if send_invoices else "DRAFT"
        elif status == PAID:
            status_wanted = "MARKED_AS_PAID"
        else:
            raise AssertionError(f"Cliniko invoice {cid}: unknown status {status}")
        patient = patients.get(patient_id, {})
        extra = shown(invoice.get("patient_extra_information"))
        placed = extra if extra_information != "none" else None
        appointment = appointments.get(str(link_id(invoice, "appointment")))
        fields = {
            "number": invoice["number"],
            "owner": OWNER,
            "practitioner": (
                practitioners.get(str(link_id(invoice, "practitioner")), {}).get("display_name")
                or "practitioner unknown"
            ),
            "custom": custom_fields(patient),
            "service_date": (
                sydney_date(appointment["starts_at"]) if appointment else "date unknown"
            ),
        }
        the_memo = memo.format(**fields)
        the_line = line_description.format(**fields) if line_description else None
        if placed and extra_information == "line":
            the_line = "\n\n".join(part for part in (the_line, placed) if part)
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
            if status_wanted in PAID_STATUSES
            else None,
            refunds=reversal.refunds if reversal else [],
            payment_term={
                "term_type": f"NET_{NET_DAYS}",
                "due_date": (
                    date.fromisoformat(str(invoice["issue_date"])) + timedelta(days=NET_DAYS)
                ).isoformat(),
            },
            note=f"{NOTE}\n\n{placed}" if placed and extra_information == "note" else NOTE,
            memo=f"{the_memo}\n\n{placed}" if placed and extra_information == "memo" else the_memo,
            name=recipient_name(patient),
            address=recipient_address(patient),
            phones=recipient_phones(patient),
            business_name=addressed_to(invoice, patient),
            additional_info=placed if extra_information == "additional_info" else None,
            line_description=the_line,
            invoicer={**invoicer, **((invoicers or {}).get(business) or {})},
        )
    return Clinic(invoices, patients, dict(items), all_items, emails, shared, expected, left_out)


# --- what PayPal holds ----------------------------------------------------------------------------


def paypal_by_reference(sandbox) -> dict[str, list[dict[str, Any]]]:
    """Every PayPal invoice by its reference, in every merchant account of the sandbox (the
    invoicer email of each says which: the sandbox refuses any but its account's own)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for account in sandbox.paypal_accounts.values():
        for invoice in account.invoices():
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
                tax_name=tax.get("name"),
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
    billing = recipients[0].get("billing_info") or {}
    check("recipient email", want.email or None, billing.get("email_address"))
    check("recipient name", want.name, billing.get("name") or {})
    check("recipient address", want.address, billing.get("address"))
    check("recipient phones", want.phones, billing.get("phones") or [])
    check("recipient business name (the payer)", want.business_name, billing.get("business_name"))
    check("recipient additional info", want.additional_info, billing.get("additional_info"))
    check("number of recipients", 1, len(recipients))
    invoicer = got.get("invoicer") or {}
    for paypal_name in (*INVOICER_FIELDS, "logo_url", "address"):  # the last two by business
        check(f"invoicer {paypal_name}", want.invoicer.get(paypal_name), invoicer.get(paypal_name))
    term = detail.get("payment_term") or {}
    check("payment term", want.payment_term.get("term_type"), term.get("term_type"))
    check("due date", want.payment_term.get("due_date"), term.get("due_date"))
    check("note to the patient", want.note, detail.get("note"))
    check("memo", want.memo, detail.get("memo"))
    lines = paypal_lines(got)
    check("line count", len(want.lines), len(lines))
    if len(lines) == len(want.lines):
        for n, (wanted_line, line) in enumerate(zip(want.lines, lines, strict=True)):
            check(f"line {n + 1}", wanted_line, line)
    described = {item.get("description") for item in got.get("items") or []}
    check(
        "line descriptions (extra information by rule; treatment notes never)",
        {want.line_description},
        described,
    )
    transactions = (got.get("payments") or {}).get("transactions") or []
    refunds = (got.get("refunds") or {}).get("transactions") or []
    check(
        "refunds recorded (amount, date)",
        want.refunds,
        sorted((money(t.get("amount")), t.get("refund_date")) for t in refunds),
    )
    if want.status in PAID_STATUSES:
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
