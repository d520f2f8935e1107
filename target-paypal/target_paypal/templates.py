"""The placeholders the mapper leaves for the target, which holds the joins.

- `{owner}` (the practitioner's user's owner): the memo only, as it is the clinic's own;
- `{practitioner}` (their name) and `{service_date}` (the day of the invoice's appointment):
  the memo and the line description;
- `{custom[Name]}` (the patient's custom field, as the customer record carries it): the memo,
  the note and the line description.

A value the target does not have reads "practitioner unknown", "date unknown" or nothing (a
custom field).
"""

from __future__ import annotations

import re
from typing import Any

UNKNOWN_PRACTITIONER = "practitioner unknown"  # {practitioner} without a name
UNKNOWN_DATE = "date unknown"  # {service_date} without an appointment
CUSTOM = re.compile(r"\{custom\[([^\]{}]+)\]\}")
LIMITS = {"memo": 500, "note": 4000, "line_description": 1000}  # PayPal's


def fill_templates(
    header: dict[str, Any],
    owner: str,
    practitioner: str | None,
    customer: dict | None,
    service_date: str | None = None,
) -> dict[str, Any]:
    """The header with its memo, note and line description filled in (a new dict if changed)."""
    custom = (customer or {}).get("custom_fields") or {}
    filled = {}
    for key, limit in LIMITS.items():
        text = header.get(key)
        if not text:
            continue
        if key == "memo":
            text = text.replace("{owner}", owner)
        if key != "note":
            text = text.replace("{practitioner}", practitioner or UNKNOWN_PRACTITIONER)
            text = text.replace("{service_date}", service_date or UNKNOWN_DATE)
        text = CUSTOM.sub(lambda m: str(custom.get(m.group(1)) or ""), text)
        filled[key] = text[:limit]
    return {**header, **filled} if filled else header
