"""The tap's command line against the sandbox, as a user runs it: every stream's records fit the
schema it announces (no field it did not declare), and `--test` is clean when it works."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jsonschema

from tap_cliniko.registry import packaged_definitions

STREAMS = sorted(packaged_definitions())


def run_cli(config: dict, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_cliniko.tap", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with `additionalProperties: false` wherever it lists properties and does not
    say otherwise itself: a record may carry only what the schema declares."""
    out = {k: closed(v) if isinstance(v, dict) else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: closed(v) for k, v in schema["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("x-singer.decimal", raises=InvalidOperation)
def _decimal(value: object) -> bool:
    return not isinstance(value, str) or Decimal(value).is_finite()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or dt.datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    return not isinstance(value, str) or bool(dt.date.fromisoformat(value))


def test_every_record_carries_only_what_its_schema_declares(
    cliniko_sandbox, tap_config, tmp_path
) -> None:
    run = run_cli(tap_config(), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    validators: dict[str, jsonschema.Draft7Validator] = {}
    records: dict[str, int] = defaultdict(int)
    for line in run.stdout.splitlines():
        message = json.loads(line, parse_float=Decimal)
        if message["type"] == "SCHEMA":
            schema = closed(message["schema"])
            validators[message["stream"]] = jsonschema.Draft7Validator(
                schema, format_checker=FORMATS
            )
        elif message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            problems = [e.message for e in validators[stream].iter_errors(record)]
            assert not problems, f"{stream} record {record.get('id')}: {problems[:3]}"
            records[stream] += 1
    assert sorted(records) == STREAMS, "every stream must be read, so that every one is checked"
    undeclared = [line for line in run.stderr.splitlines() if "not found in catalog schema" in line]
    assert not undeclared, undeclared


def test_dash_dash_test_reads_every_stream_without_an_error_line(
    cliniko_sandbox, tap_config, tmp_path
) -> None:
    run = run_cli(tap_config(), tmp_path, "--test")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ERROR" not in run.stderr, [line for line in run.stderr.splitlines() if "ERROR" in line]
    read = {json.loads(line)["stream"] for line in run.stdout.splitlines() if '"RECORD"' in line}
    assert sorted(read) == STREAMS


def test_dash_dash_test_with_a_refused_key_fails_in_one_line(
    cliniko_sandbox, tap_config, tmp_path
) -> None:
    secret = "refused-secret-key-au1"
    run = run_cli(tap_config(api_key=secret), tmp_path, "--test")
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    # singer-sdk adds a generic "error while syncing '<stream>'" line; ours is the last word.
    assert errors[-1].endswith("names the shard."), run.stderr[-3000:]
    assert sum("tap-cliniko stopped: Cliniko refused the API key" in line for line in errors) == 1
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr + run.stdout
