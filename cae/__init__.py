"""cae: conditional autoencoder factor models (Gu, Kelly & Xiu 2019) as a data pipeline."""

__version__ = "0.1.0"
__all__ = ["__version__"]
