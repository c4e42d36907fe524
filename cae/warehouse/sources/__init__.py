"""Where prices come from. Each source yields long-format price rows for `cae.warehouse.ingest`."""
