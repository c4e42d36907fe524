from cae.warehouse.sources.sample import read_sample_prices, read_sample_tickers


def test_sample_has_the_documented_size():
    prices = read_sample_prices()
    assert prices.height == 122_574
    assert prices["ticker"].n_unique() == 524
    assert str(prices["date"].min()) == "2009-08-21"
    assert str(prices["date"].max()) == "2010-08-20"


def test_sample_volume_is_in_shares():
    prices = read_sample_prices()
    first = prices.filter(ticker="A").sort("date").row(0, named=True)
    assert first["volume"] == 34_758 * 100


def test_sample_tickers_have_sectors():
    tickers = read_sample_tickers()
    assert tickers.filter(ticker="MMM")["sector"].item() == "Industrials"
