"""winback: a notebook methodology kit for customer churn win-back engagements (客户流失挽回).

Notebooks import the package as ``import winback as wb`` and call the public names below.
"""

from winback.clv import BGNBD, GammaGamma, simulate_bgnbd, simulate_gamma_gamma
from winback.config import ParamsError, load_params
from winback.contract import ContractError, orphans, quality_summary
from winback.ingest import load_sources, quarantine_counts, store_sources
from winback.messages import (
    Messages,
    column_labels,
    label_codes,
    output_language,
    show_tables,
    t,
)
from winback.runner import RunFailed, backfill, read_manifest, run_month, stages
from winback.settings import derive_seed, month_end, month_range
from winback.store import connect, opened, read_month, read_table, replace_month, replace_table
from winback.workspace import RunOutputs, Workspace, workspace

__version__ = "0.1.0"

__all__ = [
    "BGNBD",
    "ContractError",
    "GammaGamma",
    "Messages",
    "ParamsError",
    "RunFailed",
    "RunOutputs",
    "Workspace",
    "backfill",
    "column_labels",
    "connect",
    "derive_seed",
    "label_codes",
    "load_params",
    "load_sources",
    "month_end",
    "month_range",
    "opened",
    "orphans",
    "output_language",
    "quality_summary",
    "quarantine_counts",
    "read_manifest",
    "read_month",
    "read_table",
    "replace_month",
    "replace_table",
    "run_month",
    "show_tables",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "stages",
    "store_sources",
    "t",
    "workspace",
]
