"""The month's campaign: strategies, budgeted targets and holdout put together, logged and exported.

:func:`plan_campaign` runs stage 4 end to end on frames: strategy matrix -> offers ->
expected value -> budgeted selection per tier -> stratified holdout. Its assignment (one
row per selected customer, treatment and control) goes to the store's ``campaign_log``
(:func:`write_campaign_log`, replacing exactly that month's rows) and to the call
centre as ``exports/campaign_assignment.parquet`` plus the second-contact scripts
``exports/second_contact_scripts.csv`` (:func:`write_exports`). Exports carry the
customer id only, never names, phones or emails.

The campaign log is the kit's most precious state: stage 6 evaluates month M's campaign
from it in months M+1..M+3. Columns (:data:`CAMPAIGN_COLUMNS`): ``customer_id``,
``month`` (the campaign month, ``YYYY-MM``), ``group`` (``treatment`` | ``control``),
``tier`` (text), ``reason_code``, ``churn_type``, ``strategy``, ``channel_1`` ..
``channel_3``, ``offer_category``, ``offer_value`` (currency units), ``p_winback``,
``expected_value`` and ``cost`` (currency units). Control rows carry the strategy,
channels and offer they would have received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from winback.holdout import CONTROL, TREATMENT, assign_holdout, holdout_summary
from winback.settings import derive_seed
from winback.store import has_table, replace_month
from winback.strategy import (
    UNKNOWN_REASON,
    StrategyError,
    StrategyParams,
    WinbackPrior,
    candidates_of,
    load_inputs,
    plan_strategies,
    reason_taxonomy,
)
from winback.targeting import budget_curve, budget_summary, select_targets

__all__ = [
    "ASSIGNMENT_EXPORT",
    "CAMPAIGN_COLUMNS",
    "EXPORT_COLUMNS",
    "SCRIPTS_EXPORT",
    "CampaignError",
    "CampaignPlan",
    "campaign_assignment",
    "describe_campaign",
    "export_frame",
    "offer_summary",
    "plan_campaign",
    "plan_month",
    "read_campaign_log",
    "strategy_mix",
    "write_campaign_log",
    "write_exports",
]

CAMPAIGN_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "month",
    "group",
    "tier",
    "reason_code",
    "churn_type",
    "strategy",
    "channel_1",
    "channel_2",
    "channel_3",
    "offer_category",
    "offer_value",
    "p_winback",
    "expected_value",
    "cost",
)
# The columns of the call centre's assignment file, exactly (the demo client validates them).
EXPORT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "campaign_month",
    "group",
    "tier",
    "reason_code",
    "strategy",
    "channel_1",
    "channel_2",
    "channel_3",
    "offer_category",
    "offer_value",
    "expected_value",
)
ASSIGNMENT_EXPORT = "campaign_assignment.parquet"
SCRIPTS_EXPORT = "second_contact_scripts.csv"
_TEXT = (
    "customer_id",
    "month",
    "group",
    "tier",
    "reason_code",
    "churn_type",
    "strategy",
    "channel_1",
    "channel_2",
    "channel_3",
    "offer_category",
)
_FLOAT = ("offer_value", "p_winback", "expected_value", "cost")


class CampaignError(ValueError):
    """A campaign assignment breaks a rule (e.g. a do-not-contact customer in it)."""


@dataclass(frozen=True)
class CampaignPlan:
    """Everything stage 4 decided for one month.

    Attributes
    ----------
    month : str
        The campaign month.
    candidates : DataFrame
        Every candidate with strategy, channels, offer, expected value, ``selected`` and
        (for the selected) ``group``.
    assignment : DataFrame
        The campaign log rows (:data:`CAMPAIGN_COLUMNS`).
    budget : DataFrame
        :func:`winback.targeting.budget_summary` (index tier).
    curve : DataFrame
        :func:`winback.targeting.budget_curve`.
    holdout : DataFrame
        :func:`winback.holdout.holdout_summary`.
    scripts : DataFrame
        Second-contact scripts (``reason_code``, ``strategy``).
    screened : DataFrame
        Every customer of the month with their exclusion, if any
        (:func:`winback.strategy.screen_candidates`).
    """

    month: str
    candidates: pd.DataFrame
    assignment: pd.DataFrame
    budget: pd.DataFrame
    curve: pd.DataFrame
    holdout: pd.DataFrame
    scripts: pd.DataFrame
    screened: pd.DataFrame

    def __repr__(self) -> str:
        a = self.assignment
        treat = a["group"] == TREATMENT
        return (
            f"CampaignPlan(month={self.month!r}, candidates={len(self.candidates)}, "
            f"treatment={int(treat.sum())}, control={int((~treat).sum())}, "
            f"expected_value={a.loc[treat, 'expected_value'].sum():.0f})"
        )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in _TEXT:
        if col in out.columns:
            values = out[col].astype(object)
            out[col] = (
                values.where(values.notna(), None)
                .map(lambda v: None if v is None else str(v))
                .astype("string")
            )
    for col in _FLOAT:
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("float64")
    return out


def campaign_assignment(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The campaign log rows of ``month`` from selected, grouped candidates.

    Parameters
    ----------
    frame : DataFrame
        One row per selected customer with ``group`` and the planned fields (from
        :func:`plan_campaign`); ``do_not_contact`` and ``status`` are checked when present.
    month : str
        The campaign month (``YYYY-MM``).

    Returns
    -------
    DataFrame
        :data:`CAMPAIGN_COLUMNS`, sorted by ``customer_id``.

    Raises
    ------
    CampaignError
        When a do-not-contact or lost customer is in the frame, a customer appears twice,
        a group is not treatment/control, or a treatment row has no strategy or channel.
    """
    missing = [c for c in CAMPAIGN_COLUMNS if c not in frame.columns and c != "month"]
    if missing:
        raise CampaignError(f"cannot build the campaign assignment: column(s) {missing} missing")
    ids = frame["customer_id"].astype(str)
    if "do_not_contact" in frame.columns:
        dnc = frame["do_not_contact"].astype("boolean").fillna(False).to_numpy(bool)
        if dnc.any():
            raise CampaignError(
                f"do-not-contact customers in the campaign: {ids[dnc].head(10).tolist()}; "
                "they must never be in a contact list"
            )
    if "status" in frame.columns:
        lost = (frame["status"].astype(str) == "lost").to_numpy()
        if lost.any():
            raise CampaignError(f"lost customers in the campaign: {ids[lost].head(10).tolist()}")
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise CampaignError(f"customers assigned twice: {sorted(set(ids[dup]))[:10]}")
    bad = ~frame["group"].isin([TREATMENT, CONTROL])
    if bad.any():
        raise CampaignError(
            f"group must be treatment or control; found {sorted(set(frame.loc[bad, 'group']))}"
        )
    treat = (frame["group"] == TREATMENT).to_numpy()
    empty = treat & (frame["strategy"].isna() | frame["channel_1"].isna()).to_numpy()
    if empty.any():
        raise CampaignError(
            f"treatment rows without a strategy or first channel: {ids[empty].head(10).tolist()}"
        )
    out = frame.assign(month=month)[list(CAMPAIGN_COLUMNS)]
    return _typed(out).sort_values("customer_id", kind="stable").reset_index(drop=True)


def plan_campaign(
    screened: pd.DataFrame,
    preferences: pd.DataFrame,
    params: StrategyParams,
    *,
    month: str,
    seed: int,
    reasons: Iterable[str],
    churn_types: Mapping[str, str],
    tiers: Iterable[object] | None = None,
    priors: Mapping[str, WinbackPrior | Mapping[str, float]] | None = None,
) -> CampaignPlan:
    """Stage 4 on frames: strategies, offers, expected value, budgeted targets, holdout.

    Parameters
    ----------
    screened : DataFrame
        :func:`winback.strategy.screen_candidates` output (candidates and excluded customers).
    preferences : DataFrame
        :func:`winback.strategy.category_preference` output.
    params : StrategyParams
        The ``strategy`` params section.
    month : str
        The campaign month.
    seed : int
        The engagement seed; the holdout uses ``derive_seed(seed, month, "holdout")``.
    reasons, churn_types : iterable of str, mapping
        The reason taxonomy: its codes and code -> churn type (``active`` / ``passive``),
        e.g. from the ``reasons`` params section. The matrix is checked against it
        (:meth:`StrategyMatrix.check`) and the second-contact scripts cover its codes.
    tiers : iterable, optional
        The tier ids (``1..n_tiers``); rules naming another tier are refused.
    priors : mapping, optional
        P(win back) priors replacing ``params.p_winback`` (see ``update_priors``).

    Returns
    -------
    CampaignPlan
    """
    matrix = params.build_matrix()
    cands = candidates_of(screened)
    reasons = [str(r) for r in reasons]
    unknown = sorted(set(cands["reason_code"].astype(str)) - {*reasons, UNKNOWN_REASON})
    if unknown:
        raise StrategyError(
            f"candidates carry reason code(s) {unknown} missing from the taxonomy "
            f"{reasons}; rerun stage 2 with the same params"
        )
    tiers = None if tiers is None else [str(t) for t in tiers]
    matrix.check(reasons, churn_types, tiers)
    scripts = matrix.second_contact_scripts(reasons, churn_types)
    planned = plan_strategies(cands, preferences, params, priors=priors)
    t = params.targeting
    selected = select_targets(planned, t.budget, method=t.method, exact_max_n=t.exact_max_n)
    chosen = selected[selected["selected"]]
    grouped = assign_holdout(
        chosen,
        share=params.holdout.share,
        seed=derive_seed(seed, month, "holdout"),
        strata=params.holdout.strata,
    )
    selected = selected.merge(
        grouped[["customer_id", "group", "stratum"]], on="customer_id", how="left"
    )
    assignment = campaign_assignment(grouped, month)
    budget = budget_summary(selected, t.budget, tiers=tiers)
    # what the holdout keeps unspent: the control rows' cost was selected but is not spent
    held = selected[selected["group"] == CONTROL]
    ctrl = held.groupby(held["tier"].astype(str))["cost"].sum()
    budget["held_out_cost"] = ctrl.reindex(budget.index).fillna(0.0)
    budget["treated_cost"] = budget["cost"] - budget["held_out_cost"]
    return CampaignPlan(
        month=month,
        candidates=selected,
        assignment=assignment,
        budget=budget,
        curve=budget_curve(planned),
        holdout=holdout_summary(grouped, share=params.holdout.share),
        scripts=scripts,
        screened=screened,
    )


def plan_month(
    con,
    params,
    month: str,
    *,
    priors: Mapping[str, WinbackPrior | Mapping[str, float]] | None = None,
) -> CampaignPlan:
    """Plan ``month``'s campaign from the store (stage 4 as the notebook runs it).

    Reads the month's statuses, tiers, reasons, customers and category preferences
    (:func:`winback.strategy.load_inputs`), screens the candidates and calls
    :func:`plan_campaign` with the reason taxonomy of ``params.reasons``, the tiers
    ``1..params.tiering.n_tiers`` and the seed ``params.engagement.seed``.

    Parameters
    ----------
    con
        An open store connection.
    params : winback.config.Params
        The run's params (sections ``strategy``, ``reasons``, ``tiering``, ``engagement``).
    month : str
        The campaign month.
    priors : mapping, optional
        P(win back) priors replacing ``params.strategy.p_winback``.
    """
    sp = params.strategy
    inputs = load_inputs(con, month, window_days=sp.offers.window_days,
                         keep_months=sp.holdout.keep_months)
    codes, types = reason_taxonomy(params.reasons)
    return plan_campaign(
        inputs.screen(sp),
        inputs.preferences,
        sp,
        month=month,
        seed=params.engagement.seed,
        reasons=codes,
        churn_types=types,
        tiers=range(1, params.tiering.n_tiers + 1),
        priors=priors,
    )


def offer_summary(assignment: pd.DataFrame) -> pd.DataFrame:
    """Offers of the treated by category: customers, mean and total face value (currency units)."""
    treat = assignment[assignment["group"] == TREATMENT]
    cat = (
        treat["offer_category"].astype(object).where(treat["offer_category"].notna(), "(no offer)")
    )
    table = (
        treat.assign(offer_category=cat)
        .groupby("offer_category")["offer_value"]
        .agg(customers="size", mean_value="mean", total_value="sum")
    )
    return table.sort_values("customers", ascending=False)


def strategy_mix(assignment: pd.DataFrame) -> pd.DataFrame:
    """Customers per strategy and group, with expected value and cost of the treated."""
    treat = assignment["group"] == TREATMENT
    table = pd.crosstab(assignment["strategy"], assignment["group"])
    for col in (TREATMENT, CONTROL):
        if col not in table.columns:
            table[col] = 0
    table = table[[TREATMENT, CONTROL]]
    sums = assignment[treat].groupby("strategy")[["expected_value", "cost", "offer_value"]].sum()
    table = table.join(
        sums.rename(
            columns={
                "expected_value": "treated_ev",
                "cost": "treated_cost",
                "offer_value": "treated_offer_value",
            }
        )
    ).fillna(0.0)
    table.index.name = "strategy"
    table.columns.name = None
    return table.sort_values(TREATMENT, ascending=False)


def describe_campaign(plan: CampaignPlan, *, currency: str = "CNY") -> str:
    """One paragraph on the month's campaign, with numbers computed from the plan."""
    a = plan.assignment
    treat = a[a["group"] == TREATMENT]
    ctrl = a[a["group"] == CONTROL]
    b = plan.budget
    top = treat["strategy"].value_counts()
    lead = f"{top.index[0]} ({int(top.iloc[0])})" if len(top) else "none"
    binding = b[b["next_ev_per_unit"] > 0]
    more = (
        f" The budget binds in {len(binding)} of {len(b)} tiers; there, one more {currency} "
        f"of budget would buy up to {binding['next_ev_per_unit'].max():.2f} {currency} of "
        "expected value."
        if len(binding)
        else " Every candidate worth contacting fits in the budget."
    )
    spent, budget = treat["cost"].sum(), b["budget"].sum()
    return (
        f"Campaign {plan.month}: {len(plan.candidates)} candidates, {len(a)} selected within "
        f"budget: {len(treat)} to contact and {len(ctrl)} held out as control. Contact cost "
        f"and offers of the treated: {spent:,.0f} {currency} of {budget:,.0f} {currency} "
        f"budgeted (the control's share, {b['held_out_cost'].sum():,.0f} {currency}, is kept "
        f"unspent to measure the effect); expected value "
        f"{treat['expected_value'].sum():,.0f} {currency}. Most used strategy: {lead}.{more}"
    )


def write_campaign_log(con, month: str, assignment: pd.DataFrame) -> int:
    """Replace ``month``'s rows of the store's ``campaign_log`` with ``assignment``.

    Returns the number of rows written.
    """
    missing = [c for c in CAMPAIGN_COLUMNS if c not in assignment.columns]
    if missing:
        raise CampaignError(
            f"campaign log rows lack column(s) {missing}; build them with campaign_assignment"
        )
    frame = _typed(assignment[list(CAMPAIGN_COLUMNS)])
    replace_month(con, "campaign_log", month, frame)
    return len(frame)


def read_campaign_log(con, months: Iterable[str] | None = None) -> pd.DataFrame:
    """The store's ``campaign_log`` (all months, or ``months``); empty if there is none."""
    if not has_table(con, "campaign_log"):
        return _typed(pd.DataFrame({c: pd.Series(dtype=object) for c in CAMPAIGN_COLUMNS}))
    if months is None:
        frame = con.execute('SELECT * FROM "campaign_log" ORDER BY month, customer_id').df()
    else:
        wanted = [str(m) for m in months]
        frame = con.execute(
            'SELECT * FROM "campaign_log" WHERE list_contains($m, month) '
            "ORDER BY month, customer_id",
            {"m": wanted},
        ).df()
    return _typed(frame)


def export_frame(assignment: pd.DataFrame) -> pd.DataFrame:
    """The call centre's assignment file: exactly :data:`EXPORT_COLUMNS`, no PII."""
    missing = [c for c in CAMPAIGN_COLUMNS if c not in assignment.columns]
    if missing:
        raise CampaignError(f"assignment lacks column(s) {missing}")
    out = assignment.rename(columns={"month": "campaign_month"})[list(EXPORT_COLUMNS)]
    out = out.copy()
    for col in EXPORT_COLUMNS:
        if col in ("offer_value", "expected_value"):
            out[col] = out[col].astype("float64")
        else:
            values = out[col].astype(object)
            out[col] = (
                values.where(values.notna(), None)
                .map(lambda v: None if v is None else str(v))
                .astype(object)
            )
    return out.reset_index(drop=True)


def write_exports(
    exports_dir: str | Path, assignment: pd.DataFrame, scripts: pd.DataFrame
) -> dict[str, Path]:
    """Write the assignment (Parquet) and the second-contact scripts (CSV) into ``exports_dir``."""
    folder = Path(exports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if list(scripts.columns) != ["reason_code", "strategy"]:
        raise CampaignError(
            f"scripts must have columns reason_code, strategy; got {list(scripts.columns)}"
        )
    paths = {"assignment": folder / ASSIGNMENT_EXPORT, "scripts": folder / SCRIPTS_EXPORT}
    export_frame(assignment).to_parquet(paths["assignment"], index=False)
    scripts.astype(object).to_csv(paths["scripts"], index=False, encoding="utf-8")
    return paths
