"""`sandbox serve` on a port another program holds: one line naming the port, exit code 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def serve(*ports: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clinic_sandbox.cli", "serve", *ports,
         "--patients", "5", "--invoices", "5"],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("option", ["--cliniko-port", "--paypal-port"])
def test_serve_refuses_a_taken_port_in_one_line(taken_port: int, option: str) -> None:
    other = "--paypal-port" if option == "--cliniko-port" else "--cliniko-port"
    done = serve(option, str(taken_port), other, "0")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"sandbox: cannot listen on 127.0.0.1:{taken_port} (Address already in use)"
    )
    assert "Cliniko sandbox:" not in done.stdout
