"""The demo engagement's simulated client: a deterministic retailer playing the client's side.

The kit never imports this package: it reads the demo client's files through the data
contract, like any client's. Only the demo loop (``winback demo``) and the tests use it.

The world: customers sign up over the history (30% before it) and every month after;
each buys by the BG/NBD process (rate ~ Gamma, dropout after a repeat purchase ~ Beta)
with Gamma-Gamma spend across necessary (生鲜 粮油 日用品 个护) and discretionary (家居 美妆
数码) categories. Every dropout has a true reason (``REASONS``; price the most common),
tilted by member level, age and business line, and pushed by outside events (``EVENTS``:
a competitor opening in 华南 from 2023-06 and in 西南 from 2024-03, a service incident in
the 生鲜 line in 2023-10..12, a 美妆 price rise from 2024-05). Reasons leave traces
(complaints, tickets, poor surveys; passive reasons more than active ones) and
engagement fades before a dropout. The call centre executes the kit's campaigns; a
strategy wins back a churned customer far more often when it addresses the true reason
(``STRATEGY_ADDRESSES``). Ground truth goes to ``<root>/truth/``, apart from the client
files in ``<root>/client/``.

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
