"""Charts of stage 4 (strategy design): what the budget buys, budget use, strategy mix, offers.

Each takes a table that :mod:`winback.targeting` or :mod:`winback.campaign` returns
(the ratio-ordered budget curve, the budget summary, the assignment's strategy mix),
never raw transactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.messages import Messages
from winback.plots.theme import PALETTE, format_money, new_axes, takeaway

__all__ = ["plot_budget_curve", "plot_budget_use", "plot_marginal_value", "plot_strategy_mix"]

def plot_budget_curve(
    curve: pd.DataFrame,
    budget: pd.DataFrame,
    *,
    ax=None,
    currency: str = "CNY",
    language: str = "en",
):
    """Cumulative expected value against cumulative cost per tier, budgets marked.

    Parameters
    ----------
    curve : DataFrame
        :func:`winback.targeting.budget_curve` (ratio-ordered positive candidates).
    budget : DataFrame
        :func:`winback.targeting.budget_summary` (index tier).
    """
    t = Messages(language, scope="plots.strategy")
    ax = new_axes(ax)
    tiers = [str(x) for x in budget.index]
    for i, tier in enumerate(tiers):
        part = curve[curve["tier"].astype(str) == tier]
        color = PALETTE[i % len(PALETTE)]
        x = np.concatenate([[0.0], part["cum_cost"].to_numpy(float)])
        y = np.concatenate([[0.0], part["cum_ev"].to_numpy(float)])
        ax.plot(x, y, color=color, lw=2, label=t("tier", t=tier))
        b = float(budget.loc[tier, "budget"]) if tier in budget.index else np.nan
        if np.isfinite(b) and len(part):
            ax.scatter(
                [min(b, x[-1])],
                [np.interp(min(b, x[-1]), x, y)],
                color=color,
                zorder=3,
                marker="|",
                s=200,
            )
    ax.set_xlabel(t("cum_cost", c=currency))
    ax.set_ylabel(t("cum_ev", c=currency))
    format_money(ax, "x")
    format_money(ax, "y")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    if tiers:
        ax.legend(frameon=False, loc="lower right", fontsize=8)
    ax.set_title(t("curve"))
    if len(budget):
        tier = budget["expected_value"].idxmax()
        top = budget.loc[tier]
        takeaway(
            ax,
            t("curve_takeaway",
                t=tier,
                b=top["budget"],
                ev=top["expected_value"],
                c=currency,
                all=top["budget_to_take_all"],
            ),
        )
    else:
        takeaway(ax, t("curve_none"))
    return ax


def plot_marginal_value(
    curve: pd.DataFrame,
    budget: pd.DataFrame,
    *,
    ax=None,
    currency: str = "CNY",
    language: str = "en",
):
    """Expected value per unit of cost of each next candidate (the curve's slope), budgets marked.

    Left of a tier's budget mark (dashed) is what the budget buys; the height just right
    of it is what one more unit of budget would buy. A tier whose budget exceeds the cost of
    all its positive candidates has no mark. The value axis is logarithmic (ratios span
    orders of magnitude).
    """
    t = Messages(language, scope="plots.strategy")
    ax = new_axes(ax)
    right = 0.0
    for i, tier in enumerate(str(x) for x in budget.index):
        part = curve[curve["tier"].astype(str) == tier]
        r = part["ev_per_unit"].to_numpy(float)
        keep = np.isfinite(r) & (r > 0)
        if not keep.any():
            continue
        color = PALETTE[i % len(PALETTE)]
        start = np.concatenate([[0.0], part["cum_cost"].to_numpy(float)[:-1]])
        ax.step(
            start[keep], r[keep], where="post", color=color, lw=1.8, label=t("tier", t=tier)
        )
        total = float(part["cum_cost"].iloc[-1])
        right = max(right, total)
        b = float(budget.loc[tier, "budget"])
        if b < total:
            ax.axvline(b, color=color, lw=1, ls="--")
    ax.set_xlabel(t("cum_cost", c=currency))
    ax.set_ylabel(t("ev_per_unit"))
    format_money(ax, "x")
    ax.set_xlim(0, right * 1.05 if right > 0 else 1.0)
    if right > 0:
        ax.set_yscale("log")
    if len(budget):
        ax.legend(frameon=False, fontsize=8)
    ax.set_title(t("marginal"))
    binding = budget[budget["next_ev_per_unit"] > 0]
    if len(binding):
        tier = binding["next_ev_per_unit"].idxmax()
        takeaway(
            ax,
            t("marginal_takeaway",
                t=tier, r=binding.loc[tier, "next_ev_per_unit"], c=currency
            ),
        )
    else:
        takeaway(ax, t("marginal_none"))
    return ax


def plot_budget_use(budget: pd.DataFrame, *, ax=None, currency: str = "CNY", language: str = "en"):
    """Stacked bars per tier: cost of the treated, cost held out as control, unspent budget.

    Parameters
    ----------
    budget : DataFrame
        ``CampaignPlan.budget`` (budget summary with ``treated_cost`` and ``held_out_cost``).
    """
    t = Messages(language, scope="plots.strategy")
    ax = new_axes(ax)
    x = np.arange(len(budget))
    treated = budget["treated_cost"].to_numpy(float)
    held = budget["held_out_cost"].to_numpy(float)
    unspent = np.maximum(budget["budget"].to_numpy(float) - treated - held, 0.0)
    ax.bar(x, treated, color=PALETTE[0], label=t("treated"))
    ax.bar(x, held, bottom=treated, color=PALETTE[1], label=t("held"))
    ax.bar(x, unspent, bottom=treated + held, color="#dddddd", label=t("unspent"))
    ax.set_xticks(x, [t("tier", t=i) for i in budget.index])
    ax.set_xlabel(t("tier_axis"))
    ax.set_ylabel(t("amount", c=currency))
    format_money(ax)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(t("use"))
    total = float(budget["budget"].sum())
    if total > 0:
        takeaway(
            ax,
            t("use_takeaway",
                b=total, c=currency, s=treated.sum() / total, h=held.sum() / total
            ),
        )
    else:
        takeaway(ax, t("no_budget"))
    return ax


def plot_strategy_mix(mix: pd.DataFrame, *, ax=None, language: str = "en"):
    """Horizontal bars of customers per strategy, treatment beside control.

    Parameters
    ----------
    mix : DataFrame
        :func:`winback.campaign.strategy_mix` (index strategy; ``treatment``, ``control``).
    """
    t = Messages(language, scope="plots.strategy")
    ax = new_axes(ax)
    mix = mix.sort_values("treatment")
    y = np.arange(len(mix))
    h = 0.4
    ax.barh(y + h / 2, mix["treatment"], h, color=PALETTE[0], label=t("treatment"))
    ax.barh(y - h / 2, mix["control"], h, color=PALETTE[1], label=t("control"))
    ax.set_yticks(y, mix.index)
    ax.set_xlabel(t("customers"))
    ax.set_ylabel(t("strategy"))
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t("mix"))
    total = float(mix["treatment"].sum())
    if total > 0:
        top = mix["treatment"].idxmax()
        n = int(mix.loc[top, "treatment"])
        takeaway(ax, t("mix_takeaway", s=top, n=n, p=n / total))
    else:
        takeaway(ax, t("mix_none"))
    return ax
