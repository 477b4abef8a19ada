"""Drawing the demo retailer's customers: traits, latent purchase parameters and PII."""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.demo import taxonomy as tx

__all__ = ["CUSTOMER_COLUMNS", "CUSTOMER_VALUES", "canary_values", "customers_frame",
           "draw_customers", "plant_canaries", "reason_cdf_table"]

# Chinese header of the client's customers.csv -> canonical column of the data contract.
CUSTOMER_COLUMNS: dict[str, str] = {
    "客户编号": "customer_id",
    "注册日期": "signup_date",
    "年龄": "age",
    "性别": "gender",
    "地区": "region",
    "城市": "city",
    "业务线": "business_line",
    "会员等级": "member_level",
    "偏好渠道": "preferred_channel",
    "偏好联系时间": "preferred_contact_time",
    "免打扰": "do_not_contact",
    "姓名": "name",
    "手机": "phone",
    "邮箱": "email",
}
# Values the kit's reader maps (column -> {client value: canonical value}); other Chinese
# values (性别, 地区, 城市, 业务线, 会员等级, 偏好联系时间) are labels kept as they are.
CUSTOMER_VALUES: dict[str, dict[str, object]] = {
    "do_not_contact": {"是": True, "否": False},
    "preferred_channel": {zh: en for en, zh in tx.CHANNEL_ZH.items()},
}

# BG/NBD-like purchase process: lambda ~ Gamma(r, alpha) per day, p ~ Beta(a, b).
LAMBDA_SHAPE = 1.3
LAMBDA_MEAN = 1 / 22.0  # purchases per day
LAMBDA_RANGE = (1 / 500.0, 0.3)
DROPOUT_A, DROPOUT_B = 1.1, 24.0
# Gamma-Gamma-like spend: an order's value ~ Gamma(SPEND_SHAPE, rate nu), nu ~ Gamma(q, gamma).
SPEND_SHAPE = 4.0
SPEND_Q = 3.5
SPEND_GAMMA = 75.0  # mean order value = SPEND_SHAPE * SPEND_GAMMA / (SPEND_Q - 1) = 120 CNY
ENGAGEMENT_MEAN = 0.25  # everyday interactions per active month
DO_NOT_CONTACT = 0.03


def _age_band(age: np.ndarray) -> np.ndarray:
    return np.where(age < 30, 0, np.where(age < 55, 1, 2)).astype(np.int8)


def reason_cdf_table() -> np.ndarray:
    """Cumulative reason distribution per segment, shape (3 levels * 3 age bands * 5 lines, 15).

    The base mix (``taxonomy.BASE_REASON_WEIGHTS``) tilted by member level, age band and
    business line; segment index = ``(level * 3 + age_band) * 5 + line``.
    """
    base = np.array([tx.BASE_REASON_WEIGHTS[r] for r in tx.REASONS])
    level_mod = [
        {"price": 1.25, "cost_conscious": 1.2},
        {},
        {"price": 0.6, "service_attitude": 1.5, "scripted_service": 1.6, "only_contacted_when_selling": 1.4},
    ]
    age_mod = [
        {"unattractive_products": 1.6, "values": 1.6, "reputation": 1.4, "price": 0.9},
        {},
        {"cost_conscious": 1.8, "info_clarity": 1.6, "too_few_products": 0.7},
    ]
    line_mod = [
        {"quality": 1.5, "speed": 1.4, "timeliness": 1.3},
        {"price": 1.15, "too_few_products": 1.2},
        {"quality": 1.2, "info_clarity": 1.2, "no_need": 1.4},
        {"unattractive_products": 1.4, "reputation": 1.4, "values": 1.3},
        {"too_few_products": 1.5, "info_clarity": 1.4, "quality": 1.2},
    ]
    rows = []
    for lm in level_mod:
        for am in age_mod:
            for ln in line_mod:
                w = base.copy()
                for mod in (lm, am, ln):
                    for reason, factor in mod.items():
                        w[tx.R[reason]] *= factor
                rows.append(np.cumsum(w / w.sum()))
    table = np.array(rows)
    table[:, -1] = 1.0
    return table


def draw_customers(rng: np.random.Generator, signup_t: np.ndarray) -> dict[str, np.ndarray]:
    """Traits and latent parameters of customers signing up at ``signup_t`` (days).

    Returns a mapping of per-customer arrays (the simulator's static state).
    """
    n = signup_t.size
    region = rng.choice(len(tx.REGIONS), n, p=tx.REGION_WEIGHTS).astype(np.int8)
    n_cities = np.array([len(c) for c in tx.CITIES])
    city_offset = np.concatenate([[0], np.cumsum(n_cities)[:-1]])
    city = (city_offset[region] + np.floor(rng.random(n) * n_cities[region])).astype(np.int8)
    line = rng.choice(len(tx.BUSINESS_LINES), n, p=tx.LINE_WEIGHTS).astype(np.int8)
    age = np.clip(np.round(rng.normal(40, 13, n)), 18, 75).astype(np.int16)
    gender = (rng.random(n) < 0.55).astype(np.int8)  # 1 = 女
    lam = np.clip(rng.gamma(LAMBDA_SHAPE, LAMBDA_MEAN / LAMBDA_SHAPE, n), *LAMBDA_RANGE)
    p = rng.beta(DROPOUT_A, DROPOUT_B, n)
    nu = rng.gamma(SPEND_Q, 1 / SPEND_GAMMA, n)
    eng = rng.gamma(0.7, ENGAGEMENT_MEAN / 0.7, n)
    sat0 = np.clip(rng.normal(4.0, 0.6, n), 2.0, 5.0).astype(np.float32)
    score = (np.log(SPEND_SHAPE / nu) - np.log(120.0)) / 0.55 + 0.5 * np.log(lam / LAMBDA_MEAN) / 0.8
    score = score + rng.normal(0, 0.7, n)
    level = np.where(score < 0.5, 0, np.where(score < 1.7, 1, 2)).astype(np.int8)
    pref = rng.choice(len(tx.CHANNEL_ZH), n, p=tx.PREFERRED_CHANNEL_WEIGHTS).astype(np.int8)
    ctime = rng.choice(3, n, p=[0.3, 0.35, 0.35]).astype(np.int8)
    dnc = rng.random(n) < DO_NOT_CONTACT
    # category preferences: Dirichlet leaning to the customer's own business line
    alpha = 0.35 + 2.5 * (tx.CATEGORY_LINE[None, :] == line[:, None])
    w = rng.gamma(alpha)
    catcum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1).astype(np.float32)
    catcum[:, -1] = 1.0
    band = _age_band(age)
    base_tx = np.array([[0.25, 0.55, 0.20], [0.45, 0.40, 0.15], [0.70, 0.20, 0.10]])
    w = rng.gamma(base_tx[band] * 6.0)
    txcum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1).astype(np.float32)
    txcum[:, -1] = 1.0
    seg = ((level.astype(np.int16) * 3 + band) * 5 + line).astype(np.int16)
    return {
        "signup_t": signup_t.astype(np.float64),
        "lam": lam, "p": p, "nu": nu, "eng": eng, "sat0": sat0,
        "gender": gender, "age": age, "region": region, "city": city, "line": line,
        "level": level, "pref": pref, "ctime": ctime, "dnc": dnc, "seg": seg,
        "catcum": catcum, "txcum": txcum,
    }


def _pii(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    surnames = np.array(tx.SURNAMES)
    given = np.array(tx.GIVEN_CHARS)
    names = np.strings.add(surnames[rng.integers(0, surnames.size, n)],
                           given[rng.integers(0, given.size, n)])
    second = np.where(rng.random(n) < 0.7, given[rng.integers(0, given.size, n)], "")
    names = np.strings.add(names, second)
    prefix = np.array([13, 15, 18])[rng.integers(0, 3, n)] * 10 + rng.integers(0, 10, n)
    phones = (prefix.astype(np.int64) * 100_000_000 + rng.integers(0, 100_000_000, n)).astype(str)
    letters = rng.integers(ord("a"), ord("z") + 1, (n, 6), dtype=np.uint8)
    handle = letters.view("S6").ravel().astype("U6")
    digits = rng.integers(10, 10_000, n).astype(str)
    domains = np.array(tx.EMAIL_DOMAINS)[rng.integers(0, len(tx.EMAIL_DOMAINS), n)]
    emails = np.strings.add(np.strings.add(np.strings.add(handle, digits), "@"), domains)
    return names, phones, emails


def canary_values(number: int) -> tuple[str, str, str]:
    """The canary name, phone and e-mail number ``number`` (1, 2, ...): values found nowhere else.

    ``CANARY金丝雀0007``, ``+86 199 0000 0007``, ``canary0007@example.invalid`` for 7; a test
    searches every output for them (see :func:`plant_canaries`).
    """
    n = f"{int(number):04d}"
    return f"CANARY金丝雀{n}", f"+86 199 0000 {n}", f"canary{n}@example.invalid"


def plant_canaries(frame: pd.DataFrame, every: int) -> pd.DataFrame:
    """``frame`` (customers.csv rows) with every ``every``-th row's PII replaced by canaries.

    Rows 0, ``every``, 2 * ``every``, ... get canaries 1, 2, 3, ... (:func:`canary_values`);
    ``every`` 0 changes nothing. Only the name, phone and e-mail change, so the simulated
    client behaves exactly as without canaries. A new frame; the input is unchanged.
    """
    out = frame.copy()
    if every <= 0 or out.empty:
        return out
    rows = np.arange(0, len(out), every)
    values = [canary_values(k + 1) for k in range(rows.size)]
    for j, col in enumerate(("姓名", "手机", "邮箱")):
        s = out[col].astype(object).to_numpy(copy=True)
        s[rows] = [v[j] for v in values]
        out[col] = s
    return out


def customers_frame(rng: np.random.Generator, ids: np.ndarray, cust: dict[str, np.ndarray],
                    epoch: pd.Timestamp) -> pd.DataFrame:
    """The rows of the client's customers.csv (Chinese headers and values) for ``ids``."""
    n = ids.size
    names, phones, emails = _pii(rng, n)
    days = np.floor(cust["signup_t"]).astype("timedelta64[D]")
    signup = (np.datetime64(epoch.date(), "D") + days).astype(str)
    cities = np.array([c for group in tx.CITIES for c in group])
    channels_zh = np.array(list(tx.CHANNEL_ZH.values()))
    frame = pd.DataFrame({
        "客户编号": ids,
        "注册日期": signup,
        "年龄": cust["age"].astype(np.int64),
        "性别": np.array(tx.GENDERS)[cust["gender"]],
        "地区": np.array(tx.REGIONS)[cust["region"]],
        "城市": cities[cust["city"]],
        "业务线": np.array(tx.BUSINESS_LINES)[cust["line"]],
        "会员等级": np.array(tx.MEMBER_LEVELS)[cust["level"]],
        "偏好渠道": channels_zh[cust["pref"]],
        "偏好联系时间": np.array(tx.CONTACT_TIMES)[cust["ctime"]],
        "免打扰": np.where(cust["dnc"], "是", "否"),
        "姓名": names,
        "手机": phones,
        "邮箱": emails,
    })
    return frame[list(CUSTOMER_COLUMNS)]
