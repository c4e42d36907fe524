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
            "factor": ["f1", "f1"],
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


def test_r2_by_window_drops_pooled_rows_and_other_splits_and_dates_each_window():
    got = plots.r2_by_window(fake.metrics(), fake.windows())
    assert got.height == len(fake.MODELS) * len(fake.WINDOW_TEST_DATES)
    pca = got.filter(pl.col("label") == "pca")
    assert pca["r2_total"].to_list() == pytest.approx([0.2, 0.21])
    assert pca["test_start"].to_list() == [date(2020, 1, 1), date(2020, 1, 7)]
    assert pca["test_end"].to_list() == [date(2020, 1, 6), date(2020, 1, 12)]


def test_r2_by_window_lists_models_in_family_order():
    metrics = pl.concat(
        [fake.metrics().with_columns(model=pl.lit(m)) for m in ("pca", "observable", "CA1")]
    )
    got = plots.r2_by_window(metrics, fake.windows())
    assert got["label"].unique(maintain_order=True).to_list() == ["CA1", "pca", "observable"]


def _member_factors(values_by_member, lam_by_member, factor="f1", model="CA1"):
    """One window, dates 2020-01-01.., one factor per ensemble member ("s1_f1", "s2_f1", ..)."""
    rows = []
    for m, (values, lams) in enumerate(zip(values_by_member, lam_by_member, strict=True)):
        for i, (v, lam) in enumerate(zip(values, lams, strict=True)):
            rows.append((0, model, date(2020, 1, 1 + i), f"s{m + 1}_{factor}", v, lam))
    return pl.DataFrame(
        rows, schema=["window_id", "model", "date", "factor", "value", "lambda"], orient="row"
    )


def test_ensemble_members_are_sign_aligned_to_the_first_then_averaged():
    # Member 2 is member 1 flipped and scaled by 3: aligned, the mean is 2 * member 1.
    first = [0.01, -0.02, 0.03, 0.01]
    factors = _member_factors([first, [-3 * v for v in first]], [[0.5] * 4, [-1.5] * 4])
    got = plots.aligned_factor_returns(factors)
    assert got["factor"].unique().to_list() == ["f1"]
    assert got["n_seeds"].to_list() == [2] * 4
    assert got["value"].to_list() == pytest.approx([2 * v for v in first])


def test_a_latent_factor_is_signed_by_its_training_mean_a_named_one_never():
    values = [0.01, -0.02, 0.03]
    negative_premium = [-0.001, 0.0, 0.0]  # lambda on the first test date: the training mean
    latent = _member_factors([values], [negative_premium], factor="f1", model="pca")
    named = _member_factors([values], [negative_premium], factor="mkt", model="observable")
    factors = pl.concat([latent, named]).with_columns(pl.col("factor").str.replace("s1_", ""))
    got = plots.aligned_factor_returns(factors)
    assert got.filter(pl.col("model") == "pca")["value"].to_list() == pytest.approx(
        [-v for v in values]
    )
    assert got.filter(pl.col("model") == "observable")["value"].to_list() == pytest.approx(values)


@pytest.mark.parametrize(
    ("draw", "frames", "rows"),
    [
        (plots.plot_cumulative_factors, (fake.factors,), 1),
        (plots.plot_beta_distributions, (fake.betas,), 1),
        (plots.plot_r2_by_window, (fake.metrics, fake.windows), 2),
        (plots.plot_long_short, (fake.long_short,), 1),
        (plots.plot_pricing_errors, (fake.pricing_errors,), 1),  # two models side by side
        (plots.plot_importance, (fake.importance,), 1),  # PCA has no shares: one panel
    ],
)
def test_each_plot_writes_a_png_sized_by_its_rows_of_panels(tmp_path, draw, frames, rows):
    path = draw(*(frame() for frame in frames), tmp_path / "p.png")
    width, height = _png_size(path)
    assert width == plots.FIGURE_WIDTH_IN * plots.DPI
    assert height == plots.PANEL_HEIGHT_IN * plots.DPI * rows


def test_write_plots_puts_pngs_next_to_the_run_outputs(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        for table, frame in fake.all_tables().items():
            outputs.write_table(tmp_path, run_id, table, frame)
    written = plots.write_plots(tmp_path, run_id)
    assert sorted(written) == sorted(plots.PLOTS)
    folder = tmp_path / "outputs" / "plots" / f"run_id={run_id}"
    assert {p.parent for p in written.values()} == {folder}
    assert all(_png_size(p)[0] == plots.FIGURE_WIDTH_IN * plots.DPI for p in written.values())


def test_write_plots_skips_tables_the_run_did_not_store(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
        outputs.write_table(tmp_path, run_id, "windows", fake.windows())
    assert list(plots.write_plots(tmp_path, run_id)) == ["r2_by_window"]


def test_cumulative_long_short_adds_each_models_returns_in_date_order():
    rows = pl.DataFrame(
        {
            "window_id": [1, 0, 0, 1],
            "model": ["a", "a", "a", "b"],
            "date": [date(2020, 1, 3), date(2020, 1, 2), date(2020, 1, 1), date(2020, 1, 1)],
            "ret_ew": [0.03, -0.01, 0.02, 0.5],
        }
    )
    got = plots.cumulative_long_short(rows)
    assert got.filter(pl.col("model") == "a")["cum"].to_list() == pytest.approx([0.02, 0.01, 0.04])
    assert got.filter(pl.col("model") == "b")["cum"].to_list() == [0.5]


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
