from pathlib import Path

from cae.home import DEFAULT_HOME, Home


def test_a_home_comes_from_the_argument_then_cae_home_then_data(tmp_path, monkeypatch):
    monkeypatch.delenv("CAE_HOME", raising=False)
    assert Home.of().root == DEFAULT_HOME == Path("data")
    monkeypatch.setenv("CAE_HOME", str(tmp_path / "env"))
    assert Home.of().root == tmp_path / "env"
    assert Home.of(tmp_path / "arg").root == tmp_path / "arg"
    home = Home.of(str(tmp_path))
    assert Home.of(home) is home


def test_everything_a_home_holds_lives_under_its_root(tmp_path):
    home = Home(tmp_path)
    places = [
        home.warehouse,
        home.partition("metrics", "r1"),
        home.catalog,
        home.snapshot,
        home.published,
        home.staged_run("r1"),
        home.scratch,
        home.report("r1"),
        home.plots("r1"),
        home.frozen_panel("daily", "v1"),
        home.window_cache("k"),
        home.landing,
        home.waiting,
    ]
    assert all(place.is_relative_to(tmp_path) for place in places)
    assert len(set(places)) == len(places)
    assert home.partition("metrics", "r1") == tmp_path / "outputs/metrics/run_id=r1/data.parquet"


def test_partitions_lists_published_runs_of_one_table_in_order(tmp_path):
    home = Home(tmp_path)
    for run_id in ("r2", "r1"):
        home.partition("metrics", run_id).parent.mkdir(parents=True)
        home.partition("metrics", run_id).write_bytes(b"")
    home.partition("fitted", "r3").parent.mkdir(parents=True)
    home.partition("fitted", "r3").write_bytes(b"")
    assert home.partitions("metrics") == [home.partition("metrics", r) for r in ("r1", "r2")]
