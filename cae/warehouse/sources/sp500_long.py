"""A long-history second sample: adjusted closes of 20 S&P 500 stocks, 1990 to 2022.

The file ships inside `skfolio` (the optional extra `sp500-long`) as a wide, gzipped CSV. It is
found on disk through the package's location, without importing skfolio and its dependencies.
The closes are split- and dividend-adjusted by the source, stored as `close`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

from cae.errors import ConfigError
from cae.warehouse.sources.files import FileOptions, read_price_file

__all__ = ["DATASET_FILE", "dataset_path", "read_sp500_long"]

DATASET_FILE = Path("datasets") / "data" / "sp500_dataset.csv.gz"


def dataset_path() -> Path:
    """Return the dataset file inside the installed skfolio package.

    Raises `ConfigError` with the install command when skfolio is not installed.
    """
    spec = importlib.util.find_spec("skfolio")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "source sp500-long needs the skfolio package: pip install 'cae[sp500-long]'"
        )
    path = Path(spec.origin).parent / DATASET_FILE
    if not path.is_file():
        raise ConfigError(f"skfolio is installed but {path} is missing; reinstall skfolio")
    return path


def read_sp500_long(path: Path | None = None) -> pl.DataFrame:
    """Read the wide dataset (a Date column, one adjusted-close column per ticker) as long rows."""
    return read_price_file(path or dataset_path(), FileOptions(layout="wide"))
