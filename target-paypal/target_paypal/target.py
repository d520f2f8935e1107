"""target-paypal: settings, sinks by stream, and the apply-before-STATE rule."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, cast

from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from cliniko_paypal_contract import KEYS
from target_paypal.alerts import approvals_alert, notify, parse_urls, run_alert
from target_paypal.applier import DirtyInvoiceApplier
from target_paypal.apply import InvoiceWriter
from target_paypal.client import PAYPAL_SANDBOX, PayPalClient, PayPalError
from target_paypal.compose import Invoicer
from target_paypal.left_out import summed_up
from target_paypal.plan import (
    PlanningClient,
    build_plan,
    describe_plan,
    scratch_copy,
    write_plan,
)
from target_paypal.progress import quiet_metrics
from target_paypal.reader import ForgivingReader, printable, raw_line
from target_paypal.settings import SETTINGS, config_problem
from target_paypal.sinks import IGNORED_STREAMS, IgnoredSink, StagingSink
from target_paypal.store import DEFAULT_STORE, Store, StoreError
from target_paypal.store.dead_letters import REREAD_FROM_CLINIKO
from target_paypal.store.retention import (
    AUDIT_RETENTION_DAYS,
    DEAD_LETTER_RETENTION_DAYS,
    RetentionDays,
)
from target_paypal.store.retry import EVERY_RUN, rules_changed
from target_paypal.summary import describe, run_summary


class TargetPayPal(Target):
    """Upserts clinic invoices into PayPal Invoicing v2 through a durable store."""

    name = "target-paypal"
    run_id: int  # set when the input begins (`_begin_run`)
    default_sink_class = StagingSink
    message_reader_class = ForgivingReader

    config_jsonschema = SETTINGS

    # Private singer-sdk hook (0.54.9): the only point between reading the config and singer-sdk's
    # own check, whose messages name schema properties, not the variable a user must set.
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Stop with one line naming the setting to fix: missing credentials, a malformed URL."""
        problem = config_problem(self.config)
        if problem and raise_errors:
            stop(self.logger, problem)
        return super()._validate_config(raise_errors=raise_errors)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One writer per clinic while staging: sinks drained in parallel threads updated the same
        # invoices in different orders (PostgreSQL deadlocks). Staging is store-bound anyway.
        self.max_parallelism = 1
        quiet_metrics(self.metrics_logger)
        self.started = time.monotonic()
        self.received: dict[str, int] = {}  # records read, by input stream
        self._input_ended = False
        self._rules_noted: str | None = None  # the rules_fingerprint this run last noted
        reader = cast(ForgivingReader, self.message_reader)
        reader.on_bad_line = self._park_line
        reader.on_start = self._begin_run

    def _begin_run(self) -> None:
        """Before the first input line: hold the clinic's store, check PayPal, record the run.

        The store first: a second run of the clinic stops at once, not after a call to PayPal.
        """
        store = self.store  # opened and held: a second run of the clinic stops here
        self._check_paypal()
        self.run_id = store.start_run()
        self.store.save_writer_settings(self.writer_settings)
        self._replay_dead_letters()

    # --- collaborators ------------------------------------------------------------------------
    @property
    def dry_run(self) -> bool:
        """Whether this run only plans (`dry_run`): PayPal writes simulated, no STATE passed on."""
        return bool(self.config.get("dry_run"))

    @cached_property
    def store(self) -> Store:
        """The clinic's durable store, held by this run (a dry run: a scratch copy).

        The run stops with one line if the store cannot be opened or another run of the same
        clinic holds it.
        """
        url = self.config.get("store_url") or DEFAULT_STORE
        clinic = self.config.get("clinic") or None
        try:
            if self.dry_run:
                self._scratch = tempfile.TemporaryDirectory(prefix="target-paypal-plan-")
                url = scratch_copy(url, clinic, Path(self._scratch.name), self.logger)
                clinic = None  # the scratch copy holds that clinic's tables only
            store = Store(url, float(self.config.get("store_lock_timeout_seconds", 30)), clinic)
            store.hold_run_lock()
            return store
        except StoreError as error:
            stop(self.logger, str(error))

    @cached_property
    def client(self) -> PayPalClient:
        """The PayPal client from the settings; in a dry run, one that only plans the writes."""
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

    @property
    def writer_settings(self) -> dict[str, Any]:
        """What invoices are written with, no secret: kept in the store for `--apply-now`."""
        return {
            "invoicer": Invoicer(
                self.config.get("invoicer_email"),
                self.config.get("invoicer_business_name"),
                self.config.get("invoicer_website"),
                self.config.get("invoicer_tax_id"),
            ).__dict__,
            "send_invoices": bool(self.config.get("send_invoices", True)),
        }

    @cached_property
    def applier(self) -> DirtyInvoiceApplier:
        """The applier of dirty invoices, with the invoicer and concurrency from the settings."""
        settings = self.writer_settings
        invoices = InvoiceWriter(
            self.client, Invoicer(**settings["invoicer"]), settings["send_invoices"]
        )
        return DirtyInvoiceApplier(
            self.store,
            invoices,
            int(self.config.get("max_concurrency", 4)),
            self.run_id,
            progress_interval=float(self.config.get("progress_interval_seconds", 10)),
        )

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """The staging sink, or the do-nothing one for `meltano config test`'s stream."""
        return IgnoredSink if stream_name in IGNORED_STREAMS else StagingSink

    # --- bad input lines ------------------------------------------------------------------------
    def _park_line(self, number: int | None, reason: str, message: Any) -> None:
        """Keep an input line that is not a usable message; the run goes on.

        A record of a known stream (e.g. one sent before its SCHEMA) is kept under its stream
        and id, so `paypal-ops dead-letters replay` checks it against the contract and stages
        it; anything else is kept whole under `input`, for a person to look at.
        """
        stream = message.get("stream") if isinstance(message, dict) else None
        record = message.get("record") if isinstance(message, dict) else None
        key = KEYS.get(stream) if isinstance(stream, str) else None
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
        # One line per record at debug level; the run's end sums them up (left_out.py).
        self.logger.debug("Parked %s: %s: %s", label, reason, todo)
        self.store.park(kept_stream, record_id, f"{reason}: {todo}", record=kept)
        self.store.note_outcome(self.run_id, kept_stream, record_id, "parked", reason)

    # --- apply before STATE -------------------------------------------------------------------
    def _replay_dead_letters(self) -> None:
        """Retry first the parked invoices that may clear by themselves (store/retry.py).

        Those held by their patient wait for the patient, its reject or the mapping rules to
        change (`note_rules`), or for `paypal-ops dead-letters replay`: a run with nothing new
        costs what can change, not what is parked.
        """
        plan = self.store.retry_plan()  # ids and reasons only, no kept records
        dropped = self.store.dropped_letter_count()
        if dropped:  # their records are gone: only Cliniko's can replay them
            self.logger.info("%d dead letters cannot be retried: %s", dropped, REREAD_FROM_CLINIKO)
        for line in plan.described():
            self.logger.info(line)
        self.store.mark_dirty(plan.ids(EVERY_RUN))
        self.applier.parked_before = plan.parked

    def note_rules(self, fingerprint: str) -> None:
        """A record's `rules_fingerprint`: new rules retry the invoices held by patients once."""
        if fingerprint != self._rules_noted:
            self._rules_noted = fingerprint
            held = self.store.rules_changed(fingerprint)
            if held:
                self.logger.info(rules_changed(printable(fingerprint, 64), len(held)))
                self.applier.parked_before |= set(held)  # logged when first parked only

    def apply_pending(self) -> None:
        """Apply the staged invoices, if any, after checking that PayPal takes the credentials."""
        if not self.store.count_dirty():
            return
        self._check_credentials()
        self.applier.apply_dirty(final=self._input_ended)

    def _check_paypal(self) -> None:
        """Before anything is read, stop on refused credentials or a PayPal out of reach.

        Out of reach: no connection at all (refused, no such host; a few quick tries). A PayPal
        that answers with errors (outage, 5xx) does not stop the run yet: what is read is staged
        first, and `_check_credentials` stops the run if PayPal still fails when it is to be
        applied.
        """
        try:
            self.client.access_token(tries=STARTUP_TRIES)
        except PayPalError as error:
            if error.status in (400, 401) or error.unreachable:
                self._stop_for(error)

    def _check_credentials(self) -> None:
        """Stop the run on refused credentials or an unreachable PayPal, before anything is applied.

        It stops before STATE is passed on too, rather than park every invoice: what was read
        stays staged (dirty) in the store, the bookmark stays where it was, and the next run
        applies it. (Trying each invoice in turn would wait out every retry, token call by token
        call.)
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

    # Private singer-sdk hook (0.54.9): the only point after every sink has drained and before
    # STATE is written (`drain_all`, which calls it, is final). Meltano's bookmark may only move
    # once everything before it is applied or parked.
    def _write_state_message(self, state: dict) -> None:
        """Apply what is staged, then pass STATE on (never in a dry run)."""
        self.apply_pending()
        if not self.dry_run:  # a dry run must not move Meltano's bookmarks
            super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        """End of input: apply the rest, record the run's summary, then alert or write the plan."""
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
        reasons = {o: self.store.run_reasons(self.run_id, o) for o in ("parked", "skipped")}
        for line, fields in summed_up(reasons):
            self.logger.info(line, extra=fields)
        if not self.dry_run:
            self._alert()
            self._apply_retention()
        self.store.release_run_lock()  # the next run of this clinic may start
        if self.dry_run:
            plan = build_plan(self.store, self.run_id)
            paths = write_plan(plan, Path(self.config.get("plan_dir") or "output/plan"))
            for line in describe_plan(plan):
                self.logger.info(line)
            self.logger.info("Plan written to %s and %s", *paths)

    def _apply_retention(self) -> None:
        """Drop dead letters' records and audit entries kept past their retention settings."""
        days = RetentionDays(
            int(self.config.get("dead_letter_retention_days", DEAD_LETTER_RETENTION_DAYS)),
            int(self.config.get("audit_retention_days", AUDIT_RETENTION_DAYS)),
        )
        removed = self.store.apply_retention(days)
        if removed["dead_letter_records_expired"]:
            self.logger.warning(
                "Dropped the kept records of %d dead letters open over %d days "
                "(dead_letter_retention_days): %s (paypal-ops dead-letters list)",
                removed["dead_letter_records_expired"],
                days.dead_letters,
                REREAD_FROM_CLINIKO,
            )
        if removed["audit_log"] or removed["runs"]:
            self.logger.info(
                "Deleted %d audit log entries and %d runs older than %d days "
                "(audit_retention_days)",
                removed["audit_log"],
                removed["runs"],
                days.audit,
            )

    def _alert(self) -> None:
        """Alert when this run parked new records, and about invoices waiting too long for approval.

        A failed run is alerted by `paypal-ops notify`.
        """
        urls = parse_urls(self.config.get("alert_urls"))
        try:
            alerts = (
                [run_alert(self.store, self.run_id), approvals_alert(self.store)] if urls else []
            )
        except Exception as error:  # an alert never fails a run that succeeded
            self.logger.warning("No alert for run %d: %s", self.run_id, type(error).__name__)
            return
        for alert in filter(None, alerts):
            sent = notify(urls, alert, self.store, self.logger)
            self.logger.info("Alert %s sent to %d of %d channels", alert.subject, sent, len(urls))


STARTUP_TRIES = 3  # connection attempts at start-up before PayPal counts as unreachable


def stop(logger: Any, problem: str) -> NoReturn:
    """End the run with one line.

    Meltano is still writing the tap's records into our stdin, and it fails with a
    BrokenPipeError traceback when a target exits without reading them (meltano#7047): a small
    child reads and discards them until Meltano, seeing this process end, stops the tap and
    closes the pipe.
    """
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


if __name__ == "__main__":
    TargetPayPal.cli()
