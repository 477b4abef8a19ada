"""Personal data: where it may live, pseudonymous customer ids, and a scan for leaks.

Where names, phones and e-mails live
------------------------------------
The client's ``customers`` source delivers PII columns (declared in params
``privacy.pii_columns``; at least the data contract's ``name``, ``phone``, ``email``).
Stage 1 splits them off right after validation (:func:`split_pii`): the analysis sees
``customers`` without them, and the store keeps them in a table of their own,
``customer_contacts`` (``customer_id`` + the PII columns), read by one function only,
:func:`winback.exports.export_call_lists`. Quarantined customer rows are kept with their
PII values redacted (:func:`redact_quarantine`). So the store's other tables, the run's
tables, figures, executed notebooks, reports and manifest carry customer ids, never PII;
the call lists (``exports/call_list.csv``, ``exports/call_lists.xlsx``) are the only
outputs with names and contact details, written owner-only (0600 in a 0700 folder), and
the store file is owner-only too.

What is shareable, and pseudonymous ids
---------------------------------------
*Shareable* outputs are the ones a consultant hands to the client or circulates: a month's
``tables/`` (Parquet and JSON) and everything built from them (``report.html``, the
multi-month trends). With ``privacy.hash_ids: true`` every ``customer_id`` column
(``privacy.id_columns``) of a month's ``tables/*.parquet`` is replaced, when the month
completes and before anything reads the tables for a report, by a salted hash
(:func:`hash_ids`): ``HMAC-SHA256(salt, customer_id)`` as lowercase hex, truncated to its
first 16 characters (64 bits: for a million customers the chance of any collision is
below 1e-7). The same salt gives the same pseudonym in every month, so months can be
compared; without the salt the pseudonyms cannot be traced back, not even by trying every
possible id. The call-centre files (``exports/``) keep real ids (the call centre needs
them and returns outcomes with them), and so do the executed notebooks, the consultant's
working record (they show ids, never PII): hand the client the report and the tables, not
the notebooks.

The salt is per engagement and lives only in the environment variable named by
``privacy.id_salt_env`` (default ``WINBACK_ID_SALT``; at least 16 characters). Params hold
the variable's name, never the salt: params are merged into every run's manifest and
command-line overrides are saved in every executed notebook's parameters, so a salt in
params would be written to outputs (``--set privacy.id_salt=...`` is refused as an unknown
key). Keep the salt with the engagement's other secrets: losing it means next month's
pseudonyms no longer match this month's.

The report's stage sections show the executed notebooks' tables: :func:`pseudonymize_html`
replaces every table cell that is exactly a known customer id by its pseudonym there.
"""

from __future__ import annotations

import hmac
import html
import io
import json
import os
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, field_validator

from winback.config import Section
from winback.contract import CONTRACT

__all__ = [
    "CONTACTS_TABLE",
    "HASH_HEX_CHARS",
    "REDACTED",
    "Leak",
    "PrivacyError",
    "PrivacyParams",
    "hash_ids",
    "png_text",
    "pseudonymize_frame",
    "pseudonymize_html",
    "pseudonymize_tables",
    "redact_quarantine",
    "resolve_salt",
    "scan_folder",
    "scan_store",
    "split_pii",
]

CONTACTS_TABLE = "customer_contacts"
HASH_HEX_CHARS = 16
MIN_SALT_LENGTH = 16
REDACTED = "<redacted>"
#: Parquet schema metadata key marking a table whose id columns are already pseudonymous.
HASHED_MARK = b"winback.hashed_ids"


class PrivacyError(ValueError):
    """A privacy setting cannot be honoured (no salt, a salt too short, ...)."""


class PrivacyParams(Section):
    """``privacy`` params: PII columns, pseudonymous ids and where the salt comes from."""

    pii_columns: tuple[str, ...] = ("name", "phone", "email")
    hash_ids: bool = False
    id_columns: tuple[str, ...] = ("customer_id",)
    id_salt_env: str = Field("WINBACK_ID_SALT", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("pii_columns")
    @classmethod
    def _known_pii(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        contract = CONTRACT["customers"]
        unknown = [c for c in value if c not in contract.names]
        if unknown:
            raise ValueError(f"{unknown} are not columns of the customers source; PII columns "
                             f"are chosen among {contract.optional}")
        required = [c for c in value if c in contract.required]
        if required:
            raise ValueError(f"{required} are required customers columns and cannot be "
                             "set apart as PII")
        missing = [c.name for c in contract.columns if c.pii and c.name not in value]
        if missing:
            raise ValueError(f"the data contract's PII columns {missing} must stay declared "
                             "(a client that does not deliver them needs no change)")
        return tuple(dict.fromkeys(value))


# --------------------------------------------------------------------------------------
# PII kept apart
# --------------------------------------------------------------------------------------


def split_pii(customers: pd.DataFrame, pii_columns: Iterable[str]
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the customers frame into the analysis part and the contact details.

    Parameters
    ----------
    customers
        Validated customers (``customer_id`` and any other columns).
    pii_columns
        Columns to set apart (``privacy.pii_columns``); those the frame lacks are skipped.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``customers`` without the PII columns, and ``customer_id`` with the PII columns
        present (the store's ``customer_contacts`` table). New frames; the input is unchanged.
    """
    if "customer_id" not in customers.columns:
        raise PrivacyError("split_pii: the customers frame has no customer_id column.")
    pii = [c for c in pii_columns if c in customers.columns]
    contacts = customers.loc[:, ["customer_id", *pii]].copy()
    return customers.drop(columns=pii), contacts


def redact_quarantine(quarantine: pd.DataFrame, pii_columns: Iterable[str], *,
                      source: str = "customers") -> pd.DataFrame:
    """Quarantine rows with the PII values of ``source`` replaced by ``<redacted>``.

    The ``record`` column (the raw row as JSON) keeps its keys with redacted values, and the
    ``value`` column is redacted where the rule fired on a PII column; file and row numbers
    still point at the original row. A new frame; the input is unchanged.
    """
    pii = list(pii_columns)
    if quarantine.empty or "source" not in quarantine.columns:
        return quarantine.copy()
    out = quarantine.copy()
    mine = out["source"].astype("str").eq(source).fillna(False).to_numpy(dtype=bool)
    if not mine.any():
        return out
    if "value" in out.columns and "column" in out.columns:
        hit = mine & out["column"].isin(pii).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            value = out["value"].astype(object)
            value[hit] = REDACTED
            out["value"] = value.astype(quarantine["value"].dtype)
    if "record" in out.columns:
        record = out["record"].astype(object)
        record[mine] = [_redact_record(r, pii) for r in record[mine]]
        out["record"] = record.astype(quarantine["record"].dtype)
    return out


def _redact_record(text: Any, pii: list[str]) -> Any:
    if not isinstance(text, str):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return REDACTED  # not JSON: nothing can be kept safely
    if not isinstance(data, dict):
        return REDACTED
    for key in pii:
        if key in data and data[key] is not None:
            data[key] = REDACTED
    return json.dumps(data, ensure_ascii=False)


# --------------------------------------------------------------------------------------
# Pseudonymous ids
# --------------------------------------------------------------------------------------


def resolve_salt(privacy: PrivacyParams, environ: Mapping[str, str] | None = None) -> bytes:
    """The engagement's salt, from the environment variable named by ``privacy.id_salt_env``.

    Raises
    ------
    PrivacyError
        No salt is set, or it is shorter than 16 characters.
    """
    environ = os.environ if environ is None else environ
    salt = environ.get(privacy.id_salt_env)
    if not salt:
        raise PrivacyError(
            f"privacy.hash_ids is on but no salt is set: export {privacy.id_salt_env}=<a "
            f"random text of at least {MIN_SALT_LENGTH} characters, kept per engagement> "
            "before running (e.g. python -c \"import secrets; print(secrets.token_hex(16))\").")
    if len(salt) < MIN_SALT_LENGTH:
        raise PrivacyError(f"The salt in {privacy.id_salt_env} has {len(salt)} characters; use "
                           f"at least {MIN_SALT_LENGTH} (customer ids are easy to guess).")
    return salt.encode("utf-8")


def hash_ids(ids: pd.Series, salt: bytes | str) -> pd.Series:
    """Pseudonymous ids: ``HMAC-SHA256(salt, id)`` as hex, first 16 characters.

    Deterministic (same salt and id, same pseudonym); missing ids stay missing. Returns a
    new ``str`` series with the same index and name.
    """
    key = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    if not key:
        raise PrivacyError("hash_ids: the salt is empty.")
    text = ids.astype("str")
    uniq = pd.unique(text.dropna())
    table = {v: hmac.digest(key, v.encode("utf-8"), "sha256").hex()[:HASH_HEX_CHARS]
             for v in uniq}
    return text.map(table).astype("str")


def pseudonymize_frame(frame: pd.DataFrame, salt: bytes | str, *,
                       columns: Iterable[str] = ("customer_id",)) -> pd.DataFrame:
    """``frame`` with each of ``columns`` (those present, index levels included) hashed."""
    cols = list(columns)
    out = frame.copy()
    for col in cols:
        if col in out.columns:
            out[col] = hash_ids(out[col], salt)
    names = list(out.index.names)
    if any(n in cols for n in names):
        levels = [hash_ids(pd.Series(out.index.get_level_values(i)), salt).to_numpy()
                  if n in cols else out.index.get_level_values(i) for i, n in enumerate(names)]
        out.index = (pd.MultiIndex.from_arrays(levels, names=names) if len(names) > 1
                     else pd.Index(levels[0], name=names[0]))
    return out


def pseudonymize_tables(folder: str | Path, privacy: PrivacyParams, *,
                        environ: Mapping[str, str] | None = None) -> list[Path]:
    """Hash the id columns of every ``*.parquet`` table in ``folder`` (a run's ``tables/``).

    Does nothing when ``privacy.hash_ids`` is false. A table already hashed (marked in its
    Parquet metadata, e.g. carried over from an earlier run of the month) is left alone, so
    calling this twice changes nothing. Returns the tables rewritten.
    """
    if not privacy.hash_ids:
        return []
    import pyarrow as pa
    import pyarrow.parquet as pq

    salt = resolve_salt(privacy, environ)
    done = []
    for path in sorted(Path(folder).glob("*.parquet")):
        table = pq.read_table(path)
        meta = dict(table.schema.metadata or {})
        if HASHED_MARK in meta:
            continue
        for col in privacy.id_columns:
            if col in table.column_names:
                i = table.column_names.index(col)
                hashed = hash_ids(table.column(col).to_pandas().astype("str"), salt)
                table = table.set_column(i, pa.field(col, pa.string()),
                                         pa.array(hashed.astype(object), type=pa.string()))
        meta[HASHED_MARK] = f"hmac-sha256/{HASH_HEX_CHARS}".encode()
        table = table.replace_schema_metadata(meta)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        done.append(path)
    return done


def pseudonymize_html(text: str, ids: Iterable[str], salt: bytes | str) -> str:
    """``text`` (HTML) with every table cell that is exactly one of ``ids`` pseudonymized.

    Only whole cells (``<td>C0001</td>``, ``<th>C0001</th>``, surrounding spaces allowed)
    are replaced, so numbers and prose that happen to contain an id are left alone.
    """
    ids = [str(i) for i in ids if i is not None and str(i) != ""]
    if not ids:
        return text
    matcher = _Matcher(ids)
    cell = re.compile(r"(<t[dh](?:\s[^>]*)?>)(\s*)(" + matcher.regex.pattern
                      + r")(\s*)(</t[dh]>)")
    found = sorted({m.group(3) for m in cell.finditer(text)})
    if not found:
        return text
    pseudo = dict(zip(found, hash_ids(pd.Series(found, dtype="str"), salt), strict=True))
    return cell.sub(lambda m: m.group(1) + m.group(2) + pseudo[m.group(3)] + m.group(4)
                    + m.group(5), text)


# --------------------------------------------------------------------------------------
# Scanning outputs for personal data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    """One value found where it must not be: the file (or store table), where in it, what."""

    path: str
    where: str
    value: str


class _Matcher:
    """Finds any of many literal strings in text in one pass (a regex built from a trie)."""

    def __init__(self, needles: Iterable[str]):
        words = sorted({str(n) for n in needles if n is not None and str(n) != ""})
        if not words:
            raise PrivacyError("Nothing to scan for: the list of values is empty.")
        trie: dict = {}
        for w in words:
            node = trie
            for ch in w:
                node = node.setdefault(ch, {})
            node[""] = True
        self.regex = re.compile(self._pattern(trie))

    @classmethod
    def _pattern(cls, node: dict) -> str:
        end = "" in node
        alts = [re.escape(ch) + cls._pattern(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    def find(self, text: str) -> list[str]:
        return sorted(set(self.regex.findall(text)))


def _texts_of_frame(frame: pd.DataFrame) -> Iterable[tuple[str, str]]:
    frame = frame.reset_index() if any(n is not None for n in frame.index.names) else frame
    for col in frame.columns:
        s = frame[col]
        yield f"column {col!r} (name)", str(col)
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            values = pd.unique(s.dropna().map(str))
            yield f"column {col!r}", "\n".join(values)


def _json_strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield str(k)
            if str(k) not in ("image/png", "image/jpeg"):  # base64 pixels of a figure
                yield from _json_strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _json_strings(v)


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def png_text(raw: bytes) -> str:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file, as one string."""
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return ""
    out, pos = [], 8
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind = raw[pos + 4:pos + 8]
        data = raw[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"tEXt":
            out.append(data.replace(b"\0", b"\n").decode("latin-1"))
        elif kind == b"zTXt":
            key, _, rest = data.partition(b"\0")
            out.append(key.decode("latin-1") + "\n" + zlib.decompress(rest[1:]).decode("latin-1"))
        elif kind == b"iTXt":
            key, _, rest = data.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _tkey, _, text = rest.partition(b"\0")
            text = zlib.decompress(text) if compressed else text
            out.append(key.decode("latin-1") + "\n" + text.decode("utf-8", errors="replace"))
        elif kind == b"IEND":
            break
    return "\n".join(out)


def _file_texts(path: Path) -> Iterable[tuple[str, str]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _texts_of_frame(pd.read_parquet(path))
        return
    raw = path.read_bytes()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(raw), read_only=False)
        for ws in book.worksheets:
            yield f"sheet {ws.title!r} (title)", ws.title
            cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
            yield f"sheet {ws.title!r}", "\n".join(cells)
        props = book.properties
        yield "properties", "\n".join(str(getattr(props, k)) for k in
                                      ("creator", "title", "subject", "description", "keywords")
                                      if getattr(props, k, None))
        return
    if suffix == ".png":
        yield "PNG text chunks", png_text(raw)
        return
    text = _decode(raw)
    if suffix in (".json", ".ipynb"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None  # not JSON after all: read as text below
        if data is not None:
            yield "JSON strings", "\n".join(_json_strings(data))
            return
    if suffix in (".html", ".htm", ".svg", ".xml"):
        yield "text (entities decoded)", html.unescape(text)
        return
    yield "text", text


def scan_folder(folder: str | Path, values: Iterable[str], *,
                skip: Iterable[str | Path] = ()) -> list[Leak]:
    """Every occurrence of any of ``values`` in the files under ``folder``.

    Files are read as what they are: Parquet tables (every text column's values and every
    column name), Excel workbooks (cells, sheet titles, document properties), PNG images
    (their text chunks; pixels are not read), JSON and notebooks (every string, escapes
    decoded), HTML (entities decoded), anything else as text (UTF-8 or GB18030).

    Parameters
    ----------
    folder
        A run folder, an engagement's runs folder, or any folder.
    values
        The strings to look for (names, phones, e-mails; canaries).
    skip
        Files not to read (absolute paths, or paths relative to ``folder``), e.g. the call
        lists, which must carry names and phones.

    Returns
    -------
    list of Leak
        Empty when nothing was found.
    """
    folder = Path(folder)
    matcher = _Matcher(values)
    skipped = {(folder / p).resolve() for p in skip}
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.resolve() in skipped:
            continue
        for where, text in _file_texts(path):
            for value in matcher.find(text):
                leaks.append(Leak(str(path), where, value))
    return leaks


def scan_store(store_path: str | Path, values: Iterable[str], *,
               skip_tables: Iterable[str] = (CONTACTS_TABLE,)) -> list[Leak]:
    """Every occurrence of any of ``values`` in the store's tables (but ``skip_tables``).

    Every column is read as text (table and column names too).
    """
    from winback.store import opened

    matcher = _Matcher(values)
    skip = set(skip_tables)
    leaks = []
    with opened(store_path, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        for table in tables:
            if table in skip:
                continue
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", [table]).fetchall()]
            for col in cols:
                for value in matcher.find(f"{table}\n{col}"):
                    leaks.append(Leak(str(store_path), f"table {table!r} (names)", value))
                rows = con.execute(
                    f'SELECT DISTINCT CAST("{col}" AS VARCHAR) FROM "{table}" '
                    f'WHERE "{col}" IS NOT NULL').fetchall()
                text = "\n".join(r[0] for r in rows)
                for value in matcher.find(text):
                    leaks.append(Leak(str(store_path), f"table {table!r} column {col!r}", value))
    return leaks
