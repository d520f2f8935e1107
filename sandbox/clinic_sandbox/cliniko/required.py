"""Plausible values for the fields a Cliniko record must always have.

Both the seeder and `ClinikoStore.create` fill rows with these, so every record the sandbox serves
carries each non-nullable field its spec schema lists. Depends only on the resource table, so the
store and the seeder can both import it.
"""

from __future__ import annotations

from typing import Any

from .resources import RESOURCES

_DEFAULTS = {"str": "Sample", "dec": "0.00", "int": 1, "int64": "0", "bool": False,
             "obj": {"sections": []}, "num": 0}
_REQUIRED: dict[tuple[str, str], list[tuple[str, str]]] = {}


def fill_required(collection: str, row: dict[str, Any]) -> None:
    """Give every non-nullable scalar the spec lists a plausible value if it has none."""
    resource = RESOURCES[collection]
    variant = row.get("_variant", "") or next(iter(resource.variants))
    key = (collection, variant)
    if key not in _REQUIRED:
        fields = resource.variants.get(variant, resource.fields)
        _REQUIRED[key] = [(n, k) for n, k in fields.items()
                          if "?" not in k.split(":")[0] and k.split(":")[0] not in
                          ("id", "self", "ref", "sub", "filter", "const")]
    for name, kind in _REQUIRED[key]:
        if row.get(name) is not None:
            continue
        head = kind.split(":")[0].rstrip("?")
        if head in ("dt",):
            row[name] = row["created_at"]
        elif head == "date":
            row[name] = row["created_at"][:10]
        elif head in ("enum", "ienum"):
            first = kind.split(":", 1)[1].split("|")[0]
            row[name] = int(first) if head == "ienum" else first
        elif head in _DEFAULTS:
            row[name] = _DEFAULTS[head]
    if collection == "patient_attachments" and row.get("_variant") == "UploadedPatientAttachment":
        row.setdefault("content_id", row["id"])
