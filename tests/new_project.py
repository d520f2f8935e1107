"""A Meltano project other than this one, as an adopter makes it (`meltano init`), run with the
workspace's meltano and no network: what `tests/test_hub_definitions.py` and
`tests/test_git_install.py` add our plugins to. Also loads `scripts/hub_definitions.py`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
# Any HTTP(S) request goes to a closed port on this machine and fails at once; uv installs only
# from its cache (which `make install` filled); Meltano sends no usage statistics.
NO_NETWORK = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
    "UV_OFFLINE": "1",
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
}
# Settings of this repository's runs that must not leak into another project's.
OURS = ("MELTANO_", "TAP_CLINIKO_", "TARGET_PAYPAL_", "PAYPAL_OPS_")


def load_hub_script() -> ModuleType:
    """`scripts/hub_definitions.py` as a module."""
    spec = importlib.util.spec_from_file_location(
        "hub_definitions", REPO / "scripts" / "hub_definitions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def meltano(
    project: Path, *args: str, answers: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """`meltano <args>` in `project`, offline, `answers` on its standard input."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=project,
        env={**env, **NO_NETWORK},
        input=answers,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def init_project(root: Path, name: str = "elsewhere") -> Path:
    """A new project made by `meltano init` in `root`."""
    done = meltano(root, "init", name, "--no_usage_stats")
    assert done.returncode == 0, done.stdout + done.stderr
    return root / name
