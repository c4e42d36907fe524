"""The characteristics panel: built from prices or loaded from a file, stored, read."""

from cae.panel.build import (
    BuildReport,
    build_panel,
    characteristic_names,
    ingest_panel,
    normalise_ranks,
    read_panel,
    refresh_panels,
    restore_panel,
    validate_panel,
)

__all__ = [
    "BuildReport",
    "build_panel",
    "characteristic_names",
    "ingest_panel",
    "normalise_ranks",
    "read_panel",
    "refresh_panels",
    "restore_panel",
    "validate_panel",
]
