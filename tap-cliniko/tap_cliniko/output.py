"""How the tap writes its Singer messages: singer-sdk's msgspec writer, RECORD lines buffered.

singer-sdk's default writer encodes each message with simplejson and flushes stdout after every
line; that was a fifth of the tap's time. Its msgspec writer (the `singer-sdk[msgspec]` extra)
encodes the same JSON several times faster. On top of it, RECORD lines are collected and written
in blocks of about `BLOCK_BYTES`; any other message (SCHEMA, STATE, ...) first writes the records
before it, so a STATE never reaches the target ahead of the records it covers. Each stream
writes what is left when its records end (`flush`), and whatever is still held when the process
exits (an error, say) is written then, as the default writer would have written it already.

The messages are the default writer's, with two differences in the text only: characters beyond
ASCII are written as UTF-8 rather than as JSON escapes (the same string once read), and
`time_extracted` ends in `Z` rather than `+00:00` (the same instant). A message holding a lone
UTF-16 surrogate, which UTF-8 cannot encode, is written by the default writer's encoder. The
three characters beyond ASCII that Python's `str.splitlines` takes for line ends (U+0085,
U+2028, U+2029: a note pasted from a word processor can hold them) are still escaped, so that
every reader still finds one message a line.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
from typing import Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib.encoding.simple import SimpleSingerWriter
from singer_sdk.singerlib.messages import Message, RecordMessage

BLOCK_BYTES = 64 * 1024
# UTF-8 of U+0085, U+2028 and U+2029 (UTF-8 being self-synchronising, these bytes are never part
# of another character) and their JSON escapes.
LINE_BREAKS = (
    (b"\xc2\x85", b"\\u0085"),
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
)


class BufferedMsgSpecWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer, RECORD lines written in blocks (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records = bytearray()

    def write_message(self, message: Message) -> None:
        """A RECORD into the block; any other message after the records before it."""
        if isinstance(message, RecordMessage):
            block = self._records
            if not block:
                _HOLDING.add(self)
            start = len(block)
            try:
                encoder.encode_into(message.to_dict(), block, -1)
            except UnicodeEncodeError:
                del block[start:]
                block.extend(ascii_line(message))
            block.extend(b"\n")
            if len(block) >= BLOCK_BYTES:
                self._write(block)
            return
        self.flush()
        try:
            line = self.format_message(message)
        except UnicodeEncodeError:
            line = bytearray(ascii_line(message) + b"\n")
        self._write(line)

    def flush(self) -> None:
        """Write the RECORD lines not written yet."""
        if self._records:
            self._write(self._records)

    def _write(self, data: bytearray) -> None:
        text = data
        for raw, escaped in LINE_BREAKS:
            if raw in text:
                text = text.replace(raw, escaped)
        # sys.stdout is looked up on every write, not kept: tests and singer-sdk's test runner
        # swap it for a text buffer (io.StringIO, which has no binary `buffer`).
        out = sys.stdout
        binary = getattr(out, "buffer", None)
        if binary is None:
            out.write(text.decode())
        else:
            binary.write(text)
        out.flush()
        # Cleared only once written: a signal handler that writes STATE in between would then
        # repeat these records (harmless downstream), never lose them.
        if data is self._records:
            data.clear()
            _HOLDING.discard(self)


def ascii_line(message: Message) -> bytes:
    """The message as singer-sdk's default writer writes it, all beyond ASCII escaped.

    The one way to write a lone UTF-16 surrogate (a name cut inside an emoji): not UTF-8.
    """
    return SimpleSingerWriter().serialize_message(message).encode()


# The writers holding RECORD lines not written yet (kept alive by this set until they are).
_HOLDING: set[BufferedMsgSpecWriter] = set()


@atexit.register
def _flush_at_exit() -> None:
    """Write what any writer still holds when the process ends."""
    for writer in list(_HOLDING):
        # stdout may be closed by then (the reader went away): nothing left to write to.
        with contextlib.suppress(OSError, ValueError):
            writer.flush()
