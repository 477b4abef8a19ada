"""Monthly evaluation of the win-back campaigns: treated vs control, ROI, funnel, trends.

Month ``M``'s campaign (a treatment group the call centre contacts and a random holdout
that is never contacted, both in the store table ``campaign_log``) is executed during
``M+1``. Its follow-up **window k** (k = 1, 2, 3) runs from the first day of ``M+1`` to
the last day of ``M+k``; purchases and interactions dated in the campaign month itself
or earlier never count. The run of month ``R`` evaluates the campaigns of ``R-1``,
``R-2`` and ``R-3`` with every window that has fully elapsed by ``R``'s end (``R-1``:
window 1; ``R-2``: windows 1-2; ``R-3``: windows 1-3).

Outcomes per assigned customer and window (aggregated in DuckDB over ``transactions`` and
``interactions``)
    ``reactivated``: at least one purchase in the window (a purchase is a row with
    ``amount > 0`` that is not a return; a return is ``is_return`` true or
    ``amount < 0``, as in :mod:`winback.snapshot`). ``net_spend``: purchases minus
    refunds dated in the window (currency units). ``engaged``: at least one interaction
    of the kinds in ``EvaluationParams.engagement_kinds`` in the window.
    ``offer_match``: for a reactivated customer, whether the first purchase of the
    window (earliest ``order_ts``, then smallest ``order_id``) is in the customer's
    ``offer_category`` (compared trimmed, case-insensitive).
Comparisons (:mod:`winback.uplift`), intention to treat
    Every customer assigned to treatment is in the treated arm, reached or not. Rates
    (reactivation, engagement, offer match) by two-proportion intervals, revenue per
    customer by Welch's t interval; incremental revenue = difference x treated n;
    cost = the treated customers' cost on the basis in params (:func:`campaign_costs`:
    the campaign log's planned cost, that plus the attempts actually made, or what was
    actually spent on attempts and redeemed offers), plus, with
    ``include_overhead``, the program's campaign overhead (:func:`campaign_overhead`: the
    people and materials of stage 5's ``campaign_budget`` for that campaign month, spread
    evenly over the program's treated customers); ROI = (margin x
    incremental revenue - cost) / cost with the interval mapped from the incremental
    revenue's. Broken down by the segments in params where both arms reach the minimum
    sizes; elsewhere a row says ``too small: n_treated=.., n_control=..``.
    The offer-match baseline is the same share among reactivated *control* customers
    (what they would have been offered): how often a returning customer buys in that
    category anyway.
Programs
    The campaign log holds two programs, told apart by its ``program`` column
    (:data:`winback.campaign.PROGRAMS`; rows without it are win-back): ``winback``
    contacts of churned customers and ``preventive`` care contacts of watchlisted active
    customers, each with its own control group. They are never pooled:
    :func:`evaluate_campaigns` evaluates one program at a time (win-back by default) and
    every evaluations row carries its ``program``, so the win-back uplift is the win-back
    program's alone. For a preventive contact "reactivated" reads as *bought again in the
    window* (the customer stayed).
Contamination
    A control customer assigned to treatment by a later campaign executed inside the
    window (window 2 and 3 only) is no longer a clean control; such rows keep their arm
    (dropping them would break the randomization) and the evaluation row's ``note``
    counts them, as the effect is then understated.
Status flows (from ``churn_status``; ``churned_statuses`` = churned, lost)
    For consecutive months ``t-1 -> t`` and customers present in both: *new churn* =
    not churned -> churned (``churn_rate`` = new churn / not churned at ``t-1``);
    *reactivated* = churned -> not churned (``reactivation_rate`` = reactivated /
    churned at ``t-1``); *re-churned* = a customer reactivated in some earlier month,
    not churned at ``t-1`` and churned at ``t`` (``rechurn_rate`` over those
    reactivated earlier in the history read and not churned at ``t-1``).
    ``net_winback`` = reactivated - new churn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from winback.campaign import program_rows, read_campaign_log
from winback.config import Section
from winback.contract import CONTACT_CHANNELS, INTERACTION_KINDS
from winback.messages import check_language, retell
from winback.messages import t as message
from winback.settings import month_end
from winback.store import fetch_df, replace_month, table_months
from winback.uplift import (
    Comparison,
    mean_difference,
    proportion_interval,
    rate_difference,
    roi_interval,
    scaled,
)

__all__ = [
    "EVALUATION_COLUMNS",
    "COST_BASES",
    "METRICS",
    "NO_RESPONSE_COLUMNS",
    "SEGMENT_COLUMNS",
    "EvaluationData",
    "EvaluationError",
    "EvaluationParams",
    "campaign_costs",
    "campaign_overhead",
    "campaign_overview",
    "collect",
    "consistency_table",
    "contact_funnel",
    "describe_evaluation",
    "describe_no_response",
    "evaluate_campaigns",
    "evaluation_plan",
    "funnel_summary",
    "no_response_list",
    "offer_redemption",
    "satisfaction_trend",
    "status_flows",
    "uplift_table",
    "window_bounds",
    "window_outcomes",
    "winning_back_sentence",
    "write_evaluations",
    "write_no_response",
]

SEGMENT_COLUMNS = ("tier", "reason_code", "churn_type", "strategy", "offer_category", "channel_1")
RESPONDED = ("accepted", "declined", "callback")
METRICS = {
    "reactivation": "share of customers with a purchase in the window",
    "incremental_reactivations": "reactivation difference x treated customers",
    "revenue": "net spend per customer in the window (currency units)",
    "incremental_revenue": "revenue difference x treated customers (currency units)",
    "engagement": "share of customers with an interaction in the window",
    "cost": "cost of the treated customers, on evaluation.cost_basis, plus the campaign's "
            "overhead with evaluation.include_overhead (currency units)",
    "roi": "(margin x incremental revenue - cost) / cost",
    "offer_match": "share of reactivated customers whose first purchase is in their offer category",
}
PROGRAMS = ("winback", "preventive")  # winback.campaign.PROGRAMS
EVALUATION_COLUMNS = [
    "month",
    "campaign_month",
    "program",
    "window",
    "segment_type",
    "segment",
    "metric",
    "n_treated",
    "n_control",
    "treated",
    "control",
    "diff",
    "ci_low",
    "ci_high",
    "p_value",
    "note",
]
# What uplift_table shows of an evaluations row (one metric and segment type at a time).
UPLIFT_COLUMNS = [
    c for c in EVALUATION_COLUMNS if c not in ("month", "program", "segment_type", "metric")
]
NO_RESPONSE_COLUMNS = ["month", "campaign_month", "customer_id", "attempts", "outcome", "action"]


class EvaluationError(ValueError):
    """The store cannot give a consistent evaluation; the message names table, rows and fix."""


class EvaluationParams(Section):
    """Params section ``evaluation``: how stage 6 evaluates the campaigns of M-1..M-3."""

    windows: list[int] = Field(default_factory=lambda: [1, 2, 3])
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    rate_ci_method: Literal["newcomb", "agresti-caffo", "wald"] = "newcomb"
    segments: list[str] = Field(default_factory=lambda: ["tier", "reason_code", "strategy"])
    min_treated: int = Field(default=30, ge=2)
    min_control: int = Field(default=30, ge=2)
    min_reactivated: int = Field(default=10, ge=2)
    engagement_kinds: list[str] = Field(default_factory=list)
    contact_unit_cost: dict[str, float] = Field(default_factory=dict)
    cost_basis: Literal["log", "log_plus_contacts", "actual"] = "log"
    revenue_margin: float = Field(default=1.0, gt=0, le=1)
    include_overhead: bool = True
    no_response_action: Literal["reenter_next_cycle", "release"] = "reenter_next_cycle"
    churned_statuses: list[str] = Field(default_factory=lambda: ["churned", "lost"])
    trend_months: int = Field(default=12, ge=2)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= int(k) <= 12 for k in value):
            raise ValueError("list follow-up windows as months after the campaign month, 1..12")
        return sorted({int(k) for k in value})

    @field_validator("segments")
    @classmethod
    def _segments(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SEGMENT_COLUMNS))
        if unknown:
            raise ValueError(
                f"unknown segment column(s) {unknown}; allowed: {', '.join(SEGMENT_COLUMNS)}"
            )
        return list(dict.fromkeys(value))

    @field_validator("engagement_kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - INTERACTION_KINDS)
        if unknown:
            raise ValueError(
                f"unknown interaction kind(s) {unknown}; "
                f"allowed: {', '.join(sorted(INTERACTION_KINDS))}"
            )
        return list(dict.fromkeys(value))

    @field_validator("contact_unit_cost")
    @classmethod
    def _costs(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - CONTACT_CHANNELS)
        if unknown:
            raise ValueError(
                f"unknown channel(s) {unknown}; allowed: {', '.join(sorted(CONTACT_CHANNELS))}"
            )
        bad = {k: v for k, v in value.items() if not (v >= 0 and math.isfinite(v))}
        if bad:
            raise ValueError(f"costs per attempt must be >= 0 (currency units), got {bad}")
        return dict(value)

    @model_validator(mode="after")
    def _statuses(self) -> EvaluationParams:
        if not self.churned_statuses:
            raise ValueError("churned_statuses: list at least one status (e.g. churned, lost)")
        return self


# ------------------------------------------------------------------------------ plan


def _check_month(month: str) -> str:
    month = str(month)
    try:
        period = pd.Period(month, "M")
    except ValueError:
        period = None
    if period is None or str(period) != month:
        raise EvaluationError(f"a month is written YYYY-MM (e.g. 2024-06), got {month!r}")
    return month


def _shift(month: str, k: int) -> str:
    return str(pd.Period(month, "M") + k)


def window_bounds(campaign_month: str, window: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start (inclusive) and end (exclusive) of follow-up ``window`` of a campaign.

    Window ``k`` of campaign month ``M`` covers the first day of ``M+1`` (00:00) up to the
    end of the last day of ``M+k``; the end returned is the first day of ``M+k+1``.
    """
    campaign_month = _check_month(campaign_month)
    if int(window) < 1:
        raise EvaluationError(f"a follow-up window is 1 or more months, got {window!r}")
    start = pd.Period(_shift(campaign_month, 1), "M").start_time
    end = month_end(_shift(campaign_month, int(window))) + pd.Timedelta(days=1)
    return start, end


def evaluation_plan(run_month: str, campaign_months, *, windows=(1, 2, 3)) -> pd.DataFrame:
    """The campaign months and windows the run of ``run_month`` evaluates.

    Campaign month ``C`` (among ``campaign_months``, the months present in the campaign
    log) is evaluated when ``R - max(windows) <= C <= R - 1``, with each window ``k`` of
    ``windows`` such that ``C + k <= R`` (fully elapsed by the run month's end).

    Returns
    -------
    DataFrame
        ``campaign_month, window, start, end`` (end exclusive), oldest campaign first.
    """
    run_month = _check_month(run_month)
    available = {_check_month(m) for m in campaign_months}
    rows = []
    for lag in range(max(windows), 0, -1):
        c = _shift(run_month, -lag)
        if c not in available:
            continue
        for k in sorted(windows):
            if k <= lag:
                start, end = window_bounds(c, k)
                rows.append({"campaign_month": c, "window": k, "start": start, "end": end})
    out = pd.DataFrame(rows, columns=["campaign_month", "window", "start", "end"])
    out["window"] = out["window"].astype("int64")
    out["campaign_month"] = out["campaign_month"].astype("str")
    for col in ("start", "end"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    return out


# ----------------------------------------------------------------------- store inputs


def _rows(frame: pd.DataFrame, mask, column: str = "customer_id", limit: int = 5) -> str:
    ids = frame.loc[mask, column].astype(str).tolist()
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _has_table(con, name: str) -> bool:
    # fetchall (not fetchone) so no unfinished result blocks a later ``register``
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows and rows[0][0])


def _columns(con, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _read_contacts(con, months) -> pd.DataFrame:
    cols = [
        "customer_id",
        "campaign_month",
        "attempt",
        "contact_ts",
        "channel",
        "reached",
        "response",
        "offer_redeemed",
        "satisfaction",
    ]
    empty = pd.DataFrame({c: [] for c in cols})
    if not months or not _has_table(con, "contact_outcomes"):
        return _typed_contacts(empty)
    have = _columns(con, "contact_outcomes")
    select = ", ".join(c if c in have else f"NULL AS {c}" for c in cols)
    marks = ", ".join("?" for _ in months)
    frame = fetch_df(con,
        f"SELECT {select} FROM contact_outcomes WHERE CAST(campaign_month AS VARCHAR) IN ({marks})"
        " ORDER BY campaign_month, customer_id, attempt",
        sorted(months),
    )
    return _typed_contacts(frame)


def _typed_contacts(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("customer_id", "campaign_month", "channel", "response"):
        out[col] = out[col].astype("str").where(out[col].notna(), pd.NA).astype("string")
    out["attempt"] = pd.to_numeric(out["attempt"]).astype("Int64")
    out["contact_ts"] = pd.to_datetime(out["contact_ts"]).astype("datetime64[us]")
    for col in ("reached", "offer_redeemed"):
        out[col] = out[col].astype("boolean")
    out["satisfaction"] = pd.to_numeric(out["satisfaction"]).astype("Float64")
    return out


def window_outcomes(
    con, assigned: pd.DataFrame, plan: pd.DataFrame, *, engagement_kinds=()
) -> pd.DataFrame:
    """Each assigned customer's purchases, net spend and interactions in each window.

    Aggregated in DuckDB over the store tables ``transactions`` (``customer_id,
    order_ts, amount``; optional ``order_id, is_return, category``) and
    ``interactions`` (optional table: ``customer_id, ts, kind``).

    Parameters
    ----------
    con
        Connection to the engagement store.
    assigned
        ``campaign_month, customer_id`` (and any other columns, carried over).
    plan
        :func:`evaluation_plan`'s ``campaign_month, window, start, end``.
    engagement_kinds
        Interaction kinds that count as engagement; empty = every kind.

    Returns
    -------
    DataFrame
        One row per assigned customer and window of its campaign: ``campaign_month,
        window, customer_id, purchases, net_spend, interactions, first_category`` plus
        ``reactivated``, ``engaged`` (NA without an interactions table) and
        ``offer_match`` (NA unless reactivated with known categories), then the
        columns of ``assigned``.
    """
    for col in ("campaign_month", "customer_id"):
        if col not in assigned.columns:
            raise EvaluationError(f"window_outcomes: the assigned frame lacks column {col!r}.")
    if not _has_table(con, "transactions"):
        raise EvaluationError("The store has no table 'transactions': run stage 1 first.")
    tx_cols = _columns(con, "transactions")
    missing = [c for c in ("customer_id", "order_ts", "amount") if c not in tx_cols]
    if missing:
        raise EvaluationError(f"Store table 'transactions' lacks column(s) {missing}.")
    is_ret = "coalesce(t.is_return, false) OR " if "is_return" in tx_cols else ""
    order_id = "t.order_id" if "order_id" in tx_cols else "NULL"
    category = "CAST(t.category AS VARCHAR)" if "category" in tx_cols else "NULL"
    has_inter = _has_table(con, "interactions")
    kinds = list(engagement_kinds)
    keys = assigned[["campaign_month", "customer_id"]].astype("str")
    windows = plan[["campaign_month", "window", "start", "end"]].copy()
    windows["campaign_month"] = windows["campaign_month"].astype("str")
    con.register("_wb_assigned", keys)
    con.register("_wb_plan", windows)
    try:
        inter_sql = (
            "SELECT NULL::VARCHAR AS campaign_month, NULL::BIGINT AS wnd, "
            "NULL::VARCHAR AS customer_id, 0::BIGINT AS interactions WHERE false"
        )
        params: list = []
        if has_inter:
            kind_filter = ""
            if kinds:
                kind_filter = f" AND i.kind IN ({', '.join('?' for _ in kinds)})"
                params = kinds
            inter_sql = f"""
                SELECT aw.campaign_month, aw.wnd, aw.customer_id, count(*) AS interactions
                FROM aw JOIN interactions i ON i.customer_id = aw.customer_id
                  AND i.ts >= aw.start_ts AND i.ts < aw.end_ts{kind_filter}
                GROUP BY ALL"""
        sql = f"""
        WITH aw AS (
            SELECT a.campaign_month, a.customer_id, p."window" AS wnd,
                   p."start" AS start_ts, p."end" AS end_ts
            FROM _wb_assigned a JOIN _wb_plan p ON p.campaign_month = a.campaign_month
        ),
        tx AS (
            SELECT aw.campaign_month, aw.wnd, aw.customer_id, t.order_ts, t.amount,
                   CAST(t.amount AS DECIMAL(18, 4)) AS money,  -- exact sums, any order
                   {order_id} AS order_id, {category} AS category,
                   ({is_ret}t.amount < 0) AS is_ret
            FROM aw JOIN transactions t ON t.customer_id = aw.customer_id
              AND t.order_ts >= aw.start_ts AND t.order_ts < aw.end_ts
        ),
        agg AS (
            SELECT campaign_month, wnd, customer_id,
                   count(*) FILTER (WHERE NOT is_ret AND amount > 0) AS purchases,
                   coalesce(sum(money) FILTER (WHERE NOT is_ret AND amount > 0), 0)
                     - coalesce(sum(abs(money)) FILTER (WHERE is_ret), 0) AS net_spend
            FROM tx GROUP BY ALL
        ),
        firsts AS (
            SELECT campaign_month, wnd, customer_id, category AS first_category
            FROM tx WHERE NOT is_ret AND amount > 0
            QUALIFY row_number() OVER (PARTITION BY campaign_month, wnd, customer_id
                                       ORDER BY order_ts, order_id) = 1
        ),
        eng AS ({inter_sql})
        SELECT aw.campaign_month, aw.wnd AS "window", aw.customer_id,
               coalesce(agg.purchases, 0) AS purchases,
               CAST(coalesce(agg.net_spend, 0) AS DOUBLE) AS net_spend,
               coalesce(eng.interactions, 0) AS interactions,
               firsts.first_category
        FROM aw
        LEFT JOIN agg USING (campaign_month, wnd, customer_id)
        LEFT JOIN firsts USING (campaign_month, wnd, customer_id)
        LEFT JOIN eng USING (campaign_month, wnd, customer_id)
        ORDER BY aw.campaign_month, aw.wnd, aw.customer_id
        """
        frame = fetch_df(con, sql, params)
    finally:
        con.unregister("_wb_assigned")
        con.unregister("_wb_plan")
    frame["campaign_month"] = frame["campaign_month"].astype("string")
    frame["customer_id"] = frame["customer_id"].astype("string")
    frame["first_category"] = frame["first_category"].astype("string")
    frame["window"] = frame["window"].astype("int64")
    frame["purchases"] = frame["purchases"].astype("int64")
    frame["interactions"] = frame["interactions"].astype("int64")
    frame["net_spend"] = frame["net_spend"].astype("float64").round(6)
    frame["reactivated"] = frame["purchases"] > 0
    frame["engaged"] = (frame["interactions"] > 0).astype("boolean")
    if not has_inter:
        frame["engaged"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    extra = assigned.drop(
        columns=[
            c
            for c in frame.columns
            if c in assigned.columns and c not in ("campaign_month", "customer_id")
        ]
    )
    extra = extra.assign(
        campaign_month=extra["campaign_month"].astype("string"),
        customer_id=extra["customer_id"].astype("string"),
    )
    frame = frame.merge(extra, on=["campaign_month", "customer_id"], how="left")
    if "offer_category" in frame.columns:
        offer = frame["offer_category"].astype("string").str.strip().str.lower()
        first = frame["first_category"].str.strip().str.lower()
        match = (offer == first).astype("boolean")
        known = frame["reactivated"] & offer.notna() & first.notna()
        frame["offer_match"] = match.where(known, pd.NA)
    else:
        frame["offer_match"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    return frame


COST_BASES = ("log", "log_plus_contacts", "actual")


def campaign_costs(
    assigned: pd.DataFrame,
    contacts: pd.DataFrame,
    *,
    contact_unit_cost: dict[str, float] | None = None,
    basis: str = "log",
) -> pd.DataFrame:
    """Cost of each treated customer of a campaign (control customers cost 0).

    Parameters
    ----------
    assigned
        Campaign log rows (``campaign_month, customer_id, group, cost``; ``offer_value``
        for the ``actual`` basis).
    contacts
        Contact outcomes of those campaigns (``campaign_month, customer_id, channel,
        offer_redeemed``), one row per attempt made.
    contact_unit_cost
        Channel -> cost of one attempt (currency units).
    basis
        ``log``: the campaign log's ``cost`` (stage 4's planned cost: every planned
        attempt plus the offer's value times the predicted win-back probability).
        ``log_plus_contacts``: the log's cost plus the attempts actually made at
        ``contact_unit_cost`` (for logs whose cost leaves contacts out).
        ``actual``: what was spent: attempts made at ``contact_unit_cost`` plus the
        ``offer_value`` of offers redeemed.

    Returns
    -------
    DataFrame
        ``campaign_month, customer_id, attempts, log_cost, contact_cost, offer_cost,
        cost`` for every assigned customer.

    Raises
    ------
    EvaluationError
        The basis needs unit costs and none are given, or a channel used by an attempt
        has none.
    """
    if basis not in COST_BASES:
        raise EvaluationError(f"cost basis must be one of {list(COST_BASES)}, got {basis!r}")
    unit = dict(contact_unit_cost or {})
    if basis != "log" and not unit:
        raise EvaluationError(
            f"cost basis {basis!r} prices the attempts made: set evaluation.contact_unit_cost "
            "(cost per attempt per channel), or use cost_basis: log."
        )
    keys = ["campaign_month", "customer_id"]
    treated = (assigned["group"] == "treatment").to_numpy()
    base = assigned[keys].copy()
    log_cost = assigned["cost"] if "cost" in assigned.columns else pd.Series(0.0, assigned.index)
    base["log_cost"] = np.where(treated, log_cost.fillna(0.0), 0.0)
    value = assigned["offer_value"] if "offer_value" in assigned.columns else log_cost * 0.0
    base["_offer_value"] = np.where(treated, pd.to_numeric(value).fillna(0.0), 0.0)
    c = contacts.assign(
        _redeemed=contacts["offer_redeemed"].fillna(False).astype(bool),
        _unit=0.0,
    )
    if unit and len(c):
        used = c["channel"].dropna().astype(str)
        missing = sorted(set(used) - set(unit))
        if missing:
            counts = used[used.isin(missing)].value_counts().to_dict()
            raise EvaluationError(
                f"evaluation.contact_unit_cost has no cost for channel(s) {missing} used by "
                f"{counts} attempts; add them to params (0 if free)."
            )
        c["_unit"] = c["channel"].astype(str).map(unit).astype("float64")
    per = (
        c.groupby(keys, observed=True)
        .agg(
            attempts=("_unit", "size"), contact_cost=("_unit", "sum"), redeemed=("_redeemed", "any")
        )
        .reset_index()
    )
    out = base.merge(per, on=keys, how="left")
    out["attempts"] = out["attempts"].fillna(0).astype("int64")
    out["contact_cost"] = out["contact_cost"].fillna(0.0).astype("float64")
    redeemed = out["redeemed"].astype("boolean").fillna(False).to_numpy(bool)
    out["offer_cost"] = np.where(redeemed, out["_offer_value"], 0.0)
    if basis == "log":
        out["cost"] = out["log_cost"]
    elif basis == "log_plus_contacts":
        out["cost"] = out["log_cost"] + out["contact_cost"]
    else:
        out["cost"] = out["contact_cost"] + out["offer_cost"]
    cols = [*keys, "attempts", "log_cost", "contact_cost", "offer_cost", "cost"]
    return out[cols]



def campaign_overhead(assigned: pd.DataFrame, budget: pd.DataFrame) -> pd.DataFrame:
    """Each treated customer's share of the campaign overhead of its program and month.

    The overhead of a campaign month and program is, in stage 5's ``campaign_budget``
    (:func:`winback.budget.program_budget`), its people (own lines plus its part of the
    shared items) and its part of the shared fixed materials (offer design, scripts,
    training). Per-contact materials and marketing are left out: every cost basis already
    counts the contacts and the offers.
    The overhead is spread evenly over the program's treated customers of that month, so a
    segment carries its head-count share. Control customers get 0.

    Parameters
    ----------
    assigned
        Campaign log rows (``campaign_month, customer_id, group``; ``program``, empty or
        missing = win-back).
    budget
        ``campaign_budget`` rows (``month, program, category, shared, amount``) for any
        months.

    Returns
    -------
    DataFrame
        ``campaign_month, customer_id, overhead`` (currency units) for every assigned
        customer; NaN for treated customers whose campaign month has no budget stored
        (campaigns run before stage 5 stored it).
    """
    keys = ["campaign_month", "customer_id"]
    program = (assigned["program"].astype(object).where(assigned["program"].notna(), "winback")
               if "program" in assigned.columns
               else pd.Series("winback", index=assigned.index, dtype=object))
    frame = assigned[keys].assign(_program=program.astype(str).to_numpy(),
                                  _treated=(assigned["group"] == "treatment").to_numpy())
    frame["campaign_month"] = frame["campaign_month"].astype(str)
    category = budget["category"].astype(str)
    # people: the whole line; materials: only the shared fixed items (the per-contact
    # charges are the contact cost every cost basis already counts)
    counted = np.where(category == "people", budget["amount"],
                       np.where(category == "materials", budget["shared"], 0.0))
    totals = (pd.DataFrame({"month": budget["month"].astype(str),
                            "program": budget["program"].astype(str),
                            "amount": np.asarray(counted, dtype="float64")})
              .groupby(["month", "program"])["amount"].sum())
    stored = set(budget["month"].astype(str))
    n = frame[frame["_treated"]].groupby(["campaign_month", "_program"]).size()
    per = {k: float(totals.get(k, 0.0)) / int(v) for k, v in n.items()}
    overhead = [
        0.0 if not t else (per[(m, p)] if m in stored else math.nan)
        for m, p, t in zip(frame["campaign_month"], frame["_program"], frame["_treated"],
                           strict=True)
    ]
    return frame[keys].assign(overhead=np.asarray(overhead, dtype="float64"))


def _read_overhead(con, assigned: pd.DataFrame, months) -> pd.DataFrame:
    budget = pd.DataFrame({"month": [], "program": [], "category": [], "shared": [],
                           "amount": []})
    if months and _has_table(con, "campaign_budget"):
        marks = ", ".join("?" for _ in months)
        budget = fetch_df(con,
            "SELECT CAST(month AS VARCHAR) AS month, CAST(program AS VARCHAR) AS program, "
            "CAST(category AS VARCHAR) AS category, shared, amount FROM campaign_budget "
            f"WHERE month IN ({marks})", [str(m) for m in months])
    return campaign_overhead(assigned, budget)


def _ordinal(months: pd.Series) -> np.ndarray:
    """Month labels (``YYYY-MM``) as consecutive integers (months since 1970-01)."""
    codes, labels = pd.factorize(months.astype(str))
    return np.array([pd.Period(m, "M").ordinal for m in labels], dtype=np.int64)[codes]


def _treated_later(assigned: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """Per customer and window: treated by a later campaign executed inside the window."""
    keys = ["campaign_month", "customer_id", "window"]
    treated = assigned.loc[assigned["group"] == "treatment", ["campaign_month", "customer_id"]]
    treated = treated.rename(columns={"campaign_month": "later_month"})
    pairs = assigned[["campaign_month", "customer_id"]].merge(
        plan[["campaign_month", "window"]], on="campaign_month"
    )
    hits = pairs.merge(treated, on="customer_id")
    if hits.empty:
        return pairs.assign(treated_later=False)[[*keys, "treated_later"]]
    c = _ordinal(hits["campaign_month"])
    later = _ordinal(hits["later_month"])
    inside = (later > c) & (later <= c + hits["window"] - 1)
    flagged = hits.loc[inside, keys].drop_duplicates().assign(treated_later=True)
    out = pairs.merge(flagged, on=keys, how="left")
    out["treated_later"] = out["treated_later"].fillna(False).astype(bool)
    return out[[*keys, "treated_later"]]


@dataclass
class EvaluationData:
    """Everything stage 6 reads from the store for one run month."""

    run_month: str
    plan: pd.DataFrame
    assigned: pd.DataFrame
    contacts: pd.DataFrame
    outcomes: pd.DataFrame
    status: pd.DataFrame
    surveys: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def notes_in(self, language: str) -> list[str]:
        """:attr:`notes` (written in English) in ``language`` (``zh`` or ``en``)."""
        keys = ("text.evaluation.data.no_campaign", "text.evaluation.data.no_contacts",
                "text.evaluation.data.no_interactions", "text.evaluation.data.no_status",
                "text.evaluation.data.no_overhead")
        return [retell(n, keys, language) for n in self.notes]

    def __repr__(self) -> str:
        camps = (
            ", ".join(
                f"{m} (windows {','.join(str(k) for k in g['window'])})"
                for m, g in self.plan.groupby("campaign_month", sort=True)
            )
            or "none"
        )
        return (
            f"EvaluationData(run_month={self.run_month!r}, campaigns: {camps}; "
            f"{len(self.assigned)} assigned, {len(self.contacts)} contact attempts, "
            f"{self.status['month'].nunique() if len(self.status) else 0} status months)"
        )


def collect(con, run_month: str, *, params: EvaluationParams) -> EvaluationData:
    """Read and aggregate every input of the run month's evaluation from the store.

    Reads ``campaign_log`` (campaign months ``R-max(windows)..R-1``), the windows'
    outcomes from ``transactions``/``interactions`` (:func:`window_outcomes`),
    ``contact_outcomes`` of those campaigns, the ``churn_status`` of the last
    ``trend_months`` months and the one before them (re-churn looks back that far) and
    ``surveys`` of the last ``trend_months`` months. Missing optional tables give empty frames
    and a line in ``notes``.
    """
    run_month = _check_month(run_month)
    notes: list[str] = []
    log_months = [m for m in table_months(con, "campaign_log") if m < run_month]
    if not log_months:
        notes.append(message("text.evaluation.data.no_campaign", "en"))
    plan = evaluation_plan(run_month, log_months, windows=params.windows)
    months = sorted(plan["campaign_month"].unique())
    # later campaigns inside the windows are read too, to flag contaminated controls
    assigned = read_campaign_log(con, [m for m in log_months if m >= (months or [run_month])[0]],
                                 month_column="campaign_month")
    contacts = _read_contacts(con, months)
    if months and not _has_table(con, "contact_outcomes"):
        notes.append(message("text.evaluation.data.no_contacts", "en"))
    costs = campaign_costs(
        assigned, contacts, contact_unit_cost=params.contact_unit_cost, basis=params.cost_basis
    )
    cost_columns = ["campaign_month", "customer_id", "attempts", "cost"]
    if params.include_overhead:
        overhead = _read_overhead(con, assigned, months)
        costs = costs.merge(overhead, on=["campaign_month", "customer_id"], how="left")
        costs["cost"] = costs["cost"] + costs["overhead"].fillna(0.0)
        cost_columns.append("overhead")
        unpriced = sorted(costs.loc[costs["overhead"].isna(), "campaign_month"].unique())
        for m in (m for m in unpriced if m in months):
            notes.append(message("text.evaluation.data.no_overhead", "en", month=m))
    in_plan = assigned[assigned["campaign_month"].isin(months)]
    outcomes = window_outcomes(con, in_plan, plan, engagement_kinds=params.engagement_kinds)
    outcomes = outcomes.drop(columns="cost").merge(
        costs[cost_columns],
        on=["campaign_month", "customer_id"],
        how="left",
    )
    outcomes = outcomes.merge(
        _treated_later(assigned, plan), on=["campaign_month", "customer_id", "window"], how="left"
    )
    if months and not _has_table(con, "interactions"):
        notes.append(message("text.evaluation.data.no_interactions", "en"))
    end = month_end(run_month) + pd.Timedelta(days=1)
    status = pd.DataFrame({"month": [], "customer_id": [], "status": []}).astype("string")
    if _has_table(con, "churn_status"):
        status = fetch_df(
            con,
            "SELECT CAST(month AS VARCHAR) AS month, customer_id, "
            "CAST(status AS VARCHAR) AS status "
            "FROM churn_status WHERE month BETWEEN ? AND ? ORDER BY month, customer_id",
            [_shift(run_month, -params.trend_months), run_month],
        ).astype("string")
    else:
        notes.append(message("text.evaluation.data.no_status", "en"))
    surveys = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="string"),
            "ts": pd.Series([], dtype="datetime64[us]"),
            "satisfaction": pd.Series([], dtype="Float64"),
        }
    )
    if _has_table(con, "surveys") and "satisfaction" in _columns(con, "surveys"):
        surveys = fetch_df(con,
            "SELECT customer_id, ts, satisfaction FROM surveys WHERE ts >= ? AND ts < ? "
            "ORDER BY ts, customer_id",
            [pd.Period(_shift(run_month, 1 - params.trend_months), "M").start_time, end],
        )
        surveys["ts"] = surveys["ts"].astype("datetime64[us]")
        surveys["satisfaction"] = pd.to_numeric(surveys["satisfaction"]).astype("Float64")
    return EvaluationData(
        run_month, plan, in_plan.reset_index(drop=True), contacts, outcomes, status, surveys, notes
    )


# ----------------------------------------------------------------------- comparisons


def _row(
    base: dict,
    metric: str,
    comp: Comparison | None,
    *,
    n_t: int,
    n_c: int,
    note: str = "",
    **values,
) -> dict:
    row = {
        **base,
        "metric": metric,
        "n_treated": int(n_t),
        "n_control": int(n_c),
        "treated": math.nan,
        "control": math.nan,
        "diff": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "p_value": math.nan,
        "note": note,
    }
    if comp is not None:
        row.update({k: v for k, v in comp.as_dict().items() if k not in ("n_treated", "n_control")})
    row.update(values)
    return row


def _cell_rows(cell: pd.DataFrame, base: dict, params: EvaluationParams) -> list[dict]:
    t = cell[cell["group"] == "treatment"]
    c = cell[cell["group"] == "control"]
    n_t, n_c = len(t), len(c)
    rows: list[dict] = []
    contaminated = ""
    if "treated_later" in cell.columns:
        k = int(c["treated_later"].fillna(False).sum())
        if k:
            contaminated = message("text.evaluation.row.contaminated", "en", k=k, n_c=n_c)
    if n_t < params.min_treated or n_c < params.min_control:
        note = message("text.evaluation.row.too_small", "en", n_t=n_t, n_c=n_c)
        for metric in METRICS:
            rows.append(_row(base, metric, None, n_t=n_t, n_c=n_c, note=note))
        return rows
    alpha, method = params.alpha, params.rate_ci_method
    react = rate_difference(
        int(t["reactivated"].sum()),
        n_t,
        int(c["reactivated"].sum()),
        n_c,
        alpha=alpha,
        method=method,
    )
    rows.append(_row(base, "reactivation", react, n_t=n_t, n_c=n_c, note=contaminated))
    rows.append(
        _row(
            base,
            "incremental_reactivations",
            scaled(react, n_t),
            n_t=n_t,
            n_c=n_c,
            note=contaminated,
        )
    )
    revenue = mean_difference(
        t["net_spend"].to_numpy(float), c["net_spend"].to_numpy(float), alpha=alpha
    )
    rows.append(_row(base, "revenue", revenue, n_t=n_t, n_c=n_c, note=contaminated))
    incremental = scaled(revenue, n_t)
    rows.append(_row(base, "incremental_revenue", incremental, n_t=n_t, n_c=n_c, note=contaminated))
    engaged_t, engaged_c = t["engaged"].dropna(), c["engaged"].dropna()
    if len(engaged_t) == n_t and len(engaged_c) == n_c:
        eng = rate_difference(
            int(engaged_t.sum()), n_t, int(engaged_c.sum()), n_c, alpha=alpha, method=method
        )
        rows.append(_row(base, "engagement", eng, n_t=n_t, n_c=n_c, note=contaminated))
    else:
        rows.append(
            _row(
                base,
                "engagement",
                None,
                n_t=n_t,
                n_c=n_c,
                note=message("text.evaluation.row.no_interactions", "en"),
            )
        )
    cost = float(t["cost"].sum()) if "cost" in t.columns else 0.0
    no_overhead = ""
    if "overhead" in t.columns and t["overhead"].isna().any():
        no_overhead = message("text.evaluation.row.no_overhead", "en")
    rows.append(
        _row(
            base,
            "cost",
            None,
            n_t=n_t,
            n_c=n_c,
            treated=cost,
            note=(no_overhead or "") if cost > 0 else message("text.evaluation.row.no_cost", "en"),
        )
    )
    roi, lo, hi = roi_interval(
        incremental.diff,
        incremental.ci_low,
        incremental.ci_high,
        cost,
        margin=params.revenue_margin,
    )
    rows.append(
        _row(
            base,
            "roi",
            None,
            n_t=n_t,
            n_c=n_c,
            diff=roi,
            ci_low=lo,
            ci_high=hi,
            note=(contaminated or no_overhead) if cost > 0
            else message("text.evaluation.row.no_cost_roi", "en"),
        )
    )
    rows.append(_offer_match_row(t, c, base, params))
    return rows


def _offer_match_row(
    t: pd.DataFrame, c: pd.DataFrame, base: dict, params: EvaluationParams
) -> dict:
    mt, mc = t["offer_match"].dropna(), c["offer_match"].dropna()
    n_t, n_c = len(mt), len(mc)
    if n_c == 0 and c["reactivated"].any():
        return _row(
            base,
            "offer_match",
            None,
            n_t=n_t,
            n_c=n_c,
            treated=float(mt.mean()) if n_t else math.nan,
            note=message("text.evaluation.row.no_baseline", "en"),
        )
    if n_t < params.min_reactivated or n_c < params.min_reactivated:
        return _row(
            base,
            "offer_match",
            None,
            n_t=n_t,
            n_c=n_c,
            note=message("text.evaluation.row.too_small_reactivated", "en", n_t=n_t, n_c=n_c),
        )
    comp = rate_difference(
        int(mt.sum()), n_t, int(mc.sum()), n_c, alpha=params.alpha, method=params.rate_ci_method
    )
    return _row(base, "offer_match", comp, n_t=n_t, n_c=n_c)


def evaluate_campaigns(
    outcomes: pd.DataFrame,
    *,
    run_month: str,
    params: EvaluationParams,
    program: str = "winback",
) -> pd.DataFrame:
    """Treated vs control per campaign month, window and segment (the ``evaluations`` table).

    One program at a time: only the outcome rows of ``program`` are compared (rows without
    a ``program`` are win-back), so preventive contacts never enter the win-back uplift.

    Parameters
    ----------
    outcomes
        One row per assigned customer and window (:func:`window_outcomes` plus ``cost``
        and, optionally, ``treated_later``): ``campaign_month, window, customer_id,
        group, reactivated, net_spend, engaged, offer_match, cost`` and the segment
        columns.
    run_month
        The month being run (the table's ``month``).
    params
        The ``evaluation`` params section.
    program
        ``winback`` (default) or ``preventive``.

    Returns
    -------
    DataFrame
        :data:`EVALUATION_COLUMNS` (``program`` = ``program``); one row per campaign
        month, window, segment
        (``segment_type`` ``all`` with segment ``all``, then each segment column's
        values, ``unknown`` for empty ones) and metric (:data:`METRICS`).
        Rates are shares (0-1), amounts currency units, ROI a ratio.
        ``cost`` rows carry the cost in ``treated``. ``incremental_*`` rows carry the
        treated arm's total in ``treated`` and the control mean x treated n in
        ``control``. Cells below the minimum sizes have NaN values and a note.
    """
    run_month = _check_month(run_month)
    required = [
        "campaign_month",
        "window",
        "customer_id",
        "group",
        "reactivated",
        "net_spend",
        "engaged",
        "offer_match",
    ]
    missing = [c for c in required if c not in outcomes.columns]
    if missing:
        raise EvaluationError(f"evaluate_campaigns: outcomes lack column(s) {missing}.")
    if program not in PROGRAMS:
        raise EvaluationError(f"program must be one of {list(PROGRAMS)}, got {program!r}")
    if "program" in outcomes.columns:
        own = outcomes["program"].astype("string").fillna("winback") == program
        outcomes = outcomes[own.to_numpy(bool)]
    elif program != "winback":
        outcomes = outcomes.iloc[0:0]
    rows: list[dict] = []
    for (cm, k), cell in outcomes.groupby(["campaign_month", "window"], sort=True):
        base = {"month": run_month, "campaign_month": str(cm), "program": program,
                "window": int(k)}
        rows += _cell_rows(cell, {**base, "segment_type": "all", "segment": "all"}, params)
        for seg in params.segments:
            if seg not in cell.columns or cell[seg].isna().all():
                rows.append(
                    _row(
                        {**base, "segment_type": seg, "segment": ""},
                        "",
                        None,
                        n_t=int((cell["group"] == "treatment").sum()),
                        n_c=int((cell["group"] == "control").sum()),
                        note=message("text.evaluation.row.no_segment", "en", seg=seg),
                    )
                )
                continue
            labels = cell[seg].astype("string").fillna("unknown")
            for value, sub in cell.groupby(labels, sort=True):
                rows += _cell_rows(
                    sub, {**base, "segment_type": seg, "segment": str(value)}, params
                )
    return _typed_evaluations(pd.DataFrame(rows, columns=EVALUATION_COLUMNS))


def _typed_evaluations(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("month", "campaign_month", "program", "segment_type", "segment", "metric",
                "note"):
        out[col] = out[col].astype("string")
    for col in ("window", "n_treated", "n_control"):
        out[col] = out[col].astype("int64")
    for col in ("treated", "control", "diff", "ci_low", "ci_high", "p_value"):
        out[col] = out[col].astype("float64")
    return out.reset_index(drop=True)


def uplift_table(
    evaluations: pd.DataFrame, *, metric: str = "reactivation", segment_type: str = "all",
    language: str = "en",
) -> pd.DataFrame:
    """One metric's rows for display: campaign, window, segment, arms, diff and interval.

    The rows' notes are in ``language`` (``zh`` or ``en``; stored notes are English).
    """
    rows = evaluations[
        (evaluations["metric"] == metric) & (evaluations["segment_type"] == segment_type)
    ]
    return notes_in(rows[UPLIFT_COLUMNS].reset_index(drop=True), language)


def consistency_table(evaluations: pd.DataFrame, *, language: str = "en") -> pd.DataFrame:
    """Offer match of reactivated treated customers vs the control baseline, per window.

    The rows' notes are in ``language`` (``zh`` or ``en``).
    """
    out = uplift_table(evaluations, metric="offer_match", language=language)
    return out.rename(
        columns={
            "n_treated": "reactivated_treated",
            "n_control": "reactivated_control",
            "treated": "match_treated",
            "control": "match_control",
        }
    )


#: Catalog keys of the evaluation rows' notes (stored in English, told by :func:`note_text`).
ROW_NOTES: tuple[str, ...] = (
    "text.evaluation.row.too_small", "text.evaluation.row.too_small_reactivated",
    "text.evaluation.row.contaminated", "text.evaluation.row.no_interactions",
    "text.evaluation.row.no_cost", "text.evaluation.row.no_cost_roi",
    "text.evaluation.row.no_baseline", "text.evaluation.row.no_segment",
    "text.evaluation.row.no_overhead",
)


def note_text(note: str, language: str) -> str:
    """An evaluation row's ``note`` (stored in English) in ``language``; other text unchanged."""
    return retell(str(note), ROW_NOTES, language) if isinstance(note, str) and note else note


def notes_in(evaluations: pd.DataFrame, language: str) -> pd.DataFrame:
    """A copy of ``evaluations`` whose ``note`` column is in ``language`` (for showing)."""
    check_language(language)
    out = evaluations.copy()
    if "note" in out.columns:
        out["note"] = [note_text(n, language) if isinstance(n, str) else n
                       for n in out["note"].tolist()]
        out["note"] = out["note"].astype(evaluations["note"].dtype)
    return out


def describe_evaluation(evaluations: pd.DataFrame, *, language: str = "en") -> str:
    """A few sentences on the campaigns' reactivation uplift and ROI, computed from the table.

    Parameters
    ----------
    evaluations
        :func:`evaluate_campaigns` rows.
    language
        ``zh`` or ``en``: the language of the sentences (the numbers are the same).
    """
    lang = check_language(language)
    main = evaluations[
        (evaluations["segment_type"] == "all") & (evaluations["metric"] == "reactivation")
    ]
    if main.empty:
        return message("text.evaluation.none", lang)
    lines = []
    for (cm, program), g in main.groupby(
        [main["campaign_month"], main["program"].astype("string").fillna("winback")], sort=True
    ):
        r = g.sort_values("window").iloc[-1]
        k = int(r["window"])
        what = message("text.evaluation.what.preventive" if program == "preventive"
                       else "text.evaluation.what.winback", lang)
        head = message("text.evaluation.head.many" if k > 1 else "text.evaluation.head.one",
                       lang, what=what, cm=cm, k=k)
        if pd.isna(r["diff"]):
            lines.append(message("text.evaluation.note_only", lang, head=head,
                                 note=note_text(r["note"], lang)))
            continue
        sig = message(
            "text.evaluation.sig.uplift"
            if r["ci_low"] > 0
            else "text.evaluation.sig.worse"
            if r["ci_high"] < 0
            else "text.evaluation.sig.chance",
            lang,
        )
        text = message("text.evaluation.result", lang, head=head, t=r["treated"],
                       c=r["control"], d=r["diff"] * 100, lo=r["ci_low"] * 100,
                       hi=r["ci_high"] * 100, sig=sig)
        if r["note"]:
            text += message("text.evaluation.note", lang, note=note_text(r["note"], lang))
        roi = evaluations[
            (evaluations["campaign_month"] == cm)
            & (evaluations["program"].astype("string").fillna("winback") == program)
            & (evaluations["window"] == k)
            & (evaluations["segment_type"] == "all")
            & (evaluations["metric"] == "roi")
        ]
        if len(roi) and pd.notna(roi["diff"].iloc[0]):
            x = roi.iloc[0]
            text += message("text.evaluation.roi", lang, r=x["diff"], lo=x["ci_low"],
                            hi=x["ci_high"])
        lines.append(text)
    return "\n".join(lines)


# --------------------------------------------------------------- contacts and offers


def _treated_of(assigned: pd.DataFrame, program: str | None) -> pd.DataFrame:
    """The treated rows of ``program`` (None: both), with ``program`` filled (``winback``)."""
    if "program" not in assigned.columns:
        assigned = assigned.assign(program="winback")
    own = program_rows(assigned, program)
    own = own.assign(program=own["program"].astype(object).where(own["program"].notna(),
                                                                 "winback"))
    return own[own["group"] == "treatment"]


def _attempts_by_customer(contacts: pd.DataFrame) -> pd.DataFrame:
    keys = ["campaign_month", "customer_id"]
    c = contacts.assign(
        _reached=contacts["reached"].fillna(False).astype(bool),
        _responded=contacts["response"].isin(RESPONDED).fillna(False).astype(bool)
        & contacts["reached"].fillna(False).astype(bool),
        _accepted=(contacts["response"] == "accepted").fillna(False).astype(bool),
        _redeemed=contacts["offer_redeemed"].fillna(False).astype(bool),
    )
    return (
        c.groupby(keys, observed=True)
        .agg(
            attempts=("attempt", "size"),
            reached=("_reached", "any"),
            responded=("_responded", "any"),
            accepted=("_accepted", "any"),
            redeemed=("_redeemed", "any"),
        )
        .reset_index()
    )


def contact_funnel(contacts: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Attempts, reached, responded and accepted by campaign month, channel and attempt.

    ``responded`` = reached with a definite answer (accepted, declined or callback);
    rates are shares of attempts (``reach_rate``) and of reached attempts
    (``response_rate``, ``accept_rate``), with Wilson 95% intervals for the reach rate.
    """
    cols = [
        "campaign_month",
        "channel",
        "attempt",
        "attempts",
        "reached",
        "responded",
        "accepted",
        "reach_rate",
        "reach_low",
        "reach_high",
        "response_rate",
        "accept_rate",
    ]
    if contacts.empty:
        return pd.DataFrame({c: [] for c in cols})
    reached = contacts["reached"].fillna(False).astype(bool)
    c = contacts.assign(
        _reached=reached,
        _responded=reached & contacts["response"].isin(RESPONDED).fillna(False).astype(bool),
        _accepted=reached & (contacts["response"] == "accepted").fillna(False).astype(bool),
        channel=contacts["channel"].fillna("unknown"),
    )
    out = (
        c.groupby(["campaign_month", "channel", "attempt"], observed=True, sort=True)
        .agg(
            attempts=("customer_id", "size"),
            reached=("_reached", "sum"),
            responded=("_responded", "sum"),
            accepted=("_accepted", "sum"),
        )
        .reset_index()
    )
    out["reach_rate"] = out["reached"] / out["attempts"]
    bounds = [
        proportion_interval(r, n, alpha=alpha)
        for r, n in zip(out["reached"], out["attempts"], strict=True)
    ]
    out["reach_low"] = [b[0] for b in bounds]
    out["reach_high"] = [b[1] for b in bounds]
    with np.errstate(all="ignore"):
        out["response_rate"] = (out["responded"] / out["reached"]).where(out["reached"] > 0)
        out["accept_rate"] = (out["accepted"] / out["reached"]).where(out["reached"] > 0)
    return out[cols]


def funnel_summary(
    assigned: pd.DataFrame, contacts: pd.DataFrame, *, program: str | None = "winback"
) -> pd.DataFrame:
    """Per campaign month, treated customers at each funnel step (customers, not attempts).

    Steps: ``treated`` (assigned), ``attempted`` (at least one attempt), ``reached``,
    ``responded`` (a definite answer), ``accepted``, ``redeemed`` (an offer redeemed);
    ``*_share`` are shares of the treated.

    ``program`` keeps one program's treated customers (``winback`` by default, so the
    reach-rate and offer-redemption KPIs are the win-back program's; ``preventive`` for the
    care contacts); None gives one row per campaign month and program. Each row names its
    ``program``.
    """
    treated = _treated_of(assigned, program)
    per = _attempts_by_customer(contacts) if len(contacts) else None
    rows = []
    for (cm, pg), t in treated.groupby(["campaign_month", "program"], sort=True):
        row = {"campaign_month": str(cm), "program": str(pg), "treated": len(t)}
        if per is not None:
            p = per[(per["campaign_month"] == cm) & per["customer_id"].isin(t["customer_id"])]
        else:
            p = pd.DataFrame(columns=["reached", "responded", "accepted", "redeemed"])
        row["attempted"] = len(p)
        for step in ("reached", "responded", "accepted", "redeemed"):
            row[step] = int(p[step].sum()) if len(p) else 0
        rows.append(row)
    steps = ["treated", "attempted", "reached", "responded", "accepted", "redeemed"]
    out = pd.DataFrame(rows, columns=["campaign_month", "program", *steps])
    for step in steps[1:]:
        out[f"{step}_share"] = (out[step] / out["treated"]).astype("float64")
    return out


def offer_redemption(
    assigned: pd.DataFrame,
    contacts: pd.DataFrame,
    *,
    alpha: float = 0.05,
    program: str | None = "winback",
) -> pd.DataFrame:
    """Offer redemption by campaign month and strategy (treated customers, from contact outcomes).

    Returns ``campaign_month, program, strategy, treated, accepted, redeemed,
    redemption_rate`` (share of treated, Wilson 95% interval ``ci_low``/``ci_high``) and
    ``redeemed_of_accepted``. ``program`` as in :func:`funnel_summary` (win-back by default).
    """
    treated = _treated_of(assigned, program)[
        ["campaign_month", "program", "customer_id", "strategy"]
    ]
    per = (
        _attempts_by_customer(contacts)
        if len(contacts)
        else pd.DataFrame(columns=["campaign_month", "customer_id", "accepted", "redeemed"])
    )
    t = treated.merge(
        per[["campaign_month", "customer_id", "accepted", "redeemed"]],
        on=["campaign_month", "customer_id"],
        how="left",
    )
    t["accepted"] = t["accepted"].fillna(False).astype(bool)
    t["redeemed"] = t["redeemed"].fillna(False).astype(bool)
    t["strategy"] = t["strategy"].astype("string").fillna("unknown")
    out = (
        t.groupby(["campaign_month", "program", "strategy"], sort=True)
        .agg(
            treated=("customer_id", "size"),
            accepted=("accepted", "sum"),
            redeemed=("redeemed", "sum"),
        )
        .reset_index()
    )
    out["redemption_rate"] = (out["redeemed"] / out["treated"]).astype("float64")
    bounds = [
        proportion_interval(r, n, alpha=alpha)
        for r, n in zip(out["redeemed"], out["treated"], strict=True)
    ]
    out["ci_low"] = [b[0] for b in bounds]
    out["ci_high"] = [b[1] for b in bounds]
    with np.errstate(all="ignore"):
        out["redeemed_of_accepted"] = (out["redeemed"] / out["accepted"]).where(out["accepted"] > 0)
    return out


def no_response_list(
    assigned: pd.DataFrame,
    contacts: pd.DataFrame,
    *,
    run_month: str,
    action: str = "reenter_next_cycle",
    program: str | None = "winback",
) -> pd.DataFrame:
    """Treated customers of the campaign executed in the run month who never answered.

    Only ``program``'s treated customers (``winback`` by default: the list feeds the next
    cycle's win-back targeting; a preventive care contact left unanswered is not a
    win-back non-responder); None lists both programs.

    The campaign of ``run_month - 1`` is executed during the run month, so its
    attempts are complete by the month's end. A treated customer is listed when no
    attempt got a definite answer (accepted, declined or callback): ``outcome`` is
    ``unreached`` (never reached), ``no_response`` (reached, no answer) or
    ``not_attempted`` (no attempt recorded). Ids only (no PII).

    Returns
    -------
    DataFrame
        :data:`NO_RESPONSE_COLUMNS`, sorted by customer: ``month`` = run month,
        ``action`` = ``action`` (``reenter_next_cycle`` or ``release``) for customers
        who were tried, and always ``reenter_next_cycle`` for ``not_attempted`` ones
        (never tried, so nothing to give up on).
    """
    run_month = _check_month(run_month)
    if action not in ("reenter_next_cycle", "release"):
        raise EvaluationError(
            f"no_response_action must be reenter_next_cycle or release, got {action!r}"
        )
    cm = _shift(run_month, -1)
    treated = _treated_of(assigned, program)
    treated = treated[treated["campaign_month"] == cm]
    own = contacts[contacts["campaign_month"] == cm]
    per = (
        _attempts_by_customer(own)
        if len(own)
        else pd.DataFrame(
            columns=["campaign_month", "customer_id", "attempts", "reached", "responded"]
        )
    )
    t = treated[["customer_id"]].merge(
        per[["customer_id", "attempts", "reached", "responded"]], on="customer_id", how="left"
    )
    t["attempts"] = t["attempts"].fillna(0).astype("int64")
    t["reached"] = t["reached"].fillna(False).astype(bool)
    t["responded"] = t["responded"].fillna(False).astype(bool)
    t = t[~t["responded"]]
    outcome = np.where(
        t["attempts"] == 0, "not_attempted", np.where(t["reached"], "no_response", "unreached")
    )
    out = pd.DataFrame(
        {
            "month": run_month,
            "campaign_month": cm,
            "customer_id": t["customer_id"].astype("string").to_numpy(),
            "attempts": t["attempts"].to_numpy(),
            "outcome": outcome,
            "action": np.where(outcome == "not_attempted", "reenter_next_cycle", action),
        },
        columns=NO_RESPONSE_COLUMNS,
    )
    for col in ("month", "campaign_month", "customer_id", "outcome", "action"):
        out[col] = out[col].astype("string")
    out["attempts"] = out["attempts"].astype("int64")
    return out.sort_values("customer_id", ignore_index=True)


def describe_no_response(no_response: pd.DataFrame, *, language: str = "en") -> str:
    """One sentence on the no-response list: how many, why, and what happens to them next.

    ``language`` (``zh`` or ``en``) is the language of the sentence.
    """
    lang = check_language(language)
    if no_response.empty:
        return message("text.evaluation.no_response_none", lang)
    cm = no_response["campaign_month"].iloc[0]
    counts = no_response["outcome"].value_counts()
    parts = message("common.list_sep", lang).join(
        message(f"text.evaluation.outcome.{k}", lang, n=int(counts[k]))
        for k in ("unreached", "no_response", "not_attempted")
        if k in counts
    )
    actions = no_response["action"].value_counts()
    todo = message("common.clause_sep", lang).join(
        message(f"text.evaluation.action.{a}", lang, n=int(actions[a]))
        for a in ("reenter_next_cycle", "release")
        if a in actions
    )
    return message("text.evaluation.no_response", lang, n=len(no_response), cm=cm, parts=parts,
                   todo=todo)


def campaign_overview(data: EvaluationData) -> pd.DataFrame:
    """Per campaign month, program and window: arm sizes, contacts, contamination, cost.

    ``control_contacted`` counts control customers with a contact attempt (should be 0:
    the holdout is never contacted); ``control_treated_later`` counts control customers
    treated by a later campaign executed inside the window.
    """
    o = data.outcomes
    if "program" not in o.columns:
        o = o.assign(program="winback")
    cols = [
        "campaign_month",
        "program",
        "window",
        "n_treated",
        "n_control",
        "control_share",
        "treated_attempted",
        "control_contacted",
        "control_treated_later",
        "cost",
    ]
    if o.empty:
        return pd.DataFrame({c: [] for c in cols})
    g = (
        o.assign(
            _t=o["group"] == "treatment",
            _c=o["group"] == "control",
            _ta=(o["group"] == "treatment") & (o["attempts"] > 0),
            _cc=(o["group"] == "control") & (o["attempts"] > 0),
            _cl=(o["group"] == "control") & o["treated_later"].fillna(False).astype(bool),
            _cost=o["cost"].where(o["group"] == "treatment", 0.0),
        )
        .groupby(["campaign_month", "program", "window"], sort=True)
        .agg(
            n_treated=("_t", "sum"),
            n_control=("_c", "sum"),
            treated_attempted=("_ta", "sum"),
            control_contacted=("_cc", "sum"),
            control_treated_later=("_cl", "sum"),
            cost=("_cost", "sum"),
        )
        .reset_index()
    )
    g["control_share"] = g["n_control"] / (g["n_treated"] + g["n_control"])
    return g[cols]


# ----------------------------------------------------------------------- store writes


def write_evaluations(con, run_month: str, evaluations: pd.DataFrame) -> int:
    """Store the run month's ``evaluations`` rows, replacing that month's earlier rows."""
    run_month = _check_month(run_month)
    missing = [c for c in EVALUATION_COLUMNS if c not in evaluations.columns]
    if missing:
        raise EvaluationError(f"write_evaluations: the frame lacks column(s) {missing}.")
    frame = _typed_evaluations(evaluations[EVALUATION_COLUMNS])
    if _has_table(con, "evaluations") and "program" not in _columns(con, "evaluations"):
        # rows of months evaluated before programs were told apart are win-back rows
        con.execute("ALTER TABLE evaluations ADD COLUMN program VARCHAR DEFAULT 'winback'")
    replace_month(con, "evaluations", run_month, frame)
    return len(frame)


def write_no_response(con, run_month: str, no_response: pd.DataFrame) -> int:
    """Store the ``no_response`` list of the run month for next month's strategy stage."""
    run_month = _check_month(run_month)
    missing = [c for c in NO_RESPONSE_COLUMNS if c not in no_response.columns]
    if missing:
        raise EvaluationError(f"write_no_response: the frame lacks column(s) {missing}.")
    replace_month(con, "no_response", run_month, no_response[NO_RESPONSE_COLUMNS])
    return len(no_response)


# ----------------------------------------------------------------------------- trends


def status_flows(status: pd.DataFrame, *, churned_statuses=("churned", "lost")) -> pd.DataFrame:
    """Month-over-month churn, reactivation and re-churn from the churn status history.

    Parameters
    ----------
    status
        ``month, customer_id, status`` (the store's ``churn_status``), any number of months.
    churned_statuses
        Statuses that count as churned (the rest count as not churned).

    Returns
    -------
    DataFrame
        Per month: ``customers, churned, churned_share`` (stock), ``base_active,
        new_churn, churn_rate``, ``base_churned, reactivated, reactivation_rate``,
        ``base_reactivated, rechurned, rechurn_rate`` and ``net_winback`` (see the
        module docstring). Flows are NaN for a month whose previous month is missing.
    """
    missing = [c for c in ("month", "customer_id", "status") if c not in status.columns]
    if missing:
        raise EvaluationError(f"status_flows: churn_status lacks column(s) {missing}.")
    cols = [
        "month",
        "customers",
        "churned",
        "churned_share",
        "base_active",
        "new_churn",
        "churn_rate",
        "base_churned",
        "reactivated",
        "reactivation_rate",
        "base_reactivated",
        "rechurned",
        "rechurn_rate",
        "net_winback",
    ]
    if status.empty:
        return pd.DataFrame({c: [] for c in cols})
    # integer codes, then sorted numpy arrays: fast for millions of customer-months
    month_code, month_labels = pd.factorize(status["month"].astype(str), sort=True)
    ordinal = np.array([pd.Period(m, "M").ordinal for m in month_labels], dtype=np.int64)
    cust, _ = pd.factorize(status["customer_id"])
    status_code, status_labels = pd.factorize(status["status"].astype(str))
    churned_code = np.isin(np.asarray(status_labels, dtype=object), list(churned_statuses))
    order = np.lexsort((month_code, cust))
    cust, mcode = cust[order], month_code[order]
    now = churned_code[status_code[order]]
    same = np.zeros(len(cust), bool)
    same[1:] = cust[1:] == cust[:-1]
    dup = same & np.r_[False, mcode[1:] == mcode[:-1]]
    if dup.any():
        ids = status["customer_id"].to_numpy()[order][dup]
        raise EvaluationError(
            f"churn_status holds customers twice in one month: {sorted(set(map(str, ids)))[:5]}."
        )
    consecutive = same & np.r_[False, ordinal[mcode[1:]] == ordinal[mcode[:-1]] + 1]
    prev = np.r_[False, now[:-1]]
    base_active = consecutive & ~prev
    new_churn = base_active & now
    base_churned = consecutive & prev
    reactivated = base_churned & ~now
    # reactivations strictly before each row, within the customer
    total = np.cumsum(reactivated)
    starts = np.flatnonzero(~same)
    offset = np.repeat(total[starts] - reactivated[starts], np.diff(np.r_[starts, len(cust)]))
    before = total - reactivated - offset
    base_reactivated = base_active & (before > 0)
    rechurned = base_reactivated & now
    k = len(month_labels)

    def count(mask):
        return np.bincount(mcode[mask], minlength=k).astype("float64")

    out = pd.DataFrame(
        {
            "month": np.asarray(month_labels, dtype=object),
            "customers": np.bincount(mcode, minlength=k),
            "churned": np.bincount(mcode, weights=now, minlength=k).astype("int64"),
            "base_active": count(base_active),
            "new_churn": count(new_churn),
            "base_churned": count(base_churned),
            "reactivated": count(reactivated),
            "base_reactivated": count(base_reactivated),
            "rechurned": count(rechurned),
        }
    )
    follows = np.r_[False, ordinal[1:] == ordinal[:-1] + 1]
    for col in (
        "base_active",
        "new_churn",
        "base_churned",
        "reactivated",
        "base_reactivated",
        "rechurned",
    ):
        out[col] = out[col].where(follows)
    out["churned_share"] = out["churned"] / out["customers"]
    with np.errstate(all="ignore"):
        out["churn_rate"] = out["new_churn"] / out["base_active"]
        out["reactivation_rate"] = out["reactivated"] / out["base_churned"]
        out["rechurn_rate"] = out["rechurned"] / out["base_reactivated"]
    out["net_winback"] = out["reactivated"] - out["new_churn"]
    out = out.replace([np.inf, -np.inf], np.nan)
    out["month"] = out["month"].astype("string")
    return out[cols]


def winning_back_sentence(flows: pd.DataFrame, *, months: int = 3,
                          language: str = "en") -> str:
    """Answer "are we winning back more than we lose?" from :func:`status_flows`.

    Compares customers who came back (churned -> not churned) with customers newly
    churned in the latest month and over the last ``months`` months with flows, in
    ``language`` (``zh`` or ``en``).
    """
    lang = check_language(language)
    f = flows.dropna(subset=["reactivated", "new_churn"])
    if f.empty:
        return message("text.evaluation.flows_none", lang)
    last = f.iloc[-1]
    back, lost = int(last["reactivated"]), int(last["new_churn"])
    verdict = message(
        "text.evaluation.verdict.yes"
        if back > lost
        else "text.evaluation.verdict.no"
        if back < lost
        else "text.evaluation.verdict.even",
        lang,
    )
    text = message("text.evaluation.flows", lang, month=last["month"], back=back, lost=lost,
                   net=back - lost, verdict=verdict)
    recent = f.tail(months)
    if len(recent) > 1:
        b, lo_ = int(recent["reactivated"].sum()), int(recent["new_churn"].sum())
        text += message("text.evaluation.flows_recent", lang, n=len(recent),
                        first=recent["month"].iloc[0], last=recent["month"].iloc[-1], b=b,
                        lo=lo_, net=b - lo_)
    if pd.notna(last["rechurn_rate"]) and last["base_reactivated"] > 0:
        text += message("text.evaluation.rechurn", lang, n=int(last["base_reactivated"]),
                        k=int(last["rechurned"]), r=last["rechurn_rate"])
    return text


def satisfaction_trend(
    surveys: pd.DataFrame, contacts: pd.DataFrame, *, alpha: float = 0.05, months: int | None = None
) -> pd.DataFrame:
    """Mean satisfaction (1-5) per calendar month from surveys and from contact outcomes.

    Returns ``month, source (survey | contact), n, mean, ci_low, ci_high`` with a
    t interval for the mean (NaN bounds when ``n < 2``); the last ``months`` months.
    """
    parts = []
    for source, frame, ts in (("survey", surveys, "ts"), ("contact", contacts, "contact_ts")):
        if len(frame) and "satisfaction" in frame.columns:
            f = pd.DataFrame(
                {
                    "ts": pd.to_datetime(frame[ts]),
                    "score": pd.to_numeric(frame["satisfaction"]).astype("float64"),
                }
            )
            f = f.dropna()
            f["month"] = f["ts"].dt.to_period("M").astype(str)
            f["source"] = source
            parts.append(f)
    cols = ["month", "source", "n", "mean", "ci_low", "ci_high"]
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    allp = pd.concat(parts, ignore_index=True)
    out = allp.groupby(["month", "source"], sort=True)["score"].agg(["size", "mean", "std"])
    out = out.reset_index().rename(columns={"size": "n"})
    from scipy import stats

    q = stats.t.ppf(1 - alpha / 2, np.maximum(out["n"] - 1, 1))
    half = q * out["std"] / np.sqrt(out["n"])
    out["ci_low"] = (out["mean"] - half).where(out["n"] >= 2)
    out["ci_high"] = (out["mean"] + half).where(out["n"] >= 2)
    if months:
        keep = sorted(out["month"].unique())[-months:]
        out = out[out["month"].isin(keep)]
    return out[cols].reset_index(drop=True)
