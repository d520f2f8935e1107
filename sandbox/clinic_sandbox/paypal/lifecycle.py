"""Invoice operations and PayPal's status machine (notes §3.3), on top of `PayPalStore`.

What each status allows (422 `UNPROCESSABLE_ENTITY` otherwise, with the issue named below):

| status                               | send    | update | delete | cancel | record payment |
|--------------------------------------|---------|--------|--------|--------|----------------|
| DRAFT                                | yes     | yes    | yes    | no (1) | no  (2)        |
| SCHEDULED                            | no-op   | yes    | yes    | no (1) | no  (2)        |
| UNPAID / SENT                        | no-op   | yes    | no (3) | yes    | yes            |
| PARTIALLY_PAID                       | no-op   | no (4) | no (3) | no (1) | yes            |
| PAID / MARKED_AS_PAID / PAYMENT_PENDING | no (5) | no (4) | no (3) | no (1) | no (2)        |
| CANCELLED, *REFUNDED                 | no (5)  | no (4) | no (3) | no (1) | no (2)        |

(1) the spec's cancel issues: CANNOT_CANCEL_DRAFT_INVOICE, _SCHEDULED_, _PAID_, _REFUNDED_,
    INVOICE_CANCELED_ALREADY.  (2) CANNOT_PROCESS_PAYMENTS (spec); that a DRAFT cannot take a
    payment is UNCONFIRMED.  (3)(4)(5) CANNOT_DELETE_INVOICE / CANNOT_UPDATE_INVOICE /
    CANNOT_SEND_INVOICE are the sandbox's own names (the spec names none).

Choices for UNCONFIRMED behaviour live in `InvoicingRules` so a test can flip them.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import amounts, refunds
from .errors import PayPalError, detail, not_found, unprocessable
from .store import PayPalStore, new_external_payment_id, new_paypal_transaction_id
from .validation import parse_date, validate_invoice, validate_notification, validate_payment

PAYABLE = frozenset({"SENT", "UNPAID", "PARTIALLY_PAID"})
UPDATABLE = frozenset({"DRAFT", "SCHEDULED", "SENT", "UNPAID"})
DELETABLE = frozenset({"DRAFT", "SCHEDULED"})
CANCELLABLE = frozenset({"SENT", "UNPAID"})
ALREADY_SENT = frozenset({"SCHEDULED", "SENT", "UNPAID", "PARTIALLY_PAID"})
CANCEL_REFUSALS = {
    "DRAFT": ("CANNOT_CANCEL_DRAFT_INVOICE", "Draft invoice cannot be canceled."),
    "SCHEDULED": ("CANNOT_CANCEL_SCHEDULED_INVOICE", "Cannot cancel a scheduled invoice."),
    "CANCELLED": ("INVOICE_CANCELED_ALREADY", "Invoice is already cancelled."),
}
PAID_LIKE = frozenset({"PAID", "MARKED_AS_PAID", "PARTIALLY_PAID", "PAYMENT_PENDING"})
NET_DAYS = {"NET_10": 10, "NET_15": 15, "NET_30": 30, "NET_45": 45, "NET_60": 60, "NET_90": 90}
READ_ONLY = ("id", "parent_id", "status", "due_amount", "gratuity", "payments", "refunds", "links")
SANDBOX_WEB = "https://www.sandbox.paypal.com/invoice"


@dataclass
class InvoicingRules:
    """The sandbox's picks where PayPal's behaviour is UNCONFIRMED (notes §10)."""

    merchant_email: str = "accounts@sunrise-clinic.example"
    sent_status: str = "UNPAID"  # current docs; older material says SENT
    paid_status: str = "MARKED_AS_PAID"  # fully paid by recorded (external) payments
    duplicate_number_issue: str = "DUPLICATE_INVOICE_NUMBER"  # the name is a guess
    # Another account's invoice id: the spec's 403 PERMISSION_DENIED, or 404 as if unknown.
    foreign_invoice_status: int = 403


def timestamp(moment: dt.datetime) -> str:
    """`moment` in UTC as PayPal writes metadata times: `YYYY-MM-DDTHH:MM:SSZ`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def writable_copy(body: dict[str, Any]) -> dict[str, Any]:
    """The body without readOnly and computed fields, which PayPal ignores on input."""
    clean = {k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY}
    if isinstance(clean.get("detail"), dict):
        clean["detail"].pop("metadata", None)
    for item in clean.get("items") or []:
        if isinstance(item, dict):
            item.pop("id", None)
            if isinstance(item.get("tax"), dict):
                item["tax"].pop("amount", None)
    breakdown = (clean.get("amount") or {}).get("breakdown") or {}
    kept = {k: breakdown[k] for k in ("discount", "shipping", "custom") if k in breakdown}
    if isinstance(kept.get("discount"), dict):
        kept["discount"] = {k: v for k, v in kept["discount"].items() if k == "invoice_discount"}
    if isinstance((kept.get("shipping") or {}).get("tax"), dict):
        kept["shipping"]["tax"].pop("amount", None)
    clean["amount"] = {"breakdown": kept} if kept else {}
    if not clean["amount"]:
        del clean["amount"]
    return clean


def next_number_after(numbers: list[str]) -> str:
    """Increment the last number's final digit run, keeping prefix, suffix and width."""
    for number in reversed(numbers):
        runs = list(re.finditer(r"\d+", number))
        if runs:
            run = runs[-1]
            bumped = str(int(run.group()) + 1).zfill(len(run.group()))
            return number[:run.start()] + bumped + number[run.end():]
    return "0001"


class Invoicing:
    """Every invoice operation; each runs under the store's lock, so it is atomic."""

    def __init__(self, store: PayPalStore, rules: InvoicingRules,
                 clock: Callable[[], float]) -> None:
        self.store, self.rules, self._clock = store, rules, clock

    def now(self) -> dt.datetime:
        """The injected clock's time, as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def today(self) -> dt.date:
        """The injected clock's date in UTC (invoice and payment dates default to it)."""
        return self.now().date()

    # -- reading ----------------------------------------------------------------------------
    def get(self, invoice_id: str) -> dict[str, Any]:
        """A copy of the stored invoice; PayPal's 404 if there is none."""
        invoice = self.store.get(invoice_id)
        if invoice is None:
            raise not_found(invoice_id)
        return invoice

    def next_number(self) -> str:
        """The next free invoice number: the latest number with its last digit run plus one."""
        with self.store.lock:
            numbers = self.store.numbers()
            candidate = next_number_after(numbers)
            while candidate in numbers:
                candidate = next_number_after([candidate])
            return candidate

    # -- create / replace / delete ----------------------------------------------------------
    def create(self, body: dict[str, Any], status: str = "DRAFT") -> dict[str, Any]:
        """Validate and store a new invoice with a new id, number, metadata and amounts."""
        invoice = self._checked(body)
        with self.store.lock:
            self._claim_number(invoice, excluding=None)
            stamp = timestamp(self.now())
            invoice_id = self.store.unused_invoice_id()
            invoice = {"id": invoice_id, "status": status, **invoice}
            invoice["detail"]["metadata"] = {
                "create_time": stamp, "created_by": self.rules.merchant_email,
                "last_update_time": stamp, "last_updated_by": self.rules.merchant_email,
                "created_by_flow": "REGULAR_SINGLE",
                "recipient_view_url": f"{SANDBOX_WEB}/p/#{invoice_id}",
                "invoicer_view_url": f"{SANDBOX_WEB}/details/{invoice_id}"}
            amounts.apply(invoice)
            self.store.put(invoice)
            return invoice

    def replace(self, invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Full update (PUT): the body replaces the invoice; id, status and payments stay."""
        replacement = self._checked(body)
        with self.store.lock:
            current = self.get(invoice_id)
            if current["status"] not in UPDATABLE:
                raise unprocessable("CANNOT_UPDATE_INVOICE",
                                    f"An invoice in status {current['status']} cannot be updated.")
            replacement["detail"].setdefault("invoice_number",
                                             current["detail"].get("invoice_number"))
            self._claim_number(replacement, excluding=invoice_id)
            metadata = current["detail"]["metadata"]
            metadata.update(last_update_time=timestamp(self.now()),
                            last_updated_by=self.rules.merchant_email)
            replacement["detail"]["metadata"] = metadata
            invoice = {"id": invoice_id, "status": current["status"], **replacement}
            if "payments" in current:
                invoice["payments"] = current["payments"]
            amounts.apply(invoice)
            self.store.put(invoice)
            return invoice

    def delete(self, invoice_id: str) -> None:
        """Delete a draft or scheduled invoice; any other status is a 422 (cancel it instead)."""
        with self.store.lock:
            status = self.get(invoice_id)["status"]
            if status not in DELETABLE:
                raise unprocessable("CANNOT_DELETE_INVOICE", f"Only draft or scheduled invoices "
                                    f"can be deleted; this one is {status}. Cancel it instead.")
            self.store.remove(invoice_id)

    def _checked(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate (400) and apply the business checks that need no stored data (422)."""
        details = validate_invoice(body)
        if details:
            raise PayPalError(400, details)
        invoicer_email = (body.get("invoicer") or {}).get("email_address")
        if invoicer_email and invoicer_email.lower() != self.rules.merchant_email.lower():
            raise unprocessable("USER_NOT_FOUND",
                                "User is not associated with paypal based on invoicer email.")
        invoice = writable_copy(body)
        self._fill_dates(invoice["detail"])
        return invoice

    def _fill_dates(self, detail_obj: dict[str, Any]) -> None:
        detail_obj.setdefault("invoice_date", self.today().isoformat())
        term = detail_obj.get("payment_term")
        if not term:
            return
        if term.get("due_date") and not term.get("term_type"):
            term["term_type"] = "DUE_ON_DATE_SPECIFIED"
        invoice_date = parse_date(detail_obj["invoice_date"])
        kind = term.get("term_type")
        if kind in NET_DAYS and invoice_date:
            term["due_date"] = (invoice_date + dt.timedelta(days=NET_DAYS[kind])).isoformat()
        elif kind == "DUE_ON_RECEIPT":
            term["due_date"] = detail_obj["invoice_date"]
        elif kind == "NO_DUE_DATE":
            term.pop("due_date", None)

    def _claim_number(self, invoice: dict[str, Any], excluding: str | None) -> None:
        """Give the invoice a number, refusing one another live invoice holds (422)."""
        number = invoice["detail"].get("invoice_number")
        if not number:
            invoice["detail"]["invoice_number"] = self.next_number()
            return
        if self.store.with_number(number, excluding=excluding) is not None:
            raise PayPalError(422, [detail(
                self.rules.duplicate_number_issue, "Invoice number is already in use by another "
                "invoice.", field="/detail/invoice_number", value=number)])

    # -- send / remind / cancel ---------------------------------------------------------------
    def send(self, invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """DRAFT → UNPAID (SCHEDULED if invoice_date is in the future); resending is a no-op."""
        self._check_notification(body)
        with self.store.lock:
            invoice = self.get(invoice_id)
            status = invoice["status"]
            if status in ALREADY_SENT:
                return invoice
            if status != "DRAFT":
                raise unprocessable("CANNOT_SEND_INVOICE",
                                    f"An invoice in status {status} cannot be sent.")
            future = (parse_date(invoice["detail"]["invoice_date"]) or self.today()) > self.today()
            invoice["status"] = "SCHEDULED" if future else self.rules.sent_status
            stamp = timestamp(self.now())
            metadata = invoice["detail"]["metadata"]
            metadata.setdefault("first_sent_time", stamp)
            metadata.update(last_sent_time=stamp, last_sent_by=self.rules.merchant_email)
            self.store.put(invoice)
            return invoice

    def remind(self, invoice_id: str, body: dict[str, Any]) -> None:
        """Check a reminder is allowed (an unpaid or partly paid invoice); nothing is stored."""
        self._check_notification(body)
        if self.get(invoice_id)["status"] not in PAYABLE:
            raise unprocessable("CANNOT_REMIND_INVOICE", "You cannot remind an invoice which is "
                                "in DRAFT status. Only UNPAID, SENT and PARTIALLY_PAID invoices "
                                "can be reminded.")

    def cancel(self, invoice_id: str, body: dict[str, Any], by: str | None = None) -> None:
        """SENT or UNPAID → CANCELLED, recording who cancelled; other statuses are a 422."""
        self._check_notification(body)
        with self.store.lock:
            invoice = self.get(invoice_id)
            status = invoice["status"]
            if status not in CANCELLABLE:
                raise unprocessable(*self._cancel_refusal(status))
            invoice["status"] = "CANCELLED"
            invoice["detail"]["metadata"].update(cancel_time=timestamp(self.now()),
                                                 cancelled_by=by or self.rules.merchant_email)
            self.store.put(invoice)

    @staticmethod
    def _cancel_refusal(status: str) -> tuple[str, str]:
        if status in CANCEL_REFUSALS:
            return CANCEL_REFUSALS[status]
        if status in PAID_LIKE:
            return "CANNOT_CANCEL_PAID_INVOICE", "Cannot cancel a paid or partially paid invoice."
        return ("CANNOT_CANCEL_REFUNDED_INVOICE",
                "Cannot cancel a refunded or partially refunded invoice.")

    @staticmethod
    def _check_notification(body: dict[str, Any]) -> None:
        details = validate_notification(body)
        if details:
            raise PayPalError(400, details)

    # -- payments ---------------------------------------------------------------------------
    def record_payment(self, invoice_id: str, body: dict[str, Any]) -> str:
        """Record an external payment; the whole due amount when `amount` is left out."""
        with self.store.lock:
            invoice = self.get(invoice_id)
            details = validate_payment(body, invoice["detail"]["currency_code"])
            if details:
                raise PayPalError(400, details)
            payment = {"payment_id": new_external_payment_id(), "type": "EXTERNAL",
                       "payment_date": body.get("payment_date", self.today().isoformat()),
                       "method": body["method"]}
            if body.get("note"):
                payment["note"] = body["note"]
            self._add_payment(invoice, payment, body.get("amount"))
            return payment["payment_id"]

    def pay_in_paypal(self, invoice_id: str, value: str | None = None) -> str:
        """The patient pays through PayPal's own page (a sandbox control action)."""
        with self.store.lock:
            invoice = self.get(invoice_id)
            currency = invoice["detail"]["currency_code"]
            payment = {"payment_id": new_paypal_transaction_id(), "type": "PAYPAL",
                       "payment_date": self.today().isoformat(), "method": "PAYPAL",
                       "transaction_type": "SALE", "transaction_status": "SUCCESS"}
            amount = {"currency_code": currency, "value": value} if value else None
            self._add_payment(invoice, payment, amount)
            return payment["payment_id"]

    def _add_payment(self, invoice: dict[str, Any], payment: dict[str, Any],
                     amount: dict[str, Any] | None) -> None:
        if invoice["status"] not in PAYABLE:
            raise unprocessable("CANNOT_PROCESS_PAYMENTS",
                                "Current invoice state does not support payment processing.")
        currency = invoice["detail"]["currency_code"]
        due = Decimal(invoice["due_amount"]["value"])
        value = Decimal(amount["value"]) if amount else due
        if value > due:
            raise unprocessable("PAYMENT_AMOUNT_GREATER_THAN_AMOUNT_DUE",
                                "Payment amount is greater than the amount due.")
        payment["amount"] = amounts.money(value, currency)
        payments = invoice.setdefault("payments", {"transactions": []})
        payments["transactions"].append(payment)
        self._settle(invoice)

    def refund(self, invoice_id: str) -> str:
        """Refund everything paid (a sandbox control action); returns the refund id.

        PAID becomes REFUNDED, MARKED_AS_PAID becomes MARKED_AS_REFUNDED.
        """
        with self.store.lock:
            invoice = self.get(invoice_id)
            if invoice["status"] not in ("PAID", "MARKED_AS_PAID"):
                raise unprocessable("CANNOT_REFUND_INVOICE",
                                    "Only a paid invoice can be refunded.")
            paid = invoice["payments"]["paid_amount"]
            external = invoice["status"] == "MARKED_AS_PAID"
            refund = {"refund_id": (new_external_payment_id() if external
                                    else new_paypal_transaction_id()),
                      "type": "EXTERNAL" if external else "PAYPAL",
                      "refund_date": self.today().isoformat(), "amount": paid}
            invoice["refunds"] = {"transactions": [refund], "refund_amount": paid}
            invoice["status"] = "MARKED_AS_REFUNDED" if external else "REFUNDED"
            self.store.put(invoice)
            return str(refund["refund_id"])

    def record_refund(self, invoice_id: str, body: dict[str, Any]) -> str:
        """Record an external refund (refunds.py); returns its id."""
        with self.store.lock:
            invoice = self.get(invoice_id)
            refund_id = refunds.record_refund(invoice, body, self.today().isoformat())
            self.store.put(invoice)
            return refund_id

    def delete_refund(self, invoice_id: str, refund_id: str) -> None:
        """Remove a recorded (external) refund."""
        with self.store.lock:
            invoice = self.get(invoice_id)
            refunds.delete_refund(invoice, refund_id, self.rules.paid_status)
            self.store.put(invoice)

    def delete_payment(self, invoice_id: str, payment_id: str) -> None:
        """Remove a recorded (external) payment and settle the invoice again."""
        with self.store.lock:
            invoice = self.get(invoice_id)
            transactions = (invoice.get("payments") or {}).get("transactions") or []
            kept = [t for t in transactions
                    if not (t["payment_id"] == payment_id and t.get("type") == "EXTERNAL")]
            if len(kept) == len(transactions):
                raise PayPalError(404, [detail("INVALID_RESOURCE_ID", "Requested resource ID was "
                                               "not found.", field="transaction_id",
                                               value=payment_id, location="path")])
            invoice["payments"]["transactions"] = kept
            self._settle(invoice)

    def _settle(self, invoice: dict[str, Any]) -> None:
        """Recompute paid and due amounts and the payment status, then store."""
        currency = invoice["detail"]["currency_code"]
        transactions = invoice["payments"]["transactions"]
        paid = amounts.paid_total(transactions)
        invoice["payments"]["paid_amount"] = amounts.money(paid, currency)
        total = Decimal(invoice["amount"]["value"])
        invoice["due_amount"] = amounts.money(amounts.due(total, paid), currency)
        if paid >= total:
            external = all(t.get("type") == "EXTERNAL" for t in transactions)
            invoice["status"] = self.rules.paid_status if external else "PAID"
        elif paid > 0:
            invoice["status"] = "PARTIALLY_PAID"
        else:
            invoice["status"] = self.rules.sent_status
        self.store.put(invoice)

    # -- hand edits (sandbox control) -------------------------------------------------------
    def set_total(self, invoice_id: str, value: str) -> dict[str, Any]:
        """Overwrite the total as a person might in PayPal's web UI (no recomputation)."""
        with self.store.lock:
            invoice = self.get(invoice_id)
            currency = invoice["detail"]["currency_code"]
            invoice["amount"]["value"] = str(amounts.round_half_up(Decimal(value), currency))
            paid = amounts.paid_total((invoice.get("payments") or {}).get("transactions") or [])
            invoice["due_amount"] = amounts.money(amounts.due(Decimal(value), paid), currency)
            self.store.put(invoice)
            return invoice

    def edit(self, invoice_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """JSON merge-patch (RFC 7386) of any stored field, then amounts are recomputed.

        A patch to `amount` itself is kept as written (an inconsistent invoice on purpose).
        """
        with self.store.lock:
            invoice = merge_patch(self.get(invoice_id), patch)
            if "amount" not in patch:
                amounts.apply(invoice)
            invoice["id"] = invoice_id
            self.store.put(invoice)
            return invoice


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with the JSON merge-patch (RFC 7386) `patch` applied; `target` is not changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
