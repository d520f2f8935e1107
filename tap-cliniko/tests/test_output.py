"""What the tap writes is what singer-sdk's own path writes, only faster (issue 19).

The tap writes its messages with singer-sdk's msgspec writer, RECORD lines in blocks
(`tap_cliniko.output`), decodes Cliniko's pages with msgspec, conforms records itself
(`RecordConformer`, singer-sdk's type conformance off) and skips singer-sdk's deselection walk
when nothing is deselected. Here a full sync of every stream is compared, message by message, with
the same sync through singer-sdk's default writer, `json` decoding, singer-sdk's recursive type
conformance and its deselection walk: the tap as it was before.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from decimal import Decimal
from typing import Any

import pytest
from singer_sdk.helpers._typing import _conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib.messages import RecordMessage, SchemaMessage, StateMessage
from singer_sdk.streams import Stream

import tap_cliniko.pages as pages
from tap_cliniko.client import ClinikoStream
from tap_cliniko.output import BLOCK_BYTES, BufferedMsgSpecWriter
from tap_cliniko.pages import decode_page
from tap_cliniko.records import RecordConformer, add_foreign_keys, conform
from tap_cliniko.registry import all_definitions, packaged_definitions
from tap_cliniko.tap import TapCliniko

DEFINITIONS = packaged_definitions()
CLOCK = "2026-01-05T03:04:05Z"
LOG = logging.getLogger("tests.test_output")


# --- singer-sdk's own path: the tap before issue 19 --------------------------------------------


class SdkPathStream(ClinikoStream):
    """A stream as it was: only Cliniko's looseness fixed here, singer-sdk conforms the rest."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE

    def post_process(self, row: dict, context: Any = None) -> dict | None:
        return add_foreign_keys(conform(row, self.schema), self.schema)

    def _generate_record_messages(self, record: dict) -> Any:
        return Stream._generate_record_messages(self, record)


class SdkPathTap(TapCliniko):
    """The tap with singer-sdk's default writer and the streams above."""

    message_writer_class = SingerWriter

    def discover_streams(self) -> list[ClinikoStream]:
        return [SdkPathStream(self, d) for d in all_definitions(self.config.get("streams"))]


def json_decode(content: bytes) -> Any:
    return json.loads(content, parse_float=Decimal)


def loosen(response: Any, *args: Any, **kwargs: Any) -> Any:
    """What the sandbox never sends but Cliniko may: fields no schema declares (at the top and
    in nested objects), names beyond ASCII, a boolean sent as 0/1."""
    body = json.loads(response.content, parse_float=Decimal)
    for key, records in body.items():
        if key == "links" or not isinstance(records, list):
            continue
        for n, record in enumerate(records):
            record["added_by_cliniko_later"] = {"n": n}
            for value in record.values():
                if isinstance(value, dict) and isinstance(value.get("links"), dict):
                    value["links"]["added_too"] = n
                    break
            if "first_name" in record:
                record["first_name"] = "Zoë Ōtsuka 佐藤 \u2028"
            if "accepted_privacy_policy" in record:
                record["accepted_privacy_policy"] = n % 2
    response._content = json.dumps(body, default=str).encode()
    return response


def recent(text: str) -> bool:
    moment = dt.datetime.fromisoformat(text)
    return moment.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - moment).total_seconds() < 600


def parsed(output: str) -> list[dict]:
    """The messages, with the times of the run itself checked and set aside: `time_extracted`
    and, in a STATE in the middle of a stream, singer-sdk's `replication_key_signpost`."""
    messages = []
    for line in output.splitlines():
        message = json.loads(line, parse_float=Decimal)
        if message["type"] == "RECORD":
            assert recent(message.pop("time_extracted"))
        elif message["type"] == "STATE":
            for bookmark in message["value"].get("bookmarks", {}).values():
                if "replication_key_signpost" in bookmark and "progress_markers" in bookmark:
                    assert recent(bookmark.pop("replication_key_signpost"))
        messages.append(message)
    return messages


def parsed_records(output: str, stream: str) -> list[dict]:
    return [
        m["record"] for m in parsed(output) if m["type"] == "RECORD" and m["stream"] == stream
    ]


def test_a_full_sync_writes_what_singer_sdks_own_path_writes(
    cliniko_sandbox, run_tap, tap_config, monkeypatch
) -> None:
    config = tap_config(max_requests_per_minute=0)
    # A STATE in the middle of a stream too (every 10,000 records in a real run), not only at
    # the end of each.
    monkeypatch.setattr(ClinikoStream, "STATE_MSG_FREQUENCY", 25)
    ours = run_tap(config, cliniko_clock=CLOCK, on_response=loosen)
    with monkeypatch.context() as patch:
        patch.setattr(pages, "decode_page", json_decode)
        theirs = run_tap(config, cliniko_clock=CLOCK, on_response=loosen, tap_class=SdkPathTap)
    assert sorted(ours.records) == sorted(DEFINITIONS), "every stream read, so every one compared"
    assert parsed(ours.output) == parsed(theirs.output)
    # ... and the comparison had something to compare: singer-sdk's conformance did work here.
    patients = ours.records["patients"]
    assert "added_by_cliniko_later" not in ours.output and "added_too" not in ours.output
    assert {r["accepted_privacy_policy"] for r in patients} == {True, False}
    assert "Zoë Ōtsuka 佐藤" in ours.output  # UTF-8, where singer-sdk's default writer escapes
    totals = [r["total_including_tax"] for r in parsed_records(ours.output, "invoice_items")]
    assert totals and all(isinstance(t, Decimal) for t in totals), "JSON numbers, kept exact"
    assert any(str(t).endswith(".0") for t in totals), "as Cliniko wrote them: 120.0 stays 120.0"


def test_state_never_goes_out_ahead_of_its_records(
    cliniko_sandbox, run_tap, tap_config, monkeypatch
) -> None:
    """Each STATE covers only records already written: none of its stream's later records is
    older than its bookmark or progress marker. singer-sdk writes a STATE every
    STATE_MSG_FREQUENCY records (10,000), in the middle of a stream: every 5 here."""
    monkeypatch.setattr(ClinikoStream, "STATE_MSG_FREQUENCY", 5)
    result = run_tap(tap_config(per_page=7), ["patients", "invoices"])
    seen: dict[str, list[str]] = {"patients": [], "invoices": []}
    checked = 0
    for message in result.messages:
        if message["type"] == "RECORD":
            seen[message["stream"]].append(message["record"]["updated_at"])
        elif message["type"] == "STATE":
            for stream, bookmark in message["value"].get("bookmarks", {}).items():
                for mark in (bookmark, bookmark.get("progress_markers") or {}):
                    value = mark.get("replication_key_value")
                    if value and stream in seen:
                        assert seen[stream] and max(seen[stream]) >= value, (stream, value)
                        checked += 1
    assert checked > 20, "STATE messages in the middle of the streams were checked"
    assert len(seen["patients"]) == cliniko_sandbox.cliniko.count("patients")
    assert result.messages[-1]["type"] == "STATE", "the run ends with its STATE"


def test_a_deselected_property_is_still_left_out(cliniko_sandbox, run_tap, tap_config) -> None:
    config = tap_config()
    catalog = TapCliniko(config=config, setup_mapper=False).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == "patients"
            elif meta["breadcrumb"] == ["properties", "email"]:
                meta["metadata"]["selected"] = False
    patients = run_tap(config, catalog=catalog).records["patients"]
    assert patients and all("email" not in p and "first_name" in p for p in patients)


# --- the writer ---------------------------------------------------------------------------------


def record(n: int, **fields: Any) -> RecordMessage:
    return RecordMessage(
        stream="s", record={"id": str(n), **fields}, time_extracted=dt.datetime.now(dt.UTC)
    )


def written(messages: list[Any], writer: BufferedMsgSpecWriter | None = None) -> list[dict]:
    writer = writer or BufferedMsgSpecWriter()
    out = io.StringIO()
    with redirect_stdout(out):
        for message in messages:
            writer.write_message(message)
        writer.flush()
    return [json.loads(line, parse_float=Decimal) for line in out.getvalue().splitlines()]


def test_records_are_written_before_the_message_after_them() -> None:
    messages = [
        SchemaMessage("s", {"type": "object"}, ["id"]),
        record(1),
        record(2),
        StateMessage({"bookmarks": {"s": {"replication_key_value": "2"}}}),
        record(3),
    ]
    lines = written(messages)
    assert [(m["type"], m.get("record", {}).get("id")) for m in lines] == [
        ("SCHEMA", None),
        ("RECORD", "1"),
        ("RECORD", "2"),
        ("STATE", None),
        ("RECORD", "3"),
    ]


def test_records_wait_for_a_block_or_a_flush() -> None:
    writer = BufferedMsgSpecWriter()
    out = io.StringIO()
    with redirect_stdout(out):
        writer.write_message(record(1))
        assert out.getvalue() == ""
        big = "x" * BLOCK_BYTES
        writer.write_message(record(2, text=big))
        assert out.getvalue().count("\n") == 2, "a full block goes out at once"
        writer.write_message(record(3))
        writer.flush()
    assert out.getvalue().count("\n") == 3


def test_records_still_held_are_written_when_the_process_exits() -> None:
    """As the default writer would have written them already (a run that fails mid-stream)."""
    script = (
        "import datetime as dt\n"
        "from singer_sdk.singerlib.messages import RecordMessage\n"
        "from tap_cliniko.output import BufferedMsgSpecWriter\n"
        "BufferedMsgSpecWriter().write_message(RecordMessage(stream='s', record={'id': '1'}, "
        "time_extracted=dt.datetime.now(dt.UTC)))\n"
        "raise SystemExit('stopped')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 1 and "stopped" in run.stderr
    (line,) = run.stdout.splitlines()
    assert json.loads(line)["record"] == {"id": "1"}


def test_values_are_written_exactly() -> None:
    values = {"money": Decimal("90.10"), "tiny": Decimal("1E-7"), "big": 2**70, "name": "Zoë"}
    (line,) = written([record(1, **values)])
    assert line["record"] == {"id": "1", **values}
    assert str(line["record"]["money"]) == "90.10"


def test_a_line_break_beyond_ascii_stays_inside_its_line() -> None:
    """U+0085, U+2028, U+2029 end a line for `str.splitlines`: escaped, as singer-sdk did."""
    note = "pasted\u2028from\u2029a word\x85processor, Zoë"
    writer = BufferedMsgSpecWriter()
    out = io.StringIO()
    with redirect_stdout(out):
        writer.write_message(record(1, note=note))
        writer.write_message(StateMessage({"note": note}))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["record"]["note"] == note
    assert json.loads(lines[1])["value"]["note"] == note
    assert "Zoë" in lines[0]


def test_pages_are_read_exactly() -> None:
    """Numbers as Cliniko wrote them: 120.0 stays Decimal("120.0"), long integers stay ints."""
    page = (
        b'{"items": [{"a": 120.0, "b": 16.45, "c": 1E-7, "id": 836447129235883061, '
        b'"big": 123456789012345678901234567890, "s": "Zo\\u00eb", "ok": true, "n": null}]}'
    )
    assert repr(decode_page(page)) == repr(json.loads(page, parse_float=Decimal))
    assert str(decode_page(page)["items"][0]["a"]) == "120.0"


def test_a_name_cut_inside_an_emoji_is_read_and_written(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    """A lone UTF-16 surrogate (`\\ud83d`): JSON that `json` reads and msgspec refuses, and
    text UTF-8 cannot encode. The page is read, every record written, the name kept as sent
    (the mapper cleans it); the records around it are written as usual."""
    broken = "O'Brien \ud83d"

    def cut(response: Any, *args: Any, **kwargs: Any) -> Any:
        body = json.loads(response.content, parse_float=Decimal)
        for patient in body.get("patients", [])[:1]:
            patient["last_name"] = broken
        response._content = json.dumps(body, default=str).encode()
        return response

    result = run_tap(tap_config(per_page=10), ["patients"], on_response=cut)
    patients = result.records["patients"]
    assert len(patients) == cliniko_sandbox.cliniko.count("patients")
    pages_read = -(-len(patients) // 10)
    assert sum(p["last_name"] == broken for p in patients) == pages_read
    assert "O'Brien \\ud83d" in result.output, "escaped, as singer-sdk's default writer does"
    assert result.messages[-1]["type"] == "STATE"


def test_a_state_with_a_lone_surrogate_is_written_escaped() -> None:
    writer = BufferedMsgSpecWriter()
    out = io.StringIO()
    with redirect_stdout(out):
        writer.write_message(record(1, name="Zoë \ud800"))
        writer.write_message(record(2, name="Zoë"))
        writer.write_message(StateMessage({"note": "x\udc00"}))
    lines = out.getvalue().splitlines()
    assert [json.loads(line).get("record", {}).get("name") for line in lines[:2]] == [
        "Zoë \ud800",
        "Zoë",
    ]
    assert json.loads(lines[2])["value"] == {"note": "x\udc00"}


# --- the conformer against singer-sdk's conformance, field by field ----------------------------

LOOSE_BOOLEANS = [1, 0, True, None, "yes", False]
LOOSE_NUMBERS = ["42", 7, Decimal("1.50"), "", None, "NaN", "1e3", "x"]
LOOSE_STRINGS = ["text", 123, Decimal("2.5"), "", None, True]
CLEAN_BOOLEANS = [True, False, None]
CLEAN_NUMBERS = [7, Decimal("1.50"), None, 2**70]
CLEAN_STRINGS = ["text", None, "2024-01-01T00:00:00Z"]
LINK = "https://api.au1.cliniko.com/v1/patients/1234567890123456789"


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def sample(schema: dict, n: int, key: str = "", loose: bool = True) -> Any:
    """A value for `schema`, varied by `n`: as loose as Cliniko gets, with a field the schema
    does not declare in every object that lists its properties; or (`loose` false) as Cliniko
    usually sends it, with nothing for the conformer to change but the foreign keys."""
    types = _types(schema)
    if "properties" in schema:
        if n % 7 == 6 and "null" in types:
            return None
        properties = enumerate(schema["properties"].items())
        value = {k: sample(sub, n + i, k, loose) for i, (k, sub) in properties}
        if loose:
            value["not_in_the_schema"] = {"n": n}
        return value
    if "array" in types and isinstance(schema.get("items"), dict):
        return [sample(schema["items"], n + i, key, loose) for i in range(n % 3)]
    if "object" in types:
        return {}  # an open object (custom fields): singer-sdk's conformance fails on a full one
    if key == "self":
        return LINK
    if key.endswith("_id") and n % 2:
        return None  # filled from the link
    if "boolean" in types:
        pick = LOOSE_BOOLEANS if loose else CLEAN_BOOLEANS
    elif types & {"integer", "number"}:
        pick = LOOSE_NUMBERS if loose else CLEAN_NUMBERS
    else:
        pick = LOOSE_STRINGS if loose else CLEAN_STRINGS
    return pick[n % len(pick)]


def samples(schema: dict, loose: bool = True) -> Iterator[dict]:
    for n in range(12):
        yield sample(schema, n, loose=loose)


@pytest.mark.parametrize("loose", [True, False], ids=["loose", "clean"])
@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_conformer_does_what_singer_sdks_conformance_did(name: str, loose: bool) -> None:
    schema = DEFINITIONS[name].schema
    conformer = RecordConformer(name, schema, copy.deepcopy(schema), LOG)
    for record in samples(schema, loose):
        before = add_foreign_keys(conform(copy.deepcopy(record), schema), schema)
        expected, unmapped = _conform_record_data_types(
            before, schema, TypeConformanceLevel.RECURSIVE, None
        )
        ours = conformer(copy.deepcopy(record))
        assert repr(ours) == repr(expected)  # repr: True is not 1, Decimal("1") is not 1
        warned = conformer.warned.pop() if conformer.warned else ()
        assert sorted(warned) == sorted(unmapped)


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_a_record_that_passes_msgspecs_check_needs_no_conforming(name: str) -> None:
    """The quick way (a record the conformer would leave alone is left alone) is taken only
    when it is right, and for records as Cliniko usually sends them."""
    schema = DEFINITIONS[name].schema
    conformer = RecordConformer(name, schema, schema, LOG)
    assert conformer.prune is not None
    taken = 0
    for loose in (True, False):
        for record in samples(schema, loose):
            if conformer._unchanged(record):
                taken += 1
                assert repr(conformer.prune(copy.deepcopy(record))) == repr(record)
    assert taken >= 10, "clean records take the quick way"


def test_conformer_with_a_catalog_schema_other_than_the_streams() -> None:
    """Cliniko's looseness fixed by the stream's schema, then fitted to the catalog's, as before."""
    schema = DEFINITIONS["invoice_items"].schema
    narrowed = copy.deepcopy(schema)
    del narrowed["properties"]["quantity"]
    conformer = RecordConformer("invoice_items", schema, narrowed, LOG)
    for loose in samples(schema):
        before = add_foreign_keys(conform(copy.deepcopy(loose), schema), schema)
        expected, _ = _conform_record_data_types(
            before, narrowed, TypeConformanceLevel.RECURSIVE, None
        )
        assert repr(conformer(copy.deepcopy(loose))) == repr(expected)


def test_custom_field_values_are_kept() -> None:
    """Open objects in a list (a patient's custom fields) pass through as Cliniko sends them.

    singer-sdk 0.54.9's recursive conformance raised KeyError('properties') on an object
    schema without `properties`; the field's schema names its common ones, so both keep it.
    """
    schema = DEFINITIONS["patients"].schema
    field = {"name": "Referred by", "type": "single_line_text", "value": "Dr Ng", "token": "t1"}
    patient = {"id": "1", "custom_fields": {"sections": [{"name": "Intake", "fields": [field]}]}}
    out = RecordConformer("patients", schema, schema, LOG)(copy.deepcopy(patient))
    assert out["custom_fields"]["sections"][0]["fields"] == [field]
    sdk, _ = _conform_record_data_types(patient, schema, TypeConformanceLevel.RECURSIVE, None)
    assert sdk["custom_fields"]["sections"][0]["fields"] == [field]


def test_undeclared_fields_are_named_once_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    schema = DEFINITIONS["taxes"].schema
    conformer = RecordConformer("taxes", schema, schema, LOG)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        for n in range(3):
            conformer({"id": str(n), "name": "GST", "surprise": n})
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "Properties ('surprise',) were present in the 'taxes' stream but not found in catalog "
        "schema. Ignoring."
    ]
