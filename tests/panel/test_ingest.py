import datetime as dt

import polars as pl
import pytest

from cae import warehouse
from cae.errors import DataError, FileFormatError, ValidationError
from cae.panel import characteristic_names, ingest_panel, read_panel
from cae.panel.ingest import PanelSize
from cae.panel.store import FILE_LINE, validate_panel


def _user_panel():
    return pl.DataFrame(
        {
            "date": ["19570131"] * 3 + ["19570228"] * 3,
            "ticker": [10001, 10002, 10003] * 2,
            "ret": [0.01, -0.02, 0.03, 0.04, 0.00, -0.01],
            "bm": [0.5, 1.5, None, 0.7, 0.2, 0.9],
            "agr": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


def test_user_panel_is_read_like_a_computed_one(cae_home, tmp_path):
    path = tmp_path / "panel.csv"
    _user_panel().write_csv(path)
    con = warehouse.connect()
    assert ingest_panel(con, path, "monthly") == (PanelSize(6, 2), None)
    assert characteristic_names(con, "own_monthly") == ["bm", "agr"]
    panel = read_panel(con, "own_monthly")
    assert panel.columns == ["date", "ticker", "ret", "ret_fwd", "bm", "agr"]
    first = panel.filter(pl.col("date") == dt.date(1957, 1, 31))
    assert first["ret_fwd"].to_list() == [0.04, 0.00, -0.01]  # next date's ret in the file
    assert first["bm"].to_list() == pytest.approx([-1 / 3, 1 / 3, 0.0])  # missing -> 0
    assert panel.filter(pl.col("date") == dt.date(1957, 2, 28))["ret_fwd"].null_count() == 3


def test_user_panel_with_a_huge_return_names_the_row(cae_home, tmp_path):
    path = tmp_path / "panel.csv"
    _user_panel().with_columns(
        pl.when(pl.col("ticker") == 10002).then(15.0).otherwise(pl.col("ret")).alias("ret")
    ).write_csv(path)
    with pytest.raises(
        DataError, match=r"panel\.csv: line 3: ret '15\.0' is beyond .*; 1 more line\(s\)"
    ):
        ingest_panel(warehouse.connect(), path)


def test_user_panel_rules_name_file_line_and_column(cae_home, tmp_path):
    path = tmp_path / "panel.csv"
    _user_panel().drop("ret").write_csv(path)
    with pytest.raises(
        FileFormatError, match=r"panel\.csv: line 1: missing required column\(s\) ret"
    ):
        ingest_panel(warehouse.connect(), path)
    _user_panel().with_columns(pl.col("bm").cast(pl.Utf8).fill_null("n/a")).write_csv(path)
    with pytest.raises(DataError, match=r"panel\.csv: line 4: bm 'n/a' is not a number"):
        ingest_panel(warehouse.connect(), path)
    pl.concat([_user_panel(), _user_panel().head(1)]).write_csv(path)
    with pytest.raises(DataError, match=r"panel\.csv: line 8: .* repeats line 2 \(rule unique\)"):
        ingest_panel(warehouse.connect(), path)


def test_cli_ingest_panel_reports_rows_and_characteristics(cae_home, tmp_path, capsys):
    from cae.cli import main

    path = tmp_path / "panel.parquet"
    _user_panel().write_parquet(path)
    assert main(["ingest-panel", str(path), "--freq", "weekly"]) == 0
    assert (
        "characteristics_own_weekly: 6 rows over 2 dates, 2 characteristics"
        in capsys.readouterr().out
    )


def test_validation_names_the_file_line_not_the_sorted_position():
    frame = pl.DataFrame(
        {
            FILE_LINE: [3, 2],
            "date": [dt.date(2020, 1, 31), dt.date(2020, 2, 29)],
            "ticker": ["A", "A"],
            "ret": [0.0, 20.0],
            "ret_fwd": [None, None],
        },
        schema_overrides={"ret_fwd": pl.Float64},
    )
    with pytest.raises(ValidationError, match=r"p\.csv: 1 failure\(s\): line 2 ret: in_range"):
        validate_panel(frame, source="p.csv")
    with pytest.raises(ValidationError, match=r"row 1 ret: in_range"):
        validate_panel(frame.drop(FILE_LINE), source="p.csv")
