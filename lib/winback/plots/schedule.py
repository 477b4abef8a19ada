"""Charts of stage 5: the campaign plan (Gantt), the daily load, staffing and budget.

Texts come from :mod:`winback.messages` (``plots.schedule.*``) in the ``language`` given;
task and phase names come from the plan (:func:`winback.schedule.campaign_plan` in the same
language).
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from winback.messages import Messages
from winback.plots.theme import PALETTE, format_money, new_axes, takeaway

__all__ = ["plot_budget", "plot_campaign_plan", "plot_daily_load", "plot_staffing"]


def plot_campaign_plan(plan: pd.DataFrame, *, ax=None, contact_days: pd.DatetimeIndex | None = None,
                       execution_month: str | None = None, language: str = "en", **kw):
    """Gantt chart of the 8-week plan (:func:`winback.schedule.campaign_plan`).

    One bar per task from its first to its last day, coloured by phase; the execution
    month is shaded and the contact days are ticked under the execution bars. The y axis
    lists the tasks (its label names them, no unit).
    """
    m = Messages(language, scope="plots.schedule")
    ax = new_axes(ax, figsize=kw.pop("figsize", (9, 4.6)))
    ax.set_xlabel(m("plan_x"))
    ax.set_ylabel(m("plan_y"))
    if plan.empty:
        ax.set_title(m("plan_title_empty"))
        takeaway(ax, m("plan_empty"))
        return ax
    phases = list(dict.fromkeys(plan["phase"]))
    colour = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(phases)}
    y = np.arange(len(plan))[::-1]
    start = mdates.date2num(plan["start"])
    width = mdates.date2num(plan["end"] + pd.Timedelta(days=1)) - start
    seen = set()
    for yi, s, w, ph, label in zip(y, start, width, plan["phase"], plan["phase_label"],
                                   strict=True):
        ax.barh(yi, w, left=s, height=0.6, color=colour[ph],
                label=None if ph in seen else label)
        seen.add(ph)
    if execution_month is not None:
        period = pd.Period(execution_month, "M")
        ax.axvspan(mdates.date2num(period.start_time),
                   mdates.date2num(period.end_time.normalize() + pd.Timedelta(days=1)),
                   color="#999999", alpha=0.12, zorder=0,
                   label=m("execution_month", month=execution_month))
    if contact_days is not None and len(contact_days):
        rows = y[(plan["phase"] == "execution").to_numpy()]
        for yi in rows:
            ax.plot(mdates.date2num(contact_days) + 0.5, np.full(len(contact_days), yi - 0.42),
                    "|", color="#333333", markersize=5)
    ax.set_yticks(y, plan["task"].tolist())
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_title(m("plan_title", weeks=int(plan["week_end"].max())))
    ax.legend(loc="lower left", fontsize=8, frameon=True)
    first, last = plan["start"].min(), plan["end"].max()
    if contact_days is not None and len(contact_days):
        text = m("plan_takeaway_days", first=f"{first:%Y-%m-%d}", last=f"{last:%Y-%m-%d}",
                 n=len(contact_days), d0=f"{contact_days[0]:%m-%d}",
                 d1=f"{contact_days[-1]:%m-%d}")
    else:
        text = m("plan_takeaway", first=f"{first:%Y-%m-%d}", last=f"{last:%Y-%m-%d}")
    takeaway(ax, text)
    return ax


def plot_daily_load(load: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Heatmap of the share of each channel's capacity used per contact day.

    ``load`` is :func:`winback.schedule.daily_load`; each cell shows the share used (the
    colour bar is its unit).
    """
    m = Messages(language, scope="plots.schedule")
    data = load.loc[load["capacity"] > 0]
    n_days = data["day"].nunique()
    ax = new_axes(ax, figsize=kw.pop("figsize", (max(6.0, 0.55 * n_days + 2), 3.6)))
    ax.set_title(m("load_title"))
    ax.set_xlabel(m("load_x"))
    ax.set_ylabel(m("channel"))
    if data.empty:
        takeaway(ax, m("load_empty"))
        return ax
    grid = data.pivot_table(index="channel", columns="day", values="utilization",
                            aggfunc="sum", sort=True)
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 else "#333333")
    ax.set_xticks(range(grid.shape[1]), [f"{d:%m-%d}" for d in grid.columns], rotation=45)
    ax.set_yticks(range(grid.shape[0]), m.names("channel", grid.index))
    ax.grid(False)
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    cbar.set_label(m("capacity_used"))
    full = data.loc[data["scheduled"] >= data["capacity"]].groupby("channel").size()
    if full.empty:
        top = data.loc[data["utilization"].idxmax()]
        text = m("load_peak", u=top["utilization"], channel=m.label("channel", top["channel"]),
                 day=f"{top['day']:%m-%d}")
    else:
        ch = full.idxmax()
        text = m("load_full", channel=m.label("channel", ch), k=int(full.max()), n=n_days)
    takeaway(ax, text)
    return ax


def plot_staffing(table: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Agent-days needed vs available per channel (:func:`winback.budget.staffing`)."""
    m = Messages(language, scope="plots.schedule")
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    ax.set_title(m("staff_title"))
    ax.set_xlabel(m("channel"))
    ax.set_ylabel(m("staff_y"))
    if table.empty:
        takeaway(ax, m("staff_empty"))
        return ax
    x = np.arange(len(table))
    needed = table["agent_days_needed"].fillna(0).to_numpy()
    ax.bar(x - 0.2, needed, width=0.4, color=PALETTE[0], label=m("needed"))
    ax.bar(x + 0.2, table["agent_days_available"], width=0.4, color=PALETTE[2],
           label=m("available"))
    for xi, (_, r) in zip(x, table.iterrows(), strict=True):
        if r["agents"] == 0 and r["contacts_needed"] > 0:
            ax.annotate(m("no_team"), (xi - 0.2, 0), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=8, color="#aa0000")
    ax.set_xticks(x, m.names("channel", table["channel"]))
    ax.legend(fontsize=8)
    short = m.names("channel", table.loc[~table["fits"], "channel"])
    text = (m("staff_ok") if not short
            else m("staff_short", channels=m("common.list_sep").join(short)))
    takeaway(ax, text)
    return ax


def plot_budget(summary: pd.DataFrame, *, cap: float, ax=None, currency: str = "CNY",
                language: str = "en", **kw):
    """The campaign's budget by category against the cap (:func:`winback.budget.budget_summary`).

    One stacked bar (the y axis is the campaign itself; its label says so, no unit).
    """
    m = Messages(language, scope="plots.schedule")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 3.2)))
    parts = summary.loc[summary["category"] != "total"]
    total = float(summary.loc[summary["category"] == "total", "amount"].sum())
    left = 0.0
    for i, (_, r) in enumerate(parts.iterrows()):
        ax.barh(0, r["amount"], left=left, height=0.5, color=PALETTE[i % len(PALETTE)],
                label=m("budget_item", category=m.label("budget_category", r["category"]),
                        amount=r["amount"]))
        left += r["amount"]
    ax.axvline(cap, color="#aa0000", linestyle="--", linewidth=1.2, label=m("cap", cap=cap))
    ax.set_yticks([])
    ax.set_ylabel(m("budget_y"))
    ax.set_xlim(0, max(cap, total) * 1.1 or 1)
    format_money(ax, axis="x", currency=currency)
    ax.set_xlabel(m("amount", currency=currency))
    ax.set_title(m("budget_title"))
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    if total <= cap:
        text = (m("budget_fits", currency=currency, total=total, s=total / cap) if cap
                else m("budget_total", currency=currency, total=total))
    else:
        text = m("budget_over", currency=currency, total=total, over=total - cap)
    takeaway(ax, text)
    return ax
