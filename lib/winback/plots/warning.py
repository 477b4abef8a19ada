"""Charts of stage 7 (early warning): backtest by month, precision at capacity, calibration,
coefficients, watchlist factors, threshold alerts and realized watchlist performance.
Each takes an aggregate table from :mod:`winback.warning`, never raw transactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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

_TEXT = {
    "zh": {
        "models": {"logistic": "逻辑回归", "gbm": "梯度提升", "recency_rule": "仅看最近购买"},
        "metrics": {"pr_auc": "PR-AUC", "roc_auc": "ROC-AUC",
                    "precision_at_capacity": "外呼容量内的精确率",
                    "recall_at_capacity": "外呼容量内的召回率",
                    "lift_at_capacity": "外呼容量内的提升度", "brier": "Brier 分数"},
        "backtest": "按月回测：{metric} (95% 区间)",
        "month": "评估月份 (月末快照)",
        "bt_takeaway": "平均 {metric}：{best} {b:.3f}，仅看最近购买 {r:.3f}",
        "curve": "联系风险最高的前 k 位客户时的精确率",
        "k": "联系客户数 k (人/月)",
        "precision": "精确率 (其中 H 个月内流失的比例)",
        "capacity": "外呼容量 {k:,}",
        "curve_takeaway": "容量 {k:,} 人时：{best} 精确率 {b:.0%}，仅看最近购买 {r:.0%}",
        "reliability": "校准曲线：预测风险 vs 实际流失率",
        "predicted": "预测流失概率",
        "observed": "实际流失率 (95% 区间)",
        "perfect": "完全校准",
        "rel_takeaway": "{model}：Brier {b:.3f}；最大分箱偏差 {gap:.0%}",
        "coef": "逻辑回归系数 (标准化特征)",
        "coef_axis": "每增加一个标准差的对数几率变化",
        "feature": "特征",
        "coef_takeaway": "最强信号：{f} (系数 {c:+.2f}，{dir})",
        "up": "提高风险",
        "down": "降低风险",
        "factors": "预警名单的主要风险因素",
        "factor_axis": "客户数",
        "first": "首要因素",
        "any": "前三因素之一",
        "factor_takeaway": "{f}：{s:.0%} 的名单客户的前三因素之一",
        "alerts": "阈值预警：指标较自身前 90 天下降",
        "alert_axis": "客户数",
        "alert_rule": "预警规则",
        "alert_names": {"frequency_drop": "购买频次下降", "spend_drop": "消费金额下降",
                        "engagement_drop": "互动下降", "any_alert": "任一预警",
                        "two_or_more": "两项及以上"},
        "listed": "其中在预警名单",
        "alert_takeaway": "{n:,} 位活跃客户 ({s:.0%}) 触发至少一项预警，其中 {w:,} 位在名单上",
        "realized": "历史预警名单的实际精确率",
        "watch_month": "名单月份",
        "realized_axis": "名单中 H 个月内流失的比例",
        "base": "全体活跃客户流失率",
        "realized_takeaway": "最近一期 ({m})：精确率 {p:.0%}，基准流失率 {b:.0%}",
        "none": "暂无数据",
        "no_realized": "尚无名单满 {h} 个月，无法核对实际流失",
    },
    "en": {
        "models": {"logistic": "Logistic", "gbm": "Gradient boosting",
                   "recency_rule": "Recency rule"},
        "metrics": {"pr_auc": "PR-AUC", "roc_auc": "ROC-AUC",
                    "precision_at_capacity": "precision at capacity",
                    "recall_at_capacity": "recall at capacity",
                    "lift_at_capacity": "lift at capacity", "brier": "Brier score"},
        "backtest": "Backtest by month: {metric} (95% interval)",
        "month": "Evaluated month (month-end snapshot)",
        "bt_takeaway": "Mean {metric}: {best} {b:.3f} vs recency rule {r:.3f}",
        "curve": "Precision when contacting the k riskiest customers",
        "k": "Customers contacted, k (per month)",
        "precision": "Precision (share churning within H months)",
        "capacity": "capacity {k:,}",
        "curve_takeaway": "At capacity {k:,}: {best} precision {b:.0%} vs recency rule {r:.0%}",
        "reliability": "Calibration: predicted risk vs observed churn",
        "predicted": "Predicted churn probability",
        "observed": "Observed churn rate (95% interval)",
        "perfect": "Perfect calibration",
        "rel_takeaway": "{model}: Brier {b:.3f}; largest bin gap {gap:.0%}",
        "coef": "Logistic coefficients (standardized features)",
        "coef_axis": "Change in log-odds per standard deviation",
        "feature": "Feature",
        "coef_takeaway": "Strongest signal: {f} (coef {c:+.2f}, {dir})",
        "up": "raises risk",
        "down": "lowers risk",
        "factors": "Main risk factors on the watchlist",
        "factor_axis": "Customers",
        "first": "Main factor",
        "any": "Among top three",
        "factor_takeaway": "{f}: among the top three factors of {s:.0%} of the watchlist",
        "alerts": "Threshold alerts: indicators down vs the customer's previous 90 days",
        "alert_axis": "Customers",
        "alert_rule": "Alert rule",
        "alert_names": {"frequency_drop": "Frequency drop", "spend_drop": "Spend drop",
                        "engagement_drop": "Engagement drop", "any_alert": "Any alert",
                        "two_or_more": "Two or more"},
        "listed": "on the watchlist",
        "alert_takeaway": "{n:,} active customers ({s:.0%}) raise at least one alert; "
                          "{w:,} are on the watchlist",
        "realized": "Realized precision of past watchlists",
        "watch_month": "Watchlist month",
        "realized_axis": "Share of the watchlist churning within H months",
        "base": "Churn rate of all active customers",
        "realized_takeaway": "Latest ({m}): precision {p:.0%} vs base rate {b:.0%}",
        "none": "No data",
        "no_realized": "No watchlist is {h} months old yet: nothing realized to check",
    },
}


def _t(language: str) -> dict:
    if language not in _TEXT:
        raise ValueError(f"language: zh or en, got {language!r}")
    return _TEXT[language]


def _empty(ax, title: str, text: str):
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_backtest(metrics: pd.DataFrame, *, metric: str = "pr_auc", ax=None,
                  language: str = "zh"):
    """One metric per evaluated month for each model and the recency rule, with 95% bands.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Backtest.metrics`` (``month``, ``model``, ``metric``, ``value``, ``ci_low``,
        ``ci_high``).
    metric
        Metric to draw (``pr_auc``, ``roc_auc``, ``precision_at_capacity``, ...).
    """
    t = _t(language)
    ax = new_axes(ax)
    name = t["metrics"].get(metric, metric)
    title = t["backtest"].format(metric=name)
    sub = metrics.loc[metrics["metric"] == metric] if len(metrics) else metrics
    if sub.empty:
        return _empty(ax, title, t["none"])
    months = sorted(sub["month"].unique())
    x = np.arange(len(months))
    means = {}
    for model in ("logistic", "gbm", "recency_rule"):
        m = sub.loc[sub["model"] == model].set_index("month").reindex(months)
        if m["value"].isna().all():
            continue
        ax.plot(x, m["value"], marker="o", color=_COLORS[model], label=t["models"][model])
        ax.fill_between(x, m["ci_low"], m["ci_high"], color=_COLORS[model], alpha=0.15)
        means[model] = float(m["value"].mean())
    ax.set_xticks(x, months, rotation=0)
    ax.set_xlabel(t["month"])
    ax.set_ylabel(name)
    ax.legend(frameon=False)
    ax.set_title(title)
    best = max((k for k in means if k != "recency_rule"), key=means.get, default=None)
    if best is not None and "recency_rule" in means:
        takeaway(ax, t["bt_takeaway"].format(metric=name, best=t["models"][best], b=means[best],
                                             r=means["recency_rule"]))
    return ax


def plot_capacity_curve(curve: pd.DataFrame, *, capacity: int, ax=None, language: str = "zh"):
    """Precision at ``k`` contacts for each model and the rule, the capacity marked.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``Backtest.capacity_curve()`` (``model``, ``k``, ``precision``, ``recall``).
    capacity
        Contacts per month the call centre can make.
    """
    t = _t(language)
    ax = new_axes(ax)
    if curve.empty:
        return _empty(ax, t["curve"], t["none"])
    at = {}
    for model, g in curve.groupby("model", sort=False):
        ax.plot(g["k"], g["precision"], color=_COLORS.get(model), label=t["models"].get(model, model))
        row = g.iloc[(g["k"] - capacity).abs().argmin()]
        at[model] = float(row["precision"])
    ax.axvline(capacity, color="#555555", ls="--", lw=1)
    ax.annotate(t["capacity"].format(k=capacity), (capacity, 1), xycoords=("data", "axes fraction"),
                xytext=(4, -12), textcoords="offset points", fontsize=8, color="#555555")
    ax.set_xlabel(t["k"])
    ax.set_ylabel(t["precision"])
    format_pct(ax)
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    ax.set_title(t["curve"])
    best = max((k for k in at if k != "recency_rule"), key=at.get, default=None)
    if best is not None and "recency_rule" in at:
        takeaway(ax, t["curve_takeaway"].format(k=capacity, best=t["models"][best], b=at[best],
                                                r=at["recency_rule"]))
    return ax


def plot_reliability(reliability: pd.DataFrame, *, model: str | None = None,
                     brier: float | None = None, ax=None, language: str = "zh"):
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
    t = _t(language)
    ax = new_axes(ax)
    rel = reliability if model is None else reliability.loc[reliability["model"] == model]
    if rel.empty:
        return _empty(ax, t["reliability"], t["none"])
    ax.plot([0, 1], [0, 1], color="#999999", ls="--", lw=1, label=t["perfect"])
    for name, g in rel.groupby("model", sort=False):
        err = interval_errors(g["observed"], g["observed_low"], g["observed_high"])
        ax.errorbar(g["mean_predicted"], g["observed"], yerr=err, marker="o", capsize=3,
                    color=_COLORS.get(name), label=t["models"].get(name, name))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    format_pct(ax, "x")
    format_pct(ax, "y")
    ax.set_xlabel(t["predicted"])
    ax.set_ylabel(t["observed"])
    ax.legend(frameon=False, loc="upper left")
    ax.set_title(t["reliability"])
    first = rel["model"].iloc[0]
    g = rel.loc[rel["model"] == first]
    weights = g["n"] / g["n"].sum()
    gap = float(((g["observed"] - g["mean_predicted"]).abs() * (weights > 0.01)).max())
    if brier is not None:
        takeaway(ax, t["rel_takeaway"].format(model=t["models"].get(first, first), b=brier,
                                              gap=gap))
    return ax


def plot_coefficients(coefficients: pd.DataFrame, *, ax=None, language: str = "zh"):
    """Horizontal bars of the logistic coefficients (log-odds per standard deviation).

    Parameters
    ----------
    coefficients : pandas.DataFrame
        ``WarningModel.coefficients()`` (``feature``, ``coef``, ...).
    """
    from winback.warning import FEATURE_LABELS

    t = _t(language)
    ax = new_axes(ax, figsize=(8, 5.5))
    if coefficients.empty:
        return _empty(ax, t["coef"], t["none"])
    idx = 1 if language == "zh" else 0
    c = coefficients.sort_values("coef")
    labels = [FEATURE_LABELS.get(f, (f, f))[idx] for f in c["feature"]]
    colors = [PALETTE[3] if v > 0 else PALETTE[2] for v in c["coef"]]
    ax.barh(labels, c["coef"], color=colors)
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_xlabel(t["coef_axis"])
    ax.set_ylabel(t["feature"])
    ax.set_title(t["coef"])
    top = coefficients.iloc[coefficients["coef"].abs().argmax()]
    takeaway(ax, t["coef_takeaway"].format(
        f=FEATURE_LABELS.get(top["feature"], (top["feature"],) * 2)[idx], c=top["coef"],
        dir=t["up"] if top["coef"] > 0 else t["down"]))
    return ax


def plot_factor_counts(counts: pd.DataFrame, *, top: int = 10, ax=None, language: str = "zh"):
    """How many watchlisted customers have each feature as main factor / among the top three.

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`winback.warning.factor_counts` (``label``, ``first``, ``any``, ``share``).
    """
    t = _t(language)
    ax = new_axes(ax)
    if counts.empty:
        return _empty(ax, t["factors"], t["none"])
    c = counts.head(top).iloc[::-1]
    y = np.arange(len(c))
    ax.barh(y + 0.2, c["any"], 0.4, color=PALETTE[7], label=t["any"])
    ax.barh(y - 0.2, c["first"], 0.4, color=PALETTE[3], label=t["first"])
    ax.set_yticks(y, c["label"])
    ax.set_xlabel(t["factor_axis"])
    ax.set_ylabel(t["feature"])
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t["factors"])
    first = counts.iloc[0]
    takeaway(ax, t["factor_takeaway"].format(f=first["label"], s=first["share"]))
    return ax


def plot_alert_counts(counts: pd.DataFrame, *, ax=None, language: str = "zh"):
    """Bars of customers per threshold alert, with how many are also on the watchlist.

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`winback.warning.alert_counts` (``alert``, ``customers``, ``share``,
        ``on_watchlist``).
    """
    t = _t(language)
    ax = new_axes(ax)
    if counts.empty:
        return _empty(ax, t["alerts"], t["none"])
    x = np.arange(len(counts))
    names = [t["alert_names"].get(a, a) for a in counts["alert"]]
    ax.bar(x, counts["customers"], color=PALETTE[0], label=t["alert_axis"])
    ax.bar(x, counts["on_watchlist"], color=PALETTE[3], label=t["listed"])
    for xi, n, s in zip(x, counts["customers"], counts["share"], strict=True):
        ax.annotate(f"{n:,} ({s:.0%})", (xi, n), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_xlabel(t["alert_rule"])
    ax.set_ylabel(t["alert_axis"])
    ax.legend(frameon=False)
    ax.set_title(t["alerts"])
    row = counts.set_index("alert").loc["any_alert"]
    takeaway(ax, t["alert_takeaway"].format(n=int(row["customers"]), s=row["share"],
                                            w=int(row["on_watchlist"])))
    return ax


def plot_realized(performance: pd.DataFrame, *, horizon: int, ax=None, language: str = "zh"):
    """Realized precision of each past watchlist (95% interval) against the base churn rate.

    Parameters
    ----------
    performance : pandas.DataFrame
        The store's ``warning_performance`` rows (metrics ``realized_precision`` and
        ``realized_base_rate``).
    horizon
        Label horizon in months (for the empty message).
    """
    t = _t(language)
    ax = new_axes(ax)
    p = performance.loc[performance["metric"] == "realized_precision"] if len(performance) \
        else performance
    if p.empty:
        return _empty(ax, t["realized"], t["no_realized"].format(h=horizon))
    p = p.sort_values("month")
    b = performance.loc[performance["metric"] == "realized_base_rate"].set_index("month")
    x = np.arange(len(p))
    err = interval_errors(p["value"], p["ci_low"], p["ci_high"])
    ax.errorbar(x, p["value"], yerr=err, marker="o", capsize=3, color=PALETTE[0],
                label=t["realized_axis"])
    base = b["value"].reindex(p["month"]).to_numpy()
    ax.plot(x, base, marker="s", ls="--", color=PALETTE[7], label=t["base"])
    ax.set_xticks(x, p["month"])
    ax.set_xlabel(t["watch_month"])
    ax.set_ylabel(t["realized_axis"])
    format_pct(ax)
    top = np.nanmax(np.r_[p["ci_high"].to_numpy(dtype=float), base, p["value"].to_numpy()])
    ax.set_ylim(0, min(1.0, 1.25 * top + 0.05) if np.isfinite(top) else 1.0)
    ax.legend(frameon=False)
    ax.set_title(t["realized"])
    takeaway(ax, t["realized_takeaway"].format(m=p["month"].iloc[-1], p=p["value"].iloc[-1],
                                               b=base[-1]))
    return ax
