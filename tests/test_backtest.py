"""Tests for the content fingerprints of the backtest's monthly rows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from winback.backtest import month_fingerprints


def _rows():
    return pd.DataFrame({
        "month": ["2024-01", "2024-01", "2024-02", "2024-02", "2024-03"],
        "customer_id": ["a", "b", "a", "b", "a"],
        "label": [0.0, 1.0, 0.0, np.nan, np.nan],
        "x": [1.5, -2.0, 0.25, 3.0, 4.0],
    })


COLS = ["customer_id", "label", "x"]


def test_a_month_digest_changes_with_its_rows_only():
    base = month_fingerprints(_rows(), COLS)
    assert sorted(base) == ["2024-01", "2024-02", "2024-03"]
    assert len(set(base.values())) == 3
    changed = _rows()
    changed.loc[3, "x"] = 3.0000001
    got = month_fingerprints(changed, COLS)
    assert got["2024-02"] != base["2024-02"]
    assert got["2024-01"] == base["2024-01"] and got["2024-03"] == base["2024-03"]
    relabelled = _rows()
    relabelled.loc[3, "label"] = 0.0  # a label observed now
    assert month_fingerprints(relabelled, COLS)["2024-02"] != base["2024-02"]
    renamed = _rows()
    renamed.loc[0, "customer_id"] = "c"
    assert month_fingerprints(renamed, COLS)["2024-01"] != base["2024-01"]


def test_digests_ignore_other_months_and_columns_but_not_row_order():
    rows = _rows()
    base = month_fingerprints(rows, COLS)
    shuffled = rows.iloc[[4, 1, 2, 3, 0]].reset_index(drop=True)  # months interleaved
    assert month_fingerprints(shuffled, COLS)["2024-03"] == base["2024-03"]
    assert month_fingerprints(shuffled, COLS)["2024-01"] != base["2024-01"]  # b before a
    wider = rows.assign(other=7)
    assert month_fingerprints(wider, COLS) == base
    assert month_fingerprints(rows.iloc[:2], COLS, months=["2024-01"]) == {
        "2024-01": base["2024-01"]}
    assert month_fingerprints(rows, ["customer_id", "x"]) != base
    as_int = rows.assign(x=rows["x"].round().astype("int64"))
    as_float = rows.assign(x=rows["x"].round())
    assert month_fingerprints(as_int, COLS) != month_fingerprints(as_float, COLS)


def test_a_month_without_rows_and_a_missing_column():
    got = month_fingerprints(_rows(), COLS, months=["2024-01", "2023-12"])
    assert sorted(got) == ["2023-12", "2024-01"]
    assert got["2023-12"] == month_fingerprints(_rows().iloc[0:0], COLS, months=["2023-12"])[
        "2023-12"]
    with pytest.raises(ValueError, match="lacks column"):
        month_fingerprints(_rows(), ["customer_id", "score"])


def test_digests_are_the_same_in_another_process():
    code = ("import pandas as pd, numpy as np; from winback.backtest import month_fingerprints;"
            "t = pd.DataFrame({'month': ['2024-01', '2024-01'], 'customer_id': ['a', 'b'],"
            "'label': [0.0, 1.0], 'x': [1.5, np.nan]});"
            "print(month_fingerprints(t, ['customer_id', 'label', 'x'])['2024-01'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    t = pd.DataFrame({"month": ["2024-01", "2024-01"], "customer_id": ["a", "b"],
                      "label": [0.0, 1.0], "x": [1.5, np.nan]})
    assert out == month_fingerprints(t, COLS)["2024-01"]


def test_rank_order_breaks_ties_by_sorted_ids_or_position():
    from winback.backtest import rank_order

    rng = np.random.default_rng(3)
    score = rng.integers(0, 5, 200).astype(float)
    score[[3, 50]] = -0.0
    score[7] = 0.0
    expected = np.lexsort((np.arange(200), -score))
    assert np.array_equal(rank_order(score), expected)
    ids = [f"c{i:04d}" for i in range(200)]  # sorted: ties by position
    assert np.array_equal(rank_order(score, ids), expected)
    shuffled = np.array(ids)[::-1]  # not sorted: ties by id
    assert np.array_equal(rank_order(score, shuffled), np.lexsort((shuffled, -score)))
    assert rank_order([0.2, 0.9, 0.2], ["b", "z", "a"]).tolist() == [1, 2, 0]
