"""Summing profiles up by place in the code: memray's live heap at its high-water mark, and
py-spy's CPU samples (raw format), each put at the innermost frame of the package profiled."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from memray import FileReader

STREAM_BUFFERS = "asyncio/streams.py"  # the pipes between meltano and its plugins
TOP_PLACES = 6
# The libraries CPU time is summed by (a frame's file path holds the name).
LIBRARIES = ("sqlalchemy", "sqlite3", "psycopg", "requests", "urllib3", "http/client", "ssl",
             "json", "msgspec", "fastjsonschema", "jsonschema", "singer_sdk", "logging",
             "concurrent/futures", "threading")


def place(stack: list[tuple[str, str, int]], package: str, lines: bool = True) -> str:
    """`asyncio/streams.py:NNN feed_data`, `imports` (modules' code and data), or the innermost
    frame of `package`, or the innermost frame of anything. `stack`: innermost first; `lines`:
    with the line number (else the function, all its lines as one)."""
    for function, filename, line in stack:
        if filename.endswith(STREAM_BUFFERS):
            return f"{STREAM_BUFFERS}:{line} {function}"
    if any(filename.startswith("<frozen importlib") for _, filename, _ in stack):
        return "imports"
    marker = f"/{package}/"
    for function, filename, line in stack:
        if marker in filename:
            where = f"{package}/{filename.split(marker, 1)[1]}"
            return f"{where}:{line} {function}" if lines else f"{where} {function}"
    if not stack:
        return "(no Python frame)"
    function, filename, line = stack[0]
    return f"{'/'.join(filename.split('/')[-2:])}:{line} {function}"


def heap_at_peak(capture: Path, package: str) -> dict[str, Any]:
    """The live heap at the process's high-water mark: in all, in asyncio's stream buffers, and
    the largest places."""
    places: Counter[str] = Counter()
    reader = FileReader(capture)
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        places[place(record.stack_trace(max_stacks=64), package)] += record.size
    buffers = sum(size for where, size in places.items() if STREAM_BUFFERS in where)
    return {
        "heap_peak_mb": round(sum(places.values()) / 1024**2, 1),
        "stream_buffers_mb": round(buffers / 1024**2, 1),
        "top_places_mb": {where: round(size / 1024**2, 1)
                          for where, size in places.most_common(TOP_PLACES)},
    }


def cpu_by_place(raw: Path, package: str) -> dict[str, Any]:
    """py-spy's samples (`--format raw`: `frame;frame;... count`, outermost first, a frame
    `function (file:line)`) as shares: by the innermost library frame, and by the innermost
    function of `package`."""
    libraries: Counter[str] = Counter()
    places: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        frames_text, _, count_text = line.rpartition(" ")
        if not frames_text or not count_text.isdigit():
            continue
        stack = [_frame(f) for f in reversed(frames_text.split(";"))]
        count = int(count_text)
        places[place(stack, package, lines=False)] += count
        libraries[_library(stack, package)] += count
    total = sum(places.values()) or 1
    return {
        "samples": total,
        "by_library": {k: round(v / total, 3) for k, v in libraries.most_common(TOP_PLACES * 2)},
        "top_places": {k: round(v / total, 3) for k, v in places.most_common(TOP_PLACES * 2)},
    }


def _frame(text: str) -> tuple[str, str, int]:
    function, _, where = text.rpartition(" (")
    filename, _, line = where.rstrip(")").rpartition(":")
    return function, filename, int(line) if line.isdigit() else 0


def _library(stack: list[tuple[str, str, int]], package: str) -> str:
    for _, filename, _ in stack:
        for library in LIBRARIES:
            if f"/{library}/" in filename or filename.endswith(f"/{library}.py"):
                return library
        if f"/{package}/" in filename:
            return package
    return "other"
