"""Characteristics: a registry of point-in-time features computed from daily prices.

Importing this package registers every characteristic (each module registers its own).
"""

# isort: off
# Registration order is the column order of the panel: returns first, then trading, then industry.
from cae.panel.features import momentum, risk, liquidity, industry  # noqa: F401

# isort: on
from cae.panel.features.engine import (
    MAX_ABS_RETURN,
    add_cross_sectional,
    add_daily_columns,
    check_returns,
    compute_daily,
    lookback_sessions,
    stage_names,
)
from cae.panel.features.liquidity import (
    MVEL1_SOURCE,
    PROXY_SOURCES,
    SHARES_SOURCE,
    TURN_SOURCE,
    uses_shares,
)
from cae.panel.features.registry import REGISTRY, Characteristic, characteristic, names

__all__ = [
    "MAX_ABS_RETURN",
    "MVEL1_SOURCE",
    "PROXY_SOURCES",
    "REGISTRY",
    "SHARES_SOURCE",
    "TURN_SOURCE",
    "Characteristic",
    "add_cross_sectional",
    "add_daily_columns",
    "characteristic",
    "check_returns",
    "compute_daily",
    "lookback_sessions",
    "names",
    "stage_names",
    "uses_shares",
]
