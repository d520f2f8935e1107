"""`sandbox serve`: run the sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
import time

from .server import SandboxServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Cliniko API sandbox")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--cliniko-port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--patients", type=int, default=500)
    serve.add_argument("--invoices", type=int, default=800)
    serve.add_argument("--api-key", default="sandbox-key-au1")
    serve.add_argument("--rate-limit", type=int, default=200,
                       help="requests per window per API key; 0 switches it off")
    serve.add_argument("--rate-window", type=float, default=60.0, help="seconds")
    return parser


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` (e.g. from CI) stops as cleanly as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = time.perf_counter()
    server = SandboxServer(seed=args.seed, patients=args.patients, invoices=args.invoices,
                           host=args.host, cliniko_port=args.cliniko_port, api_key=args.api_key,
                           rate_limit=args.rate_limit or None, rate_window=args.rate_window)
    with server:
        print(f"Cliniko sandbox: {server.cliniko_url}", flush=True)
        print(f"API key:         {server.api_key}", flush=True)
        print(f"Controls:        {server.control_url}/stats (seeded in "
              f"{time.perf_counter() - started:.1f}s; Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
