"""Writer and reader processes for the catalog concurrency test (run as a script, not collected).

Usage: python concurrency_roles.py writer|reader HOME SECONDS RESULT_JSON [published|live]

The writer behaves like the daily flow: each iteration opens the warehouse read-write, commits an
ingest batch, publishes the warehouse, then publishes a run (1 metrics row, BETAS_PER_RUN betas).
The reader queries outputs joined with warehouse tables as fast as it can. Each records its
errors and timings in RESULT_JSON.
"""

import json
import sys
import time

import polars as pl

from cae import warehouse
from cae.runs import catalog, outputs
from cae.warehouse import published

BETAS_PER_RUN = 12
READER_SQL = """
select
    (select count(*) from runs where status = 'succeeded') as n_succeeded,
    (select count(*) from metrics) as n_metrics,
    (select count(*) from betas) as n_betas,
    (select count(*) from ingest_batches) as n_batches,
    (
        select count(*)
        from (select run_id from betas group by run_id having count(*) <> 12)
    ) as n_partial_runs,
"""


def writer(home: str, seconds: float, mode: str = "") -> dict:
    errors, durations = [], []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            with warehouse.connect(home) as con:
                con.execute(
                    "insert into ingest_batches (source, file, started_at, status) "
                    "values ('test', ?, now(), 'succeeded')",
                    [f"batch-{i}.csv"],
                )
                published.publish(con, home)
                run_id = outputs.start_run(home, {"i": i}, con=con)
            outputs.write_table(home, run_id, "metrics", _metrics(i))
            outputs.write_table(home, run_id, "betas", _betas(i))
            outputs.finish_run(home, run_id, "succeeded")
        except Exception as error:  # record every failure: the test asserts there are none
            errors.append(f"{type(error).__name__}: {error}")
        durations.append(time.monotonic() - start)
        i += 1
    return {"iterations": i, "errors": errors, "durations": durations}


def reader(home: str, seconds: float, mode: str = "published") -> dict:
    errors, durations, rows = [], [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            rows.append(catalog.query(home, READER_SQL, warehouse=mode).row(0, named=True))
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
        durations.append(time.monotonic() - start)
    return {"queries": len(durations), "errors": errors, "durations": durations, "rows": rows}


def _metrics(i: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "window_id": [0],
            "model": ["ca1"],
            "n_factors": [1],
            "split": ["test"],
            "r2_total": [0.01 * i],
            "r2_pred": [None],
            "n_obs": [i],
        }
    )


def _betas(i: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "window_id": [0] * BETAS_PER_RUN,
            "model": ["ca1"] * BETAS_PER_RUN,
            "date": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, BETAS_PER_RUN), eager=True),
            "ticker": ["AAA"] * BETAS_PER_RUN,
            "factor": ["f1"] * BETAS_PER_RUN,
            "beta": [float(i)] * BETAS_PER_RUN,
        }
    )


if __name__ == "__main__":
    role, home, seconds, result, *mode = sys.argv[1:]
    report = {"writer": writer, "reader": reader}[role](home, float(seconds), *mode)
    with open(result, "w") as out:
        json.dump(report, out, default=str)
