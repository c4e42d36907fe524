"""Prefect flows over the `cae` library: ingest, build_panel, train, publish and daily."""
