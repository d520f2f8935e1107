"""Pure, per-record mapping of Cliniko records to target-paypal's streams (no state kept)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simpleeval import DEFAULT_FUNCTIONS, SimpleEval

import cliniko_paypal_contract as contract
from map_cliniko_paypal import approvals
from map_cliniko_paypal.approvals import Hold
from map_cliniko_paypal.bill_to import first_line, place_extra_information
from map_cliniko_paypal.custom_fields import KeepCustom, by_name
from map_cliniko_paypal.invoicers import NoInvoicer
from map_cliniko_paypal.patients import map_patient
from map_cliniko_paypal.reversals import is_reversal, map_reversal
from map_cliniko_paypal.rules import Rules
from map_cliniko_paypal.staff import map_appointment, map_practitioner, map_user
from map_cliniko_paypal.values import (
    Reject,
    Skip,
    date_in_zone,
    decimal_of,
    gone,
    local_date,
    money,
    plain_number,
    required,
    text,
)

TAX_INCLUSIVE = 3
TAX_EXCLUSIVE = 2
__all__ = ["Reject", "Skip", "local_date", "map_record"]


@dataclass(frozen=True)
class Out:
    """One output record and the target-paypal stream it goes to."""

    stream: str
    record: dict[str, Any]


def reject_record(stream: str, record: dict[str, Any], reason: str, action: str = "park") -> Out:
    """A rejects record: the Cliniko id, why, and what it belongs to (IDs only)."""
    record_id = record.get("id")
    invoice_id = record.get("id") if stream == "invoices" else record.get("invoice_id")
    customer_id = record.get("id") if stream == "patients" else record.get("patient_id")
    return Out(
        "rejects",
        {
            "stream": stream,
            "record_id": str(record_id) if record_id not in (None, "") else "(no id)",
            "reason": reason[:500],
            "action": action,
            "invoice_id": str(invoice_id) if invoice_id else None,
            "customer_id": str(customer_id) if customer_id else None,
        },
    )


# --- filters ------------------------------------------------------------------------------------


def apply_filters(stream: str, record: dict[str, Any], rules: Rules) -> Hold | None:
    """Raise Skip or Reject when a filter of the stream says the record stays out.

    A false filter with `action: approve` (invoices only) does not stop the record: the first
    such filter is returned, to hold the invoice for approval.
    """
    held = None
    filters = rules.filters.get(stream, ())
    if not filters:
        return None
    functions = DEFAULT_FUNCTIONS
    if stream == "patients":  # custom('NDIS number'): a custom field's value by name, or None
        functions = {**DEFAULT_FUNCTIONS, "custom": by_name(record.get("custom_fields")).get}
    for index, rule in enumerate(filters):
        evaluator = SimpleEval(names=dict(record), functions=functions)
        try:
            keep = bool(evaluator.eval(rule.keep))
        except Exception as exc:  # noqa: BLE001 - simpleeval raises many kinds
            raise Reject(
                f"filter {stream}[{index}] could not be evaluated ({type(exc).__name__})"
            ) from None
        if not keep:
            reason = f"left out by filter {stream}[{index}]" + (
                f": {rule.reason}" if rule.reason else ""
            )
            if rule.action == "skip":
                raise Skip(reason)
            if rule.action == "approve" and stream == "invoices":
                if held is None:
                    name = f"filter {stream}[{index}]" + (f": {rule.reason}" if rule.reason else "")
                    held = Hold(name, approvals.names_read(rule.keep))
                continue
            raise Reject(reason)
    return held


# --- streams ------------------------------------------------------------------------------------


def _status(record: dict[str, Any], rules: Rules) -> tuple[str, Hold | None]:
    """What PayPal should show, and the status table's hold for approval, if any."""
    if record.get("deleted_at"):
        action, what = rules.deleted, "deleted"
    elif record.get("archived_at"):
        action, what = rules.archived, "archived"
    else:
        status = required(record, "status")
        try:
            code = int(status)
        except (TypeError, ValueError):
            raise Reject("status is not a number") from None
        if code not in rules.status:
            raise Reject(f"status {code} has no entry in the status table")
        action, what = rules.status[code], f"status {code}"
    if isinstance(action, dict):
        if "approve" in action:
            return str(action.get("then", "SENT")), Hold(
                f"{what}: {action['approve']}", ("status",)
            )
        if "skip" in action:
            raise Skip(f"{what}: {action['skip']}")
        raise Reject(f"{what}: {action['park']}")
    return str(action), None


def map_invoice(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A Cliniko invoice as an invoices record; its status, memo and terms come from the rules."""
    invoice_id = str(required(record, "id"))
    number = str(required(record, "number"))
    invoice_number = f"{rules.number_prefix}{number}"
    if len(invoice_number) > 25:
        raise Reject("invoice_number (prefix + number) is longer than PayPal's 25 characters")
    method = required(record, "calculation_method")
    if method not in (TAX_EXCLUSIVE, TAX_INCLUSIVE, str(TAX_EXCLUSIVE), str(TAX_INCLUSIVE)):
        raise Reject("calculation_method is neither 2 (tax exclusive) nor 3 (tax inclusive)")
    target_status, held = _status(record, rules)
    practitioner = record.get("practitioner_id")
    appointment = record.get("appointment_id")
    ids = {
        "number": number,
        "invoice_id": invoice_id,
        "practitioner_id": record.get("practitioner_id") or "unknown",
        "business_id": record.get("business_id") or "unknown",
        "patient_id": record.get("patient_id") or "unknown",
        "owner": "{owner}",  # resolved by target-paypal, which knows the practitioner's user
        "practitioner": "{practitioner}",  # the practitioner's name: target-paypal's too
        "custom": KeepCustom(),  # the patient's custom fields: target-paypal's too
        "service_date": "{service_date}",  # the appointment's date: target-paypal's too
    }
    paid = target_status == "PAID"
    payment_date = None
    if paid:
        moment = record.get("closed_at") or record.get("updated_at")
        payment_date = date_in_zone(moment, rules.time_zone, "closed_at/updated_at")
    total = record.get("total_amount")
    tax = record.get("tax_amount")
    mapped = {
        "invoice_id": invoice_id,
        "customer_id": str(required(record, "patient_id")),
        "practitioner_id": str(practitioner) if practitioner else None,
        "appointment_id": str(appointment) if appointment else None,
        "invoice_number": invoice_number,
        "invoice_date": date_in_zone(record.get("issue_date"), rules.time_zone, "issue_date"),
        "currency_code": rules.currency_code,
        "tax_inclusive": int(method) == TAX_INCLUSIVE,
        "target_status": target_status,
        "payment_term": dict(rules.payment_term) if rules.payment_term else None,
        "note": rules.note,
        "memo": rules.memo.format(**ids)[:500] if rules.memo else None,
        "line_description": _line_description(rules, ids),
        "payment_date": payment_date,
        "payment_method": rules.payment_method if paid else None,
        "total": money(total, "total_amount") if total not in (None, "") else None,
        "tax_total": money(tax, "tax_amount") if tax not in (None, "") else None,
        "updated_at": record.get("updated_at"),
    }
    _add_invoicer(record, mapped, rules)
    if rules.third_party:
        mapped["bill_to"] = first_line(record.get("invoice_to"))
    place_extra_information(record, mapped, rules)
    if held is not None:
        mapped["approval"] = _approval(held, record, rules)
    return mapped


def _add_invoicer(record: dict[str, Any], mapped: dict[str, Any], rules: Rules) -> None:
    """Stamp the business's invoicer on the invoice, when the rules list businesses.

    A void invoice needs none: its PayPal copy, if any, is cancelled whoever sent it.
    """
    try:
        fields = rules.invoicers.for_business(record.get("business_id"))
    except NoInvoicer as exc:
        if mapped["target_status"] == "VOID":
            return
        raise Reject(str(exc)) from None
    if fields:  # its invoicer, and its PayPal account when the business has its own
        mapped.update(fields)


def _line_description(rules: Rules, ids: dict[str, Any]) -> str | None:
    """`invoices.line_description` with the invoice's number (the rest filled by the target)."""
    if not rules.line_description:
        return None
    line = rules.line_description.format(**ids)
    if len(line) > 1000:
        raise Reject("invoices.line_description is longer than PayPal's 1000 characters")
    return line


# --- approvals ----------------------------------------------------------------------------------

HELD_STATUSES = ("SENT", "PAID")  # never VOID (void means void) nor DRAFT (a draft already)


def _approval(held: Hold, record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    rule = (text(held.rule) or "(unnamed)")[:200]
    return {
        "rule": rule,
        "basis": approvals.basis(rule, held.reads, record),
        "alert_after_days": rules.alert_after_days,
    }


def hold_for_approval(
    record: dict[str, Any], mapped: dict[str, Any], rules: Rules, by_filter: Hold | None
) -> None:
    """Add `approval` to a mapped invoice the first rule holds: status table, filters, approvals.

    Reject when a condition cannot be evaluated (e.g. a blank total compared with a number).
    """
    if "approval" in mapped or mapped["target_status"] not in HELD_STATUSES:
        return
    held = by_filter
    if held is None:
        for entry in rules.approvals:
            try:
                held = approvals.holds(entry.name, entry.when, record)
            except approvals.NotEvaluated as exc:
                raise Reject(str(exc)) from None
            if held is not None:
                break
    if held is not None:
        mapped["approval"] = _approval(held, record, rules)


def _not_negative(value: Any, name: str) -> Any:
    if decimal_of(value, name) < 0:
        raise Reject(
            f"{name} is negative (PayPal invoice lines cannot be; use a discount or a credit)"
        )
    return value


def _check_tax_rate(rate: Decimal, rules: Rules) -> None:
    if not 0 <= rate <= 100:
        raise Reject("tax_rate is not a percentage from 0 to 100")
    if rules.tax_rates is not None and rate not in rules.tax_rates:
        known = ", ".join(f"{r.normalize():f}" for r in sorted(rules.tax_rates))
        raise Reject(
            f"tax_rate {rate.normalize():f} is not one of the clinic's rates "
            f"({known} in invoice_items.tax_rates)"
        )


def map_invoice_item(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A Cliniko invoice item as an invoice line; the treatment description is never sent."""
    name = text(required(record, "name"))
    if not name:
        raise Reject("name is missing")
    rate = record.get("tax_rate")
    if rate not in (None, ""):
        _check_tax_rate(decimal_of(rate, "tax_rate"), rules)
    line: dict[str, Any] = {
        "line_id": str(required(record, "id")),
        "invoice_id": str(required(record, "invoice_id")),
        "position": None,
        "name": name[: rules.name_max_length],
        "description": None,  # treatment descriptions are health information: never sent
        "quantity": plain_number(
            _not_negative(required(record, "quantity"), "quantity"), "quantity"
        ),
        "unit_amount": money(
            _not_negative(required(record, "unit_price"), "unit_price"), "unit_price"
        ),
        "tax_name": text(record.get("tax_name")),
        "tax_percent": plain_number(rate, "tax_rate") if rate not in (None, "") else None,
        "deleted": gone(record),
        "updated_at": record.get("updated_at"),
    }
    if record.get("is_monetary_discount"):
        amount = record.get("discounted_amount")
        if amount not in (None, "") and decimal_of(amount, "discounted_amount") != 0:
            line["discount_amount"] = money(amount, "discounted_amount")
    else:
        percent = record.get("discount_percentage")
        if percent not in (None, "") and decimal_of(percent, "discount_percentage") != 0:
            line["discount_percent"] = plain_number(percent, "discount_percentage")
    return line


MAPPERS: dict[str, Callable[[dict[str, Any], Rules], dict[str, Any]]] = {
    "patients": map_patient,
    "invoices": map_invoice,
    "invoice_items": map_invoice_item,
    "practitioners": map_practitioner,
    "users": map_user,
    "individual_appointments": map_appointment,
}


def map_record(stream: str, record: dict[str, Any], rules: Rules) -> list[Out]:
    """What one Cliniko record becomes: [] (dropped), one output record, or one reject."""
    mapper = MAPPERS.get(stream)
    if mapper is None:
        return []
    target = contract.TARGET_STREAM[stream]
    if stream == "invoices" and is_reversal(record):
        mapper, target = map_reversal, "reversals"
    excluded = None
    held = None
    try:
        try:
            held = apply_filters(stream, record, rules)
        except Skip as exc:
            if stream != "invoice_items":
                raise
            excluded = str(exc)  # the line still counts towards Cliniko's total
        mapped = mapper(record, rules)
        if target == "invoices":
            hold_for_approval(record, mapped, rules, held)
    except Skip as exc:
        return [reject_record(stream, record, str(exc), action="skip")]
    except Reject as exc:
        return [reject_record(stream, record, str(exc))]
    if excluded:
        mapped["excluded"] = excluded[:300]
    problem = contract.problems(target, mapped)
    if problem:
        return [reject_record(stream, record, problem)]
    return [Out(target, mapped)]
