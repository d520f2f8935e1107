"""Shared emails are found by a keyed hash: the store keeps no email in clear (issue 17).

On both backends (`store_url`): the hash, the key kept outside the database, an older store's
emails hashed and cleared when it is opened, and a store opened with the wrong key or none.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from target_paypal.store import Store, StoreError
from target_paypal.store.email_key import SECRET_ENV, key_file


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL stores' key files go under this test's folder; no secret set."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(SECRET_ENV, raising=False)


def emails_in_clear(url: str) -> list[str]:
    """Every value of the customers table outside its kept record that looks like an email."""
    engine = sa.create_engine(url)
    with engine.connect() as db:
        rows = db.execute(sa.text("SELECT * FROM customers")).mappings().all()
    engine.dispose()
    return [f"{k}" for row in rows for k, v in row.items() if k != "record" and "@" in str(v)]


def test_shared_emails_are_found_by_a_keyed_hash_with_the_key_outside_the_store(
    store_url: str,
) -> None:
    store = Store(store_url)
    store.stage_customers(
        [
            {"customer_id": "1", "email": " Family@Example.org "},
            {"customer_id": "2", "email": "family@example.org"},
            {"customer_id": "3", "email": "own@example.org"},
        ]
    )
    assert store.shared_emails() == {"1": ("1", "2"), "2": ("1", "2")}
    assert emails_in_clear(store_url) == []
    path = key_file(store.engine, None)
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600, "the key is owner-only"
    key = path.read_bytes().strip()
    want = hmac.new(key, b"family@example.org", hashlib.sha256).hexdigest()
    with store.begin() as db:
        hashes = dict(db.execute(sa.text("SELECT customer_id, email_hash FROM customers")).all())
    assert hashes["1"] == hashes["2"] == want
    store.engine.dispose()


def test_an_older_store_has_its_emails_hashed_and_cleared_when_opened(store_url: str) -> None:
    old = sa.create_engine(store_url)
    with old.begin() as db:  # the customers table as the release before issue 17 made it
        db.execute(
            sa.text(
                "CREATE TABLE customers (customer_id VARCHAR(40) PRIMARY KEY, "
                "email VARCHAR(254), record JSON NOT NULL, staged_at TIMESTAMP NOT NULL)"
            )
        )
        for cid, email in (("1", "a@x.org"), ("2", "a@x.org"), ("3", None)):
            db.execute(
                sa.text("INSERT INTO customers VALUES (:c, :e, :r, CURRENT_TIMESTAMP)"),
                {"c": cid, "e": email, "r": "{}"},
            )
    old.dispose()
    store = Store(store_url)
    assert emails_in_clear(store_url) == [], "the old email column is cleared"
    assert store.shared_emails() == {"1": ("1", "2"), "2": ("1", "2")}, "and sharing is still found"
    store.stage_customers([{"customer_id": "3", "email": "A@X.org"}])
    assert store.shared_emails()["3"] == ("1", "2", "3")
    store.engine.dispose()


def test_a_store_opened_without_its_key_or_with_another_stops_with_one_line(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(store_url)
    store.stage_customers([{"customer_id": "1", "email": "a@x.org"}])
    path = key_file(store.engine, None)
    store.engine.dispose()
    path.rename(path.with_suffix(".moved"))
    with pytest.raises(StoreError) as missing:
        Store(store_url).stage_customers([{"customer_id": "2", "email": "a@x.org"}])
    assert "secret this machine does not have" in str(missing.value)
    assert f"restore its key file {path}" in str(missing.value)
    assert SECRET_ENV in str(missing.value) and "\n" not in str(missing.value)
    monkeypatch.setenv(SECRET_ENV, "not-the-secret-it-was-made-with")
    with pytest.raises(StoreError) as other:
        Store(store_url).stage_customers([{"customer_id": "2", "email": "a@x.org"}])
    assert "hashes emails with another secret" in str(other.value)
    assert "not-the-secret" not in str(other.value), "a secret is never printed"
    monkeypatch.setenv(SECRET_ENV, path.with_suffix(".moved").read_text().strip())
    store = Store(store_url)  # the secret it was made with, as a setting: it works
    store.stage_customers([{"customer_id": "2", "email": "A@x.org"}])
    assert store.shared_emails() == {"1": ("1", "2"), "2": ("1", "2")}
    assert not path.exists(), "with the setting, no key file is made"
    store.engine.dispose()


def test_a_fresh_store_with_the_setting_makes_no_key_file(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-long-random-secret-from-the-vault")
    store = Store(store_url)
    store.stage_customers([{"customer_id": "1", "email": "a@x.org"}])
    assert not key_file(store.engine, None).exists()
    assert not os.environ.get("XDG_CONFIG_HOME", "").startswith(str(Path.home() / ".config"))
    store.engine.dispose()
