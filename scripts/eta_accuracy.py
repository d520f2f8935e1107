"""How good the progress ETAs of a run were: read a `meltano --log-format=json run` log.

    .venv/bin/meltano --log-format=json run cliniko-to-paypal 2> run.jsonl
    .venv/bin/python scripts/eta_accuracy.py run.jsonl

For every series of progress lines (a plugin's stream, or one apply pass of the target) it takes
the lines given once at least a quarter of the work was done and compares each ETA with the time
that was really left (until the series' last line). Prints one line per series.
"""

from __future__ import annotations

import json
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

QUARTER = 0.25


def progress_lines(path: Path) -> list[dict[str, Any]]:
    """The progress records of a JSON log, in order (other lines are skipped)."""
    found = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "progress":
            found.append(record)
    return found


def series(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Progress records by series: plugin and stream, a new series when `done` starts over."""
    out: dict[str, list[dict[str, Any]]] = {}
    passes: dict[str, int] = {}
    for record in records:
        key = f"{record.get('name', '?')} {record.get('stream', '?')}"
        current = out.get(f"{key} #{passes.get(key, 1)}")
        if current and record["done"] < current[-1]["done"]:
            passes[key] = passes.get(key, 1) + 1
        out.setdefault(f"{key} #{passes.get(key, 1)}", []).append(record)
    return out


def errors(lines: list[dict[str, Any]]) -> list[float]:
    """Relative ETA errors of the lines at or past a quarter of the work."""
    end = _time(lines[-1])
    found = []
    for line in lines[:-1]:
        total, eta = line.get("total") or 0, line.get("eta_seconds")
        left = end - _time(line)
        if total and eta is not None and line["done"] / total >= QUARTER and left > 0:
            found.append(abs(eta - left) / left)
    return found


def _time(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


def main(argv: list[str]) -> int:
    """Print each series' size, duration and ETA errors; 1 when the log holds no progress."""
    found = series(progress_lines(Path(argv[0])))
    if not found:
        print("no progress lines (run with meltano --log-format=json)")
        return 1
    for key, lines in found.items():
        took = _time(lines[-1]) - _time(lines[0])
        errs = errors(lines)
        summary = (
            f"median {statistics.median(errs):.0%}, worst {max(errs):.0%} over {len(errs)} ETAs"
            if errs
            else "no ETA past a quarter (too short)"
        )
        print(f"{key}: {lines[-1]['done']} of {lines[-1]['total']} in {took:.0f} s; {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
