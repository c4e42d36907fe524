"""The one list of models: a name maps to a builder, read by the pipeline, the CLI and benchmarks.

Adding a model is one entry here (plus its module). Autoencoder variants come from
`cae.models.autoencoder.PRESETS`, so a new preset is registered by being defined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cae.models.autoencoder import PRESETS, CAConfig, ConditionalAutoencoder
from cae.models.base import FactorModel
from cae.models.cross_sectional import CrossSectional
from cae.models.ipca import IPCA
from cae.models.observable import Observable
from cae.models.pca import PCA

__all__ = ["BASELINES", "MODELS", "ModelSettings", "build_model"]


@dataclass(frozen=True)
class ModelSettings:
    """The settings a run hands every model builder (each reads the ones it uses)."""

    n_factors: int = 3  # K for the autoencoders, PCA and IPCA
    ca_max_epochs: int = 100  # autoencoder: passes over the training block at most
    ca_seeds: int = 10  # autoencoder: ensemble members
    ca_patience: int = 5  # autoencoder: early-stopping patience
    ca_l1: float = 1e-4  # autoencoder: L1 penalty on weights
    ca_lr: float = 1e-3  # autoencoder: Adam learning rate
    observable_chars: tuple[str, ...] = ("mvel1", "mom12m", "retvol")  # observable factors
    seed: int = 0  # autoencoder members are seeded seed .. seed + ca_seeds - 1
    device: str = "cpu"  # autoencoder: "cpu", "cuda" or "auto"


def _autoencoder(preset: str) -> Callable[[ModelSettings], FactorModel]:
    def build(settings: ModelSettings) -> FactorModel:
        config = CAConfig.preset(
            preset,
            n_factors=settings.n_factors,
            max_epochs=settings.ca_max_epochs,
            n_seeds=settings.ca_seeds,
            patience=settings.ca_patience,
            l1=settings.ca_l1,
            lr=settings.ca_lr,
            seed=settings.seed,
            device=settings.device,
        )
        return ConditionalAutoencoder(config)

    return build


# The linear and observable benchmarks the autoencoders are judged against (GKX section 5).
_BASELINE_BUILDERS: Mapping[str, Callable[[ModelSettings], FactorModel]] = {
    "pca": lambda s: PCA(n_factors=s.n_factors),
    "ipca": lambda s: IPCA(n_factors=s.n_factors),
    "observable": lambda s: Observable(chars=s.observable_chars),
    "cross_sectional": lambda s: CrossSectional(),
}
BASELINES = tuple(_BASELINE_BUILDERS)
MODELS: Mapping[str, Callable[[ModelSettings], FactorModel]] = {
    **{name: _autoencoder(name) for name in PRESETS},
    **_BASELINE_BUILDERS,
}


def build_model(name: str, settings: ModelSettings) -> FactorModel:
    """Return a new, unfitted model registered as `name`."""
    return MODELS[name](settings)
