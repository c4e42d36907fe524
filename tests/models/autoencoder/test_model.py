import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cae
from cae.models.autoencoder.model import PRESETS, CAConfig, CAStack
from cae.models.autoencoder.train import batch_loss, pack_panel
from cae.models.portfolios import managed_portfolios
from tests.support.synth import factor_panel


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids OpenMP wake-up costs on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def block(panel, factor_input="portfolios", n_dates=6):
    packed = pack_panel(panel, factor_input, 1e-8)
    return packed.block(torch.arange(n_dates))


def test_presets_set_depths():
    assert CAConfig.preset("CA0").hidden == ()
    assert CAConfig.preset("CA3").hidden == (32, 16, 8)
    seed = CAConfig.preset("CA-seed", n_factors=3)
    assert (seed.hidden, seed.factor_input, seed.n_factors) == ((8,), "returns", 3)
    assert set(PRESETS) == {"CA0", "CA1", "CA2", "CA3", "CA-seed", "CA0-reg", "CA1-reg", "CA2-reg"}
    assert CAConfig.preset("CA1-reg").factor_input == "regression"
    with pytest.raises(ValueError, match="unknown CA variant 'CA9'"):
        CAConfig.preset("CA9")


def test_defaults_are_the_papers_training_settings():
    config = CAConfig()
    assert (config.l1, config.batch_size) == (1e-4, 10_000)
    # measured on GKX's Monte Carlo (CAConfig's [MC]): the top of GKX's lr grid, and an epoch
    # of at least 20 steps so a small block is not one step per epoch
    assert (config.lr, config.min_steps_per_epoch) == (1e-2, 20)
    assert config.lr_grid == () and config.l1_grid == ()
    assert (config.max_epochs, config.patience, config.n_seeds) == (100, 5, 10)
    assert config.batch_norm and config.factor_input == "portfolios"
    assert 1e-5 <= config.l1 <= 1e-3 and 1e-3 <= config.lr <= 1e-2  # GKX tuning ranges
    assert [CAConfig.preset(f"CA{d}").hidden for d in range(4)] == [
        (),
        (32,),
        (32, 16),
        (32, 16, 8),
    ]


@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_shapes_and_fitted_equals_beta_dot_f(hidden):
    z, _, mask, x = block(factor_panel())
    stack = CAStack(4, x.shape[1], hidden, [2, 3], [0, 1])
    for training in (True, False):
        stack.train(training)
        fitted = stack(z, mask, x)
        betas, f = stack.betas(z, mask), stack.factors(x)
        assert fitted.shape == (6, z.shape[1], 2)
        assert betas.shape == (6, z.shape[1], 2, 3)
        assert f.shape == (6, 2, 3)
        ref = torch.einsum("bnmk,bmk->bnm", betas, f)
        assert torch.allclose(fitted[mask], ref[mask], atol=1e-6)


def test_first_layer_batch_norm_equals_torch_batchnorm_over_observed_rows():
    z, _, mask, _ = block(factor_panel())
    stack = CAStack(4, 5, (8,), [2], [0]).train()
    h = stack.beta_net.features(z, mask)[mask][:, 0]  # (R, 8)
    W, b = stack.beta_net.hidden[0].effective()
    bn = torch.nn.BatchNorm1d(8).train()
    ref = torch.relu(bn(z[mask] @ W[0] + b[0]))
    assert torch.allclose(h, ref, atol=1e-5)
    norm = stack.beta_net.norms[0]
    assert torch.allclose(norm.running_mean[0], bn.running_mean, atol=1e-6)
    assert torch.allclose(norm.running_var[0], bn.running_var, atol=1e-5)


def test_deeper_batch_norm_ignores_padding_rows():
    z, _, mask, x = block(factor_panel(observed=0.6))
    stack = CAStack(4, x.shape[1], (8, 4), [2], [0]).train()
    a = stack(z, mask, x)
    z2 = z.clone()
    z2[~mask] = 5.0  # garbage in padding rows
    b = CAStack(4, x.shape[1], (8, 4), [2], [0]).train()(z2, mask, x)
    assert torch.allclose(a[mask], b[mask], atol=1e-6)


@pytest.mark.parametrize("factor_input", ["portfolios", "returns"])
@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_masked_cell_changes_nothing(factor_input, hidden):
    panel = factor_panel(observed=0.7)
    t, n = (int(i[0]) for i in torch.nonzero(~panel.mask[:6], as_tuple=True))
    X2, y2 = panel.X.clone(), panel.y.clone()
    X2[t, n] = torch.tensor([0.9, -0.7, 0.3, 0.5])
    y2[t, n] = 0.25
    changed = type(panel)(panel.dates, panel.tickers, panel.char_names, X2, y2, panel.mask)

    def loss_and_grads(p):
        z, y, mask, x = block(p, factor_input)
        stack = CAStack(4, x.shape[1], hidden, [2, 3], [0, 1]).train()
        loss = batch_loss(stack, z, y, mask, x)
        loss.sum().backward()
        return loss.detach(), [q.grad.clone() for q in stack.parameters()]

    loss_a, grads_a = loss_and_grads(panel)
    loss_b, grads_b = loss_and_grads(changed)
    assert torch.equal(loss_a, loss_b)
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))


def test_managed_portfolios_match_per_date_lstsq():
    panel = factor_panel(n_dates=8, n_tickers=25, observed=0.8, seed=3)
    X, y, mask = panel.X.clone(), panel.y.clone(), panel.mask.clone()
    X[2, :, 1] = 0.0  # a characteristic missing for everyone: Z'Z singular
    X[3, :, 2] = X[3, :, 0]  # two collinear characteristics
    mask[4] = False
    mask[4, :3] = True  # fewer tickers than regressors
    x = managed_portfolios(X, y, mask)
    assert x.shape == (8, 5)
    for t in range(8):
        obs = mask[t].numpy()
        Z = np.column_stack([np.ones(obs.sum()), X[t].numpy()[obs]]).astype(np.float64)
        expected = np.linalg.lstsq(Z, y[t].numpy()[obs].astype(np.float64), rcond=None)[0]
        assert np.allclose(x[t].numpy(), expected, atol=1e-4), t


def test_managed_portfolio_intercept_is_equal_weighted_market_without_chars():
    y = torch.tensor([[0.01, 0.03, 0.05, 9.0]])
    mask = torch.tensor([[True, True, True, False]])
    x = managed_portfolios(torch.zeros(1, 4, 2), y, mask)
    assert x[0].tolist() == pytest.approx([0.03, 0.0, 0.0], abs=1e-6)


def test_stack_members_train_like_separate_models():
    z, y, mask, x = block(factor_panel())
    stack = CAStack(4, x.shape[1], (8,), [2, 3], [5, 6]).train()
    stack_loss = batch_loss(stack, z, y, mask, x) + 1e-3 * stack.l1_norm()
    stack_loss.sum().backward()
    for m, (k, seed) in enumerate([(2, 5), (3, 6)]):
        alone = CAStack(4, x.shape[1], (8,), [k], [seed]).train()
        loss = batch_loss(alone, z, y, mask, x) + 1e-3 * alone.l1_norm()
        loss.sum().backward()
        assert float(loss[0].detach()) == pytest.approx(float(stack_loss[m].detach()), rel=1e-5)
        g_stack = stack.beta_net.hidden[0].weight.grad[m]
        assert torch.allclose(alone.beta_net.hidden[0].weight.grad[0], g_stack, atol=1e-6)
        g_out = stack.factor_net.layer.weight.grad[m, :, :k]
        assert torch.allclose(alone.factor_net.layer.weight.grad[0], g_out, atol=1e-6)


def test_padded_factor_columns_stay_zero_under_adam():
    z, y, mask, x = block(factor_panel())
    stack = CAStack(4, x.shape[1], (8,), [1, 3], [0, 1]).train()
    opt = torch.optim.Adam(stack.parameters(), lr=1e-2)
    for _ in range(5):
        loss = batch_loss(stack, z, y, mask, x) + 1e-3 * stack.l1_norm()
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    assert float(stack.beta_net.output.weight[0, :, 1:].detach().abs().sum()) == 0.0
    assert float(stack.factor_net.layer.bias[0, 1:].detach().abs().sum()) == 0.0
    assert float(stack.factor_net.layer.weight[1].detach().abs().sum()) > 0.0


def test_select_keeps_members_outputs():
    z, _, mask, x = block(factor_panel())
    stack = CAStack(4, x.shape[1], (8, 4), [2, 3, 1], [0, 1, 2]).eval()
    sub = stack.select([2, 0])
    assert sub.n_factors == (1, 2)
    full = stack(z, mask, x)
    assert torch.allclose(sub(z, mask, x), full[..., [2, 0]], atol=1e-6)


def test_member_initialisation_depends_on_its_seed_only():
    a = CAStack(4, 5, (8,), [2, 2], [7, 8])
    b = CAStack(4, 5, (8,), [3], [8])
    assert torch.equal(a.beta_net.hidden[0].weight[1], b.beta_net.hidden[0].weight[0])
    assert not torch.equal(a.beta_net.hidden[0].weight[0], a.beta_net.hidden[0].weight[1])


IMPORT_ORDERS = """
import sys, importlib
first_modules = (
    "cae.models.autoencoder.train", "cae.models.autoencoder.model", "cae.models", "cae.pipeline"
)
for first in first_modules:
    for name in [m for m in sys.modules if m == "cae" or m.startswith("cae.")]:
        del sys.modules[name]
    importlib.import_module(first)
    from cae.models import ConditionalAutoencoder, __all__
    import cae.models.autoencoder.estimator as ae, cae.models.autoencoder.train as tr
    assert ConditionalAutoencoder is ae.ConditionalAutoencoder and ae.training is tr, first
    print(first, sorted(__all__))
"""


def test_models_package_exports_its_api_whichever_module_is_imported_first():
    # A fresh interpreter (torch loaded once), where each order starts with no cae module loaded.
    root = str(Path(cae.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ORDERS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "cae.models.autoencoder.train",
        "cae.models.autoencoder.model",
        "cae.models",
        "cae.pipeline",
    ]
    assert all("'CAConfig', 'CAStack', 'ConditionalAutoencoder'" in line for line in lines)


def test_regression_factors_equal_a_per_date_least_squares_loop():
    from cae.models.autoencoder.model import regression_factors

    gen = torch.Generator().manual_seed(0)
    beta = torch.randn(4, 9, 2, 3, generator=gen, dtype=torch.float64)  # (B, N, M, K)
    y = torch.randn(4, 9, generator=gen, dtype=torch.float64)
    mask = torch.rand(4, 9, generator=gen) > 0.3
    mask[:, :4] = True
    f = regression_factors(beta, y, mask, 0.0)
    for b in range(4):
        for m in range(2):
            B = beta[b, mask[b], m].numpy()
            expected = np.linalg.lstsq(B, y[b, mask[b]].numpy(), rcond=None)[0]
            assert np.allclose(f[b, m].numpy(), expected, atol=1e-10)
    # a masked row's values change nothing; a relative ridge shrinks the factors
    beta2, y2 = beta.clone(), y.clone()
    beta2[~mask], y2[~mask] = 7.0, -3.0
    assert torch.allclose(regression_factors(beta2, y2, mask, 0.0), f)
    assert float(regression_factors(beta, y, mask, 0.5).norm()) < float(f.norm())


def test_regression_stack_fits_y_through_its_betas_and_trains_through_the_solve():
    panel = factor_panel(n_dates=8, n_tickers=12, seed=2)
    packed = pack_panel(panel, "regression", 1e-8)
    assert packed.x.shape == (8, 0)
    z, y, mask, x = packed.block(torch.arange(8))
    stack = CAStack(panel.n_chars, 0, (16,), [1, 2], [0, 1])
    assert stack.factor_net is None
    stack.eval()
    fitted = stack(z, mask, x, y)  # (B, C, M)
    beta = stack.betas(z, mask).double()
    for m, k in enumerate((1, 2)):
        B, r = beta[0, mask[0], m, :k], y[0, mask[0], None].double()
        expected = (B @ torch.linalg.lstsq(B, r).solution).squeeze(1)
        assert torch.allclose(fitted[0, mask[0], m].double(), expected, atol=1e-5)
    stack.train()
    batch_loss(stack, z, y, mask, x).sum().backward()
    assert float(stack.beta_net.hidden[0].weight.grad.abs().sum()) > 0


def test_cae_run_accepts_the_regression_presets_by_name():
    from cae.pipeline import RunConfig, model_factories

    config = RunConfig(models=("CA1-reg", "ipca"))
    config.check()
    (name, factory), _ = model_factories(config)
    model = factory()
    assert name == "CA1-reg" and model.config.factor_input == "regression"
    assert model.config.hidden == (32,)
