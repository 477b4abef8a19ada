"""Budgeted targeting: whom to contact for the largest expected value within each tier's budget.

Per tier, choosing candidates with expected value ``v_i`` and cost ``c_i`` under budget
``B`` is a 0/1 knapsack: maximize ``sum v_i x_i`` subject to ``sum c_i x_i <= B``,
``x_i in {0, 1}``. Candidates with ``v_i <= 0`` are never worth contacting and are left
out; candidates with ``v_i > 0`` and ``c_i == 0`` are always taken.

Two solvers:

exact
    Mixed-integer programming (HiGHS through :func:`scipy.optimize.milp`, zero gap), the
    true optimum. Used when a tier has at most ``exact_max_n`` positive candidates
    (``method="auto"``) or always (``method="exact"``).
greedy
    Sort by ``v_i / c_i`` (ties: larger ``v_i``, then ``customer_id``) and take every
    candidate that still fits. *Optimality note:* sorting by ratio and filling the budget
    fractionally solves the LP relaxation exactly (Dantzig 1957), so the LP value
    ``V_LP`` bounds every 0/1 selection from above. Greedy takes every item before the
    first that does not fit (the *critical* item ``k``), so ``V_greedy >= V_LP - v_k >=
    V_opt - max_i v_i``: greedy is optimal up to the value of one candidate, and the
    reported ``gap = V_LP - V_selected`` bounds how far from optimal any selection is.

The marginal-value curve (:func:`budget_curve`) is the LP frontier: candidates in ratio
order with cumulative cost and expected value; its slope at the budget
(:func:`shadow_price`, ``next_ev_per_unit`` in :func:`budget_summary`) is what one more
currency unit of budget would buy, and ``ev_of_extra`` re-solves with 10% more budget.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "TargetingError",
    "budget_curve",
    "budget_for",
    "budget_summary",
    "knapsack_exact",
    "knapsack_greedy",
    "lp_bound",
    "select_targets",
    "select_within_budget",
    "shadow_price",
]

_EPS = 1e-9


class TargetingError(ValueError):
    """Budgets or candidates are invalid; the message names the tier or column and the fix."""


def _arrays(ev, cost) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(ev, dtype=float)
    c = np.asarray(cost, dtype=float)
    if v.shape != c.shape or v.ndim != 1:
        raise TargetingError(
            f"expected values and costs must be 1-d arrays of one length, got {v.shape}, {c.shape}"
        )
    if not (np.isfinite(v).all() and np.isfinite(c).all()):
        raise TargetingError("expected values and costs must be finite numbers")
    if (c < 0).any():
        raise TargetingError(f"costs must be >= 0; {int((c < 0).sum())} negative")
    return v, c


def _ratio_order(v: np.ndarray, c: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """Positions in decreasing v/c (zero cost first), ties by larger v then id/position."""
    with np.errstate(over="ignore"):
        ratio = np.where(c > 0, v / np.where(c > 0, c, 1.0), np.inf)
    tie = np.arange(v.size) if ids is None else pd.Series(ids).rank(method="first").to_numpy()
    return np.lexsort((tie, -v, -ratio))


def knapsack_greedy(ev, cost, budget: float, ids=None) -> np.ndarray:
    """Greedy 0/1 selection by expected value per unit cost (see the module doc).

    Returns a boolean mask: positive-value candidates taken in ratio order while they fit.
    """
    v, c = _arrays(ev, cost)
    take = np.zeros(v.size, bool)
    left = float(budget)
    for i in _ratio_order(v, c, ids):
        if v[i] <= 0:
            continue
        if c[i] <= left + _EPS:
            take[i] = True
            left -= c[i]
    return take


def lp_bound(ev, cost, budget: float) -> float:
    """Optimum of the LP relaxation (fractional knapsack), an upper bound on any selection."""
    v, c = _arrays(ev, cost)
    pos = v > 0
    v, c = v[pos], c[pos]
    order = _ratio_order(v, c)
    total, left = 0.0, float(budget)
    for i in order:
        if c[i] <= left + _EPS:
            total += v[i]
            left -= c[i]
        else:
            total += v[i] * max(left, 0.0) / c[i]
            break
    return float(total)


@contextlib.contextmanager
def _quiet_fd1() -> Iterator[None]:
    """Silence file descriptor 1 (HiGHS prints a debugging line from C++ on some instances)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def shadow_price(ev, cost, budget: float) -> float:
    """What one more unit of budget buys: the LP frontier's slope at ``budget``.

    The expected value per unit of cost of the *critical* candidate, the first in ratio
    order whose cost no longer fits (the dual price of the budget constraint in the LP
    relaxation); 0 when every positive-value candidate fits.
    """
    v, c = _arrays(ev, cost)
    pos = v > 0
    v, c = v[pos], c[pos]
    left = float(budget)
    for i in _ratio_order(v, c):
        if c[i] <= left + _EPS:
            left -= c[i]
        else:
            return float(v[i] / c[i])
    return 0.0


def _fixed_by_bounds(
    v: np.ndarray, c: np.ndarray, budget: float, lower: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Items that no selection worth at least ``lower`` can leave out or take in.

    ``v > 0`` and ``0 < c <= budget`` for every item. With the LP frontier ``f`` (the
    fractional knapsack's optimum as a function of the budget, items in ratio order),
    ``v_i + f(B - c_i)`` bounds every selection that takes item ``i`` (exact for items
    from the critical one on: removing ``i`` leaves the fill before it unchanged) and
    ``f(B + c_i) - v_i`` every selection that leaves out item ``i`` (items up to the
    critical one). An item whose bound with it taken lies below ``lower`` is in no
    selection worth ``lower``; one whose bound without it lies below is in every such
    selection. The budget is widened by 1e-6 and ``lower`` lowered by 1e-6 (plus a
    relative 1e-9), the solver's feasibility and optimality tolerances, so every selection
    the solver could return on the whole problem lies among the remaining ones.

    Returns ``(out, in)`` boolean masks, or None when every item fits.
    """
    n = v.size
    order = np.lexsort((np.arange(n), -v, -(v / c)))
    vo, co = v[order], c[order]
    cum_c = np.concatenate(([0.0], np.cumsum(co)))
    cum_v = np.concatenate(([0.0], np.cumsum(vo)))
    slope = np.concatenate((vo / co, [0.0]))
    room = float(budget) + 1e-6
    k = int(np.searchsorted(cum_c, room, side="right")) - 1  # items taken whole by the LP
    if k >= n:
        return None

    def frontier(cap: np.ndarray) -> np.ndarray:
        cap = np.maximum(cap, 0.0)
        j = np.minimum(np.searchsorted(cum_c, cap, side="right") - 1, n)
        return cum_v[j] + (cap - cum_c[j]) * slope[j]

    v_lp = float(frontier(np.array([room]))[0])
    floor = lower - 1e-6 - 1e-9 * abs(v_lp)
    at = np.arange(n)
    with_it = np.where(at >= k, vo + frontier(room - co), v_lp)
    without_it = np.where(at <= k, frontier(room + co) - vo, v_lp)
    out = np.empty(n, bool)
    keep = np.empty(n, bool)
    out[order] = with_it < floor
    keep[order] = without_it < floor
    return out, keep


def knapsack_exact(ev, cost, budget: float) -> np.ndarray:
    """Exact 0/1 knapsack (mixed-integer program, HiGHS, zero gap); boolean mask.

    Falls back to the greedy selection if the solver's answer is not better (never worse
    than greedy, always within the budget). Before the solver runs, LP bounds against the
    greedy value fix the items that every selection at least as good as greedy must take
    or leave (:func:`_fixed_by_bounds`, reduced-cost fixing); the solver sees only the
    rest, so the answer is an optimum of the whole problem.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    v, c = _arrays(ev, cost)
    take = np.zeros(v.size, bool)
    pos = np.flatnonzero(v > 0)
    free = pos[c[pos] <= 0]
    take[free] = True
    items = pos[c[pos] > 0]
    greedy = knapsack_greedy(v, c, budget)
    if items.size == 0:
        return take
    fits = items[c[items] <= budget + _EPS]
    if fits.size == 0:
        return take
    cand = take.copy()
    core, room = fits, float(budget)
    fixed = _fixed_by_bounds(v[fits], c[fits], budget, float(v[greedy].sum()))
    if fixed is not None:
        out, keep = fixed
        cand[fits[keep]] = True
        core = fits[~out & ~keep]
        room = float(budget) - float(c[fits[keep]].sum())
    if core.size:
        with _quiet_fd1():
            res = milp(
                c=-v[core],
                constraints=LinearConstraint(c[core][None, :], -np.inf, room),
                integrality=np.ones(core.size),
                bounds=Bounds(0, 1),
                options={"mip_rel_gap": 0.0, "presolve": True},
            )
        if res.x is None:
            return greedy
        cand[core[np.round(res.x).astype(bool)]] = True
    if c[cand].sum() > budget + 1e-6 or v[cand].sum() < v[greedy].sum() - 1e-9:
        return greedy
    return cand


def select_within_budget(
    ev, cost, budget: float, *, method: str = "auto", exact_max_n: int = 2000, ids=None
) -> tuple[np.ndarray, str]:
    """The candidates to contact within one budget; returns (mask, solver used).

    ``method``: ``exact``, ``greedy`` or ``auto`` (exact when at most ``exact_max_n``
    candidates have a positive expected value).
    """
    v, c = _arrays(ev, cost)
    if budget < 0 or not np.isfinite(budget):
        raise TargetingError(f"budget must be a finite number >= 0, got {budget}")
    if method not in ("auto", "exact", "greedy"):
        raise TargetingError(f"method must be auto, exact or greedy, got {method!r}")
    n_pos = int((v > 0).sum())
    use = method if method != "auto" else ("exact" if n_pos <= exact_max_n else "greedy")
    mask = knapsack_exact(v, c, budget) if use == "exact" else knapsack_greedy(v, c, budget, ids)
    return mask, use


def budget_for(tier: str, budgets: Mapping[str, float]) -> float:
    """The budget of ``tier``: its own entry, else the ``"*"`` entry (an error without either)."""
    key = str(tier)
    if key in budgets:
        return float(budgets[key])
    if "*" in budgets:
        return float(budgets["*"])
    raise TargetingError(
        f"no budget for tier {key!r}: add it to strategy.targeting.budget "
        f"(or a '*' entry for every other tier); budgets given: {dict(budgets)}"
    )


def select_targets(
    frame: pd.DataFrame,
    budgets: Mapping[str, float],
    *,
    method: str = "auto",
    exact_max_n: int = 2000,
    group: str = "tier",
) -> pd.DataFrame:
    """Select, tier by tier, the candidates whose total expected value is largest within budget.

    Parameters
    ----------
    frame : DataFrame
        ``customer_id``, ``group`` (tier), ``expected_value``, ``cost`` (currency units).
    budgets : mapping
        Tier -> budget (currency units); ``"*"`` for every tier not listed.
    method, exact_max_n
        Solver choice (see :func:`select_within_budget`).

    Returns
    -------
    DataFrame
        A new frame with ``selected`` (bool), ``solver`` and ``ratio_rank`` (1 = best
        expected value per unit cost within the tier, among positive-value candidates).
    """
    missing = [
        c for c in ("customer_id", group, "expected_value", "cost") if c not in frame.columns
    ]
    if missing:
        raise TargetingError(f"candidates lack column(s) {missing}")
    out = frame.reset_index(drop=True).copy()
    out["selected"] = False
    out["solver"] = None
    out["ratio_rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
    for tier, idx in out.groupby(out[group].astype(str), sort=True).groups.items():
        idx = np.asarray(idx)
        part = out.loc[idx]
        v = part["expected_value"].to_numpy(float)
        c = part["cost"].to_numpy(float)
        ids = part["customer_id"].astype(str).to_numpy()
        mask, used = select_within_budget(
            v, c, budget_for(tier, budgets), method=method, exact_max_n=exact_max_n, ids=ids
        )
        out.loc[idx, "selected"] = mask
        out.loc[idx, "solver"] = used
        order = _ratio_order(v, c, ids)
        order = order[v[order] > 0]
        rank = pd.array([pd.NA] * idx.size, dtype="Int64")
        rank[order] = np.arange(1, order.size + 1)
        out.loc[idx, "ratio_rank"] = rank
    out["selected"] = out["selected"].astype(bool)
    return out


def budget_curve(frame: pd.DataFrame, *, group: str = "tier") -> pd.DataFrame:
    """The marginal-value curve per tier: positive-value candidates in ratio order, cumulated.

    Returns
    -------
    DataFrame
        ``tier``, ``rank``, ``customer_id``, ``cost``, ``expected_value``, ``ev_per_unit``
        (expected value per currency unit of this candidate: the curve's slope there),
        ``cum_cost``, ``cum_ev``.
    """
    rows = []
    for tier, part in frame.groupby(frame[group].astype(str), sort=True):
        v = part["expected_value"].to_numpy(float)
        c = part["cost"].to_numpy(float)
        ids = part["customer_id"].astype(str).to_numpy()
        order = _ratio_order(v, c, ids)
        order = order[v[order] > 0]
        vv, cc = v[order], c[order]
        rows.append(
            pd.DataFrame(
                {
                    "tier": tier,
                    "rank": np.arange(1, order.size + 1),
                    "customer_id": ids[order],
                    "cost": cc,
                    "expected_value": vv,
                    "ev_per_unit": np.where(cc > 0, vv / np.where(cc > 0, cc, 1.0), np.inf),
                    "cum_cost": np.cumsum(cc),
                    "cum_ev": np.cumsum(vv),
                }
            )
        )
    cols = [
        "tier",
        "rank",
        "customer_id",
        "cost",
        "expected_value",
        "ev_per_unit",
        "cum_cost",
        "cum_ev",
    ]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def budget_summary(
    selected: pd.DataFrame,
    budgets: Mapping[str, float],
    *,
    group: str = "tier",
    extra_share: float = 0.10,
    tiers: Iterable[object] | None = None,
) -> pd.DataFrame:
    """What each tier's budget buys, and what more budget would buy.

    Parameters
    ----------
    selected : DataFrame
        :func:`select_targets` output.
    budgets : mapping
        Tier -> budget.
    extra_share : float
        The extra budget to price, as a share of the budget (``ev_of_extra``).
    tiers : iterable, optional
        Tiers to list even without candidates (their budget then goes unspent).

    Returns
    -------
    DataFrame
        Index ``tier``: ``budget``, ``candidates``, ``positive_ev`` (candidates worth
        contacting at any budget), ``selected``, ``cost``, ``expected_value``, ``unspent``,
        ``lp_bound`` and ``gap`` (LP bound minus selected value: how far from optimal any
        selection could be), ``next_ev_per_unit`` (:func:`shadow_price`: what one more
        currency unit of budget buys; 0 when every positive-value candidate fits),
        ``ev_of_extra`` (gain in expected value from
        ``extra_share`` more budget, re-solved), ``budget_to_take_all`` (cost of every
        positive-value candidate) and ``solver``.
    """
    if "selected" not in selected.columns:
        raise TargetingError("run select_targets first (no 'selected' column)")
    rows = []
    keys = selected[group].astype(str)
    names = sorted({*keys, *(str(t) for t in (tiers or []))}, key=lambda k: (len(k), k))
    for tier in names:
        part = selected[(keys == tier).to_numpy()]
        budget = budget_for(tier, budgets)
        v = part["expected_value"].to_numpy(float)
        c = part["cost"].to_numpy(float)
        sel = part["selected"].to_numpy(bool)
        method = str(part["solver"].iloc[0]) if len(part) else "none"
        more, _ = select_within_budget(
            v, c, budget * (1 + extra_share), method=method if len(part) else "greedy"
        )
        bound = lp_bound(v, c, budget)
        rows.append(
            {
                "tier": tier,
                "budget": budget,
                "candidates": int(len(part)),
                "positive_ev": int((v > 0).sum()),
                "selected": int(sel.sum()),
                "cost": float(c[sel].sum()),
                "expected_value": float(v[sel].sum()),
                "unspent": float(budget - c[sel].sum()),
                "lp_bound": bound,
                "gap": max(float(bound - v[sel].sum()), 0.0),
                "next_ev_per_unit": shadow_price(v, c, budget),
                "ev_of_extra": float(v[more].sum() - v[sel].sum()),
                "budget_to_take_all": float(c[v > 0].sum()),
                "solver": method,
            }
        )
    columns = [
        "tier",
        "budget",
        "candidates",
        "positive_ev",
        "selected",
        "cost",
        "expected_value",
        "unspent",
        "lp_bound",
        "gap",
        "next_ev_per_unit",
        "ev_of_extra",
        "budget_to_take_all",
        "solver",
    ]
    return pd.DataFrame(rows, columns=columns).set_index("tier")
