"""Tests for winback.reasons: churn-rate definition, reason rules, coverage, drivers."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from winback import reasons as R

MONTH = "2024-06"


@pytest.fixture
def params() -> R.ReasonsParams:
    return R.ReasonsParams()


def small_params(**kw) -> R.ReasonsParams:
    """A three-reason taxonomy with hand-picked keywords."""
    base = dict(
        taxonomy={
            "price": {"zh": "价格", "en": "Price", "churn_type": "passive"},
            "speed": {"zh": "速度", "en": "Speed", "churn_type": "passive"},
            "no_need": {"zh": "暂无需求", "en": "No need", "churn_type": "active"},
        },
        keywords={
            "price": {"zh": ["太贵", "价格太贵"], "en": ["expensive"]},
            "speed": {"zh": ["太慢"], "en": ["slow"]},
            "no_need": {"zh": ["不需要"], "en": ["no need"]},
        },
        drivers={"agreement": {}},
    )
    base.update(kw)
    return R.ReasonsParams(**base)


# --------------------------------------------------------------------------- params

def test_default_taxonomy_covers_the_required_codes(params):
    required = {"price", "quality", "service_attitude", "speed", "timeliness", "info_clarity",
                "reputation", "values", "competitor_nearby", "cost_conscious",
                "too_few_products", "unattractive_products", "only_contacted_when_selling",
                "scripted_service", "no_need"}
    assert required <= set(params.taxonomy)
    assert set(params.keywords) == set(params.taxonomy)
    assert params.churn_type("competitor_nearby") == "active"
    assert params.churn_type("price") == "passive"
    assert params.churn_type(R.UNKNOWN) == R.UNKNOWN


def test_params_refuse_keywords_or_aliases_outside_the_taxonomy():
    with pytest.raises(ValidationError, match="missing from the taxonomy"):
        small_params(keywords={"weather": {"zh": ["下雨"]}})
    with pytest.raises(ValidationError, match="missing from the taxonomy"):
        small_params(aliases={"贵": "pricey"})
    with pytest.raises(ValidationError, match="reserved"):
        small_params(taxonomy={"unknown": {"zh": "x", "en": "x", "churn_type": "active"}},
                     keywords={})
    with pytest.raises(ValidationError, match="listed twice"):
        small_params(source_priority=["surveys", "surveys"])
    with pytest.raises(ValidationError, match="both base and churned"):
        R.TrendParams(base_statuses=["active"], churn_statuses=["active"])


# --------------------------------------------------------------------------- intervals

def test_wilson_interval_closed_form():
    lo, hi = R.wilson_interval(5, 10)
    z = 1.959963984540054
    centre = (5 + z * z / 2) / (10 + z * z)
    half = z * np.sqrt(5 * 5 / 10 + z * z / 4) / (10 + z * z)
    assert lo == pytest.approx(centre - half)
    assert hi == pytest.approx(centre + half)
    lo0, hi0 = R.wilson_interval(0, 20)
    assert lo0 == 0.0 and 0 < hi0 < 0.2
    lo, hi = R.wilson_interval(np.array([1, 0]), np.array([4, 0]))
    assert np.isnan(lo[1]) and np.isnan(hi[1])


# --------------------------------------------------------------------------- churn rate

def status_history() -> pd.DataFrame:
    rows = {
        # customer: statuses for 2024-04, 2024-05, 2024-06
        "a": ["active", "churned", "churned"],   # churns in 05
        "b": ["active", "active", "at_risk"],    # never churns
        "c": ["at_risk", "at_risk", "lost"],     # straight to lost in 06 -> churn
        "d": ["new", "churned", "churned"],      # churns outside the base (new in 04)
        "e": ["active", "active", "churned"],    # churns in 06
        "f": ["churned", "churned", "active"],   # comes back: not in any base
        "g": ["active", "at_risk", None],        # missing in 06
    }
    out = []
    for cid, sts in rows.items():
        for month, st in zip(["2024-04", "2024-05", "2024-06"], sts, strict=True):
            if st is not None:
                out.append({"month": month, "customer_id": cid, "status": st})
    return pd.DataFrame(out)


def test_churn_rate_definition_on_hand_made_history():
    tr, counts = R.churn_transitions(status_history())
    # 2024-05 base = active/at_risk in 04: a, b, c, e, g -> churned: a
    may = tr[tr["month"] == "2024-05"].set_index("customer_id")
    assert sorted(may.index) == ["a", "b", "c", "e", "g"]
    assert may["churned"].to_dict() == {"a": True, "b": False, "c": False, "e": False,
                                        "g": False}
    # 2024-06 base = b, c, e, g (g missing in 06) -> churned: c (lost), e
    jun = tr[tr["month"] == "2024-06"].set_index("customer_id")
    assert sorted(jun.index) == ["b", "c", "e"]
    assert jun["churned"].sum() == 2
    c = counts.set_index("month")
    assert c.loc["2024-06", "n_missing"] == 1
    assert c.loc["2024-05", "n_churned_outside"] == 1  # d was new in 04
    rates = R.churn_rates(tr).set_index("month")
    assert rates.loc["2024-05", "rate"] == pytest.approx(1 / 5)
    assert rates.loc["2024-06", "rate"] == pytest.approx(2 / 3)
    assert rates.loc["2024-06", "n_base"] == 3
    lo, hi = R.wilson_interval(2, 3)
    assert rates.loc["2024-06", "low"] == pytest.approx(lo)
    assert "2024-04" not in rates.index  # no previous month


def test_store_transitions_match_the_pandas_definition():
    con = duckdb.connect()
    con.register("h", status_history())
    con.execute("CREATE TABLE churn_status AS SELECT * FROM h")
    for churn in (["churned", "lost"], ["churned"]):
        expected, expected_counts = R.churn_transitions(status_history(), churn_statuses=churn)
        got, counts = R.store_transitions(con, MONTH, churn_statuses=churn)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        pd.testing.assert_frame_equal(counts, expected_counts, check_dtype=False)
    early, _ = R.store_transitions(con, "2024-05")
    assert set(early["month"]) == {"2024-05"}
    con.execute("INSERT INTO churn_status VALUES ('2024-06', 'a', 'active')")
    with pytest.raises(R.ReasonsError, match="duplicate"):
        R.store_transitions(con, MONTH)



def test_store_transitions_order_ids_as_text_and_fall_back_on_missing_statuses():
    hist = status_history()
    ids = {"a": "c10", "b": "c9", "c": "C1", "d": "客户2", "e": "c1", "f": "b", "g": "c100"}
    hist["customer_id"] = hist["customer_id"].map(ids)
    hist = hist.iloc[::-1].reset_index(drop=True)  # stored in no particular order
    con = duckdb.connect()
    con.register("h", hist)
    con.execute("CREATE TABLE churn_status AS SELECT * FROM h")
    expected, expected_counts = R.churn_transitions(hist)
    expected = expected.sort_values(["month", "customer_id"], ignore_index=True)
    got, counts = R.store_transitions(con, MONTH)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    pd.testing.assert_frame_equal(counts, expected_counts, check_dtype=False)
    # a status without a value: the SQL definition (NULL is neither base nor churn)
    con.execute("UPDATE churn_status SET status = NULL WHERE customer_id = 'c9' "
                "AND month = '2024-04'")
    got, counts = R.store_transitions(con, MONTH)
    assert "c9" not in set(got.loc[got["month"] == "2024-05", "customer_id"])
    assert len(got) == len(expected) - 1

def test_churn_rate_counts_only_churned_when_lost_is_not_churn():
    tr, _ = R.churn_transitions(status_history(), churn_statuses=["churned"])
    assert tr.loc[tr["month"] == "2024-06", "churned"].sum() == 1  # only e


def test_churn_rate_skips_months_without_the_previous_month():
    hist = status_history()
    hist = hist[hist["month"] != "2024-05"]
    tr, counts = R.churn_transitions(hist)
    assert tr.empty and counts.empty


def test_churn_transitions_refuse_duplicates_and_missing_columns():
    hist = pd.concat([status_history(), status_history().head(1)])
    with pytest.raises(R.ReasonsError, match="duplicate"):
        R.churn_transitions(hist)
    with pytest.raises(R.ReasonsError, match="lacks column"):
        R.churn_transitions(status_history().drop(columns="status"))


def segments(with_tiers: bool = True) -> pd.DataFrame:
    customers = pd.DataFrame({
        "customer_id": list("abcdefg"),
        "signup_date": pd.to_datetime(["2023-01-05", "2023-02-01", "2023-05-01", "2024-03-20",
                                       "2023-12-31", "2022-01-01", "2023-04-01"]),
        "business_line": ["A", "A", "B", "B", "B", "A", None],
        "region": ["N", "S", "S", "N", "S", "N", "N"],
    })
    tiers = pd.DataFrame({"month": ["2024-05"] * 3, "customer_id": ["b", "c", "e"],
                          "tier": ["T1", "T2", "T2"]}) if with_tiers else None
    return R.segment_frame(customers, tiers)


def test_segment_rates_use_attributes_of_the_previous_month():
    tr, _ = R.churn_transitions(status_history())
    seg = segments()
    assert seg.set_index("customer_id")["cohort"].to_dict()["a"] == "2023Q1"
    rates = R.churn_rates(tr, seg, dimensions=["business_line", "tier", "cohort"])
    jun = rates[rates["month"] == "2024-06"]
    line = jun[jun["dimension"] == "business_line"].set_index("segment")
    assert line.loc["B", "n_base"] == 2 and line.loc["B", "rate"] == 1.0  # c, e
    assert line.loc["A", "rate"] == 0.0  # b
    tier = jun[jun["dimension"] == "tier"].set_index("segment")
    assert tier.loc["T2", "n_churned"] == 2 and tier.loc["T1", "n_churned"] == 0
    may_tier = rates[(rates["month"] == "2024-05") & (rates["dimension"] == "tier")]
    assert set(may_tier["segment"]) == {"(no tier)"}  # no tiers for 2024-04



def joined_counts(tr: pd.DataFrame, seg: pd.DataFrame, dim: str) -> pd.DataFrame:
    """The segment counts by joining the segments onto every transition (the definition)."""
    data = R._with_segments(tr, seg)
    return data.groupby(["month", dim], sort=True).agg(
        n_base=("churned", "size"), n_churned=("churned", "sum")).reset_index()


def test_segment_counts_by_position_match_the_join():
    tr, _ = R.churn_transitions(status_history())
    seg = segments()
    seg = seg[seg["customer_id"] != "c"].reset_index(drop=True)  # c: no segment -> (missing)
    seg.attrs["tiers"] = segments().attrs["tiers"]
    dims = ["business_line", "region", "tier", "cohort"]
    rates = R.churn_rates(tr, seg, dimensions=dims)
    for dim in dims:
        got = rates[rates["dimension"] == dim].reset_index(drop=True)
        want = joined_counts(tr, seg, dim)
        assert got["segment"].tolist() == want[dim].astype(str).tolist()
        assert got["month"].tolist() == want["month"].tolist()
        assert got["n_base"].tolist() == want["n_base"].tolist()
        assert got["n_churned"].tolist() == want["n_churned"].tolist()
    assert "(missing)" in set(rates.loc[rates["dimension"] == "region", "segment"])
    # a customer listed twice: counted twice, as the join does
    plain = pd.DataFrame({c: seg[c].to_numpy() for c in seg.columns})  # without attrs
    twice = pd.concat([plain, plain.head(1)], ignore_index=True)
    twice.attrs["tiers"] = seg.attrs["tiers"]
    doubled = R.churn_rates(tr, twice, dimensions=["region"])
    want = joined_counts(tr, twice, "region")
    assert doubled.loc[doubled["dimension"] == "region", "n_base"].tolist() == \
        want["n_base"].tolist()

def test_tier_counts_with_rows_out_of_order_and_a_month_without_tiers():
    tr, _ = R.churn_transitions(status_history())
    tr = tr.sample(frac=1.0, random_state=5).reset_index(drop=True)  # months interleaved
    seg = segments()
    tiers = seg.attrs["tiers"]
    seg.attrs["tiers"] = tiers[tiers["month"] == tiers["month"].max()].reset_index(drop=True)
    rates = R.churn_rates(tr, seg, dimensions=["tier"])
    got = rates[rates["dimension"] == "tier"].reset_index(drop=True)
    want = joined_counts(tr, seg, "tier")
    assert got["segment"].tolist() == want["tier"].astype(str).tolist()
    assert got["month"].tolist() == want["month"].tolist()
    assert got["n_base"].tolist() == want["n_base"].tolist()
    assert got["n_churned"].tolist() == want["n_churned"].tolist()
    assert "(no tier)" in set(got["segment"]) and len(set(got["segment"])) > 1


def test_tier_dimension_is_skipped_without_tiers_and_said_so():
    tr, _ = R.churn_transitions(status_history())
    rates = R.churn_rates(tr, segments(with_tiers=False), dimensions=["region", "tier"])
    assert "tier" not in set(rates["dimension"])
    conc = R.concentration(rates, recent_months=2, min_base=1)
    text = R.describe_concentration(rates, conc, tiers_available=False)
    assert "'tiers' does not exist" in text


def test_concentration_names_the_segment_with_the_highest_rate():
    rows = []
    for month in ("2024-05", "2024-06"):
        rows.append(("overall", "all", month, 200, 20))
        rows.append(("region", "North", month, 100, 4))
        rows.append(("region", "South", month, 95, 16))
        rows.append(("region", "Tiny", month, 5, 5))  # 100% but too small to rank
    rates = pd.DataFrame(rows, columns=["dimension", "segment", "month", "n_base", "n_churned"])
    rates["rate"] = rates["n_churned"] / rates["n_base"]
    rates["low"], rates["high"] = R.wilson_interval(rates["n_churned"], rates["n_base"])
    conc = R.concentration(rates, recent_months=2, min_base=30)
    south = conc[conc["segment"] == "South"].iloc[0]
    assert south["rank"] == 1
    assert south["rate"] == pytest.approx(32 / 190)
    assert south["above_overall"]
    assert south["lift"] == pytest.approx((32 / 190) / 0.1)
    assert np.isnan(conc.loc[conc["segment"] == "Tiny", "rank"].iloc[0])
    text = R.describe_concentration(rates, conc)
    assert "highest in South: 16.8%" in text
    assert "peaked in 2024-05" in text  # equal rates: the first month


def test_concentration_needs_a_rate():
    with pytest.raises(R.ReasonsError, match="two consecutive"):
        R.concentration(R.churn_rates(R.churn_transitions(status_history().head(0))[0]))


# --------------------------------------------------------------------------- keyword rules

def test_keyword_matching_chinese_substring_and_english_words():
    p = small_params()
    texts = pd.Series([
        "价格太贵了",               # 太贵 + 价格太贵 -> price, 2 hits
        "配送太慢",                 # speed
        "Shipping was SLOW",        # case-insensitive word
        "slowly improving",         # not the word "slow"
        "太贵而且太慢",              # 1 hit each: tie -> taxonomy order (price first)
        "太慢, slow, 太贵",          # speed 2 hits beats price 1
        "no need right now",        # multi-word English keyword
        None,
        "",
    ])
    out = R.match_keywords(texts, p)
    assert out["reason_code"].tolist()[:7] == ["price", "speed", "speed", pd.NA, "price",
                                               "speed", "no_need"]
    assert out["hits"].tolist() == [2, 1, 1, 0, 1, 2, 1, 0, 0]
    assert out["reason_code"].isna().tolist()[7:] == [True, True]


def test_keyword_tie_follows_taxonomy_order():
    p = small_params(taxonomy={
        "speed": {"zh": "速度", "en": "Speed", "churn_type": "passive"},
        "price": {"zh": "价格", "en": "Price", "churn_type": "passive"},
        "no_need": {"zh": "暂无需求", "en": "No need", "churn_type": "active"},
    })
    assert R.match_keywords(pd.Series(["太贵而且太慢"]), p)["reason_code"].iloc[0] == "speed"


def test_default_keywords_read_the_demo_style_texts(params):
    texts = pd.Series(["价格太贵了，比别家贵不少", "隔壁新开了一家，去那边买了", "客服像机器人一样",
                       "delivery was late, not on time", "good quality, will buy again"])
    out = R.match_keywords(texts, params)["reason_code"].tolist()
    assert out == ["price", "competitor_nearby", "scripted_service", "timeliness", pd.NA]


# --------------------------------------------------------------------------- evidence

def sources():
    ts = pd.Timestamp("2024-06-10")
    outcomes = pd.DataFrame({
        "customer_id": ["c1", "c1", "c9"],
        "contact_ts": [ts, ts - pd.Timedelta(days=400), ts],  # second row outside window
        "reason_code": ["Price", "speed", None],               # label spelling accepted
    })
    surveys = pd.DataFrame({
        "customer_id": ["c1", "c2", "c2", "c3"],
        "ts": [ts, ts, ts - pd.Timedelta(days=3), ts],
        "satisfaction": [2, 2, 1, 5],
        "reason_code": ["no_need", "speed", None, None],
        "text": ["", "", "太贵", "太贵"],  # c3: satisfied, so not scanned
    })
    interactions = pd.DataFrame({
        "customer_id": ["c3", "c4", "c4", "c4", "c5", "c6"],
        "ts": [ts, ts, ts - pd.Timedelta(days=1), ts - pd.Timedelta(days=2), ts,
               pd.Timestamp("2024-07-02")],  # c6: after the month end
        "kind": ["complaint", "complaint", "review", "review", "service_ticket", "complaint"],
        "score": [None, None, 1, 2, None, None],
        "text": ["工单 #speed 已处理", "太贵", "太慢", "太慢", "[暂无需求] 客户说明", "太贵"],
    })
    return outcomes, surveys, interactions


def test_collect_evidence_reads_every_source_in_the_window():
    p = small_params()
    outcomes, surveys, interactions = sources()
    ev = R.collect_evidence(MONTH, p, contact_outcomes=outcomes, surveys=surveys,
                            interactions=interactions)
    got = {(r.customer_id, r.source, r.reason_code) for r in ev.itertuples()}
    assert ("c1", "contact_outcomes", "price") in got
    assert ("c1", "contact_outcomes", "speed") not in got  # outside the window
    assert ("c1", "surveys", "no_need") in got
    assert ("c2", "surveys", "speed") in got
    assert ("c2", "keywords", "price") in got
    assert ("c3", "tickets", "speed") in got
    assert not any(c == "c3" and s == "keywords" for c, s, _ in got)  # satisfied survey
    assert ("c5", "tickets", "no_need") in got  # zh label as a tag
    assert not any(c == "c6" for c, _, _ in got)


def test_unknown_reason_codes_are_an_error_or_a_warning():
    outcomes = pd.DataFrame({"customer_id": ["c1"], "contact_ts": [pd.Timestamp("2024-06-01")],
                             "reason_code": ["weather"]})
    with pytest.raises(R.ReasonsError, match="weather.*reasons.aliases"):
        R.collect_evidence(MONTH, small_params(), contact_outcomes=outcomes)
    with pytest.warns(UserWarning, match="ignored"):
        ev = R.collect_evidence(MONTH, small_params(unknown_code="warn"),
                                contact_outcomes=outcomes)
    assert ev.empty
    ev = R.collect_evidence(MONTH, small_params(aliases={"weather": "no_need"}),
                            contact_outcomes=outcomes)
    assert ev["reason_code"].tolist() == ["no_need"]


def test_assign_reasons_follows_source_priority():
    p = small_params()
    outcomes, surveys, interactions = sources()
    ev = R.collect_evidence(MONTH, p, contact_outcomes=outcomes, surveys=surveys,
                            interactions=interactions)
    who = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c7"],
                        "status": ["churned", "churned", "at_risk", "churned", "churned"]})
    out = R.assign_reasons(who, ev, MONTH, p).set_index("customer_id")
    assert list(out.columns) == ["month", "status", "reason_code", "churn_type", "source",
                                 "evidence_count"]
    assert out.loc["c1", ["reason_code", "source"]].tolist() == ["price", "contact_outcomes"]
    assert out.loc["c2", ["reason_code", "source"]].tolist() == ["speed", "surveys"]
    assert out.loc["c3", ["reason_code", "source"]].tolist() == ["speed", "tickets"]
    # c4: keywords only: speed twice beats price once
    assert out.loc["c4", ["reason_code", "evidence_count"]].tolist() == ["speed", 2]
    assert out.loc["c7", ["reason_code", "churn_type", "source", "evidence_count"]].tolist() \
        == ["unknown", "unknown", "none", 0]
    assert out.loc["c1", "churn_type"] == "passive"
    # surveys first: c1 now explained by its survey
    p2 = small_params(source_priority=["surveys", "contact_outcomes", "tickets", "keywords"])
    out2 = R.assign_reasons(who, ev, MONTH, p2).set_index("customer_id")
    assert out2.loc["c1", ["reason_code", "source", "churn_type"]].tolist() == [
        "no_need", "surveys", "active"]
    # keywords only
    p3 = small_params(source_priority=["keywords"])
    out3 = R.assign_reasons(who, ev, MONTH, p3).set_index("customer_id")
    assert out3.loc["c1", "reason_code"] == "unknown"
    assert out3.loc["c2", ["reason_code", "source"]].tolist() == ["price", "keywords"]


def test_within_a_source_ties_go_to_the_latest_then_taxonomy_order():
    p = small_params()
    ts = pd.Timestamp("2024-06-01")
    ev = pd.DataFrame({
        "customer_id": ["x", "x", "y", "y"],
        "ts": [ts, ts + pd.Timedelta(days=1), ts, ts],
        "source": ["surveys"] * 4,
        "reason_code": ["price", "speed", "speed", "price"],
        "hits": [1, 1, 1, 1],
    })
    who = pd.DataFrame({"customer_id": ["x", "y"], "status": ["churned", "churned"]})
    out = R.assign_reasons(who, ev, MONTH, p).set_index("customer_id")
    assert out.loc["x", "reason_code"] == "speed"  # latest
    assert out.loc["y", "reason_code"] == "price"  # same time: taxonomy order


def test_assign_reasons_refuses_duplicate_customers():
    who = pd.DataFrame({"customer_id": ["x", "x"], "status": ["churned", "churned"]})
    with pytest.raises(R.ReasonsError, match="duplicate"):
        R.assign_reasons(who, R.collect_evidence(MONTH, small_params()), MONTH, small_params())


def hand_reasons() -> pd.DataFrame:
    rows = [("c1", "churned", "price", "contact_outcomes"),
            ("c2", "churned", "price", "keywords"),
            ("c3", "churned", "speed", "keywords"),
            ("c4", "churned", "no_need", "surveys"),
            ("c5", "churned", "unknown", "none"),
            ("c6", "at_risk", "speed", "keywords")]
    out = pd.DataFrame(rows, columns=["customer_id", "status", "reason_code", "source"])
    out["month"] = MONTH
    out["churn_type"] = out["reason_code"].map(small_params().churn_type)
    out["evidence_count"] = (out["reason_code"] != "unknown").astype(int)
    return out


def test_coverage_by_source():
    reasons = hand_reasons()
    ev = pd.DataFrame({"customer_id": ["c1", "c1", "c2", "c3", "c4", "c4", "c6"],
                       "source": ["contact_outcomes", "keywords", "keywords", "keywords",
                                  "surveys", "keywords", "keywords"]})
    cov = R.reason_coverage(reasons, ev).set_index("source")
    assert cov.loc["any", "assigned"] == 4 and cov.loc["any", "n_customers"] == 5
    assert cov.loc["any", "share"] == pytest.approx(0.8)
    assert cov.loc["keywords", "assigned"] == 2 and cov.loc["keywords", "available"] == 4
    assert cov.drop(index="any")["assigned"].sum() == cov.loc["any", "assigned"]
    lo, hi = R.wilson_interval(4, 5)
    assert cov.loc["any", "low"] == pytest.approx(lo) and cov.loc["any", "high"] == \
        pytest.approx(hi)


def test_reason_mix_and_top_reason():
    p = small_params()
    reasons = hand_reasons()
    mix = R.reason_mix(reasons, p)
    assert mix["reason_code"].tolist() == ["price", "speed", "no_need"]
    assert mix["share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert R.top_reason(reasons, p) == "price"
    by = R.reason_mix(reasons, p, by="churn_type").set_index(["churn_type", "reason_code"])
    assert by.loc[("active", "no_need"), "share"] == 1.0
    assert by.loc[("passive", "price"), "share"] == pytest.approx(2 / 3)
    with_unknown = R.reason_mix(reasons, p, include_unknown=True)
    assert with_unknown["total"].iloc[0] == 5
    text = R.describe_reasons(reasons, R.reason_coverage(reasons, reasons.assign(
        source=reasons["source"])), p)
    assert "4 of 5 churned customers" in text and "Price (price) 50.0%" in text
    assert R.top_reason(reasons.assign(reason_code="unknown"), p) == "unknown"


def test_reason_trend_uses_the_newly_churned_of_each_month():
    p = small_params()
    tr, _ = R.churn_transitions(status_history())
    history = pd.DataFrame({
        "month": ["2024-05", "2024-06", "2024-06", "2024-06"],
        "customer_id": ["a", "e", "c", "b"],
        "reason_code": ["price", "speed", "unknown", "price"],  # b did not churn
        "churn_type": ["passive", "passive", "unknown", "passive"],
    })
    out = R.reason_trend(history, tr, p)
    assert out[["month", "reason_code", "n", "total"]].values.tolist() == [
        ["2024-05", "price", 1, 1], ["2024-06", "speed", 1, 1]]
    types = R.reason_trend(history, tr, p, by_type=True)
    assert types["churn_type"].tolist() == ["passive", "passive"]
    # both trends from one matching of the customers: the same tables
    current = pd.DataFrame({"month": ["2024-06"], "customer_id": ["c"], "reason_code": ["speed"],
                            "churn_type": ["passive"]})
    both = R.reason_trends(history, tr, p, current=current)
    pd.testing.assert_frame_equal(both[0], R.reason_trend(history, tr, p, current=current,
                                                          by_type=True))
    pd.testing.assert_frame_equal(both[1], R.reason_trend(history, tr, p, current=current))


# --------------------------------------------------------------------------- drivers

def driver_data(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    logit = -1.0 + 1.0 * x1 - 0.5 * x2
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "x1": x1, "x2": x2,
                         "const_col": 3.0, "x1_copy": 2 * x1 + 1e-9 * x2, "churned": y})


def test_drivers_recover_known_odds_ratios():
    frame = driver_data()
    model = R.ChurnDrivers(["x1", "x2", "const_col", "x1_copy"]).fit(frame)
    assert model.method_ == "mle"
    assert model.used_ == ["x1", "x2"]
    assert set(model.dropped_["indicator"]) == {"const_col", "x1_copy"}
    table = model.summary().set_index("indicator")
    # per standard deviation of x (sd ~ 1): true odds ratios e^1 and e^-0.5
    assert table.loc["x1", "or_low"] < np.e < table.loc["x1", "or_high"]
    assert table.loc["x2", "or_low"] < np.exp(-0.5) < table.loc["x2", "or_high"]
    assert table.loc["x1", "rank"] == 1 and table.loc["x2", "direction"] == "lower"
    assert "n_events" in repr(model)
    assert "Strongest drivers" in R.describe_drivers(model)


def test_drivers_fall_back_to_firth_under_separation():
    x = np.r_[np.linspace(-2, -0.1, 30), np.linspace(0.1, 2, 30)]
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(60)], "x": x,
                          "churned": x > 0})
    model = R.ChurnDrivers(["x"]).fit(frame)
    assert model.method_ == "firth"
    row = model.summary().iloc[0]
    assert np.isfinite(row["coef"]) and row["coef"] > 0 and np.isfinite(row["se"])
    assert "Firth" in R.describe_drivers(model)


def test_drivers_impute_missing_values_and_refuse_a_single_class():
    frame = driver_data(500)
    frame.loc[:9, "x2"] = np.nan
    model = R.ChurnDrivers(["x1", "x2"]).fit(frame)
    assert model.imputed_ == {"x2": 10}
    with pytest.raises(R.ReasonsError, match="both churned and retained"):
        R.ChurnDrivers(["x1"]).fit(frame.assign(churned=False))
    with pytest.raises(R.ReasonsError, match="lacks"):
        R.ChurnDrivers(["nope"]).fit(frame)


def test_driver_frame_pools_base_customers_with_the_previous_snapshot():
    tr, _ = R.churn_transitions(status_history())
    snaps = {m: pd.DataFrame({"customer_id": list("abcdefg"), "x": np.arange(7.0) + i})
             for i, m in enumerate(["2024-04", "2024-05"])}
    frame = R.driver_frame(tr, snaps, indicators=["x"], months=6)
    assert sorted(frame["month"].unique()) == ["2024-05", "2024-06"]
    jun = frame[frame["month"] == "2024-06"].set_index("customer_id")
    assert jun.loc["e", "x"] == 4 + 1  # e is row 4 of the 2024-05 snapshot
    only_last = R.driver_frame(tr, snaps, indicators=["x"], months=1)
    assert set(only_last["month"]) == {"2024-06"}
    with pytest.raises(R.ReasonsError, match="lacks indicator"):
        R.driver_frame(tr, snaps, indicators=["y"])
    with pytest.raises(R.ReasonsError, match="two consecutive"):
        R.driver_frame(tr, {}, indicators=["x"])



def driver_store(*, discount: bool = True) -> duckdb.DuckDBPyConnection:
    """Statuses 2024-04..06, snapshots of 2024-04/05 and transactions for the shares."""
    con = duckdb.connect()
    con.register("h", status_history())
    con.execute("CREATE TABLE churn_status AS SELECT * FROM h")
    snaps = pd.concat([pd.DataFrame({"month": m, "customer_id": list("abcdefg"),
                                     "x": np.arange(7.0) + i})
                       for i, m in enumerate(["2024-04", "2024-05"])], ignore_index=True)
    con.register("sn", snaps)
    con.execute("CREATE TABLE snapshots AS SELECT * FROM sn")
    tx = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(7)],
        "customer_id": ["a", "a", "a", "b", "e", "e", "e"],
        "order_ts": pd.to_datetime(["2024-04-10", "2024-04-20", "2024-05-03", "2024-05-05",
                                    "2023-06-15", "2024-05-31T23:00", "2024-05-20"],
                                   format="ISO8601"),
        "amount": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, -10.0],
        "discount": [1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 1.0],
        "is_return": [False, False, False, False, False, False, True],
    })
    con.register("tx", tx if discount else tx.drop(columns="discount"))
    con.execute("CREATE TABLE transactions AS SELECT * FROM tx")
    return con


@pytest.mark.parametrize("discount", [True, False])
def test_store_driver_frame_matches_the_frame_definition(discount):
    con = driver_store(discount=discount)
    p = small_params(drivers={"agreement": {}, "indicators": ["x", "discount_share_365"],
                              "months": 6})
    tr, _ = R.churn_transitions(status_history())
    snaps = {}
    for m in ("2024-04", "2024-05"):
        snap = con.execute("SELECT customer_id, x FROM snapshots WHERE month = ?", [m]).df()
        snaps[m] = snap.merge(R.discount_share(con, m), on="customer_id", how="left")
    expected = R.driver_frame(tr, snaps, indicators=["x", "discount_share_365"], months=6)
    got = R.store_driver_frame(con, MONTH, p)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    read, _ = R.store_transitions(con, MONTH)
    by_lookup = R.store_driver_frame(con, MONTH, p, transitions=read)
    pd.testing.assert_frame_equal(by_lookup, expected, check_dtype=False)
    if discount:  # e in 2024-06 (snapshot of 05): 2 purchases in the window, 1 discounted
        row = got[(got["month"] == "2024-06") & (got["customer_id"] == "e")].iloc[0]
        assert row["discount_share_365"] == 0.5 and row["x"] == 4 + 1
    else:
        assert got["discount_share_365"].isna().all()
    one = R.store_driver_frame(con, MONTH, small_params(
        drivers={"agreement": {}, "indicators": ["x"], "months": 1}))
    assert set(one["month"]) == {"2024-06"}
    con.execute("DELETE FROM snapshots WHERE customer_id = 'e' AND month = '2024-05'")
    expected = R.store_driver_frame(con, MONTH, p)  # e: no snapshot row, missing values
    e_jun = (expected["customer_id"] == "e") & (expected["month"] == "2024-06")
    assert expected.loc[e_jun, "x"].isna().all() and e_jun.sum() == 1
    assert expected.loc[e_jun, "discount_share_365"].isna().all()  # only through a snapshot
    pd.testing.assert_frame_equal(R.store_driver_frame(con, MONTH, p, transitions=read),
                                  expected, check_dtype=False)
    con.execute("INSERT INTO snapshots SELECT * FROM snapshots WHERE customer_id = 'b' "
                "AND month = '2024-05'")  # a repeated row repeats the transition, as a join
    twice = R.store_driver_frame(con, MONTH, p, transitions=read)
    assert len(twice) == len(expected) + 1
    pd.testing.assert_frame_equal(twice, R.store_driver_frame(con, MONTH, p), check_dtype=False)


def test_store_driver_frame_by_lookup_keeps_text_columns_as_text():
    con = driver_store(discount=True)
    p = small_params(drivers={"agreement": {}, "indicators": ["x", "discount_share_365"],
                              "months": 6})
    read, _ = R.store_transitions(con, MONTH)
    got = R.store_driver_frame(con, MONTH, p, transitions=read)
    assert got["month"].dtype == "str" and got["customer_id"].dtype == "str"
    assert list(got["month"]) == sorted(got["month"])  # rows in the transitions' order
    for kind in ("object", "category"):
        other = read.astype({"month": kind, "customer_id": kind})
        pd.testing.assert_frame_equal(R.store_driver_frame(con, MONTH, p, transitions=other),
                                      got)


def test_store_driver_frame_errors_name_the_fix():
    con = driver_store()
    with pytest.raises(R.ReasonsError, match="lack indicator"):
        R.store_driver_frame(con, MONTH, small_params(
            drivers={"agreement": {}, "indicators": ["y"]}))
    with pytest.raises(R.ReasonsError, match="two consecutive"):
        R.store_driver_frame(con, "2024-04", small_params(
            drivers={"agreement": {}, "indicators": ["x"]}))
    with pytest.raises(R.ReasonsError, match="churn_status"):
        R.store_driver_frame(duckdb.connect(), MONTH, small_params())

def test_driver_agreement_compares_stated_reasons():
    p = small_params(drivers={"agreement": {
        "spend": {"direction": "lower", "reasons": ["price"]},
        "tickets": {"direction": "higher", "reasons": ["speed"]},
    }})
    n = 40
    reasons = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(3 * n)],
        "status": "churned",
        "reason_code": ["price"] * n + ["speed"] * n + ["no_need"] * n,
    })
    rng = np.random.default_rng(3)
    ind = pd.DataFrame({
        "customer_id": reasons["customer_id"],
        "spend": np.r_[rng.normal(50, 5, n), rng.normal(100, 5, 2 * n)],  # price: lower spend
        "tickets": np.tile(rng.normal(1, 0.2, n), 3),  # same values in every group
    })
    drivers = pd.DataFrame({"indicator": ["spend", "tickets"], "coef": [-0.8, 0.1],
                            "odds_ratio": [0.45, 1.1], "or_low": [0.3, 0.9],
                            "or_high": [0.6, 1.3], "direction": ["lower", "higher"],
                            "rank": [1, 2]})
    out = R.driver_agreement(drivers, reasons, ind, p.drivers.agreement).set_index("indicator")
    assert out.loc["spend", "agrees"] and out.loc["spend", "top_driver"]
    assert out.loc["spend", "difference"] == pytest.approx(
        ind["spend"][:n].mean() - ind["spend"][n:].mean())
    assert not out.loc["tickets", "agrees"] and not out.loc["tickets", "top_driver"]
    text = R.describe_agreement(out.reset_index())
    assert text.startswith("1 of 2 mapped indicators")


# --------------------------------------------------------------------------- store

def test_write_reasons_replaces_the_month_and_load_inputs_reads_the_store():
    con = duckdb.connect()
    reasons = hand_reasons()
    assert R.write_reasons(con, reasons) == 6
    assert R.write_reasons(con, reasons.head(2)) == 2
    assert con.execute("SELECT count(*) FROM reasons").fetchone()[0] == 2
    with pytest.raises(R.ReasonsError, match="one month"):
        R.write_reasons(con, pd.concat([reasons, reasons.assign(month="2024-05")]))
    with pytest.raises(R.ReasonsError, match="churn_status"):
        R.load_inputs(con, MONTH, small_params())


def test_load_inputs_and_discount_share_on_a_tiny_store():
    con = duckdb.connect()
    hist = status_history()
    con.register("h", hist)
    con.execute("CREATE TABLE churn_status AS SELECT * FROM h")
    con.execute("""CREATE TABLE customers AS SELECT * FROM (VALUES
        ('a', TIMESTAMP '2023-01-01', 'A', 'N'), ('b', TIMESTAMP '2023-01-01', 'A', 'S'))
        t(customer_id, signup_date, business_line, region)""")
    con.execute("""CREATE TABLE transactions AS SELECT * FROM (VALUES
        ('o1', 'a', TIMESTAMP '2024-06-01', 10.0, 1.0, false),
        ('o2', 'a', TIMESTAMP '2024-06-02', 10.0, 0.0, false),
        ('o3', 'a', TIMESTAMP '2024-06-03', -10.0, 0.0, true),
        ('o4', 'b', TIMESTAMP '2024-07-03', 10.0, 1.0, false))
        t(order_id, customer_id, order_ts, amount, discount, is_return)""")
    disc = R.discount_share(con, MONTH)
    assert disc.to_dict("list") == {"customer_id": ["a"], "discount_share_365": [0.5]}
    with pytest.raises(R.ReasonsError, match="snapshots"):
        R.load_inputs(con, MONTH, small_params())
    con.execute("CREATE TABLE snapshots AS SELECT '2024-06' AS month, 'a' AS customer_id, "
                "1.0 AS avg_day_spend")
    inp = R.load_inputs(con, MONTH, small_params())
    assert not inp.tiers_available and inp.interactions is None
    con.execute("CREATE TABLE tiers AS SELECT * FROM (VALUES ('2024-05', 'a', 1, '钻石'), "
                "('2024-06', 'a', 2, '黄金')) t(month, customer_id, tier, tier_label)")
    tiers = R.load_inputs(con, MONTH, small_params()).tiers
    assert tiers.to_dict("list") == {"month": ["2024-05"], "customer_id": ["a"],
                                     "tier": ["1 钻石"]}
    assert inp.snapshot["discount_share_365"].tolist() == [0.5]
    assert sorted(inp.explain(["churned", "lost"])["customer_id"]) == ["a", "c", "d", "e"]
    assert "ReasonInputs(month='2024-06'" in repr(inp)
    json.dumps(inp.status.to_dict("list"))  # plain data


def test_attach_segments_uses_last_months_tier():
    frame = pd.DataFrame({"customer_id": ["b", "e", "z"], "reason_code": ["price"] * 3})
    out = R.attach_segments(frame, segments(), MONTH).set_index("customer_id")
    assert out.loc["b", "tier"] == "T1" and out.loc["z", "tier"] == "(no tier)"
    assert out.loc["e", "business_line"] == "B" and out.loc["z", "region"] == "(missing)"
    assert set(R.attach_segments(frame, segments(False), MONTH)["tier"]) == {R.NO_TIERS}


def test_default_yaml_section_matches_the_model_defaults():
    import yaml

    from winback.config import SECTIONS, find_root

    raw = yaml.safe_load((find_root() / "params" / "default.yaml").read_text(encoding="utf-8"))
    assert R.ReasonsParams(**raw["reasons"]) == R.ReasonsParams()
    assert SECTIONS["reasons"] == "winback.reasons:ReasonsParams"


def test_reason_trend_replaces_stored_rows_of_the_run_month():
    p = small_params()
    tr, _ = R.churn_transitions(status_history())
    history = pd.DataFrame({"month": ["2024-05", "2024-06"], "customer_id": ["a", "e"],
                            "reason_code": ["price", "price"],
                            "churn_type": ["passive", "passive"]})
    current = pd.DataFrame({"month": ["2024-06"], "customer_id": ["e"],
                            "reason_code": ["no_need"], "churn_type": ["active"]})
    out = R.reason_trend(history, tr, p, current=current)
    assert out[["month", "reason_code"]].values.tolist() == [["2024-05", "price"],
                                                             ["2024-06", "no_need"]]
    assert R.reason_trend(None, tr, p).empty
    # without stored months, the run month's reasons date back to each churn month
    current = pd.DataFrame({"month": ["2024-06"] * 2, "customer_id": ["a", "e"],
                            "reason_code": ["speed", "no_need"],
                            "churn_type": ["passive", "active"]})
    out = R.reason_trend(None, tr, p, current=current)
    assert out[["month", "reason_code"]].values.tolist() == [["2024-05", "speed"],
                                                             ["2024-06", "no_need"]]


def test_key_figures_are_plain_data():
    p = small_params()
    reasons = hand_reasons()
    tr, _ = R.churn_transitions(status_history())
    cov = R.reason_coverage(reasons, reasons)
    figures = R.key_figures(R.churn_rates(tr), cov, reasons, p)
    assert figures["top_reason"]["code"] == "price" and figures["top_reason"]["share"] == 0.5
    assert figures["churn_rate"]["month"] == "2024-06"
    assert figures["coverage"]["n"] == 5
    assert figures["churn_type_mix"] == {"passive": 0.75, "active": 0.25}
    json.dumps(figures)


def test_concentration_sentence_also_names_a_segment_clearly_above_overall():
    rows = [("overall", "all", "2024-06", 1000, 100),
            ("cohort", "small", "2024-06", 30, 6),     # 20%, wide interval
            ("cohort", "big", "2024-06", 400, 64),     # 16%, clearly above 10%
            ("cohort", "rest", "2024-06", 570, 30)]
    rates = pd.DataFrame(rows, columns=["dimension", "segment", "month", "n_base", "n_churned"])
    rates["rate"] = rates["n_churned"] / rates["n_base"]
    rates["low"], rates["high"] = R.wilson_interval(rates["n_churned"], rates["n_base"])
    text = R.describe_concentration(rates, R.concentration(rates, min_base=30))
    assert "highest in small: 20.0%" in text and "overlaps" in text
    assert "big at 16.0%" in text and "clearly above it" in text


# --------------------------------------------------------------------------- demo truth

def test_drivers_drop_an_indicator_collinear_with_a_combination():
    frame = driver_data()
    rng = np.random.default_rng(11)
    frame["x3"] = frame["x1"] + frame["x2"] + rng.normal(0, 0.05, len(frame))
    model = R.ChurnDrivers(["x1", "x2", "x3"], max_vif=10).fit(frame)
    assert len(model.used_) == 2
    assert model.dropped_["reason"].str.startswith("VIF").all()


def test_every_chart_draws_hand_made_data_and_empty_data():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from winback.plots import reasons as charts

    p = small_params()
    tr, _ = R.churn_transitions(status_history())
    rates = R.churn_rates(tr, segments(), dimensions=["business_line", "tier"])
    conc = R.concentration(rates, recent_months=2, min_base=1)
    reasons = hand_reasons().assign(business_line=["A", "A", "B", "B", "A", "B"])
    cov = R.reason_coverage(reasons, reasons)
    mix = R.reason_mix(reasons, p)
    current = hand_reasons().assign(customer_id=["a", "e", "c", "x", "y", "z"])
    trend = R.reason_trend(None, tr, p, current=current, by_type=True)
    trend_codes = R.reason_trend(None, tr, p, current=current)
    drivers = R.ChurnDrivers(["x1", "x2"]).fit(driver_data(300)).summary()
    from winback import profile as P

    snap = pd.DataFrame({"customer_id": list("abcdefg"), "region": list("NSNSNSN"),
                         "age": [20, 30, 40, 50, 60, 70, 35.0]})
    params = P.ProfileParams(categorical=["region"], numeric=["age"], n_boot=20)
    tests = P.profile_tests(P.profile_frame(snap, status_history().query("month == '2024-06'"),
                                            params), params)
    drawn = [
        charts.plot_churn_trend(rates),
        charts.plot_segment_trend(rates, "business_line"),
        charts.plot_concentration(conc, "business_line"),
        charts.plot_profile_effects(tests),
        charts.plot_coverage(cov),
        charts.plot_reason_mix(mix),
        charts.plot_reason_mix_by(R.reason_mix(reasons, p, by="business_line"), "business_line",
                                  colours=charts.reason_colours(mix["reason_code"])),
        charts.plot_reason_trend(trend),
        charts.plot_reason_trend(trend_codes, key="reason_code"),
        charts.plot_odds_ratios(drivers),
        # empty inputs say so instead of failing
        charts.plot_churn_trend(rates.head(0)),
        charts.plot_concentration(conc, "region"),
        charts.plot_reason_mix(mix.head(0)),
        charts.plot_reason_mix_by(mix.head(0).assign(tier=[]), "tier"),
        charts.plot_reason_trend(trend.head(0)),
        charts.plot_odds_ratios(drivers.head(0)),
    ]
    for ax in drawn:
        assert ax.get_title()
        assert ax.texts  # the takeaway line
    plt.close("all")


def test_distinctive_reasons_need_an_interval_above_the_overall_share():
    p = small_params()
    rows = ([("N", "price")] * 30 + [("N", "speed")] * 10
            + [("S", "price")] * 10 + [("S", "speed")] * 30 + [("T", "no_need")] * 2)
    reasons = pd.DataFrame(rows, columns=["region", "reason_code"]).assign(
        status="churned", customer_id=[f"c{i}" for i in range(len(rows))])
    mix = R.reason_mix(reasons, p)
    by = R.reason_mix(reasons, p, by="region")
    out = R.distinctive_reasons(by, mix, "region")
    assert sorted(map(tuple, out[["region", "reason_code"]].values.tolist())) == [
        ("N", "price"), ("S", "speed")]
    assert out["overall_share"].tolist() == pytest.approx([40 / 82, 40 / 82])
    text = R.describe_distinctive(out, "region")
    assert text.startswith("By region, reasons clearly over-represented: ")
    assert "S: Speed 75.0%" in text and "T:" not in text
    assert "no reason is clearly" in R.describe_distinctive(out.head(0), "region")
    no_tiers = reasons.assign(tier=R.NO_TIERS)
    out = R.distinctive_reasons(R.reason_mix(no_tiers, p, by="tier"), mix, "tier")
    assert "'tiers' does not exist" in R.describe_distinctive(out, "tier")


# --------------------------------------------------------------------------- sentences in zh and en

# The English sentences as they read before they moved to the message catalog.
EN_CONCENTRATION = (
    "Monthly churn rate (newly churned / active or at-risk customers at the previous month "
    "end): 10.0% in 2024-06 (95% CI 6.6%–14.9%, 20 of 200); over 2024-05..2024-06 it peaked "
    "in 2024-05 at 10.0% (95% CI 6.6%–14.9%). Pooled over 2024-05..2024-06: 10.0% overall "
    "(95% CI 7.4%–13.3%). By region, churn is highest in 华南: 16.8% (95% CI 12.2%–22.8%, 32 "
    "of 190 customer-months), 1.7x overall; clearly above the overall rate. No tier "
    "breakdown: stage 3's store table 'tiers' does not exist yet (it appears once the tiering "
    "stage has run for a month).")
EN_REASONS = (
    "4 of 5 churned customers have a known reason (80.0%, 95% CI 37.6%–96.4%). By source: "
    "keywords 40.0%, contact_outcomes 20.0%, surveys 20.0%. Top reasons among those known: "
    "Price (price) 50.0% (95% CI 15.0%–85.0%); Speed (speed) 25.0% (95% CI 4.6%–69.9%); No "
    "need (no_need) 25.0% (95% CI 4.6%–69.9%). Churn type: passive 75.0% (95% CI "
    "30.1%–95.4%), active 25.0% (95% CI 4.6%–69.9%).")
EN_DRIVERS = (
    "Logistic regression on 3000 customer-months (893 newly churned), 2 standardized "
    "indicators, fitted by maximum likelihood, standard errors clustered by customer. Left "
    "out: const_col (constant), x1_copy (|corr| > 0.95 with x1). Strongest drivers (odds "
    "ratio per standard deviation): x1 2.50 (95% CI 2.27–2.76); x2 0.62 (95% CI 0.57–0.68).")

def _region_rates() -> pd.DataFrame:
    rows = []
    for month in ("2024-05", "2024-06"):
        rows.append(("overall", "all", month, 200, 20))
        rows.append(("region", "华北", month, 100, 4))
        rows.append(("region", "华南", month, 95, 16))
    rates = pd.DataFrame(rows, columns=["dimension", "segment", "month", "n_base", "n_churned"])
    rates["rate"] = rates["n_churned"] / rates["n_base"]
    rates["low"], rates["high"] = R.wilson_interval(rates["n_churned"], rates["n_base"])
    return rates


def test_concentration_sentence_in_chinese_keeps_the_numbers():
    rates = _region_rates()
    conc = R.concentration(rates, recent_months=2, min_base=30)
    zh = R.describe_concentration(rates, conc, tiers_available=False, language="zh")
    assert zh.startswith("月度流失率 (新流失客户 / 上月末活跃及有流失风险的客户)：2024-06 为 10.0%")
    assert "20 / 200" in zh and "于 2024-05 达到峰值 10.0%" in zh
    assert "按地区，华南 的流失率最高：16.8% (95% 区间" in zh and "32 / 190 客户月" in zh
    assert "为整体的 1.7 倍；明显高于整体。" in zh and "尚不存在" in zh
    assert "churn" not in zh.lower()
    assert R.describe_concentration(rates, conc, tiers_available=False) == EN_CONCENTRATION
    assert R.describe_concentration(rates.head(0), conc, language="zh").startswith("暂无月度流失率")


def test_distinctive_and_reason_sentences_in_chinese():
    p = small_params()
    rows = ([("N", "price")] * 30 + [("N", "speed")] * 10
            + [("S", "price")] * 10 + [("S", "speed")] * 30)
    reasons = pd.DataFrame(rows, columns=["region", "reason_code"]).assign(
        status="churned", customer_id=[f"c{i}" for i in range(len(rows))])
    mix = R.reason_mix(reasons, p, language="zh")
    out = R.distinctive_reasons(R.reason_mix(reasons, p, by="region", language="zh"), mix,
                                "region")
    zh = R.describe_distinctive(out, "region", language="zh")
    assert zh.startswith("按地区，明显偏多的原因：")
    assert "S：速度 75.0% (95% 区间" in zh and "30 / 40)，整体为 50.0%" in zh
    assert R.describe_distinctive(out.head(0), "region", language="zh").startswith(
        "按地区：没有哪个细分")

    hand = hand_reasons()
    cov = R.reason_coverage(hand, hand.assign(source=hand["source"]))
    zh = R.describe_reasons(hand, cov, p, language="zh")
    assert zh.startswith("5 位流失客户中有 4 位原因已知 (80.0%，95% 区间")
    assert "按来源：文本关键词 40.0%，外呼结果 20.0%，问卷 20.0%。" in zh
    assert "已知原因中居前的：价格 50.0% (95% 区间" in zh
    assert "流失类型：被动流失 75.0%" in zh and "主动流失 25.0%" in zh
    assert "price" not in zh and "passive" not in zh
    assert R.describe_reasons(hand, cov, p) == EN_REASONS


def test_driver_sentences_in_chinese():
    model = R.ChurnDrivers(["x1", "x2", "const_col", "x1_copy"]).fit(driver_data())
    zh = R.describe_drivers(model, language="zh")
    assert zh.startswith(f"逻辑回归：3000 个客户月 (其中新流失 {model.n_events_} 个)，2 个标准化指标，"
                         "拟合方法为最大似然估计，标准误按客户聚类。")
    assert "未纳入模型：const_col (取值恒定)" in zh and "最强的驱动因素 (每个标准差的优势比)：x1 " in zh
    ratio = model.summary().set_index("indicator").loc["x1", "odds_ratio"]
    assert f"x1 {ratio:.2f} (95% 区间 " in zh
    assert R.describe_drivers(model) == EN_DRIVERS

    p = small_params(drivers={"agreement": {
        "eng_complaint_365": {"direction": "higher", "reasons": ["price", "speed"]}}})
    agreement = pd.DataFrame([{
        "indicator": "eng_complaint_365", "reasons": "price, speed", "expected": "higher",
        "top_driver": True, "agrees": True, "mean_reason": 1.25, "mean_other": 0.5}])
    zh = R.describe_agreement(agreement, language="zh", params=p)
    assert zh == ("1 个有原因对应的指标中，有 1 个在陈述对应原因的客户与其他原因已知的客户之间呈预期方向的"
                  "差异；在有对应关系的主要驱动因素中，1 / 1 个一致。一致的指标：陈述价格、速度的客户"
                  "近 365 天投诉次数更高 (1.25 vs 0.5)。")
    assert R.describe_agreement(agreement) == (
        "1 of 1 mapped indicators differ in the expected direction between customers stating "
        "the mapped reasons and other customers with a known reason; among the top drivers "
        "with a mapping, 1 of 1 agree. Agreeing: eng_complaint_365 is higher for price, speed "
        "(1.25 vs 0.5).")
    assert R.describe_agreement(agreement.head(0), language="zh").startswith("params 中没有")


def test_placeholder_segments_are_named_in_chinese():
    rates = _region_rates().replace({"华南": "(no tier)"})
    conc = R.concentration(rates, recent_months=2, min_base=30)
    zh = R.describe_concentration(rates, conc, language="zh")
    assert "按地区，(无层级) 的流失率最高：16.8%" in zh
    assert "churn is highest in (no tier): 16.8%" in R.describe_concentration(rates, conc)
