"""Tests for winback.campaign: the plan, never-contacted groups, the campaign log, exports."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_strategy import CHURN_TYPES, REASONS, make_inputs, params
from winback.campaign import (
    ASSIGNMENT_EXPORT,
    CAMPAIGN_COLUMNS,
    EXPORT_COLUMNS,
    SCRIPTS_EXPORT,
    CampaignError,
    campaign_assignment,
    describe_campaign,
    export_frame,
    plan_campaign,
    plan_month,
    read_campaign_log,
    strategy_mix,
    write_campaign_log,
    write_exports,
)
from winback.holdout import CONTROL, TREATMENT
from winback.strategy import screen_candidates


def plan_for(n=80, seed=0, month="2024-06", **changes):
    status, tiers, reasons, customers, prefs = make_inputs(n, seed)
    screened = screen_candidates(status, tiers, reasons, customers)
    p = params(**changes)
    return screened, plan_campaign(
        screened,
        prefs,
        p,
        month=month,
        seed=11,
        reasons=REASONS,
        churn_types=CHURN_TYPES,
        tiers=[1, 2, 3, 4, 5],
    )


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(0, 80),
    seed=st.integers(0, 10_000),
    share=st.floats(0, 0.6),
    budget=st.floats(0, 400),
    statuses=st.sampled_from([["churned"], ["churned", "at_risk"]]),
)
def test_control_dnc_and_lost_are_never_treated(n, seed, share, budget, statuses):
    status, tiers, reasons, customers, prefs = make_inputs(n, seed)
    p = params(
        holdout={"share": share, "strata": ["tier", "churn_type"]},
        targeting={"budget": {"*": budget}},
        candidate_statuses=statuses,
    )
    screened = screen_candidates(status, tiers, reasons, customers, statuses=statuses)
    plan = plan_campaign(
        screened, prefs, p, month="2024-06", seed=seed, reasons=REASONS, churn_types=CHURN_TYPES
    )
    a = plan.assignment
    dnc = set(customers.loc[customers["do_not_contact"], "customer_id"])
    lost = set(status.loc[status["status"] == "lost", "customer_id"])
    assert not (set(a["customer_id"]) & (dnc | lost))  # never in a contact list, nor the control
    assert set(a["group"]) <= {TREATMENT, CONTROL}
    assert set(a["customer_id"]) <= set(status.loc[status["status"].isin(statuses), "customer_id"])
    held = plan.candidates[plan.candidates["group"] == CONTROL]["customer_id"]
    assert not set(held) & set(a.loc[a["group"] == TREATMENT, "customer_id"])
    # the budget holds per tier, control rows included
    spent = plan.candidates[plan.candidates["selected"]].groupby("tier")["cost"].sum()
    assert (spent <= budget + 1e-6).all()
    exported = export_frame(a)
    assert list(exported.columns) == list(EXPORT_COLUMNS)


def test_plan_is_deterministic_and_consistent():
    screened, a = plan_for()
    _, b = plan_for()
    pd.testing.assert_frame_equal(a.assignment, b.assignment)
    shuffled = screened.sample(frac=1, random_state=5)
    status, tiers, reasons, customers, prefs = make_inputs(80, 0)
    c = plan_campaign(
        shuffled,
        prefs,
        params(),
        month="2024-06",
        seed=11,
        reasons=REASONS,
        churn_types=CHURN_TYPES,
    )
    pd.testing.assert_frame_equal(a.assignment, c.assignment)
    assert list(a.assignment.columns) == list(CAMPAIGN_COLUMNS)
    assert (a.assignment["month"] == "2024-06").all()
    unknown = a.assignment[a.assignment["reason_code"] == "unknown"]
    assert (unknown["strategy"] == "care_survey").all()
    assert a.budget["treated_cost"].add(a.budget["held_out_cost"]).tolist() == pytest.approx(
        a.budget["cost"].tolist()
    )
    assert "held out as control" in describe_campaign(a)
    mix = strategy_mix(a.assignment)
    assert mix[[TREATMENT, CONTROL]].to_numpy().sum() == len(a.assignment)
    assert "CampaignPlan(month='2024-06'" in repr(a)


def _small_plan(next_ev=1.5):
    from types import SimpleNamespace

    assignment = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "program": "winback",
        "group": [TREATMENT, TREATMENT, TREATMENT, CONTROL],
        "strategy": ["care_survey", "care_survey", "package_offer", "care_survey"],
        "cost": [10.0, 10.0, 30.0, 10.0], "expected_value": [40.0, 40.0, 120.0, 40.0]})
    budget = pd.DataFrame({"tier": ["T1", "T2"], "budget": [100.0, 50.0],
                           "held_out_cost": [10.0, 0.0], "next_ev_per_unit": [next_ev, 0.0]})
    return SimpleNamespace(month="2024-06", assignment=assignment, budget=budget,
                           candidates=pd.DataFrame({"customer_id": list("abcdef")}))


def test_campaign_paragraph_in_both_languages():
    plan = _small_plan()
    assert describe_campaign(plan, language="en") == (
        "Campaign 2024-06: 6 candidates, 4 selected within budget: 3 to contact and 1 held out "
        "as control. Contact cost and offers of the treated: 50 CNY of 150 CNY budgeted (the "
        "control's share, 10 CNY, is kept unspent to measure the effect); expected value 200 "
        "CNY. Most used strategy: care_survey (2). The budget binds in 1 of 2 tiers; there, one "
        "more CNY of budget would buy up to 1.50 CNY of expected value."
    )
    assert describe_campaign(plan, language="zh") == (
        "活动 2024-06：6 位候选客户，预算内选中 4 位：联系 3 位，1 位留作对照组。实验组的联系成本与优惠："
        "50 CNY，预算 150 CNY (对照组的份额 10 CNY 不花费，用于衡量效果)；期望价值 200 CNY。最常用的"
        "策略：care_survey (2)。2 个层级中有 1 个预算受限：在这些层级，每多 1 CNY 预算最多可换来 "
        "1.50 CNY 的期望价值。"
    )
    assert describe_campaign(_small_plan(0.0), language="zh").endswith(
        "所有值得联系的候选客户都在预算之内。")
    with pytest.raises(ValueError):
        describe_campaign(plan, language="de")


def test_another_month_draws_another_holdout():
    _, a = plan_for(n=300)
    _, b = plan_for(n=300, month="2024-07")
    ga = a.assignment.set_index("customer_id")["group"]
    gb = b.assignment.set_index("customer_id")["group"]
    both = ga.index.intersection(gb.index)
    assert (ga[both] != gb[both]).any()


def test_campaign_assignment_refuses_broken_rules():
    _, plan = plan_for()
    rows = plan.candidates[plan.candidates["selected"]].copy()
    ok = campaign_assignment(rows, "2024-06")
    assert len(ok) == len(rows)
    with pytest.raises(CampaignError, match="do-not-contact customers in the campaign"):
        campaign_assignment(rows.assign(do_not_contact=True), "2024-06")
    with pytest.raises(CampaignError, match="lost customers in the campaign"):
        campaign_assignment(rows.assign(status="lost"), "2024-06")
    with pytest.raises(CampaignError, match="assigned twice"):
        campaign_assignment(pd.concat([rows, rows]), "2024-06")
    with pytest.raises(CampaignError, match="treatment rows without a strategy"):
        campaign_assignment(rows.assign(group=TREATMENT, channel_1=None), "2024-06")
    with pytest.raises(CampaignError, match="group must be"):
        campaign_assignment(rows.assign(group="maybe"), "2024-06")


def test_campaign_log_replaces_exactly_the_month(tmp_path):
    _, june = plan_for(month="2024-06")
    _, july = plan_for(seed=1, month="2024-07")
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    assert read_campaign_log(con).empty
    assert write_campaign_log(con, "2024-06", june.assignment) == len(june.assignment)
    write_campaign_log(con, "2024-07", july.assignment)
    smaller = june.assignment.iloc[:3].copy()
    write_campaign_log(con, "2024-06", smaller)
    log = read_campaign_log(con)
    assert log.groupby("month").size().to_dict() == {"2024-06": 3, "2024-07": len(july.assignment)}
    pd.testing.assert_frame_equal(
        read_campaign_log(con, ["2024-06"]).reset_index(drop=True), smaller.reset_index(drop=True)
    )
    with pytest.raises(ValueError, match="carry another month"):
        write_campaign_log(con, "2024-08", july.assignment)
    with pytest.raises(CampaignError, match="lack column"):
        write_campaign_log(con, "2024-07", july.assignment.drop(columns="cost"))


def test_exports_have_exactly_the_demo_columns_and_no_pii(tmp_path):
    _, plan = plan_for()
    paths = write_exports(tmp_path / "exports", plan.assignment, plan.scripts)
    assignment = pd.read_parquet(paths["assignment"])
    assert list(assignment.columns) == list(EXPORT_COLUMNS)
    assert not {"name", "phone", "email"} & set(assignment.columns)
    assert (assignment["campaign_month"] == "2024-06").all()
    scripts = pd.read_csv(paths["scripts"], dtype=str)
    assert list(scripts.columns) == ["reason_code", "strategy"]
    assert "unknown" not in set(scripts["reason_code"])
    assert json.dumps(sorted(scripts["reason_code"])) == json.dumps(sorted(REASONS))


def test_export_names_are_those_the_demo_loop_reads():
    from winback.demo_loop import ASSIGNMENT_FILE, SCRIPTS_FILE

    assert f"exports/{ASSIGNMENT_EXPORT}" == ASSIGNMENT_FILE
    assert f"exports/{SCRIPTS_EXPORT}" == SCRIPTS_FILE


def test_demo_call_centre_accepts_the_export():
    from winback.demo.callcentre import validate_assignment

    _, plan = plan_for()
    exported = export_frame(plan.assignment)
    scripts = dict(zip(plan.scripts["reason_code"], plan.scripts["strategy"], strict=True))
    ids = exported["customer_id"].str[1:].astype(int).to_numpy()
    n = int(ids.max()) + 1
    demo_category = {"fresh": "生鲜", "beauty": "美妆", "home": "家居"}
    exported = exported.assign(
        customer_id=[f"C{i + 1:07d}" for i in ids],
        offer_category=exported["offer_category"].map(demo_category),
    )
    validated = validate_assignment(
        exported,
        scripts,
        campaign_month="2024-06",
        id_width=7,
        signup_t=np.zeros(n),
        campaign_end=1.0,
        dnc=np.zeros(n, bool),
    )
    assert validated.treat.sum() == (exported["group"] == TREATMENT).sum()


def test_charts_draw_from_the_plan_tables():
    import matplotlib.pyplot as plt

    from winback.plots import strategy as charts

    _, plan = plan_for(n=120)
    for language in ("zh", "en"):
        fig, axes = plt.subplots(2, 2)
        ax = charts.plot_budget_curve(plan.curve, plan.budget, ax=axes[0, 0], language=language)
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        ax = charts.plot_marginal_value(plan.curve, plan.budget, ax=axes[0, 1], language=language)
        assert ax.get_ylabel()
        ax = charts.plot_budget_use(plan.budget, ax=axes[1, 0], language=language)
        texts = " ".join(t.get_text() for t in ax.texts)
        assert f"{plan.budget['budget'].sum():,.0f}" in texts
        mix = strategy_mix(plan.assignment)
        ax = charts.plot_strategy_mix(mix, ax=axes[1, 1], language=language)
        top = mix["treatment"].idxmax()
        assert top in " ".join(t.get_text() for t in ax.texts)
        plt.close(fig)
    with pytest.raises(ValueError, match="language"):
        charts.plot_budget_use(plan.budget, language="fr")


def _store(tmp_path, n=60):
    from winback.store import replace_month, replace_table

    status, tiers, reasons, customers, prefs = make_inputs(n, 3)
    rng = np.random.default_rng(3)
    tx = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(400)],
            "customer_id": rng.choice(status["customer_id"], 400),
            "order_ts": (
                pd.Timestamp("2023-09-01") + pd.to_timedelta(rng.integers(0, 300, 400), "D")
            ).astype("datetime64[us]"),
            "amount": rng.gamma(2.0, 50.0, 400),
            "category": rng.choice(["生鲜", "美妆"], 400),
        }
    )
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    replace_month(con, "churn_status", "2024-06", status.assign(month="2024-06"))
    replace_month(con, "tiers", "2024-06", tiers.assign(month="2024-06"))
    replace_month(con, "reasons", "2024-06", reasons.assign(month="2024-06"))
    replace_table(con, "customers", customers.assign(name="x", phone="y"))
    replace_table(con, "transactions", tx)
    return con, status, customers


def test_plan_month_reads_the_store_and_respects_released_customers(tmp_path):
    from winback.config import load_params
    from winback.store import replace_month

    con, status, customers = _store(tmp_path)
    params = load_params(None, ["run.month=2024-06"])
    plan = plan_month(con, params, "2024-06")
    assert plan.month == "2024-06" and len(plan.screened) == len(status)
    assert "name" not in plan.screened.columns and "phone" not in plan.screened.columns
    assert plan.budget.index.tolist() == ["1", "2", "3", "4", "5"]
    picked = plan.assignment["customer_id"].iloc[:2].tolist()
    replace_month(
        con,
        "no_response",
        "2024-05",
        pd.DataFrame(
            {
                "month": "2024-05",
                "campaign_month": "2024-04",
                "customer_id": picked,
                "attempts": 3,
                "outcome": "unreached",
                "action": ["release", "reenter_next_cycle"],
            }
        ),
    )
    again = plan_month(con, params, "2024-06")
    assert picked[0] not in set(again.assignment["customer_id"])
    screened = again.screened.set_index("customer_id")
    assert screened.loc[picked[0], "exclusion"] == "released"
    assert pd.isna(screened.loc[picked[1], "exclusion"])


def test_plan_month_reads_only_the_preferences_it_offers_on(tmp_path):
    from winback.campaign import read_holdout_register
    from winback.config import load_params
    from winback.store import replace_month
    from winback.strategy import load_inputs, load_watchlist, reason_taxonomy

    con, status, _ = _store(tmp_path)
    params_ = load_params(None, ["run.month=2024-06"])
    watched = status.loc[status["status"] != "churned", "customer_id"].head(8).tolist()
    replace_month(con, "watchlist", "2024-05", pd.DataFrame({
        "month": "2024-05", "customer_id": watched, "risk": 0.9, "rank": range(1, 9),
        "factor_1": "recency_ratio", "model": "gbm"}))
    plan = plan_month(con, params_, "2024-06")
    # the plan made from every customer's preferences is the same plan
    sp = params_.strategy
    inputs = load_inputs(con, "2024-06", window_days=sp.offers.window_days,
                         keep_months=sp.holdout.keep_months)
    assert len(inputs.preferences) > len(set(plan.assignment["customer_id"]))
    codes, types = reason_taxonomy(params_.reasons)
    full = plan_campaign(inputs.screen(sp), inputs.preferences, sp, month="2024-06",
                         seed=params_.engagement.seed, reasons=codes, churn_types=types,
                         tiers=range(1, params_.tiering.n_tiers + 1),
                         watchlist=load_watchlist(con, "2024-06",
                                                  max_age_months=sp.preventive.max_age_months),
                         register=read_holdout_register(con, "2024-06"))
    assert set(plan.assignment["program"]) == {"winback", "preventive"}
    for name in ("assignment", "budget", "candidates", "screened", "preventive"):
        pd.testing.assert_frame_equal(getattr(plan, name), getattr(full, name))


def test_plan_month_names_the_missing_stage(tmp_path):
    from winback.config import load_params
    from winback.strategy import StrategyError

    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(StrategyError, match="no table 'churn_status'"):
        plan_month(con, load_params(None), "2024-06")


# --------------------------------------------------------------------------- preventive care


def _watch(status: pd.DataFrame) -> pd.DataFrame:
    """A watchlist of every customer (scored last month), riskiest first by id order."""
    ids = status["customer_id"].tolist()
    return pd.DataFrame({"month": "2024-05", "customer_id": ids,
                         "risk": np.linspace(0.9, 0.1, len(ids)), "rank": range(1, len(ids) + 1),
                         "factor_1": "recency_ratio", "model": "gbm"})


def _plan_with_watchlist(n=120, seed=3, budget=500.0, **changes):
    from tests.test_strategy import make_inputs

    status, tiers, reasons, customers, prefs = make_inputs(n, seed)
    screened = screen_candidates(status, tiers, reasons, customers)
    p = params(preventive={"budget": {"*": budget}, "holdout_share": 0.3,
                           "strata": ["tier", "status"]}, **changes)
    plan = plan_campaign(screened, prefs, p, month="2024-06", seed=11, reasons=REASONS,
                         churn_types=CHURN_TYPES, tiers=[1, 2, 3, 4, 5],
                         watchlist=_watch(status))
    return status, customers, plan


def test_preventive_contacts_join_the_campaign_without_double_counting():
    from winback.campaign import describe_preventive, preventive_contacts, preventive_summary

    status, customers, plan = _plan_with_watchlist()
    a = plan.assignment
    assert set(a["program"]) == {"winback", "preventive"}
    assert not a["customer_id"].duplicated().any()  # one program per customer and month
    prev = a[a["program"] == "preventive"]
    st = status.set_index("customer_id")["status"]
    assert set(st[prev["customer_id"]]) <= {"active", "at_risk"}
    win = a[a["program"] == "winback"]
    assert set(st[win["customer_id"]]) == {"churned"}
    dnc = set(customers.loc[customers["do_not_contact"], "customer_id"])
    assert not set(a["customer_id"]) & dnc
    assert set(prev["strategy"]) == {"care_message"} and set(prev["group"]) == {
        "treatment", "control"}
    # its own budget line and its own holdout, drawn with its own seed
    spent = plan.preventive[plan.preventive["selected"]].groupby("tier")["cost"].sum()
    assert (spent <= 500.0 + 1e-6).all()
    assert plan.preventive_holdout.loc["total", "control"] == (prev["group"] == "control").sum()
    summary = preventive_summary(plan).set_index("step")["customers"]
    assert summary["watchlisted"] == len(status)
    assert summary["selected"] == len(prev) == summary["contacted"] + summary["control"]
    assert summary["churned"] == ((st == "churned") & ~st.index.isin(dnc)).sum()
    assert summary["candidates"] >= summary["positive_ev"] >= summary["selected"]
    assert len(preventive_contacts(plan)) == len(prev)
    text = describe_preventive(plan)
    assert f"{summary['contacted']} to contact" in text and "own control" in text
    zh = describe_preventive(plan, language="zh")
    assert f"{summary['contacted']} 位接受关怀联系" in zh and "留作他们自己的对照组" in zh
    assert f"选中 {summary['selected']} 位" in zh
    # win-back figures are the win-back program's alone
    assert strategy_mix(a)["treatment"].sum() == (win["group"] == "treatment").sum()
    _, _, again = _plan_with_watchlist()
    pd.testing.assert_frame_equal(plan.assignment, again.assignment)  # deterministic


def test_first_month_without_a_watchlist_says_so(tmp_path):
    from winback.campaign import describe_preventive, preventive_summary
    from winback.config import load_params

    con, status, _ = _store(tmp_path)
    params_ = load_params(None, ["run.month=2024-06"])
    plan = plan_month(con, params_, "2024-06")
    assert set(plan.assignment["program"]) == {"winback"}
    assert "no preventive contacts" in describe_preventive(plan)
    assert describe_preventive(plan, language="zh") == (
        "2024-06 之前没有存储的预警名单 (第 7 阶段尚未运行)：本月没有预防关怀联系。")
    plan_zh = dataclasses.replace(plan, watchlist=None)
    assert describe_preventive(plan_zh, language="zh") == "未提供预警名单：本月没有预防关怀联系。"
    assert preventive_summary(plan)["customers"].sum() == 0
    active = status.loc[status["status"] == "active", "customer_id"].head(5).tolist()
    write = pd.DataFrame({"month": "2024-05", "customer_id": active, "risk": 0.9,
                          "rank": range(1, 6), "factor_1": "recency_ratio", "model": "gbm"})
    from winback.store import replace_month

    replace_month(con, "watchlist", "2024-05", write)
    plan = plan_month(con, params_, "2024-06")
    assert plan.watchlist.month == "2024-05"
    summary = preventive_summary(plan).set_index("step")["customers"]
    assert summary["watchlisted"] == 5


def test_campaign_log_gains_the_program_column_and_old_rows_read_as_winback(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    _, plan = plan_for(n=60)
    old = plan.assignment.drop(columns="program").assign(month="2024-05")
    con.register("o", old)
    con.execute("CREATE TABLE campaign_log AS SELECT * FROM o")  # written before programs
    con.unregister("o")
    write_campaign_log(con, "2024-06", plan.assignment.assign(program="preventive"))
    log = read_campaign_log(con)
    assert set(log.loc[log["month"] == "2024-05", "program"]) == {"winback"}
    assert set(log.loc[log["month"] == "2024-06", "program"]) == {"preventive"}
    with pytest.raises(CampaignError, match="program must be one of"):
        campaign_assignment(plan.assignment.assign(program="other"), "2024-06")


def test_campaign_log_registers_the_holdout_and_refuses_a_group_move(tmp_path):
    from winback.campaign import read_holdout_register

    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    _, june = plan_for(month="2024-06", holdout={"share": 0.4})
    write_campaign_log(con, "2024-06", june.assignment)
    reg = read_holdout_register(con, "2024-06")
    assert len(reg) == len(june.assignment) and set(reg["first_run"]) == {1}
    write_campaign_log(con, "2024-06", june.assignment)  # a rerun registers nothing new
    pd.testing.assert_frame_equal(read_holdout_register(con), reg)
    # a smaller budget, planned with the register: every registered customer keeps the group
    screened, _ = plan_for(month="2024-06")
    status, tiers, reasons, customers, prefs = make_inputs(80, 0)
    small = plan_campaign(screened, prefs, params(holdout={"share": 0.1},
                                                  targeting={"budget": {"*": 40.0}}),
                          month="2024-06", seed=11, reasons=REASONS, churn_types=CHURN_TYPES,
                          register=reg)
    first = june.assignment.set_index("customer_id")["group"]
    again = small.assignment.set_index("customer_id")["group"]
    common = first.index.intersection(again.index)
    assert len(common) and (first[common] == again[common]).all()
    # a log that moves a registered control into treatment is refused, the store unchanged
    moved = june.assignment.assign(group=TREATMENT)
    with pytest.raises(CampaignError, match="moves registered customer"):
        write_campaign_log(con, "2024-06", moved)
    pd.testing.assert_frame_equal(read_holdout_register(con), reg)
    assert (read_campaign_log(con, ["2024-06"])["group"] == CONTROL).any()
    con.close()
