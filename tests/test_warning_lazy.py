"""load_history(lazy=True): the same stage results as the eager history, fewer rows read."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from winback.churn import ChurnParams
from winback.snapshot import SnapshotParams
from winback.warning import (
    FEATURES,
    WarningError,
    WarningParams,
    fit_final,
    load_history,
    run_backtest,
)

MONTHS = [f"2023-{m:02d}" for m in range(1, 13)]
RUN = "2023-12"
HISTORY = MONTHS[4:]  # 2023-05 .. 2023-12: the earliest training month of 2023-09 on
SNAPSHOT_COLUMNS = sorted({
    "recency_ratio", "recency_days", "frequency", "purchase_days_365", "orders_90",
    "orders_prev_90", "spend_365", "spend_90", "spend_prev_90", "monetary_value",
    "engagement_90", "engagement_trend", "eng_complaint_365", "eng_service_ticket_365",
    "gap_median", "gap_std", "gap_mean", "necessary_share_365", "return_amount_365",
    "tenure_days"})
PARAMS = WarningParams(horizon_months=2, min_train_months=2, backtest_months=2,
                       max_train_months=3, max_train_rows=1000, gbm={"max_iter": 10},
                       features=list(FEATURES))


def _store(n=450, seed=0, changed: str | None = None):
    """Every month's snapshot and statuses in the store (as after stage 1), hand-made:
    customer i is ``churned`` in a month when its seeded draw says so."""
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    snaps, statuses = [], []
    for m in MONTHS:
        f = pd.DataFrame({c: rng.gamma(2.0, 3.0, size=n) for c in SNAPSHOT_COLUMNS})
        if m == changed:
            f.loc[5, "spend_90"] += 1.0
        f.insert(0, "customer_id", [f"C{i:04d}" for i in range(n)])
        f.insert(0, "month", m)
        f["do_not_contact"] = np.arange(n) % 17 == 0
        snaps.append(f)
        churn = rng.random(n) < 0.05 + 0.1 * (f["recency_ratio"] > 8)
        statuses.append(pd.DataFrame({
            "month": m, "customer_id": f["customer_id"],
            "status": np.where(churn, "churned", "active"),
            "score": rng.random(n), "p_alive": rng.random(n)}))
    snap, status = pd.concat(snaps), pd.concat(statuses)  # noqa: F841 (read by DuckDB)
    con.execute("CREATE TABLE snapshots AS SELECT * FROM snap")
    con.execute("CREATE TABLE churn_status AS SELECT * FROM status")
    con.execute("CREATE TABLE transactions AS SELECT TIMESTAMP '2023-01-05' AS order_ts")
    return con


def _history(con, lazy):
    return load_history(con, RUN, params=PARAMS, snapshot_params=SnapshotParams(),
                        churn_params=ChurnParams(), lazy=lazy)


def test_lazy_history_reads_the_eager_rows_sources_and_labels():
    con = _store()
    eager, lazy = _history(con, False), _history(con, True)
    pd.testing.assert_frame_equal(eager.sources, lazy.sources)
    assert eager.fingerprints is None and set(lazy.fingerprints) == set(HISTORY[:-1])
    pd.testing.assert_frame_equal(lazy.table, eager.scoring)  # the run month only, so far
    pd.testing.assert_frame_equal(lazy.scoring, eager.scoring)
    assert lazy.labelled_months == eager.labelled_months == HISTORY[:-2]
    for months in (["2023-07"], ["2023-06", "2023-09", RUN], HISTORY):
        pd.testing.assert_frame_equal(lazy.rows(con, months), eager.rows(con, months))
    pd.testing.assert_frame_equal(lazy.rows(con, HISTORY), eager.table)
    with pytest.raises(WarningError, match="con"):
        run_backtest(_history(con, True), params=PARAMS, capacity=10, seed=3)


def test_lazy_backtest_and_final_models_equal_the_eager_ones_and_reuse_the_cache():
    con = _store()
    plain = run_backtest(_history(con, False).table, params=PARAMS, capacity=10, seed=3)
    cold = run_backtest(_history(con, True), params=PARAMS, capacity=10, seed=3, con=con)
    lazy = _history(con, True)
    warm = run_backtest(lazy, params=PARAMS, capacity=10, seed=3, con=con)
    assert cold.reused == [] and warm.reused == ["2023-09", "2023-10"]
    for got in (cold, warm):
        pd.testing.assert_frame_equal(got.metrics, plain.metrics)
        pd.testing.assert_frame_equal(got.predictions, plain.predictions)
        pd.testing.assert_frame_equal(got.splits, plain.splits)
    # a warm run read only the evaluated months' rows (and the run month's)
    assert set(lazy._frames) == {"2023-09", "2023-10"}
    final = fit_final(lazy, RUN, params=PARAMS, seed=3, backtest=warm, con=con)
    eager = fit_final(_history(con, False).table, RUN, params=PARAMS, seed=3, backtest=plain)
    pd.testing.assert_frame_equal(final.coefficients(), eager.coefficients())
    pd.testing.assert_frame_equal(final.summary(), eager.summary())
    again = _history(con, True)
    fit_final(again, RUN, params=PARAMS, seed=3, backtest=warm, con=con)
    assert again._frames == {}  # the kept models were read: no training row loaded


def test_a_changed_month_in_the_store_changes_its_fingerprint_and_is_recomputed():
    con = _store()
    before = _history(con, True)
    run_backtest(before, params=PARAMS, capacity=10, seed=3, con=con)
    changed = _store(changed="2023-06")  # one value of one customer in 2023-06
    for name in ("warning_backtest_cache", "warning_backtest_predictions", "warning_models"):
        kept = con.sql(f"SELECT * FROM {name}").to_arrow_table()  # noqa: F841
        changed.execute(f"CREATE TABLE {name} AS SELECT * FROM kept")
    after = _history(changed, True)
    assert [m for m in HISTORY[:-1] if after.fingerprints[m] != before.fingerprints[m]] \
        == ["2023-06"]
    bt = run_backtest(after, params=PARAMS, capacity=10, seed=3, con=changed)
    # 2023-09 trains on 2023-05..07, 2023-10 on 2023-06..08: both redone, equal to eager
    assert bt.reused == []
    plain = run_backtest(_history(changed, False).table, params=PARAMS, capacity=10, seed=3)
    pd.testing.assert_frame_equal(bt.metrics, plain.metrics)
    # a change of a label (a status after the month) changes that month's fingerprint
    changed.execute("UPDATE churn_status SET status = 'churned' "
                    "WHERE month = '2023-07' AND customer_id = 'C0001'")
    relabel = _history(changed, True)
    moved = [m for m in HISTORY[:-1] if relabel.fingerprints[m] != after.fingerprints[m]]
    # 2023-07's population, and the label of a month whose window holds 2023-07
    assert "2023-07" in moved and set(moved) - {"2023-07"} in ({"2023-05"}, {"2023-06"},
                                                               {"2023-05", "2023-06"})


def test_lazy_history_refuses_duplicate_customers_like_the_eager_one():
    con = _store()
    con.execute("INSERT INTO churn_status SELECT * FROM churn_status "
                "WHERE month = '2023-08' AND customer_id = 'C0003'")
    for lazy in (False, True):
        with pytest.raises(WarningError, match="2023-08.*duplicate"):
            _history(con, lazy)
