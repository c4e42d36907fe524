from cae.run_summary import summary_markdown


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
