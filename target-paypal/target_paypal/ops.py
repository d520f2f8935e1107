"""`paypal-ops`: commands over target-paypal's store for the people running the sync.

`summary` prints what the last run did (records read; invoices created, updated, unchanged,
skipped by a rule, parked; with reasons, IDs never names). Declared in meltano.yml as the
`paypal-ops` utility; it reads the same `store_url` as the target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from target_paypal.alerts_cli import notify_command
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.report import report_command
from target_paypal.store import DEFAULT_STORE, Store, StoreError
from target_paypal.summary import CLINIKO_NAMES, INVOICE_OUTCOMES
from target_paypal.webhooks import webhooks_command

LABELS = {"skipped": "skipped by a rule", "conflict": "conflicts"}


def open_store(store_url: str | None) -> Store:
    try:
        return Store(store_url or os.environ.get("TARGET_PAYPAL_STORE_URL") or DEFAULT_STORE)
    except StoreError as error:
        raise click.ClickException(str(error)) from None


@click.group()
@click.option(
    "--store-url",
    envvar=["PAYPAL_OPS_STORE_URL", "TARGET_PAYPAL_STORE_URL"],
    help=f"target-paypal's store (default {DEFAULT_STORE}).",
)
@click.pass_context
def cli(ctx: click.Context, store_url: str | None) -> None:
    """Operate the Cliniko -> PayPal sync from target-paypal's store."""
    ctx.obj = store_url


cli.add_command(report_command)


@cli.command()
@click.option("--run", "run_id", type=int, help="Run id (default: the latest finished run).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def summary(store_url: str | None, run_id: int | None, as_json: bool) -> None:
    """What one run did, every invoice accounted for."""
    store = open_store(store_url)
    finished = [r for r in store.runs(limit=1000) if r["finished_at"] is not None]
    run = next((r for r in finished if run_id in (None, r["id"])), None)
    if run is None:
        raise click.ClickException("no finished run in the store yet: run the pipeline first")
    counts = run["counts"] or {}
    reasons = {outcome: store.run_reasons(run["id"], outcome) for outcome in ("skipped", "parked")}
    if as_json:
        payload = {**counts, "run_id": run["id"], "reasons": reasons}
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    for line in describe_run(run["id"], counts, reasons):
        click.echo(line)


def describe_run(
    run_id: int, counts: dict, reasons: dict[str, list[tuple[str, str, int]]]
) -> list[str]:
    read = counts.get("read", {})
    invoices = counts.get("invoices", {})
    accounted = sum(invoices.get(k, 0) for k in INVOICE_OUTCOMES)
    lines = [
        f"Run {run_id}: {counts.get('seconds', '?')} s in target-paypal",
        "  Records read:   "
        + (", ".join(f"{CLINIKO_NAMES.get(s, s)} {n}" for s, n in read.items()) or "none"),
        "  Invoices:       "
        + ", ".join(f"{LABELS.get(k, k)} {invoices.get(k, 0)}" for k in INVOICE_OUTCOMES)
        + f"  (= {accounted})",
    ]
    for outcome in ("skipped", "parked"):
        rows = [(s, r, n) for s, r, n in reasons.get(outcome, []) if s == "invoices"]
        if rows:
            lines.append(f"  {LABELS.get(outcome, outcome).capitalize()}:")
            lines.extend(f"    {n:6d}  {r or '(no reason recorded)'}" for _, r, n in rows[:10])
    others = {
        s: c for s, c in counts.get("left_out", {}).items() if s != "invoices" and any(c.values())
    }
    for stream, by_outcome in others.items():
        parts = ", ".join(f"{LABELS.get(k, k)} {v}" for k, v in sorted(by_outcome.items()))
        lines.append(f"  {CLINIKO_NAMES.get(stream, stream).capitalize()} left out: {parts}")
    lines.append(f"  Open dead letters (kept for replay): {counts.get('open_dead_letters', 0)}")
    return lines


@cli.command()
@click.option("--cliniko-base-url", envvar=["PAYPAL_OPS_CLINIKO_BASE_URL", "TAP_CLINIKO_BASE_URL"])
@click.option(
    "--cliniko-api-key", envvar=["PAYPAL_OPS_CLINIKO_API_KEY", "TAP_CLINIKO_API_KEY"], required=True
)
@click.option(
    "--paypal-base-url",
    envvar=["PAYPAL_OPS_PAYPAL_BASE_URL", "TARGET_PAYPAL_BASE_URL"],
    default="https://api-m.sandbox.paypal.com",
)
@click.option(
    "--paypal-client-id",
    envvar=["PAYPAL_OPS_PAYPAL_CLIENT_ID", "TARGET_PAYPAL_CLIENT_ID"],
    required=True,
)
@click.option(
    "--paypal-client-secret",
    envvar=["PAYPAL_OPS_PAYPAL_CLIENT_SECRET", "TARGET_PAYPAL_CLIENT_SECRET"],
    required=True,
)
@click.option(
    "--mapping-file",
    envvar=["PAYPAL_OPS_MAPPING_FILE", "MAP_CLINIKO_PAYPAL_MAPPING_FILE"],
    help="The sync's rules file (default: the shipped one).",
)
@click.option(
    "--output-dir",
    envvar="PAYPAL_OPS_RECONCILE_DIR",
    default="output/reconcile",
    show_default=True,
)
@click.pass_obj
def reconcile(
    store_url: str | None, output_dir: str, mapping_file: str | None, **settings: str
) -> None:
    """Cliniko against PayPal, invoice by invoice: exit 0 when all matches, 1 when something
    needs attention, 2 when a side could not be read."""
    from target_paypal import reconcile as rec

    try:
        result = run_reconcile(store_url, mapping_file, settings)
    except (rec.ReconcileError, PayPalError, RulesProblem) as error:
        click.echo(f"reconcile stopped: {error}", err=True)
        raise SystemExit(2) from None
    paths = rec.write(result, Path(output_dir))
    _alert_reconciliation(store_url, result)
    mismatches = ", ".join(f"{rec.LABELS[k].lower()} {n}" for k, n in result.counts.items() if n)
    click.echo(f"Reconciliation: {'all matches' if result.ok else mismatches}")
    for why, count in result.held.items():
        click.echo(f"  held back on purpose ({why}): {count}")
    click.echo(f"  written: {', '.join(str(p) for p in paths.values())}")
    raise SystemExit(0 if result.ok else 1)


def _alert_reconciliation(store_url: str | None, result: Any) -> None:
    """Mismatches reach the alert channels (once per reconciliation); never fails the command."""
    from dataclasses import asdict

    from target_paypal.alerts import notify, parse_urls, reconciliation_alert
    from target_paypal.alerts_cli import URL_VARIABLES

    alert = reconciliation_alert(asdict(result))
    urls = next((parse_urls(os.environ[v]) for v in URL_VARIABLES if os.environ.get(v)), [])
    if alert is not None and urls:
        notify(urls, alert, open_store(store_url))


def run_reconcile(store_url: str | None, mapping_file: str | None, settings: dict) -> Any:
    from target_paypal import reconcile as rec

    rules = load_rules(mapping_file)
    tap_config = {"api_key": settings["cliniko_api_key"]}
    if settings.get("cliniko_base_url"):
        tap_config["base_url"] = settings["cliniko_base_url"]
    records = rec.read_cliniko(tap_config)
    client = PayPalClient(
        settings["paypal_base_url"],
        settings["paypal_client_id"],
        settings["paypal_client_secret"],
        max_requests_per_second=10,
    )
    paypal = list(rec.list_paypal(client))
    return rec.reconcile(
        rec.wanted_invoices(records, rules),
        rec.customer_emails(records, rules),
        paypal,
        open_store(store_url),
        rules.number_prefix,
        rules.time_zone,
    )


class RulesProblem(RuntimeError):
    """The mapping rules could not be loaded."""


def load_rules(mapping_file: str | None) -> Any:
    try:
        from map_cliniko_paypal.rules import RulesError, load
    except ImportError:
        raise RulesProblem("map-cliniko-paypal is not installed beside target-paypal") from None
    try:
        return load(mapping_file)
    except RulesError as error:
        raise RulesProblem(str(error)) from None


@cli.group("dead-letters")
def dead_letters_group() -> None:
    """Records kept because they could not be applied: list, replay, discard (IDs only)."""


def _selection(every: bool, record_ids: tuple[str, ...], reason: str | None, stream: str | None):
    from target_paypal.dead_letters import Selection

    return Selection(every, record_ids, reason, stream)


def _selecting(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--all", "every", is_flag=True, help="Every open dead letter."),
            click.option("--id", "record_ids", multiple=True, help="A record's id (repeatable)."),
            click.option("--reason", help="Letters whose reason contains this text."),
            click.option("--stream", help="Only this stream (e.g. invoices, rejects:patients)."),
        ]
    ):
        command = option(command)
    return command


@dead_letters_group.command("list")
@_selecting
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def dead_letters_list(store_url, every, record_ids, reason, stream, as_json) -> None:
    """Open dead letters (all unless filtered): stream, id, attempts, reason."""
    from target_paypal.dead_letters import chosen

    selection = _selection(True, record_ids, reason, stream)
    letters = chosen(open_store(store_url), selection)
    fields = ("id", "stream", "record_id", "attempts", "created_at", "reason", "debug_id")
    rows = [{k: letter[k] for k in fields} for letter in letters]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(
            f"{row['id']:>6}  {row['stream']:<18} {row['record_id']:<20} "
            f"x{row['attempts']:<3} {row['reason']}"
        )
    click.echo(f"{len(rows)} open dead letter(s)")


@dead_letters_group.command("replay")
@_selecting
@click.option(
    "--currency",
    envvar=["PAYPAL_OPS_CURRENCY", "TARGET_PAYPAL_CURRENCY"],
    default="AUD",
    show_default=True,
    help="target-paypal's currency setting (records in another currency stay parked).",
)
@click.pass_obj
def dead_letters_replay(store_url, every, record_ids, reason, stream, currency) -> None:
    """Queue letters again for the next run (which applies them even with no new input)."""
    from target_paypal.dead_letters import replay

    selection = _selection(every, record_ids, reason, stream)
    if selection.empty():
        raise click.UsageError("say which: --all, --id, --reason or --stream")
    done = replay(open_store(store_url), selection, currency)
    click.echo(f"Queued for the next run: {len(done.queued)} invoice(s)")
    click.echo(f"Staged again (they pass the contract now): {len(done.restaged)}")
    if done.still_failing:
        click.echo(f"Still failing, kept: {', '.join(done.still_failing[:20])}")
    if done.need_cliniko:
        click.echo(
            f"Need Cliniko's record again ({len(done.need_cliniko)}): fix them in Cliniko, or "
            "after changing the rules run `meltano run --full-refresh cliniko-to-paypal`"
        )


@dead_letters_group.command("discard")
@_selecting
@click.option("--why", required=True, help="Why they are closed (kept in the audit log).")
@click.pass_obj
def dead_letters_discard(store_url, every, record_ids, reason, stream, why) -> None:
    """Close letters by hand with a reason; they are not retried again."""
    from target_paypal.dead_letters import discard

    selection = _selection(every, record_ids, reason, stream)
    if selection.empty():
        raise click.UsageError("say which: --all, --id, --reason or --stream")
    letters = discard(open_store(store_url), selection, why)
    click.echo(f"Discarded {len(letters)} dead letter(s); the reason is in the audit log")


cli.add_command(webhooks_command)


def main() -> None:
    cli(prog_name="paypal-ops")


cli.add_command(notify_command)


if __name__ == "__main__":
    main()
