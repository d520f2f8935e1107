"""The store's email key: emails patients share are found by a keyed hash, never kept in clear.

`customers.email_hash` is HMAC-SHA256 of the normalised email (stripped, lower case) under a
secret of this store's own, kept outside the database:

- the `store_secret` setting (`TARGET_PAYPAL_STORE_SECRET`), when it is set (either backend);
- else a key file made at the store's first run, readable by its owner only (0600): on SQLite
  `<store file>.key` beside the store; on PostgreSQL `~/.config/target-paypal/keys/<host>-<port>-
  <database>[-<schema>].key` on the machine that made the store.

The database keeps a fingerprint of the secret (an HMAC of a fixed text, which does not reveal
it), so a store opened with another secret, or with its key file missing, stops with one line
instead of quietly missing shared emails. A store made by an earlier version had the emails in
clear (`customers.email`): they are hashed into `email_hash` and cleared when it is opened.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from target_paypal.store.clinics import clinic_schema
from target_paypal.store.engine import StoreBase, StoreError
from target_paypal.store.schema import metadata

SECRET_ENV = "TARGET_PAYPAL_STORE_SECRET"
_CHECK = b"target-paypal store secret check"

store_secret = sa.Table(
    "store_secret",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)


def normalise(email: Any) -> str | None:
    """The email as compared: stripped and lower case; None when there is none."""
    text = email.strip().lower() if isinstance(email, str) else ""
    return text or None


def hash_email(key: bytes, email: Any) -> str | None:
    """HMAC-SHA256 (hex) of the normalised email under the store's key; None without an email."""
    text = normalise(email)
    return None if text is None else hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def key_file(engine: Engine, clinic: str | None) -> Path:
    """Where this store's key file is (SQLite: beside the store; PostgreSQL: the user's config)."""
    url = engine.url
    if engine.dialect.name == "sqlite":
        return Path(f"{url.database}.key")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    name = "-".join(str(part) for part in (url.host, url.port or 5432, url.database) if part)
    schema = clinic_schema(clinic)
    return config / "target-paypal" / "keys" / f"{name}{'-' + schema if schema else ''}.key"


class EmailKey(StoreBase):
    """The store's part that holds the email key (loaded when first needed) and hashes emails."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._email_key: bytes | None = None
        upgrade_clear_emails(self)

    def hash_email(self, email: Any) -> str | None:
        """The keyed hash of an email (None without one), as `customers.email_hash` holds it."""
        if normalise(email) is None:
            return None
        if self._email_key is None:
            self._email_key = load_key(self.engine, self.clinic)
        return hash_email(self._email_key, email)


def load_key(engine: Engine, clinic: str | None) -> bytes:
    """The store's secret, checked against the fingerprint the database keeps (or made)."""
    secret = os.environ.get(SECRET_ENV, "").strip()
    path = key_file(engine, clinic)
    fingerprint = _fingerprint(engine)
    if secret:
        key, source = secret.encode(), f"the store_secret setting ({SECRET_ENV})"
    elif path.exists():
        key, source = _read_key(path), f"the key file {path}"
    elif fingerprint is not None:
        raise StoreError(
            f"the store {_where(engine)} hashes emails with a secret this machine does not have: "
            f"restore its key file {path} from where the store was made, or set store_secret "
            f"({SECRET_ENV}) to the secret it was made with"
        )
    else:
        key, source = _make_key(path), f"the key file {path}"
    want = hmac.new(key, _CHECK, hashlib.sha256).hexdigest()
    if fingerprint is None:
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(store_secret).values(id=1, fingerprint=want))
        except sa.exc.IntegrityError:  # another process was first: its secret must be ours
            fingerprint = _fingerprint(engine)
    if fingerprint is not None and fingerprint != want:
        raise StoreError(
            f"the store {_where(engine)} hashes emails with another secret than {source}: set "
            f"store_secret ({SECRET_ENV}) to the secret it was made with, or unset it to use "
            "the store's key file"
        )
    return key


def _fingerprint(engine: Engine) -> str | None:
    with engine.begin() as conn:
        return conn.execute(sa.select(store_secret.c.fingerprint)).scalar_one_or_none()


def _where(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return str(engine.url.database)
    return engine.url.render_as_string(hide_password=True)


def _read_key(path: Path) -> bytes:
    """Read a key file, tightened to 0600 when others could read it."""
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_bytes().strip()


def _make_key(path: Path) -> bytes:
    """Make the key file, owner-only from the first byte (another process may be first)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return _read_key(path)


def upgrade_clear_emails(store: EmailKey) -> None:
    """A store of an earlier version kept emails in clear: hash them, then clear them (once)."""
    schema = clinic_schema(store.clinic) if store.engine.dialect.name == "postgresql" else None
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("customers", schema=schema)}
    if "email" not in columns:
        return
    # The columns as that store has them (the current table no longer names `email`).
    old = sa.Table(
        "customers",
        sa.MetaData(),
        sa.Column("customer_id", sa.String(40), primary_key=True),
        sa.Column("email", sa.String(254)),
        sa.Column("email_hash", sa.String(64)),
    )
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(old.c.customer_id, old.c.email).where(old.c.email.is_not(None))
        ).all()
    if not rows:
        return
    hashed = [(customer_id, store.hash_email(value)) for customer_id, value in rows]
    with store.begin() as conn:  # the key is loaded (and its fingerprint written) before
        for customer_id, email_hash in hashed:
            conn.execute(
                old.update()
                .where(old.c.customer_id == customer_id)
                .values(email_hash=email_hash, email=None)
            )
