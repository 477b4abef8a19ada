"""Customer value: predicted future spend (BG/NBD x Gamma-Gamma), its necessary/discretionary
split, a non-monetary value index, and the value score that blends the two.

Future value
------------
For a customer with at least one purchase, with the snapshot's BG/NBD inputs
(``frequency`` = repeat purchase days, ``recency``, ``T``, all in **days**) and
Gamma-Gamma input (``monetary_value`` = average net spend per repeat purchase day):

``expected_transactions``
    BG/NBD conditional expected purchase days in the next ``horizon`` days
    (Fader, Hardie & Lee 2005, eq. 10), ``horizon = horizon_months * 365.25 / 12``.
``expected_spend``
    Gamma-Gamma conditional expected net spend per purchase day (Fader & Hardie 2013,
    eq. 7): a weighted mean of the population mean and the customer's own average.
``future_value``
    ``expected_transactions * expected_spend`` (currency units over the horizon).
    With ``discount_rate > 0`` the purchases expected in month ``k`` of the horizon are
    discounted by ``(1 + discount_rate) ** -k`` (:meth:`winback.clv.GammaGamma.customer_lifetime_value`),
    so ``future_value`` is then smaller than the product.

Both models come from :mod:`winback.clv`. The BG/NBD model is the one stage 1 fitted for
the month when it is passed in (it is fitted on the same snapshot, so fitting again would
repeat the same maximum-likelihood fit); otherwise it is fitted here on every customer
with a purchase. The Gamma-Gamma model is fitted on repeat customers with a positive
``monetary_value``.

Refunds are already netted in the snapshot (``monetary_value`` spreads each customer's
refunds pro rata over their purchases, see :mod:`winback.snapshot`). A repeat customer
whose refunds cancel every purchase (``monetary_value <= 0``) carries no positive average
for the Gamma-Gamma model: it is left out of the fit and scored with an average of
``min_monetary_value`` (one cent), so their expected spend is the population mean shrunk
by the weight the model gives their own (nil) history.

A customer who has never bought (``purchase_days == 0``) has no purchase process to
extrapolate: ``expected_transactions`` and ``future_value`` are 0 and ``expected_spend`` is
the population mean spend per purchase day; their value comes from the non-monetary index.

Necessary and discretionary spend
---------------------------------
The future value is split by the customer's own **necessary share** of net spend: over
the last 365 days when their necessary + discretionary net spend there is positive, else
over their lifetime when that is positive, else the population's share (the sum of
necessary over the sum of necessary + discretionary net spend over the last 365 days of
all customers; over the lifetime when the 365-day sums are not positive). Shares are
clipped to [0, 1] (refunds can make one class's net spend negative); spend of unknown
category is left out of the share. ``future_value_necessary = share * future_value`` and
``future_value_discretionary = future_value - future_value_necessary``, so the two always
sum to the total. Without any categorised spend (no ``category`` in the transactions) the
split is unknown (NaN) and a warning says so.

Non-monetary value index
------------------------
``nonmonetary_index = sum_k weight_k * min(count_k, cap)`` over the snapshot's
``eng_<kind>_365`` counts of the kinds given weights (referrals, reviews, community
answers, campaign participation, survey responses, suggestions): points per activity in
the last 365 days, each kind capped at ``cap`` a year so that no single habit (a flood of
reviews) dominates.

Value score
-----------
``value_score = (1 - w) * pct(future_value) + w * pct(nonmonetary_index)``, where ``pct`` is
the percentile rank among the month's customers (average rank of ties divided by the
number of customers, in (0, 1]) and ``w`` is ``nonmonetary_weight``. Ranks put the two
measures, one in currency and one in points, on one scale, and make the score robust to
the long right tail of spend. Customers tied on both measures get the same score.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.

Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from winback.clv import BGNBD, GammaGamma
from winback.messages import check_language, label
from winback.messages import t as message

__all__ = [
    "DAYS_PER_MONTH",
    "INPUT_COLUMNS",
    "NONMONETARY_KINDS",
    "FutureValue",
    "ValueInputError",
    "nonmonetary_index",
    "percentile_rank",
    "value_score",
]

DAYS_PER_MONTH = 365.25 / 12  # the snapshot's time unit is days; horizons are in months

# Interaction kinds that count towards the non-monetary value index.
NONMONETARY_KINDS: tuple[str, ...] = (
    "referral",
    "review",
    "community_answer",
    "campaign_participation",
    "survey_response",
    "suggestion",
)

_BGNBD_COLUMNS = ("customer_id", "purchase_days", "frequency", "recency", "T", "monetary_value")
_SPLIT_COLUMNS = (
    "necessary_spend_365",
    "discretionary_spend_365",
    "necessary_spend",
    "discretionary_spend",
)
# The snapshot columns :class:`FutureValue` reads (fit and predict).
INPUT_COLUMNS = (*_BGNBD_COLUMNS, *_SPLIT_COLUMNS)


class ValueInputError(ValueError):
    """The snapshot cannot be valued as given; the message names the columns or rows and a fix."""


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueInputError(
            f"{what}: the snapshot lacks column(s) {missing}. Pass the month's snapshot from "
            "winback.snapshot.read_snapshot (it carries every column the value models read)."
        )
    if "customer_id" in frame.columns and not frame["customer_id"].is_unique:
        dup = frame.loc[frame["customer_id"].duplicated(), "customer_id"].head(5).tolist()
        raise ValueInputError(
            f"{what}: the snapshot holds duplicate customer_id values (e.g. {dup}); pass one "
            "month's snapshot, one row per customer."
        )


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype="float64", na_value=np.nan)


def _bad_rows(frame: pd.DataFrame, bad: np.ndarray, column: str, what: str, fix: str) -> None:
    if bad.any():
        ids = frame.loc[bad, "customer_id"].head(5).tolist()
        raise ValueInputError(
            f"snapshot column {column!r}: {int(bad.sum())} customer(s) {what} (e.g. {ids}); {fix}"
        )


def percentile_rank(values) -> pd.Series | np.ndarray:
    """Percentile rank of each value among all values: average rank of ties / n, in (0, 1].

    Parameters
    ----------
    values : pandas.Series or array-like of float
        Values to rank; NaN is not allowed (rank what you have measured).

    Returns
    -------
    pandas.Series or numpy.ndarray
        Same shape and index as the input; equal values get equal ranks.
    """
    series = values if isinstance(values, pd.Series) else None
    arr = np.asarray(values, dtype="float64")
    if np.isnan(arr).any():
        raise ValueError(
            f"percentile_rank: {int(np.isnan(arr).sum())} missing value(s); fill them first"
        )
    n = arr.size
    if n == 0:
        out = arr.copy()
    else:
        order = np.argsort(arr, kind="stable")
        sorted_vals = arr[order]
        # average 1-based rank over each block of equal values
        starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
        ends = np.r_[starts[1:], n]
        avg = (starts + 1 + ends) / 2.0
        ranks = np.empty(n)
        ranks[order] = np.repeat(avg, ends - starts)
        out = ranks / n
    if series is not None:
        return pd.Series(out, index=series.index, name=series.name)
    return out


def nonmonetary_index(
    snapshot: pd.DataFrame, *, weights: Mapping[str, float], cap: float | None = None
) -> pd.Series:
    """Non-monetary value points of each customer over the last 365 days.

    ``sum_k weights[k] * min(eng_<k>_365, cap)``.

    Parameters
    ----------
    snapshot : pandas.DataFrame
        The month's snapshot with ``customer_id`` and ``eng_<kind>_365`` count columns.
    weights : mapping of str to float
        Points per activity of each interaction kind (>= 0); kinds absent count 0.
    cap : float, optional
        Most activities of one kind counted per customer and year (``None``: no cap).

    Returns
    -------
    pandas.Series
        ``nonmonetary_index`` on the snapshot's index, in points.
    """
    if not weights:
        raise ValueError("weights: give at least one interaction kind a weight")
    bad = {k: w for k, w in weights.items() if not (math.isfinite(w) and w >= 0)}
    if bad:
        raise ValueError(f"weights: every weight must be a finite number >= 0, got {bad}")
    if cap is not None and not cap > 0:
        raise ValueError(f"cap: must be > 0 (or None for no cap), got {cap!r}")
    columns = [f"eng_{kind}_365" for kind in weights]
    _require(snapshot, ["customer_id", *columns], "nonmonetary_index")
    total = np.zeros(len(snapshot))
    for kind, weight in weights.items():
        col = f"eng_{kind}_365"
        counts = _float(snapshot, col)
        _bad_rows(snapshot, ~np.isfinite(counts) | (counts < 0), col,
                  "have a missing or negative count", "counts are zero-filled by the snapshot; "
                  "rebuild it with winback.snapshot.month_end_snapshot")
        if cap is not None:
            counts = np.minimum(counts, cap)
        total += weight * counts
    return pd.Series(total, index=snapshot.index, name="nonmonetary_index")


def value_score(future_value, nonmonetary, *, nonmonetary_weight: float) -> pd.Series:
    """Blend monetary and non-monetary value on the percentile-rank scale.

    ``(1 - w) * pct(future_value) + w * pct(nonmonetary)``, ``w = nonmonetary_weight``.

    Parameters
    ----------
    future_value, nonmonetary : pandas.Series
        One value per customer, on the same index.
    nonmonetary_weight : float
        Weight of the non-monetary index, in [0, 1].

    Returns
    -------
    pandas.Series
        ``value_score`` in (0, 1]; higher is more valuable.
    """
    w = float(nonmonetary_weight)
    if not (0.0 <= w <= 1.0):
        raise ValueError(f"nonmonetary_weight: must be in [0, 1], got {nonmonetary_weight!r}")
    fv = pd.Series(future_value)
    nm = pd.Series(nonmonetary)
    if not fv.index.equals(nm.index):
        raise ValueError("future_value and nonmonetary are on different indexes; align them")
    score = (1.0 - w) * percentile_rank(fv.astype("float64")) \
        + w * percentile_rank(nm.astype("float64"))
    return pd.Series(np.asarray(score), index=fv.index, name="value_score")


class FutureValue:
    """Predicted future spend per customer: BG/NBD purchase days x Gamma-Gamma spend per day.

    See the module docstring for the definitions, the necessary/discretionary split and
    how customers without a purchase or with fully refunded purchases are valued.

    Parameters
    ----------
    horizon_months : float, default 12
        Length of the future window, in months (converted to days, the snapshot's unit).
    discount_rate : float, default 0.0
        Monthly discount rate; 0 leaves the future value undiscounted.
    bgnbd_penalizer, gg_penalizer : float, default 0.0
        L2 penalties of the BG/NBD (only when fitted here) and Gamma-Gamma fits.
    min_monetary_value : float, default 0.01
        Average spend used for repeat customers whose net average is not positive
        (currency units).

    Attributes
    ----------
    bgnbd_ : winback.clv.BGNBD
        The BG/NBD model used (given to :meth:`fit`, or fitted there).
    bgnbd_source_ : str
        ``"given"`` or ``"fitted"``.
    gamma_gamma_ : winback.clv.GammaGamma
        The fitted Gamma-Gamma model.
    population_necessary_share_ : float
        Share of necessary spend of the whole population (NaN without categorised spend).
    n_customers_, n_buyers_, n_repeat_, n_nonpositive_ : int
        Customers in the snapshot, with a purchase, repeat customers fitted by the
        Gamma-Gamma model, and repeat customers left out for a non-positive average.
    spend_frequency_corr_ : float
        Pearson correlation of ``frequency`` and ``monetary_value`` among the fitted repeat
        customers: the Gamma-Gamma model assumes the two independent (near 0 is good).
    """

    def __init__(
        self,
        horizon_months: float = 12.0,
        *,
        discount_rate: float = 0.0,
        bgnbd_penalizer: float = 0.0,
        gg_penalizer: float = 0.0,
        min_monetary_value: float = 0.01,
    ):
        self.horizon_months = horizon_months
        self.discount_rate = discount_rate
        self.bgnbd_penalizer = bgnbd_penalizer
        self.gg_penalizer = gg_penalizer
        self.min_monetary_value = min_monetary_value

    # ------------------------------------------------------------------ helpers

    @property
    def horizon_days(self) -> float:
        """The horizon in days (the time unit of the snapshot and the BG/NBD model)."""
        return float(self.horizon_months) * DAYS_PER_MONTH

    def _check_options(self) -> None:
        h = self.horizon_months
        if not (isinstance(h, int | float) and math.isfinite(h) and h > 0):
            raise ValueError(f"horizon_months: must be a number > 0, got {h!r}")
        d = self.discount_rate
        if not (isinstance(d, int | float) and math.isfinite(d) and d >= 0):
            raise ValueError(f"discount_rate: must be a number >= 0, got {d!r}")
        m = self.min_monetary_value
        if not (isinstance(m, int | float) and math.isfinite(m) and m > 0):
            raise ValueError(f"min_monetary_value: must be a number > 0, got {m!r}")

    @staticmethod
    def _buyers(snapshot: pd.DataFrame) -> np.ndarray:
        days = _float(snapshot, "purchase_days")
        _bad_rows(snapshot, ~np.isfinite(days) | (days < 0), "purchase_days",
                  "have a missing or negative count", "rebuild the snapshot")
        buyers = days > 0
        for col in ("frequency", "recency", "T"):
            values = _float(snapshot, col)
            _bad_rows(snapshot, buyers & ~np.isfinite(values), col,
                      "with a purchase have no value",
                      "rebuild the snapshot (recency and T are set for every buyer)")
        return buyers

    def _monetary(self, snapshot: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Repeat customers' averages and which of them the Gamma-Gamma model can fit."""
        x = _float(snapshot, "frequency")
        m = _float(snapshot, "monetary_value")
        repeat = np.nan_to_num(x) > 0
        _bad_rows(snapshot, repeat & ~np.isfinite(m), "monetary_value",
                  "with repeat purchases have no average", "rebuild the snapshot")
        fit_rows = repeat & (m > 0)
        m_scored = np.where(repeat, np.where(m > 0, m, float(self.min_monetary_value)), 0.0)
        return m_scored, fit_rows

    @staticmethod
    def _class_sums(snapshot: pd.DataFrame, suffix: str) -> tuple[np.ndarray, np.ndarray]:
        nec = np.nan_to_num(_float(snapshot, f"necessary_spend{suffix}"))
        disc = np.nan_to_num(_float(snapshot, f"discretionary_spend{suffix}"))
        return nec, disc

    def _population_share(self, snapshot: pd.DataFrame) -> float:
        for suffix in ("_365", ""):
            nec, disc = self._class_sums(snapshot, suffix)
            total = float(nec.sum() + disc.sum())
            if total > 0:
                return float(np.clip(nec.sum() / total, 0.0, 1.0))
        return float("nan")

    # ------------------------------------------------------------------ API

    def fit(self, snapshot: pd.DataFrame, *, bgnbd: BGNBD | None = None) -> FutureValue:
        """Fit the Gamma-Gamma model (and the BG/NBD model unless one is given) on a snapshot.

        Parameters
        ----------
        snapshot : pandas.DataFrame
            One month's snapshot (:func:`winback.snapshot.read_snapshot`).
        bgnbd : winback.clv.BGNBD, optional
            A BG/NBD model already fitted on this snapshot in days (stage 1's); fitted
            here when not given.

        Returns
        -------
        FutureValue
            ``self``, fitted.
        """
        self._check_options()
        _require(snapshot, [*_BGNBD_COLUMNS, *_SPLIT_COLUMNS], "FutureValue.fit")
        buyers = self._buyers(snapshot)
        if not buyers.any():
            raise ValueInputError(
                "FutureValue.fit: no customer in the snapshot has a purchase; future value "
                "needs purchase histories (check that transactions were loaded for the month)."
            )
        if bgnbd is not None:
            if not isinstance(bgnbd, BGNBD) or not hasattr(bgnbd, "params_"):
                raise TypeError("bgnbd: pass a fitted winback.clv.BGNBD (or None to fit here)")
            self.bgnbd_ = bgnbd
            self.bgnbd_source_ = "given"
        else:
            sub = snapshot.loc[buyers]
            self.bgnbd_ = BGNBD(penalizer=self.bgnbd_penalizer).fit(
                sub["frequency"].to_numpy("float64"),
                sub["recency"].to_numpy("float64"),
                sub["T"].to_numpy("float64"),
            )
            self.bgnbd_source_ = "fitted"
        m_scored, fit_rows = self._monetary(snapshot)
        x = _float(snapshot, "frequency")
        repeat = np.nan_to_num(x) > 0
        if fit_rows.sum() < 2:
            raise ValueInputError(
                f"FutureValue.fit: {int(fit_rows.sum())} repeat customer(s) with a positive "
                "average spend; the Gamma-Gamma model needs at least a few dozen. Use a longer "
                "history or check the transactions' amounts."
            )
        self.gamma_gamma_ = GammaGamma(penalizer=self.gg_penalizer).fit(
            x[fit_rows], m_scored[fit_rows]
        )
        p, q, v = (float(val) for val in self.gamma_gamma_.params_)
        if q <= 1:
            raise ValueInputError(
                f"FutureValue.fit: the Gamma-Gamma fit gives q = {q:.3g} <= 1 (infinite mean "
                "spend): a few huge averages dominate. Set tiering.gg_penalizer (e.g. 0.01) or "
                "check the transactions for outlier amounts."
            )
        self.population_necessary_share_ = self._population_share(snapshot)
        self.n_customers_ = len(snapshot)
        self.n_buyers_ = int(buyers.sum())
        self.n_repeat_ = int(fit_rows.sum())
        self.n_nonpositive_ = int((repeat & ~fit_rows).sum())
        xf, mf = x[fit_rows], m_scored[fit_rows]
        self.spend_frequency_corr_ = (
            float(np.corrcoef(xf, mf)[0, 1]) if np.std(xf) > 0 and np.std(mf) > 0 else float("nan")
        )
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "gamma_gamma_"):
            raise RuntimeError("FutureValue is not fitted: call FutureValue(...).fit(snapshot)")

    def necessary_share(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Each customer's necessary share of spend and where it comes from.

        Returns
        -------
        pandas.DataFrame
            ``customer_id``, ``necessary_share`` in [0, 1] (NaN without categorised spend)
            and ``share_source``: ``own_365``, ``own_lifetime`` or ``population``.
        """
        self._require_fitted()
        _require(snapshot, ["customer_id", *_SPLIT_COLUMNS], "necessary_share")
        nec365, disc365 = self._class_sums(snapshot, "_365")
        nec, disc = self._class_sums(snapshot, "")
        tot365, tot = nec365 + disc365, nec + disc
        with np.errstate(divide="ignore", invalid="ignore"):
            own365 = np.clip(nec365 / tot365, 0.0, 1.0)
            own = np.clip(nec / tot, 0.0, 1.0)
        use365 = tot365 > 0
        uselife = ~use365 & (tot > 0)
        share = np.where(use365, own365, np.where(uselife, own, self.population_necessary_share_))
        source = np.where(use365, "own_365", np.where(uselife, "own_lifetime", "population"))
        return pd.DataFrame({
            "customer_id": snapshot["customer_id"].to_numpy(),
            "necessary_share": share,
            "share_source": pd.array(source, dtype="str"),
        }, index=snapshot.index)

    def predict(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Future value of every customer of the snapshot over the horizon.

        Parameters
        ----------
        snapshot : pandas.DataFrame
            The snapshot to value (usually the one fitted on).

        Returns
        -------
        pandas.DataFrame
            On the snapshot's index: ``customer_id``, ``expected_transactions`` (purchase
            days in the horizon), ``expected_spend`` (net spend per purchase day),
            ``future_value``, ``future_value_necessary``, ``future_value_discretionary``
            (currency units over the horizon), ``necessary_share``, ``share_source`` and
            ``p_alive`` (BG/NBD; NaN for customers without a purchase).
        """
        self._require_fitted()
        _require(snapshot, [*_BGNBD_COLUMNS, *_SPLIT_COLUMNS], "FutureValue.predict")
        buyers = self._buyers(snapshot)
        x = np.where(buyers, _float(snapshot, "frequency"), 0.0)
        tx = np.where(buyers, _float(snapshot, "recency"), 0.0)
        age = np.where(buyers, _float(snapshot, "T"), 0.0)
        m_scored, _ = self._monetary(snapshot)
        horizon = self.horizon_days
        bg, gg = self.bgnbd_, self.gamma_gamma_
        count = np.asarray(bg.conditional_expected_transactions(horizon, x, tx, age))
        spend = np.asarray(gg.conditional_expected_average_profit(x, m_scored))
        if self.discount_rate > 0:
            value = np.asarray(gg.customer_lifetime_value(
                bg, x, tx, age, m_scored, horizon=horizon,
                discount_rate=float(self.discount_rate), period=DAYS_PER_MONTH,
            ))
        else:
            value = count * spend
        alive = np.asarray(bg.p_alive(x, tx, age))
        count = np.where(buyers, count, 0.0)
        value = np.where(buyers, value, 0.0)
        alive = np.where(buyers, alive, np.nan)
        split = self.necessary_share(snapshot)
        share = split["necessary_share"].to_numpy("float64")
        if np.isnan(share).all() and len(share):
            warnings.warn(
                "No categorised spend in the snapshot (no transaction category, or none "
                "necessary/discretionary): the necessary/discretionary split of future value "
                "is unknown (NaN). Map the transactions' category column and list the "
                "necessary categories in params.snapshot.necessary_categories.",
                stacklevel=2,
            )
        necessary = share * value
        return pd.DataFrame({
            "customer_id": snapshot["customer_id"].to_numpy(),
            "expected_transactions": count,
            "expected_spend": spend,
            "future_value": value,
            "future_value_necessary": necessary,
            "future_value_discretionary": value - necessary,
            "necessary_share": share,
            "share_source": split["share_source"].to_numpy(),
            "p_alive": alive,
        }, index=snapshot.index)

    @property
    def summary(self) -> pd.DataFrame:
        """Both models' estimates with standard errors and 95% intervals, one row a parameter."""
        self._require_fitted()
        parts = []
        for name, model in (("BG/NBD", self.bgnbd_), ("Gamma-Gamma", self.gamma_gamma_)):
            table = model.summary.rename_axis("parameter").reset_index()
            table.insert(0, "model", name)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    def fit_notes(self, language: str = "en") -> pd.DataFrame:
        """What the fit rests on: customers, repeat customers, population figures, checks.

        ``item`` and the worded values are in ``language`` (``zh`` or ``en``); the numbers
        are the fit's own.
        """
        self._require_fitted()
        lang = check_language(language)
        p, q, v = (float(val) for val in self.gamma_gamma_.params_)
        source = label("text.value.bgnbd", self.bgnbd_source_, lang)
        rows = [
            ("horizon", message("text.value.horizon_value", lang, h=self.horizon_months,
                                d=self.horizon_days)),
            ("discount_rate", f"{self.discount_rate:g}"),
            ("bgnbd", message("text.value.bgnbd_value", lang, source=source,
                              n=self.n_buyers_)),
            ("gamma_gamma", message("text.value.gamma_gamma_value", lang, n=self.n_repeat_)),
            ("nonpositive", f"{self.n_nonpositive_:,}"),
            ("no_purchase", f"{self.n_customers_ - self.n_buyers_:,}"),
            ("mean_spend", f"{p * v / (q - 1):,.2f}"),
            ("corr", f"{self.spend_frequency_corr_:.3f}"),
            ("necessary_share", f"{self.population_necessary_share_:.3f}"),
        ]
        return pd.DataFrame([(message(f"text.value.{key}", lang), value) for key, value in rows],
                            columns=["item", "value"])

    def describe(self, language: str = "en") -> str:
        """One sentence on the fit: horizon, customers, buyers, repeat buyers, BG/NBD source."""
        self._require_fitted()
        lang = check_language(language)
        return message("text.value.describe", lang, h=self.horizon_months,
                       rate=self.discount_rate, n=self.n_customers_, buyers=self.n_buyers_,
                       repeat=self.n_repeat_,
                       source=label("text.value.bgnbd", self.bgnbd_source_, lang))

    def __repr__(self) -> str:
        head = (f"FutureValue(horizon_months={self.horizon_months}, "
                f"discount_rate={self.discount_rate})")
        if not hasattr(self, "gamma_gamma_"):
            return head + " - not fitted"
        return (f"{head} on {self.n_customers_:,} customers ({self.n_buyers_:,} buyers, "
                f"{self.n_repeat_:,} repeat); BG/NBD {self.bgnbd_source_}")
