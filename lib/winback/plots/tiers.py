"""Charts of stage 3 (tiering): tier sizes vs value, concentration, value split, quadrant,
RFM segments and tier stability. Each takes the aggregate table a :mod:`winback.tiers`
function returns, never customer rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.messages import Messages
from winback.plots.theme import PALETTE, format_money, format_pct, new_axes, takeaway

__all__ = [
    "plot_quadrants",
    "plot_rfm_segments",
    "plot_tier_shares",
    "plot_tier_transitions",
    "plot_value_concentration",
    "plot_value_split",
]

def plot_tier_shares(summary: pd.DataFrame, *, ax=None, language: str = "en"):
    """Bars of each tier's share of customers beside its share of predicted value.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`winback.tiers.tier_summary`.
    """
    t = Messages(language, scope="plots.tiers")
    ax = new_axes(ax)
    x = np.arange(len(summary))
    w = 0.4
    ax.bar(x - w / 2, summary["customer_share"], w, label=t("customers"), color=PALETTE[7])
    ax.bar(x + w / 2, summary["value_share"], w, label=t("value"), color=PALETTE[0])
    for xi, c, v in zip(x, summary["customer_share"], summary["value_share"], strict=True):
        ax.annotate(f"{c:.0%}", (xi - w / 2, c), ha="center", va="bottom", fontsize=8)
        ax.annotate(f"{v:.0%}", (xi + w / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, summary["tier_label"])
    ax.set_xlabel(t("tier"))
    ax.set_ylabel(t("share"))
    format_pct(ax)
    ax.legend(frameon=False)
    ax.set_title(t("tier_shares"))
    top = summary.iloc[0]
    takeaway(ax, t("holds", label=top["tier_label"], c=top["customer_share"],
                                   v=top["value_share"]))
    return ax


def plot_value_concentration(curve: pd.DataFrame, concentration: pd.DataFrame, *, ax=None,
                             point: float = 0.2, language: str = "en"):
    """Pareto (Lorenz) curve: cumulative share of predicted value held by the top customers.

    Parameters
    ----------
    curve : pandas.DataFrame
        :func:`winback.tiers.lorenz_curve`.
    concentration : pandas.DataFrame
        :func:`winback.tiers.value_concentration`; the row nearest ``point`` is marked.
    """
    t = Messages(language, scope="plots.tiers")
    ax = new_axes(ax)
    ax.plot(curve["customer_share"], curve["value_share"], color=PALETTE[0], lw=2)
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label=t("equal"))
    row = concentration.iloc[int(np.argmin(np.abs(concentration["top_share"] - point)))]
    ax.scatter([row["top_share"]], [row["value_share"]], color=PALETTE[3], zorder=3)
    ax.annotate(f"{row['top_share']:.0%} → {row['value_share']:.0%}",
                (row["top_share"], row["value_share"]), xytext=(8, -14),
                textcoords="offset points", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(t("top_customers"))
    ax.set_ylabel(t("value_share"))
    format_pct(ax, "x")
    format_pct(ax, "y")
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t("lorenz"))
    takeaway(ax, t("top_holds", x=row["top_share"], y=row["value_share"],
                                       g=row["gini"]))
    return ax


def plot_value_split(summary: pd.DataFrame, *, ax=None, horizon_months: float = 12,
                     currency: str = "CNY", language: str = "en"):
    """Stacked bars of each tier's predicted necessary and discretionary spend.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`winback.tiers.tier_summary`.
    """
    t = Messages(language, scope="plots.tiers")
    ax = new_axes(ax)
    x = np.arange(len(summary))
    nec = summary["future_value_necessary"].fillna(0).to_numpy()
    disc = summary["future_value_discretionary"].fillna(0).to_numpy()
    ax.bar(x, nec, label=t("necessary"), color=PALETTE[2])
    ax.bar(x, disc, bottom=nec, label=t("discretionary"), color=PALETTE[4])
    ax.set_xticks(x, summary["tier_label"])
    ax.set_xlabel(t("tier"))
    ax.set_ylabel(t("amount", currency=currency, h=horizon_months))
    format_money(ax, currency=currency)
    ax.legend(frameon=False)
    ax.set_title(t("split"))
    total = summary["future_value"].sum()
    share = float(summary["future_value_necessary"].sum() / total) if total > 0 else np.nan
    takeaway(ax, t("split_takeaway", s=share))
    return ax


def plot_quadrants(quadrants: pd.DataFrame, *, ax=None, language: str = "en"):
    """The value x risk 2x2: customers and share of predicted value in each cell.

    Parameters
    ----------
    quadrants : pandas.DataFrame
        :func:`winback.tiers.quadrant_summary`.
    """
    t = Messages(language, scope="plots.tiers")
    ax = new_axes(ax, figsize=(6.5, 5))
    q = quadrants.set_index("quadrant")
    cells = {  # (column = risk low/high, row = value low/high)
        "low_value_low_risk": (0, 0), "low_value_high_risk": (1, 0),
        "high_value_low_risk": (0, 1), "high_value_high_risk": (1, 1),
    }
    grid = np.zeros((2, 2))
    for code, (cx, cy) in cells.items():
        grid[cy, cx] = q.loc[code, "value_share"] if code in q.index else 0.0
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=max(grid.max(), 1e-9), origin="lower")
    for code, (cx, cy) in cells.items():
        if code not in q.index:
            continue
        row = q.loc[code]
        color = "white" if grid[cy, cx] > 0.6 * grid.max() else "#222222"
        ax.text(cx, cy, f"{row['label']}\n" + t("cell",
            n=int(row["customers"]), c=row["customer_share"], v=row["value_share"]),
            ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks([0, 1], [t("low"), t("high")])
    ax.set_yticks([0, 1], [t("low"), t("high")])
    ax.set_xlabel(t("risk_axis"))
    ax.set_ylabel(t("value_axis"))
    ax.grid(False)
    ax.set_title(t("quadrant"))
    hh = q.loc["high_value_high_risk"] if "high_value_high_risk" in q.index else None
    if hh is not None:
        takeaway(ax, t("quad_takeaway", n=int(hh["customers"]), v=hh["value_share"]))
    return ax


def plot_rfm_segments(segments: pd.DataFrame, *, ax=None, language: str = "en"):
    """Horizontal bars of customers per RFM segment, annotated with their share of value.

    Parameters
    ----------
    segments : pandas.DataFrame
        :func:`winback.tiers.rfm_summary`.
    """
    t = Messages(language, scope="plots.tiers")
    ax = new_axes(ax, figsize=(8, 5))
    data = segments.iloc[::-1]
    y = np.arange(len(data))
    ax.barh(y, data["customers"], color=PALETTE[0])
    for yi, n, v in zip(y, data["customers"], data["value_share"], strict=True):
        ax.annotate(f"{int(n):,} · {v:.0%}", (n, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y, data["label"])
    ax.set_xlabel(t("rfm_axis"))
    ax.set_ylabel(t("rfm_segment"))
    ax.set_title(t("rfm"))
    big = segments.loc[segments["customers"].idxmax()]
    rich = segments.loc[segments["value_share"].fillna(-1).idxmax()]
    takeaway(ax, t("rfm_takeaway", label=big["label"], c=big["customer_share"],
                                          vlabel=rich["label"], v=rich["value_share"]))
    return ax


def plot_tier_transitions(transitions, *, ax=None, labels: list[str] | None = None,
                          language: str = "en"):
    """Heatmap of the row shares of last month's tier -> this month's tier.

    Parameters
    ----------
    transitions : winback.tiers.TierTransitions
        From :func:`winback.tiers.tier_transitions`; when there is no previous month the
        axes say so.
    labels : list of str, optional
        Tier labels (tier 1 first) for the ticks.
    """
    t = Messages(language, scope="plots.tiers")
    ax = new_axes(ax, figsize=(6.5, 5))
    if not transitions.available:
        ax.axis("off")
        ax.text(0.5, 0.5, t("no_prev", month=transitions.month), ha="center",
                va="center", fontsize=11, transform=ax.transAxes)
        ax.set_title(t("transitions", prev=transitions.previous, month=transitions.month))
        return ax
    shares = transitions.shares.fillna(0.0)
    ax.imshow(shares.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(shares.shape[0]):
        for j in range(shares.shape[1]):
            v = shares.iat[i, j]
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=9,
                    color="white" if v > 0.6 else "#222222")

    def names(index):
        out = []
        for k in index:
            k = int(k)
            out.append(labels[k - 1] if labels and k <= len(labels) else str(k))
        return out

    ax.set_xticks(range(shares.shape[1]), names(shares.columns))
    ax.set_yticks(range(shares.shape[0]), names(shares.index))
    ax.set_xlabel(t("cur_tier"))
    ax.set_ylabel(t("prev_tier"))
    ax.grid(False)
    ax.set_title(t("transitions", prev=transitions.previous, month=transitions.month))
    takeaway(ax, t("moved", s=transitions.share_changed, up=transitions.n_up,
                                   down=transitions.n_down))
    return ax
