import re

from cae import warehouse
from cae.runs import versions


def test_data_version_follows_ingest_batches_that_change_prices(tmp_path):
    con = warehouse.connect(tmp_path)
    empty = versions.data_version(con)
    assert empty == "batch-0-n0-d41d8cd98f00"  # md5 of the empty string
    con.execute(
        "insert into ingest_batches (source, file, sha256, rows_new, rows_changed, started_at, "
        "status) values ('sample', 'a.csv', 'abc', 5, 0, now(), 'succeeded')"
    )
    first = versions.data_version(con)
    assert first.startswith("batch-1-n1-") and first != empty
    con.execute("update ingest_batches set rows_changed = 2")
    changed = versions.data_version(con)
    assert changed not in (empty, first)
    # A re-ingest that changed nothing (a scheduled run with no new data) keeps the version.
    con.execute(
        "insert into ingest_batches (source, file, sha256, rows_new, rows_changed, started_at, "
        "status) values ('sample', 'a.csv', 'abc', 0, 0, now(), 'succeeded')"
    )
    assert versions.data_version(con) == changed


def test_code_version_names_package_and_commit():
    version = versions.code_version()
    assert re.fullmatch(r"0\.1\.0\+g[0-9a-f]{4,40}(\.dirty)?", version)


def test_fit_code_version_hashes_the_fitting_modules(tmp_path, monkeypatch):
    version = versions.fit_code_version()
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    # A copy of the package with one model file changed hashes differently; its CLI does not count.
    import shutil
    from pathlib import Path

    copy = tmp_path / "cae"
    shutil.copytree(Path(versions.__file__).parents[1], copy, symlinks=True)
    monkeypatch.setattr(versions, "__file__", str(copy / "runs" / "versions.py"))
    versions.fit_code_version.cache_clear()
    try:
        assert versions.fit_code_version() == version
        (copy / "cli" / "__init__.py").write_text("# changed\n")
        assert versions.fit_code_version.__wrapped__() == version
        with (copy / "models" / "ipca.py").open("a") as f:
            f.write("# changed\n")
        assert versions.fit_code_version.__wrapped__() != version
    finally:
        versions.fit_code_version.cache_clear()
