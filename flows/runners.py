"""The task runner of the `train` flow, chosen by name: threads, processes or Dask."""

from __future__ import annotations

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from cae.errors import ConfigError

__all__ = ["RUNNERS", "task_runner"]

RUNNERS = ("threads", "processes", "dask")


def task_runner(kind: str = "threads", workers: int = 2, address: str | None = None) -> TaskRunner:
    """Return a task runner running `workers` windows at once.

    `threads` (default) keeps one process and its torch threads; `processes` pays a start-up per
    worker; `dask` needs the optional `prefect-dask` package and starts a local cluster of
    `workers` single-threaded processes, or joins the scheduler at `address`. `kind` may carry
    the address itself, `dask=tcp://host:8786`, so `cae run --runner` and `cae serve --runner`
    reach a remote cluster (the road to many machines).
    """
    kind, _, spec_address = kind.partition("=")
    if spec_address and kind != "dask":
        raise ConfigError(f"only the dask runner takes an address, not {kind!r}")
    address = address or spec_address or None
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as error:
            raise ConfigError("task runner 'dask' needs `pip install prefect-dask`") from error
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})
    raise ConfigError(f"task runner must be one of {RUNNERS}, not {kind!r}")
