"""Tests for winback.schedule: plan dates, contact days, and the contact calendar's rules."""

from __future__ import annotations

import copy
import datetime as dt
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from winback.schedule import (
    SCHEDULE_COLUMNS,
    UNSCHEDULED_REASONS,
    ScheduleError,
    ScheduleParams,
    campaign_plan,
    contact_days,
    daily_load,
    describe_schedule,
    describe_window,
    execution_month,
    load_contact_preferences,
    plan_start,
    schedule_contacts,
    unscheduled_summary,
    working_days,
    write_schedule,
)

# Mirrors params/default.yaml's schedule section, small teams.
PARAMS = {
    "plan": {
        "lead_weeks": 2,
        "phases": {
            "preparation": {"weeks": [1, 2], "en": "Preparation", "zh": "准备"},
            "warm_up": {"weeks": [3, 3], "en": "Warm-up", "zh": "预热"},
            "execution": {"weeks": [4, 6], "en": "Execution", "zh": "执行"},
            "follow_up": {"weeks": [7, 8], "en": "Follow-up", "zh": "跟进"},
        },
        "tasks": [
            {"phase": "preparation", "weeks": [1, 2], "en": "Design offers", "zh": "设计优惠方案"},
            {"phase": "warm_up", "weeks": [3, 3], "en": "Announce", "zh": "预热"},
            {"phase": "execution", "weeks": [4, 6], "en": "Contacts", "zh": "一对一联系"},
            {"phase": "follow_up", "weeks": [7, 8], "en": "Survey", "zh": "满意度调查"},
        ],
    },
    "calendar": {
        "working_weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "holidays": ["2024-01-01", *[f"2024-02-{d}" for d in range(10, 18)],
                     *[f"2024-10-0{d}" for d in range(1, 8)], "2025-01-01",
                     *[f"2025-01-{d}" for d in range(28, 32)],
                     *[f"2025-02-0{d}" for d in range(1, 5)]],
        "extra_working_days": ["2024-02-04", "2024-02-18", "2024-10-12", "2025-01-26",
                               "2025-02-08"],
    },
    "slots": {
        "morning": {"hours": "09:00-12:00", "zh": "上午"},
        "afternoon": {"hours": "13:30-17:30", "zh": "下午"},
        "evening": {"hours": "18:30-20:30", "zh": "晚上"},
    },
    "contact_times": {"上午": "morning", "下午": "afternoon", "晚上": "evening"},
    "teams": {
        "phone": {"agents": 2, "per_agent_day": 5,
                  "slots": {"morning": 0.4, "afternoon": 0.4, "evening": 0.2}},
        "wechat": {"agents": 1, "per_agent_day": 4, "slots": {"morning": 0.5, "afternoon": 0.5}},
        "sms": {"agents": 1, "per_agent_day": 100, "slots": {"morning": 1.0}},
    },
    "min_gap_days": 3,
    "preferred_channel_attempts": [1],
    "contact_time": "prefer",
    "pacing": "level",
    "budget": {"cap": 1000, "day_rate": {"phone": 400, "wechat": 300, "sms": 0},
               "unit_cost": {"phone": 1.5, "wechat": 0.2, "sms": 0.1}},
}


def make_params(**changes) -> ScheduleParams:
    raw = copy.deepcopy(PARAMS)
    for dotted, value in changes.items():
        node = raw
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return ScheduleParams.model_validate(raw)


def campaign(n: int, *, seed: int = 0, channels=("phone", "wechat", "sms"), control: int = 0,
             month: str = "2024-06") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"C{i:04d}" for i in range(n + control)]
    return pd.DataFrame({
        "month": month,
        "customer_id": ids,
        "group": ["treatment"] * n + ["control"] * control,
        "channel_1": rng.choice(list(channels), n + control),
        "channel_2": rng.choice([*channels, None], n + control),
        "channel_3": rng.choice([*channels, None], n + control),
        "expected_value": rng.gamma(2.0, 100.0, n + control).round(2),
    })


def preferences(camp: pd.DataFrame, *, seed: int = 1, dnc=()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(camp)
    return pd.DataFrame({
        "customer_id": camp["customer_id"],
        "preferred_channel": rng.choice(["phone", "wechat", "email", None], n),
        "preferred_contact_time": rng.choice(["上午", "下午", "晚上", None], n),
        "do_not_contact": camp["customer_id"].isin(list(dnc)),
    })


# --------------------------------------------------------------------------------------
# Plan and contact days
# --------------------------------------------------------------------------------------


def test_plan_starts_lead_weeks_before_first_working_day_of_next_month():
    p = make_params()
    # July 2024 starts on Monday the 1st; two weeks earlier is 2024-06-17.
    assert plan_start("2024-06", plan=p.plan, calendar=p.calendar) == pd.Timestamp("2024-06-17")
    plan = campaign_plan("2024-06", plan=p.plan, calendar=p.calendar, language="zh")
    assert list(plan.columns) == ["phase", "phase_label", "task", "week_start", "week_end",
                                  "start", "end", "working_days"]
    ex = plan.loc[plan["phase"] == "execution"].iloc[0]
    assert (ex["start"], ex["end"]) == (pd.Timestamp("2024-07-08"), pd.Timestamp("2024-07-28"))
    assert ex["task"] == "一对一联系" and ex["working_days"] == 15
    last = plan.loc[plan["phase"] == "follow_up"].iloc[0]
    assert last["end"] == pd.Timestamp("2024-08-11")  # 8 weeks = 56 days from 06-17


def test_contact_days_are_working_days_inside_the_execution_month():
    p = make_params()
    days = contact_days("2024-06", plan=p.plan, calendar=p.calendar)
    assert len(days) == 15 and days[0] == pd.Timestamp("2024-07-08")
    assert days[-1] == pd.Timestamp("2024-07-26")
    assert (days.day_of_week < 5).all()


def test_october_holiday_week_cuts_the_days_spilling_into_november():
    p = make_params()
    # First working day of October 2024 is Tuesday the 8th; execution weeks run
    # 10-15 .. 11-04, the November days are cut.
    days = contact_days("2024-09", plan=p.plan, calendar=p.calendar)
    assert days[0] == pd.Timestamp("2024-10-15") and days[-1] == pd.Timestamp("2024-10-31")
    assert len(days) == 13
    assert "cut: 2" in describe_window("2024-09", plan=p.plan, calendar=p.calendar)


def test_spring_festival_skipped_and_make_up_sunday_worked():
    p = make_params()
    days = contact_days("2024-01", plan=p.plan, calendar=p.calendar)
    assert days[0] == pd.Timestamp("2024-02-08")
    assert not days.isin(pd.date_range("2024-02-10", "2024-02-17")).any()
    assert pd.Timestamp("2024-02-18") in days  # Sunday, official make-up working day
    assert len(days) == 11
    jan = contact_days("2024-12", plan=p.plan, calendar=p.calendar)
    assert pd.Timestamp("2025-01-26") in jan and pd.Timestamp("2025-01-28") not in jan


def test_missing_holiday_year_warns():
    p = make_params()
    with pytest.warns(UserWarning, match="2026"):
        contact_days("2026-02", plan=p.plan, calendar=p.calendar)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        contact_days("2024-06", plan=p.plan, calendar=p.calendar)


def test_working_days_rules():
    p = make_params()
    days = working_days("2024-02-01", "2024-02-29", calendar=p.calendar)
    assert pd.Timestamp("2024-02-04") in days  # make-up Sunday
    assert pd.Timestamp("2024-02-03") not in days  # Saturday
    assert pd.Timestamp("2024-02-12") not in days  # holiday Monday


def test_params_refuse_inconsistent_plans_and_teams():
    with pytest.raises(ValidationError, match="lead_weeks"):
        make_params(plan__lead_weeks=4)
    with pytest.raises(ValidationError, match="add up to 1"):
        make_params(teams={"phone": {"agents": 1, "per_agent_day": 5,
                                     "slots": {"morning": 0.5}}})
    with pytest.raises(ValidationError, match="not contact channels"):
        make_params(teams={"fax": {"agents": 1, "per_agent_day": 5, "slots": {"morning": 1}}})
    with pytest.raises(ValidationError, match="not among the slots"):
        make_params(contact_times={"夜里": "night"})
    with pytest.raises(ValidationError, match="outside its phase"):
        make_params(plan__tasks=[{"phase": "warm_up", "weeks": [3, 4], "en": "x", "zh": "x"}])


# --------------------------------------------------------------------------------------
# Contact calendar
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crowded():
    """A campaign larger than the teams: 120 treated + 30 control customers."""
    camp = campaign(120, control=30)
    prefs = preferences(camp)
    p = make_params()
    return camp, prefs, p, schedule_contacts(camp, prefs, month="2024-06", params=p)


def test_calendar_columns_and_store_contract(crowded):
    camp, prefs, p, s = crowded
    assert tuple(s.calendar.columns) == SCHEDULE_COLUMNS
    assert (s.calendar["month"] == "2024-06").all()
    assert str(s.calendar["day"].dtype) == "datetime64[us]"
    assert s.treated == 120
    assert {"name", "phone", "email"}.isdisjoint(s.calendar.columns)


def test_capacity_never_exceeded(crowded):
    _, _, p, s = crowded
    cap = s.capacity.set_index(["agent", "day", "slot"])["capacity"]
    used = s.calendar.groupby(["agent", "day", "slot"]).size()
    assert (used <= cap.reindex(used.index)).all()
    per_agent_day = s.calendar.groupby(["channel", "agent", "day"]).size()
    for (ch, _, _), n in per_agent_day.items():
        assert n <= p.teams[ch].per_agent_day
    per_channel_day = s.calendar.groupby(["channel", "day"]).size()
    for (ch, _), n in per_channel_day.items():
        assert n <= p.teams[ch].agents * p.teams[ch].per_agent_day
    # the shortage is real: some channel is full on some day
    full = [n == p.teams[ch].agents * p.teams[ch].per_agent_day
            for (ch, _), n in per_channel_day.items()]
    assert any(full)


def test_min_gap_and_attempt_order(crowded):
    _, _, p, s = crowded
    cal = s.calendar.sort_values(["customer_id", "attempt"])
    gaps = cal.groupby("customer_id")["day"].diff().dropna()
    assert (gaps >= pd.Timedelta(days=p.min_gap_days)).all()
    first = cal.groupby("customer_id")["attempt"].min()
    assert (first == 1).all()


def test_no_weekend_or_holiday_days(crowded):
    _, _, p, s = crowded
    days = pd.DatetimeIndex(s.calendar["day"].unique())
    assert days.isin(s.days).all()
    assert (days.day_of_week < 5).all()
    assert not days.isin(pd.to_datetime(p.calendar.holidays)).any()
    assert days.min() >= pd.Timestamp("2024-07-01") and days.max() <= pd.Timestamp("2024-07-31")


def test_unscheduled_reported_and_counts_add_up(crowded):
    camp, _, _, s = crowded
    treated = camp.loc[camp["group"] == "treatment"]
    planned = int(treated[["channel_1", "channel_2", "channel_3"]].notna().sum().sum())
    assert s.planned == planned == len(s.calendar) + len(s.unscheduled)
    assert len(s.unscheduled) > 0
    assert set(s.unscheduled["reason"]) <= set(UNSCHEDULED_REASONS)
    summary = unscheduled_summary(s)
    assert summary["contacts"].sum() == len(s.unscheduled)
    keys = pd.concat([s.calendar[["customer_id", "attempt"]],
                      s.unscheduled[["customer_id", "attempt"]]])
    assert not keys.duplicated().any()
    table = s.summary().set_index("measure")["value"]
    assert table["contacts planned"] == table["contacts scheduled"] + table["contacts unscheduled"]
    assert f"{len(s.unscheduled):,} do not fit" in describe_schedule(s)


def test_control_group_never_scheduled(crowded):
    camp, _, _, s = crowded
    control = set(camp.loc[camp["group"] == "control", "customer_id"])
    assert control.isdisjoint(s.calendar["customer_id"])
    assert control.isdisjoint(s.unscheduled["customer_id"])


def test_higher_expected_value_served_first_under_shortage():
    # one attempt per customer, phone only, 2 agents x 5 contacts on 15 days = 150 slots
    n = 200
    camp = campaign(n, channels=("phone",))
    camp["channel_2"] = None
    camp["channel_3"] = None
    camp.loc[5:9, "expected_value"] = camp.loc[0:4, "expected_value"].to_numpy()  # ties
    prefs = preferences(camp).assign(preferred_channel=None)
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert len(s.calendar) == 150 and len(s.unscheduled) == 50
    ranked = camp.sort_values(["expected_value", "customer_id"], ascending=[False, True])
    assert set(s.calendar["customer_id"]) == set(ranked["customer_id"].head(150))
    assert s.unscheduled["expected_value"].max() <= camp.loc[
        camp["customer_id"].isin(s.calendar["customer_id"]), "expected_value"].min()
    assert (s.unscheduled["reason"] == "no_capacity").all()
    # and the most valuable are called first
    top = ranked["customer_id"].head(10)
    assert (s.calendar.loc[s.calendar["customer_id"].isin(top), "day"]
            == pd.Timestamp("2024-07-08")).all()


def test_deterministic_and_independent_of_row_order(crowded):
    camp, prefs, p, s = crowded
    again = schedule_contacts(camp.sample(frac=1.0, random_state=3), prefs.iloc[::-1],
                              month="2024-06", params=p)
    pd.testing.assert_frame_equal(s.calendar, again.calendar)
    pd.testing.assert_frame_equal(s.unscheduled, again.unscheduled)


def test_inputs_not_mutated(crowded):
    camp, prefs, p, _ = crowded
    before = camp.copy(), prefs.copy()
    schedule_contacts(camp, prefs, month="2024-06", params=p)
    pd.testing.assert_frame_equal(camp, before[0])
    pd.testing.assert_frame_equal(prefs, before[1])


def tiny(channel_1="phone", channel_2=None, channel_3=None, pref_channel=None, pref_time=None):
    camp = pd.DataFrame({"customer_id": ["A"], "group": ["treatment"], "channel_1": [channel_1],
                         "channel_2": [channel_2], "channel_3": [channel_3],
                         "expected_value": [10.0]})
    prefs = pd.DataFrame({"customer_id": ["A"], "preferred_channel": [pref_channel],
                          "preferred_contact_time": [pref_time], "do_not_contact": [False]})
    return camp, prefs


def test_preferred_channel_replaces_first_attempt_when_allowed():
    camp, prefs = tiny("phone", "phone", pref_channel="wechat")
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert s.calendar.set_index("attempt")["channel"].to_dict() == {1: "wechat", 2: "phone"}
    assert s.switched == 1
    kept = schedule_contacts(camp, prefs, month="2024-06",
                             params=make_params(preferred_channel_attempts=[]))
    assert (kept.calendar["channel"] == "phone").all() and kept.switched == 0
    # a preferred channel without a team is not available: the assigned one is used
    camp, prefs = tiny("phone", pref_channel="email")
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert s.calendar["channel"].tolist() == ["phone"]


def test_preferred_contact_time_mapped_from_chinese_labels():
    camp, prefs = tiny("phone", "phone", "phone", pref_time="晚上")
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert (s.calendar["slot"] == "evening").all()
    assert s.slot_preference == (3, 3)
    camp, prefs = tiny("phone", pref_time="夜里")
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert s.calendar["slot"].tolist() == ["morning"]
    assert any("夜里" in n for n in s.notes)


def test_strict_contact_time_refuses_other_slots():
    camp, prefs = tiny("wechat", pref_time="晚上")  # wechat works mornings and afternoons only
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params(contact_time="strict"))
    assert s.calendar.empty
    assert s.unscheduled["reason"].tolist() == ["time_slot_not_staffed"]


def test_unstaffed_channel_blocks_later_attempts():
    camp, prefs = tiny("visit", "phone", "sms")
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert s.calendar.empty
    assert s.unscheduled["reason"].tolist() == ["channel_not_staffed",
                                                "earlier_attempt_unscheduled",
                                                "earlier_attempt_unscheduled"]


def test_gap_beyond_window_is_reported():
    camp, prefs = tiny("phone", "phone", "phone")
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params(min_gap_days=10))
    # 07-08, 07-18, then 07-28 is past the last contact day (07-26)
    assert s.calendar["day"].tolist() == [pd.Timestamp("2024-07-08"), pd.Timestamp("2024-07-18")]
    assert s.unscheduled["reason"].tolist() == ["no_day_after_gap"]


def test_do_not_contact_in_treatment_is_refused():
    camp = campaign(10)
    prefs = preferences(camp, dnc=["C0003", "C0007"])
    with pytest.raises(ScheduleError, match=r"do-not-contact.*C0003, C0007"):
        schedule_contacts(camp, prefs, month="2024-06", params=make_params())


def test_do_not_contact_in_control_is_fine():
    camp = campaign(10, control=2)
    prefs = preferences(camp, dnc=["C0010", "C0011"])  # the two control customers
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert not s.calendar["customer_id"].isin(["C0010", "C0011"]).any()


def test_control_customer_in_treatment_is_refused():
    camp = campaign(5, control=1)
    camp = pd.concat([camp, camp.iloc[[0]].assign(group="control")], ignore_index=True)
    with pytest.raises(ScheduleError, match="control-group customers are also in the treatment"):
        schedule_contacts(camp, preferences(camp.drop_duplicates("customer_id")),
                          month="2024-06", params=make_params())


@pytest.mark.parametrize("change, message", [
    (lambda c: c.assign(group="holdout"), "group must be treatment or control"),
    (lambda c: c.assign(expected_value=np.nan), "no expected_value"),
    (lambda c: c.assign(channel_1="fax"), "unknown channel"),
    (lambda c: c.drop(columns="channel_2"), "channel_2"),
    (lambda c: c.assign(month="2024-05"), "another month"),
])
def test_bad_campaign_rows_are_named(change, message):
    camp = campaign(4)
    with pytest.raises(ScheduleError, match=message):
        schedule_contacts(change(camp), preferences(camp), month="2024-06", params=make_params())


def test_unknown_customer_is_refused():
    camp = campaign(4)
    with pytest.raises(ScheduleError, match="not in the store's customers"):
        schedule_contacts(camp, preferences(camp).iloc[1:], month="2024-06",
                          params=make_params())


def test_daily_load_matches_calendar(crowded):
    _, _, _, s = crowded
    load = daily_load(s)
    assert load["scheduled"].sum() == len(s.calendar)
    assert (load["scheduled"] <= load["capacity"]).all()
    phone = load.loc[load["channel"] == "phone"]
    assert (phone["capacity"] == 10).all() and len(phone) == 15


def test_write_schedule_replaces_the_month():
    con = duckdb.connect()
    con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES ('A', 'wechat', '上午', true), "
                "('B', NULL, NULL, NULL)) t(customer_id, preferred_channel, "
                "preferred_contact_time, do_not_contact)")
    prefs = load_contact_preferences(con)
    assert prefs["do_not_contact"].tolist() == [True, False]
    camp, _ = tiny("phone")
    camp["customer_id"] = "B"
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    write_schedule(con, s)
    write_schedule(con, s)
    stored = con.execute("SELECT * FROM contact_schedule").df()
    assert list(stored.columns) == list(SCHEDULE_COLUMNS) and len(stored) == 1
    assert stored.loc[0, "day"] == pd.Timestamp(dt.date(2024, 7, 8))


def test_level_pacing_spreads_first_contacts_earliest_does_not():
    # 30 customers with one phone contact each, capacity 10 a day: room for all on 3 days
    camp = campaign(30, channels=("phone",)).assign(channel_2=None, channel_3=None)
    prefs = preferences(camp).assign(preferred_channel=None)
    level = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    per_day = level.calendar.groupby("day").size()
    assert len(per_day) == 15 and per_day.max() == 2  # 30 first contacts over 15 days
    ranked = camp.sort_values(["expected_value", "customer_id"], ascending=[False, True])
    first_day = level.calendar.loc[level.calendar["day"] == level.days[0], "customer_id"]
    assert set(first_day) == set(ranked["customer_id"].head(2))
    early = schedule_contacts(camp, prefs, month="2024-06", params=make_params(pacing="earliest"))
    assert early.calendar.groupby("day").size().tolist() == [10, 10, 10]


def test_level_pacing_leaves_room_for_later_attempts():
    camp = campaign(40, channels=("sms",))
    camp["channel_2"], camp["channel_3"] = "sms", "sms"
    prefs = preferences(camp).assign(preferred_channel=None)
    s = schedule_contacts(camp, prefs, month="2024-06", params=make_params())
    assert s.unscheduled.empty and len(s.calendar) == 120
    # the last first contact leaves two gaps of 3 days before 07-26
    last_first = s.calendar.loc[s.calendar["attempt"] == 1, "day"].max()
    assert last_first <= pd.Timestamp("2024-07-20")


@pytest.mark.slow
def test_demo_month_schedule(demo_run):
    """On the demo run: the stored calendar keeps every rule, and PII stays in the exports."""
    import stat

    from tests.demo_engagement import OVERRIDES
    from winback.config import load_params
    from winback.runner import stages
    from winback.settings import month_end
    from winback.store import opened

    if "execution_schedule" not in [s.id for s in stages()]:
        pytest.skip("stage 5 is not in playbook/stages.yaml")
    month = demo_run.months[-1]
    p = load_params("demo", OVERRIDES).schedule
    with opened(demo_run.ws.store_path, read_only=True) as con:
        cal = con.execute("SELECT * FROM contact_schedule WHERE month = ?", [month]).df()
        log = con.execute("SELECT * FROM campaign_log WHERE month = ?", [month]).df()
        cust = con.execute("SELECT customer_id, name, phone, do_not_contact FROM customers "
                           "LEFT JOIN customer_contacts USING (customer_id)").df()
    assert len(cal) > 0
    days = pd.DatetimeIndex(cal["day"])
    assert (days > month_end(month)).all() and (days <= month_end(execution_month(month))).all()
    assert days.isin(working_days(days.min(), days.max(), calendar=p.calendar)).all()
    control = set(log.loc[log["group"] == "control", "customer_id"])
    dnc = set(cust.loc[cust["do_not_contact"].fillna(False).astype(bool), "customer_id"])
    assert control.isdisjoint(cal["customer_id"]) and dnc.isdisjoint(cal["customer_id"])
    run = demo_run.month_dir(month)
    exports = run / "exports"
    assert stat.S_IMODE(exports.stat().st_mode) == 0o700
    assert stat.S_IMODE((exports / "call_lists.xlsx").stat().st_mode) == 0o600
    pii = set(cust["phone"].dropna()) | set(cust["name"].dropna())
    for path in (run / "tables").glob("*.parquet"):
        table = pd.read_parquet(path)
        for col in table.columns:
            assert not table[col].astype(str).isin(pii).any(), f"PII in {path.name}:{col}"
    for path in (run / "notebooks").glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert not any(v in text for v in cust["phone"].dropna().head(500)), path.name


def test_charts_have_titles_labels_and_computed_takeaways(crowded):
    import matplotlib.pyplot as plt

    from winback.budget import budget_summary, campaign_budget, staffing
    from winback.plots import schedule as charts

    camp, _, p, s = crowded
    plan = campaign_plan("2024-06", plan=p.plan, calendar=p.calendar)
    ax = charts.plot_campaign_plan(plan, contact_days=s.days, execution_month="2024-07")
    assert ax.get_title() == "Campaign plan: 8 weeks"
    assert any("15 working days, 07-08 to 07-26" in t.get_text() for t in ax.texts)
    load = daily_load(s)
    ax = charts.plot_daily_load(load)
    full = load.loc[load["scheduled"] >= load["capacity"]].groupby("channel").size()
    assert any(f"{full.idxmax()} is full on {full.max()} of 15" in t.get_text()
               for t in ax.texts)
    ax = charts.plot_staffing(staffing(s, teams=p.teams))
    assert ax.get_ylabel() == "agent-days" and ax.texts
    lines = campaign_budget(s, camp.assign(offer_value=10.0, p_winback=0.5), budget=p.budget,
                            teams=p.teams)
    summary = budget_summary(lines, cap=p.budget.cap)
    ax = charts.plot_budget(summary, cap=p.budget.cap)
    total = summary.set_index("category").loc["total", "amount"]
    assert any(f"{total:,.0f}" in t.get_text() for t in ax.texts)
    plt.close("all")


def test_window_and_schedule_sentences_in_chinese(crowded):
    p = make_params()
    assert describe_window("2024-09", plan=p.plan, calendar=p.calendar, language="zh") == (
        "活动 2024-09 的计划自 2024-09-24 至 2024-11-18；执行周 (第 4-6 周) 为 2024-10-15 至 "
        "2024-11-04；联系安排在 2024-10 内的 13 个工作日，2024-10-15 至 2024-10-31 "
        "(已去掉 2024-10 以外的 2 个工作日)。")
    assert describe_window("2024-09", plan=p.plan, calendar=p.calendar) == (
        "Campaign 2024-09's plan runs from 2024-09-24 to 2024-11-18; its execution weeks 4-6 "
        "span 2024-10-15 to 2024-11-04; contacts are made on 13 working days inside 2024-10, "
        "2024-10-15 to 2024-10-31 (working days outside 2024-10 cut: 2).")
    _, _, _, s = crowded
    n, planned, left = len(s.calendar), s.planned, len(s.unscheduled)
    by = s.unscheduled["reason"].value_counts()
    zh = describe_schedule(s, language="zh")
    assert zh.startswith(f"{s.treated:,} 位实验组客户的 {planned:,} 次计划联系中，{n:,} 次 "
                         f"({n / planned:.0%}) 已排入 {s.execution_month} 的 {len(s.days)} 个联系日；"
                         f"{left:,} 次联系未能排入 (")
    assert f"容量已满 {by['no_capacity']:,} 次" in zh and zh.endswith("见未排期表。")
    en = describe_schedule(s)
    assert en.startswith(f"{n:,} of {planned:,} planned contacts ({n / planned:.0%}) for "
                         f"{s.treated:,} treated customers are scheduled on {len(s.days)} "
                         f"contact days in {s.execution_month}; {left:,} do not fit (")
    assert f"{by['no_capacity']:,} no capacity" in en
    assert en.endswith("customers, listed in the unscheduled table.")
