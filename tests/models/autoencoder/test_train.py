import dataclasses
import shutil

import pytest
import torch

from cae.errors import ConfigError
from cae.evaluation.metrics import expanding_lambda
from cae.models.autoencoder import ConditionalAutoencoder
from cae.models.autoencoder.model import CAConfig, CAStack
from cae.models.autoencoder.train import (
    batch_loss,
    date_batches,
    loss_backward,
    member_mse,
    pack_panel,
    resolve_device,
    train_stack,
)
from tests.support.synth import factor_panel

FAST = {"n_factors": 2, "n_seeds": 2, "max_epochs": 15, "batch_dates": 5, "patience": 3}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids OpenMP wake-up costs on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def split():
    panel = factor_panel(n_dates=50, n_tickers=30, seed=1)
    return panel.slice_dates(0, 30), panel.slice_dates(30, 40), panel.slice_dates(40, 50)


def test_date_batches_cover_every_observed_date_once():
    counts = torch.tensor([3, 0, 5, 2, 4, 1, 0, 6])
    gen = torch.Generator().manual_seed(0)
    by_dates = date_batches(counts, 0, 3, gen)
    assert [len(b) for b in by_dates] == [3, 3]
    assert sorted(torch.cat(by_dates).tolist()) == [0, 2, 3, 4, 5, 7]
    by_obs = date_batches(counts, 6, None, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(by_obs).tolist()) == [0, 2, 3, 4, 5, 7]
    assert all(int(counts[b].sum()) >= 6 for b in by_obs[:-1])


def test_early_stopping_restores_best_epoch(split):
    train, val, _ = split
    train_p, val_p = pack_panel(train, "portfolios", 1e-8), pack_panel(val, "portfolios", 1e-8)
    stack = CAStack(4, 5, (16,), [1, 2, 3], [0, 1, 2])
    # a large learning rate makes validation loss bounce, so patience triggers
    best, hist = train_stack(stack, train_p, val_p, 0.0, 0.05, 0, 4, 60, 3, seed=0)
    val_now = member_mse(best, val_p)
    for m in range(3):
        history = [row[m] for row in hist.val_mse[: hist.epochs_run[m]]]
        assert hist.best_val[m] == pytest.approx(min(history))
        assert hist.best_epoch[m] == history.index(min(history)) + 1
        assert float(val_now[m]) == pytest.approx(hist.best_val[m], rel=1e-5)
        assert hist.epochs_run[m] == hist.best_epoch[m] + 3 or hist.epochs_run[m] == 60
    assert min(hist.epochs_run) < 60  # at least one member stopped early
    assert hist.active_members[0] == 3


def test_without_validation_keeps_last_epoch(split):
    train, _, _ = split
    train_p = pack_panel(train, "portfolios", 1e-8)
    _, hist = train_stack(CAStack(4, 5, (), [2], [0]), train_p, None, 1e-4, 1e-2, 0, 6, 4, 2, 0)
    assert hist.best_epoch == [4]
    assert hist.epochs_run == [4]


def test_fit_is_deterministic_for_a_seed(split):
    train, val, test = split
    a = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(train, val)
    b = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(train, val)
    c = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST, seed=1)).fit(train, val)
    assert torch.equal(a.betas(test), b.betas(test))
    assert torch.equal(a.factors(test), b.factors(test))
    assert not torch.allclose(a.betas(test), c.betas(test))


def test_ensemble_fit_is_the_average_of_member_fits(split):
    train, val, test = split
    model = ConditionalAutoencoder(CAConfig.preset("CA2", **{**FAST, "n_seeds": 3})).fit(train, val)
    betas, f = model.betas(test), model.factors(test)
    assert betas.shape == (10, 30, 6)
    assert f.shape == (10, 6)
    assert model.factors_.shape == (30, 6)
    assert model.factor_names_ == ("s1_f1", "s1_f2", "s2_f1", "s2_f2", "s3_f1", "s3_f2")
    net = model.net_
    member_fits = torch.einsum(
        "tnmk,tmk->tnm", net.betas(test.X), net.factors(model_x(model, test))
    )
    expected = torch.where(test.mask, member_fits.mean(dim=-1), 0.0)
    assert torch.allclose(model.predict(test), expected, atol=1e-6)


def model_x(model, panel):
    from cae.models.autoencoder.train import factor_inputs

    return factor_inputs(panel, model.config.factor_input, model.config.ridge)


def test_grid_members_trained_together_match_separate_fits(split):
    train, val, test = split
    configs = [CAConfig.preset("CA1", **{**FAST, "n_factors": k, "n_seeds": 1}) for k in (1, 3)]
    together = ConditionalAutoencoder.fit_many(configs, train, val)
    for config, model in zip(configs, together, strict=True):
        alone = ConditionalAutoencoder(config).fit(train, val)
        assert alone.history_.best_epoch[0] == model.history_.best_epoch[configs.index(config)]
        assert torch.allclose(alone.betas(test), model.betas(test), atol=1e-4)


def test_forward_target_betas_use_no_future_data(split):
    train, val, test = split
    model = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(train, val)
    t = 4
    X2, y2 = test.X.clone(), test.y.clone()
    X2[t + 1 :] = -X2[t + 1 :]
    y2[t + 1 :] += 1.0
    future = type(test)(test.dates, test.tickers, test.char_names, X2, y2, test.mask)
    assert torch.equal(model.betas(test)[: t + 1], model.betas(future)[: t + 1])
    assert torch.equal(model.factors(test)[: t + 1], model.factors(future)[: t + 1])
    pred = model.predict(test, "predictive")
    assert torch.equal(pred[: t + 1], model.predict(future, "predictive")[: t + 1])
    # the predictive fit of t + 1 uses X[t+1] and factors up to t, never y[t+1]
    y_only = type(test)(test.dates, test.tickers, test.char_names, test.X, y2, test.mask)
    assert torch.equal(pred[: t + 2], model.predict(y_only, "predictive")[: t + 2])
    assert not torch.equal(pred, model.predict(y_only, "predictive"))


def test_model_recovers_a_factor_structure(split):
    train, val, test = split
    config = CAConfig.preset("CA1", n_factors=2, n_seeds=2, max_epochs=60, batch_dates=5, lr=1e-2)
    model = ConditionalAutoencoder(config).fit(train, val)
    # y = beta(X) . f + noise with noise ~ 1/3 of the signal's scale: total R2 near 0.6
    assert model.score(test) > 0.4
    assert model.score(train) > 0.4


def test_returns_factor_input_fits(split):
    train, val, test = split
    model = ConditionalAutoencoder(CAConfig.preset("CA-seed", **FAST)).fit(train, val)
    assert model.net_.factor_net.layer.weight.shape == (2, 30, 2)
    assert model.predict(test).shape == (10, 30)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ConfigError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_matches_cpu(split):
    train, val, test = split
    cpu = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(train, val)
    gpu = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST, device="cuda")).fit(train, val)
    assert gpu.net_.beta_net.output.weight.device.type == "cuda"
    assert gpu.betas(test).device.type == "cpu"
    assert abs(cpu.score(test) - gpu.score(test)) < 0.05


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_compiled_training_matches_eager(split):
    train, _, _ = split
    train_p = pack_panel(train, "portfolios", 1e-8)
    runs = []
    for compiled in (False, True):
        stack = CAStack(4, 5, (8,), [2, 3], [0, 1])
        best, _ = train_stack(stack, train_p, None, 1e-4, 1e-2, 0, 6, 2, 2, 0, compile=compiled)
        runs.append(best.betas(train_p.z, train_p.mask))
    assert torch.allclose(runs[0], runs[1], atol=1e-4)


@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_date_by_date_backward_equals_whole_batch_gradient(split, hidden):
    train, _, _ = split
    z, y, mask, x = pack_panel(train, "portfolios", 1e-8).block(torch.arange(7))
    whole = CAStack(4, 5, hidden, [2, 3], [0, 1]).train()
    by_date = CAStack(4, 5, hidden, [2, 3], [0, 1]).train()
    expected = batch_loss(whole, z, y, mask, x)
    expected.sum().backward()
    got = loss_backward(by_date, z, y, mask, x)
    assert torch.allclose(got, expected.detach(), rtol=1e-5)
    for a, b in zip(whole.parameters(), by_date.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-4)
    if hidden:
        key = "beta_net.norms.0.running_var"
        assert torch.allclose(whole.state_dict()[key], by_date.state_dict()[key])


def with_absent_c4(panel, n_dates):
    """`panel` with c4 at 0 for every ticker on its first `n_dates` dates (a warm-up)."""
    X = panel.X.clone()
    X[:n_dates, :, 3] = 0.0
    return dataclasses.replace(panel, X=X)


def test_characteristic_absent_on_most_training_dates_is_left_out_of_the_networks(split):
    train, val, test = split
    warm = with_absent_c4(train, 24)  # 24 of 30 training dates
    model = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(warm, val)
    assert model.chars_left_out_ == (train.char_names[3],)
    assert model.n_dates_left_out_ == 0
    assert model.net_.n_chars == 3
    # c4 no longer reaches any prediction: changing it in the test block changes nothing.
    moved = dataclasses.replace(test, X=test.X + torch.tensor([0.0, 0.0, 0.0, 0.5]))
    for kind in ("total", "predictive"):
        assert torch.equal(model.predict(test, kind), model.predict(moved, kind))
    full = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(train, val)
    assert full.chars_left_out_ == () and full.n_dates_left_out_ == 0 and full.net_.n_chars == 4
    assert not torch.equal(full.predict(test), full.predict(moved))


def test_characteristic_absent_on_a_fifth_of_training_dates_is_kept_without_those_dates(split):
    train, val, test = split
    warm = with_absent_c4(train, 6)  # 6 of 30 training dates
    config = CAConfig.preset("CA1", n_factors=2, n_seeds=2, max_epochs=60, batch_dates=5, lr=1e-2)
    model = ConditionalAutoencoder(config).fit(warm, val)
    assert model.chars_left_out_ == () and model.net_.n_chars == 4
    assert model.n_dates_left_out_ == 6
    # The 6 dates are out of the fit: their returns change nothing the model learns.
    y = warm.y.clone()
    y[:6] += 0.5
    moved = ConditionalAutoencoder(config).fit(dataclasses.replace(warm, y=y), val)
    assert torch.equal(model.betas(test), moved.betas(test))
    assert torch.equal(model.factors(test), moved.factors(test))
    # Their factors are the mean of the fitted dates' factors; lambda stays finite and small.
    f = model.factors_
    assert torch.allclose(f[:6], f[6:].mean(dim=0).expand(6, -1), atol=1e-6)
    assert torch.equal(model.factors(warm), f)
    lam = expanding_lambda(model.factors(test), model.factors(warm))
    assert bool(torch.isfinite(lam).all())
    assert float(lam.abs().max()) < 2 * float(f[6:].abs().max())
    assert bool(torch.isfinite(model.predict(test, "predictive")).all())
    # As good as the fit on the clean panel (measured: test total R2 0.708 against 0.709).
    assert model.score(test) > 0.65


def test_validation_dates_with_an_absent_characteristic_do_not_steer_early_stopping(split):
    train, val, _ = split
    warm = with_absent_c4(train, 6)
    a = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(warm, val)
    # c4 absent on val's first 3 dates: those dates leave the validation loss, so making their
    # returns huge changes nothing.
    val_gap = with_absent_c4(val, 3)
    y = val_gap.y.clone()
    y[:3] *= 100.0
    b = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(warm, val_gap)
    c = ConditionalAutoencoder(CAConfig.preset("CA1", **FAST)).fit(
        warm, dataclasses.replace(val_gap, y=y)
    )
    assert b.history_.best_val == c.history_.best_val
    assert b.history_.best_val != a.history_.best_val


def test_min_batches_splits_a_small_block_into_at_least_that_many_steps():
    counts = torch.full((60,), 200)  # 200 tickers x 60 months: one GKX batch of 10,000
    gen = torch.Generator().manual_seed(0)
    assert len(date_batches(counts, 10_000, None, gen)) == 2
    for minimum in (1, 7, 20, 60, 100):
        batches = date_batches(counts, 10_000, None, torch.Generator().manual_seed(0), minimum)
        assert len(batches) >= min(minimum, 60)
        assert sorted(torch.cat(batches).tolist()) == list(range(60))
    uneven = torch.tensor([500, 1, 1, 1, 0, 1, 1])
    batches = date_batches(uneven, 10_000, None, torch.Generator().manual_seed(1), 4)
    assert len(batches) == 4 and all(len(b) > 0 for b in batches)
    # a large block keeps GKX's batches of 10,000 observations
    assert len(date_batches(torch.full((60,), 2000), 10_000, None, gen, 5)) == 12


def test_regression_factor_model_realises_factors_by_least_squares_on_its_betas(split):
    train, val, test = split
    model = ConditionalAutoencoder(CAConfig.preset("CA1-reg", **FAST)).fit(train, val)
    assert model.net_.factor_net is None
    beta = model.betas(test) * model.net_.n_members  # (T, N, S*K): each member's own betas
    f = model.factors(test)  # (T, S*K)
    for t in range(test.n_dates):
        obs = test.mask[t]
        for m in range(model.net_.n_members):
            cols = slice(2 * m, 2 * m + 2)
            expected = torch.linalg.lstsq(
                beta[t, obs, cols].double(), test.y[t, obs, None].double()
            ).solution.squeeze(1)
            assert torch.allclose(f[t, cols].double(), expected, atol=1e-4, rtol=1e-3)
    assert model.predict(test).shape == (10, 30)


def test_learning_rate_l1_grid_keeps_the_best_validation_pair(split):
    train, val, test = split
    config = CAConfig.preset("CA1", **FAST, lr_grid=(1e-3, 1e-2), l1_grid=(0.0, 1e-2))
    model = ConditionalAutoencoder(config).fit(train, val)
    assert len(model.grid_scores_) == 4
    best = max(range(4), key=lambda i: model.grid_scores_[i])
    pairs = [(lr, l1) for lr in (1e-3, 1e-2) for l1 in (0.0, 1e-2)]
    assert (model.selected_config_.lr, model.selected_config_.l1) == pairs[best]
    assert model.config is config and model.score(val) == pytest.approx(model.grid_scores_[best])
    alone = ConditionalAutoencoder(model.selected_config_).fit(train, val)
    assert torch.allclose(alone.predict(test), model.predict(test), atol=1e-5)
    with pytest.raises(ConfigError, match="needs a validation block"):
        ConditionalAutoencoder(config).fit(train, None)
