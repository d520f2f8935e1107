"""Leak scan: credentials, tokens, patient names, emails and extra information never in output.

The reliability suite hands every run's printed and written output to a `LeakScan` (the
`leak_scan` fixture of tests/reliability/conftest.py), which fails the test on any hit.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import sqlalchemy as sa

# Distinctive credentials, so a leak cannot hide behind a common word.
CLINIKO_KEY = "MS0xMjM0NTY3ODkw-reliability-cliniko-key-au1"
PAYPAL_CLIENT_ID = "AbReliabilityClientId0123456789"
PAYPAL_SECRET = "EKreliabilitySecret-9f8e7d6c5b4a"

# Store columns people read (reasons, outcomes, conflicts); `record` is kept input, not output.
OUTPUT_COLUMNS = ("reason", "outcome", "conflict", "resolution", "counts")
TEXT_SUFFIXES = {".log", ".txt", ".json", ".jsonl", ".csv", ".html", ".svg", ".yml", ".yaml", ""}


def sandbox_secrets(sandbox) -> set[str]:
    """The credentials, issued tokens and patient emails of a sandbox (found anywhere)."""
    found = {sandbox.api_key, sandbox.paypal_client_secret}
    found |= {token.access_token for token in sandbox.paypal.store.tokens()}
    found |= {patient.get("email") or "" for patient in sandbox.cliniko.records("patients")}
    # Extra patient information (NDIS participant, Medicare and policy numbers) is health
    # information: it may go to PayPal by rule, never into output.
    found |= {p.get("invoice_extra_information") or "" for p in sandbox.cliniko.records("patients")}
    found |= {
        invoice.get("patient_extra_information") or ""
        for invoice in sandbox.cliniko.records("invoices")
    }
    return {value for value in found if value and len(value) >= 4}


def sandbox_names(sandbox) -> set[str]:
    """Patient names of a sandbox, found as whole words: a surname such as "Park" must not match
    "parked". First names are short and common ("Max", "Grace"): only in full-name form."""
    found = set()
    for patient in sandbox.cliniko.records("patients"):
        found.add(patient.get("last_name") or "")
        found.add(f"{patient.get('first_name')} {patient.get('last_name')}")
    return {value for value in found if value and len(value) >= 4}


def _pattern(values: set[str], whole_words: bool) -> str:
    escaped = sorted((re.escape(v) for v in values), key=len, reverse=True)
    if whole_words:
        return "|".join(rf"(?<!\w){v}(?!\w)" for v in escaped)
    return "|".join(escaped)


class LeakScan:
    """Collects output (text and files) and the values that must never appear in it."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.sandboxes: list = []
        self.texts: list[tuple[str, str]] = []
        self.paths: list[Path] = []
        self.stores: list[str] = []

    def secret(self, *values: str) -> None:
        self.secrets |= {v for v in values if v}

    def sandbox(self, sandbox) -> None:
        """Scan for this sandbox's secrets (read at teardown, so tokens issued later count)."""
        self.sandboxes.append(sandbox)

    def text(self, where: str, text: str | None) -> None:
        self.texts.append((where, text or ""))

    def path(self, path: Path) -> None:
        self.paths.append(Path(path))

    def store(self, url: str) -> None:
        """Scan a store that is not a file under a scanned path (PostgreSQL), read at teardown."""
        if not url.startswith("sqlite"):
            self.stores.append(url)

    def _sources(self) -> Iterator[tuple[str, str]]:
        yield from self.texts
        for root in self.paths:
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            files = [f for f in files if not is_plugin_input(f)]
            for file in files:
                if file.suffix in (".db", ".sqlite"):
                    yield from store_reasons(file)
                elif file.suffix in TEXT_SUFFIXES:
                    yield str(file), file.read_text(errors="replace")
        for url in self.stores:
            yield from database_store_reasons(url)

    def leaks(self) -> list[str]:
        secrets, names = set(self.secrets), set()
        for sandbox in self.sandboxes:
            secrets |= sandbox_secrets(sandbox)
            names |= sandbox_names(sandbox)
        either = [p for p in (_pattern(secrets, False), _pattern(names, True)) if p]
        pattern = re.compile("|".join(either), re.IGNORECASE) if either else None
        found = []
        for where, text in self._sources():
            match = pattern.search(text) if pattern else None
            if match:
                value = match.group(0)
                found.append(f"{where}: {value[:2]}…({len(value)} chars) at offset {match.start()}")
        return found


def is_plugin_input(file: Path) -> bool:
    """Meltano's `.meltano/run/<plugin>/` files (config, catalog) are the plugins' input, which
    holds credentials by nature; its logs (`.meltano/logs`) are output and are scanned."""
    parts = file.parts
    return "run" in parts and any(p == ".meltano" or p == "meltano-sys" for p in parts)


def store_reasons(file: Path) -> Iterable[tuple[str, str]]:
    """The human-facing text of a target-paypal store: reasons, errors and the audit log.

    The kept records themselves (for replay) necessarily hold patient data and are not output.
    """
    with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in sorted(tables):
            columns = [row[1] for row in db.execute(f"PRAGMA table_info('{table}')")]
            wanted = [c for c in columns if c in OUTPUT_COLUMNS]
            for column in wanted:
                for (value,) in db.execute(f"SELECT {column} FROM '{table}'"):
                    yield f"{file.name}:{table}.{column}", str(value or "")


def database_store_reasons(url: str) -> Iterable[tuple[str, str]]:
    """The same, for a store in a database server (every schema of it but the system's)."""
    engine = sa.create_engine(url)
    name = engine.url.database
    try:
        with engine.connect() as db:
            inspector = sa.inspect(db)
            schemas = [
                s for s in inspector.get_schema_names()
                if s not in ("information_schema", "pg_catalog", "pg_toast")
            ]
            for schema in schemas:
                for table in sorted(inspector.get_table_names(schema=schema)):
                    columns = [c["name"] for c in inspector.get_columns(table, schema=schema)]
                    for column in [c for c in columns if c in OUTPUT_COLUMNS]:
                        query = sa.select(sa.column(column)).select_from(
                            sa.table(table, schema=schema)
                        )
                        for (value,) in db.execute(query):
                            yield f"{name}:{schema}.{table}.{column}", str(value or "")
    finally:
        engine.dispose()


# --- the store at rest (issue 17): what it keeps once an invoice is closed in PayPal -------------

# PayPal statuses after which the store keeps IDs only (target-paypal store/kept.py says why).
CLOSED_IN_PAYPAL = {
    "PAID", "MARKED_AS_PAID", "CANCELLED", "REFUNDED", "PARTIALLY_REFUNDED", "MARKED_AS_REFUNDED",
}  # fmt: skip


def _link(record: dict, name: str) -> str | None:
    link = (record.get(name) or {}).get("links", {}).get("self")
    return str(link).rstrip("/").rsplit("/", 1)[-1] if link else None


def _patient_values(patient: dict) -> set[str]:
    """What a person could read about a patient: names, emails, address, phone numbers."""
    first = patient.get("preferred_first_name") or patient.get("first_name")
    values = {
        patient.get("email"),
        patient.get("invoice_email"),
        patient.get("last_name"),
        f"{first} {patient.get('last_name')}",
        f"{patient.get('first_name')} {patient.get('last_name')}",
        patient.get("address_1"),
    }
    for phone in patient.get("patient_phone_numbers") or []:
        number = str(phone.get("number") or "")
        digits = "".join(c for c in number if c.isdigit()).lstrip("0")
        values |= {number, phone.get("normalized_number"), digits}
    return {v.strip() for v in values if isinstance(v, str) and len(v.strip()) >= 4}


def closed_content(sandbox) -> dict[str, set[str]]:
    """The values the store must no longer hold: by patient or item, those of invoices closed
    in PayPal only (a value an open or unsent invoice also has, a shared surname or a product
    name, may stay).

    A patient counts as closed when PayPal holds at least one of their invoices and every one
    it holds is closed, and Cliniko has none of theirs that PayPal lacks (other than archived or
    deleted ones); an item when its invoice is closed in PayPal.
    """
    statuses = {
        str(inv["detail"].get("reference")): inv["status"] for inv in sandbox.paypal.invoices()
    }
    cliniko = sandbox.cliniko
    patient_of = {str(i["id"]): _link(i, "patient") for i in cliniko.records("invoices")}
    gone = {
        str(i["id"])
        for i in cliniko.records("invoices")
        if i.get("archived_at") or i.get("deleted_at")
    }
    open_patients = {
        patient_of[i]
        for i in patient_of
        if statuses.get(i) not in CLOSED_IN_PAYPAL and (i in statuses or i not in gone)
    }
    closed: dict[str, set[str]] = {"patients": set(), "items": set()}
    kept: dict[str, list[str]] = {"patients": [], "items": []}  # what may stay, as text
    for patient in cliniko.records("patients"):
        pid = str(patient["id"])
        if pid not in open_patients and pid in {patient_of[i] for i in statuses}:
            closed["patients"] |= _patient_values(patient)
        else:
            kept["patients"] += [json.dumps(patient), *_patient_values(patient)]
    for item in cliniko.records("invoice_items"):
        name = str(item.get("name") or "").strip()
        if statuses.get(str(_link(item, "invoice"))) not in CLOSED_IN_PAYPAL:
            kept["items"].append(name)
        elif len(name) >= 4:
            closed["items"].add(name)
    # A value an open patient or item also has, as a whole word anywhere in it (a surname
    # that is another patient's street), may stay.
    return {
        kind: {
            v
            for v in values
            if not re.search(_pattern({v}, True), "\n".join(kept[kind]), re.IGNORECASE)
        }
        for kind, values in closed.items()
    }


def store_at_rest_findings(engine_or_url: sa.Engine | str, sandbox) -> list[str]:
    """Where a store holds what a person could read about an invoice closed in PayPal.

    Every text and JSON column of every table (in every schema but the system's) is scanned
    for `closed_content(sandbox)`, as whole words, case-insensitively. A finding names the
    table, column, row and the value's first two characters only.
    """
    values = closed_content(sandbox)
    wanted = values["patients"] | values["items"]
    if not wanted:
        return []
    pattern = re.compile(_pattern(wanted, True), re.IGNORECASE)
    engine = sa.create_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    found = []
    try:
        with engine.connect() as db:
            inspector = sa.inspect(db)
            schemas: list[str | None] = [None]
            if engine.dialect.name == "postgresql":
                schemas = [
                    s for s in inspector.get_schema_names()
                    if s not in ("information_schema", "pg_catalog", "pg_toast")
                ]
            for schema in schemas:
                for table in sorted(inspector.get_table_names(schema=schema)):
                    columns = [
                        c["name"]
                        for c in inspector.get_columns(table, schema=schema)
                        if isinstance(c["type"], (sa.String, sa.Text, sa.JSON))
                        or str(c["type"]).upper() in ("JSON", "JSONB", "TEXT")
                    ]
                    query = sa.select(*(sa.column(c) for c in columns)).select_from(
                        sa.table(table, schema=schema)
                    )
                    for n, row in enumerate(db.execute(query) if columns else []):
                        for column, value in zip(columns, row, strict=True):
                            text = value if isinstance(value, str) else json.dumps(value)
                            match = pattern.search(text or "")
                            if match:
                                hit = match.group(0)
                                found.append(
                                    f"{schema or 'main'}.{table}.{column} row {n}: "
                                    f"{hit[:2]}…({len(hit)} chars)"
                                )
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
    return found
