"""Where an engagement's files live, and how a stage writes its outputs.

The kit's root holds ``params/``, ``notebooks/`` and ``playbook/``. Data and run outputs
go under the *home*: the root itself, or ``$WINBACK_HOME`` when set (tests and
benchmarks point it at a scratch folder so they never touch a consultant's runs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from winback.config import Params, find_root

__all__ = ["RunOutputs", "Workspace", "home_dir", "workspace"]


def home_dir(root: Path | None = None) -> Path:
    """Folder that relative ``runs_dir``/``store_dir``/``cache_dir``/``sources.dir`` resolve
    against."""
    env = os.environ.get("WINBACK_HOME")
    return Path(env).resolve() if env else (root or find_root())


@dataclass(frozen=True)
class Workspace:
    """Paths of one engagement: its store, its client data and its month runs."""

    root: Path
    home: Path
    engagement: str
    runs_dir: Path
    store_dir: Path
    cache_dir: Path

    @property
    def store_path(self) -> Path:
        return self.store_dir / self.engagement / "store.duckdb"

    @property
    def engagement_cache(self) -> Path:
        """Where work kept between months lives (``<cache_dir>/<engagement>/cache``).

        Apart from the store: a batch run works on a copy of the store in its partial
        folder, while what is kept here outlives every run."""
        return self.cache_dir / self.engagement / "cache"

    @property
    def engagement_runs(self) -> Path:
        return self.runs_dir / self.engagement

    def month_dir(self, month: str) -> Path:
        """Final output folder of a batch run of ``month``."""
        return self.engagement_runs / month

    def scratch_dir(self, month: str) -> Path:
        """Output folder for a notebook run by hand (JupyterLab), apart from batch outputs."""
        return self.engagement_runs / "scratch" / month

    def resolve(self, path: str | Path) -> Path:
        """A params path made absolute: ``{engagement}`` filled in, relative to the home."""
        p = Path(str(path).replace("{engagement}", self.engagement))
        return p if p.is_absolute() else self.home / p


def workspace(params: Params, root: Path | None = None) -> Workspace:
    """The :class:`Workspace` of the engagement in ``params``."""
    root = root or find_root()
    home = home_dir(root)
    eng = params.engagement.name

    def _abs(p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else home / q

    return Workspace(
        root=root,
        home=home,
        engagement=eng,
        runs_dir=_abs(params.run.runs_dir),
        store_dir=_abs(params.run.store_dir),
        cache_dir=_abs(params.run.cache_dir),
    )


class RunOutputs:
    """Writes a stage's artifacts into a run folder: ``tables/``, ``figures/``, ``exports/``.

    Tables are Parquet (exact types, content-hashable); figures PNG; exports are the
    call-centre files (the only outputs allowed to carry PII).
    """

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        for sub in ("tables", "figures", "exports"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"RunOutputs({str(self.dir)!r})"

    def table(self, name: str, frame: pd.DataFrame) -> Path:
        """Write ``frame`` as ``tables/<name>.parquet`` (index kept only when it is named)."""
        path = self.dir / "tables" / f"{name}.parquet"
        keep_index = any(n is not None for n in frame.index.names)
        frame.to_parquet(path, index=keep_index)
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        """Read back ``tables/<name>.parquet`` written by an earlier stage of this run."""
        path = self.dir / "tables" / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: the stage that writes table {name!r} has not run for "
                "this month (run the stages in order)."
            )
        return pd.read_parquet(path)

    def figure(self, name: str, fig: Any) -> Path:
        """Save a matplotlib figure (or an Axes' figure) as ``figures/<name>.png``.

        The PNG is :func:`winback.plots.figure_png`'s (110 dpi, tight bounding box): a
        figure already shown inline and unchanged since is written without drawing it again.
        """
        from winback.plots.theme import figure_png

        path = self.dir / "figures" / f"{name}.png"
        path.write_bytes(figure_png(fig))
        return path

    def json(self, name: str, data: Any) -> Path:
        """Write a small JSON document (figures for the report) as ``tables/<name>.json``."""
        path = self.dir / "tables" / f"{name}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), "utf-8")
        return path
