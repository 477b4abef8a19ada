"""Tests for winback.strategy: matrix precedence and checks, offers, expected value, candidates."""

from __future__ import annotations

import copy

import duckdb
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from winback.strategy import (
    STRATEGIES,
    OfferBand,
    OfferParams,
    StrategyError,
    StrategyMatrix,
    StrategyParams,
    candidate_funnel,
    candidates_of,
    category_preference,
    design_offers,
    expected_value,
    fill_channels,
    load_inputs,
    offer_value,
    plan_strategies,
    preference_customers,
    screen_candidates,
    update_priors,
    won_back_value,
)

REASONS = ["price", "quality", "service_attitude", "competitor_nearby", "no_need"]
CHURN_TYPES = {
    "price": "passive",
    "quality": "passive",
    "service_attitude": "passive",
    "competitor_nearby": "active",
    "no_need": "active",
}

# a parameter dict mirroring the YAML section
PARAMS = {
    "candidate_statuses": ["churned"],
    "value_column": "future_value",
    "matrix": [
        {
            "reason": "*",
            "strategy": "care_message",
            "channels": ["preferred", "sms", "email"],
            "offer": "none",
        },
        {"reason": "unknown", "strategy": "care_survey", "offer": "none"},
        {"reason": "price", "strategy": "package_offer", "offer": "bundle"},
        {"reason": ["quality"], "strategy": "fix_notice", "offer": "goodwill"},
        {"reason": "service_attitude", "strategy": "apology_compensation", "offer": "goodwill"},
        {
            "reason": "competitor_nearby",
            "strategy": "competitor_differentiation",
            "offer": "coupon",
        },
        {"churn_type": "active", "strategy": "product_education"},
        {"tier": [1, 2], "channels": ["phone", "preferred", "phone"]},
        {"tier": "5", "channels": ["sms", None]},
    ],
    "channels": {
        "cost": {
            "phone": 5.0,
            "sms": 0.1,
            "email": 0.05,
            "wechat": 0.3,
            "app_push": 0.02,
            "visit": 50.0,
        },
        "preferred_fallback": "sms",
    },
    "offers": {
        "window_days": 365,
        "rounding": 5.0,
        "packages": {
            "none": {"scale": 0.0},
            "goodwill": {"scale": 0.5},
            "coupon": {"scale": 1.0},
            "bundle": {"scale": 1.5},
        },
        "bands": [
            {"max_avg_spend": 100, "share": 0.15, "cap": 15},
            {"max_avg_spend": 300, "share": 0.10, "cap": 30},
            {"max_avg_spend": None, "share": 0.08, "cap": 50},
        ],
    },
    "p_winback": {s: {"matched": 0.2, "unmatched": 0.05} for s in STRATEGIES},
    "prior_strength": 100,
    "targeting": {"budget": {"1": 100.0, "*": 50.0}, "method": "auto", "exact_max_n": 500},
    "holdout": {"share": 0.2, "strata": ["tier", "churn_type"]},
}


def values(series: pd.Series) -> list:
    """A column's values with every missing marker as None."""
    return [None if pd.isna(v) else v for v in series]


def params(**changes) -> StrategyParams:
    raw = copy.deepcopy(PARAMS)
    raw.update(changes)
    return StrategyParams.model_validate(raw)


def matrix(rules, offers=("none", "goodwill", "coupon", "bundle")) -> StrategyMatrix:
    return StrategyMatrix(rules, offers=offers)


def make_inputs(n: int = 60, seed: int = 0):
    """Synthetic stage outputs: churn status, tiers, reasons, customers, category preferences."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:04d}" for i in range(n)]
    status = pd.DataFrame(
        {
            "customer_id": ids,
            "status": rng.choice(
                ["active", "at_risk", "churned", "lost", "new"], n, p=[0.2, 0.15, 0.5, 0.1, 0.05]
            ),
            "score": rng.random(n),
            "p_alive": rng.uniform(0.05, 1.0, n),
            "frequency": rng.integers(0, 6, n),
        }
    )
    tiers = pd.DataFrame(
        {
            "customer_id": ids,
            "tier": rng.integers(1, 6, n),
            "tier_label": "x",
            "future_value": rng.gamma(2.0, 150.0, n),
        }
    )
    known = rng.random(n) < 0.7
    codes = rng.choice(REASONS, n)
    reasons = pd.DataFrame(
        {
            "customer_id": np.array(ids)[known],
            "reason_code": codes[known],
            "churn_type": [CHURN_TYPES[c] for c in codes[known]],
            "source": "surveys",
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "do_not_contact": rng.random(n) < 0.1,
            "preferred_channel": rng.choice(["phone", "wechat", "sms", None], n),
        }
    )
    prefs = pd.DataFrame(
        {
            "customer_id": ids,
            "top_category": rng.choice(["fresh", "beauty", "home"], n),
            "avg_order_value": rng.gamma(2.0, 80.0, n),
            "preference_window": "365d",
        }
    )
    return status, tiers, reasons, customers, prefs


# --------------------------------------------------------------------------- matrix precedence


def test_most_specific_rule_wins_field_by_field():
    m = matrix(
        [
            {"reason": "*", "strategy": "care_message", "channels": ["sms"], "offer": "none"},
            {"churn_type": "passive", "strategy": "fix_notice", "channels": ["email"]},
            {"tier": "1", "strategy": "membership_upgrade", "channels": ["phone", "phone"]},
            {"reason": "price", "strategy": "package_offer", "offer": "bundle"},
            {"reason": "price", "tier": "1", "offer": "coupon"},
        ]
    )
    # reason (4) beats tier (2) for the strategy; tier beats churn type for the channels;
    # reason + tier (6) beats reason alone for the offer
    res = m.resolve_one("passive", "price", "1")
    assert res["strategy"] == "package_offer" and res["strategy_rule"] == 4
    assert res["channels"] == ("phone", "phone", None) and res["channels_rule"] == 3
    assert res["offer"] == "coupon" and res["offer_rule"] == 5
    assert res["reason_match"] is True
    # another tier: the churn-type rule gives the channels, the reason rule the offer
    res = m.resolve_one("passive", "price", "3")
    assert (res["strategy"], res["channels"][0], res["offer"]) == (
        "package_offer",
        "email",
        "bundle",
    )
    # tier beats churn type for the strategy when no reason rule applies
    res = m.resolve_one("passive", "quality", "1")
    assert res["strategy"] == "membership_upgrade" and res["reason_match"] is False
    res = m.resolve_one("active", "no_need", "2")
    assert (res["strategy"], res["channels"][0], res["offer"]) == ("care_message", "sms", "none")


def test_rule_order_never_decides():
    rules = PARAMS["matrix"]
    a, b = matrix(rules), matrix(list(reversed(rules)))
    for reason in [*REASONS, "unknown"]:
        for tier in ["1", "3", "5"]:
            ra = a.resolve_one(CHURN_TYPES.get(reason, "unknown"), reason, tier)
            rb = b.resolve_one(CHURN_TYPES.get(reason, "unknown"), reason, tier)
            assert {k: ra[k] for k in ("strategy", "channels", "offer")} == {
                k: rb[k] for k in ("strategy", "channels", "offer")
            }


def test_resolve_frame_adds_fields_and_keeps_rows():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "churn_type": ["passive", None, "active"],
            "reason_code": ["price", None, "no_need"],
            "tier": [1, 3.0, "5"],
        }
    )
    out = matrix(PARAMS["matrix"]).resolve(frame)
    assert out["customer_id"].tolist() == ["a", "b", "c"]
    assert out["strategy"].tolist() == ["package_offer", "care_survey", "product_education"]
    assert out["channel_1"].tolist() == ["phone", "preferred", "sms"]
    assert out["channel_3"].isna().tolist() == [False, False, True]
    assert out["offer_package"].tolist() == ["bundle", "none", "none"]
    assert out["reason_match"].tolist() == [True, True, False]
    assert frame.columns.tolist() == [
        "customer_id",
        "churn_type",
        "reason_code",
        "tier",
    ]  # input untouched


def test_resolve_names_gaps():
    m = matrix(
        [{"reason": "price", "strategy": "package_offer", "channels": ["sms"], "offer": "none"}]
    )
    frame = pd.DataFrame(
        {"customer_id": ["a"], "churn_type": ["passive"], "reason_code": ["quality"], "tier": [1]}
    )
    with pytest.raises(StrategyError, match="reason=quality tier=1"):
        m.resolve(frame)


# --------------------------------------------------------------------------- matrix validation


def test_unknown_strategy_channel_offer_are_refused_with_hints():
    with pytest.raises(
        StrategyError, match="unknown strategy 'package_ofer'.*did you mean 'package_offer'"
    ):
        matrix([{"strategy": "package_ofer", "channels": ["sms"], "offer": "none"}])
    with pytest.raises(StrategyError, match="unknown channel 'wechta'.*did you mean 'wechat'"):
        matrix([{"strategy": "care_message", "channels": ["wechta"], "offer": "none"}])
    with pytest.raises(StrategyError, match="unknown offer package 'copon'.*did you mean 'coupon'"):
        matrix([{"strategy": "care_message", "channels": ["sms"], "offer": "copon"}])
    with pytest.raises(StrategyError, match="contact 1 needs a channel"):
        matrix([{"strategy": "care_message", "channels": [None, "sms"], "offer": "none"}])
    with pytest.raises(StrategyError, match="1-3 entries"):
        matrix([{"strategy": "care_message", "channels": ["sms"] * 4, "offer": "none"}])
    with pytest.raises(StrategyError, match="at least one of strategy, channels, offer"):
        matrix([{"reason": "price"}])
    with pytest.raises(StrategyError, match="unknown churn type"):
        matrix([{"churn_type": "pasive", "strategy": "care_message"}])
    with pytest.raises(StrategyError, match="no rules"):
        matrix([])


def test_ambiguous_rules_are_refused():
    with pytest.raises(
        StrategyError, match=r"(?s)ambiguous.*rules 1 .* and 2 .* both set strategy"
    ):
        matrix(
            [
                {"reason": ["price", "quality"], "strategy": "package_offer"},
                {"reason": "price", "strategy": "fix_notice"},
            ]
        )
    # same pattern, different fields: fine
    matrix(
        [{"reason": "price", "strategy": "package_offer"}, {"reason": "price", "offer": "coupon"}]
    )
    # same specificity but disjoint: fine
    matrix(
        [
            {"reason": "price", "strategy": "package_offer"},
            {"reason": "quality", "strategy": "fix_notice"},
        ]
    )


def test_params_refuse_bad_matrix_with_a_clear_message():
    with pytest.raises(ValidationError, match="unknown strategy 'discount'"):
        params(matrix=[{"strategy": "discount", "channels": ["sms"], "offer": "none"}])
    bad_prior = copy.deepcopy(PARAMS["p_winback"])
    del bad_prior["fix_notice"]
    with pytest.raises(ValidationError, match=r"missing \['fix_notice'\]"):
        params(p_winback=bad_prior)
    with pytest.raises(ValidationError, match="lost and do-not-contact"):
        params(candidate_statuses=["churned", "lost"])


def test_check_accepts_a_complete_matrix_and_lists_every_problem():
    matrix(PARAMS["matrix"]).check(REASONS, CHURN_TYPES, tiers=[1, 2, 3, 4, 5])
    m = matrix(
        [
            {"reason": "pirce", "strategy": "package_offer", "channels": ["sms"], "offer": "none"},
            {"reason": "unknown", "strategy": "care_message", "channels": ["sms"], "offer": "none"},
            {"reason": "quality", "strategy": "care_survey", "channels": ["sms"], "offer": "none"},
            {"tier": "9", "channels": ["phone"]},
        ]
    )
    with pytest.raises(StrategyError) as err:
        m.check(["price", "quality"], {"price": "passive", "quality": "passive"}, tiers=[1, 2])
    text = str(err.value)
    assert "names reason 'pirce' (did you mean 'price'?)" in text
    assert "names tier '9'" in text
    assert "reason=price" in text and "no strategy, channels, offer" in text
    assert "reason 'unknown'" in text and "'care_survey' first" in text
    assert "reason 'quality' (churn_type=passive) resolves to 'care_survey'" in text


def test_check_tries_a_tier_no_rule_names():
    m = matrix(
        [
            {"reason": "*", "strategy": "care_message", "offer": "none"},
            {"reason": "unknown", "strategy": "care_survey"},
            {"tier": "1", "channels": ["phone"]},
        ]
    )
    with pytest.raises(StrategyError, match=r"tier=\(any other tier\): no channels"):
        m.check(["price"])


def test_every_strategy_family_is_expressible():
    rules = [
        {"reason": "*", "strategy": "care_message", "channels": ["preferred"], "offer": "none"},
        {"reason": "unknown", "strategy": "care_survey"},
    ]
    others = [s for s in STRATEGIES if s not in ("care_survey", "care_message")]
    reasons = [f"r{i}" for i in range(len(others))]
    rules += [{"reason": r, "strategy": s} for r, s in zip(reasons, others, strict=True)]
    p = params(matrix=rules)
    m = p.build_matrix()
    m.check(reasons)
    scripts = m.second_contact_scripts(reasons)
    assert scripts["strategy"].tolist() == others
    used = {m.resolve_one("passive", r, "1")["strategy"] for r in [*reasons, "unknown", "other"]}
    assert used == set(STRATEGIES)


def test_second_contact_scripts_use_tier_independent_rules():
    scripts = matrix(PARAMS["matrix"]).second_contact_scripts([*REASONS, "unknown"], CHURN_TYPES)
    assert scripts.columns.tolist() == ["reason_code", "strategy"]
    assert dict(zip(scripts["reason_code"], scripts["strategy"], strict=True)) == {
        "price": "package_offer",
        "quality": "fix_notice",
        "service_attitude": "apology_compensation",
        "competitor_nearby": "competitor_differentiation",
        "no_need": "product_education",
    }
    with pytest.raises(StrategyError, match="no second-contact strategy for reason 'price'"):
        matrix([{"tier": "1", "strategy": "care_message"}]).second_contact_scripts(["price"])


def test_tables_for_review():
    m = matrix(PARAMS["matrix"])
    rules = m.rules_table()
    assert rules["specificity"].tolist() == [0, 4, 4, 4, 4, 4, 1, 2, 2]
    table = m.table(REASONS, CHURN_TYPES, tiers=[1, 5])
    assert len(table) == (len(REASONS) + 1) * 2
    row = table[(table["reason_code"] == "unknown") & (table["tier"] == "5")].iloc[0]
    assert (row["strategy"], row["channel_1"]) == ("care_survey", "sms") and pd.isna(
        row["channel_2"]
    )


def test_fill_channels_uses_preference_and_fallback():
    frame = pd.DataFrame(
        {
            "channel_1": ["preferred", "phone", "preferred"],
            "channel_2": ["sms", "preferred", None],
            "channel_3": [None, None, None],
            "preferred_channel": ["wechat", None, "pigeon"],
        }
    )
    out = fill_channels(frame, fallback="email")
    assert out["channel_1"].tolist() == ["wechat", "phone", "email"]
    assert values(out["channel_2"]) == ["sms", "email", None]
    assert frame["channel_1"].iloc[0] == "preferred"


# --------------------------------------------------------------------------- offers


BANDS = [
    OfferBand(max_avg_spend=100, share=0.15, cap=15),
    OfferBand(max_avg_spend=300, share=0.10, cap=30),
    OfferBand(max_avg_spend=None, share=0.08, cap=50),
]


def test_offer_value_by_band_cap_scale_and_rounding():
    avg = np.array([80.0, 100.0, 200.0, 1000.0, np.nan, -5.0, 30.0])
    # 80*.15=12 -> 10; 100 is in band 1: 15; 200*.1=20; 1000*.08=80 capped 50;
    # nan, negative -> 0; 30*.15=4.5 -> 0
    assert offer_value(avg, bands=BANDS).tolist() == [10.0, 15.0, 20.0, 50.0, 0.0, 0.0, 0.0]
    assert offer_value(avg, bands=BANDS, scale=1.5).tolist() == [
        15.0,
        20.0,
        30.0,
        75.0,
        0.0,
        0.0,
        5.0,
    ]
    assert offer_value([1000.0], bands=BANDS, scale=0.0).tolist() == [0.0]
    assert offer_value([123.0], bands=BANDS, rounding=1.0).tolist() == [12.0]


def test_offer_bands_must_be_ordered_and_open_ended():
    with pytest.raises(ValidationError, match="last band"):
        OfferParams(packages={}, bands=[{"max_avg_spend": 100, "share": 0.1, "cap": 10}])
    with pytest.raises(ValidationError, match="increasing"):
        OfferParams(
            packages={},
            bands=[
                {"max_avg_spend": 300, "share": 0.1, "cap": 10},
                {"max_avg_spend": 100, "share": 0.1, "cap": 10},
                {"max_avg_spend": None, "share": 0.1, "cap": 10},
            ],
        )


def _store_with(rows) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    tx = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "order_ts", "amount", "category", "is_return"]
    )
    tx["order_ts"] = pd.to_datetime(tx["order_ts"]).astype("datetime64[us]")
    con.register("tx", tx)
    con.execute("CREATE TABLE transactions AS SELECT * FROM tx")
    return con


def test_category_preference_from_own_spend():
    con = _store_with(
        [
            # A: lifetime top is toys, but the last 365 days' top is fresh (returns net out)
            ("o1", "A", "2022-01-10", 500.0, "toys", False),
            ("o2", "A", "2024-02-01", 60.0, "fresh", False),
            ("o3", "A", "2024-03-01", 40.0, "beauty", False),
            ("o4", "A", "2024-03-05", 30.0, "beauty", False),
            ("o5", "A", "2024-03-06", -30.0, "beauty", True),
            # B: nothing in the window: described by its lifetime
            ("o6", "B", "2021-05-01", 90.0, "home", False),
            ("o7", "B", "2021-06-01", 30.0, "fresh", False),
            # C: a tie is broken by category name; a purchase after the month end is ignored
            ("o8", "C", "2024-06-01", 50.0, "home", False),
            ("o9", "C", "2024-06-02", 50.0, "beauty", False),
            ("o10", "C", "2024-07-02", 500.0, "toys", False),
        ]
    )
    pref = category_preference(con, "2024-06").set_index("customer_id")
    assert pref.loc["A", "top_category"] == "fresh"
    assert pref.loc["A", "avg_order_value"] == pytest.approx((60 + 40 + 30 - 30) / 3)
    assert pref.loc["A", "top_category_share"] == pytest.approx(60 / 100)
    assert pref.loc["A", "preference_window"] == "365d"
    assert pref.loc["B", "top_category"] == "home"
    assert pref.loc["B", "preference_window"] == "lifetime"
    assert pref.loc["B", "avg_order_value"] == pytest.approx(60.0)
    assert pref.loc["C", "top_category"] == "beauty"
    assert pref.loc["C", "orders"] == 2


def test_category_preference_counts_a_fully_refunded_window_as_no_spend():
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point: the window's net spend is zero
    con = _store_with(
        [
            ("o1", "D", "2022-03-01", 80.0, "home", False),
            ("o2", "D", "2024-05-01", 0.1, "toys", False),
            ("o3", "D", "2024-05-02", 0.2, "toys", False),
            ("o4", "D", "2024-05-03", -0.3, "toys", True),
        ]
    )
    pref = category_preference(con, "2024-06").set_index("customer_id")
    assert pref.loc["D", "preference_window"] == "lifetime"
    assert pref.loc["D", "top_category"] == "home"
    assert pref.loc["D", "orders"] == 3


def test_category_preference_ties_in_cents_and_no_positive_category():
    con = _store_with(
        [
            # E: 50.004 and 50.001 are the same in cents: the first name in sort order wins
            ("o1", "E", "2024-05-01", 50.004, "toys", False),
            ("o2", "E", "2024-05-02", 50.001, "home", False),
            ("o3", "E", "2024-05-03", 20.0, " ", False),  # blank category: no category
            # F: its only category spend is a net refund, the rest has no category
            ("o4", "F", "2024-05-01", 40.0, "toys", False),
            ("o5", "F", "2024-05-02", -60.0, "toys", True),
            ("o6", "F", "2024-05-03", 90.0, None, False),
        ]
    )
    pref = category_preference(con, "2024-06").set_index("customer_id")
    assert pref.loc["E", "top_category"] == "home"
    assert pref.loc["E", "top_category_share"] == pytest.approx(50.001 / 100.005)
    assert pref.loc["F", "top_category"] is None or pd.isna(pref.loc["F", "top_category"])
    assert pd.isna(pref.loc["F", "top_category_share"])
    assert pref.loc["F", "orders"] == 2


def test_category_preference_for_some_customers_is_their_rows_of_the_whole_table():
    con = _store_with(
        [
            ("o1", "A", "2024-05-01", 50.004, "toys", False),
            ("o2", "A", "2024-05-02", 50.001, "home", False),
            ("o3", "B", "2021-05-01", 90.0, "home", False),
            ("o4", "C", "2024-05-01", 40.0, "toys", False),
            ("o5", "C", "2024-05-02", -60.0, "toys", True),
            ("o6", "C", "2024-05-03", 90.0, None, False),
        ]
    )
    full = category_preference(con, "2024-06")
    for ids in (["C", "A"], ["B", "B", "X"], ("C",), []):
        part = category_preference(con, "2024-06", customers=ids)
        want = full[full["customer_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, want, check_exact=True)
    assert "_winback_preference_customers" not in con.execute("SHOW TABLES").df()["name"].tolist()
    with pytest.raises(StrategyError, match="missing ids"):
        category_preference(con, "2024-06", customers=["A", None])


def test_preference_customers_are_candidates_and_watchlisted():
    screened = pd.DataFrame({"customer_id": ["a", "b", "c"], "exclusion": [None, "lost", None]})
    assert preference_customers(screened) == ["a", "c"]
    watch = pd.DataFrame({"customer_id": ["d", "b"], "risk": [0.9, 0.8]})
    assert preference_customers(screened, watch) == ["a", "b", "c", "d"]
    with pytest.raises(StrategyError, match="watchlist"):
        preference_customers(screened, pd.DataFrame({"id": ["d"]}))


def test_load_inputs_can_leave_preferences_for_later():
    con = _store_with([("o1", "A", "2024-05-01", 50.0, "toys", False),
                       ("o2", "B", "2024-05-01", 20.0, "home", False)])
    con.execute("CREATE TABLE churn_status AS SELECT '2024-06' AS month, * FROM (VALUES "
                "('A', 'churned', 0.9), ('B', 'active', 0.1)) t(customer_id, status, score)")
    con.execute("CREATE TABLE tiers AS SELECT '2024-06' AS month, * FROM (VALUES "
                "('A', 1), ('B', 2)) t(customer_id, tier)")
    con.execute("CREATE TABLE reasons AS SELECT '2024-06' AS month, 'A' AS customer_id")
    con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES ('A'), ('B')) t(customer_id)")
    eager = load_inputs(con, "2024-06")
    lazy = load_inputs(con, "2024-06", preferences=False)
    assert lazy.preferences is None and "not read" in repr(lazy)
    pd.testing.assert_frame_equal(lazy.status, eager.status)
    assert eager.preferences["customer_id"].tolist() == ["A", "B"]


def test_category_preference_without_transactions_table():
    with pytest.raises(StrategyError, match="no table 'transactions'"):
        category_preference(duckdb.connect(), "2024-06")


def test_design_offers_uses_category_and_spend():
    p = params()
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "offer_package": ["coupon", "bundle", "none", "coupon"],
        }
    )
    prefs = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "top_category": ["fresh", "home", "beauty"],
            "avg_order_value": [200.0, 1000.0, 500.0],
        }
    )
    out = design_offers(frame, prefs, offers=p.offers)
    assert values(out["offer_category"]) == ["fresh", "home", None, None]
    assert out["offer_value"].tolist() == [20.0, 75.0, 0.0, 0.0]
    with pytest.raises(StrategyError, match="unknown offer package"):
        design_offers(frame.assign(offer_package="gift"), prefs, offers=p.offers)


# --------------------------------------------------------------------------- expected value


def test_expected_value_arithmetic():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "strategy": ["package_offer", "care_message"],
            "reason_match": [True, False],
            "channel_1": ["phone", "sms"],
            "channel_2": ["sms", None],
            "channel_3": ["phone", None],
            "offer_value": [20.0, 0.0],
            "future_value": [1000.0, 50.0],
        }
    )
    priors = {s: {"matched": 0.3, "unmatched": 0.1} for s in STRATEGIES}
    out = expected_value(frame, priors=priors, channel_cost=PARAMS["channels"]["cost"])
    # a: p .3, contact 5 + .1 + 5, offer .3*20 = 6 -> cost 16.1, ev 300 - 16.1
    # b: p .1, contact .1, no offer -> ev 5 - .1
    assert out["p_winback"].tolist() == [0.3, 0.1]
    assert out["contact_cost"].tolist() == pytest.approx([10.1, 0.1])
    assert out["cost"].tolist() == pytest.approx([16.1, 0.1])
    assert out["expected_value"].tolist() == pytest.approx([283.9, 4.9])
    with pytest.raises(StrategyError, match="no 'future_value'"):
        expected_value(
            frame.assign(future_value=[1.0, None]),
            priors=priors,
            channel_cost=PARAMS["channels"]["cost"],
        )
    with pytest.raises(StrategyError, match="fill 'preferred' first"):
        expected_value(
            frame.assign(channel_1="preferred"),
            priors=priors,
            channel_cost=PARAMS["channels"]["cost"],
        )


def test_update_priors_moves_towards_evidence():
    priors = {s: {"matched": 0.2, "unmatched": 0.05} for s in STRATEGIES}
    evidence = pd.DataFrame(
        {
            "strategy": ["package_offer", "package_offer", "fix_notice"],
            "reason_match": [True, True, False],
            "n_treated": [50, 50, 300],
            "uplift": [0.4, 0.2, 0.01],
        }
    )
    out = update_priors(priors, evidence, strength=100)
    assert out["package_offer"]["matched"] == pytest.approx((100 * 0.2 + 20 + 10) / 200)
    assert out["fix_notice"]["unmatched"] == pytest.approx((100 * 0.05 + 3) / 400)
    assert out["care_message"] == {"matched": 0.2, "unmatched": 0.05}
    with pytest.raises(StrategyError, match="unknown strategies"):
        update_priors(priors, evidence.assign(strategy="discount"))


# --------------------------------------------------------------------------- candidates


def test_screen_candidates_excludes_dnc_lost_and_other_statuses():
    status = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "status": ["churned", "churned", "lost", "at_risk", "churned"],
        }
    )
    tiers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "tier": [1, 2, 3, 4, 5],
            "future_value": [10.0, 20, 30, 40, 50],
        }
    )
    reasons = pd.DataFrame(
        {
            "customer_id": ["a"],
            "reason_code": ["price"],
            "churn_type": ["passive"],
            "source": ["surveys"],
        }
    )
    customers = pd.DataFrame(
        {"customer_id": list("abcde"), "do_not_contact": [False, True, False, False, None]}
    )
    out = screen_candidates(status, tiers, reasons, customers)
    assert values(out["exclusion"]) == [None, "do_not_contact", "lost", "status_not_targeted", None]
    assert out["reason_code"].tolist() == ["price", "unknown", "unknown", "unknown", "unknown"]
    assert out["churn_type"].tolist() == ["passive", "unknown", "unknown", "unknown", "unknown"]
    assert out["tier"].tolist() == ["1", "2", "3", "4", "5"]
    assert candidates_of(out)["customer_id"].tolist() == ["a", "e"]
    released = screen_candidates(status, tiers, reasons, customers, released=["e", "b"])
    assert values(released["exclusion"])[1:] == [
        "do_not_contact",
        "lost",
        "status_not_targeted",
        "released",
    ]
    wider = screen_candidates(status, tiers, reasons, customers, statuses=["churned", "at_risk"])
    assert candidates_of(wider)["customer_id"].tolist() == ["a", "d", "e"]
    funnel = candidate_funnel(out)
    assert funnel.loc["total", "customers"] == 5 and funnel.loc["total", "candidates"] == 2
    assert funnel.loc["churned", "do_not_contact"] == 1


def test_screen_candidates_errors_name_customers():
    status = pd.DataFrame({"customer_id": ["a", "b"], "status": ["churned", "churned"]})
    tiers = pd.DataFrame({"customer_id": ["a"], "tier": [1], "future_value": [1.0]})
    reasons = pd.DataFrame({"customer_id": [], "reason_code": [], "churn_type": []})
    customers = pd.DataFrame({"customer_id": ["a", "b"]})
    with pytest.raises(StrategyError, match=r"no row in the tiers table \(e.g. \['b'\]\)"):
        screen_candidates(status, tiers, reasons, customers)
    with pytest.raises(StrategyError, match="more than one row for customer"):
        screen_candidates(pd.concat([status, status]), tiers, reasons, customers)
    with pytest.raises(StrategyError, match="not in the customers"):
        screen_candidates(status, tiers, reasons, customers.iloc[:1])
    with pytest.raises(StrategyError, match=r"tiers lacks column\(s\) \['future_value'\]"):
        screen_candidates(status, tiers.drop(columns="future_value"), reasons, customers)


def test_plan_strategies_end_to_end_on_synthetic_frames():
    status, tiers, reasons, customers, prefs = make_inputs()
    cands = candidates_of(screen_candidates(status, tiers, reasons, customers))
    out = plan_strategies(cands, prefs, params())
    assert len(out) == len(cands)
    assert set(out["strategy"]) <= set(STRATEGIES)
    assert (out.loc[out["reason_code"] == "unknown", "strategy"] == "care_survey").all()
    assert not out[["channel_1", "channel_2", "channel_3"]].isin(["preferred"]).any().any()
    np.testing.assert_allclose(out["value"], won_back_value(out))
    np.testing.assert_allclose(out["expected_value"], out["p_winback"] * out["value"] - out["cost"])
    again = plan_strategies(cands.sample(frac=1, random_state=1), prefs, params())
    pd.testing.assert_frame_equal(out, again)


def test_won_back_value_divides_by_p_alive_for_repeat_buyers():
    frame = pd.DataFrame(
        {
            "future_value": [100.0, 100.0, 100.0, 0.0, 50.0],
            "p_alive": [0.5, 0.01, 0.3, np.nan, 0.2],
            "frequency": [3, 5, 0, 0, np.nan],
        }
    )
    out = won_back_value(frame, p_alive_floor=0.05)
    # 100/.5; floor .05 -> 2000; one-time buyer as is; no purchase as is; unknown frequency as is
    assert out.tolist() == pytest.approx([200.0, 2000.0, 100.0, 0.0, 50.0])
    assert won_back_value(frame, basis="as_is").tolist()[:3] == [100.0, 100.0, 100.0]
    with pytest.raises(StrategyError, match="frequency"):
        won_back_value(frame.drop(columns="frequency"))


def test_shipped_params_resolve_the_shipped_taxonomy_and_tiers():
    import yaml

    from winback.config import find_root
    from winback.reasons import ReasonsParams

    raw = yaml.safe_load((find_root() / "params" / "default.yaml").read_text("utf-8"))
    p = StrategyParams.model_validate(raw["strategy"])
    r = ReasonsParams.model_validate(raw.get("reasons") or {})
    types = {c: r.churn_type(c) for c in r.order}
    tiers = range(1, raw["tiering"]["n_tiers"] + 1)
    p.build_matrix().check(r.order, types, tiers)
    scripts = p.build_matrix().second_contact_scripts(r.order, types)
    assert scripts["reason_code"].tolist() == r.order
    assert "care_survey" not in set(scripts["strategy"])


def test_load_params_names_the_bad_matrix_entry():
    from winback.config import ParamsError, load_params

    bad = {"reason": "*", "strategy": "care_message", "channels": ["sms"], "offer": "voucher"}
    with pytest.raises(ParamsError, match=r"strategy\.matrix\b.*unknown offer package 'voucher'"):
        load_params(None, {"strategy": {"matrix": [bad]}})
    with pytest.raises(ParamsError, match=r"strategy\.matrix\.0\.channels = \['fax'\]"):
        load_params(None, {"strategy": {"matrix": [{**bad, "channels": ["fax"], "offer": "none"}]}})


def test_recent_control_customers_are_held_out_of_new_campaigns():
    status = pd.DataFrame({"customer_id": ["a", "b", "c"], "status": ["churned"] * 3})
    tiers = pd.DataFrame({"customer_id": ["a", "b", "c"], "tier": ["1", "1", "1"],
                          "future_value": [10.0, 10.0, 10.0]})
    reasons = pd.DataFrame({"customer_id": [], "reason_code": [], "churn_type": []})
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "do_not_contact": [False, True, False]})
    out = screen_candidates(status, tiers, reasons, customers, held_out=["a", "b"])
    got = dict(zip(out["customer_id"], out["exclusion"], strict=True))
    assert got == {"a": "control_hold", "b": "do_not_contact", "c": None}
    assert candidate_funnel(out).loc["churned", "control_hold"] == 1


# --------------------------------------------------------------------------- preventive care


def _screened_month():
    """Six customers with known statuses; a, c and f on last month's watchlist."""
    ids = ["a", "b", "c", "d", "e", "f", "g"]
    status = pd.DataFrame({"customer_id": ids,
                           "status": ["active", "churned", "at_risk", "lost", "active",
                                      "active", "churned"],
                           "p_alive": 0.9, "frequency": 2})
    tiers = pd.DataFrame({"customer_id": ids, "tier": ["1"] * 7,
                          "future_value": [400.0, 50.0, 300.0, 10.0, 200.0, 100.0, 80.0]})
    reasons = pd.DataFrame({"customer_id": [], "reason_code": [], "churn_type": []})
    customers = pd.DataFrame({"customer_id": ids,
                              "do_not_contact": [False, False, False, False, True, False, False],
                              "preferred_channel": ["phone", "sms", None, "sms", "sms", "wechat",
                                                    "sms"]})
    return screen_candidates(status, tiers, reasons, customers, held_out=["f"])


WATCH = pd.DataFrame({"month": "2024-05", "customer_id": ["a", "b", "c", "d", "e", "f", "z"],
                      "risk": [0.6, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1], "rank": range(1, 8),
                      "factor_1": "recency_ratio", "model": "gbm"})


def test_preventive_screen_never_double_counts_churned_lost_dnc_or_held_out():
    from winback.strategy import preventive_funnel, screen_preventive

    watch = screen_preventive(_screened_month(), WATCH, statuses=["active", "at_risk"])
    got = dict(zip(watch["customer_id"], watch["exclusion"], strict=True))
    assert got == {"a": None, "b": "churned", "c": None, "d": "lost", "e": "do_not_contact",
                   "f": "control_hold", "z": "not_in_month"}
    assert watch["watch_rank"].tolist() == list(range(1, 8))
    # an at_risk customer who is already a win-back candidate is not contacted twice
    sc = screen_candidates(
        pd.DataFrame({"customer_id": ["c"], "status": ["at_risk"]}),
        pd.DataFrame({"customer_id": ["c"], "tier": [1], "future_value": [1.0]}),
        pd.DataFrame({"customer_id": [], "reason_code": [], "churn_type": []}),
        pd.DataFrame({"customer_id": ["c"]}), statuses=["churned", "at_risk"])
    again = screen_preventive(sc, WATCH, statuses=["at_risk"]).set_index("customer_id")
    assert again.loc["c", "exclusion"] == "winback_candidate"
    assert (again.drop(index="c")["exclusion"] == "not_in_month").all()
    funnel = preventive_funnel(watch).set_index("outcome")["customers"]
    assert funnel["candidates"] == 2 and funnel["watchlisted"] == 7 and funnel["churned"] == 1
    with pytest.raises(StrategyError, match="watchlist lacks column"):
        screen_preventive(_screened_month(), WATCH.drop(columns="risk"))


def test_preventive_contact_value_and_cost_in_closed_form():
    from winback.strategy import plan_preventive, screen_preventive

    p = params(preventive={"channels": ["preferred", "sms", None], "p_save": 0.5,
                           "offer": "goodwill"})
    watch = screen_preventive(_screened_month(), WATCH)
    cands = watch[watch["exclusion"].isna()]
    prefs = pd.DataFrame({"customer_id": ["a", "c"], "top_category": ["fresh", "home"],
                          "avg_order_value": [200.0, 80.0], "preference_window": "365d"})
    out = plan_preventive(cands, prefs, p).set_index("customer_id")
    assert set(out["strategy"]) == {"care_message"} and not out["reason_match"].any()
    # a: phone (5.0) + sms (0.1); c has no preferred channel -> fallback sms
    assert out.loc["a", ["channel_1", "channel_2"]].tolist() == ["phone", "sms"]
    assert out.loc["c", "channel_1"] == "sms"
    # goodwill = 0.5 x min(0.10 x 200, 30) = 10 -> 10; c: 0.5 x min(0.15 x 80, 15) = 6 -> 5
    assert out["offer_value"].tolist() == [10.0, 5.0]
    assert out.loc["a", "p_winback"] == pytest.approx(0.6 * 0.5)
    assert out.loc["a", "cost"] == pytest.approx(5.1 + 10.0)
    assert out.loc["a", "expected_value"] == pytest.approx(0.3 * 400.0 - 15.1)
    assert out.loc["c", "expected_value"] == pytest.approx(0.2 * 300.0 - 0.2 - 5.0)
    bad = cands.assign(risk=[1.5, 0.2])
    with pytest.raises(StrategyError, match="risk must be a probability"):
        plan_preventive(bad, prefs, p)


def test_preventive_params_refuse_a_selling_script_and_an_unknown_offer():
    with pytest.raises(ValidationError, match="care contact"):
        params(preventive={"strategy": "package_offer"})
    with pytest.raises(ValidationError, match="preventive.offer 'voucher'"):
        params(preventive={"offer": "voucher"})
    with pytest.raises(ValidationError, match="preventive statuses"):
        params(preventive={"statuses": ["churned"]})
    with pytest.raises(ValidationError, match="unknown channel 'fax'"):
        params(preventive={"channels": ["fax"]})


def test_load_watchlist_takes_the_latest_month_before_and_says_when_there_is_none():
    from winback.strategy import load_watchlist

    con = duckdb.connect()
    first = load_watchlist(con, "2024-01")
    assert first.month is None and first.frame.empty and "no preventive contacts" in first.note
    con.register("w", pd.concat([WATCH, WATCH.assign(month="2024-03", risk=0.9)]))
    con.execute("CREATE TABLE watchlist AS SELECT * FROM w")
    got = load_watchlist(con, "2024-06", max_age_months=1)
    assert got.month == "2024-05" and got.frame["customer_id"].tolist()[:2] == ["a", "b"]
    assert got.frame["risk"].iloc[0] == 0.6 and "watch_rank" in got.frame
    stale = load_watchlist(con, "2024-05", max_age_months=1)
    assert stale.month is None and stale.frame.empty and "2 months old" in stale.note
    assert load_watchlist(con, "2024-05", max_age_months=2).month == "2024-03"


# --------------------------------------------------------------------------- learned priors


def _outcomes():
    """Window outcomes of campaign 2024-03 (windows 1 and 2) as stage 6 collects them.

    Window 2 (the longest): package_offer (price, matched) 40 treated / 10 control with 20
    and 1 reactivated; care_message 20 treated (10 no_need = matched, 10 quality) / 5
    control with 6 and 1 reactivated; preventive rows that must be ignored.
    """
    def arm(strategy, group, n, won, reasons, program="winback", window=2):
        return pd.DataFrame({
            "campaign_month": "2024-03", "window": window, "program": program,
            "customer_id": [f"{strategy[:3]}{group[0]}{program[0]}{window}{i}" for i in range(n)],
            "group": group, "reactivated": [i < won for i in range(n)], "strategy": strategy,
            "churn_type": [{"price": "passive", "no_need": "active", "quality": "passive"}[r]
                           for r in reasons],
            "reason_code": reasons, "tier": "1"})
    parts = [
        arm("package_offer", "treatment", 40, 20, ["price"] * 40),
        arm("package_offer", "control", 10, 1, ["price"] * 10),
        arm("care_message", "treatment", 20, 6, ["no_need"] * 10 + ["quality"] * 10),
        arm("care_message", "control", 5, 1, ["no_need"] * 5),
        arm("package_offer", "treatment", 40, 40, ["price"] * 40, window=1),  # shorter window
        arm("package_offer", "control", 10, 0, ["price"] * 10, window=1),
        arm("care_message", "treatment", 30, 30, ["price"] * 30, program="preventive"),
        arm("care_message", "control", 30, 0, ["price"] * 30, program="preventive"),
    ]
    return pd.concat(parts, ignore_index=True)


RULES = [{"reason": "*", "strategy": "care_message", "channels": ["sms"], "offer": "none"},
         {"reason": "unknown", "strategy": "care_survey"},
         {"reason": "price", "strategy": "package_offer"},
         {"reason": "no_need", "strategy": "care_message"}]


def test_learned_priors_shrink_toward_the_params_prior_by_effective_size():
    from winback.strategy import prior_evidence, prior_moves
    from winback.uplift import rate_difference

    ev = prior_evidence(_outcomes(), matrix(RULES))
    assert set(ev["window"]) == {2}  # the longest window; preventive rows never enter
    cells = ev.set_index(["strategy", "reason_match"])
    po = cells.loc[("package_offer", True)]
    ref = rate_difference(20, 40, 1, 10)
    assert po["uplift"] == pytest.approx(0.4) and po["ci_low"] == pytest.approx(ref.ci_low)
    assert po["n_treated"] == pytest.approx(40 * 10 / 50)  # effective size 8
    # care_message: effective size 20 x 5 / 25 = 4, half matched (no_need), half not
    assert cells.loc[("care_message", True), "n_treated"] == pytest.approx(2.0)
    assert cells.loc[("care_message", False), "n_treated"] == pytest.approx(2.0)
    priors = {s: {"matched": 0.2, "unmatched": 0.05} for s in STRATEGIES}
    post, table = prior_moves(priors, ev, strength=100)
    # (100 x 0.2 + 8 x 0.4) / 108; care_message unmatched: (100 x 0.05 + 2 x 0.1) / 102
    assert post["package_offer"]["matched"] == pytest.approx(23.2 / 108)
    assert post["care_message"]["unmatched"] == pytest.approx(5.2 / 102)
    assert post["care_survey"] == {"matched": 0.2, "unmatched": 0.05}
    row = table.set_index(["strategy", "cell"]).loc[("package_offer", "matched")]
    assert row["change"] == pytest.approx(23.2 / 108 - 0.2)
    assert row["weight"] == pytest.approx(8 / 108)
    # before any evaluation: nothing moves
    none = prior_evidence(_outcomes().iloc[0:0], matrix(RULES))
    post0, table0 = prior_moves(priors, none, strength=100)
    assert post0 == priors and (table0["change"] == 0).all()
    with pytest.raises(StrategyError, match="outcomes lack"):
        prior_evidence(_outcomes().drop(columns="tier"), matrix(RULES))


def test_learned_priors_follow_the_params_switch_and_say_what_moved():
    from winback.strategy import describe_prior_moves, learned_priors

    post, table = learned_priors(_outcomes().iloc[0:0], params())
    assert (table["change"] == 0).all() and "No win-back campaign" in describe_prior_moves(table)
    post, table = learned_priors(_outcomes(), params())
    # PARAMS: price -> package_offer (matched prior 0.2), strength 100, effective size 8
    assert post["package_offer"]["matched"] == pytest.approx(23.2 / 108)
    assert "package_offer (matched) 20.0% -> 21.5%" in describe_prior_moves(table)
    assert describe_prior_moves(table, language="en") == (
        "Evaluated campaigns moved 2 of 16 prior cells; the largest moves: package_offer "
        "(matched) 20.0% -> 21.5% (evaluated uplift +40.0%, effective size 8); care_message "
        "(unmatched) 5.0% -> 5.2% (evaluated uplift +10.0%, effective size 4)."
    )
    assert describe_prior_moves(table, language="zh") == (
        "已评估的活动调整了 16 个先验单元中的 2 个；调整最大的：package_offer (matched) 20.0% -> 21.5% "
        "(评估提升 +40.0%，有效样本量 8)；care_message (unmatched) 5.0% -> 5.2% (评估提升 +10.0%，"
        "有效样本量 4)。"
    )
    assert describe_prior_moves(table.iloc[0:0], language="zh").startswith("尚无挽回活动")
    off, table_off = learned_priors(_outcomes(), params(learn_priors=False))
    assert off["package_offer"]["matched"] == 0.2 and (table_off["change"] == 0).all()
