"""Data to try cae on: a synthetic market, the GKX simulation, the sample's replay."""
