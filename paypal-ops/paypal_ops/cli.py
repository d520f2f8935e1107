"""`paypal-ops`: the commands the people running the sync use, all registered here.

Each command works from target-paypal's store (the group's `--store-url` and `--clinic`, the
same `store_url` and `clinic` as the target's) and prints IDs and counts, never a patient's
details. Declared in meltano.yml as the `paypal-ops` utility.
"""

from __future__ import annotations

import click

from paypal_ops.approvals import approvals_group
from paypal_ops.dead_letters import dead_letters_group
from paypal_ops.links import links_command
from paypal_ops.notify import notify_command
from paypal_ops.options import StoreAddress, clinic_option, store_option
from paypal_ops.purge import purge_command
from paypal_ops.reconcile_command import reconcile_command
from paypal_ops.report import report_command
from paypal_ops.summary import summary_command
from paypal_ops.webhooks import webhooks_command


@click.group()
@store_option
@clinic_option
@click.pass_context
def cli(ctx: click.Context, store_url: str | None, clinic: str | None) -> None:
    """Operate the Cliniko -> PayPal sync from target-paypal's store (one clinic's records)."""
    ctx.obj = StoreAddress(store_url, clinic)


for command in (
    summary_command,
    reconcile_command,
    report_command,
    dead_letters_group,
    approvals_group,
    notify_command,
    webhooks_command,
    purge_command,
    links_command,
):
    cli.add_command(command)


def main() -> None:
    """Run the `paypal-ops` command line."""
    cli(prog_name="paypal-ops")


if __name__ == "__main__":
    main()
