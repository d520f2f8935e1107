"""target-paypal: settings, sinks by stream, and the apply-before-STATE rule."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, cast
from urllib.parse import urlparse

from singer_sdk import typing as th
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_paypal.alerts import notify, parse_urls, run_alert
from target_paypal.apply import Applier, InvoiceApplier
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.compose import Invoicer
from target_paypal.contract import IGNORED_STREAMS, STREAMS
from target_paypal.plan import PlanningClient, build_plan, describe_plan, write_plan
from target_paypal.reader import ForgivingReader, printable, raw_line
from target_paypal.sinks import IgnoredSink, StagingSink
from target_paypal.store import DEFAULT_STORE, Store, StoreError
from target_paypal.summary import describe, run_summary

PAYPAL_SANDBOX = "https://api-m.sandbox.paypal.com"


class TargetPayPal(Target):
    """Upserts clinic invoices into PayPal Invoicing v2 through a durable store."""

    name = "target-paypal"
    default_sink_class = StagingSink
    message_reader_class = ForgivingReader

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
        th.Property(
            "store_lock_timeout_seconds",
            th.NumberType,
            default=30,
            description="How long to wait for a store another process holds locked before "
            "the run stops.",
        ),
    ).to_dict()

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Missing credentials or a malformed base URL stop the run with one line saying
        which setting to fix (singer-sdk's own messages name schema properties only)."""
        problem = config_problem(self.config)
        if problem and raise_errors:
            stop(self.logger, problem)
        return super()._validate_config(raise_errors=raise_errors)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_paypal()
        self.run_id = self.store.start_run()
        self.started = time.monotonic()
        self.received: dict[str, int] = {}  # records read, by input stream
        self._input_ended = False
        cast(ForgivingReader, self.message_reader).on_bad_line = self._park_line
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
            return Store(url, float(self.config.get("store_lock_timeout_seconds", 30)))
        except StoreError as error:
            stop(self.logger, str(error))

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

    # --- bad input lines ------------------------------------------------------------------------
    def _process_record_message(self, message_dict: dict) -> None:
        if "record" in message_dict and not isinstance(message_dict["record"], dict):
            self._park_line(None, "a RECORD message whose record is not an object", message_dict)
            return
        super()._process_record_message(message_dict)

    def _park_line(self, number: int | None, reason: str, message: Any) -> None:
        """Keep an input line that is not a usable message; the run goes on.

        A record of a known stream (e.g. one sent before its SCHEMA) is kept under its stream
        and id, so `paypal-ops dead-letters replay` checks it against the contract and stages
        it; anything else is kept whole under `input`, for a person to look at.
        """
        stream = message.get("stream") if isinstance(message, dict) else None
        record = message.get("record") if isinstance(message, dict) else None
        key = STREAMS.get(stream) if isinstance(stream, str) else None
        where = f"line {number}" if number else "a line"
        if key and isinstance(record, dict) and record.get(key) not in (None, ""):
            kept_stream, record_id, kept = str(stream), str(record[key])[:60], raw_line(record)
            label = f"{kept_stream} record {printable(record_id)} ({where} of the input)"
            todo = "fix what writes target-paypal's input, then `paypal-ops dead-letters replay`"
        else:
            kept_stream, kept = "input", raw_line(message)
            record_id = f"run {self.run_id} {where}"
            label = f"input {where} (dead letter 'input' '{record_id}')"
            todo = "fix what writes target-paypal's input (tap or mapper) and run again"
        self.logger.error("Parked %s: %s: %s", label, reason, todo)
        self.store.park(kept_stream, record_id, f"{reason}: {todo}", record=kept)
        self.store.note_outcome(self.run_id, kept_stream, record_id, "parked", reason)

    # --- apply before STATE -------------------------------------------------------------------
    def _replay_dead_letters(self) -> None:
        """Invoices parked last time are tried again first (their records are in the store)."""
        # Ids only: every open letter's kept record would be read just to be dropped.
        parked = self.store.open_dead_letter_ids("invoices")
        if parked:
            self.logger.info("Retrying %d parked invoices", len(parked))
            self.store.mark_dirty(parked)
            self.applier.parked_before = set(parked)

    def apply_pending(self) -> None:
        if not self.store.dirty_invoice_ids():
            return
        self._check_credentials()
        self.applier.apply_dirty(final=self._input_ended)

    def _check_paypal(self) -> None:
        """Before anything is read: refused credentials, or a PayPal that cannot be connected
        to at all (refused, no such host; a few quick tries), stop the run. A PayPal that
        answers with errors (outage, 5xx) does not yet: what is read is staged first, and
        `_check_credentials` stops the run if PayPal still fails when it is to be applied."""
        try:
            self.client.access_token(tries=STARTUP_TRIES)
        except PayPalError as error:
            if error.status in (400, 401) or error.unreachable:
                self._stop_for(error)

    def _check_credentials(self) -> None:
        """Refused credentials, or PayPal unreachable, stop the run before anything is applied
        and before STATE is passed on, rather than park every invoice: what was read stays
        staged (dirty) in the store, the bookmark stays where it was, and the next run applies
        it. (Trying each invoice in turn would wait out every retry, token call by token call.)
        """
        try:
            self.client.access_token()
        except PayPalError as error:
            if error.status in (400, 401):
                self._stop_for(error)
            if error.retriable:
                stop(
                    self.logger,
                    f"PayPal unreachable at {self.client.base_url} ({error}, after "
                    f"{self.client.max_tries} tries); nothing written, nothing lost: the records "
                    "read are kept in the store and applied on the next run. Run it again when "
                    "PayPal is back.",
                )
            # Any other answer: go on, an invoice that still fails is parked for the next run.

    def _stop_for(self, error: PayPalError) -> NoReturn:
        where = self.client.base_url
        if error.unreachable:
            stop(
                self.logger,
                f"cannot connect to PayPal at {where} ({error.name}, {STARTUP_TRIES} tries): "
                "check base_url (TARGET_PAYPAL_BASE_URL) and the network",
            )
        stop(
            self.logger,
            f"PayPal refused the client id/secret (HTTP {error.status} "
            f"{'invalid_client' if error.status == 401 else error.name}) at "
            f"{where}: check TARGET_PAYPAL_CLIENT_ID and TARGET_PAYPAL_CLIENT_SECRET",
        )

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


STARTUP_TRIES = 3  # connection attempts at start-up before PayPal counts as unreachable


def config_problem(config: Any) -> str | None:
    """What is wrong with the settings, as one line naming what to set; None when nothing."""
    missing = [k for k in ("client_id", "client_secret") if not str(config.get(k) or "").strip()]
    if missing:
        names = " and ".join(f"TARGET_PAYPAL_{k.upper()}" for k in missing)
        return f"no PayPal {' or '.join(k.replace('_', ' ') for k in missing)}: set {names}"
    url = urlparse(str(config.get("base_url") or PAYPAL_SANDBOX))
    if url.scheme not in ("http", "https") or not url.hostname:
        return (
            "base_url is not an http(s) URL: set TARGET_PAYPAL_BASE_URL to "
            "https://api-m.paypal.com (live) or https://api-m.sandbox.paypal.com"
        )
    return None


def stop(logger: Any, problem: str) -> NoReturn:
    """End the run with one line. Meltano is still writing the tap's records into our stdin,
    and it fails with a BrokenPipeError traceback when a target exits without reading them
    (meltano#7047): a small child reads and discards them until Meltano, seeing this process
    end, stops the tap and closes the pipe."""
    logger.error("target-paypal stopped: %s", problem)
    try:
        stdin = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):  # no real stdin (in-process tests)
        stdin = None
    if stdin is None or os.isatty(stdin):
        sys.exit(1)
    # Kept referenced and left running on purpose; os._exit, not sys.exit, since the
    # interpreter's clean-up would warn that it still runs.
    READERS.append(
        subprocess.Popen(
            [sys.executable, "-c", DISCARD_STDIN],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    logging.shutdown()
    os._exit(1)


DISCARD_STDIN = "import shutil, sys; shutil.copyfileobj(sys.stdin.buffer, open('/dev/null', 'wb'))"
READERS: list[subprocess.Popen[bytes]] = []


def scratch_copy(url: str, folder: Path, logger: Any) -> str:
    """A dry run's store: a consistent copy of the SQLite store (SQLite's backup API, so pages
    still in the WAL come too), or an empty one beside it for other databases."""
    scratch = folder / "store.db"
    source = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if source is not None and source.exists():
        try:
            with sqlite3.connect(source) as src, sqlite3.connect(scratch) as dst:
                src.backup(dst)
        except sqlite3.Error as error:
            raise StoreError(
                f"the store {source} cannot be copied for a dry run ({error}): if it is "
                "corrupt, restore it from a backup; if it is locked, let the other run finish"
            ) from None
    elif source is None:
        logger.warning("Dry run on an empty scratch store: only SQLite stores are copied")
    return f"sqlite:///{scratch}"


if __name__ == "__main__":
    TargetPayPal.cli()
