"""Performance benchmark of the monthly batch: ``python -m winback.bench`` (``make bench``).

For each size, the demo client (:mod:`winback.demo`, about 15 transactions per customer over
the two years of history before the engagement's first month) is generated under a scratch
``WINBACK_HOME`` of its own, so nothing touches a consultant's ``runs/`` and ``data/``. Then
the engagement's first month (``run.first_month`` of the demo params; ``--months`` runs
more) is run with every stage under papermill, exactly as ``winback run`` does
(:func:`winback.runner.run_month` with the override ``demo.n_customers=<size>``), on a fresh
store: loading the client's files is stage 1's work and counts in its time.

What is measured
----------------
stage seconds
    The manifest's per-stage wall time: papermill executing the notebook, kernel start
    included. ``other`` is the rest of :func:`~winback.runner.run_month` (params, input
    hashes, manifest, moving the month into place); ``total`` is its wall time. Generating
    the data is timed apart and is not in the total.
peak RSS
    Resident memory of the benchmark process plus every descendant process (the papermill
    kernels are children), summed over the processes alive at each moment, sampled from
    ``/proc/<pid>/status`` every 0.1 s while the month runs (:class:`RssSampler`); the peak
    is the largest sum. Each stage's peak is its kernel's own high-water mark (``VmHWM``,
    kept by the kernel, so exact up to the last sample), or the sampled sum over the kernel
    and the worker processes it forks, when larger. ``getrusage`` is not used on
    Linux: its ``RUSAGE_CHILDREN`` peak is the largest single child's, not the sum of the
    processes running together, and it accumulates over the benchmark's lifetime (every
    size, the data generator). Without ``/proc`` (macOS) the peak falls back to
    ``getrusage`` self + children maxima, an upper bound (the method is in the output).
growth
    Total seconds per customer at the largest size divided by that at the smallest
    (1.0 = linear; above 1 = worse than linear). Starting a kernel and importing the kit
    cost every stage seconds whatever the size, so with three sizes or more the growth from
    each size to the next is shown too, and per stage for the last step.
comparisons (largest size, last month run)
    The kit's month-end snapshot (:func:`winback.snapshot.month_end_snapshot`, DuckDB) is
    timed twice: with every snapshot column, and for the recency, frequency, T and
    monetary value part alone (the same query asked for those columns). That part is
    compared with a plain pandas groupby computing the same four figures from the
    transactions (:func:`pandas_rfm`; the time to read the transactions into pandas is
    shown apart), checked equal to the full snapshot's; and the kit's BG/NBD fit
    (:class:`winback.clv.BGNBD`, compressed rows, analytic gradient) against a plain
    per-row likelihood minimised by scipy with a numerical gradient
    (:func:`fit_bgnbd_plain`), parameters checked equal to 1e-4 relative.

Timings depend on the machine and on its load: the load averages before and after each
size are recorded next to the figures. Compare JSON files of the same machine only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from winback.config import ParamsError, find_root, load_params
from winback.runner import RunFailed, run_month, stages
from winback.settings import month_end, month_range
from winback.workspace import workspace

__all__ = [
    "BGNBD_RTOL",
    "DEFAULT_SIZES",
    "LARGE_SIZE",
    "BenchMismatch",
    "RssSampler",
    "bench_size",
    "compare_bgnbd",
    "compare_snapshot",
    "fit_bgnbd_plain",
    "format_table",
    "main",
    "pandas_rfm",
    "parse_sizes",
    "run_bench",
]

DEFAULT_SIZES = (10_000, 100_000)
LARGE_SIZE = 1_000_000
ENGAGEMENT = "demo"
SNAPSHOT_RTOL = 1e-6  # recency and T are float32 day counts in the kit's snapshot
BGNBD_RTOL = 1e-4
RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")
INPUT_TABLES = ("customers", "transactions", "interactions")
PACKAGES = ("pandas", "numpy", "scipy", "duckdb", "pyarrow", "papermill")
WORLD_MARKER = "bench-world.json"
_MB = 1024.0 * 1024.0
_TIME_UNIT_DAYS = {"days": 1.0, "weeks": 7.0}


class BenchMismatch(AssertionError):
    """The kit and its plain reference gave different numbers on the same data."""


# --------------------------------------------------------------------------- memory


def _proc_status(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of a process in bytes, or None when it is gone or has no memory."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) * 1024
    if "VmRSS" not in values:  # a zombie: exited, not yet reaped
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def _process_tree(pid: int) -> dict[int, list[int]]:
    """Children of ``pid`` and of each of its descendants, from ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # fields after the command name
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = {}, [pid]
    while todo:
        p = todo.pop()
        tree[p] = children.get(p, [])
        todo.extend(tree[p])
    return tree


def _subtree(tree: dict[int, list[int]], pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, ()))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    except OSError:
        return ""


class RssSampler:
    """Peak resident memory of this process and all its descendants while a block runs.

    ``with RssSampler() as rss: ...`` samples ``/proc`` every ``interval`` seconds in a
    thread. After the block, ``peak_mb`` is the largest sum of the resident set sizes
    (``VmRSS``) of the processes alive at one sample, and ``kernels`` lists the Jupyter
    kernels this process started, in order of start, with their peak in MB: the larger of
    the kernel's own high-water mark (``VmHWM``) and the sampled sum over the kernel and
    the processes it started.
    Where ``/proc`` is missing, ``peak_mb`` is ``getrusage``'s peak of this process plus
    its children's largest, an upper bound, and ``kernels`` stays empty; ``method`` says
    which was used.

    Parameters
    ----------
    interval : float, default 0.1
        Seconds between samples; a spike shorter than this can be missed by ``peak_mb``.
    """

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.pid = os.getpid()
        self.method = "proc" if Path(f"/proc/{self.pid}/status").exists() else "getrusage"
        self.peak_mb = 0.0
        self.kernels: list[dict[str, Any]] = []
        self._seen: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return (f"RssSampler(method={self.method!r}, peak_mb={self.peak_mb:.0f}, "
                f"kernels={len(self.kernels)})")

    def sample(self) -> None:
        """Take one sample now."""
        tree = _process_tree(self.pid)
        rss = {}
        for pid in tree:
            status = _proc_status(pid)
            if status is not None:
                rss[pid] = status
        self.peak_mb = max(self.peak_mb, sum(r for r, _ in rss.values()) / _MB)
        for pid in tree[self.pid]:  # kernels are started by this process
            if pid not in rss:
                continue
            info = self._seen.setdefault(pid, {"pid": pid, "cmd": "", "hwm_mb": 0.0})
            if not any(k is info for k in self.kernels):
                # read again until it names a kernel: between fork and exec a new child
                # still shows this process's command line
                info["cmd"] = _cmdline(pid)
                if "ipykernel" in info["cmd"]:
                    self.kernels.append(info)
            # the process's own high-water mark, or its subtree's sum (forked workers)
            below = sum(rss[p][0] for p in _subtree(tree, pid) if p in rss)
            info["hwm_mb"] = max(info["hwm_mb"], rss[pid][1] / _MB, below / _MB)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        if self.method == "proc":
            self.sample()
            self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.sample()
        else:
            scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes vs kB
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                    + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            self.peak_mb = peak * scale / _MB


# --------------------------------------------------------------------------- references


def pandas_rfm(transactions: pd.DataFrame, month: str) -> pd.DataFrame:
    """BG/NBD and Gamma-Gamma inputs per customer with a plain pandas groupby.

    The reference for the same four figures of :func:`winback.snapshot.month_end_snapshot`
    (definitions in :mod:`winback.snapshot`): transactions dated by the end of ``month``;
    a row is a return when ``is_return`` is true or ``amount < 0``, a purchase when it is
    not a return and ``amount > 0``; purchase days are calendar days with a purchase.

    Parameters
    ----------
    transactions : pandas.DataFrame
        Canonical columns ``customer_id``, ``order_ts``, ``amount`` and optionally
        ``is_return``.
    month : str
        ``YYYY-MM``; the as-of date is its last day.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (customers with at least one purchase, sorted):
        ``frequency`` (purchase days - 1), ``recency`` (last - first purchase day, days),
        ``T`` (month end - first purchase day, days), ``monetary_value`` (gross purchases
        on repeat days / frequency, times ``clip(net / gross, 0, 1)``; NaN when
        frequency is 0).
    """
    missing = [c for c in ("customer_id", "order_ts", "amount") if c not in transactions]
    if missing:
        raise ValueError(f"transactions lack column(s) {missing}; pass the canonical columns")
    as_of = month_end(month)
    tx = transactions.loc[transactions["order_ts"] < as_of + pd.Timedelta(days=1)]
    amount = tx["amount"].astype("float64")
    is_ret = amount < 0
    if "is_return" in tx:
        is_ret = is_ret | tx["is_return"].fillna(False).astype(bool)
    frame = pd.DataFrame({
        "customer_id": tx["customer_id"],
        "day": tx["order_ts"].dt.normalize(),
        "amount": amount,
        "signed": amount.where(~is_ret, -amount.abs()),
    })
    net = frame.groupby("customer_id")["signed"].sum()
    buys = frame.loc[~is_ret & (amount > 0)]
    days = buys.groupby("customer_id").agg(
        first=("day", "min"), last=("day", "max"), purchase_days=("day", "nunique"),
        gross=("amount", "sum"),
    )
    first = buys["customer_id"].map(days["first"])
    repeat = buys.loc[buys["day"] > first].groupby("customer_id")["amount"].sum()
    frequency = days["purchase_days"] - 1
    ratio = (net.reindex(days.index) / days["gross"]).clip(0, 1)
    out = pd.DataFrame({
        "frequency": frequency.astype("int64"),
        "recency": (days["last"] - days["first"]).dt.days.astype("float64"),
        "T": (as_of - days["first"]).dt.days.astype("float64"),
        "monetary_value": repeat.reindex(days.index, fill_value=0.0)
        / frequency.where(frequency > 0) * ratio,
    })
    return out.sort_index()


def _bgnbd_start(x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The kit's starting point: r = 1, alpha from the mean purchase rate, a = 1, b = 3."""
    rate = float(x.sum()) / max(float(T.sum()), 1e-300)
    alpha0 = 1.0 / rate if rate > 0 else float(T.mean()) + 1.0
    return np.array([1.0, min(max(alpha0, 1e-6), 1e8), 1.0, 3.0])


def fit_bgnbd_plain(frequency, recency, T) -> pd.Series:
    """Fit the BG/NBD model the straightforward way: per-row likelihood, numerical gradient.

    The mean negative log-likelihood of Fader, Hardie & Lee (2005, eq. 6) is evaluated on
    every row (no compression), vectorised with numpy, and minimised over the logs of the
    parameters by ``scipy.optimize.minimize`` (L-BFGS-B with finite-difference gradients,
    tight tolerances), from the same starting point as :class:`winback.clv.BGNBD`.

    Parameters
    ----------
    frequency, recency, T : array-like
        Repeat purchases ``x``, time of the last purchase ``t_x`` and age ``T`` of each
        customer (``recency`` and ``T`` in one time unit).

    Returns
    -------
    pandas.Series
        Estimates ``r``, ``alpha``, ``a``, ``b``.
    """
    x = np.asarray(frequency, dtype="float64")
    tx = np.asarray(recency, dtype="float64")
    age = np.asarray(T, dtype="float64")
    if not (x.shape == tx.shape == age.shape) or x.size == 0:
        raise ValueError("frequency, recency and T must be non-empty and of one length")
    repeat = x > 0
    b_shift = np.where(repeat, x - 1.0, 0.0)

    def nll(phi: np.ndarray) -> float:
        r, alpha, a, b = np.exp(phi)
        head = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                + special.betaln(a, b + x) - special.betaln(a, b))
        alive = -(r + x) * np.log(alpha + age)
        dropped = np.where(repeat, np.log(a) - np.log(b + b_shift)
                           - (r + x) * np.log(alpha + tx), -np.inf)
        value = -float(np.mean(head + np.logaddexp(alive, dropped)))
        return value if np.isfinite(value) else np.inf

    result = optimize.minimize(
        nll, np.log(_bgnbd_start(x, age)), method="L-BFGS-B",
        bounds=[(-25.0, 25.0)] * 4,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000, "maxfun": 100_000},
    )
    return pd.Series(np.exp(result.x), index=["r", "alpha", "a", "b"], name="estimate")


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def compare_snapshot(con, month: str, params) -> tuple[dict[str, Any], pd.DataFrame]:
    """Time the kit's snapshot against :func:`pandas_rfm` on a store; check equal figures.

    Parameters
    ----------
    con
        Connection to the engagement store (after stage 1 of ``month``).
    month : str
        ``YYYY-MM``.
    params : winback.snapshot.SnapshotParams
        The ``snapshot`` params section.

    Returns
    -------
    (dict, pandas.DataFrame)
        The figures (``kit_seconds`` for every column, ``kit_rfm_seconds`` for the four
        figures alone, ``pandas_load_seconds``, ``pandas_seconds``, ``ratio`` = pandas /
        kit's four figures, ``ratio_full`` = pandas / full snapshot, ``customers``,
        ``buyers``, ``max_abs_diff`` per column, ``equal``) and the kit's snapshot.

    Raises
    ------
    BenchMismatch
        The two disagree (other customers, or a figure beyond the tolerance).
    """
    from winback.snapshot import month_end_snapshot

    snap, kit_seconds = _timed(lambda: month_end_snapshot(con, month, params=params))
    part, rfm_seconds = _timed(lambda: month_end_snapshot(
        con, month, params=params, columns=[*RFM_COLUMNS, "purchase_days"]))
    cols = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'transactions' "
        "AND table_schema = current_schema()").fetchall()]
    wanted = [c for c in ("customer_id", "order_ts", "amount", "is_return") if c in cols]
    tx, load_seconds = _timed(lambda: con.sql(
        f"SELECT {', '.join(wanted)} FROM transactions").df())
    ref, pandas_seconds = _timed(lambda: pandas_rfm(tx, month))
    buyers = snap.loc[snap["purchase_days"] > 0].set_index("customer_id")
    figures: dict[str, Any] = {
        "month": month,
        "customers": len(snap),
        "buyers": len(buyers),
        "kit_seconds": round(kit_seconds, 3),
        "kit_columns": snap.shape[1],
        "kit_rfm_seconds": round(rfm_seconds, 3),
        "pandas_load_seconds": round(load_seconds, 3),
        "pandas_seconds": round(pandas_seconds, 3),
        "ratio": round(pandas_seconds / rfm_seconds, 2) if rfm_seconds > 0 else None,
        "ratio_full": round(pandas_seconds / kit_seconds, 2) if kit_seconds > 0 else None,
    }
    problems = []
    if not part.equals(snap[list(part.columns)]):
        problems.append("the snapshot's four figures alone differ from the full snapshot's")
    if set(buyers.index) != set(ref.index):
        only_kit = sorted(set(buyers.index) - set(ref.index))[:5]
        only_ref = sorted(set(ref.index) - set(buyers.index))[:5]
        problems.append(f"buyers differ: kit only {only_kit}, pandas only {only_ref}")
    non_buyers = snap.loc[snap["purchase_days"] == 0, "frequency"]
    if (non_buyers != 0).any():
        problems.append(f"{int((non_buyers != 0).sum())} customers without purchases have "
                        "frequency != 0")
    common = ref.index.intersection(buyers.index)
    diffs = {}
    for col in RFM_COLUMNS:
        kit = buyers.loc[common, col].to_numpy(dtype="float64")
        plain = ref.loc[common, col].to_numpy(dtype="float64")
        same_nan = np.isnan(kit) == np.isnan(plain)
        both = ~np.isnan(kit) & ~np.isnan(plain)
        diffs[col] = float(np.max(np.abs(kit[both] - plain[both]), initial=0.0))
        if not same_nan.all():
            problems.append(f"{col}: NaN in one and not the other for "
                            f"{int((~same_nan).sum())} customers")
        elif not np.allclose(kit[both], plain[both], rtol=SNAPSHOT_RTOL, atol=1e-9):
            problems.append(f"{col}: max abs difference {diffs[col]:.3g}")
    figures["max_abs_diff"] = diffs
    figures["equal"] = not problems
    if problems:
        figures["problems"] = problems
        raise BenchMismatch("snapshot vs pandas groupby: " + "; ".join(problems), figures)
    return figures, snap


def compare_bgnbd(snapshot: pd.DataFrame, *, time_unit: str = "weeks") -> dict[str, Any]:
    """Time the kit's BG/NBD fit against :func:`fit_bgnbd_plain`; check equal parameters.

    The inputs are the snapshot's buyers, in ``time_unit`` (as stage 1 fits them). The kit
    is timed compressed (its default) and, for reference, uncompressed.

    Returns
    -------
    dict
        ``rows``, ``distinct_rows`` (after compression), ``kit_seconds``,
        ``kit_uncompressed_seconds``, ``plain_seconds``, ``ratio`` = plain / kit,
        ``kit_params``, ``plain_params``, ``max_rel_diff``, ``equal``.

    Raises
    ------
    BenchMismatch
        A parameter differs by more than :data:`BGNBD_RTOL` (relative).
    """
    from winback.clv import BGNBD

    unit = _TIME_UNIT_DAYS[time_unit]
    buyers = snapshot.loc[snapshot["purchase_days"] > 0]
    x = buyers["frequency"].to_numpy(dtype="float64")
    tx = buyers["recency"].to_numpy(dtype="float64") / unit
    age = buyers["T"].to_numpy(dtype="float64") / unit
    with _warnings_as_errors():
        kit, kit_seconds = _timed(lambda: BGNBD().fit(x, tx, age))
        _, kit_full_seconds = _timed(lambda: BGNBD().fit(x, tx, age, compress=False))
    plain, plain_seconds = _timed(lambda: fit_bgnbd_plain(x, tx, age))
    rel = (plain / kit.params_ - 1.0).abs()
    distinct = len(pd.DataFrame({"x": x, "tx": tx, "T": age}).drop_duplicates())
    figures = {
        "time_unit": time_unit,
        "rows": int(x.size),
        "distinct_rows": distinct,
        "kit_seconds": round(kit_seconds, 4),
        "kit_uncompressed_seconds": round(kit_full_seconds, 4),
        "plain_seconds": round(plain_seconds, 3),
        "ratio": round(plain_seconds / kit_seconds, 1) if kit_seconds > 0 else None,
        "kit_params": {k: float(v) for k, v in kit.params_.items()},
        "plain_params": {k: float(v) for k, v in plain.items()},
        "max_rel_diff": float(rel.max()),
        "equal": bool(rel.max() <= BGNBD_RTOL),
    }
    if not figures["equal"]:
        raise BenchMismatch(
            f"BG/NBD kit vs plain scipy: parameters differ by up to {rel.max():.2g} relative "
            f"(kit {figures['kit_params']}, plain {figures['plain_params']})", figures)
    return figures


@contextlib.contextmanager
def _warnings_as_errors() -> Iterator[None]:
    """A fit that does not converge must not pass as a timing."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# --------------------------------------------------------------------------- one size


@contextlib.contextmanager
def _home(path: Path) -> Iterator[None]:
    """Point ``WINBACK_HOME`` (read by the runner and the kernels it starts) at ``path``."""
    before = os.environ.get("WINBACK_HOME")
    os.environ["WINBACK_HOME"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("WINBACK_HOME", None)
        else:
            os.environ["WINBACK_HOME"] = before


def _deliver(month: str, overrides: list[str]) -> None:
    """Let the demo client deliver data through ``month`` (run in a child process)."""
    from winback.demo_loop import DemoLoop

    DemoLoop(load_params(ENGAGEMENT, overrides)).deliver(month)


def _deliver_in_child(month: str, overrides: list[str], root: Path) -> dict[str, Any]:
    """Run :func:`_deliver` in a child process (the benchmark process stays small)."""
    code = "import sys; from winback.bench import _deliver; _deliver(sys.argv[1], sys.argv[2:])"
    with RssSampler() as rss:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, month, *overrides], cwd=root,
                              env={**os.environ, "WINBACK_ROOT": str(root)},
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the demo client failed to deliver {month}:\n{done.stderr[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(rss.peak_mb, 1)}


def _simulator_digest() -> str:
    """SHA-256 of the simulator's source files: a client generated by other code is stale."""
    import winback.demo

    digest = hashlib.sha256()
    for path in sorted(Path(winback.demo.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _count_rows(store: Path) -> dict[str, int | None]:
    from winback.store import has_table, opened

    if not store.exists():
        return dict.fromkeys(INPUT_TABLES)
    with opened(store, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        return {t: (int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
                    if has_table(con, t) else None) for t in INPUT_TABLES}


def bench_size(
    n_customers: int,
    *,
    home: Path,
    months: int = 1,
    stage_ids: list[str] | None = None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate the demo client at one size and run its first month(s) with every stage.

    Parameters
    ----------
    n_customers : int
        Customers of the demo client (``demo.n_customers``).
    home : path
        Scratch ``WINBACK_HOME`` of this size. A demo client generated there earlier with
        the same size, seed, months and simulator source, holding data through the first
        month only, is reused; the store and the runs are always removed first, so the
        month runs on a fresh engagement.
    months : int, default 1
        Months to run from ``run.first_month``; the client delivers each next month
        (executing the previous month's campaign) between runs, outside the timings.
    stage_ids : list of str, optional
        Run only these stages (default all; later stages need the earlier ones' tables).
    root : path, optional
        The kit's root (default: found from the working directory).
    log : callable
        Where progress lines go.

    Returns
    -------
    dict
        ``n_customers``, ``months`` run, ``generate`` (seconds, peak RSS, reused),
        ``inputs`` (rows of ``customers``, ``transactions``, ``interactions`` in the store
        after the last month), ``stage_seconds`` (summed over months), ``other_seconds``,
        ``total_seconds``, ``seconds_per_1k_customers``, ``peak_rss_mb`` (maximum over
        months), ``stage_peak_rss_mb`` (None when the kernels seen do not match the stages
        one to one), ``load_before`` / ``load_after`` and, per month, the same figures.

    Raises
    ------
    winback.runner.RunFailed
        A stage failed (its manifest is under ``home``).
    """
    root = Path(root or find_root())
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    overrides = [f"demo.n_customers={n_customers}"]
    with _home(home):
        params = load_params(ENGAGEMENT, overrides, root=root)
        ws = workspace(params, root)
        first = params.run.first_month
        run_months = month_range(first, str(pd.Period(first, "M") + (months - 1)))
        world = {"n_customers": n_customers, "seed": params.engagement.seed,
                 "history_start": params.demo.history_start, "first_month": first,
                 "simulator": _simulator_digest()}
        marker = home / WORLD_MARKER
        data_root = ws.resolve(params.sources.dir).parent
        reuse = (marker.exists() and json.loads(marker.read_text()) == world
                 and (data_root / "sim").exists())
        if not reuse:
            for folder in (data_root, ws.store_path.parent):
                if folder.exists():
                    shutil.rmtree(folder)
            marker.unlink(missing_ok=True)
        # a fresh store, and no row checks kept from an earlier benchmark of these files
        for leftover in (ws.engagement_runs, ws.store_path, ws.store_path.with_suffix(".duckdb.wal"),
                         ws.engagement_cache):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            elif leftover.exists():
                leftover.unlink()
        if reuse:
            log(f"  {n_customers:,} customers: reusing the demo client in {data_root}")
            generate: dict[str, Any] = {"seconds": None, "peak_rss_mb": None, "reused": True}
        else:
            log(f"  {n_customers:,} customers: generating the demo client through {first}")
            generate = {**_deliver_in_child(first, overrides, root), "reused": False}
            marker.write_text(json.dumps(world))
        per_month = []
        for month in run_months:
            if month != first:
                marker.unlink(missing_ok=True)  # the client now holds later months
                log(f"  {n_customers:,} customers: the client delivers {month}")
                _deliver_in_child(month, overrides, root)
            log(f"  {n_customers:,} customers: running {month}")
            load_before = os.getloadavg()
            with RssSampler() as rss:
                manifest, seconds = _timed(lambda m=month: run_month(
                    ENGAGEMENT, m, overrides, root=root, progress=False, only=stage_ids))
            run_stages = manifest["stages"]
            kernels = rss.kernels if len(rss.kernels) == len(run_stages) else None
            per_month.append({
                "month": month,
                "stage_seconds": {s["id"]: s["seconds"] for s in run_stages},
                "total_seconds": round(seconds, 2),
                "peak_rss_mb": round(rss.peak_mb, 1),
                "stage_peak_rss_mb": (
                    {s["id"]: round(k["hwm_mb"], 1) for s, k in zip(run_stages, kernels,
                                                                       strict=True)}
                    if kernels else None),
                "load_before": [round(v, 2) for v in load_before],
                "load_after": [round(v, 2) for v in os.getloadavg()],
            })
        inputs = _count_rows(ws.store_path)
    ids = list(per_month[0]["stage_seconds"])
    stage_seconds = {i: round(sum(m["stage_seconds"][i] for m in per_month), 2) for i in ids}
    total = round(sum(m["total_seconds"] for m in per_month), 2)
    peaks = [m["stage_peak_rss_mb"] for m in per_month]
    return {
        "n_customers": n_customers,
        "months": run_months,
        "generate": generate,
        "inputs": inputs,
        "stage_seconds": stage_seconds,
        "other_seconds": round(total - sum(stage_seconds.values()), 2),
        "total_seconds": total,
        "seconds_per_1k_customers": round(1000.0 * total / n_customers, 4),
        "peak_rss_mb": max(m["peak_rss_mb"] for m in per_month),
        "stage_peak_rss_mb": ({i: max(p[i] for p in peaks) for i in ids}
                              if all(p is not None for p in peaks) else None),
        "load_before": per_month[0]["load_before"],
        "load_after": per_month[-1]["load_after"],
        "per_month": per_month,
    }


# --------------------------------------------------------------------------- the whole run


def _git_commit(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _host() -> dict[str, Any]:
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
        line = next(text for text in Path("/proc/meminfo").read_text().splitlines()
                    if text.startswith("MemTotal:"))
        memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions = {"python": platform.python_version()}
    for name in ("winback", *PACKAGES):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {"machine": platform.machine(), "system": platform.system(),
            "cpus": os.cpu_count(), "memory_gb": memory, "versions": versions}


def _growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Time per customer at ``large`` over that at ``small``: in total and per stage."""
    scale = small["n_customers"] / large["n_customers"]

    def ratio(a: float, b: float) -> float | None:
        return round(b / a * scale, 3) if a > 0 else None

    return {
        "from": small["n_customers"],
        "to": large["n_customers"],
        "total": ratio(small["total_seconds"], large["total_seconds"]),
        "stages": {sid: ratio(small["stage_seconds"][sid], large["stage_seconds"][sid])
                   for sid in small["stage_seconds"]},
    }


def run_bench(
    sizes: list[int],
    *,
    months: int = 1,
    stage_ids: list[str] | None = None,
    home: Path | None = None,
    root: Path | None = None,
    compare: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Benchmark every size in turn, then compare the kit with plain references.

    Parameters
    ----------
    sizes : list of int
        Customers of the demo client, run smallest first.
    months : int, default 1
        Months run at each size from the engagement's first month.
    stage_ids : list of str, optional
        Only these stages (default all).
    home : path, optional
        Folder holding one scratch home per size (``customers-<n>/``), kept after the run
        (a later run reuses its generated clients). Default: a temporary folder, removed
        at the end when everything succeeded.
    root : path, optional
        The kit's root.
    compare : bool, default True
        Run the snapshot and BG/NBD comparisons on the largest size's data (needs stage
        ``data_collection``).

    Returns
    -------
    dict
        ``commit``, ``dirty``, ``date``, ``host``, ``rss_method``, ``stages``, ``sizes``
        (one :func:`bench_size` dict each), ``growth_per_customer`` (total time per
        customer at the largest size over the smallest; 1.0 = linear), ``growth_steps``
        (the same from each size to the next, in total and per stage: the fixed cost of
        starting kernels weighs on small sizes, so the last step shows best how the work
        itself grows) and ``comparisons``.
        When a comparison disagrees the result holds ``"equal": false`` and ``mismatch``.
    """
    import papermill  # noqa: F401  (imported before the clock starts, not in the first size)

    from winback.store import opened

    root = Path(root or find_root())
    sizes = sorted(set(sizes))
    all_ids = [s.id for s in stages(root)]
    temporary = home is None
    base = Path(tempfile.mkdtemp(prefix="winback-bench-")) if temporary else Path(home)
    result: dict[str, Any] = {
        **_git_commit(root),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "host": _host(),
        "rss_method": RssSampler().method,
        "months": months,
        "stages": stage_ids or all_ids,
        "sizes": [],
        "growth_per_customer": None,
        "growth_steps": [],
        "comparisons": None,
    }
    # params are validated once, up front (a bad key fails now, not after the first size)
    try:
        with _home(base / f"customers-{sizes[-1]}"):
            params = load_params(ENGAGEMENT, [f"demo.n_customers={sizes[-1]}"], root=root)
            store = workspace(params, root).store_path
    except ParamsError:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
        raise
    log(f"winback benchmark: {', '.join(f'{n:,}' for n in sizes)} customers, "
        f"{months} month(s), scratch homes under {base}")
    for n in sizes:
        result["sizes"].append(bench_size(n, home=base / f"customers-{n}", months=months,
                                          stage_ids=stage_ids, root=root, log=log))
    small, large = result["sizes"][0], result["sizes"][-1]
    if len(sizes) > 1:
        result["growth_per_customer"] = _growth(small, large)["total"]
        result["growth_steps"] = [_growth(a, b) for a, b in
                                  zip(result["sizes"], result["sizes"][1:], strict=False)]
    if compare and "data_collection" in result["stages"]:
        n = sizes[-1]
        month = large["months"][-1]
        log(f"  comparisons on the {n:,}-customer data ({month})")
        comparisons: dict[str, Any] = {"n_customers": n, "month": month}
        try:
            with opened(store, read_only=True) as con:
                con.execute("SET enable_progress_bar = false")  # no bar in the printed table
                comparisons["snapshot"], snap = compare_snapshot(con, month, params.snapshot)
            comparisons["bgnbd"] = compare_bgnbd(snap, time_unit=params.churn.time_unit)
        except BenchMismatch as exc:
            key = "snapshot" if "snapshot" not in comparisons else "bgnbd"
            comparisons[key] = exc.args[1]
            comparisons["mismatch"] = exc.args[0]
        result["comparisons"] = comparisons
    if temporary and not (result["comparisons"] or {}).get("mismatch"):
        shutil.rmtree(base, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- output


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """The benchmark's figures as a text table (sizes in columns), then the comparisons."""
    sizes = result["sizes"]
    head = result["commit"][:10] if result.get("commit") else "no git commit"
    dirty = " (uncommitted changes)" if result.get("dirty") else ""
    host = result["host"]
    lines = [
        f"winback benchmark  {result['date']}  commit {head}{dirty}",
        f"{host['cpus']} CPUs, {host['memory_gb']} GB; load average (1, 5, 15 min) before "
        f"each size: " + "; ".join(" ".join(f"{v:.1f}" for v in s["load_before"])
                                  for s in sizes),
        f"{result['months']} month(s) from {sizes[0]['months'][0]}; seconds are wall time; "
        f"peak RSS by {result['rss_method']} (benchmark + kernels)",
        "",
    ]
    width = max(12, *(len(f"{s['n_customers']:,}") + 2 for s in sizes))
    stage_ids = list(sizes[0]["stage_seconds"])
    label_width = max(32, *(len(f"  {sid} kernel (MB)") + 2 for sid in stage_ids))

    def row(label: str, values: list[str]) -> str:
        return f"{label:<{label_width}}" + "".join(f"{v:>{width}}" for v in values)

    lines.append(row("customers (demo.n_customers)", [_num(s["n_customers"]) for s in sizes]))
    for table in INPUT_TABLES:
        lines.append(row(f"  {table} rows", [_num(s["inputs"][table]) for s in sizes]))
    lines.append(row("generate data (s, not in total)",
                     ["reused" if s["generate"]["reused"] else _num(s["generate"]["seconds"])
                      for s in sizes]))
    for sid in sizes[0]["stage_seconds"]:
        lines.append(row(f"{sid} (s)", [_num(s["stage_seconds"][sid]) for s in sizes]))
    lines.append(row("other (s)", [_num(s["other_seconds"]) for s in sizes]))
    lines.append(row("total (s)", [_num(s["total_seconds"]) for s in sizes]))
    if len(sizes[0].get("per_month") or []) > 1:
        # the first month also fills the engagement's history; later months are the
        # steady monthly batch
        for k, first in enumerate(sizes[0]["per_month"]):
            lines.append(f"month {first['month']}:")
            for sid in first["stage_seconds"]:
                lines.append(row(f"  {sid} (s)", [_num(s["per_month"][k]["stage_seconds"][sid])
                                                  for s in sizes]))
            lines.append(row("  total (s)", [_num(s["per_month"][k]["total_seconds"])
                                             for s in sizes]))
    lines.append(row("s per 1,000 customers", [_num(s["seconds_per_1k_customers"], 3)
                                              for s in sizes]))
    lines.append(row("peak RSS, whole run (MB)", [_num(s["peak_rss_mb"], 0) for s in sizes]))
    if all(s["stage_peak_rss_mb"] for s in sizes):
        for sid in sizes[0]["stage_peak_rss_mb"]:
            lines.append(row(f"  {sid} kernel (MB)",
                             [_num(s["stage_peak_rss_mb"][sid], 0) for s in sizes]))
    if result.get("growth_per_customer") is not None:
        lines.append("")
        lines.append(f"growth of total time per customer, {sizes[0]['n_customers']:,} -> "
                     f"{sizes[-1]['n_customers']:,} customers: "
                     f"{result['growth_per_customer']:.2f} (linear = 1.0)")
        steps = result.get("growth_steps") or []
        if len(steps) > 1:
            for step in steps:
                lines.append(f"  {step['from']:,} -> {step['to']:,}: "
                             f"total {_num(step['total'], 2)}")
        if steps:
            last = steps[-1]
            lines.append(f"  by stage, {last['from']:,} -> {last['to']:,}: " + ", ".join(
                f"{sid} {_num(v, 2)}" for sid, v in last["stages"].items()))
    comp = result.get("comparisons")
    if comp:
        lines.append("")
        lines.append(f"on the same data ({comp['n_customers']:,} customers, {comp['month']}):")
        snap = comp.get("snapshot")
        if snap:
            verdict = "equal" if snap["equal"] else "NOT EQUAL"
            lines.append(
                f"  snapshot: kit (DuckDB, all {snap['kit_columns']} columns) "
                f"{snap['kit_seconds']:.2f} s; recency, frequency, T and monetary value alone: "
                f"kit {snap['kit_rfm_seconds']:.2f} s, pandas groupby "
                f"{snap['pandas_seconds']:.2f} s + {snap['pandas_load_seconds']:.2f} s to read "
                f"the transactions; pandas / kit = {_num(snap['ratio'], 2)} "
                f"({_num(snap['ratio_full'], 2)} against all columns); "
                f"{snap['buyers']:,} buyers: {verdict}")
        bg = comp.get("bgnbd")
        if bg:
            verdict = (f"equal (max relative difference {bg['max_rel_diff']:.1e})"
                       if bg["equal"] else "NOT EQUAL")
            lines.append(
                f"  BG/NBD fit: kit (compressed {bg['rows']:,} -> {bg['distinct_rows']:,} rows, "
                f"analytic gradient) {bg['kit_seconds']:.3f} s (uncompressed "
                f"{bg['kit_uncompressed_seconds']:.3f} s); plain scipy per row, numerical "
                f"gradient {bg['plain_seconds']:.2f} s; plain / kit = {_num(bg['ratio'], 1)}; "
                f"parameters {verdict}")
        if comp.get("mismatch"):
            lines.append(f"  MISMATCH: {comp['mismatch']}")
    return "\n".join(lines)


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")


def parse_sizes(text: str) -> list[int]:
    """Sizes from ``"10000,100000"`` (``10k``, ``1M`` and ``10_000`` also read).

    Raises
    ------
    ValueError
        A size is not a number of customers between 100 and 5,000,000.
    """
    sizes = []
    for part in str(text).split(","):
        token = part.strip().replace("_", "")
        match = _SIZE.match(token)
        if not match:
            raise ValueError(f"--sizes: {part.strip()!r} is not a number of customers "
                             "(write e.g. 10000,100000 or 10k,100k)")
        value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
        if value != int(value) or not 100 <= value <= 5_000_000:
            raise ValueError(f"--sizes: {part.strip()!r} must be a whole number of customers "
                             "from 100 to 5,000,000 (the demo client's range)")
        sizes.append(int(value))
    return sorted(set(sizes))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m winback.bench",
        description="Time one month of every stage on the demo client at several sizes.")
    p.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES),
                   help="customers of the demo client, comma-separated (default %(default)s)")
    p.add_argument("--large", action="store_true", help=f"add {LARGE_SIZE:,} customers")
    p.add_argument("--months", type=int, default=1,
                   help="months to run from the engagement's first month (default 1)")
    p.add_argument("--stages", default=None,
                   help="only these stage ids, comma-separated (default: every stage)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON file of the figures (default bench-<date>.json here)")
    p.add_argument("--home", type=Path, default=None,
                   help="keep the scratch homes here, one per size (default: a temporary "
                        "folder, removed afterwards); generated clients are reused")
    p.add_argument("--no-compare", dest="compare", action="store_false",
                   help="skip the snapshot and BG/NBD comparisons")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes) + ([LARGE_SIZE] if args.large else [])
        if args.months < 1:
            raise ValueError(f"--months: run at least 1 month, got {args.months}")
        root = find_root()
        known = [s.id for s in stages(root)]
        stage_ids = None
        if args.stages:
            wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
            unknown = [s for s in wanted if s not in known]
            if unknown or not wanted:
                raise ValueError(f"--stages: unknown stage id(s) {unknown}; "
                                 f"the stages are {', '.join(known)}")
            stage_ids = [s for s in known if s in wanted]
    except (ValueError, ParamsError, FileNotFoundError) as exc:
        print(f"winback.bench: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(f"bench-{time.strftime('%Y-%m-%d')}.json")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        result = run_bench(sorted(set(sizes)), months=args.months, stage_ids=stage_ids,
                           home=args.home, root=root, compare=args.compare, log=log)
    except ParamsError as exc:
        print(f"winback.bench: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"winback.bench: {exc}", file=sys.stderr)
        return 3
    print(format_table(result))
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nfigures written to {out}")
    return 1 if (result["comparisons"] or {}).get("mismatch") else 0


if __name__ == "__main__":
    sys.exit(main())
