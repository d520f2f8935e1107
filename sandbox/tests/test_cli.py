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


def test_token_lifetime_option_defaults_to_the_observed_9_hours() -> None:
    from clinic_sandbox.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve"]).paypal_token_expires_in == 32400
    assert parser.parse_args(["serve", "--paypal-token-expires-in", "2"]
                             ).paypal_token_expires_in == 2
    for bad in ("0", "-5", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["serve", "--paypal-token-expires-in", bad])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_token_lifetime_option_reaches_the_server() -> None:
    import time

    import requests

    cliniko, paypal = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "clinic_sandbox.cli", "serve", "--cliniko-port", str(cliniko),
         "--paypal-port", str(paypal), "--patients", "5", "--invoices", "5",
         "--paypal-token-expires-in", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{paypal}"
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the server to listen (polling for startup, not timing anything)
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "sandbox serve did not start"
            try:
                token = requests.post(url + "/v1/oauth2/token",
                                      auth=("sandbox-client-id", "sandbox-client-secret"),
                                      data={"grant_type": "client_credentials"}, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert token.status_code == 200
        assert token.json()["expires_in"] == 2
        assert requests.get(url + "/_sandbox/paypal/credentials").json()[
            "token_expires_in"] == 2
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "(tokens last 2 s)" in out
