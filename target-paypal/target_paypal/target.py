"""target-paypal: settings, sinks by stream, and the apply-before-STATE rule."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from singer_sdk import typing as th
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_paypal.alerts import notify, parse_urls, run_alert
from target_paypal.apply import Applier, InvoiceApplier
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.compose import Invoicer
from target_paypal.contract import IGNORED_STREAMS
from target_paypal.plan import PlanningClient, build_plan, describe_plan, write_plan
from target_paypal.sinks import IgnoredSink, StagingSink
from target_paypal.store import DEFAULT_STORE, Store, StoreError
from target_paypal.summary import describe, run_summary

PAYPAL_SANDBOX = "https://api-m.sandbox.paypal.com"


class TargetPayPal(Target):
    """Upserts clinic invoices into PayPal Invoicing v2 through a durable store."""

    name = "target-paypal"
    default_sink_class = StagingSink

    config_jsonschema = th.PropertiesList(
        th.Property(
            "client_id", th.StringType, required=True, description="PayPal REST app client id."
        ),
        th.Property(
            "client_secret",
            th.StringType,
            required=True,
            secret=True,
            description="PayPal REST app secret.",
        ),
        th.Property(
            "base_url",
            th.StringType,
            default=PAYPAL_SANDBOX,
            description="PayPal API base URL. Default PayPal's own sandbox; live "
            "(https://api-m.paypal.com) must be set explicitly.",
        ),
        th.Property(
            "invoicer_email",
            th.StringType,
            description="Email of the PayPal business account (invoicer).",
        ),
        th.Property("invoicer_business_name", th.StringType),
        th.Property("invoicer_website", th.StringType),
        th.Property("invoicer_tax_id", th.StringType, description="e.g. the clinic's ABN."),
        th.Property(
            "currency",
            th.StringType,
            default="AUD",
            description="Every invoice must be in this currency.",
        ),
        th.Property(
            "send_invoices",
            th.BooleanType,
            default=True,
            description="Send open invoices to patients (false: keep them as drafts).",
        ),
        th.Property(
            "store_url",
            th.StringType,
            default=DEFAULT_STORE,
            description="SQLAlchemy URL of the target's store.",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType,
            default=4,
            description="Invoices written to PayPal at the same time.",
        ),
        th.Property(
            "max_requests_per_second",
            th.NumberType,
            default=10,
            description="Cap on PayPal calls per second (all workers together).",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Go through the whole sync but write a plan instead of calling PayPal's "
            "write endpoints; works on a scratch copy of the store and passes no STATE on.",
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
            description="Apprise URLs to alert when a run parks new records (one alert per "
            "run; IDs and counts only): e.g. jsons://host/path?:message=text for a "
            "Slack-compatible webhook, mailtos://user:password@host?to=... for email.",
        ),
        th.Property("retry_max_tries", th.IntegerType, default=6),
        th.Property("retry_backoff_base_ms", th.IntegerType, default=1000),
        th.Property("request_timeout_seconds", th.IntegerType, default=60),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run_id = self.store.start_run()
        self.started = time.monotonic()
        self.received: dict[str, int] = {}  # records read, by input stream
        self._input_ended = False
        self._replay_dead_letters()

    # --- collaborators ------------------------------------------------------------------------
    @property
    def dry_run(self) -> bool:
        return bool(self.config.get("dry_run"))

    @cached_property
    def store(self) -> Store:
        url = self.config.get("store_url") or DEFAULT_STORE
        try:
            if self.dry_run:
                self._scratch = tempfile.TemporaryDirectory(prefix="target-paypal-plan-")
                url = scratch_copy(url, Path(self._scratch.name), self.logger)
            return Store(url)
        except StoreError as error:
            self.logger.error("target-paypal stopped: %s", error)
            sys.exit(1)

    @cached_property
    def client(self) -> PayPalClient:
        config = self.config
        client = PayPalClient(
            config.get("base_url") or PAYPAL_SANDBOX,
            config["client_id"],
            config["client_secret"],
            max_requests_per_second=float(config.get("max_requests_per_second") or 0),
            max_tries=int(config.get("retry_max_tries", 6)),
            backoff_base_seconds=int(config.get("retry_backoff_base_ms", 1000)) / 1000,
            timeout_seconds=int(config.get("request_timeout_seconds", 60)),
            pool_size=max(8, int(config.get("max_concurrency", 4))),
        )
        # A dry run reads PayPal but answers its own writes (same interface, duck-typed).
        return cast(PayPalClient, PlanningClient(client)) if self.dry_run else client

    @cached_property
    def applier(self) -> Applier:
        invoicer = Invoicer(
            self.config.get("invoicer_email"),
            self.config.get("invoicer_business_name"),
            self.config.get("invoicer_website"),
            self.config.get("invoicer_tax_id"),
        )
        invoices = InvoiceApplier(
            self.client, invoicer, bool(self.config.get("send_invoices", True))
        )
        return Applier(
            self.store, invoices, int(self.config.get("max_concurrency", 4)), self.run_id
        )

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        return IgnoredSink if stream_name in IGNORED_STREAMS else StagingSink

    # --- apply before STATE -------------------------------------------------------------------
    def _replay_dead_letters(self) -> None:
        """Invoices parked last time are tried again first (their records are in the store)."""
        # Ids only: every open letter's kept record would be read just to be dropped.
        parked = self.store.open_dead_letter_ids("invoices")
        if parked:
            self.logger.info("Retrying %d parked invoices", len(parked))
            self.store.mark_dirty(parked)

    def apply_pending(self) -> None:
        if not self.store.dirty_invoice_ids():
            return
        self._check_credentials()
        self.applier.apply_dirty(final=self._input_ended)

    def _check_credentials(self) -> None:
        """Refused credentials stop the run (nothing applied, no STATE) rather than park all."""
        try:
            self.client.access_token()
        except PayPalError as error:
            if error.status in (400, 401):
                self.logger.error(
                    "target-paypal stopped: PayPal refused client_id/client_secret (HTTP %s). "
                    "Set TARGET_PAYPAL_CLIENT_ID and TARGET_PAYPAL_CLIENT_SECRET for %s.",
                    error.status,
                    self.client.base_url,
                )
                sys.exit(1)
            # PayPal unreachable or failing: go on, every invoice is parked for the next run.

    def _write_state_message(self, state: dict) -> None:
        # Meltano's bookmark may only move once everything before it is applied or parked.
        self.apply_pending()
        if not self.dry_run:  # a dry run must not move Meltano's bookmarks
            super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        self._input_ended = True
        super().process_endofpipe()
        self.apply_pending()
        summary = run_summary(
            self.received,
            self.store.run_outcomes(self.run_id),
            self.store.open_dead_letter_count(),
            time.monotonic() - self.started,
        )
        self.store.finish_run(self.run_id, "succeeded", summary)
        self.logger.info("target-paypal run %d: %s", self.run_id, describe(summary))
        if not self.dry_run:
            self._alert()
        if self.dry_run:
            plan = build_plan(self.store, self.run_id)
            paths = write_plan(plan, Path(self.config.get("plan_dir") or "output/plan"))
            for line in describe_plan(plan):
                self.logger.info(line)
            self.logger.info("Plan written to %s and %s", *paths)

    def _alert(self) -> None:
        """One alert when this run parked new records (a failed run: `paypal-ops notify`)."""
        urls = parse_urls(self.config.get("alert_urls"))
        try:
            alert = run_alert(self.store, self.run_id) if urls else None
        except Exception as error:  # an alert never fails a run that succeeded
            self.logger.warning("No alert for run %d: %s", self.run_id, type(error).__name__)
            return
        if alert is not None:
            sent = notify(urls, alert, self.store, self.logger)
            self.logger.info("Alert %s sent to %d of %d channels", alert.subject, sent, len(urls))


def scratch_copy(url: str, folder: Path, logger: Any) -> str:
    """A dry run's store: a consistent copy of the SQLite store (SQLite's backup API, so pages
    still in the WAL come too), or an empty one beside it for other databases."""
    scratch = folder / "store.db"
    source = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if source is not None and source.exists():
        with sqlite3.connect(source) as src, sqlite3.connect(scratch) as dst:
            src.backup(dst)
    elif source is None:
        logger.warning("Dry run on an empty scratch store: only SQLite stores are copied")
    return f"sqlite:///{scratch}"


if __name__ == "__main__":
    TargetPayPal.cli()
