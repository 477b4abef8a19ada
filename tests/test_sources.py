"""Source readers: encodings, delimiters, Excel, Parquet, SQL, column mapping, empty inputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tests import pg
from tests.pg import PG_PASSWORD, postgres_url  # noqa: F401  (fixture)
from winback.contract import ContractError
from winback.sources import (
    RawSource,
    SourceError,
    SourcesParams,
    SourceSpec,
    file_sha256,
    read_source,
    read_sources,
    resolve_dir,
)

ZH_COLUMNS = {"客户编号": "customer_id", "注册日期": "signup_date", "城市": "city",
              "免打扰": "do_not_contact"}
ZH_ROWS = [("C001", "2024-01-05", "上海", "是"), ("C002", "2024-02-10", "北京", "否")]


def zh_csv(tmp_path: Path, encoding: str, delimiter: str = ",", name: str = "c.csv",
           extra_row: tuple[str, ...] | None = None) -> Path:
    lines = [delimiter.join(ZH_COLUMNS)] + [delimiter.join(r) for r in ZH_ROWS]
    if extra_row:
        lines.append(delimiter.join(extra_row))
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def spec(**kw) -> SourceSpec:
    base = {"path": "c.csv", "columns": ZH_COLUMNS}
    return SourceSpec(**{**base, **kw})


def check_zh(raw: RawSource) -> None:
    assert list(raw.frame.columns) == ["customer_id", "signup_date", "city", "do_not_contact"]
    assert raw.frame["city"].tolist() == ["上海", "北京"]
    assert raw.frame["do_not_contact"].tolist() == ["是", "否"]
    assert raw.row_numbers.tolist() == [2, 3]
    assert raw.column_map["customer_id"] == "客户编号"


# --- encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "detected"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("gbk", "gb18030"),
])
def test_auto_encoding_reads_chinese_headers_and_values(tmp_path, written, detected):
    zh_csv(tmp_path, written)
    raw = read_source("customers", spec(), base_dir=tmp_path)
    check_zh(raw)
    assert raw.encoding == detected


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_explicit_encoding_reads_its_own_files(tmp_path, encoding):
    zh_csv(tmp_path, encoding)
    check_zh(read_source("customers", spec(encoding=encoding), base_dir=tmp_path))


def test_explicit_utf8_on_gbk_file_names_offset_line_and_suggests_gb18030(tmp_path):
    zh_csv(tmp_path, "gbk")
    with pytest.raises(SourceError) as err:
        read_source("customers", spec(encoding="utf-8"), base_dir=tmp_path)
    msg = str(err.value)
    assert "c.csv" in msg and "not valid utf-8" in msg
    assert "byte offset 0 (line 1)" in msg
    assert "encoding: gb18030" in msg


def test_explicit_gbk_on_utf8_file_is_refused_instead_of_mojibake(tmp_path):
    zh_csv(tmp_path, "utf-8")
    with pytest.raises(SourceError) as err:
        read_source("customers", spec(encoding="gbk"), base_dir=tmp_path)
    msg = str(err.value)
    assert "is UTF-8" in msg and "garble" in msg and "encoding: utf-8" in msg


def test_explicit_gbk_on_bom_file_is_refused(tmp_path):
    zh_csv(tmp_path, "utf-8-sig")
    with pytest.raises(SourceError, match="byte-order mark"):
        read_source("customers", spec(encoding="gb18030"), base_dir=tmp_path)


def test_explicit_gbk_on_gb18030_only_character_suggests_gb18030(tmp_path):
    zh_csv(tmp_path, "gb18030", extra_row=("C003", "2024-03-01", "𠮷野", "否"))
    with pytest.raises(SourceError) as err:
        read_source("customers", spec(encoding="gbk"), base_dir=tmp_path)
    assert "line 4" in str(err.value) and "encoding: gb18030" in str(err.value)
    raw = read_source("customers", spec(), base_dir=tmp_path)
    assert raw.frame["city"].iloc[2] == "𠮷野" and raw.encoding == "gb18030"


def test_undecodable_bytes_in_auto_mode_name_the_line(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("客户编号,注册日期\nC1,2024-01-01\n".encode() + b"C2,\xff\xff\xff\n")
    with pytest.raises(SourceError) as err:
        read_source("customers", spec(), base_dir=tmp_path)
    assert "line 3" in str(err.value) and "CSV UTF-8" in str(err.value)


# --- delimiters, line numbers ----------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_detected_from_the_header(tmp_path, delimiter):
    zh_csv(tmp_path, "utf-8", delimiter)
    raw = read_source("customers", spec(), base_dir=tmp_path)
    check_zh(raw)
    assert raw.delimiter == delimiter


@pytest.mark.parametrize("delimiter", ["auto", ";"])
def test_ambiguous_header_and_explicit_delimiter(tmp_path, delimiter):
    path = tmp_path / "c.csv"
    path.write_text('customer_id;signup_date;note, with comma;"a,b"\nC1;2024-01-01;x;y\n')
    raw = read_source("customers", SourceSpec(path="c.csv", delimiter=delimiter),
                      base_dir=tmp_path)
    assert raw.frame["customer_id"].tolist() == ["C1"]
    assert raw.unmapped_columns == ("note, with comma", "a,b")


def test_wrong_explicit_delimiter_names_the_right_one(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,signup_date\nC1,2024-01-01\n")
    with pytest.raises(SourceError, match="looks comma-separated.*delimiter to ','"):
        read_source("customers", SourceSpec(path="c.csv", delimiter=";"), base_dir=tmp_path)


def test_line_numbers_count_blank_lines_and_multiline_values(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text(
        "customer_id,ts,kind,text\n"
        "C1,2024-01-01,review,ok\n"
        "\n"
        'C2,2024-01-02,complaint,"line one\nline two"\n'
        "C3,2024-01-03,review,fine\n")
    raw = read_source("interactions", SourceSpec(path="i.csv"), base_dir=tmp_path)
    assert raw.row_numbers.tolist() == [2, 4, 6]
    assert raw.blank_rows == 1
    assert raw.frame["text"].iloc[1] == "line one\nline two"


def test_crlf_bom_export_with_quoted_delimiters(tmp_path):
    text = ('\ufeff"客户编号","注册日期","城市"\r\n"C1","2024-01-01","上海, 浦东"\r\n'
            '"C2","2024-01-02","北京"\r\n')
    (tmp_path / "c.csv").write_bytes(text.encode("utf-8"))
    raw = read_source("customers", spec(), base_dir=tmp_path)
    assert raw.encoding == "utf-8-sig" and raw.delimiter == ","
    assert raw.frame["city"].tolist() == ["上海, 浦东", "北京"]
    assert raw.row_numbers.tolist() == [2, 3]


def test_values_stay_strings_and_empty_cells_are_missing(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("order_id,customer_id,order_ts,amount\n007,C1,2024-01-01,\"1,234.50\"\n"
                    "008,C1,2024-01-02,\n")
    raw = read_source("transactions", SourceSpec(path="t.csv"), base_dir=tmp_path)
    assert raw.frame["order_id"].tolist() == ["007", "008"]
    assert raw.frame["amount"].iloc[0] == "1,234.50"
    assert pd.isna(raw.frame["amount"].iloc[1])


def test_too_many_fields_is_a_clear_error(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,signup_date\nC1,2024-01-01\nC2,2024-01-02,x\n")
    with pytest.raises(SourceError, match=r"line 3.*quoted"):
        read_source("customers", SourceSpec(path="c.csv"), base_dir=tmp_path)


def test_trailing_delimiter_on_data_lines_is_refused(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,signup_date\nC1,2024-01-01,\nC2,2024-01-02,\n")
    with pytest.raises(SourceError, match="one more field"):
        read_source("customers", SourceSpec(path="c.csv"), base_dir=tmp_path)


# --- Excel, Parquet --------------------------------------------------------------------


def test_excel_sheet_rows_types_and_sheet_choice(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    wb.active["A1"] = "readme"
    ws = wb.create_sheet("客户")
    ws.append(list(ZH_COLUMNS))
    ws.append(["C001", dt.datetime(2024, 1, 5, 9, 30), "上海", "是"])
    ws.append([None, None, None, None])
    ws.append([1002, dt.date(2024, 2, 10), "北京", True])
    wb.save(tmp_path / "c.xlsx")
    raw = read_source("customers", spec(path="c.xlsx", sheet="客户"), base_dir=tmp_path)
    assert raw.row_numbers.tolist() == [2, 4]
    assert raw.frame["customer_id"].tolist() == ["C001", "1002"]
    assert raw.frame["signup_date"].tolist() == ["2024-01-05 09:30:00", "2024-02-10"]
    assert raw.frame["do_not_contact"].tolist() == ["是", "true"]
    assert raw.blank_rows == 1
    same = read_source("customers", spec(path="c.xlsx", sheet=1), base_dir=tmp_path)
    pd.testing.assert_frame_equal(same.frame, raw.frame)
    with pytest.raises(SourceError, match="no sheet '客'.*说明, 客户"):
        read_source("customers", spec(path="c.xlsx", sheet="客"), base_dir=tmp_path)


def test_zero_byte_and_damaged_xlsx(tmp_path):
    (tmp_path / "c.xlsx").write_bytes(b"")
    with pytest.raises(SourceError, match=r"c\.xlsx is empty \(0 bytes\)"):
        read_source("customers", spec(path="c.xlsx"), base_dir=tmp_path)
    (tmp_path / "d.xlsx").write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="not a readable .xlsx"):
        read_source("customers", spec(path="d.xlsx"), base_dir=tmp_path)
    (tmp_path / "old.xls").write_bytes(b"x")
    with pytest.raises(SourceError, match="save it as .xlsx"):
        read_source("customers", spec(path="old.xls"), base_dir=tmp_path)


def test_parquet_keeps_types_and_numbers_records(tmp_path):
    frame = pd.DataFrame({"订单号": ["O1", "O2"], "customer_id": ["C1", "C2"],
                          "order_ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00"]),
                          "金额": [10.5, -3.0]})
    frame.to_parquet(tmp_path / "t.parquet")
    raw = read_source("transactions", SourceSpec(path="t.parquet",
                                                 columns={"订单号": "order_id", "金额": "amount"}),
                      base_dir=tmp_path)
    assert list(raw.frame.columns) == ["order_id", "customer_id", "order_ts", "amount"]
    assert raw.row_numbers.tolist() == [1, 2]
    assert raw.frame["amount"].dtype == "float64"


# --- mapping ---------------------------------------------------------------------------


def test_unknown_columns_are_listed_and_left_out(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,signup_date,备注,age\nC1,2024-01-01,x,30\n",
                                    encoding="utf-8")
    raw = read_source("customers", SourceSpec(path="c.csv"), base_dir=tmp_path)
    assert list(raw.frame.columns) == ["customer_id", "signup_date", "age"]
    assert raw.unmapped_columns == ("备注",)


def test_misspelt_column_gets_did_you_mean(tmp_path):
    (tmp_path / "c.csv").write_text("custmer_id,signup_date\nC1,2024-01-01\n")
    with pytest.raises(ContractError) as err:
        read_source("customers", SourceSpec(path="c.csv"), base_dir=tmp_path)
    msg = str(err.value)
    assert "c.csv" in msg and "customer_id" in msg
    assert "Columns found: custmer_id, signup_date" in msg
    assert "did you mean 'custmer_id'? Map it in params sources.customers.columns" in msg


def test_chinese_column_gets_an_alias_hint_and_a_wrong_mapping_is_named(tmp_path):
    (tmp_path / "c.csv").write_text("会员编号,注册日期\nC1,2024-01-01\n", encoding="utf-8")
    with pytest.raises(ContractError) as err:
        read_source("customers", SourceSpec(path="c.csv", columns={"注册日期": "signup_date"}),
                    base_dir=tmp_path)
    assert "did you mean '会员编号'" in str(err.value)
    with pytest.raises(ContractError) as err:
        read_source("customers", SourceSpec(path="c.csv", columns={"会员编码": "customer_id",
                                                                   "注册日期": "signup_date"}),
                    base_dir=tmp_path)
    assert "params map '会员编码' to customer_id, but the file has no column" in str(err.value)


def test_mapping_wins_over_a_canonical_name_and_duplicate_headers_are_refused(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,客户编号,signup_date\nX1,C1,2024-01-01\n",
                                    encoding="utf-8")
    raw = read_source("customers", SourceSpec(path="c.csv", columns={"客户编号": "customer_id"}),
                      base_dir=tmp_path)
    assert raw.frame["customer_id"].tolist() == ["C1"]
    assert raw.unmapped_columns == ("customer_id",)
    (tmp_path / "d.csv").write_text("客户编号,客户编号,signup_date\nC1,C2,2024-01-01\n",
                                    encoding="utf-8")
    with pytest.raises(SourceError, match="several columns map onto the same"):
        read_source("customers", SourceSpec(path="d.csv", columns={"客户编号": "customer_id"}),
                    base_dir=tmp_path)


def test_value_mapping_turns_client_values_into_canonical_strings(tmp_path):
    zh_csv(tmp_path, "utf-8", extra_row=("C003", "2024-03-01", "广州", "未知"))
    raw = read_source("customers", spec(values={"do_not_contact": {"是": True, "否": False}}),
                      base_dir=tmp_path)
    assert raw.frame["do_not_contact"].tolist() == ["true", "false", "未知"]
    assert any("'未知'" in n for n in raw.notes)


def test_glob_concatenates_files_in_name_order_with_their_rows(tmp_path):
    (tmp_path / "t_2024-02.csv").write_text("order_id,customer_id,order_ts,amount\n"
                                            "O3,C1,2024-02-01,3\n")
    (tmp_path / "t_2024-01.csv").write_text("order_id,customer_id,order_ts,amount\n"
                                            "O1,C1,2024-01-01,1\nO2,C1,2024-01-02,2\n")
    raw = read_source("transactions", SourceSpec(path="t_*.csv"), base_dir=tmp_path)
    assert raw.frame["order_id"].tolist() == ["O1", "O2", "O3"]
    assert raw.row_numbers.tolist() == [2, 3, 2]
    assert [Path(f).name for f in raw.row_files] == ["t_2024-01.csv"] * 2 + ["t_2024-02.csv"]
    one = read_source("transactions", SourceSpec(path="t_{month}.csv"), base_dir=tmp_path,
                      month="2024-02")
    assert one.frame["order_id"].tolist() == ["O3"]


# --- empty and missing -----------------------------------------------------------------


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(SourceError, match=r"e\.csv is empty \(0 bytes\)"):
        read_source("customers", SourceSpec(path="e.csv"), base_dir=tmp_path)
    (tmp_path / "h.csv").write_text("customer_id,signup_date\n\n")
    with pytest.raises(SourceError, match="header but no data rows"):
        read_source("customers", SourceSpec(path="h.csv"), base_dir=tmp_path)
    (tmp_path / "b.csv").write_text("\n\n")
    with pytest.raises(SourceError, match="no header line"):
        read_source("customers", SourceSpec(path="b.csv"), base_dir=tmp_path)
    raw = read_source("contact_outcomes", SourceSpec(path="h.csv", required=False),
                      base_dir=tmp_path)
    assert len(raw.frame) == 0 and "customer_id" in raw.frame.columns


def test_missing_optional_source_is_empty_and_missing_required_names_the_folder(tmp_path):
    raw = read_source("contact_outcomes", SourceSpec(path="outcomes.csv", required=False),
                      base_dir=tmp_path)
    assert len(raw.frame) == 0 and raw.origin.startswith("(missing)")
    assert list(raw.frame.columns) == ["customer_id", "campaign_month", "attempt",
                                       "contact_ts", "channel", "reached"]
    assert "required is false" in raw.notes[0]
    (tmp_path / "customer.csv").write_text("customer_id,signup_date\nC1,2024-01-01\n")
    with pytest.raises(SourceError, match="Did you mean 'customer.csv'"):
        read_source("customers", SourceSpec(path="customers.csv"), base_dir=tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        read_source("customers", SourceSpec(path="customers.csv"), base_dir=tmp_path / "nope")


# --- params, helpers -------------------------------------------------------------------


def test_sources_params_defaults_and_checks():
    params = SourcesParams()
    assert params.customers.required and not params.contact_outcomes.required
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        SourceSpec(format="sql", url_env="postgresql://u:p@h/db", query="select 1")
    with pytest.raises(ValidationError, match="needs query"):
        SourceSpec(format="sql", url_env="DB_URL")
    with pytest.raises(ValidationError, match="YAML boolean"):
        SourceSpec(path="c.csv", values={"do_not_contact": {True: True}})
    with pytest.raises(ValidationError, match="did you mean 'customer_id'"):
        SourcesParams(customers={"path": "c.csv", "columns": {"编号": "customer_idd"}})
    with pytest.raises(ValidationError, match="several client columns"):
        SourcesParams(customers={"path": "c.csv", "columns": {"a": "city", "b": "city"}})


def test_default_params_file_validates(tmp_path):
    from winback.config import load_params

    p = load_params()
    srcs = p.sources
    assert isinstance(srcs, SourcesParams)
    assert resolve_dir(srcs, "acme", tmp_path) == tmp_path / "data" / "acme" / "client"


def test_read_sources_and_file_sha256(tmp_path):
    (tmp_path / "customers.csv").write_text("customer_id,signup_date\nC1,2024-01-01\n")
    (tmp_path / "transactions.csv").write_text("order_id,customer_id,order_ts,amount\n"
                                               "O1,C1,2024-01-01,1\n")
    raws = read_sources(SourcesParams(), base_dir=tmp_path, month="2024-06")
    assert [len(r.frame) for r in raws.values()] == [1, 1, 0, 0, 0]
    digest = file_sha256(tmp_path / "customers.csv")
    import hashlib

    assert digest == hashlib.sha256((tmp_path / "customers.csv").read_bytes()).hexdigest()


def test_raw_source_from_frame():
    raw = RawSource.from_frame("customers", pd.DataFrame({"customer_id": ["a", "b"]}))
    assert raw.row_numbers.tolist() == [2, 3] and isinstance(raw.row_numbers, np.ndarray)


# --- SQL -------------------------------------------------------------------------------


SQL = ("SELECT 订单号, customer_id, order_ts, amount, 渠道 FROM orders "
       "WHERE order_ts >= :month_start AND order_ts <= :month_end ORDER BY 订单号")


@pytest.mark.postgres
def test_sql_reader_with_chinese_values_and_month_binds(postgres_url, monkeypatch):  # noqa: F811
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as con:
        con.execute(sa.text("DROP TABLE IF EXISTS orders"))
        con.execute(sa.text("CREATE TABLE orders (订单号 text, customer_id text, "
                            "order_ts timestamp, amount numeric(12,2), 渠道 text)"))
        con.execute(sa.text("INSERT INTO orders VALUES "
                            "('O1', 'C1', '2024-05-31 23:00', 10.50, '门店'), "
                            "('O2', 'C1', '2024-06-01 00:00', 20.00, '线上商城'), "
                            "('O3', 'C2', '2024-06-30 23:59:59', -5.25, '门店'), "
                            "('O4', 'C2', '2024-07-01 00:00', 7.00, '门店')"))
    engine.dispose()
    monkeypatch.setenv("WINBACK_TEST_DB", postgres_url)
    spec_ = SourceSpec(format="sql", url_env="WINBACK_TEST_DB", query=SQL,
                       columns={"订单号": "order_id", "渠道": "channel"})
    raw = read_source("transactions", spec_, base_dir=".", month="2024-06")
    assert raw.origin == "sql:WINBACK_TEST_DB"
    assert raw.frame["order_id"].tolist() == ["O2", "O3"]
    assert raw.frame["channel"].tolist() == ["线上商城", "门店"]
    assert raw.row_numbers.tolist() == [1, 2]
    from winback.contract import validate

    v = validate(raw, as_of="2024-06-30")
    assert v.clean["amount"].tolist() == [20.0, -5.25]
    assert v.clean["is_return"].tolist() == [False, True]


@pytest.mark.postgres
def test_sql_query_error_names_the_query(postgres_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("WINBACK_TEST_DB", postgres_url)
    spec_ = SourceSpec(format="sql", url_env="WINBACK_TEST_DB", query="SELECT * FROM nope")
    with pytest.raises(SourceError) as err:
        read_source("transactions", spec_, base_dir=".")
    assert "sources.transactions.query failed" in str(err.value)
    assert PG_PASSWORD not in str(err.value)


def test_sql_unreachable_database_names_env_var_and_host_not_password(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WINBACK_TEST_DB",
                       f"postgresql+psycopg://u:{PG_PASSWORD}@127.0.0.1:{port}/db")
    spec_ = SourceSpec(format="sql", url_env="WINBACK_TEST_DB", query="SELECT 1")
    with pytest.raises(SourceError) as err:
        read_source("customers", spec_, base_dir=".")
    msg = str(err.value)
    assert "WINBACK_TEST_DB" in msg and "host 127.0.0.1" in msg and f"port {port}" in msg
    assert PG_PASSWORD not in msg


def test_sql_unset_env_var_and_bad_url(monkeypatch):
    monkeypatch.delenv("WINBACK_TEST_DB", raising=False)
    spec_ = SourceSpec(format="sql", url_env="WINBACK_TEST_DB", query="SELECT 1")
    with pytest.raises(SourceError, match="WINBACK_TEST_DB.*is not set"):
        read_source("customers", spec_, base_dir=".")
    monkeypatch.setenv("WINBACK_TEST_DB", "not a url")
    with pytest.raises(SourceError, match="not hold a valid SQLAlchemy URL"):
        read_source("customers", spec_, base_dir=".")


def test_missing_postgres_binaries_skip_locally_and_fail_on_ci(monkeypatch):
    monkeypatch.setattr(pg, "find_pg_bin", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        pg.require_pg_bin()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install them"):
        pg.require_pg_bin()


def test_csv_quotes_read_the_same_by_both_readers(tmp_path):
    # quoted values (delimiters, doubled quotes, line breaks) and quotes inside unquoted
    # values: the fast reader and the fallback give the same frame and line numbers
    from winback import sources

    text = ('customer_id,ts,kind,text\n'
            'C1,2024-01-02,review,"a, b ""c"""\n'
            'C2,2024-01-03,review,"two\nlines"\n'
            'C3,2024-01-04,review,\n')
    odd = text + 'C4,2024-01-05,review,say "hi" now\n'
    spec = sources.SourceSpec(path="i.csv")
    for body in (text, odd):
        (tmp_path / "i.csv").write_text(body, encoding="utf-8")
        fast = sources._read_csv("interactions", spec, tmp_path / "i.csv")
        original = sources._arrow_csv
        try:
            sources._arrow_csv = lambda *args: None
            slow = sources._read_csv("interactions", spec, tmp_path / "i.csv")
        finally:
            sources._arrow_csv = original
        pd.testing.assert_frame_equal(fast.frame, slow.frame)
        assert fast.row_numbers.tolist() == slow.row_numbers.tolist()
    assert fast.row_numbers.tolist() == [2, 3, 5, 6]
    assert fast.frame["text"].tolist()[:2] == ['a, b "c"', "two\nlines"]
    assert fast.frame["text"].tolist()[3] == 'say "hi" now'
