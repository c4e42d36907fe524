"""The pipeline commands of `cae`: run, train, evaluate, serve, replay, report (on `cae.cli.app`).

`run` and `serve` go through Prefect (ephemeral mode unless `PREFECT_API_URL` points at a
server); `train` and `evaluate` call the library steps directly.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cae.cli.app import HomeOption, app, console, print_frame, progress_bar
from cae.home import Home

if TYPE_CHECKING:
    from cae.pipeline import PooledRow
    from flows.publish import PublishedRun

__all__ = ["evaluate", "replay", "report", "run", "serve", "train"]

# Prefect in a closed network: no telemetry, a patient first start; a user's own values win.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "cae",  # library warnings reach the run logs in the UI
}

ModelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        help="A model to run (repeat); default: CA0-CA2, CA0-reg-CA2-reg and the baselines.",
    ),
]
EpochsOption = Annotated[
    int, typer.Option("--epochs", help="Autoencoder epochs at most (sample default 30).")
]
SeedsOption = Annotated[int, typer.Option("--seeds", help="Autoencoder ensemble members.")]
FactorsOption = Annotated[int, typer.Option("--factors", help="K for CA, PCA and IPCA.")]
WorkersOption = Annotated[int, typer.Option("--workers", help="Windows trained at once.")]
RunnerOption = Annotated[
    str,
    typer.Option(
        "--runner",
        help="Task runner: threads, processes, dask (a local cluster) or dask=tcp://HOST:PORT.",
    ),
]
FreqOption = Annotated[
    str, typer.Option("--freq", help="Panel frequency: daily, weekly or monthly.")
]
PanelOption = Annotated[
    str,
    typer.Option(
        "--panel",
        help="Which panel at --freq: auto (yours, if `cae ingest-panel` loaded one at --freq: "
        "the price-built panel at --freq is then not rebuilt; else the one built from prices), "
        "own or prices.",
    ),
]
WindowsOption = Annotated[
    str,
    typer.Option(
        "--windows", help="Periods of TRAIN,VAL,TEST (training expands; refit every TEST)."
    ),
]
SourceOption = Annotated[
    str | None,
    typer.Option(
        "--source",
        help="What to ingest: sample, none, a file, a glob or a drop folder (default: sample, "
        "or none when training on your own panel).",
        show_default=False,
    ),
]


def _config(**settings: Any):
    from cae.errors import ConfigError
    from cae.evaluation.windows import WindowPlan
    from cae.pipeline import RunConfig

    defaults = RunConfig()
    models = settings.pop("models") or defaults.models
    sizes = settings.pop("windows", None)
    if sizes is not None:
        try:
            n_train, n_val, n_test = (int(n) for n in sizes.split(","))
        except ValueError:
            raise ConfigError(f"--windows takes TRAIN,VAL,TEST periods, got {sizes!r}") from None
        settings["windows"] = WindowPlan(n_train=n_train, n_val=n_val, n_test=n_test)
    config = dataclasses.replace(defaults, models=tuple(models), **settings)
    config.check()
    return config


def _home(home: Path | None) -> str:

    return str(Home.of(home).root.resolve())


def _print_pooled(run_id: str, pooled: Sequence[PooledRow]) -> None:
    import polars as pl

    from cae.runs.r2_format import pooled_r2_table, pooled_title

    # The title is a line of its own: a table title wraps at the table's width.
    console.print(pooled_title(run_id), style="bold", highlight=False, soft_wrap=True)
    frame = pooled_r2_table(pl.DataFrame(pooled))
    print_frame(frame, right=frame.columns[1:])


def _print_closing(home: Path | None, result: PublishedRun) -> None:
    """Print the run's warnings, then where its report, plots and Prefect UI page are."""
    from prefect.settings import PREFECT_API_URL

    run_id = result.published.run_id
    for line in result.warnings:
        console.print(f"warning: {line}", style="yellow", highlight=False, soft_wrap=True)
    if result.published.plots:
        console.print(f"plots: {Home.of(home).plots(run_id)}", highlight=False, soft_wrap=True)
    report = Home.of(home).report(run_id)
    console.print(f"report: `cae report` writes {report}", highlight=False, soft_wrap=True)
    if PREFECT_API_URL.value() and result.ui_url:
        console.print(f"Prefect UI: {result.ui_url}", highlight=False, soft_wrap=True)
    else:
        # The temporary server stopped with this command, and its runs with it.
        console.print(
            "Prefect UI: none kept (temporary server); `make ui`, then "
            "PREFECT_API_URL=http://127.0.0.1:4200/api cae run",
            highlight=False,
            soft_wrap=True,
        )


def _run_panel(home: Path | None, run_id: str) -> str:
    """Return the key of the panel a run trained on (own_monthly, daily, ...)."""
    from cae.panel.frequency import run_panel_key
    from cae.runs import outputs

    return run_panel_key(outputs.read_table(home, "runs", run_id)["config_json"][0])


def _prefect_env() -> None:
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _start_temporary_server() -> None:
    # Ctrl-C in a terminal signals the whole process group. A temporary server that Prefect
    # starts on first use would stop at once, and the flow engine would hang reporting the crash
    # to it. Started here with SIGINT blocked (a child inherits the mask), the server outlives
    # the Ctrl-C, records the Crashed states, and is stopped at exit with SIGTERM.
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        SubprocessASGIServer().start()  # the instance Prefect's clients use
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@app.command()
def run(
    home: HomeOption = None,
    source: SourceOption = None,
    freq: FreqOption = "daily",
    panel: PanelOption = "auto",
    model: ModelsOption = None,
    epochs: EpochsOption = 30,
    seeds: SeedsOption = 2,
    factors: FactorsOption = 3,
    workers: WorkersOption = 2,
    runner: RunnerOption = "threads",
    windows: WindowsOption = "120,20,20",
) -> None:
    """Run the daily flow once: ingest, panel, CA and baselines per window, outputs, R2 table."""
    from cae import pipeline, warehouse

    if source is None:
        # Training on the user's own panel needs no prices: do not load the sample beside it.
        own = panel != "prices" and pipeline.has_own_panel(home, freq)
        source = pipeline.NO_SOURCE if own else "sample"
    config = _config(
        source=source,
        freq=freq,
        panel=panel,
        models=model,
        ca_max_epochs=epochs,
        ca_seeds=seeds,
        n_factors=factors,
        workers=workers,
        windows=windows,
    )
    warehouse.check_intact(home)
    _prefect_env()
    _start_temporary_server()
    from cae.cli.progress import training_progress
    from flows.daily import daily

    with training_progress(config.models):
        result = daily(_home(home), config, runner)
    if result.published is None:
        console.print(result.summary, highlight=False, soft_wrap=True)
        console.print(f"its results: cae report {result.no_new_data_since}", highlight=False)
        return
    used = _run_panel(home, result.published.run_id)
    console.print(pipeline.describe_panel(home, used), highlight=False, soft_wrap=True)
    _print_pooled(result.published.run_id, result.published.pooled)
    _print_closing(home, result)


@app.command()
def train(
    home: HomeOption = None,
    freq: FreqOption = "daily",
    panel: PanelOption = "auto",
    model: ModelsOption = None,
    epochs: EpochsOption = 30,
    seeds: SeedsOption = 2,
    factors: FactorsOption = 3,
    windows: WindowsOption = "120,20,20",
) -> None:
    """Train every window on the current panel without Prefect; print the pooled R2 table.

    The panel at --freq is yours when `cae ingest-panel` loaded one there (see --panel).
    """
    from cae import pipeline
    from cae.runs import outputs

    config = _config(
        freq=freq,
        panel=panel,
        models=model,
        ca_max_epochs=epochs,
        ca_seeds=seeds,
        n_factors=factors,
        windows=windows,
    )
    where = _home(home)
    pipeline.set_torch_threads(dataclasses.replace(config, workers=1))
    panel_path = pipeline.panel_step(where, config.freq, config.panels, config.panel)
    used = pipeline.panel_key_of(panel_path)
    console.print(pipeline.describe_panel(where, used), highlight=False, soft_wrap=True)
    run_id = pipeline.start_step(where, config, panel_path)
    try:
        window_ids = pipeline.plan_step(where, run_id, config, panel_path)
        with progress_bar() as progress:
            task = progress.add_task("training", total=len(window_ids) * len(config.models))
            for window_id in window_ids:

                def advance(name: str, window_id: int = window_id) -> None:
                    progress.update(task, advance=1, description=f"window {window_id}: {name}")

                done = pipeline.train_window_step(
                    where, run_id, config, panel_path, window_id, on_model=advance
                )
                state = "from cache" if done.cached else "trained"
                console.print(f"window {window_id} {state}", highlight=False)
    except BaseException as error:
        pipeline.fail_step(where, run_id, outputs.failure_reason(error))
        raise
    published = pipeline.publish_step(where, run_id, config, panel_path, window_ids)
    _print_pooled(run_id, published.pooled)


@app.command()
def evaluate(
    run_id: Annotated[
        str | None, typer.Argument(help="A run id (default: the latest succeeded run).")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Print the pooled out-of-sample R2 table of a published run."""
    import polars as pl

    from cae.errors import CaeError
    from cae.pipeline import pooled_rows
    from cae.runs import outputs

    run_id = run_id if run_id is not None else outputs.latest_run_id(home)
    metrics = outputs.read_table(home, "metrics", run_id)
    pooled = metrics.filter(pl.col("window_id").is_null() & (pl.col("split") == "test"))
    if pooled.is_empty():
        raise CaeError(f"run {run_id} has no pooled metrics in {Home.of(home).outputs}")
    _print_pooled(run_id, pooled_rows(pooled))
    console.print(f"run {run_id} trained on characteristics_{_run_panel(home, run_id)}")


@app.command()
def serve(
    home: HomeOption = None,
    cron: Annotated[
        str, typer.Option("--cron", help="Cron schedule (default: weekdays 18:30).")
    ] = "30 18 * * 1-5",
    timezone: Annotated[
        str, typer.Option("--timezone", help="Time zone of the cron schedule.")
    ] = "America/New_York",
    runner: RunnerOption = "threads",
) -> None:
    """Serve the daily flow on a cron schedule until interrupted (see `make ui`)."""
    _prefect_env()
    from flows.deployments import serve_daily

    # Ctrl-C is how serving ends: Prefect's `serve` catches the KeyboardInterrupt, pauses the
    # schedule and returns, so the command exits 0.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    serve_daily(_home(home), cron=cron, timezone=timezone, runner=runner)


@app.command()
def replay(
    days: Annotated[int, typer.Option("--days", help="Sessions at the end of the sample.")] = 3,
    home: HomeOption = None,
    epochs: EpochsOption = 30,
    seeds: SeedsOption = 2,
    workers: WorkersOption = 2,
) -> None:
    """Replay the sample's last DAYS sessions as daily drop files, one daily run per day."""
    import polars as pl

    from cae import warehouse
    from cae.datasets.replay import landing_dir, prepare_replay, release_day
    from cae.runs import outputs

    where = _home(home)
    warehouse.check_intact(where)
    waiting = prepare_replay(where, days)
    config = _config(
        source=str(landing_dir(where)),
        models=None,
        ca_max_epochs=epochs,
        ca_seeds=seeds,
        workers=workers,
    )
    _prefect_env()
    _start_temporary_server()
    from flows.daily import daily

    rows = []
    for day_file in [None, *waiting]:
        if day_file is not None:
            release_day(where, day_file)
        result = daily(where, config)
        fitted = outputs.read_table(where, "fitted", result.published.run_id)["date"]
        rows.append(
            {
                "day": "history" if day_file is None else day_file.stem,
                "run_id": result.published.run_id,
                "fitted_dates": fitted.n_unique(),
                "last_fitted_date": str(fitted.max()),
            }
        )
    print_frame(pl.DataFrame(rows), title="replay: one daily run per day")
    _print_pooled(rows[-1]["run_id"], result.published.pooled)


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Argument(help="The run to report on (default: the latest succeeded run).")
    ] = None,
    home: HomeOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: outputs/reports/RUN_ID.html)."),
    ] = None,
) -> None:
    """Write a self-contained HTML report of a run (its tables and plots); print its path."""
    from cae.runs.report import write_report

    console.print(str(write_report(home, run_id, out)), highlight=False, soft_wrap=True)
