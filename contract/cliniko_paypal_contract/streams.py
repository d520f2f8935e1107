"""The streams of the contract: each one's key, and the Cliniko stream its records come from.

Any source may write the contract; the Cliniko streams are those map-cliniko-paypal reads.
"""

from __future__ import annotations

# Every stream target-paypal accepts, from any source, with the field that identifies a record.
KEYS = {
    "customers": "customer_id",
    "invoices": "invoice_id",
    "invoice_lines": "line_id",
    "rejects": "record_id",
    "practitioners": "practitioner_id",
    "owners": "user_id",
    "appointments": "appointment_id",
    "reversals": "reversal_id",
}

# The Cliniko stream each contract stream is mapped from (`rejects` carries records of any).
CLINIKO_STREAM = {
    "customers": "patients",
    "invoices": "invoices",
    "invoice_lines": "invoice_items",
    "practitioners": "practitioners",
    "owners": "users",
    "appointments": "individual_appointments",
    "reversals": "invoices",
}

# The other way round: the contract stream a Cliniko stream's records become.
TARGET_STREAM = {
    cliniko: target for target, cliniko in CLINIKO_STREAM.items() if target != "reversals"
}

# The optional field of `customers`, `invoices` and `rejects` records naming the mapping rules they
# were mapped with: the target tries its held-back invoices again once when it changes.
RULES_FINGERPRINT = "rules_fingerprint"
