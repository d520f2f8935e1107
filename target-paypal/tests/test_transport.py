"""The transport on its own, against a local HTTP server that records what it was sent."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from target_paypal.transport import Transport


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"path": self.path, "headers": self.headers, "body": body})
        answer = json.dumps({"ok": True}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_request_carries_its_path_query_body_and_headers(server: str) -> None:
    transport = Transport(server + "/prefix/", timeout_seconds=5, pool_size=2)
    answer = transport.request(
        "POST", "/v2/things", params={"page": 1, "q": "a b"}, json={"n": 1},
        auth=("id", "secret"), headers={"Prefer": "return=representation"},
    )  # fmt: skip
    assert answer.status_code == 201 and answer.json() == {"ok": True}
    assert answer.headers["content-type"] == "application/json"  # case-insensitive
    sent = Recorder.seen[0]
    assert sent["path"] == "/prefix/v2/things?page=1&q=a+b"
    assert json.loads(sent["body"]) == {"n": 1}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["User-Agent"] == "target-paypal"
    assert sent["headers"]["Prefer"] == "return=representation"
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"id:secret").decode()
    form = transport.request("POST", "/token", data={"grant_type": "client_credentials"})
    assert form.status_code == 201
    assert Recorder.seen[1]["body"] == b"grant_type=client_credentials"
    assert Recorder.seen[1]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
