"""The sync-health page (`paypal-ops report`) from a known store and a known reconciliation.

The plain tests read the HTML; the browser test opens the page in Debian's headless chromium
(scripts/install-browser.sh installs it) and reads what a person would see.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from paypal_ops.cli import cli
from target_paypal.client import PayPalError
from target_paypal.store import Store, Xref
from target_paypal.store.approvals import HOLD, Gate, write_gate
from target_paypal.summary import run_summary

# What the store knows about a patient: it must never reach the page.
PATIENT = {
    "customer_id": "100000000000000001",
    "email": "zelda.quixote@example.com",
    "given_name": "Zelda",
    "surname": "Quixote",
}
OUTAGE = str(PayPalError(503, "SERVICE_UNAVAILABLE", operation="create"))
HOSTILE = "amount <b>110.00</b> refused & kept"  # a reason no one classified: needs a person
NO_EMAIL = (
    "parked by the mapper: no usable email (invoice_email and email are empty or invalid): "
    "add one in Cliniko"
)
# Patients the rules hold back for want of an email: more than the page lists (20).
NO_EMAIL_PATIENTS = [f"1000000000000001{n:02d}" for n in range(25)]
CONFLICT = "MARKED_AS_PAID in PayPal, not by this sync: left as it is"
RECONCILIATION = {
    "generated_at": "2026-11-27T05:00:00Z",
    "time_zone": "Australia/Sydney",
    "ok": False,
    "counts": {
        "missing_in_paypal": 1,
        "not_in_cliniko": 0,
        "different": 1,
        "conflict": 0,
        "paid_in_paypal_open_in_cliniko": 0,
    },
    "items": [
        {
            "kind": "different",
            "cliniko_invoice_id": "200000000000000123",
            "paypal_id": "INV2-DIFF-0000-0001",
            "invoice_number": "CLK-12",
            "fields": ["amount"],
            "detail": "amount 110.00 in Cliniko, 100.00 in PayPal",
        },
        {
            "kind": "missing_in_paypal",
            "cliniko_invoice_id": "200000000000000124",
            "paypal_id": None,
            "invoice_number": "CLK-13",
            "fields": [],
            "detail": "not in PayPal",
        },
    ],
    "held": {"parked or skipped by the sync's rules": 3},
    "gst_by_month": [
        {"month": "2026-07", "cliniko": "123.45", "paypal": "120.00", "difference": "3.45"},
        {"month": "2026-08", "cliniko": "50.00", "paypal": "50.00", "difference": "0.00"},
    ],
}
# Per finished run: invoice id -> outcome; run 3 crashed (no finish recorded).
RUNS = {
    1: ({f"20000000000000000{n}": "created" for n in range(5)}, 12.3),
    2: (
        {
            "200000000000000000": "updated",
            "200000000000000001": "updated",
            "200000000000000002": "unchanged",
            "200000000000000003": "unchanged",
            "200000000000000004": "unchanged",
            "200000000000000005": "created",
            "200000000000000006": "parked",
        },
        75.0,
    ),
    3: None,
    4: (
        {
            "200000000000000000": "unchanged",
            "200000000000000001": "unchanged",
            "200000000000000002": "unchanged",
            "200000000000000003": "unchanged",
            "200000000000000004": "updated",
            "200000000000000010": "created",
            "200000000000000011": "created",
            "200000000000000006": "parked",
            "200000000000000007": "parked",
            "200000000000000012": "skipped",
            "200000000000000009": "conflict",
            "200000000000000301": "held",
        },
        8.4,
    ),
}
LAST = {
    "created": 2,
    "updated": 1,
    "unchanged": 4,
    "held": 1,
    "skipped": 1,
    "parked": 2,
    "conflict": 1,
}
# The approval queue: invoice id -> (rule, days waited, alert_after_days, state). 21 waiting
# under one rule (more than the page lists), the longest past its alert time; one under
# another rule, not yet past its own; one approved and one rejected (not waiting).
BIG, PAYER = "large-total", "third-party-payer"
QUEUE = {
    "200000000000000301": (BIG, 5.25, 3, "waiting"),
    **{f"2000000000000003{n:02d}": (BIG, 1 - n / 100, 3, "waiting") for n in range(2, 22)},
    "200000000000000322": (PAYER, 4.0, 5, "waiting"),
    "200000000000000323": (BIG, 9.0, 3, "approved"),
    "200000000000000324": (BIG, 9.0, 3, "rejected"),
}
WAITING = [i for i, (_, _, _, state) in QUEUE.items() if state == "waiting"]


def hold_for_approval(store: Store, now: dt.datetime) -> None:
    """The queue's rows as the target's applier writes them, and the draft of the longest."""
    for invoice_id, (rule, days, after, state) in QUEUE.items():
        row = {
            "invoice_id": invoice_id,
            "rule": rule,
            "basis": "b",
            "state": state,
            "held_since": now - dt.timedelta(days=days),
            "alert_after_days": after,
            "invoice_number": f"CLK-{invoice_id[-3:]}",
            "total": "1250.00",
            "currency_code": "AUD",
            "content": None,
            "decided_by": None if state == "waiting" else "frontdesk",
            "decided_at": None if state == "waiting" else now,
            "why": "duplicate" if state == "rejected" else None,
        }
        with store.begin() as conn:
            write_gate(conn, invoice_id, Gate(HOLD, row))
    store.save_xref(
        Xref("200000000000000301", "INV2-HELD-0000-0301", "CLK-301", "DRAFT", "h301", None)
    )


def build_store(url: str) -> Store:
    """Four runs written as target-paypal writes them, dead letters, cross-references."""
    store = Store(url)
    store.stage_customers([PATIENT])
    for run_no, plan in RUNS.items():
        run_id = store.start_run()
        assert run_id == run_no
        if plan is None:
            continue  # a crash: status stays "running", finished_at stays empty
        outcomes, seconds = plan
        for invoice_id, outcome in outcomes.items():
            reason = OUTAGE if outcome == "parked" else None
            store.note_outcome(run_id, "invoices", invoice_id, outcome, reason)
        if run_no == 2:
            store.park("invoices", "200000000000000006", OUTAGE, debug_id="dbg-503-aaa")
        if run_no == 4:
            store.park("invoices", "200000000000000006", OUTAGE, debug_id="dbg-503-bbb")
            store.park("invoices", "200000000000000007", OUTAGE)
            store.park("invoices", "200000000000000008", HOSTILE)
            # A rejected patient keeps its record in the dead letter: names, email.
            store.park("rejects:patients", PATIENT["customer_id"], NO_EMAIL, record=PATIENT)
            for patient_id in NO_EMAIL_PATIENTS:
                store.park("rejects:patients", patient_id, NO_EMAIL, record=PATIENT)
            store.save_xref(
                Xref(
                    "200000000000000009",
                    "INV2-CONF-0000-0009",
                    "CLK-9",
                    "MARKED_AS_PAID",
                    "h9",
                    CONFLICT,
                    owner="Physiotherapy",
                )
            )
            store.save_xref(
                Xref("200000000000000010", "INV2-OKAY-0000-0010", "CLK-10", "UNPAID", "h10", None)
            )
        summary = run_summary(
            {"invoices": len(outcomes), "customers": 1},
            store.run_outcomes(run_id),
            len(store.open_dead_letters()),
            seconds,
        )
        store.finish_run(run_id, "succeeded", summary)
    hold_for_approval(store, dt.datetime.now(dt.UTC))
    return store


@pytest.fixture
def known(tmp_path: Path) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    build_store(url)
    reconciliation = tmp_path / "reconcile" / "reconcile.json"
    reconciliation.parent.mkdir()
    reconciliation.write_text(json.dumps(RECONCILIATION))
    return url, reconciliation


def write_page(url: str, output: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--store-url", url, "report", "--output", str(output), *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


class _Text(HTMLParser):
    """The text of an element found by id, and of the whole body, as a browser would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.chunks.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


def csv_rows(href: str) -> list[dict[str, str]]:
    """The rows of a CSV carried in a `data:` link, as a spreadsheet would read them."""
    prefix = "data:text/csv;charset=utf-8,"
    assert href.startswith(prefix), href[:80]
    text = unquote(href.removeprefix(prefix))
    for value in (PATIENT["email"], PATIENT["given_name"], PATIENT["surname"]):
        assert value not in text
    return list(csv.DictReader(io.StringIO(text)))


def row_cells(html: str, run_id: int) -> dict[str, str]:
    row = re.search(rf'<tr data-run="{run_id}".*?</tr>', html, re.S)
    assert row, f"no row for run {run_id}"
    return dict(re.findall(r'data-outcome="(\w+)">([^<]*)<', row.group(0)))


def test_the_page_shows_the_known_figures_ids_only(known, tmp_path) -> None:
    url, reconciliation = known
    out = write_page(
        url, tmp_path / "page" / "health.html", "--reconciliation", str(reconciliation)
    )
    html = (tmp_path / "page" / "health.html").read_text()
    text = visible_text(html)

    assert (
        "last run 4 ok, 3 parked for a person, 26 held back by the rules, 1 conflicts, "
        "reconciliation needs attention, 22 waiting for approval"
    ) in out
    assert row_cells(html, 4) == {k: str(v) for k, v in LAST.items()}
    assert row_cells(html, 1)["created"] == "5"
    assert row_cells(html, 3) == {k: "–" for k in LAST}  # crashed: no counts, not zeros
    assert re.search(r'<tr data-run="3" data-state="incomplete">.*?Did not finish', html, re.S)
    assert 'id="incomplete-note"' in html
    assert "1 min 15 s" in text and "12.3 s" in text
    # Needs a person: 3 parked, 1 conflict, 2 from the reconciliation; 26 held by the rules.
    assert re.search(r'id="tile-person">.*?data-count="6"', html, re.S)
    assert re.search(r'id="tile-held">.*?data-count="26"', html, re.S)
    assert "Needs attention: 6 for a person to look at (below). 26 more are held back" in text
    assert "22 invoices wait for approval (1 past their rule's alert time)." in text
    # Parked, grouped by kind of reason: what needs a person first, the largest first.
    groups = re.findall(r'<span class="reason">(.*?)</span>', html)
    assert groups == [
        "PayPal refused it or did not answer",
        "Other reasons",  # the reason no one classified
        "Patients without a usable email",
    ]
    assert "200000000000000006 invoice create: HTTP 503 SERVICE_UNAVAILABLE" in text
    assert "dbg-503-bbb" in text
    assert f"{PATIENT['customer_id']} patient" in text
    assert "Showing 20 of 26." in text
    # The approval queue: counts, by rule, the overdue one, the first 20, a CSV of all.
    assert re.search(r'id="tile-approvals">.*?data-count="22"', html, re.S)
    assert "Waiting longest: 5 d 6 h (since" in text
    assert "large-total 21 5 d 6 h 1" in text and "third-party-payer 1 4 d 0 h 0" in text
    overdue = re.search(r'<table id="approvals-overdue-table">.*?</table>', html, re.S)
    assert overdue and re.findall(r'data-invoice="(\d+)"', overdue.group(0)) == [WAITING[0]]
    assert "200000000000000301 CLK-301 1250.00 AUD large-total INV2-HELD-0000-0301" in text
    assert "5 d 6 h (alert after 3 d)" in text
    listed = re.search(r'<table id="approvals-table">.*?</table>', html, re.S)
    assert listed and re.findall(r'data-invoice="(\d+)"', listed.group(0)) == (
        [WAITING[0], WAITING[-1], *WAITING[1:19]]  # longest waiting first
    )
    assert "Showing 20 of 22." in text and "Download all 22 as CSV" in text
    for decided in ("200000000000000323", "200000000000000324"):
        assert decided not in html
    # Conflicts, reconciliation, GST by month.
    assert "200000000000000009 CLK-9 INV2-CONF-0000-0009 MARKED_AS_PAID" in text
    assert "Different in PayPal (1)" in text and "INV2-DIFF-0000-0001" in text
    assert "2026-07 123.45 120.00 3.45" in text
    assert "Held back on purpose: parked or skipped by the sync's rules 3" in text
    # Times in the reconciliation's zone by default.
    assert "Times in Australia/Sydney" in text and re.search(r"AE[DS]T", text)
    assert "Cliniko compared with PayPal on 2026-11-27 16:00 AEDT" in text
    # Autoescaped: a reason's markup is text, not markup.
    assert "amount &lt;b&gt;110.00&lt;/b&gt; refused &amp; kept" in html
    assert "<b>110.00</b>" not in html
    # Never a patient's name or email (the dead letter's record holds both).
    for value in (PATIENT["email"], PATIENT["given_name"], PATIENT["surname"]):
        assert value not in html
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_gst_by_abn_shows_each_business_apart(known, tmp_path) -> None:
    url, reconciliation = known
    by_abn = {
        **RECONCILIATION,
        "gst_by_month": [
            {"month": "2026-07", "abn": "", "cliniko": "1.00", "paypal": "1.00",
             "difference": "0.00"},
            {"month": "2026-07", "abn": "12 345 678 901", "cliniko": "9.00", "paypal": "7.00",
             "difference": "2.00"},
        ],
    }  # fmt: skip
    reconciliation.write_text(json.dumps(by_abn))
    write_page(url, tmp_path / "page" / "health.html", "--reconciliation", str(reconciliation))
    table = re.search(r'<table id="gst-table">.*?</table>', (tmp_path / "page" / "health.html")
                      .read_text(), re.S)  # fmt: skip
    assert table, "no GST table"
    text = visible_text(table.group(0))
    assert text.startswith("Month ABN Cliniko PayPal Difference")
    assert "2026-07 default invoicer 1.00 1.00 0.00" in text
    assert "2026-07 12 345 678 901 9.00 7.00 2.00" in text


def test_without_runs_or_reconciliation_it_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PAYPAL_OPS_RECONCILE_DIR", str(tmp_path / "nowhere"))
    out = write_page(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "health.html")
    text = visible_text((tmp_path / "health.html").read_text())
    assert "no runs yet, 0 parked for a person, 0 held back by the rules, 0 conflicts" in out
    assert "No runs yet: run the pipeline first." in text
    assert "No invoice is waiting for approval." in text and "0 waiting for approval" in out
    assert f"No reconciliation yet: run paypal-ops reconcile (looked for {tmp_path}" in text
    assert "Needs attention" in text and "Times in UTC" in text


def test_an_unreadable_reconciliation_is_reported_not_fatal(known, tmp_path) -> None:
    url, reconciliation = known
    reconciliation.write_text('{"generated_at": "2026-11-')  # cut short mid-write
    write_page(url, tmp_path / "health.html", "--reconciliation", str(reconciliation))
    text = visible_text((tmp_path / "health.html").read_text())
    assert "cannot be read (JSONDecodeError)" in text
    assert row_cells((tmp_path / "health.html").read_text(), 4)["created"] == "2"


def test_all_well_only_when_everything_is(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    run_id = store.start_run()
    store.note_outcome(run_id, "invoices", "1", "created", None)
    store.finish_run(run_id, "succeeded", run_summary({}, store.run_outcomes(run_id), 0, 1.0))
    good = tmp_path / "reconcile.json"
    good.write_text(json.dumps({**RECONCILIATION, "ok": True, "items": []}))
    write_page(url, tmp_path / "health.html", "--reconciliation", str(good))
    html = (tmp_path / "health.html").read_text()
    assert "All well" in visible_text(html) and 'id="incomplete-note"' not in html
    store.start_run()  # then a run crashes
    write_page(url, tmp_path / "health.html", "--reconciliation", str(good))
    text = visible_text((tmp_path / "health.html").read_text())
    assert "Needs attention: see below." in text and "Last run Did not finish Run 2" in text


# --- in a real browser ------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
NO_BROWSER = (
    "Debian's chromium and chromium-driver are not installed: run scripts/install-browser.sh "
    "as root (or apt-get install chromium chromium-driver)"
)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(NO_BROWSER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_the_page_in_headless_chromium(known, tmp_path, browser) -> None:
    from selenium.webdriver.common.by import By

    url, reconciliation = known
    page = tmp_path / "health.html"
    write_page(url, page, "--reconciliation", str(reconciliation))
    browser.get(page.as_uri())

    def text(css: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, css).text)

    assert browser.title == "Sync health: Cliniko → PayPal"
    assert text("#tile-last-run .value") == "OK"
    # The headline: what needs a person apart from what the rules hold back.
    assert text("#tile-person .value") == "6"
    assert text("#tile-person .muted") == "3 parked, 1 conflict, 2 from the reconciliation"
    assert text("#tile-held .value") == "26"
    assert text("#tile-conflicts .value") == "1"
    assert text("#tile-reconciliation .value") == "2 to check"
    for outcome, count in LAST.items():
        assert text(f'tr[data-run="4"] td[data-outcome="{outcome}"]') == str(count)
    assert "Did not finish" in text('tr[data-run="3"]')
    first_group = browser.find_elements(By.CSS_SELECTOR, ".parked-group")[0]
    assert first_group.get_attribute("data-kind") == "person" and OUTAGE in first_group.text
    assert {"200000000000000006", "200000000000000007"} == {
        e.text for e in first_group.find_elements(By.CSS_SELECTOR, ".record-id")
    }
    assert HOSTILE in text("#parked")  # shown as the text it is
    # A group: its count, what to do, its first 20 IDs, and a CSV of all of them.
    held = browser.find_element(By.CSS_SELECTOR, '.parked-group[data-reason="no-email-patient"]')
    assert held.find_element(By.CSS_SELECTOR, "h4 .count").text == "(26)"
    assert "Add the patient's email" in held.find_element(By.CSS_SELECTOR, ".todo").text
    everyone = [PATIENT["customer_id"], *NO_EMAIL_PATIENTS]
    shown = [e.text for e in held.find_elements(By.CSS_SELECTOR, ".record-id")]
    assert shown == everyone[:20]
    link = held.find_element(By.CSS_SELECTOR, "a.csv")
    assert link.text == "Download all 26 as CSV"
    assert link.get_attribute("download") == "parked-no-email-patient.csv"
    rows = csv_rows(str(link.get_attribute("href")))
    assert [r["id"] for r in rows] == everyone
    assert {r["record"] for r in rows} == {"patient"}
    # The approval queue: the tile, the first 20 longest waiting first, the overdue one marked,
    # every waiting invoice in the CSV.
    assert text("#tile-approvals .value") == "22"
    assert text("#tile-approvals .muted") == "1 overdue, longest 5 d 6 h"
    queue = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#approvals-table .record-id")]
    assert queue == [WAITING[0], WAITING[-1], *WAITING[1:19]]
    late = browser.find_element(By.CSS_SELECTOR, "#approvals-overdue-table tr.overdue td")
    assert late.value_of_css_property("background-color") == "rgba(255, 246, 229, 1)"
    link = browser.find_element(By.CSS_SELECTOR, "#approvals a.csv")
    assert link.get_attribute("download") == "waiting-for-approval.csv"
    rows = csv_rows(str(link.get_attribute("href")))
    assert [r["invoice_id"] for r in rows] == [WAITING[0], WAITING[-1], *WAITING[1:-1]]
    assert rows[0]["paypal_id"] == "INV2-HELD-0000-0301" and rows[0]["overdue"] == "True"
    assert {r["state"] for r in rows} == {"waiting"}
    assert "200000000000000009" in text("#conflicts-table")
    gst = [c.text for c in browser.find_elements(By.CSS_SELECTOR, '[data-month="2026-07"] td')]
    assert gst == ["2026-07", "123.45", "120.00", "3.45"]
    body = text("body")
    assert PATIENT["email"] not in body and PATIENT["surname"] not in body

    # The chart: drawn, a legend of the four series, one point per finished run (run 3 is a
    # gap), one label per run.
    svg = browser.find_element(By.CSS_SELECTOR, "#trend svg")
    assert svg.size["width"] > 400 and svg.size["height"] > 150
    legend = [e.text for e in svg.find_elements(By.CSS_SELECTOR, ".legends .legend text")]
    assert legend == ["created", "updated", "unchanged", "parked"]
    labels = [e.text for e in svg.find_elements(By.CSS_SELECTOR, ".axis.x .guides text")]
    assert labels == ["1", "2", "3", "4"]
    for serie in range(4):
        dots = svg.find_elements(By.CSS_SELECTOR, f".serie-{serie} .dots")
        assert len(dots) == 3, f"series {legend[serie]}: {len(dots)} points"
    created = [
        e.get_attribute("textContent")
        for e in svg.find_elements(By.CSS_SELECTOR, ".serie-0 .dots desc.value")
    ]
    assert created == ["5", "1", "2"]

    # Nothing fetched from anywhere: the page's only request is for its own file.
    requested = {
        event["params"]["request"]["url"][:100]
        for event in (json.loads(e["message"])["message"] for e in browser.get_log("performance"))
        if event["method"] == "Network.requestWillBeSent"
        and event["params"].get("documentURL") == page.as_uri()
    }
    assert requested == {page.as_uri()}, sorted(requested)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # The whole page, not only the window (Chrome DevTools Protocol).
    png = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    shot = tmp_path / "sync-health.png"
    shot.write_bytes(base64.b64decode(png["data"]))
    assert shot.stat().st_size > 10_000
    if os.environ.get("REPORT_SCREENSHOT_DIR"):
        keep = Path(os.environ["REPORT_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / shot.name)
