"""The demo engagement's simulated client: a deterministic retailer playing the client's side.

The kit never imports this package: it reads the demo client's files through the data
contract, like any client's. Only the demo loop (``winback demo``) and the tests use it.

>>> from winback.demo import DemoWorld
>>> world = DemoWorld.create(path, n_customers=4000, seed=20240101)   # doctest: +SKIP
>>> world.advance("2024-02", assignment, scripts)                      # doctest: +SKIP
"""

from winback.demo.callcentre import AssignmentError
from winback.demo.population import CUSTOMER_COLUMNS, CUSTOMER_VALUES
from winback.demo.taxonomy import (
    CATEGORIES,
    CATEGORY_TYPE,
    CHANNELS,
    CHURN_TYPE,
    EVENTS,
    REASON_KEYWORDS,
    REASONS,
    STRATEGIES,
    STRATEGY_ADDRESSES,
)
from winback.demo.world import CLIENT_FILES, DemoStateError, DemoWorld

__all__ = [
    "AssignmentError",
    "CATEGORIES",
    "CATEGORY_TYPE",
    "CHANNELS",
    "CHURN_TYPE",
    "CLIENT_FILES",
    "CUSTOMER_COLUMNS",
    "CUSTOMER_VALUES",
    "DemoStateError",
    "DemoWorld",
    "EVENTS",
    "REASONS",
    "REASON_KEYWORDS",
    "STRATEGIES",
    "STRATEGY_ADDRESSES",
]
