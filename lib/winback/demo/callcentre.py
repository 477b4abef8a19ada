"""The demo client's call centre: it executes the kit's campaign and knows its true effect.

For every treatment row of a campaign the call centre makes up to three attempts (on
``channel_1``..``channel_3``, days spread over the first three weeks of the execution
month), each reached with a channel-dependent probability. It stops after a reached
contact with a definite answer (accepted or declined). A care/survey contact asks for
the reason; the next contact uses the script the kit wrote for the stated reason.

A reached, truly churned customer is won back with probability ``u(strategy, true
reason)`` (large when the strategy addresses the true reason), scaled by the channel's
persuasion, an offer, and how long ago the customer left. A won-back customer buys again
in the execution month (or, less often, one or two months later). Contacting an active
customer changes nothing in their purchases.

The probability of a win-back over the whole contact sequence is computed exactly by
backward recursion over the attempts (``win_probability``); the simulation
(``run_contacts``) follows the same rules with random draws, so realized reactivation
rates match the recorded potential outcomes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.demo import taxonomy as tx

__all__ = ["REQUIRED_COLUMNS", "AssignmentError", "Plan", "run_contacts", "validate_assignment",
           "win_probability"]

REQUIRED_COLUMNS = ("customer_id", "campaign_month", "group", "strategy", "channel_1", "channel_2",
                    "channel_3", "offer_category", "offer_value")
OPTIONAL_COLUMNS = ("tier", "reason_code", "expected_value")
MAX_WIN = 0.9
FRESH_MONTHS = 9.0  # a customer gone longer is harder to win back: 0.5 + 0.5 exp(-months / 9)


class AssignmentError(ValueError):
    """The campaign assignment (or the scripts) handed to the call centre is invalid."""


@dataclass
class Plan:
    """A validated campaign, as arrays aligned with ``frame``'s rows."""

    frame: pd.DataFrame
    cust: np.ndarray  # customer positions
    treat: np.ndarray  # bool
    strategy: np.ndarray  # index into STRATEGIES, -1 = none
    channels: np.ndarray  # (n, 3) index into CHANNELS, -1 = none
    offer_cat: np.ndarray  # index into CATEGORIES, -1 = none
    offer_value: np.ndarray
    scripts: np.ndarray  # (n_reasons,) strategy index of the follow-up of each stated reason
    scripts_given: dict[str, str]


def _rows(mask: np.ndarray, frame: pd.DataFrame, limit: int = 10) -> str:
    ids = frame.loc[mask, "customer_id"].astype(str).tolist()
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _codes(frame: pd.DataFrame, column: str, names: tuple[str, ...]) -> np.ndarray:
    text = [None if pd.isna(v) else str(v).strip() for v in frame[column].tolist()]
    lookup = {name: i for i, name in enumerate(names)}
    codes = np.array([lookup.get(v, -2) if v else -1 for v in text], dtype=np.int64)
    bad = codes == -2
    if bad.any():
        seen = sorted({text[i] for i in np.flatnonzero(bad)})[:10]
        raise AssignmentError(
            f"assignment column {column!r}: unknown value(s) {seen} in rows for customers "
            f"{_rows(bad, frame)}; allowed: {list(names)} (or empty)"
        )
    return codes


def validate_assignment(assignment: pd.DataFrame, scripts: dict[str, str] | None, *,
                        campaign_month: str, id_width: int, signup_t: np.ndarray,
                        campaign_end: float, dnc: np.ndarray) -> Plan:
    """Check the kit's campaign assignment and turn it into arrays.

    Parameters
    ----------
    assignment : DataFrame
        One row per assigned customer (treatment and control), columns ``REQUIRED_COLUMNS``
        (plus optional ``tier``, ``reason_code``, ``expected_value``).
    scripts : dict or None
        Stated reason -> strategy of the contact after a care/survey contact.
    campaign_month : str
        The month the campaign belongs to (``YYYY-MM``); every row must carry it.
    id_width, signup_t, campaign_end, dnc
        How customer ids are spelled, each customer's signup time, the campaign month's
        end (days) and the do-not-contact flags.

    Raises
    ------
    AssignmentError
        Naming the column, the offending customers and what is allowed.
    """
    if not isinstance(assignment, pd.DataFrame):
        raise AssignmentError(f"assignment must be a pandas DataFrame, got {type(assignment).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in assignment.columns]
    if missing:
        raise AssignmentError(
            f"assignment for {campaign_month} lacks column(s) {missing}; expected {list(REQUIRED_COLUMNS)}"
        )
    frame = assignment.reset_index(drop=True).copy()
    for col in OPTIONAL_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    if frame["customer_id"].isna().any():
        raise AssignmentError(f"assignment for {campaign_month}: customer_id is empty in "
                              f"{int(frame['customer_id'].isna().sum())} row(s)")
    frame["customer_id"] = frame["customer_id"].astype(str).str.strip()
    dup = frame["customer_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise AssignmentError(f"assignment for {campaign_month}: customers assigned more than once: "
                              f"{_rows(dup, frame)}; keep one row per customer")
    months = np.array([None if pd.isna(v) else str(v)[:7] for v in frame["campaign_month"].tolist()], dtype=object)
    wrong = months != campaign_month
    if wrong.any():
        raise AssignmentError(
            f"assignment: campaign_month must be {campaign_month} (the month before the month being "
            f"simulated); found {sorted({str(v) for v in months[wrong]})[:5]} for customers {_rows(wrong, frame)}"
        )
    pattern = re.compile(rf"^C\d{{{id_width}}}$")
    ok = np.array([bool(pattern.match(v)) for v in frame["customer_id"]], dtype=bool)
    pos = np.full(len(frame), -1, np.int64)
    pos[ok] = frame.loc[ok, "customer_id"].str[1:].astype(np.int64).to_numpy() - 1
    known = ok & (pos >= 0) & (pos < signup_t.size)
    known[known] = signup_t[pos[known]] < campaign_end
    if not known.all():
        raise AssignmentError(
            f"assignment for {campaign_month}: unknown customer(s) (not in customers.csv by "
            f"{campaign_month}'s end): {_rows(~known, frame)}"
        )
    group = np.array([None if pd.isna(v) else str(v).strip() for v in frame["group"].tolist()], dtype=object)
    bad = ~np.isin(group, ["treatment", "control"])
    if bad.any():
        raise AssignmentError(f"assignment column 'group' must be 'treatment' or 'control'; found "
                              f"{sorted({str(v) for v in group[bad]})[:5]} for {_rows(bad, frame)}")
    treat = group == "treatment"
    strategy = _codes(frame, "strategy", tx.STRATEGIES)
    channels = np.stack([_codes(frame, f"channel_{j}", tx.CHANNELS) for j in (1, 2, 3)], axis=1)
    offer_cat = _codes(frame, "offer_category", tx.CATEGORIES)
    value = pd.to_numeric(frame["offer_value"], errors="coerce")
    unparsable = value.isna().to_numpy() & frame["offer_value"].notna().to_numpy()
    negative = (value < 0).to_numpy()
    if unparsable.any() or negative.any():
        raise AssignmentError(f"assignment column 'offer_value' must be a number >= 0 (currency units); "
                              f"bad for {_rows(unparsable | negative, frame)}")
    offer_value = value.fillna(0.0).to_numpy(np.float64)
    no_strategy = treat & (strategy < 0)
    if no_strategy.any():
        raise AssignmentError(f"assignment: treatment rows need a strategy; empty for {_rows(no_strategy, frame)}")
    no_channel = treat & (channels < 0).all(axis=1)
    if no_channel.any():
        raise AssignmentError(f"assignment: treatment rows need at least one channel (channel_1..3); "
                              f"none for {_rows(no_channel, frame)}")
    blocked = treat & dnc[pos]
    if blocked.any():
        raise AssignmentError(
            f"assignment for {campaign_month} puts do-not-contact customers in the treatment group: "
            f"{_rows(blocked, frame)}; they must never be contacted (leave them out or hold them out)"
        )
    script_idx = np.full(len(tx.REASONS), tx.S["care_message"], np.int64)
    given = dict(scripts or {})
    for reason, strat in given.items():
        if reason == "unknown":  # customers always state a reason from the taxonomy
            continue
        if reason not in tx.R:
            raise AssignmentError(f"scripts: unknown reason code {reason!r}; allowed: {list(tx.REASONS)}")
        if strat not in tx.S:
            raise AssignmentError(f"scripts[{reason!r}]: unknown strategy {strat!r}; allowed: {list(tx.STRATEGIES)}")
        script_idx[tx.R[reason]] = tx.S[strat]
    return Plan(frame, pos, treat, strategy, channels, offer_cat, offer_value, script_idx, given)


def stated_reason_probs(reason: np.ndarray) -> np.ndarray:
    """P(stated reason | true reason), shape (n, n_reasons); -1 (active customer) -> base mix."""
    base = np.array([tx.BASE_REASON_WEIGHTS[r] for r in tx.REASONS])
    n_r = base.size
    out = np.tile(base, (reason.size, 1))
    known = reason >= 0
    if known.any():
        others = np.tile(base, (int(known.sum()), 1))
        others[np.arange(others.shape[0]), reason[known]] = 0.0
        others = others / others.sum(axis=1, keepdims=True) * (1 - tx.STATED_TRUE)
        others[np.arange(others.shape[0]), reason[known]] = tx.STATED_TRUE
        out[known] = others
    assert out.shape[1] == n_r
    return out


@dataclass
class ContactModel:
    """Per-row reach and win-back probabilities of a plan."""

    reach: np.ndarray  # (n, 3)
    win: np.ndarray  # (n, n_strategies, 3): P(won | reached) per strategy and attempt
    stated: np.ndarray  # (n, n_reasons)
    churned: np.ndarray  # (n,) bool


def contact_model(plan: Plan, *, churned: np.ndarray, reason: np.ndarray, months_gone: np.ndarray,
                  preferred: np.ndarray) -> ContactModel:
    """Reach and win-back probabilities for every row (whatever its group)."""
    ch = plan.channels
    has = ch >= 0
    chi = np.where(has, ch, 0)
    reach = tx.REACH[chi] * np.where(chi == preferred[:, None], tx.PREFERRED_REACH_BOOST, 1.0)
    reach = np.where(has, np.minimum(reach, 0.95), 0.0)
    table = tx.uplift_table()  # (S, R)
    base = table[:, np.where(reason >= 0, reason, 0)].T  # (n, S)
    fresh = 0.5 + 0.5 * np.exp(-np.maximum(months_gone, 0.0) / FRESH_MONTHS)
    boost = 1.0 + 0.3 * np.minimum(1.0, plan.offer_value / 50.0)
    scale = (fresh * boost)[:, None, None] * tx.PERSUASION[chi][:, None, :]  # (n, 1, 3)
    win = np.minimum(MAX_WIN, base[:, :, None] * scale)
    win = np.where(churned[:, None, None] & has[:, None, :], win, 0.0)
    return ContactModel(reach, win, stated_reason_probs(np.where(churned, reason, -1)), churned)


def win_probability(plan: Plan, model: ContactModel) -> np.ndarray:
    """Exact P(won back) over the contact sequence of each row, had it been contacted.

    Backward recursion over attempts j = 3, 2, 1 with ``W_4 = 0``. A fixed strategy s:
    ``W_j(s) = r_j [u_j(s) + (1 - u_j(s)) c W_{j+1}(s)] + (1 - r_j) W_{j+1}(s)``, where
    ``c`` = P(no definite answer | reached, not won). A care/survey contact:
    ``V_j = r_j [u_j(cs) + (1 - u_j(cs)) k sum_r P(state r) W_{j+1}(script(r))] + (1 - r_j) V_{j+1}``
    with ``k`` = P(agrees to the follow-up).
    """
    n = plan.cust.size
    n_s = len(tx.STRATEGIES)
    cont = tx.RESPONSE_CHURNED[2] + tx.RESPONSE_CHURNED[3]
    w_next = np.zeros((n, n_s))
    v_next = np.zeros(n)
    cs = tx.S["care_survey"]
    for j in (2, 1, 0):
        r = model.reach[:, j][:, None]
        u = model.win[:, :, j]
        w = r * (u + (1 - u) * cont * w_next) + (1 - r) * w_next
        follow = (model.stated * w_next[:, plan.scripts]).sum(axis=1)
        uc = model.win[:, cs, j]
        v = model.reach[:, j] * (uc + (1 - uc) * tx.SURVEY_CONTINUE * follow) + (1 - model.reach[:, j]) * v_next
        w_next, v_next = w, v
    strat = np.where(plan.strategy >= 0, plan.strategy, 0)
    fixed = w_next[np.arange(n), strat]
    out = np.where(plan.strategy == cs, v_next, fixed)
    return np.where(plan.strategy >= 0, out, 0.0)


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    return np.minimum((u[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)


def run_contacts(rng: np.random.Generator, plan: Plan, model: ContactModel, rows: np.ndarray, *,
                 month_start: float, contact_hours: np.ndarray) -> dict[str, np.ndarray]:
    """Simulate the contact attempts of ``rows`` (positions in the plan).

    Returns per attempt made: ``row``, ``attempt`` (1..3), ``channel``, ``hour_t`` (contact
    time, days from the epoch, wall clock), ``proc_t`` (the same instant in process time),
    ``reached``, ``response`` (-1 when not reached), ``stated`` (-1 none), ``satisfaction``
    (0 none), ``strategy``; and per row ``won`` and ``won_t`` (process time of the contact
    that won the customer back, ``nan`` otherwise).
    """
    n = rows.size
    day = np.zeros((n, 3))
    day[:, 0] = np.floor(rng.random(n) * 7)
    day[:, 1] = day[:, 0] + 3 + np.floor(rng.random(n) * 5)
    day[:, 2] = day[:, 1] + 3 + np.floor(rng.random(n) * 5)
    lo, hi = contact_hours[:, 0], contact_hours[:, 1]
    hours = lo[:, None] + rng.random((n, 3)) * (hi - lo)[:, None]
    active = np.ones(n, bool)
    survey = plan.strategy[rows] == tx.S["care_survey"]
    current = plan.strategy[rows].copy()
    won = np.zeros(n, bool)
    won_t = np.full(n, np.nan)
    churned = model.churned[rows]
    out: dict[str, list] = {k: [] for k in ("row", "attempt", "channel", "hour_t", "proc_t", "reached",
                                            "response", "stated", "satisfaction", "strategy")}
    for j in range(3):
        ch = plan.channels[rows, j]
        do = np.flatnonzero(active & (ch >= 0))
        if do.size == 0:
            continue
        r = rows[do]
        reached = rng.random(do.size) < model.reach[r, j]
        strat = np.where(survey[do], tx.S["care_survey"], current[do])
        u = model.win[r, strat, j]
        win = reached & (rng.random(do.size) < u)
        response = np.full(do.size, -1)
        stated = np.full(do.size, -1)
        response[win] = 0  # accepted
        # a reached care/survey contact states a reason; if not won back: follow-up or refusal
        asked = reached & survey[do]
        if asked.any():
            stated[asked] = _categorical(rng, model.stated[r[asked]])
        sv = asked & ~win
        if sv.any():
            agree = rng.random(int(sv.sum())) < tx.SURVEY_CONTINUE
            response[sv] = np.where(agree, 3, 1)  # callback / declined
            idx = do[sv]
            current[idx] = plan.scripts[stated[sv]]
            survey[idx] = False
        fx = reached & ~win & ~survey[do] & ~sv
        if fx.any():
            probs = np.where(churned[do[fx]][:, None], tx.RESPONSE_CHURNED, tx.RESPONSE_ALIVE)
            response[fx] = _categorical(rng, probs)
            volunteer = rng.random(int(fx.sum())) < tx.VOLUNTEER_REASON
            vs = _categorical(rng, model.stated[r[fx]])
            stated[fx] = np.where(volunteer, vs, -1)
        proc = month_start + day[do, j] + np.clip((hours[do, j] - 8.0) / 14.0, 0.0, 1.0)
        won[do[win]] = True
        won_t[do[win]] = proc[win]
        stop = win | (reached & np.isin(response, (0, 1)))
        active[do[stop]] = False
        sat = np.where(reached & (rng.random(do.size) < 0.4),
                       np.where(churned[do], rng.integers(1, 4, do.size), rng.integers(3, 6, do.size)), 0)
        out["row"].append(r)
        out["attempt"].append(np.full(do.size, j + 1))
        out["channel"].append(ch[do])
        out["hour_t"].append(month_start + day[do, j] + hours[do, j] / 24.0)
        out["proc_t"].append(proc)
        out["reached"].append(reached)
        out["response"].append(response)
        out["stated"].append(stated)
        out["satisfaction"].append(sat)
        out["strategy"].append(strat)
    res = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in out.items()}
    res["won_rows"] = rows[won]
    res["won_t"] = won_t[won]
    return res
