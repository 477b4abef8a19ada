"""Tests for winback.budget: staffing and budget arithmetic on closed-form cases."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from winback.budget import (
    BudgetError,
    BudgetParams,
    budget_by_program,
    budget_summary,
    campaign_budget,
    describe_budget,
    describe_staffing,
    program_budget,
    staffing,
    write_program_budget,
)
from winback.schedule import ChannelTeam, Schedule

D1, D2, D3 = pd.Timestamp("2024-07-08"), pd.Timestamp("2024-07-09"), pd.Timestamp("2024-07-10")


def make_schedule(rows, unscheduled=()) -> Schedule:
    """rows: (customer, attempt, day, agent, channel)."""
    cal = pd.DataFrame(rows, columns=["customer_id", "attempt", "day", "agent", "channel"])
    cal.insert(0, "month", "2024-06")
    cal["slot"] = "morning"
    cal = cal.astype({"day": "datetime64[us]", "attempt": "int64"})[
        ["month", "customer_id", "attempt", "day", "agent", "channel", "slot"]]
    uns = pd.DataFrame(list(unscheduled), columns=["customer_id", "attempt", "channel",
                                                   "expected_value", "reason", "detail"])
    uns = uns.astype({"attempt": "int64", "expected_value": "float64"})
    return Schedule(month="2024-06", execution_month="2024-07",
                    days=pd.DatetimeIndex([D1, D2, D3]), calendar=cal, unscheduled=uns,
                    capacity=pd.DataFrame(), treated=cal["customer_id"].nunique())


# phone-01 works D1 (2 contacts) and D2 (1); phone-02 works D1 (1); sms-01 D1 (3).
SCHED = make_schedule([
    ("A", 1, D1, "phone-01", "phone"), ("B", 1, D1, "phone-01", "phone"),
    ("A", 2, D2, "phone-01", "phone"), ("C", 1, D1, "phone-02", "phone"),
    ("A", 3, D1, "sms-01", "sms"), ("B", 2, D1, "sms-01", "sms"), ("D", 1, D1, "sms-01", "sms"),
], unscheduled=[("E", 1, "phone", 5.0, "no_capacity", ""), ("E", 2, "visit", 5.0,
                                                            "earlier_attempt_unscheduled", "")])
CAMPAIGN = pd.DataFrame({
    "customer_id": ["A", "B", "C", "D", "E", "F"],
    "group": ["treatment"] * 5 + ["control"],
    "offer_value": [100.0, 50.0, 0.0, None, 80.0, 999.0],
    "p_winback": [0.5, 0.2, 0.9, 0.3, 0.4, 0.9],
})
BUDGET = BudgetParams(cap=2000, day_rate={"phone": 400, "sms": 0},
                      unit_cost={"phone": 1.5, "sms": 0.1},
                      fixed={"training": 300}, offer_handling=2.0)
TEAMS = {"phone": ChannelTeam(agents=2, per_agent_day=2, slots={"morning": 1.0}),
         "sms": ChannelTeam(agents=1, per_agent_day=100, slots={"morning": 1.0})}


def test_budget_lines_closed_form():
    lines = campaign_budget(SCHED, CAMPAIGN, budget=BUDGET, teams=TEAMS)
    got = lines.set_index(["category", "item", "channel"])["amount"]
    # time used: 4 phone contacts at 2 per agent-day = 2 agent-days
    assert got[("people", "agent time", "phone")] == 2 * 400
    assert got[("people", "agent time", "sms")] == 0
    assert got[("materials", "contacts", "phone")] == pytest.approx(4 * 1.5)
    assert got[("materials", "contacts", "sms")] == pytest.approx(3 * 0.1)
    assert got[("materials", "training", None)] == 300
    # offers: A (100 x 0.5) and B (50 x 0.2); C has no value, D none, E not scheduled, F control
    marketing = lines.loc[lines["category"] == "marketing"].set_index("item")
    expected = marketing.loc["offers redeemed (expected, p_winback)"]
    assert expected["quantity"] == 2 and expected["amount"] == pytest.approx(60.0)
    assert marketing.loc["offer handling", "amount"] == pytest.approx(4.0)
    assert lines["amount"].tolist() == pytest.approx((lines["quantity"] * lines["unit_cost"]).tolist())


def test_people_cost_by_days_worked():
    budget = BUDGET.model_copy(update={"people_cost": "days_worked"})
    lines = campaign_budget(SCHED, CAMPAIGN, budget=budget)
    got = lines.set_index(["category", "item", "channel"])["amount"]
    assert got[("people", "agent-days worked", "phone")] == 3 * 400  # (01,D1) (01,D2) (02,D1)
    assert got[("people", "agent-days worked", "sms")] == 0


def test_budget_summary_and_sentence():
    budget = BUDGET.model_copy(update={"people_cost": "days_worked"})
    lines = campaign_budget(SCHED, CAMPAIGN, budget=budget)
    summary = budget_summary(lines, cap=2000).set_index("category")
    assert summary.loc["people", "amount"] == 1200
    assert summary.loc["materials", "amount"] == pytest.approx(306.3)
    assert summary.loc["marketing", "amount"] == pytest.approx(64.0)
    assert summary.loc["total", "amount"] == pytest.approx(1570.3)
    assert summary.loc["total", "share_of_cap"] == pytest.approx(1570.3 / 2000)
    text = describe_budget(lines, cap=2000)
    assert "CNY 1,570" in text and "it fits" in text and "430 to spare" in text
    over = describe_budget(lines, cap=1500, currency="EUR")
    assert "exceeds the EUR 1,500 cap by EUR 70" in over


def test_flat_redemption_rate():
    budget = BUDGET.model_copy(update={"offer_redemption": 0.25})
    lines = campaign_budget(SCHED, CAMPAIGN.drop(columns="p_winback"), budget=budget, teams=TEAMS)
    row = lines.loc[lines["item"].str.startswith("offers redeemed")].iloc[0]
    assert row["amount"] == pytest.approx((100 + 50) * 0.25)


def test_budget_errors_name_the_fix():
    with pytest.raises(BudgetError, match="schedule.budget.day_rate.sms"):
        campaign_budget(SCHED, CAMPAIGN, teams=TEAMS, budget=BUDGET.model_copy(
            update={"day_rate": {"phone": 400}}))
    with pytest.raises(BudgetError, match="pass teams"):
        campaign_budget(SCHED, CAMPAIGN, budget=BUDGET)
    with pytest.raises(BudgetError, match="p_winback"):
        campaign_budget(SCHED, CAMPAIGN.drop(columns="p_winback"), budget=BUDGET, teams=TEAMS)
    with pytest.raises(BudgetError, match="offer_value"):
        campaign_budget(SCHED, CAMPAIGN.assign(offer_value=-1.0), budget=BUDGET, teams=TEAMS)
    with pytest.raises(ValidationError, match="not contact channels"):
        BudgetParams(cap=1, day_rate={"fax": 1}, unit_cost={})
    with pytest.raises(ValidationError, match="between 0 and 1"):
        BudgetParams(cap=1, day_rate={}, unit_cost={}, offer_redemption=1.5)


def test_staffing_closed_form():
    table = staffing(SCHED, teams=TEAMS).set_index("channel")
    phone = table.loc["phone"]
    # 4 scheduled + 1 unscheduled = 5 contacts at 2 per agent-day: 3 agent-days; 2 x 3 available
    assert phone["contacts_needed"] == 5 and phone["contacts_unscheduled"] == 1
    assert phone["agent_days_needed"] == 3 and phone["agent_days_available"] == 6
    assert phone["agent_days_used"] == 3 and phone["agents_needed"] == 1
    assert phone["fits"]  # the team has the agent-days, although one contact did not fit
    sms = table.loc["sms"]
    assert sms["agent_days_needed"] == 1 and sms["agent_days_available"] == 3 and sms["fits"]
    visit = table.loc["visit"]  # no team: cannot be staffed
    assert visit["agents"] == 0 and visit["contacts_needed"] == 1
    assert pd.isna(visit["agent_days_needed"]) and not visit["fits"]
    text = describe_staffing(table.reset_index())
    assert "visit has no team for 1 contacts" in text


def test_staffing_shortfall():
    rows = [(f"C{i}", 1, D1, "phone-01", "phone") for i in range(2)]
    uns = [(f"U{i}", 1, "phone", 1.0, "no_capacity", "") for i in range(10)]
    table = staffing(make_schedule(rows, uns), teams={
        "phone": ChannelTeam(agents=1, per_agent_day=2, slots={"morning": 1.0})})
    r = table.iloc[0]
    # 12 contacts / 2 per agent-day = 6 agent-days; 1 agent x 3 days = 3; agents ceil(12/6) = 2
    assert (r["agent_days_needed"], r["agent_days_available"], r["agents_needed"]) == (6, 3, 2)
    assert r["shortfall_agent_days"] == 3
    assert "needs 6 agent-days but has 3 (2 agents instead of 1)" in describe_staffing(table)


def test_empty_schedule():
    empty = make_schedule([])
    assert staffing(empty, teams={}).empty
    lines = campaign_budget(empty, CAMPAIGN, budget=BUDGET, teams=TEAMS)
    assert budget_summary(lines, cap=2000).set_index("category").loc["total", "amount"] == 300


def test_staffing_sentence_names_the_busiest_channel():
    rows = [(f"C{i}", 1, D1, "phone-01", "phone") for i in range(3)]
    rows += [(f"S{i}", 1, D1, "sms-01", "sms") for i in range(30)]
    table = staffing(make_schedule(rows), teams=TEAMS)
    # phone 3 of 2 x 2 x 3 = 12 (25%), sms 30 of 100 x 3 = 300 (10%)
    assert describe_staffing(table) == (
        "The teams have the agent-days every planned contact needs; the busiest channel, "
        "phone, uses 25% of its "
        "capacity (3 contacts, 2 of 6 agent-days).")


def test_staffing_and_budget_sentences_in_chinese():
    short = pd.DataFrame({"channel": ["phone", "visit"], "agents": [1, 0],
                          "per_agent_day": [2, 6], "contacts_needed": [12, 1],
                          "agent_days_needed": [6.0, float("nan")], "agent_days_available": [3, 0],
                          "agents_needed": [2.0, float("nan")], "fits": [False, False]})
    assert describe_staffing(short, language="zh") == (
        "团队人手不足：电话需要 6 个坐席人天，但只有 3 个 (需 2 名坐席，现有 1 名)；上门拜访没有团队，"
        "1 次联系无人负责。请增加坐席或联系日，或接受未排期的联系。")
    assert describe_staffing(short) == (
        "The teams fall short: phone needs 6 agent-days but has 3 (2 agents instead of 1); "
        "visit has no team for 1 contacts. Add agents or contact days, or accept the "
        "unscheduled contacts.")
    busy = pd.DataFrame({"channel": ["phone", "wechat"], "agents": [2, 1],
                         "per_agent_day": [2, 60], "contacts_needed": [3, 1200],
                         "agent_days_needed": [2.0, 20.0], "agent_days_available": [6, 32],
                         "agents_needed": [1.0, 1.0], "fits": [True, True]})
    assert describe_staffing(busy, language="zh") == (
        "团队的坐席人天足以完成所有计划的联系；最繁忙的渠道是微信，使用了其容量的 62% (1,200 次联系，"
        "需 20 个坐席人天，可用 32)。")
    assert describe_staffing(busy) == (
        "The teams have the agent-days every planned contact needs; the busiest channel, "
        "wechat, uses 62% of its capacity (1,200 contacts, 20 of 32 agent-days).")

    lines = pd.DataFrame({"category": ["people", "materials", "marketing"],
                          "amount": [1200.0, 306.3, 64.0]})
    assert describe_budget(lines, cap=2000, language="zh") == (
        "本次活动成本为 CNY 1,570 (人力 1,200，物料 306，营销 64)，占上限 CNY 2,000 的 79%：在预算内，"
        "尚余 CNY 430。")
    assert describe_budget(lines, cap=2000) == (
        "The campaign costs CNY 1,570 (people 1,200, materials 306, marketing 64), 79% of the "
        "CNY 2,000 cap: it fits, with CNY 430 to spare.")
    over = describe_budget(lines, cap=1500, currency="EUR", language="zh")
    assert over.startswith("本次活动成本为 EUR 1,570 (人力 1,200，物料 306，营销 64)：超出上限 EUR 1,500，"
                           "超出 EUR 70。")
    assert describe_budget(lines, cap=1500, currency="EUR") == (
        "The campaign costs EUR 1,570 (people 1,200, materials 306, marketing 64): it exceeds "
        "the EUR 1,500 cap by EUR 70. Lower the target count in stage 4, trim the channel mix, "
        "or raise schedule.budget.cap.")


def test_budget_by_program_splits_each_line_and_adds_up():
    # A, B win-back; C, D preventive care contacts; F (control) and E (unscheduled) cost nothing
    camp = CAMPAIGN.assign(program=["winback", "winback", "preventive", "preventive",
                                    "winback", "winback"])
    table = budget_by_program(SCHED, camp, budget=BUDGET, teams=TEAMS).set_index("program")
    assert table.index.tolist() == ["winback", "preventive", "shared", "total"]
    # phone agent time: 4 contacts / 2 per agent-day x 400 = 800, 3 of the 4 contacts win-back
    assert table.loc["winback", "people"] == pytest.approx(600.0)
    assert table.loc["preventive", "people"] == pytest.approx(200.0)
    # contacts: phone 3 x 1.5 + sms 2 x 0.1 win-back; phone 1.5 + sms 0.1 preventive
    assert table.loc["winback", "materials"] == pytest.approx(4.7)
    assert table.loc["preventive", "materials"] == pytest.approx(1.6)
    assert table.loc["shared", "materials"] == pytest.approx(300.0)  # the fixed training
    # offers: A 100 x 0.5 + B 50 x 0.2 expected, plus 2 x 2 handling; C and D have none
    assert table.loc["winback", "marketing"] == pytest.approx(64.0)
    assert table.loc["preventive", "marketing"] == 0.0
    assert table.loc["winback", ["customers", "contacts"]].tolist() == [2, 5]
    assert table.loc["preventive", ["customers", "contacts"]].tolist() == [2, 2]
    total = campaign_budget(SCHED, camp, budget=BUDGET, teams=TEAMS)["amount"].sum()
    assert table.loc["total", "total"] == pytest.approx(total)
    assert table.loc[["winback", "preventive", "shared"], "total"].sum() == pytest.approx(total)
    # a log without programs: every cost but the fixed items is win-back
    old = budget_by_program(SCHED, CAMPAIGN, budget=BUDGET, teams=TEAMS).set_index("program")
    assert old.loc["preventive", "total"] == 0.0
    assert old.loc["winback", "total"] == pytest.approx(total - 300.0)


def test_program_budget_allocates_shared_items_by_contacts_and_reads_back():
    import duckdb

    from winback.store import read_month

    camp = CAMPAIGN.assign(program=["winback", "winback", "preventive", "preventive",
                                    "winback", "winback"])
    by = budget_by_program(SCHED, camp, budget=BUDGET, teams=TEAMS)
    con = duckdb.connect()
    written = write_program_budget(con, "2024-06", by)
    back = read_month(con, "campaign_budget", "2024-06").set_index(["program", "category"])
    # 7 contacts: 5 win-back, 2 preventive -> the 300 training splits 5/7 and 2/7
    assert back.loc[("winback", "materials"), "shared"] == pytest.approx(300 * 5 / 7)
    assert back.loc[("winback", "materials"), "amount"] == pytest.approx(4.7 + 300 * 5 / 7)
    assert back.loc[("preventive", "materials"), "amount"] == pytest.approx(1.6 + 300 * 2 / 7)
    assert back.loc[("winback", "people"), "amount"] == pytest.approx(600.0)
    assert back.loc[("preventive", "marketing"), "amount"] == 0.0
    total = by.set_index("program").loc["total", "total"]
    assert back["amount"].sum() == pytest.approx(total)
    assert len(written) == len(back) == 6
    # a second write replaces the month's rows, it does not add to them
    write_program_budget(con, "2024-06", by)
    assert len(read_month(con, "campaign_budget", "2024-06")) == 6
    # nothing scheduled at all: win-back takes the shared part
    empty = by.assign(contacts=0)
    assert program_budget(empty, month="2024-06").groupby("program")["shared"].sum()[
        "winback"] == pytest.approx(300.0)
    with pytest.raises(BudgetError, match="budget_by_program"):
        program_budget(by.drop(columns="contacts"), month="2024-06")
