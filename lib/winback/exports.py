"""Call-centre exports: call lists per agent and day, and the contact-outcomes template.

These files are the only outputs of the kit that carry names and phone numbers. The
personal data is read from the store's ``customer_contacts`` table (where stage 1 sets the
PII columns apart, see :mod:`winback.privacy`) inside :func:`export_call_lists`, the only
reader of that table, and written straight to the files; it never comes back to the
caller (who gets a table of files, rows and sheets). Every text cell goes through
:func:`winback.contract.neutralize_formula` (a name like ``=HYPERLINK(...)`` must not run
in the call centre's spreadsheet). Files are written with owner-only permissions (0o600)
into an exports folder that only its owner can enter (0o700).

Each row of a call list carries the contact details its channel needs: the phone number
for phone, SMS, WeChat (looked up by phone) and visits, the e-mail address for e-mail,
none for app push; the customer's name always.

The contact-outcomes template has exactly the data contract's ``contact_outcomes``
columns with canonical (English) headers, one row per scheduled contact, pre-filled with
``customer_id``, ``campaign_month``, ``attempt`` and the planned ``channel``: the call
centre fills the rest and delivers it as the ``contact_outcomes`` source next month.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from winback.config import Section
from winback.contract import CONTRACT, RESPONSES, neutralize_formula
from winback.messages import label, labels
from winback.privacy import CONTACTS_TABLE
from winback.store import fetch_df, opened

if TYPE_CHECKING:  # pragma: no cover
    from winback.schedule import Schedule, SlotParams

__all__ = [
    "CALL_LIST_COLUMNS",
    "CALL_LIST_FILES",
    "CHANNEL_ZH",
    "HEADERS_ZH",
    "OUTCOME_COLUMNS",
    "ExportError",
    "ExportParams",
    "call_list_frame",
    "outcome_template_frame",
    "export_call_lists",
    "export_month",
    "export_outcome_template",
    "secure_folder",
    "write_csv",
    "write_workbook",
]

CALL_LIST_COLUMNS = ("day", "slot", "agent", "attempt", "channel", "customer_id", "name",
                     "phone", "email", "tier", "reason_code", "strategy", "offer_category",
                     "offer_value", "program")
OUTCOME_COLUMNS = tuple(CONTRACT["contact_outcomes"].names)
# Chinese headers and channel names of the call lists (from the message catalog).
HEADERS_ZH = {c: label("column", c, "zh") for c in CALL_LIST_COLUMNS}
CHANNEL_ZH = labels("channel", "zh")
# Contact detail each channel needs (None: name only).
CONTACT_FIELD = {"phone": "phone", "sms": "phone", "wechat": "phone", "visit": "phone",
                 "email": "email", "app_push": None}
PII_COLUMNS = ("name", "phone", "email")
#: The files (in a run's ``exports/``) that carry personal data.
CALL_LIST_FILES = ("call_list.csv", "call_lists.xlsx")
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


class ExportError(ValueError):
    """An export cannot be written (customers missing, do-not-contact customer in a list)."""


class ExportParams(Section):
    """``schedule.exports`` params: how the call-centre files are laid out."""

    sheets_by: Literal["agent", "day"] = "agent"
    csv_encoding: Literal["utf-8-sig", "utf-8", "gb18030"] = "utf-8-sig"
    max_column_width: int = Field(40, ge=8, le=120)


# --------------------------------------------------------------------------------------
# Private files
# --------------------------------------------------------------------------------------


def secure_folder(folder: str | Path) -> Path:
    """Create ``folder`` when missing and make it owner-only (0o700), its files too (0o600).

    Files other stages wrote there before (the campaign assignment) become owner-only as well.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            os.chmod(path, 0o600)
    return folder


def _write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0o600 (via a private temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path


def _safe_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text column with formula-like values neutralized (a new frame)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            out[col] = neutralize_formula(s)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8-sig") -> Path:
    """Write ``frame`` as a private CSV (text cells neutralized, CRLF lines for Excel)."""
    text = _safe_text(frame).to_csv(index=False, lineterminator="\r\n", date_format="%Y-%m-%d")
    return _write_private(Path(path), text.encode(encoding))


def _width(value) -> int:
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_title(name: str, taken: set[str]) -> str:
    title = _SHEET_BAD.sub("_", str(name)).strip("'")[:31] or "sheet"
    base, k = title, 2
    while title.lower() in taken:
        suffix = f"~{k}"
        title, k = base[:31 - len(suffix)] + suffix, k + 1
    taken.add(title.lower())
    return title


def _cell(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str):
        return _ILLEGAL.sub("", value)
    return value


def write_workbook(sheets: dict[str, pd.DataFrame], path: str | Path, *,
                   max_column_width: int = 40,
                   validations: dict[str, list[str]] | None = None) -> Path:
    """Write frames as sheets of a private ``.xlsx``: frozen header row, readable widths.

    Parameters
    ----------
    sheets
        Sheet name -> frame (names are made valid: at most 31 characters, no ``[]:*?/\\``).
    path
        The ``.xlsx`` to write (mode 0o600).
    max_column_width
        Widest column, in characters (a CJK character counts two).
    validations
        Column header -> allowed values: a drop-down list on that column's cells.

    Text cells are neutralized against formula injection, written as text (so phone
    numbers and ids keep their leading zeros); dates as dates (``yyyy-mm-dd``).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for name, frame in sheets.items():
        ws = book.create_sheet(_sheet_title(name, taken))
        safe = _safe_text(frame)
        ws.append([str(c) for c in safe.columns])
        for cell in ws[1]:
            cell.font, cell.fill = bold, fill
        text_cols = {i for i, c in enumerate(safe.columns)
                     if pd.api.types.is_string_dtype(safe[c]) or safe[c].dtype == object}
        date_cols = {i for i, c in enumerate(safe.columns)
                     if pd.api.types.is_datetime64_any_dtype(safe[c])}
        for row in safe.itertuples(index=False, name=None):
            ws.append([_cell(v) for v in row])
        n = len(safe) + 1
        for i, col in enumerate(safe.columns):
            letter = get_column_letter(i + 1)
            values = (safe[col].dt.strftime("%Y-%m-%d") if i in date_cols else safe[col])
            widest = max([_width(col), *(_width(v) for v in values.tolist())])
            ws.column_dimensions[letter].width = min(max(widest + 2, 8), max_column_width)
            fmt = "@" if i in text_cols else ("yyyy-mm-dd" if i in date_cols else None)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, max_row=max(n, 2), min_col=i + 1,
                                            max_col=i + 1):
                    cell.number_format = fmt
            if validations and str(col) in validations:
                dv = DataValidation(type="list", allow_blank=True,
                                    formula1='"' + ",".join(validations[str(col)]) + '"')
                dv.add(f"{letter}2:{letter}{max(n, 2) + 1000}")
                ws.add_data_validation(dv)
        ws.freeze_panes = "A2"
    if not book.worksheets:
        book.create_sheet("empty")
    buf = io.BytesIO()
    book.save(buf)
    return _write_private(Path(path), buf.getvalue())


# --------------------------------------------------------------------------------------
# Call lists
# --------------------------------------------------------------------------------------


def _columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()}


def _read_pii(store_path: str | Path, ids: pd.Series) -> pd.DataFrame:
    with opened(store_path, read_only=True) as con:
        cols = _columns(con, "customers")
        if "customer_id" not in cols:
            raise ExportError(f"The store {store_path} has no customers table: run stage 1.")
        contact_cols = _columns(con, CONTACTS_TABLE)
        if "customer_id" not in contact_cols:
            raise ExportError(f"The store {store_path} has no {CONTACTS_TABLE} table (names "
                              "and phones): rerun stage 1 for the month, then stage 5.")
        pii = ", ".join(f'p."{c}"' if c in contact_cols else f"NULL AS {c}" for c in PII_COLUMNS)
        dnc = 'c."do_not_contact"' if "do_not_contact" in cols else "NULL AS do_not_contact"
        con.register("_ids", pd.DataFrame({"customer_id": ids.astype("str").unique()}))
        frame = fetch_df(con,
            f"SELECT i.customer_id, {pii}, {dnc}, c.customer_id IS NOT NULL AS known "
            "FROM _ids i LEFT JOIN customers c ON c.customer_id = i.customer_id "
            f'LEFT JOIN "{CONTACTS_TABLE}" p ON p.customer_id = i.customer_id')
        con.unregister("_ids")
    unknown = ~frame["known"].astype(bool)
    if unknown.any():
        raise ExportError(f"{int(unknown.sum())} scheduled customers are not in the store's "
                          f"customers table ({', '.join(frame.loc[unknown, 'customer_id'][:10])}"
                          "); rerun stage 1 and the later stages for the month.")
    dnc = frame["do_not_contact"].astype("boolean").fillna(False).astype(bool)
    if dnc.any():
        raise ExportError(
            f"{int(dnc.sum())} scheduled customers are marked do-not-contact in the store "
            f"({', '.join(frame.loc[dnc, 'customer_id'][:10])}); no call list is written. "
            "Rerun stages 4 and 5 for the month.")
    return frame.drop(columns=["do_not_contact", "known"])


def call_list_frame(schedule: Schedule, campaign: pd.DataFrame, *,
                    slots: dict[str, SlotParams] | None = None) -> pd.DataFrame:
    """The call list without personal data: one row per scheduled contact.

    Columns: ``CALL_LIST_COLUMNS`` without ``name``, ``phone``, ``email``; ``slot`` carries
    the slot's hours when ``slots`` is given (``"morning 09:00-12:00"``); ``program`` is the
    campaign log's program code (``winback`` / ``preventive``; ``winback`` for a log
    without programs), so an agent knows a win-back call from a preventive care call (the
    exported files show its catalog label). Sorted by day, agent, slot (in params order),
    attempt, customer id.
    """
    cal = schedule.calendar.copy()
    planned = ("tier", "reason_code", "strategy", "offer_category", "offer_value", "program")
    extra = [c for c in planned if c in campaign.columns]
    camp = campaign.loc[:, ["customer_id", *extra]].assign(
        customer_id=campaign["customer_id"].astype("str")).drop_duplicates("customer_id")
    out = cal.merge(camp, on="customer_id", how="left")
    for c in planned:
        if c not in out.columns:
            out[c] = pd.NA
    out["program"] = out["program"].astype(object).where(out["program"].notna(), "winback")
    order = {s: i for i, s in enumerate(slots or {})}
    out["_slot"] = out["slot"].map(order).fillna(len(order)).astype("int64")
    out = out.sort_values(["day", "agent", "_slot", "attempt", "customer_id"],
                          kind="stable").reset_index(drop=True)
    if slots:
        out["slot"] = out["slot"].map(lambda s: f"{s} {slots[s].hours}" if s in slots else s)
    cols = [c for c in CALL_LIST_COLUMNS if c not in PII_COLUMNS]
    return out.loc[:, cols]


def _localize(frame: pd.DataFrame, language: str, slots: dict[str, SlotParams] | None
              ) -> pd.DataFrame:
    frame = frame.assign(program=[label("program", p, language) if isinstance(p, str) else p
                                  for p in frame["program"].tolist()])
    if language != "zh":
        return frame
    out = frame.copy()
    out["channel"] = out["channel"].map(lambda c: CHANNEL_ZH.get(c, c))
    if slots:
        zh = {f"{s} {p.hours}": f"{p.zh} {p.hours}" for s, p in slots.items()}
        out["slot"] = out["slot"].map(lambda s: zh.get(s, s))
    return out.rename(columns=HEADERS_ZH)


def export_call_lists(schedule: Schedule, campaign: pd.DataFrame, *, store_path: str | Path,
                      folder: str | Path, slots: dict[str, SlotParams] | None = None,
                      language: Literal["zh", "en"] = "zh",
                      options: ExportParams | None = None) -> pd.DataFrame:
    """Write the call lists (CSV + Excel) with the customers' names and contact details.

    Parameters
    ----------
    schedule
        The month's contact calendar.
    campaign
        The month's ``campaign_log`` rows (tier, reason, strategy and offer per customer).
    store_path
        The engagement's store: names, phones and e-mails are read from its
        ``customer_contacts`` table here and only here.
    folder
        The run's ``exports/`` folder (made owner-only).
    slots
        ``params.schedule.slots`` (slot hours and zh labels).
    language
        :func:`winback.messages.output_language`: ``zh`` writes Chinese headers, channel and
        slot names; ``en`` the data contract's column names.
    options
        ``params.schedule.exports``.

    Returns
    -------
    pandas.DataFrame
        The files written: ``file``, ``format``, ``sheets``, ``rows`` (no personal data).

    Raises
    ------
    ExportError
        A scheduled customer is missing from the store or marked do-not-contact there.
    """
    options = options or ExportParams()
    folder = secure_folder(folder)
    base = call_list_frame(schedule, campaign, slots=slots)
    pii = _read_pii(store_path, base["customer_id"]) if len(base) else pd.DataFrame(
        columns=["customer_id", *PII_COLUMNS])
    full = base.merge(pii, on="customer_id", how="left")
    for col in ("phone", "email"):
        needs = full["channel"].map(CONTACT_FIELD).eq(col).fillna(False)
        full[col] = full[col].astype("str").where(needs, pd.NA)
    full["name"] = full["name"].astype("str")
    full = full.loc[:, list(CALL_LIST_COLUMNS)]
    shown = _localize(full, language, slots)
    csv = write_csv(shown, folder / CALL_LIST_FILES[0], encoding=options.csv_encoding)
    key = "agent" if options.sheets_by == "agent" else "day"
    groups = full.groupby(full[key].astype("str") if key == "agent"
                          else full[key].dt.strftime("%Y-%m-%d"), sort=True)
    sheets = {name: _localize(part, language, slots) for name, part in groups}
    if not sheets:
        sheets = {"call_list": shown}
    xlsx = write_workbook(sheets, folder / CALL_LIST_FILES[1],
                          max_column_width=options.max_column_width)
    return pd.DataFrame({
        "file": [csv.name, xlsx.name], "format": ["csv", "excel"],
        "sheets": [1, len(sheets)], "rows": [len(full), len(full)],
    }).astype({"file": "str", "format": "str", "sheets": "int64", "rows": "int64"})


# --------------------------------------------------------------------------------------
# Contact-outcomes template
# --------------------------------------------------------------------------------------


def outcome_template_frame(schedule: Schedule) -> pd.DataFrame:
    """The contact-outcomes template rows: one per scheduled contact, in calendar order."""
    cal = schedule.calendar.sort_values(["day", "agent", "attempt", "customer_id"],
                                        kind="stable")
    n = len(cal)
    blank_text = pd.Series(pd.NA, index=range(n), dtype="str")
    out = pd.DataFrame({
        "customer_id": cal["customer_id"].astype("str").to_numpy(),
        "campaign_month": np.full(n, schedule.month, dtype=object),
        "attempt": cal["attempt"].astype("int64").to_numpy(),
        "contact_ts": blank_text.to_numpy(),
        "channel": cal["channel"].astype("str").to_numpy(),
    })
    for col in OUTCOME_COLUMNS[5:]:
        out[col] = blank_text.to_numpy()
    return out.astype({"customer_id": "str", "campaign_month": "str", "channel": "str"}).loc[
        :, list(OUTCOME_COLUMNS)]


_TEMPLATE_HELP = (
    ("customer_id", "客户编号（已填，勿改）", "customer id (filled in; do not change)"),
    ("campaign_month", "活动月份 YYYY-MM（已填）", "campaign month YYYY-MM (filled in)"),
    ("attempt", "第几次联系 1-3（已填）", "attempt 1-3 (filled in)"),
    ("contact_ts", "联系时间 YYYY-MM-DD HH:MM", "when the contact was made, YYYY-MM-DD HH:MM"),
    ("channel", "实际渠道（已填计划渠道，可改）", "channel used (planned one filled in)"),
    ("reached", "是否接通 true/false", "reached: true/false"),
    ("reason_code", "客户所述流失原因代码", "reason code the customer gave"),
    ("response", "回应 accepted/declined/no_response/callback", "response"),
    ("offer_redeemed", "是否使用优惠 true/false", "offer redeemed: true/false"),
    ("satisfaction", "满意度 1-5", "satisfaction 1-5"),
    ("notes", "备注", "notes"),
)


def export_outcome_template(schedule: Schedule, *, folder: str | Path,
                            options: ExportParams | None = None) -> pd.DataFrame:
    """Write the contact-outcomes template (CSV + Excel) the call centre fills in.

    The first (data) sheet and the CSV have exactly the ``contact_outcomes`` columns of
    the data contract, canonical headers, so the filled file is read back as the
    ``contact_outcomes`` source without any column mapping. The Excel workbook adds
    drop-down lists and a second sheet explaining each column (zh and en).

    Returns
    -------
    pandas.DataFrame
        The files written: ``file``, ``format``, ``sheets``, ``rows``.
    """
    from winback.contract import CONTACT_CHANNELS

    options = options or ExportParams()
    folder = secure_folder(folder)
    frame = outcome_template_frame(schedule)
    csv = write_csv(frame, folder / "contact_outcomes_template.csv",
                    encoding=options.csv_encoding)
    help_sheet = pd.DataFrame(_TEMPLATE_HELP, columns=["column", "说明", "meaning"]).astype("str")
    yes_no = ["true", "false"]
    xlsx = write_workbook(
        {"contact_outcomes": frame, "说明 instructions": help_sheet},
        folder / "contact_outcomes_template.xlsx", max_column_width=options.max_column_width,
        validations={"channel": sorted(CONTACT_CHANNELS), "reached": yes_no,
                     "offer_redeemed": yes_no, "response": sorted(RESPONSES),
                     "satisfaction": ["1", "2", "3", "4", "5"]})
    return pd.DataFrame({
        "file": [csv.name, xlsx.name], "format": ["csv", "excel"], "sheets": [1, 2],
        "rows": [len(frame), len(frame)],
    }).astype({"file": "str", "format": "str", "sheets": "int64", "rows": "int64"})


def export_month(schedule: Schedule, campaign: pd.DataFrame, *, store_path: str | Path,
                 folder: str | Path, slots: dict[str, SlotParams] | None = None,
                 language: Literal["zh", "en"] = "zh",
                 options: ExportParams | None = None) -> pd.DataFrame:
    """Write the month's call lists and contact-outcomes template; the table of files written.

    See :func:`export_call_lists` and :func:`export_outcome_template`.
    """
    lists = export_call_lists(schedule, campaign, store_path=store_path, folder=folder,
                              slots=slots, language=language, options=options)
    template = export_outcome_template(schedule, folder=folder, options=options)
    return pd.concat([lists, template], ignore_index=True)
