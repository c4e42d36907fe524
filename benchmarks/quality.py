"""Out-of-sample quality on simulated panels with known truth and on the real sample (issue 4).

For a linear and a nonlinear simulated panel (`cae.datasets.simulate`), fit every model in
`models()` on
one train / validation / test split and print out-of-sample total and predictive R2 (pooled,
uncentered), the annualised Sharpe ratio of the decile long-short portfolio sorted on predicted
returns, and the ex-post tangency Sharpe ratio of the model's test factors, next to the oracle
(true betas times true factors). Then the same table, without the oracle, for the bundled real
sample's daily panel, built through ingest and `refresh_panels` in a temporary home. The
autoencoders appear twice: `CAx` at the `CAConfig` defaults and `CAx_sel` selected on the
validation block over GKX's learning-rate x L1 grid. Everything is reproducible from --seed.

Adding a model is one line in `models()`, e.g. `("CA1", lambda: CA(CAConfig(hidden=(32,))))`.

    PYTHONPATH=. python benchmarks/quality.py [--seed 0] [--sample also|only|skip] [--fast]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import polars as pl
import torch

from cae import warehouse
from cae.datasets.simulate import Oracle, SimConfig, SimulatedPanel, simulate_panel
from cae.evaluation.evaluate import evaluate
from cae.evaluation.importance import characteristic_importance
from cae.evaluation.long_short import PERIODS_PER_YEAR, long_short_summary
from cae.evaluation.metrics import tangency_sharpe
from cae.evaluation.windows import WindowPlan, plan_windows
from cae.models.autoencoder import ConditionalAutoencoder
from cae.models.autoencoder.model import CAConfig
from cae.models.base import FactorModel
from cae.models.cross_sectional import CrossSectional
from cae.models.ipca import IPCA
from cae.models.observable import Observable
from cae.models.pca import PCA
from cae.panel import characteristic_names, read_panel, refresh_panels
from cae.panel.tensors import Panel, panel_from_long
from cae.warehouse.ingest import ingest_source

N_FACTORS = 3  # the simulation's true number of factors
CHARS_3 = ("c1", "c2", "c3")  # the simulated characteristics that drive betas


# GKX's tuning grid (see `CAConfig`): learning rate x L1 penalty, selected on validation total R2.
GRID_LR = (1e-3, 1e-2)
GRID_L1 = (1e-5, 1e-4, 1e-3)
MIN_DATES_PER_FACTOR = 5  # fewer test dates per factor and the tangency covariance is noise


def ca_models(args: argparse.Namespace) -> list[tuple[str, Callable[[], FactorModel]]]:
    """Return CA0..CA3, CA0-reg..CA2-reg at the `CAConfig` defaults, and `CAx_sel` (GKX's grid)."""
    out = []
    for name in ("CA0", "CA1", "CA2", "CA3", "CA0-reg", "CA1-reg", "CA2-reg"):
        base = CAConfig.preset(name, n_factors=N_FACTORS, n_seeds=args.n_seeds)
        grid = replace(base, lr_grid=GRID_LR, l1_grid=GRID_L1)
        out.append((name, lambda base=base: ConditionalAutoencoder(base)))
        if args.grid:
            out.append((f"{name}_sel", lambda grid=grid: ConditionalAutoencoder(grid)))
    return out


def models(
    sim: SimulatedPanel | None, args: argparse.Namespace
) -> list[tuple[str, Callable[[], FactorModel]]]:
    """Return the (name, factory) pairs to compare; the oracle first when the truth is known."""
    truth = [] if sim is None else [("oracle", lambda: Oracle(sim))]
    simulated_only = [] if sim is None else [("observable_3", lambda: Observable(chars=CHARS_3))]
    return [
        *truth,
        ("pca", lambda: PCA(n_factors=N_FACTORS)),
        ("ipca", lambda: IPCA(n_factors=N_FACTORS)),
        ("ipca_alpha", lambda: IPCA(n_factors=N_FACTORS, intercept=True)),
        ("observable", lambda: Observable()),
        *simulated_only,
        ("cross_sectional", lambda: CrossSectional()),
        *ca_models(args),
    ]


def tangency(factors: pl.DataFrame, periods_per_year: int, is_ensemble: bool) -> float | None:
    """Return one model's ex-post tangency Sharpe ratio of its test-block factors, or None.

    None for an ensemble, whose S members' factors sit side by side (S*K columns, nearly
    collinear up to rotation, so the tangency weights are noise), and when the test block has
    fewer than `MIN_DATES_PER_FACTOR` dates per factor.
    """
    wide = factors.pivot(on="factor", index=["window_id", "date"], values="value").sort("date")
    f = torch.tensor(wide.drop("window_id", "date").to_numpy())  # (T, factors)
    if is_ensemble or f.shape[0] < MIN_DATES_PER_FACTOR * f.shape[1]:
        return None
    return tangency_sharpe(f, periods_per_year)


def simulate(shape: str, args: argparse.Namespace) -> SimulatedPanel:
    """Return the simulated panel of `shape` for the command-line settings."""
    return simulate_panel(
        SimConfig(
            n_dates=args.n_dates,
            n_tickers=args.n_tickers,
            n_chars=args.n_chars,
            beta_shape=shape,
            seed=args.seed,
        )
    )


def split_plan(n_dates: int) -> WindowPlan:
    """Return the one-window 50/20/30% train/validation/test plan."""
    n_train, n_val = int(n_dates * 0.5), int(n_dates * 0.2)
    return WindowPlan(n_train=n_train, n_val=n_val, n_test=n_dates - n_train - n_val)


def table(
    panel: Panel,
    candidates: list[tuple[str, Callable[[], FactorModel]]],
    label: str,
    periods_per_year: int,
) -> pl.DataFrame:
    """Evaluate every candidate on the one-window split of `panel`; return its table."""
    plan = split_plan(panel.n_dates)
    rows = []
    for name, factory in candidates:
        start = time.perf_counter()
        result = evaluate(panel, plan, [(name, factory)], keep_betas=False)
        seconds = time.perf_counter() - start
        print(f"{label} {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
        summary = result.summary().with_columns(seconds=pl.lit(seconds))
        ls = long_short_summary(result.long_short, periods_per_year)
        summary = summary.join(ls.select("model", ls_sharpe="sharpe_annual"), on="model")
        tan = tangency(result.factors, periods_per_year, is_ensemble=name.startswith("CA"))
        rows.append(summary.with_columns(tan_sharpe=pl.lit(tan, dtype=pl.Float64)))
    return pl.concat(rows).with_columns(panel=pl.lit(label))


def run(shape: str, args: argparse.Namespace) -> pl.DataFrame:
    """Simulate one panel, evaluate every model on one split, return the table."""
    sim = simulate(shape, args)
    return table(sim.panel, models(sim, args), shape, PERIODS_PER_YEAR["monthly"])


def sample_panel(home: Path) -> Panel:
    """Ingest the bundled real sample into `home` and return its daily panel (target forward).

    This is the path `cae run` takes: validated ingest, corporate actions, the incremental panel
    build, then the per-date ranked characteristics read back and densified.
    """
    con = warehouse.connect(home)
    try:
        ingest_source(con, "sample")
        refresh_panels(con, ("daily",))
        frame = read_panel(con, "daily")
        names = characteristic_names(con, "daily")
    finally:
        con.close()
    return drop_warmup(panel_from_long(frame, names, target="forward"))


def drop_warmup(panel: Panel) -> Panel:
    """Drop the leading dates before every characteristic the panel ever has is available.

    The sample spans one year, so characteristics with a 126- or 252-session window are missing
    (0 after ranking) for its first half: a split by dates would train on a block where half the
    inputs are constant and test on one where they are not. Characteristics that never appear
    (e.g. `mom12m` on a one-year sample) stay as all-zero columns and carry no information.
    """
    present = (panel.X != 0).any(dim=1)  # (T, P): the characteristic is known somewhere on t
    ever = present.any(dim=0)  # (P,)
    if not bool(ever.any()):
        return panel
    first = [int(present[:, j].nonzero()[0]) for j in range(panel.n_chars) if bool(ever[j])]
    return panel.slice_dates(max(first), panel.n_dates)


def run_sample(args: argparse.Namespace) -> tuple[pl.DataFrame, Panel]:
    """Evaluate every model but the oracle on the bundled sample's daily panel."""
    with tempfile.TemporaryDirectory(prefix="cae-quality-") as home:
        panel = sample_panel(Path(home))
    return table(panel, models(None, args), "sample", PERIODS_PER_YEAR["daily"]), panel


def importance(shape: str, args: argparse.Namespace) -> pl.DataFrame:
    """Return IPCA's and the cross-sectional model's test-block characteristic importance."""
    sim = simulate(shape, args)
    window = plan_windows(split_plan(args.n_dates), sim.panel.dates)[0]
    fit_block = sim.panel.slice_dates(window.train[0], window.val[1])
    test = sim.panel.slice_dates(*window.test)
    rows = []
    for name, model in (("ipca", IPCA(n_factors=N_FACTORS)), ("cross_sectional", CrossSectional())):
        drops = characteristic_importance(model.fit(fit_block), test)
        rows.append({"panel": shape, "model": name, **{c: 100 * v for c, v in drops.items()}})
    return pl.DataFrame(rows)


COLUMNS = [
    "panel",
    "model",
    "n_factors",
    (pl.col("r2_total") * 100).alias("R2_total_%"),
    (pl.col("r2_pred") * 100).alias("R2_pred_%"),
    "ls_sharpe",
    "tan_sharpe",
    "seconds",
]


def show(frame: pl.DataFrame) -> None:
    """Print a frame as a markdown table, two decimals."""
    with pl.Config(
        tbl_rows=50,
        tbl_cols=-1,
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_width_chars=200,
        float_precision=2,
    ):
        print(frame, flush=True)


def main() -> None:
    """Print the quality tables: linear and nonlinear simulated panels, then the real sample."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-tickers", type=int, default=500)
    parser.add_argument("--n-dates", type=int, default=360)
    parser.add_argument("--n-chars", type=int, default=10)
    # Baselines do many tiny linear-algebra calls; intra-op threads only add overhead there.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sample", choices=("also", "only", "skip"), default="also")
    parser.add_argument("--n-seeds", type=int, default=CAConfig.n_seeds, help="CA ensemble size")
    parser.add_argument("--no-grid", dest="grid", action="store_false", help="skip CAx_sel rows")
    parser.add_argument(
        "--fast", action="store_true", help="2 seeds per ensemble, 300 tickers x 240 months"
    )
    args = parser.parse_args()
    if args.fast:
        args.n_seeds = 2
        args.n_tickers, args.n_dates = min(args.n_tickers, 300), min(args.n_dates, 240)
    torch.set_num_threads(args.threads)
    if args.sample != "only":
        print(
            f"simulated monthly panels: {args.n_tickers} tickers x {args.n_dates} months x "
            f"{args.n_chars} characteristics (3 drive betas), seed {args.seed}, "
            f"{args.threads} torch thread(s); split 50/20/30% "
            "train/val/test; out-of-sample pooled uncentered R2 in %, annualised Sharpe ratios"
        )
        simulated = pl.concat([run("linear", args), run("nonlinear", args)])
        show(simulated.select(COLUMNS))
        drops = pl.concat([importance("linear", args), importance("nonlinear", args)])
        print("\ncharacteristic importance: drop in test total R2 (points) when one is set to 0")
        show(drops)
    if args.sample != "skip":
        real, panel = run_sample(args)
        print(
            f"\nbundled real sample, daily panel: {panel.n_tickers} tickers x "
            f"{panel.n_dates} days x {panel.n_chars} characteristics, "
            f"{int(panel.mask.sum())} observed cells; split "
            "50/20/30% train/val/test by date; target ret_fwd (next day); no oracle"
        )
        show(real.select(COLUMNS))


if __name__ == "__main__":
    main()
