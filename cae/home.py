"""Where a cae home keeps each thing: the one object that knows the home folder's layout.

A home is built once from `--home`, else `$CAE_HOME`, else `./data`, and passed down; code asks it
for a place (`home.warehouse`, `home.partition("metrics", run_id)`) instead of joining names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_HOME", "Home", "HomeLike"]

DEFAULT_HOME = Path("data")


@dataclass(frozen=True)
class Home:
    """The folders and files of one home, all under `root`."""

    root: Path

    @classmethod
    def of(cls, home: HomeLike = None) -> Home:
        """Return `home` as a Home: itself, a path, else `$CAE_HOME`, else `./data`."""
        if isinstance(home, Home):
            return home
        if home is not None:
            return cls(Path(home))
        return cls(Path(os.environ.get("CAE_HOME", DEFAULT_HOME)))

    @property
    def warehouse(self) -> Path:
        """The DuckDB warehouse file."""
        return self.root / "warehouse.duckdb"

    @property
    def outputs(self) -> Path:
        """The published output tables, one folder per table, partitioned by run."""
        return self.root / "outputs"

    def table(self, table: str) -> Path:
        """Return the folder of one output table."""
        return self.outputs / table

    def partition(self, table: str, run_id: str) -> Path:
        """Return the Parquet file of one run's rows of one output table (hive layout)."""
        return self.table(table) / f"run_id={run_id}" / "data.parquet"

    def partitions(self, table: str) -> list[Path]:
        """Return the Parquet files of every run of one output table, in run id order."""
        return sorted(self.table(table).glob("run_id=*/data.parquet"))

    @property
    def catalog(self) -> Path:
        """The DuckDB file of views over the outputs that `cae sql` queries."""
        return self.outputs / "catalog.duckdb"

    @property
    def published(self) -> Path:
        """The warehouse's tables as readers see them: Parquet files and their manifest."""
        return self.outputs / "warehouse"

    @property
    def snapshot(self) -> Path:
        """Where homes before published tables kept a copy of the warehouse (now removed)."""
        return self.outputs / "warehouse_snapshot.duckdb"

    @property
    def staging(self) -> Path:
        """Runs being written: each publishes by moving its folder's files into the tables."""
        return self.outputs / ".staging"

    def staged_run(self, run_id: str) -> Path:
        """Return the staging folder of one running run."""
        return self.staging / f"run_id={run_id}"

    @property
    def scratch(self) -> Path:
        """Files being written before an atomic rename; each name carries its writer."""
        return self.outputs / ".tmp"

    def report(self, run_id: str) -> Path:
        """Return the HTML report of one run."""
        return self.outputs / "reports" / f"{run_id}.html"

    def plots(self, run_id: str) -> Path:
        """Return the PNG plots of one run."""
        return self.outputs / "plots" / f"run_id={run_id}"

    def frozen_panel(self, freq: str, data_version: str) -> Path:
        """Return the panel a run trains on, frozen at a data version (no lock while training)."""
        return self.root / "panels" / f"{freq}-{data_version}.parquet"

    def window_cache(self, key: str) -> Path:
        """Return the cached results of one fitted window, keyed on settings, code and data."""
        return self.root / "cache" / "windows" / key

    @property
    def replay(self) -> Path:
        """The sample's replay: the days waiting to be released."""
        return self.root / "replay"

    @property
    def landing(self) -> Path:
        """The drop folder the daily flow ingests during a replay."""
        return self.replay / "landing"

    @property
    def waiting(self) -> Path:
        """The replay's day files not released into the landing folder yet."""
        return self.replay / "waiting"


HomeLike = Home | str | os.PathLike[str] | None
