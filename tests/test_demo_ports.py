"""`make demo` talks only to the sandbox it started, never to another program on its old ports.

Another program holds 127.0.0.1:8765 and 8766 (meltano.yml's dev ports, which the demo used to
serve on) and answers the sandbox's readiness paths as if it were one. The demo must still run
its whole pipeline against its own sandbox, and the impostor must see no request at all.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV_PORTS = (8765, 8766)


class _Impostor(BaseHTTPRequestHandler):
    """Answers every request with a sandbox-like JSON body and notes what it was asked."""

    seen: list[str]

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        body = json.dumps({"requests": 0, "count": 1, "writes": 0, "calls": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[list[str]]:
    """Dummy HTTP servers on 127.0.0.1:8765 and 8766; yields the requests they got."""
    seen: list[str] = []
    handler = type("Handler", (_Impostor,), {"seen": seen})
    servers = []
    try:
        for port in DEV_PORTS:
            try:
                servers.append(ThreadingHTTPServer(("127.0.0.1", port), handler))
            except OSError as exc:
                pytest.skip(f"port {port} is held by another program here ({exc.strerror})")
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield seen
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return int(reply.status)


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "meltano").exists(),
                    reason="the demo needs the workspace's .venv (make install)")
def test_demo_ignores_a_server_already_on_its_old_ports(impostor: list[str]) -> None:
    # What the old readiness loop asked: the impostor passes it.
    assert _status("http://127.0.0.1:8765/_sandbox/stats") == 200
    assert _status("http://127.0.0.1:8766/_sandbox/paypal/stats") == 200
    impostor.clear()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_CLINIKO_", "TARGET_PAYPAL_", "PAYPAL_OPS_", "MELTANO_"))}
    done = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"demo failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert impostor == [], f"the demo talked to the program on {DEV_PORTS}: {impostor}"
    # 800 invoices and 16 reversals of some of them
    assert "Sandbox clinic: 816 invoices in Cliniko; PayPal empty." in done.stdout
    assert "Invoices:       created " in done.stdout
    assert "To third-party payers: " in done.stdout
    delivered = next(ln for ln in done.stdout.splitlines() if "addressed to the payer:" in ln)
    assert "Coastal Plan Management" in delivered and "Sample Health Insurance" in delivered
    by_business = next(ln for ln in done.stdout.splitlines() if "by business:" in ln)
    assert by_business.count(" (ABN ") == 3, by_business  # each business its own invoicer
    accounts = next(ln for ln in done.stdout.splitlines() if "By PayPal account:" in ln)
    counts = [int(n) for n in re.findall(r"(\d+) in ", accounts)]
    assert len(counts) == 2 and min(counts) > 0, accounts  # one business has its own account
    assert "PayPal writes (both accounts): 0" in done.stdout
    assert_dead_letters_need_a_person(done.stdout)
    assert_a_log_a_person_can_read(REPO / ".demo" / "first-run.log")


def assert_a_log_a_person_can_read(log: Path) -> None:
    """The first run's log (Meltano at info) is short: parked records summed up by reason, no
    line per record, no list of deselected streams, no per-request metrics."""
    lines = log.read_text().splitlines()
    noise = [line for line in lines if "METRIC" in line or "deselected" in line]
    assert not noise, f"{len(noise)} noise lines, e.g. {noise[:3]}"
    assert len(lines) < 80, f"the first run logged {len(lines)} lines:\n" + "\n".join(lines)
    assert any("Parked " in line for line in lines), "no summed-up parked line"


# What a person does about each kind of dead letter the demo's clinic leaves (its reason says it).
FOR_A_PERSON = (
    "open credit: refund or apply it by hand",
    "no usable email",
    "shares its email",
    "reversed in part in Cliniko",
    "paid, then reversed in Cliniko",
)


def assert_dead_letters_need_a_person(summary: str) -> None:
    """After the demo the open dead letters hold only records a person must act on (no void
    invoice, nothing PayPal refused or dropped), and the summary says how many and why."""
    with sqlite3.connect(f"file:{REPO / '.demo' / 'store.db'}?mode=ro", uri=True) as conn:
        letters = conn.execute(
            "SELECT stream, record_id, reason FROM dead_letters WHERE resolved_at IS NULL"
        ).fetchall()
    not_for_a_person = [row for row in letters if not any(k in row[2] for k in FOR_A_PERSON)]
    assert letters and not not_for_a_person, f"no person can act on: {not_for_a_person[:10]}"
    assert f"Open dead letters: {len(letters)}, each waiting for a person" in summary, summary
    parked = re.findall(r"^ +(\d+)  (.+)$", summary.split("Parked for a person")[1], re.M)
    assert sum(int(n) for n, _ in parked) == len(letters), "the summary's reasons miss some"
