"""Factor models sharing one estimator shape: the autoencoder family and its baselines."""

from cae.models.base import FactorModel
from cae.models.cross_sectional import CrossSectional
from cae.models.ipca import IPCA
from cae.models.observable import Observable
from cae.models.pca import PCA

__all__ = ["IPCA", "PCA", "CrossSectional", "FactorModel", "Observable"]
