"""tap-cliniko into a warehouse: `meltano run tap-cliniko target-postgres` (MeltanoLabs'
target-postgres, installed by `make install` from meltano.yml) on the test PostgreSQL cluster,
every stream selected, against the sandbox.

What a data engineer checks: every stream is a table holding every Cliniko record; money is
numeric, timestamps are timestamps, integers are integers; and the next incremental run upserts
only the records that changed in Cliniko.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from meltano_project import REPO

from clinic_sandbox import SandboxServer
from clinic_sandbox.cliniko.store import VIEWS
from tap_cliniko.registry import packaged_definitions

SCHEMA = "cliniko"  # target-postgres's default_target_schema in meltano.yml
DEFINITIONS = packaged_definitions()
FULL_TABLE = {name for name, d in DEFINITIONS.items() if not d.replication_key}
CLINIC = {"seed": 42, "patients": 60, "invoices": 80}
TARGET = REPO / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres"


def column_type(schema: dict[str, Any]) -> set[str] | None:
    """The PostgreSQL data types a field of the tap's schema must load as; None: not checked."""
    kinds = {schema["type"]} if isinstance(schema["type"], str) else set(schema["type"])
    kinds.discard("null")
    fmt = schema.get("format")
    if fmt == "x-singer.decimal" or kinds == {"number"}:
        return {"numeric"}
    if fmt == "date-time":
        return {"timestamp without time zone", "timestamp with time zone"}
    if fmt == "date":
        return {"date"}
    if kinds == {"integer"}:
        return {"integer", "bigint"}
    return None


def expected_counts(sandbox: SandboxServer) -> dict[str, int]:
    """Every record the sandbox holds, by stream (archived, cancelled and deleted included)."""
    store = sandbox.cliniko
    return {name: sum(store.count(c) for c in VIEWS.get(name, (name,))) for name in DEFINITIONS}


def table_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.text(f'SELECT count(*) FROM {SCHEMA}."{name}"')).scalar_one()
            for name in DEFINITIONS
        }


def column_types(engine: sa.Engine) -> dict[tuple[str, str], str]:
    query = sa.text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = :schema"
    )
    with engine.connect() as conn:
        return {(t, c): d for t, c, d in conn.execute(query, {"schema": SCHEMA})}


def batched_at(engine: sa.Engine, stream: str) -> dict[str, Any]:
    """`_sdc_batched_at` of every row of an `id`-keyed table, by id: when the row was written."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT id, _sdc_batched_at FROM {SCHEMA}."{stream}"'))
        return {record_id: written for record_id, written in rows}


def row(engine: sa.Engine, stream: str, record_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        query = sa.text(f'SELECT * FROM {SCHEMA}."{stream}" WHERE id = :id')
        return dict(conn.execute(query, {"id": record_id}).mappings().one())


@pytest.fixture
def warehouse(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def test_every_stream_lands_typed_and_a_rerun_upserts_only_the_changes(
    make_sandbox, meltano_project, postgres_url: str, warehouse: sa.Engine
) -> None:
    if not TARGET.exists():  # a set-up from before meltano.yml had it (make's stamp is older)
        pytest.fail(
            "target-postgres is not installed: run `.venv/bin/meltano install --plugin-type "
            "loader target-postgres` (or `make clean install`)",
            pytrace=False,
        )
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    env = {"TARGET_POSTGRES_SQLALCHEMY_URL": postgres_url, "TAP_CLINIKO__SELECT": '["*.*"]'}

    def run() -> None:
        done = project.meltano("run", "tap-cliniko", "target-postgres", env=env)
        assert done.returncode == 0, done.stderr[-4000:]

    run()
    expected = expected_counts(sandbox)
    assert all(expected.values()), "the sandbox must hold records of every stream"
    assert table_counts(warehouse) == expected

    # Types, as a warehouse user reads them: every field the tap types, in every table.
    types = column_types(warehouse)
    checked: dict[str, set[str]] = {}
    for name, definition in DEFINITIONS.items():
        for field, schema in definition.schema["properties"].items():
            wanted = column_type(schema)
            if wanted is not None:
                found = types[(name, field)]
                assert found in wanted, f"{name}.{field} is {found}, not {wanted}"
                checked.setdefault(found, set()).add(f"{name}.{field}")
    assert {"invoices.total_amount", "invoice_items.unit_price", "taxes.rate"} <= checked["numeric"]
    assert "invoices.issue_date" in checked["date"]
    assert "invoices.updated_at" in checked["timestamp without time zone"]

    # Changes in Cliniko between runs: an edit, an archive, a soft delete.
    store = sandbox.cliniko
    before = {s: batched_at(warehouse, s) for s in DEFINITIONS if s not in FULL_TABLE}
    invoices = [r["id"] for r in store.records("invoices") if not r["archived_at"]]
    edited, archived = invoices[0], invoices[1]
    item = next(r["id"] for r in store.records("invoice_items") if not r["deleted_at"])
    patient = store.records("patients")[3]["id"]
    store.update("invoices", edited, {"notes": "Reissued", "total_amount": "123.45"})
    store.archive("invoices", archived)
    store.delete("invoice_items", item)
    store.update("patients", patient, {"occupation": "Changed"})
    changed = {"invoices": {edited, archived}, "invoice_items": {item}, "patients": {patient}}

    run()
    assert table_counts(warehouse) == expected, "an upsert adds no row for a changed record"
    assert row(warehouse, "invoices", edited)["total_amount"] == Decimal("123.45")
    assert row(warehouse, "invoices", edited)["notes"] == "Reissued"
    assert row(warehouse, "invoices", archived)["archived_at"] is not None
    assert row(warehouse, "invoice_items", item)["deleted_at"] is not None
    assert row(warehouse, "patients", patient)["occupation"] == "Changed"
    # Rows are rewritten only for records that changed (`services`, a full-table stream with no
    # `id`, is read and written in full every run).
    assert {"services"} == FULL_TABLE
    for stream, first in before.items():
        now = batched_at(warehouse, stream)
        rewritten = {i for i in first if now[i] != first[i]}
        assert rewritten == changed.get(stream, set()), stream
