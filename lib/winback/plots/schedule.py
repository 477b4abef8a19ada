"""Charts of stage 5: the campaign plan (Gantt), the daily load, staffing and budget."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from winback.plots.theme import PALETTE, format_money, new_axes, takeaway

__all__ = ["plot_budget", "plot_campaign_plan", "plot_daily_load", "plot_staffing"]


def plot_campaign_plan(plan: pd.DataFrame, *, ax=None, contact_days: pd.DatetimeIndex | None = None,
                       execution_month: str | None = None, **kw):
    """Gantt chart of the 8-week plan (:func:`winback.schedule.campaign_plan`).

    One bar per task from its first to its last day, coloured by phase; the execution
    month is shaded and the contact days are ticked under the execution bars.
    """
    ax = new_axes(ax, figsize=kw.pop("figsize", (9, 4.6)))
    if plan.empty:
        ax.set_title("Campaign plan")
        takeaway(ax, "No task in params schedule.plan.tasks.")
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
                   color="#999999", alpha=0.12, zorder=0, label=f"execution month {execution_month}")
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
    ax.set_xlabel("date (month-day, ticks on Mondays)")
    ax.set_ylabel("task")
    ax.set_title(f"Campaign plan: {int(plan['week_end'].max())} weeks")
    ax.legend(loc="lower left", fontsize=8, frameon=True)
    first, last = plan["start"].min(), plan["end"].max()
    if contact_days is not None and len(contact_days):
        text = (f"Plan {first:%Y-%m-%d} to {last:%Y-%m-%d}; one-to-one contacts on "
                f"{len(contact_days)} working days, {contact_days[0]:%m-%d} to "
                f"{contact_days[-1]:%m-%d}.")
    else:
        text = f"Plan {first:%Y-%m-%d} to {last:%Y-%m-%d}."
    takeaway(ax, text)
    return ax


def plot_daily_load(load: pd.DataFrame, *, ax=None, **kw):
    """Heatmap of the share of each channel's capacity used per contact day.

    ``load`` is :func:`winback.schedule.daily_load`; each cell shows the share used.
    """
    data = load.loc[load["capacity"] > 0]
    n_days = data["day"].nunique()
    ax = new_axes(ax, figsize=kw.pop("figsize", (max(6.0, 0.55 * n_days + 2), 3.6)))
    ax.set_title("Daily load: contacts scheduled / capacity")
    ax.set_xlabel("contact day (month-day)")
    ax.set_ylabel("channel")
    if data.empty:
        takeaway(ax, "No contact day with a staffed channel.")
        return ax
    grid = data.pivot_table(index="channel", columns="day", values="utilization",
                            aggfunc="sum", sort=True)
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 else "#333333")
    ax.set_xticks(range(grid.shape[1]), [f"{d:%m-%d}" for d in grid.columns], rotation=45)
    ax.set_yticks(range(grid.shape[0]), grid.index.tolist())
    ax.grid(False)
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    cbar.set_label("capacity used")
    full = data.loc[data["scheduled"] >= data["capacity"]].groupby("channel").size()
    if full.empty:
        top = data.loc[data["utilization"].idxmax()]
        text = (f"No channel is full on any day; the peak is {top['utilization']:.0%} "
                f"({top['channel']}, {top['day']:%m-%d}).")
    else:
        ch = full.idxmax()
        text = f"{ch} is full on {int(full.max())} of {n_days} contact days: the bottleneck."
    takeaway(ax, text)
    return ax


def plot_staffing(table: pd.DataFrame, *, ax=None, **kw):
    """Agent-days needed vs available per channel (:func:`winback.budget.staffing`)."""
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    ax.set_title("Staffing: agent-days needed vs available")
    ax.set_xlabel("channel")
    ax.set_ylabel("agent-days")
    if table.empty:
        takeaway(ax, "No contact planned.")
        return ax
    x = np.arange(len(table))
    needed = table["agent_days_needed"].fillna(0).to_numpy()
    ax.bar(x - 0.2, needed, width=0.4, color=PALETTE[0], label="needed")
    ax.bar(x + 0.2, table["agent_days_available"], width=0.4, color=PALETTE[2],
           label="available")
    for xi, (_, r) in zip(x, table.iterrows(), strict=True):
        if r["agents"] == 0 and r["contacts_needed"] > 0:
            ax.annotate("no team", (xi - 0.2, 0), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=8, color="#aa0000")
    ax.set_xticks(x, table["channel"].tolist())
    ax.legend(fontsize=8)
    short = table.loc[~table["fits"], "channel"].tolist()
    text = ("Every channel has the agent-days its contacts need." if not short
            else f"Short of agents on {', '.join(short)}: their extra contacts are unscheduled.")
    takeaway(ax, text)
    return ax


def plot_budget(summary: pd.DataFrame, *, cap: float, ax=None, currency: str = "CNY", **kw):
    """The campaign's budget by category against the cap (:func:`winback.budget.budget_summary`)."""
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 3.2)))
    parts = summary.loc[summary["category"] != "total"]
    total = float(summary.loc[summary["category"] == "total", "amount"].sum())
    left = 0.0
    for i, (_, r) in enumerate(parts.iterrows()):
        ax.barh(0, r["amount"], left=left, height=0.5, color=PALETTE[i % len(PALETTE)],
                label=f"{r['category']} {r['amount']:,.0f}")
        left += r["amount"]
    ax.axvline(cap, color="#aa0000", linestyle="--", linewidth=1.2, label=f"cap {cap:,.0f}")
    ax.set_yticks([])
    ax.set_xlim(0, max(cap, total) * 1.1 or 1)
    format_money(ax, axis="x", currency=currency)
    ax.set_xlabel(f"amount ({currency})")
    ax.set_title("Campaign budget vs cap")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    if total <= cap:
        text = f"Total {currency} {total:,.0f}: {total / cap:.0%} of the cap, it fits." if cap \
            else f"Total {currency} {total:,.0f}."
    else:
        text = f"Total {currency} {total:,.0f} exceeds the cap by {total - cap:,.0f}."
    takeaway(ax, text)
    return ax
