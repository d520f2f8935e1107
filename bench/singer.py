"""Singer plumbing for the bench: configs, a catalog selecting some streams, message counts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.paths import BIN
from bench.sandbox import API_KEY

USER_AGENT = "tap-cliniko bench (bench@example.com)"


def tap_config(folder: Path, cliniko_url: str, *, per_minute: int = 0, window: int = 60) -> Path:
    """tap-cliniko's config file; `per_minute` 0 switches its own limiter off."""
    config = {
        "base_url": cliniko_url,
        "api_key": API_KEY,
        "user_agent": USER_AGENT,
        "max_requests_per_minute": per_minute,
        "rate_limit_window_seconds": window,
    }
    return write_json(folder / f"tap-config-{per_minute}-{window}.json", config)


def catalog(folder: Path, config: Path, streams: list[str]) -> Path:
    """The tap's discovered catalog with only `streams` selected."""
    found = subprocess.run(
        [str(BIN / "tap-cliniko"), "--config", str(config), "--discover"],
        capture_output=True, text=True, check=True,
    )
    document = json.loads(found.stdout)
    for entry in document["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return write_json(folder / f"catalog-{'-'.join(streams)}.json", document)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def count_records(path: Path) -> dict[str, int]:
    """RECORD messages in a Singer file, by stream."""
    counts: dict[str, int] = {}
    with path.open() as lines:
        for line in lines:
            if '"RECORD"' not in line:  # cheap pre-check: most lines of a tap's output are
                continue
            message = json.loads(line)
            if message.get("type") == "RECORD":
                counts[message["stream"]] = counts.get(message["stream"], 0) + 1
    return counts
