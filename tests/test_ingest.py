"""Storing the sources: only the rows of changed files are written, the tables stay the same."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pandas as pd
import pytest

from tests.test_validation_cache import AS_OF, RULES, TX, client, params
from winback.contract import PreparedSource, validate_all
from winback.ingest import BLOCKS_TABLE, Loaded, set_apart_pii, source_blocks, store_sources
from winback.privacy import CONTACTS_TABLE
from winback.sources import read_sources
from winback.validation_cache import prepare_sources

SOURCES = ["customers", "transactions", "interactions"]


def loaded(base, cache, as_of=AS_OF) -> Loaded:
    if cache is None:
        raws = read_sources(params(), base_dir=base, month=as_of[:7])
    else:
        raws = prepare_sources(params(), base_dir=base, month=as_of[:7], rules=RULES,
                               cache_dir=cache)
    validated = validate_all(raws, as_of=as_of, rules=RULES)
    blocks = {n: source_blocks(s) for n, s in raws.items() if isinstance(s, PreparedSource)}
    return Loaded(as_of[:7], validated, blocks=blocks)


def tables(con) -> dict[str, pd.DataFrame]:
    return {t: con.execute(f'SELECT * FROM "{t}"').df() for t in [*SOURCES, "quarantine"]}


def full_store(tmp_path, base, as_of=AS_OF) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(tmp_path / f"full-{as_of}.duckdb"))
    store_sources(con, loaded(base, None, as_of))
    out = tables(con)
    con.close()
    return out


def assert_tables(con, expected: dict[str, pd.DataFrame]) -> None:
    got = tables(con)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)


def inserts(con, name: str) -> int:
    return con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]


@pytest.fixture
def replaced(monkeypatch) -> list[str]:
    """The tables store_sources replaces as a whole."""
    import winback.ingest

    names: list[str] = []
    real = winback.ingest.replace_table

    def spy(con, name, frame):
        names.append(name)
        return real(con, name, frame)

    monkeypatch.setattr(winback.ingest, "replace_table", spy)
    return names


@pytest.fixture
def setup(tmp_path):
    base = client(tmp_path)
    (base / "transactions" / "tx_2024-06.csv").unlink()  # delivered next month
    return base, tmp_path / "cache", duckdb.connect(str(tmp_path / "store.duckdb"))


def test_a_new_month_file_is_added_to_the_stored_rows(setup, tmp_path, replaced):
    base, cache, con = setup
    store_sources(con, loaded(base, cache, "2024-05-31"))
    assert "transactions" in replaced
    assert_tables(con, full_store(tmp_path, base, "2024-05-31"))
    blocks = con.execute(f"SELECT file, rows FROM {BLOCKS_TABLE} WHERE source = "
                         "'transactions' ORDER BY seq").fetchall()
    assert [r[1] for r in blocks] == [2, 3]  # clean rows of April and May

    # the same month again: nothing to write, same tables
    replaced.clear()
    store_sources(con, loaded(base, cache, "2024-05-31"))
    assert not set(SOURCES) & set(replaced)
    assert_tables(con, full_store(tmp_path, base, "2024-05-31"))

    # June arrives: its file's rows are appended, the result is the full load's
    (base / "transactions" / "tx_2024-06.csv").write_text(TX["tx_2024-06.csv"],
                                                          encoding="utf-8")
    con.execute("CREATE TEMP TABLE before AS SELECT * FROM transactions")
    replaced.clear()
    store_sources(con, loaded(base, cache, AS_OF))
    assert "transactions" not in replaced
    assert_tables(con, full_store(tmp_path, base, AS_OF))
    kept = con.execute("SELECT count(*) FROM (SELECT * FROM before EXCEPT ALL "
                       "SELECT * FROM transactions)").fetchone()[0]
    assert kept == 0 and inserts(con, "transactions") > inserts(con, "before")


def test_rows_that_change_status_or_a_rerun_of_an_earlier_month_replace_the_table(
        setup, tmp_path, replaced):
    base, cache, con = setup
    (base / "transactions" / "tx_2024-06.csv").write_text(TX["tx_2024-06.csv"],
                                                          encoding="utf-8")
    store_sources(con, loaded(base, cache, AS_OF))
    # May's rerun: June's rows (all dated after May) must leave the table
    replaced.clear()
    store_sources(con, loaded(base, cache, "2024-05-31"))
    assert "transactions" in replaced
    assert_tables(con, full_store(tmp_path, base, "2024-05-31"))
    # back to June: they come back
    store_sources(con, loaded(base, cache, AS_OF))
    assert_tables(con, full_store(tmp_path, base, AS_OF))
    # a new customer makes an old file's unknown-customer row (O3, C9) clean
    cust = base / "customers.csv"
    cust.write_text(cust.read_text(encoding="utf-8") + "C9,2024-01-01,50,否,Dee\n",
                    encoding="utf-8")
    store_sources(con, loaded(base, cache, AS_OF))
    assert_tables(con, full_store(tmp_path, base, AS_OF))
    assert "O3" in set(con.execute("SELECT order_id FROM transactions").df()["order_id"])


def test_a_table_stored_without_blocks_is_replaced(setup, tmp_path):
    base, cache, con = setup
    store_sources(con, loaded(base, cache, "2024-05-31"))
    store_sources(con, loaded(base, None, "2024-05-31"))  # no cache: no blocks kept
    assert con.execute(f"SELECT count(*) FROM {BLOCKS_TABLE}").fetchone()[0] == 0
    con.execute("DELETE FROM transactions WHERE order_id = 'O1'")  # changed by hand
    store_sources(con, loaded(base, cache, "2024-05-31"))
    assert_tables(con, full_store(tmp_path, base, "2024-05-31"))
    con.execute("DELETE FROM transactions WHERE order_id = 'O1'")  # blocks no longer match
    store_sources(con, loaded(base, cache, "2024-05-31"))
    assert_tables(con, full_store(tmp_path, base, "2024-05-31"))


def test_contacts_are_kept_while_the_customers_are_and_rewritten_when_they_change(
        setup, tmp_path, replaced):
    base, cache, con = setup

    def load_pii(columns=("name",)) -> Loaded:
        plain = loaded(base, cache, "2024-05-31")
        return replace(set_apart_pii(plain, list(columns)), blocks=plain.blocks)

    def contacts() -> pd.DataFrame:
        return con.execute(f"SELECT * FROM {CONTACTS_TABLE}").df()

    first = load_pii()
    assert list(first.contacts.columns) == ["customer_id", "name"]
    store_sources(con, first)
    assert CONTACTS_TABLE in replaced
    expected = contacts()
    replaced.clear()
    store_sources(con, load_pii())  # same customers: the contacts are kept
    assert CONTACTS_TABLE not in replaced
    pd.testing.assert_frame_equal(contacts(), expected)

    cust = base / "customers.csv"  # a new customer: contacts rewritten, same as a fresh store
    cust.write_text(cust.read_text(encoding="utf-8") + "C9,2024-01-01,50,否,Dee\n",
                    encoding="utf-8")
    replaced.clear()
    new = load_pii()
    store_sources(con, new)
    assert CONTACTS_TABLE in replaced
    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    store_sources(fresh, new)
    pd.testing.assert_frame_equal(
        contacts(), fresh.execute(f"SELECT * FROM {CONTACTS_TABLE}").df())
    assert "Dee" in set(contacts()["name"])

    con.execute(f"DELETE FROM {CONTACTS_TABLE} WHERE customer_id = 'C9'")  # changed by hand
    replaced.clear()
    store_sources(con, load_pii())
    assert CONTACTS_TABLE in replaced and "Dee" in set(contacts()["name"])

    replaced.clear()
    store_sources(con, load_pii(()))  # other PII columns: both tables replaced
    assert {"customers", CONTACTS_TABLE} <= set(replaced)
    assert list(contacts().columns) == ["customer_id"]
