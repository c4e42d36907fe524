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
