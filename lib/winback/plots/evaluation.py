"""Charts of stage 6: campaign uplift with intervals, contact funnel, status flows, satisfaction, KPIs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.plots.theme import PALETTE, format_pct, new_axes, takeaway

__all__ = [
    "RAG_COLOURS",
    "plot_contact_funnel",
    "plot_kpis",
    "plot_satisfaction",
    "plot_status_flows",
    "plot_uplift",
]

RAG_COLOURS = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "n/a": "#9e9e9e"}
# metric -> (title, x-axis label, shown in percent)
_LABELS = {
    "reactivation": (
        "Reactivation uplift: treated minus control",
        "difference in the share who bought (percentage points)",
        True,
    ),
    "engagement": (
        "Engagement uplift: treated minus control",
        "difference in the share with an interaction (percentage points)",
        True,
    ),
    "offer_match": (
        "Offer match: treated minus control",
        "difference in the share buying the offer's category (percentage points)",
        True,
    ),
    "revenue": (
        "Net spend per customer: treated minus control",
        "difference in net spend per customer (currency units)",
        False,
    ),
    "incremental_revenue": (
        "Incremental revenue of the treated",
        "revenue difference x treated customers (currency units)",
        False,
    ),
    "incremental_reactivations": (
        "Customers won back by the campaign",
        "reactivation difference x treated customers (customers)",
        False,
    ),
    "roi": (
        "ROI: (margin x incremental revenue - cost) / cost",
        "return on the campaign's cost (0% = break-even)",
        True,
    ),
}


def plot_uplift(
    evaluations: pd.DataFrame,
    *,
    metric: str = "reactivation",
    segment_type: str = "all",
    ax=None,
    **kw,
):
    """Forest plot: treated minus control per campaign month and window, with 95% intervals.

    ``evaluations`` is :func:`winback.evaluation.evaluate_campaigns`; rows of ``metric``
    and ``segment_type`` (``all``: whole campaigns). Cells too small to compare are
    listed with their note instead of a point; estimates whose row carries a note (e.g.
    control customers treated by a later campaign) are drawn hollow. Green: the
    interval lies above zero (break-even for ROI); red: below.
    """
    rows = evaluations[
        (evaluations["metric"] == metric) & (evaluations["segment_type"] == segment_type)
    ]
    rows = rows.sort_values(["campaign_month", "window", "segment"], ascending=[False, False, True])
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.6, 0.45 * len(rows) + 1.4))))
    title, xlabel, pct = _LABELS.get(metric, (metric, "treated minus control", False))
    ax.set_title(f"{title} (intention to treat)")
    ax.set_xlabel(f"{xlabel}; bars = 95% interval")
    ax.set_ylabel("campaign month · window")
    if rows.empty:
        takeaway(ax, "No campaign with an elapsed follow-up window to evaluate yet.")
        return ax
    labels = [
        f"{r.campaign_month} · {r.window} mo" + ("" if segment_type == "all" else f" · {r.segment}")
        for r in rows.itertuples()
    ]
    y = np.arange(len(rows))
    ok = rows["diff"].notna().to_numpy()
    flagged = (rows["note"].fillna("") != "").to_numpy() & ok
    scale = 100.0 if pct and metric != "roi" else 1.0
    diff = rows["diff"].to_numpy(float) * scale
    low = rows["ci_low"].to_numpy(float) * scale
    high = rows["ci_high"].to_numpy(float) * scale
    colours = np.where(low > 0, PALETTE[2], np.where(high < 0, PALETTE[3], PALETTE[0]))
    for yi, d, lo, hi, c, good, hollow in zip(
        y, diff, low, high, colours, ok, flagged, strict=True
    ):
        if good:
            ax.plot([lo, hi], [yi, yi], color=c, lw=2.2)
            ax.plot(d, yi, "o", color=c, ms=7, mfc="white" if hollow else c, mew=2)
    for yi, note in zip(y[~ok], rows.loc[~ok, "note"], strict=True):
        ax.annotate(
            str(note),
            xy=(0.02, yi),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=8,
            color="#777777",
        )
    ax.axvline(0, color="#444444", lw=1, ls="--")
    ax.set_yticks(y, labels)
    if metric == "roi":
        format_pct(ax, axis="x")
    if ok.any():
        above = int((low[ok] > 0).sum())
        best = int(np.nanargmax(np.where(ok, diff, -np.inf)))
        if scale == 100:
            shown = f"{diff[best]:+.1f} pts"
        elif metric == "roi":
            shown = f"{diff[best]:+.0%}"
        else:
            shown = f"{diff[best]:+,.1f}"
        zero = "break-even" if metric == "roi" else "zero"
        text = (
            f"{above} of {int(ok.sum())} intervals lie above {zero}; largest estimate "
            f"{shown} ({labels[best]})."
        )
        if flagged.any():
            text += " Hollow: see the row's note (e.g. controls treated later)."
    else:
        text = "Every cell is below the minimum group sizes: no comparison."
    takeaway(ax, text)
    return ax


def plot_contact_funnel(summary: pd.DataFrame, *, ax=None, **kw):
    """Share of treated customers at each funnel step, one group of bars per campaign month.

    ``summary`` is :func:`winback.evaluation.funnel_summary`.
    """
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 4.2)))
    steps = ["attempted", "reached", "responded", "accepted", "redeemed"]
    ax.set_title("Contact funnel: share of treated customers at each step")
    ax.set_xlabel("funnel step")
    ax.set_ylabel("share of treated customers (%)")
    if summary.empty:
        takeaway(ax, "No campaign contacts to show yet.")
        return ax
    n = len(summary)
    width = 0.8 / n
    x = np.arange(len(steps))
    for i, r in enumerate(summary.itertuples()):
        values = [getattr(r, f"{s}_share") for s in steps]
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            values,
            width=width,
            color=PALETTE[i % len(PALETTE)],
            label=f"campaign {r.campaign_month} (n={r.treated})",
        )
    ax.set_xticks(x, steps)
    format_pct(ax)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    last = summary.iloc[-1]
    takeaway(
        ax,
        f"Campaign {last['campaign_month']}: {last['reached_share']:.0%} of treated reached, "
        f"{last['accepted_share']:.0%} accepted, {last['redeemed_share']:.0%} redeemed.",
    )
    return ax


def plot_status_flows(flows: pd.DataFrame, *, ax=None, **kw):
    """Customers coming back vs newly churned each month, with the net as a line.

    ``flows`` is :func:`winback.evaluation.status_flows`.
    """
    f = flows.dropna(subset=["reactivated", "new_churn"])
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 4.2)))
    ax.set_title("Are we winning back more than we lose?")
    ax.set_xlabel("month")
    ax.set_ylabel("customers per month")
    if f.empty:
        takeaway(ax, "Two consecutive months of churn status are needed.")
        return ax
    x = np.arange(len(f))
    ax.bar(x, f["reactivated"], color=PALETTE[2], label="came back (churned -> not churned)")
    ax.bar(x, -f["new_churn"], color=PALETTE[3], label="newly churned")
    ax.plot(x, f["net_winback"], "o-", color="#333333", label="net")
    ax.axhline(0, color="#444444", lw=0.8)
    ax.set_xticks(x, f["month"].tolist())
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    wins = int((f["net_winback"] > 0).sum())
    last = f.iloc[-1]
    takeaway(
        ax,
        f"Net {int(last['net_winback']):+d} in {last['month']}; more came back than "
        f"churned in {wins} of {len(f)} months.",
    )
    return ax


def plot_satisfaction(trend: pd.DataFrame, *, ax=None, **kw):
    """Mean satisfaction (1-5) per month from surveys and from contacts, with 95% intervals.

    ``trend`` is :func:`winback.evaluation.satisfaction_trend`.
    """
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 4.2)))
    ax.set_title("Satisfaction trend")
    ax.set_xlabel("month")
    ax.set_ylabel("mean satisfaction (1-5)")
    if trend.empty:
        takeaway(ax, "No satisfaction scores yet.")
        return ax
    months = sorted(trend["month"].unique())
    pos = {m: i for i, m in enumerate(months)}
    for i, (source, g) in enumerate(trend.groupby("source", sort=True)):
        x = g["month"].map(pos).to_numpy()
        ax.plot(x, g["mean"], "o-", color=PALETTE[i], label=f"{source}s")
        ax.fill_between(
            x, g["ci_low"].astype(float), g["ci_high"].astype(float), color=PALETTE[i], alpha=0.15
        )
    ax.set_xticks(range(len(months)), months)
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_ylim(1, 5)
    ax.legend(fontsize=8)
    parts = []
    for source, g in trend.groupby("source", sort=True):
        g = g.sort_values("month")
        change = (
            ""
            if len(g) < 2
            else f" ({g['mean'].iloc[-1] - g['mean'].iloc[0]:+.2f} since {g['month'].iloc[0]})"
        )
        parts.append(f"{source}s {g['mean'].iloc[-1]:.2f} in {g['month'].iloc[-1]}{change}")
    takeaway(ax, "; ".join(parts) + ".")
    return ax


def plot_kpis(status: pd.DataFrame, *, ax=None, **kw):
    """KPIs against their targets: attainment (1 = on target) coloured red/amber/green.

    Attainment is ``value / target`` for ``>=`` targets and ``target / value`` for ``<=``
    targets, so bars to the right of 1 are on target. ``status`` is
    :func:`winback.kpis.kpi_status`.
    """
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.4, 0.5 * len(status) + 1.4))))
    ax.set_title("KPIs against targets")
    ax.set_xlabel("attainment (1 = on target; right of the line is good)")
    ax.set_ylabel("KPI")
    if status.empty:
        takeaway(ax, "No KPI targets set.")
        return ax
    v, t = status["value"].to_numpy(float), status["target"].to_numpy(float)
    with np.errstate(all="ignore"):
        ratio = np.where(status["op"] == ">=", v / t, t / v)
    ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    y = np.arange(len(status))[::-1]
    colours = [RAG_COLOURS[s] for s in status["status"]]
    ax.barh(y, np.nan_to_num(ratio, nan=0.0), color=colours, height=0.6)
    for yi, r, text in zip(y, ratio, status["text"], strict=True):
        ax.annotate(
            text,
            xy=(0 if np.isnan(r) else r, yi),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    ax.axvline(1, color="#444444", lw=1, ls="--")
    ax.set_yticks(y, status["kpi"].tolist())
    ax.set_xlim(0, max(1.6, float(np.nanmax(ratio)) * 1.35 if np.isfinite(ratio).any() else 1.6))
    counts = status["status"].value_counts()
    takeaway(
        ax,
        ", ".join(
            f"{int(counts.get(s, 0))} {s}"
            for s in ("green", "amber", "red", "n/a")
            if counts.get(s, 0)
        )
        + ".",
    )
    return ax
