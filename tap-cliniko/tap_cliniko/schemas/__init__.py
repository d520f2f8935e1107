"""The packaged JSON Schemas, `<stream>.json` for each stream in `streams.yaml`."""
