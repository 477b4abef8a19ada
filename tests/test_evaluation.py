"""Stage 6 evaluation on tiny hand-made stores whose answers are known."""

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from winback import campaign
from winback.evaluation import (
    EVALUATION_COLUMNS,
    METRICS,
    EvaluationError,
    EvaluationParams,
    campaign_costs,
    campaign_overhead,
    campaign_overview,
    collect,
    consistency_table,
    contact_funnel,
    describe_evaluation,
    evaluate_campaigns,
    evaluation_plan,
    funnel_summary,
    no_response_list,
    notes_in,
    offer_redemption,
    satisfaction_trend,
    status_flows,
    uplift_table,
    window_bounds,
    window_outcomes,
    winning_back_sentence,
    write_evaluations,
    write_no_response,
)
from winback.kpis import kpi_values
from winback.store import read_table
from winback.uplift import mean_difference, rate_difference


def read_campaign_log(con, months):
    """The campaign log as stage 6 reads it (one reader: winback.campaign.read_campaign_log)."""
    return campaign.read_campaign_log(con, months, month_column="campaign_month")

TS = "datetime64[us]"


def _store(tables: dict[str, pd.DataFrame]):
    con = duckdb.connect()
    for name, frame in tables.items():
        con.register("_t", frame)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _t')
        con.unregister("_t")
    return con


def _tx(rows):
    """rows: (order_id, customer_id, order_ts, amount, category, is_return)."""
    f = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "order_ts", "amount", "category", "is_return"]
    )
    f["order_ts"] = pd.to_datetime(f["order_ts"]).astype(TS)
    return f


def _log(month, rows):
    """rows: (customer_id, group, tier, strategy, offer_category, cost)."""
    f = pd.DataFrame(
        rows, columns=["customer_id", "group", "tier", "strategy", "offer_category", "cost"]
    )
    f.insert(0, "month", month)
    return f


# ------------------------------------------------------------------------- windows


def test_window_bounds_run_from_the_month_after_to_the_end_of_month_k():
    assert window_bounds("2024-03", 1) == (pd.Timestamp("2024-04-01"), pd.Timestamp("2024-05-01"))
    assert window_bounds("2024-03", 3) == (pd.Timestamp("2024-04-01"), pd.Timestamp("2024-07-01"))
    assert window_bounds("2023-11", 2) == (pd.Timestamp("2023-12-01"), pd.Timestamp("2024-02-01"))
    with pytest.raises(EvaluationError, match="YYYY-MM"):
        window_bounds("2024-3", 1)


def test_plan_evaluates_the_last_three_campaigns_with_elapsed_windows_only():
    plan = evaluation_plan("2024-06", ["2024-02", "2024-03", "2024-04", "2024-05", "2024-06"])
    got = list(zip(plan["campaign_month"], plan["window"], strict=True))
    assert got == [
        ("2024-03", 1),
        ("2024-03", 2),
        ("2024-03", 3),
        ("2024-04", 1),
        ("2024-04", 2),
        ("2024-05", 1),
    ]
    assert plan["end"].max() == pd.Timestamp("2024-07-01")  # never beyond the run month
    # a month without a campaign is skipped; windows come from params
    plan = evaluation_plan("2024-06", ["2024-03", "2024-05"], windows=[1, 3])
    assert list(zip(plan["campaign_month"], plan["window"], strict=True)) == [
        ("2024-03", 1),
        ("2024-03", 3),
        ("2024-05", 1),
    ]
    assert evaluation_plan("2024-01", []).empty


def test_window_outcomes_count_only_purchases_inside_each_window():
    log = _log(
        "2024-03",
        [
            ("A", "treatment", "T1", "s", "fresh", 5.0),
            ("B", "control", "T1", "s", "fresh", 0.0),
            ("C", "treatment", "T2", "s", "toys", 5.0),
        ],
    )
    tx = _tx(
        [
            (
                "o1",
                "A",
                "2024-03-31 23:59:59",
                50.0,
                "fresh",
                False,
            ),  # campaign month: never counts
            ("o2", "A", "2024-04-01 00:00:00", 20.0, "toys", False),  # first of window 1
            ("o3", "A", "2024-04-01 00:00:00", 30.0, "fresh", False),  # same instant, later id
            ("o4", "A", "2024-04-30 23:59:59", 10.0, "fresh", False),
            (
                "o1-R",
                "A",
                "2024-04-05 10:00:00",
                -50.0,
                "fresh",
                True,
            ),  # refund of o1: not a purchase
            ("o5", "B", "2024-05-01 00:00:00", 40.0, "fresh", False),  # window 2, not window 1
            ("o6", "C", "2024-04-10 09:00:00", -15.0, "toys", False),  # negative amount = refund
            ("o7", "C", "2024-06-30 23:00:00", 25.0, "toys", False),  # window 3 only
        ]
    )
    inter = pd.DataFrame(
        {
            "customer_id": ["B", "C", "C"],
            "ts": pd.to_datetime(["2024-04-02", "2024-03-30", "2024-06-01"]).astype(TS),
            "kind": ["review", "review", "complaint"],
        }
    )
    con = _store({"campaign_log": log, "transactions": tx, "interactions": inter})
    assigned = read_campaign_log(con, ["2024-03"])
    plan = evaluation_plan("2024-06", ["2024-03"])
    out = window_outcomes(con, assigned, plan).set_index(["customer_id", "window"])
    assert out.loc[("A", 1), "purchases"] == 3 and out.loc[("A", 1), "reactivated"]
    assert out.loc[("A", 1), "net_spend"] == pytest.approx(20 + 30 + 10 - 50)
    assert out.loc[("A", 1), "first_category"] == "toys"  # earliest, then smallest order_id
    assert not out.loc[("A", 1), "offer_match"]
    assert not out.loc[("B", 1), "reactivated"] and out.loc[("B", 2), "reactivated"]
    assert out.loc[("B", 2), "offer_match"]
    assert pd.isna(out.loc[("B", 1), "offer_match"])  # not reactivated: no match question
    assert out.loc[("C", 2), "net_spend"] == -15 and not out.loc[("C", 2), "reactivated"]
    assert out.loc[("C", 3), "reactivated"] and out.loc[("C", 3), "net_spend"] == 10
    # interactions before the window do not count; kinds filter
    assert out.loc[("B", 1), "engaged"] and not out.loc[("C", 1), "engaged"]
    assert out.loc[("C", 3), "engaged"]
    only_reviews = window_outcomes(con, assigned, plan, engagement_kinds=["review"])
    c3 = only_reviews.set_index(["customer_id", "window"]).loc[("C", 3)]
    assert not c3["engaged"]
    assert len(out) == 9 and out.loc[("A", 1), "group"] == "treatment"


def test_window_outcomes_without_interactions_table_leave_engagement_unknown():
    log = _log("2024-03", [("A", "treatment", "T1", "s", None, 1.0)])
    con = _store(
        {"campaign_log": log, "transactions": _tx([("o", "A", "2024-04-03", 5.0, "x", False)])}
    )
    out = window_outcomes(
        con, read_campaign_log(con, ["2024-03"]), evaluation_plan("2024-04", ["2024-03"])
    )
    assert out["engaged"].isna().all() and out["reactivated"].all()
    assert out["offer_match"].isna().all()  # no offer category


def test_campaign_log_errors_name_rows_and_fix():
    con = _store({"campaign_log": _log("2024-03", [("A", "treated", "T1", "s", "x", 1.0)])})
    with pytest.raises(campaign.CampaignError, match=r"treatment or control.*'treated'.*A"):
        read_campaign_log(con, ["2024-03"])
    con = _store(
        {
            "campaign_log": _log(
                "2024-03",
                [("A", "treatment", "T1", "s", "x", 1.0), ("A", "control", "T1", "s", "x", 1.0)],
            )
        }
    )
    with pytest.raises(campaign.CampaignError, match="assigned twice.*A"):
        read_campaign_log(con, ["2024-03"])
    con = _store({"campaign_log": pd.DataFrame({"month": ["2024-03"], "customer_id": ["A"]})})
    with pytest.raises(campaign.CampaignError, match=r"lacks column\(s\) \['group'\]"):
        read_campaign_log(con, ["2024-03"])


# ---------------------------------------------------------------------- comparisons


def _outcomes(
    n_t, r_t, n_c, r_c, *, campaign="2024-03", window=1, tier="T1", spend=None, cost=2.0, start=0
):
    """Customer-level outcomes with r_t of n_t treated and r_c of n_c control reactivated."""
    n = n_t + n_c
    group = ["treatment"] * n_t + ["control"] * n_c
    react = [True] * r_t + [False] * (n_t - r_t) + [True] * r_c + [False] * (n_c - r_c)
    spend = spend if spend is not None else [30.0 if r else 0.0 for r in react]
    return pd.DataFrame(
        {
            "campaign_month": campaign,
            "window": window,
            "customer_id": [f"C{start + i:04d}" for i in range(n)],
            "group": group,
            "tier": tier,
            "strategy": "care",
            "reason_code": pd.NA,
            "reactivated": react,
            "net_spend": spend,
            "engaged": pd.array([i % 2 == 0 for i in range(n)], dtype="boolean"),
            "offer_match": pd.array(
                [(i % 3 == 0) if r else pd.NA for i, r in enumerate(react)], dtype="boolean"
            ),
            "cost": [cost if g == "treatment" else 0.0 for g in group],
            "treated_later": False,
        }
    )


PARAMS = EvaluationParams(
    min_treated=20, min_control=10, min_reactivated=5, segments=["tier", "reason_code"]
)


def test_overall_rows_match_the_closed_form_comparisons():
    o = _outcomes(100, 30, 40, 6)
    ev = evaluate_campaigns(o, run_month="2024-04", params=PARAMS)
    assert list(ev.columns) == EVALUATION_COLUMNS
    row = ev[(ev["segment_type"] == "all") & (ev["metric"] == "reactivation")].iloc[0]
    ref = rate_difference(30, 100, 6, 40)
    assert (row["treated"], row["control"], row["diff"]) == pytest.approx((0.30, 0.15, 0.15))
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        (ref.ci_low, ref.ci_high, ref.p_value)
    )
    assert (row["n_treated"], row["n_control"], row["month"]) == (100, 40, "2024-04")
    rev = ev[(ev["segment_type"] == "all") & (ev["metric"] == "revenue")].iloc[0]
    ref = mean_difference(o.loc[:99, "net_spend"], o.loc[100:, "net_spend"])
    assert rev["diff"] == pytest.approx(4.5) and rev["ci_low"] == pytest.approx(ref.ci_low)
    inc = ev[(ev["segment_type"] == "all") & (ev["metric"] == "incremental_revenue")].iloc[0]
    assert inc["diff"] == pytest.approx(450.0) and inc["ci_high"] == pytest.approx(
        100 * ref.ci_high
    )
    assert inc["treated"] == pytest.approx(900.0) and inc["control"] == pytest.approx(450.0)
    cost = ev[(ev["segment_type"] == "all") & (ev["metric"] == "cost")].iloc[0]
    assert cost["treated"] == pytest.approx(200.0)
    roi = ev[(ev["segment_type"] == "all") & (ev["metric"] == "roi")].iloc[0]
    assert roi["diff"] == pytest.approx((450 - 200) / 200)
    assert roi["ci_low"] == pytest.approx((100 * ref.ci_low - 200) / 200)
    inc_r = ev[(ev["segment_type"] == "all") & (ev["metric"] == "incremental_reactivations")]
    assert inc_r["diff"].iloc[0] == pytest.approx(15.0)
    assert set(ev["metric"]) - {""} == set(METRICS)


def test_small_segments_say_so_and_missing_segments_are_noted():
    o = pd.concat(
        [_outcomes(100, 30, 40, 6, tier="T1"), _outcomes(12, 3, 4, 1, tier="T2", start=500)],
        ignore_index=True,
    )
    ev = evaluate_campaigns(o, run_month="2024-04", params=PARAMS)
    t2 = ev[(ev["segment_type"] == "tier") & (ev["segment"] == "T2")]
    assert len(t2) == len(METRICS) and t2["diff"].isna().all()
    assert (t2["note"] == "too small: n_treated=12, n_control=4").all()
    t1 = ev[
        (ev["segment_type"] == "tier") & (ev["segment"] == "T1") & (ev["metric"] == "reactivation")
    ]
    assert t1["diff"].iloc[0] == pytest.approx(0.15)
    reason = ev[ev["segment_type"] == "reason_code"]
    assert len(reason) == 1 and "no reason_code" in reason["note"].iloc[0]


def test_offer_match_against_the_control_baseline():
    o = _outcomes(100, 30, 40, 12)
    ev = evaluate_campaigns(o, run_month="2024-04", params=PARAMS)
    row = ev[(ev["segment_type"] == "all") & (ev["metric"] == "offer_match")].iloc[0]
    mt = o[(o["group"] == "treatment")]["offer_match"].dropna()
    mc = o[(o["group"] == "control")]["offer_match"].dropna()
    assert (row["n_treated"], row["n_control"]) == (30, 12)
    assert row["treated"] == pytest.approx(mt.mean()) and row["control"] == pytest.approx(mc.mean())
    table = consistency_table(ev)
    assert table["reactivated_treated"].iloc[0] == 30
    # no baseline when control customers carry no offer category
    o2 = o.copy()
    o2.loc[o2["group"] == "control", "offer_match"] = pd.NA
    row = evaluate_campaigns(o2, run_month="2024-04", params=PARAMS)
    row = row[(row["segment_type"] == "all") & (row["metric"] == "offer_match")].iloc[0]
    assert "no baseline" in row["note"] and row["treated"] == pytest.approx(mt.mean())


def test_contaminated_controls_and_missing_cost_are_noted():
    o = _outcomes(100, 30, 40, 6, cost=0.0)
    o.loc[o.index[-3:], "treated_later"] = True
    ev = evaluate_campaigns(o, run_month="2024-04", params=PARAMS)
    all_ = ev[ev["segment_type"] == "all"].set_index("metric")
    assert all_.loc["reactivation", "note"].startswith("3 of 40 control customers")
    assert math.isnan(all_.loc["roi", "diff"]) and "no ROI" in all_.loc["roi", "note"]


def test_evaluation_sentence_and_tables():
    o = pd.concat([_outcomes(100, 30, 40, 6), _outcomes(100, 31, 40, 6, window=2)])
    ev = evaluate_campaigns(o, run_month="2024-05", params=PARAMS)
    text = describe_evaluation(ev)
    assert text.startswith("Campaign 2024-03, 2 months after: 31.0% of treated vs 15.0%")
    assert "ROI" in text
    assert len(uplift_table(ev)) == 2
    assert describe_evaluation(ev.iloc[0:0]).startswith("No campaign")


def test_evaluation_sentence_in_both_languages():
    o = pd.concat([_outcomes(100, 30, 40, 6), _outcomes(100, 31, 40, 6, window=2)])
    ev = evaluate_campaigns(o, run_month="2024-05", params=PARAMS)
    assert describe_evaluation(ev, language="en") == (
        "Campaign 2024-03, 2 months after: 31.0% of treated vs 15.0% of control customers "
        "bought (uplift +16.0 points, 95% CI -0.3 to +28.5: no difference we can tell from "
        "chance). ROI +140% (95% CI -80% to +360%)."
    )
    assert describe_evaluation(ev, language="zh") == (
        "活动 2024-03，联系后 2 个月：实验组 31.0% 的客户有购买，对照组为 15.0% (提升 +16.0 个百分点，"
        "95% 置信区间 -0.3 至 +28.5：与随机波动无法区分)。ROI +140% (95% 置信区间 -80% 至 +360%)。"
    )
    assert describe_evaluation(ev.iloc[0:0], language="zh") == "本月没有处于跟进窗口、可以评估的活动。"
    with pytest.raises(ValueError):
        describe_evaluation(ev, language="fr")
    small = evaluate_campaigns(_outcomes(3, 1, 2, 1), run_month="2024-04", params=PARAMS)
    assert describe_evaluation(small, language="en") == (
        "Campaign 2024-03, 1 month after: too small: n_treated=3, n_control=2.")
    assert describe_evaluation(small, language="zh") == (
        "活动 2024-03，联系后 1 个月：样本太小：实验组 3 人，对照组 2 人。")


def test_row_notes_are_stored_in_english_and_shown_in_the_output_language():
    from winback.evaluation import note_text, notes_in

    o = _outcomes(100, 30, 40, 6, cost=0.0)
    o.loc[o.index[-3:], "treated_later"] = True
    ev = evaluate_campaigns(o, run_month="2024-04", params=PARAMS)
    all_ = ev[ev["segment_type"] == "all"].set_index("metric")
    assert all_.loc["reactivation", "note"] == (
        "3 of 40 control customers were treated by a later campaign inside the window "
        "(effect understated)")
    assert note_text(all_.loc["reactivation", "note"], "zh") == (
        "对照组 40 位客户中有 3 位在窗口内被后续活动联系 (效果被低估)")
    assert note_text(all_.loc["roi", "note"], "zh") == "未记录成本：无 ROI"
    shown = notes_in(ev, "zh")
    assert shown["note"].dtype == ev["note"].dtype and len(shown) == len(ev)
    assert "未记录成本：无 ROI" in shown["note"].tolist()
    pd.testing.assert_frame_equal(notes_in(ev, "en"), ev)
    assert uplift_table(ev, metric="roi", language="zh")["note"].tolist() == ["未记录成本：无 ROI"]
    assert uplift_table(ev, metric="roi")["note"].tolist() == ["no cost recorded: no ROI"]


def test_programs_are_evaluated_apart_and_never_pooled(tmp_path):
    win = _outcomes(100, 30, 40, 6).assign(program="winback")
    prev = _outcomes(60, 50, 40, 30).assign(program="preventive")
    prev["customer_id"] = "p" + prev["customer_id"].astype(str)
    both = pd.concat([win, prev], ignore_index=True)
    ev = evaluate_campaigns(both, run_month="2024-04", params=PARAMS)
    alone = evaluate_campaigns(win.drop(columns="program"), run_month="2024-04", params=PARAMS)
    pd.testing.assert_frame_equal(ev, alone)  # the win-back uplift ignores preventive rows
    assert set(ev["program"]) == {"winback"}
    pv = evaluate_campaigns(both, run_month="2024-04", params=PARAMS, program="preventive")
    row = pv[(pv["segment_type"] == "all") & (pv["metric"] == "reactivation")].iloc[0]
    assert (row["n_treated"], row["n_control"]) == (60, 40)
    assert row["diff"] == pytest.approx(50 / 60 - 30 / 40)
    assert describe_evaluation(pv).startswith("Preventive care contacts of 2024-03, 1 month")
    with pytest.raises(EvaluationError, match="program must be one of"):
        evaluate_campaigns(both, run_month="2024-04", params=PARAMS, program="other")
    # a store written before programs were told apart gains the column; old rows are win-back
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.register("old", ev.drop(columns="program").assign(month="2024-03"))
    con.execute("CREATE TABLE evaluations AS SELECT * FROM old")
    con.unregister("old")
    write_evaluations(con, "2024-04", pd.concat([ev, pv], ignore_index=True))
    back = read_table(con, "evaluations")
    assert set(back.loc[back["month"] == "2024-03", "program"]) == {"winback"}
    assert set(back.loc[back["month"] == "2024-04", "program"]) == {"winback", "preventive"}


def test_evaluations_round_trip_and_rerun_replaces_the_month(tmp_path):
    ev = evaluate_campaigns(_outcomes(100, 30, 40, 6), run_month="2024-04", params=PARAMS)
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert write_evaluations(con, "2024-04", ev) == len(ev)
    write_evaluations(con, "2024-04", ev)
    back = read_table(con, "evaluations")
    assert len(back) == len(ev) and list(back.columns) == EVALUATION_COLUMNS
    empty = evaluate_campaigns(
        _outcomes(100, 30, 40, 6).iloc[0:0], run_month="2024-05", params=PARAMS
    )
    assert write_evaluations(con, "2024-05", empty) == 0
    with pytest.raises(EvaluationError, match="lack"):
        write_evaluations(con, "2024-04", ev.drop(columns="note"))


# ---------------------------------------------------------------- contacts and costs


def _contacts(rows):
    """rows: (campaign_month, customer_id, attempt, channel, reached, response, redeemed, sat)."""
    f = pd.DataFrame(
        rows,
        columns=[
            "campaign_month",
            "customer_id",
            "attempt",
            "channel",
            "reached",
            "response",
            "offer_redeemed",
            "satisfaction",
        ],
    )
    f["contact_ts"] = pd.Timestamp("2024-04-03 10:00")
    from winback.evaluation import _typed_contacts

    return _typed_contacts(f)


ASSIGNED = read_campaign_log(
    _store(
        {
            "campaign_log": _log(
                "2024-03",
                [
                    ("A", "treatment", "T1", "price_match", "fresh", 4.0),
                    ("B", "treatment", "T1", "care", "fresh", 4.0),
                    ("C", "treatment", "T2", "care", "toys", 4.0),
                    ("D", "treatment", "T2", "care", "toys", 4.0),
                    ("E", "control", "T1", "care", "fresh", 4.0),
                ],
            )
        }
    ),
    ["2024-03"],
)
CONTACTS = _contacts(
    [
        ("2024-03", "A", 1, "phone", False, None, False, None),
        ("2024-03", "A", 2, "phone", True, "accepted", True, 5),
        ("2024-03", "B", 1, "sms", False, None, False, None),
        ("2024-03", "B", 2, "phone", False, None, False, None),
        ("2024-03", "B", 3, "phone", False, None, False, None),
        ("2024-03", "C", 1, "phone", True, "no_response", False, 3),
        ("2024-03", "C", 2, "sms", True, "callback", False, None),
    ]
)


def test_funnel_counts_by_channel_and_attempt():
    f = contact_funnel(CONTACTS).set_index(["channel", "attempt"])
    assert f.loc[("phone", 1), ["attempts", "reached", "responded", "accepted"]].tolist() == [
        2,
        1,
        0,
        0,
    ]
    assert f.loc[("phone", 2), ["attempts", "reached", "responded", "accepted"]].tolist() == [
        2,
        1,
        1,
        1,
    ]
    assert f.loc[("sms", 2), ["responded", "accepted"]].tolist() == [1, 0]
    assert f.loc[("phone", 2), "reach_rate"] == 0.5
    assert math.isnan(f.loc[("sms", 1), "response_rate"])
    s = funnel_summary(ASSIGNED, CONTACTS).iloc[0]
    assert s[["treated", "attempted", "reached", "responded", "accepted", "redeemed"]].tolist() == [
        4,
        3,
        2,
        2,
        1,
        1,
    ]
    assert s["attempted_share"] == 0.75


def test_no_response_list_and_its_store_table(tmp_path):
    nr = no_response_list(ASSIGNED, CONTACTS, run_month="2024-04", action="release")
    assert nr["customer_id"].tolist() == ["B", "D"]
    assert nr["outcome"].tolist() == ["unreached", "not_attempted"]
    assert nr["attempts"].tolist() == [3, 0]
    assert nr["action"].tolist() == ["release", "reenter_next_cycle"]  # D was never tried
    assert set(nr.columns) == {
        "month",
        "campaign_month",
        "customer_id",
        "attempts",
        "outcome",
        "action",
    }
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    write_no_response(con, "2024-04", nr)
    assert read_table(con, "no_response")["customer_id"].tolist() == ["B", "D"]
    # a month whose previous month had no campaign lists no one
    assert no_response_list(ASSIGNED, CONTACTS, run_month="2024-06").empty
    with pytest.raises(EvaluationError, match="reenter_next_cycle or release"):
        no_response_list(ASSIGNED, CONTACTS, run_month="2024-04", action="drop")


def test_funnel_redemption_and_no_response_keep_the_programs_apart():
    """Preventive care contacts never enter the win-back funnel, KPIs or no-response list."""
    prev = ASSIGNED.iloc[[0, 1]].assign(customer_id=["P", "Q"], program="preventive")
    assigned = pd.concat([ASSIGNED, prev], ignore_index=True)
    contacts = pd.concat([CONTACTS, _contacts([
        ("2024-03", "P", 1, "phone", True, "accepted", True, 5),
        ("2024-03", "Q", 1, "sms", False, None, False, None),
    ])], ignore_index=True)
    win = funnel_summary(assigned, contacts)
    pd.testing.assert_frame_equal(win, funnel_summary(ASSIGNED, CONTACTS))
    assert win["program"].tolist() == ["winback"] and win["treated"].tolist() == [4]
    care = funnel_summary(assigned, contacts, program="preventive").iloc[0]
    assert care[["treated", "attempted", "reached", "redeemed"]].tolist() == [2, 2, 1, 1]
    both = funnel_summary(assigned, contacts, program=None)
    assert both[["program", "treated"]].values.tolist() == [["preventive", 2], ["winback", 4]]
    r = offer_redemption(assigned, contacts)
    assert set(r["program"]) == {"winback"} and r["treated"].sum() == 4
    assert offer_redemption(assigned, contacts, program="preventive")["redeemed"].sum() == 1
    nr = no_response_list(assigned, contacts, run_month="2024-04")
    assert nr["customer_id"].tolist() == ["B", "D"]  # Q (preventive, unreached) is not listed
    assert "Q" in set(no_response_list(assigned, contacts, run_month="2024-04",
                                       program=None)["customer_id"])
    kpi = kpi_values(run_month="2024-04", flows=pd.DataFrame(), satisfaction=pd.DataFrame(),
                     evaluations=pd.DataFrame(columns=EVALUATION_COLUMNS), funnel=win)
    assert kpi.set_index("kpi").loc["reach_rate", "value"] == win["reached_share"].iloc[0]
    mixed = kpi_values(run_month="2024-04", flows=pd.DataFrame(), satisfaction=pd.DataFrame(),
                       evaluations=pd.DataFrame(columns=EVALUATION_COLUMNS), funnel=both)
    pd.testing.assert_frame_equal(mixed, kpi)  # both programs given: the win-back row is read


def test_redemption_by_strategy():
    r = offer_redemption(ASSIGNED, CONTACTS).set_index("strategy")
    assert r.loc["price_match", ["treated", "accepted", "redeemed"]].tolist() == [1, 1, 1]
    assert r.loc["care", ["treated", "accepted", "redeemed"]].tolist() == [3, 0, 0]
    assert r.loc["care", "redemption_rate"] == 0 and r.loc["care", "ci_high"] > 0
    assert math.isnan(r.loc["care", "redeemed_of_accepted"])


def test_costs_on_each_basis():
    unit = {"phone": 2.0, "sms": 0.5}
    log = campaign_costs(ASSIGNED, CONTACTS).set_index("customer_id")
    assert log.loc["A", "cost"] == 4.0 and log.loc["E", "cost"] == 0.0  # control: never contacted
    assert log.loc["B", "attempts"] == 3 and log.loc["D", "attempts"] == 0
    plus = campaign_costs(ASSIGNED, CONTACTS, contact_unit_cost=unit, basis="log_plus_contacts")
    plus = plus.set_index("customer_id")
    assert plus.loc["A", "cost"] == 4.0 + 2 * 2.0
    assert plus.loc["B", "cost"] == 4.0 + 0.5 + 2 * 2.0
    assert plus.loc["D", "cost"] == 4.0
    assigned = ASSIGNED.assign(offer_value=10.0)
    actual = campaign_costs(assigned, CONTACTS, contact_unit_cost=unit, basis="actual")
    actual = actual.set_index("customer_id")
    assert actual.loc["A", "cost"] == 2 * 2.0 + 10.0  # two calls, offer redeemed
    assert actual.loc["C", "cost"] == 2.0 + 0.5 and actual.loc["D", "cost"] == 0.0
    assert actual.loc["E", "cost"] == 0.0
    with pytest.raises(EvaluationError, match=r"no cost for channel\(s\) \['sms'\]"):
        campaign_costs(ASSIGNED, CONTACTS, contact_unit_cost={"phone": 2.0}, basis="actual")
    with pytest.raises(EvaluationError, match="set evaluation.contact_unit_cost"):
        campaign_costs(ASSIGNED, CONTACTS, basis="actual")
    with pytest.raises(EvaluationError, match="cost basis must be"):
        campaign_costs(ASSIGNED, CONTACTS, basis="planned")


def test_params_refuse_unknown_names():
    with pytest.raises(ValueError, match="unknown segment"):
        EvaluationParams(segments=["region"])
    with pytest.raises(ValueError, match="unknown channel"):
        EvaluationParams(contact_unit_cost={"fax": 1.0})
    with pytest.raises(ValueError, match="unknown interaction kind"):
        EvaluationParams(engagement_kinds=["like"])
    assert EvaluationParams(windows=[3, 1, 1]).windows == [1, 3]


# ----------------------------------------------------------------------------- trends


def _status(rows):
    return pd.DataFrame(rows, columns=["month", "customer_id", "status"])


def test_status_flows_count_churn_reactivation_and_rechurn():
    st = _status(
        [
            # a: churns in Feb, comes back in Mar, churns again in Apr
            ("2024-01", "a", "active"),
            ("2024-02", "a", "churned"),
            ("2024-03", "a", "active"),
            ("2024-04", "a", "churned"),
            # b: churned all along, back in Apr
            ("2024-01", "b", "churned"),
            ("2024-02", "b", "lost"),
            ("2024-03", "b", "churned"),
            ("2024-04", "b", "at_risk"),
            # c: active all along; d: signs up in Mar
            *[(m, "c", "active") for m in ("2024-01", "2024-02", "2024-03", "2024-04")],
            ("2024-03", "d", "new"),
            ("2024-04", "d", "churned"),
        ]
    )
    f = status_flows(st).set_index("month")
    assert math.isnan(f.loc["2024-01", "churn_rate"])
    assert f.loc["2024-02", ["base_active", "new_churn", "reactivated"]].tolist() == [2, 1, 0]
    assert f.loc["2024-03", ["reactivated", "base_churned", "new_churn"]].tolist() == [1, 2, 0]
    assert f.loc[
        "2024-04", ["new_churn", "reactivated", "base_reactivated", "rechurned"]
    ].tolist() == [2, 1, 1, 1]
    assert f.loc["2024-04", "churn_rate"] == pytest.approx(2 / 3)
    assert f.loc["2024-04", "rechurn_rate"] == 1.0 and f.loc["2024-04", "net_winback"] == -1
    assert f.loc["2024-04", "churned_share"] == 0.5
    text = winning_back_sentence(status_flows(st))
    assert text.startswith(
        "In 2024-04, 1 churned customers came back and 2 customers churned "
        "(net -1): no: we lost more"
    )
    assert "Over the last 3 months (2024-02 to 2024-04): 2 came back, 3 churned (net -1)" in text
    assert "1 (100.0%) churned again" in text
    assert "Not enough" in winning_back_sentence(status_flows(st[st["month"] == "2024-01"]))
    zh = winning_back_sentence(status_flows(st), language="zh")
    assert zh.startswith("2024-04：1 位已流失客户回归，2 位客户流失 (净 -1)——否：")
    assert "最近 3 个月 (2024-02 至 2024-04)：2 位回归，3 位流失 (净 -1)。" in zh
    assert zh.endswith("此前回归的 1 位客户中，1 位 (100.0%) 本月再次流失。")
    assert winning_back_sentence(status_flows(st[st["month"] == "2024-01"]),
                                 language="zh").startswith("流失状态的历史还不够")


def test_status_flows_skip_a_gap_in_the_history():
    st = _status([("2024-01", "a", "active"), ("2024-03", "a", "churned")])
    f = status_flows(st).set_index("month")
    assert math.isnan(f.loc["2024-03", "new_churn"]) and f.loc["2024-03", "churned"] == 1


def test_satisfaction_trend_means_with_t_intervals():
    surveys = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "ts": pd.to_datetime(["2024-03-02", "2024-03-05", "2024-03-09", "2024-04-01"]),
            "satisfaction": [4.0, 5.0, 3.0, 2.0],
        }
    )
    t = satisfaction_trend(surveys, CONTACTS)
    s = t[(t["source"] == "survey") & (t["month"] == "2024-03")].iloc[0]
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert s["n"] == 3 and s["mean"] == 4.0
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((4 - half, 4 + half))
    c = t[t["source"] == "contact"].iloc[0]
    assert (c["month"], c["n"], c["mean"]) == ("2024-04", 2, 4.0)
    assert math.isnan(t[(t["source"] == "survey") & (t["month"] == "2024-04")]["ci_low"].iloc[0])


# -------------------------------------------------------------------- from the store


def _demo_store():
    """Three monthly campaigns of 60 customers; two of April's controls are treated in May."""
    rng = np.random.default_rng(3)
    logs, tx = [], []
    k = 0
    for month in ("2024-03", "2024-04", "2024-05"):
        rows = []
        for i in range(60):
            cid = f"C{month[-2:]}{i:03d}"
            group = "control" if i % 4 == 0 else "treatment"
            rows.append((cid, group, "T1" if i % 2 else "T2", "care", "fresh", 3.0))
        if month == "2024-05":
            rows += [(f"C04{i:03d}", "treatment", "T1", "care", "fresh", 3.0) for i in (0, 4)]
        logs.append(_log(month, rows))
        for cid, group, *_ in rows:
            if rng.random() < (0.4 if group == "treatment" else 0.1):
                k += 1
                day = pd.Period(month, "M") + 1
                tx.append(
                    (f"o{k}", cid, str(day.start_time + pd.Timedelta(days=3)), 20.0, "fresh", False)
                )
    log = pd.concat(logs, ignore_index=True)
    status = _status([(m, c, "churned") for m in ("2024-05", "2024-06") for c in ("x", "y")])
    return _store({"campaign_log": log, "transactions": _tx(tx), "churn_status": status})


def test_collect_reads_the_campaigns_and_flags_contaminated_controls():
    con = _demo_store()
    data = collect(con, "2024-06", params=PARAMS)
    assert "2024-03 (windows 1,2,3), 2024-04 (windows 1,2), 2024-05 (windows 1)" in repr(data)
    assert len(data.outcomes) == 60 * 3 + 60 * 2 + 62
    overview = campaign_overview(data).set_index(["campaign_month", "window"])
    assert overview.loc[("2024-04", 1), "control_treated_later"] == 0
    assert overview.loc[("2024-04", 2), "control_treated_later"] == 2
    assert overview.loc[("2024-03", 1), "cost"] == 45 * 3.0
    ev = evaluate_campaigns(data.outcomes, run_month="2024-06", params=PARAMS)
    assert len(ev[(ev["segment_type"] == "all") & (ev["metric"] == "reactivation")]) == 6
    note = ev[
        (ev["campaign_month"] == "2024-04")
        & (ev["window"] == 2)
        & (ev["segment_type"] == "all")
        & (ev["metric"] == "reactivation")
    ]["note"].iloc[0]
    assert note.startswith("2 of 15 control customers")
    assert "no contact_outcomes" in " ".join(data.notes)
    assert "存储中没有 contact_outcomes：触达漏斗、优惠核销和联系成本为空。" in data.notes_in("zh")
    assert data.notes_in("en") == data.notes
    assert len(data.status) == 4


def test_collect_before_any_campaign_is_empty_but_runs():
    con = _store({"transactions": _tx([("o", "A", "2024-01-03", 5.0, "x", False)])})
    data = collect(con, "2024-01", params=PARAMS)
    assert data.outcomes.empty and "nothing to evaluate" in data.notes[0]
    assert data.notes_in("zh")[0] == "存储中没有本月之前的活动：尚无可评估的内容。"
    ev = evaluate_campaigns(data.outcomes, run_month="2024-01", params=PARAMS)
    assert ev.empty and list(ev.columns) == EVALUATION_COLUMNS
    assert no_response_list(data.assigned, data.contacts, run_month="2024-01").empty
    assert campaign_overview(data).empty and status_flows(data.status).empty
    assert offer_redemption(data.assigned, data.contacts).empty
    assert contact_funnel(data.contacts).empty
    assert funnel_summary(data.assigned, data.contacts).empty
    assert consistency_table(ev).empty and uplift_table(ev).empty
    assert satisfaction_trend(data.surveys, data.contacts).empty
    assert "Not enough" in winning_back_sentence(status_flows(data.status))


# ----------------------------------------------------------------------------- charts


def test_charts_draw_with_titles_and_computed_takeaways():
    import matplotlib.pyplot as plt

    from winback.kpis import KpisParams, kpi_status, kpi_values
    from winback.plots.evaluation import (
        plot_contact_funnel,
        plot_kpis,
        plot_satisfaction,
        plot_status_flows,
        plot_uplift,
    )

    def texts(ax):
        return " ".join(t.get_text() for t in ax.texts)

    o = pd.concat([_outcomes(100, 30, 40, 6), _outcomes(100, 31, 40, 6, window=2)])
    ev = evaluate_campaigns(o, run_month="2024-05", params=PARAMS)
    ax = plot_uplift(ev)
    assert ax.get_title().startswith("Reactivation uplift: treated minus control")
    assert "0 of 2 intervals lie above zero; largest estimate +16.0 pts (2024-03 · 2 mo)" in texts(
        ax
    )
    small = evaluate_campaigns(_outcomes(10, 3, 4, 1), run_month="2024-04", params=PARAMS)
    assert "too small: n_treated=10, n_control=4" in texts(plot_uplift(small))
    assert "No campaign" in texts(plot_uplift(ev.iloc[0:0]))
    ax = plot_contact_funnel(funnel_summary(ASSIGNED, CONTACTS))
    assert "50% of treated reached, 25% accepted" in texts(ax)
    flows = status_flows(
        _status(
            [
                ("2024-01", "a", "active"),
                ("2024-02", "a", "churned"),
                ("2024-01", "b", "churned"),
                ("2024-02", "b", "active"),
                ("2024-01", "c", "churned"),
                ("2024-02", "c", "active"),
            ]
        )
    )
    assert "Net +1 in 2024-02" in texts(plot_status_flows(flows))
    surveys = pd.DataFrame(
        {
            "customer_id": list("ab"),
            "ts": pd.to_datetime(["2024-03-02", "2024-04-05"]),
            "satisfaction": [4.0, 3.0],
        }
    )
    assert "surveys 3.00 in 2024-04 (-1.00 since 2024-03)" in texts(
        plot_satisfaction(satisfaction_trend(surveys, CONTACTS.iloc[0:0]))
    )
    values = kpi_values(
        run_month="2024-02",
        flows=flows,
        satisfaction=satisfaction_trend(surveys, CONTACTS.iloc[0:0]),
        evaluations=ev,
        funnel=funnel_summary(ASSIGNED, CONTACTS),
    )
    ax = plot_kpis(kpi_status(values, KpisParams()))
    assert ax.get_title() == "KPIs against targets" and "n/a" in texts(ax)
    plt.close("all")


def test_no_response_sentence():
    from winback.evaluation import describe_no_response

    nr = no_response_list(ASSIGNED, CONTACTS, run_month="2024-04")
    assert describe_no_response(nr) == (
        "2 treated customers of campaign 2024-03 never answered (1 unreached, 1 not attempted): "
        "2 re-enter the next cycle's targeting."
    )
    assert describe_no_response(nr.iloc[0:0]).startswith("No treated customer")
    released = no_response_list(ASSIGNED, CONTACTS, run_month="2024-04", action="release")
    assert describe_no_response(released).endswith(
        ": 1 re-enter the next cycle's targeting; 1 are released (not contacted again)."
    )
    assert describe_no_response(nr, language="zh") == (
        "活动 2024-03 的 2 位实验组客户始终未答复 (未接通 1 位、未尝试联系 1 位)：2 位进入下一轮的目标筛选。"
    )
    assert describe_no_response(released, language="zh").endswith(
        "：1 位进入下一轮的目标筛选；1 位释放 (不再联系)。"
    )
    assert describe_no_response(nr.iloc[0:0], language="zh") == "上月活动的实验组客户都已有答复。"


# --------------------------------------------- the simulated client's true campaign effect
#
# The demo simulator records, for every customer assigned to a campaign, the probability of
# buying again within 1, 2 and 3 months had they been assigned to treatment (p1_k: contacted
# with the campaign's sequence, reached or not, so reach is inside it) and to control (p0_k).
# The evaluation compares all assigned customers by intention to treat, so:
# - the like-for-like truth is the ATE of the assigned population, mean(p1_k - p0_k) over
#   every assigned customer (summary.json "ate"): over random holdouts the treated-minus-
#   control difference is unbiased for it, and the 95% interval must cover it 95% of the time;
# - given one realized split, the difference estimates mean_T(p1) - mean_C(p0); it differs
#   from the ATE by the split's chance imbalance, which the interval accounts for.


@pytest.fixture(scope="module")
def simulated_campaign(tmp_path_factory):
    """A small simulated client with one random campaign in 2024-01, followed 3 months."""
    from winback.demo import CATEGORIES, CHANNELS, STRATEGIES, DemoWorld
    from winback.store import replace_month, replace_table

    root = tmp_path_factory.mktemp("demo")
    world = DemoWorld.create(
        root, n_customers=1000, seed=7, history_start="2023-01", first_month="2024-01"
    )
    truth = pd.read_parquet(root / "truth/customers.parquet")
    pool = truth[truth["truly_churned"] & ~truth["do_not_contact"]]
    rng = np.random.default_rng(11)
    actives = truth[~truth["truly_churned"] & ~truth["do_not_contact"]].sample(30, random_state=3)
    pool = pd.concat([pool, actives], ignore_index=True)
    k = len(pool)
    assignment = pd.DataFrame(
        {
            "customer_id": pool["customer_id"],
            "campaign_month": "2024-01",
            "group": np.where(rng.random(k) < 0.3, "control", "treatment"),
            "tier": rng.choice(["A", "B"], k),
            "reason_code": pool["current_reason"],
            "strategy": rng.choice(STRATEGIES, k),
            "channel_1": rng.choice(CHANNELS, k),
            "channel_2": rng.choice(CHANNELS, k),
            "channel_3": rng.choice(CHANNELS, k),
            "offer_category": rng.choice(CATEGORIES, k),
            "offer_value": 20.0,
        }
    )
    world.advance("2024-02", assignment, None)
    world.advance("2024-03")
    world.advance("2024-04")
    con = duckdb.connect()
    # the client's files as delivered (the transactions path may be a glob of monthly files)
    con.execute(
        f"CREATE TABLE transactions AS SELECT * FROM read_parquet('{world.paths['transactions']}')"
    )
    inter = pd.read_csv(
        world.paths["interactions"], encoding="utf-8-sig", dtype={"customer_id": str}
    )
    inter["ts"] = pd.to_datetime(inter["ts"]).astype(TS)
    replace_table(con, "interactions", inter)
    log = assignment.rename(columns={"campaign_month": "month"}).assign(cost=5.0)
    replace_month(con, "campaign_log", "2024-01", log)
    campaign = pd.read_parquet(root / "truth/campaign_2024-01.parquet")
    import json

    summary = json.loads((root / "truth/summary.json").read_text("utf-8"))["campaigns"]["2024-01"]
    yield con, campaign, summary
    con.close()


def test_interval_covers_the_true_effect_over_random_holdouts(simulated_campaign):
    """Re-draw the holdout and the outcomes from the recorded probabilities many times."""
    _, campaign, summary = simulated_campaign
    n = len(campaign)
    n_control = int((campaign["group"] == "control").sum())
    rng = np.random.default_rng(20240101)
    reps = 600
    for k in (1, 2, 3):
        p0, p1 = campaign[f"p0_{k}"].to_numpy(), campaign[f"p1_{k}"].to_numpy()
        ate = float((p1 - p0).mean())
        assert ate == pytest.approx(summary["ate"][str(k)]) and ate > 0
        hits = 0
        for _ in range(reps):
            control = np.zeros(n, bool)
            control[rng.choice(n, n_control, replace=False)] = True
            bought = rng.random(n) < np.where(control, p0, p1)
            c = rate_difference(
                int(bought[~control].sum()), n - n_control, int(bought[control].sum()), n_control
            )
            hits += c.covers(ate)
        assert hits / reps >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / reps), (k, hits / reps)


def test_realized_outcomes_match_the_simulators_probabilities(simulated_campaign):
    """Windows as the kit reads them agree with the simulator's potential outcomes."""
    con, campaign, summary = simulated_campaign
    data = collect(con, "2024-04", params=PARAMS)
    assert sorted(set(zip(data.plan["campaign_month"], data.plan["window"], strict=True))) == [
        ("2024-01", 1),
        ("2024-01", 2),
        ("2024-01", 3),
    ]
    ev = evaluate_campaigns(data.outcomes, run_month="2024-04", params=PARAMS)
    main = ev[(ev["segment_type"] == "all") & (ev["metric"] == "reactivation")].set_index("window")
    t = (campaign["group"] == "treatment").to_numpy()
    for k in (1, 2, 3):
        row = main.loc[k]
        p1, p0 = campaign.loc[t, f"p1_{k}"], campaign.loc[~t, f"p0_{k}"]
        # each arm's realized rate within 3.5 standard errors of its expected rate
        assert abs(row["treated"] - p1.mean()) <= 3.5 * math.sqrt((p1 * (1 - p1)).sum()) / t.sum()
        assert (
            abs(row["control"] - p0.mean()) <= 3.5 * math.sqrt((p0 * (1 - p0)).sum()) / (~t).sum()
        )
        # and the interval covers the ATE of the assigned population (this seed)
        assert row["ci_low"] <= summary["ate"][str(k)] <= row["ci_high"], k


def test_status_flows_refuse_a_customer_twice_in_a_month():
    st = _status([("2024-01", "a", "active"), ("2024-01", "a", "churned")])
    with pytest.raises(EvaluationError, match=r"twice in one month: \['a'\]"):
        status_flows(st)


# ------------------------------------------------------------------------ overhead


def _overhead_store(with_budget=True):
    """Campaigns 2024-02 and 2024-03: 40 treated (log cost 3) and 40 control each.

    Treated C..00-19 and control C..40-47 spend 100 in the month after: incremental revenue
    per campaign = (50 - 20) x 40 = 1200. Stage 5 stored a budget for 2024-03 only.
    """
    logs, tx = [], []
    for month in ("2024-02", "2024-03"):
        rows = [(f"C{month[-2:]}{i:03d}", "treatment" if i < 40 else "control", "T1", "care",
                 "fresh", 3.0 if i < 40 else 0.0) for i in range(80)]
        logs.append(_log(month, rows))
        day = (pd.Period(month, "M") + 1).start_time + pd.Timedelta(days=2)
        tx += [(f"o{month}{i}", f"C{month[-2:]}{i:03d}", str(day), 100.0, "fresh", False)
               for i in [*range(20), *range(40, 48)]]
    tables = {"campaign_log": pd.concat(logs, ignore_index=True), "transactions": _tx(tx)}
    if with_budget:
        tables["campaign_budget"] = pd.DataFrame({
            "month": "2024-03", "program": ["winback"] * 3 + ["preventive"] * 3,
            "category": ["people", "materials", "marketing"] * 2,
            "own": [600.0, 100.0, 999.0, 50.0, 50.0, 0.0],
            "shared": [0.0, 200.0, 0.0, 0.0, 0.0, 0.0],
            "amount": [600.0, 300.0, 999.0, 50.0, 50.0, 0.0]})
    return _store(tables)


def _all(ev, campaign_month, metric):
    return ev[(ev["campaign_month"] == campaign_month) & (ev["window"] == 1)
              & (ev["segment_type"] == "all") & (ev["metric"] == metric)].iloc[0]


def test_roi_counts_the_stored_campaign_overhead():
    data = collect(_overhead_store(), "2024-04", params=PARAMS)
    ev = evaluate_campaigns(data.outcomes, run_month="2024-04", params=PARAMS)
    # 2024-03: 40 x 3 log cost + people 600 + shared materials 200 (per-contact materials
    # and marketing are already in the log cost)
    assert _all(ev, "2024-03", "incremental_revenue")["diff"] == pytest.approx(1200.0)
    assert _all(ev, "2024-03", "cost")["treated"] == pytest.approx(920.0)
    assert _all(ev, "2024-03", "cost")["note"] == ""
    assert _all(ev, "2024-03", "roi")["diff"] == pytest.approx((1200 - 920) / 920)
    # a tier holding every treated customer carries the whole overhead
    tier = ev[(ev["campaign_month"] == "2024-03") & (ev["window"] == 1)
              & (ev["segment"] == "T1") & (ev["metric"] == "cost")]
    assert tier["treated"].iloc[0] == pytest.approx(920.0)
    # without the param: the log cost only
    plain = EvaluationParams(**{**PARAMS.model_dump(), "include_overhead": False})
    data0 = collect(_overhead_store(), "2024-04", params=plain)
    ev0 = evaluate_campaigns(data0.outcomes, run_month="2024-04", params=plain)
    assert _all(ev0, "2024-03", "cost")["treated"] == pytest.approx(120.0)
    assert _all(ev0, "2024-03", "roi")["diff"] == pytest.approx((1200 - 120) / 120)
    assert not any("budget" in n for n in data0.notes)


def test_campaign_without_a_stored_budget_gets_zero_overhead_and_a_note():
    for store in (_overhead_store(), _overhead_store(with_budget=False)):
        data = collect(store, "2024-04", params=PARAMS)
        ev = evaluate_campaigns(data.outcomes, run_month="2024-04", params=PARAMS)
        cost = _all(ev, "2024-02", "cost")
        assert cost["treated"] == pytest.approx(120.0)
        assert cost["note"] == "no campaign budget stored: cost leaves out people and materials"
        assert _all(ev, "2024-02", "roi")["note"] == cost["note"]
        assert _all(ev, "2024-02", "roi")["diff"] == pytest.approx((1200 - 120) / 120)
        assert ("The store has no budget (campaign_budget) for the campaign of 2024-02: its cost "
                "leaves out people and materials.") in data.notes
        assert "存储中没有 2024-02 活动的预算" in " ".join(data.notes_in("zh"))
        shown = notes_in(ev, "zh")
        assert "未存储活动预算：成本不含人力与物料" in set(shown["note"])


def test_overhead_is_spread_over_the_programs_treated_customers():
    assigned = pd.DataFrame({
        "campaign_month": ["2024-03"] * 5 + ["2024-02"],
        "customer_id": ["A", "B", "C", "D", "E", "F"],
        "group": ["treatment", "treatment", "control", "treatment", "treatment", "treatment"],
        "program": ["winback", None, "winback", "preventive", "preventive", "winback"],
    })
    budget = pd.DataFrame({"month": "2024-03", "program": ["winback", "preventive"] * 2,
                           "category": ["people", "people", "materials", "marketing"],
                           "shared": [0.0, 0.0, 20.0, 0.0],
                           "amount": [100.0, 40.0, 25.0, 500.0]})
    got = campaign_overhead(assigned, budget).set_index("customer_id")["overhead"]
    assert got[["A", "B", "C", "D", "E"]].tolist() == pytest.approx([60.0, 60.0, 0.0, 20.0, 20.0])
    assert math.isnan(got["F"])
