import re

from cae import versions, warehouse


def test_data_version_follows_ingest_batches(tmp_path):
    con = warehouse.connect(tmp_path)
    empty = versions.data_version(con)
    assert empty == "batch-0-n0-d41d8cd98f00"  # md5 of the empty string
    con.execute(
        "insert into ingest_batches (source, file, sha256, started_at, status) "
        "values ('sample', 'a.csv', 'abc', now(), 'succeeded')"
    )
    first = versions.data_version(con)
    assert first.startswith("batch-1-n1-") and first != empty
    con.execute("update ingest_batches set rows_new = 5")
    assert versions.data_version(con) not in (empty, first)


def test_code_version_names_package_and_commit():
    version = versions.code_version()
    assert re.fullmatch(r"0\.1\.0\+g[0-9a-f]{4,40}(\.dirty)?", version)
