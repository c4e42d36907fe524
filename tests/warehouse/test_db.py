import duckdb
import pytest

from cae import warehouse


def test_new_warehouse_gets_every_migration(cae_home):
    con = warehouse.connect()
    tables = {row[0] for row in con.execute("show tables").fetchall()}
    assert {"prices", "tickers", "ingest_batches", "rejected_rows"} <= tables
    assert warehouse.schema_version(con) == len(warehouse.db._migration_names())


def test_migrations_are_applied_once(cae_home):
    warehouse.connect().close()
    con = warehouse.connect()
    assert warehouse.apply_migrations(con) == []


def test_transaction_rolls_back_on_error(cae_home):
    con = warehouse.connect()
    with pytest.raises(RuntimeError, match="boom"), warehouse.transaction(con):
        con.execute("insert into tickers (ticker, source) values ('X', 't')")
        raise RuntimeError("boom")
    assert con.execute("select count(*) from tickers").fetchone()[0] == 0


def test_sql_files_ship_with_the_package():
    assert "create table prices" in warehouse.read_sql("migrations/0001_warehouse")
    with pytest.raises(FileNotFoundError, match=r"nope\.sql"):
        warehouse.read_sql("nope")


def test_a_named_block_reads_only_its_own_statement():
    text = warehouse.read_sql("prices#pending_drop")
    assert "drop table if exists prices_pending;" in text
    assert "insert" not in text and "-- name:" not in text


def test_an_unknown_block_names_the_file_and_its_blocks():
    with pytest.raises(
        LookupError,
        match=r"no SQL named settings#nope in sql/settings\.sql; its "
        r"blocks: settings#memory_limit_read, settings#memory_limit_set, "
        r"settings#returns_floor_set, settings#returns_floor_reset$",
    ):
        warehouse.read_sql("settings#nope")
    with pytest.raises(LookupError, match=r"daily_base#x in sql/daily_base\.sql; its blocks: none"):
        warehouse.read_sql("daily_base#x")


def test_a_file_of_named_blocks_cannot_be_run_whole():
    with pytest.raises(LookupError, match=r"no SQL named settings in sql/settings\.sql"):
        warehouse.read_sql("settings")


@pytest.fixture
def sql_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(warehouse.db, "sql_dir", lambda: tmp_path)
    return tmp_path


def test_run_sql_passes_only_the_parameters_its_block_mentions(sql_folder):
    (sql_folder / "t.sql").write_text(
        "-- t: a test file.\n\n-- name: one\n-- a.\nselect $a as a;\n\n"
        "-- name: two\n-- b.\nselect $b as b;\n"
    )
    con = duckdb.connect()
    params = {"a": 1, "b": 2, "c": 3}
    assert warehouse.run_sql(con, "t#one", params).fetchall() == [(1,)]
    assert warehouse.query_frame(con, "t#two", params)["b"].to_list() == [2]


def test_a_block_named_twice_is_refused(sql_folder):
    (sql_folder / "t.sql").write_text("-- name: one\nselect 1;\n-- name: one\nselect 2;\n")
    with pytest.raises(LookupError, match=r"sql/t\.sql names a block twice"):
        warehouse.read_sql("t#one")


def test_read_only_connection_cannot_write(cae_home):
    warehouse.connect().close()
    con = warehouse.connect(read_only=True)
    with pytest.raises(duckdb.Error):
        con.execute("insert into tickers (ticker, source) values ('X', 't')")


def test_schema_version_reads_a_read_only_warehouse(cae_home):
    warehouse.connect().close()
    con = warehouse.connect(read_only=True)
    assert warehouse.schema_version(con) == len(warehouse.db._migration_names())
