"""The demo engagement run end to end: the monthly batch over several months, as `make demo` does."""

import json

import pandas as pd
import pytest

from winback.runner import read_manifest, stages

pytestmark = pytest.mark.slow


def test_every_month_is_complete_with_a_manifest(demo_run):
    assert len(demo_run.months) >= 3
    stage_ids = [s.id for s in stages()]
    for month in demo_run.months:
        manifest = read_manifest(demo_run.month_dir(month))
        assert manifest["status"] == "complete", month
        assert manifest["month"] == month
        assert [s["id"] for s in manifest["stages"]] == stage_ids
        assert all(s["status"] == "ok" and s["seconds"] > 0 for s in manifest["stages"])
        assert manifest["params"]["run"]["month"] == month
        assert manifest["versions"]["pandas"] == pd.__version__


def test_manifest_hashes_every_input_file(demo_run):
    manifest = read_manifest(demo_run.month_dir(demo_run.months[-1]))
    inputs = manifest["inputs"]
    assert set(inputs) == {"customers", "transactions", "interactions", "surveys",
                           "contact_outcomes"}
    for name in ("customers", "transactions"):
        assert inputs[name], f"no {name} file hashed"
        for path, digest in inputs[name].items():
            assert path.startswith("data/demo/client/") and len(digest) == 64


def test_executed_notebooks_and_tables_are_in_each_month(demo_run):
    for month in demo_run.months:
        folder = demo_run.month_dir(month)
        for stage in stages():
            executed = folder / "notebooks" / stage.notebook.split("/")[-1]
            nb = json.loads(executed.read_text(encoding="utf-8"))
            injected = [c for c in nb["cells"]
                        if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
            assert injected and f'month = "{month}"' in "".join(injected[0]["source"])
        quality = pd.read_parquet(folder / "tables" / "data_quality.parquet")
        assert set(quality["source"]) >= {"customers", "transactions"}
        assert (quality.loc[quality["source"] == "customers", "rows_clean"] > 0).all()


def test_months_see_growing_data(demo_run):
    rows = []
    for month in demo_run.months:
        q = pd.read_parquet(demo_run.month_dir(month) / "tables" / "data_quality.parquet")
        rows.append(int(q.loc[q["source"] == "transactions", "rows_clean"].iloc[0]))
    assert rows == sorted(rows) and rows[-1] > rows[0]


def test_store_holds_the_latest_load(demo_run):
    from winback.store import opened, read_table

    with opened(demo_run.ws.store_path, read_only=True) as con:
        tx = read_table(con, "transactions")
    last = pd.Period(demo_run.months[-1], "M").end_time
    assert tx["order_ts"].max() <= last
