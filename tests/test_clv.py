"""Tests for winback.clv: BG/NBD and Gamma-Gamma maximum-likelihood fitters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winback.clv import BGNBD, GammaGamma, simulate_bgnbd, simulate_gamma_gamma

DATA = Path(__file__).parent / "data"

# Fader, Hardie & Lee (2005) estimates on the CDNOW calibration data (weeks)
CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader & Hardie (2013) estimates on the 946 CDNOW repeat customers (USD)
CDNOW_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def _two_sig(value: float) -> str:
    return f"{value:.2g}"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "cdnow_summary.csv", dtype={"customer_id": str})
    return frame.set_index("customer_id")


@pytest.fixture(scope="module")
def cdnow_model(cdnow) -> BGNBD:
    return BGNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def known() -> BGNBD:
    return BGNBD.from_params(**CDNOW_BGNBD)


# --- published estimates ---------------------------------------------------------------


def test_cdnow_summary_is_the_published_sample(cdnow):
    assert len(cdnow) == 2357
    assert (cdnow["frequency"] > 0).sum() == 946
    assert cdnow["T"].max() == pytest.approx(38.86)


def test_bgnbd_reproduces_published_cdnow_estimates(cdnow_model):
    model = cdnow_model
    assert model.converged_
    assert model.n_customers_ == 2357
    for name, published in CDNOW_BGNBD.items():
        assert _two_sig(model.params_[name]) == _two_sig(published), name
        assert model.params_[name] == pytest.approx(published, rel=2e-3), name
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_bgnbd_cdnow_conditional_expectation_of_the_papers_example(cdnow_model):
    # Fader, Hardie & Lee (2005): x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in 39 weeks
    expected = cdnow_model.conditional_expected_transactions(39.0, 2, 30.43, 38.86)
    assert expected == pytest.approx(1.226, abs=1e-3)


def test_gamma_gamma_reproduces_published_cdnow_estimates(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    model = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    assert model.converged_
    assert model.n_customers_ == 946
    for name, published in CDNOW_GG.items():
        assert _two_sig(model.params_[name]) == _two_sig(published), name
        assert model.params_[name] == pytest.approx(published, rel=2e-3), name


# --- parameter recovery ------------------------------------------------------------------


def test_bgnbd_recovers_simulated_parameters():
    truth = {"r": 0.6, "alpha": 12.0, "a": 0.9, "b": 2.5}
    rng = np.random.default_rng(11)
    ages = rng.uniform(20.0, 80.0, 30_000)
    data = simulate_bgnbd(30_000, ages, random_state=12, **truth)
    model = BGNBD().fit(data["frequency"], data["recency"], data["T"])
    assert model.converged_
    table = model.summary
    z = (table["estimate"] - pd.Series(truth)) / table["std_error"]
    assert (z.abs() < 3).all(), z
    inside = (table["ci_lower"] <= pd.Series(truth)) & (pd.Series(truth) <= table["ci_upper"])
    assert inside.sum() >= 3, table


def test_gamma_gamma_recovers_simulated_parameters():
    truth = {"p": 4.0, "q": 3.0, "v": 20.0}
    counts = simulate_bgnbd(60_000, 60.0, 0.6, 12.0, 0.9, 2.5, random_state=21)["frequency"]
    counts = counts[counts > 0].reset_index(drop=True)
    assert len(counts) > 20_000
    spend = simulate_gamma_gamma(counts, random_state=22, **truth)
    model = GammaGamma().fit(counts, spend)
    assert model.converged_
    table = model.summary
    z = (table["estimate"] - pd.Series(truth)) / table["std_error"]
    assert (z.abs() < 3).all(), z
    inside = (table["ci_lower"] <= pd.Series(truth)) & (pd.Series(truth) <= table["ci_upper"])
    assert inside.sum() >= 2, table


# --- compression and weights -------------------------------------------------------------


def test_compressed_fit_equals_row_by_row_fit():
    data = simulate_bgnbd(4000, 52.0, 0.5, 6.0, 0.8, 2.5, random_state=3)
    data["recency"] = np.floor(data["recency"])  # whole weeks: many repeated rows
    assert data.drop_duplicates().shape[0] < len(data) / 5
    args = (data["frequency"], data["recency"], data["T"])
    packed = BGNBD().fit(*args)
    rows = BGNBD().fit(*args, weights=np.ones(len(data)), compress=False)
    np.testing.assert_allclose(packed.params_, rows.params_, rtol=1e-6)
    np.testing.assert_allclose(packed.standard_errors_, rows.standard_errors_, rtol=1e-4)
    assert packed.log_likelihood_ == pytest.approx(rows.log_likelihood_, rel=1e-10)


def test_gamma_gamma_compressed_fit_equals_row_by_row_fit():
    counts = np.repeat([1, 2, 3, 5], 500)
    spend = np.round(simulate_gamma_gamma(counts, 5.0, 3.0, 10.0, random_state=4))
    packed = GammaGamma().fit(counts, spend)
    rows = GammaGamma().fit(counts, spend, compress=False)
    np.testing.assert_allclose(packed.params_, rows.params_, rtol=1e-6)


def test_weights_count_as_repeated_customers(cdnow):
    head = cdnow.iloc[:800]
    weights = np.tile([1.0, 2.0, 3.0, 0.0], 200)
    weighted = BGNBD().fit(head["frequency"], head["recency"], head["T"], weights=weights)
    repeated = head.loc[head.index.repeat(weights.astype(int))]
    expanded = BGNBD().fit(repeated["frequency"], repeated["recency"], repeated["T"])
    np.testing.assert_allclose(weighted.params_, expanded.params_, rtol=1e-6)
    assert weighted.n_customers_ == len(repeated)


def test_penalizer_shrinks_parameters(cdnow):
    plain = BGNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    shrunk = BGNBD(penalizer=0.1).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert shrunk.params_["alpha"] < plain.params_["alpha"]
    assert shrunk.log_likelihood_ < plain.log_likelihood_


def test_fit_is_deterministic_and_independent_of_row_order(cdnow):
    first = BGNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    again = BGNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    pd.testing.assert_series_equal(first.params_, again.params_)
    shuffled = cdnow.sample(frac=1.0, random_state=5)
    other = BGNBD().fit(shuffled["frequency"], shuffled["recency"], shuffled["T"])
    np.testing.assert_allclose(first.params_, other.params_, rtol=1e-9)


# --- closed forms ------------------------------------------------------------------------


def test_p_alive_is_one_without_repeat_purchases(known):
    alive = known.p_alive([0, 0, 0], [0.0, 0.0, 0.0], [0.0, 10.0, 1000.0])
    np.testing.assert_array_equal(alive, 1.0)


def test_p_alive_decreases_with_age_and_keeps_the_index(known):
    ages = pd.Series([10.0, 20.0, 40.0, 80.0], index=["c1", "c2", "c3", "c4"])
    alive = known.p_alive(pd.Series(3, index=ages.index), pd.Series(9.0, index=ages.index), ages)
    assert list(alive.index) == ["c1", "c2", "c3", "c4"]
    assert (np.diff(alive.to_numpy()) < 0).all()
    assert ((alive > 0) & (alive < 1)).all()
    # a recent last purchase means more likely alive
    assert known.p_alive(3, 39.0, 40.0) > known.p_alive(3, 5.0, 40.0)


def test_conditional_expectation_matches_monte_carlo(known):
    """Eq. 10 against importance sampling of the individual-level model.

    Draw (lambda, p) from the prior, weight each draw by its likelihood of the
    customer's history, draw whether the customer is still alive, and simulate
    the purchases of the next ``t`` weeks.
    """
    r, alpha, a, b = (CDNOW_BGNBD[k] for k in ("r", "alpha", "a", "b"))
    rng = np.random.default_rng(8)
    draws = 200_000
    lam = rng.gamma(r, 1.0 / alpha, draws)
    p = rng.beta(a, b, draws)
    t = 39.0
    for x, t_x, age in [(0, 0.0, 40.0), (2, 30.43, 38.86), (5, 20.0, 40.0), (8, 38.0, 40.0)]:
        log_alive = x * np.log1p(-p) + x * np.log(lam) - lam * age
        log_like = log_alive
        if x > 0:
            log_dead = np.log(p) + (x - 1) * np.log1p(-p) + x * np.log(lam) - lam * t_x
            log_like = np.logaddexp(log_alive, log_dead)
        weight = np.exp(log_like - log_like.max())
        alive = rng.random(draws) < np.exp(log_alive - log_like)
        future = np.minimum(rng.poisson(lam * t), rng.geometric(p))
        y = np.where(alive, future, 0)
        estimate = weight @ y / weight.sum()
        std_error = np.sqrt(weight**2 @ (y - estimate) ** 2) / weight.sum()
        formula = known.conditional_expected_transactions(t, x, t_x, age)
        assert abs(formula - estimate) < 4 * std_error + 1e-3, (x, t_x, age, formula, estimate)


def test_unconditional_expectation_matches_simulation_mean(known):
    for t, seed in [(10.0, 1), (39.0, 2), (150.0, 3)]:
        data = simulate_bgnbd(200_000, t, random_state=seed, **CDNOW_BGNBD)
        mean = data["frequency"].mean()
        std_error = data["frequency"].std() / np.sqrt(len(data))
        assert abs(known.expected_transactions(t) - mean) < 4 * std_error, t


def test_unconditional_is_conditional_on_a_new_customer(known):
    horizons = np.array([0.0, 1.0, 39.0, 500.0])
    np.testing.assert_allclose(
        known.expected_transactions(horizons),
        known.conditional_expected_transactions(horizons, 0, 0.0, 0.0),
        rtol=1e-12,
    )
    assert known.expected_transactions(0.0) == 0.0


def test_conditional_expectation_is_stable_for_large_histories(known):
    x = np.array([0, 1, 50, 500, 5000])
    t_x = np.array([0.0, 30.0, 38.0, 38.5, 38.8])
    values = known.conditional_expected_transactions(1000.0, x, t_x, np.full(5, 38.86))
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    # a long-gone heavy buyer is expected to buy (almost) nothing
    gone = known.conditional_expected_transactions(52.0, 500, 1.0, 100.0)
    assert 0 <= gone < 1e-6
    # increasing in the horizon
    grid = known.conditional_expected_transactions(np.array([1.0, 10, 100, 1000]), 4, 30.0, 38.86)
    assert (np.diff(grid) > 0).all()


def test_conditional_expectation_is_continuous_through_a_equal_one():
    values = [
        BGNBD.from_params(r=0.5, alpha=5.0, a=a, b=2.0).conditional_expected_transactions(
            52.0, 3, 20.0, 40.0)
        for a in (1.0 - 1e-3, 1.0, 1.0 + 1e-3)
    ]
    assert np.all(np.isfinite(values))
    assert values[1] == pytest.approx((values[0] + values[2]) / 2, rel=1e-5)


def test_simulation_is_seeded(known):
    first = known.sample(500, 30.0, random_state=9, return_latent=True)
    again = known.sample(500, 30.0, random_state=9, return_latent=True)
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns[:3]) == ["frequency", "recency", "T"]
    assert (first["recency"] <= first["T"]).all()
    assert (first.loc[first["frequency"] == 0, "recency"] == 0).all()
    assert (first.loc[~first["alive"], "frequency"] == first.loc[~first["alive"], "dropout_after"]).all()


# --- Gamma-Gamma closed forms and CLV ------------------------------------------------------


def test_expected_average_profit_shrinks_towards_the_population_mean():
    model = GammaGamma.from_params(**CDNOW_GG)
    population = 6.25 * 15.44 / (3.74 - 1)
    values = model.conditional_expected_average_profit([0, 1, 10, 10_000], [np.nan, 20.0, 20.0, 20.0])
    assert values[0] == pytest.approx(population)
    assert values[1] == pytest.approx(6.25 * (15.44 + 20.0) / (6.25 + 3.74 - 1))
    assert population > values[1] > values[2] > values[3] > 20.0
    assert values[3] == pytest.approx(20.0, rel=1e-3)


def test_customer_lifetime_value(known):
    spend = GammaGamma.from_params(**CDNOW_GG)
    customers = pd.DataFrame(
        {"frequency": [0, 2, 8], "recency": [0.0, 30.43, 38.0], "T": [38.86, 38.86, 40.0],
         "monetary_value": [0.0, 25.0, 40.0]},
        index=["a", "b", "c"],
    )
    args = (known, customers["frequency"], customers["recency"], customers["T"],
            customers["monetary_value"])
    plain = spend.customer_lifetime_value(*args, horizon=52.0)
    expected = known.conditional_expected_transactions(
        52.0, customers["frequency"], customers["recency"], customers["T"]
    ) * spend.conditional_expected_average_profit(customers["frequency"],
                                                  customers["monetary_value"])
    pd.testing.assert_series_equal(plain, expected.rename("clv"))
    discounted = spend.customer_lifetime_value(*args, horizon=52.0, discount_rate=0.01,
                                               period=52.0 / 12)
    assert (discounted < plain).all() and (discounted > plain / 1.01**12).all()
    nearly_plain = spend.customer_lifetime_value(*args, horizon=52.0, discount_rate=1e-12,
                                                 period=52.0 / 12)
    np.testing.assert_allclose(nearly_plain, plain, rtol=1e-9)
    # a horizon that is not a whole number of periods ends with a shorter period
    partial = spend.customer_lifetime_value(*args, horizon=10.0, discount_rate=0.5, period=4.0)
    cumulative = [known.conditional_expected_transactions(end, customers["frequency"],
                                                          customers["recency"], customers["T"])
                  for end in (4.0, 8.0, 10.0)]
    by_hand = (cumulative[0] / 1.5 + (cumulative[1] - cumulative[0]) / 1.5**2
               + (cumulative[2] - cumulative[1]) / 1.5**3)
    np.testing.assert_allclose(
        partial, by_hand * spend.conditional_expected_average_profit(
            customers["frequency"], customers["monetary_value"]), rtol=1e-12)
    with pytest.raises(ValueError, match="period"):
        spend.customer_lifetime_value(*args, horizon=52.0, discount_rate=0.01)


# --- summaries ---------------------------------------------------------------------------


def test_summary_and_repr(cdnow_model):
    table = cdnow_model.summary
    assert list(table.columns) == ["estimate", "std_error", "ci_lower", "ci_upper"]
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["std_error"] > 0).all()
    assert (table["ci_lower"] < table["estimate"]).all()
    text = repr(cdnow_model)
    assert "2,357 customers" in text and "r=0.2426" in text and "converged" in text
    assert "not fitted" in repr(BGNBD())


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "pattern"),
    [
        ([1, -1, 2], [1.0, 0.0, 2.0], [5.0, 5.0, 5.0], r"frequency: 1 of 3 rows are negative"),
        ([1, 2, 3], [1.0, 6.0, 7.0], [5.0, 5.0, 5.0], r"recency: 2 of 3 rows are greater than T"),
        ([1.5, 2, 3], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0], r"frequency: 1 of 3 rows are not whole"),
        ([0, 0, 3], [1.0, 0.0, 3.0], [5.0, 5.0, 5.0], r"recency: 1 of 3 rows are non-zero where"),
        ([np.nan, 1, 2], [0.0, 1.0, 2.0], [5.0, 5.0, 5.0], r"frequency: 1 of 3 rows are missing"),
        ([1, 1, 2], [1.0, 1.0, 2.0], [5.0, -5.0, 5.0], r"T: 1 of 3 rows are negative"),
        ([1, 2], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0], r"different lengths"),
    ],
)
def test_bad_rfm_input_is_named(frequency, recency, T, pattern):
    with pytest.raises(ValueError, match=pattern):
        BGNBD().fit(frequency, recency, T)


def test_bad_rows_are_shown_by_customer_id(known):
    frame = pd.DataFrame({"frequency": [1, 2], "recency": [1.0, 9.0], "T": [5.0, 5.0]},
                         index=pd.Index(["c1", "c2"], name="customer_id"))
    with pytest.raises(ValueError, match=r"index labels: c2"):
        known.p_alive(frame["frequency"], frame["recency"], frame["T"])


def test_other_bad_input():
    with pytest.raises(TypeError, match="frequency: expected numbers"):
        BGNBD().fit(pd.Series(["1", "2"]), [1.0, 2.0], [3.0, 3.0])
    with pytest.raises(ValueError, match="weights: 1 of 2 rows are negative"):
        BGNBD().fit([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="weights: 3 values for 2"):
        BGNBD().fit([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="penalizer"):
        BGNBD(penalizer=-1.0).fit([1, 2], [1.0, 2.0], [3.0, 3.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        BGNBD().p_alive(1, 1.0, 2.0)
    with pytest.raises(TypeError, match="random_state"):
        simulate_bgnbd(10, 5.0, 1.0, 1.0, 1.0, 1.0, random_state=None)
    with pytest.raises(ValueError, match="t: 1 of 2 rows are negative"):
        BGNBD.from_params(1.0, 1.0, 1.0, 1.0).conditional_expected_transactions(
            [-1.0, 1.0], 1, 1.0, 2.0)


def test_fit_warns_when_the_data_do_not_identify_the_model():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        model = BGNBD().fit([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 6.0, 7.0])
    assert not model.converged_
    assert "NOT converged" in repr(model)
    with pytest.raises(ValueError, match="no customers to fit"):
        BGNBD().fit([], [], [])


def test_gamma_gamma_bad_input_is_named():
    with pytest.raises(ValueError, match=r"frequency: 1 of 3 rows are 0.*frequency > 0"):
        GammaGamma().fit([0, 1, 2], [0.0, 5.0, 3.0])
    with pytest.raises(ValueError, match=r"monetary_value: 1 of 2 rows are not positive"):
        GammaGamma().fit([1, 2], [-5.0, 3.0])
    with pytest.raises(ValueError, match=r"monetary_value: 1 of 2 rows are missing"):
        GammaGamma.from_params(p=6.0, q=4.0, v=15.0).conditional_expected_average_profit(
            [1, 2], [np.nan, 3.0])
