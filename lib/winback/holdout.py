"""The campaign's control group: a stratified random holdout that is never contacted.

Every campaign keeps a random share of its selected customers as a control group, so
that stage 6 can report the effect as treated vs control. The split must be random,
balanced within each stratum (tier x churn type by default), reproducible (a rerun of the
month gives the same split) and as stable as possible when the candidate set changes.

Method
------
Each customer gets a uniform draw from a hash: ``u_i = H(seed, customer_id)`` (SHA-256,
first 8 bytes / 2**64), with ``seed = derive_seed(engagement.seed, month, "holdout")``.
So a customer's draw depends only on their id and the month, never on who else is in
the campaign. Within a stratum of ``n`` customers the ``k = floor(share * n + v_s)``
customers with the smallest draws are the control group, where ``v_s = H(seed,
stratum)`` in [0, 1) rounds ``share * n`` up or down at random (so small strata are held
out at the right share on average). Hence in every stratum ``|k - share * n| < 1``, and
adding or removing one customer changes the group of at most one other customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CONTROL",
    "TREATMENT",
    "HoldoutError",
    "assign_holdout",
    "hash_uniform",
    "holdout_summary",
]

TREATMENT = "treatment"
CONTROL = "control"


class HoldoutError(ValueError):
    """The holdout cannot be drawn as asked; the message names the column or value."""


def hash_uniform(keys: Iterable[object], seed: int) -> np.ndarray:
    """Uniform draws in [0, 1) from ``SHA-256(f"{seed}|{key}")``, the same on every platform."""
    prefix = f"{int(seed)}|".encode()
    out = [
        int.from_bytes(hashlib.sha256(prefix + str(k).encode("utf-8")).digest()[:8], "little")
        for k in keys
    ]
    return np.asarray(out, dtype=np.float64) / 2.0**64


def assign_holdout(
    frame: pd.DataFrame, *, share: float, seed: int, strata: Sequence[str] = ("tier", "churn_type")
) -> pd.DataFrame:
    """Split ``frame``'s customers into ``treatment`` and ``control`` (see the module doc).

    Parameters
    ----------
    frame : DataFrame
        One row per selected customer: ``customer_id`` and the ``strata`` columns.
    share : float
        Share of each stratum held out as control, in [0, 1).
    seed : int
        ``derive_seed(engagement.seed, month, "holdout")``.
    strata : sequence of str
        Columns defining the strata (missing values form their own stratum).

    Returns
    -------
    DataFrame
        A new frame with ``group`` (``treatment`` / ``control``), ``holdout_draw`` (the
        customer's draw) and ``stratum`` (the strata values joined by ``" | "``), rows in
        the input order.

    Raises
    ------
    HoldoutError
        When a column is missing, a customer appears twice or ``share`` is out of range.
    """
    if not 0 <= share < 1:
        raise HoldoutError(f"holdout share must be in [0, 1), got {share}")
    missing = [c for c in ("customer_id", *strata) if c not in frame.columns]
    if missing:
        raise HoldoutError(
            f"cannot stratify: column(s) {missing} missing; the frame has {list(frame.columns)}"
        )
    out = frame.reset_index(drop=True).copy()
    ids = out["customer_id"].astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise HoldoutError(
            f"customer(s) listed twice: {sorted(set(ids[dup]))[:10]}; one row per customer"
        )
    draw = hash_uniform(ids, seed)
    if strata:
        parts = [
            out[c]
            .astype(object)
            .map(
                lambda v: (
                    "<missing>"
                    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                    else str(v)
                )
            )
            for c in strata
        ]
        stratum = parts[0]
        for p in parts[1:]:
            stratum = stratum + " | " + p
    else:
        stratum = pd.Series("all", index=out.index, dtype=object)
    group = np.full(len(out), TREATMENT, dtype=object)
    work = pd.DataFrame({"stratum": stratum.to_numpy(), "draw": draw, "id": ids.to_numpy()})
    for key, idx in work.groupby("stratum", sort=True).groups.items():
        idx = np.asarray(idx)
        n = idx.size
        offset = hash_uniform([f"stratum|{key}"], seed)[0]
        k = int(np.floor(share * n + offset))
        if k == 0:
            continue
        order = np.lexsort((work["id"].to_numpy()[idx], draw[idx]))
        group[idx[order[:k]]] = CONTROL
    out["group"] = group
    out["holdout_draw"] = draw
    out["stratum"] = stratum.to_numpy()
    return out


def holdout_summary(assigned: pd.DataFrame, *, share: float | None = None) -> pd.DataFrame:
    """Customers, control and control share per stratum (plus a total row).

    ``expected_control`` = ``share * customers`` when ``share`` is given.
    """
    missing = [c for c in ("stratum", "group") if c not in assigned.columns]
    if missing:
        raise HoldoutError(f"run assign_holdout first (missing {missing})")
    table = pd.crosstab(assigned["stratum"], assigned["group"])
    for col in (TREATMENT, CONTROL):
        if col not in table.columns:
            table[col] = 0
    table = table[[TREATMENT, CONTROL]]
    table.loc["total"] = table.sum()
    table.insert(0, "customers", table[TREATMENT] + table[CONTROL])
    table["control_share"] = table[CONTROL] / table["customers"].where(table["customers"] > 0)
    if share is not None:
        table["expected_control"] = share * table["customers"]
    table.index.name = "stratum"
    table.columns.name = None
    return table
