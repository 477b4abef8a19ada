"""Tests for winback.history: the status history filled before the first month."""

from __future__ import annotations

import pandas as pd

from tests.test_snapshot import PARAMS, _random_store
from winback.churn import ChurnParams, read_status
from winback.history import FILL_CHECKPOINT_THRESHOLD, fill_status_history
from winback.snapshot import read_snapshot
from winback.store import opened

CHURN = ChurnParams(history_months=3, new_window_days=30, penalizer=0.05)
MONTHS = ["2024-04", "2024-05", "2024-06"]


def _file_store(path):
    """The random store's source tables in a store file at ``path``."""
    source = _random_store()
    with opened(path) as con:
        for name in ("customers", "transactions", "interactions"):
            con.register("_f", source.table(name).arrow())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _f")
            con.unregister("_f")
    return source


def _threshold(con):
    return con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]


def test_filled_months_in_a_store_file_equal_those_filled_in_memory(tmp_path):
    path = tmp_path / "store.duckdb"
    in_memory = _file_store(path)
    fill_status_history(in_memory, "2024-07", snapshot_params=PARAMS, churn_params=CHURN)
    with opened(path) as con:
        before = _threshold(con)
        table = fill_status_history(con, "2024-07", snapshot_params=PARAMS, churn_params=CHURN)
        assert _threshold(con) == before  # the fill's own threshold is not left behind
    assert table["source"].tolist() == ["filled"] * 3
    with opened(path, read_only=True) as con:  # every month reached the file
        for month in MONTHS:
            pd.testing.assert_frame_equal(read_snapshot(con, month),
                                          read_snapshot(in_memory, month))
            pd.testing.assert_frame_equal(read_status(con, month), read_status(in_memory, month))
        again = fill_status_history(con, "2024-07", snapshot_params=PARAMS, churn_params=CHURN)
    assert again["source"].tolist() == ["stored"] * 3


def test_a_failed_fill_keeps_the_months_before_it_and_the_threshold(tmp_path, monkeypatch):
    import winback.history as history

    path = tmp_path / "store.duckdb"
    _file_store(path)
    real = history.write_status
    calls = []

    def failing(con, month, scored):
        calls.append(month)
        if month == "2024-06":
            raise RuntimeError("disk full")
        return real(con, month, scored)

    monkeypatch.setattr(history, "write_status", failing)
    with opened(path) as con:
        before = _threshold(con)
        try:
            fill_status_history(con, "2024-07", snapshot_params=PARAMS, churn_params=CHURN)
        except RuntimeError as exc:
            assert "disk full" in str(exc)
        else:
            raise AssertionError("the fill should have failed")
        assert _threshold(con) == before
    with opened(path, read_only=True) as con:  # one transaction per month: earlier ones kept
        months = con.execute("SELECT DISTINCT month FROM churn_status ORDER BY 1").fetchall()
        snaps = con.execute("SELECT DISTINCT month FROM snapshots ORDER BY 1").fetchall()
    assert [m for (m,) in months] == ["2024-04", "2024-05"]
    assert [m for (m,) in snaps] == ["2024-04", "2024-05"]  # 2024-06's snapshot rolled back
    assert calls == MONTHS


def test_the_fill_threshold_is_a_size_duckdb_takes():
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET checkpoint_threshold = '{FILL_CHECKPOINT_THRESHOLD}'")
    assert _threshold(con) == "256.0 MiB"
