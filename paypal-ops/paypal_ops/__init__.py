"""paypal-ops: summary, reconcile, report, dead letters, alerts and webhooks for the sync."""
