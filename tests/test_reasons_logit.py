"""The driver regression's own Newton fit against statsmodels' Logit (same numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.discrete.discrete_model import Logit

from winback import reasons as R


def panel(n_customers=400, months=4, seed=3):
    """Customer-months: each customer repeats (clusters), skewed and binary indicators."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"c{i:04d}" for i in range(n_customers)], months)
    n = len(ids)
    effect = np.repeat(rng.normal(scale=0.7, size=n_customers), months)
    spend = rng.lognormal(4, 1, size=n)
    days = rng.poisson(6, size=n)
    complaint = rng.binomial(2, 0.15, size=n)
    share = np.where(rng.random(n) < 0.1, np.nan, rng.random(n))
    logit = -2 + 0.4 * np.log1p(complaint) - 0.3 * np.log1p(days) + 0.5 * share + effect
    churned = rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(logit)))
    return pd.DataFrame({"month": np.tile([f"2024-0{m + 1}" for m in range(months)],
                                          n_customers),
                         "customer_id": pd.array(ids, dtype="str"), "churned": churned,
                         "spend": spend, "days": days.astype("int32"),
                         "complaint": complaint.astype("int32"),
                         "share": share.astype("float32")})


def reference(model: R.ChurnDrivers, frame: pd.DataFrame, *, clustered: bool = True):
    """statsmodels' Logit on the model's standardized design (the former implementation)."""
    cols = model._columns(frame)
    design = [np.ones(len(frame))]
    for c in model.used_:
        x = cols[c]
        x = np.where(np.isnan(x), np.nanmedian(x), x)
        design.append((x - model.means_[c]) / model.scales_[c])
    X = np.column_stack(design)
    y = frame["churned"].astype(float).to_numpy()
    if clustered:
        codes = pd.factorize(frame["customer_id"])[0]
        return Logit(y, X).fit(disp=0, maxiter=200, cov_type="cluster",
                               cov_kwds={"groups": codes})
    return Logit(y, X).fit(disp=0, maxiter=200)


@pytest.mark.parametrize("clustered", [True, False])
def test_newton_fit_matches_statsmodels_logit(clustered):
    frame = panel()
    groups = "customer_id" if clustered else None
    model = R.ChurnDrivers(["spend", "days", "complaint", "share"],
                           log1p=["spend", "days", "complaint"]).fit(frame, groups=groups)
    assert model.method_ == "mle" and model.used_ == ["spend", "days", "complaint", "share"]
    ref = reference(model, frame, clustered=clustered)
    np.testing.assert_allclose(model.params_.to_numpy(), ref.params, rtol=1e-8, atol=0)
    np.testing.assert_allclose(model.standard_errors_.to_numpy(), ref.bse, rtol=1e-8, atol=0)
    np.testing.assert_allclose(model.pvalues_.to_numpy(), ref.pvalues, rtol=1e-8, atol=0)
    assert model.n_clusters_ == (400 if clustered else len(frame))


def test_newton_fit_matches_statsmodels_on_the_hand_made_driver_data():
    rng = np.random.default_rng(11)
    n = 1000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(-1 + x1 - 0.5 * x2)))
    ids = [f"c{i // 3}" for i in range(n)]  # three rows per customer
    frame = pd.DataFrame({"customer_id": ids, "x1": x1, "x2": x2, "churned": y})
    model = R.ChurnDrivers(["x1", "x2"]).fit(frame)
    ref = reference(model, frame)
    np.testing.assert_allclose(model.params_.to_numpy(), ref.params, rtol=1e-8)
    np.testing.assert_allclose(model.standard_errors_.to_numpy(), ref.bse, rtol=1e-8)
    table = model.summary()
    z = 1.959963984540054
    coef = ref.params[1:]
    np.testing.assert_allclose(table.set_index("indicator").loc[["x1", "x2"], "or_low"],
                               np.exp(coef - z * ref.bse[1:]), rtol=1e-8)


def test_logit_mle_stops_like_statsmodels_and_reports_no_convergence():
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = (rng.random(200) < 0.3).astype(float)
    beta, cov, converged = R._logit_mle(X, y, max_iter=1)
    assert not converged and beta.shape == (2,) and cov.shape == (2, 2)
    beta, cov, converged = R._logit_mle(X, y, np.arange(200) // 2)
    ref = Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": np.arange(200) // 2})
    assert converged
    np.testing.assert_allclose(beta, ref.params, rtol=1e-10)
    np.testing.assert_allclose(cov, ref.cov_params(), rtol=1e-8)
    # a blocked pass gives the one-block score and information
    s1, i1 = R._logit_pass(X, y, beta, chunk=7)
    s2, i2 = R._logit_pass(X, y, beta, chunk=1000)
    np.testing.assert_allclose(i1, i2, rtol=1e-12)
    np.testing.assert_allclose(s1, s2, atol=1e-10)


def normals(n=1500, seed=2):
    rng = np.random.default_rng(seed)
    a, b, d = rng.normal(size=(3, n))
    y = rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.5 * a - 0.3 * b)))
    return pd.DataFrame({"customer_id": [f"c{i // 2}" for i in range(n)], "a": a, "b": b,
                         "d": d, "churned": y}), rng


def test_exact_linear_dependence_is_still_found_by_the_design_rank():
    frame, _ = normals()
    frame["c"] = frame["a"] + frame["b"]  # exactly dependent on two others
    model = R.ChurnDrivers(["a", "b", "c", "d"], max_vif=1e30).fit(frame)
    # the rank check drops the last indicator until the design has full column rank
    assert model.dropped_.to_dict("records") == [
        {"indicator": "d", "reason": "linearly dependent on the others"},
        {"indicator": "c", "reason": "linearly dependent on the others"}]
    assert model.used_ == ["a", "b"]


def test_vif_uses_the_correlations_of_the_standardized_design():
    frame, rng = normals()
    frame["near"] = frame["a"] + frame["b"] + rng.normal(0, 0.2, len(frame))
    model = R.ChurnDrivers(["a", "b", "near", "d"], max_vif=10).fit(frame)
    X = np.column_stack([frame[c].to_numpy(float) for c in ("a", "b", "near", "d")])
    vif = np.diag(np.linalg.inv(np.corrcoef(((X - X.mean(0)) / X.std(0)).T)))
    assert vif.max() > 10
    assert model.dropped_["indicator"].tolist() == [["a", "b", "near", "d"][vif.argmax()]]
    assert model.dropped_["reason"].iloc[0] == f"VIF {vif.max():.1f} > 10"
    assert model.method_ == "mle" and len(model.used_) == 3
