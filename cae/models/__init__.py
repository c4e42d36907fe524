"""Factor models sharing one estimator shape: the autoencoder family and its baselines.

Every model has the `FactorModel` shape: `fit(train, val)`, then `betas`, `factors`, `predict`
and `score`. `ConditionalAutoencoder` takes a `CAConfig` (`CAConfig.preset("CA2")` for a named
variant); `CAStack` and the layers under it live in `cae.models.autoencoder.model`. `MODELS` maps
every model's name to its builder (`cae.models.registry`).
"""

from cae.models.autoencoder import ConditionalAutoencoder
from cae.models.autoencoder.model import PRESETS, CAConfig, CAStack
from cae.models.base import FactorModel, Kind
from cae.models.cross_sectional import CrossSectional
from cae.models.ipca import IPCA
from cae.models.observable import Observable
from cae.models.pca import PCA
from cae.models.registry import BASELINES, MODELS, ModelSettings, build_model

__all__ = [
    "BASELINES",
    "IPCA",
    "MODELS",
    "PCA",
    "PRESETS",
    "CAConfig",
    "CAStack",
    "ConditionalAutoencoder",
    "CrossSectional",
    "FactorModel",
    "Kind",
    "ModelSettings",
    "Observable",
    "build_model",
]
