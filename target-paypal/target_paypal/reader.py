"""Reading Singer input without letting one bad line stop the run.

singer-sdk's reader raises on a line that is not JSON, on a message without its required keys
and on a RECORD before its SCHEMA, and its messages quote the whole line (patient data). Here
such a line is handed to `on_bad_line` (the target parks it, IDs only in the log) and reading
goes on with the next line.
"""

from __future__ import annotations

import json
import typing as t
from collections import Counter, defaultdict
from decimal import Decimal

import msgspec
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json

BadLine = t.Callable[[int, str, t.Any], None]  # line number, reason, the message or raw line


def printable(value: t.Any, limit: int = 60) -> str:
    """A value fit for a log line: no control, format or bidi characters (escaped instead)."""
    text = str(value)[:limit]
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


class ForgivingReader(SingerReader):
    """A SingerReader that reports a bad line to `on_bad_line` instead of raising.

    `on_start` is called once before the first line is read: the run begins there, not when
    the target object is made (singer-sdk's test templates make targets they never run).
    """

    on_bad_line: BadLine | None = None
    on_start: t.Callable[[], None] | None = None

    def _bad(self, number: int, reason: str, message: t.Any) -> None:
        if self.on_bad_line is None:
            raise InvalidInputLine(f"line {number}: {reason}")
        self.on_bad_line(number, reason, message)

    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        """Read Singer messages; a bad line goes to `on_bad_line` and reading goes on."""
        if self.on_start is not None:
            self.on_start()
        stats: dict[str, int] = defaultdict(int)
        for number, line in enumerate(file_input or self.default_input, start=1):
            if not line.strip():
                continue
            try:
                message = decode_line(line)
            except (ValueError, RecursionError):
                self._bad(number, "not valid JSON (a truncated or corrupted line)", line)
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            if not isinstance(kind, str) or kind not in callbacks:
                self._bad(number, f"not a Singer message (type {printable(kind, 20)})", message)
                continue
            if kind == "RECORD" and "record" in message and not isinstance(message["record"], dict):
                self._bad(number, "a RECORD message whose record is not an object", message)
                continue
            callback = callbacks[kind]
            stream = message.get("stream")
            if isinstance(stream, str) and not stream.isprintable():
                # Stream names reach log lines (singer-sdk's too): never a terminal escape.
                message["stream"] = printable(stream, 200)
            try:
                callback(message)
            except RecordsWithoutSchemaException:
                name = printable(message.get("stream"))
                self._bad(number, f"a RECORD for stream '{name}' came before its SCHEMA", message)
                continue
            except InvalidInputLine:
                missing = [k for k in _REQUIRED.get(kind, ()) if k not in message]
                what = ", ".join(missing) or "a usable schema"
                self._bad(number, f"a {kind} message without {what}", message)
                continue
            stats[kind] += 1
        return Counter(**stats)


_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def decode_line(line: str) -> t.Any:
    """A line's JSON, fractions as Decimal (as singer-sdk's reader reads them).

    msgspec reads a line in a quarter of `json`'s time. What it refuses and `json` takes (NaN,
    a number out of range, a lone surrogate from a name cut inside an emoji) is read by
    singer-sdk's `json` path, as before; what both refuse is not JSON.
    """
    try:
        return _DECODER.decode(line)
    except msgspec.DecodeError:
        return deserialize_json(line)


_REQUIRED = {"RECORD": ("stream", "record"), "SCHEMA": ("stream", "schema"), "STATE": ("value",)}


def raw_line(message: t.Any) -> dict[str, t.Any]:
    """What to keep of a bad line: the message, or the raw text of a line that is not JSON."""
    if isinstance(message, dict):
        return json.loads(json.dumps(message, default=str))  # type: ignore[no-any-return]
    return {"line": str(message)[:100_000]}
