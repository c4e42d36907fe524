from datetime import date

import polars as pl
import pytest

from cae.runs import outputs, plots
from tests.support import fake_outputs as fake

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_cumulative_returns_match_a_running_sum_per_model_and_factor():
    factors = fake.factors()
    got = plots.cumulative_factor_returns(factors, fake.windows())
    for model in fake.MODELS:
        for k in fake.FACTORS:
            values = (
                factors.filter((pl.col("model") == model) & (pl.col("factor") == k))
                .sort("date")["value"]
                .to_list()
            )
            expected, total = [], 0.0
            for v in values:
                total += v
                expected.append(total)
            curve = got.filter((pl.col("model") == model) & (pl.col("factor") == k))
            assert curve["cumulative"].to_list() == pytest.approx(expected)


def test_cumulative_returns_ignore_dates_outside_test_blocks():
    factors = fake.factors()
    train_row = factors.head(1).with_columns(date=pl.lit(date(2019, 12, 1)), value=pl.lit(9.0))
    got = plots.cumulative_factor_returns(pl.concat([factors, train_row]), fake.windows())
    assert got["date"].min() == date(2020, 1, 1)
    assert got["value"].max() < 1.0
    # Without windows every row counts.
    assert plots.cumulative_factor_returns(pl.concat([factors, train_row]))["value"].max() == 9.0


def test_overlapping_test_blocks_take_the_latest_window():
    day = date(2020, 1, 3)
    factors = pl.DataFrame(
        {
            "window_id": [0, 1],
            "model": ["ca1"] * 2,
            "date": [day] * 2,
            "factor": [0, 0],
            "value": [0.5, 0.25],
            "lambda": [None, None],
        }
    )
    assert plots.cumulative_factor_returns(factors)["value"].to_list() == [0.25]


def test_beta_quantiles_match_numpy_per_model_and_factor():
    import numpy as np

    betas = fake.betas()
    got = plots.beta_quantiles(betas)
    assert got.height == len(fake.MODELS) * fake.N_FACTORS
    row = got.filter((pl.col("model") == "pca") & (pl.col("factor") == "f3")).row(0, named=True)
    values = betas.filter((pl.col("model") == "pca") & (pl.col("factor") == "f3"))[
        "beta"
    ].to_numpy()
    assert row["q25"] == pytest.approx(np.quantile(values, 0.25))
    assert row["q95"] == pytest.approx(np.quantile(values, 0.95))
    assert row["n"] == values.size


def test_r2_by_window_drops_pooled_rows_and_other_splits():
    got = plots.r2_by_window(fake.metrics())
    assert got.height == len(fake.MODELS) * len(fake.WINDOW_TEST_DATES)
    assert got.filter(pl.col("label") == "pca K=3")["r2_total"].to_list() == pytest.approx(
        [0.2, 0.21]
    )


@pytest.mark.parametrize(
    ("draw", "frame", "panels"),
    [
        (plots.plot_cumulative_factors, fake.factors, len(fake.MODELS)),
        (plots.plot_beta_distributions, fake.betas, len(fake.MODELS)),
        (plots.plot_r2_by_window, fake.metrics, 2),
    ],
)
def test_each_plot_writes_a_png_sized_by_its_panels(tmp_path, draw, frame, panels):
    path = draw(frame(), tmp_path / "p.png")
    width, height = _png_size(path)
    assert width == plots.PANEL_SIZE_IN[0] * plots.DPI
    assert height == plots.PANEL_SIZE_IN[1] * plots.DPI * panels


def test_write_plots_puts_pngs_next_to_the_run_outputs(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        for table, frame in fake.all_tables().items():
            outputs.write_table(tmp_path, run_id, table, frame)
    written = plots.write_plots(tmp_path, run_id)
    assert sorted(written) == sorted(plots.PLOTS)
    folder = tmp_path / "outputs" / "plots" / f"run_id={run_id}"
    assert {p.parent for p in written.values()} == {folder}
    assert all(_png_size(p)[0] == 800 for p in written.values())


def test_write_plots_skips_tables_the_run_did_not_store(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
    assert list(plots.write_plots(tmp_path, run_id)) == ["r2_by_window"]


def test_changing_later_factor_returns_leaves_earlier_cumulative_values_unchanged():
    factors = fake.factors()
    cutoff = date(2020, 1, 8)
    perturbed = factors.with_columns(
        value=pl.when(pl.col("date") > cutoff).then(pl.col("value") + 1.0).otherwise("value")
    )
    before = plots.cumulative_factor_returns(factors, fake.windows())
    after = plots.cumulative_factor_returns(perturbed, fake.windows())
    past = pl.col("date") <= cutoff
    assert after.filter(past).equals(before.filter(past))
    assert not after.filter(~past).equals(before.filter(~past))
