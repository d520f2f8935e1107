"""A patient's custom fields by name: in patient filters (`custom('Name')`) and in templates.

Cliniko nests them (`custom_fields.sections[].fields[]`, each text, paragraph, date, checkboxes
or radiobuttons). By name, a field's value is its text, or the names of its selected options
(and "other", when chosen) joined by ", "; archived sections and fields are left out.

Custom fields may be health information, so a customer carries only the fields the rules'
templates name (`{custom[Name]}` in `invoices.memo` or `invoices.note`); target-paypal fills
those in, as it does `{owner}`.
"""

from __future__ import annotations

import re
from typing import Any

from map_cliniko_paypal.values import text

TEMPLATE = re.compile(r"\{custom\[([^\]{}]+)\]\}")  # {custom[NDIS number]}
VALUE_MAX = 1000
NAME_MAX = 200


def by_name(custom_fields: Any) -> dict[str, str | None]:
    """The patient's custom fields as {name: value}; None for an empty one."""
    found: dict[str, str | None] = {}
    sections = custom_fields.get("sections") if isinstance(custom_fields, dict) else None
    for section in sections or []:
        if not isinstance(section, dict) or section.get("archived"):
            continue
        for field in section.get("fields") or []:
            if not isinstance(field, dict) or field.get("archived"):
                continue
            name = text(field.get("name"))
            if name:
                found[name[:NAME_MAX]] = _value(field)
    return found


def _value(field: dict[str, Any]) -> str | None:
    if field.get("type") not in ("checkboxes", "radiobuttons"):
        value = text(field.get("value"))
        return value[:VALUE_MAX] if value else None
    chosen = [
        text(option.get("name"))
        for option in field.get("options") or []
        if isinstance(option, dict) and option.get("selected") and not option.get("archived")
    ]
    other = field.get("other")
    if isinstance(other, dict) and other.get("enabled") and other.get("selected"):
        chosen.append(text(other.get("value")))
    return ", ".join(c for c in chosen if c)[:VALUE_MAX] or None


def names_in(*templates: str | None) -> tuple[str, ...]:
    """The custom field names these templates use, sorted."""
    return tuple(sorted({n for t in templates if t for n in TEMPLATE.findall(t)}))


class KeepCustom:
    """`custom` for str.format: `{custom[Name]}` stays as it is, for target-paypal to fill."""

    def __getitem__(self, name: str) -> str:
        return "{custom[" + name + "]}"
