"""The pipeline's steps as plain functions: ingest, panel, plan, train one window, publish.

The Prefect flows in `flows/` call these and add retries, caching, logging and artifacts; the
CLI's `cae train` calls them without Prefect. Steps pass paths and ids, never frames, and
return small frozen dataclasses (`IngestResult`, `WindowResult`, `Published`, ...) that pickle,
so Prefect can pass them between tasks, flows and worker processes:

- `ingest_step` loads a source into the warehouse;
- `panel_step` refreshes the characteristics panel and freezes it as one Parquet file named after
  the warehouse's data version, which every later step reads (no step holds the DuckDB lock
  while models train);
- `start_step` registers a run; `plan_step` writes its `windows` table and returns the window ids;
- `train_window_step` fits every model on one window and stages its tables; results are cached
  under `<home>/cache/windows/<key>/`, keyed on the model settings, the window and the content
  of the panel rows it can see, so a re-run skips windows that are already done and a new day
  refits only the windows whose test block it extends (or the new window it opens);
- `publish_step` adds the pooled out-of-sample rows, publishes the run, draws its plots and
  refreshes the catalog; `fail_step` marks a run failed and publishes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import torch

from cae import warehouse
from cae.errors import ConfigError
from cae.evaluation.evaluate import evaluate_window
from cae.evaluation.importance import pool_importance
from cae.evaluation.pricing import pool_pricing_errors
from cae.evaluation.windows import Window, WindowPlan, plan_windows, windows_frame
from cae.home import Home, HomeLike
from cae.models.base import FactorModel
from cae.models.registry import BASELINES, MODELS, ModelSettings, build_model
from cae.panel import refresh_panels
from cae.panel import store as panel_store
from cae.panel.frequency import PANEL_CHOICES, check_freq, own_panel_key
from cae.panel.frozen import freeze_panel
from cae.panel.ingest import USER_SOURCE_PREFIX, adopt_user_panel
from cae.panel.tensors import Panel, panel_from_long
from cae.runs import catalog, outputs, plots
from cae.runs.versions import code_version, data_version, fit_code_version
from cae.warehouse import published
from cae.warehouse.ingest import ingest_dropdir, ingest_source

__all__ = [
    "NO_SOURCE",
    "IngestResult",
    "PanelSummary",
    "PooledRow",
    "Published",
    "RunConfig",
    "WindowResult",
    "describe_panel",
    "fail_step",
    "has_own_panel",
    "ingest_step",
    "model_factories",
    "panel_key_of",
    "panel_step",
    "panel_summary",
    "panel_version_of",
    "plan_step",
    "pooled_metrics",
    "pooled_rows",
    "publish_step",
    "set_torch_threads",
    "start_step",
    "train_window_step",
    "unchanged_run",
    "window_cache_dir",
    "window_test_dates",
]

# Output tables a window produces, in the order they are staged; metrics last (`_write_cache`).
WINDOW_TABLES = (
    "betas",
    "factors",
    "fitted",
    "inputs",
    "pricing_errors",
    "long_short",
    "importance",
    "metrics",
)
POOLED_PART = "pooled"

# `RunConfig.source` that ingests nothing (`cae run` on a home holding only the user's panel).
NO_SOURCE = "none"


@dataclass(frozen=True)
class RunConfig:
    """Everything a pipeline run depends on; stored as `runs.config_json`.

    Defaults are sized for the bundled one-year daily sample (about 225 panel dates): training
    starts with 120 sessions and expands, validation and test are 20 sessions each, which gives
    five windows; the autoencoders train briefly (30 epochs at most, 2 seeds) so `cae run` takes
    minutes on 2 CPU cores. The paper's monthly scheme is `WindowPlan()` with `CAConfig`'s
    defaults (at most 100 epochs, 10 seeds, lr 1e-2, L1 1e-4; see its docstring for sources).
    """

    source: str = "sample"  # what `ingest_step` loads: a named source, a file or glob
    freq: str = "daily"  # panel frequency the models train on: daily, weekly or monthly
    # Which panel at `freq`: "auto" (the user's own panel when `cae ingest-panel` loaded one,
    # else the one built from prices), "own" or "prices". `start_step` records the one used.
    panel: str = "auto"
    panels: tuple[str, ...] = ("daily", "weekly")  # panels every run keeps fresh, besides `freq`
    target: str = "forward"  # "forward" (predict r[t+1], GKX) or "contemporaneous"
    # GKX's CA0-CA2, the same networks with factors regressed on their betas
    # (docs/regression_factors.md), and the baselines.
    models: tuple[str, ...] = ("CA0", "CA1", "CA2", "CA0-reg", "CA1-reg", "CA2-reg", *BASELINES)
    n_factors: int = 3  # K for the autoencoders, PCA and IPCA
    windows: WindowPlan = field(
        default_factory=lambda: WindowPlan(n_train=120, n_val=20, n_test=20)
    )
    ca_max_epochs: int = 30  # sample default; GKX train up to early stopping (CAConfig: 100)
    ca_seeds: int = 2  # ensemble members per autoencoder (GKX: 10)
    ca_patience: int = 5  # early-stopping patience in epochs (GKX)
    # Daily squared returns are ~20x smaller than monthly ones, so GKX's monthly L1 (1e-5..1e-3)
    # swamps the fit: on the sample's first window CA1 scores -8.3 test R2 at (1e-4, 1e-3) and
    # +0.54 at (1e-6, 1e-2), the top of GKX's learning-rate grid. Both settings matter: the
    # first training block is 59,689 observations, 6 mini-batches of 10,000 per epoch, so 30
    # epochs are at most ~180 Adam steps; measured on that window (CA1, K = 3, 2 seeds) test
    # total R2 is -10.4 at (1e-6, 1e-3), +0.54 at (1e-6, 1e-2), -8.3 at (1e-4, 1e-3) and -0.01
    # at (1e-4, 1e-2).
    ca_l1: float = 1e-6  # L1 penalty on network weights
    ca_lr: float = 1e-2  # Adam learning rate
    observable_chars: tuple[str, ...] = ("mvel1", "mom12m", "retvol")  # size, momentum, risk
    keep_betas: bool = True  # the betas table is T x N x K rows per model
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    seed: int = 0  # autoencoder seeds are seed .. seed + ca_seeds - 1
    workers: int = 2  # windows trained at once by the flow's task runner
    threads: int | None = None  # torch threads per window; None: cores // workers

    def to_json(self) -> str:
        """Return the config as sorted JSON (what `runs.config_json` stores)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)

    def model_key(self) -> str:
        """Return a hash of the settings that change a window's results (not workers/threads)."""
        settings = dataclasses.asdict(self)
        # The panel's rows are in each window's cache key; `panel` only says which was chosen.
        for execution_only in ("source", "panels", "panel", "workers", "threads"):
            settings.pop(execution_only)
        return _sha256(json.dumps(settings, sort_keys=True, default=str).encode())[:16]

    def check(self) -> None:
        """Raise `ConfigError` naming the first invalid setting."""
        for freq in (self.freq, *self.panels):
            check_freq(freq)
        if self.panel not in PANEL_CHOICES:
            raise ConfigError(
                f"panel must be one of {', '.join(PANEL_CHOICES)}, not {self.panel!r}"
            )
        if self.target not in ("forward", "contemporaneous"):
            raise ConfigError(f"target must be 'forward' or 'contemporaneous', not {self.target!r}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ConfigError(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
        for name in ("n_factors", "ca_max_epochs", "ca_seeds", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")


@dataclass(frozen=True)
class IngestResult:
    """What `ingest_step` loaded: counts summed over the files it read."""

    files: int  # batches loaded, one per file (`ingest.IngestReport`)
    rows_new: int  # price rows for a ticker and date the warehouse did not hold
    rows_changed: int  # stored rows corrected to a different value
    rows_rejected: int  # rows kept in `rejected_rows` with their reason, not loaded
    data_version: str  # the warehouse's data version after the load (`versions.data_version`)


@dataclass(frozen=True)
class PanelSummary:
    """The frozen panel's extent (`panel_summary`), for logs and artifacts."""

    first_date: str  # ISO date of the first panel date
    last_date: str  # ISO date of the last panel date
    n_dates: int  # distinct dates
    n_tickers: int  # distinct tickers over all dates
    n_rows: int  # ticker-dates


@dataclass(frozen=True)
class WindowResult:
    """One window's outcome (`train_window_step`); small enough for logs and artifacts."""

    window_id: int
    cached: bool  # True when every table came from the window cache and nothing was fitted
    r2_total: dict[str, float]  # model -> total R2 on the window's test block
    # model -> (characteristics used, characteristics offered), for the models that choose
    # their characteristics (table `inputs`); the others are absent.
    chars_used: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class PooledRow:
    """One model's out-of-sample R2 pooled over every test block (`pooled_metrics`, GKX)."""

    model: str
    n_factors: int  # K, the number of latent factors
    r2_total: float  # 1 - sum(sse_total) / sum(ssy) over all test blocks
    r2_pred: float  # the same with the predictive fit (lambda: mean of earlier factors)
    n_obs: int  # ticker-dates in all test blocks


@dataclass(frozen=True)
class Published:
    """A published run (`publish_step`): its pooled R2 table and its plots."""

    run_id: str
    pooled: tuple[PooledRow, ...]  # one row per model, in the run's model order
    plots: dict[str, str]  # plot name -> PNG path


def model_factories(config: RunConfig) -> list[tuple[str, Callable[[], FactorModel]]]:
    """Return (name, factory) for every model of `config`, in its order (`cae.models.MODELS`)."""
    settings = ModelSettings(
        n_factors=config.n_factors,
        ca_max_epochs=config.ca_max_epochs,
        ca_seeds=config.ca_seeds,
        ca_patience=config.ca_patience,
        ca_l1=config.ca_l1,
        ca_lr=config.ca_lr,
        observable_chars=config.observable_chars,
        seed=config.seed,
        device=config.device,
    )
    return [(name, functools.partial(build_model, name, settings)) for name in config.models]


def set_torch_threads(config: RunConfig) -> int:
    """Set torch's intra-op threads so `workers` parallel windows share the cores; return it.

    The setting is process-wide: two windows in threads of one process share it.
    """
    threads = config.threads or max(1, (os.cpu_count() or 1) // config.workers)
    torch.set_num_threads(threads)
    return threads


def ingest_step(home: HomeLike, source: str) -> IngestResult:
    """Load `source` (named source, file, glob, or a folder as a drop folder) into the warehouse.

    `NO_SOURCE` loads nothing: a run on the user's own panel needs no prices.
    """
    with warehouse.connect(home) as con:
        if source == NO_SOURCE:
            reports = []
        elif Path(source).is_dir():
            reports = ingest_dropdir(con, source)
        else:
            reports = ingest_source(con, source)
        version = _data_version(con)
        published.publish(con, home)
    return IngestResult(
        files=len(reports),
        rows_new=sum(r.rows_new for r in reports),
        rows_changed=sum(r.rows_changed for r in reports),
        rows_rejected=sum(r.rows_rejected for r in reports),
        data_version=version,
    )


def panel_step(
    home: HomeLike, freq: str = "daily", also: tuple[str, ...] = (), panel: str = "auto"
) -> str:
    """Refresh the panels at `freq` and `also`; freeze the `freq` one; return its path.

    `panel` chooses the panel at `freq` (`RunConfig.panel`): the user's own panel is frozen as
    it was loaded and the price panel at `freq` is then not refreshed. The frozen file
    `<home>/panels/<key>-<version>.parquet` (key `freq` or `own_<freq>`) holds the normalised
    universe rows (`cae.panel.read_panel`); it is written once per version (atomically), so
    re-running on unchanged data reuses it, and a new version keeps the last file's rows of the
    dates whose stored rows did not change (`cae.panel.frozen`). The version is the
    warehouse's data version, plus a stamp of the load for a user's panel. Older frozen files
    are removed unless a running run reads them.
    """
    for name in (freq, *also):
        check_freq(name)
    with warehouse.connect(home) as con:
        key = _panel_key(con, freq, panel)
        # Training on the user's panel, the price panel at `freq` is not needed: not rebuilt.
        built = (freq, *also) if key == freq else [name for name in also if name != freq]
        refresh_panels(con, tuple(dict.fromkeys(built)))
        version = _data_version(con)
        if key != freq:
            version += "-" + _load_stamp(panel_store.read_meta(con, key))
        target = Home.of(home).frozen_panel(key, version)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            previous = _latest_frozen(target, key)
            freeze_panel(con, key, target, previous, outputs.scratch_path(home))
        published.publish(con, home)
    _prune_panels(home, keep=target)
    return str(target)


def has_own_panel(home: HomeLike, freq: str) -> bool:
    """Return whether the home holds a panel the user loaded at `freq` (read-only)."""
    if not Home.of(home).warehouse.is_file():
        return False
    with warehouse.connect(home, read_only=True) as con:
        return panel_store.table_exists(con, own_panel_key(freq))


def _panel_key(con: duckdb.DuckDBPyConnection, freq: str, panel: str) -> str:
    """Return the stored panel a run at `freq` trains on (`RunConfig.panel`)."""
    with warehouse.transaction(con):
        adopt_user_panel(con, freq)  # a home from before own tables: the user's panel moves
    own = own_panel_key(freq)
    if panel == "prices":
        return freq
    if panel_store.table_exists(con, own):
        return own
    if panel == "own":
        raise ConfigError(
            f"--panel own: no panel of yours at {freq}; load one with "
            f"`cae ingest-panel FILE --freq {freq}`"
        )
    return freq


def _load_stamp(meta: dict[str, Any]) -> str:
    # Loading a panel adds no ingest batch: the load's source and time tell one load from another.
    return _sha256(f"{meta['source']}|{meta['built_at']}|{meta['n_rows']}".encode())[:8]


def panel_key_of(panel_path: str) -> str:
    """Return the key of the panel a frozen file holds: the frequency, or own_<freq>."""
    return Path(panel_path).stem.split("-", 1)[0]


def panel_version_of(panel_path: str) -> str:
    """Return the data version of a frozen panel file (what `runs.data_version` stores)."""
    return Path(panel_path).stem.removeprefix(f"{panel_key_of(panel_path)}-")


def describe_panel(home: HomeLike, key: str) -> str:
    """Return a line telling the user which panel (`panel_key_of`) a run trains on."""
    with warehouse.connect(home) as con:
        meta = panel_store.read_meta(con, key)
    if meta is None or not meta["source"].startswith(USER_SOURCE_PREFIX):
        return f"training on characteristics_{key}, built from prices"
    return (
        f"training on your panel characteristics_{key}, loaded from "
        f"{meta['source'].removeprefix(USER_SOURCE_PREFIX)} at {meta['built_at']:%Y-%m-%d %H:%M}"
    )


def _latest_frozen(target: Path, key: str) -> Path | None:
    # The newest other frozen file of this panel: the next one reuses its unchanged dates.
    others = [p for p in target.parent.glob(f"{key}-*.parquet") if p != target]
    return max(others, key=lambda p: p.stat().st_mtime, default=None)


def _prune_panels(home: HomeLike, keep: Path) -> None:
    # One frozen file per data version would pile up under a daily schedule; a file stays while
    # a running run (same data version) may still read it.
    runs = outputs.read_table(home, "runs")
    live = set(runs.filter(pl.col("status") == "running")["data_version"].to_list())
    for path in keep.parent.glob("*.parquet"):
        version = path.stem.split("-", 1)[-1]
        if path != keep and version not in live:
            path.unlink(missing_ok=True)


def start_step(
    home: HomeLike, config: RunConfig, panel_path: str, run_id: str | None = None
) -> str:
    """Register a run of `config` on the frozen panel; return its run id.

    `run_id` is taken when given (the flows name their Prefect runs after it first), else new.
    """
    config.check()
    return outputs.start_run(
        home,
        _recorded_config(config, panel_path),
        run_id=run_id,
        data_version=panel_version_of(panel_path),
    )


def unchanged_run(home: HomeLike, config: RunConfig, panel_path: str) -> str | None:
    """Return the latest succeeded run of `config` by this code on this panel's data, else None.

    Such a run already holds every number a new run would compute (windows are deterministic
    given their config, code and data), so the daily flow stops there: no new run, no new
    outputs. Another code version (an upgrade) runs again.
    """
    runs = outputs.read_table(home, "runs").filter(
        (pl.col("status") == "succeeded")
        & (pl.col("code_version") == code_version())
        & (pl.col("data_version") == panel_version_of(panel_path))
        & (pl.col("config_json") == outputs.config_json(_recorded_config(config, panel_path)))
    )
    return None if runs.is_empty() else runs.sort("created_at")["run_id"][-1]


def _recorded_config(config: RunConfig, panel_path: str) -> RunConfig:
    # A run records the panel it used (`prices` or `own`), not the `auto` it was asked for.
    used = "prices" if panel_key_of(panel_path) == config.freq else "own"
    return dataclasses.replace(config, panel=used)


def plan_step(home: HomeLike, run_id: str, config: RunConfig, panel_path: str) -> list[int]:
    """Cut the panel's dates into windows, stage the `windows` table, return the window ids."""
    windows = plan_windows(config.windows, _load_panel(panel_path, config).dates)
    outputs.write_table(home, run_id, "windows", windows_frame(windows))
    return [w.window_id for w in windows]


def window_cache_dir(home: HomeLike, config: RunConfig, panel_path: str, window_id: int) -> Path:
    """Return the folder caching one window's tables.

    The key is the model settings, the fitting code (`versions.fit_code_version`), the window's
    date ranges and the content of the panel rows up to the window's last test date: a new day
    leaves every earlier window's key unchanged (the panel is normalised per date), so only
    windows that see new data are fitted again.
    """
    frame = pl.read_parquet(panel_path)
    windows = _planned_windows(config, frame)
    if not 0 <= window_id < len(windows):
        raise ConfigError(f"window {window_id} is not in the plan ({len(windows)} windows)")
    window = windows[window_id]
    seen = frame.filter(pl.col("date") <= window.bounds()["test_end"])
    digest = hashlib.sha256(fit_code_version().encode())
    digest.update(repr((window.train, window.val, window.test)).encode())
    digest.update(seen.hash_rows(seed=0).to_numpy().tobytes())
    digest.update(repr(seen.columns).encode())
    key = f"{config.model_key()}-w{window_id}-{digest.hexdigest()[:16]}"
    return Home.of(home).window_cache(key)


def window_test_dates(config: RunConfig, panel_path: str) -> dict[int, tuple[str, str]]:
    """Return each window's first and last test date (ISO), to name its logs and task runs."""
    windows = _planned_windows(config, pl.read_parquet(panel_path, columns=["date"]))
    return {
        w.window_id: tuple(
            str(np.datetime_as_string(w.bounds()[end], unit="D"))
            for end in ("test_start", "test_end")
        )
        for w in windows
    }


def _planned_windows(config: RunConfig, frame: pl.DataFrame) -> list[Window]:
    # The plan `plan_step` stages, from the panel's date column alone (no tensors built).
    dates = np.sort(frame["date"].unique().to_numpy())
    if config.target == "contemporaneous":
        dates = dates[1:]  # the first date has no earlier characteristics (cae.panel.tensors)
    return plan_windows(config.windows, dates)


def train_window_step(
    home: HomeLike,
    run_id: str,
    config: RunConfig,
    panel_path: str,
    window_id: int,
    on_model: Callable[[str], None] | None = None,
) -> WindowResult:
    """Fit every model on one window (or reuse its cache) and stage its tables for `run_id`.

    `on_model` is called with each model's name as it finishes (all at once from the cache).
    """
    cache = window_cache_dir(home, config, panel_path, window_id)
    cached = all((cache / f"{t}.parquet").is_file() for t in WINDOW_TABLES)
    if not cached:
        panel = _load_panel(panel_path, config)
        windows = plan_windows(config.windows, panel.dates)
        result = evaluate_window(
            panel, windows[window_id], model_factories(config), config.keep_betas, on_model
        )
        _write_cache(home, cache, {t: getattr(result, t) for t in WINDOW_TABLES})
    elif on_model is not None:
        for name in config.models:
            on_model(name)
    for table in WINDOW_TABLES:
        frame = pl.read_parquet(cache / f"{table}.parquet")
        outputs.write_table(home, run_id, table, frame, part=f"w{window_id}")
    test = pl.read_parquet(cache / "metrics.parquet").filter(pl.col("split") == "test")
    used = (
        pl.read_parquet(cache / "inputs.parquet")
        .group_by("model", maintain_order=True)
        .agg(pl.col("is_used").sum().alias("used"), pl.len().alias("all"))
    )
    return WindowResult(
        window_id=window_id,
        cached=cached,
        r2_total=dict(zip(test["model"], test["r2_total"], strict=True)),
        chars_used={model: (int(n), int(n_all)) for model, n, n_all in used.iter_rows()},
    )


def publish_step(
    home: HomeLike,
    run_id: str,
    config: RunConfig,
    panel_path: str,
    window_ids: list[int],
) -> Published:
    """Stage the pooled test rows, publish the run, draw its plots and refresh the catalog.

    Tables with pooled rows (window_id null): metrics, pricing_errors and importance.
    """
    try:
        caches = [window_cache_dir(home, config, panel_path, w) for w in window_ids]
        pools = {
            "metrics": pooled_metrics,
            "pricing_errors": pool_pricing_errors,
            "importance": pool_importance,
        }
        pooled = {
            table: pool(pl.concat([pl.read_parquet(c / f"{table}.parquet") for c in caches]))
            for table, pool in pools.items()
        }
        for table, rows in pooled.items():
            outputs.write_table(home, run_id, table, rows, part=POOLED_PART)
    except BaseException as error:
        fail_step(home, run_id, outputs.failure_reason(error))
        raise
    # finish_run marks the run failed itself if publishing breaks.
    outputs.finish_run(home, run_id, "succeeded")
    written = plots.write_plots(home, run_id)
    catalog.ensure_catalog(home)
    return Published(
        run_id=run_id,
        pooled=pooled_rows(pooled["metrics"]),
        plots={name: str(path) for name, path in written.items()},
    )


def fail_step(home: HomeLike, run_id: str, reason: str) -> None:
    """Mark a run failed with `reason` if it is still running; nothing it staged is published.

    A run that already ended (publishing failed and marked it) keeps its row, so every layer
    that sees the error may call this.
    """
    if outputs.read_table(home, "runs", run_id)["status"].to_list() == ["running"]:
        outputs.finish_run(home, run_id, "failed", reason)


def pooled_metrics(metrics: pl.DataFrame) -> pl.DataFrame:
    """Return one pooled test row per model (window_id null): 1 - sum(sse) / sum(ssy) (GKX).

    Pooling sums squared errors over every window's test block before dividing, so a window
    with many observations weighs more; it is never a mean of window R2s.
    """
    test = metrics.filter((pl.col("split") == "test") & pl.col("window_id").is_not_null())
    return (
        test.group_by("model", maintain_order=True)
        .agg(
            pl.lit(None, pl.Int64).alias("window_id"),
            pl.col("n_factors").first(),
            pl.lit("test").alias("split"),
            (1 - pl.col("sse_total").sum() / pl.col("ssy").sum()).alias("r2_total"),
            (1 - pl.col("sse_pred").sum() / pl.col("ssy").sum()).alias("r2_pred"),
            pl.col("n_obs").sum(),
            pl.col("sse_total").sum(),
            pl.col("sse_pred").sum(),
            pl.col("ssy").sum(),
        )
        .select(metrics.columns)
    )


def pooled_rows(pooled: pl.DataFrame) -> tuple[PooledRow, ...]:
    """Return the pooled rows of a metrics frame (`pooled_metrics`) as `PooledRow`s."""
    names = [f.name for f in dataclasses.fields(PooledRow)]
    return tuple(PooledRow(**row) for row in pooled.select(names).iter_rows(named=True))


def panel_summary(panel_path: str) -> PanelSummary:
    """Return the frozen panel's first and last date, dates, tickers and rows."""
    frame = pl.read_parquet(panel_path, columns=["date", "ticker"])
    return PanelSummary(
        first_date=str(frame["date"].min()),
        last_date=str(frame["date"].max()),
        n_dates=frame["date"].n_unique(),
        n_tickers=frame["ticker"].n_unique(),
        n_rows=frame.height,
    )


def _load_panel(panel_path: str, config: RunConfig) -> Panel:
    frame = pl.read_parquet(panel_path)
    names = [c for c in frame.columns if c not in ("date", "ticker", "ret", "ret_fwd")]
    return panel_from_long(frame, names, target=config.target, source=panel_path)


def _write_cache(home: HomeLike, cache: Path, frames: dict[str, pl.DataFrame]) -> None:
    # metrics last: a cache entry counts as complete when every table exists, and a crash
    # between files leaves an incomplete entry that is simply recomputed.
    cache.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        tmp = outputs.scratch_path(home)
        frame.write_parquet(tmp)
        os.replace(tmp, cache / f"{table}.parquet")


def _data_version(con: duckdb.DuckDBPyConnection) -> str:
    # A cursor of its own: `data_version` fetches one row and leaves its result open, which
    # DuckDB 2.0 would hold against the next statement on the same connection.
    with con.cursor() as cursor:
        return data_version(cursor)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
