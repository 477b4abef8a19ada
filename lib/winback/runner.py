"""The monthly batch: run every stage notebook of a month with papermill, atomically.

Guarantees
----------
Atomic month
    A month's outputs are built in a hidden partial folder ``.<YYYY-MM>.partial/`` and
    moved into ``runs/<engagement>/<YYYY-MM>/`` only when every stage succeeded. A failed
    run leaves the previous complete output of that month untouched; its partial folder
    (kept as ``<YYYY-MM>.failed/`` when ``run.keep_failed``) has a manifest naming the
    failed stage and the error.
Atomic store
    The stages never write the engagement's store directly. The run works on a copy of
    the store inside the partial folder (the notebooks get ``run.store_dir`` pointing at
    it), and the copy replaces the store by one rename when every stage succeeded, just
    before the month folder is moved into place. So a failed or killed run changes
    neither the store nor the campaign log: no month's rows are ever half written, and
    the campaign log never holds half a month.
Earlier months
    Rerunning month M after later months ran: the stages of M see the store as it was
    when M first ran (the copy drops the month-keyed rows after M), and the commit puts
    the later months' rows back unchanged. The source tables (``customers``,
    ``transactions``, ... and ``quarantine``) keep the latest month's load, so the later
    months' inputs are not replaced by M's. With the same input files and params, a
    rerun gives identical tables.
Interrupted runs
    While a run is in progress its partial manifest says ``status: running`` with the
    process id, the host and the stage ``running``. A partial folder whose process is gone
    is *interrupted*: :func:`month_status` reports it so, and the next run of that month
    says so and discards it (kept as ``<YYYY-MM>.failed/`` with ``status: interrupted``
    when ``run.keep_failed``). A run killed after every stage succeeded, while moving its
    outputs into place, is completed by the next run of the engagement instead.
One run at a time
    A run holds the engagement's lock (``fcntl``; released by the operating system when
    the process dies, however it dies); a second run waits ``wait_seconds`` or refuses
    with :class:`EngagementBusyError`.
Input changes
    The manifest holds the SHA-256 of every input file. When a run uses a month's
    results again, it compares them with the current files and lists every difference
    under ``input_changes`` (``file``, ``old``, ``new`` hashes and the ``month`` whose
    manifest recorded ``old``) and as a warning (``warnings``): a ``only=`` rerun against
    the month's own manifest (every file), and every run against the manifests of the
    :data:`INPUT_CHECK_MONTHS` months before it (files of sources delivered one file per
    period, i.e. with a glob path; a single-file extract is expected to be redelivered
    every month).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from winback.config import Params, find_root, load_params
from winback.settings import month_range
from winback.sources import file_sha256
from winback.workspace import Workspace, workspace

__all__ = [
    "INPUT_CHECK_MONTHS",
    "LOAD_TABLES",
    "EngagementBusyError",
    "RunFailed",
    "Stage",
    "backfill",
    "compare_inputs",
    "engagement_lock",
    "engagement_status",
    "input_hashes",
    "month_status",
    "read_manifest",
    "run_month",
    "skip_iri_grammars",
    "stages",
]

MANIFEST = "manifest.json"
PACKAGES = (
    "winback", "pandas", "numpy", "scipy", "duckdb", "pyarrow", "papermill", "statsmodels",
    "scikit-learn", "seaborn", "matplotlib", "pydantic",
)
# The store tables that hold one month's load (stage 1) rather than month-keyed state.
LOAD_TABLES = ("customers", "transactions", "interactions", "surveys", "contact_outcomes",
               "quarantine")
LOAD_STAGE = "data_collection"
# How many months before the run month have their input hashes checked.
INPUT_CHECK_MONTHS = 3
_STORE_COPY = ".store"  # inside the partial folder: run.store_dir of the stages
_META = "store_meta"  # key/value table of the store: sources_month
_MONTH = r"\d{4}-(?:0[1-9]|1[0-2])"
_MONTH_DIR = re.compile(rf"^(?:({_MONTH})(?:\.failed)?|\.({_MONTH})\.partial)$")


class RunFailed(RuntimeError):
    """A stage of a month run failed; the message names the stage, the error and the manifest."""


class EngagementBusyError(RuntimeError):
    """Another run of the same engagement is in progress."""


@dataclass(frozen=True)
class Stage:
    id: str
    notebook: str
    title: str


def stages(root: Path | None = None) -> list[Stage]:
    """The stage notebooks in run order, as listed in ``playbook/stages.yaml``."""
    root = root or find_root()
    path = root / "playbook" / "stages.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = [Stage(s["id"], s["notebook"], s["title"]) for s in data["stages"]]
    missing = [s.notebook for s in out if not (root / s.notebook).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} lists notebooks that do not exist: {', '.join(missing)}")
    return out


def input_hashes(params: Params, ws: Workspace) -> dict[str, Any]:
    """SHA-256 of every input file (or of the SQL query text), per source."""
    src = params.sources
    base = ws.resolve(src.dir)
    out: dict[str, Any] = {}
    for name in ("customers", "transactions", "interactions", "surveys", "contact_outcomes"):
        spec = getattr(src, name)
        if spec.format == "sql":
            out[name] = {"sql": hashlib.sha256((spec.query or "").encode()).hexdigest()}
            continue
        pattern = spec.path.replace("{month}", params.run.month)  # as stage 1 reads it
        files = sorted(base.glob(pattern)) if base.exists() else []
        out[name] = {str(f.relative_to(ws.home) if f.is_relative_to(ws.home) else f):
                     file_sha256(f) for f in files}
    return out


def compare_inputs(
    old: dict[str, Any], new: dict[str, Any], *, sources: list[str] | None = None,
    added: bool = True,
) -> list[dict[str, Any]]:
    """Files whose hash differs between two manifests' ``inputs``.

    Parameters
    ----------
    old, new : dict
        ``inputs`` of a manifest (source -> file -> SHA-256), as :func:`input_hashes`.
    sources : list of str, optional
        Compare only these sources (default: all).
    added : bool
        Also list files present only in ``new``.

    Returns
    -------
    list of dict
        ``{"source", "file", "old", "new"}`` per changed file, sorted; ``old`` is None for
        an added file, ``new`` None for a removed one.
    """
    out = []
    for source in sorted(set(old) | set(new)):
        if sources is not None and source not in sources:
            continue
        before, after = old.get(source) or {}, new.get(source) or {}
        for file in sorted(set(before) | set(after)):
            a, b = before.get(file), after.get(file)
            if a == b or (a is None and not added):
                continue
            out.append({"source": source, "file": file, "old": a, "new": b})
    return out


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), "utf-8")
    os.replace(tmp, path)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a month folder (or of the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    return json.loads(path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def engagement_lock(ws: Workspace, *, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the engagement's run lock; a second run waits up to ``wait_seconds`` then refuses.

    The lock is an ``fcntl.flock`` on ``runs/<engagement>/.lock``: the operating system
    releases it when the holding process ends, even when it is killed.
    """
    ws.engagement_runs.mkdir(parents=True, exist_ok=True)
    path = ws.engagement_runs / ".lock"
    fh = path.open("a+")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                fh.close()
                raise EngagementBusyError(
                    f"Engagement {ws.engagement!r} is already being run ({holder}). Wait for "
                    "that run to finish, or pass --wait SECONDS to queue behind it."
                ) from None
            time.sleep(0.5)
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {platform.node()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        yield
    finally:
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _partial_dir(ws: Workspace, month: str) -> Path:
    return ws.engagement_runs / f".{month}.partial"


def _store_copy(ws: Workspace, partial: Path) -> Path:
    """The run's copy of the store (what ``run.store_dir=<partial>/.store`` points at)."""
    return partial / _STORE_COPY / ws.engagement / ws.store_path.name


def _alive(pid: object, host: object) -> bool | None:
    """Whether process ``pid`` on ``host`` still runs (None: another host, cannot tell)."""
    if host != platform.node() or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a killed child not yet reaped by its parent
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def skip_iri_grammars() -> None:
    """Keep jsonschema (imported by papermill, nbformat and nbconvert) from building the
    grammars of its ``iri`` format check.

    When rfc3987-syntax is installed, importing jsonschema compiles some forty Lark
    grammars for the ``iri``/``iri-reference`` string formats: about 2 s of CPU in every
    run, before the first notebook is written. The notebook format's schema uses neither
    format; marked missing, the module is simply not used and those formats go unchecked.
    Nothing changes once jsonschema has been imported in the process.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


# Every stage notebook imports these first; the next stage's kernel imports them while the
# current stage runs (the kit's import and a kernel's start cost seconds per stage).
_PRELOAD = "import winback, matplotlib.pyplot"


def _notebook_imports(notebook: Path) -> str:
    """The top-level import statements of the notebook's code cells, the parameters cell
    excepted (empty when the notebook cannot be read)."""
    import ast

    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    found: dict[str, None] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or (
                "parameters" in cell.get("metadata", {}).get("tags", [])):
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except (SyntaxError, ValueError, TypeError):
            continue  # e.g. IPython magics: the cell reports its own error when it runs
        for node in tree.body:
            if isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom) and not node.level:
                found[ast.unparse(node)] = None
    return "\n".join(found)


def _preload(notebook: Path | None = None) -> str:
    """What a stage's kernel runs as it starts, before the notebook's first cell.

    It imports the kit, pyplot, the module of every params section (what ``load_params``
    imports to validate) and the modules the stage notebook imports; those imports run in
    a namespace of their own, so the notebook's namespace holds only what its own cells
    define (and ``winback``, ``matplotlib``).
    """
    from winback.config import SECTIONS

    modules = sorted({path.split(":")[0] for path in SECTIONS.values()})
    code = f"{_PRELOAD}\nimport {', '.join(modules)}"
    imports = _notebook_imports(notebook) if notebook is not None else ""
    if imports:
        code += f"\nexec({imports!r}, {{}})"
    return code


def _start_kernel(cwd: Path, notebook: Path | None = None):
    """A notebook kernel started now in ``cwd``, importing what ``notebook`` needs as it starts.

    The kernel keeps no output history (``InteractiveShell.cache_size = 0``): in a batch run
    nothing reads ``Out`` or ``_``, and what a cell shows is freed when nothing else holds it.

    Returns its (asynchronous) kernel manager for papermill's ``km``, or ``None`` when no
    kernel could be started (papermill then starts its own, as without this). An import
    that fails while the kernel starts is only logged by the kernel; the notebook's own
    cell then fails with the error.
    """
    try:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        km = AsyncKernelManager(kernel_name="python3", **_local_transport())
        run_sync(km.start_kernel)(cwd=str(cwd), extra_arguments=[
            f"--IPKernelApp.exec_lines={_preload(notebook)}",
            # no output history (Out, _): a cell ending with a large frame would keep it
            # alive to the end of the stage, whatever later cells delete
            "--InteractiveShell.cache_size=0"])
        return km
    except Exception:
        return None


_SOCKETS_PREFIX = "winback-kernel-"


def _local_transport() -> dict[str, str]:
    """Where a started kernel talks to the runner: Unix sockets in a folder of the user's own.

    The notebook's code and outputs (client data) then never cross a network port, even the
    loopback one that every local user can reach. Where Unix sockets are missing (Windows),
    the kernel's default TCP on the loopback address.
    """
    if os.name != "posix":
        return {}
    folder = Path(tempfile.mkdtemp(prefix=_SOCKETS_PREFIX))  # created 0700
    return {"transport": "ipc", "ip": str(folder / "kernel")}


# How often (seconds) the executed notebook is written while a stage runs; it is always
# written when the stage starts and when it ends, also when a cell fails or the kernel dies.
SAVE_EVERY = 30
_ENGINE = "winback"


def _engine_name() -> str:
    """Papermill's engine for the stages (registered on first use).

    Papermill's own engine writes the whole executed notebook (charts included) before and
    after every cell, markdown cells too, while the kernel waits. This one writes it when
    the notebook starts, at most every :data:`SAVE_EVERY` seconds between cells, and when
    it ends, whatever the outcome; the notebook written at the end is the same.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    if _ENGINE in papermill_engines._engines:
        return _ENGINE

    class Manager(NotebookExecutionManager):
        forced = False

        def save(self, **kwargs):
            since = (self.now() - self.last_save_time).total_seconds()
            if self.forced or since >= self.autosave_cell_every:
                super().save(**kwargs)

        def notebook_start(self, **kwargs):
            self.forced = True
            try:
                super().notebook_start(**kwargs)
            finally:
                self.forced = False

        def notebook_complete(self, **kwargs):
            self.forced = True
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                             log_output=False, autosave_cell_every=SAVE_EVERY, **kwargs):
            nb_man = Manager(nb, output_path=output_path, progress_bar=progress_bar,
                             log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output,
                                             **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(_ENGINE, Engine)
    return _ENGINE


def _ready_kernel(km):
    """``km`` when its kernel is still running, else ``None`` (after cleaning it up)."""
    if km is None:
        return None
    from jupyter_core.utils import run_sync

    try:
        if run_sync(km.is_alive)():
            return km
    except Exception:
        pass
    _stop_kernel(km)
    return None


# How long a stopped kernel is waited for after its kill before the clean-up goes on.
KILL_WAIT_SECONDS = 10.0


def _stop_kernel(km) -> None:
    """Shut down a kernel started by :func:`_start_kernel` (papermill leaves it running)."""
    if km is None:
        return
    from jupyter_core.utils import run_sync

    async def kill() -> None:
        await km.signal_kernel(signal.SIGKILL)
        await asyncio.wait_for(km.provisioner.wait(), timeout=KILL_WAIT_SECONDS)

    with contextlib.suppress(Exception):
        # killed and reaped first: shutdown_kernel interrupts a running kernel before it
        # kills it, and a kernel that sees the interrupt in between logs "KeyboardInterrupt
        # caught in kernel" as an error in the run's output
        run_sync(kill)()
    with contextlib.suppress(Exception):
        run_sync(km.shutdown_kernel)(now=True)  # sockets, connection file
    folder = Path(km.ip).parent
    if km.transport == "ipc" and folder.name.startswith(_SOCKETS_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def _orphan_kernels(pid: int) -> list[int]:
    """Notebook kernels started by process ``pid`` (their ``JPY_PARENT_PID``) still running."""
    marker = f"JPY_PARENT_PID={pid}".encode()
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                out.append(int(proc.name))
    return out


def _wait_for_orphans(manifest: dict[str, Any] | None, timeout: float = 30.0) -> None:
    """Let the kernels of a dead run exit before its partial folder is reused.

    A kernel notices within a second that its runner is gone and exits; one still alive
    after ``timeout`` seconds is ended, so that it cannot write into the next run's folder.
    """
    if not manifest or manifest.get("host") != platform.node():
        return
    pid = manifest.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return
    deadline = time.monotonic() + timeout
    while (left := _orphan_kernels(pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for kernel in left:
        with contextlib.suppress(OSError):
            os.kill(kernel, signal.SIGKILL)


def _describe_partial(manifest: dict[str, Any] | None) -> str:
    if manifest is None:
        return "with an unreadable manifest"
    stage = next((s["id"] for s in manifest.get("stages", []) if s.get("status") == "running"),
                 None)
    where = f" during stage {stage}" if stage else ""
    return (f"(pid {manifest.get('pid')} on {manifest.get('host')}, started "
            f"{manifest.get('started')}){where}")


def month_status(ws: Workspace, month: str) -> dict[str, Any]:
    """What the runs folder says about ``month``.

    Returns
    -------
    dict
        ``month``; ``status``: ``complete`` (the month's output is in place and no later
        attempt is pending), ``running`` (a live process is building it), ``interrupted``
        (a partial folder whose process is gone, or a kept one marked so), ``failed``
        (the latest attempt failed) or ``missing``; ``complete_output`` (whether a
        complete output is in place); ``detail`` (stage, process, time).
    """
    final, partial = ws.month_dir(month), _partial_dir(ws, month)
    failed = ws.engagement_runs / f"{month}.failed"
    complete = (final / MANIFEST).is_file()
    out: dict[str, Any] = {"month": month, "complete_output": complete, "detail": ""}
    if partial.exists():
        try:
            m = read_manifest(partial)
        except (OSError, ValueError):
            m = None
        live = _alive(m.get("pid"), m.get("host")) if m else False
        if live is False:
            out["status"] = "interrupted"
        else:
            out["status"] = "running"
        out["detail"] = _describe_partial(m)
        return out
    last = None
    if failed.exists():
        with contextlib.suppress(OSError, ValueError):
            last = read_manifest(failed)
    if last is not None and (not complete or str(last.get("started", "")) >
                             str(read_manifest(final).get("started", ""))):
        out["status"] = "interrupted" if last.get("status") == "interrupted" else "failed"
        stage = last.get("failed_stage") or last.get("interrupted_stage")
        out["detail"] = f"stage {stage}, started {last.get('started')}; see {failed}"
        return out
    if complete:
        m = read_manifest(final)
        out["status"] = m.get("status", "complete")
        out["detail"] = f"finished {m.get('finished')}"
    else:
        out["status"] = "missing"
    return out


def engagement_status(
    engagement: str, overrides: list[str] | None = None, *, root: Path | None = None
) -> list[dict[str, Any]]:
    """:func:`month_status` of every month with a folder under the engagement's runs."""
    root = root or find_root()
    params = load_params(engagement, overrides, root=root)
    ws = workspace(params, root)
    months: set[str] = set()
    if ws.engagement_runs.exists():
        for p in ws.engagement_runs.iterdir():
            found = _MONTH_DIR.match(p.name)
            if found:
                months.add(found.group(1) or found.group(2))
    return [month_status(ws, m) for m in sorted(months)]


def _swap_into_place(partial: Path, final: Path) -> None:
    """Move ``partial`` to ``final``; an existing ``final`` is replaced only after the move."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(partial, final)
    if old.exists():
        shutil.rmtree(old)


def _set_sources_month(con, month: str) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {_META} (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(f"DELETE FROM {_META} WHERE key = 'sources_month'")
    con.execute(f"INSERT INTO {_META} VALUES ('sources_month', ?)", [month])


def _prepare_store(
    ws: Workspace, partial: Path, month: str, *, force_campaign: bool, wait_seconds: float
) -> None:
    """Copy the store into the partial folder and note what stage 4 must know in the copy."""
    from winback.campaign import write_campaign_guard
    from winback.store import opened

    real, copy = ws.store_path, _store_copy(ws, partial)
    copy.parent.mkdir(parents=True, exist_ok=True)
    if not real.exists():
        return
    with opened(real, wait_seconds=wait_seconds) as con:
        con.execute("CHECKPOINT")  # everything in the main file: no write-ahead log to copy
    shutil.copyfile(real, copy)
    with opened(real, read_only=True) as con_real, opened(copy) as con:
        write_campaign_guard(con, con_real, month, force=force_campaign)
        # An earlier month rerun sees the store as it was when that month first ran: the
        # later months' rows are put back at commit (_restore_later).
        for name in _month_tables(con):
            con.execute(f'DELETE FROM "{name}" WHERE month > ?', [month])


def _month_tables(con, catalog: str | None = None) -> list[str]:
    """Month-keyed tables of the store (a ``month`` column), the load tables excepted."""
    rows = con.execute(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'month' "
        "AND table_catalog = coalesce(?, current_database()) ORDER BY 1", [catalog]
    ).fetchall()
    return [r[0] for r in rows if r[0] not in LOAD_TABLES]


def _restore_later(con, real: Path, month: str, *, loaded: bool) -> None:
    """Put the later months' state of ``real`` into the run's copy ``con`` (one transaction).

    Month-keyed rows after ``month`` come back from the engagement's store; so does its
    latest load (source tables), when this run loaded ``month``'s sources over it.
    """
    quoted = str(real).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS latest (READ_ONLY)")
    try:
        later = None
        if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = "
                       f"'latest' AND table_name = '{_META}'").fetchall()[0][0]:
            rows = con.execute(f"SELECT value FROM latest.{_META} "
                               "WHERE key = 'sources_month'").fetchall()
            later = rows[0][0] if rows else None
        if later is None:
            found = [n for n in _month_tables(con, "latest") if n == "snapshots"]
            if found:
                later = con.execute("SELECT max(month) FROM latest.snapshots").fetchall()[0][0]
        con.execute("BEGIN TRANSACTION")
        for name in _month_tables(con, "latest"):
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = 'latest' AND table_name = ? ORDER BY ordinal_position",
                [name]).fetchall()
            if not con.execute("SELECT count(*) FROM latest.\"" + name + "\" WHERE month > ?",
                               [month]).fetchall()[0][0]:
                continue
            if not con.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                    "AND table_catalog = current_database()", [name]).fetchall()[0][0]:
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM latest."{name}" '
                            "WHERE month > ?", [month])
                continue
            mine = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_catalog = current_database()", [name]).fetchall()}
            for col, kind in cols:
                if col not in mine:
                    con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{col}" {kind}')
            con.execute(f'DELETE FROM "{name}" WHERE month > ?', [month])
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM latest."{name}" '
                        "WHERE month > ?", [month])
        if loaded and later is not None and later > month:
            # Keep the later month's load: it is what the later months' stages read.
            for name in LOAD_TABLES:
                if con.execute(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_catalog = 'latest' AND table_name = ?", [name]
                ).fetchall()[0][0]:
                    con.execute(f'CREATE OR REPLACE TABLE "{name}" AS '
                                f'SELECT * FROM latest."{name}"')
                else:
                    con.execute(f'DROP TABLE IF EXISTS "{name}"')
            _set_sources_month(con, later)
        elif loaded:
            _set_sources_month(con, month)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DETACH latest")


def _commit_store(ws: Workspace, partial: Path, month: str, *, loaded: bool) -> None:
    """Move the run's store copy over the engagement's store (idempotent after a crash)."""
    from winback.campaign import drop_campaign_guard
    from winback.store import opened

    real, copy = ws.store_path, _store_copy(ws, partial)
    if copy.exists():
        with opened(copy) as con:
            drop_campaign_guard(con)
            if real.exists():
                _restore_later(con, real, month, loaded=loaded)
            elif loaded:
                _set_sources_month(con, month)
            con.execute("CHECKPOINT")
        wal = real.with_name(real.name + ".wal")
        real.parent.mkdir(parents=True, exist_ok=True)
        if wal.exists():
            wal.unlink()
        os.replace(copy, real)
    shutil.rmtree(partial / _STORE_COPY, ignore_errors=True)


def _commit(ws: Workspace, partial: Path, month: str, manifest: dict[str, Any]) -> None:
    loaded = any(s["id"] == LOAD_STAGE and s.get("status") == "ok"
                 for s in manifest.get("stages", []))
    _commit_store(ws, partial, month, loaded=loaded)
    _swap_into_place(partial, ws.month_dir(month))


def _recover(ws: Workspace, month: str, *, keep_failed: bool) -> list[str]:
    """Deal with what an earlier run of ``month`` left behind (called under the lock)."""
    notes = []
    final, partial = ws.month_dir(month), _partial_dir(ws, month)
    old = final.with_name(f".{final.name}.old")
    if partial.exists():
        try:
            m = read_manifest(partial)
        except (OSError, ValueError):
            m = None
        _wait_for_orphans(m)
        if m is not None and m.get("status") == "complete":
            _commit(ws, partial, month, m)
            notes.append(
                f"A previous run of {month} {_describe_partial(m)} finished every stage but was "
                "interrupted while moving its outputs into place; that move was completed."
            )
        else:
            shutil.rmtree(partial / _STORE_COPY, ignore_errors=True)
            kept = ""
            if keep_failed and m is not None:
                failed = ws.engagement_runs / f"{month}.failed"
                running = [s["id"] for s in m.get("stages", []) if s.get("status") == "running"]
                m["status"] = "interrupted"
                m["interrupted_stage"] = running[0] if running else None
                _write_json(partial / MANIFEST, m)
                if failed.exists():
                    shutil.rmtree(failed)
                os.replace(partial, failed)
                kept = f" It is kept in {failed}."
            else:
                shutil.rmtree(partial)
            notes.append(
                f"A previous run of {month} {_describe_partial(m)} was interrupted; the store "
                f"and the month's complete output were not touched by it.{kept}"
            )
    if old.exists():
        if final.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, final)
    return notes


def _input_changes(
    params: Params, ws: Workspace, month: str, current: dict[str, Any], only: list[str] | None
) -> list[dict[str, Any]]:
    """Input files changed since the months whose results this run uses were run."""
    changes = []
    final = ws.month_dir(month)
    if only and (final / MANIFEST).is_file():
        for c in compare_inputs(read_manifest(final).get("inputs", {}), current):
            changes.append({**c, "month": month})
    per_period = [n for n in current
                  if any(ch in str(getattr(params.sources, n).path or "") for ch in "*?[")]
    for k in range(1, INPUT_CHECK_MONTHS + 1):
        earlier = str(pd.Period(month, "M") - k)
        path = ws.month_dir(earlier) / MANIFEST
        if not path.is_file():
            continue
        old = read_manifest(path).get("inputs", {})
        for c in compare_inputs(old, current, sources=per_period, added=False):
            changes.append({**c, "month": earlier})
    return changes


def _change_warning(change: dict[str, Any]) -> str:
    what = ("was removed" if change["new"] is None else "is new" if change["old"] is None
            else "has changed")
    return (f"input file {change['file']} ({change['source']}) {what} since {change['month']} "
            f"was run (sha256 {str(change['old'])[:12]} -> {str(change['new'])[:12]}); "
            f"results of {change['month']} used by this run were computed from the old file: "
            f"rerun {change['month']} if the change matters.")


def run_month(
    engagement: str,
    month: str,
    overrides: list[str] | None = None,
    *,
    root: Path | None = None,
    progress: bool = True,
    wait_seconds: float = 0.0,
    only: list[str] | None = None,
    force_campaign: bool = False,
) -> dict[str, Any]:
    """Run every stage of ``month`` for ``engagement``; return the manifest.

    ``only`` reruns just those stage ids: the month's other outputs are carried over from
    its complete output, and the manifest lists them under ``carried_over``.
    ``force_campaign`` (or params ``run.force_campaign_rewrite``) allows stage 4 to rewrite
    a campaign log month whose contact outcomes have been recorded
    (:func:`winback.campaign.write_campaign_log`).

    The manifest's ``warnings`` list what the caller should show: an earlier interrupted
    run of the month, input files changed since a month whose results are used
    (``input_changes``). See the module doc for the guarantees.

    Raises :class:`RunFailed` when a stage fails (the month's previous output and the
    store stay as they were).
    """
    root = root or find_root()
    skip_iri_grammars()
    chosen = [s for s in stages(root) if not only or s.id in only]
    # The first stage's kernel starts (and imports) while the run reads its params, hashes
    # its inputs and copies the store; each later stage's kernel starts during the stage
    # before it.
    first = _start_kernel(root / "notebooks", root / chosen[0].notebook) if chosen else None
    try:
        return _run_month(engagement, month, overrides, root=root, chosen=chosen,
                          progress=progress, wait_seconds=wait_seconds, only=only,
                          force_campaign=force_campaign, first_kernel=first)
    except BaseException:
        _stop_kernel(first)  # (already shut down when its stage ran)
        raise


def _run_month(
    engagement: str, month: str, overrides: list[str] | None, *, root: Path,
    chosen: list[Stage], progress: bool, wait_seconds: float, only: list[str] | None,
    force_campaign: bool, first_kernel,
) -> dict[str, Any]:
    """:func:`run_month` once the first stage's kernel is starting (``first_kernel``)."""
    overrides = [f"run.month={month}", *(overrides or [])]
    params = load_params(engagement, overrides, root=root)
    ws = workspace(params, root)
    force_campaign = force_campaign or params.run.force_campaign_rewrite
    if params.privacy.hash_ids:  # a missing salt stops the run before any stage
        from winback.privacy import resolve_salt

        resolve_salt(params.privacy)
    with engagement_lock(ws, wait_seconds=wait_seconds):
        kernel_dir = root / "notebooks"
        next_kernel = first_kernel
        try:
            import papermill as pm

            warnings = _recover(ws, month, keep_failed=params.run.keep_failed)
            final = ws.month_dir(month)
            partial = _partial_dir(ws, month)
            if only and final.exists():
                # Rerunning some stages: the month's other outputs are carried over unchanged.
                shutil.copytree(final, partial, symlinks=True)
            (partial / "notebooks").mkdir(parents=True, exist_ok=True)
            inputs = input_hashes(params, ws)
            changes = _input_changes(params, ws, month, inputs, only)
            warnings += [_change_warning(c) for c in changes]
            manifest: dict[str, Any] = {
                "engagement": engagement,
                "month": month,
                "status": "running",
                "pid": os.getpid(),
                "host": platform.node(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "overrides": overrides,
                "params_files": params.files,
                "params": params.raw,
                "inputs": inputs,
                "input_changes": changes,
                "warnings": warnings,
                "versions": _versions(),
                "stages": [{"id": s.id, "notebook": s.notebook, "status": "pending"} for s in chosen],
            }
            if force_campaign:
                manifest["force_campaign"] = True
            if only:
                manifest["only"] = list(only)
                if final.exists():
                    previous = read_manifest(final)
                    manifest["carried_over"] = [
                        s for s in previous.get("stages", []) if s["id"] not in set(only)]
            _write_json(partial / MANIFEST, manifest)
            try:
                _prepare_store(ws, partial, month, force_campaign=force_campaign,
                               wait_seconds=wait_seconds)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        except BaseException:
            _stop_kernel(next_kernel)
            raise
        # The stages read and write the run's copy of the store (see the module doc).
        stage_overrides = [*overrides[1:], f"run.store_dir={partial / _STORE_COPY}"]
        failure = None
        try:
            for k, (entry, stage) in enumerate(zip(manifest["stages"], chosen, strict=True)):
                entry["status"] = "running"
                _write_json(partial / MANIFEST, manifest)
                start = time.perf_counter()
                # this stage's kernel was started during the previous one; start the next's
                kernel = _ready_kernel(next_kernel)
                next_kernel = (_start_kernel(kernel_dir, root / chosen[k + 1].notebook)
                               if k + 1 < len(chosen) else None)
                try:
                    pm.execute_notebook(
                        str(root / stage.notebook),
                        str(partial / "notebooks" / Path(stage.notebook).name),
                        parameters={
                            "engagement": engagement,
                            "month": month,
                            "run_dir": str(partial),
                            "overrides": stage_overrides,
                        },
                        cwd=str(kernel_dir),
                        kernel_name="python3",
                        progress_bar=({"desc": f"{month} {stage.id}", "leave": True}
                                      if progress else False),
                        log_output=False,
                        engine_name=_engine_name(),
                        **({"km": kernel} if kernel is not None else {}),
                    )
                    entry["status"] = "ok"
                except Exception as exc:  # papermill wraps the notebook's error
                    entry["status"] = "failed"
                    entry["error"] = _error_text(exc)
                    failure = (stage, entry["error"])
                finally:
                    _stop_kernel(kernel)
                entry["seconds"] = round(time.perf_counter() - start, 2)
                _write_json(partial / MANIFEST, manifest)
                if failure:
                    break
        finally:
            _stop_kernel(next_kernel)
        if not failure and params.privacy.hash_ids:  # shareable tables carry salted-hash ids
            from winback.privacy import pseudonymize_tables

            try:
                pseudonymize_tables(partial / "tables", params.privacy)
            except Exception as exc:
                failure = (Stage("privacy", "winback.privacy", "Pseudonymous ids"),
                           _error_text(exc))
        if not failure:  # the month's report (winback.report) fails the month like a stage
            from winback.report import report_step

            manifest["report"] = report_step(partial, params, root=root)
            if manifest["report"]["status"] == "failed":
                failure = (Stage("report", "winback.report", "Monthly report"),
                           manifest["report"]["error"])
        manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        manifest["seconds"] = round(sum(s.get("seconds", 0) for s in manifest["stages"]), 2)
        if failure:
            manifest["status"] = "failed"
            manifest["failed_stage"] = failure[0].id
            _write_json(partial / MANIFEST, manifest)
            shutil.rmtree(partial / _STORE_COPY, ignore_errors=True)
            failed_dir = ws.engagement_runs / f"{month}.failed"
            if failed_dir.exists():
                shutil.rmtree(failed_dir)
            if params.run.keep_failed:
                os.replace(partial, failed_dir)
                where = f"Partial outputs and the manifest are in {failed_dir}."
            else:
                shutil.rmtree(partial)
                where = ""
            kept = "The previous complete output of this month is untouched. " if final.exists() else ""
            raise RunFailed(
                f"{engagement} {month}: stage {failure[0].id} ({failure[0].notebook}) failed: "
                f"{failure[1]}\n{kept}The store is unchanged. {where}"
            )
        # Every stage succeeded: from here on the run is only moved into place; a run killed
        # now is completed by the next run of the engagement (see _recover).
        manifest["status"] = "complete"
        _write_json(partial / MANIFEST, manifest)
        _commit(ws, partial, month, manifest)
        from winback.report import trends_step

        trends_step(ws.engagement_runs, params)  # trends.html across complete months
        return manifest


def _error_text(exc: Exception) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}".strip()


def backfill(
    engagement: str,
    first: str,
    last: str,
    overrides: list[str] | None = None,
    *,
    root: Path | None = None,
    progress: bool = True,
    before_month=None,
) -> list[dict[str, Any]]:
    """Run months ``first``..``last`` in order; stop at the first failed month.

    ``before_month(month)`` is called before each month runs (the demo uses it to let its
    simulated client deliver that month's data). Each manifest's ``warnings`` are printed
    to standard error as the month completes.
    """
    manifests = []
    for month in month_range(first, last):
        if before_month is not None:
            before_month(month)
        manifests.append(
            run_month(engagement, month, overrides, root=root, progress=progress)
        )
        for text in manifests[-1].get("warnings", []):
            print(f"winback: warning: {engagement} {month}: {text}", file=sys.stderr)
        if progress:
            print(f"{engagement} {month}: complete in {manifests[-1]['seconds']} s", file=sys.stderr)
    return manifests
