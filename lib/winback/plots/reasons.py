"""Charts of stage 2: churn trend and concentration, profile, reason coverage and mix, drivers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from winback.plots.theme import PALETTE, format_pct, interval_errors, new_axes, takeaway
from winback.reasons import NO_TIERS

__all__ = [
    "plot_churn_trend",
    "plot_concentration",
    "plot_coverage",
    "plot_odds_ratios",
    "plot_profile_effects",
    "plot_reason_mix",
    "plot_reason_mix_by",
    "plot_reason_trend",
    "plot_segment_trend",
    "reason_colours",
]

TYPE_COLOUR = {"passive": PALETTE[0], "active": PALETTE[1], "unknown": "#999999"}
_DIM = {"business_line": "business line", "region": "region", "tier": "tier (last month)",
        "cohort": "signup cohort (quarter)", "overall": "overall"}


def reason_colours(codes) -> dict[str, str]:
    """A colour per reason code, in the given order (e.g. by overall share), plus grey ``other``.

    Pass the same mapping to every reason chart so a reason keeps its colour.
    """
    out = {str(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(dict.fromkeys(codes))}
    out["other"] = "#cccccc"
    return out


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def _empty(ax, title: str, text: str):
    ax.set_title(title)
    takeaway(ax, text)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_churn_trend(rates: pd.DataFrame, *, ax=None, **kw):
    """Monthly churn rate with its 95% interval (overall rows of :func:`winback.reasons.churn_rates`)."""
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    data = rates[rates["dimension"] == "overall"].sort_values("month")
    title = "Monthly churn rate"
    if data.empty:
        return _empty(ax, title, "No rate yet: churn statuses of two consecutive months needed.")
    x = np.arange(len(data))
    ax.fill_between(x, data["low"], data["high"], color=PALETTE[0], alpha=0.2,
                    label="95% interval")
    ax.plot(x, data["rate"], marker="o", color=PALETTE[0], label="churn rate")
    ax.set_xticks(x, data["month"].tolist(), rotation=45)
    ax.set_xlabel("month")
    ax.set_ylabel("newly churned / active + at-risk at previous month end")
    ax.set_ylim(bottom=0)
    format_pct(ax, "y", 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    peak = data.loc[data["rate"].idxmax()]
    last = data.iloc[-1]
    takeaway(ax, f"Latest {last['month']}: {_pct(last['rate'])}; peak {peak['month']}: "
                 f"{_pct(peak['rate'])} ({int(peak['n_churned'])} of {int(peak['n_base'])}).")
    return ax


def plot_segment_trend(rates: pd.DataFrame, dimension: str, *, ax=None, top: int = 6, **kw):
    """Monthly churn rate per segment of one dimension (the ``top`` largest segments)."""
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    data = rates[rates["dimension"] == dimension]
    title = f"Monthly churn rate by {_DIM.get(dimension, dimension)}"
    if data.empty:
        return _empty(ax, title, f"No {dimension} breakdown available.")
    size = data.groupby("segment")["n_base"].sum().sort_values(ascending=False)
    keep = size.index[:top].tolist()
    months = sorted(data["month"].unique())
    x = {m: i for i, m in enumerate(months)}
    for i, seg in enumerate(keep):
        part = data[data["segment"] == seg].sort_values("month")
        ax.plot([x[m] for m in part["month"]], part["rate"], marker="o", ms=3,
                color=PALETTE[i % len(PALETTE)], label=str(seg))
    overall = rates[rates["dimension"] == "overall"].sort_values("month")
    overall = overall[overall["month"].isin(months)]
    ax.plot([x[m] for m in overall["month"]], overall["rate"], color="#333333", lw=2, ls="--",
            label="overall")
    ax.set_xticks(range(len(months)), months, rotation=45)
    ax.set_xlabel("month")
    ax.set_ylabel("churn rate")
    ax.set_ylim(bottom=0)
    format_pct(ax, "y", 0)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    ax.set_title(title)
    last = data[data["month"] == months[-1]]
    last = last[last["segment"].isin(keep)]
    if len(last):
        hi = last.loc[last["rate"].idxmax()]
        hidden = len(size) - len(keep)
        takeaway(ax, f"{months[-1]}: highest in {hi['segment']} at {_pct(hi['rate'])} "
                     f"({int(hi['n_churned'])} of {int(hi['n_base'])})"
                     + (f"; {hidden} smaller segment(s) not drawn." if hidden else "."))
    return ax


def plot_concentration(conc: pd.DataFrame, dimension: str, *, ax=None, top: int = 10, **kw):
    """Pooled churn rate per segment with 95% intervals against the overall rate.

    Draws the ``top`` ranked segments (highest rates); segments too small to rank are drawn
    (grey) only when there is room, and the takeaway counts what is not drawn.
    """
    every = conc[conc["dimension"] == dimension]
    ranked_rows = every[every["rank"].notna()].sort_values("rank").head(top)
    room = max(0, top - len(ranked_rows))
    small = every[every["rank"].isna()].sort_values("n_base", ascending=False).head(room)
    data = pd.concat([ranked_rows, small]).sort_values("rate")
    hidden = len(every) - len(data)
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.5, 0.35 * len(data) + 1.5))))
    title = f"Where churn concentrates: {_DIM.get(dimension, dimension)}"
    if data.empty:
        return _empty(ax, title, f"No {dimension} breakdown available.")
    y = np.arange(len(data))
    ranked = data["rank"].notna().to_numpy()
    colours = np.where(data["above_overall"], PALETTE[3], PALETTE[0])
    colours = np.where(ranked, colours, "#bbbbbb")
    ax.barh(y, data["rate"], color=colours, xerr=interval_errors(data["rate"], data["low"], data["high"]),
            error_kw={"elinewidth": 1, "capsize": 2})
    overall = float(data["overall_rate"].iloc[0])
    ax.axvline(overall, color="#333333", ls="--", lw=1, label=f"overall {_pct(overall)}")
    ax.set_yticks(y, [f"{s} (n={n})" for s, n in zip(data["segment"], data["n_base"],
                                                     strict=True)])
    ax.set_xlabel(f"churn rate, customer-months {data['months'].iloc[0]} (95% interval)")
    ax.set_ylabel(_DIM.get(dimension, dimension))
    format_pct(ax, "x", 0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    top = data[data["rank"] == 1]
    if len(top):
        t = top.iloc[0]
        more = f"; {hidden} more segment(s) not drawn" if hidden else ""
        takeaway(ax, f"Highest: {t['segment']} at {_pct(t['rate'])} vs {_pct(overall)} overall "
                     f"({t['lift']:.1f}x); red = interval above overall, grey = too small{more}.")
    return ax


def plot_profile_effects(tests: pd.DataFrame, *, ax=None, **kw):
    """Effect size of each churned-vs-retained difference with its 95% interval."""
    data = tests.dropna(subset=["effect_size"]).iloc[::-1]
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.5, 0.4 * len(data) + 1.5))))
    title = "Churned vs retained: effect sizes"
    if data.empty:
        return _empty(ax, title, "No attribute could be tested.")
    y = np.arange(len(data))
    for yi, row in zip(y, data.itertuples(), strict=True):
        colour = PALETTE[3] if row.significant else "#888888"
        lo = row.effect_low if np.isfinite(row.effect_low) else row.effect_size
        hi = row.effect_high if np.isfinite(row.effect_high) else row.effect_size
        ax.plot([lo, hi], [yi, yi], color=colour, lw=2)
        ax.plot(row.effect_size, yi, "o", color=colour,
                mfc=colour if row.significant else "white")
    ax.axvline(0, color="#333333", lw=1)
    ax.set_yticks(y, [f"{r.variable} ({r.effect})" for r in data.itertuples()])
    ax.set_xlabel("effect size (Cramér's V 0..1; rank-biserial / Cohen's d: + = churned higher)")
    ax.set_ylabel("attribute")
    ax.set_title(title)
    sig = tests[tests["significant"]]
    takeaway(ax, f"{len(sig)} of {len(tests)} attributes differ after Holm adjustment"
                 + (f"; largest: {sig.loc[sig['effect_size'].abs().idxmax(), 'variable']}"
                    if len(sig) else "") + " (filled = significant).")
    return ax


def plot_coverage(coverage: pd.DataFrame, *, ax=None, **kw):
    """Share of churned customers whose reason is known, by the source it came from."""
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    data = coverage.copy()
    title = "Reason coverage of churned customers"
    n = int(data["n_customers"].iloc[0]) if len(data) else 0
    if n == 0:
        return _empty(ax, title, "No churned customer this month.")
    x = np.arange(len(data))
    ax.bar(x - 0.2, data["share"], width=0.4, color=PALETTE[0],
           yerr=interval_errors(data["share"], data["low"], data["high"]), capsize=3,
           label="reason taken from this source")
    ax.bar(x + 0.2, data["available_share"], width=0.4, color=PALETTE[2],
           yerr=interval_errors(data["available_share"], data["available_low"], data["available_high"]),
           capsize=3, label="any evidence in this source")
    ax.set_xticks(x, data["source"].tolist())
    ax.set_xlabel("source (in priority order; 'any' = all sources)")
    ax.set_ylabel(f"share of {n} churned customers (95% interval)")
    ax.set_ylim(0, 1)
    format_pct(ax, "y", 0)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title)
    anyrow = data[data["source"] == "any"].iloc[0]
    takeaway(ax, f"{_pct(anyrow['share'])} of churned customers have a known reason "
                 f"({int(anyrow['assigned'])} of {n}).")
    return ax


def plot_reason_mix(mix: pd.DataFrame, *, ax=None, **kw):
    """Share of each reason among churned customers with a known reason, coloured by type."""
    data = mix.iloc[::-1]
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(3.0, 0.33 * len(data) + 1.5))))
    title = "Churn reasons (customers with a known reason)"
    if data.empty:
        return _empty(ax, title, "No churned customer with a known reason.")
    y = np.arange(len(data))
    colours = [TYPE_COLOUR.get(t, "#999999") for t in data["churn_type"]]
    ax.barh(y, data["share"], color=colours,
            xerr=interval_errors(data["share"], data["low"], data["high"]),
            error_kw={"elinewidth": 1, "capsize": 2})
    ax.set_yticks(y, data["label"].tolist())
    ax.set_xlabel(f"share of {int(mix['total'].iloc[0])} customers (95% interval)")
    ax.set_ylabel("reason")
    format_pct(ax, "x", 0)
    handles = [Patch(color=c, label=t) for t, c in TYPE_COLOUR.items()
               if t in set(data["churn_type"])]
    ax.legend(handles=handles, fontsize=8, loc="lower right", title="churn type")
    ax.set_title(title)
    t = mix.iloc[0]
    takeaway(ax, f"Top reason: {t['label']} at {_pct(t['share'])} "
                 f"({_pct(t['low'])}–{_pct(t['high'])}).")
    return ax


def plot_reason_mix_by(mix: pd.DataFrame, by: str, *, ax=None, top: int = 6,
                       labels: Mapping[str, str] | None = None,
                       colours: Mapping[str, str] | None = None, **kw):
    """100% stacked bars of the reason mix per segment (``top`` reasons, the rest as other)."""
    groups = mix[by].astype(str).unique() if len(mix) else []
    ax = new_axes(ax, figsize=kw.pop("figsize", (9, max(2.8, 0.45 * len(groups) + 1.8))))
    title = f"Reason mix by {_DIM.get(by, by)}"
    if len(mix) == 0:
        return _empty(ax, title, "No churned customer with a known reason.")
    overall = mix.groupby("reason_code")["n"].sum().sort_values(ascending=False)
    keep = overall.index[:top].tolist()
    data = mix.assign(code=np.where(mix["reason_code"].isin(keep), mix["reason_code"], "other"))
    table = data.pivot_table(index=by, columns="code", values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=[*keep, *(["other"] if "other" in table else [])])
    totals = table.sum(axis=1)
    shares = table.div(totals, axis=0)
    colours = colours or reason_colours(keep)
    y = np.arange(len(shares))
    left = np.zeros(len(shares))
    for i, code in enumerate(shares.columns):
        name = (labels or {}).get(code, code)
        colour = colours.get(code, PALETTE[i % len(PALETTE)])
        ax.barh(y, shares[code], left=left, color=colour, label=name)
        left += shares[code].to_numpy()
    ax.set_yticks(y, [f"{g} (n={int(n)})" for g, n in zip(shares.index, totals, strict=True)])
    ax.set_xlim(0, 1)
    format_pct(ax, "x", 0)
    ax.set_xlabel("share of customers with a known reason")
    ax.set_ylabel(_DIM.get(by, by))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="reason")
    ax.set_title(title)
    if set(shares.index.astype(str)) == {NO_TIERS}:
        takeaway(ax, "No tier breakdown yet: stage 3's store table 'tiers' appears after its "
                     "first run.")
        return ax
    lead = shares.drop(columns="other", errors="ignore").idxmax(axis=1)
    distinct = {g: c for g, c in lead.items() if c != keep[0]}
    if distinct:
        g, c = next(iter(distinct.items()))
        name = (labels or {}).get(keep[0], keep[0])
        text = (f"{name} leads overall; in {g} the top reason is "
                f"{(labels or {}).get(c, c)} ({_pct(shares.loc[g, c])}).")
    else:
        text = f"{(labels or {}).get(keep[0], keep[0])} is the top reason in every segment."
    takeaway(ax, text)
    return ax


def plot_reason_trend(trend: pd.DataFrame, *, ax=None, key: str = "churn_type",
                      labels: Mapping[str, str] | None = None,
                      colours: Mapping[str, str] | None = None, top: int = 5, **kw):
    """Reason (or churn-type) mix of each month's newly churned customers."""
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    title = ("Churn type of newly churned customers by month" if key == "churn_type"
             else "Reasons of newly churned customers by month")
    if trend.empty:
        return _empty(ax, title, "No reasons stored for earlier months yet (the trend builds "
                                 "up as months run).")
    months = sorted(trend["month"].unique())
    totals = trend.groupby(key)["n"].sum().sort_values(ascending=False)
    keep = totals.index[:top].tolist()
    data = trend.assign(code=np.where(trend[key].isin(keep), trend[key], "other"))
    table = data.pivot_table(index="month", columns="code", values="n", aggfunc="sum",
                             fill_value=0).reindex(months, fill_value=0)
    table = table.reindex(columns=[*keep, *(["other"] if "other" in table else [])])
    shares = table.div(table.sum(axis=1).where(lambda s: s > 0, 1), axis=0)
    colours = colours or (TYPE_COLOUR if key == "churn_type" else reason_colours(keep))
    x = np.arange(len(months))
    bottom = np.zeros(len(months))
    for i, code in enumerate(shares.columns):
        colour = colours.get(code, PALETTE[i % len(PALETTE)])
        ax.bar(x, shares[code], bottom=bottom, color=colour, label=(labels or {}).get(code, code))
        bottom += shares[code].to_numpy()
    n = table.sum(axis=1)
    ax.set_xticks(x, [f"{m}\nn={int(k)}" for m, k in zip(months, n, strict=True)],
                  fontsize=8 if len(months) > 6 else None, rotation=45 if len(months) > 8 else 0)
    ax.set_ylim(0, 1)
    format_pct(ax, "y", 0)
    ax.set_xlabel("month newly churned (n = with a known reason)")
    ax.set_ylabel("share")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    first = keep[0]
    takeaway(ax, f"{(labels or {}).get(first, first)} is the largest over {months[0]}.."
                 f"{months[-1]} ({int(totals.iloc[0])} of {int(totals.sum())} customers).")
    return ax


def plot_odds_ratios(summary: pd.DataFrame, *, ax=None, **kw):
    """Forest plot of odds ratios per standard deviation (:meth:`ChurnDrivers.summary`)."""
    data = summary.sort_values("rank", ascending=False)
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(3.0, 0.35 * len(data) + 1.5))))
    title = "Churn drivers: odds ratio per standard deviation"
    if data.empty:
        return _empty(ax, title, "No indicator in the model.")
    y = np.arange(len(data))
    sig = ((data["or_low"] > 1) | (data["or_high"] < 1)).to_numpy()
    colours = np.where(sig, np.where(data["odds_ratio"] > 1, PALETTE[3], PALETTE[0]), "#888888")
    for yi, row, c in zip(y, data.itertuples(), colours, strict=True):
        ax.plot([row.or_low, row.or_high], [yi, yi], color=c, lw=2)
        ax.plot(row.odds_ratio, yi, "o", color=c)
    ax.axvline(1, color="#333333", lw=1)
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_yticks(y, data["indicator"].tolist())
    ax.set_xlabel("odds ratio of churning next month per +1 SD (log scale, 95% interval)")
    ax.set_ylabel("indicator at previous month end")
    ax.set_title(title)
    if sig.any():
        top = data[sig].sort_values("rank").iloc[0]
        takeaway(ax, f"Strongest: {top['indicator']} (OR {top['odds_ratio']:.2f}, "
                     f"{top['or_low']:.2f}–{top['or_high']:.2f}); {int(sig.sum())} of "
                     f"{len(data)} intervals exclude 1.")
    else:
        takeaway(ax, "No odds-ratio interval excludes 1.")
    return ax
