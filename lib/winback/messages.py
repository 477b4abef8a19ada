"""The kit's message catalog: every text a person reads, in Chinese (zh) and English (en).

Charts, table headers, reason / tier / status names and the report's text come from
here, so one params key switches them all: ``report.language`` (``zh`` or ``en``; when
it is not set, the engagement's language ``engagement.language``). Read it with
:func:`output_language`.

Keys are dotted names, grouped by what they label:

``column.<name>``
    Header of a canonical column in displayed and exported tables (:func:`column_labels`).
``status.*``, ``churn_type.*``, ``channel.*``, ``quadrant.*``, ``rfm.*``, ...
    Names of the kit's fixed codes (:func:`label`). Reason and tier names are
    engagement params (``reasons.taxonomy``, ``tiering.labels_zh`` / ``labels_en``).
``plots.<module>.*``
    Titles, axis labels, legends and takeaways of :mod:`winback.plots` charts.
``report.*``
    Section names and summary labels of the monthly report.
``text.<module>.*``
    Sentences the ``describe_*`` functions compose from computed numbers; ``variable.*``,
    ``kpi.*``, ``status_rule.*``, ... name the codes they and the displayed tables show
    (:func:`label_codes`).

Texts may hold :meth:`str.format` fields (``"{n:,} customers"``); both languages of a
key hold the same fields, so a caller's arguments fit either (tests check it).

Examples
--------
>>> t("plots.churn.status_title", "en")
'Customers by churn status'
>>> m = Messages("zh", scope="plots.churn")
>>> m("status_takeaway", n=120, s=0.15)
'120 位客户已流失 (占客户总数 15.0%)：即挽回对象池'
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pandas as pd

from winback.config import Section

__all__ = [
    "CATALOG",
    "LANGUAGES",
    "Messages",
    "ReportParams",
    "check_language",
    "column_labels",
    "label",
    "label_codes",
    "labels",
    "output_language",
    "placeholders",
    "show_tables",
    "t",
]

LANGUAGES: tuple[str, ...] = ("zh", "en")

# key -> (zh, en). Keep both columns side by side so a translation is never forgotten.
_PAIRS: dict[str, tuple[str, str]] = {
    # ------------------------------------------------------------------ common words
    "common.none": ("暂无数据", "No data"),
    "common.other": ("其他", "other"),
    "common.overall": ("整体", "overall"),
    "common.unknown": ("未知", "Unknown"),
    "common.na": ("无", "n/a"),
    "common.period": ("。", "."),
    "common.list_sep": ("、", ", "),
    "common.clause_sep": ("；", "; "),
    "common.month": ("月份", "month"),
    "common.customers": ("客户数 (人)", "customers (count)"),
    "common.share_pct": ("占比 (%)", "share (%)"),
    "common.interval95": ("95% 区间", "95% interval"),
    # ------------------------------------------------------------------ fixed codes
    "status.new": ("新客户", "new"),
    "status.active": ("活跃", "active"),
    "status.at_risk": ("有流失风险", "at risk"),
    "status.churned": ("已流失", "churned"),
    "status.lost": ("无法挽回", "lost"),
    "churn_type.passive": ("被动流失", "passive"),
    "churn_type.active": ("主动流失", "active"),
    "churn_type.unknown": ("未知", "unknown"),
    "channel.phone": ("电话", "phone"),
    "channel.sms": ("短信", "sms"),
    "channel.email": ("邮件", "email"),
    "channel.wechat": ("微信", "wechat"),
    "channel.app_push": ("APP推送", "app_push"),
    "channel.visit": ("上门拜访", "visit"),
    "response.accepted": ("接受", "accepted"),
    "response.declined": ("拒绝", "declined"),
    "response.no_response": ("无回应", "no response"),
    "response.callback": ("要求回电", "callback"),
    "program.winback": ("流失挽回", "win-back"),
    "program.preventive": ("预防关怀", "preventive care"),
    "dimension.business_line": ("业务线", "business line"),
    "dimension.region": ("地区", "region"),
    "dimension.tier": ("层级 (上月)", "tier (last month)"),
    "dimension.cohort": ("注册季度", "signup cohort (quarter)"),
    "dimension.overall": ("整体", "overall"),
    "dimension.churn_type": ("流失类型", "churn type"),
    "evidence.contact_outcomes": ("外呼结果", "contact_outcomes"),
    "evidence.surveys": ("问卷", "surveys"),
    "evidence.tickets": ("工单", "tickets"),
    "evidence.keywords": ("文本关键词", "keywords"),
    "evidence.any": ("任一来源", "any"),
    "funnel.attempted": ("已尝试联系", "attempted"),
    "funnel.reached": ("已接通", "reached"),
    "funnel.responded": ("有回应", "responded"),
    "funnel.accepted": ("接受", "accepted"),
    "funnel.redeemed": ("已使用优惠", "redeemed"),
    "satisfaction_source.survey": ("问卷", "surveys"),
    "satisfaction_source.contact": ("回访", "contacts"),
    "rag.green": ("绿", "green"),
    "rag.amber": ("黄", "amber"),
    "rag.red": ("红", "red"),
    "rag.n/a": ("无数据", "n/a"),
    "budget_category.people": ("人力", "people"),
    "budget_category.materials": ("物料", "materials"),
    "budget_category.marketing": ("营销", "marketing"),
    "budget_category.total": ("合计", "total"),
    "quadrant.high_value_high_risk": ("高价值·高风险", "High value, high risk"),
    "quadrant.high_value_low_risk": ("高价值·低风险", "High value, low risk"),
    "quadrant.low_value_high_risk": ("低价值·高风险", "Low value, high risk"),
    "quadrant.low_value_low_risk": ("低价值·低风险", "Low value, low risk"),
    "quadrant_action.high_value_high_risk": (
        "优先挽回：专人联系，定制优惠", "win back first: personal contact, tailored offer"),
    "quadrant_action.high_value_low_risk": (
        "维护：关怀与认可，不打折", "keep: care and recognition, no discount"),
    "quadrant_action.low_value_high_risk": (
        "低成本挽回 (短信等) 或放弃", "low-cost win-back (messages) or let go"),
    "quadrant_action.low_value_low_risk": ("培育：交叉销售、提升互动",
                                           "develop: cross-sell, engagement"),
    "rfm.champions": ("冠军客户", "Champions"),
    "rfm.loyal": ("忠诚客户", "Loyal"),
    "rfm.potential_loyalists": ("潜力客户", "Potential loyalists"),
    "rfm.new_customers": ("新客户", "New customers"),
    "rfm.promising": ("有望客户", "Promising"),
    "rfm.need_attention": ("需关注客户", "Need attention"),
    "rfm.about_to_sleep": ("将沉睡客户", "About to sleep"),
    "rfm.at_risk": ("风险客户", "At risk"),
    "rfm.cannot_lose": ("不可失去客户", "Cannot lose"),
    "rfm.hibernating": ("沉睡客户", "Hibernating"),
    "rfm.lost": ("已流失客户", "Lost"),
    "warning.model.logistic": ("逻辑回归", "Logistic"),
    "warning.model.gbm": ("梯度提升", "Gradient boosting"),
    "warning.model.recency_rule": ("仅看最近购买", "Recency rule"),
    "warning.metric.pr_auc": ("PR-AUC", "PR-AUC"),
    "warning.metric.roc_auc": ("ROC-AUC", "ROC-AUC"),
    "warning.metric.precision_at_capacity": ("外呼容量内的精确率", "precision at capacity"),
    "warning.metric.recall_at_capacity": ("外呼容量内的召回率", "recall at capacity"),
    "warning.metric.lift_at_capacity": ("外呼容量内的提升度", "lift at capacity"),
    "warning.metric.brier": ("Brier 分数", "Brier score"),
    "warning.alert.frequency_drop": ("购买频次下降", "Frequency drop"),
    "warning.alert.spend_drop": ("消费金额下降", "Spend drop"),
    "warning.alert.engagement_drop": ("互动下降", "Engagement drop"),
    "warning.alert.any_alert": ("任一预警", "Any alert"),
    "warning.alert.two_or_more": ("两项及以上", "Two or more"),
    # ------------------------------------------------------------------ plots.churn
    "plots.churn.status_title": ("各流失状态客户数", "Customers by churn status"),
    "plots.churn.status_x": ("流失状态", "churn status"),
    "plots.churn.status_y": ("客户数 (人)", "customers (count)"),
    "plots.churn.status_takeaway": ("{n:,} 位客户已流失 (占客户总数 {s:.1%})：即挽回对象池",
                                    "{n:,} customers churned ({s:.1%} of the base): "
                                    "the win-back pool"),
    "plots.churn.status_none": ("本月没有已流失客户", "No churned customer this month"),
    "plots.churn.score_title": ("流失评分分布", "Churn score distribution"),
    "plots.churn.score_x": ("流失评分 (0 = 确定活跃，1 = 确定流失)",
                            "churn score (0 = surely active, 1 = surely churned)"),
    "plots.churn.score_y": ("已评分客户占比 (%)", "share of scored customers (%)"),
    "plots.churn.cutoff": ("{status} ≥ {cut:.2f}", "{status} ≥ {cut:.2f}"),
    "plots.churn.score_takeaway": ("{s:.1%} 的已评分客户达到或超过流失阈值",
                                   "{s:.1%} of scored customers at or above the churned cut-off"),
    # ------------------------------------------------------------------ plots.reasons
    "plots.reasons.trend_title": ("月度流失率", "Monthly churn rate"),
    "plots.reasons.trend_empty": ("暂无流失率：需要连续两个月的流失状态。",
                                  "No rate yet: churn statuses of two consecutive months needed."),
    "plots.reasons.rate": ("流失率", "churn rate"),
    "plots.reasons.trend_y": ("新流失 / 上月末活跃及风险客户 (%)",
                              "newly churned / active + at-risk at previous month end (%)"),
    "plots.reasons.trend_takeaway": ("最近 {last}：{rate}；峰值 {peak}：{peak_rate} ({n} / {base})。",
                                     "Latest {last}: {rate}; peak {peak}: {peak_rate} "
                                     "({n} of {base})."),
    "plots.reasons.segment_title": ("按{dim}的月度流失率", "Monthly churn rate by {dim}"),
    "plots.reasons.no_breakdown": ("暂无按{dim}的细分。", "No {dim} breakdown available."),
    "plots.reasons.segment_y": ("流失率 (%)", "churn rate (%)"),
    "plots.reasons.segment_takeaway": ("{month}：{segment} 最高，为 {rate} ({n} / {base})",
                                       "{month}: highest in {segment} at {rate} "
                                       "({n} of {base})"),
    "plots.reasons.hidden": ("；另有 {k} 个较小的细分未绘出。",
                             "; {k} smaller segment(s) not drawn."),
    "plots.reasons.conc_title": ("流失集中在哪里：{dim}", "Where churn concentrates: {dim}"),
    "plots.reasons.overall_line": ("整体 {rate}", "overall {rate}"),
    "plots.reasons.conc_x": ("流失率，客户月 {months} (%，95% 区间)",
                             "churn rate, customer-months {months} (%, 95% interval)"),
    "plots.reasons.conc_takeaway": ("最高：{segment} 为 {rate}，整体 {overall} ({lift:.1f} 倍)；"
                                    "红色 = 区间高于整体，灰色 = 样本太小{more}。",
                                    "Highest: {segment} at {rate} vs {overall} overall "
                                    "({lift:.1f}x); red = interval above overall, "
                                    "grey = too small{more}."),
    "plots.reasons.more": ("；另有 {k} 个细分未绘出", "; {k} more segment(s) not drawn"),
    "plots.reasons.profile_title": ("流失 vs 留存客户：效应量", "Churned vs retained: effect sizes"),
    "plots.reasons.profile_empty": ("没有可检验的属性。", "No attribute could be tested."),
    "plots.reasons.profile_x": ("效应量 (Cramér's V 0..1；秩二列相关 / Cohen's d：+ = 流失客户更高)",
                                "effect size (Cramér's V 0..1; rank-biserial / Cohen's d: "
                                "+ = churned higher)"),
    "plots.reasons.profile_y": ("属性", "attribute"),
    "plots.reasons.profile_takeaway": ("{k} / {n} 个属性在 Holm 校正后有显著差异{largest} "
                                       "(实心 = 显著)。",
                                       "{k} of {n} attributes differ after Holm adjustment"
                                       "{largest} (filled = significant)."),
    "plots.reasons.largest": ("；最大：{variable}", "; largest: {variable}"),
    "plots.reasons.coverage_title": ("流失客户的原因覆盖率", "Reason coverage of churned customers"),
    "plots.reasons.coverage_empty": ("本月没有流失客户。", "No churned customer this month."),
    "plots.reasons.taken": ("原因取自此来源", "reason taken from this source"),
    "plots.reasons.available": ("此来源有任何证据", "any evidence in this source"),
    "plots.reasons.coverage_x": ("来源 (按优先级；任一来源 = 所有来源)",
                                 "source (in priority order; 'any' = all sources)"),
    "plots.reasons.coverage_y": ("占 {n} 位流失客户的比例 (%，95% 区间)",
                                 "share of {n} churned customers (%, 95% interval)"),
    "plots.reasons.coverage_takeaway": ("{rate} 的流失客户原因已知 ({k} / {n})。",
                                        "{rate} of churned customers have a known reason "
                                        "({k} of {n})."),
    "plots.reasons.mix_title": ("流失原因 (原因已知的客户)",
                                "Churn reasons (customers with a known reason)"),
    "plots.reasons.mix_empty": ("没有原因已知的流失客户。", "No churned customer with a known reason."),
    "plots.reasons.mix_x": ("占 {n} 位客户的比例 (%，95% 区间)",
                            "share of {n} customers (%, 95% interval)"),
    "plots.reasons.reason": ("原因", "reason"),
    "plots.reasons.churn_type": ("流失类型", "churn type"),
    "plots.reasons.mix_takeaway": ("首要原因：{label}，占 {rate} ({low}–{high})。",
                                   "Top reason: {label} at {rate} ({low}–{high})."),
    "plots.reasons.mix_by_title": ("按{dim}的原因构成", "Reason mix by {dim}"),
    "plots.reasons.mix_by_x": ("原因已知客户中的占比 (%)", "share of customers with a known reason (%)"),
    "plots.reasons.no_tiers": ("尚无层级细分：第 3 阶段首次运行后才有存储表 'tiers'。",
                               "No tier breakdown yet: stage 3's store table 'tiers' appears "
                               "after its first run."),
    "plots.reasons.mix_by_distinct": ("{name} 整体居首；在 {segment} 中首要原因是 {other} ({rate})。",
                                      "{name} leads overall; in {segment} the top reason is "
                                      "{other} ({rate})."),
    "plots.reasons.mix_by_same": ("{name} 在每个细分中都是首要原因。",
                                  "{name} is the top reason in every segment."),
    "plots.reasons.type_trend_title": ("每月新流失客户的流失类型",
                                       "Churn type of newly churned customers by month"),
    "plots.reasons.reason_trend_title": ("每月新流失客户的流失原因",
                                         "Reasons of newly churned customers by month"),
    "plots.reasons.reason_trend_empty": ("之前月份尚未存储原因 (随月份运行逐步积累)。",
                                         "No reasons stored for earlier months yet (the trend "
                                         "builds up as months run)."),
    "plots.reasons.reason_trend_x": ("新流失月份 (n = 原因已知)",
                                     "month newly churned (n = with a known reason)"),
    "plots.reasons.reason_trend_takeaway": ("{name} 在 {first}..{last} 期间最多 ({k} / {n} 位客户)。",
                                            "{name} is the largest over {first}..{last} "
                                            "({k} of {n} customers)."),
    "plots.reasons.odds_title": ("流失驱动因素：每个标准差的优势比",
                                 "Churn drivers: odds ratio per standard deviation"),
    "plots.reasons.odds_empty": ("模型中没有指标。", "No indicator in the model."),
    "plots.reasons.odds_x": ("每增加 1 个标准差下月流失的优势比 (对数刻度，95% 区间)",
                             "odds ratio of churning next month per +1 SD "
                             "(log scale, 95% interval)"),
    "plots.reasons.odds_y": ("上月末指标", "indicator at previous month end"),
    "plots.reasons.odds_takeaway": ("最强：{indicator} (OR {ratio:.2f}，{low:.2f}–{high:.2f})；"
                                    "{k} / {n} 个区间不含 1。",
                                    "Strongest: {indicator} (OR {ratio:.2f}, "
                                    "{low:.2f}–{high:.2f}); {k} of {n} intervals exclude 1."),
    "plots.reasons.odds_none": ("没有优势比区间排除 1。", "No odds-ratio interval excludes 1."),
    # ------------------------------------------------------------------ plots.tiers
    "plots.tiers.tier_shares": ("各层级客户占比与预测价值占比",
                                "Share of customers and of predicted value by tier"),
    "plots.tiers.tier": ("价值层级", "Value tier"),
    "plots.tiers.share": ("占比 (%)", "Share (%)"),
    "plots.tiers.customers": ("客户占比", "Customers"),
    "plots.tiers.value": ("预测价值占比", "Predicted value"),
    "plots.tiers.holds": ("{label}：{c:.0%} 的客户，贡献 {v:.0%} 的预测价值",
                          "{label}: {c:.0%} of customers hold {v:.0%} of predicted value"),
    "plots.tiers.lorenz": ("预测价值集中度 (帕累托曲线)",
                           "Concentration of predicted value (Pareto curve)"),
    "plots.tiers.top_customers": ("按预测价值排序的前 x% 客户 (%)",
                                  "Top x% of customers by predicted value (%)"),
    "plots.tiers.value_share": ("累计预测价值占比 (%)", "Cumulative share of predicted value (%)"),
    "plots.tiers.equal": ("均匀分布", "Equal shares"),
    "plots.tiers.top_holds": ("前 {x:.0%} 的客户拥有 {y:.0%} 的预测价值 (基尼系数 {g:.2f})",
                              "The top {x:.0%} of customers hold {y:.0%} of predicted value "
                              "(Gini {g:.2f})"),
    "plots.tiers.split": ("各层级预测价值：必需 vs 可选消费",
                          "Predicted value by tier: necessary vs discretionary spend"),
    "plots.tiers.amount": ("预测价值 ({currency}, 未来 {h:g} 个月)",
                           "Predicted value ({currency}, next {h:g} months)"),
    "plots.tiers.necessary": ("必需消费", "Necessary"),
    "plots.tiers.discretionary": ("可选消费", "Discretionary"),
    "plots.tiers.split_takeaway": ("必需消费占预测价值的 {s:.0%}",
                                   "Necessary spend is {s:.0%} of predicted value"),
    "plots.tiers.quadrant": ("价值 × 流失风险 四象限", "Value x churn risk quadrants"),
    "plots.tiers.value_axis": ("价值 (预测价值高 / 低)", "Value (predicted value high / low)"),
    "plots.tiers.risk_axis": ("流失风险 (流失评分高 / 低)", "Churn risk (churn score high / low)"),
    "plots.tiers.high": ("高", "high"),
    "plots.tiers.low": ("低", "low"),
    "plots.tiers.cell": ("{n:,} 人 ({c:.0%})\n价值占比 {v:.0%}",
                         "{n:,} customers ({c:.0%})\n{v:.0%} of value"),
    "plots.tiers.quad_takeaway": ("高价值·高风险：{n:,} 人，占预测价值 {v:.0%}",
                                  "High value, high risk: {n:,} customers with {v:.0%} of "
                                  "predicted value"),
    "plots.tiers.rfm": ("RFM 客户分群", "RFM segments"),
    "plots.tiers.rfm_axis": ("客户数 (人；标注：人数 · 预测价值占比)",
                             "Customers (count; labels: customers · share of predicted value)"),
    "plots.tiers.rfm_segment": ("RFM 分群", "RFM segment"),
    "plots.tiers.rfm_takeaway": ("最大分群：{label} ({c:.0%})；价值占比最高：{vlabel} ({v:.0%})",
                                 "Largest: {label} ({c:.0%}); most value: {vlabel} ({v:.0%})"),
    "plots.tiers.transitions": ("层级迁移 ({prev} → {month})", "Tier transitions ({prev} -> {month})"),
    "plots.tiers.prev_tier": ("上月层级", "Tier last month"),
    "plots.tiers.cur_tier": ("本月层级", "Tier this month"),
    "plots.tiers.moved": ("{s:.1%} 的客户层级发生变化 ({up:,} 升, {down:,} 降)",
                          "{s:.1%} of customers changed tier ({up:,} up, {down:,} down)"),
    "plots.tiers.no_prev": ("{month} 为首个分层月份，无上月数据",
                            "{month} is the first month with tiers: no previous month to compare"),
    # ------------------------------------------------------------------ plots.strategy
    "plots.strategy.curve": ("预算能买到多少期望价值 (按层级)", "What the budget buys, by tier"),
    "plots.strategy.cum_cost": ("累计成本 ({c})", "Cumulative cost ({c})"),
    "plots.strategy.cum_ev": ("累计期望价值 ({c})", "Cumulative expected value ({c})"),
    "plots.strategy.tier": ("层级 {t}", "Tier {t}"),
    "plots.strategy.tier_axis": ("价值层级", "Value tier"),
    "plots.strategy.curve_takeaway": ("层级 {t}：预算 {b:,.0f} {c} 买到 {ev:,.0f} {c} 期望价值 "
                                      "(全部正值客户需 {all:,.0f} {c})",
                                      "Tier {t}: a budget of {b:,.0f} {c} buys {ev:,.0f} {c} of "
                                      "expected value (every positive candidate would cost "
                                      "{all:,.0f} {c})"),
    "plots.strategy.curve_none": ("没有期望价值为正的候选客户",
                                  "No candidate with a positive expected value"),
    "plots.strategy.marginal": ("下一单位预算的边际期望价值", "What the next unit of budget buys"),
    "plots.strategy.ev_per_unit": ("每单位成本的期望价值 ({c}/{c}，对数刻度)",
                                   "Expected value per unit of cost ({c} per {c}, log scale)"),
    "plots.strategy.marginal_takeaway": ("层级 {t}：预算再增加 1 {c} 可多带来 {r:.2f} {c} 期望价值 "
                                         "(各层级最高)",
                                         "Tier {t}: one more {c} of budget buys {r:.2f} {c} of "
                                         "expected value (the highest of the tiers)"),
    "plots.strategy.marginal_none": ("所有期望价值为正的客户都在预算内",
                                     "Every candidate with a positive expected value fits in the "
                                     "budget"),
    "plots.strategy.use": ("各层级预算使用", "Budget use by tier"),
    "plots.strategy.amount": ("金额 ({c})", "Amount ({c})"),
    "plots.strategy.treated": ("实验组成本", "Treated cost"),
    "plots.strategy.held": ("对照组 (留存不花费)", "Control (kept unspent)"),
    "plots.strategy.unspent": ("未使用", "Unspent"),
    "plots.strategy.use_takeaway": ("预算 {b:,.0f} {c}：实验组使用 {s:.0%}，对照组占 {h:.0%}",
                                    "Budget {b:,.0f} {c}: {s:.0%} used on the treated, {h:.0%} "
                                    "held out as control"),
    "plots.strategy.no_budget": ("未设定预算", "No budget set"),
    "plots.strategy.mix": ("各策略客户数：实验组 vs 对照组",
                           "Customers per strategy: treatment vs control"),
    "plots.strategy.customers": ("客户数 (人)", "Customers (count)"),
    "plots.strategy.strategy": ("挽回策略", "Strategy"),
    "plots.strategy.treatment": ("实验组", "Treatment"),
    "plots.strategy.control": ("对照组", "Control"),
    "plots.strategy.mix_takeaway": ("最多的策略：{s} ({n:,} 人, 占实验组 {p:.0%})",
                                    "Most used: {s} ({n:,} customers, {p:.0%} of the treated)"),
    "plots.strategy.mix_none": ("本月没有实验组客户", "No treated customer this month"),
    # ------------------------------------------------------------------ plots.schedule
    "plots.schedule.plan_title": ("活动计划：{weeks} 周", "Campaign plan: {weeks} weeks"),
    "plots.schedule.plan_title_empty": ("活动计划", "Campaign plan"),
    "plots.schedule.plan_empty": ("params 的 schedule.plan.tasks 中没有任务。",
                                  "No task in params schedule.plan.tasks."),
    "plots.schedule.execution_month": ("执行月 {month}", "execution month {month}"),
    "plots.schedule.plan_x": ("日期 (月-日，刻度为周一)", "date (month-day, ticks on Mondays)"),
    "plots.schedule.plan_y": ("任务", "task"),
    "plots.schedule.plan_takeaway_days": ("计划 {first} 至 {last}；一对一联系安排在 {n} 个工作日，"
                                          "{d0} 至 {d1}。",
                                          "Plan {first} to {last}; one-to-one contacts on {n} "
                                          "working days, {d0} to {d1}."),
    "plots.schedule.plan_takeaway": ("计划 {first} 至 {last}。", "Plan {first} to {last}."),
    "plots.schedule.load_title": ("每日负荷：已排联系数 / 容量",
                                  "Daily load: contacts scheduled / capacity"),
    "plots.schedule.load_x": ("联系日 (月-日)", "contact day (month-day)"),
    "plots.schedule.channel": ("渠道", "channel"),
    "plots.schedule.load_empty": ("没有安排了人员的联系日。", "No contact day with a staffed channel."),
    "plots.schedule.capacity_used": ("容量使用率 (%)", "capacity used (%)"),
    "plots.schedule.load_peak": ("没有渠道在任何一天满载；峰值为 {u:.0%} ({channel}，{day})。",
                                 "No channel is full on any day; the peak is {u:.0%} "
                                 "({channel}, {day})."),
    "plots.schedule.load_full": ("{channel} 在 {k} / {n} 个联系日满载：即瓶颈。",
                                 "{channel} is full on {k} of {n} contact days: the bottleneck."),
    "plots.schedule.staff_title": ("人力：需要 vs 可用的坐席人天",
                                   "Staffing: agent-days needed vs available"),
    "plots.schedule.staff_y": ("坐席人天", "agent-days"),
    "plots.schedule.needed": ("需要", "needed"),
    "plots.schedule.available": ("可用", "available"),
    "plots.schedule.no_team": ("无团队", "no team"),
    "plots.schedule.staff_empty": ("没有计划的联系。", "No contact planned."),
    "plots.schedule.staff_ok": ("每个渠道都有所需的坐席人天。",
                                "Every channel has the agent-days its contacts need."),
    "plots.schedule.staff_short": ("{channels} 坐席不足：多出的联系未排期。",
                                   "Short of agents on {channels}: their extra contacts are "
                                   "unscheduled."),
    "plots.schedule.budget_title": ("活动预算 vs 上限", "Campaign budget vs cap"),
    "plots.schedule.budget_y": ("本月活动", "this campaign"),
    "plots.schedule.budget_item": ("{category} {amount:,.0f}", "{category} {amount:,.0f}"),
    "plots.schedule.cap": ("上限 {cap:,.0f}", "cap {cap:,.0f}"),
    "plots.schedule.amount": ("金额 ({currency})", "amount ({currency})"),
    "plots.schedule.budget_fits": ("合计 {currency} {total:,.0f}：占上限的 {s:.0%}，在预算内。",
                                   "Total {currency} {total:,.0f}: {s:.0%} of the cap, it fits."),
    "plots.schedule.budget_total": ("合计 {currency} {total:,.0f}。", "Total {currency} {total:,.0f}."),
    "plots.schedule.budget_over": ("合计 {currency} {total:,.0f}，超出上限 {over:,.0f}。",
                                   "Total {currency} {total:,.0f} exceeds the cap by {over:,.0f}."),
    # ------------------------------------------------------------------ plots.evaluation
    "plots.evaluation.title.reactivation": ("回购提升：实验组减对照组",
                                            "Reactivation uplift: treated minus control"),
    "plots.evaluation.axis.reactivation": ("购买客户占比之差 (百分点)",
                                           "difference in the share who bought "
                                           "(percentage points)"),
    "plots.evaluation.title.engagement": ("互动提升：实验组减对照组",
                                          "Engagement uplift: treated minus control"),
    "plots.evaluation.axis.engagement": ("有互动客户占比之差 (百分点)",
                                         "difference in the share with an interaction "
                                         "(percentage points)"),
    "plots.evaluation.title.offer_match": ("优惠匹配：实验组减对照组",
                                           "Offer match: treated minus control"),
    "plots.evaluation.axis.offer_match": ("购买优惠品类客户占比之差 (百分点)",
                                          "difference in the share buying the offer's category "
                                          "(percentage points)"),
    "plots.evaluation.title.revenue": ("人均净消费：实验组减对照组",
                                       "Net spend per customer: treated minus control"),
    "plots.evaluation.axis.revenue": ("人均净消费之差 (货币单位)",
                                      "difference in net spend per customer (currency units)"),
    "plots.evaluation.title.incremental_revenue": ("实验组增量收入",
                                                   "Incremental revenue of the treated"),
    "plots.evaluation.axis.incremental_revenue": ("收入差 × 实验组客户数 (货币单位)",
                                                  "revenue difference x treated customers "
                                                  "(currency units)"),
    "plots.evaluation.title.incremental_reactivations": ("活动挽回的客户",
                                                         "Customers won back by the campaign"),
    "plots.evaluation.axis.incremental_reactivations": ("回购率差 × 实验组客户数 (人)",
                                                        "reactivation difference x treated "
                                                        "customers (customers)"),
    "plots.evaluation.title.roi": ("ROI：(毛利率 × 增量收入 - 成本) / 成本",
                                   "ROI: (margin x incremental revenue - cost) / cost"),
    "plots.evaluation.axis.roi": ("活动成本的回报率 (%，0% = 盈亏平衡)",
                                  "return on the campaign's cost (%, 0% = break-even)"),
    "plots.evaluation.axis.default": ("实验组减对照组", "treated minus control"),
    "plots.evaluation.uplift_title": ("{title} (意向性分析)", "{title} (intention to treat)"),
    "plots.evaluation.uplift_x": ("{axis}；横线 = 95% 区间", "{axis}; bars = 95% interval"),
    "plots.evaluation.uplift_y": ("活动月份 · 观察窗口", "campaign month · window"),
    "plots.evaluation.uplift_empty": ("尚无已过跟进窗口的活动可供评估。",
                                      "No campaign with an elapsed follow-up window to evaluate "
                                      "yet."),
    "plots.evaluation.row": ("{month} · {window} 个月", "{month} · {window} mo"),
    "plots.evaluation.pts": ("{d:+.1f} 个百分点", "{d:+.1f} pts"),
    "plots.evaluation.zero": ("零", "zero"),
    "plots.evaluation.break_even": ("盈亏平衡", "break-even"),
    "plots.evaluation.uplift_takeaway": ("{k} / {n} 个区间位于{zero}之上；最大估计 {shown} ({row})。",
                                         "{k} of {n} intervals lie above {zero}; largest "
                                         "estimate {shown} ({row})."),
    "plots.evaluation.hollow": (" 空心：见该行备注 (如对照组后来被联系)。",
                                " Hollow: see the row's note (e.g. controls treated later)."),
    "plots.evaluation.uplift_small": ("所有单元格都低于最小组规模：无法比较。",
                                      "Every cell is below the minimum group sizes: no "
                                      "comparison."),
    "plots.evaluation.funnel_title": ("联系漏斗：各步骤实验组客户占比",
                                      "Contact funnel: share of treated customers at each step"),
    "plots.evaluation.funnel_x": ("漏斗步骤", "funnel step"),
    "plots.evaluation.funnel_y": ("实验组客户占比 (%)", "share of treated customers (%)"),
    "plots.evaluation.funnel_empty": ("尚无活动联系可展示。", "No campaign contacts to show yet."),
    "plots.evaluation.funnel_series": ("活动 {month} (n={n})", "campaign {month} (n={n})"),
    "plots.evaluation.funnel_takeaway": ("活动 {month}：{reached:.0%} 的实验组客户已接通，"
                                         "{accepted:.0%} 接受，{redeemed:.0%} 使用了优惠。",
                                         "Campaign {month}: {reached:.0%} of treated reached, "
                                         "{accepted:.0%} accepted, {redeemed:.0%} redeemed."),
    "plots.evaluation.flows_title": ("挽回的比流失的多吗？", "Are we winning back more than we lose?"),
    "plots.evaluation.flows_y": ("每月客户数 (人)", "customers per month"),
    "plots.evaluation.flows_empty": ("需要连续两个月的流失状态。",
                                     "Two consecutive months of churn status are needed."),
    "plots.evaluation.came_back": ("回流 (已流失 -> 非流失)", "came back (churned -> not churned)"),
    "plots.evaluation.new_churn": ("新流失", "newly churned"),
    "plots.evaluation.net": ("净值", "net"),
    "plots.evaluation.flows_takeaway": ("{month} 净值 {net:+d}；{k} / {n} 个月回流多于流失。",
                                        "Net {net:+d} in {month}; more came back than churned "
                                        "in {k} of {n} months."),
    "plots.evaluation.sat_title": ("满意度趋势", "Satisfaction trend"),
    "plots.evaluation.sat_y": ("平均满意度 (1-5 分)", "mean satisfaction (1-5)"),
    "plots.evaluation.sat_empty": ("尚无满意度评分。", "No satisfaction scores yet."),
    "plots.evaluation.sat_part": ("{source} {month} 为 {mean:.2f}{change}",
                                  "{source} {mean:.2f} in {month}{change}"),
    "plots.evaluation.sat_change": (" (自 {since} 以来 {d:+.2f})", " ({d:+.2f} since {since})"),
    "plots.evaluation.kpi_title": ("KPI 对比目标", "KPIs against targets"),
    "plots.evaluation.kpi_x": ("达成率 (1 = 达标；虚线右侧为好)",
                               "attainment (1 = on target; right of the line is good)"),
    "plots.evaluation.kpi_y": ("KPI", "KPI"),
    "plots.evaluation.kpi_empty": ("未设定 KPI 目标。", "No KPI targets set."),
    "plots.evaluation.kpi_count": ("{n} 项{status}", "{n} {status}"),
    # ------------------------------------------------------------------ plots.warning
    "plots.warning.backtest": ("按月回测：{metric} (95% 区间)",
                               "Backtest by month: {metric} (95% interval)"),
    "plots.warning.month": ("评估月份 (月末快照)", "Evaluated month (month-end snapshot)"),
    "plots.warning.bt_takeaway": ("平均 {metric}：{best} {b:.3f}，仅看最近购买 {r:.3f}",
                                  "Mean {metric}: {best} {b:.3f} vs recency rule {r:.3f}"),
    "plots.warning.curve": ("联系风险最高的前 k 位客户时的精确率",
                            "Precision when contacting the k riskiest customers"),
    "plots.warning.k": ("联系客户数 k (人/月)", "Customers contacted, k (per month)"),
    "plots.warning.precision": ("精确率 (其中 H 个月内流失的比例，%)",
                                "Precision (share churning within H months, %)"),
    "plots.warning.capacity": ("外呼容量 {k:,}", "capacity {k:,}"),
    "plots.warning.curve_takeaway": ("容量 {k:,} 人时：{best} 精确率 {b:.0%}，仅看最近购买 {r:.0%}",
                                     "At capacity {k:,}: {best} precision {b:.0%} vs recency "
                                     "rule {r:.0%}"),
    "plots.warning.reliability": ("校准曲线：预测风险 vs 实际流失率",
                                  "Calibration: predicted risk vs observed churn"),
    "plots.warning.predicted": ("预测流失概率 (%)", "Predicted churn probability (%)"),
    "plots.warning.observed": ("实际流失率 (%，95% 区间)", "Observed churn rate (%, 95% interval)"),
    "plots.warning.perfect": ("完全校准", "Perfect calibration"),
    "plots.warning.rel_takeaway": ("{model}：Brier {b:.3f}；最大分箱偏差 {gap:.0%}",
                                   "{model}: Brier {b:.3f}; largest bin gap {gap:.0%}"),
    "plots.warning.rel_gap": ("{model}：最大分箱偏差 {gap:.0%}", "{model}: largest bin gap {gap:.0%}"),
    "plots.warning.coef": ("逻辑回归系数 (标准化特征)", "Logistic coefficients (standardized features)"),
    "plots.warning.coef_axis": ("每增加一个标准差的对数几率变化",
                                "Change in log-odds per standard deviation"),
    "plots.warning.feature": ("特征", "Feature"),
    "plots.warning.coef_takeaway": ("最强信号：{f} (系数 {c:+.2f}，{dir})",
                                    "Strongest signal: {f} (coef {c:+.2f}, {dir})"),
    "plots.warning.up": ("提高风险", "raises risk"),
    "plots.warning.down": ("降低风险", "lowers risk"),
    "plots.warning.factors": ("预警名单的主要风险因素", "Main risk factors on the watchlist"),
    "plots.warning.factor_axis": ("客户数 (人)", "Customers (count)"),
    "plots.warning.first": ("首要因素", "Main factor"),
    "plots.warning.any": ("前三因素之一", "Among top three"),
    "plots.warning.factor_takeaway": ("{f}：{s:.0%} 的名单客户的前三因素之一",
                                      "{f}: among the top three factors of {s:.0%} of the "
                                      "watchlist"),
    "plots.warning.alerts": ("阈值预警：指标较自身前 90 天下降",
                             "Threshold alerts: indicators down vs the customer's previous 90 days"),
    "plots.warning.alert_axis": ("客户数 (人)", "Customers (count)"),
    "plots.warning.alert_rule": ("预警规则", "Alert rule"),
    "plots.warning.listed": ("其中在预警名单", "on the watchlist"),
    "plots.warning.alert_takeaway": ("{n:,} 位活跃客户 ({s:.0%}) 触发至少一项预警，其中 {w:,} 位在名单上",
                                     "{n:,} active customers ({s:.0%}) raise at least one alert; "
                                     "{w:,} are on the watchlist"),
    "plots.warning.realized": ("历史预警名单的实际精确率", "Realized precision of past watchlists"),
    "plots.warning.watch_month": ("名单月份", "Watchlist month"),
    "plots.warning.realized_axis": ("名单中 H 个月内流失的比例 (%)",
                                    "Share of the watchlist churning within H months (%)"),
    "plots.warning.base": ("全体活跃客户流失率", "Churn rate of all active customers"),
    "plots.warning.realized_takeaway": ("最近一期 ({m})：精确率 {p:.0%}，基准流失率 {b:.0%}",
                                        "Latest ({m}): precision {p:.0%} vs base rate {b:.0%}"),
    "plots.warning.no_realized": ("尚无名单满 {h} 个月，无法核对实际流失",
                                  "No watchlist is {h} months old yet: nothing realized to check"),
    # ------------------------------------------------------------------ report
    "report.title": ("客户流失挽回月度报告", "Customer win-back monthly report"),
    "report.subtitle": ("{client} · {month}", "{client} · {month}"),
    "report.generated": ("生成时间 {ts}", "Generated {ts}"),
    "report.contents": ("目录", "Contents"),
    "report.summary": ("执行摘要", "Executive summary"),
    "report.churn_rate": ("流失率", "Churn rate"),
    "report.churn_trend": ("流失趋势", "Churn trend"),
    "report.won_back": ("挽回客户 (实验组 vs 对照组)", "Customers won back (treated vs control)"),
    "report.incremental_revenue": ("增量收入", "Incremental revenue"),
    "report.cost": ("成本", "Cost"),
    "report.roi": ("投资回报率 (ROI)", "Return on investment (ROI)"),
    "report.kpis": ("KPI 对比目标", "KPIs against targets"),
    "report.kpi": ("KPI", "KPI"),
    "report.value": ("数值", "Value"),
    "report.target": ("目标", "Target"),
    "report.status": ("状态", "Status"),
    "report.treated": ("实验组", "Treated"),
    "report.control": ("对照组", "Control"),
    "report.difference": ("差值", "Difference"),
    "report.interval": ("95% 区间", "95% interval"),
    "report.vs_previous": ("较上月 {delta}", "{delta} vs last month"),
    "report.stages": ("各阶段结果", "Results by stage"),
    "report.stage.01": ("数据收集与流失定义", "Data collection and churn definition"),
    "report.stage.02": ("流失原因分析", "Churn reason analysis"),
    "report.stage.03": ("客户分层", "Customer tiering"),
    "report.stage.04": ("挽回策略设计", "Win-back strategy design"),
    "report.stage.05": ("执行排期", "Execution schedule"),
    "report.stage.06": ("月度效果评估", "Monthly evaluation"),
    "report.stage.07": ("流失预警", "Early warning"),
    "report.trends": ("多月趋势", "Trends across months"),
    "report.reactivation_vs_control": ("回购率：实验组 vs 对照组",
                                       "Reactivation: treated vs control"),
    "report.model_performance": ("预警模型表现", "Early-warning model performance"),
    "report.tables": ("表格", "Tables"),
    "report.figures": ("图表", "Figures"),
    "report.no_data": ("本月暂无数据", "No data this month"),
    "report.stage_failed": ("该阶段未成功运行：{reason}", "This stage did not run: {reason}"),
    "report.footer": ("由 winback 根据本月运行结果生成；数字取自运行的表格。",
                      "Made by winback from this month's run; numbers are read from the run's "
                      "tables."),
}

# Headers of canonical columns (displayed tables, exported files for people).
_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("客户编号", "Customer ID"),
    "month": ("月份", "Month"),
    "run_month": ("运行月份", "Run month"),
    "campaign_month": ("活动月份", "Campaign month"),
    "day": ("日期", "Day"),
    "slot": ("时段", "Slot"),
    "agent": ("坐席", "Agent"),
    "attempt": ("第几次联系", "Attempt"),
    "channel": ("渠道", "Channel"),
    "name": ("姓名", "Name"),
    "phone": ("手机", "Phone"),
    "email": ("邮箱", "E-mail"),
    "tier": ("客户层级", "Tier"),
    "tier_label": ("层级名称", "Tier name"),
    "reason_code": ("流失原因", "Reason"),
    "reason": ("流失原因", "Reason"),
    "churn_type": ("流失类型", "Churn type"),
    "strategy": ("挽回策略", "Strategy"),
    "offer_category": ("优惠品类", "Offer category"),
    "offer_value": ("优惠金额", "Offer value"),
    "status": ("状态", "Status"),
    "customers": ("客户数", "Customers"),
    "n": ("人数", "N"),
    "share": ("占比", "Share"),
    "customer_share": ("客户占比", "Share of customers"),
    "value_share": ("价值占比", "Share of value"),
    "label": ("名称", "Label"),
    "source": ("来源", "Source"),
    "rule": ("规则", "Rule"),
    "column": ("列", "Column"),
    "rows": ("行数", "Rows"),
    "row": ("行", "Row"),
    "detail": ("说明", "Detail"),
    "file": ("文件", "File"),
    "format": ("格式", "Format"),
    "sheets": ("工作表数", "Sheets"),
    "count": ("数量", "Count"),
    "amount": ("金额", "Amount"),
    "category": ("类别", "Category"),
    "item": ("项目", "Item"),
    "quantity": ("数量", "Quantity"),
    "unit": ("单位", "Unit"),
    "unit_cost": ("单价", "Unit cost"),
    "budget": ("预算", "Budget"),
    "cost": ("成本", "Cost"),
    "expected_value": ("期望价值", "Expected value"),
    "future_value": ("预测价值", "Predicted value"),
    "future_value_necessary": ("预测价值 (必需)", "Predicted value (necessary)"),
    "future_value_discretionary": ("预测价值 (可选)", "Predicted value (discretionary)"),
    "mean_future_value": ("人均预测价值", "Mean predicted value"),
    "mean_churn_score": ("平均流失评分", "Mean churn score"),
    "churn_score": ("流失评分", "Churn score"),
    "p_alive": ("存活概率", "P(alive)"),
    "quadrant": ("象限", "Quadrant"),
    "action": ("建议行动", "Suggested action"),
    "rfm_segment": ("RFM 分群", "RFM segment"),
    "segment": ("细分", "Segment"),
    "segment_type": ("细分类型", "Segment type"),
    "dimension": ("维度", "Dimension"),
    "rate": ("比率", "Rate"),
    "low": ("下限", "Low"),
    "high": ("上限", "High"),
    "ci_low": ("95% 区间下限", "95% CI low"),
    "ci_high": ("95% 区间上限", "95% CI high"),
    "metric": ("指标", "Metric"),
    "value": ("数值", "Value"),
    "target": ("目标", "Target"),
    "op": ("比较", "Comparison"),
    "kpi": ("KPI", "KPI"),
    "text": ("说明", "Text"),
    "note": ("备注", "Note"),
    "notes": ("备注", "Notes"),
    "window": ("观察窗口 (月)", "Window (months)"),
    "diff": ("差值", "Difference"),
    "p_value": ("p 值", "p-value"),
    "n_treated": ("实验组人数", "Treated"),
    "n_control": ("对照组人数", "Control"),
    "treated": ("实验组", "Treated"),
    "control": ("对照组", "Control"),
    "treatment": ("实验组", "Treatment"),
    "group": ("分组", "Group"),
    "model": ("模型", "Model"),
    "feature": ("特征", "Feature"),
    "coef": ("系数", "Coefficient"),
    "alert": ("预警", "Alert"),
    "on_watchlist": ("在预警名单", "On the watchlist"),
    "phase": ("阶段", "Phase"),
    "phase_label": ("阶段", "Phase"),
    "task": ("任务", "Task"),
    "start": ("开始", "Start"),
    "end": ("结束", "End"),
    "week_start": ("开始周", "Start week"),
    "week_end": ("结束周", "End week"),
    "capacity": ("容量", "Capacity"),
    "scheduled": ("已排期", "Scheduled"),
    "utilization": ("使用率", "Utilization"),
    "agents": ("坐席数", "Agents"),
    "fits": ("是否足够", "Fits"),
    "contact_ts": ("联系时间", "Contact time"),
    "reached": ("是否接通", "Reached"),
    "response": ("回应", "Response"),
    "offer_redeemed": ("是否使用优惠", "Offer redeemed"),
    "satisfaction": ("满意度", "Satisfaction"),
    "mean": ("平均值", "Mean"),
    "region": ("地区", "Region"),
    "business_line": ("业务线", "Business line"),
    "signup_date": ("注册日期", "Signup date"),
    "do_not_contact": ("勿扰", "Do not contact"),
    "rows_read": ("读取行数", "Rows read"),
    "rows_clean": ("有效行数", "Clean rows"),
    "rows_quarantined": ("隔离行数", "Rows quarantined"),
    "rows_held_out": ("暂扣行数", "Rows held out"),
    "encoding": ("编码", "Encoding"),
    "duplicate_keys": ("重复键", "Duplicate keys"),
    "nulls": ("空值数", "Empty values"),
    "n_missing": ("缺失数", "Missing"),
    "date_column": ("日期列", "Date column"),
    "date_min": ("最早日期", "Earliest date"),
    "date_max": ("最晚日期", "Latest date"),
    "issues": ("问题", "Issues"),
    "sample_ids": ("示例编号", "Sample ids"),
    "kind": ("类型", "Kind"),
    "parameter": ("参数", "Parameter"),
    "estimate": ("估计值", "Estimate"),
    "std_error": ("标准误", "Standard error"),
    "se": ("标准误", "Standard error"),
    "log_likelihood": ("对数似然", "Log-likelihood"),
    "indicator": ("指标", "Indicator"),
    "direction": ("方向", "Direction"),
    "auc": ("AUC 值", "AUC"),
    "auc_low": ("AUC 下限", "AUC low"),
    "auc_high": ("AUC 上限", "AUC high"),
    "vif": ("方差膨胀因子 (VIF)", "VIF"),
    "score": ("流失评分", "Score"),
    "new": ("新客户", "New"),
    "active": ("活跃", "Active"),
    "at_risk": ("有流失风险", "At risk"),
    "churned": ("已流失", "Churned"),
    "lost": ("无法挽回", "Lost"),
    "total": ("合计", "Total"),
    "changed": ("变化数", "Changed"),
    "recency_days": ("距上次购买天数", "Days since last purchase"),
    "recency_ratio": ("间隔比 (距上次购买 / 典型间隔)", "Recency / typical gap"),
    "typical_gap": ("典型购买间隔 (天)", "Typical gap (days)"),
    "frequency": ("重复购买次数", "Repeat purchases"),
    "tenure_days": ("客龄 (天)", "Tenure (days)"),
    "orders": ("订单数", "Orders"),
    "orders_90": ("近 90 天订单数", "Orders, last 90 days"),
    "orders_365": ("近 365 天订单数", "Orders, last 365 days"),
    "spend_90": ("近 90 天消费", "Spend, last 90 days"),
    "spend_365": ("近 365 天消费", "Spend, last 365 days"),
    "net_spend": ("净消费", "Net spend"),
    "gross_spend": ("总消费", "Gross spend"),
    "monetary_value": ("平均客单价", "Average order value"),
    "engagement_90": ("近 90 天互动数", "Interactions, last 90 days"),
    "engagement_365": ("近 365 天互动数", "Interactions, last 365 days"),
    "nonmonetary_index": ("非货币价值指数", "Non-monetary value index"),
    "value_score": ("价值评分", "Value score"),
    "expected_transactions": ("预测购买次数", "Expected purchases"),
    "expected_spend": ("预测客单价", "Expected order value"),
    "rfm_r": ("R 分", "R score"),
    "rfm_f": ("F 分", "F score"),
    "rfm_m": ("M 分", "M score"),
    "gini": ("基尼系数", "Gini"),
    "top_share": ("前 x% 客户", "Top share of customers"),
    "n_customers": ("客户数", "Customers"),
    "n_base": ("基数 (人)", "Base (customers)"),
    "n_churned": ("流失人数", "Churned"),
    "n_retained": ("留存人数", "Retained"),
    "assigned": ("原因取自此来源", "Reason from this source"),
    "available": ("有证据人数", "With evidence"),
    "available_share": ("有证据占比", "Share with evidence"),
    "overall_rate": ("整体流失率", "Overall rate"),
    "lift": ("倍数 (相对整体)", "Lift vs overall"),
    "rank": ("排名", "Rank"),
    "months": ("月份范围", "Months"),
    "above_overall": ("高于整体", "Above overall"),
    "variable": ("属性", "Attribute"),
    "test": ("检验", "Test"),
    "statistic": ("统计量", "Statistic"),
    "effect": ("效应量类型", "Effect measure"),
    "effect_size": ("效应量", "Effect size"),
    "effect_low": ("效应量下限", "Effect low"),
    "effect_high": ("效应量上限", "Effect high"),
    "p_holm": ("p 值 (Holm 校正)", "p-value (Holm)"),
    "significant": ("显著", "Significant"),
    "odds_ratio": ("优势比", "Odds ratio"),
    "or_low": ("优势比下限", "OR low"),
    "or_high": ("优势比上限", "OR high"),
    "p_winback": ("挽回概率", "P(win back)"),
    "candidates": ("候选客户", "Candidates"),
    "selected": ("入选客户", "Selected"),
    "budget_to_take_all": ("覆盖全部正值客户所需预算", "Budget to take every positive candidate"),
    "treated_cost": ("实验组成本", "Treated cost"),
    "held_out_cost": ("对照组 (留存) 成本", "Cost held out as control"),
    "treated_ev": ("实验组期望价值", "Treated expected value"),
    "unspent": ("未使用", "Unspent"),
    "next_ev_per_unit": ("下一单位预算的期望价值", "Expected value of the next unit"),
    "cum_cost": ("累计成本", "Cumulative cost"),
    "cum_ev": ("累计期望价值", "Cumulative expected value"),
    "ev_per_unit": ("每单位成本期望价值", "Expected value per unit of cost"),
    "channel_1": ("第 1 次联系渠道", "Channel of contact 1"),
    "channel_2": ("第 2 次联系渠道", "Channel of contact 2"),
    "channel_3": ("第 3 次联系渠道", "Channel of contact 3"),
    "program": ("项目", "Program"),
    "gender": ("性别", "Gender"),
    "age": ("年龄", "Age"),
    "member_level": ("会员等级", "Member level"),
    "preferred_channel": ("偏好渠道", "Preferred channel"),
    "last_purchase_date": ("最近购买日期", "Last purchase"),
    "first_purchase_date": ("首次购买日期", "First purchase"),
    "horizon_months": ("预测期 (月)", "Horizon (months)"),
    "difference": ("差值", "Difference"),
    "previous": ("上月", "Previous"),
    "reasons": ("原因", "Reasons"),
    "accepted": ("接受人数", "Accepted"),
    "attempted": ("尝试联系人数", "Attempted"),
    "responded": ("回应人数", "Responded"),
    "redeemed": ("使用优惠人数", "Redeemed"),
    "accepted_share": ("接受占比", "Share accepted"),
    "attempted_share": ("尝试联系占比", "Share attempted"),
    "reached_share": ("接通占比", "Share reached"),
    "responded_share": ("回应占比", "Share responded"),
    "redeemed_share": ("使用优惠占比", "Share redeemed"),
    "accept_rate": ("接受率", "Acceptance rate"),
    "reach_rate": ("接通率", "Reach rate"),
    "response_rate": ("回应率", "Response rate"),
    "redemption_rate": ("优惠使用率", "Redemption rate"),
    "reactivation_rate": ("回购率", "Reactivation rate"),
    "reactivated": ("回流人数", "Came back"),
    "new_churn": ("新流失人数", "Newly churned"),
    "net_winback": ("净挽回", "Net win-back"),
    "churn_rate": ("流失率", "Churn rate"),
    "uplift": ("提升", "Uplift"),
    "attempts": ("联系次数", "Attempts"),
    "contacts": ("联系数", "Contacts"),
    "contacts_needed": ("所需联系数", "Contacts needed"),
    "contacts_scheduled": ("已排联系数", "Contacts scheduled"),
    "contacts_unscheduled": ("未排联系数", "Contacts unscheduled"),
    "contact_days": ("联系日数", "Contact days"),
    "working_days": ("工作日数", "Working days"),
    "agent_days_needed": ("所需坐席人天", "Agent-days needed"),
    "agent_days_available": ("可用坐席人天", "Agent-days available"),
    "agent_days_used": ("已用坐席人天", "Agent-days used"),
    "agents_needed": ("所需坐席数", "Agents needed"),
    "per_agent_day": ("每坐席每日联系数", "Contacts per agent-day"),
    "shortfall_agent_days": ("坐席人天缺口", "Agent-days short"),
    "offer": ("优惠", "Offer"),
    "offer_package": ("优惠组合", "Offer package"),
    "channels": ("渠道", "Channels"),
    "meaning": ("含义", "Meaning"),
    "brier": ("Brier 分数", "Brier score"),
    "pr_auc": ("PR-AUC 值", "PR-AUC"),
    "roc_auc": ("ROC-AUC 值", "ROC-AUC"),
    "precision_at_capacity": ("容量内精确率", "Precision at capacity"),
    "recall_at_capacity": ("容量内召回率", "Recall at capacity"),
    "lift_at_capacity": ("容量内提升度", "Lift at capacity"),
    "base_rate": ("基准流失率", "Base rate"),
    "factor_1": ("风险因素 1", "Factor 1"),
    "factor_2": ("风险因素 2", "Factor 2"),
    "factor_3": ("风险因素 3", "Factor 3"),
    "watch_rank": ("名单排名", "Watchlist rank"),
    "train_months": ("训练月数", "Training months"),
    "train_rows": ("训练行数", "Training rows"),
    "train_first": ("训练起始月", "First training month"),
    "train_last": ("训练末月", "Last training month"),
    "prior": ("先验", "Prior"),
    "posterior": ("后验", "Posterior"),
    "weight": ("权重", "Weight"),
    "min": ("最小值", "Min"),
    "max": ("最大值", "Max"),
    "std": ("标准差", "Std"),
    "ci_lower": ("95% 区间下限", "95% CI low"),
    "ci_upper": ("95% 区间上限", "95% CI high"),
    "warnings": ("警告", "Warnings"),
    "step": ("步骤", "Step"),
    "stratum": ("分层", "Stratum"),
    "population": ("总体", "Population"),
}

# Sentences the lib's describe_* functions compose for the notebooks (``text.<module>.*``)
# and the names of the variables, KPIs and other codes those sentences and tables show.
_TEXTS: dict[str, tuple[str, str]] = {
    # ------------------------------------------------------------------ variables and codes
    "variable.p_alive": ("存活概率 P(alive)", "p_alive"),
    "variable.recency_ratio": ("间隔比 (距上次购买 / 典型间隔)", "recency_ratio"),
    "variable.engagement_decline": ("互动下降幅度", "engagement_decline"),
    "variable.score": ("流失评分", "score"),
    "variable.c_p_alive": ("评分分量：1 − 存活概率", "c_p_alive"),
    "variable.c_recency": ("评分分量：沉默时长", "c_recency"),
    "variable.c_engagement": ("评分分量：互动下降", "c_engagement"),
    "variable.avg_day_spend": ("每购买日平均消费", "avg_day_spend"),
    "variable.purchase_days_365": ("近 365 天购买天数", "purchase_days_365"),
    "variable.discount_share_365": ("近 365 天折扣购买占比", "discount_share_365"),
    "variable.necessary_share_365": ("近 365 天必需消费占比", "necessary_share_365"),
    "variable.returns_365": ("近 365 天退货次数", "returns_365"),
    "variable.eng_complaint_365": ("近 365 天投诉次数", "eng_complaint_365"),
    "variable.eng_service_ticket_365": ("近 365 天服务工单数", "eng_service_ticket_365"),
    "variable.engagement_365": ("近 365 天互动次数", "engagement_365"),
    "variable.engagement_trend": ("互动趋势", "engagement_trend"),
    "variable.tenure_days": ("客龄 (天)", "tenure_days"),
    "variable.age": ("年龄", "age"),
    "variable.age_band": ("年龄段", "age_band"),
    "variable.gender": ("性别", "gender"),
    "variable.region": ("地区", "region"),
    "variable.member_level": ("会员等级", "member_level"),
    "variable.preferred_channel": ("偏好渠道", "preferred_channel"),
    "variable.spend_level": ("消费水平", "spend_level"),
    "variable.business_line": ("业务线", "business_line"),
    "effect.cramers_v": ("Cramér's V", "cramers_v"),
    "effect.rank_biserial": ("秩二列相关", "rank_biserial"),
    "effect.cohens_d": ("Cohen's d", "cohens_d"),
    "status_rule.do_not_contact": ("勿扰客户", "do_not_contact"),
    "status_rule.new_signup": ("新注册、尚未购买", "new_signup"),
    "status_rule.no_purchase_lost": ("注册已久从未购买", "no_purchase_lost"),
    "status_rule.no_purchase": ("从未购买", "no_purchase"),
    "status_rule.new_customer": ("新客户观察期", "new_customer"),
    "status_rule.beyond_recovery": ("超出挽回期限", "beyond_recovery"),
    "status_rule.score": ("流失评分", "score"),
    "status_rule.p_alive": ("存活概率偏低", "p_alive"),
    "status_rule.recency_ratio": ("间隔比偏高", "recency_ratio"),
    "status_rule.none": ("无 (活跃)", "none"),
    "kpi.churn_rate": ("流失率", "churn_rate"),
    "kpi.churned_share": ("已流失客户占比", "churned_share"),
    "kpi.reactivation_rate": ("回流率", "reactivation_rate"),
    "kpi.rechurn_rate": ("再次流失率", "rechurn_rate"),
    "kpi.net_winback": ("净挽回人数", "net_winback"),
    "kpi.satisfaction": ("满意度 (问卷)", "satisfaction"),
    "kpi.contact_satisfaction": ("满意度 (回访)", "contact_satisfaction"),
    "kpi.repurchase_rate": ("复购率", "repurchase_rate"),
    "kpi.reactivation_uplift": ("回购提升 (实验组 − 对照组)", "reactivation_uplift"),
    "kpi.reach_rate": ("接通率", "reach_rate"),
    "kpi.offer_redemption": ("优惠使用率", "offer_redemption"),
    "kpi.roi": ("投资回报率 (ROI)", "roi"),
    "unscheduled.channel_not_staffed": ("渠道无坐席", "channel not staffed"),
    "unscheduled.time_slot_not_staffed": ("所需时段无人值守", "time slot not staffed"),
    "unscheduled.no_capacity": ("容量已满", "no capacity"),
    "unscheduled.no_day_after_gap": ("间隔期后无联系日", "no day after gap"),
    "unscheduled.earlier_attempt_unscheduled": ("前一次联系未排入",
                                                "earlier attempt unscheduled"),
    "unscheduled.no_contact_days": ("没有联系日", "no contact days"),
    "segment.(no tier)": ("(无层级)", "(no tier)"),
    "segment.(missing)": ("(缺失)", "(missing)"),
    "segment.(no tiers table yet)": ("(尚无层级表)", "(no tiers table yet)"),
    "orientation.lower = churn": ("越低越可能流失", "lower = churn"),
    "orientation.higher = churn": ("越高越可能流失", "higher = churn"),
    "transition.new": ("本月新增", "new"),
    "transition.gone": ("已离开", "gone"),
    "column.previous_tier": ("上月层级", "Previous tier"),
    # ------------------------------------------------------------------ text.common
    "text.common.ci": ("95% 区间 {low}–{high}", "95% CI {low}–{high}"),
    "text.common.comma": ("，", ", "),
    # ------------------------------------------------------------------ text.reasons
    "text.reasons.no_rate": ("暂无月度流失率：流失状态历史需要至少连续两个月。",
                             "No monthly churn rate yet: the churn_status history needs two "
                             "consecutive months."),
    "text.reasons.rate": ("月度流失率 (新流失客户 / 上月末活跃及有流失风险的客户)：{month} 为 "
                          "{rate} ({ci}，{n} / {base})；{first}..{month} 期间于 {peak} 达到峰值 "
                          "{peak_rate} ({peak_ci})。",
                          "Monthly churn rate (newly churned / active or at-risk customers at "
                          "the previous month end): {rate} in {month} ({ci}, {n} of {base}); "
                          "over {first}..{month} it peaked in {peak} at {peak_rate} ({peak_ci})."),
    "text.reasons.pooled": ("{months} 合计：整体流失率 {rate} ({ci})。",
                            "Pooled over {months}: {rate} overall ({ci})."),
    "text.reasons.no_rank": ("按{dim}：没有客户数足以排名的细分。",
                             "By {dim}: no segment has enough customers to rank."),
    "text.reasons.highest": ("按{dim}，{segment} 的流失率最高：{rate} ({ci}，{n} / {base} 客户月)，"
                             "为整体的 {lift:.1f} 倍；{verdict}",
                             "By {dim}, churn is highest in {segment}: {rate} ({ci}, {n} of "
                             "{base} customer-months), {lift:.1f}x overall; {verdict}"),
    "text.reasons.above": ("明显高于整体", "clearly above the overall rate"),
    "text.reasons.overlaps": ("其区间与整体流失率重叠", "its interval overlaps the overall rate"),
    "text.reasons.also_above": ("；{segment} 为 {rate} ({ci}，{base} 客户月)，明显高于整体",
                                "; {segment} at {rate} ({ci}, {base} customer-months) is "
                                "clearly above it"),
    "text.reasons.no_tiers": ("暂无按层级的细分：第 3 阶段的存储表 'tiers' 尚不存在 "
                              "(分层阶段运行过一个月后才有)。",
                              "No tier breakdown: stage 3's store table 'tiers' does not exist "
                              "yet (it appears once the tiering stage has run for a month)."),
    "text.reasons.distinct_no_tiers": ("按{dim}：暂无细分，第 3 阶段的存储表 'tiers' 尚不存在。",
                                       "By {dim}: no breakdown yet, stage 3's store table "
                                       "'tiers' does not exist yet."),
    "text.reasons.distinct_none": ("按{dim}：没有哪个细分的某一原因明显偏多 "
                                   "(各细分的原因构成都在整体构成的区间内)。",
                                   "By {dim}: no reason is clearly over-represented in any "
                                   "segment (each segment's mix is within the intervals of the "
                                   "overall mix)."),
    "text.reasons.distinct_item": ("{segment}：{label} {share} ({ci}，{n} / {total})，整体为 "
                                   "{overall}",
                                   "{segment}: {label} {share} ({ci}, {n} of {total}) vs "
                                   "{overall} overall"),
    "text.reasons.distinct": ("按{dim}，明显偏多的原因：{items}。",
                              "By {dim}, reasons clearly over-represented: {items}."),
    "text.reasons.none_to_explain": ("本月没有需要解释原因的流失客户。",
                                     "No churned customer to explain this month."),
    "text.reasons.known": ("{n} 位流失客户中有 {k} 位原因已知 ({share}，{ci})。",
                           "{k} of {n} churned customers have a known reason ({share}, {ci})."),
    "text.reasons.by_source": ("按来源：{items}。", "By source: {items}."),
    "text.reasons.top": ("已知原因中居前的：{items}。", "Top reasons among those known: {items}."),
    "text.reasons.types": ("流失类型：{items}。", "Churn type: {items}."),
    "text.reasons.fit_mle": ("最大似然估计，标准误按客户聚类",
                             "maximum likelihood, standard errors clustered by customer"),
    "text.reasons.fit_firth": ("Firth 惩罚似然 (最大似然出现完全分离或未收敛)",
                               "Firth's penalized likelihood (maximum likelihood separated or "
                               "did not converge)"),
    "text.reasons.model": ("逻辑回归：{n_obs} 个客户月 (其中新流失 {n_events} 个)，{k} 个标准化指标，"
                           "拟合方法为{how}。",
                           "Logistic regression on {n_obs} customer-months ({n_events} newly "
                           "churned), {k} standardized indicators, fitted by {how}."),
    "text.reasons.left_out": ("未纳入模型：{items}。", "Left out: {items}."),
    "text.reasons.no_driver": ("没有指标的优势比区间排除 1。",
                               "No indicator's odds-ratio interval excludes 1."),
    "text.reasons.drivers": ("最强的驱动因素 (每个标准差的优势比)：{items}。",
                             "Strongest drivers (odds ratio per standard deviation): {items}."),
    "text.reasons.driver_item": ("{indicator} {ratio:.2f} (95% 区间 {low:.2f}–{high:.2f})",
                                 "{indicator} {ratio:.2f} (95% CI {low:.2f}–{high:.2f})"),
    "text.reasons.drop.all_missing": ("全部缺失", "all missing"),
    "text.reasons.drop.constant": ("取值恒定", "constant"),
    "text.reasons.drop.collinear": ("与其他指标线性相关", "linearly dependent on the others"),
    "text.reasons.no_mapping": ("params 中没有驱动因素 → 原因的对应关系 (reasons.drivers.agreement)。",
                                "No driver -> reason mapping in params "
                                "(reasons.drivers.agreement)."),
    "text.reasons.agreement": ("{n} 个有原因对应的指标中，有 {k} 个在陈述对应原因的客户与其他原因"
                               "已知的客户之间呈预期方向的差异",
                               "{k} of {n} mapped indicators differ in the expected direction "
                               "between customers stating the mapped reasons and other "
                               "customers with a known reason"),
    "text.reasons.agreement_top": ("；在有对应关系的主要驱动因素中，{k} / {n} 个一致",
                                   "; among the top drivers with a mapping, {k} of {n} agree"),
    "text.reasons.agreeing": ("一致的指标：{items}。", "Agreeing: {items}."),
    "text.reasons.agreeing_item": ("陈述{reasons}的客户{indicator}{expected} "
                                   "({a:.3g} vs {b:.3g})",
                                   "{indicator} is {expected} for {reasons} ({a:.3g} vs {b:.3g})"),
    "text.reasons.higher": ("更高", "higher"),
    "text.reasons.lower": ("更低", "lower"),
    # ------------------------------------------------------------------ text.profile
    "text.profile.none": ("没有检验任何属性。", "No attribute tested."),
    "text.profile.head": ("流失客户 ({n1} 人) 与留存客户 ({n0} 人) 对比，检验 {k} 个属性，p 值经 "
                          "Holm 校正、显著性水平 {alpha:g}：",
                          "Churned ({n1}) vs retained ({n0}) customers, {k} attributes tested, "
                          "p-values Holm-adjusted at {alpha:g}: "),
    "text.profile.no_difference": ("没有属性存在显著差异。", "no attribute differs significantly."),
    "text.profile.item": ("{variable} ({effect} {size:.2f}，95% 区间 {low:.2f}–{high:.2f}；"
                          "流失客户 {churned}，留存客户 {retained})",
                          "{variable} ({effect} {size:.2f}, 95% CI {low:.2f}–{high:.2f}; "
                          "churned {churned} vs retained {retained})"),
    "text.profile.rest": ("{items} 无显著差异。", " No significant difference in {items}."),
    "text.profile.median": ("中位数 {value}", "median {value}"),
    # ------------------------------------------------------------------ text.tiers
    "text.tiers.item": ("{label} {n:,} 人 (占 {c:.1%})，贡献 {v:.1%} 的预测价值",
                        "{label} {n:,} customers ({c:.1%}) hold {v:.1%} of predicted value"),
    "text.tiers.tiers": ("各层级：{items}。", "Tiers: {items}."),
    "text.tiers.top_item": ("前 {x:.0%} 的客户拥有 {v:.1%}", "the top {x:.0%} of customers hold {v:.1%}"),
    "text.tiers.concentration": ("价值集中度：{items} (基尼系数 {g:.2f})。",
                                 " Concentration: {items} (Gini {g:.2f})."),
    "text.tiers.first_month": ("{month} 是首个有分层的月份 ({previous} 没有存储分层)：层级稳定性从下月起"
                               "报告。",
                               "{month} is the first month with tiers (no tiers stored for "
                               "{previous}): tier stability is reported from next month on."),
    "text.tiers.moved": ("{previous} 与 {month} 均有分层的 {n:,} 位客户中，{k:,} 位 ({s:.1%}) 层级"
                         "发生变化 ({up:,} 位升级，{down:,} 位降级)；本月新增 {new:,} 位，"
                         "{gone:,} 位离开客户群。",
                         "Of {n:,} customers tiered in both {previous} and {month}, {k:,} "
                         "({s:.1%}) changed tier ({up:,} up, {down:,} down); {new:,} are new "
                         "this month and {gone:,} left the base."),
    "text.tiers.inputs": ("本月 {n:,} 位客户；第 1 阶段的 BG/NBD 模型：{bgnbd}；上月分层：{previous}。",
                          "{n:,} customers; BG/NBD from stage 1: {bgnbd}; previous month's "
                          "tiers: {previous}."),
    "text.tiers.written": ("{n:,} 位客户已写入存储表 'tiers'；输出目录 {folder}",
                           "{n:,} customers written to the store table 'tiers'; outputs in "
                           "{folder}"),
    "text.common.yes": ("有", "yes"),
    "text.common.no": ("无", "no"),
    # ------------------------------------------------------------------ text.value
    "text.value.horizon": ("预测期", "horizon"),
    "text.value.horizon_value": ("{h:g} 个月 ({d:.1f} 天)", "{h:g} months ({d:.1f} days)"),
    "text.value.discount_rate": ("月折现率", "discount rate per month"),
    "text.value.bgnbd": ("BG/NBD 模型", "BG/NBD model"),
    "text.value.bgnbd_value": ("{source} ({n:,} 位有购买的客户)",
                               "{source} ({n:,} customers with a purchase)"),
    "text.value.bgnbd.given": ("沿用第 1 阶段", "given"),
    "text.value.bgnbd.fitted": ("本阶段拟合", "fitted"),
    "text.value.gamma_gamma": ("Gamma-Gamma 拟合", "Gamma-Gamma fit"),
    "text.value.gamma_gamma_value": ("{n:,} 位重复购买客户", "{n:,} repeat customers"),
    "text.value.nonpositive": ("未纳入的重复购买客户 (净平均消费 <= 0)",
                               "repeat customers left out (net average <= 0)"),
    "text.value.no_purchase": ("无购买的客户 (预测价值为 0)",
                               "customers without a purchase (future value 0)"),
    "text.value.mean_spend": ("总体每购买日平均消费", "population mean spend per purchase day"),
    "text.value.corr": ("重复购买客户的购买频次与平均消费相关系数",
                        "corr(frequency, average spend) of repeat customers"),
    "text.value.necessary_share": ("总体必需消费占比", "population necessary share"),
    "text.value.describe": ("未来 {h:g} 个月的预测价值 (月折现率 {rate:g})：{n:,} 位客户，其中 {buyers:,} 位"
                            "有购买、{repeat:,} 位重复购买；BG/NBD 模型{source}。",
                            "Predicted value over the next {h:g} months (discount rate {rate:g} "
                            "a month): {n:,} customers, {buyers:,} with a purchase, {repeat:,} "
                            "repeat; BG/NBD model {source}."),
    # ------------------------------------------------------------------ text.budget
    "text.budget.no_contact": ("没有计划的联系，因此不需要坐席。",
                               "No contact is planned, so no agent is needed."),
    "text.budget.all_fit": ("所有计划的联系都在团队能力范围内。", "Every planned contact fits the teams."),
    "text.budget.busiest": ("团队的坐席人天足以完成所有计划的联系；最繁忙的渠道是{channel}，使用了其容量的 "
                            "{load:.0%} ({n:,} 次联系，需 {need:.0f} 个坐席人天，可用 {avail})。",
                            "The teams have the agent-days every planned contact needs; the "
                            "busiest channel, {channel}, uses {load:.0%} of its capacity ({n:,} "
                            "contacts, {need:.0f} of {avail} agent-days)."),
    "text.budget.no_team": ("{channel}没有团队，{n:,} 次联系无人负责",
                            "{channel} has no team for {n:,} contacts"),
    "text.budget.short_item": ("{channel}需要 {days}，但只有 {avail} 个 (需 {need:.0f} 名坐席，现有 "
                               "{agents} 名)",
                               "{channel} needs {days} but has {avail} ({need:.0f} agents "
                               "instead of {agents})"),
    "text.budget.day": ("{n:.0f} 个坐席人天", "{n:.0f} agent-day"),
    "text.budget.days": ("{n:.0f} 个坐席人天", "{n:.0f} agent-days"),
    "text.budget.short": ("团队人手不足：{items}。请增加坐席或联系日，或接受未排期的联系。",
                          "The teams fall short: {items}. Add agents or contact days, or accept "
                          "the unscheduled contacts."),
    "text.budget.head": ("本次活动成本为 {currency} {total:,.0f} ({parts})",
                         "The campaign costs {currency} {total:,.0f} ({parts})"),
    "text.budget.fits_share": ("{head}，占上限 {currency} {cap:,.0f} 的 {share:.0%}：在预算内，"
                               "尚余 {currency} {spare:,.0f}。",
                               "{head}, {share:.0%} of the {currency} {cap:,.0f} cap: it fits, "
                               "with {currency} {spare:,.0f} to spare."),
    "text.budget.fits": ("{head}，上限为 {currency} {cap:,.0f}：在预算内，尚余 {currency} "
                         "{spare:,.0f}。",
                         "{head} against the {currency} {cap:,.0f} cap: it fits, with "
                         "{currency} {spare:,.0f} to spare."),
    "text.budget.over": ("{head}：超出上限 {currency} {cap:,.0f}，超出 {currency} {over:,.0f}。"
                         "请在第 4 阶段减少目标客户数、精简渠道组合，或提高 schedule.budget.cap。",
                         "{head}: it exceeds the {currency} {cap:,.0f} cap by {currency} "
                         "{over:,.0f}. Lower the target count in stage 4, trim the channel mix, "
                         "or raise schedule.budget.cap."),
    # ------------------------------------------------------------------ text.kpis
    "text.kpis.none": ("未设定 KPI 目标 (params：kpis.targets)。",
                       "No KPI targets are set (params: kpis.targets)."),
    "text.kpis.on_target": ("{n} 项 KPI 中 {k} 项达标", "{k} of {n} KPIs on target"),
    "text.kpis.level": ("{n} 项{level}：{items}", "{n} {level}: {items}"),
    "text.kpis.level.amber": ("亮黄灯", "amber"),
    "text.kpis.level.red": ("亮红灯", "red"),
    "text.kpis.level.n/a": ("暂无数据", "n/a"),
    "text.kpis.item": ("{kpi} {value} (目标 {op} {target})", "{kpi} {value} (target {op} {target})"),
    # ------------------------------------------------------------------ text.schedule
    "text.schedule.window": ("活动 {month} 的计划自 {start} 至 {end}；执行周 (第 {w0}-{w1} 周) 为 "
                             "{d0} 至 {d1}",
                             "Campaign {month}'s plan runs from {start} to {end}; its execution "
                             "weeks {w0}-{w1} span {d0} to {d1}"),
    "text.schedule.no_day": ("{head}，但 {exe} 内没有工作日：无法安排任何联系。",
                             "{head}, with no working day inside {exe}: no contact can be "
                             "scheduled."),
    "text.schedule.days": ("{head}；联系安排在 {exe} 内的 {n} 个工作日，{first} 至 {last}{cut}。",
                           "{head}; contacts are made on {n} working days inside {exe}, {first} "
                           "to {last}{cut}."),
    "text.schedule.cut": (" (已去掉 {exe} 以外的 {n} 个工作日)",
                          " (working days outside {exe} cut: {n})"),
    "text.schedule.nothing": ("活动 {month} 没有计划联系的实验组客户：无需排期。",
                              "Campaign {month} has no treated customer with a planned contact: "
                              "nothing to schedule."),
    "text.schedule.scheduled": ("{treated:,} 位实验组客户的 {planned:,} 次计划联系中，{n:,} 次 "
                                "({s:.0%}) 已排入 {exe} 的 {days} 个联系日",
                                "{n:,} of {planned:,} planned contacts ({s:.0%}) for "
                                "{treated:,} treated customers are scheduled on {days} contact "
                                "days in {exe}"),
    "text.schedule.all_fit": ("{head}；所有计划的联系都已排入。", "{head}; every planned contact fits."),
    "text.schedule.some_left": ("{head}；{u:,} 次联系未能排入 ({parts})，涉及 {c:,} 位客户，见未排期表。",
                                "{head}; {u:,} do not fit ({parts}), affecting {c:,} customers, "
                                "listed in the unscheduled table."),
    "text.schedule.left_item": ("{reason} {n:,} 次", "{n:,} {reason}"),
    "text.schedule.unmapped_times": ("偏好联系时间 (preferred_contact_time) 中未对应到时段的取值按无偏好"
                                     "处理：{shown}；请在 params 的 schedule.contact_times 中对应。",
                                     "preferred_contact_time values not mapped to a slot were "
                                     "treated as no preference: {shown}; map them in params "
                                     "schedule.contact_times."),
    # ------------------------------------------------------------------ text.evaluation
    "text.evaluation.none": ("本月没有处于跟进窗口、可以评估的活动。",
                             "No campaign had a follow-up window to evaluate this month."),
    "text.evaluation.what.winback": ("活动", "Campaign"),
    "text.evaluation.what.preventive": ("预防关怀联系", "Preventive care contacts of"),
    "text.evaluation.head.one": ("{what} {cm}，联系后 {k} 个月：", "{what} {cm}, {k} month after:"),
    "text.evaluation.head.many": ("{what} {cm}，联系后 {k} 个月：",
                                  "{what} {cm}, {k} months after:"),
    "text.evaluation.note_only": ("{head}{note}。", "{head} {note}."),
    "text.evaluation.sig.uplift": ("确有提升", "a real uplift"),
    "text.evaluation.sig.worse": ("不如对照组", "worse than control"),
    "text.evaluation.sig.chance": ("与随机波动无法区分", "no difference we can tell from chance"),
    "text.evaluation.result": ("{head}实验组 {t:.1%} 的客户有购买，对照组为 {c:.1%} (提升 {d:+.1f} 个"
                               "百分点，95% 置信区间 {lo:+.1f} 至 {hi:+.1f}：{sig})。",
                               "{head} {t:.1%} of treated vs {c:.1%} of control customers "
                               "bought (uplift {d:+.1f} points, 95% CI {lo:+.1f} to {hi:+.1f}: "
                               "{sig})."),
    "text.evaluation.note": ("注：{note}。", " Note: {note}."),
    "text.evaluation.roi": ("ROI {r:+.0%} (95% 置信区间 {lo:+.0%} 至 {hi:+.0%})。",
                            " ROI {r:+.0%} (95% CI {lo:+.0%} to {hi:+.0%})."),
    "text.evaluation.no_response_none": ("上月活动的实验组客户都已有答复。",
                                         "No treated customer of last month's campaign is left "
                                         "without an answer."),
    "text.evaluation.outcome.unreached": ("未接通 {n} 位", "{n} unreached"),
    "text.evaluation.outcome.no_response": ("接通但未答复 {n} 位", "{n} no response"),
    "text.evaluation.outcome.not_attempted": ("未尝试联系 {n} 位", "{n} not attempted"),
    "text.evaluation.action.reenter_next_cycle": ("{n} 位进入下一轮的目标筛选",
                                                  "{n} re-enter the next cycle's targeting"),
    "text.evaluation.action.release": ("{n} 位释放 (不再联系)",
                                       "{n} are released (not contacted again)"),
    "text.evaluation.no_response": ("活动 {cm} 的 {n} 位实验组客户始终未答复 ({parts})：{todo}。",
                                    "{n} treated customers of campaign {cm} never answered "
                                    "({parts}): {todo}."),
    "text.evaluation.flows_none": ("流失状态的历史还不够 (需要连续两个月)，尚无法判断挽回的客户是否多于"
                                   "流失的客户。",
                                   "Not enough churn status history yet (two consecutive months "
                                   "are needed) to say whether we win back more customers than "
                                   "we lose."),
    "text.evaluation.verdict.yes": ("是：挽回的客户多于流失的客户",
                                    "yes: we won back more customers than we lost"),
    "text.evaluation.verdict.no": ("否：流失的客户多于挽回的客户",
                                   "no: we lost more customers than we won back"),
    "text.evaluation.verdict.even": ("持平：挽回与流失的客户一样多",
                                     "even: we won back as many customers as we lost"),
    "text.evaluation.flows": ("{month}：{back} 位已流失客户回归，{lost} 位客户流失 (净 {net:+d})——"
                              "{verdict}。",
                              "In {month}, {back} churned customers came back and {lost} "
                              "customers churned (net {net:+d}): {verdict}."),
    "text.evaluation.flows_recent": ("最近 {n} 个月 ({first} 至 {last})：{b} 位回归，{lo} 位流失 "
                                     "(净 {net:+d})。",
                                     " Over the last {n} months ({first} to {last}): {b} came "
                                     "back, {lo} churned (net {net:+d})."),
    "text.evaluation.rechurn": ("此前回归的 {n} 位客户中，{k} 位 ({r:.1%}) 本月再次流失。",
                                " Of {n} customers who had come back earlier, {k} ({r:.1%}) "
                                "churned again this month."),
    "text.evaluation.row.too_small": ("样本太小：实验组 {n_t} 人，对照组 {n_c} 人",
                                      "too small: n_treated={n_t}, n_control={n_c}"),
    "text.evaluation.row.too_small_reactivated": ("样本太小：回归客户中实验组 {n_t} 人，对照组 {n_c} 人",
                                                  "too small: n_treated={n_t}, n_control={n_c} "
                                                  "reactivated"),
    "text.evaluation.row.contaminated": ("对照组 {n_c} 位客户中有 {k} 位在窗口内被后续活动联系 (效果被"
                                         "低估)",
                                         "{k} of {n_c} control customers were treated by a later "
                                         "campaign inside the window (effect understated)"),
    "text.evaluation.row.no_interactions": ("存储中没有互动记录：未衡量参与度",
                                            "no interactions in the store: engagement not "
                                            "measured"),
    "text.evaluation.row.no_cost": ("未记录成本", "no cost recorded"),
    "text.evaluation.row.no_cost_roi": ("未记录成本：无 ROI", "no cost recorded: no ROI"),
    "text.evaluation.row.no_overhead": ("未存储活动预算：成本不含人力与物料",
                                        "no campaign budget stored: cost leaves out people "
                                        "and materials"),
    "text.evaluation.row.no_baseline": ("没有基线：回归的对照组客户没有 offer_category (或交易没有品类)",
                                        "no baseline: reactivated control customers carry no "
                                        "offer_category (or transactions no category)"),
    "text.evaluation.row.no_segment": ("活动记录没有 {seg}：无法细分",
                                       "the campaign log gives no {seg}: no breakdown"),
    "text.strategy.watchlist.no_table": ("{month} 之前没有存储的预警名单 (第 7 阶段尚未运行)：本月没有"
                                         "预防关怀联系。",
                                         "No early-warning watchlist is stored before {month} "
                                         "(stage 7 has not run yet): no preventive contacts this "
                                         "month."),
    "text.strategy.watchlist.first_month": ("{month} 之前没有存储的预警名单 (项目的第一个月)：本月没有"
                                            "预防关怀联系。",
                                            "No early-warning watchlist is stored before {month} "
                                            "(first month of the engagement): no preventive "
                                            "contacts this month."),
    "text.strategy.watchlist.too_old": ("最近的预警名单 ({latest}) 已有 {age} 个月，超过 "
                                        "strategy.preventive.max_age_months={max_age}：不使用；本月"
                                        "没有预防关怀联系。",
                                        "The latest watchlist ({latest}) is {age} months old, "
                                        "more than strategy.preventive.max_age_months={max_age}: "
                                        "not used; no preventive contacts this month."),
    "text.strategy.watchlist.read": ("{latest} 的预警名单：{n} 位风险高于预警阈值的活跃客户。",
                                     "Watchlist of {latest}: {n} active customers above the "
                                     "early-warning risk threshold."),
    "text.strategy.watchlist.given": ("给定的预警名单：{n} 位客户。", "Watchlist given: {n} customers."),
    "text.evaluation.data.no_campaign": ("存储中没有本月之前的活动：尚无可评估的内容。",
                                         "The store holds no campaign before this month: "
                                         "nothing to evaluate yet."),
    "text.evaluation.data.no_contacts": ("存储中没有 contact_outcomes：触达漏斗、优惠核销和联系成本为空。",
                                         "The store has no contact_outcomes: funnel, redemption "
                                         "and contact cost are empty."),
    "text.evaluation.data.no_interactions": ("存储中没有互动记录：不评估参与度。",
                                             "The store has no interactions: engagement is not "
                                             "evaluated."),
    "text.evaluation.data.no_status": ("存储中没有 churn_status：状态趋势为空。",
                                       "The store has no churn_status: status trends are empty."),
    "text.evaluation.data.no_overhead": ("存储中没有 {month} 活动的预算 (campaign_budget，第 5 阶段尚未"
                                         "存储)：其成本不含人力与物料开支。",
                                         "The store has no budget (campaign_budget) for the "
                                         "campaign of {month}: its cost leaves out people and "
                                         "materials."),
    # ------------------------------------------------------------------ text.campaign
    "text.campaign.none": ("无", "none"),
    "text.campaign.binds": ("{n} 个层级中有 {k} 个预算受限：在这些层级，每多 1 {cur} 预算最多可换来 "
                            "{x:.2f} {cur} 的期望价值。",
                            " The budget binds in {k} of {n} tiers; there, one more {cur} of "
                            "budget would buy up to {x:.2f} {cur} of expected value."),
    "text.campaign.fits": ("所有值得联系的候选客户都在预算之内。",
                           " Every candidate worth contacting fits in the budget."),
    "text.campaign.campaign": ("活动 {month}：{cand} 位候选客户，预算内选中 {sel} 位：联系 {t} 位，"
                               "{c} 位留作对照组。实验组的联系成本与优惠：{spent:,.0f} {cur}，预算 "
                               "{budget:,.0f} {cur} (对照组的份额 {held:,.0f} {cur} 不花费，用于衡量"
                               "效果)；期望价值 {ev:,.0f} {cur}。最常用的策略：{lead}。{more}",
                               "Campaign {month}: {cand} candidates, {sel} selected within "
                               "budget: {t} to contact and {c} held out as control. Contact cost "
                               "and offers of the treated: {spent:,.0f} {cur} of {budget:,.0f} "
                               "{cur} budgeted (the control's share, {held:,.0f} {cur}, is kept "
                               "unspent to measure the effect); expected value {ev:,.0f} {cur}. "
                               "Most used strategy: {lead}.{more}"),
    "text.campaign.no_watchlist": ("未提供预警名单：本月没有预防关怀联系。",
                                   "No early-warning watchlist was given: no preventive contacts "
                                   "this month."),
    "text.campaign.left_out": (" (排除：{left})", " (left out: {left})"),
    "text.campaign.left_item": ("{reason} {n} 位", "{n} {reason}"),
    "text.campaign.preventive": ("{note}其中 {cand} 位是预防关怀候选客户{left}；在预防预算 "
                                 "{budget:,.0f} {cur} 内选中 {sel} 位：{t} 位接受关怀联系，{c} 位"
                                 "留作他们自己的对照组。被联系客户的成本：{cost:,.0f} {cur}；期望"
                                 "价值 {ev:,.0f} {cur}。",
                                 "{note} {cand} of them are preventive-care candidates{left}; "
                                 "{sel} selected within the preventive budget of {budget:,.0f} "
                                 "{cur}: {t} to contact with a care contact and {c} held out as "
                                 "their own control. Cost of the contacted: {cost:,.0f} {cur}; "
                                 "expected value {ev:,.0f} {cur}."),
    "text.campaign.exclusion.not_in_month": ("不在本月客户中", "not in month"),
    "text.campaign.exclusion.do_not_contact": ("勿扰", "do not contact"),
    "text.campaign.exclusion.lost": ("已彻底流失", "lost"),
    "text.campaign.exclusion.churned": ("已流失", "churned"),
    "text.campaign.exclusion.winback_candidate": ("已是挽回候选", "winback candidate"),
    "text.campaign.exclusion.control_hold": ("对照组保留期", "control hold"),
    "text.campaign.exclusion.released": ("已释放", "released"),
    "text.campaign.exclusion.status_not_targeted": ("状态不在目标内", "status not targeted"),
    # ------------------------------------------------------------------ text.strategy
    "text.strategy.no_prior_moves": ("尚无挽回活动与对照组比较评估过：P(挽回) 先验取 params 中的值。",
                                     "No win-back campaign has been evaluated against its control "
                                     "yet: the P(win back) priors are the params' values."),
    "text.strategy.prior_move": ("{strategy} ({cell}) {p:.1%} -> {q:.1%} (评估提升 {u:+.1%}，有效"
                                 "样本量 {n:.0f})",
                                 "{strategy} ({cell}) {p:.1%} -> {q:.1%} (evaluated uplift "
                                 "{u:+.1%}, effective size {n:.0f})"),
    "text.strategy.prior_moves": ("已评估的活动调整了 {n} 个先验单元中的 {k} 个；调整最大的：{parts}。",
                                  "Evaluated campaigns moved {k} of {n} prior cells; the largest "
                                  "moves: {parts}."),
    # ------------------------------------------------------------------ text.warning
    "text.warning.no_backtest": ("无法进行回测。", "No backtest could be run."),
    "text.warning.backtest": ("回测覆盖 {n} 个月 ({first} .. {last})，预测期 {h} 个月：PR-AUC "
                              "{lg:.3f} (逻辑回归)、{gb:.3f} (梯度提升)，仅看最近购买的规则为 "
                              "{rule:.3f}，基础流失率 {base:.1%}。每月联系风险最高的 {cap} 位客户"
                              "时，{best}模型的精确率为 {pb:.1%}，规则为 {pr:.1%}。",
                              "Backtest over {n} month(s) ({first} .. {last}), horizon {h} "
                              "months: PR-AUC {lg:.3f} (logistic), {gb:.3f} (gradient boosting) "
                              "vs {rule:.3f} for the recency rule, at a base churn rate of "
                              "{base:.1%}. Contacting the top {cap} customers a month, the {best} "
                              "model's precision is {pb:.1%} against {pr:.1%} for the rule."),
    "text.warning.best.logistic": ("逻辑回归", "logistic"),
    "text.warning.best.gbm": ("梯度提升", "gbm"),
    "text.warning.sampling": ("训练表在 {n} 个月中经带种子的均匀抽样截断：{k:,} 行 (可用最多 {m:,} "
                              "行)。",
                              " Training tables were capped by a seeded uniform sample in {n} "
                              "month(s): {k:,} of up to {m:,} rows."),
    "text.warning.no_watchlist": ("{month} 没有预警名单：尚无可训练的模型 (预警人群 {pop:,} 位客户)。",
                                  "No watchlist for {month}: no model could be trained yet "
                                  "({pop:,} customers in the warning population)."),
    "text.warning.watchlist": ("{month} 预警名单包含 {pop:,} 位活跃客户中的 {n:,} 位 (容量 {cap:,})，"
                               "校准后的流失风险为 {lo:.0%} 至 {hi:.0%} (平均 {m:.0%})。",
                               "{n:,} of {pop:,} active customers are on the {month} watchlist "
                               "(capacity {cap:,}), with a calibrated churn risk of {lo:.0%} to "
                               "{hi:.0%} (mean {m:.0%})."),
    "text.warning.main_factor": ("最常见的因素是{label} (占名单 {s:.0%})。",
                                 " The most frequent factor is {label} ({s:.0%} of the list)."),
}

CATALOG: dict[str, dict[str, str]] = {
    language: {**{k: v[i] for k, v in _PAIRS.items()},
               **{f"column.{k}": v[i] for k, v in _COLUMNS.items()},
               **{k: v[i] for k, v in _TEXTS.items()}}
    for i, language in enumerate(LANGUAGES)
}


def check_language(language: str) -> str:
    """``language`` itself when the catalog has it; otherwise a ``ValueError`` naming the choices."""
    if language not in CATALOG:
        raise ValueError(f"language: zh or en, got {language!r} (set report.language in params)")
    return language


def t(key: str, language: str, /, **fmt: Any) -> str:
    """The text of ``key`` in ``language``, formatted with ``fmt`` when given.

    Raises
    ------
    KeyError
        The catalog has no such key (names the key and the closest existing ones).
    ValueError
        ``language`` is not ``zh`` or ``en``.
    """
    texts = CATALOG[check_language(language)]
    try:
        text = texts[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, list(texts), n=3, cutoff=0.6)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise KeyError(f"No message {key!r} in winback.messages.{hint}") from None
    return text.format(**fmt) if fmt else text


def label(group: str, code: Any, language: str, default: str | None = None) -> str:
    """Name of a fixed code (``label("status", "churned", "zh") == "已流失"``).

    Codes the catalog does not name come back as ``default`` (or the code itself), so
    data with client-specific codes (regions, strategies) still draws.
    """
    key = f"{group}.{code}"
    texts = CATALOG[check_language(language)]
    if key in texts:
        return texts[key]
    return str(code) if default is None else default


def labels(group: str, language: str) -> dict[str, str]:
    """Every code of ``group`` and its name, in catalog order."""
    prefix = f"{group}."
    texts = CATALOG[check_language(language)]
    return {k[len(prefix):]: v for k, v in texts.items() if k.startswith(prefix)}


def label_codes(frame: pd.DataFrame, language: str,
                columns: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``frame`` whose code columns show the codes' names in ``language``.

    Parameters
    ----------
    frame
        Any table; it is not changed.
    language
        ``zh`` or ``en``.
    columns
        Column (or index level) name -> catalog group of its codes, e.g.
        ``{"status": "status", "indicator": "variable"}``; codes the group does not name
        are kept. Use it on what is shown to people; tables written as data keep codes.
    """
    check_language(language)
    out = frame.copy()

    def name(group: str):
        return lambda code: label(group, code, language) if isinstance(code, str) else code

    for col, group in columns.items():
        if col in out.columns:
            out[col] = [name(group)(c) for c in out[col].tolist()]
        if col in (out.index.names or []):
            level = out.index.names.index(col)
            if out.index.nlevels == 1:
                out.index = pd.Index([name(group)(c) for c in out.index], name=col)
            else:
                out.index = out.index.set_levels(
                    [name(group)(c) for c in out.index.levels[level]], level=level)
    return out


def retell(text: str, keys: Iterable[str], language: str) -> str:
    """``text``, written from the English template of one of ``keys``, told in ``language``.

    Notes stored with a table (and sentences written before the language is known) are
    built in English from a catalog key (templates without format specs). This finds the
    key whose English template matches ``text`` and fills that key's ``language`` template
    with the same values (the template with the most literal text wins when several
    match); text that no key matches comes back unchanged.
    """
    lang = check_language(language)

    def literal(key: str) -> int:
        return sum(len(part) for part, *_ in string.Formatter().parse(CATALOG["en"][key]))

    for key in sorted(keys, key=literal, reverse=True):
        pattern = []
        for literal, name, _, _ in string.Formatter().parse(CATALOG["en"][key]):
            pattern.append(re.escape(literal))
            if name is not None:
                pattern.append(f"(?P={name})" if f"(?P<{name}>" in "".join(pattern)
                               else f"(?P<{name}>.*?)")
        found = re.fullmatch("".join(pattern), text, flags=re.DOTALL)
        if found:
            return CATALOG[lang][key].format(**found.groupdict())
    return text


def placeholders(text: str) -> set[str]:
    """Names of the :meth:`str.format` fields in ``text`` (with their format specs)."""
    return {f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text)
            if name is not None}


def column_labels(frame: pd.DataFrame, language: str, *,
                  extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with its column (and index) names in ``language``, for people to read.

    Canonical names the catalog knows (``column.<name>``) are replaced; others (a client's
    own columns, computed metrics) are kept. Tables written as data (``tables/*.parquet``)
    keep canonical names: call this only on what is shown or exported for people.

    Parameters
    ----------
    frame
        Any table; it is not changed.
    language
        ``zh`` or ``en``.
    extra
        Names for columns the catalog does not know (``{"n_orders": "订单数"}``); they win.
    """
    texts = CATALOG[check_language(language)]

    def one(name: Any) -> Any:
        if not isinstance(name, str):
            return name
        if extra and name in extra:
            return extra[name]
        return texts.get(f"column.{name}", name)

    out = frame.copy(deep=False)
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = out.columns.set_names([one(n) for n in out.columns.names])
    else:
        out.columns = [one(c) for c in out.columns]
        out.columns.name = one(frame.columns.name)
    out.index = out.index.set_names([one(n) for n in out.index.names])
    return out


class Messages:
    """The catalog in one language, optionally scoped to a key prefix.

    Parameters
    ----------
    language
        ``zh`` or ``en``.
    scope
        Prefix of relative keys: ``Messages("zh", scope="plots.tiers")("tier")`` reads
        ``plots.tiers.tier``. A key that is not found under the scope is read as a full key.

    Examples
    --------
    >>> m = Messages("en")
    >>> m.label("channel", "wechat"), m("common.none")
    ('wechat', 'No data')
    """

    def __init__(self, language: str, scope: str | None = None):
        self.language = check_language(language)
        self.scope = scope

    def __call__(self, key: str, /, **fmt: Any) -> str:
        if self.scope:
            full = f"{self.scope}.{key}"
            if full in CATALOG[self.language]:
                return t(full, self.language, **fmt)
        return t(key, self.language, **fmt)

    def label(self, group: str, code: Any, default: str | None = None) -> str:
        """See :func:`label`."""
        return label(group, code, self.language, default)

    def labels(self, group: str) -> dict[str, str]:
        """See :func:`labels`."""
        return labels(group, self.language)

    def names(self, group: str, codes: Iterable[Any]) -> list[str]:
        """Names of several codes of one group, in order."""
        return [self.label(group, c) for c in codes]

    def columns(self, frame: pd.DataFrame, **kw: Any) -> pd.DataFrame:
        """See :func:`column_labels`."""
        return column_labels(frame, self.language, **kw)

    def __repr__(self) -> str:
        scope = f", scope={self.scope!r}" if self.scope else ""
        return f"Messages({self.language!r}{scope})"


class ReportParams(Section):
    """``report`` params: how the month's outputs read for people.

    ``language`` switches chart labels, table headers, reason / tier / status names, the
    call-centre exports' headers and the report's text. ``None`` (the default) follows
    ``engagement.language``, so an engagement sets its language once.
    """

    language: Literal["zh", "en"] | None = None


def output_language(params: Any) -> str:
    """The language of the run's outputs: ``report.language``, else ``engagement.language``.

    ``params`` is the validated :class:`winback.config.Params` (or anything with the
    ``report`` and ``engagement`` sections).
    """
    report = getattr(params, "report", None)
    chosen = getattr(report, "language", None) if report is not None else None
    return check_language(chosen or params.engagement.language)


def show_tables(language: str) -> None:
    """Show every DataFrame of the running notebook with headers in ``language``.

    Registers IPython display formatters (HTML and plain text) that pass each displayed
    frame through :func:`column_labels`; the frames themselves, and what is written to
    ``tables/*.parquet``, keep their canonical columns. Does nothing outside IPython.
    """
    check_language(language)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters

    def html(frame: pd.DataFrame) -> str:
        return column_labels(frame, language)._repr_html_()

    def plain(frame: pd.DataFrame, printer, cycle) -> None:
        printer.text(repr(column_labels(frame, language)))

    formatters["text/html"].for_type(pd.DataFrame, html)
    formatters["text/plain"].for_type(pd.DataFrame, plain)
