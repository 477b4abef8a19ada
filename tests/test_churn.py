"""Tests for winback.churn: indicators, score, statuses and the indicator checks."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from winback.churn import (
    STATUSES,
    ChurnParams,
    ChurnScorer,
    ChurnWeights,
    apply_status_rules,
    churn_precision_recall,
    future_purchases,
    indicator_redundancy,
    indicator_relevance,
    read_churn_model,
    read_status,
    score_churn,
    status_counts,
    status_sensitivity,
    write_churn_model,
    write_status,
)
from winback.clv import BGNBD, simulate_bgnbd

# Fader, Hardie & Lee (2005) CDNOW estimates, in weeks
CDNOW = BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
PARAMS = ChurnParams()  # defaults: weeks, weights 0.5/0.3/0.2, cut-offs 0.6/0.4


def _snap(rows: list[dict]) -> pd.DataFrame:
    """A snapshot with the columns churn scoring reads; days everywhere."""
    base = {
        "month": "2024-06", "purchase_days": 1, "frequency": 0, "recency": 0.0, "T": 0.0,
        "recency_days": 0.0, "tenure_days": 400, "gap": 30.0, "engagement_90": 0,
        "engagement_prev_90": 0, "do_not_contact": False,
    }
    out = []
    for i, row in enumerate(rows):
        full = {**base, "customer_id": f"C{i:03d}", **row}
        if full["purchase_days"] == 0:
            full.update(frequency=0, recency=np.nan, T=np.nan, recency_days=np.nan)
        full["recency_ratio"] = full["recency_days"] / full.pop("gap")
        out.append(full)
    return pd.DataFrame(out)


def _buyer(every: float, n_days: int, silent: float, **extra) -> dict:
    """A customer who bought on ``n_days`` days ``every`` days apart, then went silent."""
    recency = every * (n_days - 1)
    return {"purchase_days": n_days, "frequency": n_days - 1, "recency": recency,
            "T": recency + silent, "recency_days": silent, "gap": every,
            "tenure_days": recency + silent + 30, **extra}


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    snap = _snap([
        _buyer(7, 41, 35),  # 0 frequent buyer silent 5x their gap
        _buyer(200, 5, 200),  # 1 rare buyer silent 1x their gap (200 days)
        _buyer(7, 41, 3, do_not_contact=True),  # 2 do-not-contact, otherwise active
        {"purchase_days": 0, "tenure_days": 10},  # 3 just signed up, no purchase
        _buyer(1, 1, 10, tenure_days=10),  # 4 signed up and bought 10 days ago
        {"purchase_days": 0, "tenure_days": 200},  # 5 signed up long ago, never bought
        {"purchase_days": 0, "tenure_days": 1000},  # 6 signed up very long ago, never bought
        _buyer(7, 41, 800),  # 7 frequent buyer silent 800 days: beyond recovery
        _buyer(7, 41, 3),  # 8 frequent buyer, bought 3 days ago
    ])
    return score_churn(snap, params=PARAMS, model=CDNOW)


def test_statuses_on_constructed_cases(cases):
    expected = ["churned", "active", "lost", "new", "new", "churned", "lost", "lost", "active"]
    assert cases["status"].astype(str).tolist() == expected
    rules = cases["status_rule"].astype(str).tolist()
    assert rules[2] == "do_not_contact" and rules[3] == "new_signup"
    assert rules[4] == "new_customer" and rules[5] == "no_purchase"
    assert rules[6] == "no_purchase_lost" and rules[7] == "beyond_recovery"


def test_rhythm_not_silence_decides(cases):
    frequent, rare = cases.iloc[0], cases.iloc[1]
    # the rare buyer is silent far longer (200 vs 35 days) yet scores far lower
    assert rare["recency_days"] > 180 > frequent["recency_days"]
    assert frequent["p_alive"] < 0.5 < rare["p_alive"]
    assert frequent["score"] >= PARAMS.churned_cutoff > PARAMS.at_risk_cutoff > rare["score"]


def test_indicators_and_score_columns(cases):
    for col in ("p_alive", "recency_ratio", "engagement_decline", "c_p_alive", "c_recency",
                "c_engagement", "score", "status", "status_rule", "has_purchase"):
        assert col in cases
    buyers = cases[cases["has_purchase"]]
    assert buyers["score"].between(0, 1).all()
    assert cases.loc[~cases["has_purchase"], ["p_alive", "score"]].isna().all().all()
    assert cases["engagement_decline"].isna().all()  # nobody engaged: no information
    assert cases.iloc[0]["recency_ratio"] == pytest.approx(5.0)
    assert cases.iloc[0]["c_recency"] == pytest.approx(1 / (1 + (2 / 5) ** 3))
    assert list(cases["status"].cat.categories) == list(STATUSES)


def test_p_alive_of_one_time_buyers():
    snap = _snap([_buyer(1, 1, 70), _buyer(1, 1, 700)])
    r, alpha, a, b = CDNOW.params_
    expected = [1 / (1 + a / b * ((alpha + t / 7) / alpha) ** r) for t in (70, 700)]
    dropout = score_churn(snap, params=PARAMS, model=CDNOW)["p_alive"]
    assert dropout.to_numpy() == pytest.approx(expected)
    assert dropout.iloc[1] < dropout.iloc[0] < 1
    model = PARAMS.model_copy(update={"zero_repeat_p_alive": "model"})
    assert (score_churn(snap, params=model, model=CDNOW)["p_alive"] == 1).all()


def test_time_unit_does_not_change_p_alive():
    sim = simulate_bgnbd(3000, T=400.0, r=0.5, alpha=30.0, a=0.8, b=2.5, random_state=3)
    snap = _snap([
        {"purchase_days": int(f) + 1, "frequency": int(f), "recency": round(rc), "T": 400.0,
         "recency_days": 400.0 - round(rc)}
        for f, rc in zip(sim["frequency"], sim["recency"], strict=True)
    ])
    days = score_churn(snap, params=ChurnParams(time_unit="days"))
    weeks = score_churn(snap, params=ChurnParams(time_unit="weeks"))
    np.testing.assert_allclose(days["p_alive"], weeks["p_alive"], atol=1e-4)


def _indicators(n: int, **cols) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(n)], "has_purchase": True,
        "p_alive": 0.5, "recency_ratio": 1.0, "engagement_decline": 0.2,
        "recency_days": 60.0, "tenure_days": 500.0, "days_since_first_purchase": 400.0,
        "do_not_contact": False,
    }, index=range(n))
    for key, values in cols.items():
        frame[key] = values
    return frame


@pytest.mark.parametrize(
    ("column", "values", "direction"),
    [
        ("p_alive", np.linspace(0, 1, 41), -1),
        ("recency_ratio", np.concatenate([[0.0], np.geomspace(0.01, 100, 40)]), 1),
        ("engagement_decline", np.linspace(0, 0.99, 41), 1),
    ],
)
def test_score_is_monotone_in_each_indicator(column, values, direction):
    rng = np.random.default_rng(7)
    for _ in range(5):
        weights = ChurnWeights(**dict(zip(("p_alive", "recency", "engagement"),
                                          rng.uniform(0.05, 1, 3), strict=True)))
        params = ChurnParams(weights=weights)
        scored = apply_status_rules(_indicators(len(values), **{column: values}), params=params)
        steps = np.diff(scored["score"].to_numpy()) * direction
        assert (steps >= -1e-12).all()
        assert (steps.sum()) > 0
        assert scored["score"].between(0, 1).all()
        # statuses never improve as the indicator worsens
        codes = scored["status"].cat.codes.to_numpy()
        assert (np.diff(codes) * direction >= 0).all()


def test_score_of_missing_engagement_uses_the_other_weights():
    frame = _indicators(2, engagement_decline=[np.nan, 0.0])
    scored = apply_status_rules(frame, params=PARAMS)
    c_p, c_r = 0.5, 1 / (1 + 2**3)
    assert scored["score"].iloc[0] == pytest.approx((0.5 * c_p + 0.3 * c_r) / 0.8)
    assert scored["score"].iloc[1] == pytest.approx(0.5 * c_p + 0.3 * c_r)


def test_params_validation():
    with pytest.raises(ValueError, match="must not exceed churned_cutoff"):
        ChurnParams(churned_cutoff=0.3, at_risk_cutoff=0.5)
    with pytest.raises(ValueError, match="at least one churn weight"):
        ChurnWeights(p_alive=0, recency=0, engagement=0)
    with pytest.raises(ValueError, match="extra"):
        ChurnParams(threshold_days=180)


# --- fitting -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 4000
    ages = rng.integers(100, 900, n).astype(float)
    sim = simulate_bgnbd(n, T=ages, r=0.6, alpha=40.0, a=0.7, b=2.8, random_state=5)
    rows = []
    for f, rc, t in zip(sim["frequency"], sim["recency"], sim["T"], strict=True):
        rc = float(np.floor(rc))
        rows.append({"purchase_days": int(f) + 1, "frequency": int(f), "recency": rc, "T": t,
                     "recency_days": t - rc, "tenure_days": t + 20,
                     "gap": rc / f if f >= 2 else 45.0,
                     "engagement_90": int(rng.integers(0, 3)),
                     "engagement_prev_90": int(rng.integers(0, 3))})
    rows += [{"purchase_days": 0, "tenure_days": 50}, {"purchase_days": 0, "tenure_days": 300}]
    return _snap(rows)


def test_scorer_fits_bgnbd_on_buyers(simulated):
    scorer = ChurnScorer(ChurnParams(time_unit="days")).fit(simulated)
    assert scorer.n_customers_ == len(simulated) - 2
    assert scorer.month_ == "2024-06"
    assert scorer.bgnbd_.params_["r"] == pytest.approx(0.6, rel=0.3)
    summary = scorer.summary
    assert summary["parameter"].tolist() == ["r", "alpha", "a", "b"]
    assert {"estimate", "std_error", "time_unit", "n_customers"} <= set(summary.columns)
    assert "ChurnScorer(month='2024-06')" in repr(scorer)
    assert "not fitted" in repr(ChurnScorer())
    scored = scorer.score(simulated)
    assert len(scored) == len(simulated)
    assert scored["customer_id"].tolist() == simulated["customer_id"].tolist()
    # same inputs, same outputs
    again = score_churn(simulated, params=ChurnParams(time_unit="days"))
    pd.testing.assert_frame_equal(scored, again)
    # a scorer fitted once scores another frame with the same model
    reused = score_churn(simulated.iloc[:10], params=ChurnParams(time_unit="days"), model=scorer)
    np.testing.assert_allclose(reused["p_alive"], scored["p_alive"].iloc[:10])


def test_scorer_errors(simulated):
    with pytest.raises(RuntimeError, match="not fitted"):
        ChurnScorer().score(simulated)
    with pytest.raises(ValueError, match="no customer with a purchase"):
        ChurnScorer().fit(simulated[simulated["purchase_days"] == 0])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['recency_ratio'\]"):
        ChurnScorer().fit(simulated.drop(columns="recency_ratio"))
    with pytest.raises(TypeError, match="ChurnScorer or a BGNBD"):
        score_churn(simulated, params=PARAMS, model="weeks")


# --- summaries ---------------------------------------------------------------------------


def test_status_counts(cases):
    counts = status_counts(cases)
    assert counts["status"].astype(str).tolist() == list(STATUSES)
    assert counts.set_index("status")["customers"].astype(int).to_dict() == {
        "new": 2, "active": 2, "at_risk": 0, "churned": 2, "lost": 3}
    assert counts["share"].sum() == pytest.approx(1.0)


def test_status_sensitivity(simulated):
    scored = score_churn(simulated, params=PARAMS)
    cut = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    table = status_sensitivity(scored, params=PARAMS, weight_grid={"p_alive": [0.25, 0.5, 1.0]},
                               cutoff_grid={"churned_cutoff": cut})
    assert len(table) == 3 + len(cut)
    assert list(table.columns) == ["parameter", "value", "is_base", *STATUSES, "share_changed"]
    assert (table[list(STATUSES)].sum(axis=1) == len(scored)).all()
    base = table[table["is_base"]]
    assert len(base) == 2 and (base["share_changed"] == 0).all()
    churned = table.loc[table["parameter"] == "churned_cutoff", "churned"].to_numpy()
    assert (np.diff(churned) <= 0).all() and churned[0] > churned[-1]
    default = status_sensitivity(scored, params=PARAMS)
    assert set(default["parameter"]) == {"weights.p_alive", "weights.recency",
                                         "weights.engagement", "churned_cutoff", "at_risk_cutoff"}
    with pytest.raises(ValueError, match="unknown parameter"):
        status_sensitivity(scored, params=PARAMS, weight_grid={"recent": [1.0]})


def test_status_sensitivity_reads_only_the_rule_inputs(simulated):
    scored = score_churn(simulated, params=PARAMS)
    full = status_sensitivity(scored, params=PARAMS)
    # the base row's counts are the scorer's statuses; other columns do not matter
    base = full[full["is_base"]].iloc[0]
    assert base[list(STATUSES)].astype(int).tolist() == (
        scored["status"].value_counts().reindex(list(STATUSES)).astype(int).tolist())
    noisy = scored.assign(score=0.0, status="lost", monetary_365d=-1.0)
    pd.testing.assert_frame_equal(status_sensitivity(noisy, params=PARAMS), full)
    assert "score" in scored and scored["status"].dtype == "category"  # input unchanged


# --- indicator checks --------------------------------------------------------------------


def test_indicator_relevance():
    rng = np.random.default_rng(3)
    n = 400
    inactive = rng.random(n) < 0.4
    scored = pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(n)],
        "p_alive": np.where(inactive, 0.2, 0.8) + rng.normal(0, 0.01, n),  # separates
        "recency_ratio": rng.random(n),  # noise
        "engagement_decline": np.where(inactive, rng.random(n), 0.0),
    })
    # customers absent from future_activity made no purchase
    future = pd.DataFrame({"customer_id": scored["customer_id"][~inactive],
                           "future_purchase_days": 2})
    table = indicator_relevance(scored, future, indicators=("p_alive", "recency_ratio",
                                                            "engagement_decline")).set_index(
        "indicator")
    assert table.loc["p_alive", "auc"] == pytest.approx(1.0)
    assert table.loc["p_alive", "orientation"] == "lower = churn"
    assert table.loc["p_alive", "r_pb"] > 0.9
    noise = table.loc["recency_ratio"]
    assert noise["auc_low"] < 0.5 < noise["auc_high"] and noise["r_low"] < 0 < noise["r_high"]
    assert table.loc["engagement_decline", "auc"] > 0.8
    assert (table["n"] == n).all() and (table["n_inactive"] == inactive.sum()).all()
    flags = pd.DataFrame({"customer_id": scored["customer_id"], "inactive": inactive})
    by_flag = indicator_relevance(scored, flags, indicators=("p_alive",))
    assert by_flag["auc"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both inactive and active"):
        indicator_relevance(scored, flags.assign(inactive=True), indicators=("p_alive",))


def test_indicator_redundancy_flags_collinear_indicators():
    rng = np.random.default_rng(1)
    x1 = rng.normal(size=500)
    frame = pd.DataFrame({"x1": x1, "x2": x1 + rng.normal(0, 0.05, 500),
                          "x3": rng.normal(size=500)})
    result = indicator_redundancy(frame, columns=["x1", "x2", "x3"], method="pearson")
    vif = result.vif.set_index("indicator")["vif"]
    assert vif["x1"] > 100 and vif["x2"] > 100
    assert vif["x3"] == pytest.approx(1.0, abs=0.05)
    assert result.corr.loc["x1", "x2"] > 0.99 and result.corr.shape == (3, 3)
    with pytest.raises(ValueError, match="at least two"):
        indicator_redundancy(frame, columns=["x1"])


def test_indicator_redundancy_defaults_to_score_components(simulated):
    scored = score_churn(simulated, params=PARAMS)
    result = indicator_redundancy(scored)
    assert result.vif["indicator"].tolist() == ["c_p_alive", "c_recency", "c_engagement"]
    assert np.isfinite(result.vif["vif"]).all() and (result.vif["vif"] >= 1).all()


def test_churn_precision_recall():
    status = pd.DataFrame({"customer_id": list("abcdefgh"),
                           "status": ["churned"] * 4 + ["active", "at_risk", "lost", "new"]})
    truth = pd.DataFrame({"customer_id": list("hgfedcbaz"),
                          "truly_churned": [False, True, True, False, False, True, True, True,
                                            True]})
    table = churn_precision_recall(status, truth).set_index("metric")
    assert table.loc["precision", "value"] == pytest.approx(3 / 4)  # a, b, c of a-d
    assert table.loc["recall", "value"] == pytest.approx(3 / 5)  # of a, b, c, f, g
    low, high = proportion_confint(3, 4, method="wilson")
    assert (table.loc["precision", "ci_low"], table.loc["precision", "ci_high"]) == (
        pytest.approx(low), pytest.approx(high))
    wide = churn_precision_recall(status, truth, positive=("churned", "lost"))
    assert wide.set_index("metric").loc["recall", "numerator"] == 4  # a, b, c, g
    with pytest.raises(ValueError, match="lacks 1 customer"):
        churn_precision_recall(status, truth[truth["customer_id"] != "a"])


def test_future_purchases():
    con = duckdb.connect()
    tx = pd.DataFrame({
        "order_id": list("123456"), "customer_id": list("AAABBC"),
        "order_ts": pd.to_datetime(["2024-06-30 23:00", "2024-07-01 01:00", "2024-07-01 05:00",
                                    "2024-09-30 23:59", "2024-10-01 00:00", "2024-08-01 00:00"]),
        "amount": [5.0, 5.0, 6.0, 7.0, 8.0, -3.0], "is_return": [False] * 6,
    })
    con.register("_t", tx)
    con.execute("CREATE TABLE transactions AS SELECT * FROM _t")
    out = future_purchases(con, "2024-06", 3)
    assert out.set_index("customer_id")["future_purchase_days"].to_dict() == {"A": 1, "B": 1}


# --- store -------------------------------------------------------------------------------


def test_write_read_status_replaces_exactly_that_month(cases):
    con = duckdb.connect()
    may = cases.assign(month="2024-05")
    assert write_status(con, "2024-05", may) == len(cases)
    write_status(con, "2024-06", cases)
    write_status(con, "2024-06", cases.iloc[:3])
    back = read_status(con, "2024-06")
    assert back["customer_id"].tolist() == cases["customer_id"].iloc[:3].tolist()
    assert back["status"].dtype == cases["status"].dtype
    assert len(read_status(con, "2024-05")) == len(cases)
    np.testing.assert_allclose(read_status(con, "2024-05")["score"], cases["score"])
    with pytest.raises(ValueError, match="not only 2024-07"):
        write_status(con, "2024-07", cases)
    with pytest.raises(KeyError, match="no rows for 2024-01"):
        read_status(con, "2024-01")


def test_write_read_churn_model(simulated):
    con = duckdb.connect()
    scorer = ChurnScorer().fit(simulated)
    write_churn_model(con, "2024-06", scorer)
    write_churn_model(con, "2024-06", scorer)
    model = read_churn_model(con, "2024-06")
    np.testing.assert_allclose(model.params_, scorer.bgnbd_.params_)
    assert math.isclose(
        score_churn(simulated, params=PARAMS, model=model)["p_alive"].sum(),
        scorer.score(simulated)["p_alive"].sum(), rel_tol=1e-12)
