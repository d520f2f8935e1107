"""The memo's and note's placeholders the mapper leaves for the target, which holds the joins.

`{owner}` (the practitioner's user's owner) and `{practitioner}` (their name) in the memo;
`{custom[Name]}` (the patient's custom field, as the customer record carries it; empty when
absent) in the memo and the note.
"""

from __future__ import annotations

import re
from typing import Any

UNKNOWN_PRACTITIONER = "practitioner unknown"  # the memo's {practitioner} without a name
CUSTOM = re.compile(r"\{custom\[([^\]{}]+)\]\}")
LIMITS = {"memo": 500, "note": 4000}  # PayPal's


def fill_templates(
    header: dict[str, Any], owner: str, practitioner: str | None, customer: dict | None
) -> dict[str, Any]:
    """The header with its memo and note filled in (a new dict when either changes)."""
    custom = (customer or {}).get("custom_fields") or {}
    filled = {}
    for key, limit in LIMITS.items():
        text = header.get(key)
        if not text:
            continue
        if key == "memo":
            text = text.replace("{owner}", owner)
            text = text.replace("{practitioner}", practitioner or UNKNOWN_PRACTITIONER)
        text = CUSTOM.sub(lambda m: str(custom.get(m.group(1)) or ""), text)
        filled[key] = text[:limit]
    return {**header, **filled} if filled else header
