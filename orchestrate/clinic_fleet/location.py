"""The module Dagster loads (orchestrate/workspace.yaml): the fleet of clinics.yml."""

from __future__ import annotations

from clinic_fleet.definitions import load

defs = load()
