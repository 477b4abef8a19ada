"""Campaign integrity: who may be in a call list, and when the campaign log may be rewritten."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.test_schedule import make_params as schedule_params
from tests.test_strategy import CHURN_TYPES, REASONS, make_inputs, params
from winback.campaign import (
    CampaignLogLocked,
    check_campaign_rewrite,
    plan_campaign,
    read_campaign_log,
    recorded_outcomes,
    write_campaign_guard,
    write_campaign_log,
)
from winback.exports import call_list_frame
from winback.holdout import CONTROL, TREATMENT, register_additions
from winback.schedule import schedule_contacts
from winback.strategy import screen_candidates

MONTH = "2024-06"


def _contact_prefs(customers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": customers["customer_id"],
        "preferred_channel": customers["preferred_channel"],
        "preferred_contact_time": None,
        "do_not_contact": customers["do_not_contact"],
    })


def _run(inputs, *, share, budget, statuses, method, seed, register=None, strata=None,
         dnc_flips=()):
    """Stage 4 then stage 5 on frames: the assignment and the call list it gives.

    ``register`` carries the month's holdout register from run to run (as the store does);
    ``dnc_flips`` are customers flagged do-not-contact since the last run.
    """
    status, tiers, reasons, customers, prefs = inputs
    if len(dnc_flips):
        customers = customers.assign(
            do_not_contact=customers["do_not_contact"] | customers["customer_id"].isin(dnc_flips))
    p = params(holdout={"share": share, "strata": strata or ["tier", "churn_type"]},
               targeting={"budget": {"*": budget}, "method": method},
               candidate_statuses=statuses)
    screened = screen_candidates(status, tiers, reasons, customers, statuses=statuses)
    plan = plan_campaign(screened, prefs, p, month=MONTH, seed=seed, reasons=REASONS,
                         churn_types=CHURN_TYPES, register=register)
    # every contact channel staffed, so that the schedule is limited only by capacity
    sched = schedule_contacts(plan.assignment, _contact_prefs(customers), month=MONTH,
                              params=schedule_params())
    calls = call_list_frame(sched, plan.assignment)
    return plan.assignment, calls


def _runs(inputs, runs, *, seed):
    """Runs of one month in sequence, the register kept between them as the store keeps it.

    Yields each run's assignment, call list and the do-not-contact customers it saw.
    """
    register = pd.DataFrame({c: [] for c in ("month", "program", "customer_id", "group",
                                             "first_run")})
    dnc = set(inputs[3].loc[inputs[3]["do_not_contact"], "customer_id"])
    flagged: set[str] = set()
    for run in runs:
        flagged |= set(run.get("dnc_flips", ()))  # a flag stays once set
        dnc |= flagged
        run = {**run, "dnc_flips": sorted(flagged)}
        assignment, calls = _run(inputs, seed=seed, register=register, **run)
        added = register_additions(register, assignment, MONTH)
        register = pd.concat([register, added], ignore_index=True)
        yield assignment, calls, set(dnc)


run_params = st.fixed_dictionaries({
    "share": st.floats(0, 0.6),
    "budget": st.floats(0, 600),
    "statuses": st.sampled_from([["churned"], ["churned", "at_risk"]]),
    "method": st.sampled_from(["auto", "greedy"]),
})


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 60), data_seed=st.integers(0, 10_000), seed=st.integers(0, 2**31),
       first=run_params, second=run_params)
def test_no_control_or_dnc_customer_in_any_call_list_of_a_month(n, data_seed, seed, first,
                                                                second):
    inputs = make_inputs(n, data_seed)
    customers = inputs[3]
    dnc = set(customers.loc[customers["do_not_contact"], "customer_id"])
    controls, called = set(), set()
    for run in (first, second):  # a rerun of the month with other budgets and params
        assignment, calls = _run(inputs, seed=seed, **run)
        mine = set(assignment.loc[assignment["group"] == CONTROL, "customer_id"])
        listed = set(calls["customer_id"].astype(str))
        assert not listed & mine, "a control customer of this run is in its call list"
        assert not listed & dnc, "a do-not-contact customer is in a call list"
        assert listed <= set(assignment["customer_id"])
        controls |= mine
        called |= listed
    assert not called & dnc


@example(n=42, data_seed=1, seed=0, budget=1.0,
         first={"share": 0.5625, "budget": 3.0, "statuses": ["churned"], "method": "auto"})
@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 60), data_seed=st.integers(0, 10_000), seed=st.integers(0, 2**31),
       first=run_params, budget=st.floats(0, 600))
def test_a_budget_change_within_a_month_never_lists_an_earlier_control(n, data_seed, seed,
                                                                       first, budget):
    """The union of a month's call lists never meets the union of its control groups."""
    inputs = make_inputs(n, data_seed)
    controls, called = set(), set()
    for assignment, calls, _ in _runs(inputs, [first, {**first, "budget": budget}], seed=seed):
        controls |= set(assignment.loc[assignment["group"] == CONTROL, "customer_id"])
        called |= set(calls["customer_id"].astype(str))
    assert not called & controls


def test_the_known_budget_change_keeps_c0020_in_control():
    """n=42, data_seed=1, seed=0, budget 3.0 -> 1.0 used to list the first run's control C0020."""
    first = {"share": 0.5625, "budget": 3.0, "statuses": ["churned"], "method": "auto"}
    inputs = make_inputs(42, 1)
    (a1, _, _), (a2, calls2, _) = _runs(inputs, [first, {**first, "budget": 1.0}], seed=0)
    assert a1.set_index("customer_id").loc["C0020", "group"] == CONTROL
    assert a2.set_index("customer_id").loc["C0020", "group"] == CONTROL
    assert "C0020" not in set(calls2["customer_id"].astype(str))
    # without the register the second run would call C0020 (the gap the register closes)
    bare, calls = _run(inputs, seed=0, **{**first, "budget": 1.0})
    assert bare.set_index("customer_id").loc["C0020", "group"] == TREATMENT
    assert "C0020" in set(calls["customer_id"].astype(str))


sequence_run = st.fixed_dictionaries(
    {
        "share": st.floats(0, 0.6),
        "budget": st.floats(0, 600),
        "statuses": st.sampled_from([["churned"], ["churned", "at_risk"]]),
        "method": st.sampled_from(["auto", "greedy"]),
    },
    optional={
        "strata": st.sampled_from([["tier"], ["churn_type"], ["tier", "churn_type"]]),
        "dnc_flips": st.lists(st.sampled_from([f"C{i:04d}" for i in range(60)]), max_size=6),
    },
)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 60), data_seed=st.integers(0, 10_000), seed=st.integers(0, 2**31),
       runs=st.lists(sequence_run, min_size=2, max_size=4))
def test_no_sequence_of_runs_lists_a_control_or_do_not_contact_customer(n, data_seed, seed,
                                                                         runs):
    """2-4 runs of a month: budgets, shares, strata, statuses and do-not-contact flags vary."""
    inputs = make_inputs(n, data_seed)
    controls, treated, called = set(), set(), set()
    for assignment, calls, dnc in _runs(inputs, runs, seed=seed):
        listed = set(calls["customer_id"].astype(str))
        assert not listed & dnc, "a do-not-contact customer is in a call list"
        assert listed <= set(assignment["customer_id"])
        controls |= set(assignment.loc[assignment["group"] == CONTROL, "customer_id"])
        treated |= set(assignment.loc[assignment["group"] == TREATMENT, "customer_id"])
        called |= listed
        assert not called & controls, "a control customer of the month is in a call list"
        assert not treated & controls, "a customer changed group within the month"


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 60), data_seed=st.integers(0, 10_000), seed=st.integers(0, 2**31),
       first=run_params, second=run_params)
def test_a_rerun_with_the_same_params_gives_the_same_assignment(n, data_seed, seed, first,
                                                                second):
    """After any earlier run, running the same params twice gives the same rows."""
    inputs = make_inputs(n, data_seed)
    out = list(_runs(inputs, [first, second, second], seed=seed))
    pd.testing.assert_frame_equal(out[1][0], out[2][0])
    pd.testing.assert_frame_equal(out[1][1], out[2][1])
    # and the month's first run is the plain seeded draw (no register yet)
    pd.testing.assert_frame_equal(out[0][0], _run(inputs, seed=seed, **first)[0])


# --------------------------------------------------------------------------------------
# The campaign log of a month whose outcomes are recorded
# --------------------------------------------------------------------------------------


def _log(month: str, ids: list[str]) -> pd.DataFrame:
    from winback.campaign import CAMPAIGN_COLUMNS

    frame = pd.DataFrame({c: "x" for c in CAMPAIGN_COLUMNS}, index=range(len(ids)))
    frame["customer_id"] = ids
    frame["month"] = month
    frame["group"] = ["control" if i % 4 == 0 else "treatment" for i in range(len(ids))]
    if "program" in frame.columns:
        frame["program"] = "winback"
    for c in ("offer_value", "p_winback", "expected_value", "cost"):
        frame[c] = 2.5
    return frame


@pytest.fixture()
def con():
    con = duckdb.connect()
    write_campaign_log(con, "2024-05", _log("2024-05", ["a", "b", "c", "d"]))
    write_campaign_log(con, "2024-06", _log("2024-06", ["e", "f"]))
    con.execute("CREATE TABLE contact_outcomes AS SELECT * FROM (VALUES "
                "('a', '2024-05', 1), ('b', '2024-05', 1), ('b', '2024-05', 2)) "
                "t(customer_id, campaign_month, attempt)")
    yield con
    con.close()


def test_rewrite_of_a_month_with_outcomes_is_refused_naming_month_rows_and_flag(con):
    before = read_campaign_log(con)
    with pytest.raises(CampaignLogLocked) as exc:
        write_campaign_log(con, "2024-05", _log("2024-05", ["a", "b"]))
    text = str(exc.value)
    assert "campaign log of 2024-05 cannot be rewritten" in text
    assert "3 contact outcome rows" in text and "--force-campaign" in text
    assert "2 customers added" not in text and "2 removed" in text
    pd.testing.assert_frame_equal(read_campaign_log(con), before)


def test_rewrite_allowed_with_force_without_outcomes_or_when_identical(con):
    # identical rows are not a rewrite (a deterministic rerun of the month)
    assert write_campaign_log(con, "2024-05", _log("2024-05", ["a", "b", "c", "d"])) == 4
    # a month without outcomes is replaced freely
    assert write_campaign_log(con, "2024-06", _log("2024-06", ["e"])) == 1
    # the explicit force flag
    assert write_campaign_log(con, "2024-05", _log("2024-05", ["z"]), force=True) == 1
    log = read_campaign_log(con)
    assert sorted(log.loc[log["month"] == "2024-05", "customer_id"]) == ["z"]
    assert sorted(log.loc[log["month"] == "2024-06", "customer_id"]) == ["e"]


def test_guard_carries_outcomes_and_force_into_a_run_copy(con):
    copy = duckdb.connect()
    write_campaign_log(copy, "2024-05", _log("2024-05", ["a", "b", "c", "d"]))
    # the copy's own load has no outcomes of 2024-05 (they arrive with later data)
    assert recorded_outcomes(copy, "2024-05") == (0, False)
    write_campaign_guard(copy, con, "2024-05")
    assert recorded_outcomes(copy, "2024-05") == (3, False)
    with pytest.raises(CampaignLogLocked, match="3 contact outcome rows"):
        check_campaign_rewrite(copy, "2024-05", _log("2024-05", ["a"]))
    write_campaign_guard(copy, con, "2024-05", force=True)
    assert recorded_outcomes(copy, "2024-05") == (3, True)
    assert write_campaign_log(copy, "2024-05", _log("2024-05", ["a"])) == 1
    copy.close()
