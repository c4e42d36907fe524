from cae.pipeline import IngestResult, PanelSummary, PooledRow, Published, WindowResult
from cae.runs.summary import ingest_markdown, panel_markdown, summary_markdown, windows_markdown

PANEL = PanelSummary(
    first_date="2010-01-04", last_date="2010-06-30", n_dates=120, n_tickers=30, n_rows=3000
)
NOTHING = Published(run_id="r1", pooled=(), plots={})


def _window(window_id, cached, r2_total=None, chars_used=None):
    return WindowResult(window_id, cached, r2_total or {}, chars_used or {})


def test_summary_lists_data_windows_and_the_pooled_table_in_family_order():
    pooled = (
        PooledRow("pca", n_factors=2, r2_total=0.1234, r2_pred=-0.005, n_obs=1200),
        PooledRow("CA1", n_factors=2, r2_total=0.1, r2_pred=None, n_obs=1200),
    )
    text = summary_markdown(
        PANEL,
        [_window(0, cached=False), _window(1, cached=True)],
        Published(run_id="r1", pooled=pooled, plots={}),
        IngestResult(files=1, rows_new=10, rows_changed=0, rows_rejected=4, data_version="v"),
    )
    assert text.startswith("# cae run `r1`\n")
    assert "- data: 2010-01-04 to 2010-06-30 (120 dates)" in text
    assert "- rejected rows: 4" in text
    assert "- windows: 2 (1 trained, 1 from cache)" in text
    assert (
        "| model | K | R2 total % | R2 predictive % | observations |\n"
        "| --- | ---: | ---: | ---: | ---: |\n"
        "| CA1 | 2 | 10.00 | n/a | 1,200 |\n"
        "| pca | 2 | 12.34 | -0.50 | 1,200 |\n"
    ) in text
    assert "Plots" not in text


def test_summary_shows_its_plots_inline_never_as_file_links():
    uri = "data:image/png;base64,iVBORw0KGgo="
    text = summary_markdown(PANEL, [], NOTHING, images={"r2_by_window": uri})
    assert "## Plots\n\n![r2_by_window](data:image/png;base64,iVBORw0KGgo=)\n" in text
    assert "file://" not in text


def test_ingest_markdown_counts_rows_by_fate():
    report = IngestResult(
        files=2, rows_new=1500, rows_changed=3, rows_rejected=7, data_version="batch-9"
    )
    text = ingest_markdown("landing/", report)
    assert "# cae ingest `landing/`" in text
    assert "- rows: 1,500 new, 3 changed, 7 rejected (kept in `rejected_rows`)" in text
    assert "- data version: `batch-9`" in text


def test_panel_markdown_names_the_refreshed_tables_and_the_frozen_file():
    summary = PanelSummary(
        first_date="2010-01-04",
        last_date="2010-12-31",
        n_dates=245,
        n_tickers=523,
        n_rows=122574,
    )
    text = panel_markdown("/h/panels/daily-v1.parquet", summary, ["daily", "weekly"])
    assert "- refreshed: `characteristics_daily`, `characteristics_weekly`" in text
    assert "- frozen for training: `/h/panels/daily-v1.parquet`" in text
    assert "- universe: 523 tickers, 122,574 ticker-dates" in text


def test_windows_markdown_has_one_row_per_window_and_a_column_per_model():
    trained = [
        _window(0, cached=False, r2_total={"CA0": 0.25, "pca": 0.3}),
        _window(1, cached=True, r2_total={"pca": 0.125}),
    ]
    text = windows_markdown("r1", trained)
    assert "| window | state | CA0 | pca |" in text
    assert "| 0 | trained | 25.00 | 30.00 |" in text
    assert "| 1 | from cache | n/a | 12.50 |" in text


def test_summary_gives_the_range_of_characteristics_used_per_model():
    trained = [
        _window(0, cached=False, chars_used={"ipca": (8, 20), "CA0": (8, 20)}),
        _window(1, cached=False, chars_used={"ipca": (15, 20), "CA0": (8, 20)}),
    ]
    text = summary_markdown(PANEL, trained, NOTHING)
    assert (
        "- characteristics used per window (table `inputs`): ipca 8-15 of 20, CA0 8 of 20" in text
    )
    assert "characteristics used" not in summary_markdown(PANEL, [_window(0, cached=True)], NOTHING)


def test_summary_says_when_the_run_ingested_nothing():
    assert "- rejected rows: not ingested in this run" in summary_markdown(PANEL, [], NOTHING)


def test_summary_lists_the_warnings_above_the_r2_table():
    text = summary_markdown(PANEL, [], NOTHING, warnings=["window 4: partial last test block"])
    assert "## Warnings\n\n- window 4: partial last test block\n" in text
    assert text.index("## Warnings") < text.index("## Out-of-sample R2")
    assert "## Warnings" not in summary_markdown(PANEL, [], NOTHING)
