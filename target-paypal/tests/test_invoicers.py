"""Several businesses: an invoice's own invoicer block replaces the default's fields in PayPal."""

from __future__ import annotations

from target_harness import paypal_by_reference

DEFAULT = {
    "business_name": "Sunrise Allied Health",
    "website": "https://sunrise-clinic.example",
    "tax_id": "51 824 753 556",
}  # target_harness's settings
NEWTOWN = {
    "business_name": "Harbourside Physio Newtown",
    "tax_id": "12 345 678 901",
    "logo_url": "https://newtown.example.com.au/logo.png",
    "address": {"address_line_1": "1 King St", "admin_area_2": "Newtown", "admin_area_1": "NSW",
                "postal_code": "2042", "country_code": "AU"},
}  # fmt: skip


def invoicers_in_paypal(target) -> dict[str, dict]:
    return {ref: found[0]["invoicer"] for ref, found in paypal_by_reference(target.sandbox).items()}


def test_each_invoice_shows_its_business_as_invoicer_with_the_accounts_email(
    target, clinic
) -> None:
    data = clinic(customers=4, invoices=12)
    live = [i for i, h in sorted(data.invoices.items()) if h["target_status"] != "VOID"]
    newtown = set(live[::2])
    for invoice_id in newtown:
        data.invoices[invoice_id]["invoicer"] = NEWTOWN
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-2000:]

    email = target.config["invoicer_email"]
    shown = invoicers_in_paypal(target)
    assert set(shown) == set(live)
    for invoice_id, invoicer in shown.items():
        expected = {**DEFAULT, **NEWTOWN} if invoice_id in newtown else DEFAULT
        assert invoicer == {"email_address": email, **expected}, invoice_id

    # The business's details change in the rules: its open invoices are written again, no
    # others (PayPal takes no change to a paid one).
    open_ = {i for i in newtown if data.invoices[i]["target_status"] != "PAID"}
    assert open_ and open_ != newtown
    renamed = {**NEWTOWN, "business_name": "Harbourside Physio Newtown & Enmore"}
    for invoice_id in newtown:
        data.invoices[invoice_id]["invoicer"] = renamed
    target.sandbox.paypal.clear_call_log()
    assert target.run(data.messages()).returncode == 0
    shown = invoicers_in_paypal(target)
    assert {i for i, inv in shown.items() if inv["business_name"] == renamed["business_name"]} \
        == open_
    ids = {i: found[0]["id"] for i, found in paypal_by_reference(target.sandbox).items()}
    written = {w.path.split("/")[4] for w in target.sandbox.paypal.writes()}
    assert written == {ids[i] for i in open_}
