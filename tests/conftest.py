"""End-to-end tests: the real `meltano run` in this project, against the in-process sandbox."""

from __future__ import annotations

import pytest
from meltano_project import MeltanoProject


@pytest.fixture
def meltano_project(tmp_path):
    def make(sandbox) -> MeltanoProject:
        return MeltanoProject(tmp_path, sandbox)

    return make
