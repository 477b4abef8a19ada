"""The client deliverables of a month run: ``report.html`` and the engagement's ``trends.html``.

Monthly report (:func:`write_report`)
    One self-contained HTML page in the month's run folder: figures are embedded as
    ``data:`` URIs, the CSS is inline, there is no script and no reference to the network,
    so it opens offline in any browser. Chinese text renders without system fonts: the
    glyphs the page uses are embedded as a subset of the kit's Noto Sans SC.

    *Executive summary* first, every number read from the run's ``tables/*.parquet``
    (written by the stage notebooks), never recomputed: the churn rate of the month and
    its trend (stage 6's ``status_flows``), customers won back vs control, incremental
    revenue, cost and ROI of each campaign evaluated this month (stage 6's
    ``evaluations``, whole-campaign rows, each campaign at its longest follow-up window;
    the headline cards show the oldest campaign, the one with the longest follow-up, as
    the ROI KPI does), the KPIs against their targets with the status stage 6 gave them
    (the red/amber/green rule of :mod:`winback.kpis`; stage 6's ``kpi_status``) and this
    month's campaign (stage 4's ``holdout_summary``, stage 5's ``campaign_costs``).
    A figure that does not exist yet (first month: no campaign evaluated) is said so.

    *One section per stage* of ``playbook/stages.yaml``: the executed notebook's
    narrative, tables and charts without any code (nbconvert's ``basic`` template,
    inputs and prompts excluded). Outputs that are only an object's text repr (params,
    output folders) and warnings on stderr are left out, as is each notebook's last
    ``## Outputs`` section (it writes files; it says nothing to the client).

    The page carries customer ids only: the stage notebooks show no names, phones or
    emails, and the summary shows aggregates. With ``privacy.hash_ids`` the ids in the
    stage sections' table cells are replaced by the salted hashes the run's tables carry.

Multi-month view (:func:`write_trends`)
    ``runs/<engagement>/trends.html`` across every complete month run so far (a month
    folder whose manifest says ``complete``): churn rate by month, reactivation treated vs
    control and ROI of every campaign with 95% intervals (each campaign at the longest
    window evaluated so far, from the latest run that evaluated it), and the early-warning
    models' ROC-AUC and PR-AUC by run month (each run's latest backtested month, stage 7's
    ``warning_backtest``).

Language: :func:`winback.messages.output_language` (``report.language``, else
``engagement.language``); every string of the pages is in :data:`TEXT`, one dict per
language, except the labels :mod:`winback.messages` already holds (``report.*`` keys),
which are read from the catalog (:func:`report_texts`).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import hashlib
import html
import importlib.metadata
import io
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from winback.settings import month_end

__all__ = [
    "REPORT_FILE",
    "TEXT",
    "TRENDS_FILE",
    "ReportError",
    "Trends",
    "campaign_results",
    "churn_figures",
    "collect_trends",
    "complete_months",
    "external_references",
    "notebook_html",
    "report_language",
    "report_texts",
    "report_step",
    "trends_step",
    "write_report",
    "write_trends",
]

REPORT_FILE = "report.html"
TRENDS_FILE = "trends.html"
_MONTH_DIR = re.compile(r"^\d{4}-\d{2}$")

# Every string the report and the trends page show, one dict per language.
TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Customer win-back: monthly report",
        "trends_title": "Customer win-back: trends across months",
        "engagement": "Engagement",
        "client": "Client",
        "month": "Month",
        "run_date": "Run date",
        "kit": "Kit version",
        "months_covered": "Months",
        "generated": "Generated",
        "contents": "Contents",
        "summary": "Executive summary",
        "churn_card": "Churn rate",
        "churn_card_sub": "{new} of {base} customers not churned at the end of {prev}",
        "churn_change": "{d} vs {prev} ({r})",
        "churn_none": "The churn rate needs the churn status of two consecutive months; it is "
                      "not available for {month}.",
        "flows_sentence": "In {month}, {back} churned customers came back and {lost} customers "
                          "churned (net {net}).",
        "wonback_card": "Customers won back vs control",
        "wonback_sub": "campaign {c}, {w} month(s) after contact: {t} of treated vs {k} of "
                       "control bought",
        "revenue_card": "Incremental revenue",
        "revenue_sub": "cost {cost}",
        "roi_card": "ROI",
        "roi_sub": "(margin × incremental revenue − cost) / cost",
        "ci": "95% CI {lo} to {hi}",
        "not_yet": "not yet",
        "no_campaign": "No win-back campaign has completed a follow-up month yet, so customers "
                       "won back, incremental revenue, cost and ROI are not available for "
                       "{month}. A campaign is compared with its control group from the month "
                       "after it is run: this month's campaign is first evaluated in the "
                       "{next} report.",
        "campaigns": "Campaigns evaluated this month",
        "campaigns_note": "Treated vs the random control group never contacted, by intention "
                          "to treat; each campaign at its longest follow-up window so far.",
        "col_campaign": "Campaign",
        "col_window": "Months after contact",
        "col_n": "Treated / control customers",
        "col_treated": "Bought: treated",
        "col_control": "Bought: control",
        "col_diff": "Difference, points (95% CI)",
        "col_wonback": "Customers won back (95% CI)",
        "col_revenue": "Incremental revenue, {currency} (95% CI)",
        "col_cost": "Cost, {currency}",
        "col_roi": "ROI (95% CI)",
        "too_small": "too small to compare",
        "kpis": "KPIs against targets",
        "kpis_note": "Green: target met; amber: missed by at most {band} of the target; red: "
                     "missed by more.",
        "col_kpi": "KPI",
        "col_value": "Value",
        "col_target": "Target",
        "col_status": "Status",
        "no_kpis": "No KPI targets are set for this engagement.",
        "rag": {"green": "on target", "amber": "near target", "red": "off target",
                "n/a": "no data yet"},
        "this_campaign": "This month's campaign",
        "this_campaign_text": "{treated} customers to contact next month, {control} held out as "
                              "a control group that is never contacted; planned cost {cost}.",
        "this_campaign_none": "No campaign was designed this month.",
        "churn_trend": "Churn trend",
        "stages": "Stage details",
        "stage_missing": "This stage's notebook is not in this month's run.",
        "footer": "Data as of {as_of} (month end). Generated by winback {version} on {date}. "
                  "Customer ids only: no names, phones or emails.",
        "trends_footer": "Data as of {as_of}. Generated by winback {version} on {date}.",
        "trends_months": "Complete months",
        "trends_none": "No complete month has been run yet.",
        "trends_table": "Month by month",
        "trends_campaigns": "Every campaign evaluated so far",
        "trends_no_campaign": "No campaign has been evaluated yet: a campaign is compared with "
                              "its control group from the month after it is run.",
        "trends_no_model": "No early-warning backtest yet.",
        "col_churn": "Churn rate",
        "col_back": "Came back",
        "col_lost": "Newly churned",
        "col_report": "Report",
        "open_report": "report",
        "trend_churn": "Churn",
        "trend_react": "Reactivation: treated vs control",
        "trend_roi": "Return on investment",
        "trend_model": "Early-warning model",
        "points": "{v:+.1f} pts",
        "sep": "; ",
        "kpi_names": {
            "churn_rate": "Monthly churn rate",
            "churned_share": "Share of customers churned",
            "reactivation_rate": "Reactivation rate",
            "rechurn_rate": "Re-churn rate",
            "net_winback": "Net win-back (customers)",
            "satisfaction": "Survey satisfaction (1-5)",
            "contact_satisfaction": "Contact satisfaction (1-5)",
            "repurchase_rate": "Repurchase rate of last month's campaign",
            "reactivation_uplift": "Reactivation uplift vs control",
            "reach_rate": "Reach rate",
            "offer_redemption": "Offer redemption",
            "roi": "Campaign ROI",
        },
        "stage_titles": {
            "data_collection": "1 · Data collection and churn definition",
            "reason_analysis": "2 · Reason analysis",
            "tiering": "3 · Value tiering",
            "strategy_design": "4 · Strategy design and holdout",
            "execution_schedule": "5 · Execution schedule and call lists",
            "monthly_evaluation": "6 · Monthly evaluation against control",
            "early_warning": "7 · Early warning",
        },
    },
    "zh": {
        "title": "客户流失挽回：月度报告",
        "trends_title": "客户流失挽回：多月趋势",
        "engagement": "项目",
        "client": "客户",
        "month": "月份",
        "run_date": "运行日期",
        "kit": "工具版本",
        "months_covered": "月份",
        "generated": "生成时间",
        "contents": "目录",
        "summary": "执行摘要",
        "churn_card": "月流失率",
        "churn_card_sub": "{prev} 月末未流失的 {base} 位客户中 {new} 位流失",
        "churn_change": "较 {prev} ({r}) {d}",
        "churn_none": "流失率需要连续两个月的流失状态；{month} 暂无流失率。",
        "flows_sentence": "{month}：{back} 位已流失客户回归，{lost} 位客户新流失 (净值 {net})。",
        "wonback_card": "较对照组多挽回的客户",
        "wonback_sub": "{c} 期活动，接触后 {w} 个月：干预组 {t} 复购，对照组 {k}",
        "revenue_card": "增量收入",
        "revenue_sub": "成本 {cost}",
        "roi_card": "投资回报率",
        "roi_sub": "(毛利率 × 增量收入 − 成本) / 成本",
        "ci": "95% 区间 {lo} 至 {hi}",
        "not_yet": "暂无",
        "no_campaign": "目前还没有挽回活动完成一个月的跟踪期，因此 {month} 暂无挽回客户数、增量收入、"
                       "成本和投资回报率。每期活动从执行后的下一个月起与其对照组比较：本月活动将首次在 "
                       "{next} 的报告中评估。",
        "campaigns": "本月评估的挽回活动",
        "campaigns_note": "干预组与从未联系的随机对照组比较 (意向处理分析)；每期活动取目前最长的跟踪期。",
        "col_campaign": "活动月份",
        "col_window": "接触后月数",
        "col_n": "干预 / 对照客户数",
        "col_treated": "干预组复购",
        "col_control": "对照组复购",
        "col_diff": "差值，百分点 (95% 区间)",
        "col_wonback": "多挽回客户 (95% 区间)",
        "col_revenue": "增量收入，{currency} (95% 区间)",
        "col_cost": "成本，{currency}",
        "col_roi": "投资回报率 (95% 区间)",
        "too_small": "样本过小，无法比较",
        "kpis": "关键指标与目标",
        "kpis_note": "绿色：达到目标；黄色：未达标但差距不超过目标的 {band}；红色：差距更大。",
        "col_kpi": "指标",
        "col_value": "数值",
        "col_target": "目标",
        "col_status": "状态",
        "no_kpis": "本项目未设定关键指标目标。",
        "rag": {"green": "达标", "amber": "接近目标", "red": "未达标", "n/a": "暂无数据"},
        "this_campaign": "本月活动",
        "this_campaign_text": "下月联系 {treated} 位客户，{control} 位客户留作从不联系的对照组；"
                              "计划成本 {cost}。",
        "this_campaign_none": "本月未设计活动。",
        "churn_trend": "流失趋势",
        "stages": "各阶段详情",
        "stage_missing": "本月运行中没有该阶段的 notebook。",
        "footer": "数据截至 {as_of} (月末)。由 winback {version} 于 {date} 生成。"
                  "仅含客户编号，不含姓名、电话或邮箱。",
        "trends_footer": "数据截至 {as_of}。由 winback {version} 于 {date} 生成。",
        "trends_months": "已完成月份",
        "trends_none": "尚无已完成的月份。",
        "trends_table": "逐月数据",
        "trends_campaigns": "迄今评估的全部活动",
        "trends_no_campaign": "尚无已评估的活动：每期活动从执行后的下一个月起与其对照组比较。",
        "trends_no_model": "尚无预警模型回测。",
        "col_churn": "流失率",
        "col_back": "回归客户",
        "col_lost": "新流失客户",
        "col_report": "报告",
        "open_report": "月报",
        "trend_churn": "流失",
        "trend_react": "挽回效果：干预组 vs 对照组",
        "trend_roi": "投资回报",
        "trend_model": "流失预警模型",
        "points": "{v:+.1f} 个百分点",
        "sep": "；",
        "kpi_names": {
            "churn_rate": "月流失率",
            "churned_share": "流失客户占比",
            "reactivation_rate": "回归率",
            "rechurn_rate": "再次流失率",
            "net_winback": "净挽回客户数",
            "satisfaction": "调研满意度 (1-5)",
            "contact_satisfaction": "外呼满意度 (1-5)",
            "repurchase_rate": "上月活动复购率",
            "reactivation_uplift": "复购提升 (对比对照组)",
            "reach_rate": "触达率",
            "offer_redemption": "权益核销率",
            "roi": "活动投资回报率",
        },
        "stage_titles": {
            "data_collection": "1 · 数据收集与流失界定",
            "reason_analysis": "2 · 流失原因分析",
            "tiering": "3 · 客户价值分层",
            "strategy_design": "4 · 挽回策略设计与对照组",
            "execution_schedule": "5 · 执行计划与外呼名单",
            "monthly_evaluation": "6 · 月度效果评估",
            "early_warning": "7 · 流失预警",
        },
    },
}

_RAG_COLOURS = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "n/a": "#9e9e9e"}
_KPI_UNITS = {
    "churn_rate": "share", "churned_share": "share", "reactivation_rate": "share",
    "rechurn_rate": "share", "net_winback": "count", "satisfaction": "score",
    "contact_satisfaction": "score", "repurchase_rate": "share", "reactivation_uplift": "share",
    "reach_rate": "share", "offer_redemption": "share", "roi": "ratio",
}
_SUMMARY_TABLES = ("status_flows", "evaluations", "kpi_status", "holdout_summary",
                   "campaign_costs")


class ReportError(RuntimeError):
    """The report cannot be built; the message names the file and what to do."""


# ----------------------------------------------------------------------------- helpers


# Keys of TEXT whose wording the message catalog (winback.messages) holds: the catalog wins.
_CATALOG_KEYS = {
    "title": "report.title", "contents": "report.contents", "summary": "report.summary",
    "kpis": "report.kpis", "col_kpi": "report.kpi", "col_value": "report.value",
    "col_target": "report.target", "col_status": "report.status",
    "churn_trend": "report.churn_trend", "revenue_card": "report.incremental_revenue",
    "stages": "report.stages", "trend_react": "report.reactivation_vs_control",
    "trend_model": "report.model_performance",
}


def report_texts(language: str) -> dict[str, Any]:
    """The page strings in ``language``: :data:`TEXT`, with the catalog's wording where
    :mod:`winback.messages` has the same label."""
    from winback import messages

    out = dict(TEXT[language])
    for key, catalog_key in _CATALOG_KEYS.items():
        # a key not (or no longer) in the catalog keeps the local wording
        with contextlib.suppress(KeyError):
            out[key] = messages.t(catalog_key, language)
    return out


def report_language(params) -> str:
    """The outputs' language (:func:`winback.messages.output_language`): ``report.language``,
    else ``engagement.language``."""
    from winback.messages import output_language

    language = output_language(params)
    if language not in TEXT:
        raise ReportError(f"report language must be one of {sorted(TEXT)}, got {language!r}.")
    return language


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nan(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _pct(value: float, decimals: int = 1) -> str:
    return "–" if _nan(value) else f"{value * 100:.{decimals}f}%"


def _signed_pct(value: float, decimals: int = 0) -> str:
    return "–" if _nan(value) else f"{value * 100:+.{decimals}f}%"


def _points(value: float, t: dict) -> str:
    return "–" if _nan(value) else t["points"].format(v=value * 100)


def _money(value: float, currency: str, signed: bool = False) -> str:
    if _nan(value):
        return "–"
    return f"{value:+,.0f} {currency}" if signed else f"{value:,.0f} {currency}"


def _count(value: float, signed: bool = True) -> str:
    if _nan(value):
        return "–"
    return f"{value:+,.0f}" if signed else f"{value:,.0f}"


def _kpi_value(value: float, unit: str) -> str:
    """A KPI value as stage 6 formats it (:func:`winback.kpis.format_kpi`)."""
    from winback.kpis import format_kpi

    return format_kpi(value, unit)


def _read_tables(run_dir: Path, names) -> dict[str, pd.DataFrame | None]:
    out: dict[str, pd.DataFrame | None] = {}
    for name in names:
        path = run_dir / "tables" / f"{name}.parquet"
        try:
            out[name] = pd.read_parquet(path) if path.is_file() else None
        except Exception as exc:  # a corrupt or half-written table
            raise ReportError(f"{path}: cannot be read ({exc}); rerun the stage that writes "
                              f"table {name!r}.") from None
    return out


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _kit_version(manifest: dict[str, Any]) -> str:
    version = manifest.get("versions", {}).get("winback")
    if version:
        return str(version)
    try:
        return importlib.metadata.version("winback")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _chart(draw, data, alt: str, **kw) -> str:
    """A chart drawn by ``draw(data, ax=..., **kw)`` as an embedded ``<img>`` (no pyplot)."""
    from matplotlib.figure import Figure

    import winback.plots  # noqa: F401  (applies the kit's theme)

    fig = Figure(figsize=kw.pop("figsize", (8, 3.8)))
    ax = fig.subplots()
    draw(data, ax=ax, **kw)
    return f'<img class="chart" alt="{_esc(alt)}" src="{_png(fig)}">'


# ------------------------------------------------------------------------ the numbers


def churn_figures(flows: pd.DataFrame | None, month: str) -> dict[str, Any] | None:
    """The month's churn figures from stage 6's ``status_flows`` table, or ``None``.

    Returns ``month, churn_rate, new_churn, base_active, reactivated, net_winback,
    churned_share`` of ``month`` and ``prev_month, prev_rate`` (the row before, when it
    has a churn rate); ``None`` when the table has no churn rate for ``month``.
    """
    if flows is None or flows.empty or "churn_rate" not in flows.columns:
        return None
    f = flows.assign(month=flows["month"].astype(str)).sort_values("month")
    row = f[f["month"] == month]
    if row.empty or _nan(row["churn_rate"].iloc[0]):
        return None
    r = row.iloc[0]
    before = f[(f["month"] < month) & f["churn_rate"].notna()]
    out = {
        "month": month,
        "churn_rate": float(r["churn_rate"]),
        "new_churn": float(r["new_churn"]),
        "base_active": float(r["base_active"]),
        "reactivated": float(r["reactivated"]),
        "net_winback": float(r["net_winback"]),
        "churned_share": float(r["churned_share"]),
        "prev_month": None,
        "prev_rate": math.nan,
    }
    if len(before):
        out["prev_month"] = str(before["month"].iloc[-1])
        out["prev_rate"] = float(before["churn_rate"].iloc[-1])
    return out


def _winback_rows(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Whole-campaign rows of the win-back program (rows without ``program`` are win-back)."""
    keep = evaluations["segment_type"].astype(str) == "all"
    if "program" in evaluations.columns:
        keep &= evaluations["program"].astype("string").fillna("winback") == "winback"
    return evaluations[keep.to_numpy(bool)]


def campaign_results(evaluations: pd.DataFrame | None) -> pd.DataFrame:
    """Each evaluated campaign at its longest window, from stage 6's ``evaluations`` table.

    Returns
    -------
    DataFrame
        One row per campaign month, oldest first: ``campaign_month, window, n_treated,
        n_control``; reactivation ``treated, control, diff, ci_low, ci_high`` (shares);
        ``won_back, won_back_low, won_back_high`` (incremental reactivations, customers);
        ``revenue, revenue_low, revenue_high`` (incremental revenue, currency units);
        ``cost``; ``roi, roi_low, roi_high`` (ratios); ``note``. Values are copied from
        the win-back program's whole-campaign rows (``segment_type == "all"``; preventive
        care contacts are evaluated apart), NaN where the table has none.
    """
    cols = ["campaign_month", "window", "n_treated", "n_control", "treated", "control", "diff",
            "ci_low", "ci_high", "won_back", "won_back_low", "won_back_high", "revenue",
            "revenue_low", "revenue_high", "cost", "roi", "roi_low", "roi_high", "note"]
    if evaluations is None or evaluations.empty:
        return pd.DataFrame(columns=cols)
    ev = _winback_rows(evaluations)
    rows = []
    for cm, g in ev.groupby(ev["campaign_month"].astype(str), sort=True):
        k = int(g["window"].max())
        cell = g[g["window"] == k].set_index(g.loc[g["window"] == k, "metric"].astype(str))

        def get(metric: str, column: str, cell=cell) -> float:
            return float(cell.loc[metric, column]) if metric in cell.index else math.nan

        react = cell.loc["reactivation"] if "reactivation" in cell.index else None
        rows.append({
            "campaign_month": cm,
            "window": k,
            "n_treated": int(react["n_treated"]) if react is not None else 0,
            "n_control": int(react["n_control"]) if react is not None else 0,
            "treated": get("reactivation", "treated"),
            "control": get("reactivation", "control"),
            "diff": get("reactivation", "diff"),
            "ci_low": get("reactivation", "ci_low"),
            "ci_high": get("reactivation", "ci_high"),
            "won_back": get("incremental_reactivations", "diff"),
            "won_back_low": get("incremental_reactivations", "ci_low"),
            "won_back_high": get("incremental_reactivations", "ci_high"),
            "revenue": get("incremental_revenue", "diff"),
            "revenue_low": get("incremental_revenue", "ci_low"),
            "revenue_high": get("incremental_revenue", "ci_high"),
            "cost": get("cost", "treated"),
            "roi": get("roi", "diff"),
            "roi_low": get("roi", "ci_low"),
            "roi_high": get("roi", "ci_high"),
            "note": "" if react is None or _nan(react["note"]) else str(react["note"]),
        })
    return pd.DataFrame(rows, columns=cols)


def _kpi_rows(kpi_status: pd.DataFrame | None) -> pd.DataFrame:
    """Stage 6's ``kpi_status``; a missing ``status`` is derived with the kpis module's rule."""
    if kpi_status is None or kpi_status.empty:
        return pd.DataFrame(columns=["kpi", "value", "op", "target", "amber_band", "status"])
    out = kpi_status.copy()
    if "status" not in out.columns:
        from winback.kpis import rag_status

        out["status"] = [rag_status(r.value, r.op, r.target, r.amber_band)
                         for r in out.itertuples()]
    return out


# -------------------------------------------------------------------------- rendering


def _card(title: str, value: str, sub: str, cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="card-title">{_esc(title)}</div>'
            f'<div class="card-value">{_esc(value)}</div>'
            f'<div class="card-sub">{_esc(sub)}</div></div>')


def _ci(lo: str, hi: str, t: dict) -> str:
    return t["ci"].format(lo=lo, hi=hi)


def _summary_html(tables: dict[str, pd.DataFrame | None], *, month: str, t: dict,
                  currency: str, language: str) -> str:
    from winback.plots.report import plot_churn_trend

    parts = [f'<section id="summary"><h2>{_esc(t["summary"])}</h2>']
    churn = churn_figures(tables.get("status_flows"), month)
    results = campaign_results(tables.get("evaluations"))
    headline = results[results["diff"].notna()].head(1)
    cards = []
    if churn:
        change = ""
        if churn["prev_month"]:
            change = t["churn_change"].format(
                d=_points(churn["churn_rate"] - churn["prev_rate"], t), prev=churn["prev_month"],
                r=_pct(churn["prev_rate"]))
        sub = t["churn_card_sub"].format(new=_count(churn["new_churn"], False),
                                         base=_count(churn["base_active"], False),
                                         prev=churn["prev_month"] or "")
        cards.append(_card(t["churn_card"], _pct(churn["churn_rate"]),
                           f"{change}{t['sep']}{sub}" if change else sub, "churn"))
    else:
        cards.append(_card(t["churn_card"], t["not_yet"], t["churn_none"].format(month=month)))
    if len(headline):
        h = headline.iloc[0]
        cards.append(_card(
            t["wonback_card"], _count(h["won_back"]),
            _ci(_count(h["won_back_low"]), _count(h["won_back_high"]), t) + t["sep"]
            + t["wonback_sub"].format(c=h["campaign_month"], w=int(h["window"]),
                                      t=_pct(h["treated"]), k=_pct(h["control"])),
            "wonback"))
        cards.append(_card(
            t["revenue_card"], _money(h["revenue"], currency, signed=True),
            _ci(_money(h["revenue_low"], currency, True), _money(h["revenue_high"], currency, True),
                t) + t["sep"] + t["revenue_sub"].format(cost=_money(h["cost"], currency)),
            "revenue"))
        cards.append(_card(
            t["roi_card"], _signed_pct(h["roi"]),
            _ci(_signed_pct(h["roi_low"]), _signed_pct(h["roi_high"]), t) + t["sep"]
            + t["roi_sub"],
            "roi"))
    else:
        for key in ("wonback_card", "revenue_card", "roi_card"):
            cards.append(_card(t[key], t["not_yet"], "", "missing"))
    parts.append('<div class="cards">' + "".join(cards) + "</div>")
    if churn:
        parts.append("<p>" + _esc(t["flows_sentence"].format(
            month=month, back=_count(churn["reactivated"], False),
            lost=_count(churn["new_churn"], False), net=_count(churn["net_winback"]))) + "</p>")
    if results.empty or results["diff"].isna().all():
        nxt = str(pd.Period(month, "M") + 1)
        parts.append(f'<p class="notice" id="no-campaign">'
                     f'{_esc(t["no_campaign"].format(month=month, next=nxt))}</p>')
    parts.append(_campaigns_table(results, t, currency))
    parts.append(_kpi_table(tables.get("kpi_status"), t))
    parts.append(_this_campaign(tables.get("holdout_summary"), tables.get("campaign_costs"), t,
                                currency))
    flows = tables.get("status_flows")
    if flows is not None and not flows.empty:
        kpi = _kpi_rows(tables.get("kpi_status"))
        target = kpi[kpi["kpi"] == "churn_rate"]
        kw = ({"target": float(target["target"].iloc[0]), "op": str(target["op"].iloc[0])}
              if len(target) else {})
        parts.append(f"<h3>{_esc(t['churn_trend'])}</h3>")
        parts.append(_chart(plot_churn_trend, flows, t["churn_trend"], language=language, **kw))
    parts.append("</section>")
    return "\n".join(parts)


def _campaigns_table(results: pd.DataFrame, t: dict, currency: str, title: str = "campaigns",
                     level: int = 3) -> str:
    if results.empty:
        return ""
    head = ["col_campaign", "col_window", "col_n", "col_treated", "col_control", "col_diff",
            "col_wonback", "col_revenue", "col_cost", "col_roi"]
    rows = []
    for r in results.itertuples():
        if _nan(r.diff):
            cells = [r.campaign_month, r.window, f"{r.n_treated:,} / {r.n_control:,}",
                     t["too_small"], "", "", "", "", "", ""]
        else:
            cells = [
                r.campaign_month, r.window, f"{r.n_treated:,} / {r.n_control:,}",
                _pct(r.treated), _pct(r.control),
                f"{r.diff * 100:+.1f} ({r.ci_low * 100:+.1f} … {r.ci_high * 100:+.1f})",
                f"{_count(r.won_back)} ({_count(r.won_back_low)} … {_count(r.won_back_high)})",
                f"{_count(r.revenue)} ({_count(r.revenue_low)} … {_count(r.revenue_high)})",
                _count(r.cost, signed=False),
                f"{_signed_pct(r.roi)} ({_signed_pct(r.roi_low)} … {_signed_pct(r.roi_high)})",
            ]
        rows.append(f'<tr data-campaign="{_esc(r.campaign_month)}">'
                    + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    return (f"<h{level}>{_esc(t[title])}</h{level}>"
            f"<p class='note'>{_esc(t['campaigns_note'])}</p>"
            '<div class="table-wrap"><table class="summary-table" id="campaigns"><thead><tr>'
            + "".join(f"<th>{_esc(t[h].format(currency=currency))}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _kpi_table(kpi_status: pd.DataFrame | None, t: dict) -> str:
    rows = _kpi_rows(kpi_status)
    out = [f"<h3>{_esc(t['kpis'])}</h3>"]
    if rows.empty:
        out.append(f"<p>{_esc(t['no_kpis'])}</p>")
        return "".join(out)
    bands = sorted({f"{float(b):.0%}" for b in rows["amber_band"].dropna()})
    out.append(f"<p class='note'>{_esc(t['kpis_note'].format(band=' / '.join(bands)))}</p>")
    out.append('<div class="table-wrap"><table class="summary-table" id="kpis"><thead><tr>'
               + "".join(f"<th>{_esc(t[h])}</th>"
                         for h in ("col_kpi", "col_value", "col_target", "col_status"))
               + "</tr></thead><tbody>")
    for r in rows.itertuples():
        kpi, status = str(r.kpi), str(r.status)
        unit = _KPI_UNITS.get(kpi, "score")
        name = t["kpi_names"].get(kpi, kpi)
        colour = _RAG_COLOURS.get(status, _RAG_COLOURS["n/a"])
        pill = (f'<span class="rag rag-{_esc(status.replace("/", ""))}" '
                f'style="background:{colour}">{_esc(t["rag"].get(status, status))}</span>')
        out.append(
            f'<tr data-kpi="{_esc(kpi)}" data-status="{_esc(status)}">'
            f"<td>{_esc(name)}</td>"
            f"<td>{_esc(t['not_yet'] if _nan(r.value) else _kpi_value(r.value, unit))}</td>"
            f"<td>{_esc(r.op)} {_esc(_kpi_value(r.target, unit))}</td><td>{pill}</td></tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _this_campaign(holdout: pd.DataFrame | None, costs: pd.DataFrame | None, t: dict,
                   currency: str) -> str:
    head = f"<h3>{_esc(t['this_campaign'])}</h3>"
    if holdout is None or "total" not in holdout.index.astype(str):
        return head + f"<p>{_esc(t['this_campaign_none'])}</p>"
    total = holdout.loc[holdout.index.astype(str) == "total"].iloc[0]
    cost = math.nan
    if costs is not None and "category" in costs.columns:
        row = costs[costs["category"].astype(str) == "total"]
        cost = float(row["amount"].iloc[0]) if len(row) else math.nan
    text = t["this_campaign_text"].format(treated=_count(total["treatment"], False),
                                          control=_count(total["control"], False),
                                          cost=_money(cost, currency))
    return head + f'<p id="this-campaign">{_esc(text)}</p>'


# ------------------------------------------------------------ stage notebooks as HTML


def _keep_output(output) -> bool:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("name") == "stdout" and bool(str(output.get("text", "")).strip())
    if kind in ("execute_result", "display_data"):
        return bool(set(output.get("data", {})) & {"text/html", "image/png", "image/jpeg",
                                                   "text/markdown"})
    return False


@functools.cache
def _html_exporter():
    """nbconvert's HTML exporter for :func:`notebook_html`, made once: building it and
    compiling its templates cost more than converting a notebook."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True)


def notebook_html(path: str | Path, *, alt: str = "chart", figures: str | Path | None = None
                  ) -> str:
    """The body of an executed notebook as HTML without code, prompts or scripts.

    Code inputs are left out, as are outputs that are only a text repr, stderr, and the
    notebook's last ``## Outputs`` section; the first H1 is dropped (the report gives the
    section its own title) and the other headings move down one level. Charts get ``alt``
    as their alternative text.

    When the notebook shows no chart (its kernel drew with a non-inline matplotlib
    backend, e.g. ``MPLBACKEND=Agg`` in the environment), the PNGs of ``figures`` (the
    run's ``figures/`` folder) that its ``## Outputs`` section names are shown at the end
    instead, so the section keeps its charts.
    """
    from winback.runner import skip_iri_grammars

    skip_iri_grammars()
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells, outputs_section, named = [], False, []
    for cell in nb.cells:
        if outputs_section:
            if cell.cell_type == "code":
                named += re.findall(r"""["']([A-Za-z0-9_\-]+)["']""", cell.source)
            continue
        if cell.cell_type == "markdown":
            if re.match(r"^\s*##\s+Outputs\s*$", cell.source.splitlines()[0] if cell.source
                        else ""):
                outputs_section = True
                continue
            cells.append(cell)
        elif cell.cell_type == "code":
            outputs = [o for o in cell.get("outputs", []) if _keep_output(o)]
            if outputs:
                kept = copy.deepcopy(cell)
                kept.source = ""
                kept.outputs = outputs
                cells.append(kept)
    nb = copy.copy(nb)
    nb.cells = cells
    body, _ = _html_exporter().from_notebook_node(nb)
    body = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", body, flags=re.S)
    body = re.sub(r'\sid="cell-id=[^"]*"', "", body)
    body = re.sub(r'(<h[1-6])\s+id="[^"]*"', r"\1", body)
    body = re.sub(r"<h1\b[^>]*>.*?</h1>", "", body, count=1, flags=re.S)
    for level in (5, 4, 3, 2, 1):
        body = re.sub(rf"<(/?)h{level}\b", rf"<\1h{min(level + 2, 6)}", body)
    if figures is not None and "<img" not in body:
        pngs = [Path(figures) / f"{n}.png" for n in dict.fromkeys(named)]
        body += "".join(
            f'<div class="output_png"><img alt="{_esc(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(f.read_bytes()).decode("ascii")}"></div>'
            for f in pngs if f.is_file())
    body = re.sub(r"<img(?![^>]*\balt=)", f'<img alt="{_esc(alt)}"', body)
    return _offline(body)


_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|srcset|poster|data|action)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import\b)""",
    re.I,
)


def _offline(body: str) -> str:
    """Remove scripts and external stylesheets; external links keep their text only."""
    body = re.sub(r"<script\b.*?</script\s*>", "", body, flags=re.S | re.I)
    body = re.sub(r"<link\b[^>]*>", "", body, flags=re.I)
    body = re.sub(r"<iframe\b.*?</iframe\s*>", "", body, flags=re.S | re.I)
    return re.sub(r"""<a\b[^>]*href\s*=\s*["']?\s*(?:https?:)?//[^>]*>(.*?)</a\s*>""", r"\1",
                  body, flags=re.S | re.I)


def external_references(page: str) -> list[str]:
    """Every place ``page`` would load something from the network (empty for a good page)."""
    return [m.group(0) for m in _EXTERNAL.finditer(page)]


# --------------------------------------------------------------------- page assembly

_CSS = """
:root { --ink:#1f2933; --muted:#5f6b76; --line:#d9dee3; --accent:#0173b2; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; color:var(--ink); background:#fff; line-height:1.55; font-size:15px;
  font-family: winback-cjk, "Noto Sans SC", "Noto Sans CJK SC", "PingFang SC",
  "Microsoft YaHei", "Segoe UI", "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
header.top { background:#12344d; color:#fff; padding:28px 40px 22px; }
header.top h1 { margin:0 0 6px; font-size:26px; font-weight:600; }
header.top .client { font-size:18px; opacity:.95; }
header.top dl { display:flex; flex-wrap:wrap; gap:6px 28px; margin:14px 0 0; font-size:13px; }
header.top dt { opacity:.7; } header.top dd { margin:0 0 0 6px; font-weight:600; }
header.top dl div { display:flex; }
main { max-width:1180px; margin:0 auto; padding:8px 40px 40px; }
nav.toc { background:var(--bg); border:1px solid var(--line); border-radius:6px;
  padding:10px 18px; margin:20px 0; font-size:14px; }
nav.toc ol { margin:4px 0; padding-left:22px; columns:2; }
nav.toc a { color:var(--accent); text-decoration:none; }
h2 { font-size:22px; border-bottom:2px solid var(--accent); padding-bottom:4px; margin-top:36px; }
h3 { font-size:17px; margin:24px 0 8px; } h4 { font-size:15px; margin:18px 0 6px; }
h5, h6 { font-size:14px; margin:14px 0 6px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(240px, 1fr)); gap:14px;
  margin:16px 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:14px 16px; background:var(--bg); }
.card-title { font-size:13px; color:var(--muted); text-transform:none; }
.card-value { font-size:30px; font-weight:600; margin:2px 0 4px; }
.card.missing .card-value { color:#9e9e9e; font-size:22px; }
.card-sub { font-size:12.5px; color:var(--muted); }
.notice { background:#fff8e1; border-left:4px solid #f9a825; padding:10px 14px; }
.note { color:var(--muted); font-size:13px; margin:2px 0 8px; }
.table-wrap { overflow-x:auto; margin:6px 0 12px; }
table { border-collapse:collapse; font-size:12.5px; }
th, td { border-bottom:1px solid var(--line); padding:4px 9px; text-align:right;
  vertical-align:top; white-space:nowrap; }
th { background:var(--bg); font-weight:600; }
td:first-child, th:first-child { text-align:left; }
.summary-table td, .summary-table th { font-size:13.5px; padding:6px 10px; }
.summary-table th { white-space:normal; max-width:150px; vertical-align:bottom; }
.rag { display:inline-block; min-width:86px; text-align:center; color:#fff; border-radius:11px;
  padding:1px 10px; font-size:12.5px; font-weight:600; }
.rag-amber { color:#3b2f00; }
img { max-width:100%; height:auto; }
img.chart { display:block; margin:8px 0 16px; }
section.stage { margin-top:10px; }
section.stage .output_png img { display:block; margin:6px 0 14px; }
section.stage .output_html, section.stage .output_subarea { overflow-x:auto; }
section.stage pre { white-space:pre-wrap; background:var(--bg); border-left:3px solid var(--line);
  padding:8px 12px; font-size:13px; margin:6px 0 10px;
  font-family: winback-cjk, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
section.stage .dataframe { margin:6px 0 14px; }
section.stage .dataframe thead th { text-align:right; }
footer { border-top:1px solid var(--line); color:var(--muted); font-size:12.5px;
  padding:14px 40px 30px; max-width:1180px; margin:0 auto; }
@media print { nav.toc { display:none; } header.top { -webkit-print-color-adjust:exact; } }
"""

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


FONT_CACHE = ".fonts"  # in runs/<engagement>/: subset fonts kept for the next pages


def _subset_font(chars: str, cache_dir: Path | None = None) -> bytes:
    """Noto Sans SC subset to ``chars`` (an OpenType file's bytes).

    With ``cache_dir``, a subset made before for the same characters, font file and
    fontTools version is read from there (subsetting the whole CJK font costs about half a
    second per page), and a new one is kept there.
    """
    import pylopdf_fonts_zh_cn
    from fontTools import subset, version

    path = Path(pylopdf_fonts_zh_cn.sans_path())
    cached = None
    if cache_dir is not None:
        stat = path.stat()
        key = "\0".join([str(path), str(stat.st_size), str(stat.st_mtime_ns), version, chars])
        cached = Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()}.otf"
        with contextlib.suppress(OSError):
            return cached.read_bytes()
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    font = subset.load_font(str(path), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    data = buf.getvalue()
    if cached is not None:
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(cached)
    return data


def _font_face(page: str, cache_dir: Path | None = None) -> str:
    """``@font-face`` embedding the kit's Noto Sans SC, subset to the page's CJK glyphs.

    Empty when the page has no CJK text or the font (or fontTools) is not installed: the
    browser's own fonts are used then. ``cache_dir``: see :func:`_subset_font`.
    """
    text = re.sub(r"data:[^\"')\s]+", "", page)
    chars = "".join(sorted(set(_CJK.findall(text))))
    if not chars:
        return ""
    try:
        font = _subset_font(chars, cache_dir)
    except (ImportError, OSError, RuntimeError):
        return ""
    data = base64.b64encode(font).decode("ascii")
    return ("@font-face { font-family: winback-cjk; font-weight: 100 900; "
            f"src: url(data:font/otf;base64,{data}) format('opentype'); "
            "unicode-range: U+2E80-9FFF, U+F900-FAFF, U+FE30-FE4F, U+FF00-FFEF; }")


def _page(*, title: str, language: str, header: str, body: str, footer: str,
          font_cache: Path | None = None) -> str:
    content = f"{header}\n<main>\n{body}\n</main>\n<footer>{footer}</footer>"
    css = _font_face(content, font_cache) + _CSS
    lang = "zh-CN" if language == "zh" else "en"
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # An empty icon keeps the browser from asking the file's folder for favicon.ico.
        '<link rel="icon" href="data:,">\n'
        f"<title>{_esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{content}\n"
        "</body>\n</html>\n"
    )
    found = external_references(page)
    if found:
        raise ReportError(f"the page would load from the network: {found[:3]}")
    return page


def _header(title: str, items: list[tuple[str, str]], client: str) -> str:
    meta = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in items)
    return (f'<header class="top"><h1>{_esc(title)}</h1><div class="client">{_esc(client)}</div>'
            f"<dl>{meta}</dl></header>")


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _id_pseudonymizer(run_dir: Path, params):
    """With ``privacy.hash_ids``: a function giving notebook HTML its customer ids hashed.

    The executed notebooks keep real ids (the consultant's record); the report is shared,
    so table cells holding exactly a customer id of the engagement's ``customers`` are
    replaced by the same salted hash the run's tables carry
    (:func:`winback.privacy.pseudonymize_html`). The ids are read from the run's copy of
    the store while the runner builds the month (``<run_dir>/.store/``), else from the
    engagement's store. Without ``hash_ids`` the HTML is returned as it is.
    """
    privacy = getattr(params, "privacy", None)
    if privacy is None or not getattr(privacy, "hash_ids", False):
        return lambda text: text
    from winback.privacy import pseudonymize_html, resolve_salt
    from winback.store import has_table, opened
    from winback.workspace import workspace

    salt = resolve_salt(privacy)
    name = params.engagement.name
    candidates = [run_dir / ".store" / name / "store.duckdb", workspace(params).store_path]
    store = next((c for c in candidates if c.is_file()), None)
    if store is None:
        raise ReportError(
            f"privacy.hash_ids is on but no store holds the customer ids to hash (looked at "
            f"{', '.join(map(str, candidates))}); run stage 1 for this month first.")
    with opened(store, read_only=True) as con:
        if not has_table(con, "customers"):
            raise ReportError(f"{store}: no customers table, so the customer ids shown by the "
                              "notebooks cannot be hashed; run stage 1 for this month first.")
        ids = [r[0] for r in con.execute("SELECT DISTINCT customer_id FROM customers").fetchall()]
    return lambda text: pseudonymize_html(text, ids, salt)


def write_report(run_dir: str | Path, params, *, root: Path | None = None) -> Path:
    """Build ``<run_dir>/report.html`` from the month's tables and executed notebooks.

    Parameters
    ----------
    run_dir
        A month's run folder (``tables/``, ``notebooks/``, ``manifest.json``).
    params
        The run's :class:`winback.config.Params` (engagement name, client, currency and
        language; ``run.month`` when the folder has no manifest).
    root
        The kit's root, whose ``playbook/stages.yaml`` lists the sections (found from the
        working directory when not given).

    Returns
    -------
    pathlib.Path
        The report's path.

    Raises
    ------
    ReportError
        When the folder is missing, a table cannot be read, or the page would reference
        the network.
    """
    from winback.runner import stages

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run folder.")
    language = report_language(params)
    t = report_texts(language)
    manifest = _manifest(run_dir)
    month = str(manifest.get("month") or params.run.month)
    currency = params.engagement.currency
    tables = _read_tables(run_dir, _SUMMARY_TABLES)
    run_date = str(manifest.get("started", time.strftime("%Y-%m-%dT%H:%M:%S")))[:10]
    version = _kit_version(manifest)
    header = _header(f"{t['title']} · {month}", [
        (t["engagement"], params.engagement.name),
        (t["client"], params.engagement.client),
        (t["month"], month),
        (t["run_date"], run_date),
        (t["kit"], version),
    ], params.engagement.client)
    stage_list = stages(root)
    pseudonymize = _id_pseudonymizer(run_dir, params)
    toc = [f'<li><a href="#summary">{_esc(t["summary"])}</a></li>']
    sections = []
    for stage in stage_list:
        title = t["stage_titles"].get(stage.id, stage.title)
        toc.append(f'<li><a href="#stage-{_esc(stage.id)}">{_esc(title)}</a></li>')
        nb_path = run_dir / "notebooks" / Path(stage.notebook).name
        inner = (pseudonymize(notebook_html(nb_path, alt=title, figures=run_dir / "figures"))
                 if nb_path.is_file()
                 else f"<p class='notice'>{_esc(t['stage_missing'])}</p>")
        sections.append(f'<section class="stage" id="stage-{_esc(stage.id)}">'
                        f"<h2>{_esc(title)}</h2>\n{inner}\n</section>")
    body = (f'<nav class="toc"><strong>{_esc(t["contents"])}</strong><ol>{"".join(toc)}</ol>'
            "</nav>\n"
            + _summary_html(tables, month=month, t=t, currency=currency, language=language)
            + f'\n<h2 class="stages-title">{_esc(t["stages"])}</h2>\n' + "\n".join(sections))
    footer = _esc(t["footer"].format(as_of=month_end(month).date().isoformat(), version=version,
                                     date=run_date))
    page = _page(title=f"{t['title']} · {params.engagement.client} · {month}",
                 language=language, header=header, body=body, footer=footer,
                 font_cache=run_dir.parent / FONT_CACHE)
    return _write(run_dir / REPORT_FILE, page)


# ------------------------------------------------------------------------ the trends


@dataclass(frozen=True)
class Trends:
    """The engagement's figures across complete months (each frame may be empty).

    ``churn``: ``month, churn_rate, churned_share, new_churn, base_active, reactivated,
    net_winback`` (each run month's row of its ``status_flows``). ``campaigns``: stage 6's
    whole-campaign ``evaluations`` rows of every campaign at its longest window evaluated
    so far (from the latest run evaluating it), plus ``evaluated_in``. ``model``: ``month``
    (run month), ``backtest_month, model, metric, value, ci_low, ci_high`` for ROC-AUC and
    PR-AUC on each run's latest backtested month.
    """

    months: list[str]
    churn: pd.DataFrame
    campaigns: pd.DataFrame
    model: pd.DataFrame


def complete_months(engagement_runs_dir: str | Path) -> list[str]:
    """Month folders (``YYYY-MM``) whose manifest says ``complete``, oldest first."""
    base = Path(engagement_runs_dir)
    if not base.is_dir():
        return []
    out = []
    for folder in sorted(base.iterdir()):
        if folder.is_dir() and _MONTH_DIR.match(folder.name):
            manifest = _manifest(folder)
            if manifest.get("status") == "complete":
                out.append(folder.name)
    return out


def collect_trends(engagement_runs_dir: str | Path) -> Trends:
    """Read every complete month's tables into a :class:`Trends`."""
    base = Path(engagement_runs_dir)
    months = complete_months(base)
    churn, evals, model = [], [], []
    for m in months:
        tables = _read_tables(base / m, ("status_flows", "evaluations", "warning_backtest"))
        flows = tables["status_flows"]
        if flows is not None and not flows.empty:
            row = flows[flows["month"].astype(str) == m]
            if len(row):
                churn.append(row.iloc[[0]])
        ev = tables["evaluations"]
        if ev is not None and not ev.empty:
            evals.append(_winback_rows(ev).assign(evaluated_in=m))
        bt = tables["warning_backtest"]
        if bt is not None and not bt.empty:
            last = bt["month"].astype(str).max()
            rows = bt[(bt["month"].astype(str) == last) & bt["metric"].isin(["roc_auc", "pr_auc"])]
            model.append(rows.rename(columns={"month": "backtest_month"}).assign(month=m))
    churn_cols = ["month", "churn_rate", "churned_share", "new_churn", "base_active",
                  "reactivated", "net_winback"]
    churn_df = (pd.concat(churn, ignore_index=True)[churn_cols] if churn
                else pd.DataFrame(columns=churn_cols))
    churn_df["month"] = churn_df["month"].astype(str)
    if evals:
        ev = pd.concat(evals, ignore_index=True)
        ev["campaign_month"] = ev["campaign_month"].astype(str)
        ev = ev.sort_values(["campaign_month", "window", "evaluated_in"])
        longest = ev.groupby("campaign_month")["window"].transform("max")
        ev = ev[ev["window"] == longest]
        latest = ev.groupby("campaign_month")["evaluated_in"].transform("max")
        campaigns = ev[ev["evaluated_in"] == latest].reset_index(drop=True)
    else:
        campaigns = pd.DataFrame(columns=["campaign_month", "window", "metric", "n_treated",
                                          "n_control", "treated", "control", "diff", "ci_low",
                                          "ci_high", "note", "evaluated_in"])
    model_cols = ["month", "backtest_month", "model", "metric", "value", "ci_low", "ci_high"]
    model_df = (pd.concat(model, ignore_index=True)[model_cols] if model
                else pd.DataFrame(columns=model_cols))
    return Trends(months, churn_df.reset_index(drop=True), campaigns, model_df)


def write_trends(engagement_runs_dir: str | Path, params) -> Path:
    """Build ``<engagement_runs_dir>/trends.html`` across every complete month.

    Parameters
    ----------
    engagement_runs_dir
        ``runs/<engagement>/`` (month folders inside).
    params
        The engagement's :class:`winback.config.Params` (client, currency, language).

    Returns
    -------
    pathlib.Path
        The page's path.
    """
    from winback.plots.report import (
        plot_churn_trend,
        plot_model_trend,
        plot_reactivation_trend,
        plot_roi_trend,
    )

    base = Path(engagement_runs_dir)
    base.mkdir(parents=True, exist_ok=True)
    language = report_language(params)
    t = report_texts(language)
    trends = collect_trends(base)
    currency = params.engagement.currency
    now = time.strftime("%Y-%m-%d")
    version = _kit_version(_manifest(base / trends.months[-1]) if trends.months else {})
    span = f"{trends.months[0]} – {trends.months[-1]}" if trends.months else "–"
    header = _header(t["trends_title"], [
        (t["engagement"], params.engagement.name), (t["client"], params.engagement.client),
        (t["months_covered"], span), (t["generated"], now), (t["kit"], version),
    ], params.engagement.client)
    parts = []
    if not trends.months:
        parts.append(f"<p class='notice'>{_esc(t['trends_none'])}</p>")
    else:
        target = params.kpis.targets.get("churn_rate") if hasattr(params, "kpis") else None
        kw = {"target": target.target, "op": target.op} if target else {}
        evaluated = trends.campaigns[trends.campaigns["diff"].notna()]
        parts += [f"<h2>{_esc(t['trend_churn'])}</h2>",
                  _chart(plot_churn_trend, trends.churn, t["trend_churn"], language=language,
                         **kw)]
        for title, draw, metric in (("trend_react", plot_reactivation_trend, "reactivation"),
                                    ("trend_roi", plot_roi_trend, "roi")):
            parts.append(f"<h2>{_esc(t[title])}</h2>")
            parts.append(_chart(draw, trends.campaigns, t[title], language=language)
                         if (evaluated["metric"] == metric).any()
                         else f"<p class='notice'>{_esc(t['trends_no_campaign'])}</p>")
        parts.append(f"<h2>{_esc(t['trend_model'])}</h2>")
        if len(trends.model):
            parts += [_chart(plot_model_trend, trends.model, "ROC-AUC", language=language,
                             metric="roc_auc"),
                      _chart(plot_model_trend, trends.model, "PR-AUC", language=language,
                             metric="pr_auc")]
        else:
            parts.append(f"<p class='notice'>{_esc(t['trends_no_model'])}</p>")
        results = campaign_results(trends.campaigns)
        if len(results):
            parts.append(_campaigns_table(results, t, currency, "trends_campaigns", 2))
        parts.append(_months_table(trends, base, t))
    as_of = month_end(trends.months[-1]).date().isoformat() if trends.months else "–"
    footer = _esc(t["trends_footer"].format(as_of=as_of, version=version, date=now))
    page = _page(title=f"{t['trends_title']} · {params.engagement.client}", language=language,
                 header=header, body="\n".join(parts), footer=footer,
                 font_cache=base / FONT_CACHE)
    return _write(base / TRENDS_FILE, page)


def _months_table(trends: Trends, base: Path, t: dict) -> str:
    churn = trends.churn.set_index("month") if len(trends.churn) else None
    rows = []
    for m in trends.months:
        rate = back = lost = math.nan
        if churn is not None and m in churn.index:
            rate, back, lost = (churn.loc[m, c] for c in ("churn_rate", "reactivated",
                                                           "new_churn"))
        link = (f'<a href="{_esc(m)}/{REPORT_FILE}">{_esc(t["open_report"])}</a>'
                if (base / m / REPORT_FILE).is_file() else "–")
        rows.append(f'<tr data-month="{_esc(m)}"><td>{_esc(m)}</td><td>{_esc(_pct(rate))}</td>'
                    f"<td>{_esc(_count(back, False))}</td><td>{_esc(_count(lost, False))}</td>"
                    f"<td>{link}</td></tr>")
    head = "".join(f"<th>{_esc(t[k])}</th>" for k in ("month", "col_churn", "col_back",
                                                       "col_lost", "col_report"))
    return (f"<h2>{_esc(t['trends_table'])}</h2><div class='table-wrap'>"
            f'<table class="summary-table" id="months"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


# ------------------------------------------------------------------ runner entry points


def report_step(run_dir: str | Path, params, *, root: Path | None = None) -> dict[str, Any]:
    """Write the month's report; return its manifest entry (``status`` ok or failed)."""
    start = time.perf_counter()
    entry: dict[str, Any] = {"file": REPORT_FILE}
    try:
        write_report(run_dir, params, root=root)
        entry["status"] = "ok"
    except Exception as exc:  # any failure fails the month, with the error in the manifest
        entry["status"] = "failed"
        entry["error"] = f"{type(exc).__name__}: {exc}"
    entry["seconds"] = round(time.perf_counter() - start, 2)
    return entry


def trends_step(engagement_runs_dir: str | Path, params) -> dict[str, Any]:
    """Refresh ``trends.html``; a failure is reported on stderr, never raised (the month is
    complete; the page is rebuilt by the next run)."""
    start = time.perf_counter()
    entry: dict[str, Any] = {"file": TRENDS_FILE}
    try:
        write_trends(engagement_runs_dir, params)
        entry["status"] = "ok"
    except Exception as exc:
        entry["status"] = "failed"
        entry["error"] = f"{type(exc).__name__}: {exc}"
        print(f"warning: {TRENDS_FILE} not refreshed: {entry['error']}", file=sys.stderr)
    entry["seconds"] = round(time.perf_counter() - start, 2)
    return entry
