"""Append-only client and truth files that survive an interrupted month.

Each month the simulator appends rows to cumulative files. The committed length of every
file (bytes of a CSV, rows of a Parquet file) is recorded in the saved state; before a
month is written, anything beyond that length (left by a month that failed half-way) is
cut off, so a retried month never duplicates rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["CsvLog", "ParquetLog"]


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


class ParquetLog:
    """A Parquet file that grows by whole months (one row group per append).

    Appending rewrites the file: committed row groups are streamed into a temporary
    file, new rows follow, and the temporary file replaces the old one on ``close``.
    """

    def __init__(self, path: Path, schema: pa.Schema, committed: int | None):
        self.path = Path(path)
        self.schema = schema
        self.rows = 0
        self._open = True
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")
        if committed and self.path.exists():
            source = pq.ParquetFile(self.path)
            for i in range(source.num_row_groups):
                if self.rows >= committed:
                    break
                group = source.read_row_group(i)
                take = min(group.num_rows, committed - self.rows)
                self._writer.write_table(group.slice(0, take))
                self.rows += take
            if self.rows != committed:
                raise RuntimeError(
                    f"{self.path} holds {self.rows} rows, fewer than the state says ({committed}); "
                    "recreate the demo world"
                )

    def append(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> int:
        """Finish the file and move it into place; returns its row count."""
        if self._open:
            self._writer.close()
            self._open = False
            os.replace(self._tmp, self.path)
        return self.rows

    def abort(self) -> None:
        """Drop what was written since opening (the committed file is left as it was)."""
        if self._open:
            self._writer.close()
            self._open = False
        self._tmp.unlink(missing_ok=True)
