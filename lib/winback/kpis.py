"""The engagement's KPIs for the run month, against the targets in params, with a RAG status.

Each KPI is computed from a table stage 6 already built (status flows, satisfaction
trend, evaluations, contact funnel); :data:`KPIS` defines them. A target says which way
is good (``op``: ``<=`` or ``>=``) and the value to reach.

RAG rule
    *green*: the target is met (``value <= target`` or ``value >= target``);
    *amber*: missed by at most the amber band, ``|value - target| <= band x |target|``
    (``band`` used as an absolute tolerance when the target is 0);
    *red*: missed by more; *n/a*: the KPI has no value this month (e.g. no campaign
    evaluated yet).
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
from pydantic import Field, field_validator

from winback.config import Section
from winback.messages import check_language, label
from winback.messages import t as message

__all__ = [
    "KPIS",
    "KpiTarget",
    "KpisParams",
    "describe_kpis",
    "format_kpi",
    "kpi_status",
    "kpi_values",
    "rag_status",
]

# name -> (unit, description). Units: share (0-1), score (1-5), count, ratio (0.5 = 50%).
KPIS: dict[str, tuple[str, str]] = {
    "churn_rate": ("share", "customers not churned last month who are churned at this month's end"),
    "churned_share": ("share", "customers churned at this month's end"),
    "reactivation_rate": ("share", "last month's churned customers no longer churned this month"),
    "rechurn_rate": ("share", "customers who had come back earlier and churned again this month"),
    "net_winback": ("count", "customers who came back minus customers newly churned this month"),
    "satisfaction": ("score", "mean survey satisfaction (1-5) this month"),
    "contact_satisfaction": ("score", "mean satisfaction (1-5) given in this month's contacts"),
    "repurchase_rate": (
        "share",
        "treated customers of last month's campaign who bought in the month after (window 1)",
    ),
    "reactivation_uplift": (
        "share",
        "repurchase rate of last month's campaign, treated minus control (window 1)",
    ),
    "reach_rate": ("share", "treated customers of last month's campaign reached at least once"),
    "offer_redemption": (
        "share",
        "treated customers of last month's campaign who redeemed the offer",
    ),
    "roi": ("ratio", "ROI of the oldest campaign evaluated, at its longest window"),
}


class KpiTarget(Section):
    """One KPI's target: ``op`` is the good direction, ``amber_band`` overrides the default."""

    op: Literal["<=", ">="]
    target: float
    amber_band: float | None = Field(default=None, ge=0, le=1)


class KpisParams(Section):
    """Params section ``kpis``: targets of the engagement's KPIs and the amber band."""

    amber_band: float = Field(default=0.10, ge=0, le=1)
    targets: dict[str, KpiTarget] = Field(
        default_factory=lambda: {
            "churn_rate": KpiTarget(op="<=", target=0.03),
            "satisfaction": KpiTarget(op=">=", target=4.0),
            "repurchase_rate": KpiTarget(op=">=", target=0.15),
        }
    )

    @field_validator("targets")
    @classmethod
    def _known(cls, value: dict[str, KpiTarget]) -> dict[str, KpiTarget]:
        unknown = sorted(set(value) - set(KPIS))
        if unknown:
            raise ValueError(f"unknown KPI(s) {unknown}; known KPIs: {', '.join(KPIS)}")
        return value


def rag_status(value: float, op: str, target: float, amber_band: float) -> str:
    """``green``, ``amber``, ``red`` or ``n/a`` for one KPI (rule in the module docstring)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "n/a"
    if op not in ("<=", ">="):
        raise ValueError(f"op must be '<=' or '>=', got {op!r}")
    met = value <= target if op == "<=" else value >= target
    if met:
        return "green"
    tolerance = amber_band * abs(target) if target != 0 else amber_band
    return "amber" if abs(value - target) <= tolerance + 1e-12 else "red"


def _latest(frame: pd.DataFrame, month: str, column: str) -> float:
    if frame.empty or column not in frame.columns:
        return math.nan
    row = frame[frame["month"] == month]
    return float(row[column].iloc[0]) if len(row) and pd.notna(row[column].iloc[0]) else math.nan


def kpi_values(
    *,
    run_month: str,
    flows: pd.DataFrame,
    satisfaction: pd.DataFrame,
    evaluations: pd.DataFrame,
    funnel: pd.DataFrame,
) -> pd.DataFrame:
    """Every KPI of :data:`KPIS` for the run month.

    Parameters
    ----------
    run_month
        ``YYYY-MM``.
    flows
        :func:`winback.evaluation.status_flows`.
    satisfaction
        :func:`winback.evaluation.satisfaction_trend`.
    evaluations
        :func:`winback.evaluation.evaluate_campaigns` of the run month.
    funnel
        :func:`winback.evaluation.funnel_summary`.

    Returns
    -------
    DataFrame
        ``kpi, value, unit, basis, description``; ``value`` NaN when the data for it is
        not there this month (``basis`` says what was used, or what is missing).
    """
    last = str(pd.Period(run_month, "M") - 1)
    rows: dict[str, tuple[float, str]] = {}
    for kpi in ("churn_rate", "churned_share", "reactivation_rate", "rechurn_rate", "net_winback"):
        rows[kpi] = (_latest(flows, run_month, kpi), f"churn status {run_month}")
    for kpi, source in (("satisfaction", "survey"), ("contact_satisfaction", "contact")):
        sat = satisfaction[satisfaction["source"] == source] if len(satisfaction) else satisfaction
        rows[kpi] = (_latest(sat, run_month, "mean"), f"{source}s dated {run_month}")
    ev = evaluations
    main = ev[(ev["segment_type"] == "all") & (ev["campaign_month"] == last) & (ev["window"] == 1)]
    react = main[main["metric"] == "reactivation"]
    basis = f"campaign {last}, window 1"
    rows["repurchase_rate"] = (float(react["treated"].iloc[0]) if len(react) else math.nan, basis)
    rows["reactivation_uplift"] = (float(react["diff"].iloc[0]) if len(react) else math.nan, basis)
    if "program" in funnel.columns:  # the win-back program's funnel (preventive apart)
        funnel = funnel[funnel["program"].fillna("winback").astype(str) == "winback"]
    f = funnel[funnel["campaign_month"] == last] if len(funnel) else funnel
    rows["reach_rate"] = (
        float(f["reached_share"].iloc[0]) if len(f) else math.nan,
        f"campaign {last}",
    )
    rows["offer_redemption"] = (
        float(f["redeemed_share"].iloc[0]) if len(f) else math.nan,
        f"campaign {last}",
    )
    roi = ev[(ev["segment_type"] == "all") & (ev["metric"] == "roi")]
    if len(roi):
        oldest = roi.sort_values(["campaign_month", "window"], ascending=[True, False]).iloc[0]
        rows["roi"] = (
            float(oldest["diff"]),
            f"campaign {oldest['campaign_month']}, window {int(oldest['window'])}",
        )
    else:
        rows["roi"] = (math.nan, "no campaign evaluated")
    out = pd.DataFrame(
        [
            {
                "kpi": k,
                "value": rows[k][0],
                "unit": KPIS[k][0],
                "basis": rows[k][1],
                "description": KPIS[k][1],
            }
            for k in KPIS
        ]
    )
    out["value"] = out["value"].astype("float64")
    return out


def format_kpi(value: float, unit: str) -> str:
    """A KPI value as stage 6 and the report show it: shares and ratios as percentages,
    counts signed with thousands separators, scores with two decimals; ``n/a`` when missing."""
    if pd.isna(value):
        return "n/a"
    if unit in ("share", "ratio"):
        return f"{value:.1%}"
    if unit == "count":
        return f"{value:+,.0f}"
    return f"{value:.2f}"


def kpi_status(values: pd.DataFrame, params: KpisParams) -> pd.DataFrame:
    """The KPIs that have a target, with their status (``green``/``amber``/``red``/``n/a``).

    Returns ``kpi, value, op, target, amber_band, status, gap, text, basis`` in the order
    of the targets; ``gap`` = value - target; ``text`` e.g. ``"3.2% (target <= 3.0%)"``.
    """
    by_kpi = values.set_index("kpi")
    rows = []
    for kpi, t in params.targets.items():
        value = float(by_kpi.loc[kpi, "value"]) if kpi in by_kpi.index else math.nan
        unit = KPIS[kpi][0]
        band = params.amber_band if t.amber_band is None else t.amber_band
        rows.append(
            {
                "kpi": kpi,
                "value": value,
                "op": t.op,
                "target": float(t.target),
                "amber_band": band,
                "status": rag_status(value, t.op, t.target, band),
                "gap": value - t.target if not math.isnan(value) else math.nan,
                "text": f"{format_kpi(value, unit)} (target {t.op} {format_kpi(t.target, unit)})",
                "basis": by_kpi.loc[kpi, "basis"] if kpi in by_kpi.index else "",
            }
        )
    cols = ["kpi", "value", "op", "target", "amber_band", "status", "gap", "text", "basis"]
    return pd.DataFrame(rows, columns=cols)


def describe_kpis(status: pd.DataFrame, *, language: str = "en") -> str:
    """One sentence: how many KPIs are green, which are amber or red, and by how much.

    ``language`` (``zh`` or ``en``) words the sentence and names the KPIs (``kpi.*``).
    """
    lang = check_language(language)
    if status.empty:
        return message("text.kpis.none", lang)
    counts = status["status"].value_counts()
    parts = [message("text.kpis.on_target", lang, k=int(counts.get("green", 0)), n=len(status))]
    for level in ("amber", "red", "n/a"):
        rows = status[status["status"] == level]
        if len(rows):
            if lang == "en":
                items = "; ".join(f"{r.kpi} {r.text}" for r in rows.itertuples())
            else:
                items = message("common.clause_sep", lang).join(_kpi_text(r, lang)
                                                                 for r in rows.itertuples())
            parts.append(message("text.kpis.level", lang, n=len(rows),
                                 level=message(f"text.kpis.level.{level}", lang), items=items))
    return message("text.common.comma", lang).join(parts) + message("common.period", lang)


def _kpi_text(row, language: str) -> str:
    """``satisfaction 3.73 (target >= 4.00)`` of one :func:`kpi_status` row, in ``language``."""
    unit = KPIS[row.kpi][0] if row.kpi in KPIS else "score"

    def fmt(x: float) -> str:
        return message("common.na", language) if pd.isna(x) else format_kpi(x, unit)

    return message("text.kpis.item", language, kpi=label("kpi", row.kpi, language),
                   value=fmt(row.value), op=row.op, target=fmt(row.target))
