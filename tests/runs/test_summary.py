from cae.runs.summary import ingest_markdown, panel_markdown, summary_markdown, windows_markdown


def test_summary_lists_data_windows_and_the_pooled_table():
    text = summary_markdown(
        "r1",
        {
            "first_date": "2010-01-04",
            "last_date": "2010-06-30",
            "n_dates": 120,
            "n_tickers": 30,
            "n_rows": 3000,
        },
        [{"window_id": 0, "cached": False}, {"window_id": 1, "cached": True}],
        {
            "pooled": [
                {"model": "pca", "n_factors": 2, "r2_total": 0.1234, "r2_pred": None, "n_obs": 1200}
            ],
            "plots": {"r2_by_window": "/h/outputs/plots/r2.png"},
        },
        {"rows_rejected": 4},
    )
    assert "- data: 2010-01-04 to 2010-06-30 (120 dates)" in text
    assert "- rejected rows: 4" in text
    assert "- windows: 2 (1 trained, 1 from cache)" in text
    assert "| pca | 2 | 12.34 | n/a | 1,200 |" in text
    assert "[r2_by_window](file:///h/outputs/plots/r2.png)" in text


def test_ingest_markdown_counts_rows_by_fate():
    report = {"files": 2, "rows_new": 1500, "rows_changed": 3, "rows_rejected": 7}
    text = ingest_markdown("landing/", {**report, "data_version": "batch-9"})
    assert "# cae ingest `landing/`" in text
    assert "- rows: 1,500 new, 3 changed, 7 rejected (kept in `rejected_rows`)" in text
    assert "- data version: `batch-9`" in text


def test_panel_markdown_names_the_refreshed_tables_and_the_frozen_file():
    summary = {
        "first_date": "2010-01-04",
        "last_date": "2010-12-31",
        "n_dates": 245,
        "n_tickers": 523,
        "n_rows": 122574,
    }
    text = panel_markdown("/h/panels/daily-v1.parquet", summary, ["daily", "weekly"])
    assert "- refreshed: `characteristics_daily`, `characteristics_weekly`" in text
    assert "- frozen for training: `/h/panels/daily-v1.parquet`" in text
    assert "- universe: 523 tickers, 122,574 ticker-dates" in text


def test_windows_markdown_has_one_row_per_window_and_a_column_per_model():
    trained = [
        {"window_id": 0, "cached": False, "r2_total": {"CA0": 0.25, "pca": 0.3}},
        {"window_id": 1, "cached": True, "r2_total": {"pca": 0.125}},
    ]
    text = windows_markdown("r1", trained)
    assert "| window | state | CA0 | pca |" in text
    assert "| 0 | trained | 25.00 | 30.00 |" in text
    assert "| 1 | from cache | n/a | 12.50 |" in text


def test_summary_gives_the_range_of_characteristics_used_per_model():
    panel = {"first_date": "a", "last_date": "b", "n_dates": 1, "n_tickers": 1, "n_rows": 1}
    trained = [
        {"window_id": 0, "cached": False, "chars_used": {"ipca": [8, 20], "CA0": [8, 20]}},
        {"window_id": 1, "cached": False, "chars_used": {"ipca": [15, 20], "CA0": [8, 20]}},
    ]
    text = summary_markdown("r1", panel, trained, {"pooled": [], "plots": {}})
    assert (
        "- characteristics used per window (table `inputs`): ipca 8-15 of 20, CA0 8 of 20" in text
    )
    assert "characteristics used" not in summary_markdown(
        "r1", panel, [{"window_id": 0, "cached": True}], {"pooled": [], "plots": {}}
    )
