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
``expected_value`` and ``cost`` (currency units) and ``program``. Control rows carry the
strategy, channels and offer they would have received.

Two programs share the month's log, told apart by ``program``: ``winback`` (churned
customers, the strategy matrix) and ``preventive`` (care contacts of the customers on
the previous month's early-warning watchlist, :func:`winback.strategy.plan_preventive`,
selected under their own budget line ``strategy.preventive.budget`` and held out by the
same stratified hash holdout with their own seed). A customer is in at most one of them
per month; stage 6 evaluates each program against its own control group. Rows written
before the column existed are win-back rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from winback.exports import write_csv
from winback.holdout import (
    CONTROL,
    REGISTER_COLUMNS,
    REGISTER_TABLE,
    TREATMENT,
    HoldoutError,
    assign_holdout,
    holdout_summary,
    register_additions,
)
from winback.messages import check_language, label
from winback.messages import t as message
from winback.settings import derive_seed
from winback.store import fetch_df, has_table, replace_month, transaction
from winback.strategy import (
    UNKNOWN_REASON,
    StrategyError,
    StrategyParams,
    Watchlist,
    WinbackPrior,
    candidates_of,
    category_preference,
    load_inputs,
    load_watchlist,
    plan_preventive,
    plan_strategies,
    preference_customers,
    reason_taxonomy,
    screen_preventive,
)
from winback.targeting import budget_curve, budget_summary, select_targets

__all__ = [
    "ASSIGNMENT_EXPORT",
    "CAMPAIGN_COLUMNS",
    "EXPORT_COLUMNS",
    "GUARD_TABLE",
    "PREVENTIVE",
    "PROGRAMS",
    "SCRIPTS_EXPORT",
    "WINBACK",
    "CampaignError",
    "CampaignLogLocked",
    "CampaignPlan",
    "campaign_assignment",
    "check_campaign_rewrite",
    "describe_campaign",
    "describe_preventive",
    "preventive_contacts",
    "preventive_summary",
    "program_rows",
    "drop_campaign_guard",
    "export_frame",
    "offer_summary",
    "plan_campaign",
    "plan_month",
    "read_campaign_log",
    "read_holdout_register",
    "recorded_outcomes",
    "strategy_mix",
    "write_campaign_guard",
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
    "program",
)
WINBACK = "winback"
PREVENTIVE = "preventive"
PROGRAMS: tuple[str, ...] = (WINBACK, PREVENTIVE)
# The columns of the call centre's assignment file, exactly (the demo client validates them).
# The log's columns but churn_type, p_winback and cost, the month named campaign_month.
EXPORT_COLUMNS: tuple[str, ...] = tuple(
    "campaign_month" if c == "month" else c
    for c in CAMPAIGN_COLUMNS
    if c not in ("churn_type", "p_winback", "cost")
)
ASSIGNMENT_EXPORT = "campaign_assignment.parquet"
SCRIPTS_EXPORT = "second_contact_scripts.csv"
_FLOAT = ("offer_value", "p_winback", "expected_value", "cost")
_TEXT = (*(c for c in CAMPAIGN_COLUMNS if c not in _FLOAT), "campaign_month")


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
    watchlist : Watchlist or None
        The early-warning watchlist acted on (None: not given).
    preventive : DataFrame or None
        Every watchlisted customer with their exclusion (:func:`screen_preventive`) and,
        for the candidates, the planned care contact, ``selected`` and ``group``.
    preventive_budget, preventive_holdout : DataFrame or None
        Budget summary and holdout summary of the preventive contacts.
    """

    month: str
    candidates: pd.DataFrame
    assignment: pd.DataFrame
    budget: pd.DataFrame
    curve: pd.DataFrame
    holdout: pd.DataFrame
    scripts: pd.DataFrame
    screened: pd.DataFrame
    watchlist: Watchlist | None = None
    preventive: pd.DataFrame | None = field(default=None, repr=False)
    preventive_budget: pd.DataFrame | None = field(default=None, repr=False)
    preventive_holdout: pd.DataFrame | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        a = self.assignment
        treat = a["group"] == TREATMENT
        prev = a["program"] == PREVENTIVE
        return (
            f"CampaignPlan(month={self.month!r}, candidates={len(self.candidates)}, "
            f"treatment={int((treat & ~prev).sum())}, control={int((~treat & ~prev).sum())}, "
            f"preventive={int((treat & prev).sum())}+{int((~treat & prev).sum())} control, "
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
        :func:`plan_campaign`); ``do_not_contact`` and ``status`` are checked when present;
        ``program`` (:data:`PROGRAMS`) is ``winback`` when absent.
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
    if "program" not in frame.columns:
        frame = frame.assign(program=WINBACK)
    missing = [c for c in CAMPAIGN_COLUMNS if c not in frame.columns and c != "month"]
    if missing:
        raise CampaignError(f"cannot build the campaign assignment: column(s) {missing} missing")
    ids = frame["customer_id"].astype(str)
    bad_program = ~frame["program"].isin(PROGRAMS)
    if bad_program.any():
        raise CampaignError(
            f"program must be one of {list(PROGRAMS)}; found "
            f"{sorted(set(frame.loc[bad_program, 'program'].astype(str)))} for customers "
            f"{ids[bad_program.to_numpy()].head(10).tolist()}"
        )
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
    watchlist: Watchlist | pd.DataFrame | None = None,
    register: pd.DataFrame | None = None,
) -> CampaignPlan:
    """Stage 4 on frames: strategies, offers, expected value, budgeted targets, holdout.

    Then, when a ``watchlist`` is given and ``params.preventive.enabled``, the preventive
    care contacts of the watchlisted customers who are neither churned, lost, win-back
    candidates, do-not-contact nor held out (:func:`winback.strategy.screen_preventive`):
    planned by :func:`winback.strategy.plan_preventive`, selected per tier within
    ``params.preventive.budget`` by the same expected-value knapsack, and split by the same
    stratified hash holdout with the seed ``derive_seed(seed, month, "holdout",
    "preventive")`` and share ``preventive.holdout_share`` (``holdout.share`` when unset).
    Their rows join the assignment with ``program = "preventive"``.

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
    watchlist : Watchlist or DataFrame, optional
        The previous month's early-warning watchlist (``customer_id``, ``risk``,
        ``rank``, ``factor_*``); None for no preventive contacts.
    register : DataFrame, optional
        The month's ``holdout_register`` rows (:func:`read_holdout_register`): customers
        an earlier run of the month assigned keep their group in both programs
        (:mod:`winback.holdout`, *Sticky within a month*). None: the month's first run.

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
        registered=register,
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
    if isinstance(watchlist, pd.DataFrame):
        watchlist = Watchlist(None, watchlist, message("text.strategy.watchlist.given", "en",
                                                       n=len(watchlist)))
    prev = _plan_preventive(screened, preferences, params, month=month, seed=seed,
                            tiers=tiers, watchlist=watchlist, register=register)
    if prev is not None:
        assignment = pd.concat([assignment, prev["assignment"]], ignore_index=True)
        dup = assignment["customer_id"].duplicated(keep=False)
        if dup.any():
            raise CampaignError(
                "customers both in the win-back and the preventive program: "
                f"{sorted(set(assignment.loc[dup, 'customer_id']))[:10]}"
            )
        assignment = assignment.sort_values("customer_id", kind="stable", ignore_index=True)
    return CampaignPlan(
        month=month,
        candidates=selected,
        assignment=assignment,
        budget=budget,
        curve=budget_curve(planned),
        holdout=holdout_summary(grouped, share=params.holdout.share),
        scripts=scripts,
        screened=screened,
        watchlist=watchlist,
        preventive=None if prev is None else prev["screened"],
        preventive_budget=None if prev is None else prev["budget"],
        preventive_holdout=None if prev is None else prev["holdout"],
    )


def _plan_preventive(
    screened: pd.DataFrame,
    preferences: pd.DataFrame,
    params: StrategyParams,
    *,
    month: str,
    seed: int,
    tiers: list[str] | None,
    watchlist: Watchlist | None,
    register: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame] | None:
    """The preventive part of :func:`plan_campaign` (None without a watchlist or when off)."""
    pp = params.preventive
    if watchlist is None or not pp.enabled:
        return None
    watch = screen_preventive(screened, watchlist.frame, statuses=pp.statuses)
    cands = watch[watch["exclusion"].isna()]
    planned = plan_preventive(cands, preferences, params)
    t = params.targeting
    selected = select_targets(planned, pp.budget, method=t.method, exact_max_n=t.exact_max_n)
    share = params.holdout.share if pp.holdout_share is None else pp.holdout_share
    grouped = assign_holdout(
        selected[selected["selected"]],
        share=share,
        seed=derive_seed(seed, month, "holdout", PREVENTIVE),
        strata=pp.strata,
        registered=register,
    )
    selected = selected.merge(
        grouped[["customer_id", "group", "stratum"]], on="customer_id", how="left"
    )
    assignment = campaign_assignment(grouped.assign(program=PREVENTIVE), month)
    budget = budget_summary(selected, pp.budget, tiers=tiers if len(selected) else None)
    held = selected[selected["group"] == CONTROL]
    ctrl = held.groupby(held["tier"].astype(str))["cost"].sum()
    budget["held_out_cost"] = ctrl.reindex(budget.index).fillna(0.0)
    budget["treated_cost"] = budget["cost"] - budget["held_out_cost"]
    cols = [c for c in selected.columns if c not in watch.columns or c == "customer_id"]
    screened_watch = watch.merge(selected[cols], on="customer_id", how="left")
    screened_watch["selected"] = screened_watch["selected"].astype("boolean").fillna(False)
    return {
        "assignment": assignment,
        "screened": screened_watch.astype({"selected": bool}),
        "budget": budget,
        "holdout": holdout_summary(grouped, share=share),
    }


def plan_month(
    con,
    params,
    month: str,
    *,
    priors: Mapping[str, WinbackPrior | Mapping[str, float]] | None = None,
) -> CampaignPlan:
    """Plan ``month``'s campaign from the store (stage 4 as the notebook runs it).

    Reads the month's statuses, tiers, reasons, customers and category preferences
    (:func:`winback.strategy.load_inputs`), the latest early-warning watchlist before
    the month (:func:`winback.strategy.load_watchlist`) and the month's holdout register
    (:func:`read_holdout_register`), screens the candidates and calls
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
                         keep_months=sp.holdout.keep_months, preferences=False)
    watchlist = load_watchlist(con, month, max_age_months=sp.preventive.max_age_months)
    screened = inputs.screen(sp)
    # offers are designed for the candidates and the watchlist only: their preferences suffice
    preferences = category_preference(con, month, window_days=sp.offers.window_days,
                                      customers=preference_customers(screened, watchlist))
    codes, types = reason_taxonomy(params.reasons)
    return plan_campaign(
        screened,
        preferences,
        sp,
        month=month,
        seed=params.engagement.seed,
        reasons=codes,
        churn_types=types,
        tiers=range(1, params.tiering.n_tiers + 1),
        priors=priors,
        watchlist=watchlist,
        register=read_holdout_register(con, month),
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


def program_rows(assignment: pd.DataFrame, program: str | None) -> pd.DataFrame:
    """The rows of ``program`` (all rows when None; rows without a program are win-back).

    Raises
    ------
    CampaignError
        When ``program`` is not one of :data:`PROGRAMS` or None.
    """
    if program is None:
        return assignment
    if program not in PROGRAMS:
        raise CampaignError(f"program must be one of {list(PROGRAMS)} or None, got {program!r}")
    if "program" not in assignment.columns:
        return assignment if program == WINBACK else assignment.iloc[0:0]
    own = assignment["program"].astype(object).where(assignment["program"].notna(), WINBACK)
    return assignment[(own == program).to_numpy()]


def strategy_mix(assignment: pd.DataFrame, *, program: str | None = WINBACK) -> pd.DataFrame:
    """Customers per strategy and group, with expected value and cost of the treated.

    ``program`` selects the win-back (default) or preventive rows; None counts both.
    """
    assignment = program_rows(assignment, program)
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


def describe_campaign(plan: CampaignPlan, *, currency: str = "CNY",
                      language: str = "en") -> str:
    """One paragraph on the month's win-back campaign, with numbers computed from the plan.

    ``language`` (``zh`` or ``en``) is the language of the paragraph; strategy names are
    the params' own.
    """
    lang = check_language(language)
    a = program_rows(plan.assignment, WINBACK)
    treat = a[a["group"] == TREATMENT]
    ctrl = a[a["group"] == CONTROL]
    b = plan.budget
    top = treat["strategy"].value_counts()
    lead = (f"{top.index[0]} ({int(top.iloc[0])})" if len(top)
            else message("text.campaign.none", lang))
    binding = b[b["next_ev_per_unit"] > 0]
    more = (
        message("text.campaign.binds", lang, k=len(binding), n=len(b), cur=currency,
                x=binding["next_ev_per_unit"].max())
        if len(binding)
        else message("text.campaign.fits", lang)
    )
    return message("text.campaign.campaign", lang, month=plan.month, cand=len(plan.candidates),
                   sel=len(a), t=len(treat), c=len(ctrl), spent=treat["cost"].sum(),
                   budget=b["budget"].sum(), held=b["held_out_cost"].sum(),
                   ev=treat["expected_value"].sum(), cur=currency, lead=lead, more=more)


def describe_preventive(plan: CampaignPlan, *, currency: str = "CNY",
                        language: str = "en") -> str:
    """One paragraph on the month's preventive care contacts, computed from the plan.

    ``language`` (``zh`` or ``en``) is the language of the paragraph; the watchlist's own
    note (:meth:`winback.strategy.Watchlist.note_in`) leads it.
    """
    lang = check_language(language)
    note = plan.watchlist.note_in(lang) if plan.watchlist is not None else (
        message("text.campaign.no_watchlist", lang))
    w = plan.preventive
    if w is None or w.empty:
        return note
    a = program_rows(plan.assignment, PREVENTIVE)
    treat = a[a["group"] == TREATMENT]
    ctrl = a[a["group"] == CONTROL]
    ex = w["exclusion"].value_counts()
    left = message("common.list_sep", lang).join(
        message("text.campaign.left_item", lang, n=int(ex[k]),
                reason=label("text.campaign.exclusion", k, lang, default=k.replace("_", " ")))
        for k in ex.index)
    b = plan.preventive_budget
    budget = float(b["budget"].sum()) if b is not None and len(b) else 0.0
    return message("text.campaign.preventive", lang, note=note,
                   cand=int(w["exclusion"].isna().sum()),
                   left=message("text.campaign.left_out", lang, left=left) if left else "",
                   sel=len(a), budget=budget, cur=currency, t=len(treat), c=len(ctrl),
                   cost=treat["cost"].sum(), ev=treat["expected_value"].sum())


def preventive_summary(plan: CampaignPlan) -> pd.DataFrame:
    """The watchlist's way through stage 4: counts from watchlisted to contacted.

    Returns
    -------
    DataFrame
        ``step``, ``customers``: ``watchlisted``, each exclusion of
        :data:`winback.strategy.PREVENTIVE_EXCLUSIONS`, ``candidates``, ``positive_ev``
        (worth a contact at any budget), ``selected`` (within the budget line),
        ``contacted`` (treatment) and ``control``. All zero without a watchlist.
    """
    from winback.strategy import PREVENTIVE_EXCLUSIONS

    w = plan.preventive
    a = program_rows(plan.assignment, PREVENTIVE)
    rows = [("watchlisted", 0 if w is None else len(w))]
    ex = pd.Series(dtype=object) if w is None else w["exclusion"].astype(object)
    rows += [(name, int((ex == name).sum())) for name in PREVENTIVE_EXCLUSIONS]
    rows.append(("candidates", int(ex.isna().sum())))
    ev = pd.Series(dtype=float) if w is None else w.loc[w["exclusion"].isna(), "expected_value"]
    rows.append(("positive_ev", int((ev.astype(float) > 0).sum())))
    rows.append(("selected", len(a)))
    rows.append(("contacted", int((a["group"] == TREATMENT).sum())))
    rows.append(("control", int((a["group"] == CONTROL).sum())))
    return pd.DataFrame(rows, columns=["step", "customers"])


def preventive_contacts(plan: CampaignPlan) -> pd.DataFrame:
    """The selected preventive customers (ids only) with risk, main factors, contact and group."""
    cols = ["customer_id", "group", "watch_rank", "risk", "factor_1", "factor_2", "factor_3",
            "status", "tier", "strategy", "channel_1", "channel_2", "channel_3",
            "offer_value", "p_winback", "cost", "expected_value"]
    w = plan.preventive
    if w is None or w.empty or not w["selected"].any():
        return pd.DataFrame({c: [] for c in cols})
    picked = w[w["selected"]]
    return picked[[c for c in cols if c in picked.columns]].sort_values(
        "watch_rank", kind="stable", ignore_index=True)


def _add_missing_columns(con, table: str) -> None:
    """Add campaign-log columns an older table lacks (``program`` defaults to ``winback``)."""
    if not has_table(con, table):
        return
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema()",
            [table],
        ).fetchall()
    }
    for col in CAMPAIGN_COLUMNS:
        if col in have:
            continue
        kind = "DOUBLE" if col in _FLOAT else "VARCHAR"
        default = f" DEFAULT '{WINBACK}'" if col == "program" else ""
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{col}" {kind}{default}')


GUARD_TABLE = "campaign_guard"


class CampaignLogLocked(CampaignError):
    """The campaign log of a month with recorded contact outcomes would be rewritten."""


def write_campaign_guard(con, source, month: str, *, force: bool = False) -> None:
    """Note in store ``con`` the contact outcomes recorded in store ``source``.

    The month runner works on a copy of the store in which stage 1 loads the sources as of
    the run month's end, so a rerun of month M does not see the outcomes of M's campaign
    (they arrive with later months' data). The runner copies their counts per campaign
    month from the engagement's store into table :data:`GUARD_TABLE` of the copy, with
    ``force`` set for ``month`` when the user passed ``--force-campaign``;
    :func:`check_campaign_rewrite` reads it.
    """
    counts = pd.DataFrame({"campaign_month": pd.Series(dtype="string"),
                           "outcome_rows": pd.Series(dtype="int64")})
    if has_table(source, "contact_outcomes"):
        counts = fetch_df(source,
            "SELECT CAST(campaign_month AS VARCHAR) AS campaign_month, count(*) AS outcome_rows "
            "FROM contact_outcomes GROUP BY 1 ORDER BY 1"
        )
    if force and month not in set(counts["campaign_month"].astype(str)):
        counts = pd.concat([counts, pd.DataFrame({"campaign_month": [month],
                                                  "outcome_rows": [0]})], ignore_index=True)
    counts["force"] = counts["campaign_month"].astype(str).eq(month) & bool(force)
    con.register("_guard", counts)
    try:
        con.execute(f'CREATE OR REPLACE TABLE "{GUARD_TABLE}" AS SELECT '
                    "CAST(campaign_month AS VARCHAR) AS campaign_month, "
                    "CAST(outcome_rows AS BIGINT) AS outcome_rows, "
                    "CAST(force AS BOOLEAN) AS force FROM _guard")
    finally:
        con.unregister("_guard")


def drop_campaign_guard(con) -> None:
    """Remove table :data:`GUARD_TABLE` (the runner does so before the copy is committed)."""
    con.execute(f'DROP TABLE IF EXISTS "{GUARD_TABLE}"')


def recorded_outcomes(con, month: str) -> tuple[int, bool]:
    """Contact outcome rows recorded for campaign ``month``, and whether a rewrite is forced.

    Counts the store's ``contact_outcomes`` rows with that ``campaign_month`` and, when the
    store is a month run's copy, the counts the runner noted in :data:`GUARD_TABLE`
    (the larger of the two).
    """
    rows, force = 0, False
    if has_table(con, "contact_outcomes"):
        rows = con.execute(
            "SELECT count(*) FROM contact_outcomes WHERE CAST(campaign_month AS VARCHAR) = ?",
            [month],
        ).fetchall()[0][0]
    if has_table(con, GUARD_TABLE):
        for n, forced in con.execute(
            f'SELECT outcome_rows, force FROM "{GUARD_TABLE}" WHERE campaign_month = ?', [month]
        ).fetchall():
            rows, force = max(rows, int(n)), force or bool(forced)
    return int(rows), force


def check_campaign_rewrite(con, month: str, frame: pd.DataFrame, *, force: bool = False) -> None:
    """Refuse to rewrite ``month``'s campaign log once its contact outcomes are recorded.

    Writing the same rows again (a deterministic rerun) is not a rewrite and is allowed;
    so is any write with ``force`` (``winback run ... --force-campaign``).

    Raises
    ------
    CampaignLogLocked
        Naming the month, the number of outcome rows and the flag.
    """
    rows, forced = recorded_outcomes(con, month)
    if rows == 0 or force or forced or not has_table(con, "campaign_log"):
        return
    old = read_campaign_log(con, [month])
    if old.empty:
        return
    cols = [c for c in CAMPAIGN_COLUMNS if c in old.columns and c in frame.columns]
    a = _typed(old[cols]).sort_values("customer_id", kind="stable").reset_index(drop=True)
    b = _typed(frame[cols]).sort_values("customer_id", kind="stable").reset_index(drop=True)
    if len(a) == len(b) and a.equals(b):
        return
    ids_a, ids_b = set(a["customer_id"]), set(b["customer_id"])
    raise CampaignLogLocked(
        f"The campaign log of {month} cannot be rewritten: {rows} contact outcome rows of "
        f"that campaign have been recorded (store table contact_outcomes, campaign_month "
        f"{month}), and stage 6 evaluates the campaign as it was executed. This run "
        f"assigned a different campaign ({len(ids_b - ids_a)} customers added, "
        f"{len(ids_a - ids_b)} removed, {len(ids_a & ids_b)} kept, possibly with other "
        f"groups or offers), so the log of {month} was left as it is. If the campaign of "
        f"{month} really must be replaced, rerun with --force-campaign "
        f"(winback run -m {month} --force-campaign); the recorded outcomes will then be "
        "evaluated against the new log."
    )


def write_campaign_log(con, month: str, assignment: pd.DataFrame, *, force: bool = False) -> int:
    """Replace ``month``'s rows of the store's ``campaign_log`` with ``assignment``.

    A month whose contact outcomes have been recorded keeps its log unless ``force``
    (:func:`check_campaign_rewrite`; the runner's ``--force-campaign`` sets it through the
    run's store copy). In the same transaction the customers new to the month are
    appended to the holdout register (:data:`winback.holdout.REGISTER_TABLE`,
    :func:`winback.holdout.register_additions`); ``force`` does not lift the register: a
    customer registered in one group is never written in the other. Returns the number
    of rows written.

    Raises
    ------
    CampaignLogLocked
        When the rewrite is refused.
    CampaignError
        When the assignment moves a registered customer to the other group.
    """
    missing = [c for c in CAMPAIGN_COLUMNS if c not in assignment.columns]
    if missing:
        raise CampaignError(
            f"campaign log rows lack column(s) {missing}; build them with campaign_assignment"
        )
    frame = _typed(assignment[list(CAMPAIGN_COLUMNS)])
    check_campaign_rewrite(con, month, frame, force=force)
    try:
        added = register_additions(read_holdout_register(con, month), frame, month)
    except HoldoutError as exc:
        raise CampaignError(str(exc)) from None
    with transaction(con):
        _add_missing_columns(con, "campaign_log")
        replace_month(con, "campaign_log", month, frame)
        if len(added):
            con.register("_register", added)
            try:
                if has_table(con, REGISTER_TABLE):
                    con.execute(f'INSERT INTO "{REGISTER_TABLE}" BY NAME SELECT * FROM _register')
                else:
                    con.execute(f'CREATE TABLE "{REGISTER_TABLE}" AS SELECT * FROM _register')
            finally:
                con.unregister("_register")
    return len(frame)


def read_holdout_register(con, month: str | None = None) -> pd.DataFrame:
    """The store's holdout register (all months, or ``month``); empty if there is none.

    Columns :data:`winback.holdout.REGISTER_COLUMNS`, sorted by month, first run, program
    and customer.
    """
    if not has_table(con, REGISTER_TABLE):
        frame = pd.DataFrame({c: pd.Series(dtype="string") for c in REGISTER_COLUMNS})
        return frame.astype({"first_run": "int64"})
    where, args = ("WHERE month = ? ", [month]) if month is not None else ("", [])
    cols = ", ".join(f'"{c}"' for c in REGISTER_COLUMNS)
    frame = fetch_df(con,
        f'SELECT {cols} FROM "{REGISTER_TABLE}" {where}'
        "ORDER BY month, first_run, program, customer_id", args
    )
    return frame.astype({"month": "string", "program": "string", "customer_id": "string",
                         "group": "string", "first_run": "int64"})


def read_campaign_log(
    con, months: Iterable[str] | None = None, *, month_column: str = "month"
) -> pd.DataFrame:
    """The store's ``campaign_log`` (all months, or ``months``), checked; empty if none.

    Parameters
    ----------
    con
        An open store connection.
    months : iterable of str, optional
        Campaign months to read (None: all).
    month_column : str
        Name of the month column returned (stage 6 reads it as ``campaign_month``).

    Returns
    -------
    DataFrame
        :data:`CAMPAIGN_COLUMNS` (the month column named ``month_column``), sorted by month
        and customer. Columns an older log lacks are added: ``program`` as ``winback``
        (rows written before programs were told apart), ``cost`` as 0, others empty.

    Raises
    ------
    CampaignError
        The table lacks ``month``, ``customer_id`` or ``group``, a group is not
        ``treatment``/``control``, or a customer is assigned twice in one month.
    """
    columns = [month_column if c == "month" else c for c in CAMPAIGN_COLUMNS]
    wanted = None if months is None else sorted({str(m) for m in months})
    if not has_table(con, "campaign_log") or wanted == []:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in CAMPAIGN_COLUMNS})
        return _typed(empty.rename(columns={"month": month_column}))
    cols = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'campaign_log' "
        "AND table_schema = current_schema() ORDER BY ordinal_position").fetchall()]
    missing = [c for c in ("month", "customer_id", "group") if c not in cols]
    if missing:
        raise CampaignError(
            f"Store table 'campaign_log' lacks column(s) {missing} (it has {cols}); stage 4 "
            "writes month, customer_id, group and the assignment's columns."
        )
    if wanted is None:
        frame = fetch_df(con, 'SELECT * FROM "campaign_log" ORDER BY month, customer_id')
    else:
        frame = fetch_df(con,
            'SELECT * FROM "campaign_log" WHERE list_contains($m, month) '
            "ORDER BY month, customer_id",
            {"m": wanted},
        )
    for col in CAMPAIGN_COLUMNS:
        if col not in frame.columns:
            frame[col] = {"program": WINBACK, "cost": 0.0}.get(col, pd.NA)
    frame["program"] = frame["program"].astype(object).where(frame["program"].notna(), WINBACK)
    frame = _typed(frame[list(CAMPAIGN_COLUMNS)])
    frame["cost"] = frame["cost"].fillna(0.0)
    ids = frame["customer_id"].astype(str)
    bad = ~frame["group"].isin([TREATMENT, CONTROL]).fillna(False).to_numpy(bool)
    if bad.any():
        raise CampaignError(
            f"campaign_log: 'group' must be treatment or control; found "
            f"{sorted(frame.loc[bad, 'group'].astype(str).unique())[:5]} for customers "
            f"{ids[bad].head(5).tolist()}. Rerun stage 4 for those months."
        )
    dup = frame.duplicated(["month", "customer_id"], keep=False).to_numpy()
    if dup.any():
        raise CampaignError(
            f"campaign_log: customers assigned twice in one campaign month: "
            f"{ids[dup].head(5).tolist()} (months {sorted(frame.loc[dup, 'month'].unique())}). "
            "Rerun stage 4 for those months so each customer has one row."
        )
    frame = frame.sort_values(["month", "customer_id"], kind="stable", ignore_index=True)
    return frame.rename(columns={"month": month_column})[columns]


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
    write_csv(scripts.astype(object), paths["scripts"], encoding="utf-8")
    return paths
