"""Test session set-up shared by the unit tests and the notebook (nbval) run.

Everything a test or notebook writes goes under a scratch home ($WINBACK_HOME), never
into the consultant's runs/ and data/. Notebooks run by nbval use their default
parameters (the demo engagement), so the demo engagement is generated and its months
run once, before the first notebook or end-to-end test needs them.
"""

import os
import tempfile

import pytest


def pytest_configure(config):
    if not os.environ.get("WINBACK_HOME"):
        os.environ["WINBACK_HOME"] = tempfile.mkdtemp(prefix="winback-test-")
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_runtest_setup(item):
    if item.path.suffix == ".ipynb" or item.get_closest_marker("demo_run"):
        from tests.demo_engagement import ensure_demo_run

        ensure_demo_run()


@pytest.fixture(scope="session")
def demo_run():
    """The demo engagement, run month by month (see tests/demo_engagement.py)."""
    from tests.demo_engagement import ensure_demo_run

    return ensure_demo_run()
