"""Staffing and budget of a campaign month's contact calendar.

**Staffing** compares, per channel, the agent-days the planned contacts need with the
agent-days the team provides over the contact days:

* contacts needed = contacts scheduled on the channel + contacts planned on it that did
  not fit (unscheduled, by their assigned channel);
* agent-days needed = ceil(contacts needed / contacts per agent-day);
* agent-days available = agents x contact days;
* agents needed = ceil(contacts needed / (contacts per agent-day x contact days)).

**Budget** prices the calendar as scheduled, in the engagement's currency:

* people: agent time x the channel's day rate. ``people_cost: time_used`` (default) counts
  the agent-days the scheduled contacts take (contacts / contacts per agent-day, a
  fraction: the agents of a shared call centre do other work the rest of the day);
  ``days_worked`` counts every agent x day with at least one contact as a full day (a
  team dedicated to the campaign);
* materials: contacts scheduled x the channel's cost per contact (SMS fees, call charges,
  printed material), plus the campaign's fixed items (offer design, scripts, training);
* marketing: one offer per customer with at least one scheduled contact; its expected
  cost is the offer value x the chance it is redeemed (the customer's ``p_winback`` from
  stage 4, or a flat rate from params), plus a handling cost per offer issued.

The total is compared with the campaign's budget cap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from winback.config import Section
from winback.contract import CONTACT_CHANNELS
from winback.messages import check_language, label
from winback.messages import t as message

if TYPE_CHECKING:  # pragma: no cover
    from winback.schedule import ChannelTeam, Schedule

__all__ = [
    "BUDGET_CATEGORIES",
    "BudgetError",
    "BudgetParams",
    "budget_by_program",
    "budget_summary",
    "campaign_budget",
    "program_budget",
    "describe_budget",
    "describe_staffing",
    "staffing",
    "write_program_budget",
]

BUDGET_CATEGORIES = ("people", "materials", "marketing")
PROGRAM_BUDGET_COLUMNS = ["month", "program", "category", "own", "shared", "amount"]


class BudgetError(ValueError):
    """The budget cannot be computed (a channel without a price, bad offer values)."""


def _channels(value: dict[str, float], what: str) -> dict[str, float]:
    unknown = sorted(set(value) - CONTACT_CHANNELS)
    if unknown:
        raise ValueError(f"{what}: {', '.join(unknown)} not contact channels "
                         f"({', '.join(sorted(CONTACT_CHANNELS))})")
    if any(v < 0 for v in value.values()):
        raise ValueError(f"{what}: costs must be >= 0")
    return value


class BudgetParams(Section):
    """``schedule.budget`` params: unit costs and the cap (currency units)."""

    cap: float = Field(ge=0)
    day_rate: dict[str, float]
    unit_cost: dict[str, float]
    fixed: dict[str, float] = Field(default_factory=dict)
    offer_redemption: Literal["p_winback"] | float = "p_winback"
    offer_handling: float = Field(0.0, ge=0)
    people_cost: Literal["time_used", "days_worked"] = "time_used"

    @field_validator("day_rate")
    @classmethod
    def _day_rate(cls, value: dict[str, float]) -> dict[str, float]:
        return _channels(value, "day_rate")

    @field_validator("unit_cost")
    @classmethod
    def _unit_cost(cls, value: dict[str, float]) -> dict[str, float]:
        return _channels(value, "unit_cost")

    @field_validator("fixed")
    @classmethod
    def _fixed(cls, value: dict[str, float]) -> dict[str, float]:
        if any(v < 0 for v in value.values()):
            raise ValueError("fixed costs must be >= 0")
        return value

    @field_validator("offer_redemption")
    @classmethod
    def _redemption(cls, value):
        if isinstance(value, float | int) and not 0 <= value <= 1:
            raise ValueError("offer_redemption is p_winback or a share between 0 and 1")
        return value


# --------------------------------------------------------------------------------------
# Staffing
# --------------------------------------------------------------------------------------


def staffing(schedule: Schedule, *, teams: dict[str, ChannelTeam]) -> pd.DataFrame:
    """Agent-days needed vs available per channel (see the module docstring).

    Parameters
    ----------
    schedule
        The month's :class:`winback.schedule.Schedule`.
    teams
        ``params.schedule.teams``: agents and contacts per agent-day of each channel.

    Returns
    -------
    pandas.DataFrame
        One row per channel with contacts or a team: ``channel``, ``agents``,
        ``per_agent_day``, ``contact_days``, ``contacts_needed``, ``contacts_scheduled``,
        ``contacts_unscheduled``, ``agent_days_needed``, ``agent_days_available``,
        ``agent_days_used``, ``agents_needed``, ``shortfall_agent_days``, ``fits``.
        Needs of a channel without a team (no agents) are empty (NaN): no contact can be
        made on it at any staffing. ``fits``: the team provides the agent-days needed
        (contacts may still be unscheduled for other reasons: the gap between attempts,
        time slots; see the schedule's ``unscheduled`` table).
    """
    cal, uns = schedule.calendar, schedule.unscheduled
    n_days = len(schedule.days)
    scheduled = cal.groupby("channel").size()
    unscheduled = uns.groupby("channel").size()
    used = cal.drop_duplicates(["agent", "day"]).groupby("channel").size()
    names = sorted(set(scheduled.index) | set(unscheduled.index)
                   | {c for c, t in teams.items() if t.agents > 0})
    rows = []
    for ch in names:
        team = teams.get(ch)
        agents = team.agents if team is not None and team.staffed else 0
        per_day = team.per_agent_day if team is not None and team.staffed else 0
        s, u = int(scheduled.get(ch, 0)), int(unscheduled.get(ch, 0))
        need = s + u
        if per_day > 0:
            days_needed = float(math.ceil(need / per_day))
            agents_needed = float(math.ceil(need / (per_day * n_days))) if n_days else (
                0.0 if need == 0 else np.nan)
        else:
            days_needed = agents_needed = 0.0 if need == 0 else np.nan
        available = agents * n_days
        shortfall = (max(days_needed - available, 0.0) if not np.isnan(days_needed)
                     else np.nan)
        rows.append({
            "channel": ch, "agents": agents, "per_agent_day": per_day, "contact_days": n_days,
            "contacts_needed": need, "contacts_scheduled": s, "contacts_unscheduled": u,
            "agent_days_needed": days_needed, "agent_days_available": available,
            "agent_days_used": int(used.get(ch, 0)), "agents_needed": agents_needed,
            "shortfall_agent_days": shortfall,
            "fits": bool(need == 0 or (not np.isnan(shortfall) and shortfall == 0)),
        })
    cols = ["channel", "agents", "per_agent_day", "contact_days", "contacts_needed",
            "contacts_scheduled", "contacts_unscheduled", "agent_days_needed",
            "agent_days_available", "agent_days_used", "agents_needed", "shortfall_agent_days",
            "fits"]
    out = pd.DataFrame(rows, columns=cols)
    ints = ["agents", "per_agent_day", "contact_days", "contacts_needed", "contacts_scheduled",
            "contacts_unscheduled", "agent_days_available", "agent_days_used"]
    floats = ["agent_days_needed", "agents_needed", "shortfall_agent_days"]
    return out.astype({"channel": "str", **dict.fromkeys(ints, "int64"),
                       **dict.fromkeys(floats, "float64"), "fits": "bool"})


def describe_staffing(table: pd.DataFrame, *, language: str = "en") -> str:
    """A computed sentence on whether the teams cover the planned contacts, in ``language``."""
    lang = check_language(language)
    if table.empty:
        return message("text.budget.no_contact", lang)
    short = table.loc[~table["fits"]]
    if short.empty:
        busiest = table.loc[table["agent_days_available"] > 0]
        if busiest.empty:
            return message("text.budget.all_fit", lang)
        capacity = busiest["per_agent_day"] * busiest["agent_days_available"]
        ranked = busiest.assign(load=busiest["contacts_needed"] / capacity).sort_values(
            ["load", "contacts_needed"], ascending=False, kind="stable")
        top = ranked.iloc[0]
        return message("text.budget.busiest", lang, channel=label("channel", top["channel"], lang),
                       load=top["load"], n=top["contacts_needed"], need=top["agent_days_needed"],
                       avail=top["agent_days_available"])
    parts = []
    for _, r in short.iterrows():
        channel = label("channel", r["channel"], lang)
        if r["agents"] == 0:
            parts.append(message("text.budget.no_team", lang, channel=channel,
                                 n=r["contacts_needed"]))
        else:
            parts.append(message("text.budget.short_item", lang, channel=channel,
                                 days=_days(r["agent_days_needed"], lang),
                                 avail=r["agent_days_available"], need=r["agents_needed"],
                                 agents=r["agents"]))
    return message("text.budget.short", lang, items=message("common.clause_sep", lang).join(parts))


def _days(n: float, language: str = "en") -> str:
    return message("text.budget.day" if n == 1 else "text.budget.days", language, n=n)


# --------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------


def _price(table: dict[str, float], channel: str, key: str) -> float:
    if channel not in table:
        raise BudgetError(f"Contacts are scheduled on channel {channel!r} but params "
                          f"schedule.budget.{key} has no price for it: add "
                          f"schedule.budget.{key}.{channel}.")
    return float(table[channel])


def campaign_budget(schedule: Schedule, campaign: pd.DataFrame, *, budget: BudgetParams,
                    teams: dict[str, ChannelTeam] | None = None) -> pd.DataFrame:
    """The campaign's budget lines: people, materials and marketing (see the module docstring).

    Parameters
    ----------
    schedule
        The month's contact calendar.
    campaign
        The month's ``campaign_log`` rows; ``offer_value`` (currency units) and, when
        ``offer_redemption`` is ``p_winback``, ``p_winback`` are read for the customers
        with a scheduled contact.
    budget
        ``params.schedule.budget``.
    teams
        ``params.schedule.teams`` (contacts per agent-day), needed when ``people_cost`` is
        ``time_used``.

    Returns
    -------
    pandas.DataFrame
        ``category`` (people | materials | marketing), ``item``, ``channel`` (empty for
        items not tied to one), ``quantity``, ``unit``, ``unit_cost``, ``amount``
        (= quantity x unit_cost, currency units).
    """
    cal = schedule.calendar
    rows: list[dict] = []
    if budget.people_cost == "days_worked":
        worked = cal.drop_duplicates(["agent", "day"]).groupby("channel", sort=True).size()
        for ch, n in worked.items():
            rate = _price(budget.day_rate, ch, "day_rate")
            rows.append(_line("people", "agent-days worked", ch, float(n), "agent-day", rate))
    else:
        for ch, n in cal.groupby("channel", sort=True).size().items():
            team = (teams or {}).get(ch)
            if team is None or team.per_agent_day <= 0:
                raise BudgetError(
                    f"people_cost: time_used needs the contacts per agent-day of channel "
                    f"{ch!r}: pass teams=params.schedule.teams (or set "
                    "schedule.budget.people_cost: days_worked).")
            rate = _price(budget.day_rate, ch, "day_rate")
            rows.append(_line("people", "agent time", ch, n / team.per_agent_day,
                              "agent-day", rate))
    contacts = cal.groupby("channel", sort=True).size()
    for ch, n in contacts.items():
        cost = _price(budget.unit_cost, ch, "unit_cost")
        rows.append(_line("materials", "contacts", ch, int(n), "contact", cost))
    for item, amount in budget.fixed.items():
        rows.append(_line("materials", item, None, 1, "campaign", float(amount)))

    reached = pd.Index(cal["customer_id"].unique())
    camp = campaign.assign(customer_id=campaign["customer_id"].astype("str"))
    camp = camp.loc[camp["customer_id"].isin(reached)].drop_duplicates("customer_id")
    if "offer_value" in camp.columns:
        value = pd.to_numeric(camp["offer_value"], errors="coerce")
        bad = value.isna() & camp["offer_value"].notna() | (value < 0)
        if bad.any():
            raise BudgetError(
                f"campaign_log: offer_value is not a non-negative amount for customers "
                f"{', '.join(camp.loc[bad, 'customer_id'].head(10))}; rerun stage 4.")
        value = value.fillna(0.0)
    else:
        value = pd.Series(0.0, index=camp.index)
    offered = value > 0
    n_offers = int(offered.sum())
    if budget.offer_redemption == "p_winback":
        if "p_winback" not in camp.columns:
            raise BudgetError("campaign_log has no p_winback column, needed by "
                              "schedule.budget.offer_redemption: p_winback; set a rate instead.")
        chance = pd.to_numeric(camp["p_winback"], errors="coerce")
        missing = offered & chance.isna()
        if missing.any():
            raise BudgetError(
                f"campaign_log: p_winback is missing for offered customers "
                f"{', '.join(camp.loc[missing, 'customer_id'].head(10))}; rerun stage 4 or "
                "set schedule.budget.offer_redemption to a rate.")
        chance = chance.fillna(0.0).clip(0, 1)
        what = "offers redeemed (expected, p_winback)"
    else:
        chance = pd.Series(float(budget.offer_redemption), index=camp.index)
        what = f"offers redeemed (expected, {budget.offer_redemption:.0%})"
    expected = float((value * chance)[offered].sum())
    rows.append(_line("marketing", what, None, n_offers, "offer",
                      expected / n_offers if n_offers else 0.0, amount=expected))
    rows.append(_line("marketing", "offer handling", None, n_offers, "offer",
                      budget.offer_handling))
    out = pd.DataFrame(rows, columns=["category", "item", "channel", "quantity", "unit",
                                      "unit_cost", "amount"])
    return out.astype({"category": "str", "item": "str", "channel": "str", "quantity": "float64",
                       "unit": "str", "unit_cost": "float64", "amount": "float64"})


def _line(category: str, item: str, channel: str | None, quantity: float, unit: str,
          unit_cost: float, amount: float | None = None) -> dict:
    return {"category": category, "item": item, "channel": channel, "quantity": quantity,
            "unit": unit, "unit_cost": float(unit_cost),
            "amount": float(quantity * unit_cost if amount is None else amount)}


def budget_summary(lines: pd.DataFrame, *, cap: float) -> pd.DataFrame:
    """Budget by category, the total, and the cap.

    Returns ``category`` (people, materials, marketing, total), ``amount`` and
    ``share_of_cap`` (amount / cap; NaN when the cap is 0).
    """
    by = lines.groupby("category")["amount"].sum().reindex(list(BUDGET_CATEGORIES),
                                                           fill_value=0.0)
    out = pd.DataFrame({"category": [*BUDGET_CATEGORIES, "total"],
                        "amount": [*by.to_numpy(), float(by.sum())]})
    out["share_of_cap"] = out["amount"] / cap if cap > 0 else np.nan
    return out.astype({"category": "str", "amount": "float64", "share_of_cap": "float64"})


def describe_budget(lines: pd.DataFrame, *, cap: float, currency: str = "CNY",
                    language: str = "en") -> str:
    """A computed sentence saying whether the campaign's budget fits the cap, in ``language``."""
    lang = check_language(language)
    summary = budget_summary(lines, cap=cap).set_index("category")["amount"]
    total = float(summary["total"])
    parts = message("text.common.comma", lang).join(
        f"{label('budget_category', c, lang)} {summary[c]:,.0f}" for c in BUDGET_CATEGORIES)
    head = message("text.budget.head", lang, currency=currency, total=total, parts=parts)
    if total <= cap:
        key = "text.budget.fits_share" if cap > 0 else "text.budget.fits"
        return message(key, lang, head=head, share=total / cap if cap > 0 else 0.0,
                       currency=currency, cap=cap, spare=cap - total)
    return message("text.budget.over", lang, head=head, currency=currency, cap=cap,
                   over=total - cap)


def budget_by_program(schedule: Schedule, campaign: pd.DataFrame, *, budget: BudgetParams,
                      teams: dict[str, ChannelTeam] | None = None) -> pd.DataFrame:
    """The campaign's cost per program: win-back, preventive care, and what they share.

    Every line of :func:`campaign_budget` goes to the program of the contacts it pays for:
    people and contact costs of a channel split by the program's share of the channel's
    scheduled contacts (exact for ``people_cost: time_used``, a pro-rata share of the
    agent-days for ``days_worked``), marketing priced on the program's own offers; the
    campaign's fixed items are ``shared``. The rows add up to :func:`campaign_budget`'s total.

    Parameters
    ----------
    schedule, campaign, budget, teams
        As :func:`campaign_budget`; ``campaign`` rows without a ``program`` (a log written
        before programs were told apart) are win-back.

    Returns
    -------
    pandas.DataFrame
        ``program`` (``winback``, ``preventive``, ``shared``, ``total``), ``customers`` and
        ``contacts`` scheduled, ``people``, ``materials``, ``marketing`` and ``total``
        (currency units).
    """
    from dataclasses import replace

    lines = campaign_budget(schedule, campaign, budget=budget, teams=teams)
    ids = campaign["customer_id"].astype(str)
    program = (campaign["program"].astype(object).where(campaign["program"].notna(), "winback")
               if "program" in campaign.columns else pd.Series("winback", index=campaign.index))
    of = dict(zip(ids, program.astype(str), strict=True))
    cal = schedule.calendar.assign(
        program=schedule.calendar["customer_id"].astype(str).map(of).fillna("winback"))
    programs = ["winback", "preventive"]
    per_channel = (cal.groupby(["channel", "program"]).size().unstack(fill_value=0)
                   .reindex(columns=programs, fill_value=0))
    rows = {p: dict.fromkeys(BUDGET_CATEGORIES, 0.0) for p in [*programs, "shared"]}
    for line in lines.itertuples():
        if line.category == "marketing":
            continue
        if line.channel in per_channel.index:
            counts = per_channel.loc[line.channel]
            for p in programs:
                rows[p][line.category] += line.amount * counts[p] / max(int(counts.sum()), 1)
        else:
            rows["shared"][line.category] += line.amount
    for p in programs:
        own = replace(schedule, calendar=cal[cal["program"] == p].drop(columns="program"))
        sub = campaign_budget(own, campaign, budget=budget, teams=teams)
        rows[p]["marketing"] = float(sub.loc[sub["category"] == "marketing", "amount"].sum())
    out = pd.DataFrame.from_dict(rows, orient="index")[list(BUDGET_CATEGORIES)]
    out.insert(0, "contacts", per_channel.sum().reindex(out.index, fill_value=0))
    out.insert(0, "customers", cal.groupby("program")["customer_id"].nunique()
               .reindex(out.index, fill_value=0))
    out["total"] = out[list(BUDGET_CATEGORIES)].sum(axis=1)
    out.loc["total"] = out.sum()
    out.index.name = "program"
    out = out.reset_index()
    return out.astype({"program": "str", "customers": "int64", "contacts": "int64",
                       **dict.fromkeys([*BUDGET_CATEGORIES, "total"], "float64")})


def program_budget(by_program: pd.DataFrame, *, month: str) -> pd.DataFrame:
    """A month's campaign budget per program and category, the shared items allocated.

    The campaign's shared (fixed) items go to the programs in proportion to the contacts
    each program has scheduled: program p gets ``shared x contacts_p / contacts`` of every
    category; when no contact is scheduled at all, win-back takes the whole shared part.
    The ``amount`` rows add up to :func:`budget_by_program`'s total.

    Parameters
    ----------
    by_program
        :func:`budget_by_program`'s table (rows ``winback``, ``preventive``, ``shared``,
        ``total``; ``contacts`` and the category columns, currency units).
    month
        The campaign month (``YYYY-MM``) the budget belongs to.

    Returns
    -------
    pandas.DataFrame
        ``month``, ``program`` (winback | preventive), ``category`` (people | materials |
        marketing), ``own`` (the program's lines), ``shared`` (its part of the shared items)
        and ``amount`` (= own + shared), currency units; the ``campaign_budget`` table.

    Raises
    ------
    BudgetError
        ``by_program`` lacks a program row or a column.
    """
    programs = ["winback", "preventive"]
    need = ["program", "contacts", *BUDGET_CATEGORIES]
    missing = [c for c in need if c not in by_program.columns]
    rows_missing = sorted(set([*programs, "shared"]) - set(by_program.get("program", [])))
    if missing or rows_missing:
        raise BudgetError(f"program_budget: the table lacks column(s) {missing} or program "
                          f"row(s) {rows_missing}; pass budget_by_program's table.")
    table = by_program.set_index("program")
    contacts = table.loc[programs, "contacts"].astype(float)
    total = float(contacts.sum())
    share = contacts / total if total > 0 else pd.Series([1.0, 0.0], index=programs)
    rows = []
    for p in programs:
        for cat in BUDGET_CATEGORIES:
            own = float(table.loc[p, cat])
            shared = float(table.loc["shared", cat]) * float(share[p])
            rows.append({"month": str(month), "program": p, "category": cat, "own": own,
                         "shared": shared, "amount": own + shared})
    out = pd.DataFrame(rows, columns=PROGRAM_BUDGET_COLUMNS)
    return out.astype({"month": "str", "program": "str", "category": "str", "own": "float64",
                       "shared": "float64", "amount": "float64"})


def write_program_budget(con, month: str, by_program: pd.DataFrame) -> pd.DataFrame:
    """Store the month's :func:`program_budget` in table ``campaign_budget`` (month replaced).

    Stage 6 reads it to add each program's campaign overhead to the cost of its evaluation.
    Returns the rows written.
    """
    from winback.store import replace_month

    frame = program_budget(by_program, month=month)
    replace_month(con, "campaign_budget", str(month), frame)
    return frame
