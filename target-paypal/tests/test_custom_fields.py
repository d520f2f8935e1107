"""`{custom[Name]}` in the memo and note: filled from the customer's custom fields."""

from __future__ import annotations

from target_harness import paypal_by_reference

from target_paypal.templates import fill_templates

MEMO = "Invoice, funding {custom[Funding type]}, seen by {practitioner}"
NOTE = "NDIS number: {custom[NDIS number]}"


def test_templates_take_owner_practitioner_and_custom_fields() -> None:
    header = {"memo": "{owner}: {custom[A]}{custom[B]}", "note": NOTE, "x": 1}
    customer = {"custom_fields": {"A": "a", "NDIS number": "430123456"}}
    filled = fill_templates(header, "Physio", None, customer)
    assert filled == {"memo": "Physio: a", "note": "NDIS number: 430123456", "x": 1}
    assert fill_templates({"memo": "x" * 600}, "o", None, None)["memo"] == "x" * 500
    assert fill_templates({"note": None}, "o", None, None) == {"note": None}


def test_memo_and_note_show_the_patients_custom_fields_and_follow_a_change(target, clinic):
    data = clinic(customers=3, invoices=18)
    first, second, third = sorted(data.customers)
    data.customers[first]["custom_fields"] = {
        "Funding type": "NDIS plan managed",
        "NDIS number": "430123456",
    }
    data.customers[second]["custom_fields"] = {"Funding type": "Self-funded", "NDIS number": None}
    for header in data.invoices.values():
        header["memo"], header["note"] = MEMO, NOTE
    assert target.run(data.messages()).returncode == 0

    def shown() -> dict[str, tuple[str, str]]:
        found = paypal_by_reference(target.sandbox)
        return {
            i: (found[i][0]["detail"].get("memo"), found[i][0]["detail"].get("note"))
            for i in data.invoices
            if data.expected_status(i) is not None
        }

    want = {
        first: ("NDIS plan managed", "NDIS number: 430123456"),
        second: ("Self-funded", "NDIS number: "),
        third: ("", "NDIS number: "),
    }
    before = shown()
    for invoice_id, (memo, note) in before.items():
        funding, wanted_note = want[data.invoices[invoice_id]["customer_id"]]
        assert memo.startswith(f"Invoice, funding {funding}, seen by "), memo
        assert note == wanted_note.rstrip() or note == wanted_note, note

    # The patient's funding changes in Cliniko: their open invoices show it, no others move.
    data.customers[first]["custom_fields"]["Funding type"] = "Self-funded"
    target.sandbox.paypal.clear_call_log()
    assert target.run(data.messages(only={"customers"})).returncode == 0
    after = shown()
    changed = {i for i in after if after[i] != before[i]}
    open_ones = {
        i for i, h in data.invoices.items()
        if h["customer_id"] == first and h["target_status"] in ("SENT", "DRAFT")
    }
    assert changed == open_ones and open_ones
    assert all("funding Self-funded" in after[i][0] for i in changed)
