"""The demo engagement the end-to-end tests and the notebook run share, built once per session.

A small simulated client (``TEST_CUSTOMERS``) is generated and the monthly batch runs
``FIRST``..``LAST`` exactly as ``winback demo`` does, under the session's scratch
``WINBACK_HOME``. Every ``CANARY_EVERY``-th customer of the client's base carries canary
PII (``winback.demo.population.canary_values``), so tests can search every output for
personal data; the simulation is otherwise the same as ``winback demo``'s.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from winback.config import load_params
from winback.runner import backfill
from winback.workspace import Workspace, workspace

TEST_CUSTOMERS = 1500
CANARY_EVERY = 10  # customers 1, 11, 21, ... of the base carry canary name, phone and e-mail
OVERRIDES = [f"demo.n_customers={TEST_CUSTOMERS}"]


@dataclass(frozen=True)
class DemoRun:
    ws: Workspace
    months: list[str]
    manifests: list[dict]

    @property
    def canaries(self) -> list[tuple[str, str, str]]:
        """(name, phone, e-mail) of every customer carrying canary PII."""
        from winback.demo.population import canary_values

        n = -(-TEST_CUSTOMERS // CANARY_EVERY)
        return [canary_values(k) for k in range(1, n + 1)]

    @property
    def truth_dir(self) -> Path:
        return self.ws.resolve("data/{engagement}/truth")

    def month_dir(self, month: str) -> Path:
        return self.ws.month_dir(month)


_FAILED: list[BaseException] = []


def ensure_demo_run() -> DemoRun:
    """The session's demo run; a failure is raised once, then reported without rerunning."""
    if _FAILED:
        raise RuntimeError(f"the demo engagement run failed earlier: {_FAILED[0]}")
    try:
        return _demo_run()
    except Exception as exc:
        _FAILED.append(exc)
        raise


@functools.cache
def _demo_run() -> DemoRun:
    from winback.demo_loop import DemoLoop

    assert os.environ.get("WINBACK_HOME"), "conftest sets a scratch WINBACK_HOME"
    params = load_params("demo", OVERRIDES)
    first, last = params.run.first_month, params.run.month
    loop = DemoLoop(params, fresh=True)
    _create_world(loop, params)
    manifests = backfill("demo", first, last, OVERRIDES, progress=False,
                         before_month=loop.deliver)
    return DemoRun(workspace(params), [m["month"] for m in manifests], manifests)


def _create_world(loop, params) -> None:
    """The simulated client as ``DemoLoop`` creates it, with canary PII planted."""
    from winback.demo import DemoWorld

    DemoWorld.create(loop.root, n_customers=params.demo.n_customers,
                     seed=params.engagement.seed, history_start=params.demo.history_start,
                     first_month=params.run.first_month, canary_every=CANARY_EVERY)
