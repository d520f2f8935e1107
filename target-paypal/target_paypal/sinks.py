"""Sinks: validate each record against the contract and stage it in the store.

Nothing here talks to PayPal: the target applies staged invoices before it passes STATE on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from singer_sdk.sinks import BatchSink

from cliniko_paypal_contract import KEYS, RULES_FINGERPRINT, TARGET_STREAM
from target_paypal.contract_check import problems
from target_paypal.reader import printable
from target_paypal.store.reversals import NOT_A_LINE
from target_paypal.store.staging import LeftOut

MAX_BATCH = 1000
FIX_INPUT = "fix what writes target-paypal's input (the mapper or its rules) and send it again"
FIX_IN_CLINIKO = "correct it in Cliniko (the next run reads it again) or change the mapping rules"
IGNORED_STREAMS = {"meltano_test_stream"}  # `meltano config test` must never reach PayPal


def input_problem(stream: str, record: dict[str, Any], currency: str) -> str | None:
    """Why the target cannot stage this record (one line, field names only), or None."""
    if stream not in KEYS:
        return f"unknown stream '{printable(stream)}': expected one of {', '.join(KEYS)}"
    reason = problems(stream, record)
    if not reason and stream == "invoices" and record["currency_code"] != currency:
        reason = f"currency_code is not {currency}, the currency this target writes"
    return reason


class StagingSink(BatchSink):
    """Stages one input stream; a record that breaks the contract becomes a dead letter."""

    max_size = MAX_BATCH

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: Sequence[str] | None,
    ) -> None:
        # singer-sdk would validate against the upstream SCHEMA, turn date strings into objects
        # and raise on a bad date or a missing key, stopping the whole run. The contract check in
        # process_record covers all of that and parks the one bad record instead, so singer-sdk
        # is given a schema that declares no field (it parses no date) and no key properties.
        any_object = {"type": "object", "properties": {}, "additionalProperties": True}
        super().__init__(target, stream_name, any_object, key_properties=None)
        self.target = target
        self.store = target.store
        self.currency = target.config.get("currency", "AUD")

    def get_validator(self) -> None:
        """No upstream-schema validation: the contract is checked record by record instead."""
        return None

    def _key(self, record: dict[str, Any]) -> str | None:
        value = record.get(KEYS.get(self.stream_name, "id"))
        return printable(value) if value is not None else None

    def process_record(self, record: dict, context: dict) -> None:
        """Count a record and check it against the contract: it joins the batch, or is parked."""
        record = {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        reason = input_problem(self.stream_name, record, self.currency)
        counted = self.stream_name
        if counted == "rejects":  # counted with the stream the rejected record came from
            counted = TARGET_STREAM.get(str(record.get("stream")), "rejects")
        self.target.received[counted] = self.target.received.get(counted, 0) + 1
        if reason:
            self.logger.debug(  # summed up by reason at the run's end (left_out.py)
                "Parked %s record %s: %s: %s",
                printable(self.stream_name),
                self._key(record) or "(no id)",
                reason,
                FIX_INPUT,
            )
            self.store.park(self.stream_name, self._key(record), reason, record=record)
            self.store.note_outcome(
                self.target.run_id, self.stream_name, self._key(record), "parked", reason
            )
            return
        fingerprint = record.pop(RULES_FINGERPRINT, None)  # about the rules, not the record
        if fingerprint:
            self.target.note_rules(str(fingerprint))
        context.setdefault("records", []).append(record)

    def process_batch(self, context: dict) -> None:
        """Stage the batch's records in the store, by stream."""
        records = context.get("records", [])
        if not records:
            return
        stage = {
            "customers": self.store.stage_customers,
            "invoices": self.store.stage_invoices,
            "invoice_lines": self.store.stage_lines,
            "practitioners": self.store.stage_practitioners,
            "owners": self.store.stage_owners,
            "appointments": self.store.stage_appointments,
            "reversals": lambda rs: self.store.stage_reversals(rs, self.target.run_id),
            "rejects": self._left_out,
        }[self.stream_name]
        stage(records)

    def _left_out(self, rejects: list[dict[str, Any]]) -> None:
        """Keep the mapper's rejects as parked or skipped.

        `park` keeps the record for review and replay; `skip` records that a rule left it out on
        purpose. Either way the run's summary counts it.
        """
        left_out = []
        reversed_lines = self.store.reversal_ids(
            str(r.get("invoice_id")) for r in rejects if r["stream"] == "invoice_items"
        )
        for reject in rejects:
            source, record_id = reject["stream"], reject["record_id"]
            stream = TARGET_STREAM.get(source, source)
            if source == "invoice_items" and str(reject.get("invoice_id")) in reversed_lines:
                left_out.append(LeftOut(stream, record_id, f"skipped: {NOT_A_LINE}"))
                continue
            if reject.get("action") == "skip":
                reason = f"skipped by a rule: {reject['reason']}"
                left_out.append(LeftOut(stream, record_id, reason))
                continue
            reason = f"parked by the mapper: {reject['reason']}"
            if self.logger.isEnabledFor(logging.DEBUG):  # summed up at the end (left_out.py)
                self.logger.debug(
                    "Parked %s record %s: %s: %s",
                    printable(source),
                    printable(record_id),
                    printable(reason, 500),
                    FIX_IN_CLINIKO,
                )
            left_out.append(LeftOut(stream, record_id, reason, f"rejects:{source}", reject))
        # One transaction for the batch (a transaction for each, twice, cost more than the rest)
        self.store.stage_left_out(self.target.run_id, left_out)
        # A patient rejected again (another reason, park or skip) may change how its invoices
        # end: they are looked at again (store/retry.py), as when a valid record comes.
        patients = [
            r["record_id"] for r in rejects if TARGET_STREAM.get(r["stream"], "") == "customers"
        ]
        self.store.customers_rejected(patients)


class IgnoredSink(BatchSink):
    """`meltano config test` sends a test stream: accept it and write nothing anywhere."""

    def process_record(self, record: dict, context: dict) -> None:
        """Accept the record and keep nothing."""
        return

    def process_batch(self, context: dict) -> None:
        """Nothing to write: the test stream is never staged."""
        return
