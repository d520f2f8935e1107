"""The sandbox in its own process (`sandbox serve` on free ports), driven by its control routes.

Its own process, not a thread of the bench: the bench's Python would otherwise share a GIL with
the servers and slow both, and the sandbox's memory would be counted with the bench's.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.paths import BIN

API_KEY = "sandbox-key-au1"
CLIENT_ID, CLIENT_SECRET = "sandbox-client-id", "sandbox-client-secret"
URL = re.compile(r"(Cliniko|PayPal) sandbox:\s+(\S+)")
START_TIMEOUT = 300  # seeding 100,000 invoices takes ~25 s on a quiet 2-core machine


@dataclass
class Sandbox:
    """A running `sandbox serve`: its URLs and its control routes."""

    process: subprocess.Popen[str]
    cliniko_url: str
    paypal_url: str
    seeded: dict[str, int] = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def control(self) -> str:
        return self.cliniko_url.removesuffix("/v1") + "/_sandbox"

    @property
    def paypal_control(self) -> str:
        return self.paypal_url + "/_sandbox/paypal"

    # --- Cliniko ----------------------------------------------------------------------------
    def set_rate_limit(self, limit: int | None, window_seconds: float = 60) -> None:
        body = {"limit": limit, "window_seconds": window_seconds}
        self._ok(self.http.put(self.control + "/rate_limit", json=body, timeout=30))

    def stats(self) -> dict[str, Any]:
        return self._ok(self.http.get(self.control + "/stats", timeout=30)).json()  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        self._ok(self.http.post(self.control + "/stats/reset", timeout=30))

    # --- PayPal -----------------------------------------------------------------------------
    def set_paypal_latency(self, latency_ms: float) -> None:
        self._ok(self.http.put(self.paypal_control + "/faults",
                               json={"latency_ms": latency_ms}, timeout=30))

    def reset_paypal(self) -> None:
        """Forget every invoice, token and logged call (a fresh merchant account)."""
        self._ok(self.http.post(self.paypal_control + "/reset", timeout=60))
        self._ok(self.http.post(self.paypal_control + "/stats/reset", timeout=30))

    def paypal_calls(self) -> list[dict[str, Any]]:
        return self._ok(self.http.get(self.paypal_control + "/calls", timeout=300)).json()["calls"]  # type: ignore[no-any-return]

    def paypal_invoice_count(self) -> int:
        return len(self._ok(self.http.get(self.paypal_control + "/invoices", timeout=300))
                   .json()["items"])

    def clear_paypal_calls(self) -> None:
        self._ok(self.http.delete(self.paypal_control + "/calls", timeout=60))

    # --- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: `sandbox serve` stops as on Ctrl-C
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _ok(response: requests.Response) -> requests.Response:
        response.raise_for_status()
        return response


def start(patients: int, invoices: int, log: Path, seed: int | None = None) -> Sandbox:
    """`sandbox serve` seeded with this many patients and invoices, no rate limit, free ports
    (`seed`: another clinic's data; default the sandbox's own seed)."""
    command = [str(BIN / "sandbox"), "serve", "--cliniko-port", "0", "--paypal-port", "0",
               "--patients", str(patients), "--invoices", str(invoices), "--rate-limit", "0",
               *(["--seed", str(seed)] if seed is not None else [])]
    log.parent.mkdir(parents=True, exist_ok=True)
    # Its output goes to a file, read back for the URLs: a pipe nobody reads any more would
    # block it (or break it) on its next print.
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        urls = dict((m.group(1), m.group(2)) for m in URL.finditer(log.read_text()))
        if len(urls) == 2:  # it prints both URLs once it has seeded and listens
            return Sandbox(process, urls["Cliniko"], urls["PayPal"],
                           {"patients": patients, "invoices": invoices})
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the sandbox did not start; see {log}")
