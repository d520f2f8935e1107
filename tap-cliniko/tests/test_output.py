"""What the tap writes is what singer-sdk's own path writes, only faster (issue 19).

The tap writes its messages with singer-sdk's msgspec writer, RECORD lines in blocks
(`tap_cliniko.output`), and decodes Cliniko's pages with msgspec.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from contextlib import redirect_stdout
from decimal import Decimal
from typing import Any

from singer_sdk.singerlib.messages import RecordMessage, SchemaMessage, StateMessage

from tap_cliniko.client import ClinikoStream, decode_page
from tap_cliniko.output import BLOCK_BYTES, BufferedMsgSpecWriter


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
