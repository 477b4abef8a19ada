"""Stage 1 charts: churn statuses, the score's distribution, and how statuses move with cut-offs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.plots.theme import PALETTE, format_pct, new_axes, takeaway

__all__ = ["plot_score_distribution", "plot_status_counts"]

STATUS_COLOURS = {
    "new": PALETTE[2], "active": PALETTE[0], "at_risk": PALETTE[1], "churned": PALETTE[3],
    "lost": "#7f7f7f",
}


def plot_status_counts(counts: pd.DataFrame, *, ax=None, title: str = "Customers by churn status"):
    """Bar chart of customers per status (``status``, ``customers``, ``share`` columns)."""
    ax = new_axes(ax)
    colours = [STATUS_COLOURS.get(str(s), PALETTE[4]) for s in counts["status"]]
    ax.bar(counts["status"].astype(str), counts["customers"], color=colours)
    for x, (n, share) in enumerate(zip(counts["customers"], counts["share"], strict=True)):
        ax.annotate(f"{n:,}\n{share:.0%}", (x, n), ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("status")
    ax.set_ylabel("customers (count)")
    ax.margins(y=0.2)
    top = counts.loc[counts["status"].astype(str) == "churned"]
    if len(top):
        takeaway(ax, f"{int(top['customers'].iloc[0]):,} customers churned "
                     f"({float(top['share'].iloc[0]):.1%} of the base): the win-back pool")
    return ax


def plot_score_distribution(scored: pd.DataFrame, *, churned_cutoff: float, at_risk_cutoff: float,
                            ax=None, bins: int = 40, title: str = "Churn score distribution"):
    """Histogram (shares of scored customers) of the churn score with the status cut-offs."""
    ax = new_axes(ax)
    score = scored["score"].dropna().to_numpy()
    weights = np.full(len(score), 1 / max(len(score), 1))
    ax.hist(score, bins=bins, range=(0, 1), weights=weights, color=PALETTE[0], alpha=0.85)
    for cut, label, colour in ((at_risk_cutoff, "at_risk", PALETTE[1]),
                               (churned_cutoff, "churned", PALETTE[3])):
        ax.axvline(cut, color=colour, linestyle="--", linewidth=1.5)
        ax.annotate(f"{label} ≥ {cut:.2f}", (cut, ax.get_ylim()[1] * 0.92), color=colour,
                    fontsize=8, xytext=(4, 0), textcoords="offset points")
    ax.set_title(title)
    ax.set_xlabel("churn score (0 = surely active, 1 = surely churned)")
    ax.set_ylabel("share of scored customers")
    format_pct(ax)
    above = float((score >= churned_cutoff).mean()) if len(score) else 0.0
    takeaway(ax, f"{above:.1%} of customers with a purchase score at or above the churned cut-off")
    return ax
