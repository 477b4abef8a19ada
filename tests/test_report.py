"""The monthly report and the multi-month view (winback.report, winback.plots.report).

Unit tests build a tiny run folder by hand (stage 6's tables with known numbers and one
executed notebook with known outputs); the browser test opens the demo run's report in
Debian's headless Chromium, driven by playwright.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import shutil

import matplotlib
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from winback import kpis
from winback.config import load_params
from winback.evaluation import EVALUATION_COLUMNS
from winback.report import (
    REPORT_FILE,
    TRENDS_FILE,
    ReportError,
    campaign_results,
    collect_trends,
    complete_months,
    external_references,
    report_step,
    write_report,
    write_trends,
)

matplotlib.use("Agg")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _params(language: str = "en", month: str = "2024-03"):
    return load_params(None, {"engagement": {"name": "acme", "client": "Acme Retail",
                                             "language": language, "currency": "CNY"},
                              "run": {"month": month}})


def _png_bytes() -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=20)
    return buf.getvalue()


def _flows(months=("2024-02", "2024-03"), rates=(0.05, 0.04)) -> pd.DataFrame:
    rows = []
    for m, r in zip(months, rates, strict=True):
        rows.append({"month": m, "customers": 1000, "churned": 300, "churned_share": 0.3,
                     "base_active": 500.0, "new_churn": r * 500, "churn_rate": r,
                     "base_churned": 300.0, "reactivated": 30.0, "reactivation_rate": 0.1,
                     "base_reactivated": 0.0, "rechurned": 0.0, "rechurn_rate": math.nan,
                     "net_winback": 30.0 - r * 500})
    out = pd.DataFrame(rows)
    out["month"] = out["month"].astype("string")
    return out


def _ev_rows(campaign: str, window: int, *, diff: float, low: float, high: float,
             treated: float, control: float, month: str = "2024-03") -> list[dict]:
    base = {"month": month, "campaign_month": campaign, "window": window, "segment_type": "all",
            "segment": "all", "n_treated": 400, "n_control": 100, "p_value": 0.01, "note": ""}
    nan = math.nan
    return [
        {**base, "metric": "reactivation", "treated": treated, "control": control,
         "diff": diff, "ci_low": low, "ci_high": high},
        {**base, "metric": "incremental_reactivations", "treated": treated * 400,
         "control": control * 400, "diff": diff * 400, "ci_low": low * 400,
         "ci_high": high * 400},
        {**base, "metric": "incremental_revenue", "treated": nan, "control": nan,
         "diff": 12000.0, "ci_low": 2000.0, "ci_high": 22000.0},
        {**base, "metric": "cost", "treated": 5000.0, "control": nan, "diff": nan,
         "ci_low": nan, "ci_high": nan},
        {**base, "metric": "roi", "treated": nan, "control": nan, "diff": 1.4, "ci_low": -0.6,
         "ci_high": 3.4},
        # a segment row that must never reach the summary
        {**base, "segment_type": "tier", "segment": "1", "metric": "reactivation",
         "treated": 0.9, "control": 0.1, "diff": 0.8, "ci_low": 0.7, "ci_high": 0.9},
    ]


def _evaluations(month: str = "2024-03") -> pd.DataFrame:
    rows = (_ev_rows("2024-01", 1, diff=0.05, low=-0.01, high=0.11, treated=0.20,
                     control=0.15, month=month)
            + _ev_rows("2024-01", 2, diff=0.10, low=0.02, high=0.18, treated=0.25,
                       control=0.15, month=month)
            + _ev_rows("2024-02", 1, diff=0.03, low=-0.05, high=0.11, treated=0.13,
                       control=0.10, month=month))
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS)


def _kpi_status() -> pd.DataFrame:
    values = pd.DataFrame({
        "kpi": ["churn_rate", "satisfaction", "repurchase_rate", "reach_rate"],
        "value": [0.04, 3.9, 0.20, math.nan],
        "unit": ["share", "score", "share", "share"],
        "basis": ["", "", "", ""],
        "description": ["", "", "", ""],
    })
    params = kpis.KpisParams(amber_band=0.10, targets={
        "churn_rate": kpis.KpiTarget(op="<=", target=0.03),       # 0.01 over, band 0.003: red
        "satisfaction": kpis.KpiTarget(op=">=", target=4.0),      # 0.1 under, band 0.4: amber
        "repurchase_rate": kpis.KpiTarget(op=">=", target=0.15),  # met: green
        "reach_rate": kpis.KpiTarget(op=">=", target=0.5),        # no value: n/a
    })
    return kpis.kpi_status(values, params)


def _notebook() -> nbformat.NotebookNode:
    png = base64.b64encode(_png_bytes()).decode("ascii")
    table = pd.DataFrame({"tier": ["1", "2"], "customers": [10, 20]}).to_html()
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# 6 · Monthly evaluation\n*效果评估 — what the campaigns did.*\n\n"
                          "See [the guide](https://example.com/guide) for more."),
        new_code_cell("secret_code_marker = wb.load_params()", outputs=[
            new_output("execute_result", data={"text/plain": "RunOutputs('/tmp/x.partial')"},
                       execution_count=1)]),
        new_markdown_cell("## Campaign effect\n\nTreated vs control."),
        new_code_cell("print(describe())", outputs=[
            new_output("stream", name="stdout", text="Narrative sentence 42.\n"),
            new_output("stream", name="stderr", text="SomeWarning: noisy\n")]),
        new_code_cell("table_source_marker", outputs=[
            new_output("execute_result", execution_count=3,
                       data={"text/html": table + '<script src="https://cdn.example/x.js">'
                             "</script>", "text/plain": "table"})]),
        new_code_cell("chart_source_marker", outputs=[
            new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]),
        new_markdown_cell("## Outputs\n\nWrites files."),
        new_code_cell("out", outputs=[
            new_output("stream", name="stdout", text="after outputs marker\n")]),
    ]
    return nb


def _run_folder(tmp_path, *, month: str = "2024-03", evaluated: bool = True, name=None):
    run = tmp_path / (name or month)
    (run / "tables").mkdir(parents=True)
    (run / "notebooks").mkdir()
    flows = _flows() if month == "2024-03" else _flows((str(pd.Period(month, "M") - 1), month),
                                                         (0.05, 0.06))
    flows.to_parquet(run / "tables" / "status_flows.parquet", index=False)
    ev = _evaluations(month) if evaluated else pd.DataFrame(columns=EVALUATION_COLUMNS)
    ev.to_parquet(run / "tables" / "evaluations.parquet", index=False)
    _kpi_status().to_parquet(run / "tables" / "kpi_status.parquet", index=False)
    holdout = pd.DataFrame({"customers": [100, 150], "treatment": [80, 120],
                            "control": [20, 30]}, index=pd.Index(["1 | a", "total"],
                                                                 name="stratum"))
    holdout.to_parquet(run / "tables" / "holdout_summary.parquet")
    pd.DataFrame({"category": ["people", "total"], "amount": [100.0, 7687.0],
                  "share_of_cap": [0.1, 0.2]}).to_parquet(
        run / "tables" / "campaign_costs.parquet", index=False)
    pd.DataFrame({"month": ["2024-01", "2024-01", "2024-01", "2024-02", "2024-02"],
                  "model": ["logistic", "recency_rule", "logistic", "logistic", "recency_rule"],
                  "metric": ["pr_auc", "pr_auc", "roc_auc", "pr_auc", "pr_auc"],
                  "value": [0.3, 0.2, 0.8, 0.35, 0.25], "ci_low": [0.2, 0.1, 0.7, 0.25, 0.15],
                  "ci_high": [0.4, 0.3, 0.9, 0.45, 0.35]}).to_parquet(
        run / "tables" / "warning_backtest.parquet", index=False)
    nbformat.write(_notebook(), run / "notebooks" / "06_monthly_evaluation.ipynb")
    manifest = {"engagement": "acme", "month": month, "status": "complete",
                "started": "2024-04-02T09:15:00", "versions": {"winback": "9.9.9"}}
    (run / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    return run


@pytest.fixture
def run_dir(tmp_path):
    return _run_folder(tmp_path)


def _text(page: str) -> str:
    """The page without embedded data (fonts, images)."""
    return re.sub(r"data:[^\"')\s]+", "", page)


# ------------------------------------------------------------------------ summary


def test_summary_shows_the_tables_numbers(run_dir):
    page = write_report(run_dir, _params()).read_text("utf-8")
    # header and footer
    assert "Acme Retail" in page and "2024-03" in page and "9.9.9" in page
    assert "2024-04-02" in page and "Data as of 2024-03-31" in page
    # churn: this month 4.0%, 1 point below February's 5.0%; 20 of 500
    assert "4.0%" in page and "-1.0 pts vs 2024-02 (5.0%)" in page
    assert "20 of 500 customers" in page
    # headline: the oldest campaign at its longest window (2024-01, window 2), not window 1
    assert "campaign 2024-01, 2 month(s) after contact: 25.0% of treated vs 15.0% of control" \
        in page
    assert "+40" in page and "95% CI +8 to +72" in page
    assert "+12,000 CNY" in page and "95% CI +2,000 CNY to +22,000 CNY" in page
    assert "cost 5,000 CNY" in page
    assert "+140%" in page and "95% CI -60% to +340%" in page
    # the campaigns table: one row per campaign, never a segment's numbers
    rows = re.findall(r'<tr data-campaign="([^"]+)">(.*?)</tr>', page, flags=re.S)
    assert [r[0] for r in rows] == ["2024-01", "2024-02"]
    cells = [re.findall(r"<td>(.*?)</td>", r[1]) for r in rows]
    assert cells[0] == ["2024-01", "2", "400 / 100", "25.0%", "15.0%", "+10.0 (+2.0 … +18.0)",
                        "+40 (+8 … +72)", "+12,000 (+2,000 … +22,000)", "5,000",
                        "+140% (-60% … +340%)"]
    assert cells[1][5] == "+3.0 (-5.0 … +11.0)"
    assert "Incremental revenue, CNY (95% CI)" in page
    assert "+80.0" not in page
    # this month's campaign
    assert "120 customers to contact next month, 30 held out" in page
    assert "planned cost 7,687 CNY" in page


def test_campaign_results_takes_each_campaign_at_its_longest_window():
    res = campaign_results(_evaluations())
    assert res["campaign_month"].tolist() == ["2024-01", "2024-02"]
    assert res["window"].tolist() == [2, 1]
    first = res.iloc[0]
    assert (first["treated"], first["control"], first["diff"]) == (0.25, 0.15, 0.10)
    assert (first["won_back"], first["revenue"], first["cost"], first["roi"]) == (
        40.0, 12000.0, 5000.0, 1.4)
    assert campaign_results(None).empty
    # preventive care contacts are evaluated apart and never enter the win-back figures
    ev = _evaluations().assign(program="winback")
    preventive = ev.assign(program="preventive", treated=0.99, diff=0.9)
    both = campaign_results(pd.concat([ev, preventive], ignore_index=True))
    pd.testing.assert_frame_equal(both, res)


def test_rag_colours_follow_the_kpis_rule(run_dir):
    status = _kpi_status()
    expected = {r.kpi: kpis.rag_status(r.value, r.op, r.target, r.amber_band)
                for r in status.itertuples()}
    assert expected == {"churn_rate": "red", "satisfaction": "amber",
                        "repurchase_rate": "green", "reach_rate": "n/a"}
    page = write_report(run_dir, _params()).read_text("utf-8")
    shown = dict(re.findall(r'<tr data-kpi="([^"]+)" data-status="([^"]+)">', page))
    assert shown == expected
    colours = {"red": "#c62828", "amber": "#f9a825", "green": "#2e7d32", "n/a": "#9e9e9e"}
    for kpi, status_ in expected.items():
        row = re.search(rf'<tr data-kpi="{re.escape(kpi)}".*?</tr>', page, flags=re.S).group(0)
        assert f"background:{colours[status_]}" in row
    assert "missed by at most 10% of the target" in page


def test_a_kpi_table_without_status_gets_the_rule(run_dir):
    status = _kpi_status().drop(columns=["status"])
    status.to_parquet(run_dir / "tables" / "kpi_status.parquet", index=False)
    page = write_report(run_dir, _params()).read_text("utf-8")
    shown = dict(re.findall(r'<tr data-kpi="([^"]+)" data-status="([^"]+)">', page))
    assert shown["churn_rate"] == "red" and shown["satisfaction"] == "amber"


def test_first_month_says_no_campaign_yet(tmp_path):
    run = _run_folder(tmp_path, evaluated=False)
    page = write_report(run, _params()).read_text("utf-8")
    notice = re.search(r'<p class="notice" id="no-campaign">(.*?)</p>', page, flags=re.S)
    assert notice, "the first month must say plainly that no campaign is evaluated"
    assert "No win-back campaign has completed a follow-up month yet" in notice.group(1)
    assert "first evaluated in the 2024-04 report" in notice.group(1)
    assert 'id="campaigns"' not in page
    assert page.count('<div class="card-value">not yet</div>') == 3


def test_chinese_report(run_dir):
    page = write_report(run_dir, _params("zh")).read_text("utf-8")
    assert '<html lang="zh-CN">' in page
    assert "执行摘要" in page and "较 2024-02 (5.0%) -1.0 个百分点" in page
    assert "@font-face { font-family: winback-cjk" in page  # glyphs travel with the page
    assert "达标" in page and "未达标" in page
    # labels the message catalog holds are read from it
    from winback import messages

    assert f"<title>{messages.t('report.title', 'zh')}" in page
    assert f"<h2>{messages.t('report.summary', 'zh')}</h2>" in page


# ----------------------------------------------------------------- stage sections


def test_no_code_and_no_object_reprs(run_dir):
    page = write_report(run_dir, _params()).read_text("utf-8")
    for marker in ("secret_code_marker", "table_source_marker", "chart_source_marker",
                   "RunOutputs(", "SomeWarning", "after outputs marker", "Writes files",
                   "In&nbsp;[", "jp-InputArea", "input_area", 'class="highlight'):
        assert marker not in page, marker
    assert "Narrative sentence 42." in page  # printed narrative stays
    assert "效果评估" in page and "Treated vs control." in page
    assert re.search(r"<table[^>]*dataframe", page)
    assert page.count('src="data:image/png;base64,') >= 2  # notebook chart + churn trend
    assert not re.search(r"<img(?![^>]*\balt=)", page)  # every chart has alternative text
    # the notebook's H1 gives way to the section's own title; its H2 sit below it
    assert "<h1>6 · Monthly evaluation" not in page
    assert re.search(r"<h4>Campaign effect</h4>", page)
    # stages without a notebook in this folder say so
    assert html.escape("This stage's notebook is not in this month's run.") in page


def test_page_needs_no_network(run_dir):
    page = write_report(run_dir, _params()).read_text("utf-8")
    assert external_references(page) == []
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, flags=re.I)
    assert "https://" not in _text(page) and "http://" not in _text(page)
    assert "the guide" in page  # a link to the web keeps its text only
    assert external_references('<img src="https://x/y.png">') == ['src="https://']
    assert external_references("<style>@import url(//cdn/x.css)</style>")


def test_report_errors_name_the_folder_and_table(tmp_path, run_dir):
    with pytest.raises(ReportError, match="no such run folder"):
        write_report(tmp_path / "nowhere", _params())
    (run_dir / "tables" / "evaluations.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReportError, match=r"evaluations\.parquet.*rerun the stage"):
        write_report(run_dir, _params())
    entry = report_step(run_dir, _params())
    assert entry["status"] == "failed" and "evaluations.parquet" in entry["error"]
    assert not (run_dir / REPORT_FILE).exists()


# ------------------------------------------------------------------------ trends


def test_trends_across_complete_months(tmp_path):
    base = tmp_path / "acme"
    _run_folder(base, month="2024-02")
    _run_folder(base, month="2024-03")
    _run_folder(base, month="2024-04", name="2024-04.failed")
    failed = _run_folder(base, month="2024-05")
    (failed / "manifest.json").write_text(json.dumps({"status": "failed"}), "utf-8")
    assert complete_months(base) == ["2024-02", "2024-03"]
    trends = collect_trends(base)
    assert trends.churn["month"].tolist() == ["2024-02", "2024-03"]
    assert trends.churn["churn_rate"].tolist() == [0.06, 0.04]
    # each campaign at its longest window, from the latest run evaluating it
    react = trends.campaigns[trends.campaigns["metric"] == "reactivation"]
    assert react[["campaign_month", "window", "evaluated_in"]].values.tolist() == [
        ["2024-01", 2, "2024-03"], ["2024-02", 1, "2024-03"]]
    # model performance: each run's latest backtested month, ROC-AUC and PR-AUC only
    assert set(trends.model["backtest_month"]) == {"2024-02"}
    assert set(trends.model["metric"]) == {"pr_auc"}
    page = write_trends(base, _params()).read_text("utf-8")
    assert page == (base / TRENDS_FILE).read_text("utf-8")
    months = re.findall(r'<tr data-month="([^"]+)">', page)
    assert months == ["2024-02", "2024-03"]
    assert external_references(page) == [] and "<script" not in page
    assert page.count('src="data:image/png;base64,') == 5
    assert "6.0%" in page and "4.0%" in page


def test_trends_without_months(tmp_path):
    page = write_trends(tmp_path / "empty", _params()).read_text("utf-8")
    assert "No complete month has been run yet." in page


# ------------------------------------------------------------------------ charts


def test_trend_charts_have_titles_labels_and_takeaways():
    from matplotlib.figure import Figure

    from winback.plots import report as charts

    campaigns = pd.concat(
        [_evaluations()[lambda d: (d["segment_type"] == "all") & (d["window"] == 2)],
         _evaluations()[lambda d: (d["campaign_month"] == "2024-02")
                        & (d["segment_type"] == "all")]])
    model = pd.DataFrame({"month": ["2024-02", "2024-02", "2024-03", "2024-03"],
                          "model": ["logistic", "recency_rule"] * 2,
                          "metric": "pr_auc", "value": [0.3, 0.2, 0.4, 0.25],
                          "ci_low": [0.2, 0.1, 0.3, 0.15], "ci_high": [0.4, 0.3, 0.5, 0.35]})
    cases = [
        (charts.plot_churn_trend, _flows(), {"target": 0.03},
         "2024-03: 4.0% (-1.0 points vs 2024-02)"),
        (charts.plot_reactivation_trend, campaigns, {},
         "1 of 2 campaigns beat their control (interval above 0); latest 2024-02: +3.0 points"),
        (charts.plot_roi_trend, campaigns, {},
         "0 of 2 campaigns above break-even with 95% confidence; latest 2024-02: +140%"),
        (charts.plot_model_trend, model, {}, "2024-03: logistic 0.400 vs recency rule 0.250"),
    ]
    for draw, data, kw, takeaway in cases:
        ax = Figure().subplots()
        assert draw(data, ax=ax, language="en", **kw) is ax
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        texts = [t.get_text() for t in ax.texts]
        assert any(t.startswith(takeaway) for t in texts), (draw.__name__, texts)
        empty = Figure().subplots()
        draw(data.iloc[0:0], ax=empty, language="zh", **kw)
        assert empty.get_title() and empty.texts
    with pytest.raises(ValueError, match="zh or en"):
        charts.plot_churn_trend(_flows(), ax=Figure().subplots(), language="fr")


# ------------------------------------------------------------------ demo run (slow)


def _require_chromium() -> str:
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        msg = "Chromium not found (apt-get install chromium; .ci/system-packages installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + "; CI must install it", pytrace=False)
        pytest.skip(msg)
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


@pytest.mark.slow
def test_demo_report_renders_in_headless_chromium(demo_run):
    executable = _require_chromium()
    from playwright.sync_api import sync_playwright

    month_dir = demo_run.month_dir(demo_run.months[-1])
    report = month_dir / REPORT_FILE
    assert report.is_file()
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            page.screenshot(path=str(month_dir / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []
    assert len(images) >= 10
    assert [i for i in images if not i[1] or i[2] <= 0] == []
    assert (month_dir / "report.png").stat().st_size > 50_000


@pytest.mark.slow
def test_demo_report_and_trends(demo_run):
    last = demo_run.month_dir(demo_run.months[-1])
    page = (last / REPORT_FILE).read_text("utf-8")
    assert external_references(page) == []
    assert '<tr data-kpi="churn_rate"' in page
    # no names, phones or emails of the demo client anywhere in the reports
    customers = pd.read_csv(demo_run.ws.resolve("data/{engagement}/client/customers.csv"),
                            encoding="gb18030", dtype=str)
    pii = [v for col in ("姓名", "手机", "邮箱") for v in customers[col].dropna().unique()
           if len(v) >= 3]
    for month in demo_run.months:
        text = html.unescape(_text((demo_run.month_dir(month) / REPORT_FILE).read_text("utf-8")))
        assert [v for v in pii if v in text] == [], month
    trends = demo_run.ws.engagement_runs / TRENDS_FILE
    shown = re.findall(r'<tr data-month="([^"]+)">', trends.read_text("utf-8"))
    assert shown == complete_months(demo_run.ws.engagement_runs) == demo_run.months


# ------------------------------------------------------------------------ runner


@pytest.fixture()
def one_stage_kit(tmp_path, monkeypatch):
    """A kit root with the real params and one trivial stage notebook."""
    import yaml

    from winback.config import find_root

    root = tmp_path / "kit"
    (root / "notebooks").mkdir(parents=True)
    (root / "playbook").mkdir()
    shutil.copytree(find_root() / "params", root / "params")
    nb = new_notebook()
    cell = new_code_cell('engagement = "demo"\nmonth = "2024-01"\nrun_dir = ""\noverrides = []')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# A\nStage A."), cell, new_code_cell("print('stage a ran')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "notebooks" / "01_a.ipynb")
    (root / "playbook" / "stages.yaml").write_text(yaml.safe_dump(
        {"stages": [{"id": "a", "notebook": "notebooks/01_a.ipynb", "title": "A"}]}))
    monkeypatch.setenv("WINBACK_HOME", str(tmp_path / "home"))
    return root


def test_runner_writes_the_report_and_a_report_failure_fails_the_month(
        one_stage_kit, tmp_path, monkeypatch):
    from winback import report as report_module
    from winback.runner import RunFailed, read_manifest, run_month

    runs = tmp_path / "home" / "runs" / "demo"
    manifest = run_month("demo", "2024-02", root=one_stage_kit, progress=False)
    assert manifest["status"] == "complete" and manifest["report"]["status"] == "ok"
    page = (runs / "2024-02" / REPORT_FILE).read_text("utf-8")
    assert "stage a ran" in page and "print(" not in page
    assert re.findall(r'<tr data-month="([^"]+)">', (runs / TRENDS_FILE).read_text("utf-8")) \
        == ["2024-02"]

    def broken(*args, **kwargs):
        raise ValueError("chart broke")

    monkeypatch.setattr(report_module, "write_report", broken)
    with pytest.raises(RunFailed, match=r"stage report .*ValueError: chart broke"):
        run_month("demo", "2024-02", root=one_stage_kit, progress=False)
    failed = read_manifest(runs / "2024-02.failed")
    assert failed["status"] == "failed" and failed["failed_stage"] == "report"
    assert failed["report"] == {"file": REPORT_FILE, "status": "failed",
                                "error": "ValueError: chart broke",
                                "seconds": failed["report"]["seconds"]}
    assert read_manifest(runs / "2024-02")["status"] == "complete"  # previous output kept


def test_hashed_ids_reach_the_stage_sections(run_dir, monkeypatch):
    import duckdb

    from winback.privacy import hash_ids

    salt = "s" * 24
    monkeypatch.setenv("WINBACK_ID_SALT", salt)
    nb = _notebook()
    table = pd.DataFrame({"customer_id": ["C0000026", "C0000027"], "risk": [0.5, 0.4]})
    nb.cells.insert(2, new_code_cell("watchlist", outputs=[new_output(
        "execute_result", execution_count=9,
        data={"text/html": table.to_html(index=False), "text/plain": "watchlist"})]))
    nbformat.write(nb, run_dir / "notebooks" / "06_monthly_evaluation.ipynb")
    params = load_params(None, {"engagement": {"name": "acme", "client": "Acme Retail",
                                               "language": "en"},
                                "run": {"month": "2024-03"}, "privacy": {"hash_ids": True}})
    with pytest.raises(ReportError, match="no store holds the customer ids"):
        write_report(run_dir, params)
    store = run_dir / ".store" / "acme" / "store.duckdb"
    store.parent.mkdir(parents=True)
    con = duckdb.connect(str(store))
    con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES ('C0000026'), ('C0000027')) "
                "t(customer_id)")
    con.close()
    page = write_report(run_dir, params).read_text("utf-8")
    hashed = hash_ids(pd.Series(["C0000026", "C0000027"]), salt).tolist()
    assert "C0000026" not in page and "C0000027" not in page
    assert all(f"<td>{h}</td>" in page for h in hashed)


def test_charts_from_figures_when_the_kernel_showed_none(run_dir):
    from winback.report import notebook_html

    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "trend_x.png").write_bytes(_png_bytes())
    nb = _notebook()
    nb.cells = [c for c in nb.cells if "chart_source_marker" not in c.source]
    nb.cells.append(new_code_cell('for name, ax in {"trend_x": ax, "no_such_file": ax}.items():\n'
                                  "    out.figure(name, ax)"))
    path = run_dir / "notebooks" / "06_monthly_evaluation.ipynb"
    nbformat.write(nb, path)
    body = notebook_html(path, alt="Stage 6", figures=run_dir / "figures")
    assert body.count("<img") == 1 and 'alt="Stage 6"' in body
    assert base64.b64encode(_png_bytes()).decode("ascii")[:40] in body
    # a notebook that shows its charts keeps them, with nothing added
    shown = _notebook()
    shown.cells.append(nb.cells[-1])
    nbformat.write(shown, path)
    assert notebook_html(path, figures=run_dir / "figures").count("<img") == 1


def test_subset_font_is_kept_for_the_next_page_with_the_same_characters(tmp_path, monkeypatch):
    from fontTools import subset

    from winback.report import _font_face

    page = "<p>流失客户 挽回</p>"
    fresh = _font_face(page)
    assert fresh and _font_face(page, tmp_path) == fresh
    assert len(list(tmp_path.glob("*.otf"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("subset again")

    monkeypatch.setattr(subset, "Subsetter", refuse)
    assert _font_face(page, tmp_path) == fresh  # read back, not made again
    with pytest.raises(AssertionError, match="subset again"):
        _font_face("<p>新的字</p>", tmp_path)  # other characters: another subset
