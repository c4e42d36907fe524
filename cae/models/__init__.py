"""Factor models sharing one estimator shape: the autoencoder family and its baselines.

Every model has the `FactorModel` shape: `fit(train, val)`, then `betas`, `factors`, `predict`
and `score`. `ConditionalAutoencoder` takes a `CAConfig` (`CAConfig.preset("CA2")` for a named
variant); `CAStack` and the layers under it live in `cae.models.ca`.
"""

from cae.models.autoencoder import ConditionalAutoencoder
from cae.models.autoencoder.model import PRESETS, CAConfig, CAStack
from cae.models.base import FactorModel, Kind
from cae.models.cross_sectional import CrossSectional
from cae.models.ipca import IPCA
from cae.models.observable import Observable
from cae.models.pca import PCA

__all__ = [
    "IPCA",
    "PCA",
    "PRESETS",
    "CAConfig",
    "CAStack",
    "ConditionalAutoencoder",
    "CrossSectional",
    "FactorModel",
    "Kind",
    "Observable",
]
