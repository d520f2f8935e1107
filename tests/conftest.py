"""End-to-end tests: the real `meltano run` in this project, against the in-process sandbox."""

from __future__ import annotations

import pytest
from meltano_project import MeltanoProject


@pytest.fixture
def meltano_project(tmp_path):
    """`make(sandbox, store_url=None)`: the project on that sandbox, with a store of its own (a
    SQLite file unless `store_url`, e.g. the plugin's `store_url` fixture, says otherwise)."""

    def make(sandbox, store_url: str | None = None) -> MeltanoProject:
        return MeltanoProject(tmp_path, sandbox, store_url)

    return make
