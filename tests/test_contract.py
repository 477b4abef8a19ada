"""The data contract: typing, every rule, actions from params, messages, quality tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from winback.contract import (
    CONTRACT,
    QUARANTINE_COLUMNS,
    ContractError,
    ValidationParams,
    column_profile,
    neutralize_formula,
    orphans,
    quality_summary,
    validate,
    validate_all,
)
from winback.sources import RawSource

AS_OF = pd.Timestamp("2024-06-30")


def raw(name: str, origin: str = "x.csv", **cols) -> RawSource:
    return RawSource.from_frame(name, pd.DataFrame(cols, dtype="str"), origin=origin)


def rules(**actions) -> ValidationParams:
    return ValidationParams(rules=actions)


def customers(**extra) -> RawSource:
    cols = {"customer_id": ["C1", "C2", "C3"],
            "signup_date": ["2024-01-05", "2024-02-01", "2024-03-10"], **extra}
    return raw("customers", "customers.csv", **cols)


def transactions(**cols) -> RawSource:
    n = len(next(iter(cols.values())))
    base = {"order_id": [f"O{i}" for i in range(n)], "customer_id": ["C1"] * n,
            "order_ts": ["2024-03-01 10:00:00"] * n, "amount": ["10"] * n}
    return raw("transactions", "tx.csv", **{**base, **cols})


def issue(v, rule, column=None):
    found = [i for i in v.issues if i.rule == rule and (column is None or i.column == column)]
    assert found, f"no {rule} issue in {[i.rule for i in v.issues]}"
    return found[0]


# --- typing ----------------------------------------------------------------------------


def test_clean_is_typed_with_every_canonical_column_in_order():
    v = validate(customers(do_not_contact=["是", "N", "1"], age=["30", "41.0", None],
                           gender=[" 女 ", "男", None]), as_of=AS_OF)
    c = v.clean
    assert list(c.columns) == CONTRACT["customers"].names
    assert c["signup_date"].dtype == "datetime64[us]"
    assert c["do_not_contact"].tolist() == [True, False, True]
    assert c["do_not_contact"].dtype == bool
    assert c["age"].dtype == "Int64" and c["age"].tolist()[:2] == [30, 41]
    assert c["gender"].tolist()[:2] == ["女", "男"]
    assert c["region"].isna().all()
    assert v.present_columns == ("customer_id", "signup_date", "age", "gender", "do_not_contact")
    assert v.counts == {"rows_read": 3, "rows_clean": 3, "rows_quarantined": 0,
                        "rows_held_out": 0, "blank_rows_skipped": 0}
    assert v.issues == [] and len(v.quarantine) == 0
    assert list(v.quarantine.columns) == QUARANTINE_COLUMNS


def test_bool_spellings_and_undelivered_flags_default_to_false():
    v = validate(customers(do_not_contact=["true", "否", "Y"]), as_of=AS_OF)
    assert v.clean["do_not_contact"].tolist() == [True, False, True]
    v = validate(customers(), as_of=AS_OF)
    assert not v.clean["do_not_contact"].any()
    assert any(n.column == "do_not_contact" and "not delivered" in n.message for n in v.notes)


def test_inputs_are_not_modified():
    r = transactions(amount=["¥1,234", "-5", "x"], is_return=["", "1", "0"])
    before = r.frame.copy()
    validate(r, as_of=AS_OF)
    pd.testing.assert_frame_equal(r.frame, before)


def test_typed_inputs_from_parquet_or_sql():
    frame = pd.DataFrame({"order_id": ["O1", "O2"], "customer_id": ["C1", "C2"],
                          "order_ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00"]),
                          "amount": [10.5, np.inf], "quantity": [1, 2]})
    r = RawSource.from_frame("transactions", frame, origin="t.parquet", first_row=1)
    v = validate(r, as_of=AS_OF)
    assert v.clean["order_ts"].tolist() == [pd.Timestamp("2024-01-01 10:00")]
    assert issue(v, "non_finite", "amount").rows == (2,)


# --- missing column, missing value -----------------------------------------------------


def test_missing_required_column_is_always_an_error():
    r = raw("transactions", "tx.csv", order_id=["O1"], customer_id=["C1"], amount=["1"])
    with pytest.raises(ContractError) as err:
        validate(r, as_of=AS_OF)
    assert "tx.csv" in str(err.value) and "'order_ts' is missing" in str(err.value)
    assert err.value.issues[0].rule == "missing_required_column"
    with pytest.raises(ValidationError, match="cannot be 'quarantine'"):
        rules(missing_required_column="quarantine")


def test_missing_value_quarantine_or_error():
    r = customers(signup_date=["2024-01-05", "", "2024-01-07"])
    v = validate(r, as_of=AS_OF)
    assert v.clean["customer_id"].tolist() == ["C1", "C3"]
    i = issue(v, "missing_value", "signup_date")
    assert i.rows == (3,) and i.count == 1 and i.action == "quarantine"
    assert v.quarantine[["row", "rule", "column"]].values.tolist() == [
        [3, "missing_value", "signup_date"]]
    with pytest.raises(ContractError, match=r"column signup_date: empty in a required column: row 3"):
        validate(r, as_of=AS_OF, rules=rules(missing_value="error"))


# --- dates -----------------------------------------------------------------------------


def test_unparseable_date_in_required_column_is_quarantined_with_rows():
    r = customers(signup_date=["2024-13-45", "2024/2/1", "2024年3月10日"])
    v = validate(r, as_of=AS_OF)
    i = issue(v, "unparseable_date", "signup_date")
    assert i.rows == (2,) and i.action == "quarantine"
    assert "'2024-13-45'" in i.message and "customers.csv" in i.message
    assert "validation.date_formats" in i.hint
    assert v.clean["signup_date"].tolist() == [pd.Timestamp("2024-02-01"),
                                               pd.Timestamp("2024-03-10")]
    assert any(n.rule == "parsed_date" and n.count == 1 for n in v.notes)
    q = v.quarantine.iloc[0]
    assert q["detail"] == "'2024-13-45' is not a date"
    assert json.loads(q["record"]) == {"customer_id": "C1", "signup_date": "2024-13-45"}
    with pytest.raises(ContractError, match="not a date"):
        validate(r, as_of=AS_OF, rules=rules(unparseable_date="error"))


def test_extra_date_formats_from_params():
    r = customers(signup_date=["05/01/2024", "01/02/2024", "10/03/2024"])
    v = validate(r, as_of=AS_OF, rules=ValidationParams(date_formats=["%d/%m/%Y"]))
    assert v.clean["signup_date"].dt.month.tolist() == [1, 2, 3]


def test_future_rows_are_held_out_of_the_month():
    r = transactions(order_ts=["2024-06-30 23:59:59", "2024-07-01 00:00:00", "2025-01-01"])
    v = validate(r, as_of=AS_OF)
    assert v.clean["order_id"].tolist() == ["O0"]
    assert v.counts["rows_held_out"] == 2 and v.counts["rows_quarantined"] == 0
    assert issue(v, "future_date", "order_ts").rows == (3, 4)
    with pytest.raises(ContractError, match="after the run month's end 2024-06-30"):
        validate(r, as_of=AS_OF, rules=rules(future_date="error"))


def test_future_campaign_month_and_month_formats():
    r = raw("contact_outcomes", "out.csv", customer_id=["C1", "C1", "C2"],
            campaign_month=["2024-05", "202406", "2024-07"], attempt=["1", "2", "1"],
            contact_ts=["2024-06-02", "2024-06-03", "2024-06-04"],
            channel=["phone", "sms", "wechat"], reached=["是", "否", "1"])
    v = validate(r, as_of=AS_OF)
    assert v.clean["campaign_month"].tolist() == ["2024-05", "2024-06"]
    assert issue(v, "future_date", "campaign_month").rows == (4,)


def test_too_early_dates():
    v = validate(customers(signup_date=["1900-01-01", "2024-02-01", "1989-12-31"]), as_of=AS_OF)
    assert issue(v, "too_early", "signup_date").rows == (2, 4)
    assert v.clean["customer_id"].tolist() == ["C2"]
    v = validate(customers(signup_date=["1900-01-01", "2024-02-01", "1989-12-31"]),
                 as_of=AS_OF, rules=ValidationParams(min_date="1899-01-01"))
    assert len(v.clean) == 3


# --- numbers ---------------------------------------------------------------------------


def test_currency_and_thousands_are_parsed_and_counted():
    amounts = ["¥1,234", "1,234.50", "$12", "(5.00)", "12元", "￥ 3.5", "7"]
    v = validate(transactions(amount=amounts), as_of=AS_OF)
    assert v.clean["amount"].tolist() == [1234.0, 1234.5, 12.0, -5.0, 12.0, 3.5, 7.0]
    note = next(n for n in v.notes if n.rule == "parsed_number")
    assert note.count == 6 and "'¥1,234' -> 1234" in note.message
    assert not [i for i in v.issues if i.rule == "unparseable_number"]


def test_truly_unparseable_numbers_fire():
    v = validate(transactions(amount=["1,23", "abc", "#DIV/0!", "12\n3", "5"]), as_of=AS_OF)
    i = issue(v, "unparseable_number", "amount")
    assert i.rows == (2, 3, 4, 5) and i.action == "quarantine"
    assert v.clean["amount"].tolist() == [5.0]
    details = v.quarantine.set_index("row")["detail"]
    assert details[4] == "'#DIV/0!' is a spreadsheet error value"
    v = validate(transactions(amount=["1", "2"], discount=["x", "0.1"]), as_of=AS_OF)
    assert issue(v, "unparseable_number", "discount").action == "blank"
    assert v.clean["discount"].isna().tolist() == [True, False]


def test_non_finite_numbers():
    v = validate(transactions(amount=["inf", "NaN", "3"], discount=["-inf", "0", "0"]),
                 as_of=AS_OF)
    assert issue(v, "non_finite", "amount").rows == (2, 3)
    assert issue(v, "non_finite", "discount").action == "blank"
    assert v.clean["amount"].tolist() == [3.0]
    with pytest.raises(ContractError, match="not a finite number"):
        validate(transactions(amount=["inf"]), as_of=AS_OF, rules=rules(non_finite="error"))


def test_whole_numbers_and_ranges():
    r = raw("surveys", "s.csv", customer_id=["C1"] * 4,
            ts=["2024-01-01"] * 4, satisfaction=["5", "7", "4.5", "0"], nps=["10", "11", "0", ""])
    v = validate(r, as_of=AS_OF)
    assert v.clean["satisfaction"].tolist()[0] == 5
    assert v.clean["satisfaction"].isna().tolist() == [False, True, True, True]
    assert issue(v, "out_of_range", "satisfaction").rows == (3, 5)
    assert issue(v, "unparseable_number", "satisfaction").rows == (4,)
    assert issue(v, "out_of_range", "nps").rows == (3,)
    assert len(v.clean) == 4
    v = validate(r, as_of=AS_OF, rules=rules(out_of_range="quarantine"))
    assert len(v.clean) == 2
    v = validate(customers(age=["130", "-1", "55"]), as_of=AS_OF)
    assert issue(v, "out_of_range", "age").rows == (2, 3)


def test_out_of_range_in_required_column_quarantines():
    r = raw("contact_outcomes", "out.csv", customer_id=["C1", "C2"],
            campaign_month=["2024-05", "2024-05"], attempt=["1", "4"],
            contact_ts=["2024-06-02", "2024-06-03"], channel=["phone", "sms"],
            reached=["true", "false"])
    v = validate(r, as_of=AS_OF)
    i = issue(v, "out_of_range", "attempt")
    assert i.action == "quarantine" and i.rows == (3,)
    assert v.clean["attempt"].tolist() == [1]


# --- duplicates ------------------------------------------------------------------------


def test_exact_duplicates_keep_the_first_copy():
    r = transactions(order_id=["O1", "O2", "O1"], amount=["10", "20", "10.0"])
    v = validate(r, as_of=AS_OF)
    assert v.clean["order_id"].tolist() == ["O1", "O2"]
    i = issue(v, "duplicate_key")
    assert i.rows == (4,) and i.column == "order_id"
    assert v.quarantine["detail"].tolist() == ["exact copy of row 2"]


def test_conflicting_duplicate_customers_are_reported_as_such():
    r = customers(customer_id=["C1", "C2", "C1"], city=["上海", "北京", "广州"])
    with pytest.raises(ContractError) as err:
        validate(r, as_of=AS_OF)
    msg = str(err.value)
    assert "1 customer_id value appears more than once with different signup_date, city" in msg
    assert "rows 2, 4" in msg
    v = validate(r, as_of=AS_OF, rules=rules(conflicting_duplicate="quarantine"))
    assert v.clean["customer_id"].tolist() == ["C2"]
    assert v.quarantine["detail"].tolist() == [
        "rows 2, 4 share this customer_id but differ in signup_date, city"] * 2


def test_composite_key_of_contact_outcomes():
    r = raw("contact_outcomes", "out.csv", customer_id=["C1", "C1", "C1"],
            campaign_month=["2024-05", "2024-05", "2024-05"], attempt=["1", "2", "2"],
            contact_ts=["2024-06-02", "2024-06-09", "2024-06-09"],
            channel=["phone", "sms", "sms"], reached=["是", "否", "否"])
    v = validate(r, as_of=AS_OF)
    assert issue(v, "duplicate_key").column == "customer_id / campaign_month / attempt"
    assert len(v.clean) == 2


# --- amounts and returns ---------------------------------------------------------------


def test_returns_are_kept_and_negative_non_returns_quarantined():
    r = transactions(amount=["-5", "-6", "7", "8"], is_return=["true", "0", "", "N"])
    v = validate(r, as_of=AS_OF)
    assert v.clean["order_id"].tolist() == ["O0", "O2", "O3"]
    assert v.clean["is_return"].tolist() == [True, False, False]
    assert issue(v, "negative_amount_not_return").rows == (3,)
    assert any(n.rule == "returns_kept" and n.count == 1 for n in v.notes)


def test_without_is_return_a_negative_amount_is_a_return():
    v = validate(transactions(amount=["-5", "6"]), as_of=AS_OF)
    assert v.clean["is_return"].tolist() == [True, False]
    assert not v.issues


def test_positive_return_is_reported_and_sign_kept_or_negated_per_params():
    r = transactions(amount=["5", "6"], is_return=["是", "否"])
    v = validate(r, as_of=AS_OF)
    i = issue(v, "return_sign")
    assert i.action == "warn" and i.rows == (2,)
    assert v.clean["amount"].tolist() == [5.0, 6.0]
    v = validate(r, as_of=AS_OF, rules=ValidationParams(positive_returns="negate"))
    assert v.clean["amount"].tolist() == [-5.0, 6.0]
    assert any(n.rule == "return_negated" and n.count == 1 for n in v.notes)
    v = validate(r, as_of=AS_OF, rules=rules(return_sign="quarantine"))
    assert v.clean["order_id"].tolist() == ["O1"]


# --- customers across sources ----------------------------------------------------------


def test_unknown_customers():
    known = pd.Series(["C1", "C2"])
    r = transactions(customer_id=["C1", "C9", "C2", "C9"])
    v = validate(r, as_of=AS_OF, known_customers=known)
    i = issue(v, "unknown_customer")
    assert i.rows == (3, 5) and i.count == 2 and "'C9'" in i.message
    assert v.clean["customer_id"].tolist() == ["C1", "C2"]
    v = validate(r, as_of=AS_OF, known_customers=known, rules=rules(unknown_customer="warn"))
    assert len(v.clean) == 4


def test_validate_all_checks_customers_first_and_collects_every_error():
    cust = customers()
    tx = transactions(customer_id=["C1", "C7"])
    out = validate_all({"transactions": tx, "customers": cust}, as_of=AS_OF)
    assert issue(out["transactions"], "unknown_customer").rows == (3,)
    bad_c = customers(customer_id=["C1", "C1", "C2"])
    bad_t = raw("transactions", "tx.csv", order_id=["O1"])
    with pytest.raises(ContractError) as err:
        validate_all({"customers": bad_c, "transactions": bad_t}, as_of=AS_OF)
    assert "customers" in str(err.value) and "'order_ts' is missing" in str(err.value)


# --- text ------------------------------------------------------------------------------


def test_text_too_long_truncates_or_quarantines():
    r = raw("interactions", "i.csv", customer_id=["C1", "C2"], ts=["2024-01-01"] * 2,
            kind=["review", "complaint"], text=["短", "太长了" * 10])
    p = ValidationParams(max_text_length=12)
    v = validate(r, as_of=AS_OF, rules=p)
    i = issue(v, "text_too_long", "text")
    assert i.rows == (3,) and i.action == "truncate"
    assert v.clean["text"].str.len().tolist() == [1, 12]
    v = validate(r, as_of=AS_OF, rules=ValidationParams(max_text_length=12,
                                                         rules={"text_too_long": "quarantine"}))
    assert v.clean["customer_id"].tolist() == ["C1"]
    assert v.quarantine["value"].tolist() == ["30 characters"]


def test_formula_injection_is_flagged_kept_and_neutralized_for_exports():
    r = raw("interactions", "i.csv", customer_id=["C1", "C2", "C3", "C4"],
            ts=["2024-01-01"] * 4, kind=["review"] * 4,
            text=["=cmd|' /C calc'!A0", "@SUM(A1)", "-12.5", "fine"])
    v = validate(r, as_of=AS_OF)
    i = issue(v, "formula_injection", "text")
    assert i.rows == (2, 3) and i.action == "warn"
    assert v.clean["text"].iloc[0] == "=cmd|' /C calc'!A0"
    safe = neutralize_formula(v.clean["text"])
    assert safe.tolist() == ["'=cmd|' /C calc'!A0", "'@SUM(A1)", "-12.5", "fine"]
    assert v.clean["text"].iloc[0].startswith("=")
    phones = pd.Series(["+86 138 0000 0000", "\tx", None, "+cmd"])
    out = neutralize_formula(phones)
    assert out[[0, 1, 3]].tolist() == ["+86 138 0000 0000", "'\tx", "'+cmd"] and pd.isna(out[2])
    assert neutralize_formula(pd.Series([1.5, -2.0])).tolist() == [1.5, -2.0]
    with pytest.raises(ContractError, match="spreadsheet formula"):
        validate(r, as_of=AS_OF, rules=rules(formula_injection="error"))


def test_messages_show_no_pii_values():
    v = validate(customers(phone=["=1+1", "13800000000", "+86 138"]), as_of=AS_OF)
    i = issue(v, "formula_injection", "phone")
    assert i.rows == (2,) and "=1+1" not in i.message


def test_bad_category_in_required_and_optional_columns():
    r = raw("interactions", "i.csv", customer_id=["C1", "C2", "C3"], ts=["2024-01-01"] * 3,
            kind=["review", "投诉", "Complaint"])
    v = validate(r, as_of=AS_OF)
    i = issue(v, "bad_category", "kind")
    assert i.rows == (3,) and i.action == "quarantine"
    assert "map the client's values" in i.hint and "sources.interactions.values.kind" in i.hint
    assert v.clean["kind"].tolist() == ["review", "complaint"]
    assert any(n.rule == "case_folded" for n in v.notes)
    v = validate(customers(preferred_channel=["phone", "电话", "sms"]), as_of=AS_OF)
    assert issue(v, "bad_category", "preferred_channel").action == "blank"
    assert v.clean["preferred_channel"].isna().tolist() == [False, True, False]


# --- messages, params ------------------------------------------------------------------


def test_error_message_lists_every_error_with_first_rows_and_count():
    ids = [f"C{i}" for i in range(14)]
    dates = ["bad"] * 12 + ["2024-01-01", "2024-01-02"]
    r = raw("customers", "customers.csv", customer_id=ids, signup_date=dates,
            age=["x"] + ["30"] * 13)
    with pytest.raises(ContractError) as err:
        validate(r, as_of=AS_OF, rules=rules(unparseable_date="error", unparseable_number="error"))
    msg = str(err.value)
    assert msg.startswith("customers (customers.csv) breaks the data contract (2 problems):")
    assert "column signup_date" in msg and "rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 (+2 more)" in msg
    assert "(12 in all" in msg and "column age" in msg and "Fix:" in msg
    assert {i.column for i in err.value.issues} == {"signup_date", "age"}


def test_rows_are_named_by_file_when_several_files_were_read():
    frame = pd.DataFrame({"customer_id": ["C1", "C2"], "signup_date": ["x", "2024-01-01"]},
                         dtype="str")
    r = RawSource("customers", frame, "a.csv, b.csv", np.array([2, 2]),
                  np.array(["a.csv", "b.csv"], dtype=object))
    v = validate(r, as_of=AS_OF)
    assert "row a.csv:2" in issue(v, "unparseable_date").message
    assert v.quarantine["file"].tolist() == ["a.csv"]


def test_validation_params_refuse_unknown_rules_and_actions():
    with pytest.raises(ValidationError, match="did you mean 'future_date'"):
        rules(futur_date="quarantine")
    with pytest.raises(ValidationError, match="cannot be 'truncate'"):
        rules(unknown_customer="truncate")
    with pytest.raises(ValidationError, match="not a numeric contract column"):
        ValidationParams(ranges={"city": [0, 1]})
    p = rules(unknown_customer="warn")
    assert p.rules["unknown_customer"] == "warn" and p.rules["future_date"] == "quarantine"


def test_default_params_file_matches_the_model_defaults():
    from winback.config import load_params

    assert load_params().validation == ValidationParams()


# --- quality tables --------------------------------------------------------------------


def test_quality_summary_profile_and_orphans():
    cust = customers(customer_id=["C1", "C2", "C2"], signup_date=["2024-01-05", "x", "2024-01-07"],
                     age=["30", "40", None])
    tx = transactions(customer_id=["C1", "C1", "C8", "C9"],
                      order_ts=["2024-03-01", "2024-04-01", "2024-05-01", "2024-09-01"])
    out = validate_all({"customers": cust, "transactions": tx}, as_of=AS_OF)
    q = quality_summary(out).set_index("source")
    assert q.loc["customers", "rows_read"] == 3 and q.loc["customers", "rows_clean"] == 2
    assert q.loc["customers", "quarantined_unparseable_date"] == 1
    assert q.loc["transactions", "rows_held_out"] == 1
    assert q.loc["transactions", "quarantined_unknown_customer"] == 1
    assert q.loc["transactions", "date_min"] == pd.Timestamp("2024-03-01")
    assert q.loc["transactions", "date_max"] == pd.Timestamp("2024-04-01")
    assert q.loc["customers", "nulls"] == "age 1"
    prof = column_profile(out).set_index(["source", "column"])
    assert prof.loc[("customers", "age"), "empty"] == 1
    assert not prof.loc[("customers", "city"), "delivered"]
    orph = orphans(out["customers"].clean, tx.frame).set_index("kind")
    assert orph.loc["customers_without_transactions", "sample_ids"] == "C2"
    assert orph.loc["transaction_customers_not_in_customers", "customers"] == 2
    assert orph.loc["transaction_customers_not_in_customers", "transactions"] == 2
    assert orph.loc["transaction_customers_not_in_customers", "sample_ids"] == "C8, C9"


def test_issues_table_and_repr():
    v = validate(customers(age=["x", "1", "2"]), as_of=AS_OF)
    t = v.issues_table()
    assert t.loc[0, "rule"] == "unparseable_number" and t.loc[0, "rows"] == "2"
    assert "clean=3" in repr(v)
