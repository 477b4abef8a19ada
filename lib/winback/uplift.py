"""Treated vs control: differences in rates and means with 95% intervals, and ROI.

A campaign's effect is estimated by intention to treat (ITT): every customer assigned to
treatment counts in the treated arm, whether the call centre reached them or not, and
every held-out customer in the control arm. The difference of the arms' means is
unbiased for the average effect of *assigning* the campaign over the assigned
population when the holdout is random with the same share in every stratum; it is
not the effect on customers who were reached (that would need an instrumental-variable
estimate, since who picks up the phone is not random).

Rates (a 0/1 outcome per customer)
    ``diff = p_t - p_c``. Intervals from :func:`statsmodels.stats.proportion.
    confint_proportions_2indep`; the default ``newcomb`` is Newcombe's hybrid score
    interval (method 10 in Newcombe 1998), which keeps its coverage with few events,
    unlike the Wald interval ``diff +- z sqrt(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c)``;
    ``agresti-caffo`` (add one success and one failure to each arm, then Wald) is the
    other safe choice. p-values from :func:`statsmodels.stats.proportion.
    test_proportions_2indep` (the score test of Miettinen and Nurminen 1985 for
    ``newcomb``).
Means (an amount per customer)
    Welch's unequal-variance t interval and test
    (:class:`statsmodels.stats.weightstats.CompareMeans`, ``usevar="unequal"``):
    ``se = sqrt(s_t^2/n_t + s_c^2/n_c)`` with Welch-Satterthwaite degrees of freedom.
Totals and ROI
    Incremental revenue = ``diff x n_t`` (the treated arm's size is fixed by the design,
    so the interval scales the same way). With a known campaign cost ``C`` and a margin
    ``m`` (share of revenue that is return), ``ROI = (m x incremental - C) / C`` is a
    linear map of the incremental revenue, so its 95% interval is the image of the
    incremental revenue's interval (exact, no delta method or bootstrap needed).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

__all__ = [
    "RATE_METHODS",
    "Comparison",
    "mean_difference",
    "proportion_interval",
    "rate_difference",
    "roi_interval",
    "scaled",
]

# interval method -> test method of statsmodels' two-proportion functions
RATE_METHODS: dict[str, str] = {
    "newcomb": "score",
    "agresti-caffo": "agresti-caffo",
    "wald": "wald",
}


@dataclass(frozen=True)
class Comparison:
    """One treated-vs-control comparison (an evaluations row without its labels).

    ``treated``/``control`` are the arms' means (a rate or an amount per customer),
    ``diff = treated - control`` with its ``1 - alpha`` interval and two-sided p-value.
    """

    n_treated: int
    n_control: int
    treated: float
    control: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def covers(self, value: float) -> bool:
        """Whether the interval contains ``value``."""
        return bool(self.ci_low <= value <= self.ci_high)


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5) (0.05 for 95% intervals), got {alpha!r}")
    return float(alpha)


def rate_difference(
    count_t: int,
    n_t: int,
    count_c: int,
    n_c: int,
    *,
    alpha: float = 0.05,
    method: str = "newcomb",
) -> Comparison:
    """Difference of two independent proportions, treated minus control.

    Parameters
    ----------
    count_t, n_t
        Customers with the outcome and customers in the treated arm.
    count_c, n_c
        The same for the control arm.
    alpha
        1 - confidence level of the interval (0.05 for 95%).
    method
        Interval method: ``newcomb`` (default), ``agresti-caffo`` or ``wald``
        (see the module docstring); the p-value uses the paired test in
        :data:`RATE_METHODS`.

    Returns
    -------
    Comparison
        Rates of both arms, their difference, its interval and p-value. When neither
        arm varies (all 0 or all 1 in both) the test is undefined: the p-value is 1 when
        the rates are equal.

    Raises
    ------
    ValueError
        An arm is empty, a count is outside ``0..n``, or the method is unknown.
    """
    alpha = _check_alpha(alpha)
    if method not in RATE_METHODS:
        raise ValueError(
            f"unknown rate interval method {method!r}; use one of {list(RATE_METHODS)}"
        )
    for name, count, n in (("treated", count_t, n_t), ("control", count_c, n_c)):
        if n < 1:
            raise ValueError(f"the {name} arm is empty (n={n}): a rate needs at least one customer")
        if not 0 <= count <= n:
            raise ValueError(f"{name} count {count} is outside 0..{n}")
    count_t, n_t, count_c, n_c = int(count_t), int(n_t), int(count_c), int(n_c)
    p_t, p_c = count_t / n_t, count_c / n_c
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = confint_proportions_2indep(
            count_t, n_t, count_c, n_c, method=method, compare="diff", alpha=alpha
        )
        test = test_proportions_2indep(
            count_t, n_t, count_c, n_c, method=RATE_METHODS[method], compare="diff"
        )
    p_value = float(test.pvalue)
    if not math.isfinite(p_value):
        p_value = 1.0 if p_t == p_c else 0.0
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)):  # Wald with no variance in either arm
        low = high = p_t - p_c
    return Comparison(n_t, n_c, p_t, p_c, p_t - p_c, low, high, p_value)


def mean_difference(x_t, x_c, *, alpha: float = 0.05) -> Comparison:
    """Difference of two means, treated minus control, with Welch's t interval.

    Parameters
    ----------
    x_t, x_c
        Per-customer values of each arm (e.g. net spend in currency units); NaN is
        not allowed (a customer without purchases has 0).
    alpha
        1 - confidence level (0.05 for 95%).

    Returns
    -------
    Comparison
        Means of both arms, their difference, Welch's interval and p-value. When
        neither arm varies the interval collapses to the difference and the p-value is
        1 when the means are equal (0 otherwise).

    Raises
    ------
    ValueError
        An arm has fewer than two values, or holds NaN.
    """
    alpha = _check_alpha(alpha)
    x_t = np.asarray(x_t, dtype=np.float64)
    x_c = np.asarray(x_c, dtype=np.float64)
    for name, x in (("treated", x_t), ("control", x_c)):
        if x.size < 2:
            raise ValueError(f"the {name} arm has {x.size} value(s); Welch's interval needs 2")
        if not np.isfinite(x).all():
            raise ValueError(f"the {name} arm holds NaN or infinite values; use 0 for no spend")
    m_t, m_c = float(x_t.mean()), float(x_c.mean())
    diff = m_t - m_c
    if x_t.var() == 0 and x_c.var() == 0:
        return Comparison(x_t.size, x_c.size, m_t, m_c, diff, diff, diff, 1.0 if diff == 0 else 0.0)
    cm = CompareMeans(DescrStatsW(x_t), DescrStatsW(x_c))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = cm.tconfint_diff(alpha=alpha, usevar="unequal")
        _, p_value, _ = cm.ttest_ind(usevar="unequal")
    return Comparison(x_t.size, x_c.size, m_t, m_c, diff, float(low), float(high), float(p_value))


def scaled(comparison: Comparison, factor: float) -> Comparison:
    """A comparison with means, difference and interval multiplied by ``factor`` (> 0).

    ``scaled(revenue_per_customer, n_treated)`` is the incremental revenue of the treated
    arm: what it spent minus what the same customers would have spent at the control
    arm's mean.
    """
    if not factor > 0:
        raise ValueError(f"scale factor must be positive, got {factor!r}")
    c = comparison
    return Comparison(
        c.n_treated,
        c.n_control,
        c.treated * factor,
        c.control * factor,
        c.diff * factor,
        c.ci_low * factor,
        c.ci_high * factor,
        c.p_value,
    )


def roi_interval(
    incremental: float, low: float, high: float, cost: float, *, margin: float = 1.0
) -> tuple[float, float, float]:
    """ROI ``(margin x incremental - cost) / cost`` and its interval.

    Parameters
    ----------
    incremental, low, high
        Incremental revenue and its interval (currency units).
    cost
        The campaign's cost (currency units, > 0), known rather than estimated.
    margin
        Share of revenue counted as return (1.0 = revenue itself).

    Returns
    -------
    tuple
        ``(roi, roi_low, roi_high)`` as ratios (0.5 = 50%). NaN for all three when
        ``cost`` is not positive (no ROI without a cost).
    """
    if not (cost > 0 and math.isfinite(cost)):
        return (math.nan, math.nan, math.nan)
    if not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], got {margin!r}")

    def f(x: float) -> float:
        return (margin * x - cost) / cost

    return (f(incremental), f(low), f(high))


def proportion_interval(count: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a single proportion ``count / n`` (NaN when ``n == 0``)."""
    if n <= 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(int(count), int(n), alpha=_check_alpha(alpha), method="wilson")
    # rounding noise of the closed form (e.g. 7e-18 for count == 0) is not information
    return (round(max(float(low), 0.0), 12), round(min(float(high), 1.0), 12))
