"""The month runner on a throwaway kit: atomic month folders, manifests, failures, the run lock."""

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from winback.runner import (
    EngagementBusyError,
    RunFailed,
    engagement_lock,
    read_manifest,
    run_month,
)

ROOT = Path(__file__).resolve().parents[1]

PARAMS_CELL = 'engagement = "demo"\nmonth = "2024-01"\nrun_dir = ""\noverrides = []'


def _notebook(path: Path, *bodies: str) -> None:
    """A stage notebook: the parameters cell, then one code cell per body."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *map(nbformat.v4.new_code_cell, bodies)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def kit(tmp_path, monkeypatch):
    """A kit root with the real params and two tiny stages; the second fails on demand."""
    root = tmp_path / "kit"
    (root / "notebooks").mkdir(parents=True)
    (root / "playbook").mkdir()
    shutil.copytree(ROOT / "params", root / "params")
    _notebook(
        root / "notebooks" / "01_a.ipynb",
        "from pathlib import Path\n"
        "Path(run_dir, 'tables', 'a.txt').parent.mkdir(parents=True, exist_ok=True)\n"
        "Path(run_dir, 'tables', 'a.txt').write_text(month + ' ' + ','.join(overrides))",
    )
    _notebook(
        root / "notebooks" / "02_b.ipynb",
        "import os\n"
        "if os.environ.get('FAIL_STAGE_B'):\n"
        "    raise RuntimeError('stage b broke on purpose')\n",
    )
    (root / "playbook" / "stages.yaml").write_text(
        yaml.safe_dump({"stages": [
            {"id": "a", "notebook": "notebooks/01_a.ipynb", "title": "A"},
            {"id": "b", "notebook": "notebooks/02_b.ipynb", "title": "B"},
        ]})
    )
    monkeypatch.setenv("WINBACK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIL_STAGE_B", raising=False)
    return root


def test_complete_month_has_outputs_and_manifest(kit, tmp_path):
    manifest = run_month("demo", "2024-02", ["engagement.language=en"], root=kit, progress=False)
    month_dir = tmp_path / "home" / "runs" / "demo" / "2024-02"
    assert manifest["status"] == "complete"
    # the stages get the user's overrides, then the run's copy of the store
    text = (month_dir / "tables" / "a.txt").read_text()
    assert text.startswith("2024-02 engagement.language=en,run.store_dir=")
    assert text.endswith("/.2024-02.partial/.store")
    assert sorted(p.name for p in (month_dir / "notebooks").iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    saved = read_manifest(month_dir)
    assert [s["status"] for s in saved["stages"]] == ["ok", "ok"]
    assert all(s["seconds"] >= 0 for s in saved["stages"])
    assert saved["params"]["run"]["month"] == "2024-02"
    assert saved["params"]["engagement"]["language"] == "en"
    assert "pandas" in saved["versions"] and "inputs" in saved
    assert not list((tmp_path / "home" / "runs" / "demo").glob(".2024-02*"))


def test_failed_stage_keeps_previous_output_and_names_the_stage(kit, tmp_path, monkeypatch):
    run_month("demo", "2024-02", root=kit, progress=False)
    month_dir = tmp_path / "home" / "runs" / "demo" / "2024-02"
    before = (month_dir / "manifest.json").read_text()

    monkeypatch.setenv("FAIL_STAGE_B", "1")
    with pytest.raises(RunFailed) as exc:
        run_month("demo", "2024-02", ["engagement.language=en"], root=kit, progress=False)
    assert "stage b" in str(exc.value) and "stage b broke on purpose" in str(exc.value)
    assert "previous complete output of this month is untouched" in str(exc.value)

    assert (month_dir / "manifest.json").read_text() == before
    failed = read_manifest(month_dir.with_name("2024-02.failed"))
    assert failed["status"] == "failed" and failed["failed_stage"] == "b"
    assert [s["status"] for s in failed["stages"]] == ["ok", "failed"]
    assert "RuntimeError" in failed["stages"][1]["error"]
    # the failed stage's notebook is written with the error (not only while cells run)
    nb = nbformat.read(month_dir.with_name("2024-02.failed") / "notebooks" / "02_b.ipynb", 4)
    assert any(o.get("ename") == "RuntimeError" for c in nb.cells for o in c.get("outputs", []))


def test_rerun_replaces_the_month_whole(kit, tmp_path):
    run_month("demo", "2024-02", root=kit, progress=False)
    month_dir = tmp_path / "home" / "runs" / "demo" / "2024-02"
    (month_dir / "tables" / "stale.txt").write_text("left over")
    run_month("demo", "2024-02", root=kit, progress=False)
    assert not (month_dir / "tables" / "stale.txt").exists()


def test_bad_params_fail_before_any_stage(kit, tmp_path):
    from winback.config import ParamsError

    with pytest.raises(ParamsError, match="Did you mean 'run.month'"):
        run_month("demo", "2024-02", ["run.mnth=1"], root=kit, progress=False)
    assert not (tmp_path / "home" / "runs" / "demo" / "2024-02").exists()


def test_second_run_of_an_engagement_is_refused_while_one_holds_the_lock(kit):
    from winback.config import load_params
    from winback.workspace import workspace

    ws = workspace(load_params("demo", root=kit), kit)
    with engagement_lock(ws), pytest.raises(EngagementBusyError, match="already being run"):
        run_month("demo", "2024-02", root=kit, progress=False)
    run_month("demo", "2024-02", root=kit, progress=False)


def test_stage_list_must_name_existing_notebooks(kit):
    from winback.runner import stages

    (kit / "notebooks" / "02_b.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="02_b.ipynb"):
        stages(kit)


def test_manifest_is_valid_json_while_running(kit, tmp_path):
    run_month("demo", "2024-03", root=kit, progress=False)
    text = (tmp_path / "home" / "runs" / "demo" / "2024-03" / "manifest.json").read_text()
    assert json.loads(text)["month"] == "2024-03"


def test_rerunning_one_stage_keeps_the_other_stages_outputs(kit, tmp_path):
    run_month("demo", "2024-02", root=kit, progress=False)
    month_dir = tmp_path / "home" / "runs" / "demo" / "2024-02"
    run_month("demo", "2024-02", root=kit, progress=False, only=["b"])
    assert (month_dir / "tables" / "a.txt").exists()
    assert (month_dir / "notebooks" / "01_a.ipynb").exists()
    manifest = read_manifest(month_dir)
    assert [s["id"] for s in manifest["stages"]] == ["b"]
    assert [s["id"] for s in manifest["carried_over"]] == ["a"]


def test_input_hashes_fill_the_month_of_a_monthly_file(tmp_path, monkeypatch):
    from winback.config import load_params
    from winback.runner import input_hashes
    from winback.workspace import workspace

    monkeypatch.setenv("WINBACK_HOME", str(tmp_path))
    params = load_params("demo", [
        "run.month=2024-02",
        "sources.transactions.path=tx/orders_{month}.csv",
    ])
    ws = workspace(params)
    folder = ws.resolve(params.sources.dir) / "tx"
    folder.mkdir(parents=True)
    (folder / "orders_2024-01.csv").write_text("a\n1\n")
    (folder / "orders_2024-02.csv").write_text("a\n2\n")
    hashed = input_hashes(params, ws)["transactions"]
    assert [Path(f).name for f in hashed] == ["orders_2024-02.csv"]


def test_hash_ids_turn_the_run_tables_ids_into_salted_hashes(kit, tmp_path, monkeypatch):
    import pandas as pd

    from winback.privacy import hash_ids

    _notebook(
        kit / "notebooks" / "01_a.ipynb",
        "import pandas as pd\nfrom pathlib import Path\nimport winback as wb\n"
        "ws = wb.workspace(wb.load_params(engagement, [f'run.month={month}', *overrides]))\n"
        "with wb.opened(ws.store_path) as con:\n"
        "    con.execute(\"CREATE TABLE customers AS SELECT * FROM (VALUES ('C1'), ('C2')) t(customer_id)\")\n"
        "Path(run_dir, 'tables').mkdir(parents=True, exist_ok=True)\n"
        "pd.DataFrame({'customer_id': ['C1', 'C2'], 'x': [1, 2]})"
        ".to_parquet(Path(run_dir, 'tables', 'a.parquet'))",
    )
    monkeypatch.delenv("WINBACK_ID_SALT", raising=False)
    with pytest.raises(ValueError, match="WINBACK_ID_SALT"):
        run_month("demo", "2024-01", ["privacy.hash_ids=true"], root=kit, progress=False)
    assert not (tmp_path / "home" / "runs" / "demo" / "2024-01").exists()

    salt = "a-salt-of-twenty-characters"
    monkeypatch.setenv("WINBACK_ID_SALT", salt)
    manifest = run_month("demo", "2024-01", ["privacy.hash_ids=true"], root=kit, progress=False)
    assert manifest["status"] == "complete"
    table = pd.read_parquet(tmp_path / "home" / "runs" / "demo" / "2024-01" / "tables" / "a.parquet")
    assert list(table["customer_id"]) == list(hash_ids(pd.Series(["C1", "C2"]), salt))
    text = (tmp_path / "home" / "runs" / "demo" / "2024-01" / "manifest.json").read_text()
    assert salt not in text


@pytest.mark.parametrize("ahead", [True, False])
def test_stage_kernels_started_ahead_or_by_papermill(kit, tmp_path, monkeypatch, ahead):
    from winback import runner

    if not ahead:  # no kernel manager could start one: papermill starts its own
        monkeypatch.setattr(runner, "_start_kernel", lambda *args, **kw: None)
    _notebook(kit / "notebooks" / "02_b.ipynb",
              "import os, sys\nfrom pathlib import Path\n"
              "Path(run_dir, 'tables', 'b.txt').write_text("
              "f\"{'winback' in sys.modules} {Path.cwd().name}\")")
    manifest = run_month("demo", "2024-02", root=kit, progress=False)
    assert manifest["status"] == "complete"
    text = (tmp_path / "home" / "runs" / "demo" / "2024-02" / "tables" / "b.txt").read_text()
    assert text == f"{ahead} notebooks"  # imported while stage a ran; same working folder
    assert runner._orphan_kernels(os.getpid()) == []  # every kernel was shut down


def test_stage_kernel_started_ahead_imports_what_the_notebook_imports(kit, tmp_path):
    from winback import runner

    path = kit / "notebooks" / "02_b.ipynb"
    _notebook(path,
              "import sys\nfrom pathlib import Path\n"
              "seen = 'wave' in sys.modules, 'tabnanny' in sys.modules\n"
              "Path(run_dir, 'tables', 'b.txt').write_text(str(seen))",
              "import wave\nif False:\n    import tabnanny")
    code = runner._preload(path)
    assert "import wave" in code and "tabnanny" not in code  # top-level imports only
    assert "winback.warning" in code  # every params section's module (load_params needs them)
    assert run_month("demo", "2024-02", root=kit, progress=False)["status"] == "complete"
    text = (tmp_path / "home" / "runs" / "demo" / "2024-02" / "tables" / "b.txt").read_text()
    assert text == "(True, False)"  # imported while stage a ran, in a namespace of its own


def test_stage_kernel_keeps_no_output_history(kit, tmp_path):
    _notebook(kit / "notebooks" / "02_b.ipynb",
              "import weakref\nclass Big: pass\nbig = Big()\ngone = weakref.ref(big)\nbig",
              "del big",
              "from pathlib import Path\n"
              "Path(run_dir, 'tables', 'b.txt').write_text(str((gone() is None, len(Out))))")
    assert run_month("demo", "2024-02", root=kit, progress=False)["status"] == "complete"
    text = (tmp_path / "home" / "runs" / "demo" / "2024-02" / "tables" / "b.txt").read_text()
    assert text == "(True, 0)"  # the value shown by a cell is freed once deleted


def _running_kernel(cwd):
    """A stage kernel started by the runner in ``cwd``, ready to run code."""
    from jupyter_core.utils import run_sync

    from winback import runner

    km = runner._start_kernel(cwd)
    assert km is not None
    client = km.client()
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=60)
    finally:
        client.stop_channels()
    return km


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets")
def test_stage_kernel_talks_over_private_unix_sockets(tmp_path, capfd):
    from winback import runner

    km = _running_kernel(tmp_path)
    assert km.transport == "ipc"
    folder = Path(km.ip).parent
    assert folder.stat().st_mode & 0o777 == 0o700  # only the user reaches the sockets
    runner._stop_kernel(km)
    assert not folder.exists()
    assert "without encryption" not in capfd.readouterr().err  # no TCP port, no warning


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_stopped_kernel_is_killed_without_an_interrupt_first(tmp_path, capfd):
    import signal

    from winback import runner

    km = _running_kernel(tmp_path)
    process = km.provisioner.process
    sent = []
    send = km.provisioner.send_signal

    async def recording(signum):
        sent.append(signum)
        await send(signum)

    km.provisioner.send_signal = recording
    runner._stop_kernel(km)
    # an interrupt before the kill would let the kernel log "KeyboardInterrupt caught"
    assert sent and sent[0] == signal.SIGKILL and signal.SIGINT not in sent
    assert process.poll() is not None and not Path(km.connection_file).exists()
    assert "KeyboardInterrupt" not in capfd.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_stopping_a_kernel_does_not_wait_forever_for_its_exit(tmp_path, monkeypatch):
    import asyncio

    from winback import runner

    km = _running_kernel(tmp_path)
    process = km.provisioner.process
    monkeypatch.setattr(runner, "KILL_WAIT_SECONDS", 0.5)

    async def lost(signum):  # a kill that does not take effect
        await asyncio.sleep(0)

    km.signal_kernel = lost
    runner._stop_kernel(km)  # the wait gives up; shutdown_kernel then stops the kernel
    assert process.wait(timeout=10) is not None
    assert not Path(km.connection_file).exists()


def test_jsonschema_imported_by_the_runner_skips_the_iri_grammars(monkeypatch):
    import sys

    from winback.runner import skip_iri_grammars

    monkeypatch.delitem(sys.modules, "jsonschema", raising=False)
    monkeypatch.delitem(sys.modules, "rfc3987_syntax", raising=False)
    skip_iri_grammars()
    assert sys.modules["rfc3987_syntax"] is None  # imports of it fail: jsonschema skips it
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nbformat.validate(nb)  # the notebook schema is checked as before


def test_iri_grammars_left_alone_once_jsonschema_is_imported(monkeypatch):
    import sys

    import jsonschema  # noqa: F401

    from winback.runner import skip_iri_grammars

    monkeypatch.delitem(sys.modules, "rfc3987_syntax", raising=False)
    skip_iri_grammars()
    assert "rfc3987_syntax" not in sys.modules
