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
        pytest.skip(f"Cliniko's OpenAPI spec not found at {path}: download it from {SPEC_SOURCE} "
                    "and set CLINIKO_PAYPAL_REFERENCE to the folder holding cliniko/openapi.yaml")
    import yaml

    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]
