"""Snapshot and churn-status history before the engagement's first month.

Trends (stage 2) and the early-warning labels (stage 7) need statuses for past month
ends, and an engagement starts with one. The first run fills in the months before it:
each past month end is snapshotted from the store's transactions and scored with the
engagement's own rules (BG/NBD fitted on that month's snapshot), exactly as stage 1 would
have done then. Months already in the store are never recomputed.
"""

from __future__ import annotations

import warnings

import pandas as pd

from winback.churn import SCORING_COLUMNS, ChurnParams, score_churn, write_status
from winback.snapshot import (
    SnapshotParams,
    month_end_snapshot_tables,
    snapshot_frame,
    write_snapshot_table,
)
from winback.store import checkpoint_threshold, table_months, transaction

__all__ = ["fill_status_history"]

# DuckDB's checkpoint threshold while the history is filled: each month's commit otherwise
# writes into the store file on its own (16 MiB default), a checkpoint per month; with this
# one several months' commits share one, and it bounds the committed data held in memory
FILL_CHECKPOINT_THRESHOLD = "256MiB"


def fill_status_history(
    con, month: str, *, snapshot_params: SnapshotParams, churn_params: ChurnParams
) -> pd.DataFrame:
    """Snapshot, score and store the ``churn.history_months`` month ends before ``month``.

    Only months missing from the store's ``churn_status`` are computed (their snapshot is
    stored too, in ``snapshots``), all from one pass over the transactions
    (:func:`winback.snapshot.month_end_snapshot_tables`). A month's snapshot goes from
    DuckDB back into the store as Arrow; only the columns scoring reads are converted to
    pandas.

    Months before the first transaction are skipped. Returns one row per month of the
    window: ``month``, ``source`` (``stored`` / ``filled`` / ``no data``) and ``customers``.
    """
    first_ts = con.execute("SELECT min(order_ts) FROM transactions").fetchall()[0][0]
    first = pd.Period(pd.Timestamp(first_ts), "M") if first_ts is not None else None
    have = set(table_months(con, "churn_status"))
    have_snapshots = set(table_months(con, "snapshots"))
    rows, todo = [], []
    for k in range(churn_params.history_months, 0, -1):
        past = str(pd.Period(month, "M") - k)
        if past in have:
            rows.append({"month": past, "source": "stored", "customers": None})
        elif first is None or pd.Period(past, "M") <= first:
            rows.append({"month": past, "source": "no data", "customers": 0})
        else:
            rows.append({"month": past, "source": "filled", "customers": None})
            todo.append(past)
    if todo:
        # every missing month from one read of the transactions; a month's snapshot and
        # statuses are stored together (one transaction per month), and the months' commits
        # reach the store file in a few checkpoints (FILL_CHECKPOINT_THRESHOLD)
        with warnings.catch_warnings(), checkpoint_threshold(con, FILL_CHECKPOINT_THRESHOLD):
            warnings.simplefilter("ignore")  # stage 1 reports a missing interactions source
            for past, table in month_end_snapshot_tables(con, todo, params=snapshot_params):
                scored = score_churn(snapshot_frame(table, SCORING_COLUMNS), params=churn_params)
                with transaction(con):
                    if past not in have_snapshots:
                        write_snapshot_table(con, past, table)
                    write_status(con, past, scored)
    table = pd.DataFrame(rows, columns=["month", "source", "customers"])
    counts = dict(con.execute(
        "SELECT month, count(*) FROM churn_status GROUP BY month").fetchall())
    table["customers"] = table["month"].map(counts).fillna(0).astype(int)
    return table
