"""Factor models sharing one estimator shape: the autoencoder family and its baselines."""

from cae.models.base import FactorModel

__all__ = ["FactorModel"]
