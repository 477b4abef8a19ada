"""Tests for winback.privacy: PII set apart, pseudonymous ids, the leak scanner, file modes,
formula-safe exports, and (slow) a search of every output of the demo run for canary PII."""

from __future__ import annotations

import csv
import hmac
import io
import json
import os
import re
import stat
import zlib

import duckdb
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from pydantic import ValidationError

from winback import exports
from winback.contract import validate
from winback.exports import CALL_LIST_FILES, export_call_lists, export_outcome_template
from winback.ingest import Loaded, set_apart_pii, store_sources
from winback.privacy import (
    CONTACTS_TABLE,
    REDACTED,
    PrivacyError,
    PrivacyParams,
    hash_ids,
    png_text,
    pseudonymize_frame,
    pseudonymize_html,
    pseudonymize_tables,
    redact_quarantine,
    resolve_salt,
    scan_folder,
    scan_store,
    split_pii,
)
from winback.schedule import Schedule
from winback.settings import month_end
from winback.sources import SourceSpec, read_source
from winback.store import opened

SALT = "an-engagement-salt-0123456789"
CANARY = "CANARY金丝雀0007"
CANARY_PHONE = "+86 199 0000 0007"
CANARY_EMAIL = "canary0007@example.invalid"
PAYLOADS = ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(1)"]


# --------------------------------------------------------------------------------------
# params
# --------------------------------------------------------------------------------------


def test_params_defaults_and_errors():
    p = PrivacyParams()
    assert p.pii_columns == ("name", "phone", "email") and p.hash_ids is False
    assert p.id_salt_env == "WINBACK_ID_SALT"
    assert PrivacyParams(pii_columns=["name", "phone", "email", "city"]).pii_columns[-1] == "city"
    with pytest.raises(ValidationError, match="not columns of the customers source"):
        PrivacyParams(pii_columns=["name", "phone", "email", "address"])
    with pytest.raises(ValidationError, match="required customers columns"):
        PrivacyParams(pii_columns=["name", "phone", "email", "customer_id"])
    with pytest.raises(ValidationError, match=r"PII columns \['email'\] must stay declared"):
        PrivacyParams(pii_columns=["name", "phone"])
    with pytest.raises(ValidationError):
        PrivacyParams(id_salt_env="not a name")
    with pytest.raises(ValidationError):  # the salt itself has no place in params
        PrivacyParams(id_salt=SALT)


def test_params_section_loaded_from_default_yaml():
    from winback.config import load_params

    params = load_params("demo")
    assert params.privacy == PrivacyParams()
    assert set(params.raw["privacy"]) == {"pii_columns", "hash_ids", "id_columns", "id_salt_env"}


# --------------------------------------------------------------------------------------
# PII set apart
# --------------------------------------------------------------------------------------

CUSTOMERS = pd.DataFrame({
    "customer_id": ["A", "B"], "signup_date": pd.to_datetime(["2023-01-01", "2023-02-01"]),
    "region": ["华东", "华南"], "name": [CANARY, "王芳"], "phone": [CANARY_PHONE, "13800000002"],
    "email": [CANARY_EMAIL, None],
})


def test_split_pii_keeps_analysis_columns_and_contacts_apart():
    before = CUSTOMERS.copy()
    analysis, contacts = split_pii(CUSTOMERS, ["name", "phone", "email", "city"])
    assert list(analysis.columns) == ["customer_id", "signup_date", "region"]
    assert list(contacts.columns) == ["customer_id", "name", "phone", "email"]
    assert contacts["phone"].tolist() == [CANARY_PHONE, "13800000002"]
    pd.testing.assert_frame_equal(CUSTOMERS, before)
    with pytest.raises(PrivacyError, match="no customer_id"):
        split_pii(CUSTOMERS.drop(columns="customer_id"), ["name"])


def test_redact_quarantine_record_and_value():
    q = pd.DataFrame({
        "source": ["customers", "customers", "transactions"],
        "file": ["c.csv", "c.csv", "t.csv"], "row": [2, 3, 2],
        "rule": ["missing_value", "text_too_long", "missing_value"],
        "column": ["signup_date", "name", "amount"],
        "value": [None, CANARY, "x"], "detail": ["", "", ""],
        "record": [json.dumps({"customer_id": "A", "name": CANARY, "phone": CANARY_PHONE},
                              ensure_ascii=False),
                   json.dumps({"customer_id": "B", "name": CANARY, "email": None}),
                   json.dumps({"customer_id": "A", "name": "not PII here"})],
    }).astype({"value": "str", "record": "str"})
    before = q.copy()
    out = redact_quarantine(q, ["name", "phone", "email"])
    pd.testing.assert_frame_equal(q, before)
    assert CANARY not in out.to_string() and CANARY_PHONE not in out.to_string()
    assert json.loads(out.loc[0, "record"]) == {"customer_id": "A", "name": REDACTED,
                                                "phone": REDACTED}
    assert json.loads(out.loc[1, "record"])["email"] is None
    assert out.loc[1, "value"] == REDACTED and pd.isna(out.loc[0, "value"])
    assert out.loc[2, "record"] == q.loc[2, "record"]  # other sources: unchanged
    assert out["row"].tolist() == [2, 3, 2]


def test_stage1_stores_pii_only_in_contacts(tmp_path):
    text = ("customer_id,signup_date,region,name,phone,email\n"
            f"A,2023-01-01,华东,{CANARY},{CANARY_PHONE},{CANARY_EMAIL}\n"
            "B,2023-02-01,华南,王芳,13800000002,\n"
            f"C,,华北,{CANARY},{CANARY_PHONE},{CANARY_EMAIL}\n")  # no signup date: quarantined
    (tmp_path / "customers.csv").write_text(text, encoding="utf-8")
    raw = read_source("customers", SourceSpec(path="customers.csv"), base_dir=tmp_path)
    validated = validate(raw, as_of=month_end("2024-06"))
    assert len(validated.quarantine) == 1 and CANARY in validated.quarantine.to_string()
    loaded = set_apart_pii(Loaded("2024-06", {"customers": validated}),
                           PrivacyParams().pii_columns)
    assert not {"name", "phone", "email"} & set(loaded.clean("customers").columns)
    assert loaded.contacts["customer_id"].tolist() == ["A", "B"]
    assert CANARY not in loaded.quarantine.to_string()
    store = tmp_path / "store.duckdb"
    with opened(store) as con:
        store_sources(con, loaded)
    assert scan_store(store, [CANARY, CANARY_PHONE, CANARY_EMAIL]) == []
    leaks = scan_store(store, [CANARY, CANARY_PHONE], skip_tables=())
    assert {leak.where for leak in leaks} == {f"table '{CONTACTS_TABLE}' column 'name'",
                                              f"table '{CONTACTS_TABLE}' column 'phone'"}


# --------------------------------------------------------------------------------------
# pseudonymous ids
# --------------------------------------------------------------------------------------


def test_hash_ids_known_answer_deterministic_and_salted():
    ids = pd.Series(["C0000001", "C0000002", None, "C0000001"], name="customer_id")
    out = hash_ids(ids, SALT)
    expected = hmac.new(SALT.encode(), b"C0000001", "sha256").hexdigest()[:16]
    assert out.iloc[0] == expected == out.iloc[3]
    assert out.iloc[0] == "954b7a91c75a4274"  # known answer: HMAC-SHA256 hex, 16 characters
    assert out.iloc[1] != out.iloc[0] and pd.isna(out.iloc[2]) and out.name == "customer_id"
    assert hash_ids(ids, SALT).equals(out)
    assert hash_ids(ids, SALT + "x").iloc[0] != out.iloc[0]
    assert ids.iloc[0] == "C0000001"  # input unchanged
    with pytest.raises(PrivacyError, match="empty"):
        hash_ids(ids, "")


def test_resolve_salt_from_environment_only():
    p = PrivacyParams(hash_ids=True, id_salt_env="MY_SALT")
    assert resolve_salt(p, {"MY_SALT": SALT}) == SALT.encode()
    with pytest.raises(PrivacyError, match="export MY_SALT="):
        resolve_salt(p, {})
    with pytest.raises(PrivacyError, match="at least 16"):
        resolve_salt(p, {"MY_SALT": "short"})


def test_pseudonymize_frame_columns_and_index():
    frame = pd.DataFrame({"customer_id": ["A", "B"], "x": [1, 2]})
    out = pseudonymize_frame(frame, SALT)
    assert out["customer_id"].tolist() == hash_ids(frame["customer_id"], SALT).tolist()
    assert frame["customer_id"].tolist() == ["A", "B"]
    indexed = pseudonymize_frame(frame.set_index("customer_id"), SALT)
    assert indexed.index.tolist() == out["customer_id"].tolist()


def test_pseudonymize_tables(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    pd.DataFrame({"customer_id": ["A", "B"], "score": [0.1, 0.2]}).to_parquet(
        tables / "watchlist.parquet", index=False)
    pd.DataFrame({"customer_id": ["A"], "v": [1]}).set_index("customer_id").to_parquet(
        tables / "indexed.parquet")
    pd.DataFrame({"tier": ["T1"], "customers": [3]}).to_parquet(tables / "summary.parquet")
    original = {p.name: p.read_bytes() for p in tables.iterdir()}
    env = {"WINBACK_ID_SALT": SALT}
    assert pseudonymize_tables(tables, PrivacyParams(), environ=env) == []  # off by default
    assert {p.name: p.read_bytes() for p in tables.iterdir()} == original
    on = PrivacyParams(hash_ids=True)
    with pytest.raises(PrivacyError, match="WINBACK_ID_SALT"):
        pseudonymize_tables(tables, on, environ={})
    done = pseudonymize_tables(tables, on, environ=env)
    assert len(done) == 3
    want = hash_ids(pd.Series(["A", "B"]), SALT).tolist()
    assert pd.read_parquet(tables / "watchlist.parquet")["customer_id"].tolist() == want
    assert pd.read_parquet(tables / "indexed.parquet").index.tolist() == want[:1]
    assert pd.read_parquet(tables / "summary.parquet")["customers"].tolist() == [3]
    again = {p.name: p.read_bytes() for p in tables.iterdir()}
    assert pseudonymize_tables(tables, on, environ=env) == []  # already hashed: left alone
    assert {p.name: p.read_bytes() for p in tables.iterdir()} == again
    for data in again.values():
        assert SALT.encode() not in data
    assert scan_folder(tmp_path, [SALT]) == []


def test_pseudonymize_html_replaces_whole_cells_only():
    html = ('<p>C0001 bought twice</p><table><tr><th>C0001</th><td> C0002 </td>'
            '<td>C00011</td><td class="x">12</td></tr></table>')
    out = pseudonymize_html(html, ["C0001", "C0002", "12"], SALT)
    h = hash_ids(pd.Series(["C0001", "C0002", "12"]), SALT).tolist()
    assert f"<th>{h[0]}</th>" in out and f"<td> {h[1]} </td>" in out
    assert f'<td class="x">{h[2]}</td>' in out
    assert "<p>C0001 bought twice</p>" in out and "<td>C00011</td>" in out
    assert pseudonymize_html(html, [], SALT) == html


# --------------------------------------------------------------------------------------
# the scanner catches a canary in every format
# --------------------------------------------------------------------------------------


def _png_with_text(text: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Description": text})
    plt.close(fig)
    return buf.getvalue()


def _xlsx(cell: str = "ok", title: str = "sheet") -> bytes:
    book = Workbook()
    book.active.title = title
    book.active.append(["customer_id", "note"])
    book.active.append(["A", cell])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _ztxt_png(text: str) -> bytes:
    body = b"Comment\0\0" + zlib.compress(text.encode("latin-1"))
    chunk = (len(body).to_bytes(4, "big") + b"zTXt" + body
             + zlib.crc32(b"zTXt" + body).to_bytes(4, "big"))
    plain = _png_with_text("clean")
    return plain[:33] + chunk + plain[33:]


PLANTED = {
    "tables/frame.parquet": lambda: _parquet({"customer_id": ["A"], "note": [f"x {CANARY} y"]}),
    "tables/colname.parquet": lambda: _parquet({CANARY_EMAIL: [1.0]}),
    "tables/index.parquet": lambda: _parquet({"k": [1]}, index=pd.Index([CANARY_PHONE],
                                                                         name="who")),
    "notebooks/01.ipynb": lambda: json.dumps(
        {"cells": [{"outputs": [{"text": f"row {CANARY}"}]}]}, ensure_ascii=True).encode(),
    "manifest.json": lambda: json.dumps({"params": {"x": CANARY_PHONE}}).encode(),
    "report.html": lambda: ("<td>" + "".join(f"&#{ord(c)};" for c in CANARY) + "</td>").encode(),
    "trends.html": lambda: f"<p>{CANARY_EMAIL}</p>".encode(),
    "figures/chart.png": lambda: _png_with_text(f"made for {CANARY}"),
    "figures/ztxt.png": lambda: _ztxt_png(f"made for {CANARY_EMAIL}"),
    "exports/assignment.xlsx": lambda: _xlsx(cell=CANARY_PHONE),
    "exports/titled.xlsx": lambda: _xlsx(title="CANARY金丝雀0007"),
    "exports/scripts.csv": lambda: f"reason,text\nprice,{CANARY}\n".encode("gb18030"),
    "exports/assignment.parquet": lambda: _parquet({"customer_id": [CANARY]}),
    "tables/summary.json": lambda: json.dumps([{"who": CANARY}], ensure_ascii=True).encode(),
}


def _parquet(data, index=None) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame(data, index=index).to_parquet(buf, index=index is not None)
    return buf.getvalue()


@pytest.mark.parametrize("rel", sorted(PLANTED))
def test_scanner_catches_a_canary_in_each_format(tmp_path, rel):
    clean = tmp_path / "run"
    (clean / "tables").mkdir(parents=True)
    pd.DataFrame({"customer_id": ["A"], "note": ["nothing"]}).to_parquet(
        clean / "tables" / "clean.parquet")
    (clean / "figures").mkdir()
    (clean / "figures" / "clean.png").write_bytes(_png_with_text("clean"))
    needles = [CANARY, CANARY_PHONE, CANARY_EMAIL]
    assert scan_folder(clean, needles) == []
    path = clean / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PLANTED[rel]())
    leaks = scan_folder(clean, needles)
    assert len(leaks) >= 1 and {leak.path for leak in leaks} == {str(path)}
    assert scan_folder(clean, needles, skip=[rel]) == []  # the call lists are skipped this way


def test_png_text_reads_text_chunks_not_pixels():
    assert "CANARY" in png_text(_png_with_text("a CANARY here"))
    assert png_text(b"not a png") == ""


def test_scan_store_reads_every_table_but_contacts(tmp_path):
    store = tmp_path / "store.duckdb"
    with opened(store) as con:
        con.execute("CREATE TABLE quarantine AS SELECT 'x' AS record, 1 AS row")
        con.execute(f"CREATE TABLE {CONTACTS_TABLE} AS SELECT 'A' AS customer_id, "
                    f"'{CANARY}' AS name")
    assert scan_store(store, [CANARY]) == []
    with opened(store) as con:
        con.execute(f"INSERT INTO quarantine VALUES ('{{\"name\": \"{CANARY}\"}}', 2)")
    leaks = scan_store(store, [CANARY])
    assert [(leak.where, leak.value) for leak in leaks] == [
        ("table 'quarantine' column 'record'", CANARY)]
    with pytest.raises(PrivacyError, match="empty"):
        scan_store(store, [])


# --------------------------------------------------------------------------------------
# file modes
# --------------------------------------------------------------------------------------


def test_store_file_is_owner_only(tmp_path):
    path = tmp_path / "eng" / "store.duckdb"
    with opened(path) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)  # a store made by an older version is tightened on next open
    with opened(path) as con:
        con.execute("SELECT 1").fetchall()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


D1 = pd.Timestamp("2024-07-08")


def _schedule(rows) -> Schedule:
    cal = pd.DataFrame(rows, columns=["customer_id", "attempt", "day", "agent", "channel",
                                      "slot"])
    cal.insert(0, "month", "2024-06")
    cal = cal.astype({"day": "datetime64[us]", "attempt": "int64"})
    return Schedule(month="2024-06", execution_month="2024-07", days=pd.DatetimeIndex([D1]),
                    calendar=cal, unscheduled=pd.DataFrame(), capacity=pd.DataFrame(),
                    treated=cal["customer_id"].nunique())


SCHED = _schedule([(cid, 1, D1, "phone-01", "phone", "morning") for cid in "ABCD"])
CAMPAIGN = pd.DataFrame({"month": "2024-06", "customer_id": list("ABCD"),
                         "group": "treatment", "tier": "T1", "reason_code": "price",
                         "strategy": PAYLOADS, "offer_category": "生鲜", "offer_value": 10.0})


@pytest.fixture
def payload_store(tmp_path):
    customers = pd.DataFrame({"customer_id": list("ABCD"), "do_not_contact": False,
                              "name": PAYLOADS, "phone": ["13800000001"] * 4,
                              "email": [None] * 4})
    analysis, contacts = split_pii(customers, PrivacyParams().pii_columns)
    path = tmp_path / "store.duckdb"
    con = duckdb.connect(str(path))
    for name, frame in (("customers", analysis), (CONTACTS_TABLE, contacts)):
        con.register("f", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM f")
        con.unregister("f")
    con.close()
    return path


def test_exports_folder_and_every_file_owner_only(tmp_path, payload_store):
    folder = tmp_path / "run" / "exports"
    folder.mkdir(parents=True)
    (folder / "campaign_assignment.parquet").write_bytes(b"written by stage 4")
    os.chmod(folder / "campaign_assignment.parquet", 0o644)
    export_call_lists(SCHED, CAMPAIGN, store_path=payload_store, folder=folder)
    export_outcome_template(SCHED, folder=folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert set(CALL_LIST_FILES) <= set(names) and "campaign_assignment.parquet" in names
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_call_lists_need_the_contacts_table(tmp_path, payload_store):
    with opened(payload_store) as con:
        con.execute(f"DROP TABLE {CONTACTS_TABLE}")
    with pytest.raises(exports.ExportError, match="no customer_contacts table.*stage 1"):
        export_call_lists(SCHED, CAMPAIGN, store_path=payload_store, folder=tmp_path / "x")


# --------------------------------------------------------------------------------------
# formula injection
# --------------------------------------------------------------------------------------

SAFE = {"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0", "+1+1": "'+1+1", "-2": "-2",
        "@SUM(1)": "'@SUM(1)"}


def _is_inert(value: str) -> bool:
    """A spreadsheet reads the text as text or as a plain number, never as a formula."""
    return value[:1] not in ("=", "+", "-", "@", "\t", "\r") or bool(
        re.fullmatch(r"[+-]?\d+(\.\d+)?", value))


def _csv_cells(path, encoding="utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding=encoding))))


def _xlsx_cells(path) -> list:
    book = load_workbook(path)
    return [c for ws in book.worksheets for row in ws.iter_rows(min_row=2) for c in row]


def test_write_csv_and_workbook_neutralize_name_and_notes(tmp_path):
    frame = pd.DataFrame({"customer_id": list("ABCD"), "name": PAYLOADS, "notes": PAYLOADS})
    csv_path = exports.write_csv(frame, tmp_path / "f.csv")
    rows = _csv_cells(csv_path)
    assert [r[1] for r in rows[1:]] == [SAFE[p] for p in PAYLOADS]
    assert [r[2] for r in rows[1:]] == [SAFE[p] for p in PAYLOADS]
    xlsx = exports.write_workbook({"s": frame}, tmp_path / "f.xlsx")
    cells = _xlsx_cells(xlsx)
    assert all(c.data_type != "f" for c in cells)
    book = load_workbook(xlsx)
    assert [r[1] for r in book["s"].iter_rows(min_row=2, values_only=True)] == [
        SAFE[p] for p in PAYLOADS]
    assert frame["name"].tolist() == PAYLOADS  # input unchanged


def test_call_lists_neutralize_payloads(tmp_path, payload_store):
    folder = tmp_path / "exports"
    export_call_lists(SCHED, CAMPAIGN, store_path=payload_store, folder=folder, language="en")
    rows = _csv_cells(folder / CALL_LIST_FILES[0])
    header = rows[0]
    names = [r[header.index("name")] for r in rows[1:]]
    strategies = [r[header.index("strategy")] for r in rows[1:]]
    assert sorted(names) == sorted(SAFE[p] for p in PAYLOADS)
    assert sorted(strategies) == sorted(SAFE[p] for p in PAYLOADS)
    assert all(_is_inert(v) for r in rows for v in r if v)
    cells = _xlsx_cells(folder / CALL_LIST_FILES[1])
    assert all(c.data_type != "f" for c in cells)
    assert all(_is_inert(str(c.value)) for c in cells if c.value is not None)


def test_outcome_template_neutralizes_payloads(tmp_path, monkeypatch):
    real = exports.outcome_template_frame

    def with_payloads(schedule):
        frame = real(schedule)
        return frame.assign(notes=PAYLOADS, reason_code=PAYLOADS)

    monkeypatch.setattr(exports, "outcome_template_frame", with_payloads)
    export_outcome_template(SCHED, folder=tmp_path)
    rows = _csv_cells(tmp_path / "contact_outcomes_template.csv")
    header = rows[0]
    assert [r[header.index("notes")] for r in rows[1:]] == [SAFE[p] for p in PAYLOADS]
    assert [r[header.index("reason_code")] for r in rows[1:]] == [SAFE[p] for p in PAYLOADS]
    book = load_workbook(tmp_path / "contact_outcomes_template.xlsx")
    data = book.worksheets[0]
    col = [c.value for c in data[1]].index("notes")
    assert [r[col] for r in data.iter_rows(min_row=2, values_only=True)] == [
        SAFE[p] for p in PAYLOADS]
    assert all(c.data_type != "f" for c in _xlsx_cells(tmp_path /
                                                      "contact_outcomes_template.xlsx"))


# --------------------------------------------------------------------------------------
# the demo run: canaries planted in the client's customers.csv, searched for everywhere
# --------------------------------------------------------------------------------------


def _call_lists(runs) -> list:
    return sorted(p for name in CALL_LIST_FILES for p in runs.glob(f"*/exports/{name}"))


@pytest.mark.slow
def test_demo_run_outputs_carry_no_canary_pii(demo_run):
    canaries = [v for triple in demo_run.canaries for v in triple]
    runs = demo_run.ws.engagement_runs
    lists = _call_lists(runs)
    assert lists, "the demo run wrote no call lists"
    # positive controls: the canaries reached the kit (the call lists and the contacts table)
    found = {leak.value for path in lists
             for leak in scan_folder(path.parent, canaries, skip=[
                 p for p in path.parent.iterdir() if p != path])}
    assert any(v.startswith("CANARY") for v in found), "no canary name in any call list"
    assert scan_store(demo_run.ws.store_path, canaries, skip_tables=()), \
        "no canary in the store's contacts table"
    # every other output: none
    leaks = scan_folder(runs, canaries, skip=lists)
    assert leaks == [], "\n".join(f"{x.path} [{x.where}]: {x.value}" for x in leaks[:20])
    leaks = scan_store(demo_run.ws.store_path, canaries)
    assert leaks == [], "\n".join(f"[{x.where}]: {x.value}" for x in leaks[:20])


@pytest.mark.slow
def test_demo_run_outputs_carry_no_real_phone_or_email(demo_run):
    from winback.demo.world import CLIENT_FILES

    client = demo_run.truth_dir.parent / CLIENT_FILES["customers"]  # GB18030, Chinese headers
    customers = pd.read_csv(client, encoding="gb18030", dtype=str)
    values = [*customers["手机"].dropna(), *customers["邮箱"].dropna()]
    assert len(values) > 2 * 1000
    runs = demo_run.ws.engagement_runs
    leaks = scan_folder(runs, values, skip=_call_lists(runs))
    assert leaks == [], "\n".join(f"{x.path} [{x.where}]: {x.value}" for x in leaks[:20])
    assert scan_store(demo_run.ws.store_path, values) == []


@pytest.mark.slow
def test_demo_run_file_modes(demo_run):
    assert stat.S_IMODE(demo_run.ws.store_path.stat().st_mode) == 0o600
    for month in demo_run.months:
        folder = demo_run.month_dir(month) / "exports"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
