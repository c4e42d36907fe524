import datetime as dt

import polars as pl
import pytest

from cae.errors import FileFormatError
from cae.warehouse.sources import files
from cae.warehouse.sources.files import FileOptions


def test_long_csv_keeps_text_and_numbers_rows_from_one(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Ticker,Date,Close,Volume\nAAA,2020-01-02,1.5,10\nBBB,2020-01-02,abc,\n")
    frame = files.read_price_file(path)
    assert frame.columns == ["row_number", "ticker", "date", "close", "volume"]
    assert frame["row_number"].to_list() == [1, 2]
    assert frame["close"].to_list() == ["1.5", "abc"]


def test_column_mapping_and_aliases(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Symbol,Day,Last,Adj Close\nAAA,2020-01-02,1.5,1.2\n")
    frame = files.read_price_file(path, FileOptions(columns={"Day": "date", "Last": "close"}))
    assert frame.columns == ["row_number", "ticker", "date", "close", "adj_close"]


def test_unknown_columns_are_dropped(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("ticker,date,close,comment\nAAA,2020-01-02,1.5,hello\n")
    assert "comment" not in files.read_price_file(path).columns


def test_wide_csv_becomes_long_and_skips_empty_cells(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("Date,AAA,BBB\n2020-01-02,1.0,\n2020-01-03,1.1,5.0\n")
    frame = files.read_price_file(path)
    assert frame.select("row_number", "date", "ticker", "close").rows() == [
        (1, "2020-01-02", "AAA", "1.0"),
        (2, "2020-01-03", "AAA", "1.1"),
        (2, "2020-01-03", "BBB", "5.0"),
    ]


def test_layout_long_without_ticker_names_the_missing_column(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("Date,AAA\n2020-01-02,1.0\n")
    with pytest.raises(FileFormatError, match=r"wide\.csv: missing required column\(s\) ticker"):
        files.read_price_file(path, FileOptions(layout="long"))


def test_parquet_long_keeps_types(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame(
        {"ticker": ["AAA"], "date": [dt.date(2020, 1, 2)], "close": [1.5], "volume": [10]}
    ).write_parquet(path)
    frame = files.read_price_file(path)
    assert frame.schema["date"] == pl.Date
    assert frame.schema["close"] == pl.Float64


def test_gzipped_csv_is_read(tmp_path):
    import gzip

    path = tmp_path / "p.csv.gz"
    path.write_bytes(gzip.compress(b"ticker,date,close\nAAA,2020-01-02,1.5\n"))
    assert files.read_price_file(path)["ticker"].to_list() == ["AAA"]


def test_globs_expand_in_order_without_duplicates(tmp_path):
    for name in ["b.csv", "a.csv", "c.txt"]:
        (tmp_path / name).write_text("x")
    found = files.expand_paths([str(tmp_path / "*.csv"), str(tmp_path / "a.csv")])
    assert [p.name for p in found] == ["a.csv", "b.csv"]


def test_a_longer_line_is_rejected_with_its_row_number(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("ticker,date,close\nAAA,2020-01-02,1.5,9,9\nBBB,2020-01-02,2\n")
    rows, rejects = files.read_price_rows(path)
    assert rows.select("row_number", "ticker").rows() == [(2, "BBB")]
    assert rejects.rows() == [
        (1, "AAA,2020-01-02,1.5,9,9", "field_count: 5 fields in a line, the header has 3")
    ]
    with pytest.raises(FileFormatError, match=r"ragged\.csv: row 1: field_count: 5 fields"):
        files.read_price_file(path)


def test_a_longer_line_with_a_quoted_line_break_refuses_the_file(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('ticker,date,close\n"A\nA",2020-01-02,1.5,9\n')
    with pytest.raises(FileFormatError, match=r"ragged\.csv: not a readable CSV \(found more"):
        files.read_price_rows(path)


def test_sha256_is_the_content_hash(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"abc")
    assert files.file_sha256(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_mapping_onto_an_existing_column_is_a_file_format_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("ticker,date,close,last\nAAA,2020-01-02,1.5,1.6\n")
    with pytest.raises(FileFormatError, match="column 'close' appears twice"):
        files.read_price_file(path, FileOptions(columns={"last": "close"}))


def test_two_spellings_of_one_column_are_a_file_format_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("ticker,date,Close,close\nAAA,2020-01-02,1.5,1.6\n")
    with pytest.raises(FileFormatError, match="column 'close' appears twice"):
        files.read_price_file(path)


def test_broken_gzip_is_a_file_format_error(tmp_path):
    path = tmp_path / "p.csv.gz"
    path.write_bytes(b"ticker,date,close\nAAA,2020-01-02,1.5\n")
    with pytest.raises(FileFormatError, match=r"p\.csv\.gz: not a readable gzip file"):
        files.read_price_file(path)


def test_a_folder_stands_for_its_price_files(tmp_path):
    for name in ["b.parquet", "a.csv", "notes.md"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in files.expand_paths([tmp_path])] == ["a.csv", "b.parquet"]


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileFormatError, match=r"folder holds no \.csv/\.parquet files"):
        files.expand_paths([tmp_path])


def test_a_row_number_column_in_the_file_gives_way(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("row_number,ticker,date,close\n7,AAA,2020-01-02,1.5\n")
    assert files.read_price_file(path)["row_number"].to_list() == [1]
