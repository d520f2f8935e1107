"""map-cliniko-paypal: Singer mapper from tap-cliniko streams to target-paypal input streams."""
