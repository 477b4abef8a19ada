"""The engagement's embedded DuckDB store: loaded sources and state that lives across months.

One file per engagement (``<store_dir>/<engagement>/store.duckdb``), readable and writable
by its owner only (0o600: it holds the customers' contact details). Source tables
(``customers``, ``transactions``, ...) hold the clean rows of the latest load;
month-keyed tables (``snapshots``, ``churn_status``, ``campaign_log``, ...) hold one
slice per month, and writing a month replaces exactly that month's rows in one
transaction.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback.frames import distinct_text

__all__ = [
    "StoreBusyError",
    "append_rows",
    "as_arrow",
    "checkpoint_threshold",
    "connect",
    "fetch_df",
    "has_table",
    "memory_limit",
    "opened",
    "read_month",
    "read_table",
    "replace_month",
    "replace_table",
    "table_columns",
    "table_months",
    "transaction",
]


class StoreBusyError(RuntimeError):
    """Another process holds the engagement's store open for writing."""


MEMORY_LIMIT_ENV = "WINBACK_DUCKDB_MEMORY"


def memory_limit() -> str | None:
    """DuckDB's memory limit for the store: ``$WINBACK_DUCKDB_MEMORY`` (e.g. ``"6GB"``) when
    set, else None (DuckDB's own default, 80% of the machine's memory).

    A limit caps DuckDB's buffers beside the notebook's frames; past it DuckDB spills to a
    temporary file, which makes the one-month snapshot's window over every transaction
    much slower at a million customers.
    """
    return os.environ.get(MEMORY_LIMIT_ENV) or None


def connect(path: str | Path, *, read_only: bool = False, wait_seconds: float = 0.0):
    """Open the store at ``path`` (created when missing, unless read-only; made owner-only).

    DuckDB allows one writing process per file; when another process holds it, wait up to
    ``wait_seconds`` and then raise :class:`StoreBusyError` naming the file.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"The engagement store {path} does not exist yet: run stage 1 for a month first."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            limit = memory_limit()
            con = duckdb.connect(str(path), read_only=read_only,
                                 config={"memory_limit": limit} if limit else {})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"The store {path} is in use by another process (another run of this "
                    "engagement, or a notebook kernel holding it open). Wait for it to finish "
                    "or restart that kernel, then run again."
                ) from None
            time.sleep(0.5)
            continue
        if not read_only:
            _owner_only(path)
        return con


def _owner_only(path: Path) -> None:
    """Make the store file (and its write-ahead log, when present) owner-only (0o600)."""
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists() and (file.stat().st_mode & 0o077):
            os.chmod(file, 0o600)


@contextlib.contextmanager
def opened(path: str | Path, *, read_only: bool = False, wait_seconds: float = 0.0) -> Iterator:
    """``with opened(path) as con:`` — a store connection closed on exit."""
    con = connect(path, read_only=read_only, wait_seconds=wait_seconds)
    try:
        yield con
    finally:
        con.close()


def has_table(con, name: str) -> bool:
    """Whether the store has a table called ``name``."""
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()  # fetch every row: a half-read result keeps the connection busy in DuckDB
    return bool(rows and rows[0][0])


def table_columns(con, name: str) -> list[str]:
    """The column names of the store's table ``name``, in order (empty when it is missing)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND table_schema = current_schema() ORDER BY ordinal_position", [name]
    ).fetchall()
    return [r[0] for r in rows]


_IN_TRANSACTION: set[int] = set()


@contextlib.contextmanager
def transaction(con) -> Iterator:
    """``with transaction(con):`` — several writes committed together, or none of them.

    :func:`replace_table` and :func:`replace_month` called inside join this transaction
    instead of committing each on its own (one commit is also much faster than many).
    """
    if id(con) in _IN_TRANSACTION:
        yield con
        return
    con.execute("BEGIN TRANSACTION")
    _IN_TRANSACTION.add(id(con))
    try:
        yield con
    except BaseException:
        _IN_TRANSACTION.discard(id(con))
        con.execute("ROLLBACK")
        raise
    _IN_TRANSACTION.discard(id(con))
    con.execute("COMMIT")


@contextlib.contextmanager
def checkpoint_threshold(con, size: str) -> Iterator:
    """``with checkpoint_threshold(con, "512MB"):`` — DuckDB's ``checkpoint_threshold`` is
    ``size`` inside, and the connection's own value again on exit (also on error).

    DuckDB writes committed changes from its write-ahead log into the store file once the
    log passes the threshold (16 MiB by default): a run of large commits (one per month of
    a filled history) otherwise pays a checkpoint for each. A larger threshold lets several
    commits share one; the log's data stays in memory until then, so ``size`` bounds the
    memory held. Committed data is durable either way (the log is replayed on opening).
    """
    old = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    con.execute(f"SET checkpoint_threshold = '{size}'")
    try:
        yield con
    finally:
        con.execute(f"SET checkpoint_threshold = '{old}'")


def as_arrow(frame):
    """``frame`` as an Arrow table for DuckDB when every column converts as it is.

    DuckDB reads Arrow columns without a conversion pass (pandas' Arrow-backed text
    included), several times faster than a DataFrame at a million rows; the stored column
    types are the same. A frame with object columns (mixed Python values) is returned as
    it is, for DuckDB's own conversion.
    """
    if not isinstance(frame, pd.DataFrame):
        return frame
    if frame.empty or any(t is np.dtype(object) for t in frame.dtypes):
        return frame
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):  # a dtype Arrow does not take as is
        return frame


def replace_table(con, name: str, frame: pd.DataFrame) -> None:
    """Replace table ``name`` with ``frame`` (a DataFrame or Arrow table), one transaction."""
    frame = as_arrow(frame)
    with transaction(con):
        con.register("_incoming", frame)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _incoming')
        con.unregister("_incoming")


def append_rows(con, name: str, frame: pd.DataFrame) -> None:
    """Add ``frame``'s rows (a DataFrame or Arrow table) to table ``name``, columns in the
    table's order; the table is created from the frame when missing. One transaction."""
    frame = as_arrow(frame)
    with transaction(con):
        con.register("_incoming", frame)
        if has_table(con, name):
            con.execute(f'INSERT INTO "{name}" SELECT * FROM _incoming')
        else:
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _incoming')
        con.unregister("_incoming")


def replace_month(con, name: str, month: str, frame: pd.DataFrame) -> None:
    """Replace exactly ``month``'s rows of table ``name`` with ``frame`` (one transaction).

    ``frame`` (a DataFrame or an Arrow table) must carry a ``month`` column equal to
    ``month`` on every row. The table is created from the frame's schema when missing;
    columns are matched by name.
    """
    columns = frame.column_names if isinstance(frame, pa.Table) else frame.columns
    if "month" not in columns:
        raise ValueError(f"replace_month({name!r}): the frame has no 'month' column.")
    if isinstance(frame, pa.Table):
        found = pc.unique(pc.cast(frame["month"], pa.string())).to_pylist()
        months = pd.Series(frame["month"].to_pandas() if found != [month] else [], dtype=str)
    else:
        found = distinct_text(frame["month"])
        months = frame["month"].astype(str) if found != [month] else pd.Series([], dtype=str)
    wrong = (months != month).to_numpy()
    if wrong.any():
        raise ValueError(
            f"replace_month({name!r}, {month!r}): {int(wrong.sum())} rows carry another month "
            f"(e.g. {months[wrong].iloc[0]!r})."
        )
    frame = as_arrow(frame)
    with transaction(con):
        con.register("_incoming", frame)
        if has_table(con, name):
            con.execute(f'DELETE FROM "{name}" WHERE month = ?', [month])
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _incoming')
        else:
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _incoming')
        con.unregister("_incoming")


def fetch_df(con, sql: str, params=None) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame: the same frame as DuckDB's ``.df()``, faster.

    DuckDB's own conversion of text columns to pandas strings costs seconds per million
    rows; through Arrow it is several times quicker. Text columns go through Arrow (the
    same ``str`` dtype and missing values); every other column keeps DuckDB's conversion
    (nullable integers, dates as ``datetime64``, decimals as floats), read back from the
    Arrow result without running the query twice.
    """
    rel = con.sql(sql, params=params) if params is not None else con.sql(sql)
    names = rel.columns
    text = [n for n, t in zip(names, rel.types, strict=True) if str(t) == "VARCHAR"]
    if not text or len(set(names)) != len(names):
        return rel.df()
    table = rel.to_arrow_table()
    # DuckDB gives a text column without any value (empty, or all NULL) the object dtype
    parts = {n: pd.Series([None] * table.num_rows, dtype=object)
             if table[n].null_count == table.num_rows else table[n].to_pandas() for n in text}
    rest = [n for n in names if n not in parts]
    if rest:
        other = con.from_arrow(table.select(rest)).df()
        parts.update({n: other[n] for n in rest})
    return pd.DataFrame({n: parts[n] for n in names})


def read_table(con, name: str) -> pd.DataFrame:
    """The whole table ``name`` as a DataFrame (an error names the missing table)."""
    if not has_table(con, name):
        raise KeyError(f"The store has no table {name!r}: run the stage that writes it first.")
    return fetch_df(con, f'SELECT * FROM "{name}"')


def read_month(con, name: str, month: str, columns=None) -> pd.DataFrame:
    """Rows of month-keyed table ``name`` for ``month`` (an error when there are none).

    ``columns``: only these (in this order); all columns when ``None``.
    """
    if not has_table(con, name):
        raise KeyError(f"The store has no table {name!r}: run the stage that writes it first.")
    select = "*" if columns is None else ", ".join(f'"{c}"' for c in dict.fromkeys(columns))
    frame = fetch_df(con, f'SELECT {select} FROM "{name}" WHERE month = ?', [month])
    if frame.empty:
        raise KeyError(
            f"The store's table {name!r} has no rows for {month}: run that month's earlier "
            "stages first."
        )
    return frame


def table_months(con, name: str) -> list[str]:
    """Months present in month-keyed table ``name``, sorted (empty when the table is missing)."""
    if not has_table(con, name):
        return []
    return [r[0] for r in con.execute(f'SELECT DISTINCT month FROM "{name}" ORDER BY 1').fetchall()]
