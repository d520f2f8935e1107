"""Where the bench finds the project's executables and keeps its scratch files and results."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
RESULTS = REPO / "bench" / "results"
MAPPING_FILE = REPO / "transforms" / "map_cliniko_paypal" / "mapping.yaml"
