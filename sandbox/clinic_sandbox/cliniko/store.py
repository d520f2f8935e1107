"""In-memory Cliniko data: rows per collection, serialised to API JSON on the way out.

Rows are plain dicts holding the spec's scalar fields plus `<link>_id` for each related record
(`patient_id`, `invoice_id`, ...). Only fields that are set are stored, which keeps 500k rows
small; serialisation fills in nulls. List queries cache the filtered and sorted id list per
(collection version, query without paging), so deep pages cost a slice, not a scan.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from .query import Filter, QueryError, parse_sort, sort_key
from .required import fill_required
from .resources import RESOURCES, Resource

Row = dict[str, Any]
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Collections that are read views over other collections, not stored themselves.
VIEWS: dict[str, tuple[str, ...]] = {
    "bookings": ("individual_appointments", "group_appointments", "unavailable_blocks"),
    "practitioners/inactive": ("practitioners",),
}
# Which row flag hides a record from a list unless `q[]=<flag>:*` (or any filter on it) is given.
HIDING_FLAGS = ("archived_at", "cancelled_at", "deleted_at")
# DELETE really deletes (Cliniko answers "Resource was deleted"); other DELETEs archive.
HARD_DELETE = {
    "appointment_type_billable_items",
    "appointment_type_products",
    "practitioner_reference_numbers",
    "taxes",
}
_CACHE_SIZE = 256


class NotFound(KeyError):
    """No such record (or hidden from this request)."""


def format_ts(moment: datetime) -> str:
    """`moment` in UTC as Cliniko writes timestamps: `YYYY-MM-DDTHH:MM:SSZ`."""
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(text: str) -> datetime:
    """The aware UTC datetime of a timestamp in Cliniko's format."""
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


class ClinikoStore:
    """Thread-safe store of every served collection; see the README for the Python API."""

    def __init__(self, base_url: str = "http://127.0.0.1/v1", id_seed: int = 0) -> None:
        self.base_url = base_url.rstrip("/")
        self._lock = threading.RLock()
        self._rows: dict[str, dict[str, Row]] = {
            key: {} for key in RESOURCES if key not in VIEWS
        }
        self._versions: dict[str, int] = dict.fromkeys(self._rows, 0)
        self._cache: OrderedDict[tuple[Any, ...], list[tuple[str, str]]] = OrderedDict()
        self._ids = random.Random(f"ids-{id_seed}")
        self._used_ids: set[str] = set()
        self._last_ts = datetime(2000, 1, 1, tzinfo=UTC)

    # ----- ids and clock -------------------------------------------------------------------
    def new_id(self, long: bool = True) -> str:
        """A fresh id: 18-19 digits (new Cliniko records) or 6-8 digits (old ones)."""
        while True:
            if long:
                candidate = str(self._ids.randrange(10**17, 2**63 - 1))
            else:
                candidate = str(self._ids.randrange(10**5, 10**8))
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def now(self) -> str:
        """Current UTC second, as Cliniko stamps records, and never before the seeded data.

        Second precision means writes in the same second tie (the tap must cope with that).
        """
        moment = max(datetime.now(UTC).replace(microsecond=0), self._last_ts)
        self._last_ts = moment
        return format_ts(moment)

    def note_timestamp(self, text: str) -> None:
        """Seeding tells the clock its latest timestamp, so later writes sort after it."""
        moment = parse_ts(text)
        if moment > self._last_ts:
            self._last_ts = moment

    # ----- bulk loading (seed) ---------------------------------------------------------------
    def load(self, collection: str, rows: Iterable[Row]) -> None:
        """Store seeded rows as they are (ids and timestamps included)."""
        with self._lock:
            table = self._table(collection)
            for row in rows:
                table[row["id"]] = row
                self._used_ids.add(row["id"])
            self._touch(collection)

    # ----- the Python API ----------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Names of the stored collections (read views such as `bookings` excluded)."""
        return list(self._rows)

    def count(self, collection: str) -> int:
        """Every record, archived and deleted included."""
        with self._lock:
            return len(self._table(collection))

    def records(self, collection: str) -> list[Row]:
        """Every record (archived and deleted included), serialised as the API returns it."""
        with self._lock:
            return [self.serialise(collection, r) for r in self._table(collection).values()]

    def get(self, collection: str, record_id: str) -> Row:
        """One record as the API returns it, hidden or not; `NotFound` if there is none."""
        with self._lock:
            return self.serialise(collection, self._row(collection, str(record_id)))

    def raw(self, collection: str, record_id: str) -> Row:
        """The stored row (with `<link>_id` fields); a copy."""
        with self._lock:
            return dict(self._row(collection, str(record_id)))

    def create(self, collection: str, data: dict[str, Any], at: str | None = None) -> Row:
        """Add a record with a new long id and `created_at = updated_at = now` (or `at`)."""
        with self._lock:
            table = self._table(collection)
            row = self._clean(collection, data)
            row["id"] = self.new_id()
            row["created_at"] = row["updated_at"] = at or self.now()
            fill_required(collection, row)
            table[row["id"]] = row
            self._touch(collection)
            return self.serialise(collection, row)

    def update(
        self, collection: str, record_id: str, data: dict[str, Any], at: str | None = None
    ) -> Row:
        """Change fields and bump `updated_at` (to `at` if given: an edit made at that time)."""
        with self._lock:
            row = self._row(collection, str(record_id))
            row.update(self._clean(collection, data))
            row["updated_at"] = at or self.now()
            self._touch(collection)
            return self.serialise(collection, row)

    def archive(self, collection: str, record_id: str, at: str | None = None) -> Row:
        """Set `archived_at` and bump `updated_at` (the bump is UNCONFIRMED in Cliniko)."""
        return self._stamp(collection, record_id, "archived_at", at)

    def cancel(self, collection: str, record_id: str) -> Row:
        """Set `cancelled_at` and bump `updated_at` (appointments)."""
        return self._stamp(collection, record_id, "cancelled_at")

    def delete(self, collection: str, record_id: str, at: str | None = None) -> Row | None:
        """Delete a record the way Cliniko's DELETE does for its collection.

        Soft-delete (`deleted_at`) where the resource has a deleted_at filter; archive where
        Cliniko's DELETE archives (patients, ...); remove for the four hard-deleting resources.
        """
        if collection in HARD_DELETE:
            with self._lock:
                self._row(collection, str(record_id))
                del self._table(collection)[str(record_id)]
                self._touch(collection)
                return None
        if RESOURCES[collection].has_filter("deleted_at"):
            return self._stamp(collection, record_id, "deleted_at", at)
        return self._stamp(collection, record_id, "archived_at", at)

    # ----- list queries ------------------------------------------------------------------------
    def query(
        self,
        path: str,
        filters: list[Filter],
        sort: str | None = None,
        order: str | None = None,
    ) -> list[tuple[str, str]]:
        """Ids (as (collection, id) pairs) matching a list request, in order. Cached."""
        resource = RESOURCES[path]
        sortable = self.sortable(resource)
        sort_keys = parse_sort(sort, order, sortable)
        sources = VIEWS.get(path, (path,))
        with self._lock:
            versions = tuple(self._versions[s] for s in sources)
            key = (path, versions, tuple((f.field, f.op, f.raw) for f in filters), sort_keys)
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            result = self._run_query(path, resource, sources, filters, sort_keys)
            self._cache[key] = result
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return result

    def visible(self, path: str, collection: str, row: Row, filters: list[Filter],
                listing: bool = True) -> bool:
        """Whether a row passes the filters and the default hiding of removed records.

        Archived, cancelled and deleted records are hidden unless a filter names that field
        (e.g. `q[]=archived_at:*`).
        """
        resource = RESOURCES[path]
        named = {f.field for f in filters}
        for flag in HIDING_FLAGS:
            if resource.has_filter(flag) and flag not in named and row.get(flag):
                return False
        if listing and path == "practitioners" and row.get("active") is False:
            return False
        if path == "practitioners/inactive" and row.get("active") is not False:
            return False
        return all(f.predicate(row) for f in filters)

    def page(self, ids: list[tuple[str, str]], base: str) -> list[Row]:
        """Serialise the `query` result pairs `ids`, with links under `base`."""
        with self._lock:
            return [self.serialise(c, self._rows[c][i], base) for c, i in ids]

    def find_visible(self, path: str, record_id: str, filters: list[Filter]) -> tuple[str, Row]:
        """The (collection, stored row) a GET by id on `path` sees; `NotFound` if hidden."""
        sources = VIEWS.get(path, (path,))
        with self._lock:
            for source in sources:
                row = self._rows[source].get(record_id)
                if row is not None and self.visible(path, source, row, filters, listing=False):
                    return source, row
        raise NotFound(record_id)

    @staticmethod
    def sortable(resource: Resource) -> set[str]:
        """Filterable fields and scalar fields (whether Cliniko sorts on all is UNCONFIRMED)."""
        names = set(resource.filters) | {"id"}
        for fields in resource.variants.values():
            names.update(n for n, k in fields.items() if _is_scalar(k))
        return names

    # ----- serialisation ----------------------------------------------------------------------
    def serialise(self, collection: str, row: Row, base: str | None = None) -> Row:
        """The record as the API returns it.

        Every spec field in the spec's order, nulls for unset values, links as
        `{"links": {"self": url}}`; unset link objects are left out.
        """
        base = (base or self.base_url).rstrip("/")
        resource = RESOURCES[collection]
        fields = resource.variants.get(row.get("_variant", ""), resource.fields)
        own = row["id"]
        out: Row = {}
        for name, kind in fields.items():
            if kind == "id":
                out[name] = own
            elif kind.startswith("self"):
                template = kind[5:] or f"/{collection}/{{id}}"
                out[name] = {"self": base + template.format_map(_Lookup(row))}
            elif kind.startswith("ref:"):
                target = row.get(name + "_id")
                if target is not None:
                    out[name] = {"links": {"self": f"{base}/{kind[4:]}/{target}"}}
            elif kind.startswith("sub:"):
                out[name] = {"links": {"self": base + kind[4:].replace("{id}", own)}}
            elif kind.startswith("filter:"):
                _, target, field = kind.split(":")
                query = quote(f"{field}:={own}", safe="")
                out[name] = {"links": {"self": f"{base}/{target}?q%5B%5D={query}"}}
            elif kind.startswith("const:"):
                out[name] = {"links": {"self": base + kind[6:]}}
            else:
                out[name] = row.get(name)
        return out

    # ----- internals -----------------------------------------------------------------------------
    def _run_query(
        self,
        path: str,
        resource: Resource,
        sources: tuple[str, ...],
        filters: list[Filter],
        sort_keys: tuple[tuple[str, bool], ...],
    ) -> list[tuple[str, str]]:
        # Hot path at 100k+ rows: hoist every per-request decision out of the row loop.
        named = {f.field for f in filters}
        hide = [f for f in HIDING_FLAGS if resource.has_filter(f) and f not in named]
        preds = [f.predicate for f in filters]
        active: bool | None = {"practitioners": True, "practitioners/inactive": False}.get(path)
        matched: list[tuple[str, Row]] = []
        for source in sources:
            for row in self._rows[source].values():
                if any(row.get(flag) for flag in hide):
                    continue
                if active is not None and (row.get("active") is not False) != active:
                    continue
                if all(p(row) for p in preds):
                    matched.append((source, row))
        kinds = _kinds(resource)
        keys = [(sort_key(kinds.get(n, "str"), n), desc) for n, desc in sort_keys]
        if len({desc for _, desc in keys}) == 1:  # one direction: a single sort on a tuple
            def together(pair: tuple[str, Row]) -> tuple:
                return tuple(k(pair[1]) for k, _ in keys)

            matched.sort(key=together, reverse=keys[0][1])
        else:
            for key, descending in reversed(keys):  # stable sorts, least significant first
                matched.sort(key=partial(_on_row, key), reverse=descending)
        return [(source, row["id"]) for source, row in matched]

    def _table(self, collection: str) -> dict[str, Row]:
        try:
            return self._rows[collection]
        except KeyError:
            raise NotFound(f"unknown collection {collection}") from None

    def _row(self, collection: str, record_id: str) -> Row:
        try:
            return self._table(collection)[record_id]
        except KeyError:
            raise NotFound(f"{collection}/{record_id}") from None

    def _touch(self, collection: str) -> None:
        self._versions[collection] += 1

    def _stamp(self, collection: str, record_id: str, flag: str, at: str | None = None) -> Row:
        with self._lock:
            row = self._row(collection, str(record_id))
            stamp = at or self.now()
            row[flag] = stamp
            row["updated_at"] = stamp
            self._touch(collection)
            return self.serialise(collection, row)

    def _clean(self, collection: str, data: dict[str, Any]) -> Row:
        """Keep known fields; accept `<link>_id` keys; reject anything else."""
        resource = RESOURCES[collection]
        allowed = set(resource.filters) | {"_variant"}
        for fields in resource.variants.values():
            for name, kind in fields.items():
                if kind.startswith("ref:"):
                    allowed.add(name + "_id")
                elif _is_scalar(kind) or kind.rstrip("?") in _COMPOSITE:
                    allowed.add(name)
        unknown = set(data) - allowed - {"id", "created_at", "updated_at"}
        if unknown:
            raise ValueError(f"unknown fields for {collection}: {sorted(unknown)}")
        return {k: v for k, v in data.items() if k not in ("id", "created_at", "updated_at")}


_COMPOSITE = ("ids", "strs", "phones", "arr", "obj")


def _is_scalar(kind: str) -> bool:
    head = kind.split(":")[0].rstrip("?")
    return head in ("id", "str", "dt", "date", "dec", "int", "int64", "bool", "num", "uri", "ipv4",
                    "enum", "ienum")


def _kinds(resource: Resource) -> dict[str, str]:
    kinds = {name: kind.split(":")[0].rstrip("?") for name, kind in resource.fields.items()}
    for name, ftype in resource.filters.items():
        kinds.setdefault(name, {"int64": "int64", "integer": "int"}.get(ftype, "str"))
    return kinds


class _Lookup(dict[str, Any]):
    def __init__(self, row: Row) -> None:
        super().__init__(row)

    def __missing__(self, key: str) -> str:
        return ""


__all__ = ["ClinikoStore", "NotFound", "QueryError", "format_ts", "parse_ts"]


def _on_row(key: Callable[[Row], Any], pair: tuple[str, Row]) -> Any:
    return key(pair[1])
