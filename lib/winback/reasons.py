"""Stage 2, reason analysis: churn trend, churn reasons (active / passive) and churn drivers.

Four questions, each answered by a function that takes frames and returns new frames:

**When and where does churn happen?** (:func:`churn_transitions`, :func:`churn_rates`,
:func:`concentration`, :func:`describe_concentration`)

    The monthly churn rate is a proportion with a clear population. For a month ``m``
    whose previous calendar month ``m-1`` is in the store's ``churn_status`` history,

    * the *base* ``B_m`` is the customers whose status at the end of ``m-1`` is one of
      ``trend.base_statuses`` (default ``active``, ``at_risk``);
    * the *newly churned* ``C_m`` are the customers of ``B_m`` whose status at the end of
      ``m`` is one of ``trend.churn_statuses`` (default ``churned``, ``lost``: a customer
      who goes straight from active to lost, e.g. a do-not-contact customer, has left
      too). Being in ``B_m`` they were not churned at ``m-1``;
    * ``rate_m = |C_m| / |B_m|``, with a 95% Wilson interval.

    Customers of ``B_m`` missing from month ``m``'s statuses are left out of both counts
    and counted in ``n_missing``; customers who churn at ``m`` without having been in the
    base (``new`` at ``m-1``, or not yet present) are counted in ``n_churned_outside``.
    Segments are taken as they were at ``m-1``: business line and region from the
    ``customers`` table, acquisition cohort = signup quarter (``2023Q2``), and tier from
    stage 3's store table ``tiers`` of month ``m-1`` when it exists.

**Why do customers churn?** (:func:`match_keywords`, :func:`collect_evidence`,
:func:`assign_reasons`, :func:`reason_coverage`, :func:`reason_mix`)

    Each churned or at-risk customer gets one reason from the evidence dated in the
    look-back window ``(month end - lookback_days, month end]``, taking the first source
    in ``source_priority`` that has any evidence for the customer:

    ``contact_outcomes``
        the call centre's ``reason_code`` (keyed by ``contact_ts``);
    ``surveys``
        the survey's ``reason_code``;
    ``tickets``
        interactions of a kind in ``ticket_kinds`` carrying a tag in their text,
        ``#code`` or ``[code]`` / ``【code】`` (a taxonomy code, its zh or en label, or
        an alias);
    ``keywords``
        keyword rules over free text: interaction ``text`` of the kinds in
        ``keyword_kinds`` and survey ``text``, skipping rows whose score / satisfaction
        is at least ``positive_score`` (praise names no reason). Chinese keywords match
        as substrings, English keywords as whole words, case-insensitively. A text's
        reason is the one with the most distinct keywords found in it; ties go to the
        reason listed first in the taxonomy.

    Codes in ``reason_code`` columns and tags are read through one lookup: the taxonomy
    code, its zh label, its en label (case-insensitive) or an entry of ``aliases``.
    Within the chosen source the customer's reason is the code with the most evidence
    rows, then the latest evidence, then taxonomy order; ``evidence_count`` is the number
    of that source's rows naming it. A customer without evidence gets ``unknown``.

**What moves churn?** (:func:`driver_frame`, :class:`ChurnDrivers`, :func:`driver_agreement`)

    A logistic regression of ``newly churned in m`` on the standardized snapshot
    indicators of ``m-1`` (the base ``B_m``), pooled over the last ``drivers.months``
    transitions, with standard errors clustered by customer. Constant and
    near-duplicate indicators are dropped (and listed); when maximum likelihood does not
    converge or separates, Firth's penalized likelihood is used instead (reported in
    ``method_``). The top drivers are then checked against the stated reasons with a
    small documented mapping (``drivers.agreement``: indicator -> expected direction and
    reasons): customers whose reason is one of the mapped reasons should differ from
    other customers with a known reason in the expected direction.

The customer profile (churned vs retained) is in :mod:`winback.profile`.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator
from scipy import stats

from winback.config import Section
from winback.frames import isin
from winback.messages import check_language, label
from winback.messages import t as message
from winback.profile import ProfileParams, holm
from winback.settings import month_end
from winback.store import fetch_df, table_columns

__all__ = [
    "SOURCES",
    "NO_TIERS",
    "UNKNOWN",
    "AgreementRule",
    "ChurnDrivers",
    "DriversParams",
    "Keywords",
    "ReasonDef",
    "ReasonInputs",
    "ReasonsError",
    "ReasonsParams",
    "TrendParams",
    "assign_reasons",
    "attach_segments",
    "churn_rates",
    "churn_transitions",
    "code_lookup",
    "collect_evidence",
    "concentration",
    "describe_agreement",
    "describe_concentration",
    "describe_distinctive",
    "describe_drivers",
    "describe_reasons",
    "discount_share",
    "distinctive_reasons",
    "driver_agreement",
    "driver_frame",
    "key_figures",
    "load_inputs",
    "match_keywords",
    "reason_coverage",
    "reason_mix",
    "reason_trend",
    "segment_frame",
    "store_driver_frame",
    "store_transitions",
    "top_reason",
    "wilson_interval",
    "write_reasons",
]

UNKNOWN = "unknown"
NO_TIERS = "(no tiers table yet)"
SOURCES: tuple[str, ...] = ("contact_outcomes", "surveys", "tickets", "keywords")
REASON_COLUMNS = ("month", "customer_id", "status", "reason_code", "churn_type", "source",
                  "evidence_count")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ReasonsError(ValueError):
    """Reason analysis cannot proceed; the message names the table, column, rows and a fix."""


# --------------------------------------------------------------------------- params

class ReasonDef(Section):
    """One reason of the taxonomy: labels and churn type."""

    zh: str
    en: str
    churn_type: Literal["active", "passive"]


class Keywords(Section):
    """Keywords of one reason: Chinese (substring match) and English (whole-word match)."""

    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


DEFAULT_TAXONOMY: dict[str, dict[str, str]] = {
    "price": {"zh": "价格", "en": "Price", "churn_type": "passive"},
    "quality": {"zh": "质量", "en": "Quality", "churn_type": "passive"},
    "service_attitude": {"zh": "服务态度", "en": "Service attitude", "churn_type": "passive"},
    "speed": {"zh": "速度", "en": "Speed", "churn_type": "passive"},
    "timeliness": {"zh": "及时性", "en": "Timeliness", "churn_type": "passive"},
    "info_clarity": {"zh": "信息清晰度", "en": "Information clarity", "churn_type": "passive"},
    "reputation": {"zh": "口碑评价", "en": "Reputation / reviews", "churn_type": "passive"},
    "values": {"zh": "价值观", "en": "Values", "churn_type": "active"},
    "competitor_nearby": {"zh": "距离/附近竞品", "en": "Competitor nearby", "churn_type": "active"},
    "cost_conscious": {"zh": "节省开支", "en": "Cost-conscious", "churn_type": "active"},
    "too_few_products": {"zh": "产品太少", "en": "Too few products", "churn_type": "passive"},
    "unattractive_products": {"zh": "产品无吸引力", "en": "Products not attractive",
                              "churn_type": "passive"},
    "only_contacted_when_selling": {"zh": "只在推销时联系", "en": "Only contacted when selling",
                                    "churn_type": "passive"},
    "scripted_service": {"zh": "服务机械化", "en": "Scripted service", "churn_type": "passive"},
    "no_need": {"zh": "暂无需求", "en": "No current need", "churn_type": "active"},
}

DEFAULT_KEYWORDS: dict[str, dict[str, list[str]]] = {
    "price": {"zh": ["价格太贵", "太贵", "涨价", "比别家贵", "价格高", "买不起"],
              "en": ["too expensive", "expensive", "overpriced", "price increase"]},
    "quality": {"zh": ["质量问题", "质量差", "不新鲜", "坏了", "次品"],
                "en": ["quality problem", "poor quality", "bad quality", "broken", "defective"]},
    "service_attitude": {"zh": ["服务态度差", "态度差", "态度恶劣", "不耐烦"],
                         "en": ["rude", "bad attitude", "impolite"]},
    "speed": {"zh": ["配送太慢", "送货慢", "太慢", "发货慢"],
              "en": ["slow delivery", "slow", "too long to arrive"]},
    "timeliness": {"zh": ["不准时", "超时", "迟到", "延误"],
                   "en": ["late", "not on time", "delayed"]},
    "info_clarity": {"zh": ["说明不清楚", "不清楚", "看不懂"],
                     "en": ["unclear", "confusing"]},
    "reputation": {"zh": ["口碑差", "差评", "评价很差"],
                   "en": ["bad reviews", "bad reputation"]},
    "values": {"zh": ["理念不合", "不环保", "价值观"],
               "en": ["values do not match", "not sustainable"]},
    "competitor_nearby": {"zh": ["隔壁新开了一家", "附近新开", "别家更近", "竞争对手"],
                          "en": ["new store nearby", "competitor"]},
    "cost_conscious": {"zh": ["省钱", "控制开支", "预算紧"],
                       "en": ["budget", "save money"]},
    "too_few_products": {"zh": ["品种太少", "选择太少", "经常没货", "缺货"],
                         "en": ["few products", "out of stock"]},
    "unattractive_products": {"zh": ["没有新品", "款式老", "没意思"],
                              "en": ["boring", "nothing new"]},
    "only_contacted_when_selling": {"zh": ["只有推销才联系", "只会推销", "平时不理"],
                                    "en": ["only call to sell", "only contact me to sell"]},
    "scripted_service": {"zh": ["像机器人", "照本宣科", "套话"],
                         "en": ["scripted", "robot"]},
    "no_need": {"zh": ["暂时不需要", "用不上", "搬家了", "不需要了"],
                "en": ["no need", "don't need"]},
}


class TrendParams(Section):
    """``reasons.trend``: the churn-rate definition and where churn concentrates."""

    base_statuses: list[str] = Field(default_factory=lambda: ["active", "at_risk"])
    churn_statuses: list[str] = Field(default_factory=lambda: ["churned", "lost"])
    dimensions: list[Literal["business_line", "region", "tier", "cohort"]] = Field(
        default_factory=lambda: ["business_line", "region", "tier", "cohort"])
    recent_months: int = Field(default=3, ge=1)
    min_base: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _disjoint(self) -> TrendParams:
        both = sorted(set(self.base_statuses) & set(self.churn_statuses))
        if both:
            raise ValueError(f"a status cannot be both base and churned: {both}")
        if not self.base_statuses or not self.churn_statuses:
            raise ValueError("list at least one base status and one churn status")
        return self


class AgreementRule(Section):
    """How a driver should show in customers stating given reasons."""

    direction: Literal["higher", "lower"]
    reasons: list[str]


DEFAULT_INDICATORS = [
    "avg_day_spend", "purchase_days_365", "discount_share_365",
    "necessary_share_365", "returns_365", "eng_complaint_365", "eng_service_ticket_365",
    "engagement_365", "engagement_trend", "tenure_days", "age",
]
DEFAULT_AGREEMENT = {
    "avg_day_spend": {"direction": "lower", "reasons": ["price", "cost_conscious"]},
    "discount_share_365": {"direction": "higher", "reasons": ["price", "cost_conscious"]},
    "eng_complaint_365": {"direction": "higher",
                          "reasons": ["quality", "service_attitude", "speed", "timeliness",
                                      "scripted_service"]},
    "eng_service_ticket_365": {"direction": "higher",
                               "reasons": ["speed", "timeliness", "info_clarity", "quality"]},
    "returns_365": {"direction": "higher", "reasons": ["quality"]},
}


class DriversParams(Section):
    """``reasons.drivers``: the logistic regression of churn on snapshot indicators."""

    indicators: list[str] = Field(default_factory=lambda: list(DEFAULT_INDICATORS))
    log1p: list[str] = Field(default_factory=lambda: [
        "avg_day_spend", "purchase_days_365", "returns_365", "eng_complaint_365",
        "eng_service_ticket_365", "engagement_365", "tenure_days"])
    months: int = Field(default=6, ge=1)
    max_corr: float = Field(default=0.95, gt=0, le=1)
    max_vif: float = Field(default=10.0, gt=1)
    max_abs_coef: float = Field(default=8.0, gt=0)
    top: int = Field(default=5, ge=1)
    agreement: dict[str, AgreementRule] = Field(
        default_factory=lambda: {k: AgreementRule(**v) for k, v in DEFAULT_AGREEMENT.items()})


class ReasonsParams(Section):
    """Params section ``reasons`` (see the module docstring for every rule)."""

    lookback_days: int = Field(default=365, ge=1)
    source_priority: list[Literal["contact_outcomes", "surveys", "tickets", "keywords"]] = Field(
        default_factory=lambda: list(SOURCES))
    statuses: list[str] = Field(default_factory=lambda: ["churned", "at_risk"])
    ticket_kinds: list[str] = Field(default_factory=lambda: ["service_ticket", "complaint"])
    keyword_kinds: list[str] = Field(default_factory=lambda: [
        "service_ticket", "complaint", "review", "suggestion", "community_post"])
    keyword_surveys: bool = True
    positive_score: float | None = 4
    unknown_code: Literal["error", "warn"] = "error"
    aliases: dict[str, str] = Field(default_factory=dict)
    taxonomy: dict[str, ReasonDef] = Field(
        default_factory=lambda: {k: ReasonDef(**v) for k, v in DEFAULT_TAXONOMY.items()})
    keywords: dict[str, Keywords] = Field(
        default_factory=lambda: {k: Keywords(**v) for k, v in DEFAULT_KEYWORDS.items()})
    trend: TrendParams = Field(default_factory=TrendParams)
    profile: ProfileParams = Field(default_factory=ProfileParams)
    drivers: DriversParams = Field(default_factory=DriversParams)

    @field_validator("source_priority")
    @classmethod
    def _unique_sources(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"list at least one source of {list(SOURCES)}")
        if len(set(value)) != len(value):
            raise ValueError("a source is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReasonsParams:
        codes = set(self.taxonomy)
        if not codes:
            raise ValueError("the taxonomy lists no reason")
        if UNKNOWN in codes:
            raise ValueError(f"{UNKNOWN!r} is reserved for customers without evidence")
        for what, keys in (("keywords", self.keywords), ("aliases", self.aliases.values())):
            bad = sorted(set(keys) - codes)
            if bad:
                raise ValueError(f"{what} name reason(s) {bad} missing from the taxonomy")
        for name, rule in self.drivers.agreement.items():
            bad = sorted(set(rule.reasons) - codes)
            if bad:
                raise ValueError(f"drivers.agreement.{name} names reason(s) {bad} missing "
                                 "from the taxonomy")
        return self

    @property
    def order(self) -> list[str]:
        """Reason codes in taxonomy order (the tie-break order)."""
        return list(self.taxonomy)

    def churn_type(self, code: str) -> str:
        return self.taxonomy[code].churn_type if code in self.taxonomy else UNKNOWN

    def label(self, code: str, language: str = "en") -> str:
        """The zh or en label of a code (``unknown``: the catalog's ``common.unknown``)."""
        if code == UNKNOWN:
            return message("common.unknown", language)
        item = self.taxonomy.get(code)
        return code if item is None else getattr(item, check_language(language))


# --------------------------------------------------------------------------- helpers

def wilson_interval(successes, trials, confidence: float = 0.95):
    """Wilson score interval of a binomial proportion (Wilson 1927).

    Parameters
    ----------
    successes, trials
        Counts (scalars or arrays of the same shape); ``trials == 0`` gives NaN.
    confidence
        Two-sided coverage, e.g. 0.95.

    Returns
    -------
    (low, high)
        ``(c - h, c + h)`` with ``c = (x + z²/2) / (n + z²)`` and
        ``h = z sqrt(x (n - x) / n + z²/4) / (n + z²)``.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (x + z * z / 2) / (n + z * z)
        half = z * np.sqrt(x * (n - x) / n + z * z / 4) / (n + z * z)
        low = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def _check_month(month: str) -> str:
    month = str(month)
    if not _MONTH.match(month):
        raise ValueError(f"month must be written YYYY-MM (e.g. 2024-06), got {month!r}")
    return month


def _usable_months(transitions: pd.DataFrame, snapshot_months, months: int) -> list[str]:
    """The last ``months`` transition months whose previous month has a snapshot."""
    usable = [m for m in sorted(transitions["month"].unique())
              if _prev_month(m) in snapshot_months][-months:]
    if not usable:
        raise ReasonsError(
            "No transition month has the previous month's snapshot in the store: run stage 1 "
            "for two consecutive months first.")
    return usable


def _prev_month(month: str) -> str:
    return str(pd.Period(month, "M") - 1)


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReasonsError(
            f"{what} lacks column(s) {missing}; it has {list(frame.columns)}. "
            "Map the client's columns onto the canonical names (params.sources) and reload.")


# --------------------------------------------------------------------------- churn trend

def churn_transitions(
    status: pd.DataFrame,
    *,
    base_statuses: Sequence[str] = ("active", "at_risk"),
    churn_statuses: Sequence[str] = ("churned", "lost"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Month-to-month transitions of the churn-rate base (see the module docstring).

    Parameters
    ----------
    status
        ``churn_status`` history: ``month, customer_id, status`` (one row per customer and
        month).
    base_statuses, churn_statuses
        Statuses at ``m-1`` forming the base, and statuses at ``m`` counted as churn.

    Returns
    -------
    transitions
        One row per month ``m`` (whose previous month is present) and customer of the base
        ``B_m``: ``month, prev_month, customer_id, prev_status, status, churned`` (bool).
        Base customers missing from month ``m`` are dropped here and counted in ``counts``.
    counts
        Per month: ``month, n_missing, n_churned_outside``.

    Raises
    ------
    ReasonsError
        Missing columns, or a customer with two statuses in one month.
    """
    _require(status, ("month", "customer_id", "status"), "churn_status")
    frame = status[["month", "customer_id", "status"]].copy()
    frame["month"] = frame["month"].astype(str)
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["status"] = frame["status"].astype(str)
    dup = frame.duplicated(["month", "customer_id"])
    if dup.any():
        ex = frame.loc[dup, ["month", "customer_id"]].head(5).to_records(index=False).tolist()
        raise ReasonsError(
            f"churn_status holds {int(dup.sum())} duplicate (month, customer_id) rows, e.g. "
            f"{ex}. Rerun stage 1 for those months so each customer has one status a month.")
    months = sorted(frame["month"].unique())
    have = set(months)
    parts, counts = [], []
    for m in months:
        prev = _prev_month(m)
        if prev not in have:
            continue
        before = frame[frame["month"] == prev]
        now = frame[frame["month"] == m]
        base = before[before["status"].isin(base_statuses)]
        joined = base.merge(now[["customer_id", "status"]], on="customer_id", how="left",
                            suffixes=("_prev", ""))
        missing = joined["status"].isna()
        joined = joined[~missing]
        out = pd.DataFrame({
            "month": m,
            "prev_month": prev,
            "customer_id": joined["customer_id"].to_numpy(),
            "prev_status": joined["status_prev"].to_numpy(),
            "status": joined["status"].to_numpy(),
        })
        out["churned"] = out["status"].isin(churn_statuses).to_numpy()
        outside = now[now["status"].isin(churn_statuses)
                      & ~now["customer_id"].isin(base["customer_id"])
                      & ~now["customer_id"].isin(before.loc[before["status"].isin(churn_statuses),
                                                            "customer_id"])]
        parts.append(out)
        counts.append({"month": m, "n_missing": int(missing.sum()),
                       "n_churned_outside": int(len(outside))})
    cols = ["month", "prev_month", "customer_id", "prev_status", "status", "churned"]
    transitions = (pd.concat(parts, ignore_index=True) if parts
                   else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
    if not parts:
        transitions["churned"] = transitions["churned"].astype(bool)
    count_frame = pd.DataFrame(counts, columns=["month", "n_missing", "n_churned_outside"])
    return transitions, count_frame


def segment_frame(customers: pd.DataFrame, tiers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Segment attributes per customer (and month, for tiers) for the churn-rate breakdowns.

    Parameters
    ----------
    customers
        ``customer_id, signup_date`` and optionally ``business_line, region``.
    tiers
        Stage 3's ``tiers`` table (``month, customer_id, tier``) or ``None`` when it does
        not exist yet.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, business_line, region, cohort`` (signup quarter, e.g. ``2023Q2``),
        plus ``attrs['tiers']``: the tiers frame (``month, customer_id, tier``) or ``None``.
    """
    _require(customers, ("customer_id", "signup_date"), "customers")
    # text columns as the default text dtype, without a round trip through Python objects
    out = pd.DataFrame({"customer_id": customers["customer_id"].astype(str).array})
    for col in ("business_line", "region"):
        values = customers[col] if col in customers else pd.Series(pd.NA, index=customers.index)
        out[col] = values.astype("string").fillna("(missing)").astype(str).array
    signup = pd.to_datetime(customers["signup_date"])
    out["cohort"] = signup.dt.to_period("Q").astype(str).to_numpy()
    if tiers is not None:
        _require(tiers, ("month", "customer_id", "tier"), "tiers")
        tiers = tiers[["month", "customer_id", "tier"]].copy()
        tiers["month"] = tiers["month"].astype(str)
        tiers["customer_id"] = tiers["customer_id"].astype(str)
        tiers["tier"] = tiers["tier"].astype(str)
    out.attrs["tiers"] = tiers
    return out


def _with_segments(transitions: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    out = transitions.merge(segments.drop(columns=[], errors="ignore"), on="customer_id",
                            how="left")
    for col in ("business_line", "region", "cohort"):
        if col in out:
            out[col] = out[col].astype("string").fillna("(missing)")
    tiers = segments.attrs.get("tiers")
    if tiers is not None:
        tiers = tiers.rename(columns={"month": "prev_month"})
        out = out.merge(tiers, on=["prev_month", "customer_id"], how="left")
        out["tier"] = out["tier"].astype("string").fillna("(no tier)")
    return out


_FILLED = {"business_line": "(missing)", "region": "(missing)", "cohort": "(missing)",
           "tier": "(no tier)"}


def _segment_counts(transitions: pd.DataFrame, segments: pd.DataFrame,
                    dimensions: Sequence[str]) -> dict[str, pd.DataFrame] | None:
    """Base and churned counts per month and segment, without joining the segments in.

    The counts :func:`churn_rates` takes from :func:`_with_segments` (same segment values,
    missing ones filled the same way, same order): each transition row's segment is looked
    up by position (customers; tiers of its previous month) and counted with
    ``numpy.bincount``, so only the small table of counts is grouped in pandas. None when a
    dimension is not one of :data:`_FILLED` or a customer repeats in ``segments`` or in a
    month of the tiers (the caller joins instead).
    """
    from winback.frames import index_in

    tiers = segments.attrs.get("tiers")
    dims = [d for d in dimensions if d in segments or (d == "tier" and tiers is not None)]
    if any(d not in _FILLED for d in dims) or segments["customer_id"].duplicated().any():
        return None
    ids = transitions["customer_id"]
    month_codes, months = pd.factorize(transitions["month"], sort=False)
    churned = transitions["churned"].to_numpy(dtype=bool)
    pos = index_in(ids, segments["customer_id"]) if dims != ["tier"] else None
    out = {}
    for dim in dims:
        if dim == "tier":
            tier_codes, labels = pd.factorize(tiers["tier"].astype("string"))
            codes = np.full(len(transitions), -1, dtype=np.int64)
            # rows of each previous month from one stable sort of the month codes
            prev_codes, prevs = pd.factorize(transitions["prev_month"])
            order = np.argsort(prev_codes, kind="stable")
            bounds = int((prev_codes < 0).sum()) + np.concatenate(  # missing (-1) sort first
                [[0], np.cumsum(np.bincount(prev_codes[prev_codes >= 0], minlength=len(prevs)))])
            for k, p in enumerate(prevs):
                rows = order[bounds[k]:bounds[k + 1]]
                mine = np.flatnonzero((tiers["month"] == p).to_numpy())
                if not len(mine):
                    continue  # no tiers that month: "(no tier)"
                pool = tiers["customer_id"].iloc[mine]
                if pool.duplicated().any():
                    return None
                at = index_in(ids.iloc[rows], pool)
                codes[rows] = np.where(at >= 0, tier_codes[mine[np.maximum(at, 0)]], -1)
        else:
            seg_codes, labels = pd.factorize(segments[dim].astype("string"))
            codes = np.where(pos >= 0, seg_codes[np.maximum(pos, 0)], -1)
        width = len(labels) + 1
        key = month_codes.astype(np.int64) * width + codes + 1
        size = np.bincount(key, minlength=len(months) * width)
        events = np.bincount(key, weights=churned, minlength=len(months) * width)
        hit = np.flatnonzero(size)
        names = pd.array([pd.NA, *labels], dtype="string").fillna(_FILLED[dim])
        small = pd.DataFrame({
            "month": months.take(hit // width),
            dim: names.take(hit % width),
            "n_base": size[hit].astype(np.int64),
            "n_churned": events[hit].astype(np.int64),
        })
        out[dim] = small.groupby(["month", dim], sort=True).agg(
            n_base=("n_base", "sum"), n_churned=("n_churned", "sum")).reset_index()
    return out


def attach_segments(frame: pd.DataFrame, segments: pd.DataFrame, month: str) -> pd.DataFrame:
    """``frame`` (one row per customer) with the segment columns of :func:`segment_frame`.

    The tier is the customer's tier of the month before ``month`` (stage 3 runs after
    stage 2), ``(no tier)`` when unknown, and :data:`NO_TIERS` for everyone when the
    store has no tiers table yet.
    """
    out = frame.drop(columns=[c for c in ("business_line", "region", "cohort", "tier")
                              if c in frame]).merge(segments, on="customer_id", how="left")
    for col in ("business_line", "region", "cohort"):
        out[col] = out[col].astype("string").fillna("(missing)")
    tiers = segments.attrs.get("tiers")
    if tiers is not None:
        last = tiers[tiers["month"] == _prev_month(_check_month(month))]
        out = out.merge(last[["customer_id", "tier"]], on="customer_id", how="left")
        out["tier"] = out["tier"].astype("string").fillna("(no tier)")
    else:
        out["tier"] = pd.Series(NO_TIERS, index=out.index, dtype="string")
    return out


def churn_rates(
    transitions: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    *,
    dimensions: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Monthly churn rate, overall and by segment, with Wilson intervals.

    Parameters
    ----------
    transitions
        From :func:`churn_transitions`.
    segments
        From :func:`segment_frame` (needed when ``dimensions`` is not empty).
    dimensions
        Any of ``business_line``, ``region``, ``cohort``, ``tier``. ``tier`` is skipped
        when ``segments`` carries no tiers table.

    Returns
    -------
    pandas.DataFrame
        Long table: ``dimension, segment, month, n_base, n_churned, rate, low, high``;
        the overall rate has ``dimension == "overall"`` and ``segment == "all"``.
    """
    rows = []
    overall = transitions.groupby("month", sort=True).agg(
        n_base=("churned", "size"), n_churned=("churned", "sum")).reset_index()
    overall.insert(0, "segment", "all")
    overall.insert(0, "dimension", "overall")
    rows.append(overall)
    if dimensions:
        if segments is None:
            raise ReasonsError("churn_rates: give the segments frame to break rates down by "
                               f"{list(dimensions)}.")
        fast = _segment_counts(transitions, segments, dimensions)
        data = _with_segments(transitions, segments) if fast is None else fast
        for dim in dimensions:
            if dim not in data:
                continue
            if fast is None:
                part = data.groupby(["month", dim], sort=True).agg(
                    n_base=("churned", "size"), n_churned=("churned", "sum")).reset_index()
            else:
                part = fast[dim]
            part = part.rename(columns={dim: "segment"})
            part.insert(0, "dimension", dim)
            rows.append(part[["dimension", "segment", "month", "n_base", "n_churned"]])
    out = pd.concat(rows, ignore_index=True)
    out["segment"] = out["segment"].astype(str)
    out["n_base"] = out["n_base"].astype(int)
    out["n_churned"] = out["n_churned"].astype(int)
    lo, hi = wilson_interval(out["n_churned"].to_numpy(), out["n_base"].to_numpy(), confidence)
    out["rate"] = out["n_churned"] / out["n_base"]
    out["low"], out["high"] = lo, hi
    return out


def concentration(
    rates: pd.DataFrame, *, recent_months: int = 3, min_base: int = 30,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Where churn concentrates: segment rates pooled over the most recent months.

    Parameters
    ----------
    rates
        From :func:`churn_rates`.
    recent_months
        Pool the last ``recent_months`` months with a rate (customer-months add up).
    min_base
        Segments with fewer base customer-months are listed but not ranked.

    Returns
    -------
    pandas.DataFrame
        ``dimension, segment, months, n_base, n_churned, rate, low, high, overall_rate,
        lift`` (rate / overall), ``above_overall`` (the interval lies above the overall
        rate), ``rank`` within the dimension (1 = highest rate, NaN when too small),
        sorted by dimension and rank.
    """
    months = sorted(rates["month"].unique())[-recent_months:]
    if not months:
        raise ReasonsError("No churn rate to pool: the churn_status history needs two "
                           "consecutive months.")
    recent = rates[rates["month"].isin(months)]
    pooled = recent.groupby(["dimension", "segment"], sort=False).agg(
        n_base=("n_base", "sum"), n_churned=("n_churned", "sum")).reset_index()
    pooled.insert(2, "months", f"{months[0]}..{months[-1]}" if len(months) > 1 else months[0])
    pooled["rate"] = pooled["n_churned"] / pooled["n_base"]
    pooled["low"], pooled["high"] = wilson_interval(
        pooled["n_churned"].to_numpy(), pooled["n_base"].to_numpy(), confidence)
    overall = pooled.loc[pooled["dimension"] == "overall", "rate"]
    overall_rate = float(overall.iloc[0]) if len(overall) else np.nan
    pooled["overall_rate"] = overall_rate
    pooled["lift"] = pooled["rate"] / overall_rate if overall_rate > 0 else np.nan
    pooled["above_overall"] = pooled["low"] > overall_rate
    big = pooled["n_base"] >= min_base
    pooled["rank"] = np.nan
    pooled.loc[big, "rank"] = pooled[big].groupby("dimension")["rate"].rank(
        ascending=False, method="first")
    order = {"overall": 0}
    pooled["_d"] = pooled["dimension"].map(lambda d: order.get(d, 1))
    pooled = pooled.sort_values(["_d", "dimension", "rank", "segment"], na_position="last")
    return pooled.drop(columns="_d").reset_index(drop=True)


def _pct(x: float, digits: int = 1, language: str = "en") -> str:
    if x is None or not np.isfinite(x):
        return message("common.na", language)
    return f"{100 * x:.{digits}f}%"


def _ci(lo: float, hi: float, language: str = "en") -> str:
    return message("text.common.ci", language, low=_pct(lo, language=language),
                   high=_pct(hi, language=language))


_DIM_NAMES = {"business_line": "business line", "region": "region", "tier": "tier",
              "cohort": "signup cohort"}


def _dim_name(dim: str, language: str) -> str:
    if language == "en":
        return _DIM_NAMES.get(dim, dim)
    return label("dimension", dim, language)


def _segment(segment, language: str) -> str:
    """A segment's name; the placeholders ``(no tier)``, ``(missing)``, ... in ``language``."""
    return label("segment", segment, language) if isinstance(segment, str) else segment


def _sentences(parts: Sequence[str], language: str) -> str:
    """Sentences joined as each language writes them (a space in English, nothing in Chinese)."""
    return ("" if language == "zh" else " ").join(parts)


def describe_concentration(rates: pd.DataFrame, conc: pd.DataFrame,
                           tiers_available: bool = True, *, language: str = "en") -> str:
    """Sentences naming the peak month and, per dimension, the segment where churn is highest.

    Parameters
    ----------
    rates
        From :func:`churn_rates` (the overall rows name the peak month).
    conc
        From :func:`concentration`.
    tiers_available
        ``False`` adds a sentence saying the tier breakdown waits for stage 3's table.
    language
        ``zh`` or ``en`` (the message catalog's ``text.reasons.*``).
    """
    lang = check_language(language)
    overall = rates[rates["dimension"] == "overall"].sort_values("month")
    if overall.empty:
        return message("text.reasons.no_rate", lang)
    peak = overall.loc[overall["rate"].idxmax()]
    last = overall.iloc[-1]
    parts = [message("text.reasons.rate", lang, rate=_pct(last["rate"], language=lang),
                     month=last["month"], ci=_ci(last["low"], last["high"], lang),
                     n=int(last["n_churned"]), base=int(last["n_base"]),
                     first=overall["month"].iloc[0], peak=peak["month"],
                     peak_rate=_pct(peak["rate"], language=lang),
                     peak_ci=_ci(peak["low"], peak["high"], lang))]
    ref = conc[conc["dimension"] == "overall"]
    if not ref.empty:
        r = ref.iloc[0]
        parts.append(message("text.reasons.pooled", lang, months=r["months"],
                             rate=_pct(r["rate"], language=lang),
                             ci=_ci(r["low"], r["high"], lang)))
    for dim in [d for d in conc["dimension"].unique() if d != "overall"]:
        top = conc[(conc["dimension"] == dim) & (conc["rank"] == 1)]
        if top.empty:
            parts.append(message("text.reasons.no_rank", lang, dim=_dim_name(dim, lang)))
            continue
        t = top.iloc[0]
        verdict = message("text.reasons.above" if t["above_overall"] else
                          "text.reasons.overlaps", lang)
        text = message("text.reasons.highest", lang, dim=_dim_name(dim, lang),
                       segment=_segment(t["segment"], lang), rate=_pct(t["rate"], language=lang),
                       ci=_ci(t["low"], t["high"], lang), n=int(t["n_churned"]),
                       base=int(t["n_base"]), lift=t["lift"], verdict=verdict)
        clear = conc[(conc["dimension"] == dim) & conc["rank"].notna() & conc["above_overall"]
                     & (conc["segment"] != t["segment"])]
        if not t["above_overall"] and len(clear):
            c = clear.sort_values("rank").iloc[0]
            text += message("text.reasons.also_above", lang, segment=_segment(c["segment"], lang),
                            rate=_pct(c["rate"], language=lang),
                            ci=_ci(c["low"], c["high"], lang), base=int(c["n_base"]))
        parts.append(text + message("common.period", lang))
    if not tiers_available:
        parts.append(message("text.reasons.no_tiers", lang))
    return _sentences(parts, lang)


# --------------------------------------------------------------------------- reason evidence

def code_lookup(params: ReasonsParams) -> dict[str, str]:
    """Lower-cased spelling -> taxonomy code: each code, its zh and en labels and ``aliases``."""
    lookup: dict[str, str] = {}
    for code, item in params.taxonomy.items():
        for spelling in (code, item.zh, item.en):
            lookup[str(spelling).strip().lower()] = code
    for spelling, code in params.aliases.items():
        lookup[str(spelling).strip().lower()] = code
    return lookup


def _map_codes(values: pd.Series, lookup: Mapping[str, str], *, what: str,
               ids: pd.Series, on_unknown: str) -> pd.Series:
    """Client reason codes -> taxonomy codes (NA stays NA; unknown -> error or warning)."""
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    mapped = text.str.lower().map(lambda v: lookup.get(v, "\0") if isinstance(v, str) else v)
    bad = mapped == "\0"
    bad = bad.fillna(False).astype(bool)
    if bad.any():
        codes = sorted(set(text[bad].astype(str)))
        ex = ids[bad].astype(str).head(5).tolist()
        msg = (f"{what}: {int(bad.sum())} row(s) carry reason code(s) {codes[:10]} outside the "
               f"taxonomy (e.g. customers {ex}). Add them to params reasons.taxonomy, or map "
               "them in reasons.aliases (client code -> taxonomy code).")
        if on_unknown == "error":
            raise ReasonsError(msg)
        warnings.warn(msg + " They are ignored.", stacklevel=3)
        mapped = mapped.mask(bad)
    return mapped.astype("string")


def match_keywords(texts: pd.Series, params: ReasonsParams) -> pd.DataFrame:
    """The reason each text names by keyword rules.

    Chinese keywords match as substrings; English keywords as whole words
    (``\\b...\\b``), case-insensitively. ``hits`` counts the distinct keywords of a reason
    found in the text; the reason with the most hits wins, ties going to the reason listed
    first in the taxonomy.

    Parameters
    ----------
    texts
        Free text (NA allowed).
    params
        Supplies ``keywords`` and the taxonomy order.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``texts``: ``reason_code`` (NA when nothing matches) and ``hits``
        (0 when nothing matches).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    order = params.order
    codes_, uniq = pd.factorize(texts.astype("string"), use_na_sentinel=True)
    hits = np.zeros((len(uniq), len(order)), dtype=np.int64)
    if len(uniq):
        lower = pc.utf8_lower(pa.array(np.asarray(uniq, dtype=object), type=pa.large_string()))
        for j, code in enumerate(order):
            kw = params.keywords.get(code)
            if kw is None:
                continue
            for word in dict.fromkeys(w.strip().lower() for w in kw.zh if w.strip()):
                hits[:, j] += pc.match_substring(lower, word).to_numpy(zero_copy_only=False)
            for word in dict.fromkeys(w.strip().lower() for w in kw.en if w.strip()):
                pattern = ((r"\b" if re.match(r"\w", word[0]) else "") + re.escape(word)
                           + (r"\b" if re.match(r"\w", word[-1]) else ""))
                hits[:, j] += pc.match_substring_regex(lower, pattern).to_numpy(
                    zero_copy_only=False)
    best = hits.argmax(axis=1)
    top = hits[np.arange(len(uniq)), best]
    names = np.where(top > 0, np.array(order, dtype=object)[best], None)
    known = codes_ >= 0
    reason = np.full(len(texts), None, dtype=object)
    count = np.zeros(len(texts), dtype=np.int64)
    reason[known] = names[codes_[known]]
    count[known] = top[codes_[known]]
    return pd.DataFrame({"reason_code": pd.array(reason, dtype="string"), "hits": count},
                        index=texts.index)


_TAG = re.compile(r"#\s*([^\s#\[\]【】，。,;；:：!！?？]+)|[\[【]\s*([^\]】]+?)\s*[\]】]")


def _ticket_tags(texts: pd.Series, lookup: Mapping[str, str]) -> pd.Series:
    """The first tag of each text that names a taxonomy code (NA otherwise)."""

    def first(text) -> str | None:
        if not isinstance(text, str):
            return None
        for a, b in _TAG.findall(text):
            code = lookup.get((a or b).strip().lower())
            if code:
                return code
        return None

    uniq = pd.Series(texts.astype("string").dropna().unique(), dtype="string")
    table = {t: first(t) for t in uniq}
    return pd.Series([table.get(t) if isinstance(t, str) else None
                      for t in texts.astype("string").astype(object).where(texts.notna(), None)],
                     index=texts.index, dtype="string")


def _window(month: str, lookback_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = month_end(month) + pd.Timedelta(days=1)
    return end - pd.Timedelta(days=lookback_days), end


def _in_window(ts: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    t = pd.to_datetime(ts)
    return (t >= start) & (t < end)


EVIDENCE_COLUMNS = ["customer_id", "ts", "source", "reason_code", "hits"]


def collect_evidence(
    month: str,
    params: ReasonsParams,
    *,
    contact_outcomes: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
    interactions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every piece of reason evidence dated in the look-back window of ``month``.

    Parameters
    ----------
    month
        Run month ``YYYY-MM``; the window is ``(month end - lookback_days, month end]``.
    params
        The ``reasons`` section.
    contact_outcomes, surveys, interactions
        Store tables with canonical columns (``None`` when the source is absent).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, ts, source, reason_code, hits``: one row per source row naming a
        reason (``hits`` = keyword hits for ``keywords`` rows, 1 otherwise), sorted by
        customer, source, time.

    Raises
    ------
    ReasonsError
        A required column is missing, or (with ``unknown_code: error``) a reason code
        outside the taxonomy.
    """
    month = _check_month(month)
    start, end = _window(month, params.lookback_days)
    lookup = code_lookup(params)
    parts: list[pd.DataFrame] = []

    def add(frame: pd.DataFrame, ts: pd.Series, source: str, codes: pd.Series, hits=1) -> None:
        keep = codes.notna().to_numpy()
        if not keep.any():
            return
        parts.append(pd.DataFrame({
            "customer_id": frame["customer_id"].astype(str).to_numpy()[keep],
            "ts": pd.to_datetime(ts).to_numpy()[keep],
            "source": source,
            "reason_code": codes.to_numpy()[keep],
            "hits": np.broadcast_to(np.asarray(hits), (len(frame),))[keep],
        }))

    if contact_outcomes is not None and len(contact_outcomes):
        _require(contact_outcomes, ("customer_id", "contact_ts"), "contact_outcomes")
        co = contact_outcomes[_in_window(contact_outcomes["contact_ts"], start, end)]
        if "reason_code" in co and len(co):
            codes = _map_codes(co["reason_code"], lookup, what="contact_outcomes.reason_code",
                               ids=co["customer_id"], on_unknown=params.unknown_code)
            add(co, co["contact_ts"], "contact_outcomes", codes)
    sv = None
    if surveys is not None and len(surveys):
        _require(surveys, ("customer_id", "ts"), "surveys")
        sv = surveys[_in_window(surveys["ts"], start, end)]
        if "reason_code" in sv and len(sv):
            codes = _map_codes(sv["reason_code"], lookup, what="surveys.reason_code",
                               ids=sv["customer_id"], on_unknown=params.unknown_code)
            add(sv, sv["ts"], "surveys", codes)
    it = None
    if interactions is not None and len(interactions):
        _require(interactions, ("customer_id", "ts", "kind"), "interactions")
        it = interactions[_in_window(interactions["ts"], start, end)]
        tickets = it[it["kind"].astype(str).isin(params.ticket_kinds)]
        if len(tickets):
            tagged = pd.Series(pd.NA, index=tickets.index, dtype="string")
            for col in ("reason_code", "tag"):
                if col in tickets:
                    mapped = _map_codes(tickets[col], lookup, what=f"interactions.{col}",
                                        ids=tickets["customer_id"],
                                        on_unknown=params.unknown_code)
                    tagged = tagged.fillna(mapped)
            if "text" in tickets:
                tagged = tagged.fillna(_ticket_tags(tickets["text"], lookup))
            add(tickets, tickets["ts"], "tickets", tagged)
    texts = []
    if it is not None and "text" in it and len(it):
        scan = it[it["kind"].astype(str).isin(params.keyword_kinds)]
        if params.positive_score is not None and "score" in scan:
            score = pd.to_numeric(scan["score"], errors="coerce")
            scan = scan[~(score >= params.positive_score).fillna(False).to_numpy(bool)]
        texts.append(scan[["customer_id", "ts", "text"]])
    if params.keyword_surveys and sv is not None and "text" in sv and len(sv):
        scan = sv
        if params.positive_score is not None and "satisfaction" in scan:
            sat = pd.to_numeric(scan["satisfaction"], errors="coerce")
            scan = scan[~(sat >= params.positive_score).fillna(False).to_numpy(bool)]
        texts.append(scan[["customer_id", "ts", "text"]])
    texts = [t for t in texts if len(t)]
    if texts:
        allt = pd.concat(texts, ignore_index=True)
        found = match_keywords(allt["text"], params)
        add(allt, allt["ts"], "keywords", found["reason_code"], found["hits"].to_numpy())
    if not parts:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string"),
                             "ts": pd.Series(dtype="datetime64[us]"),
                             "source": pd.Series(dtype="string"),
                             "reason_code": pd.Series(dtype="string"),
                             "hits": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True)
    out["ts"] = out["ts"].astype("datetime64[us]")
    out["hits"] = out["hits"].astype("int64")
    for col in ("customer_id", "source", "reason_code"):
        out[col] = out[col].astype("string")
    rank = {s: i for i, s in enumerate(SOURCES)}
    out["_s"] = out["source"].map(rank)
    out = out.sort_values(["customer_id", "_s", "ts", "reason_code"], kind="stable")
    return out.drop(columns="_s").reset_index(drop=True)


def assign_reasons(
    customers: pd.DataFrame, evidence: pd.DataFrame, month: str, params: ReasonsParams,
) -> pd.DataFrame:
    """One reason per customer, from the highest-priority source with evidence.

    Parameters
    ----------
    customers
        ``customer_id, status``: the customers to explain (e.g. churned and at-risk).
    evidence
        From :func:`collect_evidence`.
    month
        Run month, written in the ``month`` column.
    params
        ``source_priority`` and the taxonomy order (tie-break).

    Returns
    -------
    pandas.DataFrame
        ``month, customer_id, status, reason_code, churn_type, source, evidence_count``,
        one row per customer in ``customers`` order; customers without evidence get
        ``reason_code == churn_type == "unknown"``, ``source == "none"`` and
        ``evidence_count == 0``.

    Notes
    -----
    Within the chosen source the code with the most evidence rows wins; ties go to the
    code with the latest evidence, then to taxonomy order.
    """
    month = _check_month(month)
    _require(customers, ("customer_id", "status"), "customers to explain")
    ids = customers["customer_id"].astype(str)
    if ids.duplicated().any():
        raise ReasonsError(f"assign_reasons: duplicate customer_id, e.g. "
                           f"{ids[ids.duplicated()].head(5).tolist()}.")
    ev = evidence[evidence["source"].isin(params.source_priority)
                  & isin(evidence["customer_id"], ids)]
    chosen = pd.DataFrame(columns=["customer_id", "reason_code", "source", "evidence_count"])
    if len(ev):
        prio = {s: i for i, s in enumerate(params.source_priority)}
        taxo = {c: i for i, c in enumerate(params.order)}
        ev = ev.assign(_p=ev["source"].map(prio).astype(int))
        first = ev.groupby("customer_id")["_p"].transform("min")
        ev = ev[ev["_p"] == first]
        per = ev.groupby(["customer_id", "source", "reason_code"], sort=False).agg(
            evidence_count=("ts", "size"), latest=("ts", "max")).reset_index()
        per["_t"] = per["reason_code"].map(taxo).astype(int)
        per = per.sort_values(["customer_id", "evidence_count", "latest", "_t"],
                              ascending=[True, False, False, True], kind="stable")
        chosen = per.drop_duplicates("customer_id")[
            ["customer_id", "reason_code", "source", "evidence_count"]]
    out = pd.DataFrame({"month": month, "customer_id": ids.to_numpy(),
                        "status": customers["status"].astype(str).to_numpy()})
    out = out.merge(chosen, on="customer_id", how="left")
    out["reason_code"] = out["reason_code"].astype("string").fillna(UNKNOWN)
    out["source"] = out["source"].astype("string").fillna("none")
    out["evidence_count"] = out["evidence_count"].fillna(0).astype("int64")
    types = {code: params.churn_type(code) for code in out["reason_code"].unique()}
    out["churn_type"] = out["reason_code"].map(types).astype("string")
    return out[list(REASON_COLUMNS)]


def reason_coverage(reasons: pd.DataFrame, evidence: pd.DataFrame, *,
                    statuses: Sequence[str] = ("churned",), confidence: float = 0.95
                    ) -> pd.DataFrame:
    """Share of customers with a known reason, by source, with Wilson intervals.

    Parameters
    ----------
    reasons
        From :func:`assign_reasons`.
    evidence
        From :func:`collect_evidence`.
    statuses
        The customers counted (default: churned).

    Returns
    -------
    pandas.DataFrame
        One row per source plus ``any``: ``source, n_customers, assigned`` (customers
        whose reason came from the source; these add up to ``any``), ``share, low, high``,
        ``available`` (customers with any evidence from the source, overlapping),
        ``available_share, available_low, available_high``.
    """
    who = reasons[reasons["status"].isin(statuses)]
    n = len(who)
    ev = evidence[isin(evidence["customer_id"], who["customer_id"].astype(str))]
    rows = []
    for source in SOURCES:
        rows.append({"source": source, "n_customers": n,
                     "assigned": int((who["source"] == source).sum()),
                     "available": int(ev.loc[ev["source"] == source, "customer_id"].nunique())})
    rows.append({"source": "any", "n_customers": n,
                 "assigned": int((who["reason_code"] != UNKNOWN).sum()),
                 "available": int(ev["customer_id"].nunique())})
    out = pd.DataFrame(rows)
    out["share"] = out["assigned"] / n if n else np.nan
    out["low"], out["high"] = wilson_interval(out["assigned"].to_numpy(), np.full(len(out), n),
                                              confidence)
    out["available_share"] = out["available"] / n if n else np.nan
    out["available_low"], out["available_high"] = wilson_interval(
        out["available"].to_numpy(), np.full(len(out), n), confidence)
    return out


def reason_mix(
    reasons: pd.DataFrame,
    params: ReasonsParams,
    *,
    by: str | Sequence[str] | None = None,
    statuses: Sequence[str] = ("churned",),
    include_unknown: bool = False,
    language: str = "en",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Reason shares among customers with a known reason (optionally by segment).

    Parameters
    ----------
    reasons
        From :func:`assign_reasons` (extra segment columns allowed for ``by``).
    by
        Column(s) to break the mix down by (e.g. ``"churn_type"``, ``"business_line"``).
    statuses
        Customers counted.
    include_unknown
        Count ``unknown`` as a reason (shares then add up over everyone).

    Returns
    -------
    pandas.DataFrame
        ``[by..., ] reason_code, label, churn_type, n, total, share, low, high``, sorted by
        group and descending share.
    """
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    data = reasons[reasons["status"].isin(statuses)]
    if not include_unknown:
        data = data[data["reason_code"] != UNKNOWN]
    if data.empty:
        cols = [*keys, "reason_code", "label", "churn_type", "n", "total", "share", "low",
                "high"]
        return pd.DataFrame(columns=cols)
    counts = data.groupby([*keys, "reason_code"], sort=False, dropna=False).size()
    counts = counts.rename("n").reset_index()
    if keys:
        counts["total"] = counts.groupby(keys, dropna=False)["n"].transform("sum")
    else:
        counts["total"] = counts["n"].sum()
    counts["share"] = counts["n"] / counts["total"]
    counts["low"], counts["high"] = wilson_interval(counts["n"].to_numpy(),
                                                    counts["total"].to_numpy(), confidence)
    counts["label"] = counts["reason_code"].map(lambda c: params.label(c, language))
    if "churn_type" not in keys:
        counts["churn_type"] = counts["reason_code"].map(params.churn_type)
    taxo = {c: i for i, c in enumerate([*params.order, UNKNOWN])}
    counts["_t"] = counts["reason_code"].map(taxo)
    counts = counts.sort_values([*keys, "n", "_t"], ascending=[True] * len(keys) + [False, True])
    cols = [*keys, "reason_code", "label", "churn_type", "n", "total", "share", "low", "high"]
    return counts[list(dict.fromkeys(cols))].reset_index(drop=True)


def distinctive_reasons(mix_by: pd.DataFrame, mix: pd.DataFrame, by: str, *,
                        min_count: int = 5) -> pd.DataFrame:
    """Reasons over-represented in a segment: the segment's interval lies above the overall share.

    Parameters
    ----------
    mix_by
        :func:`reason_mix` with ``by=by``.
    mix
        :func:`reason_mix` over everyone (the reference shares).
    min_count
        Ignore segment-reason cells with fewer customers.

    Returns
    -------
    pandas.DataFrame
        ``by, reason_code, label, n, total, share, low, high, overall_share, lift``, sorted
        by lift (largest first).
    """
    ref = mix.set_index("reason_code")["share"]
    out = mix_by.assign(overall_share=mix_by["reason_code"].map(ref).astype(float))
    out = out[(out["n"] >= min_count) & (out["low"] > out["overall_share"])]
    out = out.assign(lift=out["share"] / out["overall_share"])
    cols = [by, "reason_code", "label", "n", "total", "share", "low", "high", "overall_share",
            "lift"]
    out = out.sort_values("lift", ascending=False)[cols].reset_index(drop=True)
    out.attrs["segments"] = sorted(map(str, mix_by[by].unique())) if len(mix_by) else []
    return out


def describe_distinctive(distinct: pd.DataFrame, by: str, *, top: int = 3,
                         language: str = "en") -> str:
    """Sentence naming the segments whose reason mix stands out (from :func:`distinctive_reasons`).

    The reason names are the ``label`` column of ``distinct`` (``reason_mix(...,
    language=...)`` names them); ``language`` (``zh`` or ``en``) words the sentence.
    """
    lang = check_language(language)
    name = _dim_name(by, lang)
    if distinct.attrs.get("segments") == [NO_TIERS]:
        return message("text.reasons.distinct_no_tiers", lang, dim=name)
    if distinct.empty:
        return message("text.reasons.distinct_none", lang, dim=name)
    items = [message("text.reasons.distinct_item", lang, segment=_segment(r[by], lang),
                     label=r["label"],
                     share=_pct(r["share"], language=lang), ci=_ci(r["low"], r["high"], lang),
                     n=int(r["n"]), total=int(r["total"]),
                     overall=_pct(r["overall_share"], language=lang))
             for _, r in distinct.head(top).iterrows()]
    return message("text.reasons.distinct", lang, dim=name,
                   items=message("common.clause_sep", lang).join(items))


def top_reason(reasons: pd.DataFrame, params: ReasonsParams, *,
               statuses: Sequence[str] = ("churned",)) -> str:
    """The most frequent known reason (ties: taxonomy order); ``unknown`` when none is known."""
    mix = reason_mix(reasons, params, statuses=statuses)
    return UNKNOWN if mix.empty else str(mix["reason_code"].iloc[0])


def reason_trend(history: pd.DataFrame | None, transitions: pd.DataFrame,
                 params: ReasonsParams, *, current: pd.DataFrame | None = None,
                 by_type: bool = False) -> pd.DataFrame:
    """Reason mix of the customers newly churned each month.

    A customer newly churned in month ``m`` (:func:`churn_transitions`) takes the reason
    month ``m``'s run stored for them (``history``); when that month was not run with
    stage 2, the reason the run month assigns them (``current``, if they are still churned
    or at risk). So the trend is available from the first run and firms up as months run.

    Parameters
    ----------
    history
        The store's ``reasons`` table of earlier months (``None`` when there is none).
    transitions
        From :func:`churn_transitions`.
    current
        The run month's reasons (from :func:`assign_reasons`); they replace any stored
        rows of the run month.
    by_type
        Mix of churn types (active / passive) instead of reason codes.

    Returns
    -------
    pandas.DataFrame
        ``month, reason_code (or churn_type), n, total, share, low, high``: shares among the
        newly churned of each month with a known reason.
    """
    data = _trend_data(history, transitions, current)
    return _trend_counts(data, "churn_type" if by_type else "reason_code")


def reason_trends(history: pd.DataFrame | None, transitions: pd.DataFrame,
                  params: ReasonsParams, *, current: pd.DataFrame | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`reason_trend` by churn type and by reason code, matching the customers once.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(reason_trend(..., by_type=True), reason_trend(...))``.
    """
    data = _trend_data(history, transitions, current)
    return _trend_counts(data, "churn_type"), _trend_counts(data, "reason_code")


def _trend_data(history: pd.DataFrame | None, transitions: pd.DataFrame,
                current: pd.DataFrame | None) -> pd.DataFrame:
    """The newly churned of each month with their reason (known reasons only)."""
    cols = ["month", "customer_id", "reason_code", "churn_type"]
    new = transitions.loc[transitions["churned"], ["month", "customer_id"]].copy()
    new["month"] = new["month"].astype(str)
    new["customer_id"] = new["customer_id"].astype(str)
    stored = pd.DataFrame(columns=cols)
    if history is not None and len(history):
        stored = history[cols].astype({"month": str, "customer_id": str})
        if current is not None:
            stored = stored[~stored["month"].isin(set(current["month"].astype(str)))]
    if current is not None and len(current):
        stored = pd.concat([stored, current[cols].astype({"month": str, "customer_id": str})],
                           ignore_index=True)
    data = new.merge(stored, on=["month", "customer_id"], how="left")
    if current is not None and len(current):
        now = current[["customer_id", "reason_code", "churn_type"]].astype({"customer_id": str})
        fill = data[["customer_id"]].merge(now, on="customer_id", how="left")
        for col in ("reason_code", "churn_type"):
            data[col] = data[col].astype(object).where(data[col].notna(),
                                                       fill[col].astype(object))
    return data[data["reason_code"].notna() & (data["reason_code"] != UNKNOWN)]


def _trend_counts(data: pd.DataFrame, key: str) -> pd.DataFrame:
    """Counts, shares and Wilson intervals of ``key`` per month in :func:`_trend_data`."""
    if data.empty:
        return pd.DataFrame(columns=["month", key, "n", "total", "share", "low", "high"])
    counts = data.groupby(["month", key]).size().rename("n").reset_index()
    counts["total"] = counts.groupby("month")["n"].transform("sum")
    counts["share"] = counts["n"] / counts["total"]
    counts["low"], counts["high"] = wilson_interval(counts["n"].to_numpy(),
                                                    counts["total"].to_numpy())
    return counts.sort_values(["month", "n"], ascending=[True, False]).reset_index(drop=True)


def describe_reasons(reasons: pd.DataFrame, coverage: pd.DataFrame, params: ReasonsParams, *,
                     statuses: Sequence[str] = ("churned",), language: str = "en") -> str:
    """Sentences naming coverage, the top reasons and the active/passive split, in ``language``."""
    lang = check_language(language)
    cov = coverage.set_index("source")
    anyrow = cov.loc["any"]
    n = int(anyrow["n_customers"])
    if n == 0:
        return message("text.reasons.none_to_explain", lang)
    parts = [message("text.reasons.known", lang, k=int(anyrow["assigned"]), n=n,
                     share=_pct(anyrow["share"], language=lang),
                     ci=_ci(anyrow["low"], anyrow["high"], lang))]
    src = cov.drop(index="any")
    src = src[src["assigned"] > 0].sort_values("assigned", ascending=False)
    sep = message("text.common.comma", lang)
    if len(src):
        parts.append(message("text.reasons.by_source", lang, items=sep.join(
            f"{label('evidence', s, lang)} {_pct(r['share'], language=lang)}"
            for s, r in src.iterrows())))
    mix = reason_mix(reasons, params, statuses=statuses, language=lang)
    if mix.empty:
        return _sentences(parts, lang)
    tops = mix.head(3)
    parts.append(message("text.reasons.top", lang, items=message("common.clause_sep", lang).join(
        f"{r.label if lang == 'zh' else f'{r.label} ({r.reason_code})'} "
        f"{_pct(r.share, language=lang)} ({_ci(r.low, r.high, lang)})"
        for r in tops.itertuples())))
    types = reason_mix(reasons.assign(reason_code=reasons["churn_type"]), params,
                       statuses=statuses)
    types = types[types["reason_code"].isin(["active", "passive"])]
    if len(types):
        parts.append(message("text.reasons.types", lang, items=sep.join(
            f"{label('churn_type', r.reason_code, lang)} {_pct(r.share, language=lang)} "
            f"({_ci(r.low, r.high, lang)})" for r in types.itertuples())))
    return _sentences(parts, lang)


def key_figures(rates: pd.DataFrame, coverage: pd.DataFrame, reasons: pd.DataFrame,
                params: ReasonsParams, *, statuses: Sequence[str] = ("churned",)) -> dict:
    """The stage's headline numbers as plain data (for the report and the run's JSON).

    Returns
    -------
    dict
        ``churn_rate`` (latest month: month, rate, low, high, n_base, n_churned),
        ``coverage`` (share, low, high, n), ``top_reason`` (code, label_zh, label_en,
        share, low, high, churn_type), ``reason_mix`` (code -> share) and
        ``churn_type_mix`` (type -> share) among churned customers with a known reason.
    """
    overall = rates[rates["dimension"] == "overall"].sort_values("month")
    out: dict = {"churn_rate": None}
    if len(overall):
        r = overall.iloc[-1]
        out["churn_rate"] = {"month": str(r["month"]), "rate": float(r["rate"]),
                             "low": float(r["low"]), "high": float(r["high"]),
                             "n_base": int(r["n_base"]), "n_churned": int(r["n_churned"])}
    c = coverage.set_index("source").loc["any"]
    out["coverage"] = {"share": float(c["share"]), "low": float(c["low"]),
                       "high": float(c["high"]), "n": int(c["n_customers"])}
    mix = reason_mix(reasons, params, statuses=statuses)
    out["top_reason"] = None
    if len(mix):
        t = mix.iloc[0]
        out["top_reason"] = {"code": str(t["reason_code"]),
                             "label_zh": params.label(t["reason_code"], "zh"),
                             "label_en": params.label(t["reason_code"], "en"),
                             "share": float(t["share"]), "low": float(t["low"]),
                             "high": float(t["high"]), "churn_type": str(t["churn_type"])}
    out["reason_mix"] = {str(k): float(v) for k, v in zip(mix["reason_code"], mix["share"],
                                                         strict=True)}
    known = reasons[reasons["status"].isin(statuses) & (reasons["reason_code"] != UNKNOWN)]
    out["churn_type_mix"] = {str(k): float(v) for k, v in
                             known["churn_type"].value_counts(normalize=True).items()}
    return out


# --------------------------------------------------------------------------- drivers

def discount_share(con, month: str, *, days: int = 365) -> pd.DataFrame:
    """Share of each customer's purchases with a discount over the ``days`` before month end.

    A purchase is a transaction with ``amount > 0`` that is not a return; it is discounted
    when ``discount > 0``. Computed in DuckDB over the store's ``transactions``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, discount_share_365`` (customers with a purchase in the window; NaN
        shares for everyone when the transactions carry no ``discount`` column).
    """
    month = _check_month(month)
    end = month_end(month) + pd.Timedelta(days=1)
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'transactions'"
    ).fetchall()}
    if not cols:
        raise ReasonsError("The store has no table 'transactions': run stage 1 first.")
    ret = "coalesce(is_return, false) OR " if "is_return" in cols else ""
    disc = ("count(*) FILTER (WHERE discount > 0)::DOUBLE / count(*)" if "discount" in cols
            else "CAST(NULL AS DOUBLE)")
    return fetch_df(con,
        f"""SELECT CAST(customer_id AS VARCHAR) AS customer_id, {disc} AS discount_share_365
        FROM transactions
        WHERE order_ts >= $start AND order_ts < $end AND amount > 0 AND NOT ({ret}false)
        GROUP BY 1 ORDER BY 1""",
        {"start": end - pd.Timedelta(days=days), "end": end},
    )


def driver_frame(transitions: pd.DataFrame, snapshots: Mapping[str, pd.DataFrame], *,
                 indicators: Sequence[str], months: int = 6) -> pd.DataFrame:
    """The pooled design of the driver regression: base customers at ``m-1`` and their outcome.

    Parameters
    ----------
    transitions
        From :func:`churn_transitions`.
    snapshots
        Snapshot (with any extra indicator columns) by month ``YYYY-MM``; the snapshot of
        ``m-1`` describes the customers of transition month ``m``.
    indicators
        Columns taken from the snapshots (missing columns raise).
    months
        Use the last ``months`` transition months that have a previous-month snapshot.

    Returns
    -------
    pandas.DataFrame
        ``month, customer_id, churned, <indicators>``.
    """
    usable = _usable_months(transitions, snapshots, months)
    parts = []
    for m in usable:
        snap = snapshots[_prev_month(m)]
        missing = [c for c in indicators if c not in snap]
        if missing:
            raise ReasonsError(
                f"The snapshot of {_prev_month(m)} lacks indicator column(s) {missing}; remove "
                "them from params reasons.drivers.indicators or rebuild the snapshots.")
        x = snap[["customer_id", *indicators]].copy()
        x["customer_id"] = x["customer_id"].astype(str)
        t = transitions.loc[transitions["month"] == m, ["month", "customer_id", "churned"]]
        parts.append(t.merge(x, on="customer_id", how="left"))
    return pd.concat(parts, ignore_index=True)


def _discount_counts(con, months: Sequence[str], *, days: int = 365
                     ) -> tuple[str, dict, str]:
    """SQL (a CTE body) of :func:`discount_share` for several months in one pass.

    One row per customer with a purchase in any of the windows: ``customer_id`` and, per
    month ``i`` of ``months``, ``n_i`` purchases and ``d_i`` discounted purchases in the
    ``days`` before that month's end. Returns the SQL, its named arguments and the share's
    expression for month ``{i}`` (NULL without a purchase in the window, as
    :func:`discount_share` leaves such customers out).
    """
    cols = set(table_columns(con, "transactions"))
    if not cols:
        raise ReasonsError("The store has no table 'transactions': run stage 1 first.")
    ret = "coalesce(is_return, false) OR " if "is_return" in cols else ""
    args: dict = {}
    counts = []
    for i, m in enumerate(months):
        end = month_end(_check_month(m)) + pd.Timedelta(days=1)
        args[f"s{i}"], args[f"e{i}"] = end - pd.Timedelta(days=days), end
        window = f"order_ts >= $s{i} AND order_ts < $e{i}"
        disc = " AND discount > 0" if "discount" in cols else ""
        counts.append(f"count(*) FILTER (WHERE {window}) AS n{i}, "
                      f"count(*) FILTER (WHERE {window}{disc}) AS d{i}")
    args["s_min"] = min(args[f"s{i}"] for i in range(len(months)))
    args["e_max"] = max(args[f"e{i}"] for i in range(len(months)))
    sql = (f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, {', '.join(counts)} "
           "FROM transactions WHERE order_ts >= $s_min AND order_ts < $e_max AND amount > 0 "
           f"AND NOT ({ret}false) GROUP BY 1")
    share = ("CASE WHEN n{i} > 0 THEN d{i}::DOUBLE / n{i} END" if "discount" in cols
             else "CAST(NULL AS DOUBLE)")
    return sql, args, share


def _driver_frame_by_lookup(con, transitions: pd.DataFrame, snap_months: set[str],
                            indicators: Sequence[str], months: int) -> pd.DataFrame | None:
    """:func:`store_driver_frame` from transitions in memory (None: repeated snapshot rows).

    The transition rows of the usable months go to DuckDB as Arrow (no second read of
    ``churn_status``); their previous-month snapshot values (and discount counts) come
    back in the rows' own order.
    """
    import pyarrow as pa

    _require(transitions, ("month", "customer_id", "churned"), "transitions")
    usable = _usable_months(transitions, snap_months, months)
    prevs = [_prev_month(m) for m in usable]
    rows = np.flatnonzero(transitions["month"].isin(usable).to_numpy(dtype=bool))
    # only the three columns are taken, and text stays text (no round trip through objects)
    t = transitions[["month", "customer_id", "churned"]].iloc[rows]
    frame = pd.DataFrame({"month": t["month"].astype("str").array,
                          "customer_id": t["customer_id"].astype("str").array,
                          "churned": t["churned"].to_numpy()})
    computed = {"discount_share_365"}
    with_disc = bool(computed & set(indicators)) and "discount" in table_columns(con,
                                                                                "transactions")
    args: dict = {}
    disc_cte, share_of = "", ""
    if with_disc:
        disc_sql, args, share = _discount_counts(con, prevs)
        disc_cte = f", d AS ({disc_sql})"
        share_of = " ".join(f"WHEN '{p}' THEN {share.format(i=i)}" for i, p in enumerate(prevs))
    select = []
    for c in indicators:
        if c not in computed:
            select.append(f'sn."{c}"')
        elif with_disc:
            select.append(f'(CASE WHEN sn.customer_id IS NULL THEN NULL '
                          f'ELSE (CASE t.prev_month {share_of} END) END) AS "{c}"')
        else:  # no discount column: no share, as discount_share says
            select.append(f'CAST(NULL AS DOUBLE) AS "{c}"')
    codes, uniques = pd.factorize(t["month"])  # a few months: each mapped once
    prev_of = pa.DictionaryArray.from_arrays(
        pa.array(codes, type=pa.int32()), pa.array([_prev_month(m) for m in uniques],
                                                   type=pa.string())).cast(pa.string())
    keys = pa.table({
        "_row": pa.array(np.arange(len(t), dtype=np.int64)),
        "prev_month": prev_of,
        "customer_id": pa.array(t["customer_id"], from_pandas=True).cast(pa.string()),
    })
    join = ("LEFT JOIN d ON d.customer_id = t.customer_id" if with_disc else "")
    con.register("_driver_rows", keys)
    try:
        values = fetch_df(con, f"""
            WITH t AS (SELECT * FROM _driver_rows){disc_cte}
            SELECT {', '.join(select)}
            FROM t LEFT JOIN snapshots sn ON sn.month = t.prev_month
                AND CAST(sn.customer_id AS VARCHAR) = t.customer_id
            {join}
            ORDER BY t._row""", args)
    finally:
        con.unregister("_driver_rows")
    if len(values) != len(frame):
        return None  # a customer repeats in a snapshot month: the join in DuckDB repeats rows
    for c in indicators:
        frame[c] = values[c].to_numpy()
    return frame


def store_driver_frame(con, month: str, params: ReasonsParams, *,
                       transitions: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`driver_frame` computed from the store.

    The same frame as ``driver_frame(transitions, snapshots, ...)`` on the transitions of
    :func:`store_transitions` and the snapshots (with :func:`discount_share`) of the
    ``drivers.months + 1`` months before ``month``: the transitions of the last
    ``params.drivers.months`` months (up to ``month``) whose previous month has a
    snapshot, each base customer with the indicators ``params.drivers.indicators`` of
    their previous-month snapshot (``discount_share_365`` computed from the
    transactions, every month's window in one pass), ordered by month and customer.

    With ``transitions`` (:func:`store_transitions` of ``month``, already read) the
    snapshots are read once and looked up by customer in each month; without, the
    transitions and the join are one DuckDB query.

    Returns
    -------
    pandas.DataFrame
        ``month, customer_id, churned, <indicators>``.

    Raises
    ------
    ReasonsError
        No transition month with a previous-month snapshot, or indicators the snapshots
        lack.
    """
    from winback.store import has_table, table_months

    month = _check_month(month)
    drivers, trend = params.drivers, params.trend
    if not has_table(con, "churn_status"):
        raise ReasonsError("The store has no table 'churn_status': run stage 1 (data collection "
                           "and churn definition) for this month first.")
    first = str(pd.Period(month, "M") - drivers.months - 1)
    snap_months = {m for m in table_months(con, "snapshots") if first <= m <= month}
    status_months = set(table_months(con, "churn_status"))
    pairs = [(m, _prev_month(m)) for m in sorted(status_months) if m <= month
             and _prev_month(m) in status_months and _prev_month(m) in snap_months]
    if not pairs:
        raise ReasonsError(
            "No transition month has the previous month's snapshot in the store: run stage 1 "
            "for two consecutive months first.")
    snap_cols = set(table_columns(con, "snapshots"))
    computed = {"discount_share_365"}
    missing = [c for c in drivers.indicators if c not in snap_cols and c not in computed]
    if missing:
        raise ReasonsError(
            f"The store's snapshots lack indicator column(s) {missing}; remove them from "
            "params reasons.drivers.indicators or rebuild the snapshots.")
    if transitions is not None:
        frame = _driver_frame_by_lookup(con, transitions, snap_months, drivers.indicators,
                                        drivers.months)
        if frame is not None:
            return frame
    prevs = sorted({p for _, p in pairs})
    disc_sql, args, share = _discount_counts(con, prevs)
    share_of = " ".join(f"WHEN '{p}' THEN {share.format(i=i)}" for i, p in enumerate(prevs))
    select = []
    for c in drivers.indicators:
        if c in computed:
            select.append(f'(CASE WHEN sn.customer_id IS NULL THEN NULL '
                          f'ELSE (CASE t.prev_month {share_of} END) END) AS "{c}"')
        else:
            select.append(f'sn."{c}"')
    values = ", ".join(f"('{m}', '{p}')" for m, p in pairs)
    sql = f"""
        WITH pairs(month, prev_month) AS (VALUES {values}),
        s AS (
            SELECT CAST(month AS VARCHAR) AS month, CAST(customer_id AS VARCHAR) AS customer_id,
                   CAST(status AS VARCHAR) AS status
            FROM churn_status WHERE month IN (SELECT month FROM pairs UNION
                                              SELECT prev_month FROM pairs)),
        t0 AS (
            SELECT p.month, p.prev_month, b.customer_id,
                   n.status IN ({_in_list(trend.churn_statuses)}) AS churned
            FROM pairs p JOIN s b ON b.month = p.prev_month
            JOIN s n ON n.month = p.month AND n.customer_id = b.customer_id
            WHERE b.status IN ({_in_list(trend.base_statuses)})),
        t AS (
            SELECT * FROM t0 WHERE month IN (
                SELECT DISTINCT month FROM t0 ORDER BY month DESC LIMIT {int(drivers.months)})),
        d AS ({disc_sql})
        SELECT t.month, t.customer_id, t.churned{''.join(', ' + c for c in select)}
        FROM t LEFT JOIN snapshots sn ON sn.month = t.prev_month
            AND CAST(sn.customer_id AS VARCHAR) = t.customer_id
        LEFT JOIN d ON d.customer_id = t.customer_id
        ORDER BY t.month, t.customer_id"""
    frame = fetch_df(con, sql, args)
    frame["churned"] = frame["churned"].astype(bool)
    return frame


def _firth_logit(X: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-8
                 ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Firth's bias-reduced logistic regression (Firth 1993; Heinze & Schemper 2002).

    Newton steps on the penalized log-likelihood ``l(b) + 0.5 log|X'WX|`` with step
    halving; returns coefficients, their covariance ``(X'WX)^-1`` and convergence.
    """
    beta = np.zeros(X.shape[1])

    def penalized(b):
        eta = X @ b
        p = 1 / (1 + np.exp(-eta))
        w = np.clip(p * (1 - p), 1e-12, None)
        info = X.T @ (X * w[:, None])
        sign, logdet = np.linalg.slogdet(info)
        ll = np.sum(y * eta - np.logaddexp(0, eta))
        return ll + 0.5 * logdet, p, w, info

    value, p, w, info = penalized(beta)
    converged = False
    for _ in range(max_iter):
        inv = np.linalg.pinv(info)
        h = w * np.einsum("ij,jk,ik->i", X, inv, X)
        score = X.T @ (y - p + h * (0.5 - p))
        step = inv @ score
        factor = 1.0
        while True:
            new = beta + factor * step
            nvalue, np_, nw, ninfo = penalized(new)
            if nvalue >= value - 1e-12 or factor < 1e-6:
                break
            factor /= 2
        beta, value, p, w, info = new, nvalue, np_, nw, ninfo
        if np.max(np.abs(factor * step)) < tol:
            converged = True
            break
    return beta, np.linalg.pinv(info), converged


def _logit_pass(X: np.ndarray, y: np.ndarray, beta: np.ndarray, *, chunk: int = 1 << 14
                ) -> tuple[np.ndarray, np.ndarray]:
    """Score ``X'(y - p)`` and information ``X'WX`` of the logit at ``beta``, in row blocks.

    ``p = 1 / (1 + exp(-X beta))`` and ``W = p (1 - p)``, as statsmodels' Logit computes
    them; the blocks keep the temporaries small (``chunk`` rows at a time).
    """
    k = X.shape[1]
    score = np.zeros(k)
    info = np.zeros((k, k))
    with np.errstate(over="ignore"):
        for start in range(0, len(X), chunk):
            x = X[start:start + chunk]
            p = 1 / (1 + np.exp(-(x @ beta)))
            score += x.T @ (y[start:start + chunk] - p)
            info += (x.T * (p * (1 - p))) @ x
    return score, info


def _logit_mle(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, *,
               max_iter: int = 200, tol: float = 1e-8
               ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum-likelihood logistic regression by Newton's method with the analytic Hessian.

    The steps, start (zeros), stopping rule (every coefficient moves by at most ``tol``),
    ridge (``1e-10`` on the Hessian's diagonal) and iteration limit of statsmodels'
    ``Logit.fit(method="newton")``; the covariance is statsmodels' too: the inverse
    information, or with ``groups`` (integer cluster codes ``0..G-1``) the cluster-robust
    sandwich (CRV1) with the small-sample factor ``G / (G - 1) * (n - 1) / (n - k)``.

    Returns
    -------
    tuple
        Coefficients, their covariance and whether the iterations converged.

    Raises
    ------
    numpy.linalg.LinAlgError
        A singular Hessian (e.g. perfect separation).
    """
    n, k = X.shape
    y = np.asarray(y, dtype=float)
    old = np.full(k, np.inf)
    beta = np.zeros(k)
    iterations = 0
    while iterations < max_iter and np.any(np.abs(beta - old) > tol):
        score, info = _logit_pass(X, y, beta)
        hessian = -info
        hessian[np.diag_indices(k)] += 1e-10
        old = beta
        beta = old - np.linalg.solve(hessian, score)
        iterations += 1
    converged = iterations < max_iter
    _, info = _logit_pass(X, y, beta)
    bread = np.linalg.inv(-info)
    if groups is None:
        return beta, -bread, converged
    n_groups = int(groups.max()) + 1
    with np.errstate(over="ignore"):
        resid = y - 1 / (1 + np.exp(-(X @ beta)))
    sums = np.empty((n_groups, k))
    for j in range(k):  # per-customer sums of the observations' scores
        sums[:, j] = np.bincount(groups, weights=X[:, j] * resid, minlength=n_groups)
    cov = bread @ (sums.T @ sums) @ bread.T
    cov *= n_groups / (n_groups - 1.0) * ((n - 1.0) / float(n - k))
    return beta, cov, converged


class ChurnDrivers:
    """Logistic regression of churn on standardized indicators, robust to separation.

    Parameters
    ----------
    indicators
        Numeric columns of the design frame to use (in order; earlier ones are kept when
        two are nearly collinear).
    log1p
        Indicators transformed with ``log(1 + max(x, 0))`` before standardizing (skewed
        amounts and counts).
    max_corr
        Drop an indicator whose absolute correlation with an earlier kept one exceeds this.
    max_vif
        Then drop, one at a time, the indicator with the largest variance inflation factor
        while it exceeds this (collinearity with a combination of the others).
    max_abs_coef
        A maximum-likelihood coefficient (per standard deviation) beyond this, or a fit
        that does not converge, is taken as separation: the model is refitted with Firth's
        penalized likelihood.
    confidence
        Coverage of the odds-ratio intervals.

    Attributes
    ----------
    used_ : list of str
        Indicators in the model.
    dropped_ : pandas.DataFrame
        ``indicator, reason`` of the indicators left out (constant, collinear, all missing).
    imputed_ : dict
        Indicator -> number of missing values replaced by the median.
    method_ : str
        ``"mle"`` (maximum likelihood as statsmodels' Logit fits it, standard errors
        clustered by customer) or ``"firth"``.
    params_, standard_errors_ : pandas.Series
        Coefficients per standard deviation (``const`` first) and their standard errors.
    n_obs_, n_events_, n_clusters_ : int
    """

    def __init__(self, indicators: Sequence[str] = tuple(DEFAULT_INDICATORS), *,
                 log1p: Sequence[str] = (), max_corr: float = 0.95, max_vif: float = 10.0,
                 max_abs_coef: float = 8.0, confidence: float = 0.95):
        self.indicators = list(indicators)
        self.log1p = list(log1p)
        self.max_corr = max_corr
        self.max_vif = max_vif
        self.max_abs_coef = max_abs_coef
        self.confidence = confidence

    @classmethod
    def from_params(cls, params: DriversParams) -> ChurnDrivers:
        return cls(params.indicators, log1p=params.log1p, max_corr=params.max_corr,
                   max_vif=params.max_vif, max_abs_coef=params.max_abs_coef)

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"ChurnDrivers(indicators={len(self.indicators)}, not fitted)"
        return (f"ChurnDrivers(method={self.method_!r}, n_obs={self.n_obs_}, "
                f"n_events={self.n_events_}, used={len(self.used_)}, "
                f"dropped={len(self.dropped_)})")

    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self._columns(frame), index=frame.index)

    def _columns(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The indicators as float arrays (``log1p`` applied, missing values NaN)."""
        missing = [c for c in self.indicators if c not in frame]
        if missing:
            raise ReasonsError(f"ChurnDrivers: the design frame lacks {missing}.")
        cols = {}
        for col in self.indicators:
            values = frame[col]
            if pd.api.types.is_numeric_dtype(values.dtype):
                x = values.to_numpy(dtype=float, na_value=np.nan)
            else:
                x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if col in self.log1p:
                x = np.log1p(np.where(x < 0, 0.0, x))  # log(1 + max(x, 0)), missing kept
            cols[col] = x
        return cols

    def fit(self, frame: pd.DataFrame, *, y: str = "churned", groups: str | None = "customer_id"
            ) -> ChurnDrivers:
        """Fit on ``frame`` (one row per customer-month) with outcome column ``y`` (bool/0-1)."""
        if y not in frame:
            raise ReasonsError(f"ChurnDrivers.fit: no outcome column {y!r}.")
        target = frame[y].astype(float).to_numpy()
        n_events = int(target.sum())
        if n_events == 0 or n_events == len(target):
            raise ReasonsError(
                f"ChurnDrivers.fit: {n_events} churn events in {len(target)} customer-months; "
                "the regression needs both churned and retained customers (run more months).")
        dropped, imputed = [], {}
        columns: dict[str, np.ndarray] = {}
        for col, values in self._columns(frame).items():
            missing = np.isnan(values)
            if missing.all():
                dropped.append((col, "all missing"))
                continue
            n_na = int(missing.sum())
            if n_na:
                imputed[col] = n_na
                values = np.where(missing, np.median(values[~missing]), values)
            if values.std() == 0:
                dropped.append((col, "constant"))
                continue
            columns[col] = values
        names = list(columns)
        # one correlation matrix; an indicator is left out when too close to a kept one
        signed = (np.corrcoef(np.vstack([columns[c] for c in names]))
                  if len(names) > 1 else np.ones((len(names), len(names))))
        corr = np.abs(signed)
        kept: list[str] = []
        for j, col in enumerate(names):
            if kept:
                near = corr[[names.index(k) for k in kept], j]
                if (near > self.max_corr).any():
                    dropped.append((col, f"|corr| > {self.max_corr} with "
                                         f"{kept[int(np.argmax(near))]}"))
                    continue
            kept.append(col)
        self.means_ = pd.Series([columns[c].mean() for c in kept], index=kept, dtype=float)
        self.scales_ = pd.Series([columns[c].std() for c in kept], index=kept, dtype=float)
        n = len(target)
        # the design column-major (each indicator contiguous), the constant first
        design = np.empty((len(kept) + 1, n)).T
        design[:, 0] = 1.0
        for j, col in enumerate(kept):
            design[:, j + 1] = (columns[col] - self.means_[col]) / self.scales_[col]
        used = list(kept)

        def corr_of(cols: list[str]) -> np.ndarray:
            # standardizing leaves correlations unchanged: the kept columns' submatrix
            at = [names.index(c) for c in cols]
            return signed[np.ix_(at, at)]

        # the design has full column rank for certain when the indicators' correlation
        # matrix is well conditioned (its eigenvalues are the squared singular values of the
        # standardized design over n, far above matrix_rank's tolerance); otherwise the
        # singular values of the design itself decide
        sub = corr_of(used)
        certain = bool(np.isfinite(sub).all())
        if certain and len(used) > 1:
            eig = np.linalg.eigvalsh(sub)
            certain = bool(eig.min() > 1e-8 * eig.max())
        while used and not certain and np.linalg.matrix_rank(design[:, 1:]) < len(used):
            dropped.append((used[-1], "linearly dependent on the others"))
            used.pop()
            design = design[:, :len(used) + 1]
        while len(used) > 1:
            vif = pd.Series(np.diag(np.linalg.inv(corr_of(used))), index=used)
            if vif.max() <= self.max_vif:
                break
            col = vif.idxmax()
            dropped.append((col, f"VIF {vif.max():.1f} > {self.max_vif:g}"))
            j = used.index(col)
            used.pop(j)
            design = np.asfortranarray(np.delete(design, j + 1, axis=1))
        names = pd.Index(["const", *used])
        method = "mle"
        codes = None
        if groups is not None and groups in frame:
            ids = frame[groups]
            codes = pd.factorize(ids if pd.api.types.is_string_dtype(ids.dtype)
                                 and not isinstance(ids.dtype, pd.CategoricalDtype)
                                 else ids.astype(str))[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                beta, cov, converged = _logit_mle(design, target, codes, max_iter=200)
                bse = np.sqrt(np.diag(cov))
                ok = (converged and np.all(np.isfinite(bse))
                      and np.max(np.abs(beta[1:])) <= self.max_abs_coef
                      if used else converged)
            except (np.linalg.LinAlgError, ValueError):
                ok = False
        if ok:
            params = pd.Series(beta, index=names)
            se = pd.Series(bse, index=names)
            with np.errstate(divide="ignore", invalid="ignore"):
                pvalues = pd.Series(stats.norm.sf(np.abs(beta / bse)) * 2, index=names)
            self.n_clusters_ = int(codes.max() + 1) if codes is not None else len(target)
        else:
            method = "firth"
            beta, cov, converged = _firth_logit(design, target)
            if not converged:
                warnings.warn("ChurnDrivers: Firth's penalized fit did not converge; read the "
                              "odds ratios with care.", stacklevel=2)
            params = pd.Series(beta, index=names)
            se = pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=names)
            pvalues = pd.Series(2 * stats.norm.sf(np.abs(params / se)), index=names)
            self.n_clusters_ = len(target)
        self.method_ = method
        self.used_ = list(used)
        self.dropped_ = pd.DataFrame(dropped, columns=["indicator", "reason"])
        self.imputed_ = imputed
        self.params_ = params
        self.standard_errors_ = se
        self.pvalues_ = pvalues
        self.n_obs_ = len(target)
        self.n_events_ = n_events
        return self

    def summary(self) -> pd.DataFrame:
        """Odds ratio per standard deviation of each indicator, with intervals, by effect size.

        Returns
        -------
        pandas.DataFrame
            ``indicator, coef, se, odds_ratio, or_low, or_high, p_value, p_holm,
            direction`` (``higher`` when more of the indicator means more churn), ``rank``
            (1 = largest ``|coef|``), sorted by rank.
        """
        if not hasattr(self, "params_"):
            raise ReasonsError("ChurnDrivers.summary: fit the model first.")
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        coef = self.params_.drop("const")
        se = self.standard_errors_.drop("const")
        p = self.pvalues_.drop("const")
        out = pd.DataFrame({"indicator": coef.index, "coef": coef.to_numpy(),
                            "se": se.to_numpy()})
        out["odds_ratio"] = np.exp(out["coef"])
        out["or_low"] = np.exp(out["coef"] - z * out["se"])
        out["or_high"] = np.exp(out["coef"] + z * out["se"])
        out["p_value"] = p.to_numpy()
        out["p_holm"] = holm(out["p_value"]) if len(out) else []
        out["direction"] = np.where(out["coef"] >= 0, "higher", "lower")
        out["rank"] = out["coef"].abs().rank(ascending=False, method="first").astype(int)
        return out.sort_values("rank").reset_index(drop=True)


def _drop_reason(reason: str, language: str) -> str:
    """A dropped indicator's reason in ``language`` (numbers kept as computed)."""
    if language == "en":
        return reason
    fixed = {"all missing": "all_missing", "constant": "constant",
             "linearly dependent on the others": "collinear"}
    if reason in fixed:
        return message(f"text.reasons.drop.{fixed[reason]}", language)
    m = re.fullmatch(r"\|corr\| > (\S+) with (\S+)", reason)
    if m:
        return f"|corr| > {m[1]}：{label('variable', m[2], language)}"
    return reason


def describe_drivers(drivers: ChurnDrivers, *, language: str = "en") -> str:
    """Sentence on the model and its strongest drivers (odds ratio per SD, 95% CI), in ``language``.

    Indicators are named by the catalog's ``variable.*`` labels (codes in English).
    """
    lang = check_language(language)
    table = drivers.summary()
    sig = table[(table["or_low"] > 1) | (table["or_high"] < 1)]
    how = message("text.reasons.fit_mle" if drivers.method_ == "mle" else
                  "text.reasons.fit_firth", lang)
    parts = [message("text.reasons.model", lang, n_obs=drivers.n_obs_,
                     n_events=drivers.n_events_, k=len(drivers.used_), how=how)]
    sep = message("text.common.comma", lang)
    if len(drivers.dropped_):
        parts.append(message("text.reasons.left_out", lang, items=sep.join(
            f"{label('variable', r.indicator, lang)} ({_drop_reason(r.reason, lang)})"
            for r in drivers.dropped_.itertuples())))
    if sig.empty:
        parts.append(message("text.reasons.no_driver", lang))
    else:
        parts.append(message("text.reasons.drivers", lang, items=message(
            "common.clause_sep", lang).join(
            message("text.reasons.driver_item", lang,
                    indicator=label("variable", r.indicator, lang), ratio=r.odds_ratio,
                    low=r.or_low, high=r.or_high)
            for r in sig.head(3).itertuples())))
    return _sentences(parts, lang)


def driver_agreement(
    drivers: pd.DataFrame,
    reasons: pd.DataFrame,
    indicators: pd.DataFrame,
    rules: Mapping[str, AgreementRule],
    *,
    top: int = 5,
    statuses: Sequence[str] = ("churned",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Do the drivers agree with the reasons customers state?

    For each indicator with a rule (``direction``, ``reasons``), customers with a known
    reason in ``rule.reasons`` are compared with customers with another known reason:
    the difference in means with a Welch interval and a Mann-Whitney p-value. The
    indicator *agrees* when the difference has the rule's direction and its interval
    excludes 0.

    Parameters
    ----------
    drivers
        :meth:`ChurnDrivers.summary`.
    reasons
        From :func:`assign_reasons`.
    indicators
        ``customer_id`` and the indicator columns for the customers of ``reasons``.
    rules
        ``drivers.agreement`` of the params.
    top
        ``top_driver`` marks indicators ranked within the first ``top`` drivers whose
        odds-ratio interval excludes 1.

    Returns
    -------
    pandas.DataFrame
        ``indicator, reasons, expected, odds_ratio, or_low, or_high, driver_direction,
        top_driver, n_reason, n_other, mean_reason, mean_other, difference, diff_low,
        diff_high, p_value, agrees``.
    """
    known = reasons[reasons["status"].isin(statuses) & (reasons["reason_code"] != UNKNOWN)]
    data = known[["customer_id", "reason_code"]].merge(
        indicators.assign(customer_id=indicators["customer_id"].astype(str)),
        on="customer_id", how="left")
    drv = drivers.set_index("indicator")
    rows = []
    z = stats.norm.ppf(0.5 + confidence / 2)
    for name, rule in rules.items():
        row: dict = {"indicator": name, "reasons": ", ".join(rule.reasons),
                     "expected": rule.direction}
        if name in drv.index:
            d = drv.loc[name]
            row.update(odds_ratio=d["odds_ratio"], or_low=d["or_low"], or_high=d["or_high"],
                       driver_direction=d["direction"],
                       top_driver=bool(d["rank"] <= top and (d["or_low"] > 1 or d["or_high"] < 1)))
        else:
            row.update(odds_ratio=np.nan, or_low=np.nan, or_high=np.nan, driver_direction=None,
                       top_driver=False)
        if name in data:
            x = pd.to_numeric(data[name], errors="coerce")
            mask = data["reason_code"].isin(rule.reasons)
            a = x[mask].dropna().to_numpy(float)
            b = x[~mask].dropna().to_numpy(float)
        else:
            a = b = np.zeros(0)
        row.update(n_reason=len(a), n_other=len(b))
        if len(a) >= 2 and len(b) >= 2:
            diff = a.mean() - b.mean()
            se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            row.update(mean_reason=a.mean(), mean_other=b.mean(), difference=diff,
                       diff_low=diff - z * se, diff_high=diff + z * se,
                       p_value=float(stats.mannwhitneyu(a, b).pvalue))
            if rule.direction == "higher":
                row["agrees"] = bool(diff - z * se > 0)
            else:
                row["agrees"] = bool(diff + z * se < 0)
        else:
            row.update(mean_reason=np.nan, mean_other=np.nan, difference=np.nan,
                       diff_low=np.nan, diff_high=np.nan, p_value=np.nan, agrees=False)
        rows.append(row)
    return pd.DataFrame(rows)


def describe_agreement(agreement: pd.DataFrame, *, language: str = "en",
                       params: ReasonsParams | None = None) -> str:
    """Sentence: how many mapped drivers agree with the stated reasons, in ``language``.

    With ``params``, a Chinese sentence names the reasons by their taxonomy labels.
    """
    lang = check_language(language)
    if agreement.empty:
        return message("text.reasons.no_mapping", lang)
    top = agreement[agreement["top_driver"]]
    text = message("text.reasons.agreement", lang, k=int(agreement["agrees"].sum()),
                   n=len(agreement))
    if len(top):
        text += message("text.reasons.agreement_top", lang, k=int(top["agrees"].sum()),
                        n=len(top))
    good = agreement[agreement["agrees"]]
    text += message("common.period", lang)
    if len(good):

        def reason_names(codes: str) -> str:
            if lang == "en" or params is None:
                return codes
            return message("common.list_sep", lang).join(
                params.label(c.strip(), lang) for c in codes.split(","))

        items = message("common.clause_sep", lang).join(
            message("text.reasons.agreeing_item", lang,
                    indicator=label("variable", r.indicator, lang),
                    expected=message(f"text.reasons.{r.expected}", lang),
                    reasons=reason_names(r.reasons), a=r.mean_reason, b=r.mean_other)
            for r in good.itertuples())
        text += ("" if lang == "zh" else " ") + message("text.reasons.agreeing", lang,
                                                         items=items)
    return text


# --------------------------------------------------------------------------- store I/O

@dataclasses.dataclass
class ReasonInputs:
    """Everything stage 2 reads from the store for one run month.

    Attributes
    ----------
    month : str
        The run month.
    status : pandas.DataFrame
        ``customer_id, status`` of the run month.
    transitions, transition_counts : pandas.DataFrame
        :func:`store_transitions` (every month up to the run month).
    customers : pandas.DataFrame
        ``customer_id, signup_date, business_line, region`` (what exists of them).
    tiers : pandas.DataFrame or None
        Stage 3's tiers of earlier months, ``None`` when the store has no ``tiers`` table.
    snapshots : dict
        Month -> snapshot (the columns stage 2 uses, plus ``discount_share_365``) of the run
        month (everyone). The driver regression's pooled design of earlier months is read
        by :func:`store_driver_frame`.
    contact_outcomes, surveys, interactions : pandas.DataFrame or None
        Rows in the look-back window of the customers to explain (``None``: no such table).
    reasons_history : pandas.DataFrame or None
        Stored reasons of earlier months for the customers newly churned in them.
    """

    month: str
    status: pd.DataFrame
    transitions: pd.DataFrame
    transition_counts: pd.DataFrame
    customers: pd.DataFrame
    tiers: pd.DataFrame | None
    snapshots: dict[str, pd.DataFrame]
    contact_outcomes: pd.DataFrame | None
    surveys: pd.DataFrame | None
    interactions: pd.DataFrame | None
    reasons_history: pd.DataFrame | None

    @property
    def snapshot(self) -> pd.DataFrame:
        """The run month's snapshot (with ``discount_share_365``)."""
        return self.snapshots[self.month]

    @property
    def tiers_available(self) -> bool:
        return self.tiers is not None

    def explain(self, statuses: Sequence[str]) -> pd.DataFrame:
        """``customer_id, status`` of the run month's customers with one of ``statuses``."""
        return self.status.loc[self.status["status"].isin(statuses),
                               ["customer_id", "status"]].reset_index(drop=True)

    def __repr__(self) -> str:
        months = sorted(self.transitions["month"].unique())
        span = f"{months[0]}..{months[-1]}" if months else "none"

        def n(frame):
            return "absent" if frame is None else len(frame)

        return (f"ReasonInputs(month={self.month!r}, customers={len(self.status)}, "
                f"rate_months={span}, snapshots={sorted(self.snapshots)}, "
                f"tiers={self.tiers_available}, contact_outcomes={n(self.contact_outcomes)}, "
                f"surveys={n(self.surveys)}, interactions={n(self.interactions)}, "
                f"reasons_history={n(self.reasons_history)})")


def _in_list(values: Sequence[str]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) or "NULL"


def store_transitions(con, month: str, *, base_statuses: Sequence[str] = ("active", "at_risk"),
                      churn_statuses: Sequence[str] = ("churned", "lost")
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`churn_transitions` computed from the store's ``churn_status``.

    Same definition and output, for every month up to ``month``; only the base customers'
    rows reach pandas. The statuses are read once and joined month to month in numpy
    (customers dictionary-encoded); in DuckDB when an id, month or status is missing or a
    customer has two statuses in a month (to name them).

    Raises
    ------
    ReasonsError
        No ``churn_status`` table, or a customer with two statuses in one month.
    """
    from winback.store import has_table

    month = _check_month(month)
    if not has_table(con, "churn_status"):
        raise ReasonsError("The store has no table 'churn_status': run stage 1 (data collection "
                           "and churn definition) for this month first.")
    fast = _transitions_by_codes(con, month, base_statuses, churn_statuses)
    if fast is not None:
        return fast
    dup = con.execute(
        "SELECT month, CAST(customer_id AS VARCHAR), count(*) FROM churn_status "
        "WHERE month <= ? GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 5",
        [month]).fetchall()
    if dup:
        raise ReasonsError(
            f"churn_status holds duplicate (month, customer_id) rows, e.g. "
            f"{[(m, c) for m, c, _ in dup]}. Rerun stage 1 for those months so each customer "
            "has one status a month.")
    base, churn = _in_list(base_statuses), _in_list(churn_statuses)
    cte = f"""
        WITH s AS (
            SELECT CAST(month AS VARCHAR) AS month, CAST(customer_id AS VARCHAR) AS customer_id,
                   CAST(status AS VARCHAR) AS status
            FROM churn_status WHERE month <= $m),
        pairs AS (
            SELECT month, strftime(CAST(month || '-01' AS DATE) - INTERVAL 1 MONTH, '%Y-%m')
                   AS prev_month
            FROM (SELECT DISTINCT month FROM s)),
        present AS (
            SELECT p.month, p.prev_month FROM pairs p
            WHERE p.prev_month IN (SELECT DISTINCT month FROM s)),
        base AS (
            SELECT p.month, p.prev_month, b.customer_id, b.status AS prev_status
            FROM present p JOIN s b ON b.month = p.prev_month
            WHERE b.status IN ({base}))"""
    transitions = fetch_df(con, cte + f"""
        SELECT b.month, b.prev_month, b.customer_id, b.prev_status, n.status,
               n.status IN ({churn}) AS churned
        FROM base b JOIN s n ON n.month = b.month AND n.customer_id = b.customer_id
        ORDER BY b.month, b.customer_id""", {"m": month})
    counts = fetch_df(con, cte + f""",
        missing AS (
            SELECT b.month, count(*) AS n FROM base b
            LEFT JOIN s n ON n.month = b.month AND n.customer_id = b.customer_id
            WHERE n.customer_id IS NULL GROUP BY 1),
        outside AS (
            SELECT p.month, count(*) AS n
            FROM present p JOIN s n ON n.month = p.month AND n.status IN ({churn})
            LEFT JOIN s b ON b.month = p.prev_month AND b.customer_id = n.customer_id
            WHERE b.customer_id IS NULL OR b.status NOT IN ({base}) AND b.status NOT IN ({churn})
            GROUP BY 1)
        SELECT p.month, CAST(coalesce(m.n, 0) AS BIGINT) AS n_missing,
               CAST(coalesce(o.n, 0) AS BIGINT) AS n_churned_outside
        FROM present p LEFT JOIN missing m USING (month) LEFT JOIN outside o USING (month)
        ORDER BY p.month""", {"m": month})
    transitions["churned"] = transitions["churned"].astype(bool)
    return transitions, counts


def _transitions_by_codes(con, month: str, base_statuses: Sequence[str],
                          churn_statuses: Sequence[str]
                          ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """:func:`store_transitions` from one read of ``churn_status``, joined in numpy.

    Customers and statuses are dictionary-encoded; each month's statuses become one array
    indexed by customer, so the month-to-month join is array indexing and the duplicate
    check a count per month. Returns the same frames as the SQL, or None (the caller runs
    the SQL) when an id, month or status is missing, or no month has its previous month.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    table = con.sql(
        "SELECT CAST(month AS VARCHAR) AS month, CAST(customer_id AS VARCHAR) AS customer_id, "
        "CAST(status AS VARCHAR) AS status FROM churn_status WHERE month <= $m",
        params={"m": month}).to_arrow_table()
    if not table.num_rows or any(table[c].null_count for c in table.column_names):
        return None
    months_enc = pc.dictionary_encode(table["month"]).combine_chunks()
    ids_enc = pc.dictionary_encode(table["customer_id"]).combine_chunks()
    st_enc = pc.dictionary_encode(table["status"]).combine_chunks()
    month_names = months_enc.dictionary.to_pylist()
    month_code = months_enc.indices.to_numpy(zero_copy_only=False)
    cust = ids_enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    status = st_enc.indices.to_numpy(zero_copy_only=False).astype(np.int16)
    status_names = st_enc.dictionary.to_pylist()
    n_cust = len(ids_enc.dictionary)
    by_month = {}
    for i, name in enumerate(month_names):
        rows = month_code == i
        ids = cust[rows]
        if len(ids) and np.bincount(ids, minlength=n_cust).max() > 1:
            return None  # duplicates: the SQL names them
        at = np.full(n_cust, -1, dtype=np.int16)
        at[ids] = status[rows]
        by_month[name] = at
    pairs = [(m, _prev_month(m)) for m in sorted(by_month) if _prev_month(m) in by_month]
    if not pairs:
        return None
    is_base = np.isin(np.arange(len(status_names)), [status_names.index(s) for s in
                                                     base_statuses if s in status_names])
    is_churn = np.isin(np.arange(len(status_names)), [status_names.index(s) for s in
                                                      churn_statuses if s in status_names])
    is_base, is_churn = np.append(is_base, False), np.append(is_churn, False)  # -1: absent
    order = pc.sort_indices(ids_enc.dictionary).to_numpy()  # customers in id order
    parts, counts = {k: [] for k in ("month", "prev", "cust", "prev_st", "st")}, []
    for m, prev in pairs:
        before, now = by_month[prev][order], by_month[m][order]
        in_base = is_base[before]
        keep = in_base & (now >= 0)
        k = int(keep.sum())
        parts["month"].append(np.full(k, month_names.index(m), dtype=np.int32))
        parts["prev"].append(np.full(k, month_names.index(prev), dtype=np.int32))
        parts["cust"].append(order[keep])
        parts["prev_st"].append(before[keep])
        parts["st"].append(now[keep])
        outside = is_churn[now] & ((before < 0) | (~in_base & ~is_churn[before]))
        counts.append({"month": m, "n_missing": int((in_base & (now < 0)).sum()),
                       "n_churned_outside": int(outside.sum())})
    cat = {k: np.concatenate(v) for k, v in parts.items()}

    def text(codes: np.ndarray, names) -> pd.Series:
        values = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                                pa.array(names, pa.string()))
        return pa.chunked_array([values.cast(pa.string())]).to_pandas()

    st_codes = cat["st"].astype(np.int32)
    transitions = pd.DataFrame({
        "month": text(cat["month"], month_names),
        "prev_month": text(cat["prev"], month_names),
        "customer_id": pa.chunked_array([ids_enc.dictionary.take(
            pa.array(cat["cust"]))]).cast(pa.string()).to_pandas(),
        "prev_status": text(cat["prev_st"], status_names),
        "status": text(st_codes, status_names),
        "churned": is_churn[st_codes],
    })
    count_frame = pd.DataFrame({
        "month": pa.chunked_array([pa.array([c["month"] for c in counts],
                                            pa.string())]).to_pandas(),
        "n_missing": np.array([c["n_missing"] for c in counts], dtype=np.int64),
        "n_churned_outside": np.array([c["n_churned_outside"] for c in counts],
                                      dtype=np.int64),
    })
    return transitions, count_frame


def _table_or_none(con, name: str, sql: str, args: dict) -> pd.DataFrame | None:
    from winback.store import has_table

    if not has_table(con, name):
        return None
    return fetch_df(con, sql, args)


def load_inputs(con, month: str, params: ReasonsParams) -> ReasonInputs:
    """Read what stage 2 needs for ``month`` from the engagement store (filtered in DuckDB).

    The run month's statuses; the churn transitions of every month up to it
    (:func:`store_transitions`); ``customers``; stage 3's ``tiers`` of earlier months
    (``None`` when absent; a tier reads ``"<tier> <tier_label>"`` when the table has a
    ``tier_label``); the snapshot columns stage 2 uses for the run month (with
    ``discount_share_365``; the earlier months the driver regression pools are read by
    :func:`store_driver_frame`);
    contact outcomes, surveys and interactions of the customers to explain
    (``params.statuses``), dated in the look-back window; earlier months' stored reasons of
    the customers who newly churned in them.

    Raises
    ------
    ReasonsError
        ``churn_status`` or the run month's snapshot is missing.
    """
    from winback.store import table_months

    month = _check_month(month)
    trend = params.trend
    transitions, counts = store_transitions(con, month, base_statuses=trend.base_statuses,
                                            churn_statuses=trend.churn_statuses)
    status = fetch_df(con, "SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
                         "CAST(status AS VARCHAR) AS status FROM churn_status WHERE month = ? "
                         "ORDER BY customer_id", [month])
    if status.empty:
        raise ReasonsError(f"The store's churn_status has no rows for {month}: run stage 1 for "
                           f"{month} first.")
    have = table_columns(con, "customers")
    wanted = [c for c in ("customer_id", "signup_date", "business_line", "region") if c in have]
    customers = fetch_df(con, f"SELECT {', '.join(wanted)} FROM customers")
    tier_cols = table_columns(con, "tiers")
    tier = ("CAST(tier AS VARCHAR) || ' ' || coalesce(CAST(tier_label AS VARCHAR), '')"
            if "tier_label" in tier_cols else "CAST(tier AS VARCHAR)")
    tiers = _table_or_none(con, "tiers", "SELECT month, CAST(customer_id AS VARCHAR) AS "
                           f"customer_id, trim({tier}) AS tier FROM tiers WHERE month < $m",
                           {"m": month})
    snap_months = set(table_months(con, "snapshots"))
    if month not in snap_months:
        raise ReasonsError(f"The store's snapshots have no rows for {month}: run stage 1 for "
                           f"{month} first.")
    snap_cols = table_columns(con, "snapshots")
    prof = params.profile
    used = {*params.drivers.indicators, *params.drivers.agreement, *prof.numeric,
            *prof.categorical, "age", prof.spend_column}
    cols = ["customer_id", *[c for c in snap_cols if c in used]]
    select = ", ".join(f'CAST(sn."{c}" AS VARCHAR) AS customer_id' if c == "customer_id"
                       else f'sn."{c}"' for c in cols)
    snap = fetch_df(con, f"SELECT {select} FROM snapshots sn WHERE sn.month = ?", [month])
    snapshots = {month: snap.merge(discount_share(con, month), on="customer_id", how="left")}
    start, end = _window(month, params.lookback_days)
    args = {"start": start, "end": end, "m": month}
    who = (f"CAST(customer_id AS VARCHAR) IN (SELECT CAST(customer_id AS VARCHAR) FROM "
           f"churn_status WHERE month = $m AND CAST(status AS VARCHAR) IN "
           f"({_in_list(params.statuses)}))")
    outcomes = _table_or_none(
        con, "contact_outcomes", "SELECT * FROM contact_outcomes WHERE contact_ts >= $start "
        f"AND contact_ts < $end AND {who}", args)
    surveys = _table_or_none(
        con, "surveys", f"SELECT * FROM surveys WHERE ts >= $start AND ts < $end AND {who}",
        args)
    kinds = _in_list([*params.ticket_kinds, *params.keyword_kinds])
    interactions = _table_or_none(
        con, "interactions", "SELECT * FROM interactions WHERE ts >= $start AND ts < $end "
        f"AND CAST(kind AS VARCHAR) IN ({kinds}) AND {who}", args)
    new = transitions.loc[transitions["churned"], ["month", "customer_id"]]
    history = None
    if "reasons" in {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}:
        con.register("_new_churn", new)
        try:
            history = fetch_df(con,
                "SELECT r.* FROM reasons r JOIN _new_churn n ON r.month = n.month AND "
                "r.customer_id = n.customer_id WHERE r.month < $m", {"m": month})
        finally:
            con.unregister("_new_churn")
    return ReasonInputs(month, status, transitions, counts, customers, tiers, snapshots,
                        outcomes, surveys, interactions, history)


def write_reasons(con, reasons: pd.DataFrame) -> int:
    """Store the run month's reasons in table ``reasons``, replacing exactly that month's rows.

    Returns the number of rows written.
    """
    from winback.store import replace_month

    _require(reasons, REASON_COLUMNS, "reasons")
    months = sorted(reasons["month"].astype(str).unique())
    if len(months) != 1:
        raise ReasonsError(f"write_reasons stores one month at a time; got months {months}.")
    frame = reasons[list(REASON_COLUMNS)].copy()
    for col in ("month", "customer_id", "status", "reason_code", "churn_type", "source"):
        frame[col] = frame[col].astype(str)
    frame["evidence_count"] = frame["evidence_count"].astype("int64")
    replace_month(con, "reasons", months[0], frame)
    return len(frame)
