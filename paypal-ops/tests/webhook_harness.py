"""What the webhook receiver's tests share: a receiver on a loopback port, and polling."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from paypal_ops.webhooks import PATH


def poll(check: Callable[[], object], timeout: float) -> object:
    """`check()` once it is truthy, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


class Served:
    """An ASGI app on a loopback port, on a uvicorn thread."""

    def __init__(self, app: object) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}{PATH}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        assert poll(lambda: self.server.started, 10), "receiver did not start"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
