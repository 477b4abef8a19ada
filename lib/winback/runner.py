"""The monthly batch: run every stage notebook of a month with papermill, atomically.

A month's outputs are built in a hidden partial folder and moved into
``runs/<engagement>/<YYYY-MM>/`` only when every stage succeeded. A failed or interrupted
run leaves the previous complete output of that month untouched; its partial folder
(kept as ``<YYYY-MM>.failed/`` when params ask) has a manifest naming the failed stage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from winback.config import Params, find_root, load_params
from winback.settings import month_range
from winback.sources import file_sha256
from winback.workspace import Workspace, workspace

__all__ = [
    "EngagementBusyError",
    "RunFailed",
    "Stage",
    "backfill",
    "engagement_lock",
    "input_hashes",
    "read_manifest",
    "run_month",
    "stages",
]

MANIFEST = "manifest.json"
PACKAGES = (
    "winback", "pandas", "numpy", "scipy", "duckdb", "pyarrow", "papermill", "statsmodels",
    "scikit-learn", "seaborn", "matplotlib", "pydantic",
)


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
        files = sorted(base.glob(spec.path)) if base.exists() else []
        out[name] = {str(f.relative_to(ws.home) if f.is_relative_to(ws.home) else f):
                     file_sha256(f) for f in files}
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
    """Hold the engagement's run lock; a second run waits up to ``wait_seconds`` then refuses."""
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
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        yield
    finally:
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


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


def run_month(
    engagement: str,
    month: str,
    overrides: list[str] | None = None,
    *,
    root: Path | None = None,
    progress: bool = True,
    wait_seconds: float = 0.0,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run every stage of ``month`` for ``engagement``; return the manifest.

    ``only`` reruns just those stage ids: the month's other outputs are carried over from
    its complete output, and the manifest lists them under ``carried_over``.

    Raises :class:`RunFailed` when a stage fails (the month's previous output stays in place).
    """
    import papermill as pm

    root = root or find_root()
    overrides = [f"run.month={month}", *(overrides or [])]
    params = load_params(engagement, overrides, root=root)
    ws = workspace(params, root)
    chosen = [s for s in stages(root) if not only or s.id in only]
    with engagement_lock(ws, wait_seconds=wait_seconds):
        final = ws.month_dir(month)
        partial = ws.engagement_runs / f".{month}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        if only and final.exists():
            # Rerunning some stages: the month's other outputs are carried over unchanged.
            shutil.copytree(final, partial, symlinks=True)
        (partial / "notebooks").mkdir(parents=True, exist_ok=True)
        manifest: dict[str, Any] = {
            "engagement": engagement,
            "month": month,
            "status": "running",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "overrides": overrides,
            "params_files": params.files,
            "params": params.raw,
            "inputs": input_hashes(params, ws),
            "versions": _versions(),
            "stages": [{"id": s.id, "notebook": s.notebook, "status": "pending"} for s in chosen],
        }
        if only:
            manifest["only"] = list(only)
            if final.exists():
                previous = read_manifest(final)
                manifest["carried_over"] = [
                    s for s in previous.get("stages", []) if s["id"] not in set(only)]
        _write_json(partial / MANIFEST, manifest)
        failure = None
        for entry, stage in zip(manifest["stages"], chosen, strict=True):
            entry["status"] = "running"
            _write_json(partial / MANIFEST, manifest)
            start = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(root / stage.notebook),
                    str(partial / "notebooks" / Path(stage.notebook).name),
                    parameters={
                        "engagement": engagement,
                        "month": month,
                        "run_dir": str(partial),
                        "overrides": overrides[1:],
                    },
                    cwd=str(root / "notebooks"),
                    kernel_name="python3",
                    progress_bar={"desc": f"{month} {stage.id}", "leave": True} if progress else False,
                    log_output=False,
                )
                entry["status"] = "ok"
            except Exception as exc:  # papermill wraps the notebook's error
                entry["status"] = "failed"
                entry["error"] = _error_text(exc)
                failure = (stage, entry["error"])
            entry["seconds"] = round(time.perf_counter() - start, 2)
            _write_json(partial / MANIFEST, manifest)
            if failure:
                break
        manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        manifest["seconds"] = round(sum(s.get("seconds", 0) for s in manifest["stages"]), 2)
        if failure:
            manifest["status"] = "failed"
            manifest["failed_stage"] = failure[0].id
            _write_json(partial / MANIFEST, manifest)
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
                f"{failure[1]}\n{kept}{where}"
            )
        manifest["status"] = "complete"
        _write_json(partial / MANIFEST, manifest)
        _swap_into_place(partial, final)
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
    simulated client deliver that month's data).
    """
    manifests = []
    for month in month_range(first, last):
        if before_month is not None:
            before_month(month)
        manifests.append(
            run_month(engagement, month, overrides, root=root, progress=progress)
        )
        if progress:
            print(f"{engagement} {month}: complete in {manifests[-1]['seconds']} s", file=sys.stderr)
    return manifests
