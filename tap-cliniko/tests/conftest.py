"""Shared test settings for tap-cliniko."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_SOURCE = "https://docs.api.cliniko.com/_spec/openapi.yaml"


def reference_dir() -> Path:
    """Where the API reference lives: CLINIKO_PAYPAL_REFERENCE, default ../shared/reference."""
    return Path(os.environ.get("CLINIKO_PAYPAL_REFERENCE", REPO.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def cliniko_spec() -> dict:
    path = reference_dir() / "cliniko" / "openapi.yaml"
    if not path.exists():
        pytest.skip(
            f"Cliniko's OpenAPI spec not found at {path}: download it from {SPEC_SOURCE} "
            "and set CLINIKO_PAYPAL_REFERENCE to the folder holding cliniko/openapi.yaml"
        )
    import yaml

    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


# --- running the tap in-process against the sandbox ---------------------------------------------
import io  # noqa: E402
import json  # noqa: E402
from collections import defaultdict  # noqa: E402
from contextlib import redirect_stdout  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from email.utils import format_datetime  # noqa: E402
from typing import Any  # noqa: E402

FAST_RETRIES = {"retry_backoff_base_ms": 10, "retry_max_tries": 10}


@dataclass
class SyncResult:
    """What one tap run wrote: records per stream, the last STATE, every message, its text."""

    records: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    state: dict = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    output: str = ""

    def ids(self, stream: str) -> list[str]:
        return [r["id"] for r in self.records[stream]]


def make_tap_config(sandbox: Any, **overrides: Any) -> dict:
    config = {
        "api_key": sandbox.api_key,
        "base_url": sandbox.cliniko_url,
        "user_agent": "tap-cliniko tests (tests@example.com)",
        **FAST_RETRIES,
    }
    config.update(overrides)
    return config


def run_tap_sync(
    config: dict,
    streams: list[str] | None = None,
    state: dict | None = None,
    cliniko_clock: str | None = None,
    tap_class: Any = None,
    on_response: Any = None,
    catalog: dict | None = None,
) -> SyncResult:
    """Run a sync in-process with only `streams` selected (all when None); parse its output.

    `cliniko_clock` (a Cliniko timestamp): the time Cliniko's clock shows for the whole run, in
    the Date header of every response, the one clock the tap reads Cliniko's time from. The
    sandbox's server stamps the real time, a second at a time, so a test that needs the run to
    begin in a given second sets it here. `tap_class`: a subclass of TapCliniko to run instead;
    `on_response`: a requests response hook (e.g. to change what Cliniko sends); `catalog`: the
    catalog to run with, instead of the discovered one with `streams` selected.
    """
    from tap_cliniko.bookmarks import parse_ts
    from tap_cliniko.tap import TapCliniko

    tap_class = tap_class or TapCliniko
    if catalog is None:
        catalog = tap_class(config=config, setup_mapper=False).catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    selected = streams is None or entry["tap_stream_id"] in streams
                    meta["metadata"]["selected"] = selected
    tap = tap_class(config=config, catalog=catalog, state=state or {})
    if cliniko_clock is not None:
        date_header = format_datetime(parse_ts(cliniko_clock), usegmt=True)

        def cliniko_time(response: Any, *args: Any, **kwargs: Any) -> Any:
            response.headers["Date"] = date_header
            return response

        tap.session.hooks["response"].append(cliniko_time)
    if on_response is not None:
        tap.session.hooks["response"].append(on_response)
    out = io.StringIO()
    with redirect_stdout(out):
        tap.sync_all()
    result = SyncResult(output=out.getvalue())
    for line in result.output.splitlines():
        message = json.loads(line)
        result.messages.append(message)
        if message["type"] == "RECORD":
            result.records[message["stream"]].append(message["record"])
        elif message["type"] == "STATE":
            result.state = message["value"]
    return result


@pytest.fixture
def run_tap():
    return run_tap_sync


@pytest.fixture
def tap_config(cliniko_sandbox):
    return lambda **overrides: make_tap_config(cliniko_sandbox, **overrides)
