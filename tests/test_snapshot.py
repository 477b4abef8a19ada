"""Tests for winback.snapshot: the month-end customer snapshot computed in DuckDB."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from winback.contract import INTERACTION_KINDS as CONTRACT_KINDS
from winback.snapshot import (
    INTERACTION_KINDS,
    SnapshotError,
    SnapshotParams,
    month_end_snapshot,
    month_end_snapshot_table,
    month_end_snapshot_tables,
    month_end_snapshots,
    read_snapshot,
    snapshot_frame,
    snapshot_months,
    write_snapshot,
    write_snapshot_table,
)

MONTH = "2024-06"  # as-of date 2024-06-30; end (exclusive) 2024-07-01 00:00
# windows: 365 days = [2023-07-02, 2024-07-01); 90 = [2024-04-02, ...); prev 90 = [2024-01-03, 2024-04-02)
PARAMS = SnapshotParams(necessary_categories=["Grocery "], min_gaps=2, default_gap_days=30)

T = pd.Timestamp


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "signup_date": [T("2023-01-01"), T("2023-01-01"), T("2024-06-05"),
                            T("2024-01-01"), T("2024-07-05")],
            "birth_year": [1990, 1980, None, None, None],
            "age": [None, 40, None, None, None],
            "gender": ["F", "M", "F", None, "M"],
            "region": ["north", "south", "north", "east", "east"],
            "member_level": ["gold", "silver", "basic", "basic", "basic"],
            "do_not_contact": [False, False, False, True, False],
        }
    )


def _transactions() -> pd.DataFrame:
    rows = [
        # A: returns, same-day orders, a row at the very end of the month, one after it
        ("a1", "A", "2024-01-10 10:00", 100.0, "grocery", False),
        ("a2", "A", "2024-03-10 09:00", 50.0, "electronics", False),
        ("a3", "A", "2024-03-10 18:00", 30.0, "Grocery", False),  # same day: one purchase day
        ("a4", "A", "2024-05-10 12:00", 80.0, "apparel", False),
        ("a5", "A", "2024-05-15 12:00", -20.0, "apparel", False),  # refund by sign
        ("a6", "A", "2024-05-20 12:00", 10.0, "apparel", True),  # refund by flag
        ("a7", "A", "2024-06-30 23:59:59", 5.0, None, False),  # last second of the month
        ("a8", "A", "2024-07-01 00:00:00", 999.0, "grocery", False),  # after the month end
        # B: window boundaries
        ("b1", "B", "2023-07-01 23:59:59", 10.0, "grocery", False),  # outside 365
        ("b2", "B", "2023-07-02 00:00:00", 20.0, "grocery", False),  # first day of 365
        ("b3", "B", "2024-04-01 23:00:00", 30.0, "toys", False),  # last day of prev 90
        ("b4", "B", "2024-04-02 00:00:00", 40.0, "toys", False),  # first day of last 90
        # C: first month, two orders on one day
        ("c1", "C", "2024-06-20 10:00", 15.0, "grocery", False),
        ("c2", "C", "2024-06-20 11:00", 25.0, "grocery", False),
        # D: no purchase, a zero-amount row only
        ("d1", "D", "2024-05-01 10:00", 0.0, "grocery", False),
    ]
    frame = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "order_ts", "amount", "category", "is_return"]
    )
    frame["order_ts"] = pd.to_datetime(frame["order_ts"], format="ISO8601").astype("datetime64[us]")
    return frame


def _interactions() -> pd.DataFrame:
    rows = [
        ("A", "2024-06-01", "review"),  # last 90
        ("A", "2024-05-01", "complaint"),  # last 90, not an engagement kind
        ("A", "2024-02-01", "referral"),  # previous 90
        ("A", "2023-08-01", "review"),  # 365 only
        ("A", "2023-06-01", "review"),  # older than 365
        ("A", "2024-07-02", "review"),  # after the month end
        ("D", "2024-03-01", "community_post"),  # previous 90
        ("D", "2024-03-15", "community_post"),  # previous 90
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "kind"])
    frame["ts"] = pd.to_datetime(frame["ts"]).astype("datetime64[us]")
    return frame


def _store(customers=None, transactions=None, interactions=None, *, with_interactions=True):
    con = duckdb.connect()
    frames = {
        "customers": _customers() if customers is None else customers,
        "transactions": _transactions() if transactions is None else transactions,
    }
    if with_interactions:
        frames["interactions"] = _interactions() if interactions is None else interactions
    for name, frame in frames.items():
        con.register("_f", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _f")
        con.unregister("_f")
    return con


@pytest.fixture(scope="module")
def snap() -> pd.DataFrame:
    con = _store()
    return month_end_snapshot(con, MONTH, params=PARAMS).set_index("customer_id")


def test_one_row_per_customer_signed_up_by_month_end(snap):
    assert list(snap.index) == ["A", "B", "C", "D"]  # E signs up after the month end
    assert (snap["month"] == MONTH).all()
    assert snap.loc["C", "tenure_days"] == 25


def test_returns_are_net_of_spend_and_not_purchase_occasions(snap):
    a = snap.loc["A"]
    assert a["orders"] == 5  # a1..a4, a7; returns and the order after the month excluded
    assert a["gross_spend"] == pytest.approx(265.0)
    assert a["returns"] == 2
    assert a["return_amount"] == pytest.approx(30.0)
    assert a["net_spend"] == pytest.approx(235.0)


def test_same_day_orders_are_one_purchase_day_and_bgnbd_inputs_in_days(snap):
    a = snap.loc["A"]
    assert a["purchase_days"] == 4  # Jan 10, Mar 10 (two orders), May 10, Jun 30
    assert a["frequency"] == 3
    assert a["recency"] == 172 and a["T"] == 172
    assert a["recency_days"] == 0  # bought at 23:59:59 on the month end
    assert a["first_purchase_date"] == T("2024-01-10")
    assert a["last_purchase_date"] == T("2024-06-30")


def test_monetary_value_is_net_spend_per_repeat_purchase_day(snap):
    # repeat days gross (50 + 30 + 80 + 5) / 3 days, times the net ratio 235 / 265
    assert snap.loc["A", "monetary_value"] == pytest.approx(165 / 3 * 235 / 265, rel=1e-9)
    assert snap.loc["A", "avg_day_spend"] == pytest.approx(235 / 4)
    assert math.isnan(snap.loc["C", "monetary_value"])  # no repeat day


def test_customer_in_first_month(snap):
    c = snap.loc["C"]
    assert c["purchase_days"] == 1 and c["frequency"] == 0 and c["orders"] == 2
    assert c["recency"] == 0 and c["T"] == 10 and c["recency_days"] == 10
    assert c["gap_source"] == "population"
    # population gap: median of own medians of customers with >= 2 gaps: A 60, B 1
    assert c["typical_gap"] == pytest.approx(30.5)
    assert c["recency_ratio"] == pytest.approx(10 / 30.5, rel=1e-6)


def test_customer_without_purchases(snap):
    d = snap.loc["D"]
    assert d["purchase_days"] == 0 and d["frequency"] == 0 and d["orders"] == 0
    assert d["net_spend"] == 0 and d["gross_spend"] == 0
    for col in ("recency", "T", "recency_days", "recency_ratio", "typical_gap", "gap_mean"):
        assert math.isnan(d[col]), col
    assert pd.isna(d["first_purchase_date"]) and pd.isna(d["gap_source"])
    assert bool(d["do_not_contact"]) is True


def test_window_boundaries(snap):
    b = snap.loc["B"]
    assert b["orders"] == 4 and b["purchase_days"] == 4
    assert b["orders_365"] == 3 and b["purchase_days_365"] == 3
    assert b["spend_365"] == pytest.approx(90.0)
    assert b["orders_90"] == 1 and b["spend_90"] == pytest.approx(40.0)
    assert b["orders_prev_90"] == 1 and b["spend_prev_90"] == pytest.approx(30.0)
    a = snap.loc["A"]
    assert a["orders_90"] == 2 and a["spend_90"] == pytest.approx(80 - 20 - 10 + 5)
    assert a["orders_prev_90"] == 3 and a["spend_prev_90"] == pytest.approx(180.0)
    assert a["returns_365"] == 2 and a["return_amount_365"] == pytest.approx(30.0)


def test_necessary_and_discretionary_split(snap):
    a = snap.loc["A"]
    # grocery in any case/spacing is necessary; returns reduce their category; NULL is unknown
    assert a["necessary_spend"] == pytest.approx(130.0)
    assert a["discretionary_spend"] == pytest.approx(50 + 80 - 20 - 10)
    assert a["unknown_category_spend"] == pytest.approx(5.0)
    assert a["necessary_share"] == pytest.approx(130 / 230, rel=1e-6)
    b = snap.loc["B"]
    assert b["necessary_spend"] == pytest.approx(30.0)
    assert b["necessary_spend_365"] == pytest.approx(20.0)
    assert b["discretionary_spend_365"] == pytest.approx(70.0)
    assert math.isnan(snap.loc["D", "necessary_share"])


def test_gap_statistics_and_recency_ratio(snap):
    a = snap.loc["A"]  # gaps 60, 61, 51 days
    assert a["gap_mean"] == pytest.approx(172 / 3, rel=1e-6)
    assert a["gap_median"] == 60
    assert a["gap_std"] == pytest.approx(pd.Series([60, 61, 51]).std(), rel=1e-6)
    assert a["typical_gap"] == 60 and a["gap_source"] == "own"
    b = snap.loc["B"]  # gaps 1, 274, 1
    assert b["gap_median"] == 1 and b["recency_days"] == 89
    assert b["recency_ratio"] == pytest.approx(89.0)


def test_engagement_counts_and_trend(snap):
    a = snap.loc["A"]
    assert a["eng_review_90"] == 1 and a["eng_review_365"] == 2
    assert a["eng_complaint_90"] == 1 and a["eng_referral_365"] == 1
    assert a["engagement_90"] == 1  # complaints are not engagement by default
    assert a["engagement_prev_90"] == 1 and a["engagement_365"] == 3
    assert a["engagement_trend"] == pytest.approx(0.0)
    d = snap.loc["D"]
    assert d["engagement_90"] == 0 and d["engagement_prev_90"] == 2
    assert d["engagement_trend"] == pytest.approx(-2 / 3, rel=1e-6)
    kinds = [c for c in snap.columns if c.startswith("eng_") and c.endswith("_90")]
    assert len(kinds) == len(INTERACTION_KINDS)
    assert (snap.loc["B", kinds] == 0).all()


def test_interaction_kinds_match_the_contract():
    assert set(INTERACTION_KINDS) == set(CONTRACT_KINDS)


def test_customer_attributes_and_compact_dtypes(snap):
    assert snap.loc["A", "age"] == 34  # from birth_year
    assert snap.loc["B", "age"] == 40  # age column wins
    assert snap.loc["A", "region"] == "north"
    assert pd.isna(snap.loc["A", "business_line"])  # column absent in the source
    assert snap["region"].dtype == "category" and snap["gap_source"].dtype == "category"
    assert snap["frequency"].dtype == "int32" and snap["recency"].dtype == "float32"
    assert snap["net_spend"].dtype == "float64"
    assert snap["do_not_contact"].dtype == bool


def test_deterministic():
    con = _store()
    first = month_end_snapshot(con, MONTH, params=PARAMS)
    second = month_end_snapshot(con, MONTH, params=PARAMS)
    pd.testing.assert_frame_equal(first, second)


def test_no_purchases_in_the_store_uses_the_default_gap():
    con = _store(transactions=_transactions().iloc[0:0])
    snap = month_end_snapshot(con, MONTH, params=PARAMS)
    assert (snap["purchase_days"] == 0).all()
    assert snap["typical_gap"].isna().all()


def test_missing_interactions_table_warns_and_counts_zero():
    con = _store(with_interactions=False)
    with pytest.warns(UserWarning, match="interactions"):
        snap = month_end_snapshot(con, MONTH, params=PARAMS)
    assert (snap["engagement_365"] == 0).all()


# --- errors --------------------------------------------------------------------------------


def test_activity_of_unknown_or_later_customers_is_an_error():
    tx = pd.concat(
        [
            _transactions(),
            pd.DataFrame({"order_id": ["z1", "e1"], "customer_id": ["Z", "E"],
                          "order_ts": [T("2024-06-01"), T("2024-06-02")], "amount": [1.0, 2.0],
                          "category": [None, None], "is_return": [False, False]}),
        ],
        ignore_index=True,
    )
    con = _store(transactions=tx)
    with pytest.raises(SnapshotError, match=r"'transactions'.*2 customer\(s\).*1 unknown.*e\.g\. E, Z"):
        month_end_snapshot(con, MONTH, params=PARAMS)


def test_missing_column_names_table_and_column():
    con = _store(transactions=_transactions().drop(columns="amount"))
    with pytest.raises(SnapshotError, match=r"'transactions' lacks required column\(s\) \['amount'\]"):
        month_end_snapshot(con, MONTH, params=PARAMS)


def test_missing_table_and_bad_month():
    con = duckdb.connect()
    with pytest.raises(SnapshotError, match="no table 'customers'"):
        month_end_snapshot(con, MONTH, params=PARAMS)
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_end_snapshot(_store(), "2024-6", params=PARAMS)


def test_params_refuse_unknown_kinds_and_keys():
    with pytest.raises(ValueError, match="unknown interaction kind"):
        SnapshotParams(engagement_kinds=["likes"])
    with pytest.raises(ValueError, match="extra"):
        SnapshotParams(window=30)


# --- store round trip ----------------------------------------------------------------------


def test_write_read_replaces_exactly_that_month():
    con = _store()
    june = month_end_snapshot(con, MONTH, params=PARAMS)
    may = month_end_snapshot(con, "2024-05", params=PARAMS)
    assert write_snapshot(con, may) == len(may)
    write_snapshot(con, june)
    write_snapshot(con, june.iloc[:2])  # a rerun of June with fewer customers
    assert snapshot_months(con) == ["2024-05", "2024-06"]
    pd.testing.assert_frame_equal(read_snapshot(con, "2024-05"), may)
    fewer = june.iloc[:2].copy()
    for col in fewer.select_dtypes("category"):
        fewer[col] = fewer[col].cat.remove_unused_categories()
    pd.testing.assert_frame_equal(read_snapshot(con, MONTH), fewer)
    write_snapshot(con, june)
    pd.testing.assert_frame_equal(read_snapshot(con, MONTH), june)


def test_write_refuses_mixed_months_and_read_names_missing_month():
    con = _store()
    june = month_end_snapshot(con, MONTH, params=PARAMS)
    mixed = pd.concat([june, june.assign(month="2024-05")], ignore_index=True)
    with pytest.raises(SnapshotError, match="one month at a time"):
        write_snapshot(con, mixed)
    write_snapshot(con, june)
    with pytest.raises(KeyError, match="no rows for 2024-01"):
        read_snapshot(con, "2024-01")


# --- several month ends from one read --------------------------------------------------------


@pytest.mark.parametrize("with_interactions", [True, False])
def test_several_month_ends_equal_one_at_a_time(with_interactions):
    con = _store(with_interactions=with_interactions)
    months = ["2024-03", "2024-06", "2024-04", "2024-07"]
    with pytest.warns() if not with_interactions else _no_warning():
        many = dict(month_end_snapshots(con, months, params=PARAMS))
    assert list(many) == months
    for month in months:
        if with_interactions:
            one = month_end_snapshot(con, month, params=PARAMS)
        else:
            with pytest.warns(UserWarning, match="interactions"):
                one = month_end_snapshot(con, month, params=PARAMS)
        pd.testing.assert_frame_equal(many[month], one, check_exact=False, rtol=1e-12)
    # temporary tables are dropped afterwards
    assert not con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_snapshot_%'").fetchall()


def test_several_month_ends_raise_for_a_customer_not_yet_signed_up():
    tx = pd.concat([_transactions(), pd.DataFrame({
        "order_id": ["e1"], "customer_id": ["E"], "order_ts": [T("2024-06-02")],
        "amount": [2.0], "category": [None], "is_return": [False]})], ignore_index=True)
    con = _store(transactions=tx)
    got = month_end_snapshots(con, ["2024-05", "2024-06"], params=PARAMS)
    assert next(got)[0] == "2024-05"  # E's order is after May
    with pytest.raises(SnapshotError, match=r"e\.g\. E"):
        next(got)


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield

    return ctx()


# --- the Arrow path of the history fill -------------------------------------------------------


def _stored(con, month):
    return con.execute("SELECT * FROM snapshots WHERE month = ? ORDER BY customer_id",
                       [month]).df()


def test_arrow_snapshot_is_stored_as_the_pandas_one():
    months = ["2024-04", "2024-06"]
    by_frame, by_table = _store(), _store()
    write_snapshot(by_frame, month_end_snapshot(by_frame, "2024-03", params=PARAMS))
    write_snapshot(by_table, month_end_snapshot(by_table, "2024-03", params=PARAMS))
    for _month, frame in month_end_snapshots(by_frame, months, params=PARAMS):
        write_snapshot(by_frame, frame)
    for month, table in month_end_snapshot_tables(by_table, months, params=PARAMS):
        assert write_snapshot_table(by_table, month, table) == table.num_rows
    for month in months:
        pd.testing.assert_frame_equal(_stored(by_table, month), _stored(by_frame, month))
    # a store without the table gets it through the pandas path (same column types)
    fresh = _store()
    month, table = next(month_end_snapshot_tables(fresh, ["2024-06"], params=PARAMS))
    write_snapshot_table(fresh, month, table)
    pd.testing.assert_frame_equal(_stored(fresh, "2024-06"), _stored(by_frame, "2024-06"))
    # only the asked columns reach pandas, with the snapshot's compact dtypes
    few = snapshot_frame(table, ["customer_id", "month", "frequency"])
    full = month_end_snapshot(fresh, "2024-06", params=PARAMS)
    pd.testing.assert_frame_equal(few, full[["month", "customer_id", "frequency"]])


def test_stage_one_arrow_snapshot_equals_the_pandas_one_stored_and_read():
    by_frame, by_table = _store(), _store()
    for month in ("2024-03", "2024-06"):  # the first creates the table, the second replaces
        frame = month_end_snapshot(by_frame, month, params=PARAMS)
        write_snapshot(by_frame, frame)
        table = month_end_snapshot_table(by_table, month, params=PARAMS)
        assert write_snapshot_table(by_table, month, table) == len(frame)
        pd.testing.assert_frame_equal(snapshot_frame(table), frame)
        pd.testing.assert_frame_equal(_stored(by_table, month), _stored(by_frame, month))
    again = month_end_snapshot_table(by_table, "2024-06", params=PARAMS)
    write_snapshot_table(by_table, "2024-06", again)  # a rerun replaces that month only
    pd.testing.assert_frame_equal(_stored(by_table, "2024-06"), _stored(by_frame, "2024-06"))
    assert snapshot_months(by_table) == ["2024-03", "2024-06"]
    late = _store(customers=_customers().assign(signup_date=T("2024-07-15")))
    with pytest.raises(SnapshotError):
        month_end_snapshot_table(late, "2024-06", params=PARAMS)


def test_arrow_snapshot_of_another_month_is_refused():
    con = _store()
    write_snapshot(con, month_end_snapshot(con, "2024-03", params=PARAMS))
    month, table = next(month_end_snapshot_tables(con, ["2024-05"], params=PARAMS))
    with pytest.raises(SnapshotError, match="2024-05"):
        write_snapshot_table(con, "2024-06", table)
    assert _stored(con, "2024-06").empty and _stored(con, "2024-05").empty


@pytest.mark.filterwarnings("ignore:BGNBD fit did not converge")  # a handful of customers
def test_history_fill_stores_what_stage_one_would_have():
    from winback.churn import ChurnParams, read_status, score_churn
    from winback.history import fill_status_history

    churn_params = ChurnParams(history_months=3, new_window_days=30, penalizer=0.05)
    con = _store()
    table = fill_status_history(con, "2024-07", snapshot_params=PARAMS,
                                churn_params=churn_params)
    assert table["source"].tolist() == ["filled"] * 3
    for month in ["2024-04", "2024-05", "2024-06"]:
        snapshot = month_end_snapshot(con, month, params=PARAMS)
        stored = read_snapshot(con, month)
        pd.testing.assert_frame_equal(stored, snapshot.sort_values("customer_id",
                                                                    ignore_index=True))
        expected = score_churn(snapshot, params=churn_params).sort_values(
            "customer_id", ignore_index=True)
        got = read_status(con, month)
        pd.testing.assert_frame_equal(got.drop(columns="month"),
                                      expected.drop(columns="month"), check_dtype=False)
    again = fill_status_history(con, "2024-07", snapshot_params=PARAMS,
                                churn_params=churn_params)
    assert again["source"].tolist() == ["stored"] * 3


def test_relevance_check_reads_the_stored_snapshot_and_agrees_with_a_fresh_one():
    from winback.churn import ChurnParams
    from winback.churn_checks import relevance_check
    from winback.history import fill_status_history

    churn_params = ChurnParams(history_months=3, new_window_days=30, penalizer=0.05,
                               relevance_horizon_months=2)
    fresh, stored = _random_store(), _random_store()
    fill_status_history(stored, "2024-07", snapshot_params=PARAMS, churn_params=churn_params)
    assert "2024-05" in snapshot_months(stored) and not snapshot_months(fresh)
    got = relevance_check(stored, "2024-07", snapshot_params=PARAMS, churn_params=churn_params)
    expected = relevance_check(fresh, "2024-07", snapshot_params=PARAMS,
                               churn_params=churn_params)
    assert got["as_of"].eq("2024-05").all() and len(got) > 0
    pd.testing.assert_frame_equal(got, expected)


def _random_store(n: int = 400, seed: int = 7):
    """Customers buying at their own rates from 2023 on; a third stop in 2024."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:04d}" for i in range(n)]
    signup = T("2023-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    customers = pd.DataFrame({"customer_id": ids, "signup_date": signup.astype("datetime64[us]"),
                              "region": rng.choice(["north", "south"], n),
                              "do_not_contact": np.zeros(n, bool)})
    rows = []
    for i, start in enumerate(signup):
        stop = T("2024-03-01") if i % 3 == 0 else T("2024-08-01")
        day = start + pd.Timedelta(days=int(rng.integers(0, 30)))
        while day < stop:
            rows.append((f"o{len(rows)}", ids[i], day, float(rng.gamma(2.0, 30.0)), "grocery",
                         False))
            day += pd.Timedelta(days=int(rng.exponential(10 + 40 * (i % 5))) + 1)
    tx = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_ts", "amount",
                                     "category", "is_return"])
    tx["order_ts"] = tx["order_ts"].astype("datetime64[us]")
    k = 6 * n
    interactions = pd.DataFrame({
        "customer_id": rng.choice(ids, k),
        "ts": (T("2023-06-01") + pd.to_timedelta(rng.integers(0, 420, k), unit="D"))
        .astype("datetime64[us]"),
        "kind": rng.choice(["service_ticket", "review", "community_post"], k)})
    interactions = interactions.merge(customers[["customer_id", "signup_date"]])
    interactions = interactions.loc[interactions["ts"] >= interactions["signup_date"],
                                    ["customer_id", "ts", "kind"]]
    return _store(customers=customers, transactions=tx, interactions=interactions)


def test_snapshot_tables_of_some_columns_equal_the_full_ones():
    con = _store()
    months = ["2024-04", "2024-06"]
    wanted = ["frequency", "recency_ratio", "engagement_90", "spend_365"]
    full = dict(month_end_snapshot_tables(con, months, params=PARAMS))
    few = dict(month_end_snapshot_tables(con, months, params=PARAMS, columns=wanted))
    for month in months:
        expected = full[month].select(["month", "customer_id", "signup_date", *wanted])
        assert sorted(few[month].column_names) == sorted(expected.column_names)
        assert few[month].select(expected.column_names).equals(expected)


def test_a_snapshot_of_some_columns_equals_the_full_one():
    con = _store()
    wanted = ["frequency", "recency", "T", "monetary_value", "purchase_days"]
    full = month_end_snapshot(con, "2024-06", params=PARAMS)
    few = month_end_snapshot(con, "2024-06", params=PARAMS, columns=wanted)
    assert list(few.columns) == [c for c in full.columns
                                 if c in {"month", "customer_id", "signup_date", *wanted}]
    pd.testing.assert_frame_equal(few, full[list(few.columns)])
    assert few["monetary_value"].notna().any() and (few["frequency"] > 0).any()


def test_spend_is_summed_exactly_in_every_path():
    # ten purchases of 0.1 sum to 0.9999999999999999 in floating point
    assert sum([0.1] * 10) != 1.0
    tx = pd.DataFrame({
        "order_id": [f"t{i}" for i in range(10)], "customer_id": ["A"] * 10,
        "order_ts": pd.date_range("2024-06-01", periods=10, freq="D").astype("datetime64[us]"),
        "amount": [0.1] * 10, "category": ["grocery"] * 10, "is_return": [False] * 10})
    con = _store(customers=_customers().iloc[:1], transactions=tx, with_interactions=False)
    with pytest.warns(UserWarning, match="interactions"):
        one = month_end_snapshot(con, MONTH, params=PARAMS)
    with pytest.warns(UserWarning, match="interactions"):
        many = dict(month_end_snapshots(con, [MONTH], params=PARAMS))[MONTH]
    for snap in (one, many):
        row = snap.set_index("customer_id").loc["A"]
        for col in ("gross_spend", "net_spend", "spend_365", "spend_90", "necessary_spend"):
            assert row[col] == 1.0, col
        assert row["avg_day_spend"] == 0.1


def test_a_snapshot_with_columns_the_store_lacks_is_refused_on_both_writes():
    con = _store()
    write_snapshot(con, month_end_snapshot(con, "2024-03", params=PARAMS).drop(columns="age"))
    with pytest.raises(SnapshotError, match=r"lacks column\(s\) \['age'\]"):
        write_snapshot(con, month_end_snapshot(con, "2024-04", params=PARAMS))
    month, table = next(month_end_snapshot_tables(con, ["2024-05"], params=PARAMS))
    with pytest.raises(SnapshotError, match=r"lacks column\(s\) \['age'\]"):
        write_snapshot_table(con, month, table)
    assert snapshot_months(con) == ["2024-03"]


@pytest.mark.parametrize("store", [_store, _random_store])
def test_window_by_customer_hash_equals_window_by_customer_id(store, monkeypatch):
    import winback.snapshot as snapshot

    con = store()
    months = ["2024-04", "2024-06"]
    assert snapshot._hash_key_is_unique(con)
    by_hash = month_end_snapshot_table(con, "2024-06", params=PARAMS)
    by_hash_days = dict(month_end_snapshot_tables(con, months, params=PARAMS))
    monkeypatch.setattr(snapshot, "_hash_key_is_unique", lambda con: False)
    by_id = month_end_snapshot_table(con, "2024-06", params=PARAMS)
    by_id_days = dict(month_end_snapshot_tables(con, months, params=PARAMS))
    assert by_hash.equals(by_id)
    assert by_hash["purchase_days"].to_pylist() != [0] * by_hash.num_rows
    # the multi-month path aggregates by the same key, and agrees with the one-month one
    for month in months:
        assert by_hash_days[month].equals(by_id_days[month])
    assert by_hash_days["2024-06"].equals(by_hash)


def _random_store_with_returns():
    """The random store with every seventh row a refund and mixed categories."""
    con = _random_store()
    con.execute("""UPDATE transactions SET
        is_return = hash(order_id) % 7 = 0,
        category = CASE hash(order_id) % 3 WHEN 0 THEN 'toys' WHEN 1 THEN 'grocery' END""")
    return con


@pytest.mark.parametrize("store", [_store, _random_store_with_returns])
@pytest.mark.parametrize("months", [
    ["2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07"],  # consecutive
    ["2023-09", "2024-02", "2024-03", "2024-07"],  # gaps longer than every window
    ["2024-06", "2024-06", "2024-01", "2024-04", "2023-12"],  # repeated and going back
])
def test_each_of_several_month_ends_equals_its_own_snapshot(store, months):
    con = store()
    assert con.execute("SELECT count(*) FILTER (WHERE is_return) FROM transactions").fetchone()[0]
    got = list(month_end_snapshot_tables(con, months, params=PARAMS))
    assert [month for month, _ in got] == months
    for month, table in got:
        assert table.equals(month_end_snapshot_table(con, month, params=PARAMS)), month
    # the windows the months move have rows entering and leaving them
    for column in ("spend_90", "spend_prev_90", "returns_365", "discretionary_spend_365"):
        assert len({sum(table[column].to_pylist()) for _, table in got}) > 1, column


def test_hash_key_check_sees_customer_ids_sharing_a_hash():
    import winback.snapshot as snapshot

    con = duckdb.connect()
    con.execute("CREATE TABLE customers (customer_id VARCHAR)")
    con.execute("INSERT INTO customers VALUES ('A'), ('B'), ('A')")
    assert snapshot._hash_key_is_unique(con)
    # a stand-in hash that maps every id to one value: the check must refuse it
    con.execute("CREATE MACRO hash(x) AS 1")
    assert not snapshot._hash_key_is_unique(con)
