"""The store at rest after a full sync and a rerun (issue 17), on SQLite and on PostgreSQL.

No table holds a patient's name, email, address or phone, or an item's name, of an invoice
that is closed in PayPal (`leaks.store_at_rest_findings`); the store keeps no email in clear
at all; only open dead letters keep a record; the SQLite store's files (the database, its
lock and its email key) are its owner's only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from leaks import closed_content, store_at_rest_findings

JOB = "cliniko-to-paypal"
CLINIC = {"seed": 42, "patients": 120, "invoices": 200}


def every_email(sandbox) -> set[str]:
    found = set()
    for patient in sandbox.cliniko.records("patients"):
        found |= {(patient.get(k) or "").strip().lower() for k in ("email", "invoice_email")}
    return {e for e in found if "@" in e}


@pytest.mark.timeout(900)
def test_after_a_sync_and_a_rerun_closed_invoices_leave_nothing_readable(
    make_sandbox, meltano_project, store_url
) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox, store_url)
    project.run(JOB)
    project.run(JOB)
    content = closed_content(sandbox)
    assert len(content["patients"]) >= 20, "the seed needs patients whose invoices all closed"
    findings = store_at_rest_findings(store_url, sandbox)
    assert not findings, "\n".join(findings[:20])

    # No email is kept outside the record of a customer with an invoice still to write.
    engine = sa.create_engine(store_url)
    with engine.connect() as db:
        rows = db.execute(sa.text("SELECT email_hash, record FROM customers")).all()
        letters = db.execute(
            sa.text("SELECT resolved_at IS NULL, record IS NOT NULL FROM dead_letters")
        ).all()
    engine.dispose()
    # Only open dead letters hold records (the rerun resolved or kept the first run's).
    assert any(open_ for open_, _ in letters), "the seed needs parked records"
    assert not [1 for open_, kept in letters if kept and not open_], "a closed letter kept one"
    emails = every_email(sandbox)
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h, _ in rows if h), "hashes, not emails"
    assert not {h for h, _ in rows} & emails
    kept = [r if isinstance(r, dict) else json.loads(r) for _, r in rows]
    assert any("_kept" in r for r in kept) and any("_kept" not in r for r in kept)
    if store_url.startswith("sqlite:///"):
        store = Path(store_url.removeprefix("sqlite:///"))
        files = [p for p in store.parent.iterdir() if p.name.startswith(store.name)]
        assert {p.name for p in files} >= {store.name, f"{store.name}.key"}
        assert {p.name: p.stat().st_mode & 0o777 for p in files} == {p.name: 0o600 for p in files}


def test_the_check_finds_a_closed_patient_left_in_any_table(tmp_path) -> None:
    """The checker itself: a closed patient's name planted in any text column is found."""
    from types import SimpleNamespace

    patients = [
        {"id": "1", "first_name": "Odile", "last_name": "Quennell", "email": "oq@example.org"},
        {"id": "2", "first_name": "Open", "last_name": "Patient", "email": "op@example.org"},
    ]
    invoices = [
        {"id": "10", "patient": {"links": {"self": "http://x/v1/patients/1"}}},
        {"id": "20", "patient": {"links": {"self": "http://x/v1/patients/2"}}},
    ]
    items = [{"id": "100", "name": "Shockwave therapy", "invoice": {"links": {"self": "/10"}}}]
    records = {"patients": patients, "invoices": invoices, "invoice_items": items}
    sandbox = SimpleNamespace(
        cliniko=SimpleNamespace(records=lambda name: records[name]),
        paypal=SimpleNamespace(
            invoices=lambda: [
                {"status": "MARKED_AS_PAID", "detail": {"reference": "10"}},
                {"status": "UNPAID", "detail": {"reference": "20"}},
            ]
        ),
    )
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE anything (id INTEGER, note TEXT, record JSON)"))
        db.execute(
            sa.text("INSERT INTO anything VALUES (1, 'fine', '{\"name\": \"Open Patient\"}')")
        )
    assert store_at_rest_findings(engine, sandbox) == [], "an open patient may stay"
    for planted in ('{"surname": "quennell"}', '{"name": "Shockwave therapy"}', "oq@example.org"):
        with engine.begin() as db:
            db.execute(sa.text("DELETE FROM anything WHERE id = 2"))
            db.execute(sa.text("INSERT INTO anything VALUES (2, NULL, :r)"), {"r": planted})
        found = store_at_rest_findings(engine, sandbox)
        assert len(found) == 1 and found[0].startswith("main.anything.record row 1"), found
        assert planted.strip('{}"') not in found[0], "a finding never repeats the value"
    engine.dispose()
