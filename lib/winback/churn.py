"""Churn scored from an indicator system, not thresholded on days of silence.

"No purchase in 180 days" misjudges customers who simply buy rarely. The kit scores
each customer on three indicators and combines them:

``p_alive``
    P(alive) from a BG/NBD model (Fader, Hardie & Lee 2005) fitted by maximum
    likelihood once per month on every customer with at least one purchase
    (:class:`winback.clv.BGNBD`). It accounts for each customer's own rhythm.
    The BG/NBD lets customers drop out only right after a *repeat* purchase, so a
    one-time buyer is alive with probability 1 whatever their silence. With
    ``zero_repeat_p_alive: first_purchase_dropout`` (default) a one-time buyer may
    also drop out right after their first purchase, with the same Beta(a, b)
    dropout probability; with the fitted parameters this gives
    ``P(alive | x = 0, T) = 1 / (1 + a/b * ((alpha + T) / alpha)^r)`` (the MBG/NBD
    form of Batislam, Denizel & Filiztekin 2007). ``model`` keeps the BG/NBD's 1.
``recency_ratio``
    Days since the last purchase over the customer's own typical gap between
    purchase days (population gap for customers with few gaps; see
    :mod:`winback.snapshot`).
``engagement_decline``
    ``max(0, -engagement_trend)`` = ``max(0, (prev - recent) / (prev + recent + 1))``
    over the last 90 vs the previous 90 days, in [0, 1). Undefined (NaN) for a
    customer with no engagement in either window: no information, not "no decline".

Score
-----
Each indicator becomes a component in [0, 1] that rises with churn risk:
``c_p_alive = 1 - p_alive``; ``c_recency = 1 / (1 + (m / ratio)^k)`` (a logistic in
``log(ratio)``: 0 at ratio 0, 0.5 at ``m = recency_midpoint``, slope ``k =
recency_steepness``); ``c_engagement = engagement_decline``. The score is the
weighted mean of the components a customer has (weights from params), so it lies in
[0, 1] and never decreases when one indicator moves towards churn.

Statuses (first rule that applies)
----------------------------------
1. ``lost`` - do-not-contact (when ``lost_if_do_not_contact``): never contacted.
2. Customers with no purchase yet: ``new`` when signed up within ``new_window_days``,
   ``lost`` when signed up more than ``no_purchase_lost_days`` ago, else ``churned``
   (signed up, never bought: an activation target). Their indicators and score are NaN.
3. ``new`` - first purchase or signup within ``new_window_days``.
4. ``lost`` - beyond recovery: ``p_alive < lost_p_alive_below`` and more than
   ``lost_recency_days`` silent, or silent more than ``lost_max_silence_days``.
5. ``churned`` - ``score >= churned_cutoff`` (the win-back target).
6. ``at_risk`` - looser early warning: ``score >= at_risk_cutoff``, or
   ``p_alive < at_risk_p_alive_below``, or ``recency_ratio > at_risk_recency_ratio_above``.
7. ``active`` otherwise.
The rule that set each status is kept in ``status_rule``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import duckdb
import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from scipy import special, stats

from winback.clv import BGNBD
from winback.config import Section
from winback.frames import distinct_text
from winback.settings import month_end
from winback.snapshot import store_frame
from winback.store import fetch_df, read_month, replace_month

__all__ = [
    "COMPONENTS",
    "INDICATORS",
    "STATUSES",
    "SCORING_COLUMNS",
    "ChurnParams",
    "ChurnScorer",
    "ChurnWeights",
    "Redundancy",
    "apply_status_rules",
    "churn_precision_recall",
    "future_purchases",
    "indicator_redundancy",
    "indicator_relevance",
    "read_churn_model",
    "read_status",
    "score_churn",
    "status_counts",
    "status_sensitivity",
    "write_churn_model",
    "write_status",
]

STATUSES: tuple[str, ...] = ("new", "active", "at_risk", "churned", "lost")
INDICATORS: tuple[str, ...] = ("p_alive", "recency_ratio", "engagement_decline")
COMPONENTS: tuple[str, ...] = ("c_p_alive", "c_recency", "c_engagement")
_STATUS_DTYPE = pd.CategoricalDtype(list(STATUSES), ordered=True)
_RULES = (
    "do_not_contact",
    "new_signup",
    "no_purchase",
    "no_purchase_lost",
    "new_customer",
    "beyond_recovery",
    "score",
    "p_alive",
    "recency_ratio",
    "none",
)
_RULE_DTYPE = pd.CategoricalDtype(list(_RULES))
_DAYS = {"days": 1.0, "weeks": 7.0}
_SNAPSHOT_NEEDS = (
    "month",
    "customer_id",
    "purchase_days",
    "frequency",
    "recency",
    "T",
    "recency_days",
    "tenure_days",
    "recency_ratio",
    "engagement_90",
    "engagement_prev_90",
    "do_not_contact",
)
# the snapshot columns scoring reads (a history month is scored from these alone)
SCORING_COLUMNS = _SNAPSHOT_NEEDS


class ChurnWeights(Section):
    """Weights of the indicator components in the churn score (>= 0, used relative to their sum)."""

    p_alive: float = Field(default=0.5, ge=0)
    recency: float = Field(default=0.3, ge=0)
    engagement: float = Field(default=0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ChurnWeights:
        if self.p_alive + self.recency + self.engagement <= 0:
            raise ValueError("at least one churn weight must be > 0")
        return self


class ChurnParams(Section):
    """Params section ``churn``: the indicator system and the status rules."""

    time_unit: Literal["days", "weeks"] = "weeks"
    penalizer: float = Field(default=0.0, ge=0)
    zero_repeat_p_alive: Literal["first_purchase_dropout", "model"] = "first_purchase_dropout"
    weights: ChurnWeights = Field(default_factory=ChurnWeights)
    recency_midpoint: float = Field(default=2.0, gt=0)
    recency_steepness: float = Field(default=3.0, gt=0)
    churned_cutoff: float = Field(default=0.6, ge=0, le=1)
    at_risk_cutoff: float = Field(default=0.4, ge=0, le=1)
    at_risk_p_alive_below: float | None = Field(default=0.5, ge=0, le=1)
    at_risk_recency_ratio_above: float | None = Field(default=2.0, gt=0)
    new_window_days: int = Field(default=90, ge=0)
    lost_if_do_not_contact: bool = True
    lost_p_alive_below: float = Field(default=0.05, ge=0, le=1)
    lost_recency_days: int = Field(default=730, ge=0)
    lost_max_silence_days: int | None = Field(default=1095, ge=0)
    no_purchase_lost_days: int = Field(default=730, ge=0)
    relevance_horizon_months: int = Field(default=3, ge=1, le=12)
    history_months: int = Field(default=12, ge=0, le=60)
    known_churn_file: str | None = None

    @model_validator(mode="after")
    def _ordered_cutoffs(self) -> ChurnParams:
        if self.at_risk_cutoff > self.churned_cutoff:
            raise ValueError(
                f"at_risk_cutoff ({self.at_risk_cutoff}) must not exceed churned_cutoff "
                f"({self.churned_cutoff}): at-risk is the looser criterion"
            )
        return self


# --------------------------------------------------------------------------- helpers


def _require_columns(frame: pd.DataFrame, needed: Sequence[str], what: str, fix: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; {fix}")


def _check_snapshot(snapshot: pd.DataFrame) -> None:
    _require_columns(
        snapshot, _SNAPSHOT_NEEDS, "The snapshot",
        "build it with winback.snapshot.month_end_snapshot."
    )
    if not snapshot["customer_id"].is_unique:
        dup = snapshot.loc[snapshot["customer_id"].duplicated(), "customer_id"].head(5).tolist()
        raise ValueError(f"The snapshot holds duplicate customer_id values, e.g. {dup}.")


def _recency_component(ratio: np.ndarray, midpoint: float, steepness: float) -> np.ndarray:
    """``1 / (1 + (m / ratio)^k)``, i.e. expit(k (log ratio - log m)); 0 at ratio 0."""
    ratio = np.asarray(ratio, dtype="float64")
    with np.errstate(divide="ignore"):
        logit = steepness * (np.log(ratio) - math.log(midpoint))
    return special.expit(logit)


def _components(frame: pd.DataFrame, params: ChurnParams) -> pd.DataFrame:
    """The three score components and the weighted-mean score over available components."""
    w = params.weights
    comps = {
        "c_p_alive": 1.0 - frame["p_alive"].to_numpy(dtype="float64"),
        "c_recency": _recency_component(
            frame["recency_ratio"].to_numpy(dtype="float64"),
            params.recency_midpoint,
            params.recency_steepness,
        ),
        "c_engagement": frame["engagement_decline"].to_numpy(dtype="float64"),
    }
    weights = {"c_p_alive": w.p_alive, "c_recency": w.recency, "c_engagement": w.engagement}
    num = np.zeros(len(frame))
    den = np.zeros(len(frame))
    for name, values in comps.items():
        ok = ~np.isnan(values)
        num += np.where(ok, values, 0.0) * weights[name]
        den += ok * weights[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    # a customer without purchases has no score (their status comes from the signup rules)
    score = np.where(frame["has_purchase"].to_numpy(), score, np.nan)
    out = pd.DataFrame(comps, index=frame.index)
    out["score"] = np.clip(score, 0.0, 1.0)
    return out


# The columns apply_status_rules reads (besides those it replaces).
_RULE_INPUTS = ("has_purchase", "p_alive", "recency_ratio", "engagement_decline",
                "recency_days", "tenure_days", "days_since_first_purchase", "do_not_contact")


def apply_status_rules(scored: pd.DataFrame, *, params: ChurnParams) -> pd.DataFrame:
    """Recompute components, score, status and status_rule from the indicators.

    Used by :meth:`ChurnScorer.score` and by :func:`status_sensitivity` (no refit: the
    indicators stay, the weights and cut-offs change).

    Parameters
    ----------
    scored
        A frame with the indicator columns of :meth:`ChurnScorer.score` (``has_purchase``,
        ``p_alive``, ``recency_ratio``, ``engagement_decline``, ``recency_days``,
        ``tenure_days``, ``days_since_first_purchase``, ``do_not_contact``).
    params
        The ``churn`` params section.

    Returns
    -------
    pandas.DataFrame
        A new frame: ``scored`` with ``c_*``, ``score``, ``status`` (ordered category
        new < active < at_risk < churned < lost) and ``status_rule`` replaced.
    """
    out = scored.drop(columns=[*COMPONENTS, "score", "status", "status_rule"], errors="ignore")
    comps = _components(out, params)
    out = pd.concat([out, comps], axis=1)
    n = len(out)
    has = out["has_purchase"].to_numpy(dtype=bool)
    dnc = out["do_not_contact"].to_numpy(dtype=bool) & params.lost_if_do_not_contact
    tenure = out["tenure_days"].to_numpy(dtype="float64")
    since_first = out["days_since_first_purchase"].to_numpy(dtype="float64")
    silence = out["recency_days"].to_numpy(dtype="float64")
    p_alive = out["p_alive"].to_numpy(dtype="float64")
    ratio = out["recency_ratio"].to_numpy(dtype="float64")
    score = out["score"].to_numpy(dtype="float64")
    window = params.new_window_days

    with np.errstate(invalid="ignore"):
        beyond = (p_alive < params.lost_p_alive_below) & (silence > params.lost_recency_days)
        if params.lost_max_silence_days is not None:
            beyond |= silence > params.lost_max_silence_days
        risk_score = score >= params.at_risk_cutoff
        risk_p = (
            p_alive < params.at_risk_p_alive_below
            if params.at_risk_p_alive_below is not None
            else np.zeros(n, bool)
        )
        risk_r = (
            ratio > params.at_risk_recency_ratio_above
            if params.at_risk_recency_ratio_above is not None
            else np.zeros(n, bool)
        )
        conditions = [
            (dnc, "lost", "do_not_contact"),
            (~has & (tenure <= window), "new", "new_signup"),
            (~has & (tenure > params.no_purchase_lost_days), "lost", "no_purchase_lost"),
            (~has, "churned", "no_purchase"),
            ((since_first <= window) | (tenure <= window), "new", "new_customer"),
            (beyond, "lost", "beyond_recovery"),
            (score >= params.churned_cutoff, "churned", "score"),
            (risk_score, "at_risk", "score"),
            (risk_p, "at_risk", "p_alive"),
            (risk_r, "at_risk", "recency_ratio"),
        ]
    # category codes, not strings: a million customers are scored once per history month
    masks = [c for c, _, _ in conditions]
    status_code = _STATUS_DTYPE.categories.get_indexer
    rule_code = _RULE_DTYPE.categories.get_indexer
    status = np.select(masks, status_code([s for _, s, _ in conditions]),
                       status_code(["active"])[0]).astype(np.int8)
    rule = np.select(masks, rule_code([r for _, _, r in conditions]),
                     rule_code(["none"])[0]).astype(np.int8)
    out["status"] = pd.Categorical.from_codes(status, dtype=_STATUS_DTYPE)
    out["status_rule"] = pd.Categorical.from_codes(rule, dtype=_RULE_DTYPE)
    return out


# --------------------------------------------------------------------------- the scorer


class ChurnScorer:
    """Churn indicators, score and status per customer, from a month-end snapshot.

    ``fit`` fits the BG/NBD model by maximum likelihood on every customer of the
    snapshot with at least one purchase (BG/NBD inputs converted from days to
    ``params.time_unit``); ``score`` computes indicators, score and status (rules in
    the module docstring).

    Parameters
    ----------
    params : ChurnParams, optional
        The ``churn`` params section (defaults when omitted).

    Attributes
    ----------
    bgnbd_ : winback.clv.BGNBD
        The fitted BG/NBD model (``bgnbd_.params_``: r, alpha in ``time_unit``, a, b).
    month_ : str
        Month of the snapshot it was fitted on.
    n_customers_ : int
        Customers the model was fitted on (those with at least one purchase).

    Examples
    --------
    >>> scorer = ChurnScorer(params.churn).fit(snapshot)          # doctest: +SKIP
    >>> scored = scorer.score(snapshot)                            # doctest: +SKIP
    >>> status_counts(scored)                                      # doctest: +SKIP
    """

    def __init__(self, params: ChurnParams | None = None):
        self.params = params if params is not None else ChurnParams()

    # -- fitting
    def _inputs(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        unit = _DAYS[self.params.time_unit]
        buyer = snapshot["purchase_days"].to_numpy() > 0
        return pd.DataFrame(
            {
                "frequency": snapshot["frequency"].to_numpy(dtype="float64")[buyer],
                "recency": snapshot["recency"].to_numpy(dtype="float64")[buyer] / unit,
                "T": snapshot["T"].to_numpy(dtype="float64")[buyer] / unit,
            },
            index=snapshot.index[buyer],
        )

    def fit(self, snapshot: pd.DataFrame) -> ChurnScorer:
        """Fit the BG/NBD model on the snapshot's customers with >= 1 purchase.

        Parameters
        ----------
        snapshot
            A frame from :func:`winback.snapshot.month_end_snapshot` (one month).

        Returns
        -------
        ChurnScorer
            ``self``, fitted.
        """
        _check_snapshot(snapshot)
        data = self._inputs(snapshot)
        if len(data) == 0:
            raise ValueError(
                "The snapshot has no customer with a purchase: the BG/NBD model needs "
                "purchase histories. Check that transactions were loaded for this month."
            )
        if not (data["frequency"] > 0).any():
            raise ValueError(
                f"None of the snapshot's {len(data)} buyers has a repeat purchase day: the "
                "BG/NBD model cannot be fitted. Load a longer transaction history."
            )
        self.bgnbd_ = BGNBD(penalizer=self.params.penalizer).fit(
            data["frequency"], data["recency"], data["T"]
        )
        months = distinct_text(snapshot["month"])
        self.month_ = ",".join(months)
        self.n_customers_ = len(data)
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "bgnbd_"):
            raise RuntimeError("ChurnScorer is not fitted: call ChurnScorer(params).fit(snapshot)")

    # -- scoring
    def p_alive(self, snapshot: pd.DataFrame) -> np.ndarray:
        """P(alive) at the month end per snapshot row (NaN for customers without purchases)."""
        self._require_fitted()
        data = self._inputs(snapshot)
        out = np.full(len(snapshot), np.nan)
        if len(data) == 0:
            return out
        x = data["frequency"].to_numpy()
        tx = data["recency"].to_numpy()
        age = data["T"].to_numpy()
        p = np.asarray(self.bgnbd_.p_alive(x, tx, age), dtype="float64")
        if self.params.zero_repeat_p_alive == "first_purchase_dropout":
            r, alpha, a, b = (float(v) for v in self.bgnbd_.params_[["r", "alpha", "a", "b"]])
            zero = x == 0
            log_odds = math.log(a / b) + r * (np.log(alpha + age[zero]) - math.log(alpha))
            p[zero] = special.expit(-log_odds)
        out[snapshot.index.get_indexer(data.index)] = p
        return out

    def score(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Indicators, components, score and status of every customer of ``snapshot``.

        Parameters
        ----------
        snapshot
            A frame from :func:`winback.snapshot.month_end_snapshot`.

        Returns
        -------
        pandas.DataFrame
            One row per customer, in the snapshot's order: ``month``, ``customer_id``,
            ``has_purchase``, ``frequency``, ``recency_days``, ``tenure_days``,
            ``days_since_first_purchase``, ``do_not_contact``, the indicators
            ``p_alive``, ``recency_ratio``, ``engagement_decline``, the components
            ``c_p_alive``, ``c_recency``, ``c_engagement``, ``score`` (in [0, 1], NaN
            without purchases), ``status`` and ``status_rule``.
        """
        self._require_fitted()
        _check_snapshot(snapshot)
        snap = snapshot.reset_index(drop=True)
        recent = snap["engagement_90"].to_numpy(dtype="float64")
        prev = snap["engagement_prev_90"].to_numpy(dtype="float64")
        engaged = (recent + prev) > 0
        decline = np.where(engaged, np.maximum(0.0, (prev - recent) / (prev + recent + 1.0)),
                           np.nan)
        frame = pd.DataFrame(
            {
                "month": snap["month"],
                "customer_id": snap["customer_id"],
                "has_purchase": snap["purchase_days"].to_numpy() > 0,
                "frequency": snap["frequency"].to_numpy(dtype="int32"),
                "recency_days": snap["recency_days"].to_numpy(dtype="float64"),
                "tenure_days": snap["tenure_days"].to_numpy(dtype="float64"),
                "days_since_first_purchase": snap["T"].to_numpy(dtype="float64"),
                "do_not_contact": snap["do_not_contact"].to_numpy(dtype=bool),
                "p_alive": self.p_alive(snap),
                "recency_ratio": snap["recency_ratio"].to_numpy(dtype="float64"),
                "engagement_decline": decline,
            }
        )
        return apply_status_rules(frame, params=self.params)

    def fit_score(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """``fit(snapshot).score(snapshot)``."""
        return self.fit(snapshot).score(snapshot)

    @property
    def summary(self) -> pd.DataFrame:
        """BG/NBD estimates with standard errors and 95% intervals, and the fit's context."""
        self._require_fitted()
        table = self.bgnbd_.summary.copy()
        table.index.name = "parameter"
        table = table.reset_index()
        table.insert(0, "month", getattr(self, "month_", None))
        table["time_unit"] = self.params.time_unit
        table["penalizer"] = self.params.penalizer
        table["n_customers"] = getattr(self, "n_customers_", np.nan)
        table["log_likelihood"] = getattr(self.bgnbd_, "log_likelihood_", np.nan)
        return table

    def __repr__(self) -> str:
        if not hasattr(self, "bgnbd_"):
            return f"ChurnScorer(time_unit={self.params.time_unit!r}) - not fitted"
        est = ", ".join(f"{k}={v:.4g}" for k, v in self.bgnbd_.params_.items())
        n = getattr(self, "n_customers_", None)
        n_text = f" on {n:,} customers" if n is not None else ""
        return (
            f"ChurnScorer(month={getattr(self, 'month_', None)!r}) BG/NBD{n_text} in "
            f"{self.params.time_unit}: {est}; cut-offs churned {self.params.churned_cutoff}, "
            f"at_risk {self.params.at_risk_cutoff}"
        )


def score_churn(
    snapshot: pd.DataFrame,
    *,
    params: ChurnParams,
    model: ChurnScorer | BGNBD | None = None,
) -> pd.DataFrame:
    """Score churn on ``snapshot``: fit the BG/NBD on it unless a fitted ``model`` is given.

    Parameters
    ----------
    snapshot
        A frame from :func:`winback.snapshot.month_end_snapshot`.
    params
        The ``churn`` params section.
    model
        A fitted :class:`ChurnScorer` (its BG/NBD is reused with ``params``), or a fitted
        :class:`winback.clv.BGNBD` in ``params.time_unit``; ``None`` fits on ``snapshot``.

    Returns
    -------
    pandas.DataFrame
        See :meth:`ChurnScorer.score`.
    """
    if model is None:
        return ChurnScorer(params).fit_score(snapshot)
    scorer = ChurnScorer(params)
    if isinstance(model, ChurnScorer):
        model._require_fitted()
        scorer.bgnbd_ = model.bgnbd_
        scorer.month_ = getattr(model, "month_", None)
        scorer.n_customers_ = getattr(model, "n_customers_", None)
    elif isinstance(model, BGNBD):
        if not hasattr(model, "params_"):
            raise RuntimeError("The BGNBD model passed to score_churn is not fitted.")
        scorer.bgnbd_ = model
    else:
        raise TypeError(f"model must be a ChurnScorer or a BGNBD, got {type(model).__name__}")
    return scorer.score(snapshot)


# --------------------------------------------------------------------------- summaries


def status_counts(scored: pd.DataFrame) -> pd.DataFrame:
    """Customers per status (every status listed, in order) and their share of all customers."""
    _require_columns(scored, ["status"], "The scored frame", "score it with score_churn.")
    counts = (
        scored["status"].astype(_STATUS_DTYPE).value_counts(sort=False).reindex(list(STATUSES))
    )
    total = int(counts.sum())
    return pd.DataFrame(
        {
            "status": pd.Categorical(list(STATUSES), dtype=_STATUS_DTYPE),
            "customers": counts.to_numpy(dtype="int64"),
            "share": counts.to_numpy(dtype="float64") / total if total else np.nan,
        }
    )


def status_sensitivity(
    scored: pd.DataFrame,
    *,
    params: ChurnParams,
    weight_grid: Mapping[str, Sequence[float]] | None = None,
    cutoff_grid: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """How status counts move when one weight or cut-off moves (one at a time).

    Parameters
    ----------
    scored
        A frame from :func:`score_churn` (indicators are reused, nothing is refitted).
    params
        The base ``churn`` params.
    weight_grid
        ``{"p_alive" | "recency" | "engagement": [values]}``; default: each weight at
        0, 0.5x, 1x, 1.5x and 2x its base value.
    cutoff_grid
        ``{"churned_cutoff" | "at_risk_cutoff": [values]}``; default: base -0.1, -0.05,
        0, +0.05, +0.1 (within [0, 1]). A value that would put the at-risk cut-off
        above the churned one is still applied (at-risk band then empty).

    Returns
    -------
    pandas.DataFrame
        One row per (parameter, value): ``parameter`` (``weights.<name>`` or the cut-off
        name), ``value``, ``is_base``, customers per status (one column each),
        ``share_changed`` (share of customers whose status differs from the base).
    """
    # the rules read only these columns: each of the grid's passes copies them, not the frame
    scored = scored[list(_RULE_INPUTS)]
    # statuses compared and counted by their category codes (the order of STATUSES)
    base_status = apply_status_rules(scored, params=params)["status"].cat.codes.to_numpy()
    if weight_grid is None:
        weight_grid = {
            name: [getattr(params.weights, name) * f for f in (0.0, 0.5, 1.0, 1.5, 2.0)]
            for name in ChurnWeights.model_fields
        }
    if cutoff_grid is None:
        cutoff_grid = {
            name: sorted({round(min(1.0, max(0.0, getattr(params, name) + d)), 6)
                          for d in (-0.1, -0.05, 0.0, 0.05, 0.1)})
            for name in ("churned_cutoff", "at_risk_cutoff")
        }
    unknown = [k for k in weight_grid if k not in ChurnWeights.model_fields]
    unknown += [k for k in cutoff_grid if k not in ("churned_cutoff", "at_risk_cutoff")]
    if unknown:
        raise ValueError(
            f"status_sensitivity: unknown parameter(s) {unknown}; weights are "
            f"{list(ChurnWeights.model_fields)}, cut-offs churned_cutoff and at_risk_cutoff."
        )
    rows = []
    cases = [("weights", name, values) for name, values in weight_grid.items()]
    cases += [("cutoff", name, values) for name, values in cutoff_grid.items()]
    for kind, name, values in cases:
        for value in values:
            value = float(value)
            if kind == "weights":
                weights = params.weights.model_copy(update={name: value})
                if weights.p_alive + weights.recency + weights.engagement <= 0:
                    continue
                changed = params.model_copy(update={"weights": weights})
                label, base_value = f"weights.{name}", getattr(params.weights, name)
            else:
                changed = params.model_copy(update={name: value})
                label, base_value = name, getattr(params, name)
            status = apply_status_rules(scored, params=changed)["status"].cat.codes.to_numpy()
            counts = np.bincount(status, minlength=len(STATUSES))
            rows.append(
                {
                    "parameter": label,
                    "value": value,
                    "is_base": bool(np.isclose(value, base_value)),
                    **dict(zip(STATUSES, counts.astype("int64"), strict=True)),
                    "share_changed": float(np.mean(status != base_status))
                    if len(status) else np.nan,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- indicator checks


def future_purchases(con: duckdb.DuckDBPyConnection, month: str, horizon_months: int) -> pd.DataFrame:
    """Purchase days of each customer in the ``horizon_months`` months after ``month``.

    Counts distinct calendar days with a purchase (``amount > 0``, not a return) in
    ``(month end, month end of month + horizon]``, from the store table ``transactions``.
    Customers without such a purchase are absent.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``future_purchase_days`` (int32).
    """
    if horizon_months < 1:
        raise ValueError(f"horizon_months must be >= 1, got {horizon_months}")
    start = month_end(month) + pd.Timedelta(days=1)
    last = str(pd.Period(month, "M") + horizon_months)
    end = month_end(last) + pd.Timedelta(days=1)
    cols = {r[0] for r in con.execute("DESCRIBE transactions").fetchall()}
    ret = " AND NOT coalesce(is_return, false)" if "is_return" in cols else ""
    return fetch_df(con,
        f"""
        SELECT customer_id, CAST(count(DISTINCT CAST(order_ts AS DATE)) AS INTEGER)
               AS future_purchase_days
        FROM transactions
        WHERE order_ts >= ? AND order_ts < ? AND amount > 0{ret}
        GROUP BY customer_id ORDER BY customer_id
        """,
        [start, end],
    )


def _inactive(scored: pd.DataFrame, future: pd.DataFrame) -> np.ndarray:
    if "inactive" in future.columns:
        col, flag = "inactive", True
    elif "future_purchase_days" in future.columns:
        col, flag = "future_purchase_days", False
    elif "future_orders" in future.columns:
        col, flag = "future_orders", False
    else:
        raise ValueError(
            "future_activity needs customer_id and one of inactive (bool), "
            f"future_purchase_days or future_orders; it has {list(future.columns)}."
        )
    if future["customer_id"].duplicated().any():
        raise ValueError("future_activity holds duplicate customer_id values.")
    values = future.set_index("customer_id")[col].reindex(scored["customer_id"])
    if flag:
        return values.fillna(True).to_numpy(dtype=bool)
    return (values.fillna(0).to_numpy(dtype="float64") <= 0)


def _auc_ci(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    """Hanley & McNeil (1982) standard error; a 95% normal interval clipped to [0, 1]."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    half = 1.959963984540054 * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def indicator_relevance(
    past_snapshot_scored: pd.DataFrame,
    future_activity: pd.DataFrame,
    *,
    indicators: Sequence[str] = (*INDICATORS, "score"),
) -> pd.DataFrame:
    """Each indicator's association with realized future inactivity.

    Score a snapshot H months back, then check each indicator against whether the
    customer made no purchase in the following H months.

    Parameters
    ----------
    past_snapshot_scored
        :func:`score_churn` output for the past month (filter it first to the customers
        of interest, e.g. those not ``new``).
    future_activity
        ``customer_id`` and one of ``inactive`` (bool), ``future_purchase_days`` or
        ``future_orders`` (e.g. :func:`future_purchases`). Customers absent from it made
        no purchase (inactive).
    indicators
        Columns to check; ``p_alive`` is reversed so that for every indicator a higher
        value means more churn risk.

    Returns
    -------
    pandas.DataFrame
        Per indicator: ``orientation``, ``n`` (customers with a value), ``n_inactive``,
        ``inactive_rate``, ``auc`` with a 95% interval (Hanley & McNeil 1982 standard
        error), point-biserial correlation ``r_pb`` with a 95% Fisher-z interval and its
        ``p_value``. AUC 0.5 / r 0 = no relevance.
    """
    _require_columns(past_snapshot_scored, ["customer_id", *indicators], "The scored frame",
                     "score the past snapshot with score_churn.")
    _require_columns(future_activity, ["customer_id"], "future_activity",
                     "give one row per customer with a purchase count or an inactive flag.")
    from sklearn.metrics import roc_auc_score

    inactive = _inactive(past_snapshot_scored, future_activity)
    rows = []
    for name in indicators:
        values = past_snapshot_scored[name].to_numpy(dtype="float64")
        reverse = name == "p_alive"
        if reverse:
            values = -values
        ok = ~np.isnan(values)
        x, y = values[ok], inactive[ok]
        n, n_pos = int(ok.sum()), int(y.sum())
        n_neg = n - n_pos
        if n_pos == 0 or n_neg == 0 or n < 4:
            raise ValueError(
                f"indicator_relevance({name!r}): needs both inactive and active customers "
                f"with a value (n={n}, inactive={n_pos}); choose an earlier past month or a "
                "longer horizon."
            )
        auc = float(roc_auc_score(y, x))
        auc_low, auc_high = _auc_ci(auc, n_pos, n_neg)
        if np.ptp(x) == 0:
            r = p = r_low = r_high = np.nan
        else:
            r, p = stats.pointbiserialr(y, x)
            z, se = math.atanh(min(max(r, -0.999999), 0.999999)), 1 / math.sqrt(n - 3)
            r_low, r_high = math.tanh(z - 1.959963984540054 * se), math.tanh(
                z + 1.959963984540054 * se
            )
        rows.append(
            {
                "indicator": name,
                "orientation": "lower = churn" if reverse else "higher = churn",
                "n": n,
                "n_inactive": n_pos,
                "inactive_rate": n_pos / n,
                "auc": auc,
                "auc_low": auc_low,
                "auc_high": auc_high,
                "r_pb": float(r),
                "r_low": float(r_low),
                "r_high": float(r_high),
                "p_value": float(p),
            }
        )
    return pd.DataFrame(rows)


class Redundancy(NamedTuple):
    """Correlation matrix and variance inflation factors of the indicators."""

    corr: pd.DataFrame
    vif: pd.DataFrame


def indicator_redundancy(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] = COMPONENTS,
    method: Literal["pearson", "spearman"] = "spearman",
) -> Redundancy:
    """Correlations and VIFs of the indicators, to spot redundant ones before weighting them.

    Parameters
    ----------
    frame
        Customers x indicators (default: the score components of :func:`score_churn`,
        which are what the score adds up). Rows with a missing value are left out.
    columns
        Indicator columns.
    method
        Correlation method (Spearman is robust to the heavy tail of recency ratios).

    Returns
    -------
    Redundancy
        ``corr`` (columns x columns) and ``vif`` (``indicator``, ``vif``, ``n``), the VIF
        from statsmodels ``variance_inflation_factor`` on the columns plus a constant.
        VIF above 5-10 flags an indicator the others largely explain; ``inf`` means
        exact collinearity.
    """
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    columns = list(columns)
    _require_columns(frame, columns, "The indicator frame", "pass columns= to choose others.")
    if len(columns) < 2:
        raise ValueError("indicator_redundancy needs at least two indicator columns.")
    data = frame[columns].astype("float64").dropna()
    if len(data) <= len(columns) + 1:
        raise ValueError(
            f"indicator_redundancy: only {len(data)} complete rows for {len(columns)} "
            "indicators; need more customers with every indicator."
        )
    corr = data.corr(method=method)
    exog = np.column_stack([np.ones(len(data)), data.to_numpy()])
    with np.errstate(divide="ignore", invalid="ignore"):
        vif = [float(variance_inflation_factor(exog, i + 1)) for i in range(len(columns))]
    return Redundancy(
        corr=corr,
        vif=pd.DataFrame({"indicator": columns, "vif": vif, "n": len(data)}),
    )


def churn_precision_recall(
    status: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    positive: Sequence[str] = ("churned",),
) -> pd.DataFrame:
    """Precision and recall of the ``churned`` status against a known truth.

    Parameters
    ----------
    status
        ``customer_id`` and ``status`` (e.g. :func:`score_churn` output).
    truth
        ``customer_id`` and ``truly_churned`` (bool), e.g. the demo simulator's ground
        truth. Every customer of ``status`` must appear; extra truth rows are ignored.
    positive
        Statuses counted as a churn call (default ``churned`` only).

    Returns
    -------
    pandas.DataFrame
        Rows ``precision`` (true churned among called) and ``recall`` (called among truly
        churned): ``value``, ``numerator``, ``denominator`` and a Wilson 95% interval
        (``ci_low``, ``ci_high``; statsmodels ``proportion_confint``).
    """
    from statsmodels.stats.proportion import proportion_confint

    _require_columns(status, ["customer_id", "status"], "The status frame",
                     "score customers with score_churn.")
    _require_columns(truth, ["customer_id", "truly_churned"], "The truth frame",
                     "give customer_id and truly_churned (bool).")
    if truth["customer_id"].duplicated().any():
        raise ValueError("The truth frame holds duplicate customer_id values.")
    flags = truth.set_index("customer_id")["truly_churned"].reindex(status["customer_id"])
    if flags.isna().any():
        missing = flags.index[flags.isna()][:5].tolist()
        raise ValueError(
            f"The truth frame lacks {int(flags.isna().sum())} customer(s) of the status frame, "
            f"e.g. {missing}: give the truth for every scored customer."
        )
    actual = flags.to_numpy(dtype=bool)
    called = status["status"].astype("str").isin(list(positive)).to_numpy()
    tp = int((called & actual).sum())
    rows = []
    for metric, den in (("precision", int(called.sum())), ("recall", int(actual.sum()))):
        if den:
            low, high = proportion_confint(tp, den, alpha=0.05, method="wilson")
            value = tp / den
        else:
            low = high = value = np.nan
        rows.append({"metric": metric, "value": value, "numerator": tp, "denominator": den,
                     "ci_low": float(low), "ci_high": float(high)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- store


def _check_month(month: str, frame: pd.DataFrame) -> None:
    months = distinct_text(frame["month"]) if "month" in frame else []
    if months and months != [month]:
        raise ValueError(f"The frame holds months {months}, not only {month}.")


def write_status(con: duckdb.DuckDBPyConnection, month: str, scored: pd.DataFrame) -> int:
    """Store ``scored`` in the table ``churn_status``, replacing exactly ``month``'s rows.

    One transaction (:func:`winback.store.replace_month`). Returns the rows written.
    """
    _require_columns(scored, ["customer_id", "status", "score"], "The scored frame",
                     "score customers with score_churn.")
    _check_month(month, scored)
    if not scored["customer_id"].is_unique:
        raise ValueError("The scored frame holds duplicate customer_id values.")
    frame = scored.assign(month=month)
    frame = frame[["month", *[c for c in frame.columns if c != "month"]]]
    replace_month(con, "churn_status", month, store_frame(frame))
    return len(frame)


def read_status(con: duckdb.DuckDBPyConnection, month: str) -> pd.DataFrame:
    """The stored churn status of ``month`` (sorted by customer_id; status as ordered category).

    Raises
    ------
    KeyError
        The store has no ``churn_status`` rows for ``month``.
    """
    frame = read_month(con, "churn_status", month).sort_values("customer_id", ignore_index=True)
    frame["status"] = frame["status"].astype(_STATUS_DTYPE)
    if "status_rule" in frame:
        frame["status_rule"] = frame["status_rule"].astype(_RULE_DTYPE)
    if "month" in frame:
        frame["month"] = frame["month"].astype("category")
    return frame


def write_churn_model(con: duckdb.DuckDBPyConnection, month: str, scorer: ChurnScorer) -> None:
    """Store the month's BG/NBD estimates (``scorer.summary``) in the table ``churn_model``."""
    table = scorer.summary.assign(month=month)
    replace_month(con, "churn_model", month, store_frame(table))


def read_churn_model(con: duckdb.DuckDBPyConnection, month: str) -> BGNBD:
    """The BG/NBD model stored for ``month`` (parameters only, in its ``time_unit``)."""
    table = read_month(con, "churn_model", month).set_index("parameter")["estimate"]
    return BGNBD.from_params(**{k: float(table[k]) for k in ("r", "alpha", "a", "b")})
