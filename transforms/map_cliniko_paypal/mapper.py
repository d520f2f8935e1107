"""The Singer mapper (singer-sdk InlineMapper): SCHEMA, RECORD, STATE, ACTIVATE_VERSION."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing as t
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version

import singer_sdk.singerlib as singer
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper_base import InlineMapper

import cliniko_paypal_contract as contract
from map_cliniko_paypal.mapping import map_record
from map_cliniko_paypal.rules import Rules, load

# The output streams whose records carry the rules' fingerprint: those that decide whether an
# invoice is held back by its patient (customers, rejects), and invoices, which come on most
# runs, so a change of rules is noticed at the next run that reads anything.
FINGERPRINTED = frozenset({"customers", "invoices", "rejects"})


def rules_fingerprint(rules: Rules) -> str:
    """A short fingerprint of the loaded rules, defaults included, and of this mapper's version.

    The same rules written otherwise (keys reordered, a default spelled out) give the same
    fingerprint. target-paypal notes it (`rules_fingerprint` on customers, invoices and rejects)
    and tries every invoice held back by its patient once again when it changes.
    """
    try:
        mapper = version("map-cliniko-paypal")
    except PackageNotFoundError:  # run from a source tree without installing
        mapper = "source"
    data = {"mapper": mapper, "rules": dataclasses.asdict(rules)}
    canonical = json.dumps(data, sort_keys=True, default=_canonical, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _canonical(value: t.Any) -> t.Any:
    """Sets in a stable order, decimals as text: what json.dumps cannot write by itself."""
    if isinstance(value, (set, frozenset)):
        return sorted(str(v) for v in value)
    return str(value)


class MapClinikoPayPal(InlineMapper):
    """Turns tap-cliniko's patients, invoices and invoice_items into target-paypal's streams."""

    name = "map-cliniko-paypal"
    capabilities: t.ClassVar[list[t.Any]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "mapping_file",
            th.StringType,
            description="Path of a rules YAML replacing the shipped "
            "map_cliniko_paypal/mapping.yaml (check it with `map-cliniko-paypal validate FILE`); "
            "default: the shipped rules.",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._announced: set[str] = set()  # output schemas already sent (no record state)
        _ = self.rules  # fail at start, with file:line, on a bad mapping file

    @cached_property
    def rules(self) -> Rules:
        """The mapping rules from `mapping_file` (else the shipped file), loaded once."""
        return load(self.config.get("mapping_file"))

    @cached_property
    def rules_fingerprint(self) -> str:
        """The rules' fingerprint, sent on the records that decide held-back invoices."""
        return rules_fingerprint(self.rules)

    def _schema_messages(self, streams: t.Iterable[str]) -> t.Iterator[singer.Message]:
        for stream in streams:
            self._announced.add(stream)
            yield singer.SchemaMessage(
                stream=stream,
                schema=contract.schema(stream),
                key_properties=[contract.KEYS[stream]],
            )

    def map_schema_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        """Announce the contract's schema for the target stream (and `rejects`, once)."""
        target = contract.TARGET_STREAM.get(message_dict["stream"])
        if target is None:
            return []  # streams other than patients/invoices/invoice_items are not forwarded
        wanted = [target] + ([] if "rejects" in self._announced else ["rejects"])
        return list(self._schema_messages(wanted))

    def map_record_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        """Map one Cliniko record; an output stream's SCHEMA goes out before its first record."""
        stream = message_dict["stream"]
        messages: list[singer.Message] = []
        for out in map_record(stream, message_dict["record"], self.rules):
            if out.stream not in self._announced:
                messages.extend(self._schema_messages([out.stream]))
            record = out.record
            if out.stream in FINGERPRINTED:
                record = {**record, contract.RULES_FINGERPRINT: self.rules_fingerprint}
            messages.append(singer.RecordMessage(stream=out.stream, record=record))
        return messages

    def map_state_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        """Pass the tap's STATE on unchanged."""
        return [singer.StateMessage(value=message_dict["value"])]

    def map_activate_version_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        """Forward ACTIVATE_VERSION under the target stream's name; drop it for other streams."""
        target = contract.TARGET_STREAM.get(message_dict["stream"])
        if target is None:
            return []
        return [singer.ActivateVersionMessage(stream=target, version=message_dict["version"])]
