-- Migration 1: the raw warehouse tables (docs/architecture.md, "Tables").
-- prices: one row per ticker and trading date, raw (not split-adjusted) as the source gave it;
--   volume and shares_out in shares; adj_factor turns close into an adjusted close (1.0 if unknown).
-- tickers: one row per ticker, descriptive metadata (name, sector, industry).
-- ingest_batches: one row per ingested file or source pull, with its counts and outcome.
-- rejected_rows: one row per input row that broke a rule, kept with the raw text and the rule;
--   row_number is the 1-based data row of the file (the header line is not counted).

create table prices (
    ticker varchar not null,
    date date not null,
    open double,
    high double,
    low double,
    close double not null,
    volume double,
    adj_factor double not null default 1.0,
    shares_out double,
    source varchar not null,
    batch_id bigint not null,
    primary key (ticker, date),
);

create table tickers (
    ticker varchar primary key,
    name varchar,
    sector varchar,
    industry varchar,
    source varchar not null,
);

create sequence ingest_batch_ids start 1;

create table ingest_batches (
    batch_id bigint primary key default nextval('ingest_batch_ids'),
    source varchar not null,
    file varchar,
    sha256 varchar,
    rows_in bigint,
    rows_new bigint,
    rows_changed bigint,
    rows_rejected bigint,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
);

create table rejected_rows (
    batch_id bigint not null,
    row_number bigint not null,
    raw varchar not null,
    reason varchar not null,
);
