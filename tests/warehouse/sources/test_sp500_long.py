import gzip
import importlib.util

import pytest

from cae.errors import ConfigError
from cae.warehouse.sources import sp500_long


def test_wide_gzipped_closes_become_long_rows(tmp_path):
    path = tmp_path / "sp500_dataset.csv.gz"
    text = "Date,AAPL,AMD\n1990-01-02,0.264,4.125\n1990-01-03,0.266,\n"
    path.write_bytes(gzip.compress(text.encode()))
    frame = sp500_long.read_sp500_long(path)
    assert frame.select("date", "ticker", "close").rows() == [
        ("1990-01-02", "AAPL", "0.264"),
        ("1990-01-02", "AMD", "4.125"),
        ("1990-01-03", "AAPL", "0.266"),
    ]


def test_missing_skfolio_names_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install 'cae\[sp500-long\]'"):
        sp500_long.dataset_path()


def test_dataset_is_found_inside_the_installed_package_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "skfolio"
    (package / "datasets" / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    data = package / "datasets" / "data" / "sp500_dataset.csv.gz"
    data.write_bytes(gzip.compress(b"Date,AAPL\n1990-01-02,0.264\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sp500_long.dataset_path() == data
    assert sp500_long.read_sp500_long()["ticker"].to_list() == ["AAPL"]
