"""The warehouse's published version: what readers see, what each publish rewrites, and that
incremental publishing after daily updates equals publishing everything at once."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from cae import cli, warehouse
from cae.home import Home
from cae.runs import catalog
from cae.warehouse import published
from cae.warehouse.ingest import ingest_source
from tests.support.holder import warehouse_held
from tests.support.pipeline_fixtures import market_prices, write_prices

REPO = Path(__file__).resolve().parents[2]


def _published_frame(home, table):
    manifest = published.read_manifest(home)
    files = [str(Home.of(home).published / path) for path in manifest.files(table)]
    return pl.read_parquet(files) if files else None


def _warehouse_tables(home):
    with warehouse.connect(home, read_only=True) as con:
        names = [row[0] for row in warehouse.run_sql(con, "published#tables").fetchall()]
        return {name: con.sql(f'select * from "{name}"').pl() for name in names}


def _sorted(frame):
    return frame.sort(frame.columns, nulls_last=True)


def _assert_published_equals_warehouse(home):
    manifest = published.read_manifest(home)
    tables = _warehouse_tables(home)
    assert set(manifest.tables) == set(tables)
    for name, frame in tables.items():
        assert manifest.rows(name) == frame.height, name
        shown = _published_frame(home, name)
        if frame.height:
            assert _sorted(shown).equals(_sorted(frame)), name


@pytest.fixture
def days(tmp_path):
    """The synthetic market as one CSV file per session, oldest first."""
    prices = market_prices()
    dates = prices["date"].unique().sort().to_list()
    return [
        write_prices(prices.filter(pl.col("date") == day), tmp_path / "days" / f"{day}.csv")
        for day in dates
    ]


def _ingest(home, *paths):
    assert cli.main(["ingest", *map(str, paths), "--home", str(home)]) == 0


def test_daily_updates_publish_what_a_full_publish_would(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:-4])
    assert cli.main(["build-panel", "--freq", "daily", "--home", str(home)]) == 0
    for day in days[-4:]:
        _ingest(home, day)
        assert cli.main(["build-panel", "--freq", "daily", "--home", str(home)]) == 0
    _assert_published_equals_warehouse(home)
    incremental = published.read_manifest(home)
    # Publishing everything at once from the same warehouse gives the same rows.
    shutil.rmtree(Home.of(home).published)
    with warehouse.connect(home) as con:
        full = published.publish(con, home)
    assert full.version == 1 < incremental.version
    for name in full.tables:
        assert full.rows(name) == incremental.rows(name), name
    _assert_published_equals_warehouse(home)


def test_a_new_day_rewrites_only_its_month_and_nothing_changed_is_no_new_version(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:-1])
    before = published.read_manifest(home)
    _ingest(home, days[-1])
    after = published.read_manifest(home)
    assert after.version == before.version + 1
    old, new = before.tables["prices"]["files"], after.tables["prices"]["files"]
    changed = {period for period in new if old.get(period) != new[period]}
    last_month = days[-1].stem[:7]
    assert changed == {last_month}
    assert after.rows("prices") == before.rows("prices") + pl.read_csv(days[-1]).height
    # Re-ingesting the same file changes no row: the version stays.
    _ingest(home, days[-1])
    assert published.read_manifest(home).version == after.version + 1  # its batch row
    with warehouse.connect(home) as con:
        assert published.publish(con, home).version == after.version + 1


def test_readers_see_the_published_version_until_the_writer_publishes(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:10])
    shown = catalog.query(home, "select count(*) from prices").item()
    with warehouse.connect(home) as con:
        # As a command stopped between its commit and its publish.
        ingest_source(con, [str(days[10])])
        assert catalog.query(home, "select count(*) from prices").item() == shown
    # The next command publishes it, whatever it is.
    assert cli.main(["build-panel", "--freq", "weekly", "--home", str(home)]) == 0
    grown = shown + pl.read_csv(days[10]).height
    assert catalog.query(home, "select count(*) from prices").item() == grown


def test_panel_changes_are_marked_in_their_transaction_and_published(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:-2])
    assert cli.main(["build-panel", "--freq", "daily", "--home", str(home)]) == 0
    first = published.read_manifest(home).tables["characteristics_daily"]["files"]
    _ingest(home, days[-2])
    assert cli.main(["build-panel", "--freq", "daily", "--home", str(home)]) == 0
    second = published.read_manifest(home).tables["characteristics_daily"]["files"]
    changed = {p for p in second if first.get(p) != second[p]}
    assert changed and changed <= {days[-2].stem[:7], days[-3].stem[:7]}
    with warehouse.connect(home, read_only=True) as con:
        assert warehouse.run_sql(con, "published#marks").fetchall() == []
    _assert_published_equals_warehouse(home)


def test_replaced_files_stay_for_readers_then_go(days, tmp_path, monkeypatch):
    home = tmp_path / "home"
    _ingest(home, *days[:-1])
    old = published.read_manifest(home).files("prices")
    _ingest(home, days[-1])
    folder = Home.of(home).published
    assert all((folder / path).is_file() for path in old)  # a reader may still read them
    monkeypatch.setattr(published, "RETAIN_SECONDS", 0)
    with warehouse.connect(home) as con:
        con.execute("insert into tickers (ticker, source) values ('NEW', 'test')")
        manifest = published.publish(con, home)
    listed = {p for t in manifest.tables for p in manifest.files(t)}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")}
    # Only what this version lists, and the tickers file it just replaced.
    assert on_disk == listed | {r["path"] for r in manifest.retired}
    assert [r["path"].split("/")[0] for r in manifest.retired] == ["tickers"]
    assert not any((folder / path).exists() for path in set(old) - listed)


def test_a_query_reads_one_version_even_if_the_writer_publishes_meanwhile(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:5])
    with catalog.connect(home) as reader:
        first = reader.sql("select count(*) from prices").fetchall()[0][0]
        _ingest(home, days[5])
        assert reader.sql("select count(*) from prices").fetchall()[0][0] == first
    assert catalog.query(home, "select count(*) from prices").item() > first


def test_the_published_layout_reads_in_polars_and_duckdb_from_the_manifest(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:5])
    folder = Home.of(home).published
    files = [str(folder / p) for p in published.read_manifest(home).files("prices")]
    by_polars = pl.scan_parquet(files).select(pl.len()).collect().item()
    by_duckdb = duckdb.sql(f"select count(*) from read_parquet({files})").fetchall()[0][0]
    assert by_polars == by_duckdb == published.read_manifest(home).rows("prices") > 0


# Ingests each file given, one `cae ingest` each, and records after each the published rows of
# prices and ingest_batches (what a reader may see from then on).
_WRITER = """
import json, sys
from cae import cli
from cae.warehouse import published
home, out, *files = sys.argv[1:]
seen = []
for path in files:
    code = cli.main(["ingest", path, "--home", home])
    manifest = published.read_manifest(home)
    seen.append([code, manifest.rows("prices"), manifest.rows("ingest_batches")])
    open(out, "w").write(json.dumps(seen))
"""


@pytest.mark.timeout(300)
def test_a_reader_during_daily_ingests_always_sees_one_whole_version(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:100])
    start = published.read_manifest(home)
    seen = {(start.rows("prices"), start.rows("ingest_batches"))}
    out = tmp_path / "writer.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(home), str(out), *map(str, days[100:115])],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    answers = []
    both = "select (select count(*) from prices), (select count(*) from ingest_batches)"
    while writer.poll() is None:
        answers.append(catalog.query(home, both).row(0))
    assert writer.returncode == 0
    written = json.loads(out.read_text())
    assert [code for code, *_ in written] == [0] * 15
    seen |= {(p, b) for _, p, b in written}
    assert len(answers) >= 5
    assert set(answers) <= seen  # every answer is one published version, never a mix


def test_status_and_sql_say_which_version_they_show_and_what_waits(days, tmp_path, capsys):
    home = tmp_path / "home"
    _ingest(home, *days[:5])
    version = published.read_manifest(home).version
    capsys.readouterr()
    assert cli.main(["status", "--home", str(home)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"showing published version {version} (" in out
    assert "; nothing committed since" in out
    with warehouse.connect(home) as con:
        ingest_source(con, [str(days[5])])  # committed; its command stopped before publishing
    assert cli.main(["status", "--home", str(home)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"showing published version {version} (" in out
    assert "1 ingest batch(es) committed by a command that stopped before publishing them" in out
    query = ["sql", "select ticker, count(*) as n from prices group by ticker", "--home"]
    assert cli.main([*query, str(home)]) == 0
    assert f"warehouse tables as published in version {version} (" in capsys.readouterr().out


def test_status_while_a_writer_holds_the_warehouse_shows_the_published_version(
    days, tmp_path, capsys
):
    home = tmp_path / "home"
    _ingest(home, *days[:5])
    version = published.read_manifest(home).version
    with warehouse_held(Home.of(home).warehouse):
        capsys.readouterr()
        assert cli.main(["status", "--home", str(home)]) == 0
        out = " ".join(capsys.readouterr().out.split())
    assert f"showing published version {version} (" in out
    assert "a command is writing the warehouse now and publishes when it is done" in out
    rows = published.read_manifest(home).rows("prices")
    assert re.search(rf"prices rows tickers first_date last_date .* {rows} ", out)


def test_a_damaged_manifest_is_one_line_and_the_next_writer_publishes_again(days, tmp_path, capsys):
    home = tmp_path / "home"
    _ingest(home, *days[:5])
    manifest = Home.of(home).published / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])  # cut short
    capsys.readouterr()
    assert cli.main(["sql", "select count(*) from prices", "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"the published warehouse {manifest} is unreadable" in err
    _ingest(home, days[5])
    _assert_published_equals_warehouse(home)


def test_a_replaced_warehouse_is_published_whole_not_mixed_with_the_old_one(days, tmp_path):
    home = tmp_path / "home"
    _ingest(home, *days[:20])
    Home.of(home).warehouse.unlink()  # a new warehouse (or a restored older one), same outputs
    _ingest(home, *days[30:32])
    _assert_published_equals_warehouse(home)
    assert catalog.query(home, "select count(distinct date) from prices").item() == 2


def test_a_build_with_nothing_new_leaves_the_panel_and_the_published_version(
    days, tmp_path, capsys
):
    home = tmp_path / "home"
    _ingest(home, *days[:60])
    build = ["build-panel", "--freq", "daily", "--home", str(home)]
    assert cli.main(build) == 0
    version = published.read_manifest(home).version
    capsys.readouterr()
    assert cli.main(build) == 0
    assert "characteristics_daily: up to date" in capsys.readouterr().out
    assert published.read_manifest(home).version == version
    _ingest(home, days[60])  # something new: built and published again
    assert cli.main(build) == 0
    assert "rows over" in capsys.readouterr().out
    _assert_published_equals_warehouse(home)
