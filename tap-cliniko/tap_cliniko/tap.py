"""tap-cliniko: settings and the list of streams (one per registry entry)."""

from __future__ import annotations

import logging
import re
import sys
from functools import cached_property
from importlib.metadata import version
from typing import Any, NoReturn
from urllib.parse import urlparse

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.streams import Stream

from tap_cliniko.client import ClinikoStream
from tap_cliniko.output import BufferedMsgSpecWriter
from tap_cliniko.progress import quiet_deselected, quiet_metrics
from tap_cliniko.registry import all_definitions
from tap_cliniko.throttle import ThrottledSession, make_limiter, make_request_log

SHARD = re.compile(r"^[a-z]{2}\d{1,2}$", re.IGNORECASE)
DEFAULT_USER_AGENT = f"tap-cliniko/{version('tap-cliniko')} (tap-cliniko@users.noreply.github.com)"

DECLARED_STREAM = th.ObjectType(
    th.Property("name", th.StringType, required=True, description="Stream name."),
    th.Property(
        "path",
        th.StringType,
        description="Endpoint path, e.g. `/recalls`. Default `/<name>`.",
    ),
    th.Property(
        "records_key",
        th.StringType,
        description="Key of the list of records in the response body. Default the stream name.",
    ),
    th.Property(
        "replication_key",
        th.StringType,
        description="Incremental key. Default `updated_at`; empty for a full-table stream.",
    ),
    th.Property(
        "include",
        th.ArrayType(th.StringType),
        description=(
            "Fields sent as `q[]=<field>:*` so archived, cancelled or deleted records come too, "
            "e.g. `[archived_at]`."
        ),
    ),
    th.Property(
        "primary_keys",
        th.ArrayType(th.StringType),
        description="Primary key fields. Default `[id]`.",
    ),
    th.Property(
        "schema",
        th.ObjectType(),
        description=(
            "JSON Schema of the records. Default: `id` and the replication key typed, every "
            "other field passed through as Cliniko sends it."
        ),
    ),
)


def shard_of(api_key: str) -> str:
    """Cliniko's shard is the suffix after the key's last hyphen; keys without one are au1."""
    _, _, suffix = api_key.rpartition("-")
    return suffix.lower() if SHARD.match(suffix) else "au1"


class TapCliniko(Tap):
    """Reads every Cliniko collection incrementally."""

    name = "tap-cliniko"
    # msgspec's encoder, RECORD lines written in blocks; each stream writes its last block when
    # its records end (`ClinikoStream.get_records`).
    message_writer_class = BufferedMsgSpecWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description=(
                "Cliniko API key (Settings > Integrations > API keys). Its suffix after the last "
                "hyphen (e.g. `-au2`) names the shard; a key without one is read as `au1`. Set it "
                "in the environment as `TAP_CLINIKO_API_KEY` or in `.env`, never in `meltano.yml` "
                "for production."
            ),
        ),
        th.Property(
            "base_url",
            th.StringType,
            description=(
                "API base URL. Default `https://api.<shard>.cliniko.com/v1`, the shard taken from "
                "the API key; set it only for the sandbox or a proxy."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default=DEFAULT_USER_AGENT,
            description=(
                "User-Agent header. Cliniko requires `App name (contact email)` and may block "
                "requests without a valid contact; the default names tap-cliniko, so set your own."
            ),
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Read only records updated at or after this date-time (UTC); a stream whose "
                "bookmark is later reads from the bookmark. Full-table streams ignore it. "
                "Default: everything."
            ),
        ),
        th.Property(
            "max_requests_per_minute",
            th.IntegerType,
            default=200,
            description=(
                "Client-side cap on requests per rate-limit window (`rate_limit_window_seconds`). "
                "Cliniko allows 200 a minute per user; lower it when other tools use the same "
                "user. 0 turns the cap off."
            ),
        ),
        th.Property(
            "rate_limit_window_seconds",
            th.IntegerType,
            default=60,
            description=(
                "Length of the rate-limit window in seconds: 60 for Cliniko; smaller only for "
                "scaled-down tests."
            ),
        ),
        th.Property(
            "per_page",
            th.IntegerType,
            default=100,
            description="Records per request, 1 to 100 (Cliniko's maximum).",
        ),
        th.Property(
            "request_timeout_seconds",
            th.IntegerType,
            default=60,
            description=(
                "Seconds to wait for one response; a request that times out is retried like a "
                "dropped connection."
            ),
        ),
        th.Property(
            "retry_max_tries",
            th.IntegerType,
            default=8,
            description=(
                "Tries per request on HTTP 429, 5xx, timeouts and dropped connections before the "
                "run fails. A refused connection before Cliniko has answered at all (a wrong "
                "`base_url`) stops the run after 3 tries."
            ),
        ),
        th.Property(
            "retry_backoff_base_ms",
            th.IntegerType,
            default=2000,
            description=(
                "First wait of the exponential backoff in milliseconds, doubled on every retry up "
                "to 60 s, plus up to 25 % jitter. A 429 waits until Cliniko's "
                "`X-RateLimit-Reset` instead."
            ),
        ),
        th.Property(
            "progress_interval_seconds",
            th.IntegerType,
            default=10,
            description=(
                "Seconds between a stream's progress lines (records read of Cliniko's "
                "`total_entries`, pages, requests a minute against the limit, time left), logged "
                "at INFO with the same figures as structured fields; a last line ends each "
                "stream. 0 logs every page."
            ),
        ),
        th.Property(
            "streams",
            th.ArrayType(DECLARED_STREAM),
            description=(
                "Extra or replacement streams, declared without Python. Each item has `name` and "
                "optionally `path` (default `/<name>`), `records_key` (default the name), "
                "`replication_key` (default `updated_at`; empty for full table), `include` "
                "(fields sent as `q[]=<field>:*`), `primary_keys` (default `[id]`) and `schema` "
                "(JSON Schema; default passes every field through). An item named like a packaged "
                "stream replaces it."
            ),
        ),
    ).to_dict()

    # Set once Cliniko has answered anything: until then a refused connection is a wrong
    # base_url or no network, and the run stops after a few quick tries (STARTUP_TRIES).
    reached_cliniko = False

    # Private hook, kept deliberately: singer-sdk 0.54.9 has no public one for checking the
    # config. PluginBase.__init__ calls `_validate_config` (raise_errors=False for --discover), and
    # its schema errors name schema properties only; overriding it is the one place where our
    # one-line check runs before them, and only when validation is asked for. Re-check on upgrade.
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Stop with one line saying what to set when the key is missing or the URL malformed.

        singer-sdk's own messages name schema properties only. Discovery needs neither setting,
        so it is not stopped.
        """
        problem = config_problem(self.config)
        if problem and raise_errors:
            self.logger.error("tap-cliniko stopped: %s", problem)
            sys.exit(1)
        return super()._validate_config(raise_errors=raise_errors)

    @property
    def base_url(self) -> str:
        """Cliniko's API base URL: `base_url`, else the one of the API key's shard."""
        url = (
            self.config.get("base_url")
            or f"https://api.{shard_of(self.config['api_key'])}.cliniko.com/v1"
        )
        return str(url).rstrip("/")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The tap, its per-request METRIC lines kept for debugging (see `quiet_metrics`)."""
        super().__init__(*args, **kwargs)
        quiet_metrics(self.metrics_logger)

    @cached_property
    def session(self) -> ThrottledSession:
        """The HTTP session of every stream, under the client-side rate limit."""
        limit = self.config.get("max_requests_per_minute", 200)
        window = float(self.config.get("rate_limit_window_seconds", 60))
        limiter = make_limiter(limit, window) if limit else None
        return ThrottledSession(limiter, make_request_log(limit, window))

    def flush_output(self) -> None:
        """Write the RECORD lines the message writer still holds."""
        writer = self.message_writer
        if isinstance(writer, BufferedMsgSpecWriter):
            writer.flush()

    def discover_streams(self) -> list[ClinikoStream]:
        """One stream per definition: the packaged registry, then the `streams` setting."""
        return [ClinikoStream(self, d) for d in all_definitions(self.config.get("streams"))]

    def load_streams(self) -> list[Stream]:  # type: ignore[misc]  # @final only to type checkers
        """The streams in sync order: what invoices refer to first, invoices and their items last.

        A loader that joins then sees every referenced record (users, practitioners, patients)
        before the invoice; singer-sdk's own order is by name, which puts invoices before
        patients. `load_streams` is final to type checkers only; singer-sdk 0.54.9 offers no
        public hook for the order.
        """
        return sorted(super().load_streams(), key=_sync_rank)

    @classmethod
    def invoke(cls, **kwargs: Any) -> None:  # type: ignore[override]
        """Run the command line; a fatal API error ends it with one line and exit 1."""
        try:
            super().invoke(**kwargs)
        except FatalAPIError as error:
            stop(cls.logger, error)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: read one record of every stream, with no ERROR line when that works.

        singer-sdk stops each stream after a record by raising; that planned stop is logged at
        DEBUG (see `testmode`). `--test` runs in this click callback, outside `invoke`, so a
        fatal API error (a refused key) is caught here too: one line and exit 1, as in a sync.
        """
        try:
            super().cb_test(ctx, param, value)
        except FatalAPIError as error:
            stop(cls.logger, error)


def stop(logger: logging.Logger, error: FatalAPIError) -> NoReturn:
    """End the run with one clear line for the operator (never a traceback, never the key)."""
    logger.error("tap-cliniko stopped: %s", error)
    sys.exit(1)


def config_problem(config: Any) -> str | None:
    """What is wrong with the settings, as one line naming what to set; None when nothing."""
    if not str(config.get("api_key") or "").strip():
        return (
            "no Cliniko API key: set tap-cliniko's api_key (TAP_CLINIKO_API_KEY) to a key from "
            "Cliniko (Settings > Integrations > API keys)"
        )
    url = urlparse(str(config.get("base_url") or "https://api.au1.cliniko.com/v1"))
    if url.scheme not in ("http", "https") or not url.hostname:
        return (
            "base_url is not an http(s) URL: set TAP_CLINIKO_BASE_URL to "
            "https://api.<shard>.cliniko.com/v1, or leave it unset (the key's shard picks it)"
        )
    return None


REFERENCED_FIRST = ("users", "practitioners", "businesses", "taxes", "patients")
REFERRING_LAST = ("invoices", "invoice_items")


def _sync_rank(stream: Stream) -> tuple[int, int, str]:
    if stream.name in REFERENCED_FIRST:
        return (0, REFERENCED_FIRST.index(stream.name), "")
    if stream.name in REFERRING_LAST:
        return (2, REFERRING_LAST.index(stream.name), "")
    return (1, 0, stream.name)


# singer-sdk logs "Skipping deselected stream" at INFO for every stream not selected (most of
# the 38 on a typical run): kept, at DEBUG.
quiet_deselected(TapCliniko.logger)

if __name__ == "__main__":
    TapCliniko.cli()
