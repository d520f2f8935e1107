"""Cliniko's practitioners, users and appointments: an invoice's owner, who saw them, and when."""

from __future__ import annotations

from typing import Any

from map_cliniko_paypal.rules import Rules
from map_cliniko_paypal.values import date_in_zone, required, text


def practitioner_name(record: dict[str, Any]) -> str | None:
    """Cliniko's `display_name`, else title, first and last name (for `{practitioner}`)."""
    name = text(record.get("display_name"))
    if not name:
        parts = (text(record.get(k)) for k in ("title", "first_name", "last_name"))
        name = " ".join(p for p in parts if p)
    return name[:140] or None


def map_practitioner(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A Cliniko practitioner: the link to its user (for the owner) and the name it goes by."""
    user_id = record.get("user_id")
    return {
        "practitioner_id": str(required(record, "id")),
        "user_id": str(user_id) if user_id else None,
        "display_name": practitioner_name(record),
        "updated_at": record.get("updated_at"),
    }


def map_user(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A Cliniko user's owner: the owners table by the user's email, else the default."""
    email = str(record.get("email") or "").strip().lower()
    return {
        "user_id": str(required(record, "id")),
        "owner": rules.owners_by_email.get(email, rules.default_owner),
        "updated_at": record.get("updated_at"),
    }


def map_appointment(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A Cliniko appointment: its day in the clinic's zone, the date of service."""
    starts = record.get("starts_at")
    return {
        "appointment_id": str(required(record, "id")),
        "service_date": date_in_zone(starts, rules.time_zone, "starts_at") if starts else None,
        "updated_at": record.get("updated_at"),
    }
