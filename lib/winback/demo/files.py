"""Append-only client and truth files that survive an interrupted month.

Each month the simulator appends rows to cumulative files. The committed length of every
file (in bytes) is recorded in the saved state; before a month is written, anything
beyond that length (left by a month that failed half-way) is cut off, so a retried month
never duplicates rows. Appending never rewrites what is already there, so a month costs
the same whatever the size of the history.
"""

from __future__ import annotations

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


# --- Parquet footers: a minimal Thrift compact-protocol codec ------------------------------
# Appending a month to a Parquet file writes the month's pages after the committed bytes and
# a new footer listing the old row groups plus the new ones (their byte offsets shifted to
# where the pages now sit). The committed bytes are never touched, so cutting the file back
# to its committed length restores the previous, valid file.

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ftype: int):
        if ftype in (_TRUE, _FALSE):
            return ftype == _TRUE
        if ftype == _BYTE:
            return self.byte()
        if ftype in (_I16, _I32, _I64):
            return self.zigzag()
        if ftype == _DOUBLE:
            raw = self.data[self.pos:self.pos + 8]
            self.pos += 8
            return raw
        if ftype == _BINARY:
            n = self.varint()
            raw = self.data[self.pos:self.pos + n]
            self.pos += n
            return raw
        if ftype in (_LIST, _SET):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if etype in (_TRUE, _FALSE):  # booleans inside a collection: one byte each
                return etype, [self.byte() for _ in range(size)]
            return etype, [self.value(etype) for _ in range(size)]
        if ftype == _MAP:
            size = self.varint()
            if size == 0:
                return 0, 0, []
            kv = self.byte()
            return kv >> 4, kv & 0x0F, [(self.value(kv >> 4), self.value(kv & 0x0F)) for _ in range(size)]
        if ftype == _STRUCT:
            return self.struct()
        raise ValueError(f"unsupported Thrift compact type {ftype}")

    def struct(self) -> list[list]:
        fields, last = [], 0
        while True:
            head = self.byte()
            ftype = head & 0x0F
            if ftype == _STOP:
                return fields
            delta = head >> 4
            fid = last + delta if delta else self.zigzag()
            fields.append([fid, ftype, self.value(ftype)])
            last = fid


class _Writer:
    def __init__(self):
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while True:
            if n < 0x80:
                self.out.append(n)
                return
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def value(self, ftype: int, v) -> None:
        if ftype in (_TRUE, _FALSE):
            return
        if ftype == _BYTE:
            self.out.append(v)
        elif ftype in (_I16, _I32, _I64):
            self.zigzag(v)
        elif ftype == _DOUBLE:
            self.out += v
        elif ftype == _BINARY:
            self.varint(len(v))
            self.out += v
        elif ftype in (_LIST, _SET):
            etype, items = v
            if len(items) < 15:
                self.out.append((len(items) << 4) | etype)
            else:
                self.out.append(0xF0 | etype)
                self.varint(len(items))
            for item in items:
                if etype in (_TRUE, _FALSE):
                    self.out.append(item)
                else:
                    self.value(etype, item)
        elif ftype == _MAP:
            ktype, vtype, items = v
            self.varint(len(items))
            if items:
                self.out.append((ktype << 4) | vtype)
                for key, val in items:
                    self.value(ktype, key)
                    self.value(vtype, val)
        elif ftype == _STRUCT:
            self.struct(v)
        else:
            raise ValueError(f"unsupported Thrift compact type {ftype}")

    def struct(self, fields: list[list]) -> None:
        last = 0
        for fid, ftype, v in fields:
            if ftype in (_TRUE, _FALSE):
                ftype = _TRUE if v else _FALSE
            delta = fid - last
            if 0 < delta <= 15:
                self.out.append((delta << 4) | ftype)
            else:
                self.out.append(ftype)
                self.zigzag(fid)
            self.value(ftype, v)
            last = fid
        self.out.append(_STOP)


def _field(fields: list[list], fid: int) -> list | None:
    return next((f for f in fields if f[0] == fid), None)


def _shift_row_group(rg: list[list], shift: int, ordinal: int) -> None:
    """Move a RowGroup's byte offsets by ``shift`` and renumber it."""
    for f in rg:
        if f[0] == 5 and f[2] > 0:  # RowGroup.file_offset
            f[2] += shift
        elif f[0] == 7:  # RowGroup.ordinal
            f[2] = ordinal
    for chunk in _field(rg, 1)[2][1]:  # RowGroup.columns: list<ColumnChunk>
        for f in chunk:
            if f[0] in (2, 4, 6) and f[1] == _I64 and f[2] > 0:  # file_offset, offset/column index
                f[2] += shift
            if f[0] == 3:  # ColumnMetaData
                for g in f[2]:
                    if g[0] in (9, 10, 11, 14) and g[2] > 0:  # data/index/dictionary page, bloom filter
                        g[2] += shift


def _footer(data: bytes) -> tuple[int, bytes]:
    """(start of the footer, footer bytes) of a complete Parquet file's bytes (tail suffices)."""
    if data[-4:] != b"PAR1":
        raise ValueError("not a Parquet file (no PAR1 at the end)")
    n = int.from_bytes(data[-8:-4], "little")
    return len(data) - 8 - n, data[-8 - n:-8]


def append_parquet_bytes(path: Path, segment: bytes) -> None:
    """Append the row groups of ``segment`` (a complete Parquet file) to the file at ``path``.

    The pages of ``segment`` go after the current end of the file, followed by a footer
    that lists the old and the new row groups; the bytes already there stay untouched.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - (1 << 20)))
        tail = fh.read()
    n_old = int.from_bytes(tail[-8:-4], "little")
    if n_old + 8 > len(tail):
        with open(path, "rb") as fh:
            fh.seek(size - 8 - n_old)
            tail = fh.read()
    _, old_bytes = _footer(tail)
    new_start, new_bytes = _footer(segment)
    old, new = _Reader(old_bytes).struct(), _Reader(new_bytes).struct()
    shift = size - 4  # segment's pages start at offset 4 in the segment, at ``size`` in the file
    old_groups = _field(old, 4)
    new_groups = _field(new, 4)[2][1]
    for i, rg in enumerate(new_groups):
        _shift_row_group(rg, shift, len(old_groups[2][1]) + i)
    old_groups[2] = (old_groups[2][0], old_groups[2][1] + new_groups)
    _field(old, 3)[2] += _field(new, 3)[2]  # FileMetaData.num_rows
    writer = _Writer()
    writer.struct(old)
    footer = bytes(writer.out)
    with open(path, "ab") as fh:
        fh.write(segment[4:new_start])
        fh.write(footer)
        fh.write(len(footer).to_bytes(4, "little"))
        fh.write(b"PAR1")


class ParquetLog:
    """A Parquet file that grows by whole months.

    A new file is streamed by one writer (a row group per append); appending to a
    committed file writes each append's pages after its end with a new footer
    (``append_parquet_bytes``), so a month costs the same whatever the file's size.

    Parameters
    ----------
    path : Path
        The file.
    schema : pyarrow.Schema
        Columns and types of every row.
    committed : int or None
        Bytes known to be complete; ``None`` for a file created now. Bytes beyond it
        (a month that failed half-way) are cut off first.
    """

    def __init__(self, path: Path, schema: pa.Schema, committed: int | None):
        self.path = Path(path)
        self.schema = schema
        self.fresh = committed is None or not self.path.exists()
        self.committed = None if self.fresh else int(committed)
        self.rows = 0
        self._writer = None
        if self.fresh:
            self._writer = pq.ParquetWriter(self.path, schema, compression="zstd")
            return
        size = self.path.stat().st_size
        if size < self.committed:
            raise RuntimeError(
                f"{self.path} is shorter ({size} bytes) than the state says ({self.committed}); "
                "the files were edited or truncated: recreate the demo world"
            )
        if size > self.committed:
            with open(self.path, "r+b") as fh:
                fh.truncate(self.committed)
        self.rows = pq.read_metadata(self.path).num_rows

    def append(self, table: pa.Table) -> None:
        """Add rows at the end of the file."""
        table = table.select(self.schema.names).cast(self.schema)
        if table.num_rows == 0:
            return
        if self._writer is not None:
            self._writer.write_table(table)
        else:
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression="zstd")
            append_parquet_bytes(self.path, sink.getvalue().to_pybytes())
        self.rows += table.num_rows

    def close(self) -> int:
        """Finish the file; returns its committed length in bytes."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        found = pq.read_metadata(self.path).num_rows
        if found != self.rows:
            raise RuntimeError(f"{self.path}: expected {self.rows} rows after appending, found {found}")
        return self.path.stat().st_size

    def abort(self) -> None:
        """Cut the file back to its committed length (a new file is left for the next create)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        elif self.path.exists() and self.path.stat().st_size > self.committed:
            with open(self.path, "r+b") as fh:
                fh.truncate(self.committed)
