"""The demo simulator: files in the data contract, truth kept apart, a call centre with a known effect."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winback.demo import (
    CATEGORIES,
    CHURN_TYPE,
    CUSTOMER_COLUMNS,
    REASON_KEYWORDS,
    REASONS,
    STRATEGIES,
    STRATEGY_ADDRESSES,
    AssignmentError,
    DemoStateError,
    DemoWorld,
)
from winback.demo import callcentre as cc
from winback.demo import taxonomy as tx

N = 1500
SEED = 7
CLIENT = ["customers.csv", "transactions", "interactions.csv", "surveys.csv", "contact_outcomes.csv"]
HISTORY = [str(m) for m in pd.period_range("2022-01", "2024-01", freq="M")]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A world created through 2024-01 (never modified: tests copy it)."""
    root = tmp_path_factory.mktemp("demo") / "base"
    DemoWorld.create(root, n_customers=N, seed=SEED)
    return root


@pytest.fixture
def world(base, tmp_path) -> DemoWorld:
    root = tmp_path / "world"
    shutil.copytree(base, root)
    return DemoWorld.open(root)


def _client_bytes(root: Path) -> dict[str, bytes]:
    """Every file the client delivered (monthly transaction files included), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "client").rglob("*")) if p.is_file()}


def _transactions(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "client/transactions")


def _customers(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "client/customers.csv", encoding="gb18030", dtype=str)


def _assignment(root: Path, month: str, *, matched_share: float = 0.5, seed: int = 3,
                include_alive: int = 150) -> pd.DataFrame:
    """A campaign over churned customers (and some active ones), built from the truth for testing."""
    truth = pd.read_parquet(root / "truth/customers.parquet")
    truth = truth[~truth.do_not_contact]
    dead = truth[truth.truly_churned]
    alive = truth[~truth.truly_churned].head(include_alive)
    pool = pd.concat([dead, alive], ignore_index=True)
    rng = np.random.default_rng(seed)
    fits = {r: s for s, rs in STRATEGY_ADDRESSES.items() for r in rs}
    other = ["care_survey", "care_message", "package_offer", "fix_notice"]
    strategy = [fits[r] if isinstance(r, str) and rng.random() < matched_share else other[rng.integers(4)]
                for r in pool.current_reason]
    return pd.DataFrame({
        "customer_id": pool.customer_id.to_numpy(),
        "campaign_month": month,
        "group": np.where(rng.random(len(pool)) < 0.6, "treatment", "control"),
        "tier": "T1",
        "reason_code": "unknown",
        "strategy": strategy,
        "channel_1": "phone",
        "channel_2": "wechat",
        "channel_3": None,
        "offer_category": "生鲜",
        "offer_value": 20.0,
        "expected_value": 10.0,
    })


SCRIPTS = {r: s for s, rs in STRATEGY_ADDRESSES.items() for r in rs}


# --- vocabulary ---------------------------------------------------------------------------

def test_vocabulary_is_consistent():
    assert set(STRATEGIES) == {"care_survey", "care_message", "competitor_differentiation", "membership_upgrade",
                               "fix_notice", "apology_compensation", "product_education", "package_offer"}
    assert len(REASONS) == 15 and "price" in REASONS
    covered = {r for rs in STRATEGY_ADDRESSES.values() for r in rs}
    assert covered == set(REASONS), "every reason is addressed by some strategy"
    for reason, texts in tx.REASON_TEXTS.items():
        for text in texts:
            assert any(k in text for k in REASON_KEYWORDS[reason]), (reason, text)
    assert abs(sum(tx.BASE_REASON_WEIGHTS.values()) - 1) < 1e-9
    assert set(CUSTOMER_COLUMNS.values()) >= {"customer_id", "signup_date", "do_not_contact", "phone"}


# --- client files -------------------------------------------------------------------------

def test_client_files_in_stated_encodings(base):
    client = base / "client"
    assert sorted(p.name for p in client.iterdir()) == sorted(CLIENT)
    raw = (client / "customers.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    customers = _customers(base)
    assert list(customers.columns) == list(CUSTOMER_COLUMNS)
    assert len(customers) == N and customers["客户编号"].is_unique
    assert set(customers["性别"]) == {"男", "女"}
    assert set(customers["免打扰"]) == {"是", "否"}
    assert set(customers["地区"]) == set(tx.REGIONS)
    assert set(customers["会员等级"]) == set(tx.MEMBER_LEVELS)
    assert customers["年龄"].astype(int).between(18, 75).all()
    assert customers["手机"].str.fullmatch(r"1[358]\d{9}").all()
    assert customers["邮箱"].str.contains("@").all()
    assert 0.01 < (customers["免打扰"] == "是").mean() < 0.06
    assert (client / "interactions.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    for name in ("surveys.csv", "contact_outcomes.csv"):
        data = (client / name).read_bytes()
        assert data[:3] != b"\xef\xbb\xbf"
        data.decode("utf-8")
    inter = pd.read_csv(client / "interactions.csv", encoding="utf-8-sig")
    assert list(inter.columns) == ["customer_id", "ts", "kind", "channel", "score", "text"]
    assert set(inter.kind) <= set(tx.KINDS) and {"complaint", "review", "referral"} <= set(inter.kind)
    surveys = pd.read_csv(client / "surveys.csv")
    assert list(surveys.columns) == ["customer_id", "ts", "satisfaction", "nps", "reason_code", "text"]
    assert surveys.satisfaction.between(1, 5).all() and surveys.nps.between(0, 10).all()
    assert surveys.reason_code.notna().any() and set(surveys.reason_code.dropna()) <= set(REASONS)
    outcomes = pd.read_csv(client / "contact_outcomes.csv")
    assert outcomes.empty and "campaign_month" in outcomes.columns


def test_transactions_arrive_as_one_file_per_month(base):
    folder = base / "client/transactions"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"transactions_{m}.parquet" for m in HISTORY], "no temporary or stray files"
    for month in (HISTORY[0], HISTORY[-1]):
        part = pd.read_parquet(folder / f"transactions_{month}.parquet")
        assert len(part) and (part.order_ts.dt.to_period("M").astype(str) == month).all()


def test_the_kit_reads_the_monthly_files_through_the_demo_params(base):
    from winback.config import load_params
    from winback.sources import read_source

    spec = load_params("demo").sources.spec("transactions")
    assert spec.path == "transactions/transactions_*.parquet"
    raw = read_source("transactions", spec, base_dir=base / "client")
    assert [p.name for p in raw.files] == [f"transactions_{m}.parquet" for m in HISTORY]
    txn = _transactions(base)
    assert len(raw.frame) == len(txn)
    assert raw.frame.order_id.tolist() == txn.order_id.tolist(), "stacked in month order"


def test_transactions_follow_the_contract(base):
    txn = _transactions(base)
    assert list(txn.columns) == ["order_id", "customer_id", "order_ts", "amount", "quantity", "category",
                                 "business_line", "channel", "discount", "is_return"]
    assert str(txn.order_ts.dtype) == "datetime64[us]"
    assert txn.order_id.is_unique
    assert 10 < len(txn) / N < 20, "about 15 transactions per customer over two years"
    assert txn.order_ts.max() < pd.Timestamp("2024-02-01")
    assert set(txn.channel) == {"store", "app", "web"} and set(txn.category) <= set(CATEGORIES)
    returns = txn[txn.is_return]
    assert 0.01 < len(returns) / len(txn) < 0.06
    assert (returns.amount < 0).all() and (txn.loc[~txn.is_return, "amount"] > 0).all()
    assert returns.order_id.str.removesuffix("-R").isin(txn.order_id).all()
    sales = txn[~txn.is_return]
    same_day = sales.groupby([sales.customer_id, sales.order_ts.dt.date]).size()
    assert (same_day > 1).any()
    customers = _customers(base).set_index("客户编号")
    assert txn.customer_id.isin(customers.index).all()
    first = sales.groupby("customer_id").order_ts.min()
    signup = pd.to_datetime(customers.loc[first.index, "注册日期"])
    assert (first.dt.normalize() >= signup.to_numpy()).all()


def test_same_seed_gives_identical_files_and_another_seed_does_not(base, tmp_path):
    again = tmp_path / "again"
    DemoWorld.create(again, n_customers=N, seed=SEED)
    assert _client_bytes(again) == _client_bytes(base)
    other = tmp_path / "other"
    DemoWorld.create(other, n_customers=N, seed=SEED + 1)
    last = f"client/transactions/transactions_{HISTORY[-1]}.parquet"
    assert (other / last).read_bytes() != (base / last).read_bytes()


def test_create_refuses_an_existing_world(base):
    with pytest.raises(DemoStateError, match="already holds a demo world"):
        DemoWorld.create(base, n_customers=N, seed=SEED)
    with pytest.raises(DemoStateError, match="no demo world"):
        DemoWorld.open(base / "nowhere")


# --- truth ---------------------------------------------------------------------------------

def test_truth_is_kept_apart(base):
    truth = {p.name for p in (base / "truth").iterdir()}
    assert {"status.parquet", "reasons.parquet", "customers.parquet", "summary.json"} <= truth
    assert not any("truth" in p.name or p.suffix == ".json" for p in (base / "client").iterdir())
    status = pd.read_parquet(base / "truth/status.parquet")
    assert list(status.columns) == ["month", "customer_id", "truly_churned"]
    assert status.month.nunique() == 25 and status.month.max() == "2024-01"
    last = status[status.month == "2024-01"]
    assert len(last) == N
    summary = json.loads((base / "truth/summary.json").read_text(encoding="utf-8"))
    assert summary["truly_churned_now"] == int(last.truly_churned.sum())


def test_no_analysis_module_imports_the_simulator():
    lib = Path(__file__).resolve().parents[1] / "lib" / "winback"
    allowed = {"demo_loop.py", "cli.py", "bench.py"}  # drivers of the simulated client
    for path in lib.rglob("*.py"):
        if "demo" in path.relative_to(lib).parts[:-1] or path.name in allowed:
            continue
        assert not re.search(r"(from|import)\s+winback\.demo\b", path.read_text(encoding="utf-8")), path


def test_price_is_clearly_the_top_true_reason(base):
    summary = json.loads((base / "truth/summary.json").read_text(encoding="utf-8"))
    mix = summary["reason_mix"]
    assert summary["top_reason"] == "price" and summary["top_reason_churned_now"] == "price"
    ranked = sorted(mix.values(), reverse=True)
    assert 0.2 < mix["price"] < 0.4 and ranked[0] > 1.5 * ranked[1]
    # an outside event concentrates churn: the 生鲜 service incident of 2023-10..12
    assert summary["top_reason_by_month"]["2023-11"] == "service_attitude"


def test_traces_name_the_true_reason(base):
    traces = pd.read_parquet(base / "truth/traces.parquet")
    assert len(traces) > 100
    for row in traces.itertuples():
        assert any(k in row.text for k in REASON_KEYWORDS[row.reason]), row
    inter = pd.read_csv(base / "client/interactions.csv", encoding="utf-8-sig", parse_dates=["ts"])
    keyed = traces[traces.source == "interactions"].merge(inter, on=["customer_id", "ts", "kind", "text"])
    assert len(keyed) == (traces.source == "interactions").sum(), "every trace is in the client's file"
    reasons = pd.read_parquet(base / "truth/reasons.parquet")
    settled = traces[traces.ts < "2024-01-10"]  # their dropout is in the history
    near = settled.merge(reasons, on=["customer_id", "reason"], how="left")
    gap = (near.ts - near.dropout_ts).dt.days
    close = ((gap >= -16) & (gap <= 31)).groupby([near.customer_id, near.ts]).any()
    assert close.all(), "every trace sits around a dropout with the same reason"
    # passive reasons leave complaints more often than active ones
    left = traces[traces.kind.isin(["complaint", "service_ticket"])].customer_id.unique()
    reasons["traced"] = reasons.customer_id.isin(left)
    by_type = reasons.groupby(reasons.reason.map(CHURN_TYPE)).traced.mean()
    assert by_type["passive"] > by_type["active"] + 0.2
    surveys = traces[traces.source == "surveys"]
    found = pd.read_csv(base / "client/surveys.csv", parse_dates=["ts"]).merge(surveys, on=["customer_id", "ts"])
    assert (found.satisfaction <= 3).all()


def test_engagement_declines_before_dropout(base):
    inter = pd.read_csv(base / "client/interactions.csv", encoding="utf-8-sig", parse_dates=["ts"])
    inter = inter[inter.kind.isin(["review", "community_post", "community_answer", "campaign_participation",
                                   "referral", "suggestion"])]
    reasons = pd.read_parquet(base / "truth/reasons.parquet")
    signup = pd.to_datetime(_customers(base).set_index("客户编号")["注册日期"])
    tenure = reasons.dropout_ts - signup.reindex(reasons.customer_id).to_numpy()
    history = reasons.dropout_ts - pd.Timestamp("2022-01-01")
    reasons = reasons[(reasons.episode == 1) & (tenure.dt.days > 240) & (history.dt.days > 240)]
    merged = inter.merge(reasons[["customer_id", "dropout_ts"]], on="customer_id")
    days = (merged.dropout_ts - merged.ts).dt.days
    last_month = ((days >= 0) & (days < 30)).sum() / 30
    months_before = ((days >= 60) & (days < 240)).sum() / 180
    after = ((days < 0) & (days >= -60)).sum() / 60
    assert after < last_month < 0.8 * months_before


# --- advancing and the call centre --------------------------------------------------------

def test_advance_moves_one_month_forward_only(base, world):
    with pytest.raises(DemoStateError, match="already simulated"):
        world.advance("2024-01")
    with pytest.raises(DemoStateError, match="next month to simulate is 2024-02"):
        world.advance("2024-03")
    with pytest.raises(ValueError, match="YYYY-MM"):
        world.advance("2024-2")
    world.advance("2024-02")
    assert world.data_through == "2024-02"
    with pytest.raises(DemoStateError, match="already simulated"):
        world.advance("2024-02")
    assert DemoWorld.open(world.root).data_through == "2024-02"
    txn = _transactions(world.root)
    assert txn.order_ts.max() < pd.Timestamp("2024-03-01") and txn.order_id.is_unique
    new = pd.read_parquet(world.root / "client/transactions/transactions_2024-02.parquet")
    assert len(new) and (new.order_ts >= pd.Timestamp("2024-02-01")).all()
    history = {k: v for k, v in _client_bytes(base).items() if "/transactions/" in k}
    now = _client_bytes(world.root)
    assert all(now[k] == v for k, v in history.items()), "delivered months are never rewritten"
    assert len(_customers(world.root)) > N, "new customers keep signing up"


def test_reopening_between_months_changes_nothing(base, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(base, one)
    shutil.copytree(base, two)
    assignment = _assignment(base, "2024-01")
    w = DemoWorld.open(one)
    w.advance("2024-02", assignment, SCRIPTS)
    w.advance("2024-03")
    DemoWorld.open(two).advance("2024-02", assignment, SCRIPTS)
    DemoWorld.open(two).advance("2024-03")
    assert _client_bytes(one) == _client_bytes(two)


def test_a_failed_month_is_cut_back_and_can_be_rerun(base, tmp_path, monkeypatch):
    """A month failing half-way leaves no file of its month; the rerun gives the same bytes."""
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    shutil.copytree(base, clean)
    shutil.copytree(base, broken)
    DemoWorld.open(clean).advance("2024-02")
    world = DemoWorld.open(broken)
    original = DemoWorld._write_interactions

    def fail_after_writing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(DemoWorld, "_write_interactions", fail_after_writing)
    with pytest.raises(OSError, match="disk full"):
        world.advance("2024-02")
    assert world.data_through == "2024-01"
    assert _client_bytes(broken).keys() == _client_bytes(base).keys(), "the month's files are deleted"
    assert not [p for p in broken.rglob(".*.tmp")]
    monkeypatch.setattr(DemoWorld, "_write_interactions", original)
    world.advance("2024-02")
    assert _client_bytes(clean) == _client_bytes(broken)


def test_a_month_that_fails_after_its_files_are_in_place_is_rerun_identically(base, tmp_path, monkeypatch):
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    shutil.copytree(base, clean)
    shutil.copytree(base, broken)
    DemoWorld.open(clean).advance("2024-02")
    world = DemoWorld.open(broken)
    original = DemoWorld._write_truth_tables

    def fail(self):
        raise OSError("disk full")

    monkeypatch.setattr(DemoWorld, "_write_truth_tables", fail)  # after the renames, before the state
    with pytest.raises(OSError, match="disk full"):
        world.advance("2024-02")
    assert (broken / "client/transactions/transactions_2024-02.parquet").exists()
    assert DemoWorld.open(broken).data_through == "2024-01"
    monkeypatch.setattr(DemoWorld, "_write_truth_tables", original)
    DemoWorld.open(broken).advance("2024-02")
    assert _client_bytes(clean) == _client_bytes(broken)
    for name in ("status", "reasons", "reactivations", "traces"):
        folder = f"truth/{name}.parquet"
        files = sorted(p.name for p in (clean / folder).iterdir())
        assert files == sorted(p.name for p in (broken / folder).iterdir()) and f"{name}_2024-02.parquet" in files
        assert all((clean / folder / f).read_bytes() == (broken / folder / f).read_bytes() for f in files), name


def test_control_is_never_contacted_and_outcomes_are_recorded(world):
    assignment = _assignment(world.root, "2024-01")
    world.advance("2024-02", assignment, SCRIPTS)
    out = pd.read_csv(world.root / "client/contact_outcomes.csv", parse_dates=["contact_ts"])
    treated = set(assignment.loc[assignment.group == "treatment", "customer_id"])
    control = set(assignment.loc[assignment.group == "control", "customer_id"])
    assert set(out.customer_id) <= treated and not set(out.customer_id) & control
    assert len(set(out.customer_id)) == len(treated), "every treated customer gets a first attempt"
    assert (out.campaign_month == "2024-01").all()
    assert out.contact_ts.between("2024-02-01", "2024-02-29").all()
    assert set(out.channel) <= {"phone", "wechat"} and set(out.attempt) <= {1, 2}
    assert set(out.response.dropna()) <= {"accepted", "declined", "no_response", "callback"}
    assert out.loc[~out.reached, "response"].isna().all()
    assert out.loc[out.offer_redeemed, "response"].eq("accepted").all() and out.offer_redeemed.any()
    # a sequence stops after a definite answer
    first = out[out.attempt == 1].set_index("customer_id")
    second = set(out.loc[out.attempt == 2, "customer_id"])
    definite = first.index[first.reached & first.response.isin(["accepted", "declined"])]
    assert not second & set(definite)
    # care/survey contacts state a reason; the next contact follows the script
    survey = first[first.reached & (assignment.set_index("customer_id").loc[first.index, "strategy"] == "care_survey")]
    assert survey.reason_code.notna().all() and set(survey.reason_code) <= set(REASONS)
    truth = pd.read_parquet(world.root / "truth/campaign_2024-01.parquet")
    assert len(truth) == len(assignment)
    assert not truth.loc[truth.group == "control", "contacted"].any()
    summary = json.loads((world.root / "truth/summary.json").read_text(encoding="utf-8"))
    camp = summary["campaigns"]["2024-01"]
    assert camp["n_treatment"] == len(treated) and camp["att"]["1"] > 0


def test_do_not_contact_in_treatment_is_refused(world):
    customers = _customers(world.root)
    blocked = customers.loc[customers["免打扰"] == "是", "客户编号"].iloc[0]
    assignment = _assignment(world.root, "2024-01", include_alive=0).head(20)
    assignment.loc[0, ["customer_id", "group"]] = [blocked, "treatment"]
    with pytest.raises(AssignmentError, match=f"do-not-contact.*{blocked}"):
        world.advance("2024-02", assignment, SCRIPTS)
    assert world.data_through == "2024-01"
    assignment.loc[0, "group"] = "control"  # held out: fine
    world.advance("2024-02", assignment, SCRIPTS)
    out = pd.read_csv(world.root / "client/contact_outcomes.csv")
    assert blocked not in set(out.customer_id)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="strategy"), "lacks column"),
    (lambda f: f.assign(campaign_month="2023-12"), "campaign_month must be 2024-01"),
    (lambda f: f.assign(strategy="discount_blast"), "unknown value"),
    (lambda f: f.assign(channel_1="pigeon"), "channel_1"),
    (lambda f: f.assign(group="holdout"), "'group'"),
    (lambda f: f.assign(offer_value=-5.0), "offer_value"),
    (lambda f: f.assign(offer_category="汽车"), "offer_category"),
    (lambda f: pd.concat([f, f.head(1)]), "more than once"),
    (lambda f: f.assign(customer_id=["C9999999"] + list(f.customer_id[1:])), "unknown customer"),
])
def test_bad_assignments_are_refused_with_a_clear_error(world, change, message):
    assignment = change(_assignment(world.root, "2024-01", include_alive=0).head(10))
    with pytest.raises(AssignmentError, match=message):
        world.advance("2024-02", assignment, SCRIPTS)
    with pytest.raises(AssignmentError, match="unknown strategy"):
        world.advance("2024-02", _assignment(world.root, "2024-01").head(5), {"price": "shout"})
    assert world.data_through == "2024-01"


def test_matched_strategies_have_higher_true_uplift(world):
    world.advance("2024-02", _assignment(world.root, "2024-01"), SCRIPTS)
    truth = pd.read_parquet(world.root / "truth/campaign_2024-01.parquet")
    alive = truth[~truth.truly_churned]
    assert len(alive) and (alive[["uplift_1", "uplift_2", "uplift_3"]] == 0).all().all()
    churned = truth[truth.truly_churned & (truth.strategy != "care_survey")]
    matched = churned[churned.matched].uplift_1.mean()
    mismatched = churned[~churned.matched].uplift_1.mean()
    assert matched > 3 * mismatched > 0
    assert (truth.p1_1 <= truth.p1_2).all() and (truth.p1_2 <= truth.p1_3).all()
    assert truth[["p0_1", "p1_3"]].stack().between(0, 1).all()


def test_win_probability_matches_the_call_centre_simulation():
    """The exact recursion equals the mean of many simulated contact sequences."""
    rng = np.random.default_rng(11)
    n = 60_000
    strategy = rng.choice(len(STRATEGIES), n)
    channels = rng.choice(len(tx.CHANNELS), (n, 3))
    channels[rng.random(n) < 0.3, 2] = -1
    channels[rng.random(n) < 0.2, 1] = -1
    frame = pd.DataFrame({"customer_id": [f"C{i:07d}" for i in range(n)]})
    scripts = np.array([tx.S[SCRIPTS[r]] for r in REASONS])
    plan = cc.Plan(frame, np.arange(n), np.ones(n, bool), strategy, channels, np.full(n, -1),
                   rng.choice([0.0, 30.0], n), scripts, {})
    churned = rng.random(n) < 0.8
    model = cc.contact_model(plan, churned=churned, reason=rng.choice(len(REASONS), n),
                             months_gone=rng.random(n) * 12, preferred=rng.choice(5, n))
    w = cc.win_probability(plan, model)
    res = cc.run_contacts(rng, plan, model, np.arange(n), month_start=0.0,
                          contact_hours=np.tile([9.0, 12.0], (n, 1)))
    won = np.zeros(n, bool)
    won[res["won_rows"]] = True
    assert not won[~churned].any()
    for s in range(len(STRATEGIES)):
        rows = strategy == s
        se = np.sqrt(w[rows].mean() * (1 - w[rows].mean()) / rows.sum())
        assert abs(won[rows].mean() - w[rows].mean()) < 4 * se + 1e-3, STRATEGIES[s]


def test_potential_outcomes_agree_with_realized_reactivation(world):
    assignment = _assignment(world.root, "2024-01", matched_share=0.6)
    world.advance("2024-02", assignment, SCRIPTS)
    world.advance("2024-03")
    world.advance("2024-04")
    truth = pd.read_parquet(world.root / "truth/campaign_2024-01.parquet")
    txn = _transactions(world.root)
    sales = txn[~txn.is_return & (txn.order_ts >= "2024-02-01")]
    for k, end in ((1, "2024-03-01"), (2, "2024-04-01"), (3, "2024-05-01")):
        bought = truth.customer_id.isin(sales.loc[sales.order_ts < end, "customer_id"])
        for group, p in (("treatment", f"p1_{k}"), ("control", f"p0_{k}")):
            rows = (truth.group == group).to_numpy()
            expected = truth.loc[rows, p].mean()
            se = np.sqrt(truth.loc[rows, p].pipe(lambda q: (q * (1 - q)).sum())) / rows.sum()
            assert abs(bought[rows].mean() - expected) < 4 * se + 0.02, (group, k)
    reactivated = pd.read_parquet(world.root / "truth/reactivations.parquet")
    won = set(truth.loc[truth.won_back, "customer_id"])
    assert won and won <= set(reactivated.customer_id)
    assert (reactivated.loc[reactivated.customer_id.isin(won), "cause"] == "campaign").mean() > 0.8
    # won-back customers mostly buy the offer's category first
    first = sales[sales.customer_id.isin(won)].sort_values("order_ts").groupby("customer_id").head(1)
    assert (first.category == "生鲜").mean() > 0.6


def test_command_line_creates_and_advances(tmp_path, capsys):
    from winback.demo.__main__ import main

    root = tmp_path / "cli"
    assert main(["--root", str(root), "--customers", "200", "--seed", "5", "--through", "2024-02"]) == 0
    assert DemoWorld.open(root).data_through == "2024-02"
    assert "advanced to 2024-02" in capsys.readouterr().out
    assert main(["--root", str(root), "--through", "2024-03", "-q"]) == 0
    assert DemoWorld.open(root).data_through == "2024-03"


def test_monthly_parquet_writes_each_month_once_and_commits_atomically(tmp_path):
    """Months land under a hidden name and move into place on commit; an abort or a reopen removes the rest."""
    import duckdb
    import pyarrow as pa

    from winback.demo.files import MonthlyParquet

    schema = pa.schema([("id", pa.string()), ("n", pa.int64()), ("ts", pa.timestamp("us")), ("ok", pa.bool_())])
    folder = tmp_path / "log"

    def month(k: int) -> pa.Table:
        n = np.arange(100 * k, 100 * k + 50 + k)
        return pa.table({"ok": n % 3 == 0, "id": [f"C{i}" for i in n], "n": n,
                         "ts": pa.array(np.datetime64("2024-01-01", "us") + n.astype("timedelta64[m]"))})

    log = MonthlyParquet(folder, "log", schema, None)
    log.write("2024-01", month(0))
    log.write("2024-02", month(1))
    assert [p.name for p in folder.iterdir()] and log.files() == [], "nothing visible before the commit"
    log.commit()
    assert [p.name for p in log.files()] == ["log_2024-01.parquet", "log_2024-02.parquet"]
    expected = pa.concat_tables([month(k).select(schema.names) for k in range(2)])
    assert pd.read_parquet(folder).equals(expected.to_pandas())
    con = duckdb.connect()
    assert con.execute(f"select count(*) from read_parquet('{folder}/log_*.parquet') where ok").fetchone() == (
        int(expected["ok"].to_numpy().sum()),)
    with pytest.raises(RuntimeError, match="written once"):
        log.write("2024-02", month(1))

    log = MonthlyParquet(folder, "log", schema, "2024-02")
    log.write("2024-03", month(2))
    log.abort()
    assert sorted(p.name for p in folder.iterdir()) == ["log_2024-01.parquet", "log_2024-02.parquet"]
    # a month left behind by a failure after its commit, and a stray temporary file
    log = MonthlyParquet(folder, "log", schema, "2024-02")
    log.write("2024-03", month(2))
    log.commit()
    (folder / ".log_2024-04.parquet.tmp").write_bytes(b"partial")
    first = (folder / "log_2024-01.parquet").read_bytes()
    MonthlyParquet(folder, "log", schema, "2024-02")
    assert sorted(p.name for p in folder.iterdir()) == ["log_2024-01.parquet", "log_2024-02.parquet"]
    again = MonthlyParquet(tmp_path / "again", "log", schema, None)
    again.write("2024-01", month(0))
    again.commit()
    assert (tmp_path / "again/log_2024-01.parquet").read_bytes() == first, "same rows, same bytes"
    MonthlyParquet(folder, "log", schema, None)
    assert list(folder.iterdir()) == []


def test_monthly_parquet_skips_empty_months_when_asked_and_refuses_a_file(tmp_path):
    import pyarrow as pa

    from winback.demo.files import MonthlyParquet

    schema = pa.schema([("id", pa.string())])
    empty = pa.table({"id": pa.array([], pa.string())})
    skip = MonthlyParquet(tmp_path / "skip", "t", schema, None, skip_empty=True)
    skip.write("2024-01", empty)
    skip.commit()
    assert skip.files() == []
    keep = MonthlyParquet(tmp_path / "keep", "t", schema, None)
    keep.write("2024-01", empty)
    keep.commit()
    assert [p.name for p in keep.files()] == ["t_2024-01.parquet"]
    assert pd.read_parquet(tmp_path / "keep").empty
    (tmp_path / "old.parquet").write_bytes(b"PAR1")
    with pytest.raises(RuntimeError, match="is a file"):
        MonthlyParquet(tmp_path / "old.parquet", "old", schema, "2024-01")
    MonthlyParquet(tmp_path / "old.parquet", "old", schema, None)  # a new world replaces it
    assert (tmp_path / "old.parquet").is_dir()
