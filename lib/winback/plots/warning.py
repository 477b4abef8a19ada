"""Charts of stage 7 (early warning): backtest by month, precision at capacity, calibration,
coefficients, watchlist factors, threshold alerts and realized watchlist performance.
Each takes an aggregate table from :mod:`winback.warning`, never raw transactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.messages import Messages
from winback.plots.theme import PALETTE, format_pct, interval_errors, new_axes, takeaway

__all__ = [
    "plot_alert_counts",
    "plot_backtest",
    "plot_capacity_curve",
    "plot_coefficients",
    "plot_factor_counts",
    "plot_realized",
    "plot_reliability",
]

_COLORS = {"logistic": PALETTE[0], "gbm": PALETTE[1], "recency_rule": PALETTE[7]}

def _empty(ax, title: str, text: str):
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_backtest(metrics: pd.DataFrame, *, metric: str = "pr_auc", ax=None,
                  language: str = "en"):
    """One metric per evaluated month for each model and the recency rule, with 95% bands.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Backtest.metrics`` (``month``, ``model``, ``metric``, ``value``, ``ci_low``,
        ``ci_high``).
    metric
        Metric to draw (``pr_auc``, ``roc_auc``, ``precision_at_capacity``, ...).
    """
    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax)
    name = t.label("warning.metric", metric)
    title = t("backtest", metric=name)
    sub = metrics.loc[metrics["metric"] == metric] if len(metrics) else metrics
    if sub.empty:
        return _empty(ax, title, t("common.none"))
    months = sorted(sub["month"].unique())
    x = np.arange(len(months))
    means = {}
    for model in ("logistic", "gbm", "recency_rule"):
        m = sub.loc[sub["model"] == model].set_index("month").reindex(months)
        if m["value"].isna().all():
            continue
        ax.plot(x, m["value"], marker="o", color=_COLORS[model], label=t.label("warning.model", model))
        ax.fill_between(x, m["ci_low"], m["ci_high"], color=_COLORS[model], alpha=0.15)
        means[model] = float(m["value"].mean())
    ax.set_xticks(x, months, rotation=0)
    ax.set_xlabel(t("month"))
    ax.set_ylabel(name)
    ax.legend(frameon=False)
    ax.set_title(title)
    best = max((k for k in means if k != "recency_rule"), key=means.get, default=None)
    if best is not None and "recency_rule" in means:
        takeaway(ax, t("bt_takeaway", metric=name, best=t.label("warning.model", best), b=means[best],
                                             r=means["recency_rule"]))
    return ax


def plot_capacity_curve(curve: pd.DataFrame, *, capacity: int, ax=None, language: str = "en"):
    """Precision at ``k`` contacts for each model and the rule, the capacity marked.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``Backtest.capacity_curve()`` (``model``, ``k``, ``precision``, ``recall``).
    capacity
        Contacts per month the call centre can make.
    """
    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax)
    if curve.empty:
        return _empty(ax, t("curve"), t("common.none"))
    at = {}
    for model, g in curve.groupby("model", sort=False):
        ax.plot(g["k"], g["precision"], color=_COLORS.get(model), label=t.label("warning.model", model))
        row = g.iloc[(g["k"] - capacity).abs().argmin()]
        at[model] = float(row["precision"])
    ax.axvline(capacity, color="#555555", ls="--", lw=1)
    ax.annotate(t("capacity", k=capacity), (capacity, 1), xycoords=("data", "axes fraction"),
                xytext=(4, -12), textcoords="offset points", fontsize=8, color="#555555")
    ax.set_xlabel(t("k"))
    ax.set_ylabel(t("precision"))
    format_pct(ax)
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    ax.set_title(t("curve"))
    best = max((k for k in at if k != "recency_rule"), key=at.get, default=None)
    if best is not None and "recency_rule" in at:
        takeaway(ax, t("curve_takeaway", k=capacity, best=t.label("warning.model", best), b=at[best],
                                                r=at["recency_rule"]))
    return ax


def plot_reliability(reliability: pd.DataFrame, *, model: str | None = None,
                     brier: float | None = None, ax=None, language: str = "en"):
    """Reliability curve: mean predicted risk vs observed churn rate per bin, with 95% bars.

    Parameters
    ----------
    reliability : pandas.DataFrame
        ``Backtest.reliability()`` (``model``, ``bin``, ``n``, ``mean_predicted``,
        ``observed``, ``observed_low``, ``observed_high``).
    model
        Draw this model only (all models when ``None``).
    brier
        Brier score shown in the takeaway.
    """
    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax)
    rel = reliability if model is None else reliability.loc[reliability["model"] == model]
    if rel.empty:
        return _empty(ax, t("reliability"), t("common.none"))
    ax.plot([0, 1], [0, 1], color="#999999", ls="--", lw=1, label=t("perfect"))
    for name, g in rel.groupby("model", sort=False):
        err = interval_errors(g["observed"], g["observed_low"], g["observed_high"])
        ax.errorbar(g["mean_predicted"], g["observed"], yerr=err, marker="o", capsize=3,
                    color=_COLORS.get(name), label=t.label("warning.model", name))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    format_pct(ax, "x")
    format_pct(ax, "y")
    ax.set_xlabel(t("predicted"))
    ax.set_ylabel(t("observed"))
    ax.legend(frameon=False, loc="upper left")
    ax.set_title(t("reliability"))
    first = rel["model"].iloc[0]
    g = rel.loc[rel["model"] == first]
    weights = g["n"] / g["n"].sum()
    gap = float(((g["observed"] - g["mean_predicted"]).abs() * (weights > 0.01)).max())
    if brier is not None:
        takeaway(ax, t("rel_takeaway", model=t.label("warning.model", first), b=brier,
                                              gap=gap))
    return ax


def plot_coefficients(coefficients: pd.DataFrame, *, ax=None, language: str = "en"):
    """Horizontal bars of the logistic coefficients (log-odds per standard deviation).

    Parameters
    ----------
    coefficients : pandas.DataFrame
        ``WarningModel.coefficients()`` (``feature``, ``coef``, ...).
    """
    from winback.warning import FEATURE_LABELS

    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax, figsize=(8, 5.5))
    if coefficients.empty:
        return _empty(ax, t("coef"), t("common.none"))
    idx = 1 if language == "zh" else 0
    c = coefficients.sort_values("coef")
    labels = [FEATURE_LABELS.get(f, (f, f))[idx] for f in c["feature"]]
    colors = [PALETTE[3] if v > 0 else PALETTE[2] for v in c["coef"]]
    ax.barh(labels, c["coef"], color=colors)
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_xlabel(t("coef_axis"))
    ax.set_ylabel(t("feature"))
    ax.set_title(t("coef"))
    top = coefficients.iloc[coefficients["coef"].abs().argmax()]
    takeaway(ax, t("coef_takeaway",
        f=FEATURE_LABELS.get(top["feature"], (top["feature"],) * 2)[idx], c=top["coef"],
        dir=t("up") if top["coef"] > 0 else t("down")))
    return ax


def plot_factor_counts(counts: pd.DataFrame, *, top: int = 10, ax=None, language: str = "en"):
    """How many watchlisted customers have each feature as main factor / among the top three.

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`winback.warning.factor_counts` (``label``, ``first``, ``any``, ``share``).
    """
    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax)
    if counts.empty:
        return _empty(ax, t("factors"), t("common.none"))
    c = counts.head(top).iloc[::-1]
    y = np.arange(len(c))
    ax.barh(y + 0.2, c["any"], 0.4, color=PALETTE[7], label=t("any"))
    ax.barh(y - 0.2, c["first"], 0.4, color=PALETTE[3], label=t("first"))
    ax.set_yticks(y, c["label"])
    ax.set_xlabel(t("factor_axis"))
    ax.set_ylabel(t("feature"))
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t("factors"))
    first = counts.iloc[0]
    takeaway(ax, t("factor_takeaway", f=first["label"], s=first["share"]))
    return ax


def plot_alert_counts(counts: pd.DataFrame, *, ax=None, language: str = "en"):
    """Bars of customers per threshold alert, with how many are also on the watchlist.

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`winback.warning.alert_counts` (``alert``, ``customers``, ``share``,
        ``on_watchlist``).
    """
    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax)
    if counts.empty:
        return _empty(ax, t("alerts"), t("common.none"))
    x = np.arange(len(counts))
    names = [t.label("warning.alert", a) for a in counts["alert"]]
    ax.bar(x, counts["customers"], color=PALETTE[0], label=t("alert_axis"))
    ax.bar(x, counts["on_watchlist"], color=PALETTE[3], label=t("listed"))
    for xi, n, s in zip(x, counts["customers"], counts["share"], strict=True):
        ax.annotate(f"{n:,} ({s:.0%})", (xi, n), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_xlabel(t("alert_rule"))
    ax.set_ylabel(t("alert_axis"))
    ax.legend(frameon=False)
    ax.set_title(t("alerts"))
    row = counts.set_index("alert").loc["any_alert"]
    takeaway(ax, t("alert_takeaway", n=int(row["customers"]), s=row["share"],
                                            w=int(row["on_watchlist"])))
    return ax


def plot_realized(performance: pd.DataFrame, *, horizon: int, ax=None, language: str = "en"):
    """Realized precision of each past watchlist (95% interval) against the base churn rate.

    Parameters
    ----------
    performance : pandas.DataFrame
        The store's ``warning_performance`` rows (metrics ``realized_precision`` and
        ``realized_base_rate``).
    horizon
        Label horizon in months (for the empty message).
    """
    t = Messages(language, scope="plots.warning")
    ax = new_axes(ax)
    p = performance.loc[performance["metric"] == "realized_precision"] if len(performance) \
        else performance
    if p.empty:
        return _empty(ax, t("realized"), t("no_realized", h=horizon))
    p = p.sort_values("month")
    b = performance.loc[performance["metric"] == "realized_base_rate"].set_index("month")
    x = np.arange(len(p))
    err = interval_errors(p["value"], p["ci_low"], p["ci_high"])
    ax.errorbar(x, p["value"], yerr=err, marker="o", capsize=3, color=PALETTE[0],
                label=t("realized_axis"))
    base = b["value"].reindex(p["month"]).to_numpy()
    ax.plot(x, base, marker="s", ls="--", color=PALETTE[7], label=t("base"))
    ax.set_xticks(x, p["month"])
    ax.set_xlabel(t("watch_month"))
    ax.set_ylabel(t("realized_axis"))
    format_pct(ax)
    top = np.nanmax(np.r_[p["ci_high"].to_numpy(dtype=float), base, p["value"].to_numpy()])
    ax.set_ylim(0, min(1.0, 1.25 * top + 0.05) if np.isfinite(top) else 1.0)
    ax.legend(frameon=False)
    ax.set_title(t("realized"))
    takeaway(ax, t("realized_takeaway", m=p["month"].iloc[-1], p=p["value"].iloc[-1],
                                               b=base[-1]))
    return ax
