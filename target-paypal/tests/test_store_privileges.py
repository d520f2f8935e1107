"""The store on PostgreSQL needs no superuser: the least privileges the README names suffice.

Two set-ups an integrator uses (target-paypal/README.md, "PostgreSQL: TLS and privileges"):
a role that may create its clinic's schema in the database, or a role confined to a schema an
administrator made, with only the data rights on its tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from target_harness import TargetRunner
from test_upsert import assert_paypal_matches

from target_paypal.store import Store


def _role(admin_url: str, suffix: str, *grants: str) -> str:
    """A plain login role (no superuser, createdb or createrole) with `grants`; its store URL."""
    role = f"{sa.make_url(admin_url).database}_{suffix}"  # roles are the server's, not the db's
    with sa.create_engine(admin_url).begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"))
        for grant in grants:
            conn.execute(sa.text(grant.format(role=role)))
    return sa.make_url(admin_url).set(username=role).render_as_string(False)


def _is_superuser(url: str) -> bool:
    with sa.create_engine(url).connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
        )


def test_a_role_that_may_create_its_schema_runs_the_target(
    make_sandbox, postgres_url, clinic, by_reference, tmp_path
) -> None:
    database = sa.make_url(postgres_url).database
    url = _role(postgres_url, "owner", f"GRANT CONNECT, CREATE ON DATABASE {database} TO {{role}}")
    assert not _is_superuser(url)
    data = clinic(customers=6, invoices=10)
    target = TargetRunner(make_sandbox(patients=5, invoices=5), tmp_path, store_url=url)
    target.config["clinic"] = "north"
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-2000:]
    assert_paypal_matches(target, data, by_reference)
    with sa.create_engine(postgres_url).connect() as conn:
        owner = conn.execute(
            sa.text(
                "SELECT schema_owner FROM information_schema.schemata"
                " WHERE schema_name = 'clinic_north'"
            )
        ).scalar()
    assert owner == sa.make_url(url).username


def test_a_role_with_only_data_rights_on_a_prepared_schema_runs_the_target(
    make_sandbox, postgres_url, clinic, by_reference, tmp_path
) -> None:
    Store(postgres_url, clinic="south")  # the administrator creates the schema and its tables
    url = _role(
        postgres_url,
        "writer",
        "GRANT USAGE ON SCHEMA clinic_south TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA clinic_south TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA clinic_south TO {role}",
    )
    data = clinic(customers=6, invoices=10)
    target = TargetRunner(make_sandbox(patients=5, invoices=5), tmp_path, store_url=url)
    target.config["clinic"] = "south"
    for _ in range(2):  # a first run, then a rerun on what it left
        done = target.run(data.messages())
        assert done.returncode == 0, done.stderr[-2000:]
    assert_paypal_matches(target, data, by_reference)
