"""`{service_date}`: the day of an invoice's appointment, on the line and the memo."""

from __future__ import annotations

import json

from target_harness import paypal_by_reference

from cliniko_paypal_contract import schema

LINE = "Seen {service_date} by {practitioner}"


def appointment_messages(days: dict[str, str]) -> str:
    out = [{"type": "SCHEMA", "stream": "appointments", "schema": schema("appointments"),
            "key_properties": ["appointment_id"]}]
    out += [
        {"type": "RECORD", "stream": "appointments",
         "record": {"appointment_id": a, "service_date": d}}
        for a, d in days.items()
    ]
    return "".join(json.dumps(m) + "\n" for m in out)


def test_the_line_and_memo_show_the_date_of_service_and_follow_a_change(target, clinic):
    data = clinic(customers=3, invoices=12)
    days = {}
    for n, (_, header) in enumerate(sorted(data.invoices.items())):
        header["memo"], header["line_description"] = "Service {service_date}", LINE
        if n % 4:  # one in four has no appointment
            header["appointment_id"] = f"appt-{n}"
            days[f"appt-{n}"] = f"2026-03-{10 + n:02d}"
    # The appointments arrive after the invoices, as a stream later in the tap's order would.
    assert target.run(data.messages() + appointment_messages(days)).returncode == 0

    def shown() -> dict[str, tuple[str, set[str]]]:
        found = paypal_by_reference(target.sandbox)
        return {
            i: (found[i][0]["detail"]["memo"],
                {item["description"] for item in found[i][0]["items"]})
            for i in data.invoices
            if data.expected_status(i) is not None
        }

    before = shown()
    for invoice_id, (memo, lines) in before.items():
        day = days.get(data.invoices[invoice_id].get("appointment_id"), "date unknown")
        assert memo == f"Service {day}", invoice_id
        assert lines == {f"Seen {day} by practitioner unknown"}, invoice_id

    # An appointment moved to another day in Cliniko: its open invoice follows, nothing else.
    moved = next(
        h["appointment_id"] for _, h in sorted(data.invoices.items())
        if h.get("appointment_id") and h["target_status"] == "SENT"
    )
    days[moved] = "2026-04-01"
    target.sandbox.paypal.clear_call_log()
    assert target.run(appointment_messages({moved: days[moved]})).returncode == 0
    after = shown()
    changed = {i for i in after if after[i] != before[i]}
    assert changed == {i for i, h in data.invoices.items() if h.get("appointment_id") == moved}
    assert after[changed.pop()][0] == "Service 2026-04-01"
