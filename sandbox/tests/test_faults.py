"""Rate limit, injected faults, stats and the HTTP control routes."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from clinic_sandbox import SandboxServer


@pytest.fixture
def sb(make_sandbox) -> SandboxServer:
    return make_sandbox(patients=20, invoices=20)


def test_rate_limit_gives_429_with_reset(sb: SandboxServer) -> None:
    sb.set_rate_limit(limit=3, window_seconds=60)
    api = sb.cliniko_session()
    codes = [api.get(sb.cliniko_url + "/taxes").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = api.get(sb.cliniko_url + "/taxes")
    reset = int(r.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert r.json()["message"]
    other = requests.get(sb.cliniko_url + "/taxes", headers={"User-Agent": "x (x@e.com)"})
    assert other.status_code == 401  # bad keys are refused before they count
    sb.set_rate_limit(limit=None)
    assert api.get(sb.cliniko_url + "/taxes").status_code == 200


def test_control_routes_are_not_limited_or_counted(sb: SandboxServer) -> None:
    sb.set_rate_limit(limit=1)
    sb.set_faults(error_5xx=1.0, seed=1)
    for _ in range(3):
        assert requests.get(sb.control_url + "/stats").status_code == 200
    assert sb.stats()["requests"] == 0


def test_5xx_faults_are_seeded(sb: SandboxServer) -> None:
    api = sb.cliniko_session()

    def run() -> list[int]:
        sb.set_faults(error_5xx=0.5, seed=3)
        return [api.get(sb.cliniko_url + "/taxes").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert {500, 502, 503} & set(first) and 200 in first
    bad = api.get(sb.cliniko_url + "/taxes")
    if bad.status_code >= 500:
        assert bad.json()["message"]


def test_429_fault_has_reset_header(sb: SandboxServer) -> None:
    sb.set_faults(error_429=1.0, seed=1)
    r = sb.cliniko_session().get(sb.cliniko_url + "/patients")
    assert r.status_code == 429 and int(r.headers["X-RateLimit-Reset"]) > time.time()


def test_dropped_connection_breaks_the_client(sb: SandboxServer) -> None:
    sb.set_faults(drop=1.0, seed=1)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        sb.cliniko_session().get(sb.cliniko_url + "/patients")
    assert sb.stats()["by_status"] == {"dropped": 1}


def test_slow_and_latency_add_delay(sb: SandboxServer) -> None:
    api = sb.cliniko_session()
    sb.set_faults(slow=1.0, slow_seconds=0.3, seed=1)
    started = time.perf_counter()
    assert api.get(sb.cliniko_url + "/taxes").ok
    assert time.perf_counter() - started >= 0.3
    sb.set_faults(latency_ms=150)
    started = time.perf_counter()
    assert api.get(sb.cliniko_url + "/taxes").ok
    assert time.perf_counter() - started >= 0.15


def test_turning_the_latency_off_lets_go_of_requests_already_waiting(sb: SandboxServer) -> None:
    api = sb.cliniko_session()
    sb.set_faults(latency_ms=60_000)
    answers: list[int] = []
    waiting = threading.Thread(
        target=lambda: answers.append(api.get(sb.cliniko_url + "/taxes", timeout=90).status_code)
    )
    waiting.start()
    deadline = time.monotonic() + 30
    while not sb.stats()["delay_seconds"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sb.stats()["delay_seconds"] == 60, "the request never reached its delay"
    sb.set_faults()
    waiting.join(timeout=30)  # well under the 60 s it was held for
    assert answers == [200], "the request still waits out a latency that was turned off"


def test_stats_count_api_requests(sb: SandboxServer) -> None:
    api = sb.cliniko_session()
    sb.reset_stats()
    api.get(sb.cliniko_url + "/patients")
    api.get(sb.cliniko_url + "/patients/1")
    requests.get(sb.cliniko_url + "/patients")
    stats = sb.stats()
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 1, "404": 1, "401": 1}
    assert stats["by_path"]["/v1/patients"] == 2
    sb.reset_stats()
    assert sb.stats()["requests"] == 0


def test_http_controls(sb: SandboxServer) -> None:
    ctl = sb.control_url
    assert requests.put(ctl + "/rate_limit", json={"limit": 1, "window_seconds": 60}).ok
    api = sb.cliniko_session()
    assert [api.get(sb.cliniko_url + "/taxes").status_code for _ in range(2)] == [200, 429]
    assert requests.put(ctl + "/rate_limit", json={"limit": None}).ok
    assert requests.put(ctl + "/faults", json={"error_5xx": 1.0, "seed": 2}).ok
    assert api.get(sb.cliniko_url + "/taxes").status_code >= 500
    assert requests.put(ctl + "/faults", json={}).ok
    assert requests.put(ctl + "/faults", json={"error_5xx": 2}).status_code == 400
    count = requests.get(ctl + "/cliniko/patients/count").json()["count"]
    created = requests.post(ctl + "/cliniko/patients",
                            json={"first_name": "A", "last_name": "B"}).json()
    assert requests.get(ctl + "/cliniko/patients/count").json()["count"] == count + 1
    pid = created["id"]
    assert requests.patch(f"{ctl}/cliniko/patients/{pid}", json={"email": "a@b.co"}).json()[
        "email"] == "a@b.co"
    assert requests.post(f"{ctl}/cliniko/patients/{pid}/archive").json()["archived_at"]
    invoice = sb.cliniko.records("invoices")[0]["id"]
    assert requests.delete(f"{ctl}/cliniko/invoices/{invoice}").json()["deleted_at"]
    assert requests.post(ctl + "/cliniko/patients", json={"shoe_size": 9}).status_code == 400
    assert requests.get(ctl + "/stats").json()["by_status"] == {"200": 1, "429": 1, "500": 1}
