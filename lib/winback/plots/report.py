"""Charts of the monthly report and of the engagement's multi-month view.

Each takes a small table the report module reads from the runs' tables (never raw
transactions): the churn rate by month, the campaigns' treated-vs-control reactivation
and ROI with 95% intervals, and the early-warning model's backtest performance by run
month. Labels follow ``language`` (``"zh"`` or ``"en"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.plots.theme import PALETTE, format_pct, interval_errors, new_axes, takeaway

__all__ = [
    "plot_churn_trend",
    "plot_model_trend",
    "plot_reactivation_trend",
    "plot_roi_trend",
]

_MODEL_COLOURS = {"logistic": PALETTE[0], "gbm": PALETTE[1], "recency_rule": PALETTE[7]}

_TEXT = {
    "en": {
        "churn_title": "Monthly churn rate",
        "churn_y": "churn rate (% of customers not churned a month earlier)",
        "month": "month",
        "target": "target {op} {t:.1%}",
        "churn_none": "Two consecutive months of churn status are needed for a churn rate.",
        "churn_take": "{m}: {r:.1%} ({d:+.1f} points vs {p}); range {lo:.1%} to {hi:.1%} over "
                      "{n} months",
        "churn_take1": "{m}: {r:.1%}; the trend needs more months",
        "react_title": "Reactivation uplift per campaign: treated minus control",
        "react_y": "difference in the share who bought (percentage points)",
        "campaign": "campaign month (months of follow-up)",
        "react_none": "No campaign has been evaluated yet.",
        "react_take": "{k} of {n} campaigns beat their control (interval above 0); "
                      "latest {c}: {d:+.1f} points",
        "react_label": "T {t:.0%} / C {c:.0%}",
        "roi_title": "Campaign ROI with 95% interval",
        "roi_y": "ROI (0% = break-even)",
        "roi_none": "No campaign with a recorded cost has been evaluated yet.",
        "roi_take": "{k} of {n} campaigns above break-even with 95% confidence; latest {c}: "
                    "{r:+.0%}",
        "model_title": "Early-warning model performance: {metric}",
        "model_y": "{metric} on the latest backtested month (95% interval)",
        "run_month": "run month",
        "model_none": "No early-warning backtest yet.",
        "model_take": "{m}: {best} {b:.3f} vs recency rule {r:.3f}",
        "models": {"logistic": "logistic", "gbm": "gradient boosting",
                   "recency_rule": "recency rule"},
        "window": "{c} ({w} mo)",
    },
    "zh": {
        "churn_title": "月流失率",
        "churn_y": "流失率 (占上月未流失客户的 %)",
        "month": "月份",
        "target": "目标 {op} {t:.1%}",
        "churn_none": "需要连续两个月的流失状态才能计算流失率。",
        "churn_take": "{m}：{r:.1%} (较 {p} {d:+.1f} 个百分点)；{n} 个月内 {lo:.1%} 至 {hi:.1%}",
        "churn_take1": "{m}：{r:.1%}；趋势需要更多月份",
        "react_title": "各期活动的挽回提升：干预组减对照组",
        "react_y": "复购比例之差 (百分点)",
        "campaign": "活动月份 (跟踪月数)",
        "react_none": "尚无已评估的活动。",
        "react_take": "{n} 期活动中 {k} 期显著优于对照组 (区间高于 0)；最近 {c}：{d:+.1f} 个百分点",
        "react_label": "干预 {t:.0%} / 对照 {c:.0%}",
        "roi_title": "活动投资回报率 (95% 区间)",
        "roi_y": "投资回报率 (0% = 盈亏平衡)",
        "roi_none": "尚无记录了成本的已评估活动。",
        "roi_take": "{n} 期活动中 {k} 期以 95% 置信度高于盈亏平衡；最近 {c}：{r:+.0%}",
        "model_title": "流失预警模型表现：{metric}",
        "model_y": "最近回测月份的 {metric} (95% 区间)",
        "run_month": "运行月份",
        "model_none": "尚无预警模型回测。",
        "model_take": "{m}：{best} {b:.3f}，仅看最近购买 {r:.3f}",
        "models": {"logistic": "逻辑回归", "gbm": "梯度提升", "recency_rule": "仅看最近购买"},
        "window": "{c} ({w} 个月)",
    },
}
_METRIC_NAMES = {"pr_auc": "PR-AUC", "roc_auc": "ROC-AUC"}


def _t(language: str) -> dict:
    if language not in _TEXT:
        raise ValueError(f"language: zh or en, got {language!r}")
    return _TEXT[language]


def _empty(ax, text: str):
    """An axes with nothing to show: no ticks, just the takeaway saying why."""
    ax.set_xticks([])
    ax.set_yticks([])
    takeaway(ax, text)
    return ax


def plot_churn_trend(
    churn: pd.DataFrame,
    *,
    target: float | None = None,
    op: str = "<=",
    ax=None,
    language: str = "zh",
    **kw,
):
    """Churn rate by month, with the KPI target as a dashed line when given.

    Parameters
    ----------
    churn
        ``month`` and ``churn_rate`` (share 0-1; NaN where the previous month is missing),
        e.g. stage 6's ``status_flows`` table or the trends' churn table.
    target, op
        The churn-rate KPI target (share) and its good direction, drawn when given.
    """
    t = _t(language)
    f = churn.dropna(subset=["churn_rate"]).sort_values("month")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 3.8)))
    ax.set_title(t["churn_title"])
    ax.set_xlabel(t["month"])
    ax.set_ylabel(t["churn_y"])
    format_pct(ax, decimals=1)
    if f.empty:
        return _empty(ax, t["churn_none"])
    x = np.arange(len(f))
    rate = f["churn_rate"].to_numpy(float)
    ax.plot(x, rate, "o-", color=PALETTE[3], lw=2)
    if target is not None and not pd.isna(target):
        ax.axhline(target, color="#444444", ls="--", lw=1, label=t["target"].format(op=op, t=target))
        ax.legend(fontsize=8, loc="best")
    ax.set_xticks(x, f["month"].astype(str).tolist())
    if len(f) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_ylim(0, max(float(np.nanmax(rate)), float(target or 0)) * 1.25 or 0.01)
    last = f.iloc[-1]
    if len(f) > 1:
        prev = f.iloc[-2]
        text = t["churn_take"].format(
            m=last["month"], r=last["churn_rate"], p=prev["month"],
            d=(last["churn_rate"] - prev["churn_rate"]) * 100,
            lo=float(np.nanmin(rate)), hi=float(np.nanmax(rate)), n=len(f))
    else:
        text = t["churn_take1"].format(m=last["month"], r=last["churn_rate"])
    takeaway(ax, text)
    return ax


def _campaign_rows(campaigns: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = campaigns[(campaigns["metric"] == metric) & campaigns["diff"].notna()]
    return rows.sort_values("campaign_month").reset_index(drop=True)


def plot_reactivation_trend(campaigns: pd.DataFrame, *, ax=None, language: str = "zh", **kw):
    """Reactivation uplift (treated minus control, percentage points) of each campaign.

    Parameters
    ----------
    campaigns
        Rows of stage 6's ``evaluations`` for the whole campaign (``segment_type`` all),
        one per campaign at its longest window evaluated: ``campaign_month, window, metric,
        treated, control, diff, ci_low, ci_high``; rows with ``metric == "reactivation"``
        are drawn, each labelled with the treated and control shares.
    """
    t = _t(language)
    rows = _campaign_rows(campaigns, "reactivation")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 3.8)))
    ax.set_title(t["react_title"])
    ax.set_xlabel(t["campaign"])
    ax.set_ylabel(t["react_y"])
    if rows.empty:
        return _empty(ax, t["react_none"])
    x = np.arange(len(rows))
    d, lo, hi = (rows[c].to_numpy(float) * 100 for c in ("diff", "ci_low", "ci_high"))
    colours = np.where(lo > 0, PALETTE[2], np.where(hi < 0, PALETTE[3], PALETTE[0]))
    ax.axhline(0, color="#444444", lw=1, ls="--")
    for xi, di, err, c in zip(x, d, interval_errors(d, lo, hi).T, colours, strict=True):
        ax.errorbar(xi, di, yerr=err.reshape(2, 1), fmt="o", color=c, ms=7, capsize=4, lw=2)
    for xi, r, top in zip(x, rows.itertuples(), hi, strict=True):
        ax.annotate(t["react_label"].format(t=r.treated, c=r.control), xy=(xi, top),
                    xytext=(0, 5), textcoords="offset points", ha="center", fontsize=8,
                    color="#444444")
    ax.set_xticks(x, [t["window"].format(c=r.campaign_month, w=r.window)
                      for r in rows.itertuples()])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.margins(y=0.2)
    last = rows.iloc[-1]
    takeaway(ax, t["react_take"].format(k=int((lo > 0).sum()), n=len(rows),
                                        c=last["campaign_month"], d=last["diff"] * 100))
    return ax


def plot_roi_trend(campaigns: pd.DataFrame, *, ax=None, language: str = "zh", **kw):
    """ROI of each campaign with its 95% interval; 0% is break-even.

    ``campaigns`` as in :func:`plot_reactivation_trend`; rows with ``metric == "roi"``
    (ROI in ``diff``, a ratio: 0.5 = 50%).
    """
    t = _t(language)
    rows = _campaign_rows(campaigns, "roi")
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 3.8)))
    ax.set_title(t["roi_title"])
    ax.set_xlabel(t["campaign"])
    ax.set_ylabel(t["roi_y"])
    format_pct(ax)
    if rows.empty:
        return _empty(ax, t["roi_none"])
    x = np.arange(len(rows))
    d, lo, hi = (rows[c].to_numpy(float) for c in ("diff", "ci_low", "ci_high"))
    colours = np.where(lo > 0, PALETTE[2], np.where(hi < 0, PALETTE[3], PALETTE[0]))
    ax.axhline(0, color="#444444", lw=1, ls="--")
    for xi, di, err, c in zip(x, d, interval_errors(d, lo, hi).T, colours, strict=True):
        ax.errorbar(xi, di, yerr=err.reshape(2, 1), fmt="o", color=c, ms=7, capsize=4, lw=2)
    ax.set_xticks(x, [t["window"].format(c=r.campaign_month, w=r.window)
                      for r in rows.itertuples()])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    last = rows.iloc[-1]
    takeaway(ax, t["roi_take"].format(k=int((lo > 0).sum()), n=len(rows),
                                      c=last["campaign_month"], r=last["diff"]))
    return ax


def plot_model_trend(
    performance: pd.DataFrame, *, metric: str = "pr_auc", ax=None, language: str = "zh", **kw
):
    """One backtest metric of each early-warning model by run month, with 95% intervals.

    Parameters
    ----------
    performance
        ``month`` (run month), ``model``, ``metric``, ``value``, ``ci_low``, ``ci_high``:
        each run's figures on its latest backtested month (stage 7's ``warning_backtest``).
    metric
        ``pr_auc`` or ``roc_auc``.
    """
    t = _t(language)
    name = _METRIC_NAMES.get(metric, metric)
    rows = performance[(performance["metric"] == metric) & performance["value"].notna()]
    ax = new_axes(ax, figsize=kw.pop("figsize", (8, 3.8)))
    ax.set_title(t["model_title"].format(metric=name))
    ax.set_xlabel(t["run_month"])
    ax.set_ylabel(t["model_y"].format(metric=name))
    if rows.empty:
        return _empty(ax, t["model_none"])
    months = sorted(rows["month"].astype(str).unique())
    pos = {m: i for i, m in enumerate(months)}
    models = [m for m in _MODEL_COLOURS if m in set(rows["model"])]
    models += sorted(set(rows["model"]) - set(models))
    for i, model in enumerate(models):
        g = rows[rows["model"] == model].sort_values("month")
        x = g["month"].astype(str).map(pos).to_numpy(float) + (i - (len(models) - 1) / 2) * 0.08
        v = g["value"].to_numpy(float)
        err = interval_errors(v, g["ci_low"].fillna(g["value"]), g["ci_high"].fillna(g["value"]))
        ax.errorbar(x, v, yerr=err, fmt="o-", color=_MODEL_COLOURS.get(model, PALETTE[i % 10]),
                    capsize=3, lw=1.6, label=t["models"].get(model, model))
    ax.set_xticks(range(len(months)), months)
    ax.set_xlim(-0.5, len(months) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    last = rows[rows["month"].astype(str) == months[-1]].set_index("model")["value"]
    trained = last.drop("recency_rule", errors="ignore")
    if trained.empty:
        takeaway(ax, t["model_none"])
        return ax
    best = str(trained.idxmax())
    takeaway(ax, t["model_take"].format(m=months[-1], best=t["models"].get(best, best),
                                        b=float(trained.max()),
                                        r=float(last.get("recency_rule", np.nan))))
    return ax
