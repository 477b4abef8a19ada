"""``DemoWorld``: the simulated client of the demo engagement, saved under one folder.

Layout under ``root`` (``data/<engagement>/``):

``client/``
    What the client delivers: ``customers.csv`` (GB18030, Chinese headers, see
    ``CUSTOMER_COLUMNS``), ``interactions.csv`` (UTF-8 with BOM), ``surveys.csv`` and
    ``contact_outcomes.csv`` (UTF-8), cumulative files appended month by month, and
    transactions as monthly extracts: ``transactions/transactions_<YYYY-MM>.parquet``, one
    Parquet file per month of the history and per month simulated since (a month without
    orders has no file), each written once. Canonical column names except in
    ``customers.csv``.
``truth/``
    Ground truth, never read by the kit: ``customers.parquet`` (latent parameters and
    current true state), ``status.parquet`` (month, customer_id, truly_churned at every
    month end), ``reasons.parquet`` (every dropout with its true reason),
    ``reactivations.parquet``, ``traces.parquet`` (the client rows that a dropout's reason
    left behind), ``campaign_<YYYY-MM>.parquet`` (potential outcomes of every assigned
    customer) and ``summary.json``. ``status``, ``reasons``, ``reactivations`` and
    ``traces`` are Parquet datasets: folders named ``<name>.parquet`` holding one file per
    month (``<name>_<YYYY-MM>.parquet``), which ``pandas.read_parquet`` reads as one table.
``sim/``
    The simulator's state (``state.npz``, the single commit point of a month, and a
    readable ``meta.json``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback.demo import callcentre as cc
from winback.demo import engine as eng
from winback.demo import population as pop
from winback.demo import taxonomy as tx
from winback.demo.files import CsvLog, MonthlyParquet
from winback.settings import derive_seed

__all__ = ["DemoWorld", "DemoStateError"]

STATE_VERSION = 3
PRE_EXISTING = 0.30  # share of the base that signed up before the history starts
PRE_EXISTING_DAYS = 730.0
SIGNUP_GROWTH = 0.02  # monthly growth of signups over the history
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

CLIENT_FILES = {
    "customers": "client/customers.csv",
    "transactions": "client/transactions/transactions_*.parquet",
    "interactions": "client/interactions.csv",
    "surveys": "client/surveys.csv",
    "contact_outcomes": "client/contact_outcomes.csv",
}
INTERACTION_COLUMNS = ["customer_id", "ts", "kind", "channel", "score", "text"]
SURVEY_COLUMNS = ["customer_id", "ts", "satisfaction", "nps", "reason_code", "text"]
OUTCOME_COLUMNS = ["customer_id", "campaign_month", "attempt", "contact_ts", "channel", "reached",
                   "reason_code", "response", "offer_redeemed", "satisfaction", "notes"]
TS = pa.timestamp("us")
TRANSACTIONS_DIR = "client/transactions"
SCHEMAS = {
    TRANSACTIONS_DIR: pa.schema([
        ("order_id", pa.string()), ("customer_id", pa.string()), ("order_ts", TS),
        ("amount", pa.float64()), ("quantity", pa.int64()), ("category", pa.string()),
        ("business_line", pa.string()), ("channel", pa.string()), ("discount", pa.float64()),
        ("is_return", pa.bool_()),
    ]),
    "truth/status.parquet": pa.schema([
        ("month", pa.string()), ("customer_id", pa.string()), ("truly_churned", pa.bool_()),
    ]),
    "truth/reasons.parquet": pa.schema([
        ("customer_id", pa.string()), ("dropout_ts", TS), ("month", pa.string()),
        ("reason", pa.string()), ("churn_type", pa.string()), ("source", pa.string()),
        ("episode", pa.int64()),
    ]),
    "truth/reactivations.parquet": pa.schema([
        ("customer_id", pa.string()), ("ts", TS), ("month", pa.string()), ("cause", pa.string()),
        ("campaign_month", pa.string()),
    ]),
    "truth/traces.parquet": pa.schema([
        ("customer_id", pa.string()), ("ts", TS), ("source", pa.string()), ("kind", pa.string()),
        ("reason", pa.string()), ("text", pa.string()),
    ]),
}
NOTES = {
    "unreached_voice": ("未接通", "无人接听", "电话占线"),
    "unreached_message": ("消息已发送，未回复", "消息未读"),
    "accepted": ("客户表示愿意再来看看", "客户接受了方案", "客户同意领取优惠"),
    "declined": ("客户明确表示不需要", "客户拒绝", "客户表示不要再联系"),
    "no_response": ("客户未明确表态", "客户听完后挂断"),
    "callback": ("客户要求稍后回电", "约定下次联系"),
}


class DemoStateError(RuntimeError):
    """The demo world cannot do what was asked in its current state (wrong month, no world...)."""


def _check_month(label: str, what: str) -> str:
    label = str(label)
    if not _MONTH.match(label):
        raise ValueError(f"{what} is written YYYY-MM (e.g. 2024-06), got {label!r}")
    return label


def _pick(rng: np.random.Generator, options: tuple[str, ...], size: int) -> np.ndarray:
    return np.array(options, dtype=object)[rng.integers(0, len(options), size)]


class DemoWorld:
    """A deterministic simulated retailer that plays the client's side of the engagement.

    Use ``DemoWorld.create`` to simulate the history, ``DemoWorld.open`` to reopen it, and
    ``advance`` to simulate one more month (executing the previous month's campaign).
    """

    def __init__(self, root: Path, engine: eng.Engine, meta: dict):
        self.root = Path(root)
        self.engine = engine
        self.meta = meta
        self._ids = self._make_ids(0, engine.n)
        self._ids_pa: pa.Array | None = None

    def __repr__(self) -> str:
        return (f"DemoWorld(root={str(self.root)!r}, customers={self.engine.n}, "
                f"data_through={self.data_through!r}, seed={self.meta['seed']})")

    # --- public API -------------------------------------------------------------------
    @property
    def data_through(self) -> str:
        """Last simulated month (``YYYY-MM``): the client files hold data up to its end."""
        return self.meta["data_through"]

    @property
    def paths(self) -> dict[str, Path]:
        """Client files by source name (for transactions, the glob of its monthly files)."""
        return {name: self.root / rel for name, rel in CLIENT_FILES.items()}

    @classmethod
    def create(cls, root: Path | str, *, n_customers: int = 4000, seed: int = 20240101,
               history_start: str = "2022-01", first_month: str = "2024-01",
               canary_every: int = 0) -> DemoWorld:
        """Simulate the client's history from ``history_start`` through the end of ``first_month``.

        Parameters
        ----------
        root : path
            Folder of the engagement's data (``data/<engagement>/``); ``client/``,
            ``truth/`` and ``sim/`` are created under it.
        n_customers : int
            Customers signed up by the end of ``first_month`` (new ones keep signing up
            every later month, about 2.8% of this number a month).
        seed : int
            The engagement seed; every random draw derives from it.
        history_start, first_month : str
            First month of the client's history and the engagement's first month
            (``YYYY-MM``).
        canary_every : int
            Plant canary PII (``CANARY金丝雀0001``, ``+86 199 0000 0001``,
            ``canary0001@example.invalid``, ...; ``population.canary_values``) in every
            ``canary_every``-th customer of the base, for tests that search the kit's
            outputs for personal data; 0 (default) plants none. Nothing else changes.

        Raises
        ------
        DemoStateError
            When ``root`` already holds a demo world (open it, or delete the folder).
        """
        root = Path(root)
        history_start = _check_month(history_start, "history_start")
        first_month = _check_month(first_month, "first_month")
        if (root / "sim" / "state.npz").exists():
            raise DemoStateError(f"{root} already holds a demo world (data through "
                                 f"{cls.open(root).data_through}); use DemoWorld.open, or delete the folder")
        n_hist = (pd.Period(first_month, "M") - pd.Period(history_start, "M")).n + 1
        if n_hist < 1:
            raise ValueError(f"first_month {first_month} is before history_start {history_start}")
        if int(n_customers) < 10:
            raise ValueError(f"n_customers must be at least 10, got {n_customers}")
        n = int(n_customers)
        for sub in ("client", "truth", "sim"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for stale in (root / "truth").glob("campaign_*.parquet"):
            stale.unlink()
        rng = np.random.default_rng(derive_seed(seed, "demo", "base_customers"))
        n_pre = int(round(PRE_EXISTING * n))
        pre_t = -rng.random(n_pre) * PRE_EXISTING_DAYS
        weights = 1.0 + SIGNUP_GROWTH * np.arange(n_hist)
        month = rng.choice(n_hist, n - n_pre, p=weights / weights.sum())
        probe = eng.Engine(history_start, {"signup_t": np.zeros(0)}, {})
        starts = np.array([probe.bounds(m)[0] for m in range(n_hist + 1)])
        hist_t = starts[month] + rng.random(month.size) * (starts[month + 1] - starts[month])
        signup_t = np.sort(np.concatenate([pre_t, hist_t]))
        arrays = pop.draw_customers(rng, signup_t)
        arrays.update(eng.dynamic_defaults(n))
        queues = {name: {k: np.zeros(0, eng.QUEUE_DTYPES[k]) for k in cols} for name, cols in eng.QUEUES.items()}
        engine = eng.Engine(history_start, arrays, queues)
        first_t = np.where(signup_t < 0, rng.exponential(1.0, n) / arrays["lam"], signup_t + 0.01)
        engine.start_customers(np.arange(n), first_t)
        meta = {
            "version": STATE_VERSION, "seed": int(seed), "n_customers": n,
            "history_start": history_start, "first_month": first_month, "data_through": None,
            "id_width": max(7, len(str(4 * n))), "signups_per_month": (n - n_pre) / n_hist,
            "committed": {}, "dropouts": {}, "churned_share": {}, "campaigns": {},
        }
        world = cls(root, engine, meta)
        logs = world._open_logs(fresh=True)
        try:
            base = pop.customers_frame(np.random.default_rng(derive_seed(seed, "demo", "pii")),
                                       world._ids, arrays, engine.epoch)
            base = pop.plant_canaries(base, int(canary_every))
            logs["client/customers.csv"].append(base)
            # the history's transactions: one file per month, written as each month is
            # simulated, so memory holds one month and the bytes written equal one big file's
            for m in range(n_hist):
                world._step(m, logs, None)
        except BaseException:
            for log in logs.values():
                if isinstance(log, MonthlyParquet):
                    log.abort()
            raise
        world._commit(logs, engine.month_label(n_hist - 1))
        return world

    @classmethod
    def open(cls, root: Path | str) -> DemoWorld:
        """Reopen a saved demo world."""
        root = Path(root)
        path = root / "sim" / "state.npz"
        if not path.exists():
            raise DemoStateError(f"no demo world under {root} (missing {path}); create one with DemoWorld.create")
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != STATE_VERSION:
                raise DemoStateError(f"{path} was written by another version of the simulator; recreate it")
            arrays = {name: data[f"a__{name}"] for name in eng.CUSTOMER_ARRAYS}
            queues = {q: {k: data[f"q__{q}__{k}"] for k in cols} for q, cols in eng.QUEUES.items()}
        engine = eng.Engine(meta["history_start"], arrays, queues, next_order=meta["next_order"])
        return cls(root, engine, meta)

    def advance(self, month: str, assignment: pd.DataFrame | None = None,
                scripts: dict[str, str] | None = None) -> None:
        """Simulate every day of ``month`` (the month after ``data_through``).

        Parameters
        ----------
        month : str
            ``YYYY-MM``; must be ``data_through + 1`` (state only moves forward).
        assignment : DataFrame or None
            The campaign of the previous month as the kit exports it (one row per
            assigned customer: ``customer_id, campaign_month, group, tier, reason_code,
            strategy, channel_1, channel_2, channel_3, offer_category, offer_value,
            expected_value``). The call centre contacts the treatment rows during
            ``month``; control rows are never contacted.
        scripts : dict or None
            Stated reason code -> strategy of the contact that follows a care/survey
            contact (a stated reason without a script gets ``care_message``).

        Raises
        ------
        DemoStateError
            When ``month`` is not the next month (already simulated, or a gap).
        winback.demo.callcentre.AssignmentError
            When the assignment is invalid (names the column and the customers), e.g. a
            do-not-contact customer in the treatment group.
        """
        month = _check_month(month, "month")
        expected = str(pd.Period(self.data_through, "M") + 1)
        if month != expected:
            if pd.Period(month, "M") <= pd.Period(self.data_through, "M"):
                raise DemoStateError(f"month {month} is already simulated (data through {self.data_through}); "
                                     "state only moves forward")
            raise DemoStateError(f"cannot advance to {month}: the next month to simulate is {expected}")
        m = self.engine.month_index(month)
        plan = None
        if assignment is not None:
            t_end = self.engine.bounds(m - 1)[1]
            plan = cc.validate_assignment(
                assignment, scripts, campaign_month=self.data_through, id_width=self.meta["id_width"],
                signup_t=self.engine.a["signup_t"], campaign_end=t_end, dnc=self.engine.a["dnc"])
        elif scripts:
            raise cc.AssignmentError("scripts were given without an assignment")
        logs = self._open_logs(fresh=False)
        try:
            self._step(m, logs, plan)
            self._commit(logs, month)
        except BaseException:
            for log in logs.values():
                if isinstance(log, MonthlyParquet):
                    log.abort()
            # the month did not happen: back to the saved state (files are cut back on the next advance)
            saved = DemoWorld.open(self.root)
            self.engine, self.meta, self._ids, self._ids_pa = saved.engine, saved.meta, saved._ids, None
            raise

    # --- ids and files ----------------------------------------------------------------
    def _make_ids(self, start: int, stop: int) -> np.ndarray:
        width = self.meta["id_width"]
        return np.strings.add("C", np.strings.zfill(np.arange(start + 1, stop + 1).astype(str), width))

    def _open_logs(self, fresh: bool) -> dict:
        c = {} if fresh else self.meta["committed"]
        through = None if fresh else self.data_through
        r = self.root
        logs: dict = {
            "client/customers.csv": CsvLog(r / "client/customers.csv", list(pop.CUSTOMER_COLUMNS),
                                           "gb18030", c.get("client/customers.csv")),
            "client/interactions.csv": CsvLog(r / "client/interactions.csv", INTERACTION_COLUMNS,
                                              "utf-8-sig", c.get("client/interactions.csv")),
            "client/surveys.csv": CsvLog(r / "client/surveys.csv", SURVEY_COLUMNS, "utf-8",
                                         c.get("client/surveys.csv")),
            "client/contact_outcomes.csv": CsvLog(r / "client/contact_outcomes.csv", OUTCOME_COLUMNS,
                                                  "utf-8", c.get("client/contact_outcomes.csv")),
        }
        for rel, schema in SCHEMAS.items():
            stem = Path(rel).name.removesuffix(".parquet")
            logs[rel] = MonthlyParquet(r / rel, stem, schema, through, skip_empty=rel == TRANSACTIONS_DIR)
        return logs

    def _commit(self, logs: dict, month: str) -> None:
        # monthly files go into place before the state is saved: should saving fail, the next
        # month's opening deletes them (they are after the committed month)
        committed = {}
        for rel, log in logs.items():
            if isinstance(log, MonthlyParquet):
                log.commit()
            else:
                committed[rel] = log.size()
        self.meta["committed"] = committed
        self.meta["data_through"] = month
        self.meta["next_order"] = self.engine.next_order
        self._write_truth_tables()
        state = {f"a__{k}": v for k, v in self.engine.a.items()}
        for q, cols in self.engine.q.items():
            state.update({f"q__{q}__{k}": v for k, v in cols.items()})
        state["meta"] = np.array(json.dumps(self.meta, ensure_ascii=False))
        tmp = self.root / "sim" / "state.tmp.npz"
        np.savez(tmp, **state)
        os.replace(tmp, self.root / "sim" / "state.npz")
        (self.root / "sim" / "meta.json").write_text(
            json.dumps(self.meta, ensure_ascii=False, indent=1), encoding="utf-8")

    def _arrow_ids(self, pos: np.ndarray) -> pa.Array:
        if self._ids_pa is None or len(self._ids_pa) != self._ids.size:
            self._ids_pa = pa.array(self._ids, pa.string())
        return self._ids_pa.take(pa.array(np.asarray(pos, np.int64)))

    def _ts(self, t: np.ndarray) -> pa.Array:
        return pa.array(self.engine.timestamps(t).astype("datetime64[us]"), TS)

    # --- one month ----------------------------------------------------------------------
    def _step(self, m: int, logs: dict, plan: cc.Plan | None) -> None:
        e = self.engine
        a = e.a
        label = e.month_label(m)
        seed = self.meta["seed"]
        t0, t1 = e.bounds(m)
        first_idx = e.month_index(self.meta["first_month"])
        if m > first_idx:
            self._signups(m, logs)
        contacts = None
        if plan is not None:
            contacts = self._campaign(m, plan)
        res = e.simulate_month(m, np.random.default_rng(derive_seed(seed, label, "demo", "month")))
        o = res.orders
        sort = np.lexsort((o["is_return"], o["cust"], o["t"]))
        digits = pc.utf8_lpad(pa.array(o["order_no"][sort]).cast(pa.string()), 10, "0")
        suffix = pa.array(np.where(o["is_return"][sort], "-R", ""), pa.string())
        order_ids = pc.binary_join_element_wise("O", digits, suffix, "")
        cats = pa.array(tx.CATEGORIES)
        lines = pa.array(tx.BUSINESS_LINES)
        logs[TRANSACTIONS_DIR].write(label, pa.table({
            "order_id": order_ids,
            "customer_id": self._arrow_ids(o["cust"][sort]),
            "order_ts": self._ts(o["t"][sort]),
            "amount": o["amount"][sort],
            "quantity": o["quantity"][sort].astype(np.int64),
            "category": cats.take(pa.array(o["cat"][sort].astype(np.int64))),
            "business_line": lines.take(pa.array(tx.CATEGORY_LINE[o["cat"][sort]].astype(np.int64))),
            "channel": pa.array(tx.TX_CHANNELS).take(pa.array(o["channel"][sort].astype(np.int64))),
            "discount": o["discount"][sort],
            "is_return": o["is_return"][sort],
        }))
        self._write_interactions(res, logs)
        if plan is not None:
            self._write_contacts(m, plan, contacts, res, logs)
        # truth: status at month end, dropouts, reactivations
        signed = np.flatnonzero(a["signup_t"] < t1)
        churned = ~a["alive"][signed]
        logs["truth/status.parquet"].write(label, pa.table({
            "month": pa.array(np.full(signed.size, label), pa.string()),
            "customer_id": self._arrow_ids(signed),
            "truly_churned": churned,
        }))
        self.meta["churned_share"][label] = float(churned.mean()) if signed.size else 0.0
        d = res.dropouts
        names = np.array(tx.REASONS, dtype=object)
        sources = np.array([ev.name for ev in tx.EVENTS] + ["base"], dtype=object)
        logs["truth/reasons.parquet"].write(label, pa.table({
            "customer_id": self._arrow_ids(d["cust"]),
            "dropout_ts": self._ts(d["t"]),
            "month": pa.array(np.full(d["cust"].size, label), pa.string()),
            "reason": pa.array(names[d["reason"]].tolist(), pa.string()),
            "churn_type": pa.array([tx.CHURN_TYPE[r] for r in names[d["reason"]]], pa.string()),
            "source": pa.array(sources[d["source"]].tolist(), pa.string()),
            "episode": a["episodes"][d["cust"]].astype(np.int64),
        }))
        self.meta["dropouts"][label] = np.bincount(d["reason"], minlength=len(tx.REASONS)).tolist()
        r = res.reactivations
        camp = r["campaign"]
        logs["truth/reactivations.parquet"].write(label, pa.table({
            "customer_id": self._arrow_ids(r["cust"]),
            "ts": self._ts(r["t"]),
            "month": pa.array(np.full(r["cust"].size, label), pa.string()),
            "cause": pa.array(np.where(camp >= 0, "campaign", "natural").tolist(), pa.string()),
            "campaign_month": pa.array([e.month_label(int(c)) if c >= 0 else None for c in camp], pa.string()),
        }))

    def _signups(self, m: int, logs: dict) -> None:
        e = self.engine
        label = e.month_label(m)
        rng = np.random.default_rng(derive_seed(self.meta["seed"], label, "demo", "signups"))
        t0, t1 = e.bounds(m)
        k = int(rng.poisson(self.meta["signups_per_month"]))
        if k == 0:
            return
        t = np.sort(t0 + rng.random(k) * (t1 - t0))
        new = pop.draw_customers(rng, t)
        new.update(eng.dynamic_defaults(k))
        start = e.n
        for name in eng.CUSTOMER_ARRAYS:
            e.a[name] = np.concatenate([e.a[name], new[name]])
        new_ids = self._make_ids(start, start + k)
        self._ids = np.concatenate([self._ids, new_ids])
        e.start_customers(np.arange(start, start + k), t + 0.01)
        logs["client/customers.csv"].append(pop.customers_frame(rng, new_ids, new, e.epoch))

    def _write_interactions(self, res: eng.MonthResult, logs: dict) -> None:
        e = self.engine
        it, sv = res.interactions, res.surveys
        kinds = np.array(tx.KINDS, dtype=object)
        # every survey answer is also an interaction (non-monetary engagement)
        cust = np.concatenate([it["cust"], sv["cust"]])
        t = np.concatenate([it["t"], sv["t"]])
        kind = np.concatenate([it["kind"], np.full(sv["cust"].size, tx.K["survey_response"])]).astype(np.int64)
        chan = np.concatenate([it["channel"], np.zeros(sv["cust"].size, np.int8)]).astype(np.int64)
        score = np.concatenate([it["score"], sv["sat"]]).astype(np.int64)
        text = np.concatenate([it["text"], np.full(sv["cust"].size, -1)]).astype(np.int64)
        order = np.lexsort((kind, cust, t))
        cust, t, kind, chan, score, text = (x[order] for x in (cust, t, kind, chan, score, text))
        texts = np.where(text >= 0, e.texts[np.maximum(text, 0)], "完成满意度调查")
        frame = pd.DataFrame({
            "customer_id": self._ids[cust],
            "ts": e.timestamps(t).astype("datetime64[s]"),
            "kind": kinds[kind],
            "channel": np.array(tx.INTERACTION_CHANNELS, dtype=object)[chan],
            "score": pd.array(np.where(score > 0, score, 0), dtype="Int64"),
            "text": texts,
        })
        frame.loc[score <= 0, "score"] = pd.NA
        logs["client/interactions.csv"].append(frame)
        names = np.array(tx.REASONS, dtype=object)
        sframe = pd.DataFrame({
            "customer_id": self._ids[sv["cust"]],
            "ts": e.timestamps(sv["t"]).astype("datetime64[s]"),
            "satisfaction": sv["sat"].astype(np.int64),
            "nps": sv["nps"].astype(np.int64),
            "reason_code": np.where(sv["reason"] >= 0, names[np.maximum(sv["reason"], 0)], None),
            "text": e.texts[sv["text"]],
        })
        logs["client/surveys.csv"].append(sframe)
        ti = np.flatnonzero(it["trace"] >= 0)
        ts_ = np.flatnonzero(sv["trace"] >= 0)
        logs["truth/traces.parquet"].write(e.month_label(res.month), pa.table({
            "customer_id": self._arrow_ids(np.concatenate([it["cust"][ti], sv["cust"][ts_]])),
            "ts": self._ts(np.concatenate([it["t"][ti], sv["t"][ts_]])),
            "source": pa.array(["interactions"] * ti.size + ["surveys"] * ts_.size, pa.string()),
            "kind": pa.array(kinds[it["kind"][ti].astype(np.int64)].tolist() + ["survey"] * ts_.size, pa.string()),
            "reason": pa.array(names[np.concatenate([it["trace"][ti], sv["trace"][ts_]]).astype(np.int64)].tolist(),
                               pa.string()),
            "text": pa.array(e.texts[np.concatenate([it["text"][ti], sv["text"][ts_]])].tolist(), pa.string()),
        }))

    # --- campaigns ---------------------------------------------------------------------
    def _campaign(self, m: int, plan: cc.Plan) -> dict:
        """Potential outcomes of every assigned customer, then the treatment rows' contacts."""
        e = self.engine
        a = e.a
        label_c = e.month_label(m - 1)
        t_end = e.bounds(m - 1)[1]
        cust = plan.cust
        churned = ~a["alive"][cust]
        reason = np.where(churned, a["cur_reason"][cust], -1).astype(np.int64)
        months_gone = np.where(churned, (t_end - a["dropout_t"][cust]) / eng.DAYS_PER_MONTH, 0.0)
        model = cc.contact_model(plan, churned=churned, reason=reason, months_gone=months_gone,
                                 preferred=a["pref"][cust].astype(np.int64))
        w = cc.win_probability(plan, model)
        h = a["h_nat"][cust]
        f = np.cumsum(tx.WIN_DELAY)
        truth = {}
        for k in (1, 2, 3):
            end_k = e.bounds(m + k - 1)[1]
            sched = (a["win_month"][cust] >= m) & (a["win_month"][cust] <= m + k - 1)
            buys = a["next_t"][cust] < end_k
            stay = (1 - h) ** k
            p0 = np.where(churned, np.where(sched, 1.0, 1 - stay), buys.astype(float))
            p1 = np.where(churned, np.where(sched, 1.0, 1 - (1 - w * f[k - 1]) * stay), buys.astype(float))
            truth[f"p0_{k}"] = p0
            truth[f"p1_{k}"] = p1
            truth[f"uplift_{k}"] = p1 - p0
        addresses = tx.uplift_table() > tx.UPLIFT_MISMATCHED
        strat = np.maximum(plan.strategy, 0)
        matched = churned & (plan.strategy >= 0) & addresses[strat, np.maximum(reason, 0)]
        follow = plan.scripts[np.maximum(reason, 0)]
        matched_follow = churned & (plan.strategy == tx.S["care_survey"]) & addresses[follow, np.maximum(reason, 0)]
        rng = np.random.default_rng(derive_seed(self.meta["seed"], e.month_label(m), "demo", "callcentre"))
        rows = np.flatnonzero(plan.treat)
        hours = np.array(tx.CONTACT_TIME_HOURS)[a["ctime"][cust[rows]].astype(np.int64)]
        t0, t1 = e.bounds(m)
        res = cc.run_contacts(rng, plan, model, rows, month_start=t0, contact_hours=hours)
        # schedule the win-backs: a purchase this month after the contact, or 1-2 months later
        won = res["won_rows"]
        wc = cust[won]
        delay = rng.choice(tx.WIN_DELAY.size, won.size, p=tx.WIN_DELAY)
        new_month = m + delay
        new_t = np.empty(won.size)
        now = delay == 0
        new_t[now] = res["won_t"][now] + 0.01 + rng.random(int(now.sum())) * (t1 - res["won_t"][now] - 0.02)
        later = np.flatnonzero(~now)
        lo = np.array([e.bounds(int(x))[0] for x in new_month[later]])
        hi = np.array([e.bounds(int(x))[1] for x in new_month[later]])
        new_t[later] = lo + rng.random(later.size) * (hi - lo)
        old = a["win_month"][wc]
        keep_old = (old >= 0) & ((old < new_month) | ((old == new_month) & (a["win_t"][wc] <= new_t)))
        upd = wc[~keep_old]
        a["win_month"][upd] = new_month[~keep_old]
        a["win_t"][upd] = new_t[~keep_old]
        a["win_campaign"][upd] = m - 1
        a["force_cat"][upd] = plan.offer_cat[won[~keep_old]]
        won_flag = np.zeros(cust.size, bool)
        won_flag[won] = True
        contacted = np.zeros(cust.size, bool)
        contacted[res["row"].astype(np.int64)] = True
        reached = np.zeros(cust.size, bool)
        reached[res["row"][res["reached"].astype(bool)].astype(np.int64)] = True
        fr = plan.frame
        names = np.array(tx.REASONS, dtype=object)
        table = pd.DataFrame({
            "customer_id": self._ids[cust],
            "campaign_month": label_c,
            "group": np.where(plan.treat, "treatment", "control"),
            "tier": [None if pd.isna(v) else str(v) for v in fr["tier"].tolist()],
            "assumed_reason": [None if pd.isna(v) else str(v) for v in fr["reason_code"].tolist()],
            "strategy": np.where(plan.strategy >= 0, np.array(tx.STRATEGIES, dtype=object)[strat], None),
            "truly_churned": churned,
            "true_reason": np.where(churned, names[np.maximum(reason, 0)], None),
            "months_since_dropout": np.where(churned, months_gone, np.nan),
            "matched": matched,
            "followup_matched": matched_follow,
            "p_win": w,
            **truth,
            "contacted": contacted,
            "reached": reached,
            "won_back": won_flag,
        })
        path = self.root / "truth" / f"campaign_{label_c}.parquet"
        table.to_parquet(path, index=False)
        summary = {"n_assigned": int(cust.size), "n_treatment": int(plan.treat.sum()),
                   "n_control": int((~plan.treat).sum()),
                   "n_truly_churned": int(churned.sum()), "att": {}, "ate": {}, "att_churned": {},
                   "scripts": plan.scripts_given}
        for k in (1, 2, 3):
            up = truth[f"uplift_{k}"]
            summary["att"][str(k)] = float(up[plan.treat].mean()) if plan.treat.any() else None
            summary["ate"][str(k)] = float(up.mean()) if up.size else None
            tc = plan.treat & churned
            summary["att_churned"][str(k)] = float(up[tc].mean()) if tc.any() else None
        self.meta["campaigns"][label_c] = summary
        return res

    def _write_contacts(self, m: int, plan: cc.Plan, res: dict, month: eng.MonthResult, logs: dict) -> None:
        e = self.engine
        row = res["row"].astype(np.int64)
        n = row.size
        cust = plan.cust[row]
        rng = np.random.default_rng(derive_seed(self.meta["seed"], e.month_label(m), "demo", "contact_notes"))
        response = res["response"].astype(np.int64)
        reached = res["reached"].astype(bool)
        # offer redeemed: accepted an offer and bought after the contact, within the month
        has_offer = (plan.offer_cat[row] >= 0) | (plan.offer_value[row] > 0)
        cand = np.flatnonzero((response == 0) & has_offer)
        redeemed = np.zeros(n, bool)
        if cand.size:
            buys = pd.DataFrame({"cust": month.purchases["cust"], "t": month.purchases["t"]})
            last_buy = buys.groupby("cust")["t"].max().reindex(cust[cand]).to_numpy()
            redeemed[cand] = np.nan_to_num(last_buy, nan=-np.inf) > res["proc_t"][cand]
        notes = np.empty(n, dtype=object)
        voice = np.isin(res["channel"], (tx.C["phone"], tx.C["visit"]))
        for key, mask in (("unreached_voice", ~reached & voice), ("unreached_message", ~reached & ~voice),
                          ("accepted", reached & (response == 0)), ("declined", reached & (response == 1)),
                          ("no_response", reached & (response == 2)), ("callback", reached & (response == 3))):
            k = np.flatnonzero(mask)
            notes[k] = _pick(rng, NOTES[key], k.size)
        stated = res["stated"].astype(np.int64)
        said = np.flatnonzero(stated >= 0)
        if said.size:
            reason_text = e.texts[e._text(rng, stated[said])]
            notes[said] = np.strings.add(np.strings.add("客户反映：", reason_text.astype(str)),
                                         np.strings.add("；", notes[said].astype(str)))
        names = np.array(tx.REASONS, dtype=object)
        sat = res["satisfaction"].astype(np.int64)
        frame = pd.DataFrame({
            "customer_id": self._ids[cust],
            "campaign_month": e.month_label(m - 1),
            "attempt": res["attempt"].astype(np.int64),
            "contact_ts": np.datetime64(e.epoch, "s") + np.round(res["hour_t"] * 86400).astype(np.int64).astype(
                "timedelta64[s]"),
            "channel": np.array(tx.CHANNELS, dtype=object)[res["channel"].astype(np.int64)],
            "reached": reached,
            "reason_code": np.where(stated >= 0, names[np.maximum(stated, 0)], None),
            "response": np.where(reached, np.array(tx.RESPONSES, dtype=object)[np.maximum(response, 0)], None),
            "offer_redeemed": redeemed,
            "satisfaction": pd.array(np.where(sat > 0, sat, 0), dtype="Int64"),
            "notes": notes,
        })
        frame.loc[sat <= 0, "satisfaction"] = pd.NA
        frame = frame.sort_values(["contact_ts", "customer_id", "attempt"], kind="stable").reset_index(drop=True)
        logs["client/contact_outcomes.csv"].append(frame)

    # --- truth --------------------------------------------------------------------------
    def _write_truth_tables(self) -> None:
        e = self.engine
        a = e.a
        t_end = e.bounds(e.month_index(self.meta["data_through"]))[1]
        signed = np.flatnonzero(a["signup_t"] < t_end)
        names = np.array(tx.REASONS + ("",), dtype=object)
        cur = a["cur_reason"][signed].astype(np.int64)
        churned = ~a["alive"][signed]
        dropout_ts = np.full(signed.size, np.datetime64("NaT"), "datetime64[us]")
        gone = churned & np.isfinite(a["dropout_t"][signed])
        dropout_ts[gone] = e.timestamps(a["dropout_t"][signed][gone]).astype("datetime64[us]")
        pd.DataFrame({
            "customer_id": self._ids[signed],
            "signup_ts": e.timestamps(a["signup_t"][signed]).astype("datetime64[us]"),
            "purchase_rate_per_day": a["lam"][signed],
            "dropout_prob": a["p"][signed],
            "mean_order_value": pop.SPEND_SHAPE / a["nu"][signed],
            "engagement_per_month": a["eng"][signed],
            "region": np.array(tx.REGIONS, dtype=object)[a["region"][signed]],
            "business_line": np.array(tx.BUSINESS_LINES, dtype=object)[a["line"][signed]],
            "do_not_contact": a["dnc"][signed],
            "truly_churned": churned,
            "current_reason": np.where(churned & (cur >= 0), names[cur], None),
            "dropout_ts": dropout_ts,
            "episodes": a["episodes"][signed].astype(np.int64),
            "orders": a["ntx"][signed].astype(np.int64),
        }).to_parquet(self.root / "truth" / "customers.parquet", index=False)
        counts = np.sum([np.array(v) for v in self.meta["dropouts"].values()], axis=0)
        mix = {r: float(c / max(counts.sum(), 1)) for r, c in zip(tx.REASONS, counts, strict=True)}
        now = np.bincount(cur[churned & (cur >= 0)], minlength=len(tx.REASONS))
        mix_now = {r: float(c / max(now.sum(), 1)) for r, c in zip(tx.REASONS, now, strict=True)}
        summary = {
            "seed": self.meta["seed"], "n_customers": self.meta["n_customers"],
            "history_start": self.meta["history_start"], "first_month": self.meta["first_month"],
            "data_through": self.meta["data_through"],
            "customers_signed_up": int(signed.size), "truly_churned_now": int(churned.sum()),
            "reason_mix": mix, "top_reason": max(mix, key=mix.get),
            "reason_mix_churned_now": mix_now, "top_reason_churned_now": max(mix_now, key=mix_now.get),
            "churn_type": {r: tx.CHURN_TYPE[r] for r in tx.REASONS},
            "dropouts_by_month": {k: dict(zip(tx.REASONS, v, strict=True)) for k, v in self.meta["dropouts"].items()},
            "top_reason_by_month": {k: tx.REASONS[int(np.argmax(v))] for k, v in self.meta["dropouts"].items()
                                    if sum(v)},
            "churned_share_by_month": self.meta["churned_share"],
            "strategy_addresses": {k: list(v) for k, v in tx.STRATEGY_ADDRESSES.items()},
            "events": [{"name": ev.name, "start": ev.start, "end": ev.end, "region": ev.region,
                        "business_line": ev.business_line, "extra_dropout": ev.extra,
                        "reasons": ev.reasons, "description": ev.description} for ev in tx.EVENTS],
            "campaigns": self.meta["campaigns"],
        }
        (self.root / "truth" / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
