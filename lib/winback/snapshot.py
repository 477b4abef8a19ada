"""Month-end customer snapshot: one row per customer with the features every stage reads.

The snapshot is aggregated in DuckDB, in one SQL statement over the store tables
``customers``, ``transactions`` and ``interactions`` (canonical columns), using only
rows dated on or before the month end (``ts < month_end + 1 day``). pandas receives
the customer-level result only.

Definitions (all durations in days, dates are calendar days of the timestamps)
-----------------------------------------------------------------------------
purchase / return
    A transaction row is a *return* when ``is_return`` is true or ``amount < 0``; its
    refund is ``abs(amount)``. A row with ``amount > 0`` that is not a return is a
    *purchase*. Rows with ``amount == 0`` that are not returns count as neither.
    Net spend = purchases - refunds. A return is never a purchase occasion.
purchase day
    A calendar day with at least one purchase. Same-day orders form one purchase
    occasion, as in the BG/NBD literature (Fader, Hardie & Lee 2005).
BG/NBD inputs
    ``frequency`` = purchase days - 1 (repeat purchase days); ``recency`` = last
    purchase day - first purchase day; ``T`` = month end - first purchase day.
    Customers without any purchase have ``purchase_days == 0``, ``frequency == 0`` and
    NaN ``recency`` / ``T``: they are not BG/NBD inputs.
monetary_value (Gamma-Gamma input)
    Average net spend per *repeat* purchase day: gross purchases on purchase days
    after the first, divided by ``frequency``, times the customer's lifetime net
    ratio ``clip(net_spend / gross_spend, 0, 1)`` (refunds are spread pro rata over
    all purchases, since a refund rarely falls on the day of the purchase it
    reverses). NaN when ``frequency == 0``, as the Gamma-Gamma model uses repeat
    transactions only. ``avg_day_spend`` = net spend / purchase days over all days.
windows
    ``*_365`` covers the 365 calendar days ending on the month end (inclusive),
    ``*_90`` the last 90 days, ``*_prev_90`` the 90 days before those (days 91-180
    before the month end, counting the month end as day 1).
necessary / discretionary spend
    Net spend by category class: a category listed in
    ``SnapshotParams.necessary_categories`` (compared trimmed, case-insensitive) is
    necessary, any other category discretionary, a NULL/blank category unknown.
    ``necessary_share`` = necessary / (necessary + discretionary), NaN when both are 0.
gaps
    Gaps are the day differences between consecutive purchase days (``frequency``
    gaps per customer). ``gap_mean`` (= recency / frequency), ``gap_median``,
    ``gap_std`` (sample standard deviation, needs 2 gaps). ``typical_gap`` is the
    customer's own ``gap_median`` when they have at least ``min_gaps`` gaps, else the
    population value: the median of ``gap_median`` over customers with at least
    ``min_gaps`` gaps (``default_gap_days`` when there are none); ``gap_source`` says
    which (``own`` / ``population``). ``recency_ratio`` = recency_days / typical_gap.
engagement
    Interaction counts per kind over the last 90 and 365 days (``eng_<kind>_90``,
    ``eng_<kind>_365``, zero-filled, for every kind of :data:`INTERACTION_KINDS`).
    ``engagement_90`` / ``engagement_prev_90`` / ``engagement_365`` count the kinds in
    ``SnapshotParams.engagement_kinds``; ``engagement_trend`` =
    (recent - previous) / (recent + previous + 1), in (-1, 1): negative = decline.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import timedelta

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from winback.config import Section
from winback.contract import INTERACTION_KIND_ORDER
from winback.frames import category_text, distinct_text
from winback.settings import month_end
from winback.store import read_month, replace_month, table_months

__all__ = [
    "INTERACTION_KINDS",
    "SnapshotError",
    "SnapshotParams",
    "month_end_snapshot",
    "month_end_snapshot_table",
    "month_end_snapshot_tables",
    "month_end_snapshots",
    "read_snapshot",
    "snapshot_frame",
    "snapshot_months",
    "store_frame",
    "write_snapshot",
    "write_snapshot_table",
]

# Interaction kinds of the data contract (one engagement column per kind and window).
INTERACTION_KINDS: tuple[str, ...] = INTERACTION_KIND_ORDER

_REQUIRED = {
    "customers": ("customer_id", "signup_date"),
    "transactions": ("order_id", "customer_id", "order_ts", "amount"),
    "interactions": ("customer_id", "ts", "kind"),
}
_CUSTOMER_TEXT = ("region", "business_line", "member_level", "preferred_channel", "gender")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class SnapshotError(ValueError):
    """The store cannot give a consistent snapshot; the message says which table, rows and fix."""


class SnapshotParams(Section):
    """Params section ``snapshot``: how the month-end customer snapshot is built."""

    necessary_categories: list[str] = Field(
        default_factory=lambda: ["grocery", "fresh_food", "household", "personal_care", "baby"],
        validate_default=True,
    )
    engagement_kinds: list[str] = Field(
        default_factory=lambda: [
            "review",
            "referral",
            "community_post",
            "community_answer",
            "campaign_participation",
            "survey_response",
            "suggestion",
        ]
    )
    min_gaps: int = Field(default=2, ge=1)
    default_gap_days: float = Field(default=30.0, gt=0)

    @field_validator("necessary_categories")
    @classmethod
    def _normalize(cls, value: list[str]) -> list[str]:
        return sorted({str(v).strip().lower() for v in value if str(v).strip()})

    @field_validator("engagement_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(INTERACTION_KINDS))
        if unknown:
            raise ValueError(
                f"unknown interaction kind(s) {unknown}; allowed: {', '.join(INTERACTION_KINDS)}"
            )
        if not value:
            raise ValueError("list at least one interaction kind")
        return list(dict.fromkeys(value))


# --------------------------------------------------------------------------- helpers


def _check_month(month: str) -> str:
    month = str(month)
    if not _MONTH.match(month):
        raise ValueError(f"month must be written YYYY-MM (e.g. 2024-06), got {month!r}")
    return month


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows] or None


def _require(con: duckdb.DuckDBPyConnection, table: str, *, optional: bool = False):
    cols = _columns(con, table)
    if cols is None:
        if optional:
            return None
        raise SnapshotError(
            f"The store has no table {table!r}: load the month's sources (stage 1) first."
        )
    missing = [c for c in _REQUIRED[table] if c not in cols]
    if missing:
        raise SnapshotError(
            f"Store table {table!r} lacks required column(s) {missing}; it has {cols}. "
            "Map the client's columns onto the canonical names in params.sources and reload."
        )
    return cols


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _orphans_error(con, as_of_end, has_interactions: bool) -> SnapshotError:
    """Explain activity dated by the month end whose customer is not signed up by then."""
    parts = []
    checks = [("transactions", "order_ts")] + ([("interactions", "ts")] if has_interactions else [])
    for table, ts in checks:
        rows = con.execute(
            f"""
            SELECT a.customer_id, count(*) AS n_rows, any_value(c.customer_id IS NULL) AS unknown
            FROM {table} a
            LEFT JOIN customers c USING (customer_id)
            WHERE a.{ts} < $end
              AND (c.customer_id IS NULL OR CAST(c.signup_date AS DATE) >= CAST($end AS DATE))
            GROUP BY a.customer_id ORDER BY a.customer_id
            """,
            {"end": as_of_end},
        ).fetchall()
        if rows:
            unknown = sum(1 for r in rows if r[2])
            parts.append(
                f"table {table!r}: {sum(r[1] for r in rows)} row(s) of {len(rows)} customer(s) "
                f"({unknown} unknown in 'customers', {len(rows) - unknown} with a later "
                f"signup_date), e.g. {', '.join(r[0] for r in rows[:5])}"
            )
    return SnapshotError(
        "Activity dated by the month end belongs to no customer signed up by then: "
        + "; ".join(parts)
        + ". Fix signup_date in the customers source, or let validation quarantine these "
        "rows, then reload the month."
    )


def _category_lists(con, tx_cols: list[str], end, params: SnapshotParams) -> tuple[str, str]:
    """SQL IN-lists of the raw category values that are necessary / discretionary."""
    if "category" not in tx_cols:
        return "NULL", "NULL"
    values = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT CAST(category AS VARCHAR) FROM transactions "
            "WHERE order_ts < $end AND category IS NOT NULL",
            {"end": end},
        ).fetchall()
    ]
    necessary = set(params.necessary_categories)
    nec = sorted(v for v in values if v.strip() and v.strip().lower() in necessary)
    disc = sorted(v for v in values if v.strip() and v.strip().lower() not in necessary)
    return (", ".join(map(_q, nec)) or "NULL"), (", ".join(map(_q, disc)) or "NULL")


def _category_class(tx_cols, categories: tuple[str, str]) -> str:
    """SQL for a transaction's category class: 0 necessary, 1 discretionary, 2 other."""
    nec, disc = categories
    if "category" not in tx_cols:
        return "2"
    return (f"CASE WHEN CAST(category AS VARCHAR) IN ({nec}) THEN 0 "
            f"WHEN CAST(category AS VARCHAR) IN ({disc}) THEN 1 ELSE 2 END")


# Amounts are summed as decimals (to 1/10,000 of the currency unit): exact, so the sums
# do not depend on the order DuckDB's threads add the rows in (floating-point sums do, in
# their last bits), and a snapshot is the same on every run.
_MONEY = "CAST(amount AS DECIMAL(18, 4))"


def _signed(is_ret: str) -> str:
    """SQL for a row's signed amount as a decimal: a return's refund negative, else the
    amount (rounding to the decimal is symmetric, so a refund is minus its amount's)."""
    return f"CAST(CASE WHEN {is_ret} THEN -abs(amount) ELSE amount END AS DECIMAL(18, 4))"


def _is_return(tx_cols: list[str]) -> str:
    return "(amount < 0" + (" OR coalesce(is_return, false))" if "is_return" in tx_cols else ")")


def _daily_sql(tx_cols: list[str], categories: tuple[str, str], key: str) -> str:
    """Transactions before ``$end_max`` summed per customer (``key_``, see
    :func:`_row_aggregates`), calendar day and category class.

    ``orders`` / ``gross`` count and sum purchase rows (not a return, amount > 0),
    ``returns`` / ``return_amount`` the return rows (refund = abs(amount)), ``signed`` the
    net amount (returns negative). Every window of the snapshot starts at midnight, so
    each is a range of these days.
    """
    is_ret = _is_return(tx_cols)
    cat_class = _category_class(tx_cols, categories)
    return f"""
        SELECT key_, d, cat,
            count(*) FILTER (WHERE NOT is_ret AND amount > 0) AS orders,
            sum(amount) FILTER (WHERE NOT is_ret AND amount > 0) AS gross,
            count(*) FILTER (WHERE is_ret) AS returns,
            sum(-signed) FILTER (WHERE is_ret) AS return_amount,
            sum(signed) AS signed
        FROM (
            SELECT {key} AS key_, CAST(order_ts AS DATE) AS d, {_MONEY} AS amount,
                   {is_ret} AS is_ret,
                   {_signed(is_ret)} AS signed,
                   {cat_class} AS cat
            FROM transactions
            WHERE order_ts < $end_max
        )
        GROUP BY key_, d, cat
    """


def _pday_sql(daily: str) -> str:
    """Purchase days of each customer from ``daily``: the day's gross purchases, the step in
    days from the customer's previous purchase day (NULL on the first) and the first day."""
    return f"""
        SELECT key_, d, gross,
               d - lag(d) OVER (PARTITION BY key_ ORDER BY d) AS step,
               min(d) OVER (PARTITION BY key_) AS first_d
        FROM (SELECT key_, d, sum(gross) AS gross FROM {daily}
              WHERE orders > 0 GROUP BY key_, d)
    """


def _hash_key_is_unique(con) -> bool:
    """Whether no two customer ids of ``customers`` share a 64-bit ``hash`` (almost surely).

    Then the hash can stand for the customer in the purchase-day window and in the
    aggregation: every customer with transactions by the month end is in ``customers``
    (else the snapshot refuses the month, :func:`_orphans_error`), so no two customers'
    rows share a key. The one case it cannot see is an unknown id whose hash equals a known
    customer's: with n known customers the odds per unknown id are n / 2^64 (5e-14 at a
    million), and stage 1 lists unknown customers from the loaded files anyway.
    """
    same = con.execute(
        "SELECT count(DISTINCT customer_id) = count(DISTINCT hash(customer_id)) FROM customers"
    ).fetchall()
    return bool(same[0][0])


def _customer_key(con) -> str:
    """SQL of the key purchases are aggregated by: the id's 64-bit hash when
    :func:`_hash_key_is_unique`, else the id itself."""
    return "hash(customer_id)" if _hash_key_is_unique(con) else "customer_id"


def _row_aggregates(tx_cols: list[str], categories: tuple[str, str], key: str) -> str:
    """CTE ``agg`` of one month end, straight from the transaction rows.

    One window pass sorts each customer's rows, purchases first by date (then the other
    rows): on a purchase row a positive step to the previous row's date starts a new
    purchase day and is the gap between consecutive purchase days (rows of the same day,
    in any order, step 0 from the first); the other rows get no step. One hash aggregation
    over that sorted stream then sums everything per customer (spend, returns, windows,
    categories, purchase days and gaps): the rows of a customer arrive together, so the
    aggregation touches one customer's totals at a time. Every window starts at midnight,
    so rows are compared by date. A purchase's amount equals its signed amount. Conditional
    sums and counts are written ``sum(CASE WHEN ... END)``, not ``FILTER``: the same
    values, which DuckDB computes faster than FILTER clauses over millions of rows.

    ``key`` is the customer key of the window's partitions and of the aggregation (column
    ``key_``): ``hash(customer_id)`` when :func:`_hash_key_is_unique` holds, else
    ``customer_id``. A 64-bit integer sorts and groups much faster than text, and the ids
    themselves then stay out of the 15M-row stream: the snapshot joins the customers on it.
    """
    is_ret = _is_return(tx_cols)
    cat_class = _category_class(tx_cols, categories)
    return f"""
    steps AS (
        SELECT key_, d, signed, is_ret, p, cat,
               CASE WHEN p THEN d - lag(d) OVER w END AS step,
               first_value(d) OVER w AS first_d
        FROM (
            SELECT {key} AS key_, CAST(order_ts AS DATE) AS d, {is_ret} AS is_ret,
                   {_signed(is_ret)} AS signed,
                   NOT {is_ret} AND amount > 0 AS p,
                   {cat_class} AS cat
            FROM transactions
            WHERE order_ts < $end
        )
        WINDOW w AS (PARTITION BY key_ ORDER BY p DESC, d)
    ),
    agg_rows AS (
        SELECT key_,
            count(CASE WHEN p THEN 1 END) AS orders,
            sum(CASE WHEN p THEN signed END) AS gross_spend,
            count(CASE WHEN is_ret THEN 1 END) AS returns,
            sum(CASE WHEN is_ret THEN -signed END) AS return_amount,
            sum(signed) AS net_spend,
            count(CASE WHEN p AND d >= $d365 THEN 1 END) AS orders_365,
            sum(CASE WHEN d >= $d365 THEN signed END) AS spend_365,
            count(CASE WHEN is_ret AND d >= $d365 THEN 1 END) AS returns_365,
            sum(CASE WHEN is_ret AND d >= $d365 THEN -signed END) AS return_amount_365,
            count(CASE WHEN p AND d >= $d90 THEN 1 END) AS orders_90,
            sum(CASE WHEN d >= $d90 THEN signed END) AS spend_90,
            count(CASE WHEN p AND d >= $d180 AND d < $d90 THEN 1 END) AS orders_prev_90,
            sum(CASE WHEN d >= $d180 AND d < $d90 THEN signed END) AS spend_prev_90,
            sum(CASE WHEN cat = 0 THEN signed END) AS necessary_spend,
            sum(CASE WHEN cat = 1 THEN signed END) AS discretionary_spend,
            sum(CASE WHEN cat = 2 THEN signed END) AS unknown_category_spend,
            sum(CASE WHEN cat = 0 AND d >= $d365 THEN signed END) AS necessary_spend_365,
            sum(CASE WHEN cat = 1 AND d >= $d365 THEN signed END) AS discretionary_spend_365,
            sum(CASE WHEN cat = 2 AND d >= $d365 THEN signed END) AS unknown_category_spend_365,
            nullif(count(CASE WHEN step IS NULL AND p OR step > 0 THEN 1 END), 0) AS purchase_days,
            count(CASE WHEN (step IS NULL AND p OR step > 0) AND d >= $d365 THEN 1 END)
                AS purchase_days_365,
            min(d) FILTER (WHERE p) AS first_day,
            max(d) FILTER (WHERE p) AS last_day,
            sum(CASE WHEN p AND d > first_d THEN signed END) AS repeat_gross,
            list(step) FILTER (WHERE step > 0) AS gaps,
            stddev_samp(step) FILTER (WHERE step > 0) AS gap_std
        FROM steps
        GROUP BY key_
    ),
    agg AS MATERIALIZED (
        SELECT * EXCLUDE (gaps), list_median(gaps) AS gap_median FROM agg_rows
    ),"""


# The figures summed from the customer-day rows of :func:`_daily_sql`: (column, the daily
# measure, category class or None for all, window). Windows are day ranges ending on the
# month end: "all" every day to it, "365" / "90" its last 365 / 90 days, "prev_90" the 90
# days before those 90.
_DAY_SUMS = (
    ("orders", "orders", None, "all"),
    ("gross_spend", "gross", None, "all"),
    ("returns", "returns", None, "all"),
    ("return_amount", "return_amount", None, "all"),
    ("net_spend", "signed", None, "all"),
    ("orders_365", "orders", None, "365"),
    ("spend_365", "signed", None, "365"),
    ("returns_365", "returns", None, "365"),
    ("return_amount_365", "return_amount", None, "365"),
    ("orders_90", "orders", None, "90"),
    ("spend_90", "signed", None, "90"),
    ("orders_prev_90", "orders", None, "prev_90"),
    ("spend_prev_90", "signed", None, "prev_90"),
    ("necessary_spend", "signed", 0, "all"),
    ("discretionary_spend", "signed", 1, "all"),
    ("unknown_category_spend", "signed", 2, "all"),
    ("necessary_spend_365", "signed", 0, "365"),
    ("discretionary_spend_365", "signed", 1, "365"),
    ("unknown_category_spend_365", "signed", 2, "365"),
)


def _window_dates(month: str) -> dict:
    """The month end's day (``as_of``), midnight after it (``end``), and the first day and
    instant of its 365, 180 and 90-day windows (``d365`` / ``s365`` ...)."""
    end = _end(month)
    dates = {"as_of": (end - pd.Timedelta(days=1)).date(), "end": end}
    for days in (365, 180, 90):
        dates[f"s{days}"] = end - pd.Timedelta(days=days)
        dates[f"d{days}"] = dates[f"s{days}"].date()
    return dates


def _in_window(window: str, dates: dict) -> str:
    """SQL: the day ``d`` lies in ``window`` (see ``_DAY_SUMS``) of the month end ``dates``."""
    first = {"all": None, "365": dates["d365"], "90": dates["d90"], "prev_90": dates["d180"]}
    last = dates["d90"] - timedelta(days=1) if window == "prev_90" else dates["as_of"]
    sql = f"d <= DATE '{last.isoformat()}'"
    return sql if first[window] is None else f"{sql} AND d >= DATE '{first[window].isoformat()}'"


def _running_sums_sql(daily: str, dates: dict, before: dict | None = None) -> str:
    """The ``_DAY_SUMS`` per customer at the month end ``dates``, from ``daily`` (zero, not
    missing, where a window has no row).

    With ``before`` (an earlier month end's dates), the change since then instead: the
    rows that entered each window minus those that left it. Added to that month end's
    sums they give this one's, exactly: counts are integers and amounts decimals.
    """
    sums, changed = [], []
    for column, measure, cat, window in _DAY_SUMS:
        of_class = "" if cat is None else f"cat = {cat} AND "
        now = _in_window(window, dates)
        if before is None:
            sums.append(f"coalesce(sum(CASE WHEN {of_class}{now} THEN {measure} END), 0) "
                        f"AS {column}")
            continue
        was = _in_window(window, before)
        sums.append(
            f"coalesce(sum(CASE WHEN {of_class}({now}) AND NOT ({was}) THEN {measure} "
            f"WHEN {of_class}({was}) AND NOT ({now}) THEN -{measure} END), 0) AS {column}")
        changed.append(f"(({now}) <> ({was}))")
    rows = _in_window("all", dates) if before is None else " OR ".join(dict.fromkeys(changed))
    listed = ",\n            ".join(sums)
    return f"""
        SELECT key_,
            {listed}
        FROM {daily}
        WHERE {rows}
        GROUP BY key_
    """


def _update_running_sums(con, running: str, daily: str, dates: dict,
                         before: dict | None) -> None:
    """Make table ``running`` hold the ``_DAY_SUMS`` at the month end ``dates``: built
    from ``daily`` when ``before`` is None (or later than ``dates``), else ``running``
    (which holds them at ``before``) plus the change since."""
    if before is None or before["as_of"] > dates["as_of"]:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {running} AS "
                    f"{_running_sums_sql(daily, dates)}")
        return
    added = ",\n            ".join(
        f"coalesce(r.{c}, 0) + coalesce(n.{c}, 0) AS {c}" for c, *_ in _DAY_SUMS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {running} AS
        SELECT key_,
            {added}
        FROM {running} r
        FULL JOIN ({_running_sums_sql(daily, dates, before)}) n USING (key_)
    """)


def _day_aggregates(running: str, pday: str) -> str:
    """CTE ``agg`` of one month end from the table ``running`` (its ``_DAY_SUMS``,
    :func:`_update_running_sums`) and the purchase days of :func:`_pday_sql` (built once
    for several month ends): the same figures as :func:`_row_aggregates`."""
    return f"""
    days AS (
        SELECT key_,
            count(*) AS purchase_days,
            count(*) FILTER (WHERE d >= $d365) AS purchase_days_365,
            min(d) AS first_day,
            max(d) AS last_day,
            sum(gross) FILTER (WHERE d > first_d) AS repeat_gross,
            median(step) FILTER (WHERE step > 0) AS gap_median,
            stddev_samp(step) FILTER (WHERE step > 0) AS gap_std
        FROM {pday}
        WHERE d <= $as_of
        GROUP BY key_
    ),
    agg AS (
        SELECT * FROM {running} LEFT JOIN days USING (key_)
    ),"""


def _snapshot_sql(
    tx_cols: list[str],
    cust_cols: list[str],
    has_interactions: bool,
    params: SnapshotParams,
    categories: tuple[str, str],
    running: str | None = None,
    pday: str | None = None,
    key: str = "customer_id",
) -> str:
    """The snapshot query; ``running`` / ``pday`` name tables of
    :func:`_update_running_sums` and :func:`_pday_sql` already built (several month
    ends), else it reads the transaction rows directly (one month end). ``key``: the
    customer key the purchases are aggregated by (see :func:`_row_aggregates`; the tables
    must have been built with the same one); the customers are joined to them on it."""

    def cust(col: str, sql_type: str = "VARCHAR") -> str:
        return f"CAST(c.{col} AS {sql_type})" if col in cust_cols else f"CAST(NULL AS {sql_type})"

    if "age" in cust_cols and "birth_year" in cust_cols:
        age = "CAST(coalesce(c.age, year($as_of) - c.birth_year) AS FLOAT)"
    elif "age" in cust_cols:
        age = "CAST(c.age AS FLOAT)"
    elif "birth_year" in cust_cols:
        age = "CAST(year($as_of) - c.birth_year AS FLOAT)"
    else:
        age = "CAST(NULL AS FLOAT)"
    dnc = (
        "coalesce(CAST(c.do_not_contact AS BOOLEAN), false)"
        if "do_not_contact" in cust_cols
        else "false"
    )

    kinds = list(INTERACTION_KINDS)
    eng_kinds = ", ".join(_q(k) for k in params.engagement_kinds)
    if has_interactions:
        kind_aggs = ",\n".join(
            f"count(*) FILTER (WHERE kind_ = {_q(k)} AND ts >= $s90) AS eng_{k}_90,\n"
            f"count(*) FILTER (WHERE kind_ = {_q(k)}) AS eng_{k}_365"
            for k in kinds
        )
        eng_cte = f"""
        eng AS (
            SELECT customer_id,
                {kind_aggs},
                count(*) FILTER (WHERE kind_ IN ({eng_kinds}) AND ts >= $s90) AS engagement_90,
                count(*) FILTER (WHERE kind_ IN ({eng_kinds}) AND ts >= $s180 AND ts < $s90)
                    AS engagement_prev_90,
                count(*) FILTER (WHERE kind_ IN ({eng_kinds})) AS engagement_365
            FROM (SELECT customer_id, ts, CAST(kind AS VARCHAR) AS kind_ FROM interactions
                  WHERE ts < $end AND ts >= $s365)
            GROUP BY customer_id
        ),"""
    else:
        cols = ", ".join(
            [f"0 AS eng_{k}_90, 0 AS eng_{k}_365" for k in kinds]
            + ["0 AS engagement_90", "0 AS engagement_prev_90", "0 AS engagement_365"]
        )
        eng_cte = f"eng AS (SELECT CAST(NULL AS VARCHAR) AS customer_id, {cols} WHERE false),"
    eng_select = ",\n".join(
        f"CAST(coalesce(e.eng_{k}_90, 0) AS INTEGER) AS eng_{k}_90,\n"
        f"CAST(coalesce(e.eng_{k}_365, 0) AS INTEGER) AS eng_{k}_365"
        for k in kinds
    )
    own = "r.purchase_days - 1 >= $min_gaps"
    aggregates = (_row_aggregates(tx_cols, categories, key) if running is None
                  else _day_aggregates(running, pday))
    return f"""
    WITH {aggregates}
    pop AS (
        SELECT coalesce(median(gap_median) FILTER (WHERE purchase_days - 1 >= $min_gaps),
                        $default_gap) AS pop_gap
        FROM agg
    ),
    {eng_cte}
    base AS (
        SELECT c.customer_id, c.key_, CAST(c.signup_date AS DATE) AS signup_date,
               {dnc} AS do_not_contact,
               {cust("region")} AS region,
               {cust("business_line")} AS business_line,
               {cust("member_level")} AS member_level,
               {cust("preferred_channel")} AS preferred_channel,
               {cust("gender")} AS gender,
               {age} AS age
        FROM (SELECT *, {key} AS key_ FROM customers) c
        WHERE CAST(c.signup_date AS DATE) <= $as_of
    )
    SELECT
        $month AS month,
        coalesce(b.customer_id, e.customer_id) AS customer_id,
        CAST(b.signup_date AS TIMESTAMP) AS signup_date,
        CAST($as_of - b.signup_date AS INTEGER) AS tenure_days,
        CAST(r.first_day AS TIMESTAMP) AS first_purchase_date,
        CAST(r.last_day AS TIMESTAMP) AS last_purchase_date,
        CAST(coalesce(r.purchase_days, 0) AS INTEGER) AS purchase_days,
        CAST(greatest(coalesce(r.purchase_days, 0) - 1, 0) AS INTEGER) AS frequency,
        CAST(r.last_day - r.first_day AS FLOAT) AS recency,
        CAST($as_of - r.first_day AS FLOAT) AS T,
        CAST($as_of - r.last_day AS FLOAT) AS recency_days,
        CAST(coalesce(r.orders, 0) AS INTEGER) AS orders,
        CAST(coalesce(r.gross_spend, 0) AS DOUBLE) AS gross_spend,
        CAST(coalesce(r.returns, 0) AS INTEGER) AS returns,
        CAST(coalesce(r.return_amount, 0) AS DOUBLE) AS return_amount,
        CAST(coalesce(r.net_spend, 0) AS DOUBLE) AS net_spend,
        CAST(CASE WHEN r.purchase_days > 1 THEN
            r.repeat_gross / (r.purchase_days - 1)
            * least(greatest(r.net_spend / r.gross_spend, 0), 1) END AS DOUBLE) AS monetary_value,
        CAST(CASE WHEN r.purchase_days > 0 THEN r.net_spend / r.purchase_days END AS DOUBLE)
            AS avg_day_spend,
        CAST(coalesce(r.orders_365, 0) AS INTEGER) AS orders_365,
        CAST(coalesce(r.purchase_days_365, 0) AS INTEGER) AS purchase_days_365,
        CAST(coalesce(r.spend_365, 0) AS DOUBLE) AS spend_365,
        CAST(coalesce(r.returns_365, 0) AS INTEGER) AS returns_365,
        CAST(coalesce(r.return_amount_365, 0) AS DOUBLE) AS return_amount_365,
        CAST(coalesce(r.orders_90, 0) AS INTEGER) AS orders_90,
        CAST(coalesce(r.spend_90, 0) AS DOUBLE) AS spend_90,
        CAST(coalesce(r.orders_prev_90, 0) AS INTEGER) AS orders_prev_90,
        CAST(coalesce(r.spend_prev_90, 0) AS DOUBLE) AS spend_prev_90,
        CAST(coalesce(r.necessary_spend_365, 0) AS DOUBLE) AS necessary_spend_365,
        CAST(coalesce(r.discretionary_spend_365, 0) AS DOUBLE) AS discretionary_spend_365,
        CAST(coalesce(r.unknown_category_spend_365, 0) AS DOUBLE) AS unknown_category_spend_365,
        CAST(coalesce(r.necessary_spend_365, 0) / nullif(coalesce(r.necessary_spend_365, 0)
            + coalesce(r.discretionary_spend_365, 0), 0) AS FLOAT) AS necessary_share_365,
        CAST(coalesce(r.necessary_spend, 0) AS DOUBLE) AS necessary_spend,
        CAST(coalesce(r.discretionary_spend, 0) AS DOUBLE) AS discretionary_spend,
        CAST(coalesce(r.unknown_category_spend, 0) AS DOUBLE) AS unknown_category_spend,
        CAST(coalesce(r.necessary_spend, 0) / nullif(coalesce(r.necessary_spend, 0)
            + coalesce(r.discretionary_spend, 0), 0) AS FLOAT) AS necessary_share,
        CAST((r.last_day - r.first_day) / nullif(r.purchase_days - 1, 0) AS FLOAT) AS gap_mean,
        CAST(r.gap_median AS FLOAT) AS gap_median,
        CAST(r.gap_std AS FLOAT) AS gap_std,
        CAST(CASE WHEN r.purchase_days > 0 THEN
            CASE WHEN {own} THEN r.gap_median ELSE p.pop_gap END END AS FLOAT) AS typical_gap,
        CASE WHEN r.purchase_days > 0 THEN
            CASE WHEN {own} THEN 'own' ELSE 'population' END END AS gap_source,
        CAST(($as_of - r.last_day) / CASE WHEN {own} THEN r.gap_median ELSE p.pop_gap END
            AS FLOAT) AS recency_ratio,
        {eng_select},
        CAST(coalesce(e.engagement_90, 0) AS INTEGER) AS engagement_90,
        CAST(coalesce(e.engagement_prev_90, 0) AS INTEGER) AS engagement_prev_90,
        CAST(coalesce(e.engagement_365, 0) AS INTEGER) AS engagement_365,
        CAST((coalesce(e.engagement_90, 0) - coalesce(e.engagement_prev_90, 0))
            / (coalesce(e.engagement_90, 0) + coalesce(e.engagement_prev_90, 0) + 1.0)
            AS FLOAT) AS engagement_trend,
        b.do_not_contact, b.region, b.business_line, b.member_level, b.preferred_channel,
        b.age, b.gender
    FROM base b
    FULL JOIN agg r ON r.key_ = b.key_
    FULL JOIN eng e ON e.customer_id = b.customer_id
    CROSS JOIN pop p
    ORDER BY customer_id
    """


_CATEGORY_COLUMNS = ("month", "gap_source", *_CUSTOMER_TEXT)


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """Compact dtypes: category (sorted levels) for repeated text, ids as strings."""
    out = frame.copy(deep=False)
    for col in _CATEGORY_COLUMNS:
        if col in out:
            values = out[col]
            if not isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype("category")
            levels = values.cat.categories
            if not levels.is_monotonic_increasing:
                values = values.cat.reorder_categories(sorted(levels))
            out[col] = values
    if "customer_id" in out and out["customer_id"].dtype != "str":
        out["customer_id"] = out["customer_id"].astype("str")
    for col in ("signup_date", "first_purchase_date", "last_purchase_date"):
        if col in out and out[col].dtype != "datetime64[us]":
            out[col] = out[col].astype("datetime64[us]")
    if "do_not_contact" in out and out["do_not_contact"].dtype != bool:
        out["do_not_contact"] = out["do_not_contact"].astype(bool)
    return out


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow result -> pandas with repeated text dictionary-encoded (fast path to category)."""
    columns = {
        name: pc.dictionary_encode(table[name]) if name in _CATEGORY_COLUMNS else table[name]
        for name in table.column_names
    }
    return _compact(pa.table(columns).to_pandas())


def _end(month: str) -> pd.Timestamp:
    """Midnight after the last day of ``month`` (rows dated before it are in the month)."""
    return pd.Timestamp(month_end(month).date() + timedelta(days=1))


def _run_snapshot(con, sql: str, month: str, params: SnapshotParams, *,
                  end_max: pd.Timestamp, columns=None) -> pa.Table:
    """Run the snapshot query for ``month`` (Arrow result); only ``columns`` when given
    (with ``month``, ``customer_id`` and ``signup_date``; DuckDB then skips the aggregates
    no kept column needs)."""
    values = {
        **_window_dates(month),
        "month": month,
        "end_max": end_max,
        "min_gaps": params.min_gaps,
        "default_gap": float(params.default_gap_days),
    }
    used = set(re.findall(r"\$(\w+)", sql))
    rel = con.sql(sql, params={k: v for k, v in values.items() if k in used})
    if columns is not None:
        keep = {"month", "customer_id", "signup_date", *columns}
        rel = rel.select(*[f'"{c}"' for c in rel.columns if c in keep])
    return rel.to_arrow_table()


# --------------------------------------------------------------------------- public API


def month_end_snapshot(
    con: duckdb.DuckDBPyConnection, month: str, *, params: SnapshotParams, columns=None
) -> pd.DataFrame:
    """Customer-level snapshot at the end of ``month``, aggregated in DuckDB.

    Parameters
    ----------
    con
        Connection to the engagement store holding ``customers``, ``transactions`` and
        (optionally) ``interactions`` with canonical columns.
    month
        Run month ``YYYY-MM``; data dated up to its last day (23:59:59 inclusive) is used.
    params
        The ``snapshot`` params section.
    columns
        Only these snapshot columns (with ``month``, ``customer_id`` and ``signup_date``),
        each equal to the full snapshot's; DuckDB then skips the aggregates no kept column
        needs. All when ``None``.

    Returns
    -------
    pandas.DataFrame
        One row per customer with ``signup_date <= month end``, sorted by
        ``customer_id``. Columns and their definitions are in the module docstring;
        durations in days, amounts in the sources' currency units.

    Raises
    ------
    SnapshotError
        A required table or column is missing, or transactions/interactions dated by
        the month end belong to a customer unknown or not yet signed up then.
    """
    return _to_pandas(month_end_snapshot_table(con, month, params=params, columns=columns))


def month_end_snapshot_table(
    con: duckdb.DuckDBPyConnection, month: str, *, params: SnapshotParams, columns=None
) -> pa.Table:
    """:func:`month_end_snapshot` as an Arrow table, before the pandas conversion.

    For stage 1, which stores the snapshot (:func:`write_snapshot_table`) and then converts
    it once (:func:`snapshot_frame`, equal to :func:`month_end_snapshot`'s frame) instead of
    converting it to pandas and back to Arrow for the store. Arguments and errors as
    :func:`month_end_snapshot`.
    """
    month = _check_month(month)
    cust_cols = _require(con, "customers")
    tx_cols = _require(con, "transactions")
    it_cols = _require(con, "interactions", optional=True)
    if it_cols is None:
        warnings.warn(
            "The store has no 'interactions' table: engagement counts are zero for everyone.",
            stacklevel=2,
        )
    end = _end(month)
    categories = _category_lists(con, tx_cols, end, params)
    sql = _snapshot_sql(tx_cols, cust_cols, it_cols is not None, params, categories,
                        key=_customer_key(con))
    table = _run_snapshot(con, sql, month, params, end_max=end, columns=columns)
    if table["signup_date"].null_count:
        raise _orphans_error(con, end, it_cols is not None)
    return table


def month_end_snapshots(
    con: duckdb.DuckDBPyConnection, months, *, params: SnapshotParams
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Snapshots of several month ends, each equal to :func:`month_end_snapshot`'s.

    The transactions are read once: summed per customer, day and category class, and
    each customer's purchase days with their gaps, into temporary tables (dropped at the
    end); each month end then takes the previous one's window sums plus the rows that
    entered and minus those that left each window (summed afresh when the months go
    back), and aggregates the purchase days up to its day. Much faster than one
    :func:`month_end_snapshot` per month when filling a history.

    Parameters
    ----------
    con
        Connection to the engagement store.
    months
        Months ``YYYY-MM``, in the order they are yielded.
    params
        The ``snapshot`` params section.

    Yields
    ------
    (str, pandas.DataFrame)
        Each month and its snapshot.

    Raises
    ------
    SnapshotError
        As :func:`month_end_snapshot`, for the first month it concerns.
    """
    for month, table in month_end_snapshot_tables(con, months, params=params):
        yield month, _to_pandas(table)


def month_end_snapshot_tables(
    con: duckdb.DuckDBPyConnection, months, *, params: SnapshotParams, columns=None
) -> Iterator[tuple[str, pa.Table]]:
    """:func:`month_end_snapshots` as Arrow tables, before any pandas conversion.

    ``columns``: only these snapshot columns (with ``month``, ``customer_id`` and
    ``signup_date``), each equal to the full snapshot's; all when ``None``.

    For callers that store a snapshot straight back into the store
    (:func:`write_snapshot_table`) and read only a few of its columns into pandas
    (:func:`snapshot_frame`): at a million customers the 70-column pandas round trip of
    every history month costs more than the query.
    """
    months = [_check_month(m) for m in months]
    if not months:
        return
    cust_cols = _require(con, "customers")
    tx_cols = _require(con, "transactions")
    it_cols = _require(con, "interactions", optional=True)
    if it_cols is None:
        warnings.warn(
            "The store has no 'interactions' table: engagement counts are zero for everyone.",
            stacklevel=2,
        )
    end_max = max(_end(m) for m in months)
    categories = _category_lists(con, tx_cols, end_max, params)
    daily, pday, running = "_snapshot_daily", "_snapshot_pday", "_snapshot_running"
    key = _customer_key(con)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {daily} AS "
                    f"{_daily_sql(tx_cols, categories, key)}", {"end_max": end_max})
        con.execute(f"CREATE OR REPLACE TEMP TABLE {pday} AS {_pday_sql(daily)}")
        sql = _snapshot_sql(tx_cols, cust_cols, it_cols is not None, params, categories,
                            running=running, pday=pday, key=key)
        before = None
        for month in months:
            dates = _window_dates(month)
            _update_running_sums(con, running, daily, dates, before)
            before = dates
            table = _run_snapshot(con, sql, month, params, end_max=end_max, columns=columns)
            if table["signup_date"].null_count:
                raise _orphans_error(con, _end(month), it_cols is not None)
            yield month, table
    finally:
        for table in (daily, pday, running):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def snapshot_months(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Months (``YYYY-MM``) held in the store table ``snapshots``, oldest first."""
    return table_months(con, "snapshots")


def store_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with category columns as plain strings, ready for the store.

    A pandas category would become a DuckDB ENUM fixed to its levels, refusing later
    months' new values; the store keeps text as VARCHAR.
    """
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = category_text(out[col])
    return out


def _check_stored_columns(con: duckdb.DuckDBPyConnection, columns) -> None:
    """Refuse a snapshot with columns the store's ``snapshots`` table lacks (none yet: fine)."""
    existing = _columns(con, "snapshots")
    extra = sorted(set(columns) - set(existing)) if existing is not None else []
    if extra:
        raise SnapshotError(
            f"Store table 'snapshots' lacks column(s) {extra} of the new snapshot: the "
            "snapshot definition changed. Rebuild the table (drop it and rerun the "
            "months) or drop those columns."
        )


def write_snapshot(con: duckdb.DuckDBPyConnection, snapshot: pd.DataFrame) -> int:
    """Store ``snapshot`` in the table ``snapshots``, replacing exactly its month's rows.

    The delete and insert run in one transaction (:func:`winback.store.replace_month`):
    on error the table is unchanged. Columns are matched by name; the table is created
    on first use.

    Parameters
    ----------
    con
        Connection to the engagement store.
    snapshot
        A frame from :func:`month_end_snapshot` (a single month).

    Returns
    -------
    int
        Number of rows written.
    """
    if "month" not in snapshot or "customer_id" not in snapshot:
        raise SnapshotError("The snapshot to write needs the columns 'month' and 'customer_id'.")
    months = distinct_text(snapshot["month"])
    if len(months) != 1:
        raise SnapshotError(
            f"write_snapshot stores one month at a time; the frame holds months {months}."
        )
    month = _check_month(months[0])
    if not snapshot["customer_id"].is_unique:
        dup = snapshot.loc[snapshot["customer_id"].duplicated(), "customer_id"].head(5).tolist()
        raise SnapshotError(f"The snapshot holds duplicate customer_id values, e.g. {dup}.")
    _check_stored_columns(con, snapshot.columns)
    replace_month(con, "snapshots", month, store_frame(snapshot))
    return len(snapshot)


def snapshot_frame(table: pa.Table, columns=None) -> pd.DataFrame:
    """A snapshot Arrow table (or ``columns`` of it) as pandas, with the compact dtypes."""
    if columns is not None:
        table = table.select([c for c in table.column_names if c in set(columns)])
    return _to_pandas(table)


def write_snapshot_table(con: duckdb.DuckDBPyConnection, month: str, table: pa.Table) -> int:
    """Store a snapshot Arrow table of ``month`` (from :func:`month_end_snapshot_tables`).

    The same rows and column types as :func:`write_snapshot` of its pandas frame: the
    table's columns are cast to the stored table's by name, in one transaction replacing
    ``month``'s rows. When the store has no ``snapshots`` table yet it is created through
    :func:`write_snapshot`, so its column types are always the pandas path's.
    """
    month = _check_month(month)
    if _columns(con, "snapshots") is None:
        return write_snapshot(con, _to_pandas(table))
    months = pc.unique(table["month"]).to_pylist()
    if months != [month]:
        raise SnapshotError(f"write_snapshot_table({month!r}): the table holds months {months}.")
    _check_stored_columns(con, table.column_names)
    replace_month(con, "snapshots", month, table)
    return table.num_rows


def read_snapshot(con: duckdb.DuckDBPyConnection, month: str, columns=None) -> pd.DataFrame:
    """The stored snapshot of ``month`` (compact dtypes, sorted by ``customer_id``).

    ``columns``: only these besides ``month`` and ``customer_id`` (all when ``None``).

    Raises
    ------
    KeyError
        The store has no ``snapshots`` table or no rows for ``month``.
    """
    month = _check_month(month)
    if columns is not None:
        columns = ["month", "customer_id", *columns]
    frame = read_month(con, "snapshots", month, columns)
    return _compact(frame.sort_values("customer_id", ignore_index=True))
