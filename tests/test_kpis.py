"""KPIs against targets: the RAG rule and the values taken from stage 6's tables."""

import math

import pandas as pd
import pytest

from winback.kpis import KPIS, KpisParams, describe_kpis, kpi_status, kpi_values, rag_status


@pytest.mark.parametrize(
    "value, op, target, band, expected",
    [
        (0.030, "<=", 0.03, 0.1, "green"),  # exactly on target
        (0.033, "<=", 0.03, 0.1, "amber"),  # 10% over: edge of the band
        (0.0331, "<=", 0.03, 0.1, "red"),
        (4.2, ">=", 4.0, 0.1, "green"),
        (3.6, ">=", 4.0, 0.1, "amber"),
        (3.59, ">=", 4.0, 0.1, "red"),
        (-0.05, ">=", 0.0, 0.1, "amber"),  # target 0: band is absolute
        (-0.2, ">=", 0.0, 0.1, "red"),
        (math.nan, ">=", 4.0, 0.1, "n/a"),
        (3.9, ">=", 4.0, 0.0, "red"),  # no amber band
    ],
)
def test_rag_rule(value, op, target, band, expected):
    assert rag_status(value, op, target, band) == expected


def test_rag_refuses_an_unknown_direction():
    with pytest.raises(ValueError, match="op"):
        rag_status(1.0, "<", 2.0, 0.1)


def test_params_refuse_unknown_kpis_and_bands():
    with pytest.raises(ValueError, match="unknown KPI"):
        KpisParams(targets={"nps": {"op": ">=", "target": 30}})
    with pytest.raises(ValueError):
        KpisParams(amber_band=1.5)
    p = KpisParams(targets={"roi": {"op": ">=", "target": 0.0, "amber_band": 0.2}})
    assert p.targets["roi"].amber_band == 0.2


def _tables():
    flows = pd.DataFrame(
        {
            "month": ["2024-05", "2024-06"],
            "churn_rate": [0.05, 0.032],
            "churned_share": [0.2, 0.21],
            "reactivation_rate": [0.02, 0.04],
            "rechurn_rate": [math.nan, 0.1],
            "net_winback": [-3.0, 5.0],
        }
    )
    sat = pd.DataFrame(
        {
            "month": ["2024-06", "2024-06"],
            "source": ["survey", "contact"],
            "n": [30, 10],
            "mean": [3.5, 3.1],
            "ci_low": [3.5, 2.8],
            "ci_high": [3.9, 3.4],
        }
    )
    ev = pd.DataFrame(
        {
            "campaign_month": ["2024-05", "2024-05", "2024-03", "2024-03"],
            "window": [1, 1, 3, 1],
            "segment_type": "all",
            "segment": "all",
            "metric": ["reactivation", "roi", "roi", "roi"],
            "treated": [0.18, math.nan, math.nan, math.nan],
            "control": [0.08, math.nan, math.nan, math.nan],
            "diff": [0.10, -0.5, 0.4, -0.2],
        }
    )
    funnel = pd.DataFrame(
        {"campaign_month": ["2024-05"], "reached_share": [0.6], "redeemed_share": [0.1]}
    )
    return flows, sat, ev, funnel


def test_values_come_from_the_right_rows():
    flows, sat, ev, funnel = _tables()
    v = kpi_values(
        run_month="2024-06", flows=flows, satisfaction=sat, evaluations=ev, funnel=funnel
    ).set_index("kpi")
    assert list(v.index) == list(KPIS)
    assert v.loc["churn_rate", "value"] == 0.032
    assert v.loc["satisfaction", "value"] == 3.5 and v.loc["contact_satisfaction", "value"] == 3.1
    assert v.loc["repurchase_rate", "value"] == 0.18
    assert v.loc["reactivation_uplift", "value"] == 0.10
    assert v.loc["reach_rate", "value"] == 0.6
    assert v.loc["roi", "value"] == 0.4 and v.loc["roi", "basis"] == "campaign 2024-03, window 3"
    # a month with nothing evaluated yet
    empty = kpi_values(
        run_month="2024-01",
        flows=flows.iloc[0:0],
        satisfaction=sat.iloc[0:0],
        evaluations=ev.iloc[0:0],
        funnel=funnel.iloc[0:0],
    )
    assert empty["value"].isna().all()


def test_status_table_and_sentence():
    flows, sat, ev, funnel = _tables()
    v = kpi_values(
        run_month="2024-06", flows=flows, satisfaction=sat, evaluations=ev, funnel=funnel
    )
    params = KpisParams(
        amber_band=0.1,
        targets={
            "churn_rate": {"op": "<=", "target": 0.03},
            "satisfaction": {"op": ">=", "target": 4.0},
            "repurchase_rate": {"op": ">=", "target": 0.15},
            "offer_redemption": {"op": ">=", "target": 0.2, "amber_band": 0.6},
        },
    )
    s = kpi_status(v, params).set_index("kpi")
    assert s["status"].to_dict() == {
        "churn_rate": "amber",
        "satisfaction": "red",
        "repurchase_rate": "green",
        "offer_redemption": "amber",
    }
    assert s.loc["churn_rate", "text"] == "3.2% (target <= 3.0%)"
    assert s.loc["satisfaction", "gap"] == pytest.approx(-0.5)
    text = describe_kpis(kpi_status(v, params))
    assert text.startswith("1 of 4 KPIs on target, 2 amber: churn_rate 3.2% (target <= 3.0%)")
    assert "1 red: satisfaction 3.50 (target >= 4.00)" in text


def test_kpi_sentence_in_chinese_keeps_the_numbers():
    status = pd.DataFrame({
        "kpi": ["churn_rate", "satisfaction", "repurchase_rate", "roi"],
        "value": [0.032, 3.5, float("nan"), 1.4], "op": ["<=", ">=", ">=", ">="],
        "target": [0.03, 4.0, 0.15, 1.0], "status": ["amber", "red", "n/a", "green"],
        "text": ["3.2% (target <= 3.0%)", "3.50 (target >= 4.00)", "n/a (target >= 15.0%)",
                 "140.0% (target >= 100.0%)"]})
    assert describe_kpis(status, language="zh") == (
        "4 项 KPI 中 1 项达标，1 项亮黄灯：流失率 3.2% (目标 <= 3.0%)，1 项亮红灯：满意度 (问卷) 3.50 "
        "(目标 >= 4.00)，1 项暂无数据：复购率 无 (目标 >= 15.0%)。")
    assert describe_kpis(status) == (
        "1 of 4 KPIs on target, 1 amber: churn_rate 3.2% (target <= 3.0%), 1 red: satisfaction "
        "3.50 (target >= 4.00), 1 n/a: repurchase_rate n/a (target >= 15.0%).")
    assert describe_kpis(status.head(0), language="zh").startswith("未设定 KPI 目标")
