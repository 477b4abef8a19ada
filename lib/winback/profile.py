"""Who churns: the profile of churned vs retained customers, with a test of each difference.

Groups (run month ``M``): *churned* = customers whose status at ``M`` is in
``churned_statuses`` (default ``churned``); *retained* = status in ``retained_statuses``
(default ``active``, ``at_risk``). Attributes come from the month-end snapshot of ``M``:

* categorical: ``age_band`` (bands from ``age_bands`` edges, in years), ``gender``,
  ``region``, ``member_level``, ``preferred_channel``, ``spend_level`` (quantile bands of
  ``spend_column`` over both groups, ``Q1`` = lowest; customers without a purchase form
  their own level). A missing value is its own level ``(missing)``, never dropped.
  Test: Pearson's chi-square test of independence (no continuity correction); effect:
  Cramér's V ``sqrt(chi2 / (n (min(r, c) - 1)))`` with a percentile bootstrap interval
  (the contingency table resampled from its multinomial, seeded).
* numeric: ``age`` and ``spend_column``. Test: Mann-Whitney U (two-sided) with the
  rank-biserial correlation ``r = 2 U_churned / (n_churned n_retained) - 1`` (positive:
  churned customers tend to have larger values) and a Hanley & McNeil (1982) interval;
  or Welch's t-test with Cohen's d (pooled SD) and the Hedges & Olkin (1985) interval.

P-values are adjusted across all the variables tested with Holm's step-down method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator
from scipy import stats

from winback.config import Section
from winback.messages import check_language, label
from winback.messages import t as message

__all__ = [
    "ProfileParams",
    "cramers_v",
    "describe_profile",
    "profile_frame",
    "profile_shares",
    "profile_tests",
    "rank_biserial",
    "cohens_d",
]

MISSING = "(missing)"


class ProfileParams(Section):
    """``reasons.profile``: churned vs retained customers."""

    churned_statuses: list[str] = Field(default_factory=lambda: ["churned"])
    retained_statuses: list[str] = Field(default_factory=lambda: ["active", "at_risk"])
    categorical: list[str] = Field(default_factory=lambda: [
        "age_band", "gender", "region", "member_level", "preferred_channel", "spend_level"])
    numeric: list[str] = Field(default_factory=lambda: ["age", "avg_day_spend"])
    age_bands: list[float] = Field(default_factory=lambda: [30, 40, 50, 60])
    spend_column: str = "avg_day_spend"
    spend_levels: int = Field(default=4, ge=2, le=10)
    numeric_test: Literal["mann_whitney", "t_test"] = "mann_whitney"
    n_boot: int = Field(default=500, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)

    @field_validator("age_bands")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("age band edges must increase")
        return value


# --------------------------------------------------------------------------- effect sizes

def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues`` (Bonferroni factors ``n, n-1, ..., 1``).

    The same arithmetic as ``statsmodels.stats.multitest.multipletests(..., method="holm")``
    (sorted p-values times their factor, a running maximum, capped at 1, returned in the
    input order), without its full garbage collection on every call.

    Parameters
    ----------
    pvalues
        One-dimensional p-values (no missing values).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the order of ``pvalues``.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"holm: expected one-dimensional p-values, got shape {p.shape}.")
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    adjusted[adjusted > 1] = 1
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _chi2(table: np.ndarray) -> np.ndarray:
    """Pearson chi-square of one table (r, c) or a stack of tables (b, r, c)."""
    t = np.asarray(table, dtype=float)
    n = t.sum(axis=(-2, -1), keepdims=True)
    expected = t.sum(axis=-1, keepdims=True) * t.sum(axis=-2, keepdims=True) / np.where(n > 0, n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cells = np.where(expected > 0, (t - expected) ** 2 / np.where(expected > 0, expected, 1),
                         0.0)
    return cells.sum(axis=(-2, -1))


def cramers_v(table, *, n_boot: int = 0, seed: int = 0, confidence: float = 0.95):
    """Cramér's V of a contingency table, with a bootstrap interval when ``n_boot > 0``.

    Parameters
    ----------
    table
        Counts, shape ``(r, c)`` with ``r, c >= 2``.
    n_boot
        Bootstrap replicates (tables drawn from the multinomial of the observed cell
        shares, equivalent to resampling rows); 0 for no interval.
    seed
        Seed of the bootstrap.

    Returns
    -------
    (v, low, high)
        ``v = sqrt(chi2 / (n (min(r, c) - 1)))``; ``low``/``high`` NaN without bootstrap.
    """
    t = np.asarray(table, dtype=float)
    n = t.sum()
    k = min(t.shape) - 1
    if k < 1 or n == 0:
        return np.nan, np.nan, np.nan
    v = float(np.sqrt(_chi2(t) / (n * k)))
    if n_boot <= 0:
        return v, np.nan, np.nan
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(n), t.ravel() / n, size=n_boot).reshape(n_boot, *t.shape)
    vb = np.sqrt(_chi2(draws) / (n * k))
    tail = (1 - confidence) / 2
    return v, float(np.quantile(vb, tail)), float(np.quantile(vb, 1 - tail))


def rank_biserial(a, b, *, confidence: float = 0.95):
    """Mann-Whitney test of ``a`` vs ``b`` with the rank-biserial correlation.

    Returns
    -------
    (r, low, high, p_value, u)
        ``r = 2 U_a / (n_a n_b) - 1`` in [-1, 1] (positive: ``a`` tends to be larger),
        its interval from the Hanley & McNeil (1982) standard error of the AUC
        ``U_a / (n_a n_b)``, the two-sided p-value and ``U_a``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    na, nb = len(a), len(b)
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    auc = res.statistic / (na * nb)
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (na - 1) * (q1 - auc ** 2) + (nb - 1) * (q2 - auc ** 2)) / (na * nb)
    z = stats.norm.ppf(0.5 + confidence / 2)
    se = 2 * np.sqrt(max(var, 0.0))
    r = 2 * auc - 1
    return float(r), float(max(-1.0, r - z * se)), float(min(1.0, r + z * se)), \
        float(res.pvalue), float(res.statistic)


def cohens_d(a, b, *, confidence: float = 0.95):
    """Welch's t-test of ``a`` vs ``b`` with Cohen's d (pooled SD).

    Returns
    -------
    (d, low, high, p_value, t)
        ``d = (mean_a - mean_b) / s_pooled``; interval ``d ± z SE`` with
        ``SE = sqrt((n_a + n_b) / (n_a n_b) + d² / (2 (n_a + n_b)))``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    d = (a.mean() - b.mean()) / pooled if pooled > 0 else np.nan
    se = np.sqrt((na + nb) / (na * nb) + d * d / (2 * (na + nb)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    res = stats.ttest_ind(a, b, equal_var=False)
    return float(d), float(d - z * se), float(d + z * se), float(res.pvalue), float(res.statistic)


# --------------------------------------------------------------------------- frames

def _age_band(age: pd.Series, edges: Sequence[float]) -> pd.Series:
    edges = list(edges)
    labels = [f"<{edges[0]:g}"] + [f"{a:g}-{b - 1:g}" for a, b in zip(edges, edges[1:],
                                                                      strict=False)]
    labels.append(f"{edges[-1]:g}+")
    cut = pd.cut(pd.to_numeric(age, errors="coerce"), [-np.inf, *edges, np.inf], right=False,
                 labels=labels)
    return cut.astype("string").fillna(MISSING)


def _spend_level(spend: pd.Series, levels: int) -> pd.Series:
    x = pd.to_numeric(spend, errors="coerce")
    out = pd.Series("(no purchase)", index=spend.index, dtype="string")
    ok = x.notna()
    if ok.sum() >= levels:
        ranks = x[ok].rank(method="first")
        out[ok] = pd.qcut(ranks, levels, labels=[f"Q{i + 1}" for i in range(levels)]).astype(
            "string")
    return out


def profile_frame(snapshot: pd.DataFrame, status: pd.DataFrame, params: ProfileParams
                  ) -> pd.DataFrame:
    """Churned and retained customers of one month with the profile attributes.

    Parameters
    ----------
    snapshot
        Month-end snapshot (``customer_id`` plus the attribute columns).
    status
        ``customer_id, status`` of the same month.
    params
        The ``reasons.profile`` section.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, group`` (``churned`` / ``retained``), the categorical attributes as
        strings (``age_band`` and ``spend_level`` derived) and the numeric ones as floats.
        Customers with another status are left out.

    Raises
    ------
    ValueError
        A column named in the params is missing from the snapshot.
    """
    derived = {"age_band": "age", "spend_level": params.spend_column}
    need = {derived.get(c, c) for c in params.categorical} | set(params.numeric)
    missing = sorted(c for c in need if c not in snapshot)
    if missing:
        raise ValueError(f"The snapshot lacks profile column(s) {missing}; remove them from "
                         "params reasons.profile or rebuild the snapshot.")
    st = status[["customer_id", "status"]].assign(customer_id=status["customer_id"].astype(str))
    group = np.where(st["status"].isin(params.churned_statuses), "churned",
                     np.where(st["status"].isin(params.retained_statuses), "retained", None))
    st = st.assign(group=group)
    st = st[st["group"].notna()]
    snap = snapshot.assign(customer_id=snapshot["customer_id"].astype(str))
    data = st[["customer_id", "group"]].merge(snap, on="customer_id", how="inner")
    # text columns as the default text dtype, without a round trip through Python objects
    out = pd.DataFrame({"customer_id": data["customer_id"].astype(str).array,
                        "group": data["group"].astype(str).array})
    for col in params.categorical:
        if col == "age_band":
            values = _age_band(data["age"], params.age_bands)
        elif col == "spend_level":
            values = _spend_level(data[params.spend_column], params.spend_levels)
        else:
            values = data[col].astype("string").fillna(MISSING)
        out[col] = values.astype(str).array
    for col in params.numeric:
        out[col] = pd.to_numeric(data[col], errors="coerce").astype(float).to_numpy()
    return out


def _crosstab(values: pd.Series, churned: np.ndarray) -> pd.DataFrame:
    """Counts per level (sorted, missing left out) of the churned and the retained.

    The table ``pandas.crosstab(values, group)`` gives with columns ``churned, retained``,
    counted with one factorization and ``numpy.bincount``.
    """
    codes, levels = pd.factorize(values, sort=True)
    ok = codes >= 0
    width = len(levels)
    counts = np.bincount(codes[ok] * 2 + (~churned[ok]), minlength=2 * width).reshape(width, 2)
    table = pd.DataFrame(counts.astype(np.int64), columns=pd.Index(["churned", "retained"],
                                                                  name="group"),
                         index=pd.Index(levels, name=values.name))
    return table[table.sum(axis=1) > 0]


def profile_tests(frame: pd.DataFrame, params: ProfileParams, *, seed: int = 0,
                  confidence: float = 0.95) -> pd.DataFrame:
    """Test each attribute's difference between churned and retained customers.

    Parameters
    ----------
    frame
        From :func:`profile_frame`.
    seed
        Seed of the Cramér's V bootstrap (derive it from the engagement seed and month).

    Returns
    -------
    pandas.DataFrame
        One row per variable: ``variable, kind, test, n_churned, n_retained, statistic,
        p_value, p_holm, significant`` (Holm-adjusted p below ``alpha``), ``effect``
        (``cramers_v`` / ``rank_biserial`` / ``cohens_d``), ``effect_size, effect_low,
        effect_high``, ``churned_value, retained_value`` (numeric: medians for Mann-Whitney,
        means for t; categorical: the level whose share differs most, as ``level: share``),
        ``note``; sorted by Holm p-value.
    """
    churned = frame["group"] == "churned"
    n1, n0 = int(churned.sum()), int((~churned).sum())
    rows = []
    for i, col in enumerate(params.categorical):
        table = _crosstab(frame[col], churned.to_numpy(dtype=bool))
        row = {"variable": col, "kind": "categorical", "test": "chi-square",
               "n_churned": n1, "n_retained": n0, "effect": "cramers_v", "note": ""}
        if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
            row.update(statistic=np.nan, p_value=np.nan, effect_size=np.nan, effect_low=np.nan,
                       effect_high=np.nan, churned_value="", retained_value="",
                       note="fewer than two levels or an empty group: not tested")
            rows.append(row)
            continue
        counts = table.to_numpy()
        chi2, p, dof, expected = stats.chi2_contingency(counts, correction=False)
        v, lo, hi = cramers_v(counts, n_boot=params.n_boot, seed=seed + i,
                              confidence=confidence)
        shares = table / table.sum(axis=0)
        gap = (shares["churned"] - shares["retained"]).abs().idxmax()
        small = int((expected < 5).sum())
        row.update(statistic=float(chi2), p_value=float(p), effect_size=v, effect_low=lo,
                   effect_high=hi,
                   churned_value=f"{gap}: {shares.loc[gap, 'churned']:.1%}",
                   retained_value=f"{gap}: {shares.loc[gap, 'retained']:.1%}",
                   note=(f"{small} cell(s) with expected count below 5" if small else ""))
        rows.append(row)
    for col in params.numeric:
        a = frame.loc[churned, col].dropna().to_numpy(float)
        b = frame.loc[~churned, col].dropna().to_numpy(float)
        mw = params.numeric_test == "mann_whitney"
        row = {"variable": col, "kind": "numeric",
               "test": "Mann-Whitney U" if mw else "Welch t-test",
               "n_churned": len(a), "n_retained": len(b),
               "effect": "rank_biserial" if mw else "cohens_d",
               "note": "" if len(a) + len(b) == n1 + n0 else
               f"{n1 + n0 - len(a) - len(b)} missing value(s) left out"}
        if len(a) < 2 or len(b) < 2:
            row.update(statistic=np.nan, p_value=np.nan, effect_size=np.nan, effect_low=np.nan,
                       effect_high=np.nan, churned_value="", retained_value="",
                       note="fewer than two values in a group: not tested")
            rows.append(row)
            continue
        if mw:
            r, lo, hi, p, u = rank_biserial(a, b, confidence=confidence)
            row.update(statistic=u, p_value=p, effect_size=r, effect_low=lo, effect_high=hi,
                       churned_value=f"median {np.median(a):.4g}",
                       retained_value=f"median {np.median(b):.4g}")
        else:
            d, lo, hi, p, t = cohens_d(a, b, confidence=confidence)
            row.update(statistic=t, p_value=p, effect_size=d, effect_low=lo, effect_high=hi,
                       churned_value=f"mean {a.mean():.4g}", retained_value=f"mean {b.mean():.4g}")
        rows.append(row)
    out = pd.DataFrame(rows)
    tested = out["p_value"].notna()
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = holm(out.loc[tested, "p_value"])
    out["significant"] = (out["p_holm"] < params.alpha).fillna(False).astype(bool)
    cols = ["variable", "kind", "test", "n_churned", "n_retained", "statistic", "p_value",
            "p_holm", "significant", "effect", "effect_size", "effect_low", "effect_high",
            "churned_value", "retained_value", "note"]
    return out[cols].sort_values(["p_holm", "variable"], na_position="last").reset_index(
        drop=True)


def profile_shares(frame: pd.DataFrame, variables: Sequence[str], *,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Share of each level among churned and among retained customers, with Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        ``variable, level, n_churned, churned_share, churned_low, churned_high,
        n_retained, retained_share, retained_low, retained_high, difference``
        (churned - retained share, percentage points as a fraction).
    """
    from winback.reasons import wilson_interval

    parts = []
    totals = frame["group"].value_counts()
    for col in variables:
        table = pd.crosstab(frame[col], frame["group"]).reindex(
            columns=["churned", "retained"], fill_value=0)
        part = pd.DataFrame({"variable": col, "level": table.index.astype(str)})
        for g in ("churned", "retained"):
            n = int(totals.get(g, 0))
            x = table[g].to_numpy()
            part[f"n_{g}"] = x
            part[f"{g}_share"] = x / n if n else np.nan
            part[f"{g}_low"], part[f"{g}_high"] = wilson_interval(x, np.full(len(x), n),
                                                                  confidence)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["difference"] = out["churned_share"] - out["retained_share"]
    return out


def _value_text(value: str, language: str) -> str:
    """A profile value (``"普通: 72.1%"`` or ``"median 41"``) in ``language``."""
    if language != "en" and isinstance(value, str) and value.startswith("median "):
        return message("text.profile.median", language, value=value[len("median "):])
    return value


def describe_profile(tests: pd.DataFrame, alpha: float = 0.05, *, language: str = "en") -> str:
    """Sentences naming the attributes that differ (Holm-adjusted) and by how much.

    ``language`` (``zh`` or ``en``) words the sentences; attributes and effect measures are
    named by the catalog's ``variable.*`` and ``effect.*`` labels (codes in English).
    """
    lang = check_language(language)
    if tests.empty:
        return message("text.profile.none", lang)
    n1, n0 = int(tests["n_churned"].max()), int(tests["n_retained"].max())
    sig = tests[tests["significant"]]
    head = message("text.profile.head", lang, n1=n1, n0=n0, k=len(tests), alpha=alpha)
    if sig.empty:
        return head + message("text.profile.no_difference", lang)
    items = [message("text.profile.item", lang, variable=label("variable", r.variable, lang),
               effect=label("effect", r.effect, lang), size=r.effect_size, low=r.effect_low,
               high=r.effect_high, churned=_value_text(r.churned_value, lang),
               retained=_value_text(r.retained_value, lang))
             for r in sig.itertuples()]
    rest = [label("variable", v, lang) for v in tests[~tests["significant"]]["variable"]]
    sep = message("common.list_sep", lang)
    tail = message("text.profile.rest", lang, items=sep.join(rest)) if rest else ""
    return head + message("common.clause_sep", lang).join(items) + message("common.period", lang) + tail
