"""Early warning: which active customers are about to churn, backtested on time.

Training table
--------------
One row per customer in the *warning population* of a past month-end snapshot ``t``:
customers whose churn status at ``t`` (stage 1's :mod:`winback.churn` rules) is one of
``WarningParams.population_statuses`` (``active`` by default: not yet new, at risk,
churned or lost). This is the methodology's "looser criteria than the churn definition":
the model looks at customers the churn definition still calls healthy.

Label
    1 when the customer's status, by the same churn rules applied to the snapshots of
    months ``t+1 .. t+H`` (``H = horizon_months``), is one of ``churn_statuses`` in at
    least one of those months; else 0. A month's label is known only when the statuses
    of all ``H`` following months are.
Features
    Built from the snapshot (:data:`FEATURES`): recency against the customer's own
    purchase gap, frequency, spend and order trends (last 90 days vs the 90 before),
    engagement level and trend, gap statistics, necessary share, returns, complaints and
    tenure, and the churn indicators of the month's status (``p_alive`` and the churn
    ``score``, as ``churn_score``). Counts and amounts enter as ``log(1 + x)`` (amounts signed), trends as
    ``(recent - previous) / (|recent| + |previous| + 1)``; missing values (no repeat
    purchase: no gap) are left NaN for the gradient-boosted model and replaced by the
    training median for the logistic model.

Snapshots of months the kit has run come from the store table ``snapshots``; earlier
months are computed on demand from the store's transactions with
:func:`winback.snapshot.month_end_snapshot_tables` and cached in ``warning_snapshots``
(only the columns this stage reads: features, the recency rule, do-not-contact, the churn
scoring inputs and the alert indicators). Statuses likewise come from ``churn_status`` or
are computed with :mod:`winback.churn` and cached in ``warning_status``. Each cached row
carries a hash of the params it was computed with; a params change recomputes.

Models
------
``logistic``
    Standardized features, L2 logistic regression: the transparent baseline; its
    coefficients (log-odds per standard deviation) are the summary.
``gbm``
    scikit-learn's ``HistGradientBoostingClassifier`` (no early stopping, so the fit is
    deterministic).

Both are calibrated on a held-out month: the base model is fitted on every training
month but the latest, and a sigmoid (Platt 1999) or isotonic map from its score to the
observed churn rate is fitted on the latest training month (``CalibratedClassifierCV``
over the frozen base model). Sigmoid is the default: one month holds a few hundred
churners in a mid-sized client, too few for an isotonic step function (it gives 0% and
100% risks). Ranking metrics use the base score (isotonic maps have ties); probabilities
shown as *risk* are calibrated.

Backtest
--------
For each evaluated month ``e`` (the latest ``backtest_months`` months whose labels are
observed), models are trained only on months ``t`` with ``t + H <= e``
(:func:`winback.backtest.training_months`, checked by
:func:`winback.backtest.check_no_future`), at most ``max_train_months`` of them, with at
most ``max_train_rows`` rows (a seeded uniform sample beyond that). They are compared
with the **recency rule** (score = ``recency_ratio``, days since the last purchase over
the customer's own typical gap) on ROC-AUC, PR-AUC and precision/recall/lift at the
call-centre capacity, and the calibrated risk on the Brier score and a reliability curve.

A month's backtest depends only on its training and evaluated rows, the params of the
models and split, the capacity and the engagement seed (each month's seeds derive from
the engagement seed and the *evaluated* month, never the run month). With the store at
hand, each evaluated month's result (metrics, predictions, split) is kept in
``warning_backtest_cache`` / ``warning_backtest_predictions`` under a key digesting all
of these (the rows through :func:`winback.backtest.month_fingerprints`), so the next
month's run computes only its newly evaluated month. An entry whose key differs (data
rebuilt by stage 1, params changed, another library version) or that fails its checksum
is recomputed and replaced.

Factors
-------
Each watchlisted customer carries the three features that push their risk up most.
Logistic: contribution ``coef_j * z_j`` (log-odds, ``z`` the standardized value).
Gradient boosting: ``p(x) - p(x with feature j set to the training median)``, the drop in
the base model's probability if that one feature were typical (one extra prediction per
feature and customer: cheap, and it needs no SHAP).

Threshold alerts
----------------
Rules on the customer's own previous window (days 91-180 before the month end vs the
last 90): an alert fires when an indicator fell by at least the share in
``WarningParams.alerts`` and the previous window had enough activity to compare.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
from pydantic import Field, model_validator
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from winback.backtest import (
    check_no_future,
    classification_metrics,
    month_fingerprints,
    rank_order,
    reliability_table,
    training_months,
    wilson_interval,
)
from winback.churn import SCORING_COLUMNS, score_churn
from winback.config import Section
from winback.messages import check_language, label
from winback.messages import t as message
from winback.settings import derive_seed, month_range
from winback.snapshot import (
    month_end_snapshot,
    month_end_snapshot_tables,
    read_snapshot,
    snapshot_frame,
    snapshot_months,
    store_frame,
)
from winback.store import fetch_df, has_table, replace_month, table_months, transaction

__all__ = [
    "FEATURES",
    "FEATURE_LABELS",
    "MODELS",
    "AlertParams",
    "Backtest",
    "FinalModels",
    "GBMParams",
    "WarningError",
    "WarningHistory",
    "WarningModel",
    "WarningParams",
    "alert_counts",
    "choose_model",
    "describe_backtest",
    "describe_watchlist",
    "factor_counts",
    "feature_frame",
    "fit_final",
    "history_months",
    "label_frame",
    "load_history",
    "month_snapshot",
    "month_status",
    "past_watchlists",
    "performance_rows",
    "read_performance",
    "realized_performance",
    "record_performance",
    "recency_rule",
    "resolve_capacity",
    "run_backtest",
    "threshold_alerts",
    "watchlist",
    "write_performance",
    "write_watchlist",
]

MODELS = ("logistic", "gbm")
RULE = "recency_rule"
STATUSES = ("new", "active", "at_risk", "churned", "lost")


class WarningError(ValueError):
    """The early-warning stage cannot proceed; the message names the table, column or fix."""


# --------------------------------------------------------------------------- params


class GBMParams(Section):
    """Hyper-parameters of the gradient-boosted model (``HistGradientBoostingClassifier``)."""

    max_iter: int = Field(default=100, ge=10, le=5000)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    max_leaf_nodes: int = Field(default=15, ge=2, le=255)
    min_samples_leaf: int = Field(default=40, ge=1)
    l2_regularization: float = Field(default=1.0, ge=0)


class AlertParams(Section):
    """Threshold alerts: drop of an indicator vs the customer's own previous 90 days."""

    frequency_drop: float = Field(default=0.5, gt=0, le=1)
    spend_drop: float = Field(default=0.5, gt=0, le=1)
    engagement_drop: float = Field(default=0.5, gt=0, le=1)
    min_prev_orders: int = Field(default=2, ge=1)
    min_prev_spend: float = Field(default=0.0, ge=0)
    min_prev_engagement: int = Field(default=2, ge=1)


class WarningParams(Section):
    """Params section ``warning``: the early-warning model, its backtest and the watchlist."""

    horizon_months: int = Field(default=3, ge=1, le=12)
    population_statuses: list[str] = Field(default_factory=lambda: ["active"])
    churn_statuses: list[str] = Field(default_factory=lambda: ["churned", "lost"])
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    max_train_months: int = Field(default=12, ge=1, le=120)
    min_train_months: int = Field(default=3, ge=1)
    backtest_months: int = Field(default=6, ge=1, le=60)
    max_train_rows: int = Field(default=200_000, ge=1000)
    capacity: int | None = Field(default=200, ge=1)
    watchlist_rule: Literal["capacity", "probability"] = "capacity"
    probability_threshold: float = Field(default=0.5, gt=0, lt=1)
    watchlist_model: Literal["auto", "logistic", "gbm"] = "auto"
    exclude_do_not_contact: bool = True
    calibration: Literal["isotonic", "sigmoid", "none"] = "sigmoid"
    reliability_bins: int = Field(default=10, ge=2, le=50)
    logistic_c: float = Field(default=1.0, gt=0)
    threads: int | None = Field(default=1, ge=1)
    gbm: GBMParams = Field(default_factory=GBMParams)
    alerts: AlertParams = Field(default_factory=AlertParams)

    @model_validator(mode="after")
    def _check(self) -> WarningParams:
        for key in ("population_statuses", "churn_statuses"):
            values = getattr(self, key)
            unknown = sorted(set(values) - set(STATUSES))
            if unknown or not values:
                raise ValueError(
                    f"{key}: {unknown or 'empty'}; list one or more of {', '.join(STATUSES)}"
                )
        both = sorted(set(self.population_statuses) & set(self.churn_statuses))
        if both:
            raise ValueError(
                f"status(es) {both} are both in population_statuses and churn_statuses: a "
                "customer already churned cannot become churned"
            )
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown or not self.features:
            raise ValueError(
                f"features: unknown {unknown or 'empty list'}; choose from {', '.join(FEATURES)}"
            )
        if self.min_train_months > self.max_train_months:
            raise ValueError(
                f"min_train_months ({self.min_train_months}) exceeds max_train_months "
                f"({self.max_train_months})"
            )
        return self


# --------------------------------------------------------------------------- features


def _col(s: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(s[name], errors="coerce").astype(float)


def _log1p(name: str):
    return lambda s: np.log1p(_col(s, name).clip(lower=0))


def _slog(x: pd.Series) -> pd.Series:
    return np.sign(x) * np.log1p(x.abs())


def _trend(recent: pd.Series, previous: pd.Series) -> pd.Series:
    return (recent - previous) / (recent.abs() + previous.abs() + 1.0)


# name -> (snapshot columns used, function of the snapshot)
_FEATURE_DEFS = {
    "recency_ratio": (("recency_ratio",), _log1p("recency_ratio")),
    "recency_days": (("recency_days",), _log1p("recency_days")),
    "frequency": (("frequency",), _log1p("frequency")),
    "purchase_days_365": (("purchase_days_365",), _log1p("purchase_days_365")),
    "orders_90": (("orders_90",), _log1p("orders_90")),
    "order_trend": (("orders_90", "orders_prev_90"),
                    lambda s: _trend(_col(s, "orders_90"), _col(s, "orders_prev_90"))),
    "spend_365": (("spend_365",), lambda s: _slog(_col(s, "spend_365"))),
    "spend_trend": (("spend_90", "spend_prev_90"),
                    lambda s: _trend(_col(s, "spend_90"), _col(s, "spend_prev_90"))),
    "monetary_value": (("monetary_value",), lambda s: _slog(_col(s, "monetary_value"))),
    "engagement_90": (("engagement_90",), _log1p("engagement_90")),
    "engagement_trend": (("engagement_trend",), lambda s: _col(s, "engagement_trend")),
    "complaints_365": (("eng_complaint_365",), _log1p("eng_complaint_365")),
    "service_tickets_365": (("eng_service_ticket_365",), _log1p("eng_service_ticket_365")),
    "gap_median": (("gap_median",), _log1p("gap_median")),
    "gap_cv": (("gap_std", "gap_mean"),
               lambda s: _col(s, "gap_std") / _col(s, "gap_mean").where(_col(s, "gap_mean") > 0)),
    "necessary_share_365": (("necessary_share_365",), lambda s: _col(s, "necessary_share_365")),
    "return_share_365": (
        ("return_amount_365", "spend_365"),
        lambda s: (_col(s, "return_amount_365")
                   / (_col(s, "spend_365") + _col(s, "return_amount_365")).where(
                       lambda d: d > 0)).clip(0, 1),
    ),
    "tenure_days": (("tenure_days",), _log1p("tenure_days")),
    "p_alive": (("p_alive",), lambda s: _col(s, "p_alive")),
    "churn_score": (("churn_score",), lambda s: _col(s, "churn_score")),
}

FEATURES: tuple[str, ...] = tuple(_FEATURE_DEFS)

# feature -> (English, Chinese) label, for factor tables and charts.
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "recency_ratio": ("recency vs own purchase gap", "距上次购买/自身购买间隔"),
    "recency_days": ("days since last purchase", "距上次购买天数"),
    "frequency": ("repeat purchase days", "重复购买天数"),
    "purchase_days_365": ("purchase days, last 365 days", "近365天购买天数"),
    "orders_90": ("orders, last 90 days", "近90天订单数"),
    "order_trend": ("order trend (90 days vs previous 90)", "订单趋势(近90天对前90天)"),
    "spend_365": ("net spend, last 365 days", "近365天净消费"),
    "spend_trend": ("spend trend (90 days vs previous 90)", "消费趋势(近90天对前90天)"),
    "monetary_value": ("spend per repeat purchase day", "每次复购消费"),
    "engagement_90": ("engagement, last 90 days", "近90天互动次数"),
    "engagement_trend": ("engagement trend", "互动趋势"),
    "complaints_365": ("complaints, last 365 days", "近365天投诉"),
    "service_tickets_365": ("service tickets, last 365 days", "近365天服务工单"),
    "gap_median": ("median purchase gap", "购买间隔中位数"),
    "gap_cv": ("purchase gap variability", "购买间隔波动"),
    "necessary_share_365": ("necessary share of spend", "必需品消费占比"),
    "return_share_365": ("returned share of spend", "退货金额占比"),
    "tenure_days": ("tenure", "注册时长"),
    "p_alive": ("P(alive), BG/NBD", "存活概率 (BG/NBD)"),
    "churn_score": ("churn score", "流失评分"),
}


def feature_frame(snapshot: pd.DataFrame, *, features=FEATURES) -> pd.DataFrame:
    """Model features of a month-end snapshot, one row per customer (see module docstring).

    Parameters
    ----------
    snapshot
        A frame from :func:`winback.snapshot.month_end_snapshot` (or the store's
        ``snapshots``), one row per customer.
    features
        Names from :data:`FEATURES`.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` then one float column per feature, in the snapshot's row order.
    """
    unknown = [f for f in features if f not in _FEATURE_DEFS]
    if unknown:
        raise WarningError(f"Unknown feature(s) {unknown}; choose from {', '.join(FEATURES)}.")
    needed = sorted({c for f in features for c in _FEATURE_DEFS[f][0]} | {"customer_id"})
    missing = [c for c in needed if c not in snapshot.columns]
    if missing:
        raise WarningError(
            f"The snapshot lacks column(s) {missing} the early-warning features need; "
            "rebuild it with winback.snapshot.month_end_snapshot or drop those features "
            "from params warning.features."
        )
    out = {"customer_id": snapshot["customer_id"].astype("str").array}  # compact text
    for name in features:
        values = _FEATURE_DEFS[name][1](snapshot).to_numpy(dtype=float)
        out[name] = np.where(np.isinf(values), np.nan, values)
    return pd.DataFrame(out)


def recency_rule(snapshot: pd.DataFrame) -> pd.Series:
    """The recency-only benchmark score: ``recency_ratio`` (higher = riskier).

    Customers without a purchase (NaN ratio) rank above everyone else, as a rule reading
    only recency would treat them.
    """
    if "recency_ratio" not in snapshot.columns:
        raise WarningError("The snapshot lacks 'recency_ratio' needed by the recency rule.")
    r = pd.to_numeric(snapshot["recency_ratio"], errors="coerce").astype(float)
    top = float(np.nanmax(r.to_numpy())) + 1.0 if r.notna().any() else 1.0
    return r.fillna(top).rename(RULE)


# --------------------------------------------------------------------------- labels


def _period(month: str) -> pd.Period:
    return pd.Period(str(month), freq="M")


def label_frame(
    statuses: pd.DataFrame,
    *,
    horizon: int,
    population_statuses=("active",),
    churn_statuses=("churned", "lost"),
) -> pd.DataFrame:
    """Warning population and label of every snapshot month whose label is observed.

    Parameters
    ----------
    statuses
        Churn statuses, long: ``month`` (YYYY-MM), ``customer_id``, ``status``.
    horizon
        ``H``: the label looks at months ``t+1 .. t+H``.
    population_statuses
        Statuses at ``t`` that put a customer in the scored population.
    churn_statuses
        Statuses that count as churned.

    Returns
    -------
    pandas.DataFrame
        ``month``, ``customer_id``, ``label`` (0/1 int) for every customer of the
        population at ``t``, for each month ``t`` with all of ``t+1 .. t+H`` present in
        ``statuses``. A customer absent from a later month's statuses counts as not
        churned in that month.
    """
    missing = [c for c in ("month", "customer_id", "status") if c not in statuses.columns]
    if missing:
        raise WarningError(f"The statuses frame lacks column(s) {missing}.")
    if horizon < 1:
        raise WarningError(f"horizon must be at least 1 month, got {horizon}")
    month_codes, months = pd.factorize(statuses["month"].astype("str"), sort=True)
    cust_codes, customers = pd.factorize(statuses["customer_id"].astype("str"))
    status_codes, status_values = pd.factorize(statuses["status"].astype("str"))
    ordinals = np.array([_period(m).ordinal for m in months], dtype=np.int64)
    n_cust = max(len(customers), 1)
    keys = ordinals[month_codes] * n_cust + cust_codes
    ordered = np.sort(keys)
    if (ordered[1:] == ordered[:-1]).any():
        dup = pd.Series(keys).duplicated().to_numpy()
        ex = statuses.loc[dup, ["month", "customer_id"]].head(3).to_dict("records")
        raise WarningError(
            f"Statuses hold {int(dup.sum())} duplicate (month, customer_id), e.g. {ex}.")
    known = set(ordinals.tolist())
    observed = np.array([all(o + k in known for k in range(1, horizon + 1)) for o in ordinals],
                        dtype=bool)
    in_pop = np.isin(status_values, list(population_statuses))[status_codes]
    is_churn = np.isin(status_values, list(churn_statuses))[status_codes]
    pop = np.flatnonzero(observed[month_codes] & in_pop)
    churned = keys[is_churn]
    back = np.concatenate([churned - k * n_cust for k in range(1, horizon + 1)])
    label = np.isin(keys[pop], back, kind="sort").astype(int)
    out = pd.DataFrame({
        "month": np.asarray(months, dtype=object)[month_codes[pop]],
        "customer_id": np.asarray(customers, dtype=object)[cust_codes[pop]],
        "label": label,
    })
    out = out.astype({"month": "str", "customer_id": "str"})
    return out.sort_values(["month", "customer_id"], ignore_index=True)


# --------------------------------------------------------------------------- the model


class _MedianImputer(SimpleImputer):
    """``SimpleImputer(strategy="median")`` whose fit takes each column's median directly.

    scikit-learn's median goes through a masked-array sort of the whole table; this one
    partitions each column's non-missing values. Same statistics (the mean of the two
    middle values for an even count; 0 for an all-missing column, as
    ``keep_empty_features=True``), a fraction of the time on a few hundred thousand rows.
    """

    def _dense_fit(self, X, strategy, missing_values, fill_value):
        if strategy != "median" or not (isinstance(missing_values, float)
                                        and math.isnan(missing_values)):
            return super()._dense_fit(X, strategy, missing_values, fill_value)
        stats = _column_medians(np.asarray(X, dtype=float))
        if self.keep_empty_features:
            stats[np.isnan(stats)] = 0.0
        return stats


def _column_medians(X: np.ndarray) -> np.ndarray:
    """Median of each column's non-missing values (NaN for an all-missing column): the
    mean of the two middle values for an even count, as numpy's and pandas' medians."""
    stats = np.full(X.shape[1], np.nan)
    for j in range(X.shape[1]):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if not len(col):
            continue
        half, odd = divmod(len(col), 2)
        if odd:
            stats[j] = np.partition(col, half)[half]
        else:
            part = np.partition(col, (half - 1, half))
            stats[j] = (part[half - 1] + part[half]) / 2.0
    return stats


def _as_frame(X: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    missing = [f for f in features if f not in X.columns]
    if missing:
        raise WarningError(f"The frame to score lacks feature column(s) {missing}.")
    return X[features].astype(float)


class WarningModel:
    """A churn-risk classifier calibrated on a held-out month (logistic or gradient-boosted).

    Parameters
    ----------
    kind
        ``"logistic"`` (standardized features, L2 logistic regression) or ``"gbm"``
        (``HistGradientBoostingClassifier``).
    calibration
        ``"isotonic"``, ``"sigmoid"`` or ``"none"``.
    C
        Inverse L2 penalty of the logistic regression.
    gbm
        Gradient-boosting hyper-parameters (:class:`GBMParams`).
    random_state
        Seed of the gradient-boosted model.
    threads
        OpenMP/BLAS threads while fitting and scoring (``None``: the libraries' default,
        all cores). One thread is the fastest on small tables and shared machines.

    Attributes
    ----------
    features_ : list of str
    base_ : fitted scikit-learn estimator (the ranking score)
    calibrator_ : CalibratedClassifierCV or None
    calibration_month_ : str or None
        Training month held out to fit the calibration.
    train_months_ : list of str
    n_train_, base_rate_ : int, float
    reference_ : pandas.Series
        Training medians (the "typical customer" of the gradient-boosting factors).
    """

    def __init__(
        self,
        kind: Literal["logistic", "gbm"] = "logistic",
        *,
        calibration: Literal["isotonic", "sigmoid", "none"] = "sigmoid",
        C: float = 1.0,
        gbm: GBMParams | None = None,
        random_state: int = 0,
        threads: int | None = 1,
    ):
        self.kind = kind
        self.calibration = calibration
        self.C = C
        self.gbm = gbm
        self.random_state = random_state
        self.threads = threads

    def _limits(self):
        if self.threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(self.threads)

    def _estimator(self):
        if self.kind == "logistic":
            return Pipeline([
                ("impute", _MedianImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=self.C, max_iter=1000)),
            ])
        if self.kind == "gbm":
            g = self.gbm or GBMParams()
            return HistGradientBoostingClassifier(
                learning_rate=g.learning_rate, max_iter=g.max_iter,
                max_leaf_nodes=g.max_leaf_nodes, min_samples_leaf=g.min_samples_leaf,
                l2_regularization=g.l2_regularization, early_stopping=False,
                random_state=self.random_state,
            )
        raise WarningError(f"Unknown model kind {self.kind!r}; use one of {MODELS}.")

    def fit(self, X: pd.DataFrame, y, *, months=None) -> WarningModel:
        """Fit on feature frame ``X`` (feature columns only are used) and labels ``y``.

        Parameters
        ----------
        X
            Features, one column per name of :data:`FEATURES` used (other columns such as
            ``month`` or ``customer_id`` are ignored).
        y
            Labels 0/1.
        months
            Snapshot month of each row. With two or more months and a calibration, the
            latest month is held out to fit it; otherwise the model is left uncalibrated.
        """
        features = [c for c in X.columns if c in _FEATURE_DEFS]
        if not features:
            raise WarningError(f"No feature column in X; expected names from {FEATURES}.")
        y = np.asarray(y).astype(int)
        if len(y) != len(X):
            raise WarningError(f"X has {len(X)} rows but y has {len(y)}.")
        if len(np.unique(y)) < 2:
            raise WarningError(
                f"The training labels are all {int(y[0]) if len(y) else 'missing'}: a model "
                "needs churners and non-churners. Use more training months "
                "(warning.max_train_months) or a longer horizon."
            )
        Xf = _as_frame(X, features)
        self.features_ = features
        months_arr = None if months is None else np.asarray(months).astype(str)
        cal_mask = np.zeros(len(y), dtype=bool)
        self.calibration_month_ = None
        if months_arr is not None and self.calibration != "none":
            distinct = sorted(set(months_arr))
            if len(distinct) >= 2:
                cand = months_arr == distinct[-1]
                fit_y, cal_y = y[~cand], y[cand]
                if len(np.unique(fit_y)) == 2 and len(np.unique(cal_y)) == 2:
                    cal_mask = cand
                    self.calibration_month_ = distinct[-1]
        with self._limits():
            self.base_ = self._estimator().fit(Xf.loc[~cal_mask], y[~cal_mask])
            self.calibrator_ = None
            if cal_mask.any():
                self.calibrator_ = CalibratedClassifierCV(
                    FrozenEstimator(self.base_), method=self.calibration
                ).fit(Xf.loc[cal_mask], y[cal_mask])
        self.train_months_ = sorted(set(months_arr)) if months_arr is not None else []
        self.n_train_ = int(len(y))
        self.base_rate_ = float(y.mean())
        self.reference_ = pd.Series(_column_medians(Xf.to_numpy()[~cal_mask]),
                                    index=Xf.columns)
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "base_"):
            raise WarningError("The model is not fitted yet: call fit(X, y, months=...) first.")

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Ranking score: the base model's churn probability (uncalibrated)."""
        return self.score_and_risk(X)[0]

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churning within the horizon (the base score when uncalibrated)."""
        return self.score_and_risk(X)[1]

    def score_and_risk(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score` and :meth:`predict_risk` of ``X`` from one pass of the base model.

        The base model's decision value (log-odds) is computed once; the score is its
        logistic transform (what ``predict_proba`` returns) and the risk the calibration
        map of it (what the calibrator's ``predict_proba`` computes from the same value).
        """
        self._require_fitted()
        Xf = _as_frame(X, self.features_)
        with self._limits():
            raw = np.asarray(self.base_.decision_function(Xf), dtype=float).ravel()
        score = expit(raw)
        if self.calibrator_ is None:
            return score, score
        calibrated = self.calibrator_.calibrated_classifiers_
        if len(calibrated) != 1 or len(calibrated[0].calibrators) != 1:
            with self._limits():
                return score, self.calibrator_.predict_proba(Xf)[:, 1]
        risk = np.asarray(calibrated[0].calibrators[0].predict(raw), dtype=float)
        risk[(risk > 1.0) & (risk <= 1.0 + 1e-5)] = 1.0
        return score, risk

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-customer contribution of each feature to the risk (see module docstring).

        Returns
        -------
        pandas.DataFrame
            One column per feature, same rows as ``X``: log-odds ``coef * z`` for the
            logistic model; for the gradient-boosted model the probability drop when the
            feature is set to the training median.
        """
        self._require_fitted()
        Xf = _as_frame(X, self.features_)
        if self.kind == "logistic":
            impute, scale, model = (self.base_.named_steps[k] for k in ("impute", "scale", "model"))
            z = scale.transform(impute.transform(Xf))
            return pd.DataFrame(z * model.coef_[0], columns=self.features_, index=X.index)
        n, p = Xf.shape
        stacked = pd.concat([Xf] * p, ignore_index=True)
        for j, name in enumerate(self.features_):
            stacked.iloc[j * n:(j + 1) * n, j] = self.reference_[name]
        with self._limits():
            base = self.base_.predict_proba(Xf)[:, 1]
            moved = self.base_.predict_proba(stacked)[:, 1].reshape(p, n).T
        return pd.DataFrame(base[:, None] - moved, columns=self.features_, index=X.index)

    def top_factors(self, X: pd.DataFrame, *, n: int = 3) -> pd.DataFrame:
        """The ``n`` features raising each customer's risk most (``factor_1`` .. ``factor_n``).

        Only features with a positive contribution are named; the rest are missing.
        Ties break by feature order.
        """
        contrib = self.contributions(X)
        values = contrib.to_numpy()
        order = np.argsort(-values, axis=1, kind="stable")[:, :n]
        names = np.asarray(self.features_, dtype=object)[order]
        positive = np.take_along_axis(values, order, axis=1) > 0
        names = np.where(positive, names, None)
        out = pd.DataFrame(names, columns=[f"factor_{i + 1}" for i in range(order.shape[1])],
                           index=X.index, dtype=object)
        for i in range(order.shape[1], n):
            out[f"factor_{i + 1}"] = None
        return out

    def coefficients(self) -> pd.DataFrame:
        """Logistic coefficients per standardized feature: log-odds and odds ratio per SD."""
        self._require_fitted()
        if self.kind != "logistic":
            raise WarningError("Coefficients exist only for the logistic model.")
        scale, model = self.base_.named_steps["scale"], self.base_.named_steps["model"]
        coef = model.coef_[0]
        table = pd.DataFrame({
            "feature": self.features_,
            "label": [FEATURE_LABELS[f][0] for f in self.features_],
            "coef": coef,
            "odds_ratio_per_sd": np.exp(coef),
            "train_mean": scale.mean_,
            "train_sd": scale.scale_,
        })
        return table.sort_values("coef", key=np.abs, ascending=False, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """One-row-per-item description of the fit (kind, rows, months, calibration)."""
        self._require_fitted()
        items = [
            ("model", self.kind),
            ("training rows", self.n_train_),
            ("training months", f"{self.train_months_[0]} .. {self.train_months_[-1]}"
             if self.train_months_ else "n/a"),
            ("training churn rate", round(self.base_rate_, 4)),
            ("features", len(self.features_)),
            ("calibration", f"{self.calibration} on {self.calibration_month_}"
             if self.calibrator_ is not None else "none"),
        ]
        return pd.DataFrame(items, columns=["item", "value"]).astype({"value": "str"})

    def __repr__(self) -> str:
        if not hasattr(self, "base_"):
            return f"WarningModel(kind={self.kind!r}, calibration={self.calibration!r}, unfitted)"
        cal = self.calibration_month_ or "none"
        return (f"WarningModel(kind={self.kind!r}, n_train={self.n_train_}, "
                f"months={len(self.train_months_)}, calibrated_on={cal})")


def _make_model(kind: str, params: WarningParams, seed: int) -> WarningModel:
    return WarningModel(kind, calibration=params.calibration, C=params.logistic_c,
                        gbm=params.gbm, random_state=seed, threads=params.threads)


def _training_rows(table: pd.DataFrame, months: list[str], eval_month: str, *,
                   params: WarningParams, seed: int) -> tuple[pd.DataFrame, int]:
    """The rows training the models for ``eval_month`` and the number available before sampling.

    Beyond ``max_train_rows`` qualifying rows, a seeded uniform sample of them is kept in
    table order; rows are chosen by position, so only the kept rows are copied.
    """
    rows = np.flatnonzero((table["month"].isin(months) & table["label"].notna()).to_numpy())
    check_no_future(table["month"].iloc[rows].unique(), eval_month,
                    horizon=params.horizon_months)
    available = len(rows)
    if available > params.max_train_rows:
        rng = np.random.default_rng(derive_seed(seed, eval_month, "warning", "sample"))
        rows = rows[np.sort(rng.choice(available, size=params.max_train_rows, replace=False))]
    return table.iloc[rows], available


def _fit_models(X: pd.DataFrame, y: np.ndarray, months: np.ndarray, eval_month: str, kinds, *,
                params: WarningParams, seed: int) -> dict[str, WarningModel]:
    """Each model of ``kinds`` for ``eval_month`` fitted on ``X``, ``y`` (rows of ``months``)."""
    out = {}
    for kind in kinds:
        model = _make_model(kind, params, derive_seed(seed, eval_month, "warning", kind))
        out[kind] = model.fit(X, y, months=months)
    return out


def _train(table: pd.DataFrame, months: list[str], eval_month: str, kinds, *,
           params: WarningParams, seed: int) -> tuple[dict[str, WarningModel], int]:
    """Models for ``eval_month`` and the number of training rows available (before sampling)."""
    train, available = _training_rows(table, months, eval_month, params=params, seed=seed)
    return _fit_models(train[params.features], train["label"].astype(int).to_numpy(),
                       train["month"].to_numpy(), eval_month, kinds,
                       params=params, seed=seed), available


# independent months' models are fitted side by side in worker processes (one per core, each
# with ``params.threads``) when two or more months need fitting and their training rows
# together reach this many; below it the start of the workers costs more than it saves
PARALLEL_MIN_ROWS = 100_000


@dataclass
class _Fitted:
    """One month's models fitted (and its evaluated rows scored) in a worker process."""

    blob: bytes  # the models, pickled where they were fitted (what the model cache keeps)
    scores: dict  # kind -> (score, risk) of the evaluated rows
    n_train: int
    calibration_month: str | None
    available: int


class _Pickler(pickle.Pickler):
    """Pickles numpy's built-in dtypes by name, params sections and text column labels by
    their values: they unpickle as numpy's own dtype instances, as sections validated and
    labels made anew, as in the process that made them, rather than as copies; so models
    fitted on them pickle to the same bytes in every process (a pickle shares a dtype or a
    name only when it is the same object)."""

    def reducer_override(self, obj):
        if isinstance(obj, np.dtype) and obj.isbuiltin == 1 and np.dtype(obj.str) == obj:
            return np.dtype, (obj.str,)
        if isinstance(obj, Section):
            return _validated, (type(obj), obj.model_dump(exclude_unset=True))
        if type(obj) is pd.Index and obj.dtype == "str":
            return _text_index, (obj.tolist(), obj.name)
        return NotImplemented


def _validated(cls, values: dict) -> Section:
    return cls.model_validate(values)


def _text_index(values: list, name) -> pd.Index:
    return pd.Index(values, dtype="str", name=name)


def _dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=5).dump(obj)
    return buf.getvalue()


def _fit_and_score(data: bytes) -> _Fitted | WarningError:
    """:func:`_fit_models` on ``data`` (the :func:`_dumps` of the training features, labels,
    months, evaluated month, its rows, the rows available, the params and the seed), the
    models pickled and scoring the evaluated rows; a :class:`WarningError` of the fit is
    returned, not raised."""
    X, y, months, eval_month, test, available, params, seed = pickle.loads(data)  # noqa: S301
    try:
        models = _fit_models(X, y, months, eval_month, MODELS, params=params, seed=seed)
    except WarningError as exc:
        return exc
    first = models["logistic"]
    return _Fitted(pickle.dumps(models, protocol=5),
                   {kind: model.score_and_risk(test) for kind, model in models.items()},
                   first.n_train_, first.calibration_month_, available)


def _fit_in_workers(table: pd.DataFrame, jobs: list[tuple[str, list[str], pd.DataFrame]], *,
                    params: WarningParams, seed: int, workers: int | None = None,
                    ) -> dict[str, _Fitted | WarningError]:
    """Each ``(eval_month, months, test)`` of ``jobs`` fitted and scored in up to ``workers``
    processes (default: the machine's cores): the models :func:`_train` fits in-process, and
    the scores they give. Empty when that does not pay (fewer than two months or cores, or
    fewer than :data:`PARALLEL_MIN_ROWS` training rows): the caller fits in-process."""
    n = min(workers or os.cpu_count() or 1, len(jobs))
    if n < 2:
        return {}
    prepared = []
    for e, months, test in jobs:
        try:
            train, available = _training_rows(table, months, e, params=params, seed=seed)
        except Exception:  # noqa: BLE001 - raised again, in order, by the in-process fit
            return {}
        prepared.append((e, train[params.features], train["label"].astype(int).to_numpy(),
                         train["month"].to_numpy(), test[params.features], available))
    if sum(len(p[2]) for p in prepared) < PARALLEL_MIN_ROWS:
        return {}
    done = joblib.Parallel(n_jobs=n, backend="loky", inner_max_num_threads=params.threads)(
        joblib.delayed(_fit_and_score)(_dumps((X, y, m, e, test, available, params, seed)))
        for e, X, y, m, test, available in prepared)
    return {p[0]: r for p, r in zip(prepared, done, strict=True)}


# --------------------------------------------------------------------------- backtest


@dataclass
class Backtest:
    """Result of :func:`run_backtest`.

    Attributes
    ----------
    metrics : DataFrame
        ``month`` (evaluated), ``model`` (logistic, gbm, recency_rule), ``metric``,
        ``value``, ``ci_low``, ``ci_high``.
    predictions : DataFrame
        ``month``, ``customer_id``, ``label``, ``<model>_score``, ``<model>_risk`` and
        ``recency_rule`` for every evaluated customer.
    splits : DataFrame
        ``month`` evaluated, ``train_first``, ``train_last``, ``train_months``,
        ``train_rows`` (used), ``rows_available`` (before the seeded sample that caps them
        at ``max_train_rows``), ``calibration_month``: the time split actually used.
    horizon : int
    capacity : int
    notes : list of str
    reused : list of str
        Evaluated months read from the store's backtest cache instead of recomputed.
    """

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    splits: pd.DataFrame
    horizon: int
    capacity: int
    notes: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    def reliability(self, *, n_bins: int = 10) -> pd.DataFrame:
        """Reliability table of each model's calibrated risk, pooled over evaluated months."""
        frames = []
        for kind in MODELS:
            col = f"{kind}_risk"
            if col in self.predictions and len(self.predictions):
                t = reliability_table(self.predictions["label"], self.predictions[col],
                                      n_bins=n_bins)
                frames.append(t.assign(model=kind))
        if not frames:
            return pd.DataFrame(columns=["model", "bin", "n", "mean_predicted", "observed"])
        out = pd.concat(frames, ignore_index=True)
        return out[["model", *[c for c in out.columns if c != "model"]]]

    def mean(self, metric: str, model: str) -> float:
        """Mean of ``metric`` for ``model`` over the evaluated months (NaN when absent)."""
        m = self.metrics
        if m.empty:
            return math.nan
        v = m.loc[(m["metric"] == metric) & (m["model"] == model), "value"]
        return float(v.mean()) if len(v) else math.nan

    def capacity_curve(self, *, max_k: int | None = None, points: int = 25) -> pd.DataFrame:
        """Precision and recall when contacting the top ``k``, averaged over evaluated months.

        Parameters
        ----------
        max_k
            Largest ``k`` shown; default three times the capacity (capped at the smallest
            month's population).
        points
            Number of ``k`` values on the grid (always including the capacity).

        Returns
        -------
        pandas.DataFrame
            ``model``, ``k``, ``precision``, ``recall`` (means over months).
        """
        cols = ["model", "k", "precision", "recall"]
        pred = self.predictions
        if pred.empty:
            return pd.DataFrame(columns=cols)
        smallest = int(pred.groupby("month").size().min())
        top = min(max_k or 3 * self.capacity, smallest)
        ks = np.unique(np.r_[np.linspace(1, top, points).round().astype(int),
                             min(self.capacity, top)])
        rows = []
        score_cols = {k: f"{k}_score" for k in MODELS} | {RULE: RULE}
        for model, col in score_cols.items():
            if col not in pred:
                continue
            prec, rec = [], []
            for _, g in pred.groupby("month", sort=True):
                order = rank_order(g[col].to_numpy(), g["customer_id"].to_numpy())
                hits = np.cumsum(g["label"].to_numpy()[order])
                pos = max(int(g["label"].sum()), 1)
                prec.append(hits[ks - 1] / ks)
                rec.append(hits[ks - 1] / pos)
            rows.append(pd.DataFrame({"model": model, "k": ks, "precision": np.mean(prec, 0),
                                      "recall": np.mean(rec, 0)}))
        return pd.concat(rows, ignore_index=True)[cols]

    def comparison(self) -> pd.DataFrame:
        """Mean of each metric over evaluated months, one column per model."""
        if self.metrics.empty:
            return pd.DataFrame()
        wide = self.metrics.pivot_table(index="metric", columns="model", values="value",
                                        aggfunc="mean")
        order = [m for m in ("roc_auc", "pr_auc", "precision_at_capacity", "recall_at_capacity",
                             "lift_at_capacity", "brier", "base_rate", "n_scored", "capacity")
                 if m in wide.index]
        cols = [c for c in (*MODELS, RULE) if c in wide.columns]
        return wide.loc[order, cols]


def run_backtest(
    table: pd.DataFrame,
    *,
    params: WarningParams,
    capacity: int,
    seed: int,
    eval_months=None,
    con=None,
) -> Backtest:
    """Backtest both models and the recency rule on time (never trained on the future).

    Parameters
    ----------
    table
        Training table: ``month``, ``customer_id``, ``label`` (NaN when not yet observed),
        ``recency_rule`` and the feature columns of ``params.features``.
    params
        The ``warning`` section.
    capacity
        Customers the call centre contacts per month.
    seed
        Engagement seed; each month's models and samples derive their own from it and
        the evaluated month.
    eval_months
        Months to evaluate; by default the latest ``params.backtest_months`` months with
        labels and at least ``params.min_train_months`` training months before them.
    con
        Connection to the engagement store: evaluated months whose cached result has the
        same key (rows, params, capacity, seed) are read from it, the others computed and
        cached; entries of months before the earliest evaluated one are dropped. ``None``
        computes every month and writes nothing.

    Returns
    -------
    Backtest
        The same with or without the cache; :attr:`Backtest.reused` lists the months read
        from it.
    """
    need = {"month", "customer_id", "label", RULE, *params.features}
    missing = sorted(need - set(table.columns))
    if missing:
        raise WarningError(f"The training table lacks column(s) {missing}.")
    H = params.horizon_months
    labelled = sorted(table.loc[table["label"].notna(), "month"].astype("str").unique())
    notes = []
    if eval_months is None:
        candidates = [m for m in labelled
                      if len(training_months(m, labelled, horizon=H,
                                             max_months=params.max_train_months))
                      >= params.min_train_months]
        eval_months = candidates[-params.backtest_months:]
    if not eval_months:
        notes.append(
            f"No month can be backtested: it needs {params.min_train_months} labelled training "
            f"months ending {H} months before it; the store has labels for "
            f"{len(labelled)} month(s)."
        )
    cache = (_BacktestCache(con, table, labelled, params=params, capacity=capacity, seed=seed)
             if con is not None else None)
    plan = []
    for e in eval_months:
        months = training_months(e, labelled, horizon=H, max_months=params.max_train_months)
        test = table.loc[(table["month"] == e) & table["label"].notna()]
        plan.append((e, months, test))
    # months with neither a cached result nor cached models: fitted together when that pays
    todo = [(e, months, test) for e, months, test in plan if len(months) and not test.empty
            and (cache is None or not cache.has_entry(e, cache.key(e, months), len(test)))]
    fitted = {}
    if len(todo) >= 2 and (cache is None or not any(
            cache.has_models(e, cache.fit_key(e, months)) for e, months, _ in todo)):
        fitted = _fit_in_workers(table, todo, params=params, seed=seed)
    results, reused = [], []
    for e, months, test in plan:
        if len(months) < 1 or test.empty:
            notes.append(f"{e}: skipped (no training months or no labelled customers)")
            continue
        key = cache.key(e, months) if cache is not None else None
        result = cache.read(e, key, test) if cache is not None else None
        if result is not None:
            reused.append(str(e))
        else:
            try:
                result = _backtest_month(table, months, e, test, params=params,
                                         capacity=capacity, seed=seed, cache=cache,
                                         fitted=fitted.get(e))
            except WarningError as exc:
                notes.append(f"{e}: skipped ({exc})")
                continue
            if cache is not None:
                cache.write(e, key, result)
        results.append(result)
    if cache is not None and len(eval_months):
        cache.prune(min(map(str, eval_months)))
    cols = ["month", "model", "metric", "value", "ci_low", "ci_high"]
    metrics = (pd.concat([r.metrics for r in results], ignore_index=True)[cols] if results
               else pd.DataFrame(columns=cols))
    predictions = (pd.concat([r.predictions for r in results], ignore_index=True) if results
                   else pd.DataFrame(columns=["month", "customer_id", "label", RULE]))
    split_cols = ["month", "train_first", "train_last", "train_months", "train_rows",
                  "rows_available", "calibration_month"]
    return Backtest(metrics, predictions,
                    pd.DataFrame([r.split for r in results], columns=split_cols), H,
                    int(capacity), notes, reused)


@dataclass
class _MonthResult:
    """One evaluated month's backtest: its metrics rows, predictions and split row."""

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    split: dict


def _predictions_base(e: str, test: pd.DataFrame) -> pd.DataFrame:
    """The evaluated rows' ``month``, ``customer_id``, ``label`` and recency-rule score."""
    return pd.DataFrame({"month": e, "customer_id": test["customer_id"].astype("str").to_numpy(),
                         "label": test["label"].astype(int).to_numpy(),
                         RULE: test[RULE].to_numpy(dtype=float)})


def _backtest_month(table: pd.DataFrame, months: list[str], e: str, test: pd.DataFrame, *,
                    params: WarningParams, capacity: int, seed: int,
                    cache: _BacktestCache | None = None,
                    fitted: _Fitted | WarningError | None = None) -> _MonthResult:
    """Train on ``months`` (or take the same models from ``cache``, or ``fitted``: their fit
    and scores made in a worker process), score evaluated month ``e``'s rows ``test`` and
    measure."""
    if isinstance(fitted, WarningError):
        raise fitted
    if fitted is None:
        models, available = _fit(table, months, e, params=params, seed=seed, cache=cache)
        first = models["logistic"]
        n_train, calibration_month = first.n_train_, first.calibration_month_
        scores = {kind: model.score_and_risk(test) for kind, model in models.items()}
    else:
        if cache is not None:
            cache.write_models(e, cache.fit_key(e, months), None, fitted.available,
                               blob=fitted.blob)
        available, scores = fitted.available, fitted.scores
        n_train, calibration_month = fitted.n_train, fitted.calibration_month
    pred = _predictions_base(e, test)
    y, ids = pred["label"].to_numpy(), pred["customer_id"].to_numpy()
    frames = []
    for kind, (score, risk) in scores.items():
        pred[f"{kind}_score"], pred[f"{kind}_risk"] = score, risk
        m = classification_metrics(y, pred[f"{kind}_score"], prob=pred[f"{kind}_risk"],
                                   capacity=capacity, ids=ids)
        frames.append(m.assign(month=e, model=kind))
    m = classification_metrics(y, pred[RULE], capacity=capacity, ids=ids)
    frames.append(m.assign(month=e, model=RULE))
    split = {"month": e, "train_first": months[0], "train_last": months[-1],
             "train_months": len(months), "train_rows": n_train,
             "rows_available": available, "calibration_month": calibration_month}
    return _MonthResult(pd.concat(frames, ignore_index=True), pred, split)


def _fit(table: pd.DataFrame, months: list[str], e: str, *, params: WarningParams, seed: int,
         cache: _BacktestCache | None) -> tuple[dict[str, WarningModel], int]:
    """:func:`_train` for month ``e``, through ``cache`` when given: the models fitted for ``e``
    on the same rows with the same params and seed (by :func:`fit_final` when ``e`` was the
    run month, or by an earlier backtest) are read instead of refitted."""
    if cache is None:
        return _train(table, months, e, MODELS, params=params, seed=seed)
    key = cache.fit_key(e, months)
    found = cache.read_models(e, key)
    if found is not None:
        return found
    models, available = _train(table, months, e, MODELS, params=params, seed=seed)
    cache.write_models(e, key, models, available)
    return models, available


BACKTEST_CACHE = "warning_backtest_cache"
BACKTEST_PREDICTIONS = "warning_backtest_predictions"
MODEL_CACHE = "warning_models"
_BACKTEST_CACHE_VERSION = 1  # raise when a change to the code alters a month's result
_METRIC_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high"]
_SCORE_COLUMNS = [f"{k}_{c}" for k in MODELS for c in ("score", "risk")]
_CACHE_HEADER_COLUMNS = ["month", "cache_key", "checksum", "n_predictions", "metrics", "split"]
_CACHE_PREDICTION_COLUMNS = ["month", "cache_key", "row", "customer_id", *_SCORE_COLUMNS]
# warning params that change no evaluated month's result (which months are evaluated, the
# watchlist, the alerts); the capacity enters the key on its own
_NOT_IN_BACKTEST_KEY = frozenset({
    "backtest_months", "min_train_months", "capacity", "watchlist_rule",
    "probability_threshold", "watchlist_model", "exclude_do_not_contact", "reliability_bins",
    "alerts"})


def _payload_checksum(key: str, metrics: str, split: str, ids, scores: dict) -> str:
    """Digest of a cached month's whole content (a damaged entry does not match it)."""
    h = hashlib.sha256("\x1f".join([key, metrics, split]).encode("utf-8"))
    h.update("\x1f".join(map(str, ids)).encode("utf-8"))
    for col in _SCORE_COLUMNS:
        h.update(col.encode("utf-8"))
        h.update(np.ascontiguousarray(scores[col], dtype="<f8").tobytes())
    return h.hexdigest()


class _BacktestCache:
    """Evaluated months' backtest results kept in the store (see the module docstring)."""

    def __init__(self, con, table: pd.DataFrame, labelled: list[str], *,
                 params: WarningParams, capacity: int, seed: int):
        self.con = con
        self.table = table
        self.labelled = labelled  # the months whose rows are digested (once, all together)
        self.columns = ["customer_id", "label", RULE, *params.features]
        knobs = {k: v for k, v in params.model_dump(mode="json").items()
                 if k not in _NOT_IN_BACKTEST_KEY}
        self.base = {"version": _BACKTEST_CACHE_VERSION, "sklearn": sklearn.__version__,
                     "numpy": np.__version__, "params": knobs, "seed": int(seed)}
        self.capacity = int(capacity)
        self._prints: dict[str, str] | None = None

    def _digest(self, months: list[str], **extra) -> str:
        if self._prints is None:  # every labelled month's rows, digested once
            self._prints = month_fingerprints(self.table, self.columns, months=self.labelled)
        rows = {m: self._prints.get(m) for m in months}
        text = json.dumps({**self.base, **extra, "rows": rows}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def key(self, e: str, months: list[str]) -> str:
        """Key of evaluated month ``e`` trained on ``months``: params, capacity, seed, rows."""
        return self._digest([*months, str(e)], purpose="backtest", month=str(e),
                            train_months=list(months), capacity=self.capacity)

    def fit_key(self, e: str, months: list[str]) -> str:
        """Key of the models scoring month ``e`` trained on ``months``: params, seed, rows."""
        return self._digest(list(months), purpose="models", month=str(e),
                            train_months=list(months))

    def read_models(self, e: str, key: str) -> tuple[dict[str, WarningModel], int] | None:
        """The models kept for month ``e`` under ``key`` and their rows available, if intact."""
        if not has_table(self.con, MODEL_CACHE):
            return None
        try:
            rows = self.con.execute(
                f'SELECT cache_key, checksum, rows_available, models FROM "{MODEL_CACHE}" '
                'WHERE month = ?', [str(e)]).fetchall()
            if len(rows) != 1 or rows[0][0] != key:
                return None
            _, checksum, available, blob = rows[0]
            blob = bytes(blob)
            if hashlib.sha256(key.encode("utf-8") + blob).hexdigest() != checksum:
                return None
            models = pickle.loads(blob)  # noqa: S301 - the store's own entry, checksum verified
        except (duckdb.Error, pickle.UnpicklingError, ValueError, TypeError, EOFError,
                AttributeError, ImportError):
            return None
        if (not isinstance(models, dict) or list(models) != list(MODELS)
                or not all(isinstance(m, WarningModel) for m in models.values())):
            return None
        return models, int(available)

    def has_entry(self, e: str, key: str, n_rows: int) -> bool:
        """Whether a result for month ``e`` of ``n_rows`` rows is kept under ``key`` (its
        header only: :meth:`read` checks the content)."""
        if not (has_table(self.con, BACKTEST_CACHE) and has_table(self.con, BACKTEST_PREDICTIONS)):
            return False
        try:
            head = self.con.execute(f'SELECT cache_key, n_predictions FROM "{BACKTEST_CACHE}" '
                                    'WHERE month = ?', [str(e)]).fetchall()
        except duckdb.Error:
            return False
        return len(head) == 1 and head[0][0] == key and head[0][1] == n_rows

    def has_models(self, e: str, key: str) -> bool:
        """Whether models are kept for month ``e`` under ``key`` (read, not checked)."""
        if not has_table(self.con, MODEL_CACHE):
            return False
        try:
            rows = self.con.execute(f'SELECT cache_key FROM "{MODEL_CACHE}" WHERE month = ?',
                                    [str(e)]).fetchall()
        except duckdb.Error:
            return False
        return any(r[0] == key for r in rows)

    def write_models(self, e: str, key: str, models: dict[str, WarningModel] | None,
                     available: int, *, blob: bytes | None = None) -> None:
        """Keep month ``e``'s fitted ``models`` (or ``blob``, their pickle) under ``key``,
        replacing the month's entry."""
        if blob is None:
            blob = pickle.dumps(models, protocol=5)
        frame = pa.table({
            "month": pa.array([str(e)], pa.string()), "cache_key": pa.array([key], pa.string()),
            "checksum": pa.array([hashlib.sha256(key.encode("utf-8") + blob).hexdigest()],
                                 pa.string()),
            "rows_available": pa.array([int(available)], pa.int64()),
            "models": pa.array([blob], pa.binary())})
        with transaction(self.con):
            if has_table(self.con, MODEL_CACHE):
                have = [r[0] for r in self.con.execute(f'DESCRIBE "{MODEL_CACHE}"').fetchall()]
                if set(have) != set(frame.column_names):
                    self.con.execute(f'DROP TABLE "{MODEL_CACHE}"')
            replace_month(self.con, MODEL_CACHE, str(e), frame)

    def read(self, e: str, key: str, test: pd.DataFrame) -> _MonthResult | None:
        """Month ``e``'s cached result when its key is ``key`` and its content is intact."""
        con = self.con
        if not (has_table(con, BACKTEST_CACHE) and has_table(con, BACKTEST_PREDICTIONS)):
            return None
        try:
            head = con.execute(
                f'SELECT cache_key, checksum, n_predictions, metrics, split '
                f'FROM "{BACKTEST_CACHE}" WHERE month = ?', [str(e)]).fetchall()
            if len(head) != 1 or head[0][0] != key or head[0][2] != len(test):
                return None
            _, checksum, _, metrics_text, split_text = head[0]
            stored = fetch_df(
                con, f'SELECT customer_id, {", ".join(_SCORE_COLUMNS)} '
                f'FROM "{BACKTEST_PREDICTIONS}" WHERE month = ? AND cache_key = ? ORDER BY "row"',
                [str(e), key])
            pred = _predictions_base(e, test)
            ids = stored["customer_id"].astype("str").to_numpy()
            if len(stored) != len(pred) or not (ids == pred["customer_id"].to_numpy()).all():
                return None
            scores = {c: stored[c].to_numpy(dtype=float) for c in _SCORE_COLUMNS}
            if _payload_checksum(key, metrics_text, split_text, ids, scores) != checksum:
                return None
            rows = json.loads(metrics_text)
            split = json.loads(split_text)
        except (duckdb.Error, ValueError, TypeError, KeyError):  # unreadable: recompute
            return None
        for col in _SCORE_COLUMNS:
            pred[col] = scores[col]
        metrics = pd.DataFrame(rows, columns=_METRIC_COLUMNS).astype(
            {"model": "str", "metric": "str", "value": float, "ci_low": float,
             "ci_high": float})
        metrics.insert(0, "month", str(e))
        metrics = metrics[["metric", "value", "ci_low", "ci_high", "month", "model"]]
        return _MonthResult(metrics, pred, split)

    def write(self, e: str, key: str, result: _MonthResult) -> None:
        """Store month ``e``'s ``result`` under ``key``, replacing the month's entry."""
        metrics = json.dumps(result.metrics[_METRIC_COLUMNS].to_numpy().tolist())
        split = json.dumps(result.split)
        pred = result.predictions
        ids = pred["customer_id"].to_numpy()
        scores = {c: pred[c].to_numpy(dtype=float) for c in _SCORE_COLUMNS}
        head = pd.DataFrame({
            "month": [str(e)], "cache_key": [key],
            "checksum": [_payload_checksum(key, metrics, split, ids, scores)],
            "n_predictions": np.array([len(pred)], dtype="int64"), "metrics": [metrics],
            "split": [split]})
        rows = pd.DataFrame({"month": str(e), "cache_key": key,
                             "row": np.arange(len(pred), dtype="int64"),
                             "customer_id": pred["customer_id"].astype("str").to_numpy(),
                             **scores})
        with transaction(self.con):
            for name, frame in ((BACKTEST_CACHE, head), (BACKTEST_PREDICTIONS, rows)):
                if has_table(self.con, name):
                    have = [r[0] for r in self.con.execute(f'DESCRIBE "{name}"').fetchall()]
                    if set(have) != set(frame.columns):  # another layout: start afresh
                        self.con.execute(f'DROP TABLE "{name}"')
                replace_month(self.con, name, str(e), frame)

    def prune(self, first: str) -> None:
        """Drop the entries (results and models) of months before ``first``, the earliest
        evaluated month: no later run evaluates them."""
        with transaction(self.con):
            for name in (BACKTEST_CACHE, BACKTEST_PREDICTIONS, MODEL_CACHE):
                if has_table(self.con, name):
                    self.con.execute(f'DELETE FROM "{name}" WHERE month < ?', [first])


def choose_model(backtest: Backtest, *, preference: str = "auto") -> str:
    """The model used for the watchlist: ``preference`` unless ``"auto"``.

    ``auto`` takes the model with the higher mean PR-AUC over the evaluated months (the
    logistic baseline on a tie or without a backtest).
    """
    if preference in MODELS:
        return preference
    m = backtest.metrics
    pr = m.loc[(m["metric"] == "pr_auc") & m["model"].isin(MODELS)].groupby("model")["value"].mean()
    if pr.empty or pr.isna().all():
        return "logistic"
    best = pr.idxmax()
    return "logistic" if math.isclose(pr.get("logistic", -1), pr[best]) else str(best)


def describe_backtest(backtest: Backtest, *, language: str = "en") -> str:
    """A sentence with the backtest's headline figures (PR-AUC of each model vs the rule).

    ``language`` (``zh`` or ``en``) is the language of the sentence; the backtest's own
    notes (when nothing could be backtested) are shown as written.
    """
    lang = check_language(language)
    if backtest.metrics.empty:
        return " ".join(backtest.notes) or message("text.warning.no_backtest", lang)
    m = backtest.metrics
    pr = m.loc[m["metric"] == "pr_auc"].groupby("model")["value"].mean()
    base = m.loc[(m["metric"] == "base_rate") & (m["model"] == RULE), "value"].mean()
    prec = m.loc[m["metric"] == "precision_at_capacity"].groupby("model")["value"].mean()
    months = sorted(m["month"].unique())
    best = max(MODELS, key=lambda k: pr.get(k, -1))
    return message(
        "text.warning.backtest", lang, n=len(months), first=months[0], last=months[-1],
        h=backtest.horizon, lg=pr.get("logistic", math.nan), gb=pr.get("gbm", math.nan),
        rule=pr.get(RULE, math.nan), base=base, cap=backtest.capacity,
        best=label("text.warning.best", best, lang), pb=prec.get(best, math.nan),
        pr=prec.get(RULE, math.nan),
    ) + _sampling_sentence(backtest.splits, lang)


def _sampling_sentence(splits: pd.DataFrame, language: str = "en") -> str:
    if splits.empty or not (splits["rows_available"] > splits["train_rows"]).any():
        return ""
    s = splits.loc[splits["rows_available"] > splits["train_rows"]]
    return message("text.warning.sampling", language, n=len(s), k=int(s["train_rows"].max()),
                   m=int(s["rows_available"].max()))


# --------------------------------------------------------------------------- final model


@dataclass
class FinalModels:
    """The models that score the run month, from :func:`fit_final`.

    Attributes
    ----------
    month : str
        Month scored.
    models : dict
        ``{"logistic": WarningModel, "gbm": WarningModel}``; empty when there is too
        little history to train (``note`` says why).
    chosen : str
        Model behind the watchlist (:func:`choose_model`).
    train_months : list of str
    note : str
    """

    month: str
    models: dict[str, WarningModel]
    chosen: str
    train_months: list[str]
    note: str = ""

    @property
    def model(self) -> WarningModel | None:
        """The chosen fitted model (``None`` without training history)."""
        return self.models.get(self.chosen)

    def summary(self) -> pd.DataFrame:
        """The chosen model's :meth:`WarningModel.summary` (or the reason there is none)."""
        if self.model is None:
            return pd.DataFrame({"item": ["model"], "value": [self.note]})
        table = self.model.summary()
        table = table.assign(value=table["value"].where(table["item"] != "model",
                                                        f"{self.chosen} (chosen)"))
        if self.note:
            table = pd.concat([table, pd.DataFrame({"item": ["sampling"],
                                                    "value": [self.note]})],
                              ignore_index=True)
        return table

    def coefficients(self) -> pd.DataFrame:
        """Coefficients of the logistic baseline (empty without training history)."""
        if "logistic" not in self.models:
            return pd.DataFrame(columns=["feature", "label", "coef", "odds_ratio_per_sd",
                                         "train_mean", "train_sd"])
        return self.models["logistic"].coefficients()

    def __repr__(self) -> str:
        if not self.models:
            return f"FinalModels(month={self.month!r}, none: {self.note})"
        return (f"FinalModels(month={self.month!r}, chosen={self.chosen!r}, "
                f"trained on {self.train_months[0]} .. {self.train_months[-1]})")


def fit_final(
    table: pd.DataFrame, month: str, *, params: WarningParams, seed: int,
    backtest: Backtest | None = None, con=None,
) -> FinalModels:
    """Both models trained to score ``month``, on months whose labels closed by its end.

    Parameters
    ----------
    table
        Training table (:attr:`WarningHistory.table`).
    month
        Month scored.
    params
        The ``warning`` section.
    seed
        Engagement seed.
    backtest
        The month's backtest, used to choose the watchlist model when
        ``params.watchlist_model`` is ``auto``.
    con
        Connection to the engagement store: the models are kept there (``warning_models``,
        keyed like the backtest's results, without the capacity). They are the very models
        the backtest ``horizon_months`` later evaluates on this month (same training rows,
        params and seeds), which then reads them instead of refitting; a rerun of the month
        reads them too. ``None``: fitted, not kept.

    Returns
    -------
    FinalModels
        Without a training month with an observed label (the client's first
        ``horizon_months`` months of history), no model, and ``note`` says so.
    """
    labelled = sorted(table.loc[table["label"].notna(), "month"].astype("str").unique())
    months = training_months(month, labelled, horizon=params.horizon_months,
                             max_months=params.max_train_months)
    empty = Backtest(pd.DataFrame(columns=["month", "model", "metric", "value"]),
                     pd.DataFrame(), pd.DataFrame(), params.horizon_months, 0)
    chosen = choose_model(backtest or empty, preference=params.watchlist_model)
    if not months:
        note = (f"No training month for {month}: a label needs {params.horizon_months} months "
                "of statuses after its snapshot, and the store has no snapshot old enough.")
        return FinalModels(str(month), {}, chosen, [], note)
    # only the training months' rows enter the models' key: only they are digested
    cache = (_BacktestCache(con, table, months, params=params, capacity=0, seed=seed)
             if con is not None else None)
    try:
        models, available = _fit(table, months, str(month), params=params, seed=seed,
                                 cache=cache)
    except WarningError as exc:
        return FinalModels(str(month), {}, chosen, months, str(exc))
    note = ""
    if available > params.max_train_rows:
        note = (f"{params.max_train_rows:,} training rows sampled (seeded) from "
                f"{available:,} available")
    return FinalModels(str(month), models, chosen, months, note)


def watchlist(
    model: WarningModel | None,
    scoring: pd.DataFrame,
    *,
    month: str,
    model_name: str,
    capacity: int,
    rule: Literal["capacity", "probability"] = "capacity",
    threshold: float = 0.5,
    exclude_do_not_contact: bool = True,
    n_factors: int = 3,
) -> pd.DataFrame:
    """Customers of the month's warning population above the risk threshold, with factors.

    Parameters
    ----------
    model
        The fitted model used; ``None`` gives an empty watchlist.
    scoring
        Population of ``month``: ``customer_id``, the model's features and (for the
        exclusion) ``do_not_contact``.
    month
        Month scored.
    model_name
        Name stored with each row.
    capacity
        ``rule="capacity"``: the top ``capacity`` customers by score.
    rule
        ``"capacity"`` or ``"probability"`` (calibrated risk >= ``threshold``).
    threshold
        Probability threshold for ``rule="probability"``.
    exclude_do_not_contact
        Leave out customers flagged do-not-contact.
    n_factors
        Contributing factors named per customer.

    Returns
    -------
    pandas.DataFrame
        ``month``, ``customer_id``, ``risk`` (calibrated probability), ``rank`` (1 =
        riskiest, by score, ties by id), ``factor_1`` .. ``factor_<n>``, ``model``.
    """
    cols = ["month", "customer_id", "risk", "rank",
            *[f"factor_{i + 1}" for i in range(n_factors)], "model"]
    pool = scoring
    if model is None:
        return pd.DataFrame(columns=cols)
    if exclude_do_not_contact and "do_not_contact" in scoring.columns:
        pool = scoring.loc[~scoring["do_not_contact"].astype(bool)]
    if pool.empty:
        return pd.DataFrame(columns=cols)
    score, risk = model.score_and_risk(pool)
    ids = pool["customer_id"].astype("str").to_numpy()
    order = rank_order(score, ids)
    if rule == "capacity":
        chosen = order[:capacity]
    elif rule == "probability":
        chosen = order[risk[order] >= threshold]
    else:
        raise WarningError(f"Unknown watchlist rule {rule!r}; use 'capacity' or 'probability'.")
    picked = pool.iloc[chosen]
    factors = model.top_factors(picked, n=n_factors).reset_index(drop=True)
    out = pd.DataFrame({
        "month": str(month),
        "customer_id": ids[chosen],
        "risk": risk[chosen],
        "rank": np.arange(1, len(chosen) + 1, dtype=int),
    })
    out = pd.concat([out, factors], axis=1)
    out["model"] = model_name
    return out[cols]


def factor_counts(watchlist: pd.DataFrame, *, language: str = "zh") -> pd.DataFrame:
    """How often each feature is among the watchlist's contributing factors.

    Returns
    -------
    pandas.DataFrame
        ``feature``, ``label`` (in ``language``), ``first`` (customers with it as
        ``factor_1``), ``any`` (customers with it among their factors), ``share`` (``any``
        over the watchlist size); most frequent first.
    """
    factor_cols = [c for c in watchlist.columns if c.startswith("factor_")]
    cols = ["feature", "label", "first", "any", "share"]
    if watchlist.empty or not factor_cols:
        return pd.DataFrame(columns=cols)
    long = watchlist[["customer_id", *factor_cols]].melt("customer_id", value_name="feature")
    long = long.dropna(subset=["feature"])
    anyc = long.groupby("feature")["customer_id"].nunique()
    first = watchlist["factor_1"].dropna().value_counts()
    out = pd.DataFrame({"any": anyc}).join(first.rename("first")).fillna({"first": 0})
    out = out.reset_index().rename(columns={"index": "feature"})
    idx = 1 if language == "zh" else 0
    out["label"] = [FEATURE_LABELS.get(f, (f, f))[idx] for f in out["feature"]]
    out["first"] = out["first"].astype(int)
    out["share"] = out["any"] / len(watchlist)
    return out.sort_values(["any", "feature"], ascending=[False, True], ignore_index=True)[cols]


# --------------------------------------------------------------------------- alerts


_ALERTS = {
    "frequency_drop": ("orders_90", "orders_prev_90", "min_prev_orders"),
    "spend_drop": ("spend_90", "spend_prev_90", "min_prev_spend"),
    "engagement_drop": ("engagement_90", "engagement_prev_90", "min_prev_engagement"),
}


def threshold_alerts(
    snapshot: pd.DataFrame, *, params: AlertParams, customers=None
) -> pd.DataFrame:
    """Warning rules: indicators that fell against the customer's own previous 90 days.

    For each indicator (orders, net spend, engagement) the change is
    ``(last 90 days - previous 90) / previous 90``; the alert fires when the previous
    window reached its minimum (``min_prev_*``; spend strictly above ``min_prev_spend``)
    and the change is ``<= -drop`` (e.g. ``-0.5``: halved or worse).

    Parameters
    ----------
    snapshot
        Month-end snapshot.
    params
        The ``warning.alerts`` section.
    customers
        Restrict to these customer ids (e.g. the warning population); all when ``None``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, per indicator ``<name>_change`` (NaN when not comparable) and the
        boolean ``<name>`` alert, and ``n_alerts``.
    """
    needed = ["customer_id", *[c for v in _ALERTS.values() for c in v[:2]]]
    missing = [c for c in needed if c not in snapshot.columns]
    if missing:
        raise WarningError(f"The snapshot lacks column(s) {missing} needed by the alerts.")
    snap = snapshot
    if customers is not None:
        snap = snapshot.loc[snapshot["customer_id"].astype("str").isin(
            pd.Index(customers).astype("str"))]
    out = pd.DataFrame({"customer_id": snap["customer_id"].astype("str").to_numpy()})
    n = np.zeros(len(out), dtype=int)
    for name, (recent, prev, min_key) in _ALERTS.items():
        r = _col(snap, recent).fillna(0).to_numpy()
        p = _col(snap, prev).fillna(0).to_numpy()
        floor = getattr(params, min_key)
        ok = p > floor if name == "spend_drop" else p >= floor
        change = np.where(ok, (r - np.where(ok, p, 1)) / np.where(ok, p, 1), np.nan)
        drop = getattr(params, name)
        fired = ok & (change <= -drop + 1e-12)
        out[f"{name}_change"] = change
        out[name] = fired
        n += fired
    out["n_alerts"] = n
    return out


def alert_counts(alerts: pd.DataFrame, *, watchlist: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers per alert (and with any / two or more), and how many are on the watchlist.

    Returns
    -------
    pandas.DataFrame
        ``alert``, ``customers``, ``share`` (of the customers checked), ``on_watchlist``.
    """
    listed = set() if watchlist is None else set(watchlist["customer_id"].astype("str"))
    on = alerts["customer_id"].astype("str").isin(listed)
    n = len(alerts)
    rows = []
    masks = {name: alerts[name].astype(bool) for name in _ALERTS}
    masks["any_alert"] = alerts["n_alerts"] >= 1
    masks["two_or_more"] = alerts["n_alerts"] >= 2
    for name, mask in masks.items():
        rows.append({"alert": name, "customers": int(mask.sum()),
                     "share": float(mask.mean()) if n else math.nan,
                     "on_watchlist": int((mask & on).sum())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- performance


def performance_rows(backtest: Backtest) -> pd.DataFrame:
    """Backtest metrics in the layout of the store table ``warning_performance``.

    Returns
    -------
    pandas.DataFrame
        ``month`` (scored), ``horizon``, ``model``, ``metric``, ``value``, ``ci_low``,
        ``ci_high``.
    """
    m = backtest.metrics.assign(horizon=int(backtest.horizon))
    cols = ["month", "horizon", "model", "metric", "value", "ci_low", "ci_high"]
    return m[cols].astype({"month": "str", "model": "str", "metric": "str", "value": float,
                           "ci_low": float, "ci_high": float})


def realized_performance(
    watchlists: pd.DataFrame, labels: pd.DataFrame, *, horizon: int
) -> pd.DataFrame:
    """Realized precision and recall of past watchlists whose horizon has elapsed.

    Parameters
    ----------
    watchlists
        Stored watchlists: ``month``, ``customer_id`` (and ``model``).
    labels
        :func:`label_frame` output: the warning population of each month with its
        realized label (months whose horizon has not elapsed are absent).
    horizon
        Label horizon in months.

    Returns
    -------
    pandas.DataFrame
        ``warning_performance`` rows per watchlist month with labels: metrics
        ``watchlist_size``, ``realized_precision`` (watchlisted who churned / watchlisted
        in the population), ``realized_recall`` (watchlisted churners / population
        churners) and ``realized_base_rate``, with 95% Wilson intervals.
    """
    cols = ["month", "horizon", "model", "metric", "value", "ci_low", "ci_high"]
    rows = []
    lab_month = labels["month"].astype("str")
    lab_months = set(lab_month.unique())
    for month, wl in watchlists.groupby(watchlists["month"].astype("str"), sort=True):
        if month not in lab_months:
            continue
        pop = labels.loc[(lab_month == month).to_numpy()]
        listed = pop["customer_id"].astype("str").isin(set(wl["customer_id"].astype("str")))
        n_listed, tp = int(listed.sum()), int(pop.loc[listed, "label"].sum())
        pos, n = int(pop["label"].sum()), len(pop)
        model = str(wl["model"].iloc[0]) if "model" in wl else "watchlist"
        for metric, num, den in (("realized_precision", tp, n_listed),
                                 ("realized_recall", tp, pos),
                                 ("realized_base_rate", pos, n)):
            value = num / den if den else math.nan
            rows.append((month, horizon, model, metric, value, *wilson_interval(num, den)))
        rows.append((month, horizon, model, "watchlist_size", float(len(wl)), math.nan, math.nan))
    return pd.DataFrame(rows, columns=cols)


def _params_hash(*sections: Section) -> str:
    text = json.dumps([s.model_dump(mode="json") for s in sections], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- the store

SNAPSHOT_CACHE = "warning_snapshots"
# snapshot columns the stage reads, the only ones cached (features, rule, flags, scoring
# inputs of the statuses, alert indicators)
_SNAPSHOT_CACHE_COLUMNS = frozenset(
    ({"month", "customer_id", "do_not_contact", "recency_ratio"}
     | {c for cols, _ in _FEATURE_DEFS.values() for c in cols}
     | {c for v in _ALERTS.values() for c in v[:2]}
     | set(SCORING_COLUMNS)) - {"p_alive", "churn_score"})
STATUS_CACHE = "warning_status"
WATCHLIST_TABLE = "watchlist"
PERFORMANCE_TABLE = "warning_performance"
_STATUS_COLUMNS = ("month", "customer_id", "status", "score", "p_alive")
_PERFORMANCE_COLUMNS = ["month", "horizon", "model", "metric", "value", "ci_low", "ci_high"]


def history_months(con, month: str, *, params: WarningParams) -> list[str]:
    """Snapshot months the stage needs for ``month``: backtest, training and label windows.

    From the earliest training month of the earliest evaluated month
    (``month - 2H - (backtest_months - 1) - (max_train_months - 1)``), but not before the
    month of the first transaction, to ``month``.
    """
    H = params.horizon_months
    start = (_period(month) - 2 * H - (params.backtest_months - 1)
             - (params.max_train_months - 1))
    row = con.execute("SELECT min(order_ts) FROM transactions").fetchone()
    if row is None or row[0] is None:
        raise WarningError("The store's 'transactions' table is empty: load the month first.")
    first = pd.Period(pd.Timestamp(row[0]), freq="M")
    return month_range(str(max(start, first)), str(month))


def _cached(con, table: str, month: str, digest: str) -> pd.DataFrame | None:
    """``month``'s rows of cache ``table`` computed with params hash ``digest``, or ``None``."""
    if not has_table(con, table):
        return None
    frame = fetch_df(con, f'SELECT * FROM "{table}" WHERE month = ? AND params_hash = ?',
                        [month, digest])
    return None if frame.empty else frame.drop(columns="params_hash")


def _write_cache(con, table: str, month: str, frame: pd.DataFrame) -> None:
    """Cache ``frame`` as ``month``'s rows of ``table``; a cache whose columns no longer match
    (the snapshot definition changed) is dropped and rebuilt, month by month, as needed."""
    if has_table(con, table):
        cols = {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
        names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
        if cols != set(names):
            con.execute(f'DROP TABLE "{table}"')
    replace_month(con, table, month, frame)


def month_snapshot(con, month: str, *, snapshot_params) -> tuple[pd.DataFrame, str]:
    """The month-end snapshot of ``month`` and where it came from.

    The store's ``snapshots`` when the kit ran that month (only the columns this stage
    reads: features, the recency rule, do-not-contact, the churn scoring inputs and the
    alert indicators); else the cache
    ``warning_snapshots`` (computed with the same ``snapshot`` params; it holds the columns
    this stage reads, not every snapshot column); else computed now with
    :func:`winback.snapshot.month_end_snapshot` and cached.

    Returns
    -------
    (pandas.DataFrame, str)
        The snapshot and its source: ``snapshots``, ``cache`` or ``computed``.
    """

    if month in snapshot_months(con):
        stored = [r[0] for r in con.execute('DESCRIBE "snapshots"').fetchall()]
        keep = [c for c in stored if c in _SNAPSHOT_CACHE_COLUMNS
                and c not in ("month", "customer_id")]
        return read_snapshot(con, month, columns=keep), "snapshots"
    digest = _params_hash(snapshot_params)
    cached = _cached(con, SNAPSHOT_CACHE, month, digest)
    if cached is not None:
        return cached.sort_values("customer_id", ignore_index=True), "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing interactions table is said once by stage 1
        snap = month_end_snapshot(con, month, params=snapshot_params)
    keep = [c for c in snap.columns if c in _SNAPSHOT_CACHE_COLUMNS]
    _write_cache(con, SNAPSHOT_CACHE, month, store_frame(snap[keep]).assign(params_hash=digest))
    return snap, "computed"


def month_status(con, month: str, snapshot: pd.DataFrame, *, churn_params) -> tuple[
        pd.DataFrame, str]:
    """Churn statuses of ``month`` (``month``, ``customer_id``, ``status``, ``score``,
    ``p_alive``) and their source.

    The store's ``churn_status`` when stage 1 ran that month; else the cache
    ``warning_status``; else scored now with :func:`winback.churn.score_churn` (the BG/NBD
    fitted on that month's snapshot, stage 1's rules) and cached.
    """

    keep = list(_STATUS_COLUMNS)
    if month in table_months(con, "churn_status"):
        frame = fetch_df(con,
            f'SELECT {", ".join(keep)} FROM churn_status WHERE month = ? ORDER BY customer_id',
            [month])
        return frame, "churn_status"
    digest = _params_hash(churn_params)
    cached = _cached(con, STATUS_CACHE, month, digest)
    if cached is not None:
        return cached[keep].sort_values("customer_id", ignore_index=True), "cache"
    scored = score_churn(snapshot, params=churn_params)
    frame = pd.DataFrame({
        "month": str(month),
        "customer_id": scored["customer_id"].astype("str").to_numpy(),
        "status": scored["status"].astype("str").to_numpy(),
        "score": scored["score"].to_numpy(dtype=float),
        "p_alive": scored["p_alive"].to_numpy(dtype=float),
    })
    _write_cache(con, STATUS_CACHE, month, frame.assign(params_hash=digest))
    return frame, "computed"


def _snapshot_columns(features) -> list[str]:
    """Snapshot columns the warning table of a past month reads (features, rule, flags)."""
    cols = {c for f in features for c in _FEATURE_DEFS[f][0]} - {"p_alive", "churn_score"}
    return ["month", "customer_id", *sorted(cols | {"recency_ratio", "do_not_contact"})]


def _cache_months(con, table: str, digest: str) -> set[str]:
    """Months of cache ``table`` computed with params hash ``digest``."""
    if not has_table(con, table):
        return set()
    return {r[0] for r in con.execute(
        f'SELECT DISTINCT month FROM "{table}" WHERE params_hash = ?', [digest]).fetchall()}


def _status_of(m: str, source: str, digest: str) -> tuple[str, list]:
    """Query and arguments of month ``m``'s status rows, in ``churn_status`` or the cache."""
    if source == "churn_status":
        return 'SELECT customer_id, status, score, p_alive FROM churn_status WHERE month = ?', [m]
    return (f'SELECT customer_id, status, score, p_alive FROM "{STATUS_CACHE}" '
            'WHERE month = ? AND params_hash = ?', [m, digest])


def _in_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _population_sql(con, m: str, *, snap: tuple[str, str | None], status: dict,
                    label_months: list[str] | None, columns: list[str], params: WarningParams):
    """Month ``m``'s warning population: the snapshot ``columns``, ``churn_score``,
    ``p_alive`` and (``label_months``: the ``H`` following months, all with statuses) the
    label, one row per customer whose status at ``m`` is a population status, sorted by id.

    Joining in DuckDB reads only those rows and columns: the statuses of a month and of its
    label window never go through pandas.
    """
    table, digest = snap
    have = {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    cols = ", ".join(f's."{c}"' for c in columns if c in have)
    where, args = "s.month = ?", [m]
    if digest is not None:
        where, args = where + " AND s.params_hash = ?", [m, digest]
    st_sql, st_args = status[m]
    label, label_args = "CAST(NULL AS DOUBLE) AS label", []
    if label_months is not None:
        parts, label_args = [], []
        for lm in label_months:
            sql, a = status[lm]
            parts.append(sql)
            label_args.extend(a)
        churned = _in_list(params.churn_statuses)
        # a semi-join (mark join): no DISTINCT of the window's churned ids, no second join
        label = (f"CAST(s.customer_id IN (SELECT customer_id FROM ({' UNION ALL '.join(parts)})"
                 f" WHERE status IN ({churned}) AND customer_id IS NOT NULL) AS DOUBLE) AS label")
    sql = (f"SELECT {cols}, st.score AS churn_score, st.p_alive AS p_alive, {label} "
           f'FROM "{table}" s JOIN ({st_sql}) st ON st.customer_id = s.customer_id '
           f"WHERE {where} AND st.status IN ({_in_list(params.population_statuses)}) "
           "ORDER BY s.customer_id")
    return fetch_df(con, sql, label_args + st_args + args)


def _population(m: str, rows: pd.DataFrame, *, params: WarningParams) -> pd.DataFrame:
    """Warning-table rows of month ``m`` from its population's snapshot columns and status."""
    feats = feature_frame(rows, features=params.features)
    feats["customer_id"] = rows["customer_id"].astype("str").array  # compact text, no objects
    feats.insert(0, "month", m)
    feats["do_not_contact"] = rows["do_not_contact"].astype(bool).to_numpy() \
        if "do_not_contact" in rows else False
    feats[RULE] = recency_rule(rows).to_numpy() if len(rows) else np.array([], float)
    return feats


def _score_month(con, m: str, snapshot: pd.DataFrame, *, churn_params, notes: list[str],
                 required: bool) -> tuple[pd.DataFrame | None, str | None]:
    """:func:`month_status` of ``m``, its warnings added to ``notes``; ``(None, None)`` with a
    note when the month cannot be scored (raised instead when ``required``)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status, src = month_status(con, m, snapshot, churn_params=churn_params)
        notes.extend(f"{m}: {w.message}" for w in caught)
    except (ValueError, RuntimeError) as exc:
        if required:
            raise
        notes.append(f"{m}: no churn status ({exc}); months whose label needs it are "
                     "left out")
        return None, None
    return status, src


def _fill_months(con, months: list[str], run_month: str, *, snapshot_params, churn_params,
                 notes: list[str]) -> tuple[dict, dict]:
    """Make every month's snapshot and statuses available in the store; their sources.

    Months with neither a stored nor a cached snapshot are computed together (one read of
    the transactions, :func:`winback.snapshot.month_end_snapshot_tables`); each goes into
    the cache as Arrow, and only the columns scoring reads are converted to pandas to score
    its statuses. Months with a snapshot but no statuses are scored from it. The run month
    is left to the caller (it needs its full snapshot anyway).

    Returns
    -------
    (dict, dict)
        Snapshot source and status source by month (months that could not be scored have
        no status source).
    """
    stored = set(snapshot_months(con))
    snap_digest = _params_hash(snapshot_params)
    if has_table(con, SNAPSHOT_CACHE):
        have = {r[0] for r in con.execute(f'DESCRIBE "{SNAPSHOT_CACHE}"').fetchall()}
        if have != _SNAPSHOT_CACHE_COLUMNS | {"params_hash"}:  # cached by another definition
            con.execute(f'DROP TABLE "{SNAPSHOT_CACHE}"')
    cached = _cache_months(con, SNAPSHOT_CACHE, snap_digest)
    have_status = set(table_months(con, "churn_status"))
    status_digest = _params_hash(churn_params)
    cached_status = _cache_months(con, STATUS_CACHE, status_digest)
    snap_src, status_src = {}, {}
    past = [m for m in months if m != run_month]
    missing = [m for m in past if m not in stored and m not in cached]
    for m in past:
        if m in stored:
            snap_src[m] = "snapshots"
        elif m in cached:
            snap_src[m] = "cache"
        if m in have_status:
            status_src[m] = "churn_status"
        elif m in cached_status:
            status_src[m] = "cache"
    if missing:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing interactions table: said by stage 1
            tables = month_end_snapshot_tables(con, missing, params=snapshot_params,
                                               columns=_SNAPSHOT_CACHE_COLUMNS)
            try:
                for m, table in tables:
                    table = table.select([c for c in table.column_names
                                          if c in _SNAPSHOT_CACHE_COLUMNS])
                    digest = pa.array([snap_digest] * table.num_rows, pa.string())
                    _write_cache(con, SNAPSHOT_CACHE, m, table.append_column("params_hash", digest))
                    snap_src[m] = "computed"
                    if m not in status_src:
                        _, src = _score_month(con, m, snapshot_frame(table, SCORING_COLUMNS),
                                              churn_params=churn_params, notes=notes,
                                              required=False)
                        if src is not None:
                            status_src[m] = src
            finally:
                tables.close()
    for m in past:
        if m not in status_src and snap_src.get(m) in ("snapshots", "cache"):
            snap, _ = month_snapshot(con, m, snapshot_params=snapshot_params)
            _, src = _score_month(con, m, snap, churn_params=churn_params, notes=notes,
                                  required=False)
            if src is not None:
                status_src[m] = src
    return snap_src, status_src


@dataclass
class WarningHistory:
    """The stage's inputs for one run month, from :func:`load_history`.

    Attributes
    ----------
    month : str
        Run month.
    table : DataFrame
        Warning population of every loaded month: ``month``, ``customer_id``, ``label``
        (NaN while unobserved), ``do_not_contact``, ``recency_rule`` and the features.
    labels : DataFrame
        ``month``, ``customer_id``, ``label`` (0/1) of the table's rows whose label is
        observed: what :func:`label_frame` gives for the loaded statuses.
    snapshot : DataFrame
        The run month's snapshot, the columns this stage reads (for the alerts).
    sources : DataFrame
        Per month: where the snapshot and statuses came from, the population and how many
        have an observed label.
    notes : list of str
    """

    month: str
    table: pd.DataFrame
    labels: pd.DataFrame
    snapshot: pd.DataFrame
    sources: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def scoring(self) -> pd.DataFrame:
        """The run month's warning population with its features."""
        return self.table.loc[self.table["month"] == self.month].reset_index(drop=True)


def load_history(con, month: str, *, params: WarningParams, snapshot_params,
                 churn_params) -> WarningHistory:
    """Snapshots, statuses, population and labels of every month the stage needs.

    Past months' snapshots and statuses are first made available in the store (computed
    and cached when missing, see the module docstring); each month's population, features
    and label are then read with one DuckDB query joining its snapshot columns, its
    statuses and those of its label window. The run month's full snapshot is read for the
    alerts.

    Parameters
    ----------
    con
        Connection to the engagement store (written to: the two cache tables).
    month
        Run month ``YYYY-MM``.
    params
        The ``warning`` section.
    snapshot_params, churn_params
        The ``snapshot`` and ``churn`` sections (the same as stage 1's).

    Returns
    -------
    WarningHistory
    """
    month = str(month)
    months = history_months(con, month, params=params)
    notes: list[str] = []
    snap_src, status_src = _fill_months(con, months, month, snapshot_params=snapshot_params,
                                        churn_params=churn_params, notes=notes)
    snapshot, run_src = month_snapshot(con, month, snapshot_params=snapshot_params)
    status, run_status_src = _score_month(con, month, snapshot, churn_params=churn_params,
                                          notes=notes, required=True)
    snap_src[month], status_src[month] = run_src, run_status_src
    st = status.set_index("customer_id")
    ids = snapshot["customer_id"].astype("str")
    snapshot = snapshot.assign(p_alive=st["p_alive"].reindex(ids).to_numpy(),
                               churn_score=st["score"].reindex(ids).to_numpy())
    in_pop = st["status"].astype("str").reindex(ids).isin(params.population_statuses)

    snap_digest, status_digest = _params_hash(snapshot_params), _params_hash(churn_params)
    status_sql = {m: _status_of(m, src, status_digest) for m, src in status_src.items()}
    loaded = {_period(m).ordinal for m in status_src}
    columns = _snapshot_columns(params.features)
    H = params.horizon_months
    pops, sources = [], []
    for m in months:
        if m not in status_src:
            continue
        if m == month:
            rows = snapshot.loc[in_pop.to_numpy()].reset_index(drop=True)
            frame = _population(m, rows, params=params)
            frame["label"] = np.nan  # the run month's label window lies in the future
            customers = len(snapshot)
        else:
            after = [str(_period(m) + k) for k in range(1, H + 1)]
            observed = all(_period(a).ordinal in loaded for a in after)
            label_months = after if observed else None
            table = ("snapshots", None) if snap_src[m] == "snapshots" else (SNAPSHOT_CACHE,
                                                                             snap_digest)
            rows = _population_sql(con, m, snap=table, status=status_sql,
                                    label_months=label_months, columns=columns,
                                    params=params)
            frame = _population(m, rows, params=params)
            frame["label"] = rows["label"].to_numpy(dtype=float)
            customers = _count(con, m, table)
        ids_m = frame["customer_id"].to_numpy()
        if len(ids_m) > 1 and (ids_m[1:] == ids_m[:-1]).any():
            raise WarningError(f"{m}: the snapshot or the statuses hold duplicate customer_id "
                               "values; rebuild that month (stage 1).")
        pops.append(frame)
        sources.append({"month": m, "snapshot_source": snap_src[m],
                        "status_source": status_src[m], "customers": customers,
                        "population": len(frame)})
    table = pd.concat(pops, ignore_index=True)
    table = table.astype({"month": "str"})
    # month by month, not a filter of the whole table: no take of millions of ids
    labels = pd.concat([p.loc[p["label"].notna(), ["month", "customer_id", "label"]]
                        for p in pops], ignore_index=True)
    labels = labels.astype({"month": "str", "label": "int64"})
    src = pd.DataFrame(sources)
    per = labels.groupby("month").agg(labelled=("label", "size"), churn_rate=("label", "mean"))
    src = src.merge(per, left_on="month", right_index=True, how="left")
    src["labelled"] = src["labelled"].fillna(0).astype(int)
    return WarningHistory(month, table, labels, snapshot, src, notes)


def _count(con, m: str, table: tuple[str, str | None]) -> int:
    """Customers in month ``m``'s snapshot (stored or cached)."""
    name, digest = table
    if digest is None:
        return con.execute(f'SELECT count(*) FROM "{name}" WHERE month = ?', [m]).fetchone()[0]
    return con.execute(f'SELECT count(*) FROM "{name}" WHERE month = ? AND params_hash = ?',
                       [m, digest]).fetchone()[0]


def resolve_capacity(params, schedule=None) -> int:
    """Customers the call centre can contact per month for early warning.

    ``params`` is the ``warning`` section or the whole params (whose ``schedule`` section,
    if any, is then used). ``capacity`` when set; otherwise from the ``schedule`` section's teams: the
    daily contacts of every staffed team (agents x contacts per agent and day) times 21
    working days.
    """
    if not isinstance(params, WarningParams):
        schedule = schedule if schedule is not None else getattr(params, "schedule", None)
        params = params.warning
    if params.capacity is not None:
        return int(params.capacity)
    teams = getattr(schedule, "teams", None)
    if not teams:
        raise WarningError(
            "warning.capacity is null and there is no schedule section with teams to derive "
            "it from: set warning.capacity (customers the call centre can contact a month)."
        )
    daily = sum(t.agents * t.per_agent_day for t in teams.values()
                if getattr(t, "staffed", True))
    if daily <= 0:
        raise WarningError("The schedule's teams have no staffed agent: set warning.capacity.")
    return int(daily * 21)


def write_watchlist(con, month: str, watchlist: pd.DataFrame) -> int:
    """Store ``watchlist`` in the table ``watchlist``, replacing exactly ``month``'s rows."""
    frame = watchlist.astype({"month": "str", "customer_id": "str", "risk": float,
                              "rank": "int64", "model": "str"})
    for c in [c for c in frame.columns if c.startswith("factor_")]:
        frame[c] = frame[c].astype("str").where(frame[c].notna(), None)
    if frame.empty:
        if not has_table(con, WATCHLIST_TABLE):
            return 0
        con.execute(f'DELETE FROM "{WATCHLIST_TABLE}" WHERE month = ?', [month])
        return 0
    replace_month(con, WATCHLIST_TABLE, month, frame)
    return len(frame)


def write_performance(con, rows: pd.DataFrame) -> int:
    """Add ``rows`` to ``warning_performance``, month by month.

    For each month in ``rows``, rows with the same ``(horizon, model, metric)`` are
    replaced and other stored rows of that month (e.g. the realized precision written by
    another run) are kept; one transaction per month.
    """

    if rows.empty:
        return 0
    rows = rows[_PERFORMANCE_COLUMNS].astype({"month": "str", "horizon": "int64",
                                              "model": "str", "metric": "str", "value": float,
                                              "ci_low": float, "ci_high": float})
    key = ["horizon", "model", "metric"]
    for month, new in rows.groupby("month", sort=True):
        if has_table(con, PERFORMANCE_TABLE):
            old = fetch_df(con, f'SELECT * FROM "{PERFORMANCE_TABLE}" WHERE month = ?',
                              [month])
            old = old.astype(new.dtypes.to_dict())
            kept = old.merge(new[key].drop_duplicates(), on=key, how="left", indicator=True)
            kept = kept.loc[kept["_merge"] == "left_only", _PERFORMANCE_COLUMNS]
            new = pd.concat([kept, new], ignore_index=True)
        replace_month(con, PERFORMANCE_TABLE, month,
                      new.sort_values(key, ignore_index=True))
    return len(rows)


def read_performance(con) -> pd.DataFrame:
    """The whole ``warning_performance`` table (empty with its columns when missing)."""
    if not has_table(con, PERFORMANCE_TABLE):
        return pd.DataFrame(columns=_PERFORMANCE_COLUMNS)
    return fetch_df(con, f'SELECT * FROM "{PERFORMANCE_TABLE}" ORDER BY month, model, metric')


def past_watchlists(con) -> pd.DataFrame:
    """Every stored watchlist (empty when none yet)."""
    if not has_table(con, WATCHLIST_TABLE):
        return pd.DataFrame(columns=["month", "customer_id", "risk", "rank", "model"])
    return fetch_df(con, f'SELECT * FROM "{WATCHLIST_TABLE}" ORDER BY month, rank')


def record_performance(con, backtest: Backtest, history: WarningHistory) -> pd.DataFrame:
    """Write the month's backtest metrics and the realized performance of past watchlists.

    Realized precision/recall is computed for every stored watchlist whose month's label
    has been observed among the loaded months (its horizon has elapsed); older ones were
    written by earlier runs and are kept.

    Returns
    -------
    pandas.DataFrame
        The whole ``warning_performance`` table after writing.
    """
    rows = [performance_rows(backtest)]
    past = past_watchlists(con)
    if not past.empty:
        rows.append(realized_performance(past, history.labels, horizon=backtest.horizon))
    rows = [r for r in rows if not r.empty]
    if rows:
        write_performance(con, pd.concat(rows, ignore_index=True))
    return read_performance(con)


def describe_watchlist(watchlist: pd.DataFrame, history: WarningHistory, *,
                       capacity: int, language: str = "en") -> str:
    """A sentence on the month's watchlist: size, population, risk range and main factor.

    ``language`` (``zh`` or ``en``) is the language of the sentence and of the factor's name.
    """
    lang = check_language(language)
    pop = int((history.table["month"] == history.month).sum())
    if watchlist.empty:
        return message("text.warning.no_watchlist", lang, month=history.month, pop=pop)
    counts = factor_counts(watchlist, language=lang)
    main = counts.iloc[0] if len(counts) else None
    text = message("text.warning.watchlist", lang, n=len(watchlist), pop=pop,
                   month=history.month, cap=capacity, lo=watchlist["risk"].min(),
                   hi=watchlist["risk"].max(), m=watchlist["risk"].mean())
    if main is not None:
        text += message("text.warning.main_factor", lang, label=main["label"], s=main["share"])
    return text
