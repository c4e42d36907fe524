import math

import pytest

from cae import cli
from cae.models import MODELS, PRESETS, FactorModel, ModelSettings, build_model
from cae.pipeline import RunConfig
from tests.support.synth import factor_panel

# Observable factors need characteristic names the tiny panel has.
SETTINGS = ModelSettings(n_factors=2, ca_max_epochs=2, ca_seeds=1, observable_chars=("c1", "c2"))


def test_every_preset_and_baseline_is_registered():
    assert set(PRESETS) <= set(MODELS)
    assert {"pca", "ipca", "observable", "cross_sectional"} <= set(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registered_model_fits_and_scores_the_same_way(name):
    panel = factor_panel(n_dates=24, n_tickers=20)
    train, val, test = (
        panel.slice_dates(0, 12),
        panel.slice_dates(12, 18),
        panel.slice_dates(18, 24),
    )
    model = build_model(name, SETTINGS)
    assert isinstance(model, FactorModel)
    assert model.fit(train, val) is model
    k = model.factors_.shape[1]
    assert model.betas(test).shape == (test.n_dates, test.n_tickers, k)
    for kind in ("total", "predictive"):
        assert math.isfinite(model.score(test, kind))
    names = model.factor_names_
    assert names is None or len(names) == k


def test_a_run_config_names_every_registered_model_on_an_unknown_one(tmp_path, capsys):
    with pytest.raises(Exception, match="choose from CA0"):
        RunConfig(models=("CA9",)).check()
    assert cli.main(["train", "--model", "CA9", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown models ['CA9']" in err and "ipca" in err
    assert "Traceback" not in err
