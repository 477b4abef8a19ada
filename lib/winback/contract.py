"""The data contract: canonical columns per source, their types, and the rules a row must pass.

:func:`validate` turns a :class:`winback.sources.RawSource` (canonical column names, values
as read) into a typed ``clean`` frame, a ``quarantine`` frame of the rows held out, and a
list of :class:`Issue` saying, for every rule that fired, which file, column and rows, what
is wrong and what to do. Each rule's action comes from params (``validation.rules``):

``error``
    stop: :class:`ContractError` lists every error-level issue of the source.
``quarantine``
    move the row to the quarantine table (with the rule, the row number and the raw record).
``blank``
    keep the row and blank the bad value; a bad value in a *required* column cannot be
    blanked, so that row is quarantined instead.
``warn``
    keep the row and the value; the issue is reported.
``truncate``
    (``text_too_long`` only) keep the row, cut the text to ``max_text_length`` characters.

Nothing is dropped or changed without an issue or a note saying how many rows and which.
Values that are parsed rather than rejected (amounts written ``¥1,234.50``, dates written
``2024年6月1日``) are counted in ``notes``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from winback.config import Section

if TYPE_CHECKING:  # pragma: no cover
    from winback.sources import RawSource

__all__ = [
    "ACTIONS",
    "BOOL_FALSE",
    "BOOL_TRUE",
    "CONTACT_CHANNELS",
    "CONTRACT",
    "INTERACTION_KINDS",
    "INTERACTION_KIND_ORDER",
    "QUARANTINE_COLUMNS",
    "RESPONSES",
    "RULES",
    "ROW_CHECKS_VERSION",
    "Column",
    "ContractError",
    "Issue",
    "PreparedSource",
    "RawRows",
    "RowChecks",
    "RowEvent",
    "SourceContract",
    "Validated",
    "ValidationParams",
    "check_rows",
    "column_profile",
    "finish_validation",
    "neutralize_formula",
    "orphans",
    "quality_summary",
    "validate",
    "validate_all",
]

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

# In the order the snapshot lays out its engagement columns.
INTERACTION_KIND_ORDER: tuple[str, ...] = (
    "service_ticket", "complaint", "review", "referral", "community_post",
    "community_answer", "campaign_participation", "survey_response", "suggestion",
)
INTERACTION_KINDS = frozenset(INTERACTION_KIND_ORDER)
CONTACT_CHANNELS = frozenset({"phone", "sms", "email", "wechat", "app_push", "visit"})
RESPONSES = frozenset({"accepted", "declined", "no_response", "callback"})

BOOL_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0", "是", "对", "有", "√", "✓"})
BOOL_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0", "否", "错", "无", "×", "✗"})

ColumnType = Literal["id", "date", "timestamp", "month", "float", "int", "bool", "category", "text"]


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, type, whether it is required, allowed values, PII."""

    name: str
    type: ColumnType
    required: bool = False
    allowed: frozenset[str] | None = None
    pii: bool = False


@dataclass(frozen=True)
class SourceContract:
    """The canonical columns of one source, in order, and its key (empty: no key)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def optional(self) -> list[str]:
        return [c.name for c in self.columns if not c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def date_column(self) -> str | None:
        """The source's main date (the first required date/timestamp column)."""
        return next((c.name for c in self.columns
                     if c.required and c.type in ("date", "timestamp")), None)


def _c(name: str, type_: ColumnType, required: bool = False, **kw: Any) -> Column:
    return Column(name, type_, required, **kw)


CONTRACT: dict[str, SourceContract] = {
    "customers": SourceContract(
        "customers",
        (
            _c("customer_id", "id", True),
            _c("signup_date", "date", True),
            _c("age", "int"),
            _c("birth_year", "int"),
            _c("gender", "category"),
            _c("region", "category"),
            _c("city", "category"),
            _c("business_line", "category"),
            _c("member_level", "category"),
            _c("preferred_channel", "category", allowed=CONTACT_CHANNELS),
            _c("preferred_contact_time", "text"),
            _c("do_not_contact", "bool"),
            _c("name", "text", pii=True),
            _c("phone", "text", pii=True),
            _c("email", "text", pii=True),
        ),
        key=("customer_id",),
    ),
    "transactions": SourceContract(
        "transactions",
        (
            _c("order_id", "id", True),
            _c("customer_id", "id", True),
            _c("order_ts", "timestamp", True),
            _c("amount", "float", True),
            _c("quantity", "float"),
            _c("category", "category"),
            _c("business_line", "category"),
            _c("channel", "category"),
            _c("discount", "float"),
            _c("is_return", "bool"),
        ),
        key=("order_id",),
    ),
    "interactions": SourceContract(
        "interactions",
        (
            _c("customer_id", "id", True),
            _c("ts", "timestamp", True),
            _c("kind", "category", True, allowed=INTERACTION_KINDS),
            _c("channel", "category"),
            _c("score", "float"),
            _c("text", "text"),
        ),
    ),
    "surveys": SourceContract(
        "surveys",
        (
            _c("customer_id", "id", True),
            _c("ts", "timestamp", True),
            _c("satisfaction", "int"),
            _c("nps", "int"),
            _c("reason_code", "category"),
            _c("text", "text"),
        ),
    ),
    "contact_outcomes": SourceContract(
        "contact_outcomes",
        (
            _c("customer_id", "id", True),
            _c("campaign_month", "month", True),
            _c("attempt", "int", True),
            _c("contact_ts", "timestamp", True),
            _c("channel", "category", True, allowed=CONTACT_CHANNELS),
            _c("reached", "bool", True),
            _c("reason_code", "category"),
            _c("response", "category", allowed=RESPONSES),
            _c("offer_redeemed", "bool"),
            _c("satisfaction", "int"),
            _c("notes", "text"),
        ),
        key=("customer_id", "campaign_month", "attempt"),
    ),
}

# --------------------------------------------------------------------------------------
# Rules and their params
# --------------------------------------------------------------------------------------

Action = Literal["error", "quarantine", "blank", "warn", "truncate"]
ACTIONS: tuple[str, ...] = ("error", "quarantine", "blank", "warn", "truncate")


@dataclass(frozen=True)
class Rule:
    default: str
    allowed: tuple[str, ...]
    what: str
    hint: str


RULES: dict[str, Rule] = {
    "missing_required_column": Rule(
        "error", ("error",), "a required column is missing",
        "map the client's column onto it in params sources.<source>.columns"),
    "unparseable_date": Rule(
        "blank", ("error", "quarantine", "blank"), "not a date",
        "write dates as YYYY-MM-DD (or YYYY-MM-DD HH:MM:SS), or add the client's format "
        "to params validation.date_formats"),
    "unparseable_number": Rule(
        "blank", ("error", "quarantine", "blank"), "not a number",
        "write plain numbers (currency symbols and thousands separators are read, see rule "
        "formatted_number; '1,23' or '1.234,50' are ambiguous); fix the rows in the client's "
        "extract"),
    "formatted_number": Rule(
        "warn", ("error", "quarantine", "blank", "warn"),
        "a number written with a currency symbol, thousands separators, 元 or parentheses",
        "warn keeps the row and reads the number shown ('¥1,234.50' -> 1234.5, '(5)' -> -5); "
        "set params validation.rules.formatted_number: error (or quarantine) to refuse "
        "such values and have the client export plain numbers"),
    "unparseable_bool": Rule(
        "blank", ("error", "quarantine", "blank"), "not a yes/no value",
        "use true/false, 1/0, Y/N or 是/否, or map the client's values in params "
        "sources.<source>.values.<column>"),
    "non_finite": Rule(
        "blank", ("error", "quarantine", "blank"), "not a finite number (NaN or infinity)",
        "the extract wrote NaN/inf (often a division by zero upstream); fix it at the source"),
    "missing_value": Rule(
        "quarantine", ("error", "quarantine"), "a required value is empty",
        "fill the value in the client's extract"),
    "duplicate_key": Rule(
        "quarantine", ("error", "quarantine"), "an exact copy of an earlier row",
        "the extract repeats rows (often overlapping exports); the first copy is kept"),
    "conflicting_duplicate": Rule(
        "error", ("error", "quarantine"), "the same key with different values",
        "ask the client which row is right and deliver one row per key; or set params "
        "validation.rules.conflicting_duplicate: quarantine to hold every row of such keys out"),
    "future_date": Rule(
        "quarantine", ("error", "quarantine"), "dated after the run month's end",
        "these rows belong to a later month and are held out of this one; nothing to fix "
        "unless the dates are wrong"),
    "too_early": Rule(
        "quarantine", ("error", "quarantine", "blank"), "dated before validation.min_date",
        "placeholder dates (1900-01-01, 1970-01-01) usually mean unknown: fix them in the "
        "extract, or lower params validation.min_date if they are real"),
    "negative_amount_not_return": Rule(
        "quarantine", ("error", "quarantine", "warn"), "a negative amount not marked as a return",
        "mark refunds with is_return = true, or fix the sign in the extract"),
    "return_sign": Rule(
        "warn", ("error", "quarantine", "warn"), "a return (is_return true) with a positive amount",
        "if the client writes returns as positive amounts, set params "
        "validation.positive_returns: negate"),
    "unknown_customer": Rule(
        "quarantine", ("error", "quarantine", "warn"), "a customer id not in customers",
        "deliver the missing customers in the customers extract, or check the id format "
        "(leading zeros, prefixes) is the same in both files"),
    "unknown_campaign_month": Rule(
        "error", ("error", "quarantine", "warn"),
        "a campaign month the engagement never ran (no campaign_log rows)",
        "campaign_month must be the month whose run produced the contact list (month M's "
        "list is called during M+1), not the month of the call; fix those rows in the "
        "call centre's file, or, if they are outcomes of a campaign run outside the kit, "
        "set params validation.rules.unknown_campaign_month: quarantine to hold them out"),
    "text_too_long": Rule(
        "truncate", ("error", "quarantine", "truncate", "warn"),
        "longer than validation.max_text_length characters",
        "raise params validation.max_text_length if the long texts are real"),
    "formula_injection": Rule(
        "warn", ("error", "quarantine", "warn"),
        "starts with = + - @ or a tab/CR (a spreadsheet formula)",
        "kept as text; exports neutralize it with a leading apostrophe"),
    "bad_category": Rule(
        "blank", ("error", "quarantine", "blank", "warn"), "not an allowed value",
        "map the client's values onto the allowed ones in params sources.<source>.values.<column>"),
    "out_of_range": Rule(
        "blank", ("error", "quarantine", "blank", "warn"), "outside the allowed range",
        "fix the rows in the extract, or change params validation.ranges"),
}

DEFAULT_DATE_FORMATS = [
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d",
    "%Y%m%d%H%M%S",
]
DEFAULT_MISSING = ["NULL", "null", "None", "N/A", "n/a", "NA", "#N/A", "-", "--"]
DEFAULT_RANGES = {
    "age": (0, 120), "satisfaction": (1, 5), "nps": (0, 10), "attempt": (1, 3),
}
_NUMERIC_COLUMNS = sorted({c.name for s in CONTRACT.values() for c in s.columns
                           if c.type in ("int", "float")})


class ValidationParams(Section):
    """``validation`` params: the action of each rule and the limits the rules use."""

    rules: dict[str, Action] = Field(default_factory=lambda: {k: r.default
                                                               for k, r in RULES.items()})
    min_date: dt.date = dt.date(1990, 1, 1)
    max_text_length: int = Field(2000, ge=1)
    positive_returns: Literal["keep", "negate"] = "keep"
    date_formats: list[str] = Field(default_factory=lambda: list(DEFAULT_DATE_FORMATS))
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING))
    ranges: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_RANGES))
    sample_rows: int = Field(10, ge=1, le=1000)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValueError("rules is a mapping rule_name: action")
        problems = []
        for name, action in value.items():
            if name not in RULES:
                close = difflib.get_close_matches(str(name), RULES, n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown rule {name!r}{hint}; rules: {', '.join(RULES)}")
            elif action not in RULES[name].allowed:
                problems.append(f"rule {name!r} cannot be {action!r}; allowed: "
                                f"{' | '.join(RULES[name].allowed)}")
        if problems:
            raise ValueError("; ".join(problems))
        return {**{k: r.default for k, r in RULES.items()}, **value}

    @field_validator("ranges")
    @classmethod
    def _ranges(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (lo, hi) in value.items():
            if name not in _NUMERIC_COLUMNS:
                raise ValueError(f"ranges: {name!r} is not a numeric contract column "
                                 f"({', '.join(_NUMERIC_COLUMNS)})")
            if lo > hi:
                raise ValueError(f"ranges: {name} runs backwards ({lo} > {hi})")
        return value

    @field_validator("date_formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        for fmt in value:
            if "%" not in fmt:
                raise ValueError(f"{fmt!r} is not a strftime format (e.g. %d/%m/%Y)")
        return value

    def action(self, rule: str) -> str:
        return self.rules.get(rule, RULES[rule].default)


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


class ContractError(ValueError):
    """A source breaks the data contract; the message lists file, column, rows and the fix.

    ``issues`` holds the error-level :class:`Issue` objects (empty when raised by a reader).
    """

    def __init__(self, message: str, issues: list[Issue] | None = None):
        super().__init__(message)
        self.issues = list(issues or [])


@dataclass(frozen=True)
class Issue:
    """One rule that fired on one column of one source.

    ``rows`` are the first file row numbers (up to ``sample_rows``), ``count`` all of them;
    ``file`` is the file those rows are in; ``action`` what was done (``info`` for notes).
    """

    source: str
    rule: str
    column: str | None
    rows: tuple[int, ...]
    count: int
    message: str
    hint: str
    action: str
    file: str = ""

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.hint}" if self.hint else self.message


QUARANTINE_COLUMNS = ["source", "file", "row", "rule", "column", "value", "detail", "record"]


@dataclass
class Validated:
    """A validated source: typed ``clean`` rows, ``quarantine`` rows, issues and counts.

    ``clean`` has every canonical column of the source in contract order (optional columns
    the client did not deliver are present and empty; ``present_columns`` says which were
    delivered). ``counts``: ``rows_read``, ``rows_clean``, ``rows_quarantined``,
    ``rows_held_out`` (future rows, held out of this month) and ``blank_rows_skipped``.
    ``clean_rows`` holds the file row number of each clean row.
    """

    source: str
    origin: str
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    issues: list[Issue]
    notes: list[Issue]
    counts: dict[str, int]
    present_columns: tuple[str, ...]
    clean_rows: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def issues_table(self) -> pd.DataFrame:
        """Issues and notes as a table (one row each), for the data-quality report."""
        rows = [
            {"source": i.source, "rule": i.rule, "column": i.column, "action": i.action,
             "count": i.count, "rows": ", ".join(map(str, i.rows)), "message": i.message,
             "hint": i.hint}
            for i in [*self.issues, *self.notes]
        ]
        cols = ["source", "rule", "column", "action", "count", "rows", "message", "hint"]
        return pd.DataFrame(rows, columns=cols)

    def __repr__(self) -> str:
        c = self.counts
        return (f"Validated({self.source!r}, read={c['rows_read']}, clean={c['rows_clean']}, "
                f"quarantined={c['rows_quarantined']}, held_out={c['rows_held_out']}, "
                f"issues={len(self.issues)})")


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"^[+-]?[\d\s().,/-]*\d[\d\s().,/-]*$")
_EXCEL_ERRORS = frozenset({"#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#N/A"})
_NAN_WORDS = frozenset({"nan", "-nan", "+nan"})
_CURRENCY = r"(?:[¥￥$€£]|RMB|CNY|USD|EUR|HKD)"
# Excel's day numbers (1900 date system): 20000 = 1954-10-03, 80000 = 2119-01-10.
_EXCEL_SERIAL = r"\d{5}(?:\.\d+)?"
_SERIAL_RANGE = (20000, 80000)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_FLOAT_ID = r"[+-]?\d+\.0+"
_FORMULA_FIRST = np.zeros(256, bool)
_FORMULA_FIRST[[ord(c) for c in _FORMULA_START]] = True


def _texts(s: pd.Series, missing: frozenset[str] = frozenset()) -> pd.Series:
    """Values as stripped strings (object-free ``str`` dtype); empty and missing tokens -> NA."""
    if not (pd.api.types.is_string_dtype(s) and s.dtype != object):
        s = s.map(_to_text, na_action="ignore").astype("str")
    edges = _edges(s)
    if edges is not None and not edges.strip_candidates().any():
        # nothing to strip (the common case): keep the values, no copy
        bad = edges.present & (edges.length == 0)
        if missing:
            bad |= s.isin(list(missing)).fillna(False).to_numpy(dtype=bool)
        return s.mask(bad) if bad.any() else s
    t = s.str.strip()
    bad = t.eq("")
    if missing:
        bad |= t.isin(list(missing))
    return t.mask(bad.fillna(False))


# Bytes that can start or end a UTF-8 encoded whitespace character (str.strip removes
# them): ASCII tab..CR, FS..US and space; U+0085, U+00A0, U+1680, U+180E, U+2000..U+205F
# and U+3000 start with C2, E1, E2 or E3 and end with one of the continuation bytes below.
_WS_FIRST = np.zeros(256, bool)
_WS_FIRST[[*range(0x09, 0x0E), *range(0x1C, 0x21), 0xC2, 0xE1, 0xE2, 0xE3]] = True
_WS_LAST = np.zeros(256, bool)
_WS_LAST[[*range(0x09, 0x0E), *range(0x1C, 0x21), *range(0x80, 0x8B), 0x8E, 0x9F, 0xA0,
          0xA8, 0xA9, 0xAF]] = True


@dataclass
class _Edges:
    """Per value of an Arrow-backed string column: present, byte length, first and last byte
    (0 when missing or empty), read from the Arrow buffers without making Python strings."""

    present: np.ndarray
    length: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def strip_candidates(self) -> np.ndarray:
        """Values that may start or end with whitespace (a superset; str.strip decides)."""
        some = self.length > 0
        return some & (_WS_FIRST[self.first] | _WS_LAST[self.last])


def _arrow_strings(s: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow string data behind a ``str`` column (no copy), or None for other storage."""
    arr = s.array
    if not hasattr(arr, "__arrow_array__") or getattr(s.dtype, "storage", None) != "pyarrow":
        return None
    data = arr.__arrow_array__()
    if isinstance(data, pa.Array):
        data = pa.chunked_array([data])
    if not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return None
    return data


def _edges(s: pd.Series) -> _Edges | None:
    data = _arrow_strings(s)
    if data is None:
        return None
    n = len(data)
    present = np.zeros(n, bool)
    length = np.zeros(n, np.int64)
    first = np.zeros(n, np.uint8)
    last = np.zeros(n, np.uint8)
    at = 0
    for chunk in data.chunks:
        k = len(chunk)
        if not k:
            continue
        _, off_buf, data_buf = chunk.buffers()
        off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(off_buf, dtype=off_type)[chunk.offset: chunk.offset + k + 1]
        valid = (chunk.is_valid().to_numpy(zero_copy_only=False) if chunk.null_count
                 else np.ones(k, bool))
        lens = np.where(valid, np.diff(offsets), 0)
        present[at: at + k] = valid
        length[at: at + k] = lens
        some = np.flatnonzero(lens > 0)
        if len(some) and data_buf is not None:
            body = np.frombuffer(data_buf, dtype=np.uint8)
            first[at + some] = body[offsets[some]]
            last[at + some] = body[offsets[some + 1] - 1]
        at += k
    return _Edges(present, length, first, last)


def _to_text(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating) and np.isfinite(v) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, pd.Timestamp | dt.datetime):
        return pd.Timestamp(v).isoformat(sep=" ")
    return str(v)


@dataclass
class _Parsed:
    values: pd.Series
    bad: np.ndarray                      # unparseable (non-empty, could not be typed)
    reason: np.ndarray | None = None     # per row: why it is bad (object array, "" when fine)
    nonfinite: np.ndarray | None = None
    converted: int = 0                   # values parsed after cleaning (currency, 年月日, ...)
    converted_example: str = ""
    converted_mask: np.ndarray | None = None  # per row: parsed after cleaning


def _parse_number(s: pd.Series, missing: frozenset[str], whole: bool) -> _Parsed:
    n = len(s)
    reason = np.full(n, "", dtype=object)
    converted, example = 0, ""
    conv_mask = np.zeros(n, bool)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.astype("float64").to_numpy(copy=True)
        nonfinite = np.isinf(v)
        v[nonfinite] = np.nan
        bad = np.zeros(n, bool)
    else:
        t = _texts(s, missing)
        v = pd.to_numeric(t, errors="coerce").astype("float64").to_numpy(copy=True)
        present = t.notna().to_numpy()
        nan_word = t.str.lower().isin(list(_NAN_WORDS)).fillna(False).to_numpy()
        nonfinite = present & (np.isinf(v) | (np.isnan(v) & nan_word))
        v[nonfinite] = np.nan
        failed = present & np.isnan(v) & ~nonfinite
        if failed.any():
            raw = t[failed]
            neg = raw.str.match(r"^\(.*\)$").fillna(False).to_numpy()
            c = raw.str.replace(r"^\(\s*(.*?)\s*\)$", r"\1", regex=True)
            c = c.str.replace(rf"^([+-]?)\s*{_CURRENCY}\s*", r"\1", regex=True)
            c = c.str.replace(rf"\s*(?:{_CURRENCY}|元)$", "", regex=True)
            grouped = c.str.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?").fillna(False)
            c = c.where(~grouped, c.str.replace(",", "", regex=False))
            v2 = pd.to_numeric(c, errors="coerce").astype("float64").to_numpy()
            v2 = np.where(neg, -v2, v2)
            ok = np.isfinite(v2)
            idx = np.flatnonzero(failed)
            v[idx[ok]] = v2[ok]
            conv_mask[idx[ok]] = True
            converted = int(ok.sum())
            if converted:
                example = f"{raw[ok].iloc[0]!r} -> {v2[ok][0]:g}"
            failed = present & np.isnan(v) & ~nonfinite
        bad = failed
        if bad.any():
            vals = t[bad]
            excel = vals.isin(list(_EXCEL_ERRORS)).fillna(False).to_numpy()
            reason[np.flatnonzero(bad)] = np.where(excel, "a spreadsheet error value",
                                                   "not a number")
    if whole:
        frac = np.isfinite(v) & (np.floor(v) != v)
        if frac.any():
            bad = bad | frac
            v[frac] = np.nan
            reason[frac] = "not a whole number"
    return _Parsed(pd.Series(v, index=s.index), bad, reason=reason, nonfinite=nonfinite,
                   converted=converted, converted_example=example, converted_mask=conv_mask)


def _parse_datetime(s: pd.Series, missing: frozenset[str], formats: list[str]) -> _Parsed:
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s
        if getattr(v.dt, "tz", None) is not None:
            v = v.dt.tz_localize(None)
        v = v.astype("datetime64[us]")
        return _Parsed(v, np.zeros(len(s), bool))
    t = _texts(s, missing)
    v = _to_datetime(t, "ISO8601")
    present = t.notna().to_numpy()
    failed = present & v.isna().to_numpy()
    converted, example = 0, ""
    if failed.any():
        rest = t[failed]
        zh = rest.str.replace(r"\s*年\s*", "-", regex=True).str.replace(r"\s*月\s*", "-",
                                                                         regex=True)
        zh = zh.str.replace(r"\s*[日号]\s*", " ", regex=True).str.strip()
        cand = _to_datetime(zh, "ISO8601")
        for fmt in formats:
            todo = cand.isna()
            if not todo.any():
                break
            cand = cand.fillna(_to_datetime(rest[todo], fmt))
        serial = cand.isna() & rest.str.fullmatch(_EXCEL_SERIAL).fillna(False)
        if serial.any():
            days = pd.to_numeric(rest[serial], errors="coerce")
            days = days[(days >= _SERIAL_RANGE[0]) & (days <= _SERIAL_RANGE[1])]
            stamps = (_EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).dt.round("s")
            cand = cand.fillna(stamps.astype("datetime64[us]"))
        ok = cand.notna().to_numpy()
        idx = np.flatnonzero(failed)
        v = v.copy()
        v.iloc[idx[ok]] = cand[ok].to_numpy()
        conv_mask = np.zeros(len(t), bool)
        conv_mask[idx[ok]] = True
        converted = int(ok.sum())
        if converted:
            example = f"{rest[ok].iloc[0]!r} -> {cand[ok].iloc[0]}"
        failed = present & v.isna().to_numpy()
        return _Parsed(v, failed, converted=converted, converted_example=example,
                       converted_mask=conv_mask)
    return _Parsed(v, failed, converted=converted, converted_example=example)


def _to_datetime(t: pd.Series, fmt: str) -> pd.Series:
    try:
        v = pd.to_datetime(t, format=fmt, errors="coerce")
    except (ValueError, TypeError):
        # mixed UTC offsets: read each value's wall-clock time
        v = pd.to_datetime(t.str.replace(r"([+-]\d{2}:?\d{2}|Z)$", "", regex=True),
                           format=fmt, errors="coerce")
    if getattr(v.dt, "tz", None) is not None:
        v = v.dt.tz_localize(None)
    return v.astype("datetime64[us]")


def _parse_month(s: pd.Series, missing: frozenset[str]) -> _Parsed:
    if pd.api.types.is_datetime64_any_dtype(s):
        per = s.dt.strftime("%Y-%m")
        return _Parsed(per.astype("str"), np.zeros(len(s), bool))
    t = _texts(s, missing)
    cand = pd.Series(pd.NaT, index=t.index, dtype="datetime64[us]")
    for fmt in ("%Y-%m", "%Y/%m", "%Y%m", "%Y.%m", "ISO8601"):
        todo = cand.isna() & t.notna()
        if not todo.any():
            break
        cand = cand.fillna(_to_datetime(t[todo], fmt))
    zh_todo = cand.isna() & t.notna()
    if zh_todo.any():
        zh = t[zh_todo].str.replace(r"\s*年\s*", "-", regex=True).str.replace(r"\s*月\s*$", "",
                                                                             regex=True)
        cand = cand.fillna(_to_datetime(zh, "%Y-%m"))
    out = cand.dt.strftime("%Y-%m").astype("str")
    failed = (t.notna() & cand.isna()).to_numpy()
    return _Parsed(out, failed)


def _parse_bool(s: pd.Series, missing: frozenset[str]) -> _Parsed:
    if pd.api.types.is_bool_dtype(s) and not s.isna().any():
        return _Parsed(s.astype("boolean"), np.zeros(len(s), bool))
    t = _texts(s, missing).str.lower()
    is_t = t.isin(list(BOOL_TRUE)).fillna(False)
    is_f = t.isin(list(BOOL_FALSE)).fillna(False)
    v = pd.Series(pd.NA, index=s.index, dtype="boolean")
    v[is_t] = True
    v[is_f] = False
    failed = (t.notna() & ~is_t & ~is_f).to_numpy()
    return _Parsed(v, failed)


def _parse_string(s: pd.Series, missing: frozenset[str], *, strip: bool) -> _Parsed:
    if strip:
        t = _texts(s, missing)
    else:
        if not (pd.api.types.is_string_dtype(s) and s.dtype != object):
            s = s.map(_to_text, na_action="ignore").astype("str")
        t = s.mask(s.str.strip().eq("").fillna(False))
    return _Parsed(t, np.zeros(len(s), bool))


def neutralize_formula(series: pd.Series) -> pd.Series:
    """Make text safe to open in a spreadsheet: prefix formula-like values with ``'``.

    A value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
    formula by Excel/WPS (``=cmd|' /C calc'!A0``); a leading apostrophe makes it plain text.
    Numbers and phone numbers (``-12.5``, ``+86 138 0000 0000``) are left alone. Non-text
    values and missing values are returned unchanged; the input is not modified.

    Parameters
    ----------
    series
        Any column about to be written to a CSV or Excel export.

    Returns
    -------
    pandas.Series
        A new series, same index and name.
    """
    if not (pd.api.types.is_string_dtype(series) or series.dtype == object):
        return series.copy()
    risky = _formula_mask(series)
    if not risky.any():
        return series.copy()
    out = series.astype(object).copy()
    out[risky] = "'" + series[risky].astype(str)
    return out


def _formula_mask(series: pd.Series) -> pd.Series:
    """True where a text value would be read as a spreadsheet formula (numbers excepted)."""
    if pd.api.types.is_string_dtype(series) and series.dtype != object:
        s = series
    else:
        s = series.map(lambda v: v if isinstance(v, str) else None).astype("str")
    edges = _edges(s)
    if edges is not None:  # the first byte decides (the formula characters are ASCII)
        risky = _FORMULA_FIRST[edges.first]
    else:
        risky = s.str.match(r"[=+\-@\t\r]").fillna(False).to_numpy(dtype=bool, copy=True)
    if risky.any():
        pos = np.flatnonzero(risky)
        number = s.iloc[pos].str.fullmatch(_NUMBER_LIKE.pattern).fillna(False)
        risky[pos] = ~number.to_numpy(dtype=bool)
    return pd.Series(risky, index=series.index)


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------


class _Checker:
    """Collects the rules fired on one whole source and applies their actions."""

    def __init__(self, contract: SourceContract, rules: ValidationParams,
                 row_numbers: np.ndarray, files: np.ndarray | None, origin: Any,
                 n_files: int | None = None):
        self.contract = contract
        self.rules = rules
        self.origin = origin
        self.row_numbers = np.asarray(row_numbers, dtype="int64")
        self.n = len(self.row_numbers)
        self.files = (np.asarray(files, dtype=object) if files is not None
                      else np.full(self.n, origin, dtype=object))
        self.multi_file = (n_files if n_files is not None
                           else len(pd.unique(self.files))) > 1
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.quarantined = np.zeros(self.n, bool)
        self.held_out = np.zeros(self.n, bool)
        self.q_parts: list[pd.DataFrame] = []

    # -- row references -------------------------------------------------------------
    def rows_text(self, pos: np.ndarray) -> str:
        k = self.rules.sample_rows
        shown = pos[:k]
        if self.multi_file:
            refs = [f"{_short(self.files[i])}:{self.row_numbers[i]}" for i in shown]
        else:
            refs = [str(self.row_numbers[i]) for i in shown]
        word = "row" if len(pos) == 1 else "rows"
        more = f" (+{len(pos) - len(shown)} more)" if len(pos) > len(shown) else ""
        return f"{word} {', '.join(refs)}{more}"

    def where(self, column: str | None) -> str:
        origin = _short(self.origin)
        col = f", column {column}" if column else ""
        return f"{self.contract.name} ({origin}){col}"

    # -- recording ------------------------------------------------------------------
    def fire(self, rule: str, column: str | None, mask: np.ndarray, *, values: Any,
             details: Any = None, action: str | None = None,
             what: str | None = None, hint: str | None = None) -> tuple[str, np.ndarray]:
        """Record rule ``rule`` for the rows in ``mask``; return (action, positions)."""
        pos = np.flatnonzero(mask)
        if not len(pos):
            return "", pos
        action = action or self.rules.action(rule)
        what = what or RULES[rule].what
        examples, vals, dets = _fire_data(self.contract, self.rules, column, pos, values,
                                          details, action, what)
        self.record(rule, column, pos, action=action, what=what, hint=hint,
                    examples=examples, values=vals, details=dets)
        return action, pos

    def record(self, rule: str, column: str | None, pos: np.ndarray, *, action: str, what: str,
               hint: str | None, examples: list | None, values: list | None,
               details: list | None) -> None:
        """Record a fired rule from its positions and the per-row texts of
        :func:`_fire_data`: the issue, and the quarantine lines of quarantine/error."""
        info = RULES[rule]
        hint = (hint or info.hint).replace("<source>", self.contract.name).replace(
            "<column>", column or "")
        shown = ""
        if examples is not None:  # messages reach notebooks: no PII examples
            ex = pd.unique(np.asarray(examples[: self.rules.sample_rows], dtype=object))[:3]
            shown = f"; e.g. {', '.join(repr(_clip(e)) for e in ex)}"
        done = {
            "error": "Stops the run.",
            "quarantine": "Rows moved to quarantine.",
            "blank": "Rows kept, value blanked.",
            "warn": "Rows kept as they are.",
            "truncate": f"Rows kept, text cut to {self.rules.max_text_length} characters.",
        }[action]
        message = (f"{self.where(column)}: {what}: {self.rows_text(pos)} "
                   f"({len(pos)} in all{shown}). {done}")
        self.issues.append(Issue(
            source=self.contract.name, rule=rule, column=column,
            rows=tuple(int(self.row_numbers[i]) for i in pos[: self.rules.sample_rows]),
            count=len(pos), message=message, hint=hint, action=action,
            file=_files_text(self.files[pos]),
        ))
        if action in ("quarantine", "error"):
            val = (np.asarray(values, dtype=object) if values is not None
                   else np.full(len(pos), None, dtype=object))
            self.q_parts.append(pd.DataFrame({
                "pos": pos, "rule": rule, "column": column, "value": val,
                "detail": np.asarray(details, dtype=object),
            }))
            if action == "quarantine":
                if rule == "future_date":
                    self.held_out[pos] = True
                else:
                    self.quarantined[pos] = True

    def note(self, rule: str, column: str | None, count: int, message: str,
             pos: np.ndarray | None = None) -> None:
        if count <= 0:
            return
        rows = () if pos is None else tuple(int(self.row_numbers[i])
                                            for i in pos[: self.rules.sample_rows])
        where = self.contract.name if rule == "reader" else self.where(column)
        self.notes.append(Issue(self.contract.name, rule, column, rows, count,
                                f"{where}: {message}", "", "info", _short(self.origin)))

    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.action == "error"]


def _fire_data(contract: SourceContract, rules: ValidationParams, column: str | None,
               pos: np.ndarray, values: Any, details: Any, action: str,
               what: str) -> tuple[list | None, list | None, list | None]:
    """The per-row texts a fired rule needs: examples (the first ``sample_rows`` values as
    text; None without values or for PII), and for quarantine/error the quarantine value and
    detail of every row."""
    examples = None
    pii = column in contract.names and contract.column(column).pii
    if values is not None and not pii:
        examples = list(values.iloc[pos[: rules.sample_rows]].astype(str))
    if action not in ("quarantine", "error"):
        return examples, None, None
    if callable(details):
        det = np.asarray(details(pos), dtype=object)
    elif isinstance(details, pd.Series):
        det = details.iloc[pos].astype(str).to_numpy()
    else:
        det = np.full(len(pos), details or what, dtype=object)
    val = (values.iloc[pos].map(_to_text, na_action="ignore").astype(object)
           .where(values.iloc[pos].notna(), None).to_numpy()
           if values is not None else None)
    return examples, (None if val is None else list(val)), list(det)


# The version of the row-local checks: results kept from an earlier version are not reused.
ROW_CHECKS_VERSION = "1"


@dataclass
class RowEvent:
    """One step of the row-local checks of a part, replayed in order on the whole source.

    ``kind`` is ``fire`` (a rule's rows: ``pos`` within the part, with the texts of
    :func:`_fire_data`), ``note`` (``what`` is the message with ``{count}``, ``{extra}`` and
    ``{example}`` filled from the sum of the parts' counts and the first part's example),
    ``future`` (the as-of check of date column ``column``, made on the whole source) or
    ``bad_required`` (rows whose required value is empty join the quarantine).
    """

    kind: str
    rule: str = ""
    column: str | None = None
    action: str = ""
    what: str = ""
    hint: str | None = None
    pos: np.ndarray | None = None
    examples: list | None = None
    values: list | None = None
    details: list | None = None
    count: int = 0
    extra: int = 0
    example: str = ""

    def signature(self) -> tuple:
        return (self.kind, self.rule, self.column, self.action, self.hint,
                self.pos is None)


@dataclass
class RowChecks:
    """The row-local checks of one part of a source (one file, or the whole frame).

    ``typed`` holds every canonical column of the part, typed, with the row-local actions
    applied (blanked values, cut texts, defaults); ``events`` what fired, in order. The
    result depends only on the part's values, the source and the ``validation`` params, so
    a part's checks can be kept and reused while its file does not change.
    """

    source: str
    present: tuple[str, ...]
    typed: pd.DataFrame
    events: list[RowEvent]

    @property
    def n(self) -> int:
        return len(self.typed)


class _Recorder:
    """The row-local phase's stand-in for :class:`_Checker`: records events, no messages."""

    def __init__(self, contract: SourceContract, rules: ValidationParams, n: int):
        self.contract = contract
        self.rules = rules
        self.n = n
        self.events: list[RowEvent] = []

    def fire(self, rule: str, column: str | None, mask: np.ndarray, *, values: Any,
             details: Any = None, action: str | None = None,
             what: str | None = None, hint: str | None = None) -> tuple[str, np.ndarray]:
        pos = np.flatnonzero(mask)
        action = action or self.rules.action(rule)
        what = what or RULES[rule].what
        ev = RowEvent("fire", rule, column, action, what, hint, pos)
        if len(pos):
            ev.examples, ev.values, ev.details = _fire_data(
                self.contract, self.rules, column, pos, values, details, action, what)
        self.events.append(ev)
        return (action if len(pos) else ""), pos

    def note(self, rule: str, column: str | None, count: int, message: str,
             pos: np.ndarray | None = None, *, extra: int = 0, example: str = "") -> None:
        self.events.append(RowEvent("note", rule, column, what=message, pos=pos,
                                    count=int(count), extra=int(extra), example=example))

    def mark(self, kind: str, column: str | None = None) -> None:
        self.events.append(RowEvent(kind, column=column))


class RawRows:
    """Raw values of a source by row position, for quarantine values and records.

    From a frame in memory, or from parts (``(rows, load)`` pairs; ``load()`` returns the
    part's raw frame) read only when a rule needs their rows.
    """

    def __init__(self, frame: pd.DataFrame | None = None,
                 parts: list[tuple[int, Any]] | None = None):
        self.frame = frame
        self.parts = parts or []
        self.starts = np.cumsum([0, *(n for n, _ in self.parts)])
        self._loaded: dict[int, pd.DataFrame] = {}

    def _part(self, i: int) -> pd.DataFrame:
        if i not in self._loaded:
            n, load = self.parts[i]
            frame = load().reset_index(drop=True)
            if len(frame) != n:
                raise ContractError(f"a source file changed while it was read ({n} rows "
                                    f"before, {len(frame)} now); run the stage again.")
            self._loaded[i] = frame
        return self._loaded[i]

    def take(self, pos: np.ndarray) -> pd.DataFrame:
        """The raw rows at ``pos`` (ascending positions), index ``pos``."""
        pos = np.asarray(pos, dtype="int64")
        if self.frame is not None:
            return self.frame.iloc[pos]
        which = np.searchsorted(self.starts, pos, side="right") - 1
        pieces = []
        for i in pd.unique(which):
            at = pos[which == i]
            pieces.append(self._part(int(i)).iloc[at - self.starts[i]])
        out = pieces[0] if len(pieces) == 1 else pd.concat(pieces)
        out.index = pos
        return out

    def column(self, name: str) -> Any:
        if self.frame is not None:
            return self.frame[name]
        return _LazyColumn(self, name)

    def release(self) -> None:
        self._loaded.clear()


class _LazyColumn:
    """``column.iloc[pos]`` of a :class:`RawRows` column read on demand."""

    def __init__(self, rows: RawRows, name: str):
        self.rows = rows
        self.name = name

    @property
    def iloc(self) -> _LazyColumn:
        return self

    def __getitem__(self, pos: np.ndarray) -> pd.Series:
        return self.rows.take(np.asarray(pos))[self.name]


def _clip(v: Any, n: int = 40) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _short(path: Any) -> str:
    return str(path)


def _files_text(files: np.ndarray) -> str:
    names = list(dict.fromkeys(str(f) for f in files))
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")


def _empty_typed(col: Column, n: int, index: pd.Index) -> pd.Series:
    if col.type in ("date", "timestamp"):
        return pd.Series(pd.NaT, index=index, dtype="datetime64[us]")
    if col.type == "float":
        return pd.Series(np.nan, index=index, dtype="float64")
    if col.type == "int":
        return pd.Series(pd.NA, index=index, dtype="Int64")
    if col.type == "bool":
        return pd.Series(False, index=index, dtype="bool")
    return pd.Series(np.nan, index=index, dtype="str")


def validate(raw: RawSource, *, as_of: pd.Timestamp | str, rules: ValidationParams | None = None,
             known_customers: pd.Series | None = None,
             campaign_months: Any = None) -> Validated:
    """Check one source against the contract, type its columns, and split clean from held-out rows.

    Parameters
    ----------
    raw
        A source as read by :func:`winback.sources.read_source` (canonical column names,
        values as read, ``row_numbers`` of each row in its file).
    as_of
        The run month's end (``winback.settings.month_end(month)``): rows dated after that
        day are held out (rule ``future_date``), ``campaign_month`` after that month too.
    rules
        The ``validation`` params (actions per rule, ``min_date``, ``max_text_length``, ...);
        defaults when not given.
    known_customers
        Customer ids of the clean customers source; when given, rows of other sources with
        other customer ids fire ``unknown_customer``.
    campaign_months
        The months the engagement's ``campaign_log`` holds (``YYYY-MM``); when given,
        ``contact_outcomes`` rows of any other ``campaign_month`` fire
        ``unknown_campaign_month`` (outcomes of a campaign the kit never ran).

    Returns
    -------
    Validated
        ``clean`` (typed: ids and categories ``str``, dates ``datetime64[us]``, amounts
        ``float64``, counts ``Int64``, flags ``bool``), ``quarantine`` (one line per row and
        rule: source, file, row, rule, column, value, detail, record as JSON), ``issues``,
        ``notes`` (values parsed after cleaning, defaults filled) and ``counts``.

    Raises
    ------
    ContractError
        When a required column is missing, or any rule whose action is ``error`` fires; the
        message lists every such issue with file, column, rows and the fix.

    Notes
    -----
    Two phases: :func:`check_rows` (typing and the rules of single rows, per part) and
    :func:`finish_validation` (the as-of date, the other sources and duplicate keys, on the
    whole source). A source read file by file gives the same result from its files'
    :class:`RowChecks` as from the whole frame.
    """
    rules = rules or ValidationParams()
    if raw.name not in CONTRACT:
        raise ContractError(f"Unknown source {raw.name!r}; sources: {', '.join(CONTRACT)}.")
    frame = raw.frame.reset_index(drop=True)
    _require_columns(CONTRACT[raw.name], frame.columns, raw.origin)
    part = check_rows(raw.name, frame, rules=rules)
    return finish_validation(raw, [part], RawRows(frame), as_of=as_of, rules=rules,
                             known_customers=known_customers, campaign_months=campaign_months)


def _require_columns(contract: SourceContract, columns: Any, origin: Any) -> None:
    absent = [c for c in contract.required if c not in columns]
    if not absent:
        return
    where = f"{contract.name} ({_short(origin)})"
    errors = [Issue(
        contract.name, "missing_required_column", col, (), 0,
        f"{where}, column {col}: required column {col!r} is missing; columns found: "
        f"{', '.join(map(str, columns)) or 'none'}.",
        RULES["missing_required_column"].hint.replace("<source>", contract.name),
        "error", _short(origin)) for col in absent]
    raise ContractError(_error_text(contract.name, origin, errors), errors)


def check_rows(name: str, frame: pd.DataFrame, *, rules: ValidationParams) -> RowChecks:
    """The row-local phase of :func:`validate` on one part of source ``name``.

    Types every column and applies the rules that look at one row at a time (unparseable
    values, ranges, categories, text length, formulas, empty required values, defaults);
    what fired is recorded as :class:`RowEvent` objects, turned into issues, notes and
    quarantine lines by :func:`finish_validation`. ``frame`` has the source's canonical
    columns as read (every required one) and a ``RangeIndex``.
    """
    contract = CONTRACT[name]
    frame = frame.reset_index(drop=True)
    chk = _Recorder(contract, rules, len(frame))
    missing_tokens = frozenset(rules.missing_values)
    present = [c for c in contract.names if c in frame.columns]
    typed: dict[str, pd.Series] = {}
    flagged: dict[str, np.ndarray] = {}       # per column: rows already reported
    min_date = pd.Timestamp(rules.min_date)

    def act_on_value(rule: str, col: Column, mask: np.ndarray, values: pd.Series,
                     details: Any = None, what: str | None = None) -> None:
        action = rules.action(rule)
        if action == "blank" and col.required:
            action = "quarantine"
            what = (what or RULES[rule].what) + " in a required column"
        action, pos = chk.fire(rule, col.name, mask, values=values, details=details,
                               action=action, what=what)
        if not len(pos):
            return
        flagged[col.name] = flagged.get(col.name, np.zeros(chk.n, bool)) | mask
        if action == "blank":
            typed[col.name] = _blank(typed[col.name], pos)

    for name_ in present:
        col = contract.column(name_)
        src = frame[name_]
        if col.type in ("date", "timestamp"):
            p = _parse_datetime(src, missing_tokens, rules.date_formats)
            typed[name_] = p.values
            act_on_value("unparseable_date", col, p.bad, src,
                         _details(src, "not a date"))
            chk.note("parsed_date", name_, p.converted,
                     "{count} dates in other formats (validation.date_formats, "
                     "2024年6月1日, Excel day numbers) were parsed "
                     "(e.g. {example}).",
                     np.flatnonzero(p.converted_mask) if p.converted_mask is not None
                     else np.zeros(0, np.int64), example=p.converted_example)
            v = typed[name_]
            if col.type == "date":
                timed = (v.notna() & (v != v.dt.normalize())).to_numpy()
                if timed.any():
                    typed[name_] = v.dt.normalize()
                chk.note("date_time_dropped", name_, int(timed.sum()),
                         "{count} dates carried a time of day; the date is kept.",
                         np.flatnonzero(timed))
            v = typed[name_]
            early = (v < min_date).fillna(False).to_numpy()
            act_on_value("too_early", col, early, src,
                         what=f"dated before {rules.min_date:%Y-%m-%d} (validation.min_date)")
            chk.mark("future", name_)
        elif col.type == "month":
            p = _parse_month(src, missing_tokens)
            typed[name_] = p.values
            act_on_value("unparseable_date", col, p.bad, src, what="not a month (YYYY-MM)")
            chk.mark("future", name_)
        elif col.type in ("float", "int"):
            p = _parse_number(src, missing_tokens, whole=col.type == "int")
            typed[name_] = p.values
            det = _details(src, p.reason)
            act_on_value("unparseable_number", col, p.bad, src, det)
            act_on_value("non_finite", col, p.nonfinite, src)
            fmt_action = rules.action("formatted_number")
            act_on_value("formatted_number", col, p.converted_mask, src,
                         _details(src, "a formatted number"),
                         what=(f"{RULES['formatted_number'].what} (read as the number shown, "
                               f"e.g. {p.converted_example})" if fmt_action == "warn" else None))
            chk.note("parsed_number", name_, p.converted if fmt_action == "warn" else 0,
                     "{count} values with currency symbols, thousands separators "
                     "or parentheses were parsed as numbers (e.g. {example}).",
                     example=p.converted_example)
            if col.type == "int":
                typed[name_] = _to_int(typed[name_])
            if name_ in rules.ranges:
                lo, hi = rules.ranges[name_]
                x = typed[name_].astype("float64")
                out = ((x < lo) | (x > hi)).fillna(False).to_numpy()
                act_on_value("out_of_range", col, out, src,
                             what=f"outside {lo:g}..{hi:g} (validation.ranges.{name_})")
        elif col.type == "bool":
            p = _parse_bool(src, missing_tokens)
            typed[name_] = p.values
            act_on_value("unparseable_bool", col, p.bad, src)
        else:  # id, category, text
            p = _parse_string(src, missing_tokens if col.type == "category" else frozenset(),
                              strip=col.type != "text")
            typed[name_] = p.values
            if col.type == "id":
                floaty = _float_ids(typed[name_])
                example = ""
                if floaty.any():
                    ids = typed[name_]
                    before = ids[floaty].iloc[0]
                    typed[name_] = ids.where(~floaty, ids.str.replace(r"\.0+$", "", regex=True))
                    example = f"{before!r} -> {typed[name_][floaty].iloc[0]!r}"
                chk.note("id_decimal_suffix", name_, int(floaty.sum()),
                         "{count} ids written as decimals were read as whole "
                         "numbers (e.g. {example}); "
                         "the extract passed the ids through a number column.",
                         np.flatnonzero(floaty), example=example)
            if col.allowed is not None:
                _check_category(chk, col, typed, act_on_value, src)
            if col.type == "text":
                lengths = typed[name_].str.len()
                mask = (lengths > rules.max_text_length).fillna(False).to_numpy()
                action, pos = chk.fire("text_too_long", name_, mask,
                                       values=(lengths.astype("Int64").astype(str)
                                               + " characters") if mask.any() else None)
                if action == "truncate":
                    typed[name_] = typed[name_].str.slice(0, rules.max_text_length)
            risky = _formula_mask(typed[name_]).to_numpy()
            chk.fire("formula_injection", name_, risky, values=src)

    # required values that are empty (and not already reported as unparseable etc.)
    for name_ in contract.required:
        empty = typed[name_].isna().to_numpy() & ~flagged.get(name_, np.zeros(chk.n, bool))
        chk.fire("missing_value", name_, empty, values=None,
                 what="empty in a required column")
    chk.mark("bad_required")

    # bool defaults
    for name_ in present:
        col = contract.column(name_)
        if col.type != "bool" or col.required:
            continue
        v = typed[name_]
        if name_ == "is_return" and "amount" in typed:
            fill = v.isna() & typed["amount"].notna()
            neg = (typed["amount"] < 0).fillna(False)
            typed[name_] = v.fillna(neg).fillna(False).astype(bool)
            chk.note("default_filled", name_, int(fill.sum()),
                     "{count} empty is_return values were filled from the amount's "
                     "sign ({extra} negative -> return).",
                     np.flatnonzero(fill.to_numpy()), extra=int((fill & neg).sum()))
        else:
            nmiss = int(v.isna().sum())
            typed[name_] = v.fillna(False).astype(bool)
            chk.note("default_filled", name_, nmiss,
                     f"{{count}} empty {name_} values were taken as false.",
                     np.flatnonzero(v.isna().to_numpy()))

    for col in contract.columns:
        if col.name not in typed:
            typed[col.name] = _empty_typed(col, chk.n, frame.index)
    if contract.name == "transactions" and "is_return" not in present:
        neg = (typed["amount"] < 0).fillna(False)
        typed["is_return"] = neg.astype(bool)
        chk.note("default_filled", "is_return", int(neg.sum()),
                 "is_return was not delivered: {count} rows with a negative amount "
                 "are taken as returns (negative amount = refund).")
    for col in contract.columns:
        if col.type == "bool" and col.name not in present and col.name != "is_return":
            chk.note("default_filled", col.name, chk.n,
                     f"{col.name} was not delivered: taken as false for every row.")
    typed_frame = pd.DataFrame({c.name: typed[c.name] for c in contract.columns})
    return RowChecks(contract.name, tuple(present), typed_frame, chk.events)


def _fill(template: str, count: int, extra: int, example: str) -> str:
    return (template.replace("{count}", str(count)).replace("{extra}", str(extra))
            .replace("{example}", example))


def finish_validation(raw: RawSource, parts: list[RowChecks], rows: RawRows, *,
                      as_of: pd.Timestamp | str, rules: ValidationParams | None = None,
                      known_customers: pd.Series | None = None,
                      campaign_months: Any = None,
                      keep_out: list[np.ndarray] | None = None,
                      part_files: tuple[str, ...] | None = None,
                      consume: bool = False) -> Validated:
    """The source-level phase of :func:`validate`, from the :class:`RowChecks` of its parts.

    ``raw`` gives the source's origin, row numbers and files and the reader's notes (its
    ``frame`` may hold no rows: only its columns are read); ``parts`` cover its rows in
    order; ``rows`` reads the raw values of the rows a rule moves to quarantine. Replays
    the parts' events as issues and notes on the whole source, then applies the rules that
    look across rows or at the run month: ``future_date``, the return-sign rules,
    ``unknown_customer``, ``unknown_campaign_month`` and duplicate keys. Arguments and
    result as :func:`validate`; ``keep_out``, when given, receives the positions of the
    clean rows; ``part_files`` (the file of each part, when known) spares counting the
    files row by row; ``consume`` True lets the parts go once their typed columns are
    joined (the list ``parts`` is emptied), so a large source is not held twice.
    """
    rules = rules or ValidationParams()
    contract = CONTRACT[raw.name]
    as_of = pd.Timestamp(as_of)
    chk = _Checker(contract, rules, raw.row_numbers, getattr(raw, "row_files", None),
                   raw.origin, len(set(part_files)) if part_files else None)
    columns = list(raw.frame.columns)
    _require_columns(contract, columns, raw.origin)
    present = [c for c in contract.names if c in columns]
    if sum(p.n for p in parts) != chk.n or any(p.present != tuple(present) for p in parts):
        raise ValueError(f"{contract.name}: the checked parts do not match the source "
                         f"({sum(p.n for p in parts)} rows, {chk.n} row numbers)")
    for text in getattr(raw, "notes", ()) or ():
        chk.note("reader", None, 1, text)
    unmapped = tuple(getattr(raw, "unmapped_columns", ()) or ())
    if unmapped:
        chk.note("unmapped_columns", None, len(unmapped),
                 f"client columns not mapped onto the contract were left out: "
                 f"{', '.join(unmapped)}.")
    extra = [str(c) for c in columns if c not in contract.names]
    if extra:
        chk.note("extra_columns", None, len(extra),
                 f"columns not in the contract were left out: {', '.join(extra)}.")

    if len(parts) == 1:
        typed_frame = parts[0].typed.reset_index(drop=True)
    else:
        typed_frame = pd.concat([p.typed for p in parts], ignore_index=True)
    typed: dict[str, pd.Series] = {c: typed_frame[c] for c in typed_frame.columns}
    del typed_frame
    starts = np.cumsum([0, *(p.n for p in parts)])
    sequences = [p.events for p in parts]
    if consume:
        parts.clear()
    if len({len(s) for s in sequences}) != 1 or any(
            a.signature() != b.signature() for s in sequences[1:]
            for a, b in zip(sequences[0], s, strict=True)):
        raise ValueError(f"{contract.name}: the parts were checked with different rules")
    day_after = as_of.normalize() + pd.Timedelta(days=1)
    for events in zip(*sequences, strict=True):
        head = events[0]
        if head.kind == "fire":
            hit = [(e, s) for e, s in zip(events, starts, strict=False) if len(e.pos)]
            if not hit:
                continue
            pos = np.concatenate([e.pos + s for e, s in hit])
            first = hit[0][0]
            examples = (None if first.examples is None
                        else [x for e, _ in hit for x in (e.examples or [])])
            values = (None if first.values is None
                      else [x for e, _ in hit for x in e.values])
            details = (None if first.details is None
                       else [x for e, _ in hit for x in e.details])
            chk.record(head.rule, head.column, pos, action=head.action, what=first.what,
                       hint=head.hint, examples=examples, values=values, details=details)
        elif head.kind == "note":
            count = sum(e.count for e in events)
            if count <= 0:
                continue
            example = next((e.example for e in events if e.count > 0), "")
            pos = (None if head.pos is None else
                   np.concatenate([e.pos + s for e, s in zip(events, starts, strict=False)]))
            chk.note(head.rule, head.column, count,
                     _fill(head.what, count, sum(e.extra for e in events), example), pos)
        elif head.kind == "future":
            name_ = head.column
            v = typed[name_]
            if contract.column(name_).type == "month":
                month = as_of.strftime("%Y-%m")
                future = (v > month).fillna(False).to_numpy()
                what = f"a campaign month after the run month {month}"
            else:
                future = (v >= day_after).fillna(False).to_numpy()
                what = f"dated after the run month's end {as_of:%Y-%m-%d}"
            if future.any():
                chk.fire("future_date", name_, future, values=rows.column(name_), what=what)
        elif head.kind == "bad_required":
            bad_required = np.zeros(chk.n, bool)
            for name_ in contract.required:
                bad_required |= typed[name_].isna().to_numpy()
            chk.quarantined |= bad_required & ~chk.held_out

    # ---- row rules, on the rows still in -------------------------------------------------
    alive = ~(chk.quarantined | chk.held_out)
    if contract.name == "transactions":
        amount = typed["amount"].to_numpy()
        ret = typed["is_return"].to_numpy()
        neg = alive & (amount < 0) & ~ret & ("is_return" in present)
        chk.fire("negative_amount_not_return", "amount", neg, values=rows.column("amount"),
                 details="negative amount with is_return false")
        pos_ret = alive & (amount > 0) & ret
        action, pos = chk.fire("return_sign", "amount", pos_ret, values=rows.column("amount"),
                               details="is_return true with a positive amount")
        if action == "warn" and rules.positive_returns == "negate" and len(pos):
            a = typed["amount"].to_numpy(copy=True)
            a[pos] = -a[pos]
            typed["amount"] = pd.Series(a, index=typed["amount"].index)
            chk.note("return_negated", "amount", len(pos),
                     f"{len(pos)} positive return amounts were made negative "
                     "(validation.positive_returns: negate).", pos)
        kept = alive & (amount < 0) & ret
        chk.note("returns_kept", "amount", int(kept.sum()),
                 f"{int(kept.sum())} returns (negative amount, is_return true) are kept.")
        alive = ~(chk.quarantined | chk.held_out)

    if known_customers is not None and contract.name != "customers" and "customer_id" in typed:
        ids = typed["customer_id"]
        found = _isin_strings(ids, pd.Series(known_customers).dropna().astype(str))
        unknown = alive & ~found & ids.notna().to_numpy()
        chk.fire("unknown_customer", "customer_id", unknown, values=ids)
        alive = ~(chk.quarantined | chk.held_out)

    if campaign_months is not None and "campaign_month" in typed:
        logged = sorted({str(m) for m in campaign_months})
        cm = typed["campaign_month"]
        never = (alive & ~cm.isin(logged).fillna(False).to_numpy()
                 & cm.notna().to_numpy())
        if never.any():
            months = sorted(cm[never].unique().tolist())
            chk.fire("unknown_campaign_month", "campaign_month", never, values=cm,
                     details=cm.map(lambda m: f"no campaign_log rows for {m}"),
                     what=(f"outcomes of campaign {'month' if len(months) == 1 else 'months'} "
                           f"{', '.join(months)}, which the engagement never ran (campaign_log "
                           f"holds {', '.join(logged) if logged else 'no month yet'})"))
            alive = ~(chk.quarantined | chk.held_out)

    if contract.key:
        _check_duplicates(chk, contract, typed, present, alive)

    errors = chk.errors()
    if errors:
        raise ContractError(_error_text(contract.name, raw.origin, errors), errors)

    removed = chk.quarantined | chk.held_out
    keep = np.flatnonzero(~removed)
    if keep_out is not None:
        keep_out.append(keep)
    if removed.any():  # column by column: each typed column goes once its rows are taken
        clean = pd.DataFrame({c.name: typed.pop(c.name).iloc[keep].reset_index(drop=True)
                              for c in contract.columns})
    else:
        clean = pd.DataFrame({c.name: typed[c.name] for c in contract.columns})
    del typed
    clean = clean.reset_index(drop=True)
    quarantine = _quarantine_frame(chk, rows)
    rows.release()
    counts = {
        "rows_read": chk.n,
        "rows_clean": len(clean),
        "rows_quarantined": int((chk.quarantined & ~chk.held_out).sum()),
        "rows_held_out": int(chk.held_out.sum()),
        "blank_rows_skipped": int(getattr(raw, "blank_rows", 0) or 0),
    }
    meta = {k: getattr(raw, k, None) for k in ("encoding", "delimiter", "unmapped_columns",
                                                "label", "warnings")}
    return Validated(
        source=contract.name, origin=str(raw.origin), clean=clean, quarantine=quarantine,
        issues=chk.issues, notes=chk.notes, counts=counts, present_columns=tuple(present),
        clean_rows=chk.row_numbers[keep], meta=meta,
    )


def _as_arrow(s: pd.Series) -> pa.ChunkedArray:
    """A string column as Arrow strings (no copy when it is Arrow-backed already)."""
    data = _arrow_strings(s)
    if data is None:
        data = pa.chunked_array([pa.array(s.astype("str").to_numpy(dtype=object, na_value=None),
                                          type=pa.large_string())])
    return data


def _isin_strings(values: pd.Series, known: pd.Series) -> np.ndarray:
    """``values.isin(known)`` for string columns (missing values: False), hashed by Arrow."""
    vals = _as_arrow(values)
    ref = pc.unique(_as_arrow(known).cast(vals.type).combine_chunks())
    return pc.fill_null(pc.is_in(vals, value_set=ref), False).to_numpy(zero_copy_only=False)


def _blank(s: pd.Series, pos: np.ndarray) -> pd.Series:
    out = s.copy()
    out.iloc[pos] = None
    return out


def _to_int(v: pd.Series) -> pd.Series:
    x = v.to_numpy(dtype="float64")
    out = pd.array(np.where(np.isfinite(x), x, 0).astype("int64"), dtype="Int64")
    out[~np.isfinite(x)] = pd.NA
    return pd.Series(out, index=v.index)


def _details(src: pd.Series, reason: np.ndarray | str):
    """Quarantine detail of the rows at given positions: the value and why it was rejected
    (computed only for the rows that fired); ``reason`` per row, or one for every row."""

    def detail(pos: np.ndarray) -> list[str]:
        values = src.iloc[pos].tolist()
        why = [reason] * len(pos) if isinstance(reason, str) else reason[pos]
        return [f"{_clip(_to_text(v))!r} is {r}" for v, r in zip(values, why, strict=True)]

    return detail


def _float_ids(ids: pd.Series) -> np.ndarray:
    """Ids written as decimals (``123.0``): only values ending in 0 can match, the rest
    are skipped without a regular expression."""
    edges = _edges(ids)
    if edges is None:
        return ids.str.fullmatch(_FLOAT_ID).fillna(False).to_numpy()
    out = np.zeros(len(ids), bool)
    cand = np.flatnonzero(edges.last == ord("0"))
    if len(cand):
        out[cand] = ids.iloc[cand].str.fullmatch(_FLOAT_ID).fillna(False).to_numpy()
    return out


def _check_category(chk: _Recorder, col: Column, typed: dict[str, pd.Series], act, src) -> None:
    v = typed[col.name]
    allowed = sorted(col.allowed or ())
    lower = v.str.lower()
    exact = v.isin(allowed).fillna(False)
    folded = (~exact & lower.isin(allowed)).fillna(False)
    if folded.any():
        typed[col.name] = v.where(~folded, lower)
        v = typed[col.name]
    chk.note("case_folded", col.name, int(folded.sum()),
             "{count} values differed from an allowed value only in case "
             "and were lower-cased.", np.flatnonzero(folded.to_numpy()))
    bad = (v.notna() & ~v.isin(allowed)).fillna(False).to_numpy()
    act("bad_category", col, bad, src, details=f"allowed: {', '.join(allowed)}",
        what=f"not one of {', '.join(allowed)}")


def _check_duplicates(chk: _Checker, contract: SourceContract, typed: dict[str, pd.Series],
                      present: list[str], alive: np.ndarray) -> None:
    pos_alive = np.flatnonzero(alive)
    if len(pos_alive) < 2:
        return
    key = list(contract.key)
    dup_pos = _repeated_keys(typed, key, pos_alive)
    if not len(dup_pos):
        return
    cand = pd.DataFrame({c: typed[c].iloc[dup_pos] for c in present})
    exact_extra = cand.duplicated(keep="first").to_numpy()
    key_text = " / ".join(key)
    if exact_extra.any():
        # row number of the kept copy of each exact duplicate
        first_pos = pd.Series(cand.index.to_numpy(), index=cand.index).groupby(
            [cand[c] for c in cand.columns], dropna=False, sort=False).transform("first")
        mask = np.zeros(chk.n, bool)
        extra_pos = cand.index.to_numpy()[exact_extra]
        mask[extra_pos] = True
        detail = pd.Series("", index=range(chk.n), dtype=object)
        kept = first_pos.to_numpy()[exact_extra]
        detail.iloc[extra_pos] = [f"exact copy of row {chk.row_numbers[k]}" for k in kept]
        chk.fire("duplicate_key", key_text, mask, values=_key_values(typed, key),
                 details=detail, what=f"exact copies of an earlier row (same {key_text})")
    rest = cand[~exact_extra]
    conflict = rest.duplicated(subset=key, keep=False).to_numpy()
    if conflict.any():
        grp = rest[conflict]
        by_key = grp.groupby(key, dropna=False, sort=False)
        gid = by_key.ngroup().to_numpy()
        others = [c for c in grp.columns if c not in key]
        differ = by_key[others].nunique(dropna=False).to_numpy() > 1
        k = chk.rules.sample_rows
        members = pd.Series(chk.row_numbers[grp.index.to_numpy()]).groupby(gid).agg(
            lambda r: ", ".join(map(str, list(r)[:k])) + (" ..." if len(r) > k else ""))
        texts = [
            f"rows {members.iloc[g]} share this {key_text} but differ in "
            f"{', '.join(c for c, d in zip(others, differ[g], strict=True) if d)}"
            for g in range(len(members))
        ]
        detail = pd.Series("", index=range(chk.n), dtype=object)
        detail.iloc[grp.index.to_numpy()] = np.asarray(texts, dtype=object)[gid]
        mask = np.zeros(chk.n, bool)
        mask[grp.index.to_numpy()] = True
        n_keys = len(members)
        cols_all = [c for j, c in enumerate(others) if differ[:, j].any()]
        chk.fire("conflicting_duplicate", key_text, mask, values=_key_values(typed, key),
                 details=detail,
                 what=f"{n_keys} {key_text} {'value appears' if n_keys == 1 else 'values appear'}"
                      f" more than once with different {', '.join(cols_all)}")


def _repeated_keys(typed: dict[str, pd.Series], key: list[str],
                   pos_alive: np.ndarray) -> np.ndarray:
    """Positions (among ``pos_alive``) whose key occurs more than once there.

    A one-column string key is counted by Arrow (hashing, no Python strings); other keys
    use ``DataFrame.duplicated``.
    """
    col = typed[key[0]]
    if len(key) == 1 and _arrow_strings(col) is not None:
        every = len(pos_alive) == len(col)
        vals = _as_arrow(col if every else col.iloc[pos_alive])
        words = _packed_words(vals)
        if words is not None:  # short codes: compare them as integers
            hi, lo, size = words
            mixed = hi ^ (lo * np.uint64(0x9E3779B97F4A7C15)) ^ size.astype(np.uint64)
            maybe = _repeated_values(mixed)
            if not len(maybe):
                return np.zeros(0, np.int64)
            exact = pd.DataFrame({"hi": hi[maybe], "lo": lo[maybe], "size": size[maybe]}
                                 ).duplicated(keep=False)
            return pos_alive[maybe[exact.to_numpy()]]
        counts = pc.value_counts(vals)
        repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        if not len(repeated):
            return np.zeros(0, np.int64)
        hit = pc.is_in(vals, value_set=repeated, skip_nulls=False)
        return pos_alive[pc.fill_null(hit, False).to_numpy(zero_copy_only=False)]
    sub = pd.DataFrame({c: typed[c] for c in key}).iloc[pos_alive]
    return pos_alive[sub.duplicated(keep=False).to_numpy()]


def _repeated_values(values: np.ndarray) -> np.ndarray:
    """Positions of the values that occur more than once (``duplicated(keep=False)``):
    sorting finds the repeated values (several times faster than hashing millions of
    them), a hash lookup of those few finds their rows."""
    ordered = np.sort(values)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros(0, np.int64)
    repeated = np.unique(ordered[1:][same])
    return np.flatnonzero(pd.Series(values).isin(repeated).to_numpy())


# big-endian word masks keeping the first k bytes (k = 0..8)
_KEEP_BYTES = np.array([0] + [(0xFFFFFFFFFFFFFFFF << (64 - 8 * k)) & 0xFFFFFFFFFFFFFFFF
                              for k in range(1, 9)], dtype=np.uint64)


def _packed_words(data: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Strings of at most 16 bytes without missing values as two big-endian ``uint64`` words
    (zero-padded) and the byte length: equal triples iff equal strings. None for other
    columns."""
    n = len(data)
    if not n or data.null_count:
        return None
    chunk = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
    _, off_buf, data_buf = chunk.buffers()
    off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(off_buf, dtype=off_type)[chunk.offset: chunk.offset + n + 1]
    lens = np.diff(offsets)
    if lens.max() > 16 or data_buf is None:
        return None
    body = np.zeros(int(offsets[-1] - offsets[0]) + 16, np.uint8)
    body[: len(body) - 16] = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]: offsets[-1]]
    # every byte position read as the start of a big-endian 8-byte word (a strided view)
    at = np.ndarray((len(body) - 7,), dtype=">u8", buffer=body, strides=(1,))
    starts = offsets[:-1] - offsets[0]
    lens = lens.astype(np.int64)
    hi = at[starts].astype(np.uint64) & _KEEP_BYTES[np.minimum(lens, 8)]
    lo = at[starts + 8].astype(np.uint64) & _KEEP_BYTES[np.maximum(lens - 8, 0)]
    return hi, lo, lens


def _key_values(typed: dict[str, pd.Series], key: list[str]) -> pd.Series:
    if len(key) == 1:
        return typed[key[0]]
    parts = [typed[k].astype("str").fillna("") for k in key]
    out = parts[0]
    for p in parts[1:]:
        out = out + " / " + p
    return out


def _quarantine_frame(chk: _Checker, rows: RawRows) -> pd.DataFrame:
    if not chk.q_parts:
        return pd.DataFrame({
            "source": pd.Series(dtype="str"), "file": pd.Series(dtype="str"),
            "row": pd.Series(dtype="int64"), "rule": pd.Series(dtype="str"),
            "column": pd.Series(dtype="str"), "value": pd.Series(dtype="str"),
            "detail": pd.Series(dtype="str"), "record": pd.Series(dtype="str"),
        })
    q = pd.concat(chk.q_parts, ignore_index=True)
    q = q.sort_values(["pos", "rule"], kind="stable").reset_index(drop=True)
    pos = q["pos"].to_numpy()
    uniq = np.unique(pos)
    sub = rows.take(uniq)
    sub.columns = [str(c) for c in sub.columns]
    records = sub.to_json(orient="records", lines=True, force_ascii=False, date_format="iso",
                          default_handler=str).strip("\n").split("\n")
    rec = pd.Series(records, index=uniq)
    out = pd.DataFrame({
        "source": chk.contract.name,
        "file": [str(f) for f in chk.files[pos]],
        "row": chk.row_numbers[pos].astype("int64"),
        "rule": q["rule"].astype("str"),
        "column": q["column"].astype("str"),
        "value": q["value"].astype("str"),
        "detail": q["detail"].astype("str"),
        "record": rec.loc[pos].to_numpy(),
    })
    return out.astype({"source": "str", "file": "str", "record": "str"})


def _error_text(source: str, origin: Any, errors: list[Issue]) -> str:
    head = (f"{source} ({_short(origin)}) breaks the data contract "
            f"({len(errors)} {'problem' if len(errors) == 1 else 'problems'}):")
    lines = [f"- {e.message}\n  Fix: {e.hint}" for e in errors]
    return "\n".join([head, *lines])


@dataclass
class PreparedSource:
    """A source whose parts went through :func:`check_rows` already (e.g. kept from an
    earlier month): ``raw`` carries its origin, row numbers, files and reader notes (its
    frame may hold no rows), ``parts`` the parts' checks in order and ``rows`` their raw
    values; ``keys`` name each part's checks (see :mod:`winback.validation_cache`),
    ``part_files`` each part's file.
    :func:`validate_all` finishes it with :func:`finish_validation` and sets ``kept``."""

    raw: RawSource
    parts: list[RowChecks]
    rows: RawRows
    keys: tuple[str, ...] = ()
    part_files: tuple[str, ...] = ()
    kept: np.ndarray | None = None  # positions of the clean rows, once validated

    @property
    def name(self) -> str:
        return self.raw.name


def validate_all(raws: dict[str, RawSource | PreparedSource], *, as_of: pd.Timestamp | str,
                 rules: ValidationParams | None = None,
                 campaign_months: Any = None) -> dict[str, Validated]:
    """Validate several sources, customers first (its clean ids feed ``unknown_customer``).

    A source is a :class:`winback.sources.RawSource` (validated by :func:`validate`) or a
    :class:`PreparedSource` (finished by :func:`finish_validation`); both give the same
    :class:`Validated`. A :class:`PreparedSource` gives up its parts' checks (``parts``
    is emptied; ``rows.starts`` keeps where each part begins) and receives ``kept``.

    ``campaign_months`` (the months in the store's ``campaign_log``) is passed to the
    ``contact_outcomes`` check, see :func:`validate`.

    Every source is validated before raising, so one :class:`ContractError` lists the
    error-level problems of all of them.
    """
    order = ["customers", *[n for n in raws if n != "customers"]]
    out: dict[str, Validated] = {}
    errors: list[str] = []
    issues: list[Issue] = []
    known = None
    for name in order:
        if name not in raws:
            continue
        source = raws[name]
        months = campaign_months if name == "contact_outcomes" else None
        try:
            if isinstance(source, PreparedSource):
                kept: list[np.ndarray] = []
                # the parts' typed columns are let go once joined (not held twice)
                parts, source.parts = source.parts, []
                out[name] = finish_validation(source.raw, parts, source.rows,
                                              as_of=as_of, rules=rules, known_customers=known,
                                              campaign_months=months, keep_out=kept,
                                              part_files=source.part_files or None,
                                              consume=True)
                del parts
                source.kept = kept[0]
            else:
                out[name] = validate(source, as_of=as_of, rules=rules, known_customers=known,
                                     campaign_months=months)
        except ContractError as exc:
            errors.append(str(exc))
            issues.extend(exc.issues)
            continue
        if name == "customers":
            known = out[name].clean["customer_id"]
    if errors:
        raise ContractError("\n\n".join(errors), issues)
    return out


# --------------------------------------------------------------------------------------
# Data-quality report tables
# --------------------------------------------------------------------------------------


def quality_summary(validated_by_source: dict[str, Validated]) -> pd.DataFrame:
    """The data-quality table of stage 1: one row per source.

    Columns: ``source``, ``origin`` (relative to the sources folder; a glob's files as
    ``"transactions/transactions_*.parquet (6 files)"``), ``encoding``, ``rows_read``, ``rows_clean``,
    ``rows_quarantined``, ``rows_held_out`` (dated after the run month), ``date_column``,
    ``date_min``, ``date_max`` (clean rows), ``duplicate_keys`` (rows flagged as exact or
    conflicting duplicates), ``issues`` (rules that fired), ``nulls`` (empty values per
    delivered column, clean rows, e.g. ``"age 3 · gender 10"``), ``warnings`` (what the
    reader found risky beyond single rows, e.g. a stored SQL query limited to the run month),
    and one ``quarantined_<rule>`` count per rule that moved rows to quarantine in any source.
    """
    rows = []
    rules_seen: list[str] = []
    for name, v in validated_by_source.items():
        contract = CONTRACT[v.source]
        dcol = contract.date_column
        clean = v.clean
        dates = clean[dcol] if dcol and len(clean) else pd.Series(dtype="datetime64[us]")
        nulls = {c: int(clean[c].isna().sum()) for c in v.present_columns}
        q = v.quarantine
        by_rule = q.groupby("rule")["row"].nunique() if len(q) else pd.Series(dtype="int64")
        for r in by_rule.index:
            if r not in rules_seen:
                rules_seen.append(r)
        dup = sum(i.count for i in v.issues if i.rule in ("duplicate_key",
                                                          "conflicting_duplicate"))
        rows.append({
            "source": name,
            "origin": v.meta.get("label") or v.origin,
            "encoding": v.meta.get("encoding"),
            "rows_read": v.counts["rows_read"],
            "rows_clean": v.counts["rows_clean"],
            "rows_quarantined": v.counts["rows_quarantined"],
            "rows_held_out": v.counts["rows_held_out"],
            "date_column": dcol,
            "date_min": dates.min() if len(dates) else pd.NaT,
            "date_max": dates.max() if len(dates) else pd.NaT,
            "duplicate_keys": dup,
            "issues": ", ".join(dict.fromkeys(f"{i.rule} ({i.action})" for i in v.issues)),
            "nulls": " · ".join(f"{c} {n}" for c, n in nulls.items() if n),
            "warnings": " | ".join(v.meta.get("warnings") or ()),
            **{f"quarantined_{r}": int(by_rule.get(r, 0)) for r in by_rule.index},
        })
    out = pd.DataFrame(rows)
    for r in rules_seen:
        out[f"quarantined_{r}"] = out.get(f"quarantined_{r}", pd.Series(0)).fillna(0).astype(
            "int64")
    return out


def column_profile(validated_by_source: dict[str, Validated]) -> pd.DataFrame:
    """One row per source and canonical column: type, required, delivered, non-empty, empty, %."""
    rows = []
    for name, v in validated_by_source.items():
        contract = CONTRACT[v.source]
        n = len(v.clean)
        for col in contract.columns:
            nulls = int(v.clean[col.name].isna().sum()) if col.name in v.present_columns else n
            rows.append({
                "source": name, "column": col.name, "type": col.type,
                "required": col.required, "delivered": col.name in v.present_columns,
                "non_empty": n - nulls, "empty": nulls,
                "pct_empty": round(100.0 * nulls / n, 1) if n else float("nan"),
            })
    return pd.DataFrame(rows)


def orphans(customers: pd.DataFrame, transactions: pd.DataFrame, *,
            sample: int = 10) -> pd.DataFrame:
    """Customers without transactions, and transactions' customers missing from customers.

    Parameters
    ----------
    customers, transactions
        Frames with a ``customer_id`` column (clean or raw).
    sample
        How many ids to show (the smallest, sorted, so the table is deterministic).

    Returns
    -------
    pandas.DataFrame
        Two rows (``customers_without_transactions``,
        ``transaction_customers_not_in_customers``) with ``customers`` (count of ids),
        ``transactions`` (their transaction rows) and ``sample_ids``.
    """
    # set operations hashed by Arrow over the distinct ids (no Python strings per row)
    cust_ids = _as_arrow(customers["customer_id"].dropna().astype(str))
    tx_ids = _as_arrow(transactions["customer_id"].dropna().astype(str))
    # distinct values first, then one type (casting every row would copy them all)
    cust = pc.unique(cust_ids).cast(pa.large_string())
    tx = pc.unique(tx_ids).cast(pa.large_string())
    no_tx = cust.filter(pc.invert(pc.is_in(cust, value_set=tx)))
    missing = tx.filter(pc.invert(pc.is_in(tx, value_set=cust)))
    no_tx = no_tx.take(pc.sort_indices(no_tx))
    missing = missing.take(pc.sort_indices(missing))
    n_tx = pc.sum(pc.is_in(tx_ids, value_set=missing)).as_py() if len(missing) else 0
    return pd.DataFrame({
        "kind": ["customers_without_transactions", "transaction_customers_not_in_customers"],
        "customers": [len(no_tx), len(missing)],
        "transactions": [0, int(n_tx or 0)],
        "sample_ids": [", ".join(no_tx[:sample].to_pylist()),
                       ", ".join(missing[:sample].to_pylist())],
    })
