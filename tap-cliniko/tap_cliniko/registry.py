"""Stream definitions: the packaged registry plus streams a user declares in config.

The registry (`streams.yaml` + `schemas/<name>.json`) is data, derived from Cliniko's spec by
`tools/derive_from_spec.py`; a user adds or overrides a stream through the `streams` setting
without writing Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

DEFAULT_KEY = "updated_at"


@dataclass(frozen=True)
class StreamDefinition:
    """What tap-cliniko needs to know to read one Cliniko collection."""

    name: str
    paths: tuple[str, ...]
    records_key: str
    schema: dict[str, Any]
    replication_key: str | None = None
    include: tuple[str, ...] = ()
    primary_keys: tuple[str, ...] = ("id",)
    extra: dict[str, Any] = field(default_factory=dict)


def _packaged_schema(name: str) -> dict[str, Any]:
    text = resources.files("tap_cliniko.schemas").joinpath(f"{name}.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def packaged_definitions() -> dict[str, StreamDefinition]:
    """Every stream the tap ships with, by name."""
    text = resources.files("tap_cliniko").joinpath("streams.yaml").read_text()
    registry: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return {
        name: StreamDefinition(
            name=name,
            paths=tuple(entry["paths"]),
            records_key=entry["records_key"],
            schema=_packaged_schema(name),
            replication_key=entry.get("replication_key"),
            include=tuple(entry.get("include", ())),
            primary_keys=tuple(entry.get("primary_keys", ("id",))),
        )
        for name, entry in registry.items()
    }


def open_schema(replication_key: str | None) -> dict[str, Any]:
    """Schema for a declared stream without one: keys typed, every other field passed through."""
    properties: dict[str, Any] = {"id": {"type": ["string"]}}
    if replication_key:
        properties[replication_key] = {"type": ["string", "null"], "format": "date-time"}
    return {"type": "object", "properties": properties, "additionalProperties": True}


def declared_definition(entry: dict[str, Any]) -> StreamDefinition:
    """A stream from the `streams` setting (see the README for the fields)."""
    name = entry["name"]
    path = entry.get("path") or f"/{name}"
    replication_key = entry.get("replication_key", DEFAULT_KEY) or None
    return StreamDefinition(
        name=name,
        paths=(path if path.startswith("/") else f"/{path}",),
        records_key=entry.get("records_key") or name,
        schema=entry.get("schema") or open_schema(replication_key),
        replication_key=replication_key,
        include=tuple(entry.get("include", ())),
        primary_keys=tuple(entry.get("primary_keys", ("id",))),
    )


def all_definitions(declared: list[dict[str, Any]] | None) -> list[StreamDefinition]:
    """Packaged streams, then declared ones; a declared stream replaces a packaged namesake."""
    definitions = packaged_definitions()
    for entry in declared or []:
        definition = declared_definition(entry)
        definitions[definition.name] = definition
    return list(definitions.values())
