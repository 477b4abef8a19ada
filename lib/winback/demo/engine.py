"""The demo retailer's month-by-month dynamics: purchases, dropouts, reactivations, traces.

Time runs in days (float) from the first day of the history (``epoch``). Each customer
follows the BG/NBD process (Fader, Hardie & Lee 2005): while alive, purchases arrive at
rate ``lam`` (Poisson); after each repeat purchase the customer drops out with
probability ``p`` plus whatever outside events add for the customer's segment at that
time (as in the BG/NBD likelihood, the first purchase of a spell never ends it). A
dropout carries a true reason: drawn from the segment's reason mix, or the event's
reason when an event caused it.

The dropout decision for a purchase is taken one purchase ahead (when the gap to it is
drawn), so the gap before a customer's last purchase can show what precedes churn:
fewer interactions, a complaint or a poor survey naming the reason. A churned customer
comes back on their own with a small monthly probability, or when a win-back contact
persuades them (scheduled by the call centre, ``winback.demo.callcentre``).

Interactions, surveys and returns are queued with their timestamps and written in the
month they fall in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from winback.demo import population as pop
from winback.demo import taxonomy as tx

__all__ = ["Engine", "MonthResult"]

DAYS_PER_MONTH = 30.4375
MONTHS_BEFORE = 36  # months before the history covered by the month-boundary table
MONTHS_AFTER = 360
DECLINE_BEFORE_DROPOUT = 0.25  # engagement multiplier in the gap before the last purchase
DEAD_ENGAGEMENT = 0.05  # engagement multiplier of a churned customer
COMPLAINT_RATE = 0.012  # everyday complaints per month of a customer with satisfaction 4
SURVEY_AFTER_PURCHASE = 0.05
SAME_DAY_EXTRA = 0.06
RETURN_SHARE = 0.03
DISCOUNT_SHARE = 0.25
MAX_DROPOUT = 0.95

CUSTOMER_ARRAYS = (
    "signup_t", "lam", "p", "nu", "eng", "sat0", "gender", "age", "region", "city", "line",
    "level", "pref", "ctime", "dnc", "seg", "catcum", "txcum",
    # dynamic
    "alive", "next_t", "doomed", "doom_reason", "doom_source", "last_t", "dropout_t",
    "cur_reason", "episodes", "h_nat", "win_month", "win_t", "win_campaign", "force_cat", "ntx",
)
QUEUES: dict[str, tuple[str, ...]] = {
    "inter": ("cust", "t", "kind", "channel", "score", "text", "trace"),
    "survey": ("cust", "t", "sat", "nps", "reason", "text", "trace"),
    "ret": ("cust", "t", "order_no", "amount", "quantity", "cat", "channel"),
}
QUEUE_DTYPES = {
    "cust": np.int64, "t": np.float64, "kind": np.int8, "channel": np.int8, "score": np.int8,
    "text": np.int32, "trace": np.int8, "sat": np.int8, "nps": np.int8, "reason": np.int8,
    "order_no": np.int64, "amount": np.float64, "quantity": np.int64, "cat": np.int8,
}


def dynamic_defaults(n: int) -> dict[str, np.ndarray]:
    """Dynamic state of customers who have not bought yet."""
    return {
        "alive": np.ones(n, bool),
        "next_t": np.full(n, np.inf),
        "doomed": np.zeros(n, bool),
        "doom_reason": np.full(n, -1, np.int8),
        "doom_source": np.full(n, -1, np.int8),
        "last_t": np.full(n, np.nan),
        "dropout_t": np.full(n, np.nan),
        "cur_reason": np.full(n, -1, np.int8),
        "episodes": np.zeros(n, np.int16),
        "h_nat": np.zeros(n),
        "win_month": np.full(n, -1, np.int32),
        "win_t": np.full(n, np.inf),
        "win_campaign": np.full(n, -1, np.int32),
        "force_cat": np.full(n, -1, np.int8),
        "ntx": np.zeros(n, np.int32),
    }


@dataclass
class MonthResult:
    """Everything one simulated month produced (indices are customer positions)."""

    month: int
    orders: dict[str, np.ndarray]
    interactions: dict[str, np.ndarray]
    surveys: dict[str, np.ndarray]
    dropouts: dict[str, np.ndarray]
    reactivations: dict[str, np.ndarray]
    purchases: dict[str, np.ndarray] = field(default_factory=dict)


class Engine:
    """State of the simulated retailer and its monthly step (no file I/O).

    Parameters
    ----------
    epoch : str
        First month of the history (``YYYY-MM``); day 0 is its first day.
    arrays : dict
        Per-customer arrays (``CUSTOMER_ARRAYS``), position = customer number - 1.
    queues : dict
        Pending interactions, surveys and returns (``QUEUES``).
    next_order : int
        Number of the next order (order ids are ``O`` + 10 digits).
    """

    def __init__(self, epoch: str, arrays: dict[str, np.ndarray],
                 queues: dict[str, dict[str, np.ndarray]], next_order: int = 1):
        self.next_order = int(next_order)
        self.epoch_month = pd.Period(epoch, "M")
        self.epoch = self.epoch_month.start_time
        self.a = arrays
        self.q = queues
        starts = pd.period_range(self.epoch_month - MONTHS_BEFORE, self.epoch_month + MONTHS_AFTER, freq="M")
        self._bounds = ((starts.start_time - self.epoch) / pd.Timedelta(days=1)).to_numpy(np.float64)
        self.texts, self.plain, self.reason_texts = tx.text_bank()
        self._reason_text_lo = np.array([self.reason_texts[r][0] for r in tx.REASONS])
        self._reason_text_n = np.array([self.reason_texts[r].size for r in tx.REASONS])
        self._reason_cdf = pop.reason_cdf_table()
        self._base_cdf = np.cumsum([tx.BASE_REASON_WEIGHTS[r] for r in tx.REASONS])
        self._base_cdf[-1] = 1.0
        self._nat = np.array([tx.NATURAL_REACTIVATION[r] for r in tx.REASONS])
        self._trace_p = np.array([tx.TRACE_PROB[r] for r in tx.REASONS])
        self._passive = np.array([tx.CHURN_TYPE[r] == "passive" for r in tx.REASONS])
        self._events = self._event_table()

    # --- time helpers -------------------------------------------------------------
    def bounds(self, month: int) -> tuple[float, float]:
        """Start and end (exclusive) of month ``month`` (index from the epoch), in days."""
        i = month + MONTHS_BEFORE
        return float(self._bounds[i]), float(self._bounds[i + 1])

    def month_index(self, label: str) -> int:
        return (pd.Period(label, "M") - self.epoch_month).n

    def month_label(self, month: int) -> str:
        return str(self.epoch_month + month)

    def month_of(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._bounds, t, side="right") - 1 - MONTHS_BEFORE

    def timestamps(self, t: np.ndarray) -> np.ndarray:
        """Process time (days) -> ``datetime64[s]``; each day's time runs 08:00-22:00."""
        day = np.floor(t)
        seconds = day * 86400.0 + np.round((8.0 + (t - day) * 14.0) * 3600.0)
        return np.datetime64(self.epoch, "s") + seconds.astype(np.int64).astype("timedelta64[s]")

    @property
    def n(self) -> int:
        return self.a["signup_t"].size

    # --- events ---------------------------------------------------------------------
    def _event_table(self) -> list[tuple]:
        out = []
        for ev in tx.EVENTS:
            start = self.month_index(ev.start)
            end = self.month_index(ev.end) if ev.end else 10**6
            region = tx.REGIONS.index(ev.region) if ev.region else -1
            line = tx.BUSINESS_LINES.index(ev.business_line) if ev.business_line else -1
            cdf = np.cumsum([ev.reasons.get(r, 0.0) for r in tx.REASONS])
            cdf = cdf / cdf[-1]
            out.append((start, end, region, line, ev.extra, ev.decay_months, cdf))
        return out

    def event_extra(self, t: np.ndarray, who: np.ndarray) -> np.ndarray:
        """Extra per-purchase dropout probability from each event, shape (len(t), n_events)."""
        mi = self.month_of(t)
        out = np.zeros((t.size, len(self._events)))
        for e, (start, end, region, line, extra, decay, _) in enumerate(self._events):
            on = (mi >= start) & (mi <= end)
            if region >= 0:
                on &= self.a["region"][who] == region
            if line >= 0:
                on &= self.a["line"][who] == line
            value = extra * (np.exp(-(mi - start) / decay) if decay else 1.0)
            out[:, e] = np.where(on, value, 0.0)
        return out

    # --- queues --------------------------------------------------------------------
    def _push(self, name: str, **cols: np.ndarray) -> None:
        n = next(iter(cols.values())).size
        if n == 0:
            return
        self._pending[name].append(
            {k: np.broadcast_to(np.asarray(cols[k], QUEUE_DTYPES[k]), (n,)) for k in QUEUES[name]}
        )

    def _take_due(self, name: str, t1: float) -> dict[str, np.ndarray]:
        chunks = [self.q[name], *self._pending[name]]
        allq = {k: np.concatenate([c[k] for c in chunks]) for k in QUEUES[name]}
        self._pending[name] = []
        due = allq["t"] < t1
        self.q[name] = {k: v[~due] for k, v in allq.items()}
        emit = {k: v[due] for k, v in allq.items()}
        order = np.lexsort((emit["cust"], emit["t"]))
        return {k: v[order] for k, v in emit.items()}

    # --- the process ---------------------------------------------------------------
    def _text(self, rng: np.random.Generator, reason: np.ndarray) -> np.ndarray:
        """A random text index of each reason."""
        n = self._reason_text_n[reason]
        return self._reason_text_lo[reason] + np.floor(rng.random(reason.size) * n).astype(np.int64)

    def _plain(self, rng: np.random.Generator, group: str, size: int) -> np.ndarray:
        n = len(tx.PLAIN_TEXTS[group])
        return self.plain[group] + np.floor(rng.random(size) * n).astype(np.int64)

    def _sample_cdf(self, rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
        u = rng.random(cdf.shape[0])
        return np.minimum((u[:, None] > cdf).sum(axis=1), cdf.shape[1] - 1)

    def decide_doom(self, rng: np.random.Generator, who: np.ndarray, t_prev: np.ndarray,
                    t_next: np.ndarray) -> None:
        """Decide whether the purchase at ``t_next`` is each customer's last, and why.

        A customer whose next purchase is the last gets a reason and, depending on it,
        traces around that purchase: a complaint or ticket naming the reason, a poor survey.
        """
        a = self.a
        n = who.size
        if n == 0:
            return
        extra = self.event_extra(t_next, who)
        cum = a["p"][who][:, None] + np.cumsum(extra, axis=1)
        q = np.minimum(MAX_DROPOUT, cum[:, -1]) if extra.shape[1] else np.minimum(MAX_DROPOUT, a["p"][who])
        u = rng.random(n)
        doomed = u < q
        a["doomed"][who] = doomed
        a["doom_reason"][who] = -1
        a["doom_source"][who] = -1
        d = np.flatnonzero(doomed)
        if d.size == 0:
            return
        dw = who[d]
        source = np.where(u[d] < a["p"][dw], -1, (u[d][:, None] >= cum[d]).sum(axis=1))
        source = np.minimum(source, len(self._events) - 1)
        reason = self._sample_cdf(rng, self._reason_cdf[a["seg"][dw]])
        for e, ev in enumerate(self._events):
            hit = source == e
            if hit.any():
                reason[hit] = self._sample_cdf(rng, np.broadcast_to(ev[6], (int(hit.sum()), len(tx.REASONS))))
        a["doom_reason"][dw] = reason
        a["doom_source"][dw] = source
        # traces around the last purchase (before it when there is a gap, or just after)
        gap = t_next[d] - t_prev[d]
        tl = t_next[d]
        back = np.minimum(15.0, 0.8 * gap)
        has = rng.random(d.size) < self._trace_p[reason]
        k = np.flatnonzero(has)
        ts = tl[k] - back[k] + rng.random(k.size) * (back[k] + 10.0)
        kind = np.where(rng.random(k.size) < 0.65, tx.K["complaint"], tx.K["service_ticket"])
        chan = np.where(kind == tx.K["complaint"], rng.integers(0, 3, k.size), 3)
        self._push("inter", cust=dw[k], t=ts, kind=kind, channel=chan, score=0,
                   text=self._text(rng, reason[k]), trace=reason[k])
        again = k[rng.random(k.size) < 0.25]
        self._push("inter", cust=dw[again], t=tl[again] + 1.0 + rng.random(again.size) * 19.0,
                   kind=tx.K["complaint"], channel=rng.integers(0, 4, again.size), score=0,
                   text=self._text(rng, reason[again]), trace=reason[again])
        # a poor survey: passive reasons more often, sometimes with the reason code
        passive = self._passive[reason]
        sv = np.flatnonzero(rng.random(d.size) < np.where(passive, 0.30, 0.10))
        ts = tl[sv] - back[sv] + rng.random(sv.size) * (back[sv] + 10.0)
        sat = np.where(passive[sv], rng.integers(1, 3, sv.size), rng.integers(2, 4, sv.size))
        nps = np.clip(np.round(2 * sat - 2 + rng.normal(0, 1.2, sv.size)), 0, 10)
        code = np.where(rng.random(sv.size) < 0.5, reason[sv], -1)
        self._push("survey", cust=dw[sv], t=ts, sat=sat, nps=nps, reason=code,
                   text=self._text(rng, reason[sv]), trace=reason[sv])

    def _engagement(self, rng: np.random.Generator, who: np.ndarray, ta: np.ndarray,
                    span: np.ndarray, factor: np.ndarray, doomed: np.ndarray | None) -> None:
        """Everyday interactions over ``[ta, ta + span)``; fewer before a dropout."""
        a = self.a
        rate = a["eng"][who] * span / DAYS_PER_MONTH * factor
        cnt = np.minimum(rng.poisson(rate), 30)
        rows = np.repeat(np.arange(who.size), cnt)
        if rows.size:
            cust = who[rows]
            ts = ta[rows] + rng.random(rows.size) * span[rows]
            kidx = rng.choice(len(tx.ENGAGEMENT_KINDS), rows.size, p=tx.ENGAGEMENT_WEIGHTS)
            kinds = np.array([tx.K[k] for k in tx.ENGAGEMENT_KINDS])[kidx]
            text = np.zeros(rows.size, np.int64)
            for i, kname in enumerate(tx.ENGAGEMENT_KINDS):
                hit = kidx == i
                if kname != "review" and hit.any():
                    text[hit] = self._plain(rng, kname, int(hit.sum()))
            score = np.zeros(rows.size, np.int64)
            rv = np.flatnonzero(kidx == 0)
            if rv.size:
                low = doomed[rows[rv]] if doomed is not None else np.zeros(rv.size, bool)
                s = np.clip(np.round(a["sat0"][cust[rv]] + rng.normal(0, 0.8, rv.size) - 1.2 * low), 1, 5)
                score[rv] = s
                text[rv] = np.where(s >= 4, self._plain(rng, "review_good", rv.size),
                                    self._plain(rng, "review_neutral", rv.size))
                bad = np.flatnonzero(s <= 2)
                if bad.size:
                    noise = self._sample_cdf(rng, np.broadcast_to(self._base_cdf, (bad.size, len(tx.REASONS))))
                    own = a["doom_reason"][cust[rv[bad]]]
                    reason = np.where(low[bad] & (own >= 0), own, noise)
                    text[rv[bad]] = self._text(rng, reason)
            # online kinds come through app / web / wechat (campaigns also in store); tickets also by phone
            chan = rng.integers(0, 3, rows.size)
            ticket = kinds == tx.K["service_ticket"]
            chan[ticket] = np.array([3, 0, 2])[rng.integers(0, 3, int(ticket.sum()))]
            event = np.flatnonzero(kinds == tx.K["campaign_participation"])
            chan[event[rng.random(event.size) < 0.4]] = 4
            self._push("inter", cust=cust, t=ts, kind=kinds, channel=chan, score=score,
                       text=text, trace=-1)
        # everyday complaints, unrelated to any dropout
        crate = COMPLAINT_RATE * span / DAYS_PER_MONTH * (5.5 - a["sat0"][who]) / 1.5 * factor
        c = np.flatnonzero(rng.random(who.size) < crate)
        if c.size:
            noise = self._sample_cdf(rng, np.broadcast_to(self._base_cdf, (c.size, len(tx.REASONS))))
            self._push("inter", cust=who[c], t=ta[c] + rng.random(c.size) * span[c],
                       kind=tx.K["complaint"], channel=rng.integers(0, 4, c.size), score=0,
                       text=self._text(rng, noise), trace=-1)

    def _surveys_after(self, rng: np.random.Generator, who: np.ndarray, t: np.ndarray) -> None:
        a = self.a
        k = np.flatnonzero(rng.random(who.size) < SURVEY_AFTER_PURCHASE)
        if k.size == 0:
            return
        cust = who[k]
        sat = np.clip(np.round(a["sat0"][cust] + rng.normal(0, 0.7, k.size)), 1, 5)
        nps = np.clip(np.round(2 * sat - 1 + rng.normal(0, 1.5, k.size)), 0, 10)
        text = np.where(sat >= 4, self._plain(rng, "survey_good", k.size),
                        self._plain(rng, "survey_neutral", k.size))
        low = np.flatnonzero(sat <= 2)
        reason = np.full(k.size, -1)
        if low.size:
            noise = self._sample_cdf(rng, np.broadcast_to(self._base_cdf, (low.size, len(tx.REASONS))))
            text[low] = self._text(rng, noise)
            reason[low] = np.where(rng.random(low.size) < 0.3, noise, -1)
        self._push("survey", cust=cust, t=t[k] + 0.1 + rng.random(k.size) * 2.9, sat=sat, nps=nps,
                   reason=reason, text=text, trace=-1)

    def start_customers(self, who: np.ndarray, first_t: np.ndarray) -> None:
        """Customers whose first purchase happens at ``first_t`` (signup or history start)."""
        self.a["alive"][who] = True
        self.a["next_t"][who] = first_t
        self.a["doomed"][who] = False
        self.a["episodes"][who] = 1

    def simulate_month(self, month: int, rng: np.random.Generator) -> MonthResult:
        """Advance the state through month ``month``; return what happened in it."""
        a = self.a
        t0, t1 = self.bounds(month)
        self._pending = {name: [] for name in QUEUES}
        signed = a["signup_t"] < t1
        dead = ~a["alive"] & signed
        n = self.n
        # churned customers: a little everyday activity, then natural or won-back returns
        d = np.flatnonzero(dead)
        self._engagement(rng, d, np.full(d.size, t0), np.full(d.size, t1 - t0),
                         np.full(d.size, DEAD_ENGAGEMENT), None)
        sched = dead & (a["win_month"] == month)
        nat = dead & (rng.random(n) < a["h_nat"])
        t_nat = t0 + rng.random(n) * (t1 - t0)
        rt = np.minimum(np.where(sched, a["win_t"], np.inf), np.where(nat, t_nat, np.inf))
        back = np.flatnonzero(sched | nat)
        by_campaign = sched[back] & (a["win_t"][back] <= rt[back])
        react = {
            "cust": back, "t": rt[back],
            "campaign": np.where(by_campaign, a["win_campaign"][back], -1),
        }
        a["alive"][back] = True
        a["next_t"][back] = rt[back]
        a["episodes"][back] += 1
        a["win_month"][back] = -1
        a["win_t"][back] = np.inf
        a["win_campaign"][back] = -1
        a["force_cat"][back[~by_campaign]] = -1
        a["h_nat"][back] = 0.0
        a["doomed"][back] = False  # a new spell: its first purchase never ends it
        # purchases, round by round (each round: every customer's next purchase in the month)
        p_cust, p_t, p_force = [], [], []
        drops = {"cust": [], "t": [], "reason": [], "source": []}
        idx = np.flatnonzero(a["alive"] & (a["next_t"] < t1))
        while idx.size:
            t = a["next_t"][idx]
            p_cust.append(idx)
            p_t.append(t)
            p_force.append(a["force_cat"][idx].copy())
            a["force_cat"][idx] = -1
            a["last_t"][idx] = t
            a["ntx"][idx] += 1
            self._surveys_after(rng, idx, t)
            doomed = a["doomed"][idx]
            die = idx[doomed]
            if die.size:
                reason = a["doom_reason"][die]
                drops["cust"].append(die)
                drops["t"].append(t[doomed])
                drops["reason"].append(reason.copy())
                drops["source"].append(a["doom_source"][die].copy())
                a["alive"][die] = False
                a["next_t"][die] = np.inf
                a["dropout_t"][die] = t[doomed]
                a["cur_reason"][die] = reason
                a["h_nat"][die] = self._nat[reason]
                a["doomed"][die] = False
            cont = idx[~doomed]
            tc = t[~doomed]
            gap = rng.exponential(1.0, cont.size) / a["lam"][cont]
            tn = tc + gap
            self.decide_doom(rng, cont, tc, tn)
            nd = a["doomed"][cont]
            self._engagement(rng, cont, tc, gap, np.where(nd, DECLINE_BEFORE_DROPOUT, 1.0), nd)
            a["next_t"][cont] = tn
            idx = cont[tn < t1]
        cust = np.concatenate(p_cust) if p_cust else np.zeros(0, np.int64)
        tt = np.concatenate(p_t) if p_t else np.zeros(0)
        force = np.concatenate(p_force) if p_force else np.zeros(0, np.int8)
        orders = self._orders(rng, cust, tt, force, t1)
        dropouts = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in drops.items()}
        dropouts["cust"] = dropouts["cust"].astype(np.int64)
        dropouts["reason"] = dropouts["reason"].astype(np.int64)
        dropouts["source"] = dropouts["source"].astype(np.int64)
        inter = self._take_due("inter", t1)
        surveys = self._take_due("survey", t1)
        self._pending = {name: [] for name in QUEUES}
        return MonthResult(month, orders, inter, surveys, dropouts, react,
                           purchases={"cust": cust, "t": tt})

    def _orders(self, rng: np.random.Generator, cust: np.ndarray, t: np.ndarray,
                force: np.ndarray, t1: float) -> dict[str, np.ndarray]:
        """Order rows of the month's purchases, plus same-day extras and returns due."""
        a = self.a
        extra = np.flatnonzero(rng.random(cust.size) < SAME_DAY_EXTRA)
        t_extra = np.minimum(t[extra] + 0.005 + rng.random(extra.size) * 0.05, np.floor(t[extra]) + 0.999)
        cust = np.concatenate([cust, cust[extra]])
        t = np.concatenate([t, t_extra])
        force = np.concatenate([force, np.full(extra.size, -1, np.int8)])
        order = np.lexsort((cust, t))
        cust, t, force = cust[order], t[order], force[order]
        n = cust.size
        u = rng.random(n)
        cat = np.minimum((u[:, None] > a["catcum"][cust]).sum(axis=1), len(tx.CATEGORIES) - 1)
        use_offer = (force >= 0) & (rng.random(n) < tx.OFFER_CATEGORY_SHARE)
        cat = np.where(use_offer, force, cat)
        quantity = 1 + rng.poisson(0.8, n)
        gross = rng.gamma(pop.SPEND_SHAPE, 1.0 / a["nu"][cust]) * tx.CATEGORY_PRICE[cat]
        gross = gross * (1 + 0.25 * (quantity - 1))
        has_disc = rng.random(n) < DISCOUNT_SHARE
        discount = np.round(np.where(has_disc, gross * (0.05 + 0.2 * rng.random(n)), 0.0), 2)
        amount = np.maximum(np.round(gross - discount, 2), 0.5)
        u = rng.random(n)
        channel = np.minimum((u[:, None] > a["txcum"][cust]).sum(axis=1), 2)
        order_no = self.next_order + np.arange(n, dtype=np.int64)
        self.next_order += n
        # returns: some orders come back 1-14 days later, in full or in part
        r = np.flatnonzero(rng.random(n) < RETURN_SHARE)
        full = rng.random(r.size) < 0.7
        self._push("ret", cust=cust[r], t=t[r] + 1 + rng.random(r.size) * 13, order_no=order_no[r],
                   amount=-np.where(full, amount[r], np.round(amount[r] * (0.2 + 0.6 * rng.random(r.size)), 2)),
                   quantity=-np.where(full, quantity[r], 1), cat=cat[r], channel=channel[r])
        ret = self._take_due("ret", t1)
        m = ret["cust"].size
        return {
            "cust": np.concatenate([cust, ret["cust"]]),
            "t": np.concatenate([t, ret["t"]]),
            "order_no": np.concatenate([order_no, ret["order_no"]]),
            "amount": np.concatenate([amount, ret["amount"]]),
            "quantity": np.concatenate([quantity, ret["quantity"]]),
            "cat": np.concatenate([cat, ret["cat"]]),
            "channel": np.concatenate([channel, ret["channel"]]),
            "discount": np.concatenate([discount, np.zeros(m)]),
            "is_return": np.concatenate([np.zeros(n, bool), np.ones(m, bool)]),
        }
