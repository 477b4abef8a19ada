"""The demo engagement's closed loop: the simulated client delivers each month's data.

Before month M runs, the simulated client (``winback.demo``) must have delivered data
through M's end, having executed month M-1's campaign (the contact lists the kit exported
in ``runs/demo/<M-1>/exports/``). Only this module and the tests touch ``winback.demo``;
the kit reads the demo client's files through the data contract like any client's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from winback.config import Params
from winback.workspace import workspace

__all__ = ["ASSIGNMENT_FILE", "SCRIPTS_FILE", "DemoLoop"]

ASSIGNMENT_FILE = "exports/campaign_assignment.parquet"
SCRIPTS_FILE = "exports/second_contact_scripts.csv"


class DemoLoop:
    """Creates the demo world when missing and advances it month by month."""

    def __init__(self, params: Params, *, fresh: bool = False):
        self.params = params
        self.ws = workspace(params)
        self.root: Path = self.ws.resolve(params.sources.dir).parent
        if fresh:
            for folder in (self.root, self.ws.engagement_runs, self.ws.store_path.parent):
                if folder.exists():
                    shutil.rmtree(folder)

    def _world(self):
        from winback.demo import DemoWorld

        if (self.root / "sim").exists():
            return DemoWorld.open(self.root)
        demo = self.params.demo
        return DemoWorld.create(
            self.root,
            n_customers=demo.n_customers,
            seed=self.params.engagement.seed,
            history_start=demo.history_start,
            first_month=self.params.run.first_month,
        )

    def campaign_of(self, month: str) -> tuple[pd.DataFrame | None, dict[str, str] | None]:
        """The campaign assignment and second-contact scripts the kit exported for ``month``."""
        folder = self.ws.month_dir(month)
        path = folder / ASSIGNMENT_FILE
        if not path.exists():
            return None, None
        assignment = pd.read_parquet(path)
        scripts_path = folder / SCRIPTS_FILE
        scripts = None
        if scripts_path.exists():
            table = pd.read_csv(scripts_path, dtype=str)
            scripts = dict(zip(table["reason_code"], table["strategy"], strict=True))
        return assignment, scripts

    def deliver(self, month: str) -> None:
        """Make sure the client has delivered data through ``month`` (advancing as needed)."""
        world = self._world()
        while pd.Period(world.data_through, "M") < pd.Period(month, "M"):
            nxt = str(pd.Period(world.data_through, "M") + 1)
            assignment, scripts = self.campaign_of(str(pd.Period(nxt, "M") - 1))
            world.advance(nxt, assignment, scripts)
