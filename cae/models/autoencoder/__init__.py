"""The conditional autoencoder (Gu, Kelly & Xiu 2021): networks, training, estimator.

`model` holds the config and the `nn.Module`s, `train` the loop, `estimator` the `FactorModel`.
"""

from cae.models.autoencoder.estimator import ConditionalAutoencoder
from cae.models.autoencoder.model import PRESETS, CAConfig, CAStack

__all__ = ["PRESETS", "CAConfig", "CAStack", "ConditionalAutoencoder"]
