"""Tests for winback.profile: churned vs retained tests and effect sizes on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from winback import profile as P


def test_cramers_v_closed_form_on_a_2x2_table():
    # chi2 = n (ad - bc)^2 / (r1 r2 c1 c2) = 80 * 800^2 / 40^4 = 20; V = sqrt(20 / 80) = 0.5
    v, lo, hi = P.cramers_v([[30, 10], [10, 30]])
    assert v == pytest.approx(0.5)
    assert np.isnan(lo) and np.isnan(hi)
    v, lo, hi = P.cramers_v([[30, 10], [10, 30]], n_boot=400, seed=1)
    assert lo < 0.5 < hi
    assert P.cramers_v([[30, 10], [10, 30]], n_boot=400, seed=1) == (v, lo, hi)  # seeded
    assert P.cramers_v([[10, 20], [10, 20]])[0] == pytest.approx(0.0)
    assert np.isnan(P.cramers_v([[5, 5]])[0])


def test_rank_biserial_and_cohens_d_closed_forms():
    r, lo, hi, p, u = P.rank_biserial([5, 6, 7], [1, 2, 3])
    assert r == 1.0 and u == 9.0 and hi == 1.0
    r, *_ = P.rank_biserial([1, 2], [3, 4])
    assert r == -1.0
    r, *_ = P.rank_biserial([1, 2, 3, 4], [1, 2, 3, 4])
    assert r == pytest.approx(0.0)
    a = np.array([2.0, 4.0, 6.0])
    b = np.array([1.0, 2.0, 3.0])
    d, lo, hi, p, t = P.cohens_d(a, b)
    pooled = np.sqrt((2 * 4.0 + 2 * 1.0) / 4)
    assert d == pytest.approx((4 - 2) / pooled)
    assert p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    se = np.sqrt(6 / 9 + d * d / 12)
    assert hi - lo == pytest.approx(2 * 1.959963984540054 * se)


def constructed(n=400, seed=0):
    """Region differs strongly between groups; gender does not; churned customers are older."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(2 * n)]
    status = ["churned"] * n + ["active"] * (n // 2) + ["at_risk"] * (n // 2)
    region = np.r_[rng.choice(["N", "S"], n, p=[0.8, 0.2]), rng.choice(["N", "S"], n, p=[0.3, 0.7])]
    gender = np.tile(["F", "M"], n)  # identical shares in both groups
    age = np.r_[rng.normal(50, 8, n), rng.normal(35, 8, n)]
    spend = np.r_[rng.gamma(2, 30, n), rng.gamma(2, 30, n)]
    snap = pd.DataFrame({"customer_id": ids, "region": region, "gender": gender, "age": age,
                         "member_level": "gold", "preferred_channel": None,
                         "avg_day_spend": spend})
    snap.loc[0, "avg_day_spend"] = np.nan  # a customer without a purchase
    status = pd.DataFrame({"customer_id": ids + ["x"], "status": status + ["lost"]})
    return snap, status


def test_holm_known_answer_and_statsmodels_equality():
    from statsmodels.stats.multitest import multipletests

    # sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (running max of 0.06), 0.5; back in order
    p = [0.03, 0.01, 0.5, 0.02]
    assert P.holm(p).tolist() == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert P.holm([0.6, 0.9]).tolist() == [1.0, 1.0]  # 1.2 and its running maximum, capped
    assert P.holm([]).tolist() == []
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 17):
        q = rng.uniform(0, 0.2, n)
        q[: n // 3] = q[n - 1]  # ties
        assert np.array_equal(P.holm(q), multipletests(q, method="holm")[1])
    with pytest.raises(ValueError, match="one-dimensional"):
        P.holm([[0.1, 0.2]])


def test_profile_frame_builds_groups_and_bands():
    snap, status = constructed()
    params = P.ProfileParams()
    frame = P.profile_frame(snap, status, params)
    assert len(frame) == 800 and "x" not in set(frame["customer_id"])  # lost is left out
    assert set(frame["group"]) == {"churned", "retained"}
    assert set(frame["age_band"]) <= {"<30", "30-39", "40-49", "50-59", "60+"}
    assert frame.loc[0, "spend_level"] == "(no purchase)"
    assert set(frame["spend_level"]) == {"(no purchase)", "Q1", "Q2", "Q3", "Q4"}
    assert set(frame["preferred_channel"]) == {"(missing)"}
    with pytest.raises(ValueError, match="lacks profile column"):
        P.profile_frame(snap.drop(columns="region"), status, params)


def test_profile_tests_find_the_known_effects_with_holm():
    snap, status = constructed()
    params = P.ProfileParams(n_boot=200)
    tests = P.profile_tests(P.profile_frame(snap, status, params), params, seed=5)
    t = tests.set_index("variable")
    # region: 80/20 vs 30/70 -> V = |0.8*0.7 - 0.2*0.3| / sqrt(0.55*0.45) ~ 0.50 in expectation
    assert t.loc["region", "significant"]
    assert t.loc["region", "effect_low"] < 0.5 < t.loc["region", "effect_high"]
    assert t.loc["region", "effect"] == "cramers_v"
    assert not t.loc["gender", "significant"]
    assert t.loc["gender", "effect_size"] == pytest.approx(0.0)
    assert t.loc["age", "significant"] and t.loc["age", "effect_size"] > 0.6  # churned older
    assert t.loc["age", "test"] == "Mann-Whitney U"
    assert not t.loc["avg_day_spend", "significant"]
    assert "1 missing value(s) left out" in t.loc["avg_day_spend", "note"]
    assert "not tested" in t.loc["member_level", "note"]  # one level only
    # Holm: the smallest p is multiplied by the number of tests
    tested = tests["p_value"].notna()
    m = int(tested.sum())
    smallest = tests.loc[tested, "p_value"].min()
    assert tests.loc[tested, "p_holm"].min() == pytest.approx(min(1.0, m * smallest))
    assert (tests.loc[tested, "p_holm"] >= tests.loc[tested, "p_value"]).all()
    text = P.describe_profile(tests)
    assert "region (cramers_v" in text and "No significant difference in" in text


def test_profile_tests_with_t_test_use_cohens_d():
    snap, status = constructed()
    params = P.ProfileParams(numeric_test="t_test", n_boot=0, categorical=["region"])
    t = P.profile_tests(P.profile_frame(snap, status, params), params).set_index("variable")
    assert t.loc["age", "effect"] == "cohens_d"
    assert t.loc["age", "effect_low"] < 15 / 8 < t.loc["age", "effect_high"]  # true d = 1.875
    assert np.isnan(t.loc["region", "effect_low"])  # no bootstrap


def test_profile_shares_have_intervals():
    snap, status = constructed()
    params = P.ProfileParams()
    shares = P.profile_shares(P.profile_frame(snap, status, params), ["gender"])
    f = shares.set_index("level").loc["F"]
    assert f["churned_share"] == 0.5 and f["retained_share"] == 0.5 and f["difference"] == 0
    assert f["churned_low"] < 0.5 < f["churned_high"]


def test_params_refuse_decreasing_age_bands():
    with pytest.raises(ValueError, match="increase"):
        P.ProfileParams(age_bands=[40, 30])


def test_profile_sentence_in_chinese_keeps_the_numbers():
    tests = pd.DataFrame({
        "variable": ["region", "age", "gender"],
        "effect": ["cramers_v", "rank_biserial", "cramers_v"],
        "effect_size": [0.5, 0.62, 0.01], "effect_low": [0.41, 0.55, 0.0],
        "effect_high": [0.58, 0.69, 0.09], "significant": [True, True, False],
        "n_churned": [400, 400, 400], "n_retained": [380, 400, 400],
        "churned_value": ["N: 80.0%", "median 50.2", "F: 50.0%"],
        "retained_value": ["N: 30.0%", "median 35.1", "F: 50.0%"]})
    zh = P.describe_profile(tests, language="zh")
    assert zh == ("流失客户 (400 人) 与留存客户 (400 人) 对比，检验 3 个属性，p 值经 Holm 校正、显著性水平 "
                  "0.05：地区 (Cramér's V 0.50，95% 区间 0.41–0.58；流失客户 N: 80.0%，留存客户 "
                  "N: 30.0%)；年龄 (秩二列相关 0.62，95% 区间 0.55–0.69；流失客户 中位数 50.2，留存客户 "
                  "中位数 35.1)。性别 无显著差异。")
    assert P.describe_profile(tests) == (
        "Churned (400) vs retained (400) customers, 3 attributes tested, p-values "
        "Holm-adjusted at 0.05: region (cramers_v 0.50, 95% CI 0.41–0.58; churned N: 80.0% vs "
        "retained N: 30.0%); age (rank_biserial 0.62, 95% CI 0.55–0.69; churned median 50.2 vs "
        "retained median 35.1). No significant difference in gender.")
    assert P.describe_profile(tests.head(0), language="zh") == "没有检验任何属性。"
    with pytest.raises(ValueError, match="zh or en"):
        P.describe_profile(tests, language="fr")


def test_crosstab_by_counting_matches_pandas_crosstab():
    from winback.profile import _crosstab

    rng = np.random.default_rng(1)
    n = 2000
    values = pd.Series(rng.choice(["b", "a", "(missing)", "c"], n), dtype="string",
                       name="region")
    group = pd.Series(np.where(rng.random(n) < 0.3, "churned", "retained"), name="group")
    ref = pd.crosstab(values, group).reindex(columns=["churned", "retained"], fill_value=0)
    ref = ref[ref.sum(axis=1) > 0]
    pd.testing.assert_frame_equal(_crosstab(values, (group == "churned").to_numpy()), ref)
    # a level without churned customers keeps its zero; the retained column exists when empty
    only = _crosstab(pd.Series(["x", "y", "y"], name="v"), np.array([True, False, True]))
    assert only.to_numpy().tolist() == [[1, 0], [1, 1]]
    assert _crosstab(pd.Series(["x"], name="v"), np.array([True])).to_numpy().tolist() == [[1, 0]]
