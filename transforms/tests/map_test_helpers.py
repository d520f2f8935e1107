"""Helpers for map-cliniko-paypal tests: run the mapper on Singer messages, check the contract."""

from __future__ import annotations

import io
import json
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

import cliniko_paypal_contract as contract
from map_cliniko_paypal.mapper import MapClinikoPayPal


def run_mapper(messages: list[dict[str, Any]], config: dict | None = None) -> list[dict[str, Any]]:
    """Feed messages through the mapper in-process; return the messages it wrote."""
    out = io.StringIO()
    mapper = MapClinikoPayPal(config=config or {})
    mapper.message_writer.write_message = lambda m: out.write(  # type: ignore[method-assign]
        mapper.message_writer.format_message(m) + "\n"
    )
    mapper.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def assert_contract(stream: str, record: dict[str, Any]) -> None:
    """Valid against target-paypal's contract exactly as it ships."""
    full = contract.schema(stream)
    errors = list(Draft202012Validator(full, format_checker=FormatChecker()).iter_errors(record))
    assert not errors, [e.message for e in errors]


def run_tap(config: dict[str, Any], streams: list[str]) -> list[dict[str, Any]]:
    """tap-cliniko in-process with only `streams` selected; its Singer messages."""
    from contextlib import redirect_stdout

    from tap_cliniko.tap import TapCliniko

    catalog = TapCliniko(config=config, setup_mapper=False).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    tap = TapCliniko(config=config, catalog=catalog, state={})
    out = io.StringIO()
    with redirect_stdout(out):
        tap.sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def tap_config(sandbox: Any) -> dict[str, Any]:
    return {
        "api_key": sandbox.api_key,
        "base_url": sandbox.cliniko_url,
        "user_agent": "map-cliniko-paypal tests (tests@example.com)",
        "retry_backoff_base_ms": 10,
        "retry_max_tries": 10,
    }
