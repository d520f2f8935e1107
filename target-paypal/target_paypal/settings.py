"""target-paypal's settings: each described once, here (`--about`, the README and meltano.yml)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from singer_sdk import typing as th

from target_paypal.client import PAYPAL_SANDBOX
from target_paypal.store import DEFAULT_STORE
from target_paypal.store.clinics import check_clinic
from target_paypal.store.retention import AUDIT_RETENTION_DAYS, DEAD_LETTER_RETENTION_DAYS

SETTINGS = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType,
        required=True,
        description="PayPal REST app client id (developer.paypal.com > Apps & Credentials).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        required=True,
        secret=True,
        description="PayPal REST app secret. Only from the environment "
        "(TARGET_PAYPAL_CLIENT_SECRET) or .env.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=PAYPAL_SANDBOX,
        description="PayPal API base URL. Defaults to PayPal's own sandbox so a mistake never "
        "touches live money; live is https://api-m.paypal.com and must be set explicitly.",
    ),
    th.Property(
        "invoicer_email",
        th.StringType,
        description="Email of the clinic's PayPal business account (PayPal refuses invoices "
        "from any other).",
    ),
    th.Property(
        "invoicer_business_name", th.StringType, description="Clinic name shown on invoices."
    ),
    th.Property("invoicer_website", th.StringType, description="Website shown on invoices."),
    th.Property(
        "invoicer_tax_id",
        th.StringType,
        description="Tax id shown on invoices, e.g. the clinic's ABN.",
    ),
    th.Property(
        "currency",
        th.StringType,
        default="AUD",
        description="Every invoice must be in this currency; others are parked.",
    ),
    th.Property(
        "send_invoices",
        th.BooleanType,
        default=True,
        description="Send open invoices to patients (false keeps them as PayPal drafts).",
    ),
    th.Property(
        "store_url",
        th.StringType,
        default=DEFAULT_STORE,
        description="SQLAlchemy URL of the target's store (customer directory, "
        "cross-references, audit log, dead letters): sqlite:///path/store.db, or "
        "postgresql+psycopg://user@host/database when several workers or clinics share it.",
    ),
    th.Property(
        "store_secret",
        th.StringType,
        secret=True,
        description="The store's own secret for the keyed hash of patients' emails (how it "
        "finds emails patients share without keeping them). Read from the environment "
        "(TARGET_PAYPAL_STORE_SECRET, or .env). Unset: a key file made at the first run, "
        "owner-only, beside a SQLite store (<store file>.key) or, for PostgreSQL, in "
        "~/.config/target-paypal/keys/; set it, the same on every machine, when several "
        "machines share a PostgreSQL store. Changing it later stops the run.",
    ),
    th.Property(
        "clinic",
        th.StringType,
        description="The clinic whose data this run reads and writes in the store (1-40 "
        "lowercase letters, digits, '_'): on PostgreSQL its own schema clinic_<clinic>, on "
        "SQLite its own file beside store_url's (store.<clinic>.db). One run per clinic at a "
        "time; runs of other clinics go on side by side. Empty: the store as it is.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType,
        default=4,
        description="Invoices written to PayPal at the same time (each invoice's own calls "
        "stay in order).",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType,
        default=10,
        description="Cap on PayPal calls per second, all workers together (0 for none).",
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType,
        default=10,
        description="While invoices are applied, log progress (invoices applied of those to "
        "apply, PayPal calls per second, time left) at most this often, and once at the end; "
        "0 logs a line after every invoice.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Go through the whole sync but write a plan (plan_dir) instead of calling "
        "PayPal's write endpoints; works on a scratch copy of the store: nothing written, no "
        "bookmark moved.",
    ),
    th.Property(
        "plan_dir",
        th.StringType,
        default="output/plan",
        description="Where a dry run writes plan.json and plan.txt.",
    ),
    th.Property(
        "alert_urls",
        th.ArrayType(th.StringType),
        secret=True,
        description="Apprise URLs alerted (once per run, IDs and counts only) when a run parks "
        "new records, e.g. jsons://hooks.example/path?:message=text (Slack-compatible JSON) or "
        "mailtos://user:password@smtp.example?to=ops@clinic.example. From the environment "
        "(TARGET_PAYPAL_ALERT_URLS, a JSON list) or .env.",
    ),
    th.Property(
        "retry_max_tries",
        th.IntegerType,
        default=6,
        description="Tries per PayPal call on 429, 5xx and dropped connections before the "
        "invoice is parked.",
    ),
    th.Property(
        "retry_backoff_base_ms",
        th.IntegerType,
        default=1000,
        description="First backoff wait in ms, doubled each retry; a 429's Retry-After wins.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType,
        default=60,
        description="How long to wait for one PayPal answer before retrying.",
    ),
    th.Property(
        "store_lock_timeout_seconds",
        th.NumberType,
        default=30,
        description="How long to wait for the store while another process (another run, "
        "paypal-ops) holds it locked; then the run stops, nothing written.",
    ),
    th.Property(
        "dead_letter_retention_days",
        th.IntegerType,
        default=DEAD_LETTER_RETENTION_DAYS,
        description="How long an open dead letter keeps the record it was parked with (a "
        "patient's details, an invoice's lines). After that, at the end of a run, the record is "
        "dropped: the letter stays with its IDs and reason and says 're-read from Cliniko to "
        "replay'. A closed letter keeps no record. `paypal-ops purge` uses it too.",
    ),
    th.Property(
        "audit_retention_days",
        th.IntegerType,
        default=AUDIT_RETENTION_DAYS,
        description="How long the audit log of PayPal writes, the runs and each record's "
        "outcome are kept (IDs and amounts only); older entries are deleted at the end of a "
        "run. Default 7 years: they are financial records. `paypal-ops purge` uses it too.",
    ),
).to_dict()

RETENTION_SETTINGS = ("dead_letter_retention_days", "audit_retention_days")


def retention_problem(name: str, value: Any) -> str | None:
    """Why a retention setting's value is unusable (one line), or None."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return None
    return f"{name} must be a whole number of days, 0 or more (it is {value!r})"


def config_problem(config: Any) -> str | None:
    """What is wrong with the settings, as one line naming what to set; None when nothing."""
    missing = [k for k in ("client_id", "client_secret") if not str(config.get(k) or "").strip()]
    if missing:
        names = " and ".join(f"TARGET_PAYPAL_{k.upper()}" for k in missing)
        return f"no PayPal {' or '.join(k.replace('_', ' ') for k in missing)}: set {names}"
    try:
        check_clinic(config.get("clinic"))
    except ValueError as error:
        return f"{error}: set TARGET_PAYPAL_CLINIC to the clinic's name in the store"
    for name in RETENTION_SETTINGS:
        problem = retention_problem(name, config.get(name))
        if problem:
            return f"{problem}: set TARGET_PAYPAL_{name.upper()}"
    url = urlparse(str(config.get("base_url") or PAYPAL_SANDBOX))
    if url.scheme not in ("http", "https") or not url.hostname:
        return (
            "base_url is not an http(s) URL: set TARGET_PAYPAL_BASE_URL to "
            "https://api-m.paypal.com (live) or https://api-m.sandbox.paypal.com"
        )
    return None
