"""Tests for the early-warning stage: time split, labels, metrics, models, watchlist, alerts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from winback.backtest import (
    LeakageError,
    at_capacity,
    brier_score,
    check_no_future,
    classification_metrics,
    label_window_end,
    reliability_table,
    training_months,
    wilson_interval,
)
from winback.warning import (
    FEATURES,
    AlertParams,
    WarningError,
    WarningModel,
    WarningParams,
    alert_counts,
    choose_model,
    feature_frame,
    label_frame,
    realized_performance,
    recency_rule,
    run_backtest,
    threshold_alerts,
    watchlist,
)

# --- the time split ----------------------------------------------------------------------


MONTHS = [f"2023-{m:02d}" for m in range(1, 13)] + ["2024-01", "2024-02", "2024-03"]


def test_training_months_end_a_horizon_before_the_evaluated_month():
    got = training_months("2024-03", MONTHS, horizon=3)
    assert got == [f"2023-{m:02d}" for m in range(1, 13)]
    assert training_months("2024-03", MONTHS, horizon=3, max_months=4) == [
        "2023-09", "2023-10", "2023-11", "2023-12"]
    assert training_months("2023-03", MONTHS, horizon=3) == []


def test_no_training_month_has_a_label_window_ending_after_the_evaluated_snapshot():
    for h in (1, 2, 3, 6):
        for e in MONTHS:
            for t in training_months(e, MONTHS, horizon=h):
                assert label_window_end(t, h) <= pd.Timestamp(f"{e}-01") + pd.offsets.MonthEnd(0)
                assert pd.Period(t, "M") < pd.Period(e, "M")


def test_label_window_end_is_the_end_of_month_t_plus_h():
    assert label_window_end("2023-11", 3) == pd.Timestamp("2024-02-29")


def test_check_no_future_refuses_a_month_whose_label_is_not_observed():
    check_no_future(["2023-12"], "2024-03", horizon=3)  # window ends 2024-03-31: allowed
    with pytest.raises(LeakageError, match=r"2024-01"):
        check_no_future(["2023-12", "2024-01"], "2024-03", horizon=3)
    with pytest.raises(LeakageError):
        check_no_future(["2024-03"], "2024-03", horizon=1)
    with pytest.raises(ValueError, match="horizon"):
        training_months("2024-03", MONTHS, horizon=0)


def _table(months, n=400, seed=0, signal=2.0):
    """A training table whose label depends on recency_ratio and spend_trend."""
    rng = np.random.default_rng(seed)
    frames = []
    for m in months:
        f = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES})
        logit = -1.5 + signal * f["recency_ratio"] - signal * f["spend_trend"]
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
        f.insert(0, "customer_id", [f"C{i:05d}" for i in range(n)])
        f.insert(0, "month", m)
        f["label"] = y.astype(float)
        f["recency_rule"] = f["recency_ratio"]
        f["do_not_contact"] = False
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_backtest_trains_only_on_months_whose_labels_closed():
    table = _table(MONTHS, n=300)
    params = WarningParams(max_train_months=4, min_train_months=2, backtest_months=3,
                           gbm={"max_iter": 20})
    bt = run_backtest(table, params=params, capacity=30, seed=7)
    assert list(bt.splits["month"]) == ["2024-01", "2024-02", "2024-03"]
    for row in bt.splits.itertuples():
        assert pd.Period(row.train_last, "M") + 3 <= pd.Period(row.month, "M")
        assert row.calibration_month == row.train_last
    assert set(bt.metrics["model"]) == {"logistic", "gbm", "recency_rule"}


def test_backtest_refuses_an_explicit_month_that_would_train_on_the_future(monkeypatch):
    import winback.warning as w

    table = _table(MONTHS, n=200)
    params = WarningParams(min_train_months=1, gbm={"max_iter": 10})
    # a split that leaks: every labelled month, including ones after the evaluated month
    monkeypatch.setattr(w, "training_months", lambda e, months, **kw: sorted(months))
    with pytest.raises(LeakageError):
        w.run_backtest(table, params=params, capacity=10, seed=1, eval_months=["2024-01"])


# --- labels ------------------------------------------------------------------------------


def _statuses(rows):
    return pd.DataFrame(rows, columns=["month", "customer_id", "status"])


def test_label_marks_a_churn_within_the_horizon_for_the_active_population():
    st = _statuses([
        ("2024-01", "a", "active"), ("2024-01", "b", "active"), ("2024-01", "c", "at_risk"),
        ("2024-01", "d", "new"), ("2024-01", "e", "active"),
        ("2024-02", "a", "active"), ("2024-02", "b", "at_risk"), ("2024-02", "c", "churned"),
        ("2024-02", "d", "active"), ("2024-02", "e", "active"),
        ("2024-03", "a", "active"), ("2024-03", "b", "churned"), ("2024-03", "c", "churned"),
        ("2024-03", "d", "active"), ("2024-03", "e", "lost"),
        ("2024-04", "a", "churned"), ("2024-04", "b", "churned"), ("2024-04", "c", "lost"),
        ("2024-04", "d", "active"), ("2024-04", "e", "lost"),
    ])
    got = label_frame(st, horizon=2)
    jan = got[got["month"] == "2024-01"].set_index("customer_id")["label"].to_dict()
    # c (at_risk) and d (new) are not in the population; e became lost within 2 months
    assert jan == {"a": 0, "b": 1, "e": 1}
    feb = got[got["month"] == "2024-02"].set_index("customer_id")["label"].to_dict()
    assert feb == {"a": 1, "d": 0, "e": 1}
    # March's label needs April and May: not observed
    assert set(got["month"]) == {"2024-01", "2024-02"}
    only_churned = label_frame(st, horizon=2, churn_statuses=["churned"])
    assert only_churned.set_index(["month", "customer_id"]).loc[("2024-01", "e"), "label"] == 0


def test_label_frame_rejects_duplicates_and_missing_columns():
    with pytest.raises(WarningError, match="duplicate"):
        label_frame(_statuses([("2024-01", "a", "active"), ("2024-01", "a", "churned")]),
                    horizon=1)
    with pytest.raises(WarningError, match="status"):
        label_frame(pd.DataFrame({"month": ["2024-01"], "customer_id": ["a"]}), horizon=1)


def test_params_refuse_overlapping_statuses_and_unknown_features():
    with pytest.raises(ValueError, match="both"):
        WarningParams(population_statuses=["active", "churned"])
    with pytest.raises(ValueError, match="unknown"):
        WarningParams(features=["recency_ratio", "shoe_size"])
    with pytest.raises(ValueError, match="at_rsk"):
        WarningParams(population_statuses=["at_rsk"])


# --- metrics on closed-form cases ----------------------------------------------------------


def test_precision_recall_lift_at_capacity():
    y = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    score = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    got = at_capacity(y, score, 4)
    assert got["k"] == 4 and got["tp"] == 2
    assert got["precision"] == pytest.approx(0.5)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["lift"] == pytest.approx(0.5 / 0.3)
    lo, hi = wilson_interval(2, 4)
    assert (got["precision_low"], got["precision_high"]) == pytest.approx((lo, hi))
    # capacity beyond the population: everyone contacted, recall 1, lift 1
    full = at_capacity(y, score, 50)
    assert full["k"] == 10 and full["recall"] == 1 and full["lift"] == pytest.approx(1.0)


def test_ties_at_capacity_break_by_id():
    y = [0, 1, 0]
    got = at_capacity(y, [1.0, 1.0, 1.0], 1, ids=["c", "a", "b"])
    assert got["tp"] == 1  # "a" wins the tie


def test_rank_order_breaks_ties_by_id_whether_or_not_ids_come_sorted():
    from winback.backtest import rank_order

    score = np.array([0.5, 0.9, 0.5, 0.5, 0.1])
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)  # sorted: positions are used
    assert rank_order(score, ids).tolist() == [1, 0, 2, 3, 4]
    shuffled = [3, 0, 4, 2, 1]
    order = rank_order(score[shuffled], ids[shuffled])
    assert ids[shuffled][order].tolist() == ["b", "a", "c", "d", "e"]
    assert rank_order([1.0, 1.0], [9, 10]).tolist() == [1, 0]  # numbers compare as text: "10"<"9"


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_brier_score_and_reliability_bins():
    y = [0, 0, 1, 1]
    p = [0.1, 0.3, 0.6, 0.9]
    value, lo, hi = brier_score(y, p)
    assert value == pytest.approx((0.01 + 0.09 + 0.16 + 0.01) / 4)
    assert lo <= value <= hi
    table = reliability_table(y, p, n_bins=2)
    assert list(table["n"]) == [2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.2, 0.75])
    assert table["observed"].tolist() == [0.0, 1.0]
    assert reliability_table([1], [1.0], n_bins=5)["bin"].tolist() == [4]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability_table([1], [1.5])


def test_classification_metrics_perfect_and_random_rankings():
    y = np.array([1] * 20 + [0] * 80)
    perfect = classification_metrics(y, -np.arange(100.0), capacity=20, prob=y * 0.9 + 0.05)
    v = perfect.set_index("metric")["value"]
    assert v["roc_auc"] == pytest.approx(1.0) and v["pr_auc"] == pytest.approx(1.0)
    assert v["precision_at_capacity"] == 1.0 and v["lift_at_capacity"] == pytest.approx(5.0)
    assert v["brier"] == pytest.approx(0.0025)
    rule = classification_metrics(y, np.zeros(100), capacity=20)
    assert "brier" not in set(rule["metric"])
    assert rule.set_index("metric").loc["roc_auc", "value"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics(y, np.full(100, np.nan), capacity=5)


# --- models, watchlist and factors ---------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    table = _table(["2024-01", "2024-02", "2024-03"], n=1500, seed=3)
    models = {}
    for kind in ("logistic", "gbm"):
        models[kind] = WarningModel(kind, gbm=WarningParams().gbm.model_copy(
            update={"max_iter": 60}), random_state=5).fit(
            table[list(FEATURES)], table["label"], months=table["month"])
    return table, models


def test_models_learn_the_signal_and_calibrate_on_the_latest_month(fitted):
    table, models = fitted
    lr = models["logistic"]
    assert lr.calibration_month_ == "2024-03" and lr.n_train_ == len(table)
    coef = lr.coefficients().set_index("feature")["coef"]
    assert coef.index[0] in ("recency_ratio", "spend_trend")
    assert coef["recency_ratio"] > 1 and coef["spend_trend"] < -1
    risk = lr.predict_risk(table)
    assert ((risk >= 0) & (risk <= 1)).all()
    assert "calibration" in set(lr.summary()["item"])
    assert "n_train=4500" in repr(lr)


def test_watchlist_names_the_factors_that_raise_risk(fitted):
    table, models = fitted
    scoring = table[table["month"] == "2024-03"].copy()
    scoring.loc[scoring.index[:5], "do_not_contact"] = True
    for kind, model in models.items():
        wl = watchlist(model, scoring, month="2024-03", model_name=kind, capacity=50)
        assert len(wl) == 50 and list(wl["rank"]) == list(range(1, 51))
        assert not set(wl["customer_id"]) & set(scoring["customer_id"].iloc[:5])
        assert wl["factor_1"].isin(["recency_ratio", "spend_trend"]).mean() > 0.8
        assert (np.diff(model.score(scoring.set_index("customer_id").loc[wl["customer_id"]]))
                <= 1e-12).all()
    by_prob = watchlist(models["logistic"], scoring, month="2024-03", model_name="logistic",
                        capacity=0, rule="probability", threshold=0.6)
    assert (by_prob["risk"] >= 0.6).all()


def test_score_and_risk_equal_the_estimators_own_probabilities(fitted):
    table, models = fitted
    X = table[list(FEATURES)]
    for kind in ("logistic", "gbm"):
        for calibration in ("sigmoid", "isotonic", "none"):
            model = models[kind]
            if calibration != "sigmoid":
                model = WarningModel(kind, calibration=calibration, gbm=model.gbm,
                                     random_state=5).fit(X, table["label"],
                                                         months=table["month"])
            score, risk = model.score_and_risk(X)
            np.testing.assert_array_equal(score, model.base_.predict_proba(X)[:, 1])
            expected = (score if model.calibrator_ is None
                        else model.calibrator_.predict_proba(X)[:, 1])
            np.testing.assert_array_equal(risk, expected)


def test_median_imputer_and_reference_medians_equal_scikit_learns_and_pandas():
    from sklearn.impute import SimpleImputer

    from winback.warning import _column_medians, _MedianImputer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1001, 5))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[:, 3] = np.nan  # an empty column imputes 0
    X[:, 4] = np.round(X[:, 4])  # ties
    for rows in (slice(None), slice(0, 1000)):  # odd and even counts
        ours = _MedianImputer(strategy="median", keep_empty_features=True).fit(X[rows])
        theirs = SimpleImputer(strategy="median", keep_empty_features=True).fit(X[rows])
        np.testing.assert_array_equal(ours.statistics_, theirs.statistics_)
        np.testing.assert_array_equal(ours.transform(X), theirs.transform(X))
    frame = pd.DataFrame(X)
    for rows in (slice(None), slice(0, 1000)):
        pd.testing.assert_series_equal(
            pd.Series(_column_medians(frame.iloc[rows].to_numpy()), index=frame.columns),
            frame.iloc[rows].median(), check_exact=True)  # NaN for the empty column


def test_logistic_contribution_is_coefficient_times_standardized_value(fitted):
    table, models = fitted
    lr = models["logistic"]
    row = table.iloc[[0]]
    contrib = lr.contributions(row)
    coef = lr.coefficients().set_index("feature")
    x = row["recency_ratio"].iloc[0]
    expected = coef.loc["recency_ratio", "coef"] * (
        x - coef.loc["recency_ratio", "train_mean"]) / coef.loc["recency_ratio", "train_sd"]
    assert contrib["recency_ratio"].iloc[0] == pytest.approx(expected)


def test_gbm_factor_is_the_feature_whose_median_lowers_risk_most():
    # risk depends on one feature only: it must be the only positive factor
    rng = np.random.default_rng(0)
    n = 2000
    X = pd.DataFrame({f: rng.normal(size=n) for f in ("recency_ratio", "spend_trend", "orders_90")})
    y = (X["recency_ratio"] > 0.5).astype(int)
    model = WarningModel("gbm", calibration="none").fit(X, y)
    top = model.top_factors(X[X["recency_ratio"] > 1.5].head(20))
    assert (top["factor_1"] == "recency_ratio").all()
    assert top["factor_2"].isna().mean() >= 0.8  # noise features rarely move it


def test_model_errors_are_explained():
    with pytest.raises(WarningError, match="not fitted"):
        WarningModel().score(pd.DataFrame({"recency_ratio": [1.0]}))
    with pytest.raises(WarningError, match="all 0"):
        WarningModel().fit(pd.DataFrame({"recency_ratio": [1.0, 2.0]}), [0, 0])


def test_choose_model_takes_the_better_pr_auc(fitted):
    table = _table(MONTHS[:8], n=300, seed=2)
    bt = run_backtest(table, params=WarningParams(min_train_months=1, backtest_months=2,
                                                  gbm={"max_iter": 20}), capacity=30, seed=1)
    pr = bt.metrics[bt.metrics["metric"] == "pr_auc"].groupby("model")["value"].mean()
    best = "gbm" if pr["gbm"] > pr["logistic"] else "logistic"
    assert choose_model(bt) == best
    assert choose_model(bt, preference="gbm") == "gbm"


# --- features ------------------------------------------------------------------------------


def test_feature_frame_transforms_and_names_missing_columns():
    snap = pd.DataFrame({
        "customer_id": ["a", "b"], "recency_ratio": [1.0, np.nan], "spend_90": [100.0, 0.0],
        "spend_prev_90": [300.0, 0.0], "gap_std": [2.0, np.nan], "gap_mean": [4.0, np.nan],
    })
    got = feature_frame(snap, features=["recency_ratio", "spend_trend", "gap_cv"])
    assert got["recency_ratio"].iloc[0] == pytest.approx(np.log(2))
    assert np.isnan(got["recency_ratio"].iloc[1])
    assert got["spend_trend"].tolist() == pytest.approx([-200 / 401, 0.0])
    assert got["gap_cv"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(WarningError, match="orders_90"):
        feature_frame(snap, features=["orders_90"])
    assert recency_rule(snap).tolist() == [1.0, 2.0]


# --- alerts --------------------------------------------------------------------------------


def test_threshold_alerts_compare_with_the_customers_own_previous_window():
    snap = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "orders_90": [1, 2, 0, 5], "orders_prev_90": [4, 3, 1, 5],
        "spend_90": [50.0, 10.0, 0.0, 100.0], "spend_prev_90": [100.0, 100.0, 0.0, 80.0],
        "engagement_90": [0, 1, 0, 3], "engagement_prev_90": [2, 2, 5, 1],
    })
    got = threshold_alerts(snap, params=AlertParams()).set_index("customer_id")
    # a: orders -75%, spend -50% (exactly the threshold), engagement -100%
    assert got.loc["a", ["frequency_drop", "spend_drop", "engagement_drop"]].tolist() == [
        True, True, True]
    assert got.loc["a", "frequency_drop_change"] == pytest.approx(-0.75)
    # b: orders -33% (below threshold), spend -90%, engagement -50%
    assert got.loc["b", ["frequency_drop", "spend_drop", "engagement_drop"]].tolist() == [
        False, True, True]
    # c: 1 previous order is too few to compare, no previous spend, engagement gone
    assert np.isnan(got.loc["c", "frequency_drop_change"])
    assert got.loc["c", "n_alerts"] == 1
    assert got.loc["d", "n_alerts"] == 0
    strict = threshold_alerts(snap, params=AlertParams(spend_drop=0.6))
    assert not strict.set_index("customer_id").loc["a", "spend_drop"]
    counts = alert_counts(got.reset_index(), watchlist=pd.DataFrame({"customer_id": ["b"]}))
    c = counts.set_index("alert")
    assert c.loc["spend_drop", "customers"] == 2 and c.loc["spend_drop", "on_watchlist"] == 1
    assert c.loc["any_alert", "customers"] == 3 and c.loc["two_or_more", "customers"] == 2
    only = threshold_alerts(snap, params=AlertParams(), customers=["a"])
    assert list(only["customer_id"]) == ["a"]
    with pytest.raises(WarningError, match="engagement_90"):
        threshold_alerts(snap.drop(columns="engagement_90"), params=AlertParams())


# --- realized performance ------------------------------------------------------------------


def test_realized_precision_and_recall_of_a_past_watchlist():
    labels = pd.DataFrame({"month": "2024-01", "customer_id": list("abcdef"),
                           "label": [1, 1, 0, 0, 1, 0]})
    wl = pd.DataFrame({"month": ["2024-01"] * 3 + ["2024-05"], "customer_id": ["a", "c", "e", "a"],
                       "model": "gbm"})
    got = realized_performance(wl, labels, horizon=3).set_index("metric")
    assert got.loc["realized_precision", "value"] == pytest.approx(2 / 3)
    assert got.loc["realized_recall", "value"] == pytest.approx(2 / 3)
    assert got.loc["realized_base_rate", "value"] == pytest.approx(0.5)
    assert got.loc["watchlist_size", "value"] == 3
    assert set(got["month"]) == {"2024-01"} and set(got["model"]) == {"gbm"}


# --- store tables ----------------------------------------------------------------------------


def test_performance_rows_of_another_kind_survive_a_rerun():
    import duckdb

    from winback.warning import read_performance, write_performance

    con = duckdb.connect()
    row = {"month": "2024-01", "horizon": 3, "ci_low": np.nan, "ci_high": np.nan}
    write_performance(con, pd.DataFrame([
        {**row, "model": "gbm", "metric": "pr_auc", "value": 0.4},
        {**row, "model": "gbm", "metric": "realized_precision", "value": 0.3},
    ]))
    write_performance(con, pd.DataFrame([{**row, "model": "gbm", "metric": "pr_auc",
                                          "value": 0.5}]))
    got = read_performance(con).set_index("metric")["value"]
    assert got.to_dict() == {"pr_auc": 0.5, "realized_precision": 0.3}


def test_watchlist_rerun_replaces_exactly_its_month():
    import duckdb

    from winback.warning import past_watchlists, write_watchlist

    con = duckdb.connect()

    def wl(month, ids):
        return pd.DataFrame({"month": month, "customer_id": ids, "risk": 0.5,
                             "rank": range(1, len(ids) + 1), "factor_1": "recency_ratio",
                             "factor_2": None, "factor_3": None, "model": "gbm"})

    write_watchlist(con, "2024-01", wl("2024-01", ["a", "b"]))
    write_watchlist(con, "2024-02", wl("2024-02", ["c"]))
    write_watchlist(con, "2024-01", wl("2024-01", ["d"]))
    got = past_watchlists(con)
    assert got.groupby("month")["customer_id"].apply(list).to_dict() == {
        "2024-01": ["d"], "2024-02": ["c"]}
    assert got["factor_2"].isna().all()


# --- the run month -----------------------------------------------------------------------------


def test_fit_final_trains_on_closed_months_and_says_when_history_is_too_short():
    from winback.warning import fit_final

    table = _table(["2024-01", "2024-02", "2024-03", "2024-04"], n=300, seed=4)
    table.loc[table["month"] >= "2024-03", "label"] = np.nan  # not yet observed
    params = WarningParams(horizon_months=2, gbm={"max_iter": 20})
    final = fit_final(table, "2024-04", params=params, seed=3)
    assert final.train_months == ["2024-01", "2024-02"]
    assert final.model.calibration_month_ == "2024-02"
    assert "chosen" in final.summary()["value"].iloc[0]
    early = fit_final(table, "2024-03", params=params, seed=3)
    assert early.train_months == ["2024-01"] and early.model is not None
    none = fit_final(table, "2024-02", params=params, seed=3)
    assert none.model is None and "No training month" in none.note
    assert none.coefficients().empty
    empty = watchlist(none.model, table[table["month"] == "2024-02"], month="2024-02",
                      model_name=none.chosen, capacity=10)
    assert empty.empty and "factor_1" in empty.columns


def test_capacity_from_params_or_the_schedule_teams():
    from types import SimpleNamespace

    from winback.warning import resolve_capacity

    assert resolve_capacity(WarningParams(capacity=150)) == 150
    team = SimpleNamespace(agents=3, per_agent_day=40, staffed=True)
    schedule = SimpleNamespace(teams={"phone": team})
    assert resolve_capacity(WarningParams(capacity=None), schedule) == 3 * 40 * 21
    with pytest.raises(WarningError, match="warning.capacity"):
        resolve_capacity(WarningParams(capacity=None))


# --- the demo engagement (slow) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_warning(demo_run, tmp_path_factory):
    """The early-warning stage run on a copy of the demo store for 2024-03, then 2024-06."""
    import shutil

    from tests.demo_engagement import OVERRIDES
    from winback.config import load_params
    from winback.store import opened
    from winback.warning import (
        fit_final,
        load_history,
        record_performance,
        resolve_capacity,
        write_watchlist,
    )

    store = tmp_path_factory.mktemp("warning") / "store.duckdb"
    shutil.copy(demo_run.ws.store_path, store)
    params = load_params("demo", OVERRIDES)
    wp, seed = params.warning, params.engagement.seed
    capacity = resolve_capacity(params)
    runs = {}
    with opened(store) as con:
        for month in ("2024-03", "2024-06"):
            history = load_history(con, month, params=wp, snapshot_params=params.snapshot,
                                   churn_params=params.churn)
            bt = run_backtest(history.table, params=wp, capacity=capacity, seed=seed)
            final = fit_final(history.table, month, params=wp, seed=seed, backtest=bt)
            wl = watchlist(final.model, history.scoring, month=month, model_name=final.chosen,
                           capacity=capacity, rule=wp.watchlist_rule)
            write_watchlist(con, month, wl)
            perf = record_performance(con, bt, history)
            runs[month] = {"history": history, "backtest": bt, "final": final, "watchlist": wl,
                           "performance": perf}
        again = load_history(con, "2024-06", params=wp, snapshot_params=params.snapshot,
                             churn_params=params.churn)
        rerun = fit_final(again.table, "2024-06", params=wp, seed=seed,
                          backtest=runs["2024-06"]["backtest"])
        rerun_wl = watchlist(rerun.model, again.scoring, month="2024-06", model_name=rerun.chosen,
                             capacity=capacity, rule=wp.watchlist_rule)
        statuses = con.execute(
            "SELECT month, customer_id, status FROM churn_status UNION ALL "
            "SELECT month, customer_id, status FROM warning_status WHERE month NOT IN "
            "(SELECT DISTINCT month FROM churn_status)").df()
    return {"runs": runs, "again": again, "params": params, "capacity": capacity,
            "rerun_watchlist": rerun_wl, "statuses": statuses}


@pytest.mark.slow
def test_demo_history_is_cached_and_labels_follow_the_churn_rules(demo_warning):
    again = demo_warning["again"]
    assert set(again.sources["snapshot_source"]) <= {"snapshots", "cache"}
    assert set(again.sources["status_source"]) <= {"churn_status", "cache"}
    first = demo_warning["runs"]["2024-06"]["history"]
    pd.testing.assert_frame_equal(first.table, again.table)
    # the population is active at the snapshot; label 1 = churned or lost within 3 months
    st = demo_warning["statuses"].set_index(["month", "customer_id"])["status"]
    sample = again.labels[again.labels["month"] == "2024-01"]
    assert (st.loc[list(zip(sample["month"], sample["customer_id"], strict=True))]
            == "active").all()
    churned = {c for m in ("2024-02", "2024-03", "2024-04")
               for c in st.loc[m][st.loc[m].isin(["churned", "lost"])].index}
    assert sample["label"].astype(bool).tolist() == sample["customer_id"].isin(churned).tolist()


@pytest.mark.slow
def test_demo_watchlist_and_realized_performance_in_the_store(demo_warning):
    runs, capacity = demo_warning["runs"], demo_warning["capacity"]
    wl = runs["2024-06"]["watchlist"]
    pd.testing.assert_frame_equal(wl, demo_warning["rerun_watchlist"])  # deterministic
    assert len(wl) == min(capacity, len(runs["2024-06"]["history"].scoring))
    assert wl["factor_1"].notna().all()
    perf = runs["2024-06"]["performance"]
    realized = perf[(perf["month"] == "2024-03") & (perf["metric"] == "realized_precision")]
    assert len(realized) == 1
    labels = runs["2024-06"]["history"].labels
    pop = labels[labels["month"] == "2024-03"]
    listed = pop["customer_id"].isin(runs["2024-03"]["watchlist"]["customer_id"])
    assert realized["value"].iloc[0] == pytest.approx(pop.loc[listed, "label"].mean())
    # the backtest rows of 2024-03 written by the 2024-06 run kept the realized rows
    assert {"pr_auc", "realized_precision"} <= set(perf.loc[perf["month"] == "2024-03", "metric"])


def test_large_training_tables_are_sampled_with_a_seed_and_the_run_says_so():
    from winback.warning import describe_backtest

    table = _table(MONTHS[:7], n=400, seed=8)
    params = WarningParams(min_train_months=3, backtest_months=1, max_train_rows=1000,
                           gbm={"max_iter": 15})
    bt = run_backtest(table, params=params, capacity=40, seed=11)
    split = bt.splits.iloc[0]
    assert split["train_rows"] == 1000 and split["rows_available"] == 1600  # 2023-01 .. 2023-04
    assert "seeded uniform sample" in describe_backtest(bt)
    again = run_backtest(table, params=params, capacity=40, seed=11)
    pd.testing.assert_frame_equal(bt.metrics, again.metrics)
    other = run_backtest(table, params=params, capacity=40, seed=12)
    assert not other.predictions["logistic_score"].equals(bt.predictions["logistic_score"])


def _known_backtest():
    from winback.warning import Backtest

    metrics = pd.DataFrame({
        "month": ["2023-06"] * 7 + ["2023-07"] * 7,
        "model": ["logistic", "gbm", "recency_rule", "recency_rule", "logistic", "gbm",
                  "recency_rule"] * 2,
        "metric": ["pr_auc", "pr_auc", "pr_auc", "base_rate", "precision_at_capacity",
                   "precision_at_capacity", "precision_at_capacity"] * 2,
        "value": [0.5, 0.4, 0.3, 0.1, 0.6, 0.5, 0.4, 0.7, 0.6, 0.3, 0.2, 0.8, 0.7, 0.2]})
    splits = pd.DataFrame({"month": ["2023-06", "2023-07"], "train_rows": [1000, 1000],
                           "rows_available": [1000, 1600]})
    return Backtest(metrics=metrics, predictions=pd.DataFrame(), splits=splits, horizon=3,
                    capacity=40)


def test_backtest_sentence_in_both_languages():
    from winback.warning import describe_backtest

    bt = _known_backtest()
    assert describe_backtest(bt, language="en") == (
        "Backtest over 2 month(s) (2023-06 .. 2023-07), horizon 3 months: PR-AUC 0.600 "
        "(logistic), 0.500 (gradient boosting) vs 0.300 for the recency rule, at a base churn "
        "rate of 15.0%. Contacting the top 40 customers a month, the logistic model's precision "
        "is 70.0% against 30.0% for the rule. Training tables were capped by a seeded uniform "
        "sample in 1 month(s): 1,000 of up to 1,600 rows."
    )
    assert describe_backtest(bt, language="zh") == (
        "回测覆盖 2 个月 (2023-06 .. 2023-07)，预测期 3 个月：PR-AUC 0.600 (逻辑回归)、0.500 (梯度提升)，"
        "仅看最近购买的规则为 0.300，基础流失率 15.0%。每月联系风险最高的 40 位客户时，逻辑回归模型的"
        "精确率为 70.0%，规则为 30.0%。训练表在 1 个月中经带种子的均匀抽样截断：1,000 行 (可用最多 "
        "1,600 行)。"
    )
    empty = dataclasses.replace(bt, metrics=bt.metrics.iloc[0:0])
    assert describe_backtest(empty, language="zh") == "无法进行回测。"
    with pytest.raises(ValueError):
        describe_backtest(bt, language="fr")


def test_watchlist_sentence_in_both_languages():
    from winback.warning import WarningHistory, describe_watchlist

    table = pd.DataFrame({"month": ["2024-03"] * 10 + ["2024-02"] * 5,
                          "customer_id": [str(i) for i in range(15)]})
    history = WarningHistory(month="2024-03", table=table, labels=None, snapshot=None,
                             sources=None)
    wl = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "risk": [0.2, 0.4, 0.6, 0.8],
                       "factor_1": ["recency_days", "recency_days", "frequency", "recency_days"],
                       "factor_2": ["frequency", None, None, None]})
    assert describe_watchlist(wl, history, capacity=5, language="en") == (
        "4 of 10 active customers are on the 2024-03 watchlist (capacity 5), with a calibrated "
        "churn risk of 20% to 80% (mean 50%). The most frequent factor is days since last "
        "purchase (75% of the list)."
    )
    assert describe_watchlist(wl, history, capacity=5, language="zh") == (
        "2024-03 预警名单包含 10 位活跃客户中的 4 位 (容量 5)，校准后的流失风险为 20% 至 80% (平均 50%)。"
        "最常见的因素是距上次购买天数 (占名单 75%)。"
    )
    assert describe_watchlist(wl.iloc[0:0], history, capacity=5, language="zh") == (
        "2024-03 没有预警名单：尚无可训练的模型 (预警人群 10 位客户)。"
    )


# --- charts ----------------------------------------------------------------------------------


def test_charts_draw_with_a_takeaway_and_say_when_there_is_nothing_to_show():
    import matplotlib.pyplot as plt

    from winback.plots import warning as charts
    from winback.warning import alert_counts, factor_counts, fit_final

    table = _table(MONTHS[:8], n=300, seed=9)
    params = WarningParams(min_train_months=1, backtest_months=2, gbm={"max_iter": 15})
    bt = run_backtest(table, params=params, capacity=30, seed=2)
    final = fit_final(table, "2023-08", params=params, seed=2, backtest=bt)
    wl = watchlist(final.model, table[table["month"] == "2023-08"], month="2023-08",
                   model_name=final.chosen, capacity=30)
    snap = pd.DataFrame({"customer_id": ["a", "b"], "orders_90": [0, 3],
                         "orders_prev_90": [4, 3], "spend_90": [0.0, 9.0],
                         "spend_prev_90": [50.0, 9.0], "engagement_90": [0, 0],
                         "engagement_prev_90": [0, 0]})
    perf = pd.DataFrame({"month": ["2023-05", "2023-05"], "horizon": 3, "model": "gbm",
                         "metric": ["realized_precision", "realized_base_rate"],
                         "value": [0.3, 0.1], "ci_low": [0.2, 0.08], "ci_high": [0.4, 0.12]})
    for language in ("zh", "en"):
        axes = [
            charts.plot_backtest(bt.metrics, language=language),
            charts.plot_capacity_curve(bt.capacity_curve(), capacity=30, language=language),
            charts.plot_reliability(bt.reliability(), model=final.chosen,
                                    brier=bt.mean("brier", final.chosen), language=language),
            charts.plot_coefficients(final.coefficients(), language=language),
            charts.plot_factor_counts(factor_counts(wl, language=language), language=language),
            charts.plot_alert_counts(alert_counts(threshold_alerts(snap, params=AlertParams())),
                                     language=language),
            charts.plot_realized(perf, horizon=3, language=language),
        ]
        for ax in axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
            assert len(ax.texts) >= 1  # the takeaway line
        plt.close("all")
    empty = charts.plot_realized(perf.iloc[0:0], horizon=3, language="en")
    assert "3 months" in empty.texts[0].get_text()
    assert charts.plot_backtest(bt.metrics.iloc[0:0], language="en").texts
    plt.close("all")


def test_a_cache_with_other_columns_is_rebuilt():
    import duckdb

    from winback.warning import _write_cache

    con = duckdb.connect()
    _write_cache(con, "warning_status", "2024-01",
                 pd.DataFrame({"month": ["2024-01"], "customer_id": ["a"], "score": [0.1]}))
    _write_cache(con, "warning_status", "2024-02",
                 pd.DataFrame({"month": ["2024-02"], "customer_id": ["a"], "score": [0.2]}))
    _write_cache(con, "warning_status", "2024-02",
                 pd.DataFrame({"month": ["2024-02"], "customer_id": ["a"], "score": [0.3],
                               "p_alive": [0.9]}))
    got = con.execute("SELECT month, score, p_alive FROM warning_status").fetchall()
    assert got == [("2024-02", 0.3, 0.9)]


# --- the backtest cache ------------------------------------------------------------------


_CACHE_PARAMS = dict(max_train_months=3, min_train_months=2, backtest_months=3,
                     gbm={"max_iter": 10})


def _same_backtest(a, b):
    for name in ("metrics", "predictions", "splits"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.notes == b.notes
    pd.testing.assert_frame_equal(a.reliability(), b.reliability(), check_exact=True)
    pd.testing.assert_frame_equal(a.capacity_curve(), b.capacity_curve(), check_exact=True)
    pd.testing.assert_frame_equal(a.comparison(), b.comparison(), check_exact=True)


def test_backtest_cache_cold_warm_and_after_a_month_changed_give_the_same_outputs():
    import duckdb

    table = _table(MONTHS[5:], n=150, seed=3)  # 2023-06 .. 2024-03, evaluated 2024-01..03
    params = WarningParams(**_CACHE_PARAMS)
    con = duckdb.connect()
    plain = run_backtest(table, params=params, capacity=20, seed=5)
    cold = run_backtest(table, params=params, capacity=20, seed=5, con=con)
    warm = run_backtest(table, params=params, capacity=20, seed=5, con=con)
    assert cold.reused == [] and warm.reused == ["2024-01", "2024-02", "2024-03"]
    _same_backtest(plain, cold)
    _same_backtest(plain, warm)
    # stage 1 rebuilt 2023-08: only the month trained on it (2024-01) is redone
    changed = table.copy()
    rows = (changed["month"] == "2023-08").to_numpy()
    changed.loc[rows, "spend_trend"] = changed.loc[rows, "spend_trend"] + 0.5
    after = run_backtest(changed, params=params, capacity=20, seed=5, con=con)
    assert after.reused == ["2024-02", "2024-03"]
    _same_backtest(run_backtest(changed, params=params, capacity=20, seed=5), after)
    assert not after.metrics.equals(warm.metrics)
    # a changed label of the evaluated month itself
    relabel = table.copy()
    first = np.flatnonzero((relabel["month"] == "2024-03").to_numpy())[0]
    relabel.loc[first, "label"] = 1.0 - relabel.loc[first, "label"]
    again = run_backtest(relabel, params=params, capacity=20, seed=5, con=con)
    assert "2024-03" not in again.reused
    _same_backtest(run_backtest(relabel, params=params, capacity=20, seed=5), again)


def test_backtest_cache_key_covers_params_capacity_and_seed():
    import duckdb

    table = _table(MONTHS[5:], n=150, seed=3)
    params = WarningParams(**_CACHE_PARAMS)
    con = duckdb.connect()
    run_backtest(table, params=params, capacity=20, seed=5, con=con)
    variants = [(params, 25, 5), (params, 20, 6),
                (WarningParams(**{**_CACHE_PARAMS, "logistic_c": 0.5}), 20, 5),
                (WarningParams(**{**_CACHE_PARAMS, "gbm": {"max_iter": 11}}), 20, 5)]
    for p, capacity, seed in variants:
        got = run_backtest(table, params=p, capacity=capacity, seed=seed, con=con)
        assert got.reused == []
        _same_backtest(run_backtest(table, params=p, capacity=capacity, seed=seed), got)
    # the watchlist's knobs do not touch the backtest: the last entries are reused
    p = WarningParams(**{**_CACHE_PARAMS, "gbm": {"max_iter": 11}, "watchlist_model": "gbm",
                         "reliability_bins": 5})
    assert run_backtest(table, params=p, capacity=20, seed=5, con=con).reused == [
        "2024-01", "2024-02", "2024-03"]


def test_a_damaged_backtest_cache_entry_is_recomputed_never_trusted():
    import duckdb

    from winback.warning import BACKTEST_CACHE, BACKTEST_PREDICTIONS

    table = _table(MONTHS[5:], n=150, seed=3)
    params = WarningParams(**_CACHE_PARAMS)
    con = duckdb.connect()
    plain = run_backtest(table, params=params, capacity=20, seed=5)
    run_backtest(table, params=params, capacity=20, seed=5, con=con)
    con.execute(f"UPDATE {BACKTEST_PREDICTIONS} SET gbm_risk = 0.5 "
                "WHERE month = '2024-01' AND \"row\" = 3")
    con.execute(f"UPDATE {BACKTEST_CACHE} SET metrics = replace(metrics, '0.', '0.9') "
                "WHERE month = '2024-02'")
    con.execute(f"DELETE FROM {BACKTEST_PREDICTIONS} WHERE month = '2024-03' AND \"row\" = 0")
    got = run_backtest(table, params=params, capacity=20, seed=5, con=con)
    assert got.reused == []
    _same_backtest(plain, got)
    con.execute(f"UPDATE {BACKTEST_CACHE} SET metrics = 'not json', checksum = 'x'")
    _same_backtest(plain, run_backtest(table, params=params, capacity=20, seed=5, con=con))
    assert run_backtest(table, params=params, capacity=20, seed=5, con=con).reused == [
        "2024-01", "2024-02", "2024-03"]
    # months no longer evaluated leave the cache
    run_backtest(table, params=params, capacity=20, seed=5, con=con, eval_months=["2024-03"])
    for name in (BACKTEST_CACHE, BACKTEST_PREDICTIONS):
        assert [r[0] for r in con.execute(f"SELECT DISTINCT month FROM {name}").fetchall()] == [
            "2024-03"]


def test_the_final_models_are_kept_and_reused_by_the_backtest_of_that_month(monkeypatch):
    import duckdb

    import winback.warning as w
    from winback.warning import MODEL_CACHE, fit_final

    table = _table(MONTHS[5:], n=150, seed=3)
    params = WarningParams(**_CACHE_PARAMS)
    plain = run_backtest(table, params=params, capacity=20, seed=5)
    con = duckdb.connect()
    alone = fit_final(table, "2024-03", params=params, seed=5)
    final = fit_final(table, "2024-03", params=params, seed=5, con=con)
    fits = []
    train = w._train
    monkeypatch.setattr(w, "_train", lambda *a, **k: fits.append(a[2]) or train(*a, **k))
    again = fit_final(table, "2024-03", params=params, seed=5, con=con)
    rows = table[table["month"] == "2024-03"]
    for f in (final, again):
        pd.testing.assert_frame_equal(f.summary(), alone.summary())
        for kind in ("logistic", "gbm"):
            a, b = alone.models[kind].score_and_risk(rows), f.models[kind].score_and_risk(rows)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert fits == []  # the rerun read its models
    # the backtest three months on evaluates 2024-03 with the kept models
    got = run_backtest(table, params=params, capacity=20, seed=5, con=con)
    assert fits == ["2024-01", "2024-02"]
    _same_backtest(plain, got)
    # a damaged entry is refitted
    con.execute(f"UPDATE {MODEL_CACHE} SET models = '\\x00'::BLOB WHERE month = '2024-01'")
    con.execute("DELETE FROM warning_backtest_cache WHERE month = '2024-01'")
    fits.clear()
    _same_backtest(plain, run_backtest(table, params=params, capacity=20, seed=5, con=con))
    assert fits == ["2024-01"]


def test_population_query_labels_churn_in_the_window_only():
    import duckdb

    from winback.warning import _population_sql, _status_of

    con = duckdb.connect()
    con.execute("CREATE TABLE snapshots (month VARCHAR, customer_id VARCHAR, "
                "recency_ratio DOUBLE, do_not_contact BOOLEAN)")
    con.execute("INSERT INTO snapshots VALUES ('2024-01', 'b', 2.0, false), "
                "('2024-01', 'a', 1.0, true), ('2024-01', 'c', 3.0, false), "
                "('2024-01', 'd', 4.0, false), ('2024-02', 'a', 9.0, false)")
    con.execute("CREATE TABLE churn_status (month VARCHAR, customer_id VARCHAR, "
                "status VARCHAR, score DOUBLE, p_alive DOUBLE)")
    con.execute("INSERT INTO churn_status VALUES "
                "('2024-01', 'a', 'active', 0.1, 0.9), ('2024-01', 'b', 'active', 0.2, 0.8), "
                "('2024-01', 'c', 'active', 0.3, 0.7), ('2024-01', 'd', 'new', 0.4, 0.6), "
                "('2024-02', 'a', 'at_risk', 0, 0), ('2024-02', 'b', 'lost', 0, 0), "
                "('2024-02', NULL, 'churned', 0, 0), ('2024-03', 'a', 'churned', 0, 0), "
                "('2024-03', 'b', 'churned', 0, 0), ('2024-04', 'c', 'churned', 0, 0)")
    status = {m: _status_of(m, "churn_status", "") for m in
              ("2024-01", "2024-02", "2024-03", "2024-04")}
    cols = ["month", "customer_id", "recency_ratio", "do_not_contact"]
    params = WarningParams(horizon_months=2)
    rows = _population_sql(con, "2024-01", snap=("snapshots", None), status=status,
                           label_months=["2024-02", "2024-03"], columns=cols, params=params)
    # d is not in the population; c churns after the window; b counted once
    assert rows["customer_id"].tolist() == ["a", "b", "c"]
    assert rows["label"].tolist() == [1.0, 1.0, 0.0]
    assert rows["churn_score"].tolist() == [0.1, 0.2, 0.3]
    assert rows["do_not_contact"].tolist() == [True, False, False]
    unobserved = _population_sql(con, "2024-01", snap=("snapshots", None), status=status,
                                 label_months=None, columns=cols, params=params)
    assert unobserved["label"].isna().all() and len(unobserved) == 3
