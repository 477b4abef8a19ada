"""winback: a notebook methodology kit for customer churn win-back engagements (客户流失挽回).

Notebooks import the package as ``import winback as wb`` and call the public names below.
Each name's module is imported when the name is first used (pandas and the params are
imported at once), so ``import winback`` stays cheap for a kernel or a command that needs
only part of the kit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Bound now: importing the submodule ``winback.workspace`` later would otherwise leave the
# module, not the function, under the package's name ``workspace``.
from winback.workspace import RunOutputs, Workspace, workspace

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("BGNBD", "GammaGamma", "simulate_bgnbd", "simulate_gamma_gamma"),
                    "winback.clv"),
    **dict.fromkeys(("ParamsError", "load_params"), "winback.config"),
    **dict.fromkeys(("ContractError", "orphans", "quality_summary"), "winback.contract"),
    **dict.fromkeys(("load_sources", "quarantine_counts", "store_sources"), "winback.ingest"),
    **dict.fromkeys(("Messages", "column_labels", "label_codes", "output_language",
                     "show_tables", "t"), "winback.messages"),
    **dict.fromkeys(("RunFailed", "backfill", "read_manifest", "run_month", "stages"),
                    "winback.runner"),
    **dict.fromkeys(("derive_seed", "month_end", "month_range"), "winback.settings"),
    **dict.fromkeys(("connect", "opened", "read_month", "read_table", "replace_month",
                     "replace_table"), "winback.store"),
    **dict.fromkeys(("RunOutputs", "Workspace", "workspace"), "winback.workspace"),  # bound
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_"):  # a submodule, e.g. ``wb.store``
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
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
    from winback.store import (
        connect,
        opened,
        read_month,
        read_table,
        replace_month,
        replace_table,
    )
