"""Stage 1's loading step: read every source, validate it as of the month's end, store it.

Clean rows replace each source table of the engagement's store; the ``quarantine`` table
holds the rows held out with their rule, column and original row; the data-quality
tables say what happened to every row.

Personal data is set apart as soon as the customers are validated: the declared PII
columns (``privacy.pii_columns``) leave the customers frame and go to ``Loaded.contacts``,
stored as the ``customer_contacts`` table that only the call-list export reads; quarantined
customer rows keep their PII redacted (see :mod:`winback.privacy`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from winback.config import Params
from winback.contract import QUARANTINE_COLUMNS, PreparedSource, Validated, validate_all
from winback.privacy import CONTACTS_TABLE, redact_quarantine, split_pii
from winback.settings import month_end
from winback.sources import read_sources
from winback.store import (
    append_rows,
    as_arrow,
    has_table,
    opened,
    replace_table,
    table_months,
    transaction,
)
from winback.validation_cache import prepare_sources
from winback.workspace import Workspace

__all__ = ["BLOCKS_TABLE", "Loaded", "campaign_months", "load_sources", "quarantine_counts",
           "set_apart_pii", "source_blocks", "store_sources", "validation_cache_dir"]

# Which file each block of a stored source table came from (see store_sources).
BLOCKS_TABLE = "source_blocks"


@dataclass
class Loaded:
    """Every source of one month, validated: ``by_source[name]`` is a :class:`Validated`.

    ``by_source["customers"]`` carries no PII columns and its quarantine has them redacted;
    ``contacts`` holds ``customer_id`` and the PII columns of the clean customers.
    ``blocks[name]`` (sources read file by file) says which clean rows came from which
    file (see :func:`source_blocks`), so :func:`store_sources` can add only what changed.
    """

    month: str
    by_source: dict[str, Validated]
    contacts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"customer_id": pd.Series(dtype="str")}))
    blocks: dict[str, pd.DataFrame] = field(default_factory=dict)

    def clean(self, name: str) -> pd.DataFrame:
        return self.by_source[name].clean

    @property
    def quarantine(self) -> pd.DataFrame:
        """All sources' quarantined rows, one frame (empty with the right columns if none)."""
        frames = [v.quarantine for v in self.by_source.values() if len(v.quarantine)]
        frame = (pd.concat(frames, ignore_index=True) if frames
                 else pd.DataFrame(columns=list(QUARANTINE_COLUMNS)))
        return frame.assign(month=self.month)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v.counts['rows_clean']}" for k, v in self.by_source.items())
        return f"Loaded({self.month}: {parts})"


def load_sources(params: Params, ws: Workspace) -> Loaded:
    """Read and validate every source for ``params.run.month``.

    Raises
    ------
    winback.contract.ContractError
        When an error-level rule fires; the message lists every such problem of every
        source (file, column, rows, fix), not only the first.
    """
    base_dir = ws.resolve(params.sources.dir)
    if params.sources.cache:
        raws = prepare_sources(params.sources, base_dir=base_dir, month=params.run.month,
                               rules=params.validation, cache_dir=validation_cache_dir(ws))
    else:
        raws = read_sources(params.sources, base_dir=base_dir, month=params.run.month)
    validated = validate_all(raws, as_of=month_end(params.run.month), rules=params.validation,
                             campaign_months=campaign_months(ws.store_path))
    blocks = {name: source_blocks(source) for name, source in raws.items()
              if isinstance(source, PreparedSource)}
    del raws
    loaded = set_apart_pii(Loaded(params.run.month, validated), params.privacy.pii_columns)
    return replace(loaded, blocks=blocks)


def source_blocks(source: PreparedSource) -> pd.DataFrame:
    """The clean rows of a validated :class:`PreparedSource`, file by file, in order.

    One row per file: ``seq``, ``file``, ``key`` (its checks' cache key), ``rows`` (its
    clean rows) and ``digest`` (SHA-256 of the key and the positions of its clean rows in
    the file): two loads with the same digest store the same rows for that file.
    """
    kept = np.asarray(source.kept if source.kept is not None else [], dtype=np.int64)
    starts = source.rows.starts
    rows, digests = [], []
    for i, key in enumerate(source.keys):
        lo, hi = np.searchsorted(kept, [starts[i], starts[i + 1]])
        at = (kept[lo:hi] - starts[i]).astype("<i8")
        rows.append(int(hi - lo))
        digests.append(hashlib.sha256(key.encode() + at.tobytes()).hexdigest())
    return pd.DataFrame({"seq": np.arange(len(source.keys), dtype="int64"),
                         "file": pd.Series(source.part_files, dtype="str"),
                         "key": pd.Series(source.keys, dtype="str"),
                         "rows": np.asarray(rows, dtype="int64"),
                         "digest": pd.Series(digests, dtype="str")})


def validation_cache_dir(ws: Workspace) -> Path:
    """Where the row-local checks of the client's files are kept between months:
    ``<cache_dir>/<engagement>/cache/validated`` (see :mod:`winback.validation_cache`).

    Not beside ``run.store_dir``: a batch run points that at its own copy of the store,
    which would take the checks away with the run's partial folder."""
    return ws.engagement_cache / "validated"


def set_apart_pii(loaded: Loaded, pii_columns) -> Loaded:
    """``loaded`` with the customers' PII columns moved to ``contacts`` and redacted in quarantine.

    A new :class:`Loaded`; the input is unchanged.
    """
    if "customers" not in loaded.by_source:
        return loaded
    v = loaded.by_source["customers"]
    clean, contacts = split_pii(v.clean, pii_columns)
    present = tuple(c for c in v.present_columns if c in clean.columns)
    safe = replace(v, clean=clean, quarantine=redact_quarantine(v.quarantine, pii_columns),
                   present_columns=present)
    return Loaded(loaded.month, {**loaded.by_source, "customers": safe}, contacts)


def campaign_months(store_path) -> list[str]:
    """The months the store's ``campaign_log`` holds (none before the first campaign).

    Contact outcomes are checked against them (rule ``unknown_campaign_month``).
    """
    if not Path(store_path).is_file():
        return []
    with opened(store_path, read_only=True) as con:
        return table_months(con, "campaign_log")


def store_sources(con, loaded: Loaded) -> None:
    """Replace the store's source tables with the clean rows, its quarantine and contacts tables.

    Frames go to DuckDB as Arrow tables (their string columns are Arrow already, so DuckDB
    reads them without a conversion pass); the stored column types are those of the frames.

    A source read file by file (``loaded.blocks``) whose stored table holds exactly the
    clean rows of this load's first files (same files, same checks, same clean rows, the
    ``source_blocks`` table says) keeps them: only the rows of the files after them are
    added. Any other difference (a file changed or removed, rows that are now held out or
    back in, other columns) replaces the table as a whole. The table is the same either way.

    The contacts table is derived from the clean customers alone: when the stored
    customers table is kept as it is (same file, checks and clean rows) and the stored
    contacts have the same columns and row count, they are the same rows and are kept.
    Every table is written in one transaction, so the tables always come from one load.
    """
    with transaction(con):
        kept = {name: _store_source(con, name, result.clean, loaded.blocks.get(name))
                for name, result in loaded.by_source.items()}
        replace_table(con, "quarantine", loaded.quarantine)
        if not (kept.get("customers") and _same_shape(con, CONTACTS_TABLE, loaded.contacts)):
            replace_table(con, CONTACTS_TABLE, loaded.contacts)


def _store_source(con, name: str, frame: pd.DataFrame, blocks: pd.DataFrame | None) -> bool:
    """Store one source's clean rows; True when the stored table was kept as it was."""
    start = _stored_prefix(con, name, frame, blocks) if blocks is not None else None
    with transaction(con):
        if start is None:
            replace_table(con, name, frame)
        elif start < len(frame):
            append_rows(con, name, frame.iloc[start:])
        if has_table(con, BLOCKS_TABLE):
            con.execute(f"DELETE FROM {BLOCKS_TABLE} WHERE source = ?", [name])
        if blocks is not None:
            append_rows(con, BLOCKS_TABLE, blocks.assign(source=name)[["source", *blocks.columns]])
    return start is not None and start == len(frame)


def _same_shape(con, name: str, frame: pd.DataFrame) -> bool:
    """Whether table ``name`` exists with ``frame``'s column names and types and row count."""
    if not has_table(con, name):
        return False
    if con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] != len(frame):
        return False
    return _columns_match(con, name, frame)


def _columns_match(con, name: str, frame: pd.DataFrame) -> bool:
    """Whether table ``name`` has ``frame``'s column names and types, in order."""
    stored = con.execute(f'DESCRIBE "{name}"').fetchall()
    con.register("_probe", as_arrow(frame.head(1)))
    try:
        incoming = con.execute("DESCRIBE SELECT * FROM _probe").fetchall()
    finally:
        con.unregister("_probe")
    return [r[:2] for r in stored] == [r[:2] for r in incoming]


def _stored_prefix(con, name: str, frame: pd.DataFrame, blocks: pd.DataFrame) -> int | None:
    """How many of ``frame``'s first rows the stored table holds already, exactly: the rows
    of the files the ``source_blocks`` table lists for it, when they are this load's first
    files with the same digests; None when the table must be replaced."""
    if not (has_table(con, BLOCKS_TABLE) and has_table(con, name)):
        return None
    old = con.execute(f"SELECT file, key, rows, digest FROM {BLOCKS_TABLE} WHERE source = ? "
                      "ORDER BY seq", [name]).fetchall()
    if not old or len(old) > len(blocks):
        return None
    new = list(blocks[["file", "key", "rows", "digest"]].head(len(old)).itertuples(
        index=False, name=None))
    if [tuple(r) for r in old] != [(str(f), str(k), int(n), str(d)) for f, k, n, d in new]:
        return None
    start = int(sum(r[2] for r in old))
    if con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] != start:
        return None
    return start if _columns_match(con, name, frame) else None


def quarantine_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Rows held out per source, rule and column (the data-quality report's table)."""
    if quarantine.empty:
        return pd.DataFrame({"source": [], "rule": [], "column": [], "rows": []})
    return (quarantine.groupby(["source", "rule", "column"], dropna=False, observed=True)
            .size().rename("rows").reset_index()
            .sort_values(["source", "rows"], ascending=[True, False], ignore_index=True))
