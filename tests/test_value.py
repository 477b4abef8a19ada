"""Tests for winback.value: future value, necessary/discretionary split, non-monetary index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from winback.clv import BGNBD, simulate_bgnbd, simulate_gamma_gamma
from winback.value import (
    DAYS_PER_MONTH,
    FutureValue,
    ValueInputError,
    nonmonetary_index,
    percentile_rank,
    value_score,
)

TRUE_BG = {"r": 0.8, "alpha": 40.0, "a": 0.7, "b": 3.0}  # alpha in days
TRUE_GG = {"p": 4.0, "q": 5.0, "v": 300.0}
KINDS = ("referral", "review", "community_answer", "campaign_participation",
         "survey_response", "suggestion")


def make_snapshot(n: int = 1500, seed: int = 7) -> pd.DataFrame:
    """A snapshot-shaped frame simulated from known BG/NBD and Gamma-Gamma parameters."""
    rng = np.random.default_rng(seed)
    ages = rng.uniform(30, 720, n).round()
    sim = simulate_bgnbd(n, ages, random_state=seed, **TRUE_BG)
    m = np.asarray(simulate_gamma_gamma(sim["frequency"].to_numpy(), random_state=seed + 1,
                                        **TRUE_GG))
    snap = pd.DataFrame({
        "month": "2024-06",
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "purchase_days": sim["frequency"] + 1,
        "frequency": sim["frequency"],
        "recency": sim["recency"].round(),
        "T": sim["T"],
        "monetary_value": np.where(sim["frequency"] > 0, m, np.nan),
    })
    spend = np.where(sim["frequency"] > 0, m * snap["purchase_days"], rng.uniform(20, 200, n))
    share = rng.uniform(0, 1, n)
    snap["necessary_spend_365"] = spend * share * 0.5
    snap["discretionary_spend_365"] = spend * (1 - share) * 0.5
    snap["necessary_spend"] = spend * share
    snap["discretionary_spend"] = spend * (1 - share)
    for kind in KINDS:
        snap[f"eng_{kind}_365"] = rng.poisson(0.3, n).astype("int32")
    return snap


@pytest.fixture(scope="module")
def snapshot() -> pd.DataFrame:
    return make_snapshot()


@pytest.fixture(scope="module")
def fitted(snapshot) -> FutureValue:
    return FutureValue(horizon_months=12).fit(snapshot)


def bgnbd_by_hand(t, x, tx, T, r, alpha, a, b):
    """Fader, Hardie & Lee (2005) eq. 10, written out directly with the hypergeometric series."""
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(
        r + x, b + x, a + b + x - 1, z)
    dead = (a / (b + x - 1)) * ((alpha + T) / (alpha + tx)) ** (r + x) if x > 0 else 0.0
    return head * body / (1 + dead)


# --- future value -------------------------------------------------------------------------


def test_future_value_is_the_product_of_the_two_conditional_expectations(fitted, snapshot):
    pred = fitted.predict(snapshot)
    r, alpha, a, b = fitted.bgnbd_.params_
    p, q, v = fitted.gamma_gamma_.params_
    horizon = 12 * 365.25 / 12
    buyers = snapshot.index[snapshot["frequency"] > 0][:4].tolist()
    single = snapshot.index[snapshot["frequency"] == 0][:2].tolist()
    for i in buyers + single:
        row = snapshot.loc[i]
        x, tx, T = float(row["frequency"]), float(row["recency"]), float(row["T"])
        count = bgnbd_by_hand(horizon, x, tx, T, r, alpha, a, b)
        m = row["monetary_value"] if x > 0 else 0.0
        spend = p * (v + x * m) / (p * x + q - 1)
        assert pred.loc[i, "expected_transactions"] == pytest.approx(count, rel=1e-8)
        assert pred.loc[i, "expected_spend"] == pytest.approx(spend, rel=1e-10)
        assert pred.loc[i, "future_value"] == pytest.approx(count * spend, rel=1e-8)


def test_given_bgnbd_is_used_not_refitted(snapshot):
    known = BGNBD.from_params(**TRUE_BG)
    fv = FutureValue(horizon_months=6).fit(snapshot, bgnbd=known)
    assert fv.bgnbd_ is known and fv.bgnbd_source_ == "given"
    pred = fv.predict(snapshot)
    i = snapshot.index[snapshot["frequency"] == 3][0]
    row = snapshot.loc[i]
    expected = bgnbd_by_hand(6 * DAYS_PER_MONTH, 3.0, row["recency"], row["T"], **TRUE_BG)
    assert pred.loc[i, "expected_transactions"] == pytest.approx(expected, rel=1e-8)


def test_fitted_models_are_close_to_the_simulated_truth(fitted):
    # the parameter recovery itself is tested in test_clv; here the value stage feeds days
    assert fitted.bgnbd_source_ == "fitted"
    assert fitted.gamma_gamma_.params_["p"] == pytest.approx(TRUE_GG["p"], rel=0.5)
    assert fitted.bgnbd_.params_["alpha"] == pytest.approx(TRUE_BG["alpha"], rel=0.5)


def test_discounting_lowers_future_value_but_not_counts(snapshot, fitted):
    plain = fitted.predict(snapshot)
    disc = FutureValue(horizon_months=12, discount_rate=0.01).fit(
        snapshot, bgnbd=fitted.bgnbd_).predict(snapshot)
    buyers = plain["future_value"] > 0
    assert (disc.loc[buyers, "future_value"] < plain.loc[buyers, "future_value"]).all()
    assert np.allclose(disc["expected_transactions"], plain["expected_transactions"])
    ratio = disc.loc[buyers, "future_value"] / plain.loc[buyers, "future_value"]
    assert ratio.between(1.01 ** -12, 1.01 ** -1).all()


def test_customers_without_a_purchase_have_zero_future_value(snapshot, fitted):
    snap = snapshot.copy()
    snap.loc[:9, ["purchase_days", "frequency"]] = 0
    snap.loc[:9, ["recency", "T", "monetary_value"]] = np.nan
    pred = fitted.predict(snap)
    p, q, v = fitted.gamma_gamma_.params_
    assert (pred.loc[:9, "future_value"] == 0).all()
    assert (pred.loc[:9, "expected_transactions"] == 0).all()
    assert pred.loc[:9, "p_alive"].isna().all()
    assert pred.loc[:9, "expected_spend"].to_numpy() == pytest.approx(p * v / (q - 1))


def test_fully_refunded_repeat_customers_are_left_out_of_the_fit_and_scored(snapshot):
    snap = snapshot.copy()
    rows = snap.index[snap["frequency"] > 2][:3]
    snap.loc[rows, "monetary_value"] = [0.0, -5.0, 0.0]
    fv = FutureValue().fit(snap)
    assert fv.n_nonpositive_ == 3
    pred = fv.predict(snap)
    p, q, v = fv.gamma_gamma_.params_
    x = snap.loc[rows, "frequency"].to_numpy()
    expected = p * (v + x * 0.01) / (p * x + q - 1)
    assert pred.loc[rows, "expected_spend"].to_numpy() == pytest.approx(expected)
    assert (pred.loc[rows, "expected_spend"] < p * v / (q - 1)).all()


def test_prediction_keeps_the_snapshot_index_and_order(snapshot, fitted):
    shuffled = snapshot.sample(frac=1.0, random_state=3)
    pred = fitted.predict(shuffled)
    assert pred.index.equals(shuffled.index)
    assert (pred["customer_id"].to_numpy() == shuffled["customer_id"].to_numpy()).all()
    straight = fitted.predict(snapshot).loc[shuffled.index]
    assert np.allclose(pred["future_value"], straight["future_value"])


def test_summary_and_notes(fitted):
    table = fitted.summary
    assert list(table["model"].unique()) == ["BG/NBD", "Gamma-Gamma"]
    assert set(table["parameter"]) == {"r", "alpha", "a", "b", "p", "q", "v"}
    assert {"estimate", "std_error", "ci_lower", "ci_upper"} <= set(table.columns)
    notes = fitted.fit_notes()
    assert "horizon" in notes["item"].tolist()
    assert "1500 customers" in repr(fitted).replace(",", "")


def test_errors_name_the_problem(snapshot):
    with pytest.raises(ValueInputError, match="monetary_value"):
        FutureValue().fit(snapshot.drop(columns="monetary_value"))
    bad = snapshot.copy()
    bad.loc[bad.index[bad["frequency"] > 0][0], "T"] = np.nan
    with pytest.raises(ValueInputError, match="'T'.*C0"):
        FutureValue().fit(bad)
    with pytest.raises(ValueError, match="horizon_months"):
        FutureValue(horizon_months=0).fit(snapshot)
    with pytest.raises(ValueInputError, match="duplicate customer_id"):
        FutureValue().fit(pd.concat([snapshot, snapshot.iloc[:1]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        FutureValue().predict(snapshot)
    none = snapshot.assign(purchase_days=0, frequency=0)
    with pytest.raises(ValueInputError, match="no customer .* has a purchase"):
        FutureValue().fit(none)


# --- necessary / discretionary split -------------------------------------------------------


def test_split_sums_to_the_total(snapshot, fitted):
    pred = fitted.predict(snapshot)
    total = pred["future_value_necessary"] + pred["future_value_discretionary"]
    assert np.allclose(total, pred["future_value"], rtol=0, atol=1e-9)
    assert (pred["future_value_necessary"] >= 0).all()
    assert (pred["future_value_discretionary"] >= 0).all()


def test_split_uses_own_365_then_lifetime_then_population_share(fitted):
    snap = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "necessary_spend_365": [30.0, 0.0, 0.0, 150.0],
        "discretionary_spend_365": [70.0, 0.0, 0.0, -20.0],   # d: refunds exceed purchases
        "necessary_spend": [99.0, 10.0, 0.0, 150.0],
        "discretionary_spend": [1.0, 30.0, 0.0, -20.0],
    })
    fv = FutureValue()
    fv.gamma_gamma_ = fitted.gamma_gamma_
    fv.population_necessary_share_ = fv._population_share(snap)
    split = fv.necessary_share(snap)
    # population: sum over 365 days (30 + 150) / (30 + 70 + 150 - 20) = 180 / 230
    assert fv.population_necessary_share_ == pytest.approx(180 / 230)
    assert split["necessary_share"].tolist() == pytest.approx([0.3, 0.25, 180 / 230, 1.0])
    assert split["share_source"].tolist() == ["own_365", "own_lifetime", "population", "own_365"]


def test_split_without_categories_is_unknown_and_warns(snapshot, fitted):
    snap = snapshot.assign(necessary_spend_365=0.0, discretionary_spend_365=0.0,
                           necessary_spend=0.0, discretionary_spend=0.0)
    fv = FutureValue().fit(snap, bgnbd=fitted.bgnbd_)
    with pytest.warns(UserWarning, match="necessary/discretionary split"):
        pred = fv.predict(snap)
    assert pred["future_value_necessary"].isna().all()
    assert pred["future_value"].notna().all()


# --- non-monetary index and value score ----------------------------------------------------


def test_nonmonetary_index_is_the_weighted_capped_sum():
    snap = pd.DataFrame({
        "customer_id": ["a", "b", "c"],
        "eng_referral_365": [1, 0, 0],
        "eng_review_365": [2, 30, 0],
        "eng_suggestion_365": [0, 1, 0],
    })
    weights = {"referral": 5.0, "review": 1.0, "suggestion": 2.0}
    idx = nonmonetary_index(snap, weights=weights, cap=12)
    assert idx.tolist() == [5 + 2, 12 + 2, 0]
    assert nonmonetary_index(snap, weights=weights, cap=None).tolist() == [7, 32, 0]
    # a kind without weight does not count
    assert nonmonetary_index(snap, weights={"referral": 1.0}).tolist() == [1, 0, 0]


def test_nonmonetary_index_errors():
    snap = pd.DataFrame({"customer_id": ["a"], "eng_review_365": [1]})
    with pytest.raises(ValueInputError, match="eng_referral_365"):
        nonmonetary_index(snap, weights={"referral": 1.0})
    with pytest.raises(ValueError, match="weights"):
        nonmonetary_index(snap, weights={"review": -1.0})
    bad = snap.assign(eng_review_365=[-1])
    with pytest.raises(ValueInputError, match="eng_review_365.*'a'"):
        nonmonetary_index(bad, weights={"review": 1.0})


def test_percentile_rank_averages_ties():
    ranks = percentile_rank(np.array([10.0, 0.0, 0.0, 5.0]))
    assert ranks.tolist() == pytest.approx([1.0, 0.375, 0.375, 0.75])
    s = pd.Series([3.0, 1.0], index=["x", "y"])
    assert percentile_rank(s).to_dict() == {"x": 1.0, "y": 0.5}
    with pytest.raises(ValueError, match="missing"):
        percentile_rank([1.0, np.nan])


def test_value_score_blends_ranks_with_the_weight():
    fv = pd.Series([100.0, 50.0, 0.0, 0.0])
    nm = pd.Series([0.0, 0.0, 3.0, 0.0])
    score = value_score(fv, nm, nonmonetary_weight=0.25)
    pct_fv = np.array([1.0, 0.75, 0.375, 0.375])
    pct_nm = np.array([0.5, 0.5, 1.0, 0.5])
    assert score.tolist() == pytest.approx(list(0.75 * pct_fv + 0.25 * pct_nm))
    assert value_score(fv, nm, nonmonetary_weight=0).tolist() == pytest.approx(list(pct_fv))
    with pytest.raises(ValueError, match="nonmonetary_weight"):
        value_score(fv, nm, nonmonetary_weight=1.5)


def test_fit_notes_in_chinese_keep_the_numbers(fitted):
    en, zh = fitted.fit_notes(), fitted.fit_notes("zh")
    assert en["item"].tolist()[:3] == ["horizon", "discount rate per month", "BG/NBD model"]
    assert en["value"].iloc[0] == f"12 months ({fitted.horizon_days:.1f} days)"
    assert zh["item"].tolist()[:3] == ["预测期", "月折现率", "BG/NBD 模型"]
    assert zh["value"].iloc[0] == f"12 个月 ({fitted.horizon_days:.1f} 天)"
    assert zh["value"].iloc[2] == f"本阶段拟合 ({fitted.n_buyers_:,} 位有购买的客户)"
    assert zh["value"].iloc[4:].tolist() == en["value"].iloc[4:].tolist()  # numbers as computed


def test_describe_in_chinese_and_english(fitted):
    n, buyers, repeat = fitted.n_customers_, fitted.n_buyers_, fitted.n_repeat_
    assert fitted.describe("zh") == (
        f"未来 12 个月的预测价值 (月折现率 0)：{n:,} 位客户，其中 {buyers:,} 位有购买、{repeat:,} 位"
        "重复购买；BG/NBD 模型本阶段拟合。")
    assert fitted.describe() == (
        f"Predicted value over the next 12 months (discount rate 0 a month): {n:,} customers, "
        f"{buyers:,} with a purchase, {repeat:,} repeat; BG/NBD model fitted.")
