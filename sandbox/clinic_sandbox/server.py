"""`SandboxServer`: seeded store + API app served by uvicorn on a background thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import requests
import uvicorn

from .cliniko.app import create_cliniko_app
from .cliniko.seed import seed_store
from .cliniko.store import ClinikoStore
from .faults import FaultInjector, RateLimiter, Stats


class _HideInjectedDrops(logging.Filter):
    """uvicorn logs an error for every response we cut short on purpose; keep logs readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "fault injection" not in text and "without completing response" not in text


class SandboxServer:
    """In-process sandbox: `with SandboxServer(seed=42) as sb: sb.cliniko_url ...`."""

    def __init__(self, seed: int = 42, patients: int = 500, invoices: int = 800,
                 host: str = "127.0.0.1", cliniko_port: int = 0,
                 api_key: str = "sandbox-key-au1", rate_limit: int | None = 200,
                 rate_window: float = 60.0) -> None:
        self.host, self.api_key, self._port = host, api_key, cliniko_port
        self.cliniko = ClinikoStore(id_seed=seed)
        seed_store(self.cliniko, seed=seed, patients=patients, invoices=invoices)
        self.limiter = RateLimiter(rate_limit, rate_window)
        self.faults = FaultInjector()
        self.stats_counter = Stats()
        self.app = create_cliniko_app(self.cliniko, api_key, self.limiter, self.faults,
                                      self.stats_counter)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -----------------------------------------------------------------------
    def start(self) -> SandboxServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        self.cliniko.base_url = self.cliniko_url
        logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                lifespan="off", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="sandbox-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:  # wait for uvicorn's startup, not for test timing
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- the Python API ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def cliniko_url(self) -> str:
        return f"http://{self.host}:{self._port}/v1"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self._port}/_sandbox"

    def cliniko_session(self, user_agent: str = "sandbox client (devs@example.com)"
                        ) -> requests.Session:
        """A `requests` session with the key and a User-Agent, as a well-behaved client."""
        session = requests.Session()
        session.auth = (self.api_key, "")
        session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        return session

    def set_rate_limit(self, limit: int | None = 200, window_seconds: float = 60.0) -> None:
        self.limiter.configure(limit, window_seconds)

    def set_faults(self, error_5xx: float = 0.0, error_429: float = 0.0, drop: float = 0.0,
                   slow: float = 0.0, slow_seconds: float = 2.0, latency_ms: float = 0,
                   seed: int | None = None) -> None:
        self.faults.configure(error_5xx=error_5xx, error_429=error_429, drop=drop, slow=slow,
                              slow_seconds=slow_seconds, latency_ms=latency_ms, seed=seed)

    def stats(self) -> dict[str, Any]:
        return self.stats_counter.snapshot()

    def reset_stats(self) -> None:
        self.stats_counter.reset()
