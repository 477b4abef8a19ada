"""Tests for the early-warning backtest's months fitted side by side in worker processes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pandas as pd
import pytest

from winback import warning as w
from winback.warning import FEATURES, GBMParams, WarningParams, run_backtest

MONTHS = [f"2023-{m:02d}" for m in range(6, 13)] + ["2024-01", "2024-02", "2024-03"]
PARAMS = dict(max_train_months=3, min_train_months=2, backtest_months=3, gbm={"max_iter": 10})


def _table(months, n=150, seed=3, constant_label=None):
    rng = np.random.default_rng(seed)
    frames = []
    for m in months:
        f = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES})
        logit = -1.5 + 2 * f["recency_ratio"] - 2 * f["spend_trend"]
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
        f.insert(0, "customer_id", [f"C{i:05d}" for i in range(n)])
        f.insert(0, "month", m)
        f["label"] = y.astype(float) if constant_label is None else constant_label
        f["recency_rule"] = f["recency_ratio"]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def side_by_side(monkeypatch):
    """Months fitted in two worker processes however small the table."""
    monkeypatch.setattr(w, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(w.os, "cpu_count", lambda: 2)


def _same(a, b):
    for name in ("metrics", "predictions", "splits"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.notes == b.notes and a.reused == b.reused


def test_months_fitted_in_workers_give_the_same_backtest(side_by_side):
    table = _table(MONTHS)
    params = WarningParams(**PARAMS)
    fitted = w._fit_in_workers(table, [("2024-02", ["2023-09", "2023-10", "2023-11"],
                                        table[table["month"] == "2024-02"]),
                                       ("2024-03", ["2023-10", "2023-11", "2023-12"],
                                        table[table["month"] == "2024-03"])],
                               params=params, seed=5)
    assert sorted(fitted) == ["2024-02", "2024-03"]
    assert all(isinstance(f, w._Fitted) for f in fitted.values())
    parallel = run_backtest(table, params=params, capacity=20, seed=5, con=duckdb.connect())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(w, "PARALLEL_MIN_ROWS", 10**12)
        sequential = run_backtest(table, params=params, capacity=20, seed=5,
                                  con=duckdb.connect())
    _same(parallel, sequential)


def test_below_the_row_threshold_or_on_one_core_months_are_fitted_in_process(monkeypatch):
    table = _table(MONTHS)
    jobs = [("2024-02", ["2023-09", "2023-10", "2023-11"], table[table["month"] == "2024-02"]),
            ("2024-03", ["2023-10", "2023-11", "2023-12"], table[table["month"] == "2024-03"])]
    params = WarningParams(**PARAMS)
    assert w._fit_in_workers(table, jobs, params=params, seed=5) == {}  # 900 rows
    monkeypatch.setattr(w, "PARALLEL_MIN_ROWS", 0)
    assert w._fit_in_workers(table, jobs, params=params, seed=5, workers=1) == {}


def test_a_month_whose_fit_fails_in_a_worker_is_skipped_as_in_process(side_by_side):
    table = _table(MONTHS, constant_label=0.0)  # no churner: no model can be fitted
    params = WarningParams(**PARAMS)
    parallel = run_backtest(table, params=params, capacity=20, seed=5)
    assert parallel.metrics.empty
    assert any("skipped" in note and "all 0" in note for note in parallel.notes)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(w, "PARALLEL_MIN_ROWS", 10**12)
        assert run_backtest(table, params=params, capacity=20, seed=5).notes == parallel.notes


def test_data_sent_to_a_worker_unpickles_as_made_afresh():
    arrays = pickle.loads(w._dumps([np.zeros(3), np.arange(2)]))
    assert arrays[0].dtype is np.dtype("float64") and arrays[1].dtype is np.dtype("int64")
    params = WarningParams(max_train_months=4, gbm={"max_iter": 20})
    back = pickle.loads(w._dumps(params))
    assert back == params and back.model_fields_set == params.model_fields_set
    assert pickle.dumps(back) == pickle.dumps(params)
    assert pickle.loads(w._dumps(GBMParams())) == GBMParams()
    columns = pickle.loads(w._dumps(pd.Index(["a", "b"], name="x")))
    assert columns.equals(pd.Index(["a", "b"])) and columns.name == "x"


@pytest.mark.slow
def test_models_fitted_in_workers_are_kept_as_the_same_bytes(tmp_path):
    """In a fresh process (the model cache keeps a pickle; the bytes depend on which
    objects the process made first), as stage 7's kernel."""
    code = textwrap.dedent(f"""
        import sys, duckdb
        sys.path.insert(0, {str(tmp_path)!r})
        from winback import warning as w
        from helper import table, PARAMS
        params = w.WarningParams(**PARAMS)
        w.os.cpu_count = lambda: 2
        cons = {{}}
        for name, rows in (("in_process", 10**12), ("workers", 0)):
            w.PARALLEL_MIN_ROWS = rows
            cons[name] = duckdb.connect()
            w.run_backtest(table, params=params, capacity=20, seed=5, con=cons[name])
        blobs = [c.execute("SELECT month, models FROM warning_models ORDER BY month").fetchall()
                 for c in cons.values()]
        assert len(blobs[0]) == 3, blobs[0]
        assert [(m, bytes(b)) for m, b in blobs[0]] == [(m, bytes(b)) for m, b in blobs[1]]
    """)
    (tmp_path / "helper.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_warning_parallel import _table, MONTHS, PARAMS
        table = _table(MONTHS)
    """))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
