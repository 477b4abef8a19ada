"""Tests for winback.exports: call lists, Excel layout, formula safety, permissions, template."""

from __future__ import annotations

import csv
import io
import stat

import duckdb
import pandas as pd
import pytest
from openpyxl import load_workbook

from winback.contract import validate
from winback.exports import (
    CALL_LIST_COLUMNS,
    HEADERS_ZH,
    OUTCOME_COLUMNS,
    ExportError,
    ExportParams,
    call_list_frame,
    export_call_lists,
    export_outcome_template,
    outcome_template_frame,
)
from winback.privacy import split_pii
from winback.schedule import Schedule, SlotParams
from winback.settings import month_end
from winback.sources import SourceSpec, read_source

SLOTS = {"morning": SlotParams(hours="09:00-12:00", zh="上午"),
         "afternoon": SlotParams(hours="13:30-17:30", zh="下午")}
D1, D2 = pd.Timestamp("2024-07-08"), pd.Timestamp("2024-07-11")
CUSTOMERS = pd.DataFrame({
    "customer_id": ["A", "B", "C", "D", "E"],
    "name": ['=HYPERLINK("http://x","点我")', "王芳", "李强", "@SUM(1+1)", "张伟"],
    "phone": ["13800000001", "+86 138 0000 0002", "13800000003", "0755-1234", "13800000005"],
    "email": ["a@example.com", "b@example.com", "c@example.com", "d@example.com",
              "-2+3@example.com"],
    "do_not_contact": [False, False, False, False, True],
})
CAMPAIGN = pd.DataFrame({
    "month": "2024-06",
    "customer_id": ["A", "B", "C", "D", "E"],
    "group": ["treatment"] * 4 + ["control"],
    "tier": ["T1", "T2", "T1", "T3", "T1"],
    "reason_code": ["price", "service", None, "price", "price"],
    "strategy": ["+cmd|' /C calc'!A0", "care call", "survey", "coupon", "coupon"],
    "offer_category": ["生鲜", "日用品", None, "美妆", "生鲜"],
    "offer_value": [30.0, 20.0, 0.0, 50.0, 10.0],
})


def make_schedule(rows) -> Schedule:
    cal = pd.DataFrame(rows, columns=["customer_id", "attempt", "day", "agent", "channel",
                                      "slot"])
    cal.insert(0, "month", "2024-06")
    cal = cal.astype({"day": "datetime64[us]", "attempt": "int64"})
    return Schedule(month="2024-06", execution_month="2024-07",
                    days=pd.DatetimeIndex([D1, D2]), calendar=cal,
                    unscheduled=pd.DataFrame(), capacity=pd.DataFrame(),
                    treated=cal["customer_id"].nunique())


SCHED = make_schedule([
    ("A", 1, D1, "phone-01", "phone", "morning"),
    ("B", 1, D1, "phone-01", "phone", "afternoon"),
    ("C", 1, D1, "phone-02", "phone", "morning"),
    ("A", 2, D2, "sms-01", "sms", "morning"),
    ("D", 1, D1, "email-01", "email", "morning"),
    ("B", 2, D2, "app_push-01", "app_push", "morning"),
])


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store.duckdb"
    con = duckdb.connect(str(path))
    customers, contacts = split_pii(CUSTOMERS, ["name", "phone", "email"])  # as stage 1 stores
    con.register("c", customers)
    con.execute("CREATE TABLE customers AS SELECT * FROM c")
    con.register("p", contacts)
    con.execute("CREATE TABLE customer_contacts AS SELECT * FROM p")
    con.close()
    return path


@pytest.fixture
def exported(tmp_path, store):
    folder = tmp_path / "run" / "exports"
    files = export_call_lists(SCHED, CAMPAIGN, store_path=store, folder=folder, slots=SLOTS,
                              language="zh")
    return folder, files


def test_returned_table_names_files_without_personal_data(exported):
    folder, files = exported
    assert files["file"].tolist() == ["call_list.csv", "call_lists.xlsx"]
    assert files["rows"].tolist() == [6, 6] and files["sheets"].tolist() == [1, 5]
    text = files.to_string()
    assert "王芳" not in text and "13800000001" not in text
    assert sorted(p.name for p in folder.iterdir()) == ["call_list.csv", "call_lists.xlsx"]


def test_file_permissions_owner_only(exported):
    folder, _ = exported
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_excel_structure_zh(exported):
    folder, _ = exported
    book = load_workbook(folder / "call_lists.xlsx")
    assert book.sheetnames == ["app_push-01", "email-01", "phone-01", "phone-02", "sms-01"]
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2"
        header = [c.value for c in ws[1]]
        assert header == [HEADERS_ZH[c] for c in CALL_LIST_COLUMNS]
        for cell in ws[1]:
            width = ws.column_dimensions[cell.column_letter].width
            assert 8 <= width <= 40
        assert ws.column_dimensions["B"].width >= len("上午 09:00-12:00") + 2
        assert ws.column_dimensions["A"].width == len("2024-07-08") + 2
    phone = book["phone-01"]
    rows = [[c.value for c in r] for r in phone.iter_rows(min_row=2)]
    assert [r[1] for r in rows] == ["上午 09:00-12:00", "下午 13:30-17:30"]
    assert rows[0][4] == "电话"
    assert phone["A2"].number_format == "yyyy-mm-dd" and phone["A2"].value.date() == D1.date()
    assert phone["H2"].number_format == "@" and phone["H2"].value == "13800000001"


def test_excel_structure_en_sheets_by_day(tmp_path, store):
    folder = tmp_path / "exports"
    export_call_lists(SCHED, CAMPAIGN, store_path=store, folder=folder, slots=SLOTS,
                      language="en", options=ExportParams(sheets_by="day", max_column_width=12))
    book = load_workbook(folder / "call_lists.xlsx")
    assert book.sheetnames == ["2024-07-08", "2024-07-11"]
    ws = book["2024-07-08"]
    assert [c.value for c in ws[1]] == list(CALL_LIST_COLUMNS)
    assert ws.freeze_panes == "A2"
    assert max(ws.column_dimensions[c.column_letter].width for c in ws[1]) == 12
    assert ws.max_row == 5  # header + 4 contacts on 07-08


def test_formula_injection_neutralized_in_csv_and_excel(exported):
    folder, _ = exported
    frame = pd.read_csv(folder / "call_list.csv", dtype=str, encoding="utf-8-sig")
    names = set(frame["姓名"])
    assert "'=HYPERLINK(\"http://x\",\"点我\")" in names and "'@SUM(1+1)" in names
    assert "'+cmd|' /C calc'!A0" in set(frame["挽回策略"])
    book = load_workbook(folder / "call_lists.xlsx")
    for ws in book.worksheets:
        for row in ws.iter_rows(min_row=2, values_only=True):
            for v in row:
                if isinstance(v, str) and v != "+86 138 0000 0002":  # numbers stay as they are
                    assert v[0] not in "=+-@\t\r", v
    assert book["phone-01"]["G2"].value.startswith("'=HYPERLINK")


def test_contact_details_follow_the_channel(exported):
    folder, _ = exported
    frame = pd.read_csv(folder / "call_list.csv", dtype=str, encoding="utf-8-sig")
    by = frame.set_index(["客户编号", "第几次联系"])
    assert by.loc[("A", "1"), "手机"] == "13800000001" and pd.isna(by.loc[("A", "1"), "邮箱"])
    assert by.loc[("A", "2"), "渠道"] == "短信" and by.loc[("A", "2"), "手机"] == "13800000001"
    assert by.loc[("D", "1"), "邮箱"] == "d@example.com" and pd.isna(by.loc[("D", "1"), "手机"])
    assert pd.isna(by.loc[("B", "2"), "手机"]) and pd.isna(by.loc[("B", "2"), "邮箱"])
    assert by.loc[("B", "1"), "手机"] == "+86 138 0000 0002"  # a phone number is not a formula


def test_do_not_contact_or_unknown_customer_refused(tmp_path, store):
    dnc = make_schedule([("E", 1, D1, "phone-01", "phone", "morning")])
    with pytest.raises(ExportError, match="do-not-contact.*E"):
        export_call_lists(dnc, CAMPAIGN, store_path=store, folder=tmp_path / "x")
    ghost = make_schedule([("Z", 1, D1, "phone-01", "phone", "morning")])
    with pytest.raises(ExportError, match="not in the store's customers table.*Z"):
        export_call_lists(ghost, CAMPAIGN, store_path=store, folder=tmp_path / "y")
    assert not list((tmp_path / "x").glob("*")) and not list((tmp_path / "y").glob("*"))


def test_outcome_template_columns_and_prefill(tmp_path):
    frame = outcome_template_frame(SCHED)
    assert tuple(frame.columns) == OUTCOME_COLUMNS
    assert len(frame) == 6 and (frame["campaign_month"] == "2024-06").all()
    assert frame[["contact_ts", "reached", "response", "notes"]].isna().all().all()
    files = export_outcome_template(SCHED, folder=tmp_path / "exports")
    assert files["file"].tolist() == ["contact_outcomes_template.csv",
                                      "contact_outcomes_template.xlsx"]
    book = load_workbook(tmp_path / "exports" / "contact_outcomes_template.xlsx")
    assert book.sheetnames[0] == "contact_outcomes"
    assert [c.value for c in book["contact_outcomes"][1]] == list(OUTCOME_COLUMNS)
    assert book["contact_outcomes"].freeze_panes == "A2"
    for path in (tmp_path / "exports").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


EXAMPLE = {  # what the call centre writes into the blank columns, by row
    "contact_ts": ["2024-07-08 09:30:00", "2024-07-08 14:05:00", "2024-07-08 10:00:00",
                   "2024-07-08 11:00:00", "2024-07-11 09:10:00", "2024-07-11 09:15:00"],
    "reached": ["true", "false", "是", "true", "true", "false"],
    "reason_code": ["price", None, "service", None, "price", None],
    "response": ["accepted", None, "declined", "callback", "no_response", None],
    "offer_redeemed": ["false", None, "false", None, "true", None],
    "satisfaction": ["4", None, "2", None, "5", None],
    "notes": ["回访下周", None, "=not a formula", None, None, None],
}


def _check_round_trip(path, spec: SourceSpec, template: pd.DataFrame):
    raw = read_source("contact_outcomes", spec, base_dir=path.parent)
    assert list(raw.frame.columns) == list(OUTCOME_COLUMNS)
    result = validate(raw, as_of=month_end("2024-07"),
                      known_customers=pd.Series(CUSTOMERS["customer_id"]))
    assert [i.rule for i in result.issues if i.rule != "formula_injection"] == []
    assert result.quarantine.empty and len(result.clean) == len(template)
    clean = result.clean
    assert clean["customer_id"].tolist() == template["customer_id"].tolist()
    assert clean["attempt"].tolist() == template["attempt"].tolist()
    assert clean["channel"].tolist() == template["channel"].tolist()
    assert (clean["campaign_month"] == "2024-06").all()
    assert clean["reached"].tolist() == [True, False, True, True, True, False]
    assert clean["contact_ts"].iloc[0] == pd.Timestamp("2024-07-08 09:30:00")


def test_template_round_trip_csv(tmp_path):
    export_outcome_template(SCHED, folder=tmp_path)
    path = tmp_path / "contact_outcomes_template.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert tuple(header) == OUTCOME_COLUMNS
    for i, row in enumerate(body):
        for col, values in EXAMPLE.items():
            row[header.index(col)] = values[i] or ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([header, *body])
    path.write_text(buf.getvalue(), encoding="utf-8-sig")
    _check_round_trip(path, SourceSpec(path=path.name), outcome_template_frame(SCHED))


def test_template_round_trip_excel(tmp_path):
    export_outcome_template(SCHED, folder=tmp_path)
    path = tmp_path / "contact_outcomes_template.xlsx"
    book = load_workbook(path)
    ws = book["contact_outcomes"]
    header = [c.value for c in ws[1]]
    for i in range(6):
        for col, values in EXAMPLE.items():
            if values[i] is not None:
                ws.cell(row=i + 2, column=header.index(col) + 1, value=values[i])
    book.save(path)
    _check_round_trip(path, SourceSpec(path=path.name), outcome_template_frame(SCHED))


def test_export_month_writes_every_file(tmp_path, store):
    from winback.exports import export_month

    files = export_month(SCHED, CAMPAIGN, store_path=store, folder=tmp_path / "exports",
                         slots=SLOTS, language="en")
    assert files["file"].tolist() == ["call_list.csv", "call_lists.xlsx",
                                      "contact_outcomes_template.csv",
                                      "contact_outcomes_template.xlsx"]
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == sorted(files["file"])


def test_call_lists_name_the_program_of_each_contact(tmp_path, store):
    camp = CAMPAIGN.assign(program=["winback", "preventive", "winback", "winback", "winback"])
    base = call_list_frame(SCHED, camp)
    assert base.set_index(["customer_id", "attempt"])["program"].to_dict()[("B", 1)] == \
        "preventive"
    # a log written before programs were told apart: every contact is a win-back one
    assert set(call_list_frame(SCHED, CAMPAIGN)["program"]) == {"winback"}
    for language, names in (("zh", {"流失挽回", "预防关怀"}), ("en", {"win-back",
                                                                 "preventive care"})):
        folder = tmp_path / language
        export_call_lists(SCHED, camp, store_path=store, folder=folder, slots=SLOTS,
                          language=language)
        book = load_workbook(folder / "call_lists.xlsx")
        ws = book.worksheets[0]
        header = [c.value for c in ws[1]]
        col = header.index(HEADERS_ZH["program"] if language == "zh" else "program")
        shown = {r[col] for b in book.worksheets for r in b.iter_rows(min_row=2, values_only=True)}
        assert shown == names
