"""Tests for winback.holdout: stratified shares, determinism, stability as candidates change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winback.holdout import CONTROL, HoldoutError, assign_holdout, hash_uniform, holdout_summary
from winback.settings import derive_seed


def customers(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "tier": rng.integers(1, 6, n).astype(str),
            "churn_type": rng.choice(["active", "passive", "unknown"], n),
        }
    )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 300),
    share=st.floats(0, 0.9),
    seed=st.integers(0, 2**32 - 1),
    data_seed=st.integers(0, 1000),
)
def test_share_within_one_customer_in_every_stratum(n, share, seed, data_seed):
    out = assign_holdout(customers(n, data_seed), share=share, seed=seed)
    assert len(out) == n
    for _, part in out.groupby("stratum"):
        k = int((part["group"] == CONTROL).sum())
        assert abs(k - share * len(part)) < 1


def test_overall_share_and_summary():
    out = assign_holdout(customers(5000), share=0.2, seed=7)
    summary = holdout_summary(out, share=0.2)
    assert summary.loc["total", "customers"] == 5000
    assert summary.loc["total", "control_share"] == pytest.approx(0.2, abs=0.01)
    assert (abs(summary["control"] - summary["expected_control"]) < 1).all()


def test_rerun_gives_the_same_split_and_months_differ():
    frame = customers(500)
    seed = derive_seed(1, "2024-06", "holdout")
    a = assign_holdout(frame, share=0.2, seed=seed)
    b = assign_holdout(frame.sample(frac=1, random_state=3), share=0.2, seed=seed)
    pd.testing.assert_series_equal(
        a.set_index("customer_id")["group"],
        b.set_index("customer_id")["group"].loc[a["customer_id"]],
    )
    c = assign_holdout(frame, share=0.2, seed=derive_seed(1, "2024-07", "holdout"))
    assert (a["group"] != c["group"]).any()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 200), drop=st.integers(0, 10_000), seed=st.integers(0, 2**32 - 1))
def test_removing_one_customer_changes_at_most_one_other(n, drop, seed):
    frame = customers(n)
    full = assign_holdout(frame, share=0.25, seed=seed).set_index("customer_id")["group"]
    gone = frame["customer_id"].iloc[drop % n]
    part = assign_holdout(frame[frame["customer_id"] != gone], share=0.25, seed=seed)
    part = part.set_index("customer_id")["group"]
    assert int((full.drop(gone) != part.loc[full.drop(gone).index]).sum()) <= 1


def test_draws_depend_on_id_and_seed_only():
    u = hash_uniform(["C1", "C2", "C1"], 5)
    assert u[0] == u[2] and u[0] != u[1]
    assert ((u >= 0) & (u < 1)).all()
    assert hash_uniform(["C1"], 6)[0] != u[0]
    draws = hash_uniform([f"C{i}" for i in range(20000)], 11)
    assert abs(draws.mean() - 0.5) < 0.01


def test_bad_input():
    with pytest.raises(HoldoutError, match="share"):
        assign_holdout(customers(5), share=1.0, seed=1)
    with pytest.raises(HoldoutError, match=r"\['tier'\] missing"):
        assign_holdout(customers(5).drop(columns="tier"), share=0.2, seed=1)
    with pytest.raises(HoldoutError, match="listed twice"):
        assign_holdout(pd.concat([customers(3), customers(3)]), share=0.2, seed=1)


def test_registered_customers_keep_their_group_and_new_ones_top_up_the_strata():
    frame = customers(400)
    seed = derive_seed(1, "2024-06", "holdout")
    first = assign_holdout(frame.iloc[:200], share=0.3, seed=seed)
    assert not first["registered"].any()
    register = first[["customer_id", "group"]]
    later = assign_holdout(frame.iloc[100:], share=0.3, seed=seed, registered=register)
    kept = later.merge(register, on="customer_id", suffixes=("", "_first"))
    assert len(kept) == 100 and (kept["group"] == kept["group_first"]).all()
    assert later["registered"].sum() == 100
    # the new customers top each stratum up towards the share over all its customers
    for key, part in later.groupby("stratum"):
        k = int((part["group"] == CONTROL).sum())
        fixed = int(((part["group"] == CONTROL) & part["registered"]).sum())
        target = int(np.floor(0.3 * len(part) + hash_uniform([f"stratum|{key}"], seed)[0]))
        assert k == max(fixed, min(target, fixed + int((~part["registered"]).sum())))
    # the same register and frame: the same split
    again = assign_holdout(frame.iloc[100:], share=0.3, seed=seed, registered=register)
    pd.testing.assert_frame_equal(later, again)


def test_register_additions_append_new_customers_once_and_refuse_group_moves():
    from winback.holdout import TREATMENT, register_additions

    a = pd.DataFrame({"customer_id": ["a", "b"], "group": [CONTROL, TREATMENT],
                      "program": "winback"})
    empty = pd.DataFrame(columns=["month", "program", "customer_id", "group", "first_run"])
    reg = register_additions(empty, a, "2024-06")
    assert reg["first_run"].tolist() == [1, 1] and reg["month"].eq("2024-06").all()
    assert register_additions(reg, a, "2024-06").empty  # a rerun adds nothing
    b = pd.DataFrame({"customer_id": ["b", "c"], "group": [TREATMENT, CONTROL],
                      "program": ["preventive", "winback"]})
    more = register_additions(reg, b, "2024-06")
    assert list(zip(more["program"], more["customer_id"], more["first_run"], strict=True)) == [
        ("preventive", "b", 2), ("winback", "c", 2)]
    # another month's register does not bind this month
    assert len(register_additions(reg, a.assign(group=TREATMENT), "2024-07")) == 2
    with pytest.raises(HoldoutError, match=r"a \(control -> treatment\)"):
        register_additions(reg, a.assign(group=TREATMENT), "2024-06")
    with pytest.raises(HoldoutError, match="both groups"):
        assign_holdout(customers(3), share=0.2, seed=1,
                       registered=pd.DataFrame({"customer_id": ["x", "x"],
                                                "group": [CONTROL, TREATMENT]}))
