"""Shared fixtures. Every test runs with a private cae home and Prefect home, network-free."""

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def cae_home(tmp_path, monkeypatch):
    """A fresh, empty cae home directory; `CAE_HOME` points at it."""
    home = tmp_path / "cae_home"
    monkeypatch.setenv("CAE_HOME", str(home))
    return home


# --- baselines: build a Panel straight from tensors -------------------------------------------


@pytest.fixture
def make_panel():
    """Return a builder of `Panel`s from y (T, N), an optional mask and X (T, N, P)."""
    import numpy as np
    import torch

    from cae.panel.tensors import Panel

    def build(y, mask=None, X=None, tickers=None, start="2000-01"):
        y = torch.as_tensor(y, dtype=torch.float32)
        T, N = y.shape
        mask = torch.ones(T, N, dtype=torch.bool) if mask is None else torch.as_tensor(mask)
        X = torch.zeros(T, N, 1) if X is None else torch.as_tensor(X, dtype=torch.float32)
        tickers = np.array([f"T{n}" for n in range(N)]) if tickers is None else np.array(tickers)
        return Panel(
            dates=(np.datetime64(start, "M") + np.arange(T)).astype("datetime64[D]"),
            tickers=tickers,
            char_names=tuple(f"c{p + 1}" for p in range(X.shape[2])),
            X=X * mask.unsqueeze(-1),
            y=y * mask,
            mask=mask,
        )

    return build


# --- baselines: one intra-op thread for tiny test tensors -------------------------------------
# Measured here under load: a small IPCA fit took 3.9 s with torch's 2 intra-op threads and
# 0.12 s with 1 (the threads spin-wait on microsecond-sized ops).
def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


# --- issue 3 (features): the bundled sample in a warehouse, without the ingest module ----------
@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory):
    """A warehouse file holding the bundled sample (built once per session; copy before writing)."""
    from cae import warehouse
    from cae.warehouse.sources.sample import read_sample_prices, read_sample_tickers
    from tests.support.prices import insert_prices

    home = tmp_path_factory.mktemp("sample_home")
    con = warehouse.connect(home)
    insert_prices(con, read_sample_prices(), read_sample_tickers())
    con.close()
    return home


# --- issue 5 (ui): one real Prefect server for the browser and `cae serve` tests --------------
@pytest.fixture(scope="session")
def live_prefect_server(tmp_path_factory):
    """A `prefect server start` subprocess on a free port (see tests/support/prefect_server.py)."""
    from tests.support.prefect_server import running_server

    with running_server(tmp_path_factory.mktemp("live_prefect")) as server:
        yield server
