"""The conditional autoencoder (Gu, Kelly & Xiu 2021): networks, training, estimator."""

from cae.models.autoencoder.estimator import (
    ConditionalAutoencoder,
)

__all__ = [
    "ConditionalAutoencoder",
]
