"""Stage 3, tiering: value tiers, the value x risk quadrant, RFM segments and tier stability.

Every customer of the month's snapshot gets (see :mod:`winback.value` for the value
measures):

tier (1 = most valuable) and tier_label
    Up to five tiers cut on ``value_score`` (``cut_rule: quantile``: the top ``shares[0]``
    of customers form tier 1, the next ``shares[1]`` tier 2, ...) or on fixed thresholds
    (``cut_rule: threshold``: tier 1 holds ``value >= thresholds[0]``, tier 2
    ``thresholds[1] <= value < thresholds[0]``, ..., on ``value_score`` or on
    ``future_value`` in currency units). Customers with equal values always share a tier:
    with quantile cuts a block of ties that straddles a cut goes to the *lower* tier (a
    tier may then hold fewer customers than its share; typically the many customers
    with no predicted value and no engagement all fall in the last tier). Labels come
    from params in the engagement's language; with fewer tiers than labels the first
    ``n_tiers - 1`` labels and the last label are used (钻石/黄金/普通 for three tiers).
quadrant
    Value high when ``value_score >= value_threshold``; risk high when stage 1's churn
    score (``churn_status.churn_score``, or ``score`` as :mod:`winback.churn` names it)
    is ``>= risk_threshold``. Customers without a churn score (stage 1 scores only
    customers with a purchase) are high risk when their status is ``churned`` or
    ``lost`` and low risk otherwise (``new``). Four codes, :data:`QUADRANTS`.
rfm_r, rfm_f, rfm_m and rfm_segment
    Quintile scores 1-5 of recency (days since the last purchase, fewer is better;
    customers who never bought score 1), frequency (purchase days in the last 365 days)
    and monetary value (net spend in the last 365 days, a net refund counting as 0):
    ``score = 1 + floor(5 * (customers strictly worse) / customers)``, so ties share a
    score (a score can be empty when many customers tie, e.g. on zero purchases). The
    segment reads R and ``FM = round_half_up((F + M) / 2)`` on the grid
    :data:`RFM_GRID` (the common 5 x 5 RFM segment map, with R1 FM1 as ``lost``).

Stability: the previous month's ``tiers`` rows in the store give the tier transition
matrix and the share of customers present in both months whose tier changed.

The BG/NBD model of the future value is the one stage 1 fitted for the month (store table
``churn_model``: ``parameter``, ``estimate``, ``time_unit``), converted to days: the
model is invariant to the time unit except for ``alpha``, the rate parameter of the
purchase rates, which scales with it (``alpha_days = alpha_weeks * 7``). Without a stored
fit it is fitted here (:func:`stored_bgnbd` returns ``None``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from winback.clv import BGNBD
from winback.config import Section
from winback.messages import LANGUAGES, check_language, label
from winback.messages import t as message
from winback.store import has_table, read_month, replace_month, table_columns, table_months
from winback.value import (
    INPUT_COLUMNS,
    NONMONETARY_KINDS,
    FutureValue,
    nonmonetary_index,
    value_score,
)

__all__ = [
    "HIGH_RISK_STATUSES",
    "QUADRANTS",
    "RFM_GRID",
    "RFM_SEGMENTS",
    "TIERS_COLUMNS",
    "TierTransitions",
    "TieringError",
    "TieringParams",
    "assign_tiers",
    "build_tiers",
    "describe_inputs",
    "describe_tiers",
    "describe_written",
    "fit_value",
    "lorenz_curve",
    "previous_month",
    "previous_tiers",
    "quadrant_summary",
    "quintile_score",
    "read_status",
    "read_tiers",
    "rfm_scores",
    "rfm_segment",
    "rfm_summary",
    "snapshot_columns",
    "stored_bgnbd",
    "tier_labels",
    "tier_summary",
    "tier_transitions",
    "value_concentration",
    "value_risk_quadrant",
    "write_tiers",
]

# Columns of the store table ``tiers`` (one row per customer of the month's snapshot).
TIERS_COLUMNS: tuple[str, ...] = (
    "month",
    "customer_id",
    "expected_transactions",
    "expected_spend",
    "future_value",
    "future_value_necessary",
    "future_value_discretionary",
    "nonmonetary_index",
    "value_score",
    "tier",
    "tier_label",
    "quadrant",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_segment",
)

# Value x risk quadrants and RFM segments: code -> its name in each language (names and the
# quadrants' suggested actions live in the message catalog, winback.messages).
QUADRANTS: dict[str, dict[str, str]] = {
    code: {language: label("quadrant", code, language) for language in LANGUAGES}
    for code in ("high_value_high_risk", "high_value_low_risk", "low_value_high_risk",
                 "low_value_low_risk")
}
RFM_SEGMENTS: dict[str, dict[str, str]] = {
    code: {language: label("rfm", code, language) for language in LANGUAGES}
    for code in ("champions", "loyal", "potential_loyalists", "new_customers", "promising",
                 "need_attention", "about_to_sleep", "at_risk", "cannot_lose", "hibernating",
                 "lost")
}

# Segment of each (R, FM) cell: RFM_GRID[R][FM - 1], R and FM in 1..5.
RFM_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"),
    1: ("lost", "hibernating", "at_risk", "at_risk", "cannot_lose"),
}

_DEFAULT_WEIGHTS = {
    "referral": 5.0,
    "community_answer": 3.0,
    "review": 2.0,
    "suggestion": 2.0,
    "campaign_participation": 1.0,
    "survey_response": 1.0,
}


class TieringError(ValueError):
    """Tiering cannot run on the inputs as given; the message names the table, rows and fix."""


class TieringParams(Section):
    """Params section ``tiering``: future value, value score, tiers, quadrant and RFM."""

    horizon_months: float = Field(default=12.0, gt=0, le=120)
    discount_rate: float = Field(default=0.0, ge=0, lt=1)
    bgnbd_penalizer: float = Field(default=0.0, ge=0)
    gg_penalizer: float = Field(default=0.0, ge=0)
    nonmonetary_weights: dict[str, float] = Field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    nonmonetary_cap: float | None = Field(default=12.0, gt=0)
    nonmonetary_weight: float = Field(default=0.2, ge=0, le=1)
    n_tiers: int = Field(default=5, ge=2, le=5)
    cut_rule: Literal["quantile", "threshold"] = "quantile"
    shares: list[float] | None = Field(default_factory=lambda: [0.05, 0.15, 0.30, 0.30, 0.20])
    thresholds: list[float] | None = None
    threshold_on: Literal["value_score", "future_value"] = "value_score"
    labels_zh: list[str] = Field(default_factory=lambda: ["钻石", "黄金", "白银", "青铜", "普通"])
    labels_en: list[str] = Field(
        default_factory=lambda: ["Diamond", "Gold", "Silver", "Bronze", "Standard"]
    )
    value_threshold: float = Field(default=0.5, ge=0, le=1)
    risk_threshold: float = Field(default=0.5, ge=0, le=1)
    concentration_points: list[float] = Field(default_factory=lambda: [0.01, 0.05, 0.1, 0.2, 0.5])

    @field_validator("nonmonetary_weights")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(NONMONETARY_KINDS))
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}; allowed: {', '.join(NONMONETARY_KINDS)}")
        if not value:
            raise ValueError("give at least one interaction kind a weight")
        bad = {k: w for k, w in value.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(f"weights must be finite and >= 0, got {bad}")
        return value

    @field_validator("concentration_points")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if not value or not all(0 < v <= 1 for v in value):
            raise ValueError("list shares of customers in (0, 1], e.g. [0.05, 0.2]")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> TieringParams:
        n = self.n_tiers
        if self.cut_rule == "quantile" and self.shares is not None:
            if len(self.shares) != n:
                raise ValueError(
                    f"shares has {len(self.shares)} values for n_tiers = {n}: give {n} shares "
                    "of customers (top tier first), or null for equal shares"
                )
            if any(not s > 0 for s in self.shares) or abs(sum(self.shares) - 1) > 1e-6:
                raise ValueError(f"shares must be > 0 and sum to 1, got {self.shares}")
        if self.cut_rule == "threshold":
            t = self.thresholds
            if t is None or len(t) != n - 1:
                raise ValueError(
                    f"cut_rule threshold needs n_tiers - 1 = {n - 1} thresholds (highest "
                    f"first), got {t}"
                )
            if any(not a > b for a, b in zip(t, t[1:], strict=False)):
                raise ValueError(f"thresholds must be strictly decreasing, got {t}")
        for name in ("labels_zh", "labels_en"):
            labels = getattr(self, name)
            if len(labels) < n:
                raise ValueError(f"{name} has {len(labels)} labels for n_tiers = {n}")
        return self


# --------------------------------------------------------------------------- value


def fit_value(
    snapshot: pd.DataFrame, *, params: TieringParams, bgnbd: BGNBD | None = None
) -> FutureValue:
    """The future-value model of the month, fitted on its snapshot.

    Parameters
    ----------
    snapshot : pandas.DataFrame
        The month's snapshot (:func:`winback.snapshot.read_snapshot`).
    params : TieringParams
        The ``tiering`` params section (horizon, discount rate, penalizers).
    bgnbd : winback.clv.BGNBD, optional
        Stage 1's BG/NBD model for the month (fitted on the same snapshot in days); the
        model is fitted here when not given.

    Returns
    -------
    winback.value.FutureValue
        Fitted; ``.predict(snapshot)`` gives each customer's future value.
    """
    return FutureValue(
        params.horizon_months,
        discount_rate=params.discount_rate,
        bgnbd_penalizer=params.bgnbd_penalizer,
        gg_penalizer=params.gg_penalizer,
    ).fit(snapshot, bgnbd=bgnbd)


def snapshot_columns(params: TieringParams) -> list[str]:
    """The snapshot columns tiering reads (besides ``month`` and ``customer_id``).

    For :func:`winback.snapshot.read_snapshot`'s ``columns``: a million customers' full
    snapshot takes seconds to read and most of its 70 columns are not used here. The value
    model's BG/NBD and Gamma-Gamma inputs and spend split, the RFM scores' inputs, and the
    interaction counts of the kinds ``params.nonmonetary_weights`` weighs.
    """
    return list(dict.fromkeys([
        *(c for c in INPUT_COLUMNS if c != "customer_id"),
        "recency_days", "purchase_days_365", "spend_365",
        *(f"eng_{kind}_365" for kind in params.nonmonetary_weights),
    ]))


# --------------------------------------------------------------------------- tiers


def tier_labels(params: TieringParams, language: str = "zh") -> list[str]:
    """Labels of tiers 1..n_tiers in ``language`` (``zh`` or ``en``)."""
    labels = list(params.labels_zh if check_language(language) == "zh" else params.labels_en)
    n = params.n_tiers
    return labels if len(labels) == n else labels[: n - 1] + labels[-1:]


def assign_tiers(
    values,
    *,
    n_tiers: int,
    cut_rule: str = "quantile",
    shares: Sequence[float] | None = None,
    thresholds: Sequence[float] | None = None,
) -> np.ndarray:
    """Tier 1..n_tiers of each value (1 = highest values); equal values share a tier.

    Parameters
    ----------
    values : array-like of float
        Value score (or future value) per customer; no NaN.
    n_tiers : int
        Number of tiers, 2..5.
    cut_rule : {"quantile", "threshold"}
        ``quantile``: the top ``shares[0]`` of customers form tier 1, and so on; a block of
        equal values that straddles a cut goes to the lower tier. ``threshold``: tier
        ``j`` holds ``thresholds[j-1] <= value < thresholds[j-2]``.
    shares : sequence of float, optional
        Share of customers per tier, top first, summing to 1 (``None``: equal shares).
    thresholds : sequence of float, optional
        ``n_tiers - 1`` strictly decreasing cut values (``threshold`` rule).

    Returns
    -------
    numpy.ndarray of int64
    """
    v = np.asarray(values, dtype="float64")
    if np.isnan(v).any():
        raise ValueError(f"assign_tiers: {int(np.isnan(v).sum())} missing value(s)")
    if not 2 <= n_tiers <= 5:
        raise ValueError(f"n_tiers: 2..5, got {n_tiers}")
    if cut_rule == "threshold":
        if thresholds is None or len(thresholds) != n_tiers - 1:
            raise ValueError(f"thresholds: give {n_tiers - 1} values, highest first")
        cuts = np.asarray(thresholds, dtype="float64")
        if np.any(np.diff(cuts) >= 0):
            raise ValueError(f"thresholds must be strictly decreasing, got {list(thresholds)}")
        return 1 + (v[:, None] < cuts[None, :]).sum(axis=1).astype("int64")
    if cut_rule != "quantile":
        raise ValueError(f"cut_rule: quantile or threshold, got {cut_rule!r}")
    shares = np.full(n_tiers, 1.0 / n_tiers) if shares is None else np.asarray(shares, float)
    if shares.size != n_tiers or np.any(shares <= 0) or abs(shares.sum() - 1) > 1e-6:
        raise ValueError(f"shares: {n_tiers} values > 0 summing to 1, got {list(shares)}")
    n = v.size
    if n == 0:
        return np.zeros(0, dtype="int64")
    desc = np.sort(v)[::-1]
    tiers = np.ones(n, dtype="int64")
    # customers in tiers 1..j: the top round(c_j * n); tier <= j needs value > first excluded
    for k in np.rint(np.cumsum(shares)[:-1] * n).astype("int64"):
        if k < n:
            tiers += v <= desc[k]
    return tiers


def value_risk_quadrant(
    value_scores, churn_scores, *, value_threshold: float, risk_threshold: float,
    high_risk_if_unscored=None,
) -> np.ndarray:
    """Quadrant code of each customer (:data:`QUADRANTS`).

    High value when ``value_score >= value_threshold``; high risk when
    ``churn_score >= risk_threshold``.

    Parameters
    ----------
    value_scores, churn_scores : array-like of float
        One value per customer; churn scores may be NaN when ``high_risk_if_unscored``
        is given.
    value_threshold, risk_threshold : float
        Cut-offs (inclusive) for high value and high risk.
    high_risk_if_unscored : bool or array-like of bool, optional
        Risk of customers without a churn score (e.g. from their status).
    """
    v = np.asarray(value_scores, dtype="float64")
    r = np.asarray(churn_scores, dtype="float64")
    if v.shape != r.shape:
        raise ValueError("value_scores and churn_scores: one value per customer each")
    if np.isnan(v).any():
        raise ValueError("value_risk_quadrant: missing value scores")
    unscored = np.isnan(r)
    if unscored.any() and high_risk_if_unscored is None:
        raise ValueError(f"value_risk_quadrant: {int(unscored.sum())} missing churn score(s); "
                         "pass high_risk_if_unscored to decide their risk")
    high_v = v >= value_threshold
    high_r = r >= risk_threshold
    if unscored.any():
        fallback = np.broadcast_to(np.asarray(high_risk_if_unscored, dtype=bool), r.shape)
        high_r = np.where(unscored, fallback, high_r)
    return np.where(
        high_v,
        np.where(high_r, "high_value_high_risk", "high_value_low_risk"),
        np.where(high_r, "low_value_high_risk", "low_value_low_risk"),
    ).astype(object)


# --------------------------------------------------------------------------- RFM


def quintile_score(values, *, higher_is_better: bool = True) -> np.ndarray:
    """Score 1..5: ``1 + floor(5 * (count strictly worse) / n)``; NaN is the worst value.

    Ties share a score, so the result never depends on row order.
    """
    v = np.asarray(values, dtype="float64")
    key = v if higher_is_better else -v
    key = np.where(np.isnan(key), -np.inf, key)
    n = key.size
    if n == 0:
        return np.zeros(0, dtype="int64")
    worse = np.searchsorted(np.sort(key), key, side="left")
    return (1 + (5 * worse) // n).astype("int64")


def rfm_segment(r, f, m) -> np.ndarray:
    """RFM segment code of each (R, F, M) score triple (see :data:`RFM_GRID`)."""
    r, f, m = (np.asarray(a, dtype="int64") for a in (r, f, m))
    for name, a in (("r", r), ("f", f), ("m", m)):
        if a.size and (a.min() < 1 or a.max() > 5):
            raise ValueError(f"{name}: RFM scores are 1..5")
    fm = (f + m + 1) // 2  # mean of F and M rounded half up
    grid = np.array([RFM_GRID[score] for score in (1, 2, 3, 4, 5)], dtype=object)
    return grid[r - 1, fm - 1]


def rfm_scores(snapshot: pd.DataFrame) -> pd.DataFrame:
    """RFM quintile scores and segment of every customer of the snapshot.

    Returns
    -------
    pandas.DataFrame
        On the snapshot's index: ``customer_id``, ``rfm_r`` (from ``recency_days``, never
        bought = worst), ``rfm_f`` (``purchase_days_365``), ``rfm_m`` (``spend_365``, negative as 0),
        ``rfm_segment``.
    """
    _require(snapshot, ["customer_id", "recency_days", "purchase_days_365", "spend_365"],
             "rfm_scores")
    r = quintile_score(snapshot["recency_days"].to_numpy("float64", na_value=np.nan),
                       higher_is_better=False)
    f = quintile_score(snapshot["purchase_days_365"].to_numpy("float64", na_value=0.0))
    m = quintile_score(np.maximum(snapshot["spend_365"].to_numpy("float64", na_value=0.0), 0.0))
    return pd.DataFrame({
        "customer_id": snapshot["customer_id"].to_numpy(),
        "rfm_r": r, "rfm_f": f, "rfm_m": m,
        "rfm_segment": rfm_segment(r, f, m),
    }, index=snapshot.index)


# --------------------------------------------------------------------------- the table


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TieringError(f"{what}: the frame lacks column(s) {missing}; it has "
                           f"{list(frame.columns)[:12]}{' ...' if frame.shape[1] > 12 else ''}.")


HIGH_RISK_STATUSES: tuple[str, ...] = ("churned", "lost")


def _churn_scores(snapshot: pd.DataFrame, churn_status: pd.DataFrame) -> pd.DataFrame:
    """Each snapshot customer's churn score and whether their risk is high without a score."""
    column = "churn_score" if "churn_score" in churn_status.columns else "score"
    if column not in churn_status.columns:
        raise TieringError("churn_status lacks the churn score (column 'churn_score' or "
                           "'score'): pass stage 1's churn_status rows of the month.")
    _require(churn_status, ["customer_id"], "churn_status")
    ids = pd.Index(churn_status["customer_id"].astype("str").to_numpy(dtype=object))
    if ids.has_duplicates:
        raise TieringError("churn_status holds duplicate customer_id values; pass one month.")
    cust = snapshot["customer_id"].astype("str").to_numpy(dtype=object)
    pos = ids.get_indexer(cust)
    missing = pos < 0
    if missing.any():
        raise TieringError(
            f"churn_status has no row for {int(missing.sum())} customer(s) of the snapshot "
            f"(e.g. {cust[missing][:5].tolist()}): run stage 1 (churn status) for the "
            "same month before tiering."
        )
    scores = churn_status[column].to_numpy("float64", na_value=np.nan)
    if "status" in churn_status.columns:
        status = churn_status["status"].astype("str").to_numpy(dtype=object)
    else:
        status = np.full(len(churn_status), "", dtype=object)
    out = pd.DataFrame({"churn_score": scores[pos], "status": status[pos]}, index=snapshot.index)
    unscored = (out["churn_score"].isna() & (out["status"] == "")).to_numpy()
    if unscored.any():
        bad = cust[unscored][:5].tolist()
        raise TieringError(
            f"churn_status.{column} is missing for {int(unscored.sum())} customer(s) "
            f"(e.g. {bad}) and there is no status to fall back on; every customer needs a "
            "churn score or status for the value x risk quadrant."
        )
    return out


def build_tiers(
    snapshot: pd.DataFrame,
    churn_status: pd.DataFrame,
    *,
    model: FutureValue,
    params: TieringParams,
    language: str = "zh",
) -> pd.DataFrame:
    """Value, tier, quadrant and RFM of every customer of the month's snapshot.

    Parameters
    ----------
    snapshot : pandas.DataFrame
        The month's snapshot (one row per customer).
    churn_status : pandas.DataFrame
        Stage 1's ``churn_status`` rows of the month (``customer_id``, ``churn_score``).
    model : winback.value.FutureValue
        The fitted future-value model (:func:`fit_value`).
    params : TieringParams
        The ``tiering`` params section.
    language : {"zh", "en"}
        Language of ``tier_label``.

    Returns
    -------
    pandas.DataFrame
        One row per customer, sorted by ``customer_id``: the store columns
        :data:`TIERS_COLUMNS` followed by ``churn_score``, ``p_alive``,
        ``necessary_share`` and ``share_source`` (for the report).
    """
    _require(snapshot, ["month", "customer_id"], "snapshot")
    months = pd.unique(snapshot["month"].astype("str"))
    if len(months) != 1:
        raise TieringError(f"the snapshot holds months {sorted(months)}; pass one month.")
    snap = snapshot.sort_values("customer_id", kind="stable", ignore_index=True)
    value = model.predict(snap)
    nm = nonmonetary_index(snap, weights=params.nonmonetary_weights, cap=params.nonmonetary_cap)
    score = value_score(value["future_value"], nm, nonmonetary_weight=params.nonmonetary_weight)
    on = score if params.threshold_on == "value_score" else value["future_value"]
    tier = assign_tiers(on.to_numpy(), n_tiers=params.n_tiers, cut_rule=params.cut_rule,
                        shares=params.shares, thresholds=params.thresholds)
    labels = np.array(tier_labels(params, language), dtype=object)
    churn = _churn_scores(snap, churn_status)
    rfm = rfm_scores(snap)
    out = pd.DataFrame({
        "month": str(months[0]),
        "customer_id": snap["customer_id"].astype("str").to_numpy(),
        "expected_transactions": value["expected_transactions"].to_numpy(),
        "expected_spend": value["expected_spend"].to_numpy(),
        "future_value": value["future_value"].to_numpy(),
        "future_value_necessary": value["future_value_necessary"].to_numpy(),
        "future_value_discretionary": value["future_value_discretionary"].to_numpy(),
        "nonmonetary_index": nm.to_numpy(),
        "value_score": score.to_numpy(),
        "tier": tier,
        "tier_label": labels[tier - 1],
        "quadrant": value_risk_quadrant(
            score.to_numpy(), churn["churn_score"].to_numpy(),
            value_threshold=params.value_threshold, risk_threshold=params.risk_threshold,
            high_risk_if_unscored=churn["status"].isin(HIGH_RISK_STATUSES).to_numpy()),
        "rfm_r": rfm["rfm_r"].to_numpy(),
        "rfm_f": rfm["rfm_f"].to_numpy(),
        "rfm_m": rfm["rfm_m"].to_numpy(),
        "rfm_segment": rfm["rfm_segment"].to_numpy(),
        "churn_score": churn["churn_score"].to_numpy(),
        "p_alive": value["p_alive"].to_numpy(),
        "necessary_share": value["necessary_share"].to_numpy(),
        "share_source": value["share_source"].to_numpy(),
    })
    for col in ("tier_label", "quadrant", "rfm_segment", "share_source", "customer_id", "month"):
        out[col] = out[col].astype("str")
    return out


# --------------------------------------------------------------------------- store


def write_tiers(con, tiers: pd.DataFrame) -> int:
    """Store the month's tiers in table ``tiers`` (:data:`TIERS_COLUMNS`), replacing that month.

    Returns
    -------
    int
        Rows written.
    """
    _require(tiers, TIERS_COLUMNS, "write_tiers")
    months = sorted(pd.unique(tiers["month"].astype("str")))
    if len(months) != 1:
        raise TieringError(f"write_tiers stores one month at a time; got months {months}")
    if not tiers["customer_id"].is_unique:
        raise TieringError("write_tiers: duplicate customer_id values")
    replace_month(con, "tiers", months[0], tiers.loc[:, list(TIERS_COLUMNS)].copy())
    return len(tiers)


STATUS_COLUMNS: tuple[str, ...] = ("customer_id", "churn_score", "score", "status")


def read_status(con, month: str) -> pd.DataFrame:
    """Stage 1's ``churn_status`` rows of ``month``, only the columns :func:`build_tiers` reads.

    ``customer_id``, the churn score (``churn_score`` or ``score``) and ``status``, those the
    table has (KeyError when the table or the month's rows are missing).
    """
    cols = set(table_columns(con, "churn_status"))
    wanted = [c for c in STATUS_COLUMNS if c in cols]
    return read_month(con, "churn_status", month, columns=wanted or None)


def read_tiers(con, month: str) -> pd.DataFrame:
    """The stored tiers of ``month``, sorted by ``customer_id`` (KeyError when absent)."""
    frame = read_month(con, "tiers", month)
    return frame.sort_values("customer_id", ignore_index=True)


_UNIT_DAYS = {"days": 1.0, "day": 1.0, "weeks": 7.0, "week": 7.0}


def stored_bgnbd(con, month: str) -> BGNBD | None:
    """Stage 1's BG/NBD fit of ``month`` in days, or ``None`` when none is stored.

    Reads the store table ``churn_model`` (rows ``parameter`` r, alpha, a, b with their
    ``estimate``, ``std_error`` and ``time_unit``) and rescales ``alpha`` (and its standard
    error) to days.
    """
    if not has_table(con, "churn_model") or month not in table_months(con, "churn_model"):
        return None
    table = read_month(con, "churn_model", month)
    _require(table, ["parameter", "estimate"], "store table churn_model")
    est = table.set_index(table["parameter"].astype("str"))["estimate"]
    missing = [k for k in ("r", "alpha", "a", "b") if k not in est.index]
    if missing:
        raise TieringError(f"store table churn_model for {month} lacks parameter(s) {missing}; "
                           "rerun stage 1 for the month.")
    unit = str(table["time_unit"].iloc[0]) if "time_unit" in table else "days"
    if unit not in _UNIT_DAYS:
        raise TieringError(f"store table churn_model for {month}: unknown time_unit {unit!r} "
                           f"(expected one of {sorted(_UNIT_DAYS)}).")
    scale = pd.Series({"r": 1.0, "alpha": _UNIT_DAYS[unit], "a": 1.0, "b": 1.0})
    model = BGNBD.from_params(**{k: float(est[k]) * scale[k] for k in scale.index})
    if "std_error" in table:
        se = table.set_index(table["parameter"].astype("str"))["std_error"].astype("float64")
        model.standard_errors_ = (se.reindex(scale.index) * scale).rename("std_error")
    return model


def previous_month(month: str) -> str:
    """The month before ``month`` (``YYYY-MM``)."""
    return str(pd.Period(month, freq="M") - 1)


def previous_tiers(con, month: str) -> pd.DataFrame | None:
    """The stored tiers of the month before ``month``, or ``None`` when there are none."""
    prev = previous_month(month)
    if not has_table(con, "tiers") or prev not in table_months(con, "tiers"):
        return None
    return read_tiers(con, prev)


# --------------------------------------------------------------------------- reports


def tier_summary(tiers: pd.DataFrame) -> pd.DataFrame:
    """Size and predicted value of each tier.

    Returns
    -------
    pandas.DataFrame
        One row per tier (1 first): ``tier``, ``tier_label``, ``customers``,
        ``customer_share``, ``future_value`` (sum), ``value_share``, ``mean_future_value``,
        ``future_value_necessary``, ``future_value_discretionary`` (sums),
        ``mean_nonmonetary_index``, ``min_value_score``, ``max_value_score``.
    """
    _require(tiers, TIERS_COLUMNS, "tier_summary")
    g = tiers.groupby("tier", sort=True)
    out = pd.DataFrame({
        "tier_label": g["tier_label"].first(),
        "customers": g.size(),
        "future_value": g["future_value"].sum(),
        "mean_future_value": g["future_value"].mean(),
        "future_value_necessary": g["future_value_necessary"].sum(),
        "future_value_discretionary": g["future_value_discretionary"].sum(),
        "mean_nonmonetary_index": g["nonmonetary_index"].mean(),
        "min_value_score": g["value_score"].min(),
        "max_value_score": g["value_score"].max(),
    })
    total_value = tiers["future_value"].sum()
    out.insert(2, "customer_share", out["customers"] / len(tiers))
    out.insert(4, "value_share", out["future_value"] / total_value if total_value > 0 else np.nan)
    return out.reset_index()


def lorenz_curve(tiers: pd.DataFrame, *, n_points: int = 101) -> pd.DataFrame:
    """Cumulative share of predicted value held by the top share of customers.

    Customers sorted by ``future_value`` (highest first); the curve is read at
    ``n_points`` evenly spaced customer shares from 0 to 1 (linear between customers).

    Returns
    -------
    pandas.DataFrame
        ``customer_share``, ``value_share`` (both 0..1).
    """
    fv = np.sort(tiers["future_value"].to_numpy("float64"))[::-1]
    n = fv.size
    total = fv.sum()
    x = np.linspace(0.0, 1.0, n_points)
    if n == 0 or total <= 0:
        return pd.DataFrame({"customer_share": x, "value_share": np.full(n_points, np.nan)})
    cum = np.r_[0.0, np.cumsum(fv)] / total
    y = np.interp(x * n, np.arange(n + 1), cum)
    return pd.DataFrame({"customer_share": x, "value_share": y})


def value_concentration(tiers: pd.DataFrame, *, points: Sequence[float] = (0.01, 0.05, 0.1,
                                                                          0.2, 0.5)) -> pd.DataFrame:
    """Pareto view: share of predicted value held by the top ``x`` of customers.

    Returns
    -------
    pandas.DataFrame
        ``top_share`` (of customers), ``customers`` (``ceil(top_share * n)``),
        ``value_share`` (their share of total future value) and ``gini`` (of future
        value, the same on every row).
    """
    fv = np.sort(tiers["future_value"].to_numpy("float64"))[::-1]
    n, total = fv.size, fv.sum()
    cum = np.cumsum(fv)
    rows = []
    for x in points:
        k = min(n, math.ceil(x * n - 1e-9))
        share = cum[k - 1] / total if k > 0 and total > 0 else np.nan
        rows.append((float(x), k, share))
    out = pd.DataFrame(rows, columns=["top_share", "customers", "value_share"])
    if n and total > 0:
        asc = fv[::-1]
        gini = float((2 * np.arange(1, n + 1) - n - 1) @ asc / (n * total))
    else:
        gini = np.nan
    out["gini"] = gini
    return out


def quadrant_summary(tiers: pd.DataFrame, language: str = "zh") -> pd.DataFrame:
    """Customers, predicted value and mean churn score per value x risk quadrant."""
    _require(tiers, ["quadrant", "future_value"], "quadrant_summary")
    g = tiers.groupby("quadrant")
    out = pd.DataFrame({
        "customers": g.size(),
        "future_value": g["future_value"].sum(),
    }).reindex(list(QUADRANTS), fill_value=0)
    out["customer_share"] = out["customers"] / max(len(tiers), 1)
    total = tiers["future_value"].sum()
    out["value_share"] = out["future_value"] / total if total > 0 else np.nan
    if "churn_score" in tiers:
        out["mean_churn_score"] = g["churn_score"].mean().reindex(out.index)
    out.insert(0, "label", [label("quadrant", q, check_language(language)) for q in out.index])
    out["action"] = [label("quadrant_action", q, language) for q in out.index]
    return out.rename_axis("quadrant").reset_index()


def rfm_summary(tiers: pd.DataFrame, language: str = "zh") -> pd.DataFrame:
    """Customers and predicted value per RFM segment (segments in :data:`RFM_SEGMENTS` order)."""
    _require(tiers, ["rfm_segment", "future_value"], "rfm_summary")
    g = tiers.groupby("rfm_segment")
    out = pd.DataFrame({
        "customers": g.size(),
        "future_value": g["future_value"].sum(),
        "mean_future_value": g["future_value"].mean(),
    }).reindex(list(RFM_SEGMENTS), fill_value=0)
    out["customer_share"] = out["customers"] / max(len(tiers), 1)
    total = tiers["future_value"].sum()
    out["value_share"] = out["future_value"] / total if total > 0 else np.nan
    out["mean_future_value"] = out["mean_future_value"].where(out["customers"] > 0)
    out.insert(0, "label", [label("rfm", s, check_language(language)) for s in out.index])
    return out.rename_axis("rfm_segment").reset_index()


@dataclass(frozen=True)
class TierTransitions:
    """How customers moved between tiers from one month to the next.

    Attributes
    ----------
    month, previous : str
        The month and the month before it.
    available : bool
        Whether the previous month's tiers exist.
    matrix : pandas.DataFrame
        Counts: rows previous tier, columns current tier (customers in both months), plus a
        ``new`` row (customers not tiered last month) and a ``gone`` column (customers not
        in this month's snapshot). Empty when not available.
    shares : pandas.DataFrame
        Row shares of ``matrix`` over the customers present in both months.
    n_both, n_changed, n_up, n_down, n_new, n_gone : int
        Customers in both months, whose tier changed, moved up (to a more valuable tier),
        down, new this month, gone since last month.
    """

    month: str
    previous: str
    available: bool
    matrix: pd.DataFrame
    shares: pd.DataFrame
    n_both: int = 0
    n_changed: int = 0
    n_up: int = 0
    n_down: int = 0
    n_new: int = 0
    n_gone: int = 0

    @property
    def share_changed(self) -> float:
        """Share of customers present in both months whose tier changed (NaN when none)."""
        return self.n_changed / self.n_both if self.n_both else float("nan")

    def table(self) -> pd.DataFrame:
        """One-row summary for the report."""
        return pd.DataFrame([{
            "month": self.month, "previous": self.previous, "available": self.available,
            "customers_both": self.n_both, "changed": self.n_changed,
            "share_changed": self.share_changed, "moved_up": self.n_up,
            "moved_down": self.n_down, "new": self.n_new, "gone": self.n_gone,
        }])

    def describe(self, language: str = "en") -> str:
        """One sentence on tier stability, in ``language`` (``zh`` or ``en``)."""
        lang = check_language(language)
        if not self.available:
            return message("text.tiers.first_month", lang, month=self.month,
                           previous=self.previous)
        return message("text.tiers.moved", lang, n=self.n_both, previous=self.previous,
                       month=self.month, k=self.n_changed, s=self.share_changed, up=self.n_up,
                       down=self.n_down, new=self.n_new, gone=self.n_gone)

    def labelled_matrix(self, labels: Sequence[str] | None = None,
                        language: str = "en") -> pd.DataFrame:
        """:attr:`matrix` for people: tier names (tier 1 first) and new / gone in ``language``."""
        lang = check_language(language)

        def name(code: str) -> str:
            if code in ("new", "gone"):
                return label("transition", code, lang)
            k = int(code)
            return labels[k - 1] if labels and 0 < k <= len(labels) else code

        out = self.matrix.copy()
        out.index = pd.Index([name(str(i)) for i in out.index], name="previous_tier")
        out.columns = pd.Index([name(str(c)) for c in out.columns], name="tier")
        return out


def tier_transitions(previous: pd.DataFrame | None, current: pd.DataFrame) -> TierTransitions:
    """Tier transition matrix between the previous month's and this month's tiers.

    Parameters
    ----------
    previous : pandas.DataFrame or None
        Last month's ``tiers`` rows (``customer_id``, ``tier``, ``tier_label``), or ``None``
        in the first month.
    current : pandas.DataFrame
        This month's tiers.

    Returns
    -------
    TierTransitions
    """
    _require(current, ["month", "customer_id", "tier"], "tier_transitions (current)")
    month = str(current["month"].iloc[0]) if len(current) else ""
    prev_month = previous_month(month) if month else ""
    if previous is None or len(previous) == 0:
        empty = pd.DataFrame()
        return TierTransitions(month, prev_month, False, empty, empty)
    _require(previous, ["customer_id", "tier"], "tier_transitions (previous)")
    prev_month = str(previous["month"].iloc[0]) if "month" in previous else prev_month
    p = previous["tier"].astype("int64").to_numpy()
    c = current["tier"].astype("int64").to_numpy()
    # customers as codes of one factorization (a million ids: no index set operations)
    ids = pd.concat([previous["customer_id"].astype("str"), current["customer_id"].astype("str")],
                    ignore_index=True)
    codes, uniques = pd.factorize(ids)
    pcode, ccode = codes[: len(p)], codes[len(p):]
    for frame, code, what in ((previous, pcode, "previous"), (current, ccode, "current")):
        dup = pd.Series(code).duplicated(keep=False).to_numpy()
        if dup.any():
            raise TieringError(
                f"tier_transitions ({what}): customer_id repeated in {int(dup.sum())} rows, "
                f"e.g. {sorted(set(frame['customer_id'].astype(str)[dup]))[:5]}; "
                "one row per customer expected"
            )
    prev_tier = np.full(len(uniques), -1, dtype="int64")
    prev_tier[pcode] = p
    in_prev = np.zeros(len(uniques), dtype=bool)
    in_prev[pcode] = True
    in_cur = np.zeros(len(uniques), dtype=bool)
    in_cur[ccode] = True
    kept = in_prev[ccode]
    pb, cb = prev_tier[ccode[kept]], c[kept]
    tiers_all = sorted(set(np.unique(p)) | set(np.unique(c)))
    counts = np.zeros((len(tiers_all), len(tiers_all)), dtype="int64")
    if len(pb):
        lookup = np.searchsorted(np.asarray(tiers_all, dtype="int64"), np.concatenate([pb, cb]))
        np.add.at(counts, (lookup[: len(pb)], lookup[len(pb):]), 1)
    matrix = pd.DataFrame(counts, index=pd.Index(tiers_all, dtype="int64", name="previous_tier"),
                          columns=pd.Index(tiers_all, dtype="int64", name="tier"))
    shares = matrix.div(matrix.sum(axis=1).replace(0, np.nan), axis=0)
    shares.index = [str(i) for i in shares.index]
    shares.columns = [str(i) for i in shares.columns]
    shares.index.name, shares.columns.name = "previous_tier", "tier"
    new_tiers = c[~kept]
    gone_tiers = p[~in_cur[pcode]]
    full = matrix.copy()
    full.loc["new"] = pd.Series(new_tiers).value_counts().reindex(tiers_all, fill_value=0)
    gone = pd.Series(gone_tiers).value_counts().reindex(tiers_all, fill_value=0)
    full["gone"] = list(gone.to_numpy()) + [0]
    full = full.astype("int64")
    full.index = [str(i) for i in full.index]
    full.columns = [str(i) for i in full.columns]
    full.index.name, full.columns.name = "previous_tier", "tier"
    diff = cb - pb
    return TierTransitions(
        month=month, previous=prev_month, available=True, matrix=full, shares=shares,
        n_both=int(len(pb)), n_changed=int((diff != 0).sum()), n_up=int((diff < 0).sum()),
        n_down=int((diff > 0).sum()), n_new=int(len(new_tiers)), n_gone=int(len(gone_tiers)),
    )


def describe_tiers(summary: pd.DataFrame, concentration: pd.DataFrame, *,
                   language: str = "en") -> str:
    """A short computed paragraph: tier sizes, value shares and concentration, in ``language``."""
    lang = check_language(language)
    parts = [message("text.tiers.item", lang, label=row.tier_label, n=row.customers,
                     c=row.customer_share, v=row.value_share)
             for row in summary.itertuples()]
    text = message("text.tiers.tiers", lang, items=message("common.clause_sep", lang).join(parts))
    conc = concentration.dropna(subset=["value_share"])
    if len(conc):
        bits = [message("text.tiers.top_item", lang, x=r.top_share, v=r.value_share)
                for r in conc.itertuples()]
        text += message("text.tiers.concentration", lang,
                        items=message("text.common.comma", lang).join(bits),
                        g=conc["gini"].iloc[0])
    return text


def describe_inputs(n_customers: int, *, bgnbd: bool, previous: bool,
                    language: str = "en") -> str:
    """One line on what stage 3 read: customers, stage 1's BG/NBD model, last month's tiers."""
    lang = check_language(language)

    def yes(flag: bool) -> str:
        return message("text.common.yes" if flag else "text.common.no", lang)

    return message("text.tiers.inputs", lang, n=n_customers, bgnbd=yes(bgnbd),
                   previous=yes(previous))


def describe_written(n_customers: int, folder, *, language: str = "en") -> str:
    """One line on what stage 3 wrote: the store table ``tiers`` and the run's folder."""
    return message("text.tiers.written", check_language(language), n=n_customers, folder=folder)
