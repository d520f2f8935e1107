"""`paypal-ops links`: the pay link and QR code of each open invoice sent without an email.

With the mapping's `customers.missing_email: without_email`, a patient who has no email gets
invoices that PayPal makes payable but emails to no one. The front desk hands over the link,
or prints the QR code, which opens PayPal's pay page. The command lists those invoices still
open in PayPal (IDs, number, amount due and link, never a patient's details) and, with
`--qr-dir`, saves each one's QR code as `<invoice number>.png`. Each invoice is read in its own
PayPal account (a business's own, `xrefs.account`): another account's token may not read it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from paypal_ops.accounts import AccountClients, AccountUnusable
from paypal_ops.options import StoreAddress, open_store, paypal_client, paypal_options
from target_paypal.client import PayPalError
from target_paypal.private_files import open_private, private_folder
from target_paypal.store import Store

PAYABLE = ("UNPAID", "SENT", "PARTIALLY_PAID")  # sent and not paid: a QR code can pay them


@click.command("links")
@paypal_options
@click.option(
    "--qr-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save each invoice's QR code here, as <invoice number>.png.",
)
@click.option(
    "--qr-size",
    type=click.IntRange(150, 500),
    default=300,
    show_default=True,
    help="The QR codes' width and height in pixels.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def links_command(
    store_url: StoreAddress, qr_dir: Path | None, qr_size: int, as_json: bool, **settings: str
) -> None:
    """List the open invoices of patients without an email: pay link, and QR code if asked."""
    client = paypal_client(
        settings["paypal_base_url"],
        settings.get("paypal_client_id"),
        settings.get("paypal_client_secret"),
        max_requests_per_second=10,
    )
    try:
        rows = payable_links(open_store(store_url), AccountClients(client), qr_dir, qr_size)
    except (PayPalError, AccountUnusable, ValueError, OSError) as error:  # ValueError: no PNG
        raise click.ClickException(f"links stopped: {error}") from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"Open invoices without a recipient email: {len(rows)}")
    for row in rows:
        saved = f"  {row['qr_code']}" if row.get("qr_code") else ""
        click.echo(
            f"  {row['invoice_number'] or row['paypal_id']}  Cliniko {row['invoice_id']}  "
            f"{row['due']} {row['currency']} due  {row['pay_link']}{saved}"
        )


def payable_links(
    store: Store, clients: AccountClients, qr_dir: Path | None, qr_size: int
) -> list[dict[str, Any]]:
    """Each payable invoice as PayPal has it now (one read each), its QR code saved if asked."""
    rows = []
    for xref in store.xrefs_without_email(PAYABLE):
        client = clients.client(xref.account)
        invoice = client.get_invoice(str(xref.paypal_id))
        if invoice is None or invoice.get("status") not in PAYABLE:
            continue  # paid, cancelled or deleted since the last run saw it
        due = invoice.get("due_amount") or invoice.get("amount") or {}
        row = {
            "invoice_id": xref.invoice_id,
            "paypal_id": invoice["id"],
            "invoice_number": (invoice.get("detail") or {}).get("invoice_number"),
            "status": invoice["status"],
            "due": due.get("value"),
            "currency": due.get("currency_code"),
            "pay_link": invoice["detail"]["metadata"]["recipient_view_url"],
        }
        if qr_dir is not None:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", row["invoice_number"] or row["paypal_id"])
            path = private_folder(qr_dir) / f"{name}.png"
            with open_private(path, "wb") as out:
                out.write(client.qr_code(row["paypal_id"], size=qr_size))
            row["qr_code"] = str(path)
        rows.append(row)
    return rows
