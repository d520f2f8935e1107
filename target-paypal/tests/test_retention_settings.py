"""The retention settings: a value that is not a number of days stops the run with one line."""

from __future__ import annotations


def test_a_negative_retention_stops_the_run_with_one_line(target, clinic) -> None:
    done = target.run(clinic(customers=2, invoices=2).messages(), dead_letter_retention_days=-1)
    assert done.returncode == 1
    assert (
        "dead_letter_retention_days must be a whole number of days, 0 or more (it is -1): "
        "set TARGET_PAYPAL_DEAD_LETTER_RETENTION_DAYS"
    ) in done.stderr
    assert "Traceback" not in done.stderr
