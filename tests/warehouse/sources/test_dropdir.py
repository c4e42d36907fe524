import os
import time

import pytest

from cae import warehouse
from cae.errors import FileFormatError
from cae.warehouse import ingest
from cae.warehouse.sources.dropdir import pending_files

ROWS = "ticker,date,close\nAAA,2020-01-02,10\nAAA,2020-01-03,11\n"


def settled(path, text):
    path.write_text(text)
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


@pytest.fixture
def con(cae_home):
    connection = warehouse.connect()
    yield connection
    connection.close()


def test_partial_hidden_and_other_files_are_skipped(tmp_path):
    for name in ["a.csv", "b.csv.tmp", "c.parquet.part", ".d.csv", "notes.md"]:
        settled(tmp_path / name, ROWS)
    assert [p.name for p, _ in pending_files(tmp_path, set())] == ["a.csv"]


def test_a_still_growing_file_waits(tmp_path):
    (tmp_path / "fresh.csv").write_text(ROWS)
    settled(tmp_path / "old.csv", ROWS)
    assert [p.name for p, _ in pending_files(tmp_path, set(), min_age_seconds=30)] == ["old.csv"]


def test_each_file_is_ingested_once_and_a_changed_file_again(con, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    path = settled(landing / "prices.csv", ROWS)
    (first,) = ingest.ingest_dropdir(con, landing)
    assert (first.rows_new, first.source) == (2, "dropdir")
    assert ingest.ingest_dropdir(con, landing) == []
    settled(path, ROWS.replace("AAA,2020-01-03,11", "AAA,2020-01-03,11.5"))
    (second,) = ingest.ingest_dropdir(con, landing)
    assert (second.rows_new, second.rows_changed) == (0, 1)
    hashes = con.execute("select sha256 from ingest_batches order by batch_id").fetchall()
    assert len({h for (h,) in hashes}) == 2
    assert con.execute("select close from prices where date = '2020-01-03'").fetchone() == (11.5,)


def test_a_copy_of_an_ingested_file_is_skipped(con, tmp_path):
    settled(tmp_path / "a.csv", ROWS)
    ingest.ingest_dropdir(con, tmp_path)
    settled(tmp_path / "copy.csv", ROWS)
    assert ingest.ingest_dropdir(con, tmp_path) == []


def test_a_bad_file_is_named_and_does_not_hold_back_the_others(con, tmp_path):
    settled(tmp_path / "a.csv", "")
    settled(tmp_path / "b.csv", ROWS)
    expected = (
        r"1 unreadable file\(s\) .* \(1 other file\(s\) ingested\): "
        r".*a\.csv: the file is empty"
    )
    with pytest.raises(FileFormatError, match=expected):
        ingest.ingest_dropdir(con, tmp_path)
    assert con.execute("select file from ingest_batches").fetchall() == [(str(tmp_path / "b.csv"),)]
    with pytest.raises(FileFormatError, match=r"^\S*a\.csv: the file is empty"):
        ingest.ingest_dropdir(con, tmp_path)
