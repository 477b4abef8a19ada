"""Kept row-local checks: a load with, without or with a partial cache gives the same result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winback.contract import ContractError, PreparedSource, ValidationParams, validate_all
from winback.sources import SourcesParams, read_sources
from winback.validation_cache import cache_key, prepare_sources, read_entry

AS_OF = "2024-06-30"

CUSTOMERS = """customer_id,signup_date,age,do_not_contact,name
C1,2024-01-05,30,是,Ann
C2,2024-02-01,200,maybe,=cmd|calc
C3,1900-01-01,41,否,Bob
C4,2024-03-10,28,,Cy
C1,2024-01-05,30,是,Ann
"""

TX = {
    "tx_2024-04.csv": """order_id,customer_id,order_ts,amount,category,is_return
O1,C1,2024-04-02 10:00:00,10,food,false
O2,C2,2024-04-03 11:00:00,"¥1,234.50",=SUM(A1),false
O3,C9,2024-04-04 12:00:00,7,food,false
O4,C1,2024-04-05 13:00:00,abc,food,false
O5,C2,2024-04-06 14:00:00,-5,food,false
""",
    "tx_2024-05.csv": """order_id,customer_id,order_ts,amount,category,is_return
O6,C1,2024-05-02 10:00:00,3,home,
O1,C1,2024-04-02 10:00:00,10,food,false
O7,C2,2024年5月3日,8,food,false
O8,C3,2024-05-04 09:00:00,4,food,true
O13,C2,2024-05-05 09:00:00,-4,food,true
""",
    "tx_2024-06.csv": """order_id,customer_id,order_ts,amount,category,is_return
O9,C1,2024-07-02 10:00:00,5,food,false
O10,C2,2024-06-03 10:00:00,(5),food,true
O11,C2,,6,food,false
O12,C3,2024-06-05 10:00:00,6,food,false
O6,C1,2024-05-02 10:00:00,3,home,
""",
}

INTERACTIONS = {
    "int_a.csv": """customer_id,ts,kind,text
C1,2024-04-01 10:00:00,Complaint,late
C2,2024-04-02 10:00:00,xyz,=HYPERLINK("x")
C1,2024-04-03 10:00:00,review,fine
""",
    "int_b.csv": """customer_id,ts,kind,text
C2,2024-05-01 10:00:00,complaint,"a very long text indeed"
C9,2024-05-02 10:00:00,review,ok
C1,2024-07-02 10:00:00,review,later
""",
}


def client(tmp_path: Path) -> Path:
    base = tmp_path / "client"
    (base / "transactions").mkdir(parents=True)
    (base / "interactions").mkdir()
    (base / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    for name, text in TX.items():
        (base / "transactions" / name).write_text(text, encoding="utf-8")
    for name, text in INTERACTIONS.items():
        (base / "interactions" / name).write_text(text, encoding="utf-8")
    return base


def params() -> SourcesParams:
    return SourcesParams(
        transactions={"path": "transactions/tx_*.csv"},
        interactions={"path": "interactions/int_*.csv"},
        surveys={"path": "surveys.csv", "required": False},
        contact_outcomes={"path": "contact_outcomes.csv", "required": False},
    )


RULES = ValidationParams(max_text_length=10, rules={"text_too_long": "quarantine"})


def load(base: Path, cache: Path | None, rules: ValidationParams = RULES, as_of: str = AS_OF):
    sp = params()
    if cache is None:
        raws = read_sources(sp, base_dir=base, month=as_of[:7])
    else:
        raws = prepare_sources(sp, base_dir=base, month=as_of[:7], rules=rules,
                               cache_dir=cache)
    return raws, validate_all(raws, as_of=as_of, rules=rules)


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for name in a:
        va, vb = a[name], b[name]
        pd.testing.assert_frame_equal(va.clean, vb.clean)
        pd.testing.assert_frame_equal(va.quarantine, vb.quarantine)
        assert va.issues == vb.issues
        assert va.notes == vb.notes
        assert va.counts == vb.counts
        assert va.present_columns == vb.present_columns
        assert va.origin == vb.origin
        assert va.meta == vb.meta
        np.testing.assert_array_equal(va.clean_rows, vb.clean_rows)


def test_cached_loads_equal_the_plain_load(tmp_path):
    base = client(tmp_path)
    cache = tmp_path / "cache"
    _, plain = load(base, None)
    # the hand-made data fires rules of both phases, in several files
    fired = {i.rule for v in plain.values() for i in v.issues}
    assert {"duplicate_key", "future_date", "unknown_customer", "unparseable_number",
            "formatted_number", "negative_amount_not_return", "missing_value", "out_of_range",
            "too_early", "unparseable_bool", "bad_category", "text_too_long",
            "formula_injection", "return_sign"} <= fired
    dup = next(i for i in plain["transactions"].issues if i.rule == "duplicate_key")
    assert dup.count == 2 and "tx_2024-05.csv:3" in dup.message  # O1 again, across files
    assert plain["transactions"].counts["rows_held_out"] == 1  # O9, dated in July

    raws, first = load(base, cache)  # fills the cache
    assert isinstance(raws["transactions"], PreparedSource)
    entries = list(cache.glob("*.arrow"))
    assert len([e for e in entries if e.name.startswith("transactions-")]) == 3
    assert all(e.stat().st_mode & 0o077 == 0 for e in entries)  # owner-only: client data
    assert_same(plain, first)
    raws, second = load(base, cache)  # every file's checks from the cache
    assert_same(plain, second)

    # one file changes: its checks are made again, the others reused
    changed = base / "transactions" / "tx_2024-05.csv"
    changed.write_text(TX["tx_2024-05.csv"] + "O14,C1,2024-05-09 10:00:00,abc,food,false\n",
                       encoding="utf-8")
    _, plain2 = load(base, None)
    _, third = load(base, cache)
    assert_same(plain2, third)
    assert plain2["transactions"].counts["rows_read"] == 16
    assert len(list(cache.glob("transactions-*.arrow"))) == 3  # the old entry is gone

    # an entry of the earlier Parquet format is not read, and is removed
    (cache / "transactions-0123.parquet").write_bytes(b"PAR1")
    _, fourth = load(base, cache)
    assert_same(plain2, fourth)
    assert not list(cache.glob("*.parquet"))


def test_a_rerun_of_an_earlier_month_holds_later_rows_out(tmp_path):
    base = client(tmp_path)
    cache = tmp_path / "cache"
    load(base, cache)
    _, plain = load(base, None, as_of="2024-05-31")
    _, cached = load(base, cache, as_of="2024-05-31")
    assert_same(plain, cached)
    # the June file's rows are held out, with their raw records read again from the file
    q = cached["transactions"].quarantine
    future = q[q["rule"] == "future_date"]
    assert future["record"].str.contains('"order_id":"O').all()
    assert sorted(future["record"].str.extract(r'"order_id":"(O\d+)"')[0]) == ["O10", "O12",
                                                                               "O9"]


def test_errors_read_the_same_with_the_cache(tmp_path):
    base = client(tmp_path)
    cache = tmp_path / "cache"
    strict = ValidationParams(max_text_length=10,
                              rules={"duplicate_key": "error", "unparseable_number": "error"})
    with pytest.raises(ContractError) as plain:
        load(base, None, rules=strict)
    load(base, cache, rules=RULES)  # entries of other rules are not reused
    for _ in range(2):
        with pytest.raises(ContractError) as cached:
            load(base, cache, rules=strict)
        assert str(cached.value) == str(plain.value)
        assert cached.value.issues == plain.value.issues


def test_a_damaged_or_foreign_entry_is_not_trusted(tmp_path):
    base = client(tmp_path)
    cache = tmp_path / "cache"
    _, plain = load(base, None)
    load(base, cache)
    entries = sorted(cache.glob("transactions-*.arrow"))
    entries[0].write_bytes(b"not an entry")
    entries[1].write_bytes(entries[2].read_bytes())  # another file's checks under its name
    _, cached = load(base, cache)
    assert_same(plain, cached)
    path = base / "transactions" / "tx_2024-04.csv"
    key = cache_key("transactions", params().transactions, RULES, path, "0" * 64)
    assert read_entry(entries[0], key) is None


def test_files_with_different_columns_are_read_as_one_frame(tmp_path):
    base = client(tmp_path)
    extra = base / "transactions" / "tx_2024-03.csv"
    extra.write_text("order_id,customer_id,order_ts,amount\nO20,C1,2024-03-01,4\n",
                     encoding="utf-8")
    cache = tmp_path / "cache"
    _, plain = load(base, None)
    raws, cached = load(base, cache)
    assert not isinstance(raws["transactions"], PreparedSource)
    assert_same(plain, cached)
