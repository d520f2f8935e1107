"""Many clinics in one store: where each clinic's tables live.

A clinic's data is isolated by the database, not by a WHERE clause every query must remember:
on PostgreSQL each clinic has its own schema (`clinic_<name>`) of the shared database; on
SQLite, whose schemas are separate files anyway, its own file beside the store's
(`store.db` -> `store.<name>.db`). No clinic set: the store as before (PostgreSQL's default
schema, the SQLite file itself).
"""

from __future__ import annotations

import re

CLINIC_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
SCHEMA_PREFIX = "clinic_"


def check_clinic(clinic: str | None) -> str | None:
    """Return the clinic name, or raise ValueError saying what a name may hold."""
    if clinic in (None, ""):
        return None
    if not CLINIC_NAME.fullmatch(str(clinic)):
        raise ValueError(
            f"clinic '{clinic}' is not a valid clinic name: use 1 to 40 lowercase letters, "
            "digits and '_', starting with a letter or digit"
        )
    return str(clinic)


def clinic_schema(clinic: str | None) -> str | None:
    """The PostgreSQL schema holding a clinic's tables (None: the default schema)."""
    return f"{SCHEMA_PREFIX}{clinic}" if clinic else None


def clinic_sqlite_url(url: str, clinic: str | None) -> str:
    """The SQLite URL of a clinic's own file beside the store's (`store.db` -> `store.a.db`)."""
    if not clinic or not url.startswith("sqlite:///"):
        return url
    stem, dot, suffix = url.rpartition(".")
    if not dot or "/" in suffix:
        return f"{url}.{clinic}"
    return f"{stem}.{clinic}.{suffix}"


def described(clinic: str | None) -> str:
    """How a message names the clinic: "of clinic X", or nothing when there is none."""
    return f" of clinic {clinic}" if clinic else ""
