"""Read the client's sources (CSV, Excel, Parquet, SQL) into frames with canonical column names.

A reader only reads: it decodes the file (UTF-8, UTF-8 with BOM, GB18030/GBK), finds the
delimiter, maps the client's column names (Chinese names allowed) and values onto the
canonical ones from params, and records the file row number of every row. Values stay as
read (strings for CSV and Excel); typing and row-level checks are the contract's job
(:func:`winback.contract.validate`), so every problem can be reported by file and row.

Row numbers (``RawSource.row_numbers``) are what a consultant sees when opening the file:
for CSV the 1-based line number (header = line 1, so the first data row is 2; a quoted
value spanning lines counts every line), for Excel the sheet row, for Parquet and SQL the
1-based record index.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import difflib
import glob
import hashlib
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from winback.config import Section
from winback.contract import CONTRACT, ContractError

__all__ = [
    "SOURCE_NAMES",
    "RawSource",
    "SourceError",
    "FilePart",
    "SourceSpec",
    "SourcesParams",
    "assemble_source",
    "file_part_note",
    "file_sha256",
    "read_file_part",
    "read_source",
    "read_sources",
    "resolve_dir",
    "source_files",
]

SOURCE_NAMES = ("customers", "transactions", "interactions", "surveys", "contact_outcomes")
DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONNECT_TIMEOUT_S = 10
# backend -> driver -> the DBAPI connect() argument that bounds the connection wait (seconds)
_TIMEOUT_ARGS: dict[str, dict[str, str]] = {
    "postgresql": {"psycopg": "connect_timeout", "psycopg2": "connect_timeout",
                   "pg8000": "timeout"},
    "mysql": {"pymysql": "connect_timeout", "mysqldb": "connect_timeout",
              "mysqlconnector": "connection_timeout"},
    "mariadb": {"pymysql": "connect_timeout", "mysqldb": "connect_timeout",
                "mariadbconnector": "connect_timeout"},
    "mssql": {"pyodbc": "timeout", "pymssql": "login_timeout"},
    "oracle": {"oracledb": "tcp_connect_timeout"},
}

# Common client column names, used only to suggest a mapping in error messages.
_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("客户编号", "客户id", "客户号", "客户代码", "会员编号", "会员号", "会员id",
                    "会员卡号", "用户id", "用户编号", "cust_id", "customer", "customerid",
                    "member_id", "user_id", "client_id"),
    "signup_date": ("注册日期", "注册时间", "开户日期", "入会日期", "开卡日期", "join_date",
                    "register_date", "registration_date", "created_at"),
    "order_id": ("订单号", "订单编号", "订单id", "单号", "流水号", "交易号", "order_no",
                 "orderid", "transaction_id"),
    "order_ts": ("下单时间", "订单时间", "交易时间", "购买时间", "消费时间", "交易日期",
                 "订单日期", "order_date", "order_time", "purchase_date", "transaction_date"),
    "amount": ("金额", "订单金额", "实付金额", "交易金额", "消费金额", "支付金额", "销售额",
               "price", "total", "revenue", "sales", "order_amount"),
    "ts": ("时间", "日期", "发生时间", "创建时间", "提交时间", "date", "time", "timestamp",
           "created_at"),
    "kind": ("类型", "互动类型", "事件类型", "type", "event_type", "interaction_type"),
    "campaign_month": ("活动月份", "挽回月份", "月份", "month"),
    "attempt": ("触达次数", "第几次", "次数", "attempt_no", "contact_no"),
    "contact_ts": ("联系时间", "外呼时间", "触达时间", "call_time", "contact_time"),
    "channel": ("渠道", "触达渠道", "联系方式"),
    "reached": ("是否接通", "接通", "是否触达", "connected"),
}


class SourceError(ContractError):
    """A source cannot be read (missing or empty file, encoding, delimiter, database)."""


# --------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------


class SourceSpec(Section):
    """Where one source is and how to read it (``sources.<name>`` in params)."""

    path: str | None = None
    format: Literal["auto", "csv", "excel", "parquet", "sql"] = "auto"
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gb18030", "gbk"] = "auto"
    delimiter: Literal["auto", ",", ";", "\t", "|"] = "auto"
    sheet: str | int | None = None
    url_env: str | None = None
    query: str | None = None
    connect_timeout_s: int = Field(_CONNECT_TIMEOUT_S, ge=1, le=600)
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    required: bool = True

    @field_validator("columns", mode="before")
    @classmethod
    def _column_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_yaml_key(k, "columns"): v for k, v in value.items()}
        return value

    @field_validator("values", mode="before")
    @classmethod
    def _value_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for col, table in value.items():
            if not isinstance(table, dict):
                raise ValueError(f"values.{col} must map client values to canonical values "
                                 f"(e.g. {{是: true, 否: false}}), got {table!r}")
            out[str(col)] = {_yaml_key(k, f"values.{col}"): v for k, v in table.items()}
        return out

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "://" in value or "@" in value:
            raise ValueError("url_env takes the NAME of an environment variable holding the "
                             "database URL, never the URL itself (it would end up in run "
                             "manifests and notebooks); e.g. url_env: WINBACK_DB_URL")
        if not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name "
                             "(letters, digits and _; e.g. WINBACK_DB_URL)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SourceSpec:
        if self.format == "sql":
            missing = [k for k in ("url_env", "query") if not getattr(self, k)]
            if missing:
                raise ValueError(f"format sql needs {' and '.join(missing)} "
                                 "(url_env: NAME of the variable holding the URL; query: a SELECT)")
        elif not self.path:
            raise ValueError("path is needed (a file name or glob under sources.dir), "
                             "or format: sql with url_env and query")
        return self


def _yaml_key(key: Any, where: str) -> str:
    if isinstance(key, bool):
        raise ValueError(f"{where}: the key {key!r} is a YAML boolean (unquoted yes/no/true/"
                         "false/on/off); quote the client's value, e.g. 'yes': true")
    if key is None:
        raise ValueError(f"{where}: an empty key (YAML null); quote it, e.g. 'null': ...")
    return str(key)


def _default_spec(name: str) -> SourceSpec:
    return SourceSpec(path=f"{name}.csv", required=name in ("customers", "transactions"))


class SourcesParams(Section):
    """``sources`` params: the folder of the client's files and one :class:`SourceSpec` each.

    ``cache``: keep each file's row-local checks in the engagement's data folder and reuse
    them while the file does not change (see :mod:`winback.validation_cache`); the results
    are the same without it.
    """

    dir: str = "data/{engagement}/client"
    cache: bool = True
    customers: SourceSpec = Field(default_factory=lambda: _default_spec("customers"))
    transactions: SourceSpec = Field(default_factory=lambda: _default_spec("transactions"))
    interactions: SourceSpec = Field(default_factory=lambda: _default_spec("interactions"))
    surveys: SourceSpec = Field(default_factory=lambda: _default_spec("surveys"))
    contact_outcomes: SourceSpec = Field(
        default_factory=lambda: _default_spec("contact_outcomes"))

    @field_validator(*SOURCE_NAMES)
    @classmethod
    def _canonical_targets(cls, spec: SourceSpec, info) -> SourceSpec:
        contract = CONTRACT[info.field_name]
        problems = []
        for client, canonical in spec.columns.items():
            if canonical not in contract.names:
                problems.append(f"columns: {client!r} is mapped to {canonical!r}, which is not "
                                f"a {info.field_name} column{_did_you_mean(canonical, contract.names)}")
        dup = [c for c, n in Counter(spec.columns.values()).items() if n > 1]
        if dup:
            problems.append(f"columns: several client columns are mapped to {', '.join(dup)}")
        for canonical in spec.values:
            if canonical not in contract.names:
                problems.append(f"values: {canonical!r} is not a {info.field_name} column"
                                f"{_did_you_mean(canonical, contract.names)}")
        if problems:
            raise ValueError("; ".join(problems) + f" (canonical columns: "
                             f"{', '.join(contract.names)})")
        return spec

    def spec(self, name: str) -> SourceSpec:
        return getattr(self, name)


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_dir(params_sources: SourcesParams, engagement: str, root: Path | str) -> Path:
    """The folder the sources' paths are relative to: ``dir`` with ``{engagement}`` filled in,
    relative to ``root`` (the kit's root or home) unless absolute."""
    p = Path(params_sources.dir.replace("{engagement}", engagement))
    return p if p.is_absolute() else Path(root) / p


def file_sha256(path: Path | str, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as hex (the input hashes of a run manifest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawSource:
    """One source as read, with canonical column names and values as read.

    Attributes
    ----------
    name
        Source name (``customers``, ``transactions``, ...).
    frame
        Canonical columns only (client columns not mapped are left out, see
        ``unmapped_columns``), ``RangeIndex``; CSV and Excel values are strings (empty
        cells are missing), Parquet and SQL values keep their stored types.
    origin
        The file (or ``"a.csv, b.csv"`` for several), ``"sql:<ENV_VAR>"``, or
        ``"(missing) <path>"`` for an absent optional source.
    row_numbers
        ``int64`` array, one per row: the row's line in its file (see the module docstring).
    row_files
        The file each row came from (object array of str), same length as ``frame``.
    files
        Every file read, for input hashes.
    encoding, delimiter
        What was used to read CSV files (``None`` for other formats).
    unmapped_columns
        Client columns present in the file but not mapped onto a canonical column.
    column_map
        canonical column -> the client's column it came from.
    blank_rows
        Completely empty rows skipped.
    notes
        What the reader did that a consultant should know (values mapped, files empty).
    label
        ``origin`` as the data-quality report shows it: relative to the sources folder,
        a glob's files compacted to ``"transactions/transactions_*.parquet (6 files)"``.
    warnings
        What the reader found risky beyond single rows (e.g. a stored SQL query that only
        delivers the run month); shown in the data-quality report.
    """

    name: str
    frame: pd.DataFrame
    origin: str
    row_numbers: np.ndarray
    row_files: np.ndarray
    files: tuple[Path, ...] = ()
    encoding: str | None = None
    delimiter: str | None = None
    unmapped_columns: tuple[str, ...] = ()
    column_map: dict[str, str] = field(default_factory=dict)
    blank_rows: int = 0
    notes: tuple[str, ...] = ()
    label: str = ""
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_frame(cls, name: str, frame: pd.DataFrame, origin: str = "(frame)",
                   first_row: int = 2) -> RawSource:
        """Wrap a frame that already has canonical columns (rows numbered from ``first_row``)."""
        frame = frame.reset_index(drop=True)
        n = len(frame)
        return cls(name, frame, origin, np.arange(first_row, first_row + n, dtype="int64"),
                   np.full(n, origin, dtype=object))

    def __repr__(self) -> str:
        extra = f", encoding={self.encoding!r}" if self.encoding else ""
        return (f"RawSource({self.name!r}, rows={len(self.frame)}, origin={self.origin!r}"
                f"{extra}, columns={list(self.frame.columns)})")


@dataclass
class _Part:
    """One file as read, before column mapping."""

    path: Path
    frame: pd.DataFrame
    row_numbers: np.ndarray
    encoding: str | None = None
    delimiter: str | None = None
    blank_rows: int = 0
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------
# read_source
# --------------------------------------------------------------------------------------


def read_source(name: str, spec: SourceSpec, *, base_dir: Path | str,
                month: str | None = None) -> RawSource:
    """Read one source into a :class:`RawSource` with canonical column names.

    Parameters
    ----------
    name
        Source name; one of ``customers``, ``transactions``, ``interactions``, ``surveys``,
        ``contact_outcomes``.
    spec
        Its params (``params.sources.<name>``).
    base_dir
        Folder ``spec.path`` is relative to (see :func:`resolve_dir`).
    month
        The run month ``YYYY-MM``: fills ``{month}`` in ``spec.path`` and the
        ``:month_start`` / ``:month_end`` bind parameters of a SQL query (the first day
        00:00 and the last day 23:59:59.999999 of the month).

    Returns
    -------
    RawSource

    Raises
    ------
    SourceError
        The file is missing (and the source is required), empty, not decodable in the
        encoding given, malformed, or the database cannot be reached.
    ContractError
        A required canonical column is missing after mapping (the message names the file,
        the columns found and the closest match).
    """
    if name not in CONTRACT:
        raise SourceError(f"Unknown source {name!r}; sources: {', '.join(CONTRACT)}.")
    if spec.format == "sql":
        return _read_sql(name, spec, month)

    base = Path(base_dir)
    files, pattern = source_files(name, spec, base_dir=base, month=month)
    if not files:
        return _no_files(name, spec, base, pattern)

    read: list[_Part] = []
    notes: list[str] = []
    for path in files:
        part = _read_file(name, spec, path)
        if part is None:  # empty file, allowed because the source is not required
            notes.append(_empty_file_note(name, path))
            continue
        read.append(part)
    parts = [_mapped(name, spec, part) for part in read]
    del read
    frame = (pd.concat([p.frame for p in parts], ignore_index=True) if len(parts) > 1
             else parts[0].frame if parts else None)
    for part in parts:
        part.frame = None  # the per-file frames are in the concatenated one now
    pa.default_memory_pool().release_unused()  # Arrow keeps freed buffers unless told
    return assemble_source(name, base, pattern, files, parts, notes, frame)


@dataclass
class FilePart:
    """One file of a source as read, its columns mapped onto the canonical ones.

    ``notes`` are the reader's notes on the file (title rows skipped, values mapped);
    ``unmapped`` its client columns left out; ``column_map`` canonical -> client column.
    """

    path: Path
    frame: pd.DataFrame | None
    row_numbers: np.ndarray
    encoding: str | None = None
    delimiter: str | None = None
    blank_rows: int = 0
    notes: tuple[str, ...] = ()
    unmapped: tuple[str, ...] = ()
    column_map: dict[str, str] = field(default_factory=dict)


def source_files(name: str, spec: SourceSpec, *, base_dir: Path | str,
                 month: str | None = None) -> tuple[list[Path], str]:
    """The files a file source reads (sorted) and its path pattern, ``{month}`` filled in.

    Raises :class:`SourceError` when the pattern uses ``{month}`` and no month is given.
    """
    pattern = spec.path or ""
    if "{month}" in pattern:
        if month is None:
            raise SourceError(f"sources.{name}.path {pattern!r} uses {{month}} but no month "
                              "was given.")
        pattern = pattern.replace("{month}", month)
    return _find_files(Path(base_dir), pattern), pattern


def _no_files(name: str, spec: SourceSpec, base: Path, pattern: str) -> RawSource:
    where = base / pattern
    if not spec.required:
        return _empty(name, f"(missing) {where}",
                      (f"no file matches {where}; read as an empty source "
                       f"(sources.{name}.required is false).",))
    raise SourceError(_missing_file_text(name, base, pattern))


def _empty_file_note(name: str, path: Path) -> str:
    return (f"{path} has no data rows; it adds none (sources.{name}.required is "
            "false).")


def _mapped(name: str, spec: SourceSpec, part: _Part) -> FilePart:
    canon, unm, cmap, vnotes = _map(name, spec, part.frame, part.path)
    return FilePart(part.path, canon, part.row_numbers, part.encoding, part.delimiter,
                    part.blank_rows, (*part.notes, *vnotes), tuple(unm), cmap)


def read_file_part(name: str, spec: SourceSpec, path: Path) -> FilePart | None:
    """One file of source ``name`` read and mapped (None for an empty file of a source that
    is not required; see :func:`file_part_note`). Errors as :func:`read_source`."""
    part = _read_file(name, spec, Path(path))
    return None if part is None else _mapped(name, spec, part)


def file_part_note(name: str, path: Path) -> str:
    """The reader's note on an empty file of a source that is not required."""
    return _empty_file_note(name, Path(path))


def assemble_source(name: str, base_dir: Path | str, pattern: str, files: list[Path],
                    parts: list[FilePart], notes: list[str],
                    frame: pd.DataFrame | None) -> RawSource:
    """The :class:`RawSource` of files read part by part: ``parts`` in file order, ``notes``
    the notes on empty files, ``frame`` the parts' rows (or a frame without rows carrying
    their columns, when the rows are elsewhere)."""
    base = Path(base_dir)
    origin, label = _origin_of(base, pattern, files)
    if not parts:
        return replace(_empty(name, origin, tuple(notes), tuple(files)), label=label)
    row_files, unmapped, column_map = [], [], {}
    notes = list(notes)
    for part in parts:
        notes.extend(part.notes)
        # np.repeat: the same str object in every row, several times faster than np.full
        row_files.append(np.repeat(np.array([str(part.path)], dtype=object),
                                   len(part.row_numbers)))
        unmapped.extend(u for u in part.unmapped if u not in unmapped)
        column_map.update(part.column_map)
    encodings = list(dict.fromkeys(p.encoding for p in parts if p.encoding))
    delims = list(dict.fromkeys(p.delimiter for p in parts if p.delimiter))
    return RawSource(
        name=name,
        frame=frame.reset_index(drop=True),
        origin=origin,
        row_numbers=np.concatenate([p.row_numbers for p in parts]).astype("int64"),
        row_files=np.concatenate(row_files),
        files=tuple(files),
        encoding=", ".join(encodings) or None,
        delimiter=", ".join(delims) or None,
        unmapped_columns=tuple(unmapped),
        column_map=column_map,
        blank_rows=sum(p.blank_rows for p in parts),
        notes=tuple(notes),
        label=label,
    )


def read_sources(params_sources: SourcesParams, *, base_dir: Path | str,
                 month: str | None = None) -> dict[str, RawSource]:
    """Read every source in :data:`SOURCE_NAMES` order (see :func:`read_source`)."""
    return {name: read_source(name, params_sources.spec(name), base_dir=base_dir, month=month)
            for name in SOURCE_NAMES}


def _empty(name: str, origin: str, notes: tuple[str, ...],
           files: tuple[Path, ...] = ()) -> RawSource:
    cols = CONTRACT[name].required
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in cols})
    return RawSource(name, frame, origin, np.zeros(0, "int64"), np.zeros(0, object),
                     files=files, notes=notes)


def _origin_of(base: Path, pattern: str, files: list[Path]) -> tuple[str, str]:
    """(origin, label) of the files a path or glob matched: one file by its path; several
    by the glob and their count, so the text does not grow with every monthly file."""
    rel = Path(pattern)
    if rel.is_absolute():
        with contextlib.suppress(ValueError):
            rel = rel.relative_to(base)
    if len(files) == 1:
        one = files[0]
        try:
            return str(one), str(one.relative_to(base))
        except ValueError:
            return str(one), str(one)
    count = f" ({len(files)} files)"
    return str(base / pattern) + count, str(rel) + count


def _find_files(base: Path, pattern: str) -> list[Path]:
    full = Path(pattern) if Path(pattern).is_absolute() else base / pattern
    if any(ch in pattern for ch in "*?["):
        return sorted((Path(p) for p in glob.glob(str(full)) if Path(p).is_file()), key=str)
    return [full] if full.is_file() else []


def _missing_file_text(name: str, base: Path, pattern: str) -> str:
    where = base / pattern
    if not base.is_dir():
        return (f"{name}: the folder {base} does not exist (looking for {pattern}). "
                "Check params sources.dir (it is relative to the kit's home) or copy the "
                "client's files there.")
    # the folder the file name is looked up in: the pattern's own folder part, if any
    folder = where.parent
    while any(ch in str(folder) for ch in "*?[") and folder != folder.parent:
        folder = folder.parent
    lost = ""
    if not folder.is_dir():
        lost = f" The folder {folder} does not exist."
        folder = base
    present = sorted(p.name for p in folder.iterdir() if p.is_file())
    close = difflib.get_close_matches(Path(pattern).name, present, n=1, cutoff=0.5)
    inner = folder.relative_to(base) if folder.is_relative_to(base) else None
    shown = f"{inner.as_posix()}/{close[0]}" if close and inner and str(inner) != "." else (
        close[0] if close else "")
    hint = f" Did you mean {shown!r}? Set params sources.{name}.path." if close else ""
    listing = ", ".join(present[:20]) + (" ..." if len(present) > 20 else "") or "none"
    return (f"{name}: no file matches {where}.{lost}{hint} Files in {folder}: {listing}. If "
            f"the client has no {name} data, set params sources.{name}.required: false.")


# --------------------------------------------------------------------------------------
# File formats
# --------------------------------------------------------------------------------------


def _format_of(path: Path, spec: SourceSpec, name: str) -> str:
    if spec.format != "auto":
        return spec.format
    ext = path.suffix.lower()
    if ext in (".csv", ".txt", ".tsv"):
        return "csv"
    if ext in (".xlsx", ".xlsm"):
        return "excel"
    if ext == ".xls":
        raise SourceError(f"{path}: the old Excel format .xls cannot be read; open it in "
                          "Excel or WPS and save it as .xlsx (or CSV UTF-8).")
    if ext in (".parquet", ".pq"):
        return "parquet"
    raise SourceError(f"{path}: cannot tell the format from the extension {ext or '(none)'}; "
                      f"set params sources.{name}.format (csv | excel | parquet).")


def _read_file(name: str, spec: SourceSpec, path: Path) -> _Part | None:
    fmt = _format_of(path, spec, name)
    if path.stat().st_size == 0:
        if not spec.required:
            return None
        raise SourceError(f"{name}: {path} is empty (0 bytes). Ask the client to export it "
                          f"again, or set params sources.{name}.required: false if there is "
                          "no data this month.")
    reader = {"csv": _read_csv, "excel": _read_excel, "parquet": _read_parquet}[fmt]
    part = reader(name, spec, path)
    if len(part.frame) == 0:
        if not spec.required:
            return None
        raise SourceError(f"{name}: {path} has a header but no data rows"
                          f"{f' ({part.blank_rows} empty rows)' if part.blank_rows else ''}. "
                          "Ask the client to export it again, or set params "
                          f"sources.{name}.required: false if there is no data this month.")
    return part


def _decode(data: bytes, encoding: str, path: Path, name: str) -> tuple[str, str]:
    """Decode strictly; never return mojibake. Returns (text, encoding used)."""
    bom = data.startswith(codecs.BOM_UTF8)
    key = f"sources.{name}.encoding"
    if encoding == "auto":
        if bom:
            try:
                return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
            except UnicodeDecodeError as exc:
                body = data[len(codecs.BOM_UTF8):]
                fix = (f" The text after the mark reads cleanly as GB18030/GBK: the file "
                       f"mixes a UTF-8 mark with Chinese-Windows text. Re-save it as 'CSV "
                       f"UTF-8', or set {key}: gb18030 to read the text after the mark as "
                       "GB18030.") if _decodes_as(body, "gb18030") is not None else (
                       " Re-save the file as UTF-8.")
                raise SourceError(_bad_bytes(path, data, exc, "UTF-8 (it starts with a UTF-8 "
                                  "byte-order mark)", len(codecs.BOM_UTF8)) + fix) from None
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc8:
            try:
                return data.decode("gb18030"), "gb18030"
            except UnicodeDecodeError:
                raise SourceError(
                    _bad_bytes(path, data, exc8, "UTF-8") + " It is not GB18030/GBK either. "
                    "Open it in Excel or WPS and save as 'CSV UTF-8', or set " + key +
                    " to the file's encoding.") from None
    if encoding in ("utf-8", "utf-8-sig"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            alt = _decodes_as(data, "gb18030")
            fix = (f" The file reads cleanly as GB18030 (the Chinese Windows encoding, a "
                   f"superset of GBK): set {key}: gb18030 (or auto).") if alt else (
                   " Re-save the file as UTF-8.")
            raise SourceError(_bad_bytes(path, data, exc, encoding) + fix) from None
        return text, ("utf-8-sig" if bom else "utf-8")
    # gbk / gb18030
    if bom:
        body = data[len(codecs.BOM_UTF8):]
        if _decodes_as(body, "utf-8") is not None:
            raise SourceError(f"{path} starts with a UTF-8 byte-order mark and its text is "
                              f"UTF-8, not {encoding}; reading it as {encoding} would garble "
                              f"its text. Set {key}: utf-8-sig (or auto).")
        try:  # a mark added in front of a Chinese-Windows export: read the text after it
            return body.decode(encoding), f"{encoding} after a UTF-8 byte-order mark"
        except UnicodeDecodeError as exc:
            raise SourceError(_bad_bytes(path, data, exc, encoding, len(codecs.BOM_UTF8)) +
                              " Re-save the file as 'CSV UTF-8'.") from None
    if re.search(rb"[\x80-\xff]", data):
        as_utf8 = _decodes_as(data, "utf-8")
        if as_utf8 is not None:
            sample = _first_non_ascii(as_utf8)
            garbled = sample.encode("utf-8").decode(encoding, errors="replace")
            raise SourceError(
                f"{path} is UTF-8 (every byte is valid UTF-8), not {encoding}: reading it as "
                f"{encoding} would garble its Chinese text ({sample!r} would read as "
                f"{garbled!r}). Set {key}: utf-8 (or auto).")
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        if encoding == "gbk" and _decodes_as(data, "gb18030") is not None:
            fix = (f" It reads cleanly as GB18030 (a superset of GBK with characters GBK "
                   f"lacks): set {key}: gb18030 (or auto).")
        else:
            fix = f" Set {key}: auto, or re-save the file as UTF-8."
        raise SourceError(_bad_bytes(path, data, exc, encoding) + fix) from None


def _decodes_as(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _first_non_ascii(text: str, width: int = 12) -> str:
    m = re.search(r"[^\x00-\x7f]+", text)
    return m.group(0)[:width] if m else ""


def _bad_bytes(path: Path, data: bytes, exc: UnicodeDecodeError, what: str,
               shift: int = 0) -> str:
    offset = exc.start + shift
    line = data.count(b"\n", 0, offset) + 1
    snippet = data[offset: offset + 4]
    return (f"{path} is not valid {what}: byte offset {offset} (line {line}) has the bytes "
            f"{snippet.hex(' ')} that {what} cannot decode.")


def _sniff(header: str, delimiter: str) -> str:
    """The header line's delimiter among , ; tab |: the most frequent outside quoted names;
    a tie goes to csv.Sniffer restricted to the tied candidates, then to that order."""
    if delimiter != "auto":
        return delimiter
    bare = re.sub(r'"[^"]*"', '""', header)
    counts = {d: bare.count(d) for d in DELIMITERS}
    top = max(counts.values())
    if top == 0:
        return ","
    tied = [d for d in DELIMITERS if counts[d] == top]
    if len(tied) == 1:
        return tied[0]
    try:
        found = csv.Sniffer().sniff(header, delimiters="".join(tied)).delimiter
    except csv.Error:
        found = tied[0]
    return found if found in tied else tied[0]


def _read_csv(name: str, spec: SourceSpec, path: Path) -> _Part:
    data = path.read_bytes()
    text, used = _decode(data, spec.encoding, path, name)
    lines = text.split("\n", 64)
    skip = 0
    while skip < len(lines) - 1 and not lines[skip].strip():
        skip += 1
    header_line = lines[skip].rstrip("\r") if skip < len(lines) else ""
    if not header_line.strip():
        raise SourceError(f"{name}: {path} has no header line (only empty lines). Ask the "
                          "client to export it again with column names in the first line.")
    delim = _sniff(header_line, spec.delimiter)
    header = next(csv.reader([header_line], delimiter=delim))
    if len(header) == 1 and spec.delimiter != "auto":
        other = _sniff(header_line, "auto")
        if other != delim and other in header_line:
            raise SourceError(
                f"{name}: {path} has no {_DELIM_NAMES[delim]} in its header line, which looks "
                f"{_DELIM_NAMES[other]}-separated: set params sources.{name}.delimiter to "
                f"{other!r} (or auto).")
    header = [h.strip().lstrip("\ufeff").strip() for h in header]
    # the UTF-8 bytes of the text (those of the file itself when it is UTF-8)
    if used == "utf-8":
        body: bytes | memoryview = data
    elif used == "utf-8-sig":
        body = memoryview(data)[len(codecs.BOM_UTF8):]
    else:
        body = text.encode("utf-8")
    frame = _arrow_csv(body, delim, skip, len(header))
    if frame is not None:
        del text, body
        physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        del data
        return _csv_part(name, spec, path, frame, header, physical, used, delim, skip)
    del body, data
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                            na_values=[""], skip_blank_lines=False, skiprows=skip,
                            engine="c")
    except pd.errors.ParserError as exc:
        detail = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        m = re.search(r"line (\d+)", detail)
        if m:  # pandas counts lines after the skipped ones
            detail = detail.replace(m.group(0), f"line {int(m.group(1)) + skip}")
        lines, cause = _ragged_text(text, delim, skip, len(header))
        cause = cause or "A value containing the delimiter must be quoted"
        raise SourceError(
            f"{name}: {path} cannot be split into columns with the {_DELIM_NAMES[delim]} "
            f"delimiter ({detail}){lines}. {cause}; if the delimiter is wrong, set params "
            f"sources.{name}.delimiter.") from None
    if not isinstance(frame.index, pd.RangeIndex):
        lines, cause = _ragged_text(text, delim, skip, len(header))
        raise SourceError(
            f"{name}: {path} has data lines with one more field than the header line"
            f"{lines}; the columns would shift. "
            f"{cause or f'Often a trailing {_DELIM_NAMES[delim]} ends each data line'}. Fix "
            "the export so header and data lines have the same number of fields.")
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    return _csv_part(name, spec, path, frame, header, physical, used, delim, skip)


_CSV_BLOCK_BYTES = 1 << 24


_MAX_QUOTES = 2_000_000


def _plain_quoting(body: bytes | memoryview, delim: str) -> bool:
    """Whether every quote of the file opens a value (at its start), closes it (before a
    delimiter or line end), or doubles a quote inside it, and no value is left open. Other
    files (a quote inside an unquoted value, text after a closing quote, a value open at the
    end) keep the slower reader's handling, as do files with very many quotes."""
    raw = np.frombuffer(body, dtype=np.uint8)
    at = np.flatnonzero(raw == ord('"'))
    if not len(at):
        return True
    if len(at) % 2 or len(at) > _MAX_QUOTES:
        return False
    starts = {ord(delim), ord("\n"), ord("\r")}
    ends = starts
    size = len(raw)
    prev = np.where(at > 0, raw[np.maximum(at - 1, 0)], ord("\n")).tolist()
    nxt = np.where(at < size - 1, raw[np.minimum(at + 1, size - 1)], ord("\n")).tolist()
    pos = at.tolist()
    inside = False
    i = 0
    while i < len(pos):
        if not inside:
            if prev[i] not in starts:
                return False
            inside = True
        elif i + 1 < len(pos) and pos[i + 1] == pos[i] + 1:
            i += 1  # a doubled quote inside the value
        elif nxt[i] in ends:
            inside = False
        else:
            return False
        i += 1
    return not inside


def _arrow_csv(body: bytes | memoryview, delim: str, skip: int,
               width: int) -> pd.DataFrame | None:
    """The data lines read by Arrow's CSV reader as ``str`` columns (empty -> missing), or
    None when the file needs the slower reader's handling (a single column, blank lines,
    lines with another number of fields: those are read, or refused, as before)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if width < 2 or not _plain_quoting(body, delim):
        return None
    names = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip + 1,
                                           block_size=_CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delim, quote_char='"',
                                             double_quote=True, escape_char=False,
                                             newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.large_string() for c in names}, null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    text_type = pd.StringDtype("pyarrow", na_value=np.nan)
    return table.to_pandas(types_mapper=lambda t: text_type if t == pa.large_string() else None)


def _csv_part(name: str, spec: SourceSpec, path: Path, frame: pd.DataFrame, header: list[str],
              physical: int, used: str, delim: str, skip: int) -> _Part:
    """The frame of a CSV file with its column names, file line numbers and blank rows."""
    _check_data_delimiter(name, path, frame, delim, skip, spec)
    if len(header) == frame.shape[1]:
        frame.columns = [h if h else f"Unnamed: {i}" for i, h in enumerate(header)]
    # line numbers: header at line skip+1; quoted values spanning lines push later rows down
    n = len(frame)
    rows = np.arange(n, dtype="int64") + skip + 2
    if n and physical - skip - 1 > n:
        extra = np.zeros(n, dtype="int64")
        for col in frame.columns:
            s = frame[col] if frame[col].ndim == 1 else frame[col].iloc[:, 0]
            extra += s.str.count("\n").fillna(0).astype("int64").to_numpy()
        rows = rows + np.concatenate([[0], np.cumsum(extra)[:-1]])
    blank = frame.isna().all(axis=1).to_numpy()
    frame = frame.loc[~blank].reset_index(drop=True)
    return _Part(path, frame, rows[~blank], used, delim, int(blank.sum()))


_GROUPED = re.compile(r"[¥￥$€£]?\s*[+-]?\d{1,3}$")


def _ragged_text(text: str, delim: str, skip: int, width: int,
                 sample: int = 10) -> tuple[str, str]:
    """The lines whose field count differs from the header's, and the likely cause."""
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    bad: list[int] = []
    grouped = False
    for i, fields in enumerate(reader):
        if i <= skip or not fields or len(fields) == width:
            continue
        bad.append(reader.line_num)
        # an unquoted amount with a thousands separator ("¥1,234.50") splits in two
        grouped = grouped or (delim == "," and len(fields) > width and any(
            _GROUPED.fullmatch(a.strip()) and re.fullmatch(r"\d{3}(\.\d+)?(元)?", b.strip())
            for a, b in zip(fields, fields[1:], strict=False)))
    if not bad:
        return "", ""
    more = f" (+{len(bad) - sample} more)" if len(bad) > sample else ""
    lines = (f" ({'line' if len(bad) == 1 else 'lines'} {', '.join(map(str, bad[:sample]))}"
             f"{more}; {len(bad)} in all; the header has {width} fields)")
    cause = ("An amount written with a thousands separator and not quoted (¥1,234.50) "
             "splits into two fields: have the client quote such values or export amounts "
             "without separators") if grouped else ""
    return lines, cause


def _check_data_delimiter(name: str, path: Path, frame: pd.DataFrame, delim: str, skip: int,
                          spec: SourceSpec) -> None:
    """Refuse a file whose header and data lines use different delimiters: every data row
    would land in the first column and its other columns would be empty."""
    if frame.shape[1] < 2 or not len(frame):
        return
    first = frame.iloc[:, 0]
    if not frame.iloc[:, 1:].isna().all(axis=None) or first.isna().all():
        return
    sample = first.dropna().head(20)
    for other in DELIMITERS:
        if other != delim and sample.str.count(re.escape(other)).ge(frame.shape[1] - 1).all():
            raise SourceError(
                f"{name}: {path}: the header line is {_DELIM_NAMES[delim]}-separated but the "
                f"data lines are {_DELIM_NAMES[other]}-separated (line {skip + 2}: "
                f"{_clip(str(sample.iloc[0]))!r}); every row would land in the first column. "
                "Have the client export the file again with one delimiter"
                + (f", or fix the header line and set params sources.{name}.delimiter "
                   f"to {other!r}." if spec.delimiter == "auto" else "."))


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _read_excel(name: str, spec: SourceSpec, path: Path) -> _Part:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise SourceError(f"{name}: {path} is not a readable .xlsx workbook ({exc}). Open it "
                          "in Excel or WPS and save it again as .xlsx, or export CSV UTF-8.") \
            from None
    try:
        sheets = wb.sheetnames
        sheet = spec.sheet
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(sheets):
                raise SourceError(f"{name}: {path} has {len(sheets)} sheets "
                                  f"({', '.join(sheets)}); sheet index {sheet} does not exist "
                                  "(indexes start at 0).")
            ws = wb.worksheets[sheet]
        else:
            if sheet not in sheets:
                raise SourceError(f"{name}: {path} has no sheet {sheet!r}; its sheets: "
                                  f"{', '.join(sheets)}{_did_you_mean(sheet, sheets)}. "
                                  f"Set params sources.{name}.sheet.")
            ws = wb[sheet]
        header: list[str] | None = None
        records: list[list[Any]] = []
        rownums: list[int] = []
        blank = 0
        for r, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values]
            empty = all(c is None for c in cells)
            if header is None:
                if empty:
                    continue
                header = [c or "" for c in cells]
                header_at = r
                continue
            if empty:
                blank += 1
                continue
            records.append(cells)
            rownums.append(r)
    finally:
        wb.close()
    if header is None:
        raise SourceError(f"{name}: sheet {ws.title!r} of {path} is empty. Check "
                          f"params sources.{name}.sheet names the sheet with the data.")
    header, records, rownums, skipped, header_at = _header_below_title(
        name, spec, header, records, rownums, header_at)
    width = max([len(header), *(len(r) for r in records)])
    header = [h.strip() if h.strip() else f"Unnamed: {i}" for i, h in
              enumerate(header + [""] * (width - len(header)))]
    records = [r + [None] * (width - len(r)) for r in records]
    frame = pd.DataFrame(records, columns=header, dtype=object)
    frame = frame.astype("str") if len(frame) else pd.DataFrame(
        {h: pd.Series(dtype="str") for h in dict.fromkeys(header)})
    notes = (f"{path}: the column names are on sheet row {header_at}; "
             f"{'row' if len(skipped) == 1 else 'rows'} {', '.join(map(str, skipped))} above "
             "them (a title or merged group headings) were skipped.",) if skipped else ()
    return _Part(path, frame, np.asarray(rownums, dtype="int64"), None, None, blank, notes)


def _header_below_title(name: str, spec: SourceSpec, header: list[str],
                        records: list[list[Any]], rownums: list[int], header_at: int,
                        look: int = 5):
    """Skip title rows and merged group headings above the column names of a sheet.

    The first non-empty row is taken as the header unless it lacks a required column
    while one of the next ``look`` rows has them all (by canonical name or by the
    client's name mapped in params); then the rows above that one are skipped.
    Returns (header, records, row numbers, skipped sheet rows, header's sheet row).
    """
    needed = set(CONTRACT[name].required)
    mapping = {k.strip(): v for k, v in spec.columns.items()}

    def covers(cells: list[Any]) -> bool:
        names = {mapping.get(str(c).strip(), str(c).strip()) for c in cells if c}
        return needed <= names

    if covers(header):
        return header, records, rownums, [], header_at
    for i, cells in enumerate(records[:look]):
        if covers(cells):
            skipped = [header_at, *rownums[:i]]
            return ([c or "" for c in cells], records[i + 1:], rownums[i + 1:], skipped,
                    rownums[i])
    return header, records, rownums, [], header_at


def _cell_text(v: Any) -> str | None:
    """An Excel cell as the string a CSV export would show (None when empty)."""
    if v is None:
        return None
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def _read_parquet(name: str, spec: SourceSpec, path: Path) -> _Part:
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise SourceError(f"{name}: {path} is not a readable Parquet file "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0]}). Ask the client "
                          "to export it again.") from None
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = frame.isna().all(axis=1).to_numpy() if frame.shape[1] else np.zeros(0, bool)
    rows = np.arange(1, len(frame) + 1, dtype="int64")
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
    return _Part(path, frame, rows[~blank], None, None, int(blank.sum()))


# --------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------


def _read_sql(name: str, spec: SourceSpec, month: str | None) -> RawSource:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    env = spec.url_env or ""
    origin = f"sql:{env}"
    url_text = os.environ.get(env)
    if not url_text:
        raise SourceError(
            f"{name}: the environment variable {env} (params sources.{name}.url_env) is not "
            f"set. It must hold the database's SQLAlchemy URL, e.g. export "
            f"{env}='postgresql+psycopg://user:password@host:5432/dbname'.")
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise SourceError(
            f"{name}: the environment variable {env} does not hold a valid SQLAlchemy URL "
            "(expected dialect+driver://user:password@host:port/database, e.g. "
            "postgresql+psycopg://...).") from None
    password = url.password or ""
    safe_url = url.render_as_string(hide_password=True)
    place = f"host {url.host or 'localhost'}" + (f", port {url.port}" if url.port else "") + (
        f", database {url.database}" if url.database else "")

    def scrub(msg: str) -> str:
        return msg.replace(str(password), "***") if password else msg

    query = spec.query or ""
    binds: dict[str, Any] = {}
    used = set(re.findall(r"(?<![:\w]):(month_start|month_end)\b", query))
    if used:
        if month is None:
            raise SourceError(f"{name}: the query uses {', '.join(sorted(used))} but no run "
                              "month was given.")
        per = pd.Period(month, freq="M")
        bounds = {"month_start": per.start_time.to_pydatetime(),
                  "month_end": per.end_time.floor("us").to_pydatetime()}
        binds = {k: bounds[k] for k in used}

    timeout = spec.connect_timeout_s
    connect_args: dict[str, Any] = {}
    arg = _TIMEOUT_ARGS.get(url.get_backend_name(), {}).get(url.get_driver_name())
    if arg and arg not in url.query:
        connect_args[arg] = timeout
    try:
        engine = create_engine(url, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as exc:
        raise SourceError(
            f"{name}: the database driver for {url.drivername!r} (from {env}) is not "
            f"installed ({scrub(str(exc)).splitlines()[0]}). For PostgreSQL use a URL "
            "starting postgresql+psycopg://.") from None
    try:
        try:
            con = engine.connect()
        except (DBAPIError, SQLAlchemyError) as exc:
            reason = scrub(str(getattr(exc, "orig", None) or exc)).strip().splitlines()
            text_ = reason[0] if reason else type(exc).__name__
            waited = (f" (gave up after params sources.{name}.connect_timeout_s = {timeout} s; "
                      "a firewall dropping the connection looks like this)"
                      if "timeout" in text_.lower() or "timed out" in text_.lower() else "")
            raise SourceError(
                f"{name}: cannot connect to the database in environment variable {env} "
                f"({place}; URL {safe_url}): {text_}{waited}. "
                f"Check the server is running and reachable from this machine, and the host, "
                f"port, user, password and database in {env}.") from None
        try:
            with con:
                result = con.execute(text(query), binds)
                columns = list(result.keys())
                frame = pd.DataFrame(result.fetchall(), columns=columns)
        except (DBAPIError, SQLAlchemyError) as exc:
            reason = scrub(str(getattr(exc, "orig", None) or exc)).strip().splitlines()
            raise SourceError(
                f"{name}: the query in params sources.{name}.query failed on the database in "
                f"{env} ({place}): {reason[0] if reason else type(exc).__name__}. Fix the "
                "query (try it in psql or the client's SQL tool first).") from None
    finally:
        engine.dispose()

    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        if not spec.required:
            return _empty(name, origin, (f"the query of sources.{name} returned no rows.",))
        raise SourceError(f"{name}: the query in params sources.{name}.query returned no rows "
                          f"from the database in {env} ({place}). Check its WHERE clause and "
                          f"the month, or set params sources.{name}.required: false.")
    canon, unmapped, cmap, notes = _map(name, spec, frame, origin)
    n = len(canon)
    warn = ()
    if "month_start" in used:
        warn = (f"the query of sources.{name} filters on :month_start, so it delivers only "
                f"{month}'s rows; stage 1 replaces the stored {name} table with each month's "
                f"load, so rows before {month} are lost to every later stage (snapshot "
                "windows, history, evaluation). Select everything up to :month_end instead.",)
    return RawSource(name, canon.reset_index(drop=True), origin,
                     np.arange(1, n + 1, dtype="int64"), np.full(n, origin, dtype=object),
                     unmapped_columns=tuple(unmapped), column_map=cmap, notes=tuple(notes),
                     label=origin, warnings=warn)


# --------------------------------------------------------------------------------------
# Column and value mapping
# --------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[\s\-./]+", "_", name.strip().lower())


def _map(name: str, spec: SourceSpec, frame: pd.DataFrame,
         where: Path | str) -> tuple[pd.DataFrame, list[str], dict[str, str], list[str]]:
    """Rename client columns to canonical ones; map values; keep only canonical columns."""
    contract = CONTRACT[name]
    header = [str(c) for c in frame.columns]
    mapping = {k.strip(): v for k, v in spec.columns.items()}
    targets: dict[int, str] = {}
    for i, col in enumerate(header):
        if col in mapping:
            targets[i] = mapping[col]
        elif col in contract.names and col not in mapping.values():
            targets[i] = col
    by_target: dict[str, list[int]] = {}
    for i, t in targets.items():
        by_target.setdefault(t, []).append(i)
    clash = {t: [header[i] for i in idx] for t, idx in by_target.items() if len(idx) > 1}
    if clash:
        desc = "; ".join(f"{t} <- {', '.join(repr(c) for c in cols)}" for t, cols in
                         clash.items())
        raise SourceError(f"{name}: {where}: several columns map onto the same canonical column "
                          f"({desc}). Keep one: map only one of them in params "
                          f"sources.{name}.columns (or rename the duplicate in the file).")
    missing = [c for c in contract.required if c not in by_target]
    unmapped = [h for i, h in enumerate(header) if i not in targets]
    if missing:
        raise ContractError(_missing_columns_text(name, where, missing, header, unmapped,
                                                  mapping))
    order = sorted(targets, key=lambda i: contract.names.index(targets[i]))
    canon = frame.iloc[:, order]  # copy-on-write: no copy of the rows
    canon.columns = [targets[i] for i in order]
    column_map = {targets[i]: header[i] for i in order}
    notes: list[str] = []
    for col, table in spec.values.items():
        if col not in canon.columns or not table:
            continue
        canon[col], n_mapped, unmatched = _map_values(canon[col], table)
        if n_mapped:
            notes.append(f"{where}: {n_mapped} {col} values were mapped with params "
                         f"sources.{name}.values.{col}.")
        if unmatched:
            notes.append(f"{where}: {col} values not in sources.{name}.values.{col} were kept "
                         f"as they are: {', '.join(repr(u) for u in unmatched[:10])}"
                         f"{' ...' if len(unmatched) > 10 else ''}.")
    return canon, unmapped, column_map, notes


def _canonical_text(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _map_values(s: pd.Series, table: dict[str, Any]) -> tuple[pd.Series, int, list[str]]:
    from winback.contract import _to_text

    text = s.map(_to_text, na_action="ignore").astype("str").str.strip()
    lookup = {str(k).strip(): _canonical_text(v) for k, v in table.items()}
    hit = text.isin(list(lookup)).fillna(False)
    mapped = text.map(lookup)
    out = text.where(~hit, mapped).astype("str")
    unmatched = sorted(text[~hit & text.notna()].unique().tolist())
    return out, int(hit.sum()), unmatched


def _missing_columns_text(name: str, where: Path | str, missing: list[str], header: list[str],
                          unmapped: list[str], mapping: dict[str, str]) -> str:
    lines = [f"{name}: {where} lacks required "
             f"{'column' if len(missing) == 1 else 'columns'} {', '.join(missing)}.",
             f"Columns found: {', '.join(header) or 'none'}."]
    for col in missing:
        mapped_from = [k for k, v in mapping.items() if v == col]
        guess = _closest(col, unmapped)
        if mapped_from:
            src = mapped_from[0]
            near = _closest(src, unmapped) or guess
            tip = f" The closest column is {near!r}." if near else ""
            lines.append(f"- {col}: params map {src!r} to {col}, but the file has no column "
                         f"{src!r}.{tip} Fix the name in params sources.{name}.columns.")
        elif guess:
            lines.append(f"- {col}: did you mean {guess!r}? Map it in params "
                         f"sources.{name}.columns: {{{guess}: {col}}}")
        else:
            lines.append(f"- {col}: no similar column; map the client's column onto it in "
                         f"params sources.{name}.columns: {{<client column>: {col}}}")
    return "\n".join(lines)


def _closest(col: str, candidates: list[str]) -> str | None:
    if not candidates:
        return None
    normed = {_norm(c): c for c in candidates}
    if _norm(col) in normed:
        return normed[_norm(col)]
    for alias in _ALIASES.get(col, ()):
        for c in candidates:
            if _norm(c) == _norm(alias):
                return c
    close = difflib.get_close_matches(_norm(col), list(normed), n=1, cutoff=0.6)
    return normed[close[0]] if close else None
