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


def test_read_only_connection_cannot_write(cae_home):
    warehouse.connect().close()
    con = warehouse.connect(read_only=True)
    with pytest.raises(duckdb.Error):
        con.execute("insert into tickers (ticker, source) values ('X', 't')")


def test_schema_version_reads_a_read_only_warehouse(cae_home):
    warehouse.connect().close()
    con = warehouse.connect(read_only=True)
    assert warehouse.schema_version(con) == len(warehouse.db._migration_names())
