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

Sticky within a month
---------------------
"At most one other customer" is still one too many: a rerun of the month with another
budget could move a customer who was on the first run's call list into the second run's
control group. So a month's assignments are remembered in the store's append-only table
``holdout_register`` (:data:`REGISTER_COLUMNS`: ``month``, ``program``, ``customer_id``,
``group``, ``first_run``, the ordinal of the campaign-log write that first assigned the
customer in that program), written with the campaign log
(:func:`winback.campaign.write_campaign_log`) and hence through the month runner's store
copy: a failed run registers nothing, a rerun of month M sees M's rows (and none of the
later months'). Every later run of the month passes the register to
:func:`assign_holdout` (``registered``):

* a registered customer keeps their group, whatever the budget, share, strata or program
  of the run: a registered control stays control (and out of every call list) even when
  an earlier run did not select them, and a registered treated customer never becomes
  control;
* customers new to the month are drawn by the seeded stratified procedure above, topping
  each stratum's control group up to ``k = floor(share * n + v_s)`` over all ``n``
  selected customers of the stratum (registered ones included), never beyond the new
  customers available.

Guarantee: over any sequence of runs of a month (reruns, budget, share or strata
changes, customers flagged do-not-contact), the union of the treated (hence of every call
list) never meets the union of the control groups, and a rerun with the same inputs and
params gives the same assignment (it registers nothing new). :func:`register_additions`
refuses an assignment that contradicts the register. Cost: only the first run of a month
has the exact share within every stratum; later runs balance a stratum with its new
customers alone, so a stratum whose registered controls exceed its new target (the
budget shrank) keeps them, and one that grew with few new customers falls short: the
control share of such a stratum can be off by more than one customer.
:func:`holdout_summary` shows the realized share per stratum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CONTROL",
    "TREATMENT",
    "REGISTER_COLUMNS",
    "REGISTER_TABLE",
    "HoldoutError",
    "assign_holdout",
    "hash_uniform",
    "holdout_summary",
    "register_additions",
    "registered_groups",
]

TREATMENT = "treatment"
CONTROL = "control"
REGISTER_TABLE = "holdout_register"
REGISTER_COLUMNS: tuple[str, ...] = ("month", "program", "customer_id", "group", "first_run")


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
    frame: pd.DataFrame,
    *,
    share: float,
    seed: int,
    strata: Sequence[str] = ("tier", "churn_type"),
    registered: pd.DataFrame | Mapping[str, str] | None = None,
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
    registered : DataFrame or mapping, optional
        The month's earlier assignments: the ``holdout_register`` rows of the month (or
        ``customer_id`` -> group). Registered customers keep their group; the others top
        up each stratum's control group (module doc, *Sticky within a month*).

    Returns
    -------
    DataFrame
        A new frame with ``group`` (``treatment`` / ``control``), ``holdout_draw`` (the
        customer's draw), ``stratum`` (the strata values joined by ``" | "``) and
        ``registered`` (whether the group came from the register), rows in the input order.

    Raises
    ------
    HoldoutError
        When a column is missing, a customer appears twice, ``share`` is out of range or
        the register holds another group than treatment/control or two for one customer.
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
    known = ids.map(registered_groups(registered)).astype(object).to_numpy()
    fixed = pd.notna(known)
    group = np.where(fixed, known, TREATMENT).astype(object)
    work = pd.DataFrame({"stratum": stratum.to_numpy(), "draw": draw, "id": ids.to_numpy()})
    for key, idx in work.groupby("stratum", sort=True).groups.items():
        idx = np.asarray(idx)
        n = idx.size
        offset = hash_uniform([f"stratum|{key}"], seed)[0]
        k = int(np.floor(share * n + offset))
        # registered controls count towards k; only the new customers can top it up
        k -= int((group[idx[fixed[idx]]] == CONTROL).sum())
        new = idx[~fixed[idx]]
        if k <= 0 or new.size == 0:
            continue
        order = np.lexsort((work["id"].to_numpy()[new], draw[new]))
        group[new[order[:k]]] = CONTROL
    out["group"] = group
    out["holdout_draw"] = draw
    out["stratum"] = stratum.to_numpy()
    out["registered"] = fixed
    return out


def registered_groups(registered: pd.DataFrame | Mapping[str, str] | None) -> dict[str, str]:
    """``customer_id`` -> group of a month's register rows (or mapping); empty for None.

    A customer registered in several programs of the month has one group in all of them.

    Raises
    ------
    HoldoutError
        When a group is not treatment/control, or a customer has two groups.
    """
    if registered is None:
        return {}
    if isinstance(registered, pd.DataFrame):
        missing = [c for c in ("customer_id", "group") if c not in registered.columns]
        if missing:
            raise HoldoutError(f"the holdout register lacks column(s) {missing}")
        pairs = registered[["customer_id", "group"]].astype(str).drop_duplicates()
    else:
        pairs = pd.DataFrame(
            {"customer_id": [str(k) for k in registered],
             "group": [str(v) for v in registered.values()]}
        )
    bad = ~pairs["group"].isin([TREATMENT, CONTROL])
    if bad.any():
        raise HoldoutError(
            f"the holdout register holds group(s) {sorted(set(pairs.loc[bad, 'group']))}; "
            "only treatment and control"
        )
    twice = pairs["customer_id"].duplicated(keep=False)
    if twice.any():
        raise HoldoutError(
            "the holdout register gives customer(s) "
            f"{sorted(set(pairs.loc[twice, 'customer_id']))[:10]} both groups in one month"
        )
    return dict(zip(pairs["customer_id"], pairs["group"], strict=True))


def register_additions(register: pd.DataFrame, assignment: pd.DataFrame, month: str) -> pd.DataFrame:
    """The ``holdout_register`` rows that ``assignment`` adds to ``month``'s register.

    Parameters
    ----------
    register : DataFrame
        The register's rows (:data:`REGISTER_COLUMNS`; other months' rows are ignored).
    assignment : DataFrame
        The month's campaign rows: ``customer_id``, ``group`` and ``program``.
    month : str
        The campaign month.

    Returns
    -------
    DataFrame
        :data:`REGISTER_COLUMNS`: one row per (program, customer) of ``assignment`` not yet
        registered for ``month``, with ``first_run`` = the month's last run + 1; empty when
        the assignment adds nobody (a rerun with the same params).

    Raises
    ------
    HoldoutError
        When ``assignment`` gives a registered customer another group (a registered
        control treated, or a registered treated customer held out).
    """
    missing = [c for c in ("customer_id", "group", "program") if c not in assignment.columns]
    if missing:
        raise HoldoutError(f"the assignment lacks column(s) {missing}")
    mine = register[register["month"].astype(str) == month] if len(register) else register
    known = registered_groups(mine)
    rows = pd.DataFrame({
        "month": month,
        "program": assignment["program"].astype(str).to_numpy(),
        "customer_id": assignment["customer_id"].astype(str).to_numpy(),
        "group": assignment["group"].astype(str).to_numpy(),
    })
    before = rows["customer_id"].map(known)
    moved = before.notna() & (before != rows["group"])
    if moved.any():
        show = rows[moved.to_numpy()].head(10)
        raise HoldoutError(
            f"the campaign of {month} moves registered customer(s) to another group: "
            + ", ".join(f"{c} ({b} -> {g})" for c, b, g in
                        zip(show["customer_id"], before[moved].head(10), show["group"],
                            strict=True))
            + "; an earlier run of the month listed or held them out, so their group is "
            "kept (plan the campaign with the month's register: winback.campaign.plan_month)"
        )
    seen = set(zip(mine["program"].astype(str), mine["customer_id"].astype(str), strict=True)) \
        if len(mine) else set()
    new = np.array([(p, c) not in seen
                    for p, c in zip(rows["program"], rows["customer_id"], strict=True)], bool)
    last = int(pd.to_numeric(mine["first_run"]).max()) if len(mine) else 0
    out = rows[new].assign(first_run=last + 1)
    out = out.sort_values(["program", "customer_id"], kind="stable", ignore_index=True)
    return out.astype({"month": "string", "program": "string", "customer_id": "string",
                       "group": "string", "first_run": "int64"})[list(REGISTER_COLUMNS)]


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
