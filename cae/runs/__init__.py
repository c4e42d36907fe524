"""What a run leaves: output tables, bookkeeping, catalog, versions, report, plots."""
