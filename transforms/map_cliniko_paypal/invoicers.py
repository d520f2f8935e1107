"""Which PayPal invoicer each Cliniko business invoices as (`invoicers` in the mapping rules).

target-paypal's settings hold the default invoicer: the PayPal account's email, the clinic's
name, website and ABN. A clinic that runs several businesses (locations) in one Cliniko account
names them under `invoicers.by_business`, by Cliniko business id; each entry's fields (business
name, ABN, website, address, logo) replace the default's on that business's invoices, and each
invoice carries them as its `invoicer`. Once any business is listed, an invoice of a business
that is not is parked naming it (`other_businesses: park`, the default), so a new location never
bills under another's ABN; `other_businesses: default` sends those with the default invoicer.

A business with a PayPal account of its own names it by `email` and the environment variables
that hold its credentials (`client_id_env`, `client_secret_env`: names, never the secrets); its
invoices carry them as `paypal_account`, and target-paypal writes them to that account. The
email must be one of the account's own: PayPal refuses any other (USER_NOT_FOUND). An entry with
`email` alone invoices from another email of the default account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARK, DEFAULT = "park", "default"
# An invoicer's keys in the rules, named as in PayPal's `invoicer_info` (but `email`).
FIELDS = ("business_name", "tax_id", "website", "logo_url", "address")
ACCOUNT = ("client_id_env", "client_secret_env")  # the names of its own account's variables
# The rules' address keys, and PayPal's `address_portable` names for them.
ADDRESS = {
    "line1": "address_line_1",
    "line2": "address_line_2",
    "city": "admin_area_2",
    "state": "admin_area_1",
    "postal_code": "postal_code",
    "country_code": "country_code",
}


class NoInvoicer(Exception):
    """The invoice's business has no invoicer in the rules; the message says what to do."""


@dataclass(frozen=True)
class Invoicers:
    """`invoicers` in the rules: each listed business's invoicer, as PayPal's block."""

    by_business: dict[str, dict[str, Any]] = field(default_factory=dict)
    other_businesses: str = PARK  # or DEFAULT

    def account_keys(self) -> list[str]:
        """The businesses' own PayPal accounts, as target-paypal's store names them."""
        keys = {
            f"{entry['paypal_account']['client_id_env']}:"
            f"{entry['paypal_account']['client_secret_env']}"
            for entry in self.by_business.values()
            if entry.get("paypal_account")
        }
        return sorted(keys)

    def for_business(self, business_id: Any) -> dict[str, Any] | None:
        """What the invoice carries: `invoicer`, and `paypal_account` if the business has one.

        None: the default invoicer; NoInvoicer when the business has none.
        """
        if not self.by_business:
            return None
        key = str(business_id) if business_id not in (None, "") else None
        if key is not None and key in self.by_business:
            return self.by_business[key]
        if self.other_businesses == DEFAULT:
            return None
        raise NoInvoicer(
            f"business {key or '(none)'} has no invoicer: add it under the mapping's "
            "invoicers.by_business, or set invoicers.other_businesses to default"
        )


def build(data: dict[str, Any] | None) -> Invoicers:
    """`invoicers` from checked rules data (business ids as strings)."""
    data = data or {}
    return Invoicers(
        by_business={
            str(business): stamped(entry or {})
            for business, entry in (data.get("by_business") or {}).items()
        },
        other_businesses=data.get("other_businesses", PARK),
    )


def stamped(entry: dict[str, Any]) -> dict[str, Any]:
    """One rules entry as the invoice's fields: `invoicer`, and `paypal_account` if it has one."""
    block = as_paypal(entry)
    if entry.get("email"):
        block["email_address"] = str(entry["email"])
    fields: dict[str, Any] = {"invoicer": block}
    if entry.get(ACCOUNT[0]):
        fields["paypal_account"] = {key: str(entry[key]) for key in ACCOUNT}
    return fields


def as_paypal(entry: dict[str, Any]) -> dict[str, Any]:
    """One rules entry's `invoicer_info` fields but the email."""
    block: dict[str, Any] = {}
    for key in FIELDS:
        value = entry.get(key)
        if key == "address" and isinstance(value, dict):
            value = {ADDRESS[k]: str(v) for k, v in value.items() if v not in (None, "")}
        if value not in (None, "", {}):
            block[key] = value if isinstance(value, dict) else str(value)
    return block
