"""Charts of stage 2: churn trend and concentration, profile, reason coverage and mix, drivers.

Texts come from :mod:`winback.messages` (``plots.reasons.*``) in the ``language`` given;
reason names are passed in (``labels``) or read from the mix's ``label`` column, which
:func:`winback.reasons.reason_mix` writes in the same language.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from winback.messages import Messages
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


def reason_colours(codes) -> dict[str, str]:
    """A colour per reason code, in the given order (e.g. by overall share), plus grey ``other``.

    Pass the same mapping to every reason chart so a reason keeps its colour.
    """
    out = {str(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(dict.fromkeys(codes))}
    out["other"] = "#cccccc"
    return out


def _pct(x: float, m: Messages) -> str:
    return m("common.na") if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def _name(labels: Mapping[str, str] | None, code, m: Messages, group: str | None = None) -> str:
    """A code's name: from ``labels``, else the catalog (``other``, churn types), else the code."""
    if labels and code in labels:
        return labels[code]
    if code == "other":
        return m("common.other")
    return m.label(group, code) if group else str(code)


def _empty(ax, title: str, text: str):
    ax.set_title(title)
    takeaway(ax, text)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_churn_trend(rates: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Monthly churn rate with its 95% interval (overall rows of :func:`winback.reasons.churn_rates`)."""
    m = Messages(language, scope="plots.reasons")
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    data = rates[rates["dimension"] == "overall"].sort_values("month")
    title = m("trend_title")
    if data.empty:
        return _empty(ax, title, m("trend_empty"))
    x = np.arange(len(data))
    ax.fill_between(x, data["low"], data["high"], color=PALETTE[0], alpha=0.2,
                    label=m("common.interval95"))
    ax.plot(x, data["rate"], marker="o", color=PALETTE[0], label=m("rate"))
    ax.set_xticks(x, data["month"].tolist(), rotation=45)
    ax.set_xlabel(m("common.month"))
    ax.set_ylabel(m("trend_y"))
    ax.set_ylim(bottom=0)
    format_pct(ax, "y", 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    peak = data.loc[data["rate"].idxmax()]
    last = data.iloc[-1]
    takeaway(ax, m("trend_takeaway", last=last["month"], rate=_pct(last["rate"], m),
                   peak=peak["month"], peak_rate=_pct(peak["rate"], m),
                   n=int(peak["n_churned"]), base=int(peak["n_base"])))
    return ax


def plot_segment_trend(rates: pd.DataFrame, dimension: str, *, ax=None, top: int = 6,
                       language: str = "en", **kw):
    """Monthly churn rate per segment of one dimension (the ``top`` largest segments)."""
    m = Messages(language, scope="plots.reasons")
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    data = rates[rates["dimension"] == dimension]
    dim = m.label("dimension", dimension)
    title = m("segment_title", dim=dim)
    if data.empty:
        return _empty(ax, title, m("no_breakdown", dim=dim))
    size = data.groupby("segment")["n_base"].sum().sort_values(ascending=False)
    keep = size.index[:top].tolist()
    months = sorted(data["month"].unique())
    x = {mo: i for i, mo in enumerate(months)}
    for i, seg in enumerate(keep):
        part = data[data["segment"] == seg].sort_values("month")
        ax.plot([x[mo] for mo in part["month"]], part["rate"], marker="o", ms=3,
                color=PALETTE[i % len(PALETTE)], label=str(seg))
    overall = rates[rates["dimension"] == "overall"].sort_values("month")
    overall = overall[overall["month"].isin(months)]
    ax.plot([x[mo] for mo in overall["month"]], overall["rate"], color="#333333", lw=2, ls="--",
            label=m("common.overall"))
    ax.set_xticks(range(len(months)), months, rotation=45)
    ax.set_xlabel(m("common.month"))
    ax.set_ylabel(m("segment_y"))
    ax.set_ylim(bottom=0)
    format_pct(ax, "y", 0)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    ax.set_title(title)
    last = data[data["month"] == months[-1]]
    last = last[last["segment"].isin(keep)]
    if len(last):
        hi = last.loc[last["rate"].idxmax()]
        hidden = len(size) - len(keep)
        takeaway(ax, m("segment_takeaway", month=months[-1], segment=hi["segment"],
                       rate=_pct(hi["rate"], m), n=int(hi["n_churned"]), base=int(hi["n_base"]))
                 + (m("hidden", k=hidden) if hidden else m("common.period")))
    return ax


def plot_concentration(conc: pd.DataFrame, dimension: str, *, ax=None, top: int = 10,
                       language: str = "en", **kw):
    """Pooled churn rate per segment with 95% intervals against the overall rate.

    Draws the ``top`` ranked segments (highest rates); segments too small to rank are drawn
    (grey) only when there is room, and the takeaway counts what is not drawn.
    """
    m = Messages(language, scope="plots.reasons")
    every = conc[conc["dimension"] == dimension]
    ranked_rows = every[every["rank"].notna()].sort_values("rank").head(top)
    room = max(0, top - len(ranked_rows))
    small = every[every["rank"].isna()].sort_values("n_base", ascending=False).head(room)
    data = pd.concat([ranked_rows, small]).sort_values("rate")
    hidden = len(every) - len(data)
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.5, 0.35 * len(data) + 1.5))))
    dim = m.label("dimension", dimension)
    title = m("conc_title", dim=dim)
    if data.empty:
        return _empty(ax, title, m("no_breakdown", dim=dim))
    y = np.arange(len(data))
    ranked = data["rank"].notna().to_numpy()
    colours = np.where(data["above_overall"], PALETTE[3], PALETTE[0])
    colours = np.where(ranked, colours, "#bbbbbb")
    ax.barh(y, data["rate"], color=colours,
            xerr=interval_errors(data["rate"], data["low"], data["high"]),
            error_kw={"elinewidth": 1, "capsize": 2})
    overall = float(data["overall_rate"].iloc[0])
    ax.axvline(overall, color="#333333", ls="--", lw=1,
               label=m("overall_line", rate=_pct(overall, m)))
    ax.set_yticks(y, [f"{s} (n={n})" for s, n in zip(data["segment"], data["n_base"],
                                                     strict=True)])
    ax.set_xlabel(m("conc_x", months=data["months"].iloc[0]))
    ax.set_ylabel(dim)
    format_pct(ax, "x", 0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    first = data[data["rank"] == 1]
    if len(first):
        r = first.iloc[0]
        takeaway(ax, m("conc_takeaway", segment=r["segment"], rate=_pct(r["rate"], m),
                       overall=_pct(overall, m), lift=r["lift"],
                       more=m("more", k=hidden) if hidden else ""))
    return ax


def plot_profile_effects(tests: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Effect size of each churned-vs-retained difference with its 95% interval."""
    m = Messages(language, scope="plots.reasons")
    data = tests.dropna(subset=["effect_size"]).iloc[::-1]
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(2.5, 0.4 * len(data) + 1.5))))
    title = m("profile_title")
    if data.empty:
        return _empty(ax, title, m("profile_empty"))
    y = np.arange(len(data))
    for yi, row in zip(y, data.itertuples(), strict=True):
        colour = PALETTE[3] if row.significant else "#888888"
        lo = row.effect_low if np.isfinite(row.effect_low) else row.effect_size
        hi = row.effect_high if np.isfinite(row.effect_high) else row.effect_size
        ax.plot([lo, hi], [yi, yi], color=colour, lw=2)
        ax.plot(row.effect_size, yi, "o", color=colour,
                mfc=colour if row.significant else "white")
    ax.axvline(0, color="#333333", lw=1)
    ax.set_yticks(y, [f"{m.label('variable', r.variable)} ({m.label('effect', r.effect)})"
                      for r in data.itertuples()])
    ax.set_xlabel(m("profile_x"))
    ax.set_ylabel(m("profile_y"))
    ax.set_title(title)
    sig = tests[tests["significant"]]
    largest = (m("largest", variable=m.label(
        "variable", sig.loc[sig["effect_size"].abs().idxmax(), "variable"]))
               if len(sig) else "")
    takeaway(ax, m("profile_takeaway", k=len(sig), n=len(tests), largest=largest))
    return ax


def plot_coverage(coverage: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Share of churned customers whose reason is known, by the source it came from."""
    m = Messages(language, scope="plots.reasons")
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    data = coverage.copy()
    title = m("coverage_title")
    n = int(data["n_customers"].iloc[0]) if len(data) else 0
    if n == 0:
        return _empty(ax, title, m("coverage_empty"))
    x = np.arange(len(data))
    ax.bar(x - 0.2, data["share"], width=0.4, color=PALETTE[0],
           yerr=interval_errors(data["share"], data["low"], data["high"]), capsize=3,
           label=m("taken"))
    ax.bar(x + 0.2, data["available_share"], width=0.4, color=PALETTE[2],
           yerr=interval_errors(data["available_share"], data["available_low"],
                                data["available_high"]),
           capsize=3, label=m("available"))
    ax.set_xticks(x, m.names("evidence", data["source"]))
    ax.set_xlabel(m("coverage_x"))
    ax.set_ylabel(m("coverage_y", n=n))
    ax.set_ylim(0, 1)
    format_pct(ax, "y", 0)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title)
    anyrow = data[data["source"] == "any"].iloc[0]
    takeaway(ax, m("coverage_takeaway", rate=_pct(anyrow["share"], m),
                   k=int(anyrow["assigned"]), n=n))
    return ax


def plot_reason_mix(mix: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Share of each reason among churned customers with a known reason, coloured by type.

    ``mix`` is :func:`winback.reasons.reason_mix` in the same ``language`` (its ``label``
    column names the reasons).
    """
    m = Messages(language, scope="plots.reasons")
    data = mix.iloc[::-1]
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(3.0, 0.33 * len(data) + 1.5))))
    title = m("mix_title")
    if data.empty:
        return _empty(ax, title, m("mix_empty"))
    y = np.arange(len(data))
    colours = [TYPE_COLOUR.get(t, "#999999") for t in data["churn_type"]]
    ax.barh(y, data["share"], color=colours,
            xerr=interval_errors(data["share"], data["low"], data["high"]),
            error_kw={"elinewidth": 1, "capsize": 2})
    ax.set_yticks(y, data["label"].tolist())
    ax.set_xlabel(m("mix_x", n=int(mix["total"].iloc[0])))
    ax.set_ylabel(m("reason"))
    format_pct(ax, "x", 0)
    handles = [Patch(color=c, label=m.label("churn_type", t)) for t, c in TYPE_COLOUR.items()
               if t in set(data["churn_type"])]
    ax.legend(handles=handles, fontsize=8, loc="lower right", title=m("churn_type"))
    ax.set_title(title)
    r = mix.iloc[0]
    takeaway(ax, m("mix_takeaway", label=r["label"], rate=_pct(r["share"], m),
                   low=_pct(r["low"], m), high=_pct(r["high"], m)))
    return ax


def plot_reason_mix_by(mix: pd.DataFrame, by: str, *, ax=None, top: int = 6,
                       labels: Mapping[str, str] | None = None,
                       colours: Mapping[str, str] | None = None, language: str = "en", **kw):
    """100% stacked bars of the reason mix per segment (``top`` reasons, the rest as other).

    ``labels`` maps reason codes to their names in ``language`` (the engagement's reason
    taxonomy); codes without a name are shown as they are.
    """
    m = Messages(language, scope="plots.reasons")
    groups = mix[by].astype(str).unique() if len(mix) else []
    ax = new_axes(ax, figsize=kw.pop("figsize", (9, max(2.8, 0.45 * len(groups) + 1.8))))
    dim = m.label("dimension", by)
    title = m("mix_by_title", dim=dim)
    if len(mix) == 0:
        return _empty(ax, title, m("mix_empty"))
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
        colour = colours.get(code, PALETTE[i % len(PALETTE)])
        ax.barh(y, shares[code], left=left, color=colour, label=_name(labels, code, m))
        left += shares[code].to_numpy()
    ax.set_yticks(y, [f"{g} (n={int(n)})" for g, n in zip(shares.index, totals, strict=True)])
    ax.set_xlim(0, 1)
    format_pct(ax, "x", 0)
    ax.set_xlabel(m("mix_by_x"))
    ax.set_ylabel(dim)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=m("reason"))
    ax.set_title(title)
    if set(shares.index.astype(str)) == {NO_TIERS}:
        takeaway(ax, m("no_tiers"))
        return ax
    lead = shares.drop(columns="other", errors="ignore").idxmax(axis=1)
    distinct = {g: c for g, c in lead.items() if c != keep[0]}
    name = _name(labels, keep[0], m)
    if distinct:
        g, c = next(iter(distinct.items()))
        text = m("mix_by_distinct", name=name, segment=g, other=_name(labels, c, m),
                 rate=_pct(shares.loc[g, c], m))
    else:
        text = m("mix_by_same", name=name)
    takeaway(ax, text)
    return ax


def plot_reason_trend(trend: pd.DataFrame, *, ax=None, key: str = "churn_type",
                      labels: Mapping[str, str] | None = None,
                      colours: Mapping[str, str] | None = None, top: int = 5,
                      language: str = "en", **kw):
    """Reason (or churn-type) mix of each month's newly churned customers.

    ``labels`` maps reason codes to their names in ``language``; churn types are named
    from the catalog.
    """
    m = Messages(language, scope="plots.reasons")
    group = "churn_type" if key == "churn_type" else None
    ax = new_axes(ax, figsize=kw.pop("figsize", None))
    title = m("type_trend_title") if key == "churn_type" else m("reason_trend_title")
    if trend.empty:
        return _empty(ax, title, m("reason_trend_empty"))
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
        ax.bar(x, shares[code], bottom=bottom, color=colour, label=_name(labels, code, m, group))
        bottom += shares[code].to_numpy()
    n = table.sum(axis=1)
    ax.set_xticks(x, [f"{mo}\nn={int(k)}" for mo, k in zip(months, n, strict=True)],
                  fontsize=8 if len(months) > 6 else None, rotation=45 if len(months) > 8 else 0)
    ax.set_ylim(0, 1)
    format_pct(ax, "y", 0)
    ax.set_xlabel(m("reason_trend_x"))
    ax.set_ylabel(m("common.share_pct"))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    takeaway(ax, m("reason_trend_takeaway", name=_name(labels, keep[0], m, group),
                   first=months[0], last=months[-1], k=int(totals.iloc[0]),
                   n=int(totals.sum())))
    return ax


def plot_odds_ratios(summary: pd.DataFrame, *, ax=None, language: str = "en", **kw):
    """Forest plot of odds ratios per standard deviation (:meth:`ChurnDrivers.summary`)."""
    m = Messages(language, scope="plots.reasons")
    data = summary.sort_values("rank", ascending=False)
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, max(3.0, 0.35 * len(data) + 1.5))))
    title = m("odds_title")
    if data.empty:
        return _empty(ax, title, m("odds_empty"))
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
    ax.set_yticks(y, m.names("variable", data["indicator"]))
    ax.set_xlabel(m("odds_x"))
    ax.set_ylabel(m("odds_y"))
    ax.set_title(title)
    if sig.any():
        r = data[sig].sort_values("rank").iloc[0]
        takeaway(ax, m("odds_takeaway", indicator=m.label("variable", r["indicator"]),
                       ratio=r["odds_ratio"],
                       low=r["or_low"], high=r["or_high"], k=int(sig.sum()), n=len(data)))
    else:
        takeaway(ax, m("odds_none"))
    return ax
