"""A corpus of malformed and hostile client inputs, each with the outcome params decide.

Every case is a small file (or params override) made by the test. Its declared outcome:

``error``
    the load stops with the declared exception; the message names the file, the column and
    the rows (first rows and the count) where there are rows, and says what to do;
``quarantine``
    the rows are moved to the quarantine table under the declared rule and column, counted
    in the data-quality tables, and the clean rows are exactly those of the same file
    without the bad lines;
``counted``
    the rows are kept and the value read or changed as declared, with an issue or note
    that counts them (nothing changes without a count).

Rules that params can switch are run with more than one setting. A few cases go through the
command line, which must exit non-zero with the message on stderr and no traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from winback.config import ParamsError, load_params
from winback.contract import ContractError, ValidationParams, neutralize_formula, quality_summary
from winback.contract import validate_all as _validate_all
from winback.ingest import quarantine_counts
from winback.sources import SourceError, SourceSpec, read_source

MONTH = "2024-06"
AS_OF = "2024-06-30"
TX = "order_id,customer_id,order_ts,amount"
CUSTOMERS = "customer_id,signup_date\nC1,2024-01-05\nC2,2024-02-01\n123,2024-03-01\n"
OUTCOMES = "customer_id,campaign_month,attempt,contact_ts,channel,reached"


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def xlsx(*rows: list, merge: tuple[str, ...] = ()) -> Callable[[Path], None]:
    """A writer of a one-sheet workbook with these rows (and merged ranges)."""

    def write(path: Path) -> None:
        from openpyxl import Workbook

        wb = Workbook()
        for row in rows:
            wb.active.append(row)
        for rng in merge:
            wb.active.merge_cells(rng)
        wb.save(path)

    return write


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input. ``content`` is the source file (text, bytes or a writer function)."""

    id: str
    source: str
    content: str | bytes | Callable[[Path], None]
    outcome: str                                   # error | quarantine | counted
    file: str = "bad.csv"
    spec: dict = dataclasses.field(default_factory=dict)
    rules: dict = dataclasses.field(default_factory=dict)
    exc: type[Exception] = ContractError
    says: tuple[str, ...] = ()                     # in the error or the issue/note message
    rule: str | None = None
    column: str | None = None
    rows: tuple[int, ...] = ()                     # file rows quarantined or counted
    clean: dict = dataclasses.field(default_factory=dict)  # column -> clean values expected
    campaign_months: tuple[str, ...] | None = None
    held_out: bool = False                         # future rows: held out, not quarantined


CASES = [
    # --- shape of the file -------------------------------------------------------------
    Case("missing-required-column", "customers", lines("customer_id,name", "C1,张三"), "error",
         says=("lacks required column signup_date", "Columns found: customer_id, name",
               "params sources.customers.columns")),
    Case("misspelt-column", "customers", lines("custmer_id,signup_date", "C1,2024-01-05"),
         "error", says=("customer_id", "did you mean 'custmer_id'?",
                        "sources.customers.columns: {custmer_id: customer_id}")),
    Case("empty-file", "transactions", b"", "error", exc=SourceError,
         says=("is empty (0 bytes)", "sources.transactions.required: false")),
    Case("header-only", "transactions", lines(TX), "error", exc=SourceError,
         says=("has a header but no data rows", "export it again")),
    Case("wrong-delimiter", "transactions", lines(TX.replace(",", ";"), "O1;C1;2024-01-01;5"),
         "error", spec={"delimiter": ","}, exc=SourceError,
         says=("no comma in its header line", "sources.transactions.delimiter to ';'")),
    Case("header-and-data-delimiters-differ", "transactions",
         lines(TX.replace(",", ";"), "O1,C1,2024-01-01,5", "O2,C1,2024-01-02,6"), "error",
         exc=SourceError, says=("header line is semicolon-separated but the data lines are "
                                "comma-separated", "line 2", "sources.transactions.delimiter")),
    Case("ragged-lines", "transactions",
         lines(TX, "O1,C1,2024-01-01,5", "O2,C1,2024-01-02,6,x", "O3,C1,2024-01-03,7,y"),
         "error", exc=SourceError,
         says=("line 3", "lines 3, 4; 2 in all; the header has 4 fields", "must be quoted")),
    Case("unquoted-thousands-separator", "transactions",
         lines(TX, "O1,C1,2024-01-01,¥1,234.50", "O2,C1,2024-01-02,2,000"), "error",
         exc=SourceError, says=("lines 2, 3; 2 in all", "thousands separator and not quoted",
                                "quote such values")),
    # --- encodings ----------------------------------------------------------------------
    Case("gbk-read-as-utf8", "customers",
         lines("customer_id,signup_date,city", "C1,2024-01-05,上海").encode("gbk"), "error",
         spec={"encoding": "utf-8"}, exc=SourceError,
         says=("is not valid utf-8", "(line 2)", "sources.customers.encoding: gb18030")),
    Case("utf8-read-as-gbk", "customers",
         lines("customer_id,signup_date,city", "C1,2024-01-05,上海").encode("utf-8"), "error",
         spec={"encoding": "gbk"}, exc=SourceError,
         says=("is UTF-8", "'上海' would read as", "sources.customers.encoding: utf-8")),
    Case("bom-on-gb18030-text", "customers",
         b"\xef\xbb\xbf" + lines("customer_id,signup_date,city", "C1,2024-01-05,上海")
         .encode("gb18030"), "error", exc=SourceError,
         says=("starts with a UTF-8 byte-order mark", "(line 2)",
               "sources.customers.encoding: gb18030")),
    Case("neither-utf8-nor-gb18030", "customers",
         lines("customer_id,signup_date,city", "C1,2024-01-05,Jérôme\xff").encode("latin-1")
         + b"\x80\xff", "error", exc=SourceError,
         says=("not GB18030/GBK either", "(line 2)", "CSV UTF-8")),
    # --- Excel --------------------------------------------------------------------------
    Case("zero-byte-excel", "customers", b"", "error", file="bad.xlsx", exc=SourceError,
         says=("bad.xlsx is empty (0 bytes)", "sources.customers.required: false")),
    Case("damaged-excel", "customers", b"PK\x03\x04 not really", "error", file="bad.xlsx",
         exc=SourceError, says=("not a readable .xlsx", "save it again as .xlsx")),
    # --- values that cannot be read -----------------------------------------------------
    Case("mixed-date-formats", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O2,C1,01/02/2024,5", "O3,C1,2024/03/04,5",
               "O4,C1,2024年2月3日,5", "O5,C1,3 Feb 2024,5"), "quarantine",
         rule="unparseable_date", column="order_ts", rows=(3, 6),
         clean={"order_ts": [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-03-04"),
                             pd.Timestamp("2024-02-03")]}),
    Case("mixed-date-formats-as-error", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O2,C1,01/02/2024,5", "O3,C1,3 Feb 2024,5"), "error",
         rules={"unparseable_date": "error"},
         says=("column order_ts", "rows 3, 4 (2 in all", "validation.date_formats")),
    Case("future-dates", "transactions",
         lines(TX, "O1,C1,2024-06-30 23:59:59,5", "O2,C1,2024-07-01,5", "O3,C1,2031-01-01,5"),
         "quarantine", rule="future_date", column="order_ts", rows=(3, 4), held_out=True),
    Case("future-dates-as-error", "transactions",
         lines(TX, "O1,C1,2024-06-01,5", "O2,C1,2024-07-01,5"), "error",
         rules={"future_date": "error"},
         says=("column order_ts", "after the run month's end 2024-06-30", "row 3 (1 in all")),
    Case("dates-before-1990", "transactions",
         lines(TX, "O1,C1,1900-01-01,5", "O2,C1,1989-12-31,5", "O3,C1,1990-01-01,5"),
         "quarantine", rule="too_early", column="order_ts", rows=(2, 3)),
    Case("placeholder-signup-date-as-error", "customers",
         lines("customer_id,signup_date", "C1,1970-01-01", "C2,2024-01-01"), "error",
         rules={"too_early": "error"},
         says=("column signup_date", "before 1990-01-01", "row 2 (1 in all",
               "validation.min_date")),
    Case("currency-and-thousands", "transactions",
         lines(TX, 'O1,C1,2024-01-05,"¥1,234.50"', 'O2,C1,2024-01-05,"1,234"',
               "O3,C1,2024-01-05,12.5元", "O4,C1,2024-01-05,7"), "counted",
         rule="formatted_number", column="amount", rows=(2, 3, 4),
         clean={"amount": [1234.5, 1234.0, 12.5, 7.0]}),
    Case("currency-as-error", "transactions",
         lines(TX, 'O1,C1,2024-01-05,"¥1,234.50"', "O2,C1,2024-01-05,7",
               "O3,C1,2024-01-05,12.5元"), "error", rules={"formatted_number": "error"},
         says=("column amount", "rows 2, 4 (2 in all", "'¥1,234.50'",
               "validation.rules.formatted_number")),
    Case("currency-as-quarantine", "transactions",
         lines(TX, 'O1,C1,2024-01-05,"¥1,234.50"', "O2,C1,2024-01-05,7"), "quarantine",
         rules={"formatted_number": "quarantine"}, rule="formatted_number", column="amount",
         rows=(2,)),
    Case("ambiguous-numbers", "transactions",
         lines(TX, 'O1,C1,2024-01-05,"1,23"', 'O2,C1,2024-01-05,"1.234,50"',
               "O3,C1,2024-01-05,#DIV/0!", "O4,C1,2024-01-05,7"), "quarantine",
         rule="unparseable_number", column="amount", rows=(2, 3, 4)),
    Case("nan-and-inf-amounts", "transactions",
         lines(TX, "O1,C1,2024-01-05,nan", "O2,C1,2024-01-05,inf", "O3,C1,2024-01-05,-Infinity",
               "O4,C1,2024-01-05,7"), "quarantine", rule="non_finite", column="amount",
         rows=(2, 3, 4)),
    Case("inf-in-optional-column-blanked", "transactions",
         lines(TX + ",discount", "O1,C1,2024-01-05,7,inf", "O2,C1,2024-01-05,7,0.5"), "counted",
         rule="non_finite", column="discount", rows=(2,),
         clean={"discount": [float("nan"), 0.5]}),
    Case("negative-amount-not-return", "transactions",
         lines(TX + ",is_return", "O1,C1,2024-01-05,-5,false", "O2,C1,2024-01-05,-5,true",
               "O3,C1,2024-01-05,5,false"), "quarantine",
         rule="negative_amount_not_return", column="amount", rows=(2,)),
    Case("negative-amount-not-return-as-error", "transactions",
         lines(TX + ",is_return", "O1,C1,2024-01-05,-5,否", "O2,C1,2024-01-05,5,否"), "error",
         rules={"negative_amount_not_return": "error"},
         says=("column amount", "row 2 (1 in all", "mark refunds with is_return = true")),
    Case("negative-amount-not-return-kept", "transactions",
         lines(TX + ",is_return", "O1,C1,2024-01-05,-5,N", "O2,C1,2024-01-05,5,N"), "counted",
         rules={"negative_amount_not_return": "warn"}, rule="negative_amount_not_return",
         column="amount", rows=(2,), clean={"amount": [-5.0, 5.0]}),
    Case("bool-spellings-and-garbage", "transactions",
         lines(TX + ",is_return", "O1,C1,2024-01-05,-5,是", "O2,C1,2024-01-05,5,否",
               "O3,C1,2024-01-05,-5,Y", "O4,C1,2024-01-05,5,N", "O5,C1,2024-01-05,-5,1",
               "O6,C1,2024-01-05,5,0", "O7,C1,2024-01-05,5,也许"), "counted",
         rule="unparseable_bool", column="is_return", rows=(8,),
         clean={"is_return": [True, False, True, False, True, False, False]}),
    Case("bool-garbage-as-quarantine", "customers",
         lines("customer_id,signup_date,do_not_contact", "C1,2024-01-05,是", "C2,2024-01-05,??"),
         "quarantine", rules={"unparseable_bool": "quarantine"}, rule="unparseable_bool",
         column="do_not_contact", rows=(3,)),
    # --- keys and references ------------------------------------------------------------
    Case("duplicate-order-ids-exact", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O1,C1,2024-01-05,5", "O2,C1,2024-01-05,6"),
         "quarantine", rule="duplicate_key", column="order_id", rows=(3,)),
    Case("duplicate-order-ids-differing", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O2,C1,2024-01-05,6", "O2,C1,2024-01-05,9"), "error",
         says=("column order_id", "different amount", "rows 3, 4 (2 in all",
               "validation.rules.conflicting_duplicate: quarantine")),
    Case("duplicate-order-ids-differing-quarantined", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O2,C1,2024-01-05,6", "O2,C1,2024-01-05,9"),
         "quarantine", rules={"conflicting_duplicate": "quarantine"},
         rule="conflicting_duplicate", column="order_id", rows=(3, 4)),
    Case("duplicate-customers-differing", "customers",
         lines("customer_id,signup_date,city", "C1,2024-01-05,上海", "C1,2024-01-05,北京",
               "C2,2024-02-01,广州"), "error",
         says=("column customer_id", "different city", "rows 2, 3 (2 in all",
               "deliver one row per key")),
    Case("duplicate-customers-differing-quarantined", "customers",
         lines("customer_id,signup_date,city", "C1,2024-01-05,上海", "C1,2024-01-05,北京",
               "C2,2024-02-01,广州"), "quarantine", rules={"conflicting_duplicate": "quarantine"},
         rule="conflicting_duplicate", column="customer_id", rows=(2, 3)),
    Case("unknown-customers", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O2,C9,2024-01-05,5", "O3,C8,2024-01-05,5"),
         "quarantine", rule="unknown_customer", column="customer_id", rows=(3, 4)),
    Case("unknown-customers-as-error", "transactions",
         lines(TX, "O1,C1,2024-01-05,5", "O2,C9,2024-01-05,5"), "error",
         rules={"unknown_customer": "error"},
         says=("column customer_id", "row 3 (1 in all", "'C9'", "leading zeros")),
    Case("customer-ids-as-floats", "transactions",
         lines(TX, "O1,123.0,2024-01-05,5", "O2,123,2024-01-05,5", "O3,C1,2024-01-05,5"),
         "counted", rule="id_decimal_suffix", column="customer_id", rows=(2,),
         clean={"customer_id": ["123", "123", "C1"]}),
    Case("missing-required-values", "transactions",
         lines(TX, "O1,,2024-01-05,5", "O2,C1,,5", "O3,C1,2024-01-05,NULL", "O4,C1,2024-01-05,5"),
         "quarantine", rule="missing_value", rows=(2, 3, 4)),
    Case("outcomes-for-a-month-never-run", "contact_outcomes",
         lines(OUTCOMES, "C1,2024-04,1,2024-05-03 10:00,phone,是",
               "C2,2024-05,1,2024-06-02 11:00,sms,否", "C1,2024-05,2,2024-06-09 11:00,phone,是"),
         "error", campaign_months=("2024-04",),
         says=("column campaign_month", "campaign month 2024-05", "campaign_log holds 2024-04",
               "rows 3, 4 (2 in all", "not the month of the call")),
    Case("outcomes-for-a-month-never-run-quarantined", "contact_outcomes",
         lines(OUTCOMES, "C1,2024-04,1,2024-05-03 10:00,phone,是",
               "C2,2024-05,1,2024-06-02 11:00,sms,否"), "quarantine",
         rules={"unknown_campaign_month": "quarantine"}, campaign_months=("2024-04",),
         rule="unknown_campaign_month", column="campaign_month", rows=(3,)),
    Case("outcomes-before-any-campaign", "contact_outcomes",
         lines(OUTCOMES, "C1,2024-04,1,2024-05-03 10:00,phone,是"), "error",
         campaign_months=(), says=("campaign_log holds no month yet", "row 2 (1 in all")),
    Case("campaign-month-unreadable", "contact_outcomes",
         lines(OUTCOMES, "C1,2024-13,1,2024-05-03 10:00,phone,是",
               "C1,2024-04,1,2024-05-03 10:00,phone,是"), "quarantine",
         campaign_months=("2024-04",), rule="unparseable_date", column="campaign_month",
         rows=(2,)),
    # --- text ---------------------------------------------------------------------------
    Case("extremely-long-text", "customers",
         lines("customer_id,signup_date,city,preferred_contact_time",
               "C1,2024-01-05,上海," + "晚" * 100_000, "C2,2024-01-05,北京,evening"), "counted",
         rule="text_too_long", column="preferred_contact_time", rows=(2,),
         clean={"preferred_contact_time": ["晚" * 2000, "evening"]}),
    Case("extremely-long-text-quarantined", "customers",
         lines("customer_id,signup_date,preferred_contact_time",
               "C1,2024-01-05," + "x" * 5000, "C2,2024-01-05,evening"), "quarantine",
         rules={"text_too_long": "quarantine"}, rule="text_too_long",
         column="preferred_contact_time", rows=(2,)),
    Case("formula-injection", "customers",
         lines("customer_id,signup_date,city,preferred_contact_time",
               "C1,2024-01-05,\"=cmd|' /C calc'!A0\",+SUM(A1)", "C2,2024-01-05,-2+3,@SUM(A1)",
               "C3,2024-01-05,上海,-12.5"), "counted",
         rule="formula_injection", column="city", rows=(2, 3),
         clean={"city": ["=cmd|' /C calc'!A0", "-2+3", "上海"]}),
    Case("formula-injection-quarantined", "customers",
         lines("customer_id,signup_date,city", "C1,2024-01-05,=HYPERLINK(\"http://x\")",
               "C2,2024-01-05,上海"), "quarantine", rules={"formula_injection": "quarantine"},
         rule="formula_injection", column="city", rows=(2,)),
    Case("interaction-kind-not-allowed", "interactions",
         lines("customer_id,ts,kind", "C1,2024-05-01,complaint", "C1,2024-05-02,tweet"),
         "quarantine", rule="bad_category", column="kind", rows=(3,)),
    Case("age-out-of-range", "customers",
         lines("customer_id,signup_date,age", "C1,2024-01-05,200", "C2,2024-01-05,41"),
         "counted", rule="out_of_range", column="age", rows=(2,),
         clean={"age": [pd.NA, 41]}),
    # --- spreadsheets -------------------------------------------------------------------
    Case("excel-merged-header-rows", "transactions",
         xlsx(["2024年6月 订单明细", None, None, None], ["订单", None, "交易", None],
              ["order_id", "customer_id", "order_ts", "amount"],
              ["O1", "C1", "2024-01-05", 5], merge=("A1:D1", "A2:B2", "C2:D2")),
         "counted", file="bad.xlsx", rule="reader", rows=(),
         says=("column names are on sheet row 3", "rows 1, 2 above them"),
         clean={"order_id": ["O1"]}),
    Case("excel-serial-timestamps", "transactions",
         xlsx(["order_id", "customer_id", "order_ts", "amount"], ["O1", "C1", 45321.5, 5],
              ["O2", "C1", 45322, 6]),
         "counted", file="bad.xlsx", rule="parsed_date", column="order_ts", rows=(2, 3),
         clean={"order_ts": [pd.Timestamp("2024-01-30 12:00"), pd.Timestamp("2024-01-31")]}),
]


def _write(path: Path, content) -> None:
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def run_case(case: Case, folder: Path, content=None) -> dict:
    """Read the case's file (and a small customers file) and validate as of June 2024."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / case.file, case.content if content is None else content)
    raws = {}
    if case.source != "customers":
        (folder / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        raws["customers"] = read_source("customers", SourceSpec(path="customers.csv"),
                                        base_dir=folder)
    raws[case.source] = read_source(case.source, SourceSpec(path=case.file, **case.spec),
                                    base_dir=folder, month=MONTH)
    return _validate_all(raws, as_of=AS_OF, rules=ValidationParams(rules=case.rules),
                         campaign_months=case.campaign_months)


def _without_lines(text: str, rows: tuple[int, ...]) -> str:
    kept = [line for i, line in enumerate(text.split("\n"), start=1) if i not in rows]
    return "\n".join(kept)


def _messages(v) -> list:
    return [*v.issues, *v.notes]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path):
    if case.outcome == "error":
        with pytest.raises(case.exc) as err:
            run_case(case, tmp_path)
        msg = str(err.value)
        assert case.file in msg, msg                      # the file
        for text in case.says:                            # column, rows, fix
            assert text in msg, f"{text!r} not in:\n{msg}"
        return

    v = run_case(case, tmp_path)[case.source]
    if case.outcome == "quarantine":
        q = v.quarantine
        mine = q[q["rule"] == case.rule]
        assert sorted(mine["row"].unique().tolist()) == list(case.rows), q
        if case.column:
            assert set(mine["column"]) == {case.column}
        assert set(mine["file"].map(lambda f: Path(f).name)) == {case.file}
        for record in mine["record"]:                     # the raw row is kept, as read
            assert isinstance(json.loads(record), dict)
        held = v.counts["rows_held_out" if case.held_out else "rows_quarantined"]
        assert held == len(case.rows)
        table = quarantine_counts(q)
        got = table[(table["rule"] == case.rule)]["rows"].sum()
        assert got == len(mine)
        issues = [i for i in v.issues if i.rule == case.rule]
        assert sum(i.count for i in issues) == len(mine)
        assert {i.action for i in issues} == {"quarantine"}
        # the clean rows are exactly those of the same file without the bad lines
        assert isinstance(case.content, str)
        good = run_case(case, tmp_path / "good", _without_lines(case.content, case.rows))
        pd.testing.assert_frame_equal(v.clean, good[case.source].clean)
        assert v.counts["rows_clean"] == v.counts["rows_read"] - len(case.rows)
    else:  # counted: rows kept, what happened is counted
        found = [m for m in _messages(v) if m.rule == case.rule
                 and (case.column is None or m.column == case.column)]
        assert found, [(m.rule, m.column) for m in _messages(v)]
        m = found[0]
        for text in case.says:
            assert text in m.message, m.message
        if case.rows:
            assert m.rows == case.rows and m.count == len(case.rows)
        assert v.counts["rows_quarantined"] == 0 and v.counts["rows_held_out"] == 0
        assert v.counts["rows_clean"] == v.counts["rows_read"]
    for col, expected in case.clean.items():
        got = v.clean[col].tolist()
        assert [None if pd.isna(x) else x for x in got] == \
            [None if pd.isna(x) else x for x in expected], (col, got)


def test_the_corpus_is_large_and_mixed():
    outcomes = pd.Series([c.outcome for c in CASES]).value_counts()
    assert len(CASES) + len(PARAMS_CASES) + len(SQL_CASES) >= 30
    assert outcomes["error"] >= 10 and outcomes["quarantine"] >= 10


# --- what the formula-injected values become in exports ---------------------------------


def test_formula_injection_is_neutralized_for_spreadsheets(tmp_path):
    case = next(c for c in CASES if c.id == "formula-injection")
    v = run_case(case, tmp_path)["customers"]
    assert neutralize_formula(v.clean["city"]).tolist() == [
        "'=cmd|' /C calc'!A0", "'-2+3", "上海"]
    assert neutralize_formula(v.clean["preferred_contact_time"]).tolist() == [
        "'+SUM(A1)", "'@SUM(A1)", "-12.5"]


# --- params ----------------------------------------------------------------------------


PARAMS_CASES = [
    ("unknown-key", ["validation.max_txt_length=10"],
     ("unknown key 'validation.max_txt_length'", "Did you mean 'validation.max_text_length'")),
    ("unknown-rule", ["validation.rules.future_dat=error"],
     ("validation.rules: unknown rule 'future_dat'", "did you mean 'future_date'")),
    ("wrong-type", ["validation.max_text_length=long"],
     ("validation.max_text_length = 'long'", "valid integer")),
    ("out-of-range", ["validation.sample_rows=0"],
     ("validation.sample_rows = 0", "greater than or equal to 1")),
    ("action-not-allowed", ["validation.rules.future_date=blank"],
     ("rule 'future_date' cannot be 'blank'", "allowed: error | quarantine")),
    ("bad-encoding-name", ["sources.customers.encoding=latin1"],
     ("sources.customers.encoding = 'latin1'", "'gb18030'")),
    ("impossible-date-value", ["validation.min_date=1990-13-01"],
     ("validation.min_date=1990-13-01", "month must be in 1..12", "quote it")),
    ("not-a-date-format", ["validation.date_formats=[dd/mm/yyyy]"],
     ("validation.date_formats", "not a strftime format")),
    ("connect-timeout-out-of-range", ["sources.transactions.connect_timeout_s=0"],
     ("sources.transactions.connect_timeout_s = 0", "greater than or equal to 1")),
    ("mapping-onto-no-column", ["sources.transactions.columns={金额: amont}"],
     ("'金额' is mapped to 'amont'", "did you mean 'amount'")),
]


@pytest.mark.parametrize(("overrides", "says"), [c[1:] for c in PARAMS_CASES],
                         ids=[c[0] for c in PARAMS_CASES])
def test_bad_params(overrides, says):
    with pytest.raises(ParamsError) as err:
        load_params(None, overrides)
    msg = str(err.value)
    for text in says:
        assert text in msg, msg
    assert "'missing_required_column': 'error'" not in msg  # no dump of a whole section


# --- SQL -------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SQL_CASES = ["refused", "silent-server", "unknown-host"]


@pytest.mark.parametrize("kind", SQL_CASES)
def test_unreachable_database_fails_fast_with_a_clear_message(kind, monkeypatch):
    listener = None
    if kind == "refused":
        host, port = "127.0.0.1", _closed_port()
    elif kind == "silent-server":  # accepts the connection, never answers
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        host, port = "127.0.0.1", listener.getsockname()[1]
    else:
        host, port = "db.invalid", 5432
    monkeypatch.setenv("WINBACK_BAD_DB", f"postgresql+psycopg://u:s3cret@{host}:{port}/crm")
    spec = SourceSpec(format="sql", url_env="WINBACK_BAD_DB", query="SELECT 1",
                      connect_timeout_s=1)
    try:
        with pytest.raises(SourceError) as err:
            read_source("transactions", spec, base_dir=".", month=MONTH)
    finally:
        if listener:
            listener.close()
    msg = str(err.value)
    assert "WINBACK_BAD_DB" in msg and f"host {host}" in msg and f"port {port}" in msg
    assert "s3cret" not in msg and "Check the server is running" in msg
    if kind == "silent-server":
        assert "sources.transactions.connect_timeout_s = 1 s" in msg


def test_sql_query_limited_to_the_month_is_warned_in_the_quality_table(tmp_path, monkeypatch):
    import sqlite3

    db = tmp_path / "crm.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE orders (order_id, customer_id, order_ts, amount)")
        con.execute("INSERT INTO orders VALUES ('O1', 'C1', '2024-06-03 10:00:00', 5)")
    monkeypatch.setenv("WINBACK_TEST_SQLITE", f"sqlite:///{db}")
    month_only = SourceSpec(format="sql", url_env="WINBACK_TEST_SQLITE",
                            query="SELECT * FROM orders WHERE order_ts >= :month_start")
    upto = SourceSpec(format="sql", url_env="WINBACK_TEST_SQLITE",
                      query="SELECT * FROM orders WHERE order_ts <= :month_end")
    (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    cust = read_source("customers", SourceSpec(path="customers.csv"), base_dir=tmp_path)
    for spec, warned in ((month_only, True), (upto, False)):
        raw = read_source("transactions", spec, base_dir=tmp_path, month=MONTH)
        assert raw.frame["order_id"].tolist() == ["O1"]
        table = quality_summary(_validate_all({"customers": cust, "transactions": raw},
                                              as_of=AS_OF))
        text = table.set_index("source").loc["transactions", "warnings"]
        assert ("filters on :month_start" in text and "rows before 2024-06 are lost" in text
                and ":month_end" in text) is warned, text
        assert table.set_index("source").loc["transactions", "origin"] == "sql:WINBACK_TEST_SQLITE"


# --- where a file is looked for, and how the report names it ----------------------------


def test_glob_in_a_subfolder_lists_that_subfolder_when_nothing_matches(tmp_path):
    sub = tmp_path / "transactions"
    sub.mkdir()
    (sub / "transaction_2024-05.parquet").write_bytes(b"x")
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    with pytest.raises(SourceError) as err:
        read_source("transactions", SourceSpec(path="transactions/transactions_*.parquet"),
                    base_dir=tmp_path)
    msg = str(err.value)
    assert f"Files in {sub}: transaction_2024-05.parquet" in msg
    assert "Did you mean 'transactions/transaction_2024-05.parquet'" in msg
    assert "customers.csv" not in msg
    with pytest.raises(SourceError, match=r"The folder .*orders does not exist.*customers\.csv"):
        read_source("transactions", SourceSpec(path="orders/t_*.csv"), base_dir=tmp_path)


def test_quality_origin_is_relative_and_compacts_a_glob(tmp_path):
    sub = tmp_path / "transactions"
    sub.mkdir()
    for m in ("2024-04", "2024-05", "2024-06"):
        pd.DataFrame({"order_id": [f"O{m}"], "customer_id": ["C1"],
                      "order_ts": [pd.Timestamp(f"{m}-02")], "amount": [5.0]}).to_parquet(
            sub / f"transactions_{m}.parquet")
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    raws = {"customers": read_source("customers", SourceSpec(path="customers.csv"),
                                     base_dir=tmp_path),
            "transactions": read_source(
                "transactions", SourceSpec(path="transactions/transactions_*.parquet"),
                base_dir=tmp_path)}
    table = quality_summary(_validate_all(raws, as_of=AS_OF)).set_index("source")
    assert table.loc["customers", "origin"] == "customers.csv"
    assert table.loc["transactions", "origin"] == (
        "transactions/transactions_*.parquet (3 files)")
    assert raws["transactions"].origin == str(sub / "transactions_*.parquet") + " (3 files)"


def test_an_encoding_set_in_params_reads_a_marked_gb18030_file(tmp_path):
    data = b"\xef\xbb\xbf" + lines("customer_id,signup_date,city", "C1,2024-01-05,上海").encode(
        "gb18030")
    (tmp_path / "c.csv").write_bytes(data)
    raw = read_source("customers", SourceSpec(path="c.csv", encoding="gb18030"),
                      base_dir=tmp_path)
    assert raw.frame["city"].tolist() == ["上海"]
    assert raw.encoding == "gb18030 after a UTF-8 byte-order mark"


# --- the command line ------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "says"), [
    (["params", "-e", "demo", "--set", "validation.rules.future_dat=error"],
     "did you mean 'future_date'"),
    (["params", "-e", "demo", "--set", "validation.min_date=1990-13-01"],
     "month must be in 1..12"),
    (["run", "-e", "demo", "-m", "2024-06", "-q", "--set", "validation.sample_rows=0"],
     "validation.sample_rows = 0"),
    (["run", "-e", "no_such_client", "-m", "2024-06", "-q"], "Known engagements"),
])
def test_cli_params_errors_exit_2_without_traceback(argv, says, capsys):
    from winback.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("winback: ") and says in err and "Traceback" not in err
    with pytest.raises(ParamsError):
        main(["--debug", *argv])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``winback run`` of stage 1 on a tiny engagement whose transactions break the contract."""
    home = tmp_path_factory.mktemp("home")
    client = home / "client"
    client.mkdir()
    # the demo engagement's params map these Chinese column names
    (client / "customers.csv").write_text(CUSTOMERS.replace("customer_id,signup_date",
                                                            "客户编号,注册日期"), encoding="utf-8")
    (client / "transactions.csv").write_text(
        lines(TX, "O1,C1,2024-01-05,5", "O2,C1,2024-01-06,6", "O2,C1,2024-01-06,9"),
        encoding="utf-8")
    sets = ["--set", f"sources.dir={client}", "--set", "sources.transactions.path="
            "transactions.csv"]
    env = {**os.environ, "WINBACK_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "winback", "run", "-e", "demo", "-m", MONTH, "-q",
         "--stage", "data_collection", *sets],
        capture_output=True, text=True, timeout=600, env=env)


def test_cli_run_on_bad_data_exits_3_with_the_message_and_no_traceback(cli_run):
    err = cli_run.stderr
    assert cli_run.returncode == 3, err
    assert "stage data_collection" in err and "transactions.csv" in err
    assert "rows 3, 4 (2 in all" in err and "column order_id" in err
    assert "validation.rules.conflicting_duplicate: quarantine" in err
    assert "Traceback" not in err


# --- stage 1's loading step: outcomes checked against the store's campaign log ----------


def test_load_sources_checks_outcomes_against_the_stored_campaign_log(tmp_path, monkeypatch):
    from winback.ingest import load_sources
    from winback.store import opened, replace_month
    from winback.workspace import workspace

    monkeypatch.setenv("WINBACK_HOME", str(tmp_path))
    client = tmp_path / "client"
    client.mkdir()
    (client / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (client / "transactions.csv").write_text(lines(TX, "O1,C1,2024-05-05,5"), encoding="utf-8")
    (client / "contact_outcomes.csv").write_text(
        lines(OUTCOMES, "C1,2024-04,1,2024-05-03 10:00,phone,是",
              "C2,2024-05,1,2024-06-02 11:00,sms,否"), encoding="utf-8")
    params = load_params(None, [f"run.month={MONTH}", f"sources.dir={client}"])
    ws = workspace(params)
    with pytest.raises(ContractError) as err:  # no campaign run yet: both months unknown
        load_sources(params, ws)
    assert "campaign months 2024-04, 2024-05" in str(err.value)
    with opened(ws.store_path) as con:
        replace_month(con, "campaign_log", "2024-04",
                      pd.DataFrame({"month": ["2024-04"], "customer_id": ["C1"]}))
    with pytest.raises(ContractError, match=r"campaign month 2024-05.*campaign_log holds 2024-04"):
        load_sources(params, ws)
    held = load_params(None, [f"run.month={MONTH}", f"sources.dir={client}",
                              "validation.rules.unknown_campaign_month=quarantine"])
    loaded = load_sources(held, ws)
    assert loaded.clean("contact_outcomes")["campaign_month"].tolist() == ["2024-04"]
    counts = quarantine_counts(loaded.quarantine)
    assert counts[counts["rule"] == "unknown_campaign_month"]["rows"].tolist() == [1]
