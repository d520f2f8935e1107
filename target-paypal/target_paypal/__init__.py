"""target-paypal: a Singer target for PayPal Invoicing v2."""
