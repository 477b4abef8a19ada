"""Charts of stage 6: campaign uplift with intervals, contact funnel, status flows, satisfaction, KPIs.

Texts come from :mod:`winback.messages` (``plots.evaluation.*``) in the ``language`` given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.messages import Messages
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
# Metrics drawn in percent (their title and axis are plots.evaluation.title.<metric> / axis.<metric>).
_PERCENT = {"reactivation", "engagement", "offer_match", "roi"}


def plot_uplift(
    evaluations: pd.DataFrame,
    *,
    metric: str = "reactivation",
    segment_type: str = "all",
    ax=None,
    language: str = "en",
    **kw,
):
    """Forest plot: treated minus control per campaign month and window, with 95% intervals.

    ``evaluations`` is :func:`winback.evaluation.evaluate_campaigns`; rows of ``metric``
    and ``segment_type`` (``all``: whole campaigns). Cells too small to compare are
    listed with their note instead of a point; estimates whose row carries a note (e.g.
    control customers treated by a later campaign) are drawn hollow. Green: the
    interval lies above zero (break-even for ROI); red: below.
    """
    m = Messages(language, scope="plots.evaluation")
    rows = evaluations[
        (evaluations["metric"] == metric) & (evaluations["segment_type"] == segment_type)
    ]
    rows = rows.sort_values(["campaign_month", "window", "segment"], ascending=[False, False, True])
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.6, 0.45 * len(rows) + 1.4))))
    known = metric in m.labels("plots.evaluation.title")
    title = m(f"title.{metric}") if known else metric
    xlabel = m(f"axis.{metric}") if known else m("axis.default")
    pct = metric in _PERCENT
    ax.set_title(m("uplift_title", title=title))
    ax.set_xlabel(m("uplift_x", axis=xlabel))
    ax.set_ylabel(m("uplift_y"))
    if rows.empty:
        takeaway(ax, m("uplift_empty"))
        return ax
    labels = [
        m("row", month=r.campaign_month, window=r.window)
        + ("" if segment_type == "all" else f" · {r.segment}")
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
            shown = m("pts", d=diff[best])
        elif metric == "roi":
            shown = f"{diff[best]:+.0%}"
        else:
            shown = f"{diff[best]:+,.1f}"
        zero = m("break_even") if metric == "roi" else m("zero")
        text = m("uplift_takeaway", k=above, n=int(ok.sum()), zero=zero, shown=shown,
                 row=labels[best])
        if flagged.any():
            text += m("hollow")
    else:
        text = m("uplift_small")
    takeaway(ax, text)
    return ax


def plot_contact_funnel(summary: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Share of treated customers at each funnel step, one group of bars per campaign month.

    ``summary`` is :func:`winback.evaluation.funnel_summary`.
    """
    m = Messages(language, scope="plots.evaluation")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 4.2)))
    steps = ["attempted", "reached", "responded", "accepted", "redeemed"]
    ax.set_title(m("funnel_title"))
    ax.set_xlabel(m("funnel_x"))
    ax.set_ylabel(m("funnel_y"))
    if summary.empty:
        takeaway(ax, m("funnel_empty"))
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
            label=m("funnel_series", month=r.campaign_month, n=r.treated),
        )
    ax.set_xticks(x, m.names("funnel", steps))
    format_pct(ax)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    last = summary.iloc[-1]
    takeaway(ax, m("funnel_takeaway", month=last["campaign_month"], reached=last["reached_share"],
                   accepted=last["accepted_share"], redeemed=last["redeemed_share"]))
    return ax


def plot_status_flows(flows: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Customers coming back vs newly churned each month, with the net as a line.

    ``flows`` is :func:`winback.evaluation.status_flows`.
    """
    m = Messages(language, scope="plots.evaluation")
    f = flows.dropna(subset=["reactivated", "new_churn"])
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 4.2)))
    ax.set_title(m("flows_title"))
    ax.set_xlabel(m("common.month"))
    ax.set_ylabel(m("flows_y"))
    if f.empty:
        takeaway(ax, m("flows_empty"))
        return ax
    x = np.arange(len(f))
    ax.bar(x, f["reactivated"], color=PALETTE[2], label=m("came_back"))
    ax.bar(x, -f["new_churn"], color=PALETTE[3], label=m("new_churn"))
    ax.plot(x, f["net_winback"], "o-", color="#333333", label=m("net"))
    ax.axhline(0, color="#444444", lw=0.8)
    ax.set_xticks(x, f["month"].tolist())
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    wins = int((f["net_winback"] > 0).sum())
    last = f.iloc[-1]
    takeaway(ax, m("flows_takeaway", net=int(last["net_winback"]), month=last["month"], k=wins,
                   n=len(f)))
    return ax


def plot_satisfaction(trend: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Mean satisfaction (1-5) per month from surveys and from contacts, with 95% intervals.

    ``trend`` is :func:`winback.evaluation.satisfaction_trend`.
    """
    m = Messages(language, scope="plots.evaluation")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 4.2)))
    ax.set_title(m("sat_title"))
    ax.set_xlabel(m("common.month"))
    ax.set_ylabel(m("sat_y"))
    if trend.empty:
        takeaway(ax, m("sat_empty"))
        return ax
    months = sorted(trend["month"].unique())
    pos = {mo: i for i, mo in enumerate(months)}
    for i, (source, g) in enumerate(trend.groupby("source", sort=True)):
        x = g["month"].map(pos).to_numpy()
        ax.plot(x, g["mean"], "o-", color=PALETTE[i],
                label=m.label("satisfaction_source", source))
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
        change = ("" if len(g) < 2 else
                  m("sat_change", d=g["mean"].iloc[-1] - g["mean"].iloc[0], since=g["month"].iloc[0]))
        parts.append(m("sat_part", source=m.label("satisfaction_source", source),
                       mean=g["mean"].iloc[-1], month=g["month"].iloc[-1], change=change))
    takeaway(ax, m("common.clause_sep").join(parts) + m("common.period"))
    return ax


def plot_kpis(status: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """KPIs against their targets: attainment (1 = on target) coloured red/amber/green.

    Attainment is ``value / target`` for ``>=`` targets and ``target / value`` for ``<=``
    targets, so bars to the right of 1 are on target. ``status`` is
    :func:`winback.kpis.kpi_status`.
    """
    m = Messages(language, scope="plots.evaluation")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.4, 0.5 * len(status) + 1.4))))
    ax.set_title(m("kpi_title"))
    ax.set_xlabel(m("kpi_x"))
    ax.set_ylabel(m("kpi_y"))
    if status.empty:
        takeaway(ax, m("kpi_empty"))
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
    ax.set_yticks(y, m.names("kpi", status["kpi"]))
    ax.set_xlim(0, max(1.6, float(np.nanmax(ratio)) * 1.35 if np.isfinite(ratio).any() else 1.6))
    counts = status["status"].value_counts()
    takeaway(ax, m("common.list_sep").join(
        m("kpi_count", n=int(counts.get(s, 0)), status=m.label("rag", s))
        for s in ("green", "amber", "red", "n/a") if counts.get(s, 0)) + m("common.period"))
    return ax
