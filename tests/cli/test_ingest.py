import json
import os

import polars as pl
import pytest

from cae import cli
from cae.home import Home

GOOD = "ticker,date,open,high,low,close,volume\nAAA,2020-01-02,10,11,9,10.5,1000\n"


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("sample_home")
    assert cli.main(["ingest", "sample", "--home", str(home)]) == 0
    return home


def test_sample_ingest_then_status_prints_the_sample(sample_home, capsys):
    assert cli.main(["status", "--home", str(sample_home)]) == 0
    out = capsys.readouterr().out
    assert "122574" in out
    assert "2009-08-21" in out
    assert "2010-08-20" in out
    assert "no rejected rows" in out
    assert f"warehouse {sample_home}" in out


def test_second_sample_ingest_reports_zero_new(sample_home, capsys):
    assert cli.main(["ingest", "sample", "--home", str(sample_home)]) == 0
    assert "0 new rows, 0 changed, 0 rejected" in capsys.readouterr().out


def test_sql_count_prints_the_bare_number(sample_home, capsys):
    assert cli.main(["sql", "select count(*) from prices", "--home", str(sample_home)]) == 0
    assert capsys.readouterr().out.strip() == "122574"


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_sql_writes_each_format(sample_home, tmp_path, fmt):
    out = tmp_path / f"tickers.{fmt}"
    query = "select ticker, count(*) as n from prices group by ticker order by ticker limit 3"
    argv = ["sql", query, "--format", fmt, "--output", str(out), "--home", str(sample_home)]
    assert cli.main(argv) == 0
    frame = {"csv": pl.read_csv, "json": pl.read_json, "parquet": pl.read_parquet}[fmt](out)
    assert frame.columns == ["ticker", "n"]
    assert frame.height == 3


def test_sql_csv_to_stdout(sample_home, capsys):
    query = "select ticker from tickers where ticker = 'MMM'"
    assert cli.main(["sql", query, "--format", "csv", "--home", str(sample_home)]) == 0
    assert capsys.readouterr().out == "ticker\nMMM\n"


def test_sql_json_to_stdout(sample_home, capsys):
    query = "select 1 as a"
    assert cli.main(["sql", query, "--format", "json", "--home", str(sample_home)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"a": 1}]


def test_sql_rounds_floats_and_shows_null_on_a_fresh_home(tmp_path, capsys):
    query = "select 0.5548391234::double as r2, null as missing, 1234567.891::double as big, 'x'"
    assert cli.main(["sql", query, "--home", str(tmp_path / "home")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["0.554839", "null", "1234570.0", "x"]
    assert cli.main(["sql", "select null", "--home", str(tmp_path / "home")]) == 0
    assert capsys.readouterr().out == "null\n"


def test_sql_never_cuts_a_value_of_a_row_wider_than_the_screen(tmp_path, capsys):
    names = [f"r2_column_{i}" for i in range(12)]
    query = "select " + ", ".join(f"0.5548391234::double as {name}" for name in names)
    assert cli.main(["sql", query, "--home", str(tmp_path / "home")]) == 0
    header, _, values = capsys.readouterr().out.splitlines()
    assert header.split() == names
    assert values.split() == ["0.554839"] * len(names)


def test_sql_error_is_one_line(sample_home, capsys):
    assert cli.main(["sql", "select * from nope", "--home", str(sample_home)]) == 1
    err = capsys.readouterr().err
    assert "query failed" in err
    assert "nope" in err
    assert "Traceback" not in err


def test_sql_cannot_write(sample_home, capsys):
    count = ["sql", "select count(*) as n from prices", "--format", "csv", "--home"]
    assert cli.main([*count, str(sample_home)]) == 0
    before = capsys.readouterr().out
    assert cli.main(["sql", "delete from prices", "--home", str(sample_home)]) == 1
    assert "Can only delete from base table" in capsys.readouterr().err
    assert cli.main(["sql", "create table x as select 1", "--home", str(sample_home)]) == 1
    assert "read-only" in capsys.readouterr().err
    assert cli.main([*count, str(sample_home)]) == 0
    assert capsys.readouterr().out == before


def test_parquet_format_needs_output(sample_home, capsys):
    assert cli.main(["sql", "select 1", "--format", "parquet", "--home", str(sample_home)]) == 1
    assert "--format parquet needs --output FILE" in capsys.readouterr().err


def test_ingest_file_with_rejects_points_to_them(tmp_path, capsys):
    path = tmp_path / "p.csv"
    path.write_text(GOOD + "BBB,2020-01-02,10,11,9,-1,5\n")
    assert cli.main(["ingest", str(path), "--home", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    assert "1 new rows, 0 changed, 1 rejected" in out
    assert "select * from rejected_rows where batch_id = 1" in out


def test_ingest_with_column_mapping_and_date_format(tmp_path, capsys):
    path = tmp_path / "p.csv"
    path.write_text("Symbol,Day,Last\nAAA,02/01/2020,10.5\nAAA,03/01/2020,10.7\n")
    home = tmp_path / "h"
    argv = ["ingest", str(path), "--map", "Day=date", "--map", "Last=close"]
    assert cli.main([*argv, "--date-format", "%d/%m/%Y", "--home", str(home)]) == 0
    capsys.readouterr()
    assert cli.main(["sql", "select max(date) from prices", "--home", str(home)]) == 0
    assert capsys.readouterr().out.strip() == "2020-01-03"


def test_unreadable_file_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert cli.main(["ingest", str(path), "--home", str(tmp_path / "h")]) == 1
    err = capsys.readouterr().err
    assert "empty.csv: the file is empty" in err
    assert "Traceback" not in err


def test_bad_map_option_is_a_config_error(tmp_path, capsys):
    argv = ["ingest", "x.csv", "--map", "oops", "--home", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "expected SOURCE=COLUMN" in capsys.readouterr().err


def test_dropdir_option_ingests_then_skips(tmp_path, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text(GOOD)
    home = str(tmp_path / "h")
    os.utime(landing / "a.csv", (0, 0))
    assert cli.main(["ingest", "--dropdir", str(landing), "--home", home]) == 0
    assert "1 new rows" in capsys.readouterr().out
    assert cli.main(["ingest", "--dropdir", str(landing), "--home", home]) == 0
    assert "nothing to ingest" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["ingest", "status", "sql", "run"])
def test_each_command_has_help(command, capsys):
    assert cli.main([command, "--help"]) == 0
    assert "--home" in capsys.readouterr().out


def test_a_locked_warehouse_is_a_one_line_error(tmp_path, capsys):
    import subprocess
    import sys

    from cae import warehouse

    home = tmp_path / "locked"
    warehouse.connect(home).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(30)",
            str(Home.of(home).warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert cli.main(["status", "--home", str(home)]) == 1
        # Queries read the published version, so a busy warehouse does not stop them.
        assert cli.main(["sql", "select 42", "--home", str(home)]) == 0
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "cannot open" in err
    assert "lock" in err
    assert "Traceback" not in err


def test_sql_output_suffix_picks_the_format(sample_home, tmp_path):
    out = tmp_path / "count.parquet"
    argv = ["sql", "select count(*) as n from prices", "--output", str(out)]
    assert cli.main([*argv, "--home", str(sample_home)]) == 0
    assert pl.read_parquet(out)["n"].to_list() == [122574]


def test_status_counts_rejects_by_rule(tmp_path, capsys):
    path = tmp_path / "p.csv"
    path.write_text(GOOD + "BBB,2020-01-02,10,11,9,-1,5\nCCC,2020-01-02,10,11,9,-2,5\n")
    home = str(tmp_path / "h")
    assert cli.main(["ingest", str(path), "--home", home]) == 0
    capsys.readouterr()
    assert cli.main(["status", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "rejected rows by rule" in out
    assert "price_positive" in out


def test_sql_table_prints_brackets_literally(tmp_path, capsys):
    path = tmp_path / "p.csv"
    path.write_text(GOOD + "BBB,2020-01-02,10,10.5,9,11,5\nCCC,2020-01-02,10,11,9,[bold]x,5\n")
    home = str(tmp_path / "h")
    assert cli.main(["ingest", str(path), "--home", home]) == 0
    capsys.readouterr()
    query = "select reason from rejected_rows order by row_number"
    assert cli.main(["sql", query, "--home", home]) == 0
    out = capsys.readouterr().out
    assert "within [low, high]" in out
    assert "'[bold]x' is not a number" in out


def test_error_text_with_brackets_prints_literally(tmp_path, capsys):
    path = tmp_path / "[bold]prices.csv"
    path.write_text("")
    assert cli.main(["ingest", str(path), "--home", str(tmp_path / "h")]) == 1
    assert "[bold]prices.csv: the file is empty" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["ingest", "status", "build-panel", "run", "train"])
def test_home_that_looks_like_an_option_is_refused(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    assert cli.main([command, "--home", "--help"]) == 2
    err = capsys.readouterr().err
    assert "looks like an option" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
