"""Keep each source file's row-local checks from month to month.

Validating a source has two phases (see :func:`winback.contract.validate`): the row-local
checks (typing, unparseable values, ranges, categories, texts, defaults), which depend only
on a file's bytes, the source's params and the ``validation`` params, and the source-level
checks (the run month's end, the other sources, duplicate keys across files), made every
month on the whole source. The client delivers transactions as one file per month whose
past files do not change, so the row-local result of each file is kept in the engagement's
data folder (``cache/validated/<source>-<key>.arrow``: an Arrow IPC file, LZ4-compressed,
of the typed columns and file row numbers, with what fired in its schema's metadata; read
back several times faster than Parquet) and reused while the file's SHA-256, its
path, the source's params, the ``validation`` params and the checks' version stay the same.

The cache is invisible: a load with, without or with a partial cache gives the same
:class:`winback.contract.Validated` objects. An entry that cannot be read or does not match
its key is ignored and written again. Files are read only when their checks are not kept,
or when a source-level rule moves one of their rows to quarantine (the quarantine keeps
the raw record).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from winback.contract import (
    ROW_CHECKS_VERSION,
    PreparedSource,
    RawRows,
    RowChecks,
    RowEvent,
    ValidationParams,
    check_rows,
)
from winback.sources import (
    SOURCE_NAMES,
    FilePart,
    RawSource,
    SourcesParams,
    SourceSpec,
    assemble_source,
    file_part_note,
    file_sha256,
    read_file_part,
    read_source,
    source_files,
)

__all__ = ["cache_key", "prepare_source", "prepare_sources", "read_entry", "write_entry"]

_META_KEY = b"winback.row_checks"
ENTRY_SUFFIX = ".arrow"
_OLD_SUFFIXES = (".parquet",)  # entries of earlier versions, removed when seen
_IPC_WRITE = pa.ipc.IpcWriteOptions(compression="lz4")
_IPC_READ = pa.ipc.IpcReadOptions(use_threads=False)
_ROW = "__row"


def prepare_sources(params_sources: SourcesParams, *, base_dir: Path | str,
                    month: str | None, rules: ValidationParams,
                    cache_dir: Path | str | None) -> dict[str, RawSource | PreparedSource]:
    """Every source of :data:`winback.sources.SOURCE_NAMES`, ready for
    :func:`winback.contract.validate_all`: file sources as :class:`PreparedSource` (row-local
    checks kept in ``cache_dir`` reused, the others made and kept), SQL sources read as
    :func:`winback.sources.read_sources` reads them. ``cache_dir`` None: no cache."""
    return {name: prepare_source(name, params_sources.spec(name), base_dir=base_dir,
                                 month=month, rules=rules, cache_dir=cache_dir)
            for name in SOURCE_NAMES}


def prepare_source(name: str, spec: SourceSpec, *, base_dir: Path | str, month: str | None,
                   rules: ValidationParams,
                   cache_dir: Path | str | None) -> RawSource | PreparedSource:
    """One source ready for validation (see :func:`prepare_sources`).

    A source the file-by-file path cannot take as it is (SQL, no file, files whose columns
    differ, a file that cannot be read) is read by :func:`winback.sources.read_source`,
    which raises the reader's usual errors.
    """
    if spec.format == "sql" or cache_dir is None:
        return read_source(name, spec, base_dir=base_dir, month=month)
    files, pattern = source_files(name, spec, base_dir=base_dir, month=month)
    prepared = None
    if files:
        try:
            prepared = _prepare(name, spec, Path(base_dir), pattern, files, rules,
                                Path(cache_dir))
        except Exception:  # noqa: BLE001 - the plain reader reports the problem
            prepared = None
    return prepared or read_source(name, spec, base_dir=base_dir, month=month)


def cache_key(name: str, spec: SourceSpec, rules: ValidationParams, path: Path | str,
              sha256: str) -> str:
    """The key of a file's row-local checks: what they depend on, hashed."""
    text = json.dumps({
        "version": ROW_CHECKS_VERSION, "source": name, "path": str(path), "sha256": sha256,
        "spec": spec.model_dump(mode="json"), "rules": rules.model_dump(mode="json"),
        "pandas": pd.__version__, "pyarrow": pa.__version__,
    }, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _prepare(name: str, spec: SourceSpec, base: Path, pattern: str, files: list[Path],
             rules: ValidationParams, cache_dir: Path) -> PreparedSource | None:
    parts: list[FilePart] = []
    checks: list[RowChecks] = []
    loaders: list[tuple[int, Any]] = []
    schemas: list[list[list[str]]] = []
    notes: list[str] = []
    used: set[str] = set()
    keys: list[str] = []
    for path in files:
        key = cache_key(name, spec, rules, path, file_sha256(path))
        entry_path = cache_dir / f"{name}-{key}{ENTRY_SUFFIX}"
        used.add(entry_path.name)
        entry = read_entry(entry_path, key)
        if entry is None:
            part = read_file_part(name, spec, path)
            if part is None:  # an empty file of a source that is not required
                notes.append(file_part_note(name, path))
                continue
            row_checks = check_rows(name, part.frame, rules=rules)
            schema = [[str(c), str(t)] for c, t in part.frame.dtypes.items()]
            meta = _part_meta(part, schema)
            write_entry(entry_path, key, row_checks, part.row_numbers, meta)
            keep = any(e.kind == "fire" and len(e.pos) and e.action in ("quarantine", "error")
                       for e in row_checks.events)
            frame = part.frame if keep else None
            part.frame = None
        else:
            row_checks, row_numbers, meta = entry
            part = _part_from_meta(path, row_numbers, meta)
            schema, frame = meta["schema"], None
        parts.append(part)
        keys.append(key)
        checks.append(row_checks)
        schemas.append(schema)
        loaders.append((row_checks.n, _loader(name, spec, path, frame)))
    _prune(cache_dir, name, used)
    if not parts or any(s != schemas[0] for s in schemas[1:]):
        return None  # no rows, or files whose columns differ: read as one frame
    columns = pd.DataFrame({c: pd.Series(dtype=object) for c, _ in schemas[0]})
    raw = assemble_source(name, base, pattern, files, parts, notes, columns)
    return PreparedSource(raw, checks, RawRows(parts=loaders), keys=tuple(keys),
                          part_files=tuple(str(p.path) for p in parts))


def _loader(name: str, spec: SourceSpec, path: Path, frame: pd.DataFrame | None):
    def load() -> pd.DataFrame:
        if frame is not None:
            return frame
        part = read_file_part(name, spec, path)
        return part.frame if part is not None else pd.DataFrame()
    return load


def _part_meta(part: FilePart, schema: list[list[str]]) -> dict[str, Any]:
    return {"encoding": part.encoding, "delimiter": part.delimiter,
            "blank_rows": int(part.blank_rows), "notes": list(part.notes),
            "unmapped": list(part.unmapped), "column_map": dict(part.column_map),
            "schema": schema}


def _part_from_meta(path: Path, row_numbers: np.ndarray, meta: dict[str, Any]) -> FilePart:
    return FilePart(path, None, row_numbers, meta["encoding"], meta["delimiter"],
                    int(meta["blank_rows"]), tuple(meta["notes"]), tuple(meta["unmapped"]),
                    dict(meta["column_map"]))


# --------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------


def _json_list(values: list | None) -> list | None:
    if values is None:
        return None
    return [None if (not isinstance(v, str) and pd.isna(v)) else str(v) for v in values]


def _from_json_list(values: list | None) -> list | None:
    if values is None:
        return None
    return [np.nan if v is None else v for v in values]


def _event_json(e: RowEvent) -> dict[str, Any]:
    return {"kind": e.kind, "rule": e.rule, "column": e.column, "action": e.action,
            "what": e.what, "hint": e.hint,
            "pos": None if e.pos is None else [int(p) for p in e.pos],
            "examples": _json_list(e.examples),
            "values": None if e.values is None else [None if v is None else str(v)
                                                     for v in e.values],
            "details": None if e.details is None else [str(d) for d in e.details],
            "count": int(e.count), "extra": int(e.extra), "example": e.example}


def _event_from_json(d: dict[str, Any]) -> RowEvent:
    return RowEvent(
        d["kind"], d["rule"], d["column"], d["action"], d["what"], d["hint"],
        None if d["pos"] is None else np.asarray(d["pos"], dtype=np.int64),
        _from_json_list(d["examples"]), d["values"], d["details"], int(d["count"]),
        int(d["extra"]), d["example"])


def write_entry(path: Path, key: str, checks: RowChecks, row_numbers: np.ndarray,
                meta: dict[str, Any]) -> None:
    """Write one file's row-local checks (atomically: a reader never sees half a file).

    A cache that cannot be written (read-only folder, full disk) is skipped: the load goes
    on without it."""
    frame = checks.typed.reset_index(drop=True).assign(
        **{_ROW: np.asarray(row_numbers, dtype=np.int64)})
    doc = {"key": key, "version": ROW_CHECKS_VERSION, "source": checks.source,
           "present": list(checks.present), "rows": len(frame),
           "dtypes": {c: str(t) for c, t in checks.typed.dtypes.items()},
           "events": [_event_json(e) for e in checks.events], "meta": meta}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({
            **(table.schema.metadata or {}),
            _META_KEY: json.dumps(doc, ensure_ascii=False).encode("utf-8")})
        # owner-only, like the store: the entries hold the client's data (PII included)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh, pa.ipc.new_file(fh, table.schema,
                                                        options=_IPC_WRITE) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except (OSError, pa.ArrowException, TypeError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_entry(path: Path, key: str) -> tuple[RowChecks, np.ndarray, dict[str, Any]] | None:
    """One file's kept row-local checks, its row numbers and reader metadata; None when the
    entry is missing, unreadable or made for another key (it is then made again)."""
    if not Path(path).is_file():
        return None
    try:
        with pa.OSFile(str(path), "rb") as fh:
            table = pa.ipc.open_file(fh, options=_IPC_READ).read_all()
        doc = json.loads(table.schema.metadata[_META_KEY].decode("utf-8"))
        if doc["key"] != key or doc["version"] != ROW_CHECKS_VERSION:
            return None
        if doc["rows"] != table.num_rows or table.column_names[-1] != _ROW:
            return None
        frame = table.to_pandas()
        del table
        row_numbers = frame.pop(_ROW).to_numpy(dtype=np.int64)
        dtypes = doc["dtypes"]
        if list(frame.columns) != list(dtypes):
            return None
        for c, t in dtypes.items():
            if str(frame[c].dtype) != t:
                frame[c] = frame[c].astype(t)
                if str(frame[c].dtype) != t:
                    return None
        events = [_event_from_json(e) for e in doc["events"]]
        n = len(frame)
        if any(e.pos is not None and len(e.pos) and (e.pos.min() < 0 or e.pos.max() >= n)
               for e in events):
            return None
        checks = RowChecks(doc["source"], tuple(doc["present"]), frame, events)
        return checks, row_numbers, doc["meta"]
    except Exception:  # noqa: BLE001 - any damage: not trusted, made again
        return None


def _prune(cache_dir: Path, name: str, used: set[str]) -> None:
    """Remove the source's entries this load did not use (files replaced or changed)."""
    if not cache_dir.is_dir():
        return
    for p in cache_dir.glob(f"{name}-*"):
        if p.suffix in (ENTRY_SUFFIX, *_OLD_SUFFIXES) and p.name not in used:
            with contextlib.suppress(OSError):
                p.unlink()
