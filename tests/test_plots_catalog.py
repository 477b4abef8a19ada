"""Every public ``plot_*`` of ``winback.plots`` in both languages: a title, labelled axes, a
takeaway written from the data, and no missing glyph when the text is Chinese.

Each chart gets a tiny hand-made table (the columns its docstring names). A new ``plot_*``
without a fixture here fails :func:`test_every_chart_has_a_fixture`.
"""

import importlib
import inspect
import pkgutil
import types
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import winback.plots  # noqa: E402
from winback.messages import labels  # noqa: E402
from winback.plots import takeaway_of, use_theme  # noqa: E402

MONTHS = ["2024-01", "2024-02", "2024-03"]

# Charts without one of the axes (documented on the function): (module, name) -> axis.
NO_AXIS_LABEL: dict[tuple[str, str], str] = {}


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# ----------------------------------------------------------------------------- fixtures

def _churn():
    counts = pd.DataFrame({"status": ["new", "active", "at_risk", "churned", "lost"],
                           "customers": [10, 50, 20, 15, 5]})
    counts["share"] = counts["customers"] / counts["customers"].sum()
    scored = pd.DataFrame({"score": np.linspace(0, 1, 41)})
    return {
        "plot_status_counts": ((counts,), {}),
        "plot_score_distribution": ((scored,), {"churned_cutoff": 0.7, "at_risk_cutoff": 0.4}),
    }


def _reasons():
    rows = []
    for dim, segs in (("overall", ["all"]), ("region", ["华东", "华北"])):
        for seg in segs:
            for i, m in enumerate(MONTHS):
                rate = 0.05 + 0.01 * i + (0.02 if seg == "华北" else 0)
                rows.append({"dimension": dim, "segment": seg, "month": m, "rate": rate,
                             "low": rate - 0.01, "high": rate + 0.01, "n_churned": 5 + i,
                             "n_base": 100})
    rates = pd.DataFrame(rows)
    conc = pd.DataFrame({"dimension": "region", "segment": ["华东", "华北"], "rank": [2.0, 1.0],
                         "n_base": [300, 300], "rate": [0.06, 0.09], "low": [0.04, 0.07],
                         "high": [0.08, 0.11], "above_overall": [False, True],
                         "overall_rate": 0.075, "months": "2024-01..2024-03",
                         "lift": [0.8, 1.2]})
    tests = pd.DataFrame({"variable": ["age", "region"], "effect": ["rank-biserial", "V"],
                          "effect_size": [0.3, 0.1], "effect_low": [0.1, 0.0],
                          "effect_high": [0.5, 0.2], "significant": [True, False]})
    sources = ["contact_outcomes", "surveys", "tickets", "keywords", "any"]
    coverage = pd.DataFrame({"source": sources, "n_customers": 20,
                             "share": [0.3, 0.1, 0.1, 0.1, 0.6], "low": [0.2, 0.0, 0.0, 0.0, 0.4],
                             "high": [0.4, 0.2, 0.2, 0.2, 0.8], "assigned": [6, 2, 2, 2, 12],
                             "available_share": [0.5, 0.2, 0.2, 0.3, 0.8],
                             "available_low": [0.3, 0.1, 0.1, 0.1, 0.6],
                             "available_high": [0.7, 0.3, 0.3, 0.5, 0.9]})
    mix = pd.DataFrame({"reason_code": ["price", "service_attitude"],
                        "label": ["价格", "服务态度"], "churn_type": ["passive", "passive"],
                        "share": [0.6, 0.4], "low": [0.4, 0.2], "high": [0.8, 0.6],
                        "total": 10})
    mix_by = pd.DataFrame({"region": ["华东", "华东", "华北", "华北"],
                           "reason_code": ["price", "service_attitude"] * 2, "n": [5, 1, 1, 4]})
    type_trend = pd.DataFrame({"month": MONTHS * 2, "churn_type": ["passive"] * 3 + ["active"] * 3,
                               "n": [4, 5, 6, 1, 2, 3]})
    code_trend = type_trend.rename(columns={"churn_type": "reason_code"}).assign(
        reason_code=["price"] * 3 + ["no_need"] * 3)
    odds = pd.DataFrame({"rank": [1, 2], "indicator": ["recency_ratio", "engagement_trend"],
                         "odds_ratio": [2.0, 0.9], "or_low": [1.5, 0.7], "or_high": [2.6, 1.1]})
    names = {"price": "价格", "service_attitude": "服务态度", "no_need": "暂无需求"}
    return {
        "plot_churn_trend": ((rates,), {}),
        "plot_segment_trend": ((rates, "region"), {}),
        "plot_concentration": ((conc, "region"), {}),
        "plot_profile_effects": ((tests,), {}),
        "plot_coverage": ((coverage,), {}),
        "plot_reason_mix": ((mix,), {}),
        "plot_reason_mix_by": ((mix_by, "region"), {"labels": names}),
        "plot_reason_trend": ((type_trend,), {}),
        "plot_reason_trend/codes": ((code_trend,), {"key": "reason_code", "labels": names}),
        "plot_odds_ratios": ((odds,), {}),
    }


def _tiers():
    summary = pd.DataFrame({"tier_label": ["钻石", "黄金", "普通"],
                            "customer_share": [0.1, 0.3, 0.6], "value_share": [0.5, 0.3, 0.2],
                            "future_value": [500.0, 300.0, 200.0],
                            "future_value_necessary": [200.0, 150.0, 120.0],
                            "future_value_discretionary": [300.0, 150.0, 80.0]})
    share = np.linspace(0, 1, 11)
    curve = pd.DataFrame({"customer_share": share, "value_share": share ** 0.4})
    concentration = pd.DataFrame({"top_share": [0.1, 0.2], "value_share": [0.4, 0.55],
                                  "gini": 0.45})
    codes = list(labels("quadrant", "en"))
    quadrants = pd.DataFrame({"quadrant": codes, "label": codes, "customers": [10, 20, 30, 40],
                              "customer_share": [0.1, 0.2, 0.3, 0.4],
                              "value_share": [0.4, 0.3, 0.2, 0.1]})
    rfm = pd.DataFrame({"label": ["Champions", "Lost"], "customers": [30, 70],
                        "customer_share": [0.3, 0.7], "value_share": [0.8, 0.2]})
    moved = types.SimpleNamespace(
        available=True, previous="2024-02", month="2024-03", share_changed=0.25, n_up=10,
        n_down=15, shares=pd.DataFrame([[0.8, 0.2], [0.3, 0.7]], index=[1, 2], columns=[1, 2]))
    return {
        "plot_tier_shares": ((summary,), {}),
        "plot_value_concentration": ((curve, concentration), {}),
        "plot_value_split": ((summary,), {}),
        "plot_quadrants": ((quadrants,), {}),
        "plot_rfm_segments": ((rfm,), {}),
        "plot_tier_transitions": ((moved,), {"labels": ["钻石", "普通"]}),
    }


def _strategy():
    curve = pd.DataFrame({"tier": ["1", "1", "2"], "cum_cost": [10.0, 30.0, 5.0],
                          "cum_ev": [50.0, 80.0, 10.0], "ev_per_unit": [5.0, 1.5, 2.0]})
    budget = pd.DataFrame({"budget": [20.0, 10.0], "expected_value": [65.0, 10.0],
                           "budget_to_take_all": [30.0, 5.0], "next_ev_per_unit": [1.5, 0.0],
                           "treated_cost": [16.0, 4.0], "held_out_cost": [4.0, 1.0]},
                          index=pd.Index(["1", "2"], name="tier"))
    mix = pd.DataFrame({"treatment": [30, 10], "control": [8, 2]},
                       index=pd.Index(["price_offer", "care_call"], name="strategy"))
    return {
        "plot_budget_curve": ((curve, budget), {}),
        "plot_marginal_value": ((curve, budget), {}),
        "plot_budget_use": ((budget,), {}),
        "plot_strategy_mix": ((mix,), {}),
    }


def _schedule():
    start = pd.Timestamp("2024-06-24")
    plan = pd.DataFrame({"phase": ["preparation", "execution"], "phase_label": ["准备", "执行"],
                         "task": ["培训坐席", "外呼"],
                         "start": [start, start + pd.Timedelta(days=14)],
                         "end": [start + pd.Timedelta(days=6), start + pd.Timedelta(days=30)],
                         "week_end": [1, 5]})
    days = pd.bdate_range("2024-07-08", "2024-07-12")
    load = pd.DataFrame({"day": list(days) * 2, "channel": ["phone"] * 5 + ["sms"] * 5,
                         "capacity": 10, "scheduled": [10, 8, 6, 4, 2, 1, 1, 1, 1, 1]})
    load["utilization"] = load["scheduled"] / load["capacity"]
    staff = pd.DataFrame({"channel": ["phone", "visit"], "agent_days_needed": [5.0, 2.0],
                          "agent_days_available": [10.0, 0.0], "agents": [2, 0],
                          "contacts_needed": [200, 10], "fits": [True, False]})
    costs = pd.DataFrame({"category": ["people", "materials", "marketing", "total"],
                          "amount": [1000.0, 300.0, 200.0, 1500.0]})
    return {
        "plot_campaign_plan": ((plan,), {"contact_days": days, "execution_month": "2024-07"}),
        "plot_daily_load": ((load,), {}),
        "plot_staffing": ((staff,), {}),
        "plot_budget": ((costs,), {"cap": 2000.0}),
    }


def _evaluation():
    ev = pd.DataFrame({"metric": ["reactivation", "reactivation", "roi"],
                       "segment_type": "all", "campaign_month": ["2024-01", "2024-02", "2024-01"],
                       "window": [2, 1, 2], "segment": "all", "diff": [0.05, 0.02, 0.3],
                       "ci_low": [0.01, -0.02, -0.1], "ci_high": [0.09, 0.06, 0.7],
                       "note": ["", "", ""]})
    funnel = pd.DataFrame({"campaign_month": ["2024-01"], "treated": [100],
                           "attempted_share": [1.0], "reached_share": [0.6],
                           "responded_share": [0.4], "accepted_share": [0.2],
                           "redeemed_share": [0.1]})
    flows = pd.DataFrame({"month": MONTHS, "reactivated": [5, 8, 9], "new_churn": [7, 6, 4]})
    flows["net_winback"] = flows["reactivated"] - flows["new_churn"]
    sat = pd.DataFrame({"month": MONTHS * 2, "source": ["survey"] * 3 + ["contact"] * 3,
                        "mean": [3.5, 3.7, 3.9, 3.2, 3.4, 3.3], "ci_low": 3.0, "ci_high": 4.2})
    kpi = pd.DataFrame({"kpi": ["churn_rate", "roi"], "value": [0.05, 0.2],
                        "target": [0.06, 0.5], "op": ["<=", ">="], "status": ["green", "red"],
                        "text": ["5.0% vs ≤ 6.0%", "20% vs ≥ 50%"]})
    return {
        "plot_uplift": ((ev,), {}),
        "plot_uplift/roi": ((ev,), {"metric": "roi"}),
        "plot_contact_funnel": ((funnel,), {}),
        "plot_status_flows": ((flows,), {}),
        "plot_satisfaction": ((sat,), {}),
        "plot_kpis": ((kpi,), {}),
    }


def _warning():
    models = ["logistic", "gbm", "recency_rule"]
    metrics = pd.DataFrame([{"month": m, "model": mod, "metric": "pr_auc",
                             "value": 0.5 + 0.1 * i, "ci_low": 0.4 + 0.1 * i,
                             "ci_high": 0.6 + 0.1 * i}
                            for m in MONTHS for i, mod in enumerate(models)])
    curve = pd.DataFrame([{"model": mod, "k": k, "precision": 0.8 - 0.001 * k - 0.1 * i,
                           "recall": k / 300} for i, mod in enumerate(models)
                          for k in (10, 50, 100, 200)])
    rel = pd.DataFrame({"model": "logistic", "bin": [0, 1, 2], "n": [50, 30, 20],
                        "mean_predicted": [0.1, 0.4, 0.8], "observed": [0.12, 0.35, 0.75],
                        "observed_low": [0.05, 0.2, 0.6], "observed_high": [0.2, 0.5, 0.9]})
    coefs = pd.DataFrame({"feature": ["recency_ratio", "orders_90"], "coef": [0.9, -0.4]})
    factors = pd.DataFrame({"label": ["最近购买间隔", "近 90 天订单"], "first": [10, 5],
                            "any": [20, 12], "share": [0.6, 0.4]})
    alerts = pd.DataFrame({"alert": ["frequency_drop", "spend_drop", "any_alert"],
                           "customers": [30, 20, 40], "share": [0.3, 0.2, 0.4],
                           "on_watchlist": [10, 8, 15]})
    perf = pd.DataFrame({"month": ["2023-12", "2023-12", "2024-01", "2024-01"],
                         "metric": ["realized_precision", "realized_base_rate"] * 2,
                         "value": [0.3, 0.1, 0.35, 0.1], "ci_low": [0.2, 0.08, 0.25, 0.08],
                         "ci_high": [0.4, 0.12, 0.45, 0.12]})
    return {
        "plot_backtest": ((metrics,), {}),
        "plot_capacity_curve": ((curve,), {"capacity": 50}),
        "plot_reliability": ((rel,), {"model": "logistic", "brier": 0.12}),
        "plot_coefficients": ((coefs,), {}),
        "plot_factor_counts": ((factors,), {}),
        "plot_alert_counts": ((alerts,), {}),
        "plot_realized": ((perf,), {"horizon": 3}),
    }


def _report():
    churn = pd.DataFrame({"month": MONTHS, "churn_rate": [0.05, 0.06, 0.055]})
    campaigns = pd.DataFrame({"campaign_month": ["2024-01", "2024-02"] * 2, "window": [2, 1] * 2,
                              "metric": ["reactivation"] * 2 + ["roi"] * 2,
                              "treated": [0.2, 0.18, np.nan, np.nan],
                              "control": [0.15, 0.16, np.nan, np.nan],
                              "diff": [0.05, 0.02, 0.4, -0.1], "ci_low": [0.01, -0.02, 0.1, -0.5],
                              "ci_high": [0.09, 0.06, 0.7, 0.3]})
    perf = pd.DataFrame([{"month": m, "model": mod, "metric": "pr_auc", "value": 0.5 + 0.05 * i,
                          "ci_low": 0.4, "ci_high": 0.7}
                         for m in MONTHS for i, mod in enumerate(["logistic", "recency_rule"])])
    return {
        "plot_churn_trend": ((churn,), {"target": 0.06}),
        "plot_reactivation_trend": ((campaigns,), {}),
        "plot_roi_trend": ((campaigns,), {}),
        "plot_model_trend": ((perf,), {}),
    }


FIXTURES = {"churn": _churn, "reasons": _reasons, "tiers": _tiers, "strategy": _strategy,
            "schedule": _schedule, "evaluation": _evaluation, "warning": _warning,
            "report": _report}


def _chart_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(winback.plots.__path__)
                  if m.name != "theme")


def _public_plots(module: str) -> list[str]:
    mod = importlib.import_module(f"winback.plots.{module}")
    names = getattr(mod, "__all__", dir(mod))
    return sorted(n for n in names if n.startswith("plot_") and inspect.isfunction(getattr(mod, n)))


CASES = [(module, case) for module in FIXTURES for case in FIXTURES[module]()]


def test_every_chart_has_a_fixture():
    missing = [f"{module}.{name}" for module in _chart_modules() for name in _public_plots(module)
               if name not in FIXTURES.get(module, dict)()]
    assert not missing, f"add a fixture to tests/test_plots_catalog.py for {missing}"


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(("module", "case"), CASES, ids=[f"{m}.{c}" for m, c in CASES])
def test_chart_has_title_axes_and_takeaway(module, case, language, tmp_path):
    use_theme()
    args, kw = FIXTURES[module]()[case]
    plot = getattr(importlib.import_module(f"winback.plots.{module}"), case.split("/")[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = plot(*args, language=language, **kw)
        ax.figure.savefig(tmp_path / "chart.png")
    glyphs = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not glyphs, glyphs
    title, note = ax.get_title(), takeaway_of(ax)
    assert title.strip(), "no title"
    assert note and note.strip(), "no takeaway line"
    skip = NO_AXIS_LABEL.get((module, case.split("/")[0]))
    if skip != "x":
        assert ax.get_xlabel().strip(), "no x-axis label"
    if skip != "y":
        assert ax.get_ylabel().strip(), "no y-axis label"
    if language == "zh":
        assert _chinese(title) and _chinese(ax.get_xlabel() + ax.get_ylabel()), (
            f"English text on a zh chart: {title!r}, {ax.get_xlabel()!r}, {ax.get_ylabel()!r}")
    else:
        assert not _chinese(title), f"Chinese title on an en chart: {title!r}"
    plt.close(ax.figure)


@pytest.mark.parametrize("module", sorted(FIXTURES))
def test_an_unknown_language_is_refused(module):
    name, (args, kw) = next(iter(FIXTURES[module]().items()))
    plot = getattr(importlib.import_module(f"winback.plots.{module}"), name.split("/")[0])
    with pytest.raises(ValueError, match="language"):
        plot(*args, language="fr", **kw)
    plt.close("all")
