"""Checks of the churn definition: are the indicators relevant, and does it find known churn?

Relevance is checked on the past: the snapshot ``H`` months before the run month (as
stored by stage 1 or the history fill, else computed) is scored with this month's rules,
and each indicator is compared with whether the customer actually bought in the ``H``
months since (:func:`winback.churn.indicator_relevance`). Where a file
of confirmed churn exists (closed accounts, or the demo simulator's truth), the
``churned`` status is checked against it (:func:`winback.churn.churn_precision_recall`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from winback.churn import (
    SCORING_COLUMNS,
    ChurnParams,
    churn_precision_recall,
    future_purchases,
    indicator_relevance,
    score_churn,
)
from winback.snapshot import SnapshotParams, month_end_snapshot, read_snapshot, snapshot_months

__all__ = ["known_churn_check", "read_known_churn", "relevance_check"]


def relevance_check(
    con, month: str, *, snapshot_params: SnapshotParams, churn_params: ChurnParams
) -> pd.DataFrame:
    """Each indicator's association with realized inactivity, on the snapshot H months back.

    H is ``churn_params.relevance_horizon_months``. Customers that were ``new`` or ``lost``
    at that snapshot, or had never bought, are left out (their status is not a score call).

    Returns
    -------
    pandas.DataFrame
        :func:`winback.churn.indicator_relevance`'s table plus ``as_of`` (the past month)
        and ``horizon_months``; empty with a ``note`` column when the store's transactions
        do not reach back H months before ``month``.
    """
    horizon = churn_params.relevance_horizon_months
    past = str(pd.Period(month, "M") - horizon)
    first = con.execute("SELECT min(order_ts) FROM transactions").fetchone()[0]
    if first is None or pd.Timestamp(first) > pd.Period(past, "M").start_time:
        return pd.DataFrame({"note": [f"transactions do not reach back to {past}: "
                                      "no relevance check this month"]})
    if past in snapshot_months(con):  # stored by stage 1 or the history fill
        snapshot = read_snapshot(con, past, columns=SCORING_COLUMNS)
    else:
        snapshot = month_end_snapshot(con, past, params=snapshot_params)
    scored = score_churn(snapshot, params=churn_params)
    eligible = scored[~scored["status"].isin(["new", "lost"]) & scored["p_alive"].notna()]
    future = future_purchases(con, past, horizon)
    table = indicator_relevance(eligible, future)
    return table.assign(as_of=past, horizon_months=horizon)


def read_known_churn(path: str | Path, month: str) -> pd.DataFrame:
    """Confirmed churn for ``month`` from a Parquet or CSV file (month, customer_id, truly_churned).

    Raises
    ------
    ValueError
        The file lacks a column, or has no rows for ``month``; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"churn.known_churn_file {path} does not exist.")
    frame = (_read_parquet_month(path, month) if path.suffix == ".parquet"
             else pd.read_csv(path, dtype={"customer_id": str, "month": str}))
    missing = {"month", "customer_id", "truly_churned"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected month, "
                         "customer_id, truly_churned.")
    rows = frame.loc[frame["month"].astype(str) == month, ["customer_id", "truly_churned"]]
    if rows.empty:
        raise ValueError(f"{path} has no rows for {month}.")
    return rows.astype({"customer_id": str, "truly_churned": bool}).reset_index(drop=True)


def _read_parquet_month(path: Path, month: str) -> pd.DataFrame:
    """A Parquet file (or folder of files) of confirmed churn, only ``month``'s rows when its
    ``month`` column is text (the filter skips the other months' row groups; the rows and
    their order are those of the whole file filtered), else the whole file."""
    schema = pq.read_schema(path) if path.is_file() else ds.dataset(path).schema
    field = schema.field("month") if "month" in schema.names else None
    if field is None or not (pa.types.is_string(field.type)
                             or pa.types.is_large_string(field.type)):
        return pd.read_parquet(path)
    return pd.read_parquet(path, filters=[("month", "==", month)])


def known_churn_check(scored: pd.DataFrame, path: str | Path | None, month: str) -> pd.DataFrame:
    """Precision and recall of ``churned`` against confirmed churn, or a note when none is set.

    Only customers the status calls (not ``new``) are compared; a customer missing from
    the file counts as not churned.
    """
    if path is None:
        return pd.DataFrame({"note": ["no churn.known_churn_file set: nothing to compare with"]})
    known = read_known_churn(path, month)
    status = scored.loc[scored["status"] != "new", ["customer_id", "status"]]
    truth = (status[["customer_id"]].merge(known, on="customer_id", how="left")
             .fillna({"truly_churned": False}).astype({"truly_churned": bool}))
    return churn_precision_recall(status, truth)
