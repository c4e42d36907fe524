"""Time the pipeline's steps on the bundled sample, as `cae run` runs them (without Prefect).

Prints one row per step: ingest, panel, then each model's fit and scoring summed over the
windows (one after another, one torch thread, as each of the flow's two workers gets), then a
first and a cached re-run of all windows. Usage: `python benchmarks/pipeline.py [HOME]`.
"""

import sys
import tempfile
import time

import torch

from cae import pipeline
from cae.evaluation.evaluate import evaluate_window
from cae.evaluation.windows import plan_windows
from cae.pipeline import RunConfig


def main(home: str) -> None:
    config = RunConfig()
    torch.set_num_threads(1)
    rows = []
    start = time.perf_counter()
    pipeline.ingest_step(home, config.source)
    rows.append(("ingest sample", time.perf_counter() - start))
    start = time.perf_counter()
    panel_path = pipeline.panel_step(home, config.freq)
    rows.append(("panel (daily, frozen)", time.perf_counter() - start))
    panel = pipeline._load_panel(panel_path, config)
    windows = plan_windows(config.windows, panel.dates)
    for name, factory in pipeline.model_factories(config):
        start = time.perf_counter()
        for window in windows:
            evaluate_window(panel, window, [(name, factory)], config.keep_betas)
        rows.append((f"{name}: fit + score, {len(windows)} windows", time.perf_counter() - start))
    for label in ("all windows, first run", "all windows, re-run (cache)"):
        start = time.perf_counter()
        run_id = pipeline.start_step(home, config, panel_path)
        ids = pipeline.plan_step(home, run_id, config, panel_path)
        for w in ids:
            pipeline.train_window_step(home, run_id, config, panel_path, w)
        pipeline.publish_step(home, run_id, config, panel_path, ids)
        rows.append((label, time.perf_counter() - start))
    print(
        f"pipeline on the sample: {panel.n_tickers} tickers, {panel.n_dates} dates, 1 torch thread"
    )
    print(f"{'step':<44} {'seconds':>8}")
    for label, seconds in rows:
        print(f"{label:<44} {seconds:>8.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="cae_bench_"))
