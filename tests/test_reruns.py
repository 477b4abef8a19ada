"""Reruns and crashes: the month runner on a tiny kit whose stages write the store.

The kit's two stages use the real store and campaign-log functions: ``data_collection``
loads a customers table, the contact outcomes delivered so far and a snapshot month;
``strategy_design`` writes the month's campaign log (``KIT_BUDGET`` customers, so a
rerun can assign a different campaign) and then, when ``KIT_GATE`` names a file, waits
for it, so a test can stop or kill a run inside a stage, after it wrote to the store,
without depending on machine speed. Each test copies a home where 2024-01 and 2024-02 ran (the outcomes of
2024-01's campaign arrive with 2024-02's data).

The real notebooks' determinism (same month twice gives identical tables) is checked on
the session's demo engagement by the last, slow test.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import nbformat
import pyarrow.parquet as pq
import pytest
import yaml

from winback.runner import (
    RunFailed,
    engagement_lock,
    engagement_status,
    month_status,
    read_manifest,
    run_month,
)
from winback.validation_cache import ENTRY_SUFFIX

ROOT = Path(__file__).resolve().parents[1]
PARAMS_CELL = 'engagement = "demo"\nmonth = "2024-01"\nrun_dir = ""\noverrides = []'
SETUP = (
    "import os, time\n"
    "from pathlib import Path\n"
    "import pandas as pd\n"
    "import winback as wb\n"
    "from winback.store import opened, replace_month, replace_table\n"
    "params = wb.load_params(engagement, [f'run.month={month}', *overrides])\n"
    "ws = wb.workspace(params)\n"
    "out = wb.RunOutputs(run_dir)\n"
    "ids = [f'c{i}' for i in range(10)]\n"
)
LOAD = SETUP + (
    "customers = pd.DataFrame({'customer_id': ids, 'loaded_for': month})\n"
    "delivered = ws.home / 'outcomes.csv'\n"
    "outcomes = pd.read_csv(delivered, dtype=str) if delivered.exists() else "
    "pd.DataFrame({'customer_id': [], 'campaign_month': [], 'available_from': []}, dtype=str)\n"
    "outcomes = outcomes[outcomes['available_from'] <= month]\n"
    "snap = pd.DataFrame({'month': month, 'customer_id': ids, 'x': float(month[-2:])})\n"
    "with opened(ws.store_path) as con:\n"
    "    seen = [r[0] for r in con.execute('SELECT DISTINCT month FROM snapshots WHERE "
    "month <> ? ORDER BY 1', [month]).fetchall()] if wb.store.has_table(con, 'snapshots') "
    "else []\n"
    "    out.table('months_seen', pd.DataFrame({'month': pd.Series(seen, dtype='string')}))\n"
    "    replace_table(con, 'customers', customers)\n"
    "    replace_table(con, 'contact_outcomes', outcomes)\n"
    "    replace_month(con, 'snapshots', month, snap)\n"
    "out.table('snapshot', snap)\n"
)
STRATEGY = SETUP + (
    "from winback.campaign import CAMPAIGN_COLUMNS, write_campaign_log\n"
    "n = int(os.environ.get('KIT_BUDGET', '10'))\n"
    "log = pd.DataFrame({c: 'x' for c in CAMPAIGN_COLUMNS}, index=range(n))\n"
    "log['customer_id'] = ids[:n]\n"
    "log['month'] = month\n"
    "log['group'] = ['control' if i % 5 == 0 else 'treatment' for i in range(n)]\n"
    "log['program'] = 'winback'\n"
    "for c in ('offer_value', 'p_winback', 'expected_value', 'cost'):\n"
    "    log[c] = 1.0\n"
    "with opened(ws.store_path) as con:\n"
    "    write_campaign_log(con, month, log)\n"
    "out.table('campaign_assignment', log)\n"
    "gate = os.environ.get('KIT_GATE')\n"
    "if gate:  # hold here, the campaign log written, until the test opens the gate\n"
    "    Path(gate + '.reached').write_text(str(os.getpid()))\n"
    "    while not Path(gate).exists():\n"
    "        time.sleep(0.2)\n"
)
STAGES = {"data_collection": LOAD, "strategy_design": STRATEGY}
# Columns that say where a history month came from: computed by the month's first run,
# read from the store's cache by a rerun (values identical; only the label differs).
PROVENANCE = {"warning_sources": ["snapshot_source", "status_source"]}
TIMEOUT = 600  # seconds: generous, the tests poll for states and never time a step


def _notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _deliver(home: Path, month: str) -> None:
    """The client's files of ``month``: one transactions file per month, a customers extract."""
    client = home / "data" / "demo" / "client"
    (client / "transactions").mkdir(parents=True, exist_ok=True)
    (client / "transactions" / f"transactions_{month}.parquet").write_bytes(month.encode())
    (client / "customers.csv").write_text(f"customer_id\n{month}\n")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A kit root and a home where 2024-01 and 2024-02 ran; 2024-01's outcomes delivered."""
    tmp = tmp_path_factory.mktemp("reruns")
    root = tmp / "kit"
    (root / "notebooks").mkdir(parents=True)
    (root / "playbook").mkdir()
    shutil.copytree(ROOT / "params", root / "params")
    for i, (sid, body) in enumerate(STAGES.items(), 1):
        _notebook(root / "notebooks" / f"0{i}_{sid}.ipynb", body)
    (root / "playbook" / "stages.yaml").write_text(yaml.safe_dump({"stages": [
        {"id": sid, "notebook": f"notebooks/0{i}_{sid}.ipynb", "title": sid}
        for i, sid in enumerate(STAGES, 1)]}))
    home = tmp / "home"
    old = os.environ.get("WINBACK_HOME")
    os.environ["WINBACK_HOME"] = str(home)
    try:
        _deliver(home, "2024-01")
        run_month("demo", "2024-01", root=root, progress=False)
        _deliver(home, "2024-02")
        (home / "outcomes.csv").write_text(
            "customer_id,campaign_month,available_from\n"
            "c1,2024-01,2024-02\nc2,2024-01,2024-02\nc3,2024-01,2024-02\n")
        run_month("demo", "2024-02", root=root, progress=False)
    finally:
        if old is None:
            os.environ.pop("WINBACK_HOME")
        else:
            os.environ["WINBACK_HOME"] = old
    return root, home


@pytest.fixture()
def kit(base, tmp_path, monkeypatch):
    """A private copy of the base home; returns (root, home)."""
    root, home = base
    mine = tmp_path / "home"
    shutil.copytree(home, mine)
    monkeypatch.setenv("WINBACK_HOME", str(mine))
    for var in ("KIT_GATE", "KIT_BUDGET"):
        monkeypatch.delenv(var, raising=False)
    return root, mine


def _runs(home: Path) -> Path:
    return home / "runs" / "demo"


def _store(home: Path) -> Path:
    return home / "data" / "demo" / "store.duckdb"


def _rows(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(_store(home)), read_only=True) as con:
        return con.execute(sql).fetchall()


def _log(home: Path) -> list[tuple]:
    return _rows(home, "SELECT month, customer_id, \"group\" FROM campaign_log ORDER BY ALL")


def table_hashes(month_dir: Path, ignore: dict[str, list[str]] | None = None) -> dict[str, str]:
    """SHA-256 of every table's content (rows sorted, schema included), by table name.

    ``ignore`` maps a table to columns left out of its hash.
    """
    out = {}
    for path in sorted((month_dir / "tables").glob("*.parquet")):
        table = pq.read_table(path)
        drop = [c for c in (ignore or {}).get(path.stem, []) if c in table.column_names]
        table = table.drop_columns(drop)
        frame = table.to_pandas()
        frame = frame.sort_values(list(frame.columns), kind="stable", ignore_index=True)
        buf = io.StringIO()
        frame.to_csv(buf, index=False, float_format="%.17g")
        digest = hashlib.sha256(str(table.schema.remove_metadata()).encode())
        digest.update(buf.getvalue().encode())
        out[path.stem] = digest.hexdigest()
    return out


def _cli(root: Path, home: Path, *args: str, **env: str) -> subprocess.Popen:
    full = {**os.environ, "WINBACK_ROOT": str(root), "WINBACK_HOME": str(home), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "winback", *args], env=full, cwd=str(root),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def _wait_until(check, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended before {what}: {proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _stage_running(home: Path, month: str, stage: str, gate: Path):
    def check() -> bool:
        path = _runs(home) / f".{month}.partial" / "manifest.json"
        try:
            m = read_manifest(path)
        except (OSError, ValueError):
            return False
        running = [s["id"] for s in m["stages"] if s["status"] == "running"]
        return running == [stage] and Path(f"{gate}.reached").exists()
    return check


# --------------------------------------------------------------------------------------
# Same month twice; an earlier month after a later one
# --------------------------------------------------------------------------------------


def test_rerun_of_an_earlier_month_keeps_the_later_load_and_logs_the_month_once(kit):
    root, home = kit
    before = table_hashes(_runs(home) / "2024-01")
    later = _rows(home, "SELECT * FROM snapshots WHERE month = '2024-02' ORDER BY ALL")
    log = _log(home)
    run_month("demo", "2024-01", root=root, progress=False)  # outcomes recorded: same log, allowed
    assert table_hashes(_runs(home) / "2024-01") == before
    assert _log(home) == log
    assert _rows(home, "SELECT month, count(*) FROM campaign_log GROUP BY 1 ORDER BY 1") == [
        ("2024-01", 10), ("2024-02", 10)]
    # the later month's inputs are untouched: its snapshot rows and the latest load
    assert _rows(home, "SELECT * FROM snapshots WHERE month = '2024-02' ORDER BY ALL") == later
    assert _rows(home, "SELECT DISTINCT loaded_for FROM customers") == [("2024-02",)]
    assert _rows(home, "SELECT count(*) FROM contact_outcomes") == [(3,)]
    assert _rows(home, "SELECT value FROM store_meta WHERE key = 'sources_month'") == [("2024-02",)]


# --------------------------------------------------------------------------------------
# Killed in the middle of a stage
# --------------------------------------------------------------------------------------


def test_killed_run_leaves_month_store_and_log_intact_and_is_reported_interrupted(kit, tmp_path):
    root, home = kit
    month_dir = _runs(home) / "2024-02"
    manifest_before = (month_dir / "manifest.json").read_bytes()
    tables_before = table_hashes(month_dir)
    log_before = _log(home)
    snapshots_before = _rows(home, "SELECT * FROM snapshots ORDER BY ALL")

    gate = tmp_path / "gate"
    # a different budget: the killed run has already written another campaign for 2024-02
    proc = _cli(root, home, "run", "-e", "demo", "-m", "2024-02", "-q",
                KIT_GATE=str(gate), KIT_BUDGET="4")
    _wait_until(_stage_running(home, "2024-02", "strategy_design", gate), "stage strategy_design running", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # the previous complete output, the campaign log and the store are as they were
    assert (month_dir / "manifest.json").read_bytes() == manifest_before
    assert table_hashes(month_dir) == tables_before
    assert _log(home) == log_before
    assert _rows(home, "SELECT * FROM snapshots ORDER BY ALL") == snapshots_before
    # the lock died with the process
    from winback.config import load_params
    from winback.workspace import workspace

    ws = workspace(load_params("demo", root=root), root)
    with engagement_lock(ws):
        pass
    # the leftover partial is recognised as interrupted, not running, not complete
    partial = read_manifest(_runs(home) / ".2024-02.partial")
    assert partial["status"] == "running" and partial["pid"] == proc.pid and partial["host"]
    status = month_status(ws, "2024-02")
    assert status["status"] == "interrupted" and status["complete_output"]
    assert "during stage strategy_design" in status["detail"]
    listing = {r["month"]: r["status"] for r in engagement_status("demo", root=root)}
    assert listing == {"2024-01": "complete", "2024-02": "interrupted"}
    shown = subprocess.run(
        [sys.executable, "-m", "winback", "status", "-e", "demo"], capture_output=True,
        text=True, env={**os.environ, "WINBACK_ROOT": str(root)}, cwd=str(root), check=True)
    assert "2024-02  interrupted" in shown.stdout and "previous complete output kept" in shown.stdout

    # rerunning completes the month and says what happened
    manifest = run_month("demo", "2024-02", root=root, progress=False)
    assert manifest["status"] == "complete"
    assert any("interrupted" in w and "during stage strategy_design" in w for w in manifest["warnings"])
    assert read_manifest(_runs(home) / "2024-02.failed")["status"] == "interrupted"
    assert not (_runs(home) / ".2024-02.partial").exists()
    assert table_hashes(month_dir) == tables_before
    assert _log(home) == log_before
    assert month_status(ws, "2024-02")["status"] == "complete"


def test_run_killed_while_moving_into_place_is_completed_by_the_next_run(kit, monkeypatch):
    root, home = kit
    from winback import runner

    calls = []

    def crash(*args, **kwargs):
        calls.append(args)
        raise KeyboardInterrupt  # the process dies right after every stage succeeded

    with monkeypatch.context() as m:
        m.setattr(runner, "_commit", crash)
        with pytest.raises(KeyboardInterrupt):
            run_month("demo", "2024-03", root=root, progress=False)
    assert calls and read_manifest(_runs(home) / ".2024-03.partial")["status"] == "complete"
    assert not (_runs(home) / "2024-03").exists()
    # the next run of 2024-03 completes the move first
    manifest = run_month("demo", "2024-03", root=root, progress=False, only=["strategy_design"])
    assert any("moving its outputs into place" in w for w in manifest["warnings"])
    assert _rows(home, "SELECT count(*) FROM campaign_log WHERE month = '2024-03'") == [(10,)]
    assert (_runs(home) / "2024-03" / "tables" / "campaign_assignment.parquet").exists()


# --------------------------------------------------------------------------------------
# Two runs at once
# --------------------------------------------------------------------------------------


def test_second_run_is_refused_or_waits_and_the_store_stays_whole(kit, tmp_path):
    root, home = kit
    gate = tmp_path / "gate"
    first = _cli(root, home, "run", "-e", "demo", "-m", "2024-03", "-q", KIT_GATE=str(gate))
    _wait_until(_stage_running(home, "2024-03", "strategy_design", gate),
                "the first run to hold", first)

    refused = _cli(root, home, "run", "-e", "demo", "-m", "2024-02", "-q")
    out, err = refused.communicate(timeout=TIMEOUT)
    assert refused.returncode == 2
    assert "already being run" in err and "--wait" in err and "Traceback" not in err

    queued = _cli(root, home, "run", "-e", "demo", "-m", "2024-03", "-q", "--wait", "600",
                  KIT_GATE=str(gate))
    gate.write_text("go")
    out1, err1 = first.communicate(timeout=TIMEOUT)
    out2, err2 = queued.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err1
    assert queued.returncode == 0, err2
    assert "complete" in out1 and "complete" in out2

    assert _rows(home, "SELECT month, count(*), count(DISTINCT customer_id) FROM campaign_log "
                       "GROUP BY 1 ORDER BY 1") == [
        ("2024-01", 10, 10), ("2024-02", 10, 10), ("2024-03", 10, 10)]
    assert _rows(home, "SELECT month, count(*) FROM snapshots GROUP BY 1 ORDER BY 1") == [
        ("2024-01", 10), ("2024-02", 10), ("2024-03", 10)]
    assert not list(_runs(home).glob(".2024-0*"))


# --------------------------------------------------------------------------------------
# Input files changed after a month ran
# --------------------------------------------------------------------------------------


def test_changed_input_of_a_used_month_is_reported(kit):
    root, home = kit
    client = home / "data" / "demo" / "client"
    jan = client / "transactions" / "transactions_2024-01.parquet"
    old = hashlib.sha256(jan.read_bytes()).hexdigest()
    jan.write_bytes(b"corrected by the client")
    new = hashlib.sha256(jan.read_bytes()).hexdigest()
    _deliver(home, "2024-03")
    manifest = run_month("demo", "2024-03", root=root, progress=False)
    changes = manifest["input_changes"]
    assert [(c["month"], c["old"], c["new"]) for c in changes] == [
        ("2024-02", old, new), ("2024-01", old, new)]
    assert all(c["file"].endswith("transactions_2024-01.parquet") for c in changes)
    # the redelivered customers extract is expected every month and not reported
    assert not [c for c in changes if c["source"] == "customers"]
    assert any("transactions_2024-01.parquet" in w and "rerun 2024-01" in w
               for w in manifest["warnings"])
    assert read_manifest(_runs(home) / "2024-03")["input_changes"] == changes

    # a stage rerun of a month compares every file with the month's own manifest
    (client / "customers.csv").write_text("customer_id\nchanged\n")
    proc = subprocess.run(
        [sys.executable, "-m", "winback", "run", "-e", "demo", "-m", "2024-03", "-q",
         "--stage", "strategy_design"], capture_output=True, text=True, cwd=str(root),
        env={**os.environ, "WINBACK_ROOT": str(root)}, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "warning: input file data/demo/client/customers.csv (customers) has changed " \
           "since 2024-03" in proc.stderr
    again = read_manifest(_runs(home) / "2024-03")["input_changes"]
    assert [(c["month"], c["source"]) for c in again if c["month"] == "2024-03"] == [
        ("2024-03", "customers")]


# --------------------------------------------------------------------------------------
# The campaign log of a month with recorded outcomes
# --------------------------------------------------------------------------------------


def test_campaign_with_recorded_outcomes_is_kept_unless_forced(kit, monkeypatch):
    root, home = kit
    log = _log(home)
    manifest_before = (_runs(home) / "2024-01" / "manifest.json").read_bytes()
    monkeypatch.setenv("KIT_BUDGET", "4")  # the stage now assigns another campaign
    with pytest.raises(RunFailed) as exc:
        run_month("demo", "2024-01", root=root, progress=False)
    text = str(exc.value)
    assert "CampaignLogLocked" in text and "campaign log of 2024-01 cannot be rewritten" in text
    assert "3 contact outcome rows" in text and "--force-campaign" in text
    assert _log(home) == log
    assert (_runs(home) / "2024-01" / "manifest.json").read_bytes() == manifest_before

    manifest = run_month("demo", "2024-01", root=root, progress=False, force_campaign=True)
    assert manifest["force_campaign"] is True
    assert _rows(home, "SELECT count(*) FROM campaign_log WHERE month = '2024-01'") == [(4,)]
    assert _rows(home, "SELECT count(*) FROM campaign_log WHERE month = '2024-02'") == [(10,)]
    assert _rows(home, "SELECT count(*) FROM information_schema.tables "
                       "WHERE table_name = 'campaign_guard'") == [(0,)]


# --------------------------------------------------------------------------------------
# The real stages: same month twice gives identical tables (slow: the session demo)
# --------------------------------------------------------------------------------------


def _month_rows(con, month: str) -> dict[str, str]:
    """SHA-256 of each month-keyed store table's rows of ``month`` (sorted)."""
    out = {}
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'month' "
        "ORDER BY 1").fetchall()]
    for name in names:
        frame = con.execute(f'SELECT * FROM "{name}" WHERE month = ?', [month]).df()
        for col in frame.columns:  # stored bytes (e.g. fitted models) compared as hex text
            if frame[col].map(lambda v: isinstance(v, bytes | bytearray)).any():
                frame[col] = frame[col].map(
                    lambda v: bytes(v).hex() if isinstance(v, bytes | bytearray) else v)
        frame = frame.sort_values(list(frame.columns), kind="stable", ignore_index=True)
        out[name] = hashlib.sha256(frame.to_csv(index=False, float_format="%.17g").encode()
                                   ).hexdigest()
    return out


def _demo_home_copy(demo_run, tmp_path, monkeypatch) -> Path:
    """A copy of the demo engagement's home (scratch and failed runs left out), made the
    WINBACK_HOME of the test."""
    home = tmp_path / "home"
    shutil.copytree(demo_run.ws.home, home, symlinks=True,
                    ignore=shutil.ignore_patterns("scratch", "*.failed"))
    monkeypatch.setenv("WINBACK_HOME", str(home))
    return home

@pytest.mark.slow
def test_same_month_twice_gives_identical_tables_on_the_demo(demo_run, tmp_path, monkeypatch):
    home = _demo_home_copy(demo_run, tmp_path, monkeypatch)
    # The last month: rerunning an earlier one reads the client's cumulative extracts with
    # the later months' rows in them (other inputs, e.g. more future-dated rows held out).
    earlier, month = demo_run.months[-2], demo_run.months[-1]
    store = home / demo_run.ws.store_path.relative_to(demo_run.ws.home)
    runs = home / demo_run.ws.engagement_runs.relative_to(demo_run.ws.home)

    def state():
        with duckdb.connect(str(store), read_only=True) as con:
            rows = {m: _month_rows(con, m) for m in (earlier, month)}
            log = con.execute("SELECT month, count(*) FROM campaign_log GROUP BY 1 ORDER BY 1"
                              ).fetchall()
        tables = table_hashes(runs / month, ignore=PROVENANCE)
        return tables, rows, log

    before = state()
    from tests.demo_engagement import OVERRIDES

    run_month("demo", month, OVERRIDES, progress=False)
    after = state()
    assert after[0] == before[0]  # every table of the month: identical content
    assert after[1] == before[1]  # the store's rows of the month and the one before
    assert after[2] == before[2]  # the campaign log holds each month once


@pytest.mark.slow
def test_batch_runs_keep_the_row_checks_for_the_next_month(demo_run, tmp_path, monkeypatch):
    home = _demo_home_copy(demo_run, tmp_path, monkeypatch)
    from tests.demo_engagement import OVERRIDES

    kept = home / "data" / "demo" / "cache" / "validated"
    month = demo_run.months[-1]
    run_month("demo", month, OVERRIDES, progress=False, only=["data_collection"])
    first = {p.name: p.stat().st_mtime_ns for p in kept.glob(f"*{ENTRY_SUFFIX}")}
    # one entry per delivered file of every file source, outside the run's copy of the store
    assert {name.split("-")[0] for name in first} == {
        "customers", "transactions", "interactions", "surveys", "contact_outcomes"}
    assert len([n for n in first if n.startswith("transactions-")]) == len(
        list((home / "data" / "demo" / "client" / "transactions").glob("*.parquet")))
    run_month("demo", month, OVERRIDES, progress=False, only=["data_collection"])
    again = {p.name: p.stat().st_mtime_ns for p in kept.glob(f"*{ENTRY_SUFFIX}")}
    assert again == first  # the second batch run read every file's checks, wrote none
