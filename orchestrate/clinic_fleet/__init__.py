"""clinic-fleet: the Dagster code location that runs the Cliniko -> PayPal sync for many clinics."""
