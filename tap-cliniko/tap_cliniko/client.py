"""The one REST stream class every Cliniko collection uses: auth, paging, retries, errors."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Generator, Iterable
from email.utils import parsedate_to_datetime
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
import singer_sdk.singerlib as singer
from singer_sdk import RESTStream
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from urllib3.exceptions import NewConnectionError

from tap_cliniko.bookmarks import SIGNPOST_KEY, STATE_KEY, SameSecondTracker, cliniko_ts, parse_ts
from tap_cliniko.pages import ClinikoPaginator, body_of
from tap_cliniko.progress import ProgressTracker
from tap_cliniko.records import RecordConformer
from tap_cliniko.testmode import quiet_planned_stops

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_cliniko.registry import StreamDefinition
    from tap_cliniko.tap import TapCliniko


class ClinikoAuthError(FatalAPIError):
    """Cliniko refused the API key: nothing else can work, so the run stops."""


class ClinikoUnreachable(FatalAPIError):
    """No connection to Cliniko could be made before it ever answered: a wrong base_url."""


STARTUP_TRIES = 3  # tries of a refused connection before Cliniko has answered anything


class ClinikoStream(RESTStream[Any]):
    """A Cliniko collection, configured by a `StreamDefinition` from the registry."""

    # Records are conformed by the tap's own `RecordConformer` in `post_process`, which also
    # does what singer-sdk's recursive conformance did (undeclared fields dropped, booleans).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: TapCliniko, definition: StreamDefinition) -> None:
        self.definition = definition
        # Our own typed reference: singer-sdk keeps the tap only as the private `_tap`.
        self.cliniko_tap = tap
        super().__init__(
            tap=tap, name=definition.name, schema=definition.schema, path=definition.paths[0]
        )
        self.primary_keys = list(definition.primary_keys)
        self.replication_key = definition.replication_key  # type: ignore[assignment]
        self._server_started: dt.datetime | None = None
        self._progress: ProgressTracker | None = None
        self._conformer: RecordConformer | None = None
        self._mask_seen: object = None
        self._all_selected = False
        quiet_planned_stops(self.logger)

    # --- requests -------------------------------------------------------------------------
    @property
    def url_base(self) -> str:
        """The tap's base URL: `base_url`, else the API key's shard."""
        return self.cliniko_tap.base_url

    @property
    def partitions(self) -> list[dict] | None:
        """One partition per endpoint when a stream reads several, else None.

        Active and inactive practitioners are one stream read from two endpoints, one bookmark each.
        """
        paths = self.definition.paths
        return [{"path": p} for p in paths] if len(paths) > 1 else None

    def get_url(self, context: Context | None) -> str:
        """The URL of the partition's endpoint, or of the stream's only one."""
        return self.url_base + (context["path"] if context else self.path)

    @property
    def http_headers(self) -> dict:
        """Cliniko's required headers: JSON, and a User-Agent naming app and contact."""
        return {"Accept": "application/json", "User-Agent": self.config["user_agent"]}

    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        """HTTP Basic auth: the API key as user name, an empty password."""
        return BasicAuthenticator(username=self.config["api_key"], password="")

    @property
    def requests_session(self) -> requests.Session:
        """The tap's one rate-limited session, shared by every stream."""
        return self.cliniko_tap.session

    @property
    def timeout(self) -> int:
        """Seconds to wait for one response (`request_timeout_seconds`)."""
        return int(self.config.get("request_timeout_seconds", 60))

    def get_new_paginator(self) -> ClinikoPaginator:
        """A paginator that follows Cliniko's `links.next`."""
        return ClinikoPaginator()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """Page size and Cliniko's `q[]` filters: the bookmark and the include filters.

        The bookmark is sent as `updated_at:>=` (second precision); repeats at that second are
        dropped by the same-second tracker in `get_records`.
        """
        filters = [f"{field}:*" for field in self.definition.include]
        start = self._start(context)
        if self.replication_key and start is not None:
            filters.insert(0, f"{self.replication_key}:>={cliniko_ts(start)}")
        # No sort: Cliniko's default (created_at) keeps pages stable while records change;
        # sorting on updated_at would shift an edited record across pages mid-run.
        return {"per_page": self.config.get("per_page", 100), "q[]": filters or None}

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """The request for a page: after the first, Cliniko's `links.next` URL as it is."""
        request = super().get_http_request(page=page)
        if page.next_page_token:
            # links.next already carries every query parameter.
            request.url, request.params = page.next_page_token.geturl(), {}
        return request

    # --- errors and retries ------------------------------------------------------------------
    def validate_response(self, response: requests.Response) -> None:
        """Stop on a refused key (401) or a denied stream (403); else singer-sdk's checks.

        Also notes that Cliniko has answered and, once per stream, Cliniko's clock.
        """
        self.cliniko_tap.reached_cliniko = True
        if self._server_started is None:
            self._server_started = server_time(response)
        status = response.status_code
        if status == HTTPStatus.UNAUTHORIZED:
            raise ClinikoAuthError(
                "Cliniko refused the API key (HTTP 401): set tap-cliniko's api_key "
                "(TAP_CLINIKO_API_KEY) to an active key; its suffix (e.g. -au2) names the shard."
            )
        if status == HTTPStatus.FORBIDDEN:
            raise FatalAPIError(
                f"Cliniko denied access (HTTP 403) to {self._path_of(response)}: give the API "
                f"key's user a role that can read it, or deselect stream '{self.name}'."
            )
        super().validate_response(response)

    def response_error_message(self, response: requests.Response) -> str:
        """Status, path and Cliniko's own `message`: never the body, which can hold patient data."""
        message = f"HTTP {response.status_code} {response.reason} from Cliniko for "
        message += self._path_of(response)
        if response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR:
            try:
                detail = response.json().get("message")
            except (ValueError, AttributeError):
                detail = None
            if isinstance(detail, str):
                message += f": {detail[:200]}"
        return message

    @staticmethod
    def _path_of(response: requests.Response) -> str:
        """The path of the response's URL, without host or query."""
        return urlparse(response.url).path

    def backoff_max_tries(self) -> int:
        """Tries per request (`retry_max_tries`)."""
        return int(self.config.get("retry_max_tries", 8))

    def backoff_wait_generator(self) -> Generator[float, Any, None]:  # type: ignore[override]
        """Exponential backoff for 5xx and dropped connections; a 429 waits for the reset."""
        base = int(self.config.get("retry_backoff_base_ms", 2000)) / 1000
        attempt = 0
        error = yield  # type: ignore[misc]
        while True:
            if attempt + 1 >= STARTUP_TRIES and self._unreachable(error):
                raise ClinikoUnreachable(
                    f"cannot connect to Cliniko at {self.url_base} ({type(error).__name__}, "
                    f"{STARTUP_TRIES} tries): check base_url (TAP_CLINIKO_BASE_URL) and the network"
                )
            wait = _rate_limit_wait(error)
            if wait is None:
                wait = min(base * 2**attempt, 60.0)
                attempt += 1
            error = yield wait

    def _unreachable(self, error: Any) -> bool:
        """No connection made at all (refused, unknown host), and Cliniko never answered."""
        reason = getattr(error.args[0] if getattr(error, "args", None) else None, "reason", None)
        reached = self.cliniko_tap.reached_cliniko
        return isinstance(reason, NewConnectionError) and not reached

    def backoff_jitter(self, value: float) -> float:
        """Up to 25 % more than `value`, so that retries do not line up."""
        return value * random.uniform(1.0, 1.25)

    def backoff_handler(self, details: Any) -> None:
        """Log each retry: stream, wait, try number and what failed (never a response body)."""
        error = details.get("exception")
        self.logger.warning(
            "Retrying %s in %.1f s after try %d: %s",
            self.name,
            details.get("wait", 0),
            details.get("tries", 0),
            _describe(error),
        )

    # --- records ----------------------------------------------------------------------------
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The page's records: the list under the stream's `records_key`; counted for progress."""
        body = body_of(response)
        records: list[dict] = body.get(self.definition.records_key) or []
        if self._progress is not None:
            last = not (body.get("links") or {}).get("next")
            self._progress.page(len(records), body.get("total_entries"), last=last)
        return records

    def new_progress(self, context: Context | None) -> ProgressTracker:
        """A progress tracker for the stream's (partition's) read, from the tap's settings."""
        return ProgressTracker(
            self.name,
            self.logger,
            self.cliniko_tap.session.requests_log,
            per_page=int(self.config.get("per_page", 100)),
            interval_seconds=float(self.config.get("progress_interval_seconds", 10)),
            partition=context.get("path") if context else None,
        )

    def _start(self, context: Context | None) -> Any:
        if not self.replication_key:
            return None
        return parse_ts(self.get_starting_replication_key_value(context))

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The stream's records, with progress lines while they are read (see `progress`)."""
        self._progress = progress = self.new_progress(context)
        session = self.cliniko_tap.session
        session.heartbeat, session.heartbeat_seconds = progress.tick, progress.interval
        try:
            yield from self._records(context)
        finally:
            session.heartbeat, self._progress = None, None
            # Every record read has been written to the message writer by now (singer-sdk writes
            # each before asking for the next): the ones it still holds go out with the stream.
            self.cliniko_tap.flush_output()
        progress.finish()

    def _records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The stream's records, without those an earlier run sent at the starting second.

        For an incremental stream it also stores the same-second ids and caps the bookmark at
        Cliniko's clock when the first page was served (see `bookmarks`).
        """
        if not self.replication_key:
            yield from super().get_records(context)
            return
        state = self.get_context_state(context)
        tracker = SameSecondTracker(self._start(context), state.get(STATE_KEY))
        self._server_started = None
        for record in super().get_records(context):
            updated = parse_ts(record.get(self.replication_key))
            if tracker.is_repeat(str(record.get("id")), updated):
                continue
            tracker.add(str(record.get("id")), updated)
            yield record
        if self._server_started is not None:
            # Cap the bookmark at Cliniko's own clock when the stream's first page was served
            # (not ours): a record edited after its page was read is then read again next run.
            # Seconds not yet over when reading began are not trusted as complete either.
            state[SIGNPOST_KEY] = cliniko_ts(self._server_started)
            tracker.close_at(self._server_started)
        state[STATE_KEY] = tracker.as_state()

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """The record conformed to the schema, with `<name>_id` fields from its links."""
        conformer = self._conformer
        if conformer is None:
            # The catalog's schema is known once the tap has applied it, before any record.
            conformer = self._conformer = RecordConformer(
                self.name, self.schema, self.effective_schema, self.logger
            )
        return conformer(row)

    def _every_property_selected(self) -> bool:
        """The stream and all its properties selected (the mask is replaced when that changes)."""
        mask = self.mask
        if mask is not self._mask_seen:
            self._mask_seen, self._all_selected = mask, all(mask.values())
        return self._all_selected

    # Private hook, kept deliberately: singer-sdk 0.54.9's `_generate_record_messages` walks every
    # record to remove deselected properties (`pop_deselected_record_properties`, a sixth of the
    # tap's time), even when every property is selected, as in nearly every run; there is no
    # public switch. Then the walk removes nothing, so this builds the same messages without
    # it; with any property deselected, singer-sdk's own method runs. The message building below
    # is singer-sdk's (its type conformance is off here: TYPE_CONFORMANCE_LEVEL). Re-check on
    # upgrade: tests/test_output.py compares a full sync with singer-sdk's own path.
    def _generate_record_messages(
        self, record: dict
    ) -> Generator[singer.RecordMessage, None, None]:
        """singer-sdk's RECORD messages, without the deselection walk when nothing is deselected."""
        if not self._every_property_selected():
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=dt.datetime.now(dt.UTC),
                )

    # Private hook, kept deliberately: singer-sdk 0.54.9 copies the partition's context into every
    # record here (`practitioners` got `path`, the endpoint it came from), then drops it again
    # because the schema does not declare it, with a warning on every run. The endpoint is not
    # Cliniko data (a practitioner's `active` says the same), so it is not added at all. This is
    # the one place the SDK adds it; `_process_record` has no public equivalent. Re-check on
    # upgrade: tests/test_cli.py fails if the warning comes back.
    def _process_record(
        self,
        record: dict,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """singer-sdk's record processing, without copying the partition's context into it."""
        super()._process_record(record, child_context=child_context, partition_context=None)


def server_time(response: requests.Response) -> dt.datetime | None:
    """Cliniko's clock from the HTTP Date header (second precision), if it sent one."""
    try:
        return parsedate_to_datetime(response.headers["Date"]).astimezone(dt.UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _rate_limit_wait(error: Any) -> float | None:
    """Seconds until Cliniko's X-RateLimit-Reset for a 429, else None."""
    response = getattr(error, "response", None)
    if not isinstance(error, RetriableAPIError) or response is None:
        return None
    if response.status_code != HTTPStatus.TOO_MANY_REQUESTS:
        return None
    try:
        reset = float(response.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return 5.0
    return max(0.0, reset - time.time()) + 0.05


def _describe(error: Any) -> str:
    if isinstance(error, RetriableAPIError):
        return str(error)
    return type(error).__name__


logging.getLogger("backoff").setLevel(logging.CRITICAL)
