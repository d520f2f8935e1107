"""tap-cliniko: a Singer tap for Cliniko's REST API."""
