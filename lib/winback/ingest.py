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

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from winback.config import Params
from winback.contract import QUARANTINE_COLUMNS, Validated, validate_all
from winback.privacy import CONTACTS_TABLE, redact_quarantine, split_pii
from winback.settings import month_end
from winback.sources import read_sources
from winback.store import opened, replace_table, table_months
from winback.validation_cache import prepare_sources
from winback.workspace import Workspace

__all__ = ["Loaded", "campaign_months", "load_sources", "quarantine_counts", "set_apart_pii",
           "store_sources", "validation_cache_dir"]


@dataclass
class Loaded:
    """Every source of one month, validated: ``by_source[name]`` is a :class:`Validated`.

    ``by_source["customers"]`` carries no PII columns and its quarantine has them redacted;
    ``contacts`` holds ``customer_id`` and the PII columns of the clean customers.
    """

    month: str
    by_source: dict[str, Validated]
    contacts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"customer_id": pd.Series(dtype="str")}))

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
    return set_apart_pii(Loaded(params.run.month, validated), params.privacy.pii_columns)


def validation_cache_dir(ws: Workspace) -> Path:
    """Where the row-local checks of the client's files are kept between months:
    ``cache/validated`` beside the engagement's store (see :mod:`winback.validation_cache`)."""
    return Path(ws.store_path).parent / "cache" / "validated"


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
    """
    for name, result in loaded.by_source.items():
        replace_table(con, name, result.clean)
    replace_table(con, "quarantine", loaded.quarantine)
    replace_table(con, CONTACTS_TABLE, loaded.contacts)


def quarantine_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Rows held out per source, rule and column (the data-quality report's table)."""
    if quarantine.empty:
        return pd.DataFrame({"source": [], "rule": [], "column": [], "rows": []})
    return (quarantine.groupby(["source", "rule", "column"], dropna=False, observed=True)
            .size().rename("rows").reset_index()
            .sort_values(["source", "rows"], ascending=[True, False], ignore_index=True))
