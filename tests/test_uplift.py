"""Treated-vs-control statistics against closed-form formulas, and interval coverage."""

import math

import numpy as np
import pytest
from scipy import stats

from winback.uplift import (
    Comparison,
    mean_difference,
    proportion_interval,
    rate_difference,
    roi_interval,
    scaled,
)

Z = stats.norm.ppf(0.975)


def _wilson(count, n):
    p = count / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def test_wald_rate_difference_is_the_textbook_formula():
    c = rate_difference(30, 100, 18, 120, method="wald")
    p1, p2 = 0.30, 0.15
    se = math.sqrt(p1 * (1 - p1) / 100 + p2 * (1 - p2) / 120)
    assert c.treated == pytest.approx(0.30) and c.control == pytest.approx(0.15)
    assert c.diff == pytest.approx(0.15)
    assert c.ci_low == pytest.approx(0.15 - Z * se)
    assert c.ci_high == pytest.approx(0.15 + Z * se)
    assert c.p_value == pytest.approx(2 * stats.norm.sf(0.15 / se))
    assert (c.n_treated, c.n_control) == (100, 120)


def test_newcombe_interval_from_the_two_wilson_intervals():
    c = rate_difference(12, 80, 3, 40)
    p1, p2 = 12 / 80, 3 / 40
    l1, u1 = _wilson(12, 80)
    l2, u2 = _wilson(3, 40)
    assert c.ci_low == pytest.approx(p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert c.ci_high == pytest.approx(p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    assert 0 < c.p_value < 1


def test_rates_without_events_give_a_finite_interval():
    c = rate_difference(0, 50, 0, 20)
    assert c.diff == 0 and c.ci_low < 0 < c.ci_high and c.p_value == 1.0
    w = rate_difference(0, 50, 0, 20, method="wald")
    assert w.ci_low == w.ci_high == 0 and w.p_value == 1.0


@pytest.mark.parametrize(
    "args, match",
    [
        ((1, 0, 1, 10), "treated arm is empty"),
        ((11, 10, 1, 10), "outside 0..10"),
        ((1, 10, -1, 10), "control count"),
    ],
)
def test_bad_rate_inputs_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        rate_difference(*args)


def test_unknown_method_and_alpha_are_refused():
    with pytest.raises(ValueError, match="unknown rate interval method"):
        rate_difference(1, 10, 1, 10, method="exact")
    with pytest.raises(ValueError, match="alpha"):
        rate_difference(1, 10, 1, 10, alpha=0.95)


def test_welch_difference_is_the_textbook_formula():
    x_t = np.array([0.0, 10.0, 0.0, 25.0, 40.0, 0.0, 5.0])
    x_c = np.array([0.0, 0.0, 12.0, 0.0, 3.0])
    c = mean_difference(x_t, x_c)
    v1, v2 = x_t.var(ddof=1) / x_t.size, x_c.var(ddof=1) / x_c.size
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (x_t.size - 1) + v2**2 / (x_c.size - 1))
    t = stats.t.ppf(0.975, df)
    diff = x_t.mean() - x_c.mean()
    assert c.diff == pytest.approx(diff)
    assert (c.ci_low, c.ci_high) == pytest.approx((diff - t * se, diff + t * se))
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(diff / se), df))
    # the same as scipy's Welch test
    assert c.p_value == pytest.approx(stats.ttest_ind(x_t, x_c, equal_var=False).pvalue)


def test_welch_without_variance_and_bad_input():
    c = mean_difference([0.0, 0.0, 0.0], [0.0, 0.0])
    assert (c.diff, c.ci_low, c.ci_high, c.p_value) == (0, 0, 0, 1.0)
    with pytest.raises(ValueError, match="needs 2"):
        mean_difference([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        mean_difference([1.0, np.nan], [1.0, 2.0])


def test_scaled_and_roi_are_linear_maps_of_the_interval():
    rev = Comparison(200, 50, 12.0, 7.0, 5.0, 1.0, 9.0, 0.01)
    inc = scaled(rev, 200)
    assert (inc.diff, inc.ci_low, inc.ci_high) == (1000.0, 200.0, 1800.0)
    assert inc.treated == 2400.0 and inc.p_value == 0.01
    assert roi_interval(1000.0, 200.0, 1800.0, 500.0) == (1.0, -0.6, 2.6)
    assert roi_interval(1000.0, 200.0, 1800.0, 500.0, margin=0.5) == (0.0, -0.8, 0.8)
    assert all(math.isnan(v) for v in roi_interval(1000.0, 200.0, 1800.0, 0.0))
    with pytest.raises(ValueError, match="positive"):
        scaled(rev, 0)


def test_proportion_interval_is_wilson():
    assert proportion_interval(7, 40) == pytest.approx(_wilson(7, 40))
    assert all(math.isnan(v) for v in proportion_interval(0, 0))


def _potential_outcomes(rng, n):
    """A population shaped like the demo's campaign truth: p0/p1 per assigned customer.

    Most assigned customers are truly churned (small natural return probability p0, a
    contact adds the reach x win probability); some are in fact still active, and for
    them buying or not in the window is already decided (p0 = p1 = 0 or 1).
    """
    churned = rng.random(n) < 0.8
    p0 = np.where(churned, rng.uniform(0.01, 0.06, n), (rng.random(n) < 0.4).astype(float))
    win = rng.beta(2, 6, n) * 0.6
    p1 = np.where(churned, 1 - (1 - p0) * (1 - win), p0)
    return p0, p1


@pytest.mark.parametrize("method", ["newcomb", "agresti-caffo"])
def test_interval_covers_the_assigned_populations_effect_at_the_nominal_rate(method):
    """Re-randomize the holdout and redraw outcomes; the 95% interval covers the ATE ~95%."""
    rng = np.random.default_rng(20240101)
    n, n_control, reps = 400, 80, 1000
    p0, p1 = _potential_outcomes(rng, n)
    ate = float((p1 - p0).mean())
    hits = 0
    for _ in range(reps):
        control = np.zeros(n, bool)
        control[rng.choice(n, n_control, replace=False)] = True
        y = rng.random(n) < np.where(control, p0, p1)
        c = rate_difference(
            int(y[~control].sum()), n - n_control, int(y[control].sum()), n_control, method=method
        )
        hits += c.covers(ate)
    coverage = hits / reps
    # binomial s.e. of a 95% coverage over 1000 replications is 0.7 points
    assert coverage >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / reps), coverage
