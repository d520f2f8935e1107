"""The scan the whole suite relies on must find a planted leak wherever it is."""

from __future__ import annotations

import sqlite3

from leaks import LeakScan


def test_scan_finds_a_secret_in_text_files_and_store_reasons(tmp_path) -> None:
    scan = LeakScan()
    scan.secret("jane.citizen@example.com", "EKsecret-1234")
    scan.text("stderr", "all fine")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.html").write_text("<p>EKSECRET-1234</p>")
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("CREATE TABLE dead_letters (reason TEXT, record TEXT)")
        db.execute("INSERT INTO dead_letters VALUES ('bad email jane.citizen@example.com', '{}')")
    scan.path(tmp_path)
    leaks = scan.leaks()
    assert len(leaks) == 2 and "report.html" in leaks[0] + leaks[1]
    assert not any("EKsecret-1234" in leak or "jane.citizen" in leak for leak in leaks)


def test_kept_records_are_not_output(tmp_path) -> None:
    scan = LeakScan()
    scan.secret("jane.citizen@example.com")
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("CREATE TABLE dead_letters (reason TEXT, record TEXT)")
        db.execute(
            "INSERT INTO dead_letters VALUES ('invalid email', "
            '\'{"email": "jane.citizen@example.com"}\')'
        )
    scan.path(tmp_path / "store.db")
    assert scan.leaks() == []


def test_names_match_as_whole_words_only() -> None:
    """A surname that is also a word ("Park") is found as a name, not inside "parked"."""
    from types import SimpleNamespace

    patients = [{"first_name": "Grace", "last_name": "Park", "email": "gp@example.com"}]
    sandbox = SimpleNamespace(
        api_key="key-123456",
        paypal_client_secret="secret-123456",
        cliniko=SimpleNamespace(records=lambda collection: patients),
        paypal=SimpleNamespace(store=SimpleNamespace(tokens=lambda: [])),
    )
    clean, leaked = LeakScan(), LeakScan()
    for scan in (clean, leaked):
        scan.sandbox(sandbox)
    clean.text("stderr", "invoice 12 parked by the mapper; Parkes St")
    leaked.text("stderr", "invoice 12 for Grace Park parked")
    assert clean.leaks() == []
    assert len(leaked.leaks()) == 1
