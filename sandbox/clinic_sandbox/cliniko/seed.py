"""Deterministic seeded data for an Australian allied-health clinic (Faker `en_AU`).

Speed matters at 100k patients / 100k invoices: Faker is called only to fill small pools
(names, streets, suburbs, phone numbers), and records combine pool entries with one seeded
`random.Random`. The same seed and sizes always give the same records, ids and timestamps.
Invoice money follows `money.py`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from faker import Faker

from .money import TAX_EXCLUSIVE, TAX_INCLUSIVE, invoice_totals, item_amounts
from .required import fill_required
from .store import ClinikoStore, Row, format_ts

SYDNEY = ZoneInfo("Australia/Sydney")
START = datetime(2024, 1, 2, tzinfo=UTC)
END = datetime(2026, 10, 31, tzinfo=UTC)
# Records created before this get old short ids; later ones 18-19 digit ids.
LONG_IDS_FROM = datetime(2024, 9, 1, tzinfo=UTC)
# Australia/Sydney daylight-saving changes (first Sunday of April / October), in UTC.
DST_CHANGES = [
    datetime(2024, 4, 6, 16, tzinfo=UTC),
    datetime(2024, 10, 5, 16, tzinfo=UTC),
    datetime(2025, 4, 5, 16, tzinfo=UTC),
    datetime(2025, 10, 4, 16, tzinfo=UTC),
    datetime(2026, 4, 4, 16, tzinfo=UTC),
    datetime(2026, 10, 3, 16, tzinfo=UTC),
]
STATUS = {10: "Open", 20: "Paid", 30: "Closed", 40: "Open credit"}
CALC = {TAX_EXCLUSIVE: "Tax exclusive", TAX_INCLUSIVE: "Tax inclusive"}
CLINICS = [
    ("Harbourside Physio & Wellness", "Sydney", "NSW", "2000", "Level 3, 155 Clarence Street"),
    ("Harbourside Physio Parramatta", "Parramatta", "NSW", "2150", "12 Church Street"),
    ("Harbourside Physio Newcastle", "Newcastle", "NSW", "2300", "88 Hunter Street"),
]
# (name, item code, price, taxed?) - health services are GST-free, products and gym are not.
SERVICES = [
    ("Physiotherapy Initial Consultation", "PHY-INIT", "110.00", False),
    ("Physiotherapy Standard Consultation", "PHY-STD", "95.00", False),
    ("Physiotherapy Long Consultation", "PHY-LONG", "140.00", False),
    ("Remedial Massage 30 min", "MAS-30", "75.00", False),
    ("Remedial Massage 60 min", "MAS-60", "120.00", False),
    ("Psychology Session (50 min)", "PSY-50", "220.00", False),
    ("Psychology Session - Medicare Better Access", "PSY-MBA", "180.50", False),
    ("Clinical Pilates Class", "PIL-CLS", "38.00", True),
    ("Gym Program Review", "GYM-REV", "65.00", True),
    ("Report Writing (per 15 min)", "RPT-15", "49.95", True),
]
PRODUCTS = [
    ("Theraband Resistance Band", "PRD-TB", "18.50"),
    ("Foam Roller 45cm", "PRD-FR", "39.95"),
    ("Heat Pack", "PRD-HP", "24.99"),
    ("Kinesiology Tape 5cm", "PRD-KT", "16.45"),
    ("Lumbar Support Cushion", "PRD-LS", "59.00"),
    ("Massage Ball Set", "PRD-MB", "12.35"),
]
DESIGNATIONS = ["Physiotherapist", "Physiotherapist", "Remedial Massage Therapist",
                "Clinical Psychologist", "Exercise Physiologist", "Physiotherapist"]


class Pools:
    """Faker output drawn once; records pick from these lists."""

    def __init__(self, seed: int, size: int = 400) -> None:
        fake = Faker("en_AU")
        fake.seed_instance(seed)
        self.female = [fake.first_name_female() for _ in range(size)]
        self.male = [fake.first_name_male() for _ in range(size)]
        self.last = [fake.last_name() for _ in range(size)]
        self.streets = [fake.street_address() for _ in range(size)]
        self.suburbs = [(fake.city(), fake.state_abbr(), fake.postcode()) for _ in range(size)]
        self.mobiles = [f"04{fake.numerify('## ### ###')}" for _ in range(size)]
        self.landlines = [f"02 {fake.numerify('#### ####')}" for _ in range(size)]
        self.jobs = [fake.job() for _ in range(60)]
        self.domains = ["gmail.com", "outlook.com", "bigpond.com", "icloud.com", "yahoo.com.au",
                        "optusnet.com.au", "hotmail.com"]
        self.sentences = [fake.sentence(nb_words=8) for _ in range(80)]


class Seeder:
    """The seeded RNG, name pools and store every record generator shares."""

    def __init__(self, store: ClinikoStore, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        # Third-party payers draw from a stream of their own, so that adding them left every
        # other seeded record as it was.
        self.payers = random.Random(seed * 7919 + 14)
        self.custom = random.Random(seed * 7919 + 15)  # custom fields: a stream of their own
        self.reversals = random.Random(seed * 7919 + 16)  # reversals: theirs
        self.pools = Pools(seed)
        self.latest = START

    # ----- helpers ---------------------------------------------------------------------------
    def moment(self, low: datetime = START, high: datetime = END) -> datetime:
        """A random second in [low, high); about 3 % land within 2 h of a DST change."""
        if self.rng.random() < 0.03:
            near = [d for d in DST_CHANGES if low <= d < high]
            if near:
                return self.rng.choice(near) + timedelta(seconds=self.rng.randint(-7200, 7200))
        span = max(int((high - low).total_seconds()), 1)
        return low + timedelta(seconds=self.rng.randrange(span))

    def new_row(self, created: datetime, updated: datetime | None = None, **fields: Any) -> Row:
        """A row with a fresh id (short before LONG_IDS_FROM), timestamps and the set fields."""
        updated = max(updated or created, created)
        if updated > self.latest:
            self.latest = updated
        row = {"id": self.store.new_id(long=created >= LONG_IDS_FROM),
               "created_at": format_ts(created), "updated_at": format_ts(updated)}
        row.update({k: v for k, v in fields.items() if v is not None})
        return row

    def touched(self, created: datetime) -> datetime:
        """updated_at: usually the creation time, sometimes a later edit."""
        if self.rng.random() < 0.7:
            return created
        return self.moment(created, min(created + timedelta(days=120), END))

    def person(self) -> tuple[str, str, str]:
        """A first name, last name and sex ("F" or "M") from the pools."""
        sex = self.rng.choice("FM")
        first = self.rng.choice(self.pools.female if sex == "F" else self.pools.male)
        return first, self.rng.choice(self.pools.last), sex

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        """`first.last<n>@domain`, lower case; a pool domain unless `domain` is given."""
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        return f"{local}{self.rng.randint(1, 99)}@{domain or self.rng.choice(self.pools.domains)}"

    def phone(self, kind: str = "Mobile") -> dict[str, str]:
        """A Cliniko phone number entry of `kind`, with its +61 normalised form."""
        number = self.rng.choice(self.pools.mobiles if kind == "Mobile" else self.pools.landlines)
        digits = number.replace(" ", "")
        return {"phone_type": kind, "number": number, "normalized_number": "+61" + digits[1:]}

    def load(self, collection: str, rows: list[Row]) -> list[Row]:
        """Put `rows` into the store in creation order; return them, sorted."""
        rows.sort(key=lambda r: r["created_at"])
        self.store.load(collection, rows)
        return rows


def seed_store(store: ClinikoStore, seed: int = 42, patients: int = 500,
               invoices: int = 800) -> None:
    """Fill `store` with a clinic: reference data, `patients` patients, `invoices` invoices."""
    s = Seeder(store, seed)
    ref = _reference_data(s)
    patient_rows = _patients(s, patients, ref)
    _invoices(s, invoices, patient_rows, ref)
    _satellites(s, patient_rows, ref)
    store.note_timestamp(format_ts(s.latest))


def _reference_data(s: Seeder) -> dict[str, list[Row]]:
    rng, t0 = s.rng, START - timedelta(days=400)
    taxes = s.load("taxes", [
        s.new_row(t0, name="GST", rate="10.0", amount="10.0"),
        s.new_row(t0 + timedelta(minutes=5), name="GST-free", rate="0.0", amount="0.0"),
    ])
    gst, gst_free = taxes
    businesses = s.load("businesses", [
        s.new_row(t0 + timedelta(days=i * 30), business_name=name, display_name=name,
                  label=city, address_1=street, city=city, state=state, post_code=pc,
                  country="Australia", country_code="AU",
                  business_registration_name="ABN",
                  business_registration_value=f"{rng.randint(10, 99)} {rng.randint(100, 999)} "
                  f"{rng.randint(100, 999)} {rng.randint(100, 999)}",
                  contact_information=f"Phone: {s.phone('Home')['number']}",
                  email_reply_to=f"{city.lower()}@harbourside-physio.example.com.au",
                  website_address="https://harbourside-physio.example.com.au",
                  additional_invoice_information="Payment due within 14 days. Thank you!",
                  appointment_reminders_enabled=True, show_in_online_bookings=True,
                  time_zone="Sydney", time_zone_identifier="Australia/Sydney")
        for i, (name, city, state, pc, street) in enumerate(CLINICS)
    ])
    users: list[Row] = []
    practitioners: list[Row] = []
    staff: list[tuple[str, str | None]] = [
        ("administrator", None), ("receptionist", None), ("bookkeeper", None)]
    staff += [("practitioner", d) for d in DESIGNATIONS] + [("practitioner", "Physiotherapist")]
    for i, (role, designation) in enumerate(staff):
        first, last, _ = s.person()
        created = t0 + timedelta(days=10 + i * 20)
        user = s.new_row(created, first_name=first, last_name=last, role=role,
                         email=s.email(first, last, "harbourside-physio.example.com.au"),
                         active=True, user_active=True, phone_numbers=[s.phone()],
                         time_zone="Sydney", time_zone_identifier="Australia/Sydney",
                         title=rng.choice(["Dr", None, None]))
        users.append(user)
        if designation:
            active = i not in (5, len(staff) - 1)  # two inactive practitioners
            practitioners.append(s.new_row(
                created, user_id=user["id"], first_name=first, last_name=last,
                display_name=f"{first} {last}", label=f"{first} {last} ({designation})",
                designation=designation, title=user.get("title"), active=active,
                description=f"{designation} at Harbourside Physio & Wellness",
                show_in_online_bookings=active))
    s.load("users", users)
    s.load("practitioners", practitioners)
    billable = s.load("billable_items", [
        s.new_row(t0 + timedelta(hours=i), name=n, item_code=c, price=p, item_type="Service",
                  tax_id=(gst if taxed else gst_free)["id"])
        for i, (n, c, p, taxed) in enumerate(SERVICES)
    ])
    suppliers = s.load("product_suppliers", [
        s.new_row(t0, name="Allied Health Supplies Pty Ltd"),
        s.new_row(t0 + timedelta(days=3), name="PhysioWorld Wholesale"),
    ])
    products = s.load("products", [
        s.new_row(t0 + timedelta(hours=i), name=n, item_code=c,
                  price_including_tax=p, price_ex_tax=str((Decimal(p) / Decimal("1.1")).quantize(
                      Decimal("0.01"))), cost_price=str((Decimal(p) / 2).quantize(Decimal("0.01"))),
                  stock_level=str(rng.randint(5, 60)), tax_id=gst["id"],
                  product_supplier_id=suppliers[i % 2]["id"],
                  product_supplier_name=suppliers[i % 2]["name"])
        for i, (n, c, p) in enumerate(PRODUCTS)
    ])
    appointment_types = s.load("appointment_types", [
        s.new_row(t0 + timedelta(hours=i), name=item["name"].split(" (")[0],
                  duration_in_minutes=[45, 30, 60, 30, 60, 50, 50, 45, 30, 15][i],
                  color=rng.choice(["#3f51b5", "#009688", "#ff9800", "#9c27b0"]),
                  max_attendees=8 if "Class" in item["name"] else 1,
                  billable_item_id=item["id"], category="Consultation",
                  show_in_online_bookings=True, online_payments_enabled=False)
        for i, item in enumerate(billable[:8])
    ])
    for business in businesses:
        business["appointment_type_ids"] = [a["id"] for a in appointment_types]
    for p in practitioners:
        p["default_appointment_type_id"] = appointment_types[1]["id"]
    concession_types = s.load("concession_types", [
        s.new_row(t0, name="Pensioner"), s.new_row(t0 + timedelta(hours=1), name="Student"),
    ])
    return {"taxes": taxes, "businesses": businesses, "users": users,
            "practitioners": practitioners, "billable_items": billable, "products": products,
            "appointment_types": appointment_types, "concession_types": concession_types,
            "product_suppliers": suppliers}


def _patients(s: Seeder, count: int, ref: dict[str, list[Row]]) -> list[Row]:
    rng, pools = s.rng, s.pools
    rows: list[Row] = []
    for i in range(count):
        created = s.moment()
        first, last, sex = s.person()
        email: str | None = s.email(first, last) if rng.random() < 0.8 else None
        if rows and rng.random() < 0.08:  # a family member sharing the account holder's email
            holder = rows[rng.randrange(len(rows))]
            last, email = holder["last_name"], holder.get("email") or email
        street = rng.choice(pools.streets)
        suburb, state, pc = rng.choice(pools.suburbs)
        phones = [s.phone()] + ([s.phone("Home")] if rng.random() < 0.2 else [])
        row = s.new_row(
            created, s.touched(created), first_name=first, last_name=last, sex=sex,
            title=rng.choice(["Mr", "Mrs", "Ms", "Miss", "Dr", None]) if i % 3 == 0 else None,
            preferred_first_name=rng.choice(pools.female + pools.male) if rng.random() < 0.1
            else None,
            email=email,
            invoice_email=s.email(first, last, "example-employer.com.au")
            if rng.random() < 0.1 else None,
            date_of_birth=(date(1940, 1, 1) + timedelta(days=rng.randrange(30000))).isoformat(),
            address_1=street, city=suburb, state=state, post_code=pc, country="Australia",
            country_code="AU", patient_phone_numbers=phones,
            occupation=rng.choice(pools.jobs) if rng.random() < 0.5 else None,
            medicare=f"{rng.randint(2000, 6999)} {rng.randint(10000, 99999)} {rng.randint(1, 9)}"
            if rng.random() < 0.6 else None,
            medicare_reference_number=str(rng.randint(1, 5)) if rng.random() < 0.6 else None,
            reminder_type=rng.choice(["SMS", "Email", "SMS & Email", "None"]),
            receives_confirmation_emails=True, receives_cancellation_emails=True,
            accepted_privacy_policy=rng.choice([True, True, False, None]),
            accepted_email_marketing=rng.random() < 0.3, accepted_sms_marketing=rng.random() < 0.2,
            time_zone="Australia/Sydney",
            old_reference_id=f"LEGACY-{rng.randint(1000, 99999)}" if rng.random() < 0.1 else None,
            concession_type_id=rng.choice(ref["concession_types"])["id"]
            if rng.random() < 0.05 else None,
        )
        _maybe_remove(s, row, deleted=False)
        _maybe_billed_to_a_payer(s, row)
        row["custom_fields"] = _custom_fields(s, row)
        rows.append(row)
    _merge_duplicates(s, rows)
    return s.load("patients", rows)


def _merge_duplicates(s: Seeder, rows: list[Row], merges: int = 3) -> None:
    """A few patients entered twice, then merged: the duplicate keeps its invoices, archived.

    The duplicate has the survivor's name and email, as a person entered twice would: those
    must not count as an email two patients share.
    """
    if len(rows) < 2 * merges:
        return
    people = s.payers.sample(range(len(rows)), 2 * merges)
    for duplicate, survivor in zip(people[::2], people[1::2], strict=True):
        twin, kept = rows[duplicate], rows[survivor]
        for name in ("first_name", "last_name", "email", "invoice_email"):
            twin[name] = kept.get(name)
        later = max(twin["created_at"], kept["created_at"])
        stamp = format_ts(s.moment(datetime.fromisoformat(later.replace("Z", "+00:00")), END))
        twin["merged_with_patient_id"] = kept["id"]
        twin["merged_at"] = twin["archived_at"] = stamp
        twin["updated_at"] = max(twin["updated_at"], stamp)


# Third parties who pay for patients: (Cliniko's "Invoice to", their billing email, extra info).
PLAN_MANAGERS = (
    ("Coastal Plan Management\nPO Box 12\nGosford NSW 2250",
     "accounts@coastalplans.example.com.au"),
    ("Harbour Plan Partners Pty Ltd\nLevel 3, 20 Bridge St\nSydney NSW 2000",
     "invoices@harbourplans.example.com.au"),
)
INSURERS = (
    ("Sample Health Insurance\nClaims, GPO Box 9\nSydney NSW 2001",
     "claims@samplehealth.example.com.au"),
    ("Example Workers Cover Ltd\nPO Box 77\nParramatta NSW 2124",
     "accounts@examplecover.example.com.au"),
)


# The clinic's custom patient fields (Settings → Custom fields): tokens are the clinic's own.
FUNDING_TYPES = ("Self-funded", "NDIS plan managed", "Private health insurance", "Workers cover")


def _custom_fields(s: Seeder, row: Row) -> dict[str, Any]:
    """The patient's custom fields: a Funding section, and an archived intake section.

    Funding holds the NDIS number (plan-managed patients have theirs) and the funding type.
    """
    extra = str(row.get("invoice_extra_information") or "")
    ndis = extra.rsplit(" ", 1)[-1] if extra.startswith("NDIS") else ""
    funding: str | None
    if ndis:
        funding = FUNDING_TYPES[1]
    elif str(row.get("invoice_default_to")).startswith("Example Workers Cover"):
        funding = FUNDING_TYPES[3]
    elif extra.startswith("Policy"):
        funding = FUNDING_TYPES[2]
    else:
        funding = FUNDING_TYPES[0] if s.custom.random() < 0.3 else None
    options = [{"name": name, "token": f"5f1d0c3e-0000-4000-8000-00000000001{n}",
                "archived": False, "selected": name == funding}
               for n, name in enumerate(FUNDING_TYPES)]
    return {"sections": [
        {"name": "Funding", "token": "5f1d0c3e-0000-4000-8000-000000000001", "archived": False,
         "fields": [
             {"name": "NDIS number", "type": "text", "archived": False,
              "token": "5f1d0c3e-0000-4000-8000-000000000002", "value": ndis},
             {"name": "Funding type", "type": "radiobuttons", "archived": False,
              "token": "5f1d0c3e-0000-4000-8000-000000000003", "options": options,
              "other": {"enabled": False, "archived": False, "selected": False, "value": ""}},
         ]},
        {"name": "Old intake", "token": "5f1d0c3e-0000-4000-8000-000000000004", "archived": True,
         "fields": [{"name": "NDIS number", "type": "text", "archived": False,
                     "token": "5f1d0c3e-0000-4000-8000-000000000005", "value": "old"}]},
    ]}


def _maybe_billed_to_a_payer(s: Seeder, row: Row) -> None:
    """About 5 % of patients are NDIS plan-managed, 4 % billed to an insurer (billing details)."""
    payers, r = s.payers, s.payers.random()
    if r < 0.05:
        row["invoice_default_to"], row["invoice_email"] = payers.choice(PLAN_MANAGERS)
        row["invoice_extra_information"] = f"NDIS participant 43{payers.randrange(10**7):07d}"
    elif r < 0.09:
        row["invoice_default_to"], row["invoice_email"] = payers.choice(INSURERS)
        row["invoice_extra_information"] = f"Policy {payers.randrange(10**7, 10**8)}"


def _maybe_remove(s: Seeder, row: Row, deleted: bool, share: float = 0.02) -> None:
    """Archive (or soft-delete) a small share of records; that also bumps updated_at."""
    r = s.rng.random()
    if r >= share:
        return
    created = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
    stamp = format_ts(s.moment(created, END))
    flag = "deleted_at" if deleted and r < share / 2 else "archived_at"
    row[flag] = stamp
    row["updated_at"] = max(row["updated_at"], stamp)


def _invoices(s: Seeder, count: int, patients: list[Row], ref: dict[str, list[Row]]) -> None:
    rng = s.rng
    tax_by_id = {t["id"]: t for t in ref["taxes"]}
    gst = ref["taxes"][0]
    practitioners, businesses = ref["practitioners"], ref["businesses"]
    appt_types = ref["appointment_types"]
    catalogue = ref["billable_items"] + ref["products"]
    invoices, items, appointments = [], [], []
    statuses = [10] * 25 + [20] * 45 + [30] * 20 + [40] * 10
    for _ in range(count):
        patient = patients[rng.randrange(len(patients))] if patients else None
        low = (datetime.fromisoformat(patient["created_at"].replace("Z", "+00:00"))
               if patient else START)
        created = s.moment(low, END) if low < END else END
        practitioner = rng.choice(practitioners)
        business = rng.choice(businesses)
        status = rng.choice(statuses)
        method = rng.choice((TAX_EXCLUSIVE, TAX_INCLUSIVE))
        invoice = s.new_row(
            created, s.touched(created), status=status, status_description=STATUS[status],
            calculation_method=method, calculation_method_description=CALC[method],
            issue_date=created.astimezone(SYDNEY).date().isoformat(),
            patient_id=patient and patient["id"], practitioner_id=practitioner["id"],
            business_id=business["id"],
            invoice_to=patient and f"{patient['first_name']} {patient['last_name']}\n"
            f"{patient['address_1']}\n{patient['city']} {patient['state']} {patient['post_code']}",
            notes=rng.choice(s.pools.sentences) if rng.random() < 0.1 else None,
            patient_extra_information=f"Medicare: {patient['medicare']}"
            if patient and patient.get("medicare") and rng.random() < 0.3 else None,
        )
        _address_to_the_payer(s, invoice, patient)
        if status in (20, 30):
            invoice["closed_at"] = format_ts(s.moment(created, min(created + timedelta(days=30),
                                                                   END + timedelta(days=1))))
            invoice["updated_at"] = max(invoice["updated_at"], invoice["closed_at"])
        if patient and rng.random() < 0.7:
            appointments.append(_appointment_for(s, invoice, patient, practitioner, business,
                                                 rng.choice(appt_types), created))
            invoice["appointment_id"] = appointments[-1]["id"]
        lines = [_item(s, invoice, rng.choice(catalogue), tax_by_id, gst, method, created)
                 for _ in range(rng.choice((1, 1, 2, 2, 3, 3, 3, 4)))]
        _maybe_remove(s, invoice, deleted=True)
        if len(lines) > 1 and rng.random() < 0.03:  # a deleted line, left out of the totals
            lines[-1]["deleted_at"] = lines[-1]["updated_at"] = invoice["updated_at"]
        invoice.update(invoice_totals(lines))
        items.extend(lines)
        invoices.append(invoice)
    invoices.sort(key=lambda r: r["created_at"])
    for number, invoice in enumerate(invoices, start=1):
        invoice["number"] = number
    reversing = _reversals(s, invoices, items)
    for number, invoice in enumerate(reversing, start=len(invoices) + 1):
        invoice["number"] = number  # numbered after the rest: every other number stays
    invoices += reversing
    s.load("invoices", invoices)
    s.load("invoice_items", items)
    s.load("individual_appointments", appointments)


def _address_to_the_payer(s: Seeder, invoice: Row, patient: Row | None) -> None:
    """A payer's patient: most invoices preload the patient's billing details.

    "Invoice to" and the extra information; a few were made before those were set, and keep the
    patient's own name and address.
    """
    if patient and patient.get("invoice_default_to") and s.payers.random() < 0.85:
        invoice["invoice_to"] = patient["invoice_default_to"]
        invoice["patient_extra_information"] = patient["invoice_extra_information"]


def _reversals(s: Seeder, invoices: list[Row], items: list[Row]) -> list[Row]:
    """About 2 % of open and paid invoices reversed: in full (3 in 4) or their first line.

    A reversal is an invoice whose `original_invoice_id` is the one reversed; its lines negate
    the original's (negative quantities), and so do its totals. UNCONFIRMED: Cliniko's own
    figures for one (the notes have its fields, not their signs).
    """
    rng, reversing = s.reversals, []
    lines_of: dict[str, list[Row]] = {}
    for item in items:
        if not item.get("deleted_at"):
            lines_of.setdefault(item["invoice_id"], []).append(item)
    for original in invoices:
        live = lines_of.get(original["id"], [])
        if (original["status"] not in (10, 20) or not live or original.get("archived_at")
                or original.get("deleted_at") or rng.random() >= 0.02):
            continue
        whole = len(live) == 1 or rng.random() < 0.75
        created = datetime.fromisoformat(original["updated_at"].replace("Z", "+00:00"))
        created = min(created + timedelta(days=rng.randint(1, 20)), END)
        reversal = s.new_row(
            created, status=30, status_description=STATUS[30],
            calculation_method=original["calculation_method"],
            calculation_method_description=original["calculation_method_description"],
            issue_date=created.astimezone(SYDNEY).date().isoformat(),
            patient_id=original.get("patient_id"), practitioner_id=original["practitioner_id"],
            business_id=original["business_id"], original_invoice_id=original["id"],
            closed_at=format_ts(created),
        )
        lines = [_negated(s, reversal, line, created) for line in (live if whole else live[:1])]
        reversal.update(invoice_totals(lines))
        items.extend(lines)
        reversing.append(reversal)
    return reversing


def _negated(s: Seeder, reversal: Row, line: Row, created: datetime) -> Row:
    """A reversal's line: the original line with every amount negated."""
    fields = {k: v for k, v in line.items() if k not in ("id", "created_at", "updated_at")}
    for key in ("quantity", "net_price", "tax_amount", "discounted_amount"):
        if fields.get(key) not in (None, ""):
            fields[key] = str(-Decimal(str(fields[key])))
    fields["total_including_tax"] = -float(line["total_including_tax"])
    return s.new_row(created, **{**fields, "invoice_id": reversal["id"]})


def _item(s: Seeder, invoice: Row, source: Row, taxes: dict[str, Row], gst: Row, method: int,
          created: datetime) -> Row:
    rng = s.rng
    is_product = "item_code" in source and "price_including_tax" in source
    price = Decimal(source["price_including_tax"] if is_product else source["price"])
    tax = taxes.get(source.get("tax_id", ""), gst)
    quantity = Decimal(rng.choice((1, 1, 1, 1, 2, 3)) if is_product else 1)
    pct: Decimal | None = None
    money: Decimal | None = None
    r = rng.random()
    if r < 0.12:
        pct = Decimal(rng.choice(("10.0", "15.0", "20.0", "12.5")))
    elif r < 0.2:
        money = Decimal(rng.choice(("5.00", "10.00", "7.50")))
    amounts = item_amounts(quantity, price, Decimal(tax["rate"]), method, pct, money)
    return s.new_row(
        created, datetime.fromisoformat(invoice["updated_at"].replace("Z", "+00:00")),
        invoice_id=invoice["id"], name=source["name"], code=source.get("item_code"),
        quantity=f"{quantity}.0", unit_price=str(price),
        discount_percentage=str(pct) if pct is not None else None,
        is_monetary_discount=money is not None if (pct is not None or money is not None) else None,
        discounted_amount=str(amounts.discount),
        net_price=str(amounts.net_price), tax_name=tax["name"], tax_rate=tax["rate"],
        tax_amount=str(amounts.tax), total_including_tax=float(amounts.total_including_tax),
        product_id=source["id"] if is_product else None,
        billable_item_id=None if is_product else source["id"], source_item_id=source["id"],
        archived_at=invoice.get("archived_at"), deleted_at=invoice.get("deleted_at"),
    )


def _appointment_for(s: Seeder, invoice: Row, patient: Row, practitioner: Row, business: Row,
                     appt_type: Row, invoiced: datetime) -> Row:
    rng = s.rng
    starts = invoiced - timedelta(minutes=rng.randint(5, 90))
    booked = max(starts - timedelta(days=rng.randint(0, 21)), START)
    row = s.new_row(
        booked, invoiced, patient_id=patient["id"], practitioner_id=practitioner["id"],
        business_id=business["id"], appointment_type_id=appt_type["id"],
        starts_at=format_ts(starts),
        ends_at=format_ts(starts + timedelta(minutes=appt_type["duration_in_minutes"])),
        patient_name=f"{patient['first_name']} {patient['last_name']}",
        did_not_arrive=False, patient_arrived=True, invoice_status=invoice["status"],
        email_reminder_sent=patient.get("reminder_type") in ("Email", "SMS & Email"),
        sms_reminder_sent=patient.get("reminder_type") in ("SMS", "SMS & Email"),
        has_patient_appointment_notes=False, treatment_note_status=rng.choice((0, 1, 2)),
    )
    if rng.random() < 0.02:  # a cancelled appointment (invoiced as a late-cancellation fee)
        row["cancelled_at"] = row["updated_at"]
        row["cancellation_reason"] = 50
        row["cancellation_reason_description"] = "Sick"
    return row


def _satellites(s: Seeder, patients: list[Row], ref: dict[str, list[Row]]) -> None:
    """A few records in every other collection, linked to the core ones."""
    rng, t0 = s.rng, START
    pick = rng.choice
    pats = patients[:50] or [{"id": None, "first_name": "", "last_name": ""}]
    prac, bus, users = ref["practitioners"], ref["businesses"], ref["users"]
    types, items, products = ref["appointment_types"], ref["billable_items"], ref["products"]

    def rows(collection: str, n: int, make: Callable[[int], dict[str, Any]]) -> list[Row]:
        out = []
        for i in range(n):
            created = s.moment(t0, END)
            row = s.new_row(created, s.touched(created), **make(i))
            fill_required(collection, row)
            out.append(row)
        return s.load(collection, out)

    def span(i: int, minutes: int = 60) -> dict[str, str]:
        start = s.moment()
        return {"starts_at": format_ts(start),
                "ends_at": format_ts(start + timedelta(minutes=minutes))}

    rows("appointment_type_billable_items", 4, lambda i: {
        "appointment_type_id": types[i]["id"], "billable_item_id": items[i]["id"],
        "quantity": "1.0"})
    rows("appointment_type_products", 3, lambda i: {
        "appointment_type_id": types[i]["id"], "product_id": products[i]["id"], "quantity": "1.0"})
    groups = rows("group_appointments", 4, lambda i: {
        **span(i), "practitioner_id": prac[0]["id"], "business_id": bus[0]["id"],
        "appointment_type_id": types[7]["id"], "max_attendees": 8,
        "patient_ids": [p["id"] for p in pats[i * 3:i * 3 + 3] if p["id"]]})
    attendees = rows("attendees", 6, lambda i: {
        "patient_id": pats[i % len(pats)]["id"], "booking_id": groups[i % 4]["id"],
        "appointment_id": groups[i % 4]["id"], "arrived": i % 2 == 0})
    rows("availability_blocks", 4, lambda i: {
        **span(i, 240), "practitioner_id": prac[i]["id"], "business_id": bus[i % 3]["id"]})
    rows("communications", 6, lambda i: {
        "_variant": ("MemoCommunication", "EmailCommunication", "SmsCommunication")[i % 3],
        "patient_id": pats[i % len(pats)]["id"], "content": pick(s.pools.sentences),
        "category_code": 1, "type_code": i % 3 + 1})
    concessions = ref["concession_types"]
    rows("concession_prices", 2, lambda i: {
        "billable_item_id": items[1]["id"], "concession_type_id": concessions[i]["id"],
        "price": ("80.00", "75.00")[i]})
    contacts = rows("contacts", 5, lambda i: {
        "first_name": s.person()[0], "last_name": s.person()[1], "title": "Dr",
        "company_name": f"{pick(s.pools.suburbs)[0]} Medical Centre", "occupation": "GP",
        "email": f"reception{i}@medical-centre.example.com.au", "type_code": 1})
    rows("daily_availabilities", 4, lambda i: {
        "practitioner_id": prac[i]["id"], "business_id": bus[i % 3]["id"],
        "date": s.moment().date().isoformat(),
        "availabilities": [{"starts_at": "09:00", "ends_at": "13:00"}]})
    rows("medical_alerts", 5, lambda i: {
        "patient_id": pats[i % len(pats)]["id"],
        "name": ("Penicillin allergy", "Asthma", "Pacemaker", "Diabetes type 2", "Latex")[i]})
    rows("patient_attachments", 3, lambda i: {
        "_variant": "UploadedPatientAttachment", "patient_id": pats[i % len(pats)]["id"],
        "user_id": users[0]["id"], "filename": f"referral-{i + 1}.pdf",
        "content_type": "application/pdf", "description": "GP referral", "size": 52000 + i})
    rows("patient_cases", 3, lambda i: {
        "patient_id": pats[i % len(pats)]["id"], "name": ("Left knee", "Lower back", "Shoulder")[i],
        "issue_date": s.moment().date().isoformat(), "contact_id": contacts[i]["id"]})
    templates = rows("patient_form_templates", 2, lambda i: {
        "name": ("New patient intake", "COVID-19 screening")[i]})
    rows("patient_forms", 3, lambda i: {
        "patient_id": pats[i % len(pats)]["id"], "name": templates[i % 2]["name"],
        "business_id": bus[0]["id"], "attendee_id": attendees[i]["id"]})
    rows("practitioner_reference_numbers", 3, lambda i: {
        "practitioner_id": prac[i]["id"], "business_id": bus[i]["id"], "name": "Medicare provider",
        "reference_number": f"{rng.randint(100000, 999999)}{pick('ABCDEFHJKL')}"})
    source_types = rows("referral_source_types", 3, lambda i: {
        "name": ("Google", "GP referral", "Friend or family")[i]})
    rows("referral_sources", 3, lambda i: {
        "patient_id": pats[i % len(pats)]["id"], "referral_source_type_id": source_types[i]["id"],
        "subcategory": None})
    rows("relationships", 2, lambda i: {
        "patient_id": pats[i]["id"], "related_patient_id": pats[(i + 1) % len(pats)]["id"],
        "relationship_type": "Parent"})
    rows("services", 3, lambda i: {
        "appointment_type_id": types[i]["id"], "business_id": bus[i]["id"],
        "name": types[i]["name"]})
    rows("stock_adjustments", 3, lambda i: {
        "product_id": products[i]["id"], "user_id": users[0]["id"], "quantity": "10.0",
        "adjustment_type": "Stock Purchase"})
    note_templates = rows("treatment_note_templates", 2, lambda i: {
        "name": ("SOAP note", "Psychology session note")[i], "content": {"sections": []}})
    rows("treatment_notes", 4, lambda i: {
        "patient_id": pats[i % len(pats)]["id"], "practitioner_id": prac[0]["id"],
        "treatment_note_template_id": note_templates[i % 2]["id"], "title": "Treatment note",
        "draft": i == 3})
    block_types = rows("unavailable_block_types", 2, lambda i: {
        "name": ("Lunch", "Admin time")[i], "color": "#9e9e9e"})
    rows("unavailable_blocks", 3, lambda i: {
        **span(i), "practitioner_id": prac[i]["id"], "business_id": bus[0]["id"],
        "unavailable_block_type_id": block_types[i % 2]["id"]})
