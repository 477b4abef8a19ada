"""The engagement store: month slices replaced exactly, whole tables replaced atomically."""

import duckdb
import pandas as pd
import pytest

from winback.store import (
    StoreBusyError,
    append_rows,
    checkpoint_threshold,
    connect,
    fetch_df,
    has_table,
    opened,
    read_month,
    read_table,
    replace_month,
    replace_table,
    table_columns,
    table_months,
)


def _frame(month, ids, value):
    return pd.DataFrame({"month": month, "customer_id": ids, "value": value})


def test_replace_month_replaces_exactly_that_month(tmp_path):
    path = tmp_path / "s.duckdb"
    with opened(path) as con:
        replace_month(con, "snapshots", "2024-01", _frame("2024-01", ["a", "b"], 1.0))
        replace_month(con, "snapshots", "2024-02", _frame("2024-02", ["a", "b", "c"], 2.0))
        replace_month(con, "snapshots", "2024-01", _frame("2024-01", ["a"], 9.0))
        assert table_months(con, "snapshots") == ["2024-01", "2024-02"]
        jan = read_month(con, "snapshots", "2024-01")
        assert jan["customer_id"].tolist() == ["a"] and jan["value"].tolist() == [9.0]
        assert len(read_month(con, "snapshots", "2024-02")) == 3


def test_replace_month_refuses_rows_of_another_month(tmp_path):
    with opened(tmp_path / "s.duckdb") as con:
        with pytest.raises(ValueError, match="carry another month"):
            replace_month(con, "t", "2024-01", _frame("2024-02", ["a"], 1.0))
        assert not has_table(con, "t")


def test_failed_replace_rolls_back(tmp_path):
    with opened(tmp_path / "s.duckdb") as con:
        replace_month(con, "t", "2024-01", _frame("2024-01", ["a"], 1.0))
        bad = pd.DataFrame({"month": ["2024-01"], "customer_id": ["b"], "other": [object()]})
        with pytest.raises(Exception):  # noqa: B017 - any engine error
            replace_month(con, "t", "2024-01", bad)
        assert read_month(con, "t", "2024-01")["customer_id"].tolist() == ["a"]


def test_replace_table_and_missing_table_messages(tmp_path):
    with opened(tmp_path / "s.duckdb") as con:
        replace_table(con, "customers", pd.DataFrame({"customer_id": ["a", "b"]}))
        replace_table(con, "customers", pd.DataFrame({"customer_id": ["c"]}))
        assert read_table(con, "customers")["customer_id"].tolist() == ["c"]
        with pytest.raises(KeyError, match="no table 'nope'"):
            read_table(con, "nope")
        with pytest.raises(KeyError, match="no rows for 2024-05"):
            replace_month(con, "m", "2024-01", _frame("2024-01", ["a"], 1.0))
            read_month(con, "m", "2024-05")


def test_persisted_across_connections(tmp_path):
    path = tmp_path / "s.duckdb"
    with opened(path) as con:
        replace_month(con, "t", "2024-01", _frame("2024-01", ["a"], 1.0))
    with opened(path, read_only=True) as con:
        assert len(read_table(con, "t")) == 1


def test_read_only_store_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="run stage 1"):
        connect(tmp_path / "missing.duckdb", read_only=True)


def test_busy_store_is_reported_by_name(tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
         "time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError, match="in use by another process"):
            connect(path, wait_seconds=0.0)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with opened(path) as con:
        assert not has_table(con, "t")


def test_writes_in_one_transaction_commit_together_or_not_at_all(tmp_path):
    from winback.store import transaction

    with opened(tmp_path / "s.duckdb") as con:
        with transaction(con):
            replace_month(con, "snapshots", "2024-01", _frame("2024-01", ["a"], 1.0))
            replace_table(con, "customers", pd.DataFrame({"customer_id": ["a"]}))
        assert table_months(con, "snapshots") == ["2024-01"]
        with pytest.raises(ValueError, match="another month"), transaction(con):
            replace_month(con, "snapshots", "2024-02", _frame("2024-02", ["a"], 2.0))
            replace_month(con, "snapshots", "2024-03", _frame("2024-02", ["a"], 3.0))
        assert table_months(con, "snapshots") == ["2024-01"]  # 2024-02 rolled back too
        replace_month(con, "snapshots", "2024-02", _frame("2024-02", ["b"], 2.0))
        assert table_months(con, "snapshots") == ["2024-01", "2024-02"]


def test_fetch_df_gives_the_frame_duckdb_gives():
    con = duckdb.connect()
    con.execute("""CREATE TABLE t AS SELECT * FROM (VALUES
        ('a', '客户', DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', 1, true, 1.5,
         10::BIGINT, 5::INTEGER, 1::TINYINT, 2.5::FLOAT, 1.25::DECIMAL(10, 2), [1, 2]),
        (NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, 6, 2, NULL, NULL, NULL))
        v(s, zh, d, ts, i, b, f, bi, i2, ti, fl, dec, l)""")
    for sql, params in [("SELECT * FROM t", None), ("SELECT * FROM t WHERE i2 = ?", [6]),
                        ("SELECT s, zh FROM t WHERE i2 > $n", {"n": 9}),
                        ("SELECT i2, ti FROM t", None), ("SELECT zh, s AS zh FROM t", None)]:
        got = fetch_df(con, sql, params)
        expected = con.execute(sql, params).df() if params is not None else con.sql(sql).df()
        pd.testing.assert_frame_equal(got, expected)
    assert fetch_df(con, "SELECT * FROM t")["zh"].tolist() == ["客户", ""]


def test_append_rows_creates_then_adds_in_the_table_order():
    con = duckdb.connect()
    append_rows(con, "t", pd.DataFrame({"a": [1], "b": ["x"]}))
    append_rows(con, "t", pd.DataFrame({"a": [2, 3], "b": ["y", "z"]}))
    assert con.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [
        (1, "x"), (2, "y"), (3, "z")]


def _threshold(con):
    return con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]


def test_checkpoint_threshold_holds_inside_and_is_restored_after(tmp_path):
    with opened(tmp_path / "s.duckdb") as con:
        con.execute("SET checkpoint_threshold = '32MiB'")
        before = _threshold(con)
        with checkpoint_threshold(con, "1GiB"):
            assert _threshold(con) == "1.0 GiB"
            replace_month(con, "snapshots", "2024-01", _frame("2024-01", ["a"], 1.0))
        assert _threshold(con) == before == "32.0 MiB"
        with pytest.raises(ValueError, match="another month"), checkpoint_threshold(con, "1GiB"):
            replace_month(con, "snapshots", "2024-02", _frame("2024-03", ["a"], 2.0))
        assert _threshold(con) == before  # restored on error too
    with opened(tmp_path / "s.duckdb", read_only=True) as con:  # committed rows are kept
        assert table_months(con, "snapshots") == ["2024-01"]


def test_checkpoint_threshold_refuses_a_bad_size():
    con = duckdb.connect()
    with pytest.raises(duckdb.Error), checkpoint_threshold(con, "lots"):
        pass


def test_table_columns_in_order_and_empty_for_a_missing_table(tmp_path):
    with opened(tmp_path / "s.duckdb") as con:
        replace_table(con, "t", pd.DataFrame({"b": [1], "a": ["x"], "month": ["2024-01"]}))
        assert table_columns(con, "t") == ["b", "a", "month"]
        assert table_columns(con, "missing") == []
