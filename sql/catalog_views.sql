-- catalog_views: one view per output table over its Parquet partitions (docs/architecture.md, "Tables").
-- Grain: each view has the grain of its table (runs: one row per run; windows: per run and
-- window; betas: per run, window, model, date, ticker and factor; factors: per run, window,
-- model, date and factor; fitted: per run, window, model, date and ticker; metrics: per run,
-- window, model, n_factors and split; inputs: per run, window, model and characteristic;
-- pricing_errors: per run, window, model and asset; long_short: per run, window, model and date;
-- importance: per run, window, model and characteristic; long_short_summary: per run and model).
-- Inputs: <outputs>/<table>/run_id=<id>/data.parquet. Paths are relative: the reader sets
-- file_search_path to the outputs folder, so the catalog survives moving the home directory.
-- Point-in-time rule: a view lists files when queried; each file is complete (renamed into
-- place), so a query sees a run's previous partition or its new one, never a partial one.
-- The typed empty select keeps every column and type when no run has been published yet;
-- union_by_name reads files written before a column existed (null there): runs before
-- failure_reason, and the evaluation tables (pricing_errors, long_short, importance), which
-- are new enough to gain columns (a value-weighted long-short return, for one).

create or replace view runs as
with

published as (
    select *
    from read_parquet(
        'runs/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        union_by_name = true,
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::timestamptz as created_at,
        null::timestamptz as finished_at,
        null::varchar as config_json,
        null::varchar as code_version,
        null::varchar as data_version,
        null::varchar as status,
        null::varchar as failure_reason,
    where false
)

select
    run_id,
    created_at,
    finished_at,
    config_json,
    code_version,
    data_version,
    status,
    failure_reason,
from published;

create or replace view windows as
with

published as (
    select *
    from read_parquet(
        'windows/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::date as train_start,
        null::date as train_end,
        null::date as val_start,
        null::date as val_end,
        null::date as test_start,
        null::date as test_end,
    where false
)

select
    run_id,
    window_id,
    train_start,
    train_end,
    val_start,
    val_end,
    test_start,
    test_end,
from published;

create or replace view betas as
with

published as (
    select *
    from read_parquet(
        'betas/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::date as date,
        null::varchar as ticker,
        null::varchar as factor,
        null::double as beta,
    where false
)

select
    run_id,
    window_id,
    model,
    date,
    ticker,
    factor,
    beta,
from published;

create or replace view factors as
with

published as (
    select *
    from read_parquet(
        'factors/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::date as date,
        null::varchar as factor,
        null::double as value,
        null::double as "lambda",
    where false
)

select
    run_id,
    window_id,
    model,
    date,
    factor,
    value,
    "lambda",
from published;

create or replace view fitted as
with

published as (
    select *
    from read_parquet(
        'fitted/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::date as date,
        null::varchar as ticker,
        null::double as ret,
        null::double as ret_hat_total,
        null::double as ret_hat_pred,
    where false
)

select
    run_id,
    window_id,
    model,
    date,
    ticker,
    ret,
    ret_hat_total,
    ret_hat_pred,
from published;

create or replace view metrics as
with

published as (
    select *
    from read_parquet(
        'metrics/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::integer as n_factors,
        null::varchar as split,
        null::double as r2_total,
        null::double as r2_pred,
        null::bigint as n_obs,
        null::double as sse_total,
        null::double as sse_pred,
        null::double as ssy,
    where false
)

select
    run_id,
    window_id,
    model,
    n_factors,
    split,
    r2_total,
    r2_pred,
    n_obs,
    sse_total,
    sse_pred,
    ssy,
from published;

create or replace view inputs as
with

published as (
    select *
    from read_parquet(
        'inputs/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::varchar as characteristic,
        null::boolean as is_used,
        null::integer as n_fit_dates_left_out,
    where false
)

select
    run_id,
    window_id,
    model,
    characteristic,
    is_used,
    n_fit_dates_left_out,
from published;

create or replace view pricing_errors as
with

published as (
    select *
    from read_parquet(
        'pricing_errors/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        union_by_name = true,
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::varchar as asset,
        null::bigint as n_dates,
        null::double as mean_ret,
        null::double as alpha,
        null::double as t_alpha,
        null::double as alpha_pred,
        null::double as t_alpha_pred,
        null::double as r2_total,
        null::double as r2_pred,
        null::double as sse_total,
        null::double as sse_pred,
        null::double as ssx,
    where false
)

select
    run_id,
    window_id,
    model,
    asset,
    n_dates,
    mean_ret,
    alpha,
    t_alpha,
    alpha_pred,
    t_alpha_pred,
    r2_total,
    r2_pred,
    sse_total,
    sse_pred,
    ssx,
from published;

create or replace view long_short as
with

published as (
    select *
    from read_parquet(
        'long_short/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        union_by_name = true,
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::date as date,
        null::integer as n_leg,
        null::double as ret_ew,
    where false
)

select
    run_id,
    window_id,
    model,
    date,
    n_leg,
    ret_ew,
from published;

create or replace view importance as
with

published as (
    select *
    from read_parquet(
        'importance/*/data.parquet',
        hive_partitioning = true,
        hive_types = {'run_id': varchar},
        union_by_name = true,
        allow_empty = true
    )
    union all by name
    select
        null::varchar as run_id,
        null::integer as window_id,
        null::varchar as model,
        null::varchar as characteristic,
        null::double as r2_drop,
        null::double as importance,
        null::double as sse_zeroed,
        null::double as sse_total,
        null::double as ssy,
    where false
)

select
    run_id,
    window_id,
    model,
    characteristic,
    r2_drop,
    importance,
    sse_zeroed,
    sse_total,
    ssy,
from published;

-- long_short_summary: the long-short returns of each run and model over all its test dates,
-- annualised by the run's panel frequency (252 daily, 52 weekly, 12 monthly periods a year;
-- null when the run's config names none). The maximum drawdown is the largest fall of the
-- cumulative return sum(ret_ew) from an earlier peak or from 0: a long-short portfolio holds a
-- fixed notional, so its returns add. cae.evaluation.long_short.long_short_summary computes the
-- same numbers in Python (tests/evaluation/test_long_short.py checks they agree).
create or replace view long_short_summary as
with

long_short_returns as (
    select
        run_id,
        window_id,
        model,
        date,
        ret_ew,
    from long_short
),

run_frequencies as (
    select
        run_id,
        case json_extract_string(config_json, '$.freq')
            when 'daily' then 252
            when 'weekly' then 52
            when 'monthly' then 12
        end as periods_per_year,
    from runs
),

cumulative as (
    select
        run_id,
        window_id,
        model,
        date,
        ret_ew,
        sum(ret_ew) over (
            partition by run_id, model
            order by date, window_id
            rows between unbounded preceding and current row
        ) as cumulative_ret,
    from long_short_returns
),

drawdowns as (
    select
        run_id,
        model,
        ret_ew,
        greatest(
            max(cumulative_ret) over (
                partition by run_id, model
                order by date, window_id
                rows between unbounded preceding and current row
            ),
            0
        ) - cumulative_ret as drawdown,
    from cumulative
)

select
    drawdowns.run_id,
    drawdowns.model,
    count(*) as n_dates,
    avg(drawdowns.ret_ew) * run_frequencies.periods_per_year as mean_annual,
    stddev_samp(drawdowns.ret_ew) * sqrt(run_frequencies.periods_per_year) as volatility_annual,
    avg(drawdowns.ret_ew) / nullif(stddev_samp(drawdowns.ret_ew), 0)
        * sqrt(run_frequencies.periods_per_year) as sharpe_annual,
    max(drawdowns.drawdown) as max_drawdown,
from drawdowns
left join run_frequencies on drawdowns.run_id = run_frequencies.run_id
group by drawdowns.run_id, drawdowns.model, run_frequencies.periods_per_year;
