"""The Cliniko API as a client sees it: auth, paging, filters, sorting, reads and writes."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import requests

from clinic_sandbox import SandboxServer
from clinic_sandbox.cliniko.money import invoice_totals


def get_all(api: requests.Session, url: str, **params) -> list[dict]:
    key = url.removesuffix("/inactive").rsplit("/", 1)[-1]
    out, next_url = [], url
    first = True
    while next_url:
        body = api.get(next_url, params=params if first else None).json()
        first = False
        out += body[key]
        next_url = body["links"].get("next")
    return out


# ----- auth ---------------------------------------------------------------------------------
def test_wrong_or_missing_key_is_401_plain_text(shared_sandbox: SandboxServer) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    ua = {"User-Agent": "t (t@example.com)"}
    for auth in [None, ("wrong-key-au1", ""), (shared_sandbox.api_key, "secret")]:
        r = requests.get(url, auth=auth, headers=ua)
        assert r.status_code == 401
        assert r.text.strip() == "HTTP Basic: Access denied."


def test_key_without_shard_suffix_is_accepted(shared_sandbox: SandboxServer) -> None:
    token = base64.b64encode(b"sandbox-key:").decode()
    r = requests.get(shared_sandbox.cliniko_url + "/taxes",
                     headers={"Authorization": f"Basic {token}", "User-Agent": "t (t@e.com)"})
    assert r.status_code == 200


def test_missing_user_agent_is_rejected(shared_sandbox: SandboxServer) -> None:
    r = requests.get(shared_sandbox.cliniko_url + "/patients", auth=(shared_sandbox.api_key, ""),
                     headers={"User-Agent": ""})
    assert r.status_code == 403
    assert "User-Agent" in r.json()["message"]


# ----- paging --------------------------------------------------------------------------------
def test_pages_cover_every_visible_record_once(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    first = api.get(url, params={"per_page": 7}).json()
    assert len(first["patients"]) == 7 and "previous" not in first["links"]
    records = get_all(api, url, per_page=7)
    visible = [r for r in shared_sandbox.cliniko.records("patients") if not r["archived_at"]]
    assert len(records) == first["total_entries"] == len(visible)
    assert len({r["id"] for r in records}) == len(records)


def test_links_keep_query_and_point_at_server(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/invoices"
    params = {"per_page": 5, "page": 2, "sort": "updated_at:desc",
              "q[]": ["status:=10,20", "updated_at:>2024-01-01T00:00:00Z"]}
    body = api.get(url, params=params).json()
    links = body["links"]
    assert links["self"].startswith(shared_sandbox.cliniko_url + "/invoices?")
    for link in links.values():
        assert "per_page=5" in link and "sort=updated_at%3Adesc" in link
        assert "q%5B%5D=status%3A%3D10%2C20" in link
    assert "page=3" in links["next"] and "page=1" in links["previous"]
    follow = api.get(links["next"]).json()
    direct = api.get(url, params={**params, "page": 3}).json()
    assert follow == direct


def test_default_page_size_and_limits(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/invoice_items"
    assert len(api.get(url).json()["invoice_items"]) == 50
    assert len(api.get(url, params={"per_page": 100}).json()["invoice_items"]) == 100
    for bad in ({"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": "x"}):
        r = api.get(url, params=bad)
        assert r.status_code == 400 and r.json()["message"]


def test_page_beyond_the_end_is_empty(api, shared_sandbox) -> None:
    body = api.get(shared_sandbox.cliniko_url + "/patients", params={"page": 999}).json()
    assert body["patients"] == [] and body["total_entries"] > 0
    assert "next" not in body["links"]


# ----- filters -------------------------------------------------------------------------------
def ids(api, url, *filters, **extra) -> set[str]:
    return {r["id"] for r in get_all(api, url, per_page=100, **{"q[]": list(filters)}, **extra)}


def test_datetime_filters(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    rows = [r for r in shared_sandbox.cliniko.records("patients") if not r["archived_at"]]
    cut = sorted(r["updated_at"] for r in rows)[len(rows) // 2]
    checks = {">=": lambda v: v >= cut, ">": lambda v: v > cut,
              "<=": lambda v: v <= cut, "<": lambda v: v < cut}
    for op, keep in checks.items():
        assert ids(api, url, f"updated_at:{op}{cut}") == {
            r["id"] for r in rows if keep(r["updated_at"])}, op
    assert api.get(url, params={"q[]": f"updated_at:={cut}"}).status_code == 400
    offset = api.get(url, params={"q[]": "updated_at:>=2025-06-01T10:00:00+10:00"}).json()
    utc = api.get(url, params={"q[]": "updated_at:>=2025-06-01T00:00:00Z"}).json()
    assert offset["total_entries"] == utc["total_entries"]


def test_null_and_any_operators(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/invoices"
    rows = [r for r in shared_sandbox.cliniko.records("invoices")
            if not r["archived_at"] and not r["deleted_at"]]
    assert ids(api, url, "closed_at:?") == {r["id"] for r in rows if r["closed_at"]}
    assert ids(api, url, "closed_at:!?") == {r["id"] for r in rows if not r["closed_at"]}


def test_date_filters_including_wildcards(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/invoices"
    rows = [r for r in shared_sandbox.cliniko.records("invoices")
            if not r["archived_at"] and not r["deleted_at"]]
    assert ids(api, url, "issue_date:>=2025-04-06", "issue_date:<2025-10-05") == {
        r["id"] for r in rows if "2025-04-06" <= r["issue_date"] < "2025-10-05"}
    day = rows[0]["issue_date"]
    assert ids(api, url, f"issue_date:={day}") == {r["id"] for r in rows if r["issue_date"] == day}
    assert ids(api, url, "issue_date:=****-05-**") == {
        r["id"] for r in rows if r["issue_date"][5:7] == "05"}
    assert api.get(url, params={"q[]": "issue_date:>05/04/2025"}).status_code == 400


def test_numeric_filters_compare_ids_as_64_bit_integers(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    rows = [r for r in shared_sandbox.cliniko.records("patients") if not r["archived_at"]]
    lengths = {len(r["id"]) for r in rows}
    assert min(lengths) <= 8 and max(lengths) >= 18  # old short and new long ids
    pivot = sorted(rows, key=lambda r: int(r["id"]))[len(rows) // 2]["id"]
    assert ids(api, url, f"id:>{pivot}") == {r["id"] for r in rows if int(r["id"]) > int(pivot)}
    assert ids(api, url, f"id:<={pivot}") == {r["id"] for r in rows if int(r["id"]) <= int(pivot)}
    assert ids(api, url, f"id:!={pivot}") == {r["id"] for r in rows} - {pivot}
    some = [r["id"] for r in rows[:3]]
    assert ids(api, url, "id:=" + ",".join(some)) == set(some)
    inv = shared_sandbox.cliniko_url + "/invoices"
    invoices = [r for r in shared_sandbox.cliniko.records("invoices")
                if not r["archived_at"] and not r["deleted_at"]]
    assert ids(api, inv, "status:=20,30") == {r["id"] for r in invoices if r["status"] in (20, 30)}
    r = api.get(inv, params={"q[]": "status:=paid"})
    assert r.status_code == 400 and "status" in r.json()["message"]


def test_string_filters(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    rows = [r for r in shared_sandbox.cliniko.records("patients") if not r["archived_at"]]
    name = rows[0]["last_name"]
    assert ids(api, url, f"last_name:={name}") == {r["id"] for r in rows if r["last_name"] == name}
    assert ids(api, url, f"last_name:!={name}") == {
        r["id"] for r in rows if r["last_name"] != name}
    part = name[1:4].upper()
    assert ids(api, url, f"last_name:~{part}") == {
        r["id"] for r in rows if part.lower() in r["last_name"].lower()}
    assert ids(api, url, f"last_name:~~{name[0]}%") == {
        r["id"] for r in rows if r["last_name"].lower().startswith(name[0].lower())}
    assert ids(api, url, "email:!?") == {r["id"] for r in rows if not r["email"]}
    assert ids(api, url, "preferred_first_name:?") == {
        r["id"] for r in rows if r["preferred_first_name"]}


def test_boolean_and_array_filters(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    rows = [r for r in shared_sandbox.cliniko.records("patients") if not r["archived_at"]]
    assert ids(api, url, "accepted_privacy_policy:=true") == {
        r["id"] for r in rows if r["accepted_privacy_policy"] is True}
    assert ids(api, url, "accepted_privacy_policy:!=true") == {
        r["id"] for r in rows if r["accepted_privacy_policy"] is not True}
    assert api.get(url, params={"q[]": "accepted_privacy_policy:=yes"}).status_code == 400
    businesses = shared_sandbox.cliniko.records("businesses")
    type_id = businesses[0]["appointment_type_ids"][0]
    assert ids(api, shared_sandbox.cliniko_url + "/businesses",
               f"appointment_type_ids:~{type_id}") == {b["id"] for b in businesses}


def test_filters_are_anded(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/invoices"
    rows = [r for r in shared_sandbox.cliniko.records("invoices")
            if not r["archived_at"] and not r["deleted_at"]]
    patient_id = rows[0]["patient"]["links"]["self"].rsplit("/", 1)[1]
    got = ids(api, url, f"patient_id:={patient_id}", "status:=10,20,30,40",
              "updated_at:>2020-01-01T00:00:00Z")
    assert got == {r["id"] for r in rows if r["patient"]["links"]["self"].endswith(patient_id)}
    assert got and ids(api, url, f"patient_id:={patient_id}", "status:<0") == set()


def test_bad_filters_are_400_with_message(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/patients"
    for bad in ["nickname:=x", "first_name", "first_name:>a", "updated_at:>yesterday",
                "id:=abc", "archived_at:*now"]:
        r = api.get(url, params={"q[]": bad})
        assert r.status_code == 400, bad
        assert r.json()["message"], bad
    assert "not filterable" in api.get(url, params={"q[]": "nickname:=x"}).json()["message"]


# ----- sorting -----------------------------------------------------------------------------
def test_default_order_is_created_at_then_id(api, shared_sandbox) -> None:
    rows = get_all(api, shared_sandbox.cliniko_url + "/invoices", per_page=100)
    keys = [(r["created_at"], int(r["id"])) for r in rows]
    assert keys == sorted(keys)


def test_sort_by_fields_and_directions(api, shared_sandbox) -> None:
    url = shared_sandbox.cliniko_url + "/invoices"
    rows = get_all(api, url, per_page=100, sort="status:desc,number")
    keys = [(-r["status"], r["number"]) for r in rows]
    assert keys == sorted(keys)
    rows = get_all(api, url, per_page=100, order="desc")
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert api.get(url, params={"sort": "colour"}).status_code == 400
    assert api.get(url, params={"sort": "number:up"}).status_code == 400


# ----- archived, cancelled, deleted ----------------------------------------------------------
def test_archived_and_deleted_need_the_star_filter(make_sandbox) -> None:
    sb = make_sandbox()
    api, st = sb.cliniko_session(), sb.cliniko
    patient, invoice = st.records("patients")[0], st.records("invoices")[0]
    st.archive("patients", patient["id"])
    st.delete("invoices", invoice["id"])
    patients_url, invoices_url = sb.cliniko_url + "/patients", sb.cliniko_url + "/invoices"
    assert patient["id"] not in ids(api, patients_url)
    assert patient["id"] in ids(api, patients_url, "archived_at:*")
    assert invoice["id"] not in ids(api, invoices_url)
    assert invoice["id"] not in ids(api, invoices_url, "archived_at:*")
    assert invoice["id"] in ids(api, invoices_url, "deleted_at:*")
    assert api.get(f"{invoices_url}/{invoice['id']}").status_code == 404
    assert api.get(f"{invoices_url}/{invoice['id']}", params={"q[]": "deleted_at:*"}).ok
    # DELETE on patients archives (as Cliniko's deprecated DELETE does)
    other = st.records("patients")[1]
    assert st.delete("patients", other["id"])["archived_at"]


def test_archive_and_delete_bump_updated_at(make_sandbox) -> None:
    st = make_sandbox().cliniko
    for collection in ("patients", "invoices", "invoice_items"):
        record = st.records(collection)[0]
        changed = st.archive(collection, record["id"])
        assert changed["updated_at"] > record["updated_at"]
        assert changed["archived_at"] == changed["updated_at"]
    item = st.records("invoice_items")[1]
    assert st.delete("invoice_items", item["id"])["deleted_at"] > item["updated_at"]


def test_cancelled_appointments_need_cancelled_star(make_sandbox) -> None:
    sb = make_sandbox()
    api, st = sb.cliniko_session(), sb.cliniko
    appt = next(r for r in st.records("individual_appointments") if not r["cancelled_at"])
    st.cancel("individual_appointments", appt["id"])
    url = sb.cliniko_url + "/individual_appointments"
    assert appt["id"] not in ids(api, url)
    assert appt["id"] in ids(api, url, "cancelled_at:*")
    assert appt["id"] in ids(api, sb.cliniko_url + "/bookings", "cancelled_at:*")


def test_practitioners_active_and_inactive(api, shared_sandbox) -> None:
    active = get_all(api, shared_sandbox.cliniko_url + "/practitioners")
    inactive = get_all(api, shared_sandbox.cliniko_url + "/practitioners/inactive")
    assert active and inactive
    assert all(p["active"] for p in active) and not any(p["active"] for p in inactive)
    assert len(active) + len(inactive) == shared_sandbox.cliniko.count("practitioners")


# ----- single records and writes ---------------------------------------------------------------
def test_get_by_id_and_404(api, shared_sandbox) -> None:
    invoice = next(r for r in shared_sandbox.cliniko.records("invoices")
                   if not r["archived_at"] and not r["deleted_at"])
    url = shared_sandbox.cliniko_url + "/invoices/"
    assert api.get(url + invoice["id"]).json() == invoice
    assert api.get(url + "12345").status_code == 404
    assert api.get(url + "not-a-number").status_code == 404
    assert api.get(shared_sandbox.cliniko_url + "/recalls").status_code == 404


def test_create_and_update_patient(make_sandbox) -> None:
    sb = make_sandbox()
    api, url = sb.cliniko_session(), sb.cliniko_url + "/patients"
    before = sb.cliniko.count("patients")
    r = api.post(url, json={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@ex.com"})
    assert r.status_code == 201
    created = r.json()
    assert len(created["id"]) >= 18 and created["created_at"] == created["updated_at"]
    assert r.headers["Location"] == created["links"]["self"]
    assert sb.cliniko.count("patients") == before + 1
    assert created["id"] in ids(api, url, f"updated_at:>={created['updated_at']}")
    r = api.patch(f"{url}/{created['id']}", json={"email": "ada@example.com"})
    assert r.status_code == 200 and r.json()["email"] == "ada@example.com"
    assert r.json()["updated_at"] >= created["updated_at"]  # second precision: may tie
    assert api.patch(f"{url}/999", json={"email": "x@example.com"}).status_code == 404


def test_invalid_patient_is_422(make_sandbox) -> None:
    sb = make_sandbox()
    api, url = sb.cliniko_session(), sb.cliniko_url + "/patients"
    r = api.post(url, json={"last_name": "B"})
    assert r.status_code == 422
    assert r.json() == {"message": "Validation Failed", "errors": {"first_name": "can't be blank"}}
    patient = sb.cliniko.records("patients")[0]
    r = api.patch(f"{url}/{patient['id']}", json={"last_name": "", "email": "nope"})
    assert r.status_code == 422
    assert set(r.json()["errors"]) == {"last_name", "email"}


def test_store_api(make_sandbox) -> None:
    sb = make_sandbox()
    st = sb.cliniko
    record = st.create("patients", {"first_name": "A", "last_name": "B"})
    assert st.get("patients", record["id"]) == record
    assert record["links"]["self"] == f"{sb.cliniko_url}/patients/{record['id']}"
    updated = st.update("patients", record["id"], {"email": "x@example.com"})
    assert updated["email"] == "x@example.com" and updated["updated_at"] >= record["updated_at"]
    later = st.update("patients", record["id"], {"last_name": "C"}, at="2099-01-01T00:00:00Z")
    assert later["updated_at"] == "2099-01-01T00:00:00Z"


# ----- data -----------------------------------------------------------------------------------
def test_same_seed_same_data(make_sandbox) -> None:
    a, b, c = (make_sandbox(seed=seed, patients=30, invoices=40) for seed in (7, 7, 8))

    def dump(sb: SandboxServer, collection: str) -> str:  # links differ only by port
        return json.dumps(sb.cliniko.records(collection)).replace(sb.cliniko_url, "BASE")

    for collection in a.cliniko.collections():
        assert dump(a, collection) == dump(b, collection), collection
    assert dump(a, "patients") != dump(c, "patients")


def test_every_invoice_adds_up_to_the_cent(shared_sandbox) -> None:
    st = shared_sandbox.cliniko
    items_by_invoice: dict[str, list[dict]] = {}
    for item in st.records("invoice_items"):
        items_by_invoice.setdefault(item["invoice"]["links"]["self"], []).append(item)
        q, price = Decimal(item["quantity"]), Decimal(item["unit_price"])
        gross = (q * price).quantize(Decimal("0.01"))
        total = Decimal(str(item["total_including_tax"]))
        assert Decimal(item["net_price"]) + Decimal(item["tax_amount"]) == total
        assert gross - Decimal(item["discounted_amount"]) in (total, Decimal(item["net_price"]))
    methods, statuses = set(), set()
    for invoice in st.records("invoices"):
        items = items_by_invoice[invoice["links"]["self"]]
        assert 1 <= len(items) <= 4
        for name, value in invoice_totals(items).items():
            assert invoice[name] == value, (invoice["id"], name)
        methods.add(invoice["calculation_method"])
        statuses.add((invoice["status"], invoice["status_description"]))
    assert methods == {2, 3}
    assert statuses == {(10, "Open"), (20, "Paid"), (30, "Closed"), (40, "Open credit")}


def test_clinic_looks_real(shared_sandbox) -> None:
    st = shared_sandbox.cliniko
    assert {t["name"]: t["rate"] for t in st.records("taxes")} == {"GST": "10.0",
                                                                    "GST-free": "0.0"}
    businesses = st.records("businesses")
    assert len(businesses) == 3 and all(b["business_registration_name"] == "ABN"
                                        for b in businesses)
    patients = st.records("patients")
    emails = [p["email"] for p in patients if p["email"]]
    assert len(emails) < len(patients) and len(set(emails)) < len(emails)  # families share
    assert any(p["invoice_email"] for p in patients)
    assert any(p["preferred_first_name"] for p in patients)
    assert any(p["archived_at"] for p in patients)
    items = st.records("invoice_items")
    assert {i["tax_name"] for i in items} == {"GST", "GST-free"}
    assert any(i["is_monetary_discount"] for i in items)
    assert any(i["is_monetary_discount"] is False for i in items)
    assert any(i.get("product") for i in items) and any(i.get("billable_item") for i in items)
    users = {u["links"]["self"] for u in st.records("users")}
    assert all(p["user"]["links"]["self"] in users for p in st.records("practitioners"))
    for collection in shared_sandbox.cliniko.collections():
        assert st.count(collection) >= 2, collection
