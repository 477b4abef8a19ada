"""Charts of stage 4 (strategy design): what the budget buys, budget use, strategy mix, offers.

Each takes a table that :mod:`winback.targeting` or :mod:`winback.campaign` returns
(the ratio-ordered budget curve, the budget summary, the assignment's strategy mix),
never raw transactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.plots.theme import PALETTE, format_money, new_axes, takeaway

__all__ = ["plot_budget_curve", "plot_budget_use", "plot_marginal_value", "plot_strategy_mix"]

_TEXT = {
    "zh": {
        "curve": "预算能买到多少期望价值 (按层级)",
        "cum_cost": "累计成本 ({c})",
        "cum_ev": "累计期望价值 ({c})",
        "tier": "层级 {t}",
        "budget": "预算",
        "curve_takeaway": (
            "层级 {t}：预算 {b:,.0f} {c} 买到 {ev:,.0f} {c} 期望价值 (全部正值客户需 {all:,.0f} {c})"
        ),
        "marginal": "下一单位预算的边际期望价值",
        "ev_per_unit": "每单位成本的期望价值",
        "marginal_takeaway": "层级 {t}：预算再增加 1 {c} 可多带来 {r:.2f} {c} 期望价值 (各层级最高)",
        "marginal_none": "所有期望价值为正的客户都在预算内",
        "use": "各层级预算使用",
        "amount": "金额 ({c})",
        "treated": "实验组成本",
        "held": "对照组 (留存不花费)",
        "unspent": "未使用",
        "use_takeaway": "预算 {b:,.0f} {c}：实验组使用 {s:.0%}，对照组占 {h:.0%}",
        "mix": "各策略客户数：实验组 vs 对照组",
        "customers": "客户数",
        "treatment": "实验组",
        "control": "对照组",
        "mix_takeaway": "最多的策略：{s} ({n:,} 人, 占实验组 {p:.0%})",
    },
    "en": {
        "curve": "What the budget buys, by tier",
        "cum_cost": "Cumulative cost ({c})",
        "cum_ev": "Cumulative expected value ({c})",
        "tier": "Tier {t}",
        "budget": "budget",
        "curve_takeaway": "Tier {t}: a budget of {b:,.0f} {c} buys {ev:,.0f} {c} of expected value "
        "(every positive candidate would cost {all:,.0f} {c})",
        "marginal": "What the next unit of budget buys",
        "ev_per_unit": "Expected value per unit of cost",
        "marginal_takeaway": "Tier {t}: one more {c} of budget buys {r:.2f} {c} of expected value "
        "(the highest of the tiers)",
        "marginal_none": "Every candidate with a positive expected value fits in the budget",
        "use": "Budget use by tier",
        "amount": "Amount ({c})",
        "treated": "Treated cost",
        "held": "Control (kept unspent)",
        "unspent": "Unspent",
        "use_takeaway": (
            "Budget {b:,.0f} {c}: {s:.0%} used on the treated, {h:.0%} held out as control"
        ),
        "mix": "Customers per strategy: treatment vs control",
        "customers": "Customers",
        "treatment": "Treatment",
        "control": "Control",
        "mix_takeaway": "Most used: {s} ({n:,} customers, {p:.0%} of the treated)",
    },
}


def _t(language: str) -> dict[str, str]:
    if language not in _TEXT:
        raise ValueError(f"language: zh or en, got {language!r}")
    return _TEXT[language]


def plot_budget_curve(
    curve: pd.DataFrame,
    budget: pd.DataFrame,
    *,
    ax=None,
    currency: str = "CNY",
    language: str = "zh",
):
    """Cumulative expected value against cumulative cost per tier, budgets marked.

    Parameters
    ----------
    curve : DataFrame
        :func:`winback.targeting.budget_curve` (ratio-ordered positive candidates).
    budget : DataFrame
        :func:`winback.targeting.budget_summary` (index tier).
    """
    t = _t(language)
    ax = new_axes(ax)
    tiers = [str(x) for x in budget.index]
    for i, tier in enumerate(tiers):
        part = curve[curve["tier"].astype(str) == tier]
        color = PALETTE[i % len(PALETTE)]
        x = np.concatenate([[0.0], part["cum_cost"].to_numpy(float)])
        y = np.concatenate([[0.0], part["cum_ev"].to_numpy(float)])
        ax.plot(x, y, color=color, lw=2, label=t["tier"].format(t=tier))
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
    ax.set_xlabel(t["cum_cost"].format(c=currency))
    ax.set_ylabel(t["cum_ev"].format(c=currency))
    format_money(ax, "x")
    format_money(ax, "y")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    if tiers:
        ax.legend(frameon=False, loc="lower right", fontsize=8)
    ax.set_title(t["curve"])
    if len(budget):
        tier = budget["expected_value"].idxmax()
        top = budget.loc[tier]
        takeaway(
            ax,
            t["curve_takeaway"].format(
                t=tier,
                b=top["budget"],
                ev=top["expected_value"],
                c=currency,
                all=top["budget_to_take_all"],
            ),
        )
    return ax


def plot_marginal_value(
    curve: pd.DataFrame,
    budget: pd.DataFrame,
    *,
    ax=None,
    currency: str = "CNY",
    language: str = "zh",
):
    """Expected value per unit of cost of each next candidate (the curve's slope), budgets marked.

    Left of a tier's budget mark (dashed) is what the budget buys; the height just right
    of it is what one more unit of budget would buy. A tier whose budget exceeds the cost of
    all its positive candidates has no mark. The value axis is logarithmic (ratios span
    orders of magnitude).
    """
    t = _t(language)
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
            start[keep], r[keep], where="post", color=color, lw=1.8, label=t["tier"].format(t=tier)
        )
        total = float(part["cum_cost"].iloc[-1])
        right = max(right, total)
        b = float(budget.loc[tier, "budget"])
        if b < total:
            ax.axvline(b, color=color, lw=1, ls="--")
    ax.set_xlabel(t["cum_cost"].format(c=currency))
    ax.set_ylabel(t["ev_per_unit"])
    format_money(ax, "x")
    ax.set_xlim(0, right * 1.05 if right > 0 else 1.0)
    if right > 0:
        ax.set_yscale("log")
    if len(budget):
        ax.legend(frameon=False, fontsize=8)
    ax.set_title(t["marginal"])
    binding = budget[budget["next_ev_per_unit"] > 0]
    if len(binding):
        tier = binding["next_ev_per_unit"].idxmax()
        takeaway(
            ax,
            t["marginal_takeaway"].format(
                t=tier, r=binding.loc[tier, "next_ev_per_unit"], c=currency
            ),
        )
    else:
        takeaway(ax, t["marginal_none"])
    return ax


def plot_budget_use(budget: pd.DataFrame, *, ax=None, currency: str = "CNY", language: str = "zh"):
    """Stacked bars per tier: cost of the treated, cost held out as control, unspent budget.

    Parameters
    ----------
    budget : DataFrame
        ``CampaignPlan.budget`` (budget summary with ``treated_cost`` and ``held_out_cost``).
    """
    t = _t(language)
    ax = new_axes(ax)
    x = np.arange(len(budget))
    treated = budget["treated_cost"].to_numpy(float)
    held = budget["held_out_cost"].to_numpy(float)
    unspent = np.maximum(budget["budget"].to_numpy(float) - treated - held, 0.0)
    ax.bar(x, treated, color=PALETTE[0], label=t["treated"])
    ax.bar(x, held, bottom=treated, color=PALETTE[1], label=t["held"])
    ax.bar(x, unspent, bottom=treated + held, color="#dddddd", label=t["unspent"])
    ax.set_xticks(x, [t["tier"].format(t=i) for i in budget.index])
    ax.set_ylabel(t["amount"].format(c=currency))
    format_money(ax)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(t["use"])
    total = float(budget["budget"].sum())
    if total > 0:
        takeaway(
            ax,
            t["use_takeaway"].format(
                b=total, c=currency, s=treated.sum() / total, h=held.sum() / total
            ),
        )
    return ax


def plot_strategy_mix(mix: pd.DataFrame, *, ax=None, language: str = "zh"):
    """Horizontal bars of customers per strategy, treatment beside control.

    Parameters
    ----------
    mix : DataFrame
        :func:`winback.campaign.strategy_mix` (index strategy; ``treatment``, ``control``).
    """
    t = _t(language)
    ax = new_axes(ax)
    mix = mix.sort_values("treatment")
    y = np.arange(len(mix))
    h = 0.4
    ax.barh(y + h / 2, mix["treatment"], h, color=PALETTE[0], label=t["treatment"])
    ax.barh(y - h / 2, mix["control"], h, color=PALETTE[1], label=t["control"])
    ax.set_yticks(y, mix.index)
    ax.set_xlabel(t["customers"])
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t["mix"])
    total = float(mix["treatment"].sum())
    if total > 0:
        top = mix["treatment"].idxmax()
        n = int(mix.loc[top, "treatment"])
        takeaway(ax, t["mix_takeaway"].format(s=top, n=n, p=n / total))
    return ax
