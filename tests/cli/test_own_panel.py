"""A researcher's own panel, end to end through the `cae` command (issue 12).

Each test starts from a fresh home, loads a panel generated here with `cae ingest-panel`, trains
with `cae train` (or `cae run`) and checks that the fitted rows are the file's rows.
"""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from cae import cli, warehouse
from cae.evaluation.windows import WindowPlan, plan_windows
from cae.panel import normalise_ranks, read_panel
from cae.runs import outputs

N_TICKERS = 30
N_MONTHS = 120
CHARS = ("c1", "c2", "c3")
FAST = ["--model", "ipca", "--model", "pca", "--epochs", "2", "--seeds", "1"]


def _month_ends(n: int) -> list[dt.date]:
    starts = pl.date_range(dt.date(2000, 1, 1), dt.date(2100, 1, 1), "1mo", eager=True)
    return starts.dt.month_end().head(n).to_list()


def _own_panel(seed: int = 0) -> pl.DataFrame:
    """N_TICKERS x N_MONTHS rows: 3 raw characteristics, returns loading on the first."""
    rng = np.random.default_rng(seed)
    n = N_TICKERS * N_MONTHS
    chars = {name: rng.normal(size=n) * (10**i) for i, name in enumerate(CHARS)}
    return pl.DataFrame(
        {
            "date": pl.Series(_month_ends(N_MONTHS)).gather(
                np.repeat(np.arange(N_MONTHS), N_TICKERS)
            ),
            "ticker": np.tile([f"U{i:02d}" for i in range(N_TICKERS)], N_MONTHS),
            "ret": 0.02 * chars["c1"] + 0.05 * rng.standard_t(5, size=n),
            **chars,
        }
    )


def _write_gkx_csv(frame: pl.DataFrame, path) -> None:
    """Write `frame` in GKX's datashare shape: permno, DATE as YYYYMMDD, RET."""
    frame.with_columns(
        pl.col("ticker").str.slice(1).cast(pl.Int64).add(10000).alias("permno"),
        pl.col("date").dt.strftime("%Y%m%d").alias("DATE"),
        pl.col("ret").alias("RET"),
    ).select("permno", "DATE", "RET", *CHARS).write_csv(path)


def _cae(home, *argv) -> None:
    assert cli.main([*argv, "--home", str(home)]) == 0


def _fitted(home) -> pl.DataFrame:
    runs = outputs.read_table(home, "runs").sort("created_at")
    return outputs.read_table(home, "fitted", runs["run_id"][-1])


def _assert_trained_on(home, panel: pl.DataFrame) -> None:
    """Every fitted row is a row of `panel`, with its date, ticker and next-period return."""
    fitted = _fitted(home).select("date", "ticker", "model", "ret")
    assert set(fitted["model"]) == {"ipca", "pca"}
    expected = panel.sort("ticker", "date").with_columns(
        pl.col("ret").shift(-1).over("ticker").alias("ret_fwd")
    )
    joined = fitted.join(expected, on=["date", "ticker"], how="left")
    assert joined["ret_fwd"].null_count() == 0  # no fitted row outside the file
    # The models fit in float32: the file's returns to its precision.
    assert joined["ret"].to_list() == pytest.approx(joined["ret_fwd"].to_list(), rel=1e-6)
    assert set(fitted["ticker"]) == set(panel["ticker"])
    # GKX's split at 60,24,12: testing starts after 84 months and runs to the file's end.
    tested = fitted["date"].unique().sort()
    assert tested[0] == _month_ends(N_MONTHS)[84]
    assert tested[-1] == _month_ends(N_MONTHS)[-2]  # the last month has no next return


def _own_table_rows(home, freq: str = "monthly") -> int:
    with warehouse.connect(home, read_only=True) as con:
        table = f"characteristics_own_{freq}"
        return con.sql(f"select count(*) from {table}").fetchall()[0][0]


def test_train_uses_the_ingested_monthly_panel_and_keeps_it(tmp_path, capsys):
    home, path = tmp_path / "home", tmp_path / "gkx.csv"
    panel = _own_panel()
    _write_gkx_csv(panel, path)
    _cae(home, "ingest-panel", str(path), "--freq", "monthly", "--map", "permno=ticker",
         "--map", "DATE=date", "--map", "RET=ret")  # fmt: skip
    panel = panel.with_columns(
        (pl.col("ticker").str.slice(1).cast(pl.Int64) + 10000).cast(pl.Utf8).alias("ticker")
    )
    _cae(home, "train", "--freq", "monthly", "--windows", "60,24,12", *FAST)
    out = capsys.readouterr().out
    assert f"training on your panel characteristics_own_monthly, loaded from {path}" in out
    _assert_trained_on(home, panel)
    assert _own_table_rows(home) == N_TICKERS * N_MONTHS
    runs = outputs.read_table(home, "runs")
    assert '"panel": "own"' in runs["config_json"][0]


def test_status_says_which_panel_the_last_run_used(tmp_path, capsys):
    home, path = tmp_path / "home", tmp_path / "panel.csv"
    _own_panel().write_csv(path)
    _cae(home, "ingest-panel", str(path), "--freq", "monthly")
    _cae(home, "train", "--freq", "monthly", "--windows", "60,24,12", *FAST)
    capsys.readouterr()
    _cae(home, "status")
    out = capsys.readouterr().out
    assert "last run" in out
    assert out.split("last run")[1].strip().endswith("trained on characteristics_own_monthly")
    assert "own_monthly" in out.split("last run")[0]  # the panels table
    assert "panel.csv" in out
    _cae(home, "evaluate")
    assert "trained on characteristics_own_monthly" in capsys.readouterr().out


def test_own_and_price_panels_live_side_by_side(tmp_path, capsys):
    """With prices in the home too, auto trains on the user's panel; --panel prices on the other.

    At weekly: 300 synthetic sessions make 60 weeks, enough for a price-built panel to train on.
    """
    home, path = tmp_path / "home", tmp_path / "panel.csv"
    _cae(home, "synth", "--tickers", "30", "--days", "300")
    _cae(home, "build-panel", "--freq", "weekly")
    panel = _own_panel()
    panel.write_csv(path)
    _cae(home, "ingest-panel", str(path), "--freq", "weekly")
    capsys.readouterr()
    _cae(home, "train", "--freq", "weekly", "--windows", "60,24,12", *FAST)
    assert "training on your panel characteristics_own_weekly" in capsys.readouterr().out
    _assert_trained_on(home, panel)
    with warehouse.connect(home, read_only=True) as con:
        tables = {row[0] for row in con.sql("select table_name from duckdb_tables()").fetchall()}
    assert {"characteristics_own_weekly", "characteristics_weekly"} <= tables
    _cae(home, "train", "--freq", "weekly", "--panel", "prices", "--windows", "20,8,8", *FAST)
    assert "training on characteristics_weekly, built from prices" in capsys.readouterr().out
    fitted = _fitted(home)
    assert fitted.height and not set(fitted["ticker"]) & set(panel["ticker"])
    assert _own_table_rows(home, "weekly") == N_TICKERS * N_MONTHS
    _cae(home, "status")
    assert "trained on characteristics_weekly" in capsys.readouterr().out


def test_panel_own_without_one_is_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    argv = ["train", "--freq", "monthly", "--panel", "own", "--home", str(home)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "no panel of yours at monthly" in err
    assert "Traceback" not in err


def test_own_panel_is_rank_normalised_like_a_computed_one(tmp_path):
    home, path = tmp_path / "home", tmp_path / "panel.csv"
    panel = _own_panel().with_columns(
        pl.when(pl.col("ticker") == "U03").then(None).otherwise(pl.col("c2")).alias("c2")
    )
    panel.write_csv(path)
    _cae(home, "ingest-panel", str(path), "--freq", "monthly")
    with warehouse.connect(home, read_only=True) as con:
        read = read_panel(con, "own_monthly")
    raw = panel.sort("date", "ticker").select("date", "ticker", *CHARS)
    expected = normalise_ranks(raw, CHARS)
    assert read.select("date", "ticker", *CHARS).equals(expected)
    assert read["c1"].min() > -1 and read["c1"].max() < 1


def test_gkx_split_of_60_24_12_on_a_monthly_panel():
    """Expanding training, 24 months of validation rolling forward, refit every 12 months."""
    dates = np.array(_month_ends(N_MONTHS), dtype="datetime64[D]")
    windows = plan_windows(WindowPlan(n_train=60, n_val=24, n_test=12), dates)
    assert len(windows) == 3
    for k, window in enumerate(windows):
        assert window.train == (0, 60 + 12 * k)
        assert window.val == (60 + 12 * k, 84 + 12 * k)
        assert window.test == (84 + 12 * k, 96 + 12 * k)


def test_run_trains_on_the_ingested_panel(tmp_path, capsys, monkeypatch):
    home, path = tmp_path / "home", tmp_path / "panel.csv"
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    panel = _own_panel()
    panel.write_csv(path)
    _cae(home, "ingest-panel", str(path), "--freq", "monthly")
    _cae(home, "run", "--freq", "monthly", "--windows", "60,24,12", "--workers", "1", *FAST)
    assert "training on your panel characteristics_own_monthly" in capsys.readouterr().out
    _assert_trained_on(home, panel)
    assert _own_table_rows(home) == N_TICKERS * N_MONTHS
    # No --source: a run on the user's panel loads no sample prices beside it.
    with warehouse.connect(home, read_only=True) as con:
        assert con.execute("select count(*) from prices").fetchone() == (0,)


def _as_before_own_tables(home) -> None:
    """Store the user's monthly panel where cae kept it before own tables."""
    with warehouse.connect(home) as con:
        con.execute("alter table characteristics_own_monthly rename to characteristics_monthly")
        con.execute("update panel_meta set freq = 'monthly' where freq = 'own_monthly'")


def test_a_panel_loaded_before_own_tables_is_trained_on_and_kept(tmp_path, capsys):
    home, path = tmp_path / "home", tmp_path / "panel.csv"
    panel = _own_panel()
    panel.write_csv(path)
    _cae(home, "ingest-panel", str(path), "--freq", "monthly")
    _as_before_own_tables(home)
    _cae(home, "train", "--freq", "monthly", "--windows", "60,24,12", *FAST)
    assert "training on your panel characteristics_own_monthly" in capsys.readouterr().out
    _assert_trained_on(home, panel)
    assert _own_table_rows(home) == N_TICKERS * N_MONTHS


def test_build_panel_moves_a_panel_loaded_before_own_tables(tmp_path, capsys):
    home, path = tmp_path / "home", tmp_path / "panel.csv"
    _own_panel().write_csv(path)
    _cae(home, "ingest-panel", str(path), "--freq", "monthly")
    _as_before_own_tables(home)
    _cae(home, "synth", "--tickers", "5", "--days", "70")
    capsys.readouterr()
    _cae(home, "build-panel", "--freq", "monthly")
    out = capsys.readouterr().out
    assert "moved to characteristics_own_monthly" in out
    assert _own_table_rows(home) == N_TICKERS * N_MONTHS
    with warehouse.connect(home, read_only=True) as con:
        meta = con.sql("select freq, source from panel_meta order by freq").fetchall()
    assert meta == [("monthly", "computed"), ("own_monthly", f"file:{path}")]


def test_a_map_of_a_missing_column_is_one_line_and_loads_nothing(tmp_path, capsys):
    home, path = tmp_path / "home", tmp_path / "gkx.csv"
    _write_gkx_csv(_own_panel(), path)
    argv = ["ingest-panel", str(path), "--map", "PERMNO=ticker", "--home", str(home)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: line 1: --map PERMNO=...: no column 'PERMNO'")
    assert "(rule map_column)" in err and "Traceback" not in err
    with warehouse.connect(home, read_only=True) as con:
        assert con.sql("select count(*) from panel_meta").fetchall() == [(0,)]
