"""The sync-health page of a realistic clinic: thousands of parked records, 20 IDs a group.

A clinic's first back-fill parks hundreds of patients without an email and every invoice of
theirs; the page must stay readable (a count and 20 IDs per reason) and still carry every ID, in
each group's CSV.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import unquote

from click.testing import CliRunner

from paypal_ops.cli import cli
from target_paypal.client import PayPalError
from target_paypal.store import Store
from target_paypal.store.dead_letters import park_letter

NO_EMAIL = "no usable email (invoice_email and email are empty or invalid): add one in Cliniko"
# The group each reason falls in, its stream and reason as target-paypal stores them, how many;
# in the order the page shows them: what needs a person first, then the largest first.
PARKED = [
    (
        "paypal-refused",
        "invoices",
        str(PayPalError(422, "UNPROCESSABLE_ENTITY", [], "d", "send")),
        40,
    ),
    ("incomplete", "invoices", "incomplete at the end of the input: 1 of 2 lines staged", 21),
    ("no-email-invoice", "invoices", "patient {patient}: parked by the mapper: " + NO_EMAIL, 1_800),
    ("no-email-patient", "rejects:patients", f"parked by the mapper: {NO_EMAIL}", 900),
    ("open-credit", "rejects:invoices", "parked by the mapper: status 40: open credit: …", 250),
]
HELD, PERSON = 900 + 1_800 + 250, 40 + 21


def build(url: str) -> dict[str, list[str]]:
    """A store with PARKED in it; the record IDs of each group, in the order parked."""
    store = Store(url)
    ids: dict[str, list[str]] = {}
    with store.begin() as conn:
        for number, (key, stream, reason, count) in enumerate(PARKED):
            ids[key] = [f"{number + 2}{n:017d}" for n in range(count)]
            for n, record_id in enumerate(ids[key]):
                patient = f"1{n % 900:017d}"
                # The kept record holds the patient's details: never on the page.
                record = {"customer_id": patient, "email": "kim.ng@example.com", "surname": "Ng"}
                park_letter(conn, stream, record_id, reason.format(patient=patient), record, None)
    return ids


def test_the_page_lists_20_ids_a_group_and_carries_them_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    ids = build(url)
    page = tmp_path / "health.html"
    result = CliRunner().invoke(cli, ["--store-url", url, "report", "--output", str(page)])
    assert result.exit_code == 0, result.output
    assert f"{PERSON} parked for a person, {HELD:,} held back by the rules" in result.output
    html = page.read_text()
    assert re.search(rf'id="tile-person">.*?data-count="{PERSON}"', html, re.S)
    assert re.search(rf'id="tile-held">.*?data-count="{HELD}"', html, re.S)

    groups = re.findall(
        r'<div class="parked-group" data-reason="([\w-]+)" data-kind="\w+" data-count="(\d+)">'
        r"(.*?)</div>",
        html,
        re.S,
    )
    assert [(key, int(count)) for key, count, _ in groups] == [(p[0], p[3]) for p in PARKED]
    for key, _, body in groups:
        listed = re.findall(r'<code class="record-id">(\d+)</code>', body)
        assert listed == ids[key][:20], (key, len(listed))
        href = re.search(r'<a class="csv" href="([^"]+)"', body)
        assert href, key
        text = unquote(href.group(1).removeprefix("data:text/csv;charset=utf-8,"))
        assert [r["id"] for r in csv.DictReader(io.StringIO(text))] == ids[key]
    shown = unquote(re.sub(r"<style.*?</style>", "", html, flags=re.S))
    assert "@" not in shown and "Ng" not in shown, "the kept records never reach the page"
    # The CSVs make the page grow: under 100 bytes per parked record.
    assert len(html.encode()) < 100_000 + 100 * (HELD + PERSON), len(html.encode())
