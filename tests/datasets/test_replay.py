import polars as pl
import pytest

from cae import warehouse
from cae.datasets.replay import BASE_FILE, landing_dir, prepare_replay, release_day
from cae.errors import ConfigError
from cae.warehouse.ingest import ingest_source
from cae.warehouse.sources.sample import read_sample_prices


def test_prepare_writes_history_and_one_file_per_day(tmp_path):
    waiting = prepare_replay(tmp_path, 2)
    assert [p.stem for p in waiting] == ["2010-08-19", "2010-08-20"]
    base = pl.read_csv(landing_dir(tmp_path) / BASE_FILE, try_parse_dates=True)
    dates = read_sample_prices()["date"].unique().sort()
    assert base["date"].max() == dates[-3]  # the session before the first replayed one
    day = pl.read_csv(waiting[0], try_parse_dates=True)
    assert day["date"].n_unique() == 1
    moved = release_day(tmp_path, waiting[0])
    assert moved.parent == landing_dir(tmp_path) and not waiting[0].exists()


def test_a_home_that_already_has_the_days_is_refused(tmp_path):
    with warehouse.connect(tmp_path) as con:
        ingest_source(con, "sample")
    with pytest.raises(ConfigError, match=r"already holds prices up to 2010-08-20"):
        prepare_replay(tmp_path, 3)


def test_replay_days_must_leave_history(tmp_path):
    with pytest.raises(ConfigError, match=r"replay days must be in 1\.\."):
        prepare_replay(tmp_path, 0)
