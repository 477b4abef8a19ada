"""Stage 5: the campaign's 8-week plan and the day-by-day contact calendar.

Month M's campaign (the ``campaign_log`` rows of M, written by stage 4) is executed by the
call centre during month M+1, the *execution month*. This module turns it into

* the **campaign plan**: the methodology's eight weeks as dated tasks (a Gantt chart).
  Preparation (weeks 1-2: team, offer design, materials, training) does not need the
  month's target list, so it runs in the last weeks of M while the month's data closes:
  the plan starts ``plan.lead_weeks`` weeks before the first working day of M+1. With the
  default ``lead_weeks: 2`` the warm-up week (3) starts on the first working day of M+1,
  once the month-M run has produced the list, and the execution weeks (4-6) run from the
  second week of M+1 to about its 28th day; follow-up (weeks 7-8) reaches into M+2.
* the **contact days**: working days (weekdays in params, minus public holidays, plus the
  official make-up working days) that fall in the execution weeks *and* inside M+1. When a
  holiday delays the first working day (October's National Day week), the days of the
  execution weeks that spill into M+2 are cut, never moved.
* the **contact calendar**: each treated customer's contacts 1, 2, 3 assigned to a day, a
  time slot and an agent of the contact's channel, under each agent's daily capacity,
  with a minimum gap between attempts. Customers are served in order of expected value
  (highest first), so a shortage of capacity leaves out the least valuable contacts; each
  attempt takes the earliest allowed day with room. On that day the customer's preferred channel
  replaces the assigned one for the attempts listed in ``preferred_channel_attempts``
  when that channel is staffed and has room, and the customer's preferred time slot is
  taken when it has room (``contact_time: prefer``) or required (``strict``). A later
  attempt is never planned before an earlier one: when attempt k cannot be placed,
  attempts after it are reported unscheduled too. Everything that does not fit is in the
  ``unscheduled`` table with its reason, never dropped silently. With ``pacing: level``
  the first contacts are spread evenly over the execution weeks (the most valuable
  customers on the first days) so agents get an even workload; with ``earliest`` every
  contact goes as early as capacity allows.

Control-group customers are never scheduled; a do-not-contact customer in the treatment
group is an error (stage 4 must not have targeted them). The calendar carries customer ids
only; names and phone numbers are read by :mod:`winback.exports` when writing the
call-centre files, nowhere else.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from winback.budget import BudgetParams
from winback.config import Section
from winback.contract import CONTACT_CHANNELS
from winback.exports import ExportParams
from winback.messages import check_language, label
from winback.messages import t as message
from winback.store import fetch_df, has_table, read_month, replace_month

__all__ = [
    "CAMPAIGN_COLUMNS",
    "SCHEDULE_COLUMNS",
    "UNSCHEDULED_REASONS",
    "CalendarParams",
    "ChannelTeam",
    "PhaseParams",
    "PlanParams",
    "Schedule",
    "ScheduleError",
    "ScheduleParams",
    "SlotParams",
    "TaskParams",
    "campaign_plan",
    "contact_days",
    "daily_load",
    "describe_schedule",
    "describe_window",
    "execution_month",
    "load_campaign",
    "load_contact_preferences",
    "plan_start",
    "schedule_contacts",
    "unscheduled_summary",
    "working_days",
    "write_schedule",
]

CAMPAIGN_COLUMNS = ("customer_id", "group", "channel_1", "channel_2", "channel_3",
                    "expected_value")
SCHEDULE_COLUMNS = ("month", "customer_id", "attempt", "day", "agent", "channel", "slot")
PREFERENCE_COLUMNS = ("customer_id", "preferred_channel", "preferred_contact_time",
                      "do_not_contact")
UNSCHEDULED_REASONS: dict[str, str] = {
    "channel_not_staffed": "the contact's channel has no agents (params schedule.teams)",
    "time_slot_not_staffed": "the channel does not work the customer's required time slot "
                             "(contact_time: strict)",
    "no_capacity": "every slot of the channel is full on the remaining contact days",
    "no_day_after_gap": "no contact day left at least min_gap_days after the previous attempt",
    "earlier_attempt_unscheduled": "an earlier attempt of the customer could not be placed",
    "no_contact_days": "the execution weeks have no working day inside the execution month",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScheduleError(ValueError):
    """The campaign or the params cannot be scheduled; the message names rows and a fix."""


# --------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------


def _week_span(value: tuple[int, int]) -> tuple[int, int]:
    first, last = value
    if first < 1 or last < first:
        raise ValueError(f"weeks [{first}, {last}]: write [first, last] with 1 <= first <= last")
    return value


class PhaseParams(Section):
    """One phase of the campaign plan: its plan weeks and its labels."""

    weeks: tuple[int, int]
    en: str
    zh: str

    @field_validator("weeks")
    @classmethod
    def _weeks(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _week_span(value)


class TaskParams(Section):
    """One task of the plan: the phase it belongs to, its weeks (inside the phase), labels."""

    phase: str
    weeks: tuple[int, int]
    en: str
    zh: str

    @field_validator("weeks")
    @classmethod
    def _weeks(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _week_span(value)


class PlanParams(Section):
    """The 8-week campaign plan (``schedule.plan``)."""

    lead_weeks: int = Field(2, ge=0, le=8)
    phases: dict[str, PhaseParams]
    tasks: list[TaskParams]

    @model_validator(mode="after")
    def _consistent(self) -> PlanParams:
        if "execution" not in self.phases:
            raise ValueError("phases must include 'execution' (the weeks of one-to-one "
                             f"contacts); phases given: {', '.join(self.phases)}")
        first = self.phases["execution"].weeks[0]
        if first <= self.lead_weeks:
            raise ValueError(
                f"execution starts in plan week {first}, but lead_weeks = {self.lead_weeks} "
                "puts that week before the execution month (contacts must fall in month M+1): "
                f"set lead_weeks below {first}")
        for task in self.tasks:
            phase = self.phases.get(task.phase)
            if phase is None:
                raise ValueError(f"task {task.en!r}: phase {task.phase!r} is not one of "
                                 f"{', '.join(self.phases)}")
            if task.weeks[0] < phase.weeks[0] or task.weeks[1] > phase.weeks[1]:
                raise ValueError(f"task {task.en!r}: weeks {list(task.weeks)} fall outside its "
                                 f"phase {task.phase!r} (weeks {list(phase.weeks)})")
        return self


class CalendarParams(Section):
    """Working days of the call centre (``schedule.calendar``)."""

    working_weekdays: list[Weekday] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1)
    holidays: list[dt.date] = Field(default_factory=list)
    extra_working_days: list[dt.date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarParams:
        both = sorted(set(self.holidays) & set(self.extra_working_days))
        if both:
            raise ValueError(f"days listed both as holidays and as extra working days: "
                             f"{', '.join(map(str, both))}")
        return self


class SlotParams(Section):
    """A time slot of a contact day: its hours (shown in the call lists) and zh label."""

    hours: str
    zh: str


class ChannelTeam(Section):
    """The agents of one contact channel and what each can do on a working day."""

    agents: int = Field(ge=0)
    per_agent_day: int = Field(ge=0)
    slots: dict[str, float] = Field(default_factory=dict)

    @field_validator("slots")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if any(v < 0 for v in value.values()):
            raise ValueError("slot shares must be >= 0")
        if value and abs(sum(value.values()) - 1.0) > 1e-6:
            raise ValueError(f"slot shares must add up to 1 (share of an agent's day per slot), "
                             f"they add up to {sum(value.values()):g}")
        return value

    @property
    def staffed(self) -> bool:
        return self.agents > 0 and self.per_agent_day > 0 and bool(self.slots)


class ScheduleParams(Section):
    """``schedule`` params: plan, calendar, teams, rules of the contact calendar, budget, exports."""

    plan: PlanParams
    calendar: CalendarParams = Field(default_factory=CalendarParams)
    slots: dict[str, SlotParams]
    contact_times: dict[str, str] = Field(default_factory=dict)
    teams: dict[str, ChannelTeam]
    min_gap_days: int = Field(3, ge=0, le=28)
    preferred_channel_attempts: list[int] = Field(default_factory=lambda: [1])
    contact_time: Literal["prefer", "strict"] = "prefer"
    pacing: Literal["level", "earliest"] = "level"
    budget: BudgetParams
    exports: ExportParams = Field(default_factory=ExportParams)

    @field_validator("preferred_channel_attempts")
    @classmethod
    def _attempts(cls, value: list[int]) -> list[int]:
        bad = [a for a in value if a not in (1, 2, 3)]
        if bad:
            raise ValueError(f"attempts are 1, 2 or 3; got {bad}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleParams:
        problems = []
        unknown = sorted(set(self.teams) - CONTACT_CHANNELS)
        if unknown:
            problems.append(f"teams: {', '.join(unknown)} not contact channels "
                            f"({', '.join(sorted(CONTACT_CHANNELS))})")
        for channel, team in self.teams.items():
            bad = sorted(set(team.slots) - set(self.slots))
            if bad:
                problems.append(f"teams.{channel}.slots: {', '.join(bad)} not among the slots "
                                f"({', '.join(self.slots)})")
        bad = sorted({v for v in self.contact_times.values() if v not in self.slots})
        if bad:
            problems.append(f"contact_times map onto {', '.join(bad)}, not among the slots "
                            f"({', '.join(self.slots)})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def slot_labels(self) -> dict[str, dict[str, str]]:
        """``{"zh": {slot: label}, "en": {slot: slot}}`` for exports and charts."""
        return {"zh": {s: p.zh for s, p in self.slots.items()},
                "en": {s: s for s in self.slots}}


# --------------------------------------------------------------------------------------
# Calendar and plan
# --------------------------------------------------------------------------------------


def execution_month(month: str) -> str:
    """The month a campaign is executed in: ``month`` + 1 (``"2024-06"`` -> ``"2024-07"``)."""
    return str(pd.Period(month, "M") + 1)


def working_days(start, end, *, calendar: CalendarParams) -> pd.DatetimeIndex:
    """Working days from ``start`` to ``end`` inclusive (midnight timestamps).

    A day works when its weekday is in ``calendar.working_weekdays`` and it is not a
    holiday, or when it is an official make-up working day (``extra_working_days``,
    e.g. a Sunday worked before the Spring Festival).
    """
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(),
                         freq="D", unit="us")
    weekday = np.isin(days.day_of_week, [WEEKDAYS.index(d) for d in calendar.working_weekdays])
    holiday = days.isin(pd.DatetimeIndex(pd.to_datetime(calendar.holidays)))
    extra = days.isin(pd.DatetimeIndex(pd.to_datetime(calendar.extra_working_days)))
    return days[(weekday & ~holiday) | extra]


def _first_working_day(month: str, calendar: CalendarParams) -> pd.Timestamp:
    period = pd.Period(month, "M")
    days = working_days(period.start_time, period.end_time, calendar=calendar)
    if days.empty:
        raise ScheduleError(f"{month} has no working day under params schedule.calendar "
                            "(check working_weekdays and holidays).")
    return days[0]


def _check_holiday_years(month: str, calendar: CalendarParams) -> None:
    year = pd.Period(month, "M").year
    if calendar.holidays and year not in {d.year for d in calendar.holidays}:
        warnings.warn(
            f"params schedule.calendar.holidays lists no holiday in {year}: contact days of "
            f"{month} may fall on public holidays. Add {year}'s holidays (and make-up working "
            "days) to the params.", UserWarning, stacklevel=3)


def plan_start(month: str, *, plan: PlanParams, calendar: CalendarParams) -> pd.Timestamp:
    """First day of week 1 of campaign ``month``'s plan.

    The first working day of the execution month (``month`` + 1) minus
    ``plan.lead_weeks`` weeks.
    """
    return _first_working_day(execution_month(month), calendar) - pd.Timedelta(
        weeks=plan.lead_weeks)


def _week_dates(start: pd.Timestamp, weeks: tuple[int, int]) -> tuple[pd.Timestamp, pd.Timestamp]:
    return (start + pd.Timedelta(days=7 * (weeks[0] - 1)),
            start + pd.Timedelta(days=7 * weeks[1] - 1))


def contact_days(month: str, *, plan: PlanParams, calendar: CalendarParams) -> pd.DatetimeIndex:
    """Days on which campaign ``month``'s one-to-one contacts may be made.

    Working days of the execution weeks (phase ``execution``) that fall inside the
    execution month (``month`` + 1).
    """
    exe = execution_month(month)
    _check_holiday_years(exe, calendar)
    first, last = _week_dates(plan_start(month, plan=plan, calendar=calendar),
                              plan.phases["execution"].weeks)
    period = pd.Period(exe, "M")
    first = max(first, period.start_time.normalize())
    last = min(last, period.end_time.normalize())
    if last < first:
        return pd.DatetimeIndex([], dtype="datetime64[us]")
    return working_days(first, last, calendar=calendar)


def campaign_plan(month: str, *, plan: PlanParams, calendar: CalendarParams,
                  language: Literal["zh", "en"] = "en") -> pd.DataFrame:
    """The dated 8-week plan of campaign ``month``: one row per task (the Gantt chart's data).

    Parameters
    ----------
    month
        The campaign month ``YYYY-MM`` (executed in ``month`` + 1).
    plan, calendar
        ``params.schedule.plan`` and ``params.schedule.calendar``.
    language
        Language of the ``phase_label`` and ``task`` columns.

    Returns
    -------
    pandas.DataFrame
        ``phase``, ``phase_label``, ``task``, ``week_start``, ``week_end``, ``start``,
        ``end`` (first and last calendar day, inclusive), ``working_days`` (in the task's
        span; for the execution phase, the contact days inside the execution month).
    """
    start = plan_start(month, plan=plan, calendar=calendar)
    days = contact_days(month, plan=plan, calendar=calendar)
    rows = []
    for task in plan.tasks:
        first, last = _week_dates(start, task.weeks)
        phase = plan.phases[task.phase]
        if task.phase == "execution":
            n = int(((days >= first) & (days <= last)).sum())
        else:
            n = len(working_days(first, last, calendar=calendar))
        rows.append({
            "phase": task.phase,
            "phase_label": getattr(phase, language),
            "task": getattr(task, language),
            "week_start": task.weeks[0],
            "week_end": task.weeks[1],
            "start": first,
            "end": last,
            "working_days": n,
        })
    out = pd.DataFrame(rows, columns=["phase", "phase_label", "task", "week_start", "week_end",
                                      "start", "end", "working_days"])
    for col in ("start", "end"):
        out[col] = out[col].astype("datetime64[us]")
    return out.astype({"week_start": "int64", "week_end": "int64", "working_days": "int64"})


def describe_window(month: str, *, plan: PlanParams, calendar: CalendarParams,
                    language: str = "en") -> str:
    """One sentence on when campaign ``month``'s contacts run (for the notebook), in ``language``."""
    lang = check_language(language)
    exe = execution_month(month)
    days = contact_days(month, plan=plan, calendar=calendar)
    start = plan_start(month, plan=plan, calendar=calendar)
    weeks = plan.phases["execution"].weeks
    w_first, w_last = _week_dates(start, weeks)
    plan_end = start + pd.Timedelta(days=7 * max(p.weeks[1] for p in plan.phases.values()) - 1)
    head = message("text.schedule.window", lang, month=month, start=f"{start:%Y-%m-%d}",
                   end=f"{plan_end:%Y-%m-%d}", w0=weeks[0], w1=weeks[1],
                   d0=f"{w_first:%Y-%m-%d}", d1=f"{w_last:%Y-%m-%d}")
    if days.empty:
        return message("text.schedule.no_day", lang, head=head, exe=exe)
    cut = len(working_days(w_first, w_last, calendar=calendar)) - len(days)
    tail = message("text.schedule.cut", lang, exe=exe, n=cut) if cut else ""
    return message("text.schedule.days", lang, head=head, n=len(days), exe=exe,
                   first=f"{days[0]:%Y-%m-%d}", last=f"{days[-1]:%Y-%m-%d}", cut=tail)


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def load_campaign(con, month: str) -> pd.DataFrame:
    """Campaign ``month``'s rows of the store's ``campaign_log`` (treatment and control)."""
    return read_month(con, "campaign_log", month)


def load_contact_preferences(con) -> pd.DataFrame:
    """Contact preferences of every customer, from the store's ``customers`` (no PII).

    Returns ``customer_id``, ``preferred_channel``, ``preferred_contact_time``,
    ``do_not_contact``; optional columns the client does not deliver come back empty
    (``do_not_contact`` then false).
    """
    if not has_table(con, "customers"):
        raise ScheduleError("The store has no customers table: run stage 1 (data collection) "
                            "for the month first.")
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers'"
    ).fetchall()}
    if "customer_id" not in cols:
        raise ScheduleError("The store's customers table has no customer_id column: run "
                            "stage 1 (data collection) for the month first.")
    select = ", ".join(f'"{c}"' if c in cols else f"NULL AS {c}" for c in PREFERENCE_COLUMNS)
    frame = fetch_df(con, f"SELECT {select} FROM customers")
    return _preferences(frame)


def _preferences(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype("str")})
    for col in ("preferred_channel", "preferred_contact_time"):
        s = frame[col] if col in frame.columns else pd.Series(pd.NA, index=frame.index)
        out[col] = s.astype("str").str.strip()
    dnc = frame["do_not_contact"] if "do_not_contact" in frame.columns else pd.Series(
        False, index=frame.index)
    out["do_not_contact"] = dnc.astype("boolean").fillna(False).astype(bool)
    return out


def _ids(frame: pd.DataFrame, mask, limit: int = 10) -> str:
    ids = frame.loc[np.asarray(mask), "customer_id"].astype(str).tolist()
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _treatment(campaign: pd.DataFrame, preferences: pd.DataFrame, month: str) -> pd.DataFrame:
    """The treatment rows joined to preferences; refuse control/DNC/unknown customers."""
    missing = [c for c in CAMPAIGN_COLUMNS if c not in campaign.columns]
    if missing:
        raise ScheduleError(
            f"campaign_log {month}: column(s) {', '.join(missing)} missing; columns found: "
            f"{', '.join(map(str, campaign.columns))}. Rerun stage 4 (strategy design).")
    camp = campaign.copy()
    camp["customer_id"] = camp["customer_id"].astype("str")
    if "month" in camp.columns:
        other = camp["month"].astype(str) != month
        if other.any():
            raise ScheduleError(f"campaign_log rows of another month than {month} were given "
                                f"(customers {_ids(camp, other)}); pass one month's rows.")
    group = camp["group"].astype("str")
    bad = ~group.isin(["treatment", "control"])
    if bad.any():
        raise ScheduleError(
            f"campaign_log {month}: group must be treatment or control; "
            f"{int(bad.sum())} rows have {sorted(set(group[bad].fillna('<empty>')))[:5]} "
            f"(customers {_ids(camp, bad)}). Rerun stage 4.")
    treated = camp.loc[group == "treatment"].reset_index(drop=True)
    control_ids = set(camp.loc[group == "control", "customer_id"])
    both = treated["customer_id"].isin(control_ids)
    if both.any():
        raise ScheduleError(
            f"campaign_log {month}: {int(both.sum())} control-group customers are also in the "
            f"treatment group (customers {_ids(treated, both)}); a holdout customer is never "
            "contacted. Rerun stage 4 so every customer is in exactly one group.")
    dup = treated["customer_id"].duplicated(keep=False)
    if dup.any():
        raise ScheduleError(
            f"campaign_log {month}: customers appear in several treatment rows "
            f"({_ids(treated, dup)}); one row per customer is expected. Rerun stage 4.")
    ev = pd.to_numeric(treated["expected_value"], errors="coerce")
    if ev.isna().any():
        raise ScheduleError(
            f"campaign_log {month}: {int(ev.isna().sum())} treatment rows have no "
            f"expected_value (customers {_ids(treated, ev.isna())}); the calendar serves "
            "customers by expected value. Rerun stage 4.")
    treated["expected_value"] = ev.astype("float64")
    for k in (1, 2, 3):
        ch = treated[f"channel_{k}"].astype("str").str.strip()
        ch = ch.mask(ch.eq("").fillna(False))
        unknown = ch.notna() & ~ch.isin(sorted(CONTACT_CHANNELS))
        if unknown.any():
            raise ScheduleError(
                f"campaign_log {month}: channel_{k} has unknown channel(s) "
                f"{sorted(set(ch[unknown]))[:5]} (customers {_ids(treated, unknown)}); "
                f"channels: {', '.join(sorted(CONTACT_CHANNELS))}.")
        treated[f"channel_{k}"] = ch
    prefs = _preferences(preferences)
    joined = treated.merge(prefs, on="customer_id", how="left", indicator=True,
                           suffixes=("", "_customer"))
    unknown = joined["_merge"] == "left_only"
    if unknown.any():
        raise ScheduleError(
            f"campaign_log {month}: {int(unknown.sum())} treated customers are not in the "
            f"store's customers table ({_ids(joined, unknown)}); rerun stage 1 for the month, "
            "then stages 2-4.")
    dnc = joined["do_not_contact"].to_numpy(bool)
    if dnc.any():
        raise ScheduleError(
            f"campaign_log {month}: {int(dnc.sum())} do-not-contact customers are in the "
            f"treatment group ({_ids(joined, dnc)}); they must never be contacted. Rerun "
            "stage 4, which leaves do-not-contact customers out of every campaign.")
    return joined.drop(columns="_merge")


# --------------------------------------------------------------------------------------
# The contact calendar
# --------------------------------------------------------------------------------------


def _split(total: int, shares: dict[str, float], slots: list[str]) -> np.ndarray:
    """Integer capacity per slot adding up to ``total`` (largest remainder)."""
    raw = np.array([total * shares.get(s, 0.0) for s in slots])
    base = np.floor(raw + 1e-9).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        order = np.argsort(-(raw - base), kind="stable")
        order = [i for i in order if shares.get(slots[i], 0.0) > 0][:left]
        base[order] += 1
    return base


@dataclass(frozen=True)
class Schedule:
    """A campaign month's contact calendar.

    Attributes
    ----------
    month, execution_month
        The campaign month and the month its contacts are made in.
    days
        The contact days.
    calendar
        One row per scheduled contact: ``month`` (campaign month), ``customer_id``,
        ``attempt``, ``day``, ``agent``, ``channel``, ``slot`` (the store's
        ``contact_schedule``).
    unscheduled
        One row per planned contact not scheduled: ``customer_id``, ``attempt``,
        ``channel`` (assigned), ``expected_value``, ``reason``, ``detail``.
    capacity
        Contacts each agent can make per day and slot: ``channel``, ``agent``, ``day``,
        ``slot``, ``capacity``.
    treated
        Treated customers (after the refusal checks).
    switched
        Contacts moved to the customer's preferred channel.
    slot_preference
        Scheduled contacts of customers with a known preferred time, and how many got it.
    notes
        What a consultant should know (unmapped contact-time values, ...).
    """

    month: str
    execution_month: str
    days: pd.DatetimeIndex
    calendar: pd.DataFrame
    unscheduled: pd.DataFrame
    capacity: pd.DataFrame
    treated: int
    switched: int = 0
    slot_preference: tuple[int, int] = (0, 0)
    notes: tuple[str, ...] = field(default=())

    @property
    def planned(self) -> int:
        """Planned contacts: scheduled plus unscheduled."""
        return len(self.calendar) + len(self.unscheduled)

    def summary(self) -> pd.DataFrame:
        """Headline counts (one row per measure, no PII)."""
        scheduled_customers = self.calendar["customer_id"].nunique()
        rows = [
            ("treated customers", self.treated),
            ("customers with at least one contact", scheduled_customers),
            ("contacts planned", self.planned),
            ("contacts scheduled", len(self.calendar)),
            ("contacts unscheduled", len(self.unscheduled)),
            ("contact days", len(self.days)),
            ("contacts moved to the preferred channel", self.switched),
            ("contacts with a known preferred time", self.slot_preference[0]),
            ("... placed in the preferred time slot", self.slot_preference[1]),
        ]
        return pd.DataFrame(rows, columns=["measure", "value"]).astype({"value": "int64"})

    def __repr__(self) -> str:
        return (f"Schedule(month={self.month!r}, execution_month={self.execution_month!r}, "
                f"days={len(self.days)}, treated={self.treated}, scheduled={len(self.calendar)}, "
                f"unscheduled={len(self.unscheduled)})")


def _slot_preferences(prefs: pd.Series, mapping: dict[str, str],
                      slots: list[str]) -> tuple[np.ndarray, list[str]]:
    lookup = {**{s: s for s in slots}, **{str(k).strip(): v for k, v in mapping.items()}}
    text = prefs.astype("str").str.strip()
    mapped = text.map(lookup)
    unknown = text.notna() & mapped.isna()
    notes = []
    if unknown.any():
        counts = text[unknown].value_counts()
        shown = ", ".join(f"{k!r} ({v})" for k, v in counts.head(8).items())
        notes.append(message("text.schedule.unmapped_times", "en", shown=shown))
    code = mapped.map({s: i for i, s in enumerate(slots)})
    return code.fillna(-1).astype("int64").to_numpy(), notes


def schedule_contacts(campaign: pd.DataFrame, preferences: pd.DataFrame, *, month: str,
                      params: ScheduleParams) -> Schedule:
    """Assign each treated customer's contacts 1-3 to days, slots and agents under capacity.

    Parameters
    ----------
    campaign
        Campaign ``month``'s ``campaign_log`` rows: ``customer_id``, ``group``
        (treatment | control), ``channel_1``..``channel_3`` (empty: no such attempt),
        ``expected_value`` (currency units; the priority).
    preferences
        Customers' ``customer_id``, ``preferred_channel``, ``preferred_contact_time``,
        ``do_not_contact`` (:func:`load_contact_preferences`).
    month
        The campaign month ``YYYY-MM``; contacts are made in ``month`` + 1.
    params
        ``params.schedule``.

    Returns
    -------
    Schedule

    Raises
    ------
    ScheduleError
        A do-not-contact customer or a control-group customer is in the treatment group,
        a treated customer is unknown, a channel is not a contact channel, or an expected
        value is missing.

    Notes
    -----
    Greedy by customer: customers in decreasing expected value (ties by customer id); each
    attempt on the earliest contact day at least ``min_gap_days`` calendar days after the
    customer's previous attempt (the first attempt: on or after the customer's start day,
    see ``pacing``) that has room in an allowed channel and slot; within a
    day, the preferred channel (when allowed) before the assigned one, the preferred slot
    before the others, and the first agent of the team with room left (agents are filled in
    order, so a light day occupies as few agents as possible).
    Capacity of an agent in a slot: ``per_agent_day`` split over the team's slot shares
    (largest remainder, so the slots add up to ``per_agent_day``).
    """
    treated = _treatment(campaign, preferences, month)
    days = contact_days(month, plan=params.plan, calendar=params.calendar)
    slots = list(params.slots)
    channels = [c for c, t in params.teams.items() if t.staffed]
    ch_index = {c: i for i, c in enumerate(channels)}
    n_days, n_slots = len(days), len(slots)
    max_agents = max([params.teams[c].agents for c in channels], default=0)

    # remaining capacity [channel, day, slot, agent]; -1 marks agents a team does not have
    rem = np.full((len(channels), n_days, n_slots, max(max_agents, 1)), -1, dtype=np.int64)
    for c in channels:
        team = params.teams[c]
        per_slot = _split(team.per_agent_day, team.slots, slots)
        rem[ch_index[c], :, :, :team.agents] = per_slot[None, :, None]
    total = np.where(rem > 0, rem, 0).sum(axis=3)  # [channel, day, slot]
    capacity = _capacity_frame(rem, channels, days, slots, params)

    order = treated.sort_values(["expected_value", "customer_id"], ascending=[False, True],
                                kind="stable").reset_index(drop=True)
    pref_slot, notes = _slot_preferences(order["preferred_contact_time"],
                                         params.contact_times, slots)
    pref_ch = order["preferred_channel"].to_numpy(dtype=object)
    switch_attempts = set(params.preferred_channel_attempts)
    strict = params.contact_time == "strict"
    gap = np.timedelta64(params.min_gap_days, "D")
    day_values = days.to_numpy()
    ids = order["customer_id"].to_numpy(dtype=object)
    evs = order["expected_value"].to_numpy(dtype="float64")
    assigned = order[["channel_1", "channel_2", "channel_3"]].to_numpy(dtype=object)

    release = _release_days(assigned, day_values, gap, level=params.pacing == "level")

    sched: list[tuple] = []
    unsched: list[tuple] = []
    switched = 0
    pref_known = pref_met = 0
    for i in range(len(order)):
        prev_day = -1
        blocked = None
        for k in range(3):
            ch = assigned[i, k]
            if ch is None or ch is pd.NA or (isinstance(ch, float) and np.isnan(ch)):
                continue
            attempt = k + 1
            if blocked is not None:
                unsched.append((ids[i], attempt, ch, evs[i], "earlier_attempt_unscheduled",
                                f"attempt {blocked} not scheduled"))
                continue
            if n_days == 0:
                reason, detail = "no_contact_days", ""
            else:
                first = int(release[i]) if prev_day < 0 else int(np.searchsorted(
                    day_values, day_values[prev_day] + gap, side="left"))
                cands = []
                p = pref_ch[i]
                if (attempt in switch_attempts and isinstance(p, str) and p != ch
                        and p in ch_index):
                    cands.append(ch_index[p])
                if ch in ch_index:
                    cands.append(ch_index[ch])
                ps = int(pref_slot[i])
                slot_order = ([ps] if strict else [ps] + [s for s in range(n_slots) if s != ps]
                              ) if ps >= 0 else list(range(n_slots))
                if not cands:
                    reason, detail = "channel_not_staffed", f"channel {ch}"
                elif strict and ps >= 0 and not (total[cands, :, ps] > 0).any():
                    reason, detail = "time_slot_not_staffed", f"slot {slots[ps]}"
                elif first >= n_days:
                    reason, detail = "no_day_after_gap", (
                        f"previous attempt on {pd.Timestamp(day_values[prev_day]):%Y-%m-%d}")
                else:
                    hit = _find(total, cands, slot_order, first, n_days)
                    if hit is None and prev_day < 0 and first > 0:  # room before the start day
                        hit = _find(total, cands, slot_order, 0, first)
                    if hit is None:
                        reason, detail = "no_capacity", f"channel {ch}"
                    else:
                        c, d, s = hit
                        a = int(np.argmax(rem[c, d, s] > 0))
                        rem[c, d, s, a] -= 1
                        total[c, d, s] -= 1
                        chosen = channels[c]
                        switched += chosen != ch
                        if ps >= 0:
                            pref_known += 1
                            pref_met += s == ps
                        sched.append((ids[i], attempt, day_values[d], _agent(chosen, a), chosen,
                                      slots[s]))
                        prev_day = d
                        continue
            unsched.append((ids[i], attempt, ch, evs[i], reason, detail))
            blocked = attempt

    calendar = pd.DataFrame(sched, columns=list(SCHEDULE_COLUMNS[1:]))
    calendar.insert(0, "month", month)
    calendar = calendar.astype({"month": "str", "customer_id": "str", "attempt": "int64",
                                "day": "datetime64[us]", "agent": "str", "channel": "str",
                                "slot": "str"})
    calendar = calendar.sort_values(["day", "channel", "agent", "slot", "customer_id",
                                     "attempt"], kind="stable").reset_index(drop=True)
    unscheduled = pd.DataFrame(unsched, columns=["customer_id", "attempt", "channel",
                                                 "expected_value", "reason", "detail"]).astype(
        {"customer_id": "str", "attempt": "int64", "channel": "str", "expected_value": "float64",
         "reason": "str", "detail": "str"})
    return Schedule(month=month, execution_month=execution_month(month), days=days,
                    calendar=calendar, unscheduled=unscheduled, capacity=capacity,
                    treated=len(order), switched=int(switched),
                    slot_preference=(int(pref_known), int(pref_met)), notes=tuple(notes))


def _release_days(assigned: np.ndarray, day_values: np.ndarray, gap: np.timedelta64, *,
                  level: bool) -> np.ndarray:
    """Earliest day index of each customer's first contact (customers in priority order).

    ``earliest``: day 0 for everyone. ``level``: the customer ranked r of n starts no
    earlier than day floor(r x m / n), where the m start days are those leaving room for
    the customer's later attempts at the minimum gap before the last contact day; so first
    contacts spread evenly over the execution weeks, the most valuable customers first.
    """
    n = len(assigned)
    if not level or n == 0 or len(day_values) == 0:
        return np.zeros(n, dtype=np.int64)
    attempts = (pd.DataFrame(assigned).notna().to_numpy()).sum(axis=1)
    latest = day_values[-1] - gap * np.maximum(attempts - 1, 0)
    m = np.maximum(np.searchsorted(day_values, latest, side="right"), 1)
    return np.floor(np.arange(n) * m / n).astype(np.int64)


def _agent(channel: str, index: int) -> str:
    return f"{channel}-{index + 1:02d}"


def _find(total: np.ndarray, cands: list[int], slot_order: list[int], first: int,
          n_days: int) -> tuple[int, int, int] | None:
    """Earliest (day, then channel in ``cands`` order, then slot in order) with room."""
    room = total[np.ix_(cands, range(first, n_days), slot_order)] > 0  # [cand, day, slot]
    any_day = room.any(axis=(0, 2))
    if not any_day.any():
        return None
    d = int(np.argmax(any_day))
    for ci, c in enumerate(cands):
        for si, s in enumerate(slot_order):
            if room[ci, d, si]:
                return c, first + d, s
    return None  # pragma: no cover - any_day guarantees a hit


def _capacity_frame(rem: np.ndarray, channels: list[str], days: pd.DatetimeIndex,
                    slots: list[str], params: ScheduleParams) -> pd.DataFrame:
    rows = []
    for ci, c in enumerate(channels):
        for a in range(params.teams[c].agents):
            for d, day in enumerate(days):
                for s, slot in enumerate(slots):
                    if rem[ci, d, s, a] > 0:
                        rows.append((c, _agent(c, a), day, slot, int(rem[ci, d, s, a])))
    return pd.DataFrame(rows, columns=["channel", "agent", "day", "slot", "capacity"]).astype(
        {"channel": "str", "agent": "str", "day": "datetime64[us]", "slot": "str",
         "capacity": "int64"})


# --------------------------------------------------------------------------------------
# Reading the calendar
# --------------------------------------------------------------------------------------


def unscheduled_summary(schedule: Schedule) -> pd.DataFrame:
    """Unscheduled contacts by reason and channel, with what each reason means."""
    u = schedule.unscheduled
    if u.empty:
        return pd.DataFrame({"reason": pd.Series(dtype="str"), "channel": pd.Series(dtype="str"),
                             "contacts": pd.Series(dtype="int64"),
                             "customers": pd.Series(dtype="int64"),
                             "meaning": pd.Series(dtype="str")})
    out = (u.groupby(["reason", "channel"], sort=True)
           .agg(contacts=("attempt", "size"), customers=("customer_id", "nunique"))
           .reset_index())
    out["meaning"] = out["reason"].map(UNSCHEDULED_REASONS).astype("str")
    return out.astype({"contacts": "int64", "customers": "int64"})


def daily_load(schedule: Schedule) -> pd.DataFrame:
    """Contacts scheduled vs capacity per channel and contact day.

    Returns ``channel``, ``day``, ``scheduled``, ``capacity``, ``utilization``
    (scheduled / capacity).
    """
    cap = schedule.capacity.groupby(["channel", "day"], sort=True)["capacity"].sum()
    used = schedule.calendar.groupby(["channel", "day"], sort=True).size()
    frame = pd.concat([used.rename("scheduled"), cap.rename("capacity")], axis=1)
    frame = frame.fillna(0).astype("int64").reset_index()
    frame["utilization"] = np.where(frame["capacity"] > 0,
                                    frame["scheduled"] / frame["capacity"].where(
                                        frame["capacity"] > 0, 1), np.nan)
    return frame.astype({"channel": "str", "day": "datetime64[us]"})


def describe_schedule(schedule: Schedule, *, language: str = "en") -> str:
    """A computed sentence on what was scheduled and what was left out, in ``language``."""
    lang = check_language(language)
    n_sched = len(schedule.calendar)
    if schedule.planned == 0:
        return message("text.schedule.nothing", lang, month=schedule.month)
    head = message("text.schedule.scheduled", lang, n=n_sched, planned=schedule.planned,
                   s=n_sched / schedule.planned, treated=schedule.treated,
                   days=len(schedule.days), exe=schedule.execution_month)
    u = schedule.unscheduled
    if u.empty:
        return message("text.schedule.all_fit", lang, head=head)
    by = u["reason"].value_counts()
    parts = message("text.common.comma", lang).join(
        message("text.schedule.left_item", lang, n=n,
                reason=label("unscheduled", r, lang, default=r.replace("_", " ")))
        for r, n in by.items())
    return message("text.schedule.some_left", lang, head=head, u=len(u), parts=parts,
                   c=u["customer_id"].nunique())


def write_schedule(con, schedule: Schedule) -> None:
    """Write the calendar to the store's ``contact_schedule`` (replacing the month's rows)."""
    frame = schedule.calendar.loc[:, list(SCHEDULE_COLUMNS)]
    bad = frame["month"] != schedule.month
    if bad.any():  # pragma: no cover - built by schedule_contacts
        raise ScheduleError(f"contact_schedule rows of another month than {schedule.month}.")
    replace_month(con, "contact_schedule", schedule.month, frame)
