"""The input contract of target-paypal, shared by the mapper that writes it and the target.

One home for the streams target-paypal accepts from any source (Cliniko is the one this
repository maps): their JSON Schemas and keys, which Cliniko stream each comes from, and which
characters text may never carry.
"""

from cliniko_paypal_contract.streams import CLINIKO_STREAM, KEYS, RULES_FINGERPRINT, TARGET_STREAM
from cliniko_paypal_contract.validation import UNSAFE_TEXT, problems, schema, validator

__all__ = [
    "CLINIKO_STREAM",
    "KEYS",
    "RULES_FINGERPRINT",
    "TARGET_STREAM",
    "UNSAFE_TEXT",
    "problems",
    "schema",
    "validator",
]
