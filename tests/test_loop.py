"""The closed monthly loop on the demo engagement, checked against the simulator's truth.

One place for every check of the loop the session's demo run (``demo_run``: 1500
customers, 2024-01..2024-06, every stage each month) can answer: the campaign log, the
call centre's files, the evaluations of earlier campaigns, the early-warning watchlist
reaching the next month's strategy stage, and the ground truth the kit must recover (true
uplift, true top reason, a model better than the recency rule). Unit tests of each module
stay in its own test file.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _shift(month: str, k: int) -> str:
    return str(pd.Period(month, "M") + k)


@pytest.fixture(scope="module")
def store(demo_run):
    """The demo store's tables the checks read (read once, read-only)."""
    from winback.campaign import read_campaign_log
    from winback.store import has_table, opened, read_table

    with opened(demo_run.ws.store_path, read_only=True) as con:
        tables = {
            name: read_table(con, name) if has_table(con, name) else None
            for name in ("evaluations", "watchlist", "warning_performance", "churn_status",
                         "customers")
        }
        tables["campaign_log"] = read_campaign_log(con)
    if tables["campaign_log"].empty:
        pytest.skip("the demo run wrote no campaign_log (stage 4 is not in the playbook)")
    return tables


def test_campaign_log_holds_each_month_once_as_handed_to_the_call_centre(demo_run, store):
    from winback.campaign import ASSIGNMENT_EXPORT, EXPORT_COLUMNS, SCRIPTS_EXPORT
    from winback.holdout import CONTROL, TREATMENT

    log = store["campaign_log"]
    summary = json.loads((demo_run.truth_dir / "summary.json").read_text("utf-8"))
    assert sorted(log["month"].unique()) == demo_run.months
    assert not log.duplicated(["month", "customer_id"]).any()
    assert set(log["group"]) == {TREATMENT, CONTROL}
    customers = store["customers"]
    dnc = set(customers.loc[customers["do_not_contact"].fillna(False).astype(bool),
                            "customer_id"].astype(str))
    assert not dnc & set(log.loc[log["group"] == TREATMENT, "customer_id"])
    for month in demo_run.months:
        rows = log[log["month"] == month]
        exports = demo_run.month_dir(month) / "exports"
        sent = pd.read_parquet(exports / ASSIGNMENT_EXPORT)
        assert list(sent.columns) == list(EXPORT_COLUMNS)
        assert (sent["campaign_month"] == month).all()
        assert (exports / SCRIPTS_EXPORT).exists()
        pd.testing.assert_frame_equal(
            sent[["customer_id", "group", "program"]].astype(str).reset_index(drop=True),
            rows[["customer_id", "group", "program"]].astype(str).reset_index(drop=True),
        )
        # control customers are in no call list of their month
        control = set(rows.loc[rows["group"] == CONTROL, "customer_id"])
        lists = sorted(demo_run.month_dir(month).rglob("call_list*.csv"))
        assert lists, f"stage 5 exported no call list for {month}"
        for path in lists:
            cells = set(pd.read_csv(path, dtype=str).stack().str.strip())
            assert not control & cells, (month, path.name)
        if month != demo_run.months[-1]:  # executed by the call centre in the next month
            done = summary["campaigns"][month]
            assert done["n_treatment"] == int((rows["group"] == TREATMENT).sum())
            assert done["n_control"] == int((rows["group"] == CONTROL).sum())


def test_each_month_evaluates_the_campaigns_of_the_three_before(demo_run, store):
    ev = store["evaluations"]
    assert ev is not None, "stage 6 stored no evaluations"
    log_months = set(store["campaign_log"]["month"])
    for run in demo_run.months[1:]:
        expected = {_shift(run, -k) for k in (1, 2, 3)} & log_months
        rows = ev[(ev["month"] == run) & (ev["program"] == "winback")]
        assert set(rows["campaign_month"]) == expected, run
        for cm in expected:  # every elapsed window, whole campaign
            lag = (pd.Period(run, "M") - pd.Period(cm, "M")).n
            windows = rows.loc[(rows["campaign_month"] == cm) & (rows["segment_type"] == "all")
                               & (rows["metric"] == "reactivation"), "window"]
            assert sorted(windows) == list(range(1, min(lag, 3) + 1)), (run, cm)


def _true_uplift(demo_run, log: pd.DataFrame, month: str, program: str) -> dict[int, float]:
    truth = pd.read_parquet(demo_run.truth_dir / f"campaign_{month}.parquet")
    rows = log.loc[(log["month"] == month) & (log["program"] == program), ["customer_id"]]
    both = truth.merge(rows, on="customer_id")
    assert len(both) == len(rows)
    return {k: float(both[f"uplift_{k}"].mean()) for k in (1, 2, 3)}


def _clean_windows(log: pd.DataFrame, month: str, program: str) -> list[int]:
    """Windows of a campaign no later campaign touched: the truth's definition of the effect.

    The simulator's potential outcomes are those of this campaign alone (p0: never
    contacted, p1: contacted once by it). A customer of either arm treated again by a later
    campaign executed inside window k (campaign months month+1 .. month+k-1; e.g. a
    non-responder re-entering the next cycle) moves that arm away from both, so such
    windows are not compared with the truth. Window 1 is always clean.
    """
    ids = set(log.loc[(log["month"] == month) & (log["program"] == program), "customer_id"])
    out = []
    for k in (1, 2, 3):
        later = {_shift(month, j) for j in range(1, k)}
        again = log[log["month"].isin(later) & (log["group"] == "treatment")]
        if not ids & set(again["customer_id"]):
            out.append(k)
    return out


def test_evaluated_uplift_interval_covers_the_true_uplift(demo_run, store):
    """The first campaign, evaluated by stage 6 three months on, against the simulator.

    Each program (win-back, and the first preventive contacts where the sample allows) is
    compared with its own truth, in the windows no later campaign touched
    (:func:`_clean_windows`).
    """
    log, ev = store["campaign_log"], store["evaluations"]
    first = min(log["month"])
    run = min(_shift(first, 3), demo_run.months[-1])
    main = ev[(ev["month"] == run) & (ev["campaign_month"] == first)
              & (ev["segment_type"] == "all") & (ev["metric"] == "reactivation")]
    win = main[main["program"] == "winback"].set_index("window")
    assert 1 in win.index and pd.notna(win.loc[1, "diff"]), win
    truth = _true_uplift(demo_run, log, first, "winback")
    for k, row in win.loc[win.index.isin(_clean_windows(log, first, "winback"))].iterrows():
        assert row["ci_low"] <= truth[k] <= row["ci_high"], (first, k, truth[k], row.to_dict())
    # the preventive contacts of the first month that had them, where the sample allows
    prev = log[log["program"] == "preventive"]
    if prev.empty:
        return
    pm = min(prev["month"])
    run = min(_shift(pm, 3), demo_run.months[-1])
    rows = ev[(ev["month"] == run) & (ev["campaign_month"] == pm) & (ev["program"] == "preventive")
              & (ev["segment_type"] == "all") & (ev["metric"] == "reactivation")]
    truth = _true_uplift(demo_run, log, pm, "preventive")
    rows = rows.set_index("window")
    for k, row in rows.loc[rows.index.isin(_clean_windows(log, pm, "preventive"))].iterrows():
        if pd.notna(row["diff"]):
            assert row["ci_low"] <= truth[k] <= row["ci_high"], (pm, k, truth[k], row.to_dict())


def test_top_reason_found_is_the_true_top_reason(demo_run):
    from winback import reasons as R
    from winback.config import load_params
    from winback.store import has_table, opened

    month = demo_run.months[-1]
    params = load_params("demo", [f"run.month={month}"]).reasons
    with opened(demo_run.ws.store_path, read_only=True) as con:
        if not has_table(con, "churn_status"):
            pytest.skip("stage 1 of the demo run does not store churn_status yet")
        inputs = R.load_inputs(con, month, params)
    evidence = R.collect_evidence(month, params, contact_outcomes=inputs.contact_outcomes,
                                  surveys=inputs.surveys, interactions=inputs.interactions)
    table = R.assign_reasons(inputs.explain(params.statuses), evidence, month, params)
    truth = json.loads((demo_run.truth_dir / "summary.json").read_text(encoding="utf-8"))
    assert R.top_reason(table, params) == truth["top_reason_churned_now"] == truth["top_reason"]
    coverage = R.reason_coverage(table, evidence).set_index("source")
    assert coverage.loc["any", "low"] > 0.2
    # where a reason is found, it is mostly the customer's true current reason
    true = pd.read_parquet(demo_run.truth_dir / "customers.parquet",
                           columns=["customer_id", "current_reason"])
    known = table[(table["status"] == "churned") & (table["reason_code"] != R.UNKNOWN)]
    both = known.merge(true.dropna(), on="customer_id")
    hits = int((both["reason_code"] == both["current_reason"]).sum())
    assert R.wilson_interval(hits, len(both))[0] > 0.5
    stored = demo_run.month_dir(month) / "tables" / "reasons_summary.json"
    if stored.exists():  # the stage-2 notebook ran in the batch
        summary = json.loads(stored.read_text(encoding="utf-8"))
        assert summary["top_reason"]["code"] == truth["top_reason"]


def test_early_warning_model_beats_the_recency_rule_on_pr_auc(demo_run, store):
    """Stage 7's backtest as stored by the last month's run (trained only on the past)."""
    perf, watch = store["warning_performance"], store["watchlist"]
    assert perf is not None and watch is not None, "stage 7 stored no backtest or watchlist"
    last = demo_run.months[-1]
    chosen = str(watch.loc[watch["month"] == last, "model"].iloc[0])
    pr = perf[perf["metric"] == "pr_auc"].pivot_table(
        index="month", columns="model", values="value")
    assert {"logistic", "gbm", "recency_rule"} <= set(pr.columns)
    pr = pr.dropna(subset=[chosen, "recency_rule"])
    assert len(pr) >= 2
    assert pr[chosen].mean() > pr["recency_rule"].mean() + 0.05
    assert (pr[chosen] > pr["recency_rule"]).mean() >= 0.8
    brier = perf[(perf["metric"] == "brier") & (perf["model"] == chosen)]["value"].mean()
    base = perf[(perf["metric"] == "base_rate")]["value"].mean()
    if np.isfinite(brier) and np.isfinite(base):
        assert brier < base * (1 - base)  # beats the constant base-rate forecast


def test_watchlist_of_the_month_before_reaches_stage_4(demo_run, store):
    watch, log = store["watchlist"], store["campaign_log"]
    status = store["churn_status"]
    contacted = 0
    for month in demo_run.months[1:]:
        listed = watch[watch["month"] == _shift(month, -1)]
        summary = pd.read_parquet(demo_run.month_dir(month) / "tables" /
                                  "preventive_summary.parquet").set_index("step")["customers"]
        assert summary["watchlisted"] == len(listed), month
        prev = log[(log["month"] == month) & (log["program"] == "preventive")]
        assert set(prev["customer_id"]) <= set(listed["customer_id"])
        assert summary["selected"] == len(prev)
        now = status[status["month"] == month].set_index("customer_id")["status"]
        assert not set(now.reindex(prev["customer_id"])) & {"churned", "lost"}
        contacted += int((prev["group"] == "treatment").sum())
    first = pd.read_parquet(demo_run.month_dir(demo_run.months[0]) / "tables" /
                            "preventive_summary.parquet")
    assert first["customers"].sum() == 0  # no watchlist before the first month
    assert contacted > 0, "no watchlisted customer got a preventive contact in any month"
