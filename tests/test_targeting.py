"""Tests for winback.targeting: knapsack vs brute force, budgets per tier, marginal curves."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winback.targeting import (
    TargetingError,
    _fixed_by_bounds,
    budget_curve,
    budget_for,
    budget_summary,
    knapsack_exact,
    knapsack_greedy,
    lp_bound,
    select_targets,
    select_within_budget,
    shadow_price,
)


def brute_force(v, c, budget) -> float:
    best = 0.0
    for k in range(len(v) + 1):
        for combo in itertools.combinations(range(len(v)), k):
            idx = list(combo)
            if c[idx].sum() <= budget + 1e-9:
                best = max(best, float(v[idx].sum()))
    return best


# values and costs in cents, as money is
cents = st.integers(-2_000, 10_000).map(lambda x: x / 100)
costs = st.integers(0, 4_000).map(lambda x: x / 100)
items = st.lists(st.tuples(cents, costs), min_size=0, max_size=9)


@settings(max_examples=60, deadline=None)
@given(items=items, budget=st.integers(0, 15_000).map(lambda x: x / 100))
def test_exact_matches_brute_force_and_greedy_is_within_one_item(items, budget):
    v = np.array([x[0] for x in items], dtype=float)
    c = np.array([x[1] for x in items], dtype=float)
    best = brute_force(v, c, budget)
    exact = knapsack_exact(v, c, budget)
    greedy = knapsack_greedy(v, c, budget)
    for mask in (exact, greedy):
        assert c[mask].sum() <= budget + 1e-6
        assert (v[mask] > 0).all()  # a candidate worth nothing is never contacted
    assert v[exact].sum() == pytest.approx(best, abs=1e-6)
    bound = lp_bound(v, c, budget)
    assert bound >= best - 1e-6
    top = v.max(initial=0.0)
    assert v[greedy].sum() >= bound - top - 1e-6  # the optimality note of the module doc


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(1, 5_000).map(lambda x: x / 100), st.integers(1, 900)),
        min_size=1,
        max_size=9,
    ),
    budget=st.integers(0, 3_000).map(lambda x: x / 100),
    slack=st.integers(0, 2_000).map(lambda x: x / 100),
)
def test_bound_fixing_keeps_every_selection_worth_the_lower_value(items, budget, slack):
    v = np.array([x[0] for x in items], dtype=float)
    c = np.array([x[1] for x in items], dtype=float) / 100
    fits = c <= budget
    v, c = v[fits], c[fits]
    best = brute_force(v, c, budget)
    lower = max(best - slack, 0.0)
    fixed = _fixed_by_bounds(v, c, budget, lower)
    if fixed is None:
        assert c.sum() <= budget + 1e-6
        return
    out, keep = fixed
    assert not (out & keep).any()
    for k in range(len(v) + 1):
        for combo in itertools.combinations(range(len(v)), k):
            take = np.zeros(len(v), bool)
            take[list(combo)] = True
            if c[take].sum() <= budget + 1e-9 and v[take].sum() >= lower:
                assert not take[out].any()  # an item left out by the bounds is in none
                assert take[keep].all()  # an item kept by the bounds is in every one


def test_exact_with_bound_fixing_matches_the_whole_problem_solved():
    from scipy.optimize import Bounds, LinearConstraint, milp

    rng = np.random.default_rng(7)
    for budget in (40.0, 150.0, 600.0):
        v = np.round(rng.gamma(2.0, 20.0, 400), 2)
        c = np.round(rng.uniform(1.0, 12.0, 400), 2)
        res = milp(
            c=-v,
            constraints=LinearConstraint(c[None, :], -np.inf, budget),
            integrality=np.ones(v.size),
            bounds=Bounds(0, 1),
            options={"mip_rel_gap": 0.0},
        )
        whole = np.round(res.x).astype(bool)
        mask = knapsack_exact(v, c, budget)
        assert mask.tolist() == whole.tolist()
        assert c[mask].sum() <= budget + 1e-6


def test_known_small_case_where_greedy_is_not_optimal():
    v, c = np.array([60.0, 100.0, 120.0]), np.array([10.0, 20.0, 30.0])
    assert knapsack_exact(v, c, 50).tolist() == [False, True, True]  # 220
    assert knapsack_greedy(v, c, 50).tolist() == [True, True, False]  # 160 (ratio order)
    assert lp_bound(v, c, 50) == pytest.approx(60 + 100 + 120 * 20 / 30)
    mask, used = select_within_budget(v, c, 50, method="auto", exact_max_n=2)
    assert used == "greedy" and mask.tolist() == [True, True, False]
    mask, used = select_within_budget(v, c, 50, method="auto", exact_max_n=3)
    assert used == "exact" and mask.tolist() == [False, True, True]


def test_shadow_price_is_the_frontier_slope_at_the_budget():
    v, c = np.array([60.0, 100.0, 120.0, -5.0]), np.array([10.0, 20.0, 30.0, 1.0])
    assert shadow_price(v, c, 5) == 6.0
    assert shadow_price(v, c, 29) == 5.0
    assert shadow_price(v, c, 30) == 4.0
    assert shadow_price(v, c, 60) == 0.0


def test_free_positive_candidates_are_always_taken_and_bad_input_refused():
    assert knapsack_exact([5.0, 1.0], [0.0, 10.0], 0.0).tolist() == [True, False]
    assert knapsack_greedy([5.0, -1.0], [0.0, 0.0], 0.0).tolist() == [True, False]
    with pytest.raises(TargetingError, match="costs must be >= 0"):
        knapsack_greedy([1.0], [-1.0], 10)
    with pytest.raises(TargetingError, match="finite"):
        knapsack_greedy([np.nan], [1.0], 10)
    with pytest.raises(TargetingError, match="budget must be"):
        select_within_budget([1.0], [1.0], -5)
    with pytest.raises(TargetingError, match="method"):
        select_within_budget([1.0], [1.0], 5, method="best")


def frame():
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "tier": ["1", "1", "1", "2", "2", "3"],
            "expected_value": [60.0, 100.0, 120.0, 10.0, -3.0, 8.0],
            "cost": [10.0, 20.0, 30.0, 5.0, 1.0, 4.0],
        }
    )


def test_budget_for_tier_and_wildcard():
    assert budget_for("1", {"1": 5.0, "*": 1.0}) == 5.0
    assert budget_for("7", {"1": 5.0, "*": 1.0}) == 1.0
    with pytest.raises(TargetingError, match="no budget for tier '2'"):
        budget_for("2", {"1": 5.0})


def test_select_targets_per_tier_and_summary():
    out = select_targets(frame(), {"1": 50.0, "2": 100.0, "*": 3.0}, method="exact")
    assert out["selected"].tolist() == [False, True, True, True, False, False]
    assert out["ratio_rank"].tolist()[:4] == [1, 2, 3, 1]
    assert pd.isna(out["ratio_rank"].iloc[4])
    summary = budget_summary(out, {"1": 50.0, "2": 100.0, "*": 3.0})
    t1 = summary.loc["1"]
    assert (t1["selected"], t1["cost"], t1["expected_value"]) == (2, 50.0, 220.0)
    assert t1["next_ev_per_unit"] == pytest.approx(4.0)  # c (120 / 30) crosses the budget
    assert t1["gap"] == pytest.approx(60 + 100 + 120 * 20 / 30 - 220)
    assert t1["ev_of_extra"] == pytest.approx(0.0)  # 55 buys nothing more than 50 does
    assert t1["budget_to_take_all"] == 60.0
    t2 = summary.loc["2"]
    assert (t2["positive_ev"], t2["selected"], t2["next_ev_per_unit"], t2["unspent"]) == (
        1,
        1,
        0.0,
        95.0,
    )
    t3 = summary.loc["3"]
    assert (t3["selected"], t3["next_ev_per_unit"]) == (0, 2.0)
    assert t3["ev_of_extra"] == pytest.approx(0.0)


def test_budget_curve_is_the_ratio_ordered_frontier():
    curve = budget_curve(frame())
    t1 = curve[curve["tier"] == "1"]
    assert t1["customer_id"].tolist() == ["a", "b", "c"]
    assert t1["cum_cost"].tolist() == [10.0, 30.0, 60.0]
    assert t1["cum_ev"].tolist() == [60.0, 160.0, 280.0]
    assert t1["ev_per_unit"].tolist() == [6.0, 5.0, 4.0]
    assert "e" not in set(curve["customer_id"])  # negative value: not on the curve
    assert (curve.groupby("tier")["ev_per_unit"].diff().dropna() <= 0).all()


def test_select_targets_is_deterministic_and_keeps_input():
    f = frame()
    a = select_targets(f, {"*": 40.0}, method="greedy")
    b = select_targets(f.iloc[::-1], {"*": 40.0}, method="greedy").sort_values("customer_id")
    assert a["selected"].tolist() == b["selected"].tolist()
    assert "selected" not in f.columns
    with pytest.raises(TargetingError, match="lack column"):
        select_targets(f.drop(columns="cost"), {"*": 1.0})


def test_budget_summary_lists_tiers_without_candidates():
    out = select_targets(frame(), {"*": 40.0}, method="greedy")
    summary = budget_summary(out, {"*": 40.0}, tiers=["1", "2", "3", "4"])
    assert summary.index.tolist() == ["1", "2", "3", "4"]
    assert summary.loc["4", ["candidates", "selected", "cost"]].tolist() == [0, 0, 0.0]
    assert summary.loc["4", "unspent"] == 40.0
