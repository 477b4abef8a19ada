"""Stage 1 charts: churn statuses, the score's distribution, and how statuses move with cut-offs.

Texts come from :mod:`winback.messages` (``plots.churn.*``) in the ``language`` given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.messages import Messages
from winback.plots.theme import PALETTE, format_pct, new_axes, takeaway

__all__ = ["plot_score_distribution", "plot_status_counts"]

STATUS_COLOURS = {
    "new": PALETTE[2], "active": PALETTE[0], "at_risk": PALETTE[1], "churned": PALETTE[3],
    "lost": "#7f7f7f",
}


def plot_status_counts(counts: pd.DataFrame, *, ax=None, title: str | None = None,
                       language: str = "en"):
    """Bar chart of customers per status (``status``, ``customers``, ``share`` columns).

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`winback.churn.status_counts`.
    title
        Chart title; the catalog's when not given.
    language
        ``zh`` or ``en`` (``report.language``).
    """
    m = Messages(language, scope="plots.churn")
    ax = new_axes(ax)
    codes = counts["status"].astype(str).tolist()
    colours = [STATUS_COLOURS.get(s, PALETTE[4]) for s in codes]
    ax.bar(m.names("status", codes), counts["customers"], color=colours)
    for x, (n, share) in enumerate(zip(counts["customers"], counts["share"], strict=True)):
        ax.annotate(f"{n:,}\n{share:.0%}", (x, n), ha="center", va="bottom", fontsize=8)
    ax.set_title(title or m("status_title"))
    ax.set_xlabel(m("status_x"))
    ax.set_ylabel(m("status_y"))
    ax.margins(y=0.2)
    top = counts.loc[counts["status"].astype(str) == "churned"]
    if len(top):
        takeaway(ax, m("status_takeaway", n=int(top["customers"].iloc[0]),
                       s=float(top["share"].iloc[0])))
    else:
        takeaway(ax, m("status_none"))
    return ax


def plot_score_distribution(scored: pd.DataFrame, *, churned_cutoff: float, at_risk_cutoff: float,
                            ax=None, bins: int = 40, title: str | None = None,
                            language: str = "en"):
    """Histogram (shares of scored customers) of the churn score with the status cut-offs.

    Parameters
    ----------
    scored : pandas.DataFrame
        Customers with a ``score`` column (0-1).
    churned_cutoff, at_risk_cutoff
        Score at or above which a customer is churned / at risk.
    language
        ``zh`` or ``en`` (``report.language``).
    """
    m = Messages(language, scope="plots.churn")
    ax = new_axes(ax)
    score = scored["score"].dropna().to_numpy()
    weights = np.full(len(score), 1 / max(len(score), 1))
    ax.hist(score, bins=bins, range=(0, 1), weights=weights, color=PALETTE[0], alpha=0.85)
    for cut, status, colour in ((at_risk_cutoff, "at_risk", PALETTE[1]),
                                (churned_cutoff, "churned", PALETTE[3])):
        ax.axvline(cut, color=colour, linestyle="--", linewidth=1.5)
        ax.annotate(m("cutoff", status=m.label("status", status), cut=cut),
                    (cut, ax.get_ylim()[1] * 0.92), color=colour,
                    fontsize=8, xytext=(4, 0), textcoords="offset points")
    ax.set_title(title or m("score_title"))
    ax.set_xlabel(m("score_x"))
    ax.set_ylabel(m("score_y"))
    format_pct(ax)
    above = float((score >= churned_cutoff).mean()) if len(score) else 0.0
    takeaway(ax, m("score_takeaway", s=above))
    return ax
