from pathlib import Path

import pandas as pd
import pytest

from cae import warehouse
from cae.errors import DataError
from cae.warehouse import ingest
from cae.warehouse.sources.yfinance import parse_download

# Hand-made in the shape `yfinance.download(..., auto_adjust=False)` returns and `to_csv` writes:
# two column levels (Price, Ticker) over a Date index; NEWCO lists on 2024-01-03.
RECORDED = Path(__file__).parent / "fixtures" / "yfinance_download.csv"


def recorded_frame():
    return pd.read_csv(RECORDED, header=[0, 1], index_col=0, parse_dates=True)


def test_parse_download_gives_long_rows_without_pre_listing_dates():
    rows = parse_download(recorded_frame())
    assert rows.height == 5
    assert rows.filter(ticker="NEWCO")["date"].cast(str).to_list() == ["2024-01-03", "2024-01-04"]
    first = rows.row(0, named=True)
    assert (first["ticker"], str(first["date"]), first["close"]) == (
        "AAPL",
        "2024-01-02",
        185.639999,
    )
    assert first["volume"] == 82488700


def test_field_and_ticker_levels_may_be_swapped():
    swapped = recorded_frame().swaplevel(axis=1)
    assert parse_download(swapped).sort("ticker", "date").equals(parse_download(recorded_frame()))


def test_flat_columns_are_rejected():
    with pytest.raises(DataError, match="expected columns indexed by"):
        parse_download(pd.DataFrame({"Close": [1.0]}))


def test_parsed_rows_ingest_with_adjustment_factor(cae_home):
    con = warehouse.connect()
    report = ingest.ingest_frame(
        con, parse_download(recorded_frame()), source="yfinance", file=None
    )
    assert (report.rows_new, report.rows_rejected) == (5, 0)
    factor = con.execute(
        "select adj_factor from prices where ticker = 'AAPL' and date = '2024-01-02'"
    ).fetchone()[0]
    assert factor == pytest.approx(184.290421 / 185.639999)


def test_ingest_source_routes_yfinance_tickers(cae_home, monkeypatch):
    from cae.warehouse.sources import yfinance

    asked = []

    def fake_download(tickers):
        asked.append(tickers)
        return parse_download(recorded_frame())

    monkeypatch.setattr(yfinance, "download", fake_download)
    (report,) = ingest.ingest_source(warehouse.connect(), "yfinance:AAPL,NEWCO")
    assert asked == [["AAPL", "NEWCO"]]
    assert (report.source, report.rows_new) == ("yfinance", 5)
