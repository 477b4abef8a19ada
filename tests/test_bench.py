"""The benchmark: its plain references, its memory sampler, its command line (no timing asserts)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from winback import bench
from winback.clv import BGNBD, simulate_bgnbd
from winback.config import ParamsError


def _tx(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "is_return"])
    frame["order_ts"] = pd.to_datetime(frame["order_ts"]).astype("datetime64[us]")
    return frame


def test_pandas_rfm_known_answers():
    tx = _tx([
        # c1: purchase days 01-01 (two orders), 01-11, 01-31; a refund of 20; a zero row
        ("c1", "2024-01-01 09:00", 100.0, False),
        ("c1", "2024-01-01 18:00", 50.0, False),
        ("c1", "2024-01-11 10:00", 30.0, False),
        ("c1", "2024-01-31 23:59", 70.0, False),
        ("c1", "2024-01-15 12:00", 20.0, True),
        ("c1", "2024-01-20 12:00", 0.0, False),
        # c2: one purchase day, and one after the month end (ignored)
        ("c2", "2024-01-20 08:00", 40.0, False),
        ("c2", "2024-02-01 00:00", 40.0, False),
        # c3: refunds only (negative amount) -> not a buyer
        ("c3", "2024-01-05 08:00", -15.0, False),
        # c4: refunds exceed purchases -> net ratio clipped to 0
        ("c4", "2024-01-02 08:00", 10.0, False),
        ("c4", "2024-01-03 08:00", 10.0, False),
        ("c4", "2024-01-04 08:00", -50.0, False),
    ])
    out = bench.pandas_rfm(tx, "2024-01")
    assert list(out.index) == ["c1", "c2", "c4"]
    c1 = out.loc["c1"]
    assert c1["frequency"] == 2 and c1["recency"] == 30 and c1["T"] == 30
    # repeat days' gross (30 + 70) / 2, times net / gross = (250 - 20) / 250
    assert c1["monetary_value"] == pytest.approx(50.0 * 230 / 250)
    c2 = out.loc["c2"]
    assert c2["frequency"] == 0 and c2["recency"] == 0 and c2["T"] == 11
    assert np.isnan(c2["monetary_value"])
    assert out.loc["c4", "monetary_value"] == 0.0
    assert out["frequency"].dtype == "int64"


def test_pandas_rfm_without_is_return_and_missing_column():
    tx = _tx([("c1", "2024-01-01", 10.0, False), ("c1", "2024-01-02", 30.0, False)])
    out = bench.pandas_rfm(tx.drop(columns="is_return"), "2024-01")
    assert out.loc["c1", "monetary_value"] == 30.0
    with pytest.raises(ValueError, match=r"amount"):
        bench.pandas_rfm(tx.drop(columns="amount"), "2024-01")


def test_plain_bgnbd_fit_matches_the_kit():
    rng = np.random.default_rng(3)
    data = simulate_bgnbd(3000, T=rng.uniform(5, 100, 3000).round(), r=0.7, alpha=5.0, a=0.7,
                          b=2.5, random_state=4)
    args = (data["frequency"], data["recency"].round(1), data["T"])
    kit = BGNBD().fit(*args)
    plain = bench.fit_bgnbd_plain(*args)
    assert list(plain.index) == ["r", "alpha", "a", "b"]
    np.testing.assert_allclose(plain.to_numpy(), kit.params_.to_numpy(), rtol=bench.BGNBD_RTOL)
    with pytest.raises(ValueError, match="one length"):
        bench.fit_bgnbd_plain([1, 2], [1.0], [3.0, 4.0])


def test_parse_sizes():
    assert bench.parse_sizes("100000,10000") == [10_000, 100_000]
    assert bench.parse_sizes("10k, 1M,10_000") == [10_000, 1_000_000]
    with pytest.raises(ValueError, match="not a number"):
        bench.parse_sizes("10000,lots")
    with pytest.raises(ValueError, match="from 100"):
        bench.parse_sizes("50")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc sampling")
def test_rss_sampler_counts_child_processes():
    with bench.RssSampler(interval=0.05) as alone:
        pass
    code = "import time; block = bytearray(200 * 1024 * 1024); time.sleep(2)"
    with bench.RssSampler(interval=0.05) as rss:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert rss.method == "proc"
    assert rss.peak_mb > alone.peak_mb + 150
    assert rss.kernels == []  # no Jupyter kernel among the children
    assert "RssSampler(method='proc'" in repr(rss)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc sampling")
def test_rss_sampler_kernel_peak_includes_its_forked_workers():
    code = ("import os, time\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    block = bytearray(150 * 1024 * 1024); time.sleep(2); os._exit(0)\n"
            "os.waitpid(pid, 0)\n")
    with bench.RssSampler(interval=0.05) as rss:  # an argument naming it like a kernel
        subprocess.run([sys.executable, "-c", code, "ipykernel_launcher"], check=True)
    (kernel,) = rss.kernels  # the forked worker (same command line) is not a kernel
    assert kernel["hwm_mb"] > 150


def test_command_line_refuses_bad_options(capsys, tmp_path):
    assert bench.main(["--sizes", "12", "--out", str(tmp_path / "x.json")]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert bench.main(["--sizes", "300", "--stages", "tiering,nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "data_collection" in err
    assert bench.main(["--months", "0"]) == 2
    assert not (tmp_path / "x.json").exists()


def test_command_line_reports_bad_params_before_running(monkeypatch, capsys, tmp_path):
    def bad_params(*args, **kwargs):
        raise ParamsError("Invalid params:\n- unknown key 'demo.n_clients'")

    monkeypatch.setattr(bench, "load_params", bad_params)
    assert bench.main(["--sizes", "300", "--home", str(tmp_path / "home"),
                       "--out", str(tmp_path / "x.json")]) == 2
    assert "demo.n_clients" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    assert not (tmp_path / "home" / "customers-300").exists()


def _size(n, total, stages):
    return {
        "n_customers": n, "months": ["2024-01"],
        "generate": {"seconds": 1.0, "peak_rss_mb": 10.0, "reused": False},
        "inputs": {"customers": n, "transactions": 15 * n, "interactions": 4 * n},
        "stage_seconds": dict(zip(stages, [total / 2, total / 2], strict=True)),
        "other_seconds": 0.0, "total_seconds": total,
        "seconds_per_1k_customers": 1000 * total / n, "peak_rss_mb": 500.0,
        "stage_peak_rss_mb": dict.fromkeys(stages, 300.0),
        "load_before": [1.0, 1.0, 1.0], "load_after": [1.0, 1.0, 1.0],
    }


def test_format_table_with_two_sizes():
    stages = ["data_collection", "reason_analysis"]
    result = {
        "commit": "0123456789abcdef", "dirty": False, "date": "2024-01-01T00:00:00",
        "host": {"cpus": 2, "memory_gb": 8.0}, "rss_method": "proc", "months": 1,
        "sizes": [_size(1000, 10.0, stages), _size(10_000, 50.0, stages)],
        "growth_per_customer": 0.5, "comparisons": None,
    }
    result["growth_steps"] = [bench._growth(*result["sizes"])]
    assert result["growth_steps"][0]["stages"] == {"data_collection": 0.5,
                                                   "reason_analysis": 0.5}
    text = bench.format_table(result)
    assert "commit 0123456789" in text
    assert "reason_analysis (s)" in text and "data_collection kernel (MB)" in text
    assert "150,000" in text  # transactions rows of the larger size
    assert "1,000 -> 10,000 customers: 0.50 (linear = 1.0)" in text
    assert "by stage, 1,000 -> 10,000: data_collection 0.50, reason_analysis 0.50" in text


@pytest.mark.slow
def test_benchmark_runs_at_a_tiny_size(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(["--sizes", "300", "--stages", "data_collection", "--out", str(out),
                       "--home", str(tmp_path / "home")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for text in ("data_collection (s)", "total (s)", "peak RSS, whole run (MB)",
                 "transactions rows", "snapshot: kit", "BG/NBD fit: kit"):
        assert text in printed
    assert printed.count("equal") >= 2
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"commit", "date", "host", "rss_method", "months", "stages", "sizes",
            "growth_per_customer", "growth_steps", "comparisons"} <= set(result)
    (size,) = result["sizes"]
    assert size["n_customers"] == 300 and size["months"] == ["2024-01"]
    assert list(size["stage_seconds"]) == ["data_collection"]
    assert size["inputs"]["customers"] > 0 and size["inputs"]["transactions"] > 0
    assert size["total_seconds"] >= size["stage_seconds"]["data_collection"] > 0
    assert size["peak_rss_mb"] > 0
    assert result["growth_per_customer"] is None
    comparisons = result["comparisons"]
    assert comparisons["snapshot"]["equal"] and comparisons["bgnbd"]["equal"]
    assert comparisons["snapshot"]["buyers"] > 0
    assert comparisons["snapshot"]["kit_rfm_seconds"] > 0
    assert "recency, frequency, T and monetary value alone" in printed
    # a second run reuses the generated client and still starts from a fresh store, with
    # no row checks kept from the first run
    stale = tmp_path / "home" / "customers-300" / "data" / "demo" / "cache" / "stale.parquet"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"")
    assert bench.main(["--sizes", "300", "--stages", "data_collection", "--no-compare",
                       "--out", str(out), "--home", str(tmp_path / "home")]) == 0
    again = json.loads(out.read_text(encoding="utf-8"))
    assert again["sizes"][0]["generate"]["reused"] is True
    assert again["sizes"][0]["inputs"] == size["inputs"]
    assert again["comparisons"] is None
    assert not stale.exists()


def test_format_table_shows_each_month_when_several_run():
    stages = ["data_collection", "reason_analysis"]
    sizes = [_size(1000, 30.0, stages), _size(10_000, 90.0, stages)]
    for size, first, second in zip(sizes, (20.0, 60.0), (10.0, 30.0), strict=True):
        size["months"] = ["2024-01", "2024-02"]
        size["per_month"] = [
            {"month": "2024-01", "total_seconds": first,
             "stage_seconds": dict.fromkeys(stages, first / 2)},
            {"month": "2024-02", "total_seconds": second,
             "stage_seconds": dict.fromkeys(stages, second / 2)}]
    result = {"commit": None, "dirty": False, "date": "2024-01-01T00:00:00",
              "host": {"cpus": 2, "memory_gb": 8.0}, "rss_method": "proc", "months": 2,
              "sizes": sizes, "growth_per_customer": None, "comparisons": None}
    lines = bench.format_table(result).splitlines()
    at = lines.index("month 2024-02:")
    assert lines[at + 1].split() == ["data_collection", "(s)", "5.0", "15.0"]
    assert lines[at + 3].split() == ["total", "(s)", "10.0", "30.0"]
    assert "month 2024-01:" in lines
