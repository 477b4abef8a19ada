"""Client and truth files that survive an interrupted month.

Two kinds of file, both written so that a month that fails half-way leaves no trace:

``CsvLog``
    A cumulative CSV file that grows by whole months. Its committed length (bytes) is
    recorded in the saved state; anything beyond it (left by a failed month) is cut off
    before the next month is written, so a retried month never duplicates rows.
``MonthlyParquet``
    One Parquet file per month in a folder (``<folder>/<stem>_<YYYY-MM>.parquet``), each
    written once with ``pyarrow.parquet.write_table``, the way a client delivers monthly
    extracts. A month's file is written under a hidden temporary name and renamed into
    place only when the month commits; files of months after the committed one (a month
    that failed between the rename and saving the state) are deleted before the next
    month is written. Files are deterministic: the same table gives the same bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["CsvLog", "MonthlyParquet", "PARQUET_OPTIONS"]

#: Options of every Parquet file the simulator writes: explicit, so files do not change with
#: pyarrow's defaults within a version (pyarrow writes no timestamps into a file).
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "version": "2.6",
                   "data_page_version": "1.0", "write_statistics": True}


class CsvLog:
    """A CSV file that grows by whole months.

    Parameters
    ----------
    path : Path
        The file.
    columns : list of str
        Header written when the file is created.
    encoding : str
        ``"utf-8-sig"`` writes a byte-order mark once, at the top; appends never repeat it.
    committed : int or None
        Bytes known to be complete; ``None`` for a file created now.
    """

    def __init__(self, path: Path, columns: list[str], encoding: str, committed: int | None):
        self.path = Path(path)
        self.columns = list(columns)
        self.encoding = encoding
        if committed is None or not self.path.exists():
            with open(self.path, "w", encoding=encoding, newline="") as fh:
                pd.DataFrame(columns=self.columns).to_csv(fh, index=False, lineterminator="\n")
        else:
            size = self.path.stat().st_size
            if size < committed:
                raise RuntimeError(
                    f"{self.path} is shorter ({size} bytes) than the state says ({committed}); "
                    "the client files were edited or truncated: recreate the demo world"
                )
            if size > committed:
                with open(self.path, "r+b") as fh:
                    fh.truncate(committed)

    def append(self, frame: pd.DataFrame) -> None:
        """Append rows (columns in header order, no header)."""
        if list(frame.columns) != self.columns:
            raise ValueError(f"{self.path.name}: columns {list(frame.columns)} != {self.columns}")
        if frame.empty:
            return
        enc = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        with open(self.path, "a", encoding=enc, newline="") as fh:
            frame.to_csv(fh, index=False, header=False, lineterminator="\n",
                         date_format="%Y-%m-%d %H:%M:%S")

    def size(self) -> int:
        return self.path.stat().st_size


class MonthlyParquet:
    """One Parquet file per month in a folder, each written once.

    ``write`` puts a month's rows in ``.<stem>_<YYYY-MM>.parquet.tmp`` (a hidden name, which
    globs such as ``<stem>_*.parquet`` and pyarrow datasets skip); ``commit`` renames the
    month's files into place, ``abort`` deletes them. Readers see the folder as one table:
    ``pandas.read_parquet(folder)``, or the glob ``<folder>/<stem>_*.parquet`` read in name
    order.

    Parameters
    ----------
    folder : Path
        The folder (created when missing).
    stem : str
        Start of every file's name.
    schema : pyarrow.Schema
        Columns and types of every row (tables are cast to it; it carries no metadata).
    committed : str or None
        Last committed month (``YYYY-MM``): files of later months and temporary files are
        deleted now. ``None`` starts an empty folder: every file of ``stem`` is deleted (and
        a file in the folder's place).
    skip_empty : bool
        Write no file for a month without rows (a client does not deliver an empty extract);
        otherwise an empty month gets a file holding only the schema.
    """

    def __init__(self, folder: Path, stem: str, schema: pa.Schema, committed: str | None,
                 *, skip_empty: bool = False):
        self.folder = Path(folder)
        self.stem = stem
        self.schema = schema.remove_metadata()
        self.skip_empty = skip_empty
        self._month = re.compile(rf"^\.?{re.escape(stem)}_(\d{{4}}-\d{{2}})\.parquet(\.tmp)?$")
        self._pending: dict[Path, Path] = {}
        if self.folder.is_file() and committed is None:
            self.folder.unlink()  # a single file of an older layout, replaced by the folder
        if self.folder.exists() and not self.folder.is_dir():
            raise RuntimeError(f"{self.folder} should be a folder of monthly Parquet files but is a "
                               "file (written by another version of the simulator): recreate the demo world")
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in self.folder.iterdir():
            found = self._month.match(path.name)
            if found and (committed is None or found.group(2) or found.group(1) > committed):
                path.unlink()

    def path(self, month: str) -> Path:
        """Where month ``month``'s file is once committed."""
        return self.folder / f"{self.stem}_{month}.parquet"

    def files(self) -> list[Path]:
        """Committed files, in month order."""
        return sorted(p for p in self.folder.glob(f"{self.stem}_*.parquet") if self._month.match(p.name))

    def write(self, month: str, table: pa.Table) -> None:
        """Write month ``month``'s rows (once per month) under a temporary name until ``commit``."""
        final = self.path(month)
        if final in self._pending.values() or final.exists():
            raise RuntimeError(f"{final} is already written; a month is written once")
        table = table.select(self.schema.names).cast(self.schema)
        if table.num_rows == 0 and self.skip_empty:
            return
        tmp = final.with_name(f".{final.name}.tmp")
        self._pending[tmp] = final
        pq.write_table(table, tmp, **PARQUET_OPTIONS)

    def commit(self) -> None:
        """Move the written months' files into place."""
        for tmp, final in self._pending.items():
            os.replace(tmp, final)
        self._pending.clear()

    def abort(self) -> None:
        """Delete the files written since the last commit."""
        for tmp in self._pending:
            tmp.unlink(missing_ok=True)
        self._pending.clear()
