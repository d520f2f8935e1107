"""The mapper's fallback copy of target-paypal's contract has not drifted from the original."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from map_cliniko_paypal.contract import KEYS


@pytest.mark.parametrize("stream", sorted(KEYS))
def test_copy_equals_target_paypals_schema(stream: str) -> None:
    pytest.importorskip("target_paypal", reason="target-paypal not installed beside the mapper")
    ours = resources.files("map_cliniko_paypal.contract").joinpath(f"{stream}.json").read_text()
    theirs = resources.files("target_paypal.schemas").joinpath(f"{stream}.json").read_text()
    assert json.loads(ours) == json.loads(theirs)
