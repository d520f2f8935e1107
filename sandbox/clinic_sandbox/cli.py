"""`sandbox serve`: run the Cliniko and PayPal sandboxes until Ctrl-C.

`sandbox postgres`: run a throwaway PostgreSQL cluster (for a PostgreSQL `store_url`) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from .paypal.auth import OBSERVED_EXPIRES_IN
from .postgres import PostgresError, PostgresServer
from .server import PortUnavailable, SandboxServer


def positive_int(text: str) -> int:
    """A whole number of at least 1 (argparse type); anything else is a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def paypal_account(text: str) -> tuple[str, str, str]:
    """CLIENT_ID:CLIENT_SECRET:MERCHANT_EMAIL (argparse type); the secret may hold colons.

    The error never repeats the text, so a mistyped secret is not echoed to the terminal.
    """
    client_id, _, rest = text.partition(":")
    secret, _, email = rest.rpartition(":")
    if not client_id or not secret or "@" not in email:
        raise argparse.ArgumentTypeError("expected CLIENT_ID:CLIENT_SECRET:MERCHANT_EMAIL")
    return client_id, secret, email


def build_parser() -> argparse.ArgumentParser:
    """The `sandbox` command line: `serve` with the servers' settings, and `postgres`."""
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Cliniko and PayPal API sandboxes")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--cliniko-port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--patients", type=int, default=500)
    serve.add_argument("--invoices", type=int, default=800)
    serve.add_argument("--api-key", default="sandbox-key-au1")
    serve.add_argument("--rate-limit", type=int, default=200,
                       help="requests per window per API key; 0 switches it off")
    serve.add_argument("--rate-window", type=float, default=60.0, help="seconds")
    serve.add_argument("--paypal-port", type=int, default=8766)
    serve.add_argument("--paypal-client-id", default="sandbox-client-id")
    serve.add_argument("--paypal-client-secret", default="sandbox-client-secret")
    serve.add_argument("--paypal-token-expires-in", type=positive_int,
                       default=OBSERVED_EXPIRES_IN, metavar="SECONDS",
                       help="lifetime of the PayPal tokens issued (default: %(default)s, the 9 h "
                            "real tokens show)")
    serve.add_argument("--paypal-account", type=paypal_account, action="append", default=[],
                       metavar="CLIENT_ID:CLIENT_SECRET:MERCHANT_EMAIL",
                       help="another PayPal merchant account on the PayPal port, with its own "
                            "credentials, invoices and controls (repeatable)")
    serve.add_argument("--paypal-webhook-url", default=None,
                       help="send signed INVOICING.INVOICE.* events here (default: none)")
    serve.add_argument("--paypal-webhook-id", default="WH-SANDBOX-LOCAL",
                       help="the webhook id the events are signed for")
    postgres = sub.add_parser("postgres", help="run a throwaway PostgreSQL cluster until Ctrl-C")
    postgres.add_argument("--port", type=int, default=0, help="default: a free one")
    postgres.add_argument("--max-connections", type=positive_int, default=200)
    postgres.add_argument("--database", default="store",
                          help="a fresh database created in it (default: %(default)s)")
    return parser


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` (e.g. from CI) stops as cleanly as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Seed and serve both sandboxes, print where they listen, and wait for Ctrl-C or SIGTERM.

    Returns 1, after one line naming the port, when a port cannot be listened on.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if args.command == "postgres":
        return serve_postgres(args)
    client_ids = [args.paypal_client_id] + [account[0] for account in args.paypal_account]
    if len(set(client_ids)) < len(client_ids):
        parser.error("each PayPal account needs a client id of its own")
    started = time.perf_counter()
    server = _sandbox(args)
    try:
        server.start()
    except PortUnavailable as exc:
        print(f"sandbox: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        if args.paypal_webhook_url:
            server.set_paypal_webhook(args.paypal_webhook_url, args.paypal_webhook_id)
            print(f"PayPal webhooks: {args.paypal_webhook_url} (webhook id "
                  f"{args.paypal_webhook_id})", flush=True)
        _announce(server, args, started)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    finally:
        server.stop()
    return 0


def _sandbox(args: argparse.Namespace) -> SandboxServer:
    """The seeded sandbox `serve` asked for, with its extra PayPal accounts, not started."""
    server = SandboxServer(seed=args.seed, patients=args.patients, invoices=args.invoices,
                           host=args.host, cliniko_port=args.cliniko_port, api_key=args.api_key,
                           rate_limit=args.rate_limit or None, rate_window=args.rate_window,
                           paypal_port=args.paypal_port, paypal_client_id=args.paypal_client_id,
                           paypal_client_secret=args.paypal_client_secret,
                           paypal_token_expires_in=args.paypal_token_expires_in)
    for client_id, client_secret, merchant_email in args.paypal_account:
        server.add_paypal_account(client_id, client_secret, merchant_email)
    return server


def _announce(server: SandboxServer, args: argparse.Namespace, started: float) -> None:
    """Where each API and its controls listen; no secret is printed."""
    print(f"Cliniko sandbox: {server.cliniko_url}", flush=True)
    print(f"API key:         {server.api_key}", flush=True)
    print(f"Controls:        {server.control_url}/stats", flush=True)
    print(f"PayPal sandbox:  {server.paypal_url}", flush=True)
    print(f"Client id:       {server.paypal_client_id} (tokens last "
          f"{args.paypal_token_expires_in} s)", flush=True)
    for client_id, _secret, merchant_email in args.paypal_account:
        print(f"PayPal account:  {client_id} ({merchant_email}; controls under "
              f"{server.paypal_control_url}/accounts/{client_id})", flush=True)
    print(f"Controls:        {server.paypal_control_url}/stats (seeded in "
          f"{time.perf_counter() - started:.1f}s; Ctrl-C to stop)", flush=True)


def serve_postgres(args: argparse.Namespace) -> int:
    """Start a throwaway PostgreSQL cluster, print its URL, stop it (and delete it) on Ctrl-C."""
    server = PostgresServer(port=args.port or None, max_connections=args.max_connections)
    try:
        server.start()
        url = server.create_database(args.database)
    except (PostgresError, ValueError) as exc:
        server.stop()
        print(f"sandbox: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        print(f"PostgreSQL store: {url}", flush=True)
        print(f"                  (data in {server.root}, removed on Ctrl-C)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
