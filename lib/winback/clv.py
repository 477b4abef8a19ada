"""Customer-base models fitted by maximum likelihood: BG/NBD purchase counts and Gamma-Gamma spend.

The BG/NBD model (Fader, Hardie & Lee 2005) describes each customer's repeat
purchases as a Poisson process with a customer-specific rate, which stops for
good after any repeat purchase with a customer-specific probability. From a
customer's purchase count ``x`` (repeat purchases), the time of the last
purchase ``t_x`` and the customer's age ``T`` (both measured from the first
purchase, in any one time unit) it gives P(alive) and the expected number of
future purchases. The Gamma-Gamma model (Fader & Hardie 2013) gives each
customer's expected spend per transaction from the average of their repeat
transactions; the two together give the expected spend over a horizon, the
kit's measure of future value.

Both fitters maximise the log-likelihood with its analytic gradient (L-BFGS-B
over log-parameters, then a few Newton steps), on the data compressed to its
distinct rows with counts as weights, so a million customers fit in about a
second. Standard errors come from the Hessian of the negative log-likelihood
at the optimum (finite differences of the analytic gradient).

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers"
the easy way: an alternative to the Pareto/NBD model. *Marketing Science*
24(2), 275-284.

Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary
value. http://brucehardie.com/notes/025/

Colombo, R. & Jiang, W. (1999). A stochastic RFM model. *Journal of
Interactive Marketing* 13(3), 2-12.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = ["BGNBD", "GammaGamma", "simulate_bgnbd", "simulate_gamma_gamma"]

_Z95 = 1.959963984540054  # standard normal 97.5% quantile


# ---------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------


class _Inputs:
    """Named numeric inputs broadcast to one length, with row labels for error messages."""

    def __init__(self, **named: Any):
        index = None
        index_owner = None
        arrays: dict[str, np.ndarray] = {}
        for name, values in named.items():
            if isinstance(values, pd.DataFrame):
                raise TypeError(f"{name}: expected a column (Series or array), got a DataFrame")
            if isinstance(values, pd.Series):
                if index is None:
                    index, index_owner = values.index, name
                elif not values.index.equals(index):
                    raise ValueError(
                        f"{name} and {index_owner} are Series with different indexes; "
                        "pass columns of one frame (or align them first)"
                    )
            arrays[name] = _to_float(name, values)
        lengths = {name: arr.size for name, arr in arrays.items() if arr.ndim > 0}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
            raise ValueError(f"inputs have different lengths ({detail}); pass one row per customer")
        n = next(iter(lengths.values())) if lengths else 1
        self.scalar = not lengths
        self.arrays = {name: np.broadcast_to(arr.ravel() if arr.ndim else arr, (n,))
                       for name, arr in arrays.items()}
        self.n = n
        self.index = index
        self.labels = np.asarray(index) if index is not None else np.arange(n)
        self.label_kind = "index labels" if index is not None else "row positions"

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def fail(self, name: str, bad: np.ndarray, what: str, fix: str) -> None:
        """Raise if any row is ``bad``: names the argument, counts the rows, shows a few."""
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            count = int(bad.sum())
            shown = [_plain(v) for v in self.labels[bad][:5]]
            more = ", ..." if count > 5 else ""
            raise ValueError(
                f"{name}: {count} of {self.n} rows {what} "
                f"({self.label_kind}: {', '.join(map(str, shown))}{more}); {fix}"
            )

    def finite(self, *names: str) -> None:
        for name in names:
            self.fail(name, ~np.isfinite(self[name]), "are missing (NaN) or infinite",
                      "fill or remove them before fitting or scoring")

    def non_negative(self, *names: str) -> None:
        for name in names:
            self.fail(name, self[name] < 0, "are negative", f"{name} must be >= 0")

    def wrap(self, values: np.ndarray, name: str | None = None):
        """Return a Series on the input index, a float for scalar inputs, else an array."""
        if self.index is not None:
            return pd.Series(values, index=self.index, name=name, dtype="float64")
        if self.scalar:
            return float(values[0])
        return values


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _to_float(name: str, values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise TypeError(f"{name}: expected numbers, got a column of dtype {values.dtype}")
        return values.to_numpy(dtype="float64", na_value=np.nan)
    arr = np.asarray(values)
    if arr.dtype == object:  # numbers mixed with None / pandas.NA
        kind = pd.api.types.infer_dtype(arr.ravel(), skipna=True)
        if kind not in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
            raise TypeError(f"{name}: expected numbers, got {kind} values")
        flat = pd.Series(arr.ravel(), dtype="object").astype("Float64")
        arr = flat.to_numpy(dtype="float64", na_value=np.nan).reshape(arr.shape)
    elif not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: expected numbers, got values of dtype {arr.dtype}")
    if arr.ndim > 1:
        raise ValueError(f"{name}: expected one value per customer (1-D), got shape {arr.shape}")
    return arr.astype("float64")


def _check_rfm(frequency, recency, T, **extra: Any) -> _Inputs:
    """Check the (frequency, recency, T) triple the BG/NBD model reads."""
    data = _Inputs(frequency=frequency, recency=recency, T=T, **extra)
    data.finite("frequency", "recency", "T")
    data.non_negative("frequency", "recency", "T")
    x, tx, age = data["frequency"], data["recency"], data["T"]
    data.fail("frequency", x != np.round(x), "are not whole numbers",
              "frequency is the count of repeat purchases (purchases after the first)")
    data.fail("recency", tx > age, "are greater than T",
              "recency (time of the last purchase since the first) cannot exceed T "
              "(time since the first purchase); measure both at the same as-of date and unit")
    data.fail("recency", (x == 0) & (tx != 0), "are non-zero where frequency is 0",
              "a customer with no repeat purchase has recency 0")
    return data


def _check_weights(data: _Inputs, weights: Any) -> np.ndarray:
    """Per-row weights (all 1 when None), checked against the rows of ``data``."""
    if data.scalar:
        raise ValueError("fit takes columns (one row per customer), got single numbers")
    if data.n == 0:
        raise ValueError("no customers to fit: the inputs have no rows")
    if weights is None:
        return np.ones(data.n)
    if isinstance(weights, pd.Series) and data.index is not None \
            and not weights.index.equals(data.index):
        raise ValueError("weights: the Series index differs from the data's; align it first")
    wt = _to_float("weights", weights)
    if wt.ndim == 0:
        wt = np.full(data.n, float(wt))
    if wt.size != data.n:
        raise ValueError(f"weights: {wt.size} values for {data.n} customers; "
                         "pass one weight a row")
    data.fail("weights", ~np.isfinite(wt), "are missing (NaN) or infinite",
              "give every row a finite weight")
    data.fail("weights", wt < 0, "are negative", "weights must be >= 0")
    if not wt.sum() > 0:
        raise ValueError("weights: all weights are 0; at least one customer must count")
    return np.array(wt, dtype="float64")


def _seeded(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, bool) or not isinstance(
            random_state, int | np.integer):
        raise TypeError("random_state: pass an integer seed or a numpy Generator "
                        "(randomness is always seeded explicitly)")
    return np.random.default_rng(int(random_state))


def _compress(columns: list[np.ndarray], weights: np.ndarray):
    """Distinct rows of ``columns`` (in order of first appearance) with summed weights.

    Each column is factorized by hashing and the codes are combined column by
    column, so the cost is linear in the number of rows. Put the column with
    the most distinct values first: when nearly all its values differ (as with
    continuous times or amounts), compressing cannot pay and the rows are
    returned as they are.
    """
    n = weights.size
    if n == 0:
        return [c[:0] for c in columns], weights[:0]
    group = np.zeros(n, dtype="int64")
    for i, col in enumerate(columns):
        codes, uniques = pd.factorize(col)
        if i == 0 and uniques.size > 0.9 * n:
            return list(columns), weights
        group, _ = pd.factorize(group * np.int64(uniques.size) + codes)
    # ids are numbered in order of first appearance: a row is a group's first
    # exactly where its id exceeds every id before it
    new = np.ones(n, dtype=bool)
    new[1:] = group[1:] > np.maximum.accumulate(group)[:-1]
    first = np.flatnonzero(new)
    summed = np.bincount(group, weights=weights, minlength=first.size)
    return [c[first] for c in columns], summed


# ---------------------------------------------------------------------------
# the optimiser shared by both models
# ---------------------------------------------------------------------------


class _MLResult:
    def __init__(self, theta, cov, loglik, converged, grad_norm, iterations):
        self.theta = theta
        self.cov = cov
        self.loglik = loglik
        self.converged = converged
        self.grad_norm = grad_norm
        self.iterations = iterations


_FTOL = 1e-10  # L-BFGS-B stops near the optimum; Newton steps finish the job
_GTOL = 1e-6


def _maximise(objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
              theta0: np.ndarray, n_total: float, penalizer: float) -> _MLResult:
    """Minimise a per-customer negative log-likelihood over log-parameters.

    ``objective(theta)`` returns the weighted mean log-likelihood and its gradient
    in the natural parameters. The penalty ``penalizer * sum(theta**2)`` is added
    to the mean negative log-likelihood. L-BFGS-B runs first; Newton steps with a
    Hessian from forward differences of the analytic gradient then polish the
    optimum to machine precision. The covariance is the inverse Hessian of the
    total (penalised) negative log-likelihood in the natural parameters.
    """

    def fun(phi: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(phi)
        ll, grad = objective(theta)
        f = -ll + penalizer * float(theta @ theta)
        g = (-grad + 2.0 * penalizer * theta) * theta
        if not np.isfinite(f):
            return np.inf, np.zeros_like(phi)
        return f, g

    def hessian(phi: np.ndarray, g: np.ndarray, step: float = 1e-6) -> np.ndarray:
        # forward differences of the analytic gradient: relative error ~1e-6, ample
        # for standard errors and for Newton steps from next to the optimum
        k = phi.size
        h = np.empty((k, k))
        for i in range(k):
            e = np.zeros(k)
            e[i] = step
            h[:, i] = (fun(phi + e)[1] - g) / step
        return (h + h.T) / 2

    phi0 = np.log(theta0)
    with _single_threaded_blas():
        return _optimise(fun, hessian, phi0, n_total, penalizer)


def _single_threaded_blas():
    """Keep BLAS to one thread while optimising.

    L-BFGS-B does many tiny linear-algebra calls; on a machine whose cores are
    busy, a multi-threaded BLAS spends far longer waking its threads than
    computing (a 3-parameter fit went from 3 ms to 150 ms).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _optimise(fun, hessian, phi0: np.ndarray, n_total: float, penalizer: float) -> _MLResult:
    res = optimize.minimize(
        fun, phi0, jac=True, method="L-BFGS-B", bounds=[(-25.0, 25.0)] * phi0.size,
        options={"maxiter": 5000, "maxcor": 20, "ftol": _FTOL, "gtol": _GTOL},
    )
    phi = res.x
    f, g = fun(phi)
    iterations = int(res.nit)
    # Newton polish with the (chord) Hessian at the L-BFGS-B optimum.
    h = hessian(phi, g)
    for _ in range(8):
        try:
            step = -np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
            break
        f_new, g_new = fun(phi + step)
        # next to the optimum f is flat to rounding: judge a step by the gradient it leaves
        if not (np.max(np.abs(g_new)) < np.max(np.abs(g))
                and f_new <= f + 1e-10 * (1.0 + abs(f))):
            break
        phi, f, g = phi + step, f_new, g_new
        iterations += 1
        if np.max(np.abs(step)) < 1e-12 or np.max(np.abs(g)) < 1e-15:
            break
    theta = np.exp(phi)
    grad_norm = float(np.max(np.abs(g)))
    # Hessian in natural parameters: H_theta = (H_phi - diag(g_phi)) / (theta theta^T).
    h_theta = (h - np.diag(g)) / np.outer(theta, theta) * n_total
    cov = np.full((theta.size, theta.size), np.nan)
    positive_definite = False
    try:
        np.linalg.cholesky(h_theta)
        cov = np.linalg.inv(h_theta)
        positive_definite = True
    except np.linalg.LinAlgError:
        pass
    ll_mean = -(f - penalizer * float(theta @ theta))
    converged = bool(grad_norm < 1e-6 and positive_definite and np.all(np.abs(phi) < 25.0))
    return _MLResult(theta, cov, float(ll_mean * n_total), converged, grad_norm, iterations)


class _FittedModel:
    """Shared fitted-model plumbing: params, standard errors, summary, repr."""

    _names: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def _check_penalizer(self) -> float:
        pen = self.penalizer
        if not (isinstance(pen, int | float) and math.isfinite(pen) and pen >= 0):
            raise ValueError(f"penalizer: must be a number >= 0, got {pen!r}")
        return float(pen)

    def _store(self, result: _MLResult, n_customers: float) -> None:
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} fit did not converge (max |gradient| "
                f"{result.grad_norm:.1e}, estimates {np.round(result.theta, 6).tolist()}); "
                "the data may not identify the model (e.g. too few repeat customers): "
                "check the inputs or set a small penalizer (0.001-0.1)",
                RuntimeWarning, stacklevel=3)
        self.params_ = pd.Series(result.theta, index=list(self._names), name="estimate")
        se = np.sqrt(np.diag(result.cov))
        self.standard_errors_ = pd.Series(se, index=list(self._names), name="std_error")
        self.covariance_ = pd.DataFrame(result.cov, index=list(self._names),
                                        columns=list(self._names))
        self.log_likelihood_ = result.loglik
        self.n_customers_ = int(round(n_customers)) if float(n_customers).is_integer() \
            else float(n_customers)
        self.converged_ = result.converged
        self.gradient_norm_ = result.grad_norm
        self.n_iterations_ = result.iterations

    def _require_fitted(self) -> None:
        if not hasattr(self, "params_"):
            name = type(self).__name__
            raise RuntimeError(f"{name} is not fitted: call {name}(...).fit(...) or "
                               f"{name}.from_params(...) first")

    @property
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and Wald 95% confidence intervals."""
        self._require_fitted()
        est = self.params_
        se = self.standard_errors_
        return pd.DataFrame({
            "estimate": est,
            "std_error": se,
            "ci_lower": est - _Z95 * se,
            "ci_upper": est + _Z95 * se,
        })

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"{name}(penalizer={self.penalizer}) - not fitted"
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        if not hasattr(self, "log_likelihood_"):
            return f"{name}({params}) - from given parameters"
        n = self.n_customers_
        n_text = f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"
        status = "converged" if self.converged_ else "NOT converged"
        return (f"{name}(penalizer={self.penalizer}) fitted on {n_text} customers: {params}; "
                f"log-likelihood={self.log_likelihood_:,.2f} ({status})")

    @classmethod
    def from_params(cls, **params: float):
        """A model with given parameters (no fit), e.g. to score or simulate from known values."""
        model = cls()
        missing = [k for k in cls._names if k not in params]
        extra = [k for k in params if k not in cls._names]
        if missing or extra:
            raise TypeError(f"{cls.__name__}.from_params takes {', '.join(cls._names)}; "
                            f"missing {missing}, unknown {extra}")
        values = np.array([float(params[k]) for k in cls._names])
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"{cls.__name__} parameters must be finite and > 0, got {params}")
        model.params_ = pd.Series(values, index=list(cls._names), name="estimate")
        model.standard_errors_ = pd.Series(np.nan, index=list(cls._names), name="std_error")
        return model


# ---------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------


_CHUNK = 1 << 17  # rows per block of the likelihood sums (fixed, so sums never depend on cores)


def _unique_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct purchase counts and each row's position among them (hash, not sort)."""
    codes, uniques = pd.factorize(x.astype("int64"))
    order = np.argsort(uniques)
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    return uniques[order].astype("float64"), rank[codes]


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Inner product of two long vectors without BLAS (whose threads stall on busy machines)."""
    return float(np.einsum("i,i->", u, v))


def _thread_pool(n_rows: int):
    """Threads for the blocked likelihood sums when there are enough rows to share."""
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or n_rows < 2 * _CHUNK:
        return contextlib.nullcontext(None)
    return ThreadPoolExecutor(max_workers=workers)


def _blocks(n: int) -> list[slice]:
    return [slice(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]


class _BGNBDData:
    """Sufficient arrays for the BG/NBD log-likelihood, weights normalised to sum to 1.

    Terms that depend on ``x`` only are evaluated once per distinct ``x``; the
    per-row terms are summed in fixed blocks of rows, spread over threads.
    """

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray,
                 pool: ThreadPoolExecutor | None = None):
        total = float(w.sum())
        w = w / total
        self.total = total
        self.pool = pool
        zero = x == 0
        self.T0 = T[zero]
        self.w0 = w[zero]
        pos = ~zero
        self.xp = x[pos]
        self.txp = tx[pos]
        self.Tp = T[pos]
        self.wp = w[pos]
        self.wxp = self.wp * self.xp
        self.ux, inv = _unique_counts(x)
        self.Wx = np.bincount(inv, weights=w, minlength=self.ux.size)
        self.uxp, self.invp = _unique_counts(self.xp)
        self.blocks = _blocks(self.xp.size)
        self.weighted_x = _dot(self.Wx, self.ux)
        self.weighted_T = _dot(self.w0, self.T0) + _dot(self.wp, self.Tp)

    def _map(self, fn, blocks):
        if self.pool is None or len(blocks) < 2:
            return [fn(b) for b in blocks]
        return list(self.pool.map(fn, blocks))

    def _rows(self, r: float, alpha: float, log_ratio: np.ndarray, inv_b: np.ndarray,
              sl: slice) -> np.ndarray:
        """Per-row sums for customers with x > 0 in one block (see :meth:`loglik`)."""
        x, tx, T, w, wx = self.xp[sl], self.txp[sl], self.Tp[sl], self.wp[sl], self.wxp[sl]
        idx = self.invp[sl]
        lT = np.log(T + alpha)
        dl = np.log(tx + alpha)
        dl -= lT                                    # log((alpha+t_x)/(alpha+T)) <= 0
        rx = x + r
        d = log_ratio[idx]
        d -= rx * dl                                # D - C: log odds of "dropped out"
        e = np.abs(d)
        np.negative(e, out=e)
        np.exp(e, out=e)                            # exp(-|d|)
        softplus = np.log1p(e)
        softplus += np.maximum(d, 0.0)              # log(1 + exp(d))
        s = e + 1.0
        np.reciprocal(s, out=s)
        e *= s                                      # e / (1 + e)
        u = np.where(d > 0, s, e)                   # expit(d): share of the dropout branch
        u *= w
        iT = T + alpha
        np.reciprocal(iT, out=iT)
        di = tx + alpha
        np.reciprocal(di, out=di)
        di -= iT
        u_rx = u * rx
        return np.array([
            _dot(w, lT), _dot(wx, lT), _dot(w, softplus),   # log-likelihood pieces
            _dot(u, dl),                                    # d/dr
            _dot(w, iT), _dot(wx, iT), _dot(u_rx, di),      # d/dalpha
            u.sum(), _dot(u, inv_b[idx]),                   # d/da, d/db
        ])

    def loglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted mean log-likelihood (eq. 6 of Fader, Hardie & Lee 2005) and its gradient.

        Per customer, with ``A = log Gamma(r+x) - log Gamma(r) + r log alpha +
        log B(a, b+x) - log B(a, b)``, ``C = -(r+x) log(alpha+T)`` and
        ``D = log(a/(b+x-1)) - (r+x) log(alpha+t_x)``:
        ``log L = A + C`` for ``x = 0`` and ``A + log(exp(C) + exp(D))`` otherwise.
        """
        r, alpha, a, b = theta
        ux, Wx = self.ux, self.Wx
        log_alpha = math.log(alpha)
        per_x = (special.gammaln(r + ux) - special.gammaln(r) + r * log_alpha
                 + special.betaln(a, b + ux) - special.betaln(a, b))
        ll = _dot(Wx, per_x)
        dig_abx = special.digamma(a + b + ux)
        dig_ab = special.digamma(a + b)
        g_r = _dot(Wx, special.digamma(r + ux) - special.digamma(r)) + log_alpha
        g_alpha = r / alpha
        g_a = _dot(Wx, dig_ab - dig_abx)
        g_b = _dot(Wx, special.digamma(b + ux) - dig_abx - special.digamma(b) + dig_ab)
        if self.T0.size:  # x = 0: alive throughout, C = -r log(alpha + T)
            lT0 = np.log(self.T0 + alpha)
            s = _dot(self.w0, lT0)
            ll -= r * s
            g_r -= s
            g_alpha -= r * _dot(self.w0, 1.0 / (self.T0 + alpha))
        if self.xp.size:  # x > 0: log(exp(C) + exp(D)) = C + softplus(D - C)
            log_ratio = math.log(a) - np.log(b + self.uxp - 1.0)
            inv_b = 1.0 / (b + self.uxp - 1.0)
            parts = self._map(lambda sl: self._rows(r, alpha, log_ratio, inv_b, sl), self.blocks)
            (w_lT, wx_lT, w_sp, u_dl, w_iT, wx_iT, urx_di, u_sum, u_ib) = np.sum(parts, axis=0)
            ll += -(r * w_lT + wx_lT) + w_sp
            g_r -= w_lT + u_dl
            g_alpha -= r * w_iT + wx_iT + urx_di
            g_a += u_sum / a
            g_b -= u_ib
        return ll, np.array([g_r, g_alpha, g_a, g_b])


class BGNBD(_FittedModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

    While alive, a customer buys as a Poisson process with rate ``lambda``;
    after each repeat purchase they drop out for good with probability ``p``.
    Across customers ``lambda ~ Gamma(shape=r, rate=alpha)`` and
    ``p ~ Beta(a, b)``.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * (r^2 + alpha^2 + a^2 + b^2)`` added to the mean
        negative log-likelihood per customer (the convention of the lifetimes
        package); 0 gives the plain maximum-likelihood estimate. A small value
        (0.001-0.1) stabilises fits on few customers.

    Attributes
    ----------
    params_ : pandas.Series
        Estimates of ``r``, ``alpha`` (time unit of the data), ``a``, ``b``.
    standard_errors_ : pandas.Series
        Standard errors from the inverse Hessian of the negative log-likelihood
        (with the penalty when ``penalizer > 0``).
    covariance_ : pandas.DataFrame
        The inverse Hessian itself.
    log_likelihood_ : float
        Log-likelihood at the estimate (weighted sum, without the penalty).
    n_customers_ : int or float
        Customers fitted (sum of the weights).
    converged_ : bool
        The gradient vanished (max |gradient| per customer over log-parameters
        < 1e-6) and the Hessian is positive definite.

    Examples
    --------
    >>> data = simulate_bgnbd(5000, T=52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, random_state=1)
    >>> model = BGNBD().fit(data["frequency"], data["recency"], data["T"])
    >>> model.p_alive(data["frequency"], data["recency"], data["T"])  # doctest: +SKIP
    """

    _names = ("r", "alpha", "a", "b")

    def fit(self, frequency, recency, T, *, weights=None, compress: bool = True) -> BGNBD:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency : array-like of int
            Repeat purchases of each customer (purchases after the first), ``x``.
        recency : array-like of float
            Time of the last purchase since the first, ``t_x`` (0 when ``x = 0``).
        T : array-like of float or float
            Time since the first purchase (the customer's age at the as-of date).
            ``recency`` and ``T`` share one time unit (days, weeks, ...), which is
            also the unit of ``alpha`` and of every horizon passed later.
        weights : array-like of float, optional
            Non-negative weight of each row (e.g. how many customers it stands for).
        compress : bool, default True
            Fit on the distinct ``(x, t_x, T)`` rows with their counts as weights
            (the same likelihood, much faster). ``False`` fits row by row.

        Returns
        -------
        BGNBD
            ``self``, fitted.
        """
        penalizer = self._check_penalizer()
        data = _check_rfm(frequency, recency, T)
        w = _check_weights(data, weights)
        x = np.array(data["frequency"])
        tx = np.array(data["recency"])
        age = np.array(data["T"])
        if compress:
            # no repeat purchase: only T matters; otherwise recency first (most distinct)
            zero = x == 0
            (age0,), w0 = _compress([age[zero]], w[zero])
            (tx, x, age), w = _compress([tx[~zero], x[~zero], age[~zero]], w[~zero])
            x = np.concatenate([np.zeros(age0.size), x])
            tx = np.concatenate([np.zeros(age0.size), tx])
            age = np.concatenate([age0, age])
            w = np.concatenate([w0, w])
        keep = w > 0
        with _thread_pool(int(np.count_nonzero(x[keep] > 0))) as pool:
            d = _BGNBDData(x[keep], tx[keep], age[keep], w[keep], pool)
            # start: r = 1 with alpha from the mean purchase rate, a = 1, b = 3
            rate = d.weighted_x / max(d.weighted_T, 1e-300)
            alpha0 = 1.0 / rate if rate > 0 else d.weighted_T + 1.0
            theta0 = np.array([1.0, min(max(alpha0, 1e-6), 1e8), 1.0, 3.0])
            result = _maximise(d.loglik, theta0, d.total, penalizer)
        self._store(result, d.total)
        return self

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> BGNBD:
        """A model with given parameters (no fit), e.g. to score or simulate from known values."""
        return super().from_params(r=r, alpha=alpha, a=a, b=b)

    def _theta(self) -> tuple[float, float, float, float]:
        self._require_fitted()
        r, alpha, a, b = (float(v) for v in self.params_)
        return r, alpha, a, b

    def _log_odds_dead(self, x, tx, age, r, alpha, a, b):
        """log of a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, -inf for x = 0."""
        out = np.full(x.shape, -np.inf)
        pos = x > 0
        xp = x[pos]
        out[pos] = (math.log(a) - np.log(b + xp - 1.0)
                    + (r + xp) * (np.log(alpha + age[pos]) - np.log(alpha + tx[pos])))
        return out

    def p_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) (Fader, Hardie & Lee 2005, eq. A.6 / note 021).

        ``1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))``;
        1 for customers with no repeat purchase.

        Parameters
        ----------
        frequency, recency, T : array-like or float
            As in :meth:`fit`, in the unit the model was fitted in.

        Returns
        -------
        pandas.Series, numpy.ndarray or float
            P(alive), on the input's index when a Series was passed.
        """
        r, alpha, a, b = self._theta()
        data = _check_rfm(frequency, recency, T)
        x, tx, age = data["frequency"], data["recency"], data["T"]
        p = special.expit(-self._log_odds_dead(x, tx, age, r, alpha, a, b))
        return data.wrap(p, "p_alive")

    def conditional_expected_transactions(self, t, frequency, recency, T):
        """Expected repeat purchases in ``(T, T + t]`` given the history (eq. 10).

        ``E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + [x>0] a/(b+x-1)
        ((alpha+T)/(alpha+t_x))^(r+x))``.

        The Gauss hypergeometric term is evaluated through Euler's transformation,
        ``(1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z)``
        with ``c = a+b+x-1``, which stays accurate for large ``x`` and ``t`` where
        the direct series overflows; the denominator is computed in log space.

        Parameters
        ----------
        t : float or array-like
            Length of the future period, in the model's time unit (>= 0).
        frequency, recency, T : array-like or float
            As in :meth:`fit`.

        Returns
        -------
        pandas.Series, numpy.ndarray or float
            Expected number of purchases in the next ``t``.
        """
        r, alpha, a, b = self._theta()
        data = _check_rfm(frequency, recency, T, t=t)
        data.finite("t")
        data.non_negative("t")
        x, tx, age, tt = data["frequency"], data["recency"], data["T"], data["t"]
        value = _bgnbd_future(tt, x, age, r, alpha, a, b)
        value = value * special.expit(-self._log_odds_dead(x, tx, age, r, alpha, a, b))
        return data.wrap(value, "expected_transactions")

    def expected_transactions(self, t):
        """Expected repeat purchases in ``(0, t]`` of a new customer (eq. 7, unconditional).

        ``E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``.

        Parameters
        ----------
        t : float or array-like
            Time since the first purchase, in the model's time unit.

        Returns
        -------
        pandas.Series, numpy.ndarray or float
        """
        r, alpha, a, b = self._theta()
        data = _Inputs(t=t)
        data.finite("t")
        data.non_negative("t")
        zeros = np.zeros(data.n)
        value = _bgnbd_future(data["t"], zeros, zeros, r, alpha, a, b)
        return data.wrap(value, "expected_transactions")

    def sample(self, n: int, T, random_state, *, return_latent: bool = False) -> pd.DataFrame:
        """Simulate ``n`` customers from the fitted model (see :func:`simulate_bgnbd`)."""
        r, alpha, a, b = self._theta()
        return simulate_bgnbd(n, T, r, alpha, a, b, random_state, return_latent=return_latent)


def _bgnbd_future(t, x, age, r, alpha, a, b) -> np.ndarray:
    """(a+b+x-1)/(a-1) [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)], z = t/(alpha+T+t).

    Expected purchases in the next ``t`` of a customer known to be alive at ``T``.
    The expression is smooth in ``a`` through ``a = 1``, where the division by
    ``a - 1`` loses about ``1e-16 / |a - 1|`` of relative precision; within 1e-7
    of it the value is the mean of the values at ``a = 1 +- 1e-6``.
    """
    t = np.asarray(t, dtype="float64")
    if abs(a - 1.0) < 1e-7:
        return 0.5 * (_bgnbd_future(t, x, age, r, alpha, 1.0 - 1e-6, b)
                      + _bgnbd_future(t, x, age, r, alpha, 1.0 + 1e-6, b))
    c = a + b + x - 1.0
    log1mz = np.log(alpha + age) - np.log(alpha + age + t)  # log(1 - z)
    z = -np.expm1(log1mz)
    hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    head = np.exp((a - 1.0) * log1mz)
    # 1 - (1-z)^(a-1) F = -expm1((a-1) log(1-z)) - (1-z)^(a-1) (F - 1)
    value = (-np.expm1((a - 1.0) * log1mz) - head * (hyp - 1.0)) * c / (a - 1.0)
    return np.where(t > 0, value, 0.0)


def simulate_bgnbd(n: int, T, r: float, alpha: float, a: float, b: float, random_state, *,
                   return_latent: bool = False) -> pd.DataFrame:
    """Simulate customers' (frequency, recency, T) from the BG/NBD model.

    Each customer draws ``lambda ~ Gamma(r, rate=alpha)`` and ``p ~ Beta(a, b)``,
    buys as a Poisson process with rate ``lambda`` from their first purchase at
    time 0 and drops out after the ``J``-th repeat purchase, ``J ~ Geometric(p)``.
    Observed up to ``T``: ``x = min(N(T), J)`` and, given ``N(T)``, the time of
    the ``x``-th purchase is ``T * Beta(x, N(T) - x + 1)`` (an order statistic of
    uniforms).

    Parameters
    ----------
    n : int
        Number of customers.
    T : float or array-like of length n
        Observation length of each customer (time since their first purchase).
    r, alpha, a, b : float
        Model parameters (``alpha`` in the time unit of ``T``).
    random_state : int or numpy.random.Generator
        Seed or generator; the same seed gives the same customers.
    return_latent : bool, default False
        Also return each customer's ``lambda``, ``p``, ``dropout_after`` (``J``)
        and whether they are still ``alive`` at ``T``.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency`` (int64), ``recency``, ``T`` (float64), plus the
        latent columns when asked.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n: number of customers must be an integer >= 0, got {n!r}")
    for name, value in {"r": r, "alpha": alpha, "a": a, "b": b}.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name}: BG/NBD parameters must be finite and > 0, got {value!r}")
    age = np.asarray(T, dtype="float64")
    if age.ndim == 0:
        age = np.full(n, float(age))
    elif age.shape != (n,):
        raise ValueError(f"T: expected a number or {n} values, got shape {age.shape}")
    if not np.all(np.isfinite(age) & (age >= 0)):
        raise ValueError("T: observation lengths must be finite and >= 0")
    rng = _seeded(random_state)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = np.clip(rng.beta(a, b, size=n), np.finfo(float).tiny, 1.0)
    # J ~ Geometric(p) on 1, 2, ... by inversion, in floats (p can be tiny), capped for int64
    dropout_after = np.floor(np.log(rng.random(n)) / np.log1p(-p)) + 1.0
    dropout_after = np.minimum(np.nan_to_num(dropout_after, nan=1.0, posinf=2.0**62), 2.0**62)
    dropout_after = dropout_after.astype("int64")
    purchases = rng.poisson(lam * age)
    x = np.minimum(purchases, dropout_after)
    pos = x > 0
    recency = np.zeros(n)
    recency[pos] = age[pos] * rng.beta(x[pos], purchases[pos] - x[pos] + 1)
    out = pd.DataFrame({"frequency": x.astype("int64"), "recency": recency, "T": age})
    if return_latent:
        out["lambda"] = lam
        out["p"] = p
        out["dropout_after"] = dropout_after.astype("int64")
        out["alive"] = purchases < dropout_after
    return out


# ---------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------


class _GGData:
    """Sufficient arrays for the Gamma-Gamma log-likelihood, weights normalised to mean 1/N."""

    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray):
        total = float(w.sum())
        w = w / total
        self.total = total
        self.mx = m * x
        self.w = w
        self.wx = w * x
        self.ux, inv = _unique_counts(x)
        self.Wx = np.bincount(inv, weights=w, minlength=self.ux.size)
        log_m = np.log(m)
        self.s_xlogm = _dot(self.wx, log_m)
        self.s_logm = _dot(w, log_m)

    def loglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted mean log-likelihood (Fader & Hardie 2013, eq. 5) and its gradient."""
        p, q, v = theta
        ux, Wx = self.ux, self.Wx
        px = p * ux
        log_v = math.log(v)
        xlogx = ux * np.log(ux)
        per_x = special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + p * xlogx
        dig_pxq = special.digamma(px + q)
        L = np.log(v + self.mx)
        s_L = _dot(self.w, L)
        s_xL = _dot(self.wx, L)
        inv = 1.0 / (v + self.mx)
        ll = (_dot(Wx, per_x) + q * log_v + p * self.s_xlogm - self.s_logm
              - p * s_xL - q * s_L)
        g_p = _dot(Wx, ux * (dig_pxq - special.digamma(px)) + xlogx) + self.s_xlogm - s_xL
        g_q = _dot(Wx, dig_pxq - special.digamma(q)) + log_v - s_L
        g_v = q / v - p * _dot(self.wx, inv) - q * _dot(self.w, inv)
        return ll, np.array([g_p, g_q, g_v])


def _check_spend(frequency, monetary_value, *, fitting: bool) -> _Inputs:
    data = _Inputs(frequency=frequency, monetary_value=monetary_value)
    data.finite("frequency")
    data.non_negative("frequency")
    x, m = data["frequency"], data["monetary_value"]
    # without a repeat purchase there is no average to read: any value (even NaN) is ignored
    data.fail("monetary_value", ~np.isfinite(m) & ((x > 0) | fitting),
              "are missing (NaN) or infinite", "give every repeat customer a finite average value")
    data.fail("frequency", x != np.round(x), "are not whole numbers",
              "frequency is the count of repeat purchases")
    if fitting:
        data.fail("frequency", x == 0, "are 0",
                  "fit the Gamma-Gamma model on repeat customers only "
                  "(select frequency > 0 first)")
        data.fail("monetary_value", m <= 0, "are not positive",
                  "monetary_value is the average spend of the repeat purchases and must be > 0; "
                  "remove or repair customers whose repeat purchases net to zero or less")
    else:
        data.fail("monetary_value", (x > 0) & (m <= 0), "are not positive for frequency > 0",
                  "monetary_value is the average spend of the repeat purchases and must be > 0")
    return data


class GammaGamma(_FittedModel):
    """Gamma-Gamma model of spend per transaction (Fader & Hardie 2013; Colombo & Jiang 1999).

    A customer's transaction values are ``Gamma(shape=p, rate=nu)`` with
    ``nu ~ Gamma(shape=q, rate=v)`` across customers, so the mean spend per
    transaction has population mean ``p v / (q - 1)``. The model is fitted to
    the average value ``m_x`` of each repeat customer's ``x`` repeat
    transactions, assuming spend is independent of the purchase process.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * (p^2 + q^2 + v^2)`` added to the mean negative
        log-likelihood per customer.

    Attributes
    ----------
    params_ : pandas.Series
        Estimates of ``p``, ``q`` and ``v`` (``v`` in currency units).
    standard_errors_, covariance_, log_likelihood_, n_customers_, converged_
        As for :class:`BGNBD`.
    """

    _names = ("p", "q", "v")

    def fit(self, frequency, monetary_value, *, weights=None, compress: bool = True
            ) -> GammaGamma:
        """Fit by maximum likelihood on repeat customers.

        The likelihood of one customer is (Fader & Hardie 2013, eq. 5)
        ``Gamma(px+q) / (Gamma(px) Gamma(q)) v^q m^(px-1) x^(px) / (v + m x)^(px+q)``.

        Parameters
        ----------
        frequency : array-like of int
            Repeat purchases ``x`` of each customer; every value must be > 0.
        monetary_value : array-like of float
            Average value ``m_x`` of the customer's repeat purchases (> 0, currency units).
        weights : array-like of float, optional
            Non-negative weight of each row.
        compress : bool, default True
            Fit on the distinct ``(x, m_x)`` rows with counts as weights.

        Returns
        -------
        GammaGamma
            ``self``, fitted.
        """
        penalizer = self._check_penalizer()
        data = _check_spend(frequency, monetary_value, fitting=True)
        w = _check_weights(data, weights)
        x = np.array(data["frequency"])
        m = np.array(data["monetary_value"])
        if compress:
            (m, x), w = _compress([m, x], w)
        keep = w > 0
        d = _GGData(x[keep], m[keep], w[keep])
        mean_m = _dot(d.w, d.mx / x[keep])
        theta0 = np.array([1.0, 3.0, 2.0 * mean_m])
        result = _maximise(d.loglik, theta0, d.total, penalizer)
        self._store(result, d.total)
        return self

    @classmethod
    def from_params(cls, p: float, q: float, v: float) -> GammaGamma:
        """A model with given parameters (no fit), e.g. to score or simulate from known values."""
        return super().from_params(p=p, q=q, v=v)

    def _theta(self) -> tuple[float, float, float]:
        self._require_fitted()
        p, q, v = (float(val) for val in self.params_)
        return p, q, v

    def conditional_expected_average_profit(self, frequency, monetary_value):
        """Expected spend per transaction given the history (Fader & Hardie 2013, eq. 7).

        ``E[M | p, q, v, m_x, x] = p (v + x m_x) / (p x + q - 1)``, a weighted mean
        of the population mean ``p v / (q - 1)`` and the customer's own average;
        customers with ``x = 0`` get the population mean.

        Parameters
        ----------
        frequency : array-like of int
            Repeat purchases ``x`` (0 allowed).
        monetary_value : array-like of float
            Average value of the repeat purchases (ignored where ``x = 0``).

        Returns
        -------
        pandas.Series, numpy.ndarray or float
        """
        p, q, v = self._theta()
        if q <= 1:
            raise ValueError(f"q = {q:.4g} <= 1: the population mean spend p*v/(q-1) is infinite")
        data = _check_spend(frequency, monetary_value, fitting=False)
        x, m = data["frequency"], data["monetary_value"]
        m = np.where(x > 0, m, 0.0)
        value = p * (v + x * m) / (p * x + q - 1.0)
        return data.wrap(value, "expected_average_value")

    def customer_lifetime_value(self, bgnbd: BGNBD, frequency, recency, T, monetary_value, *,
                                horizon: float, discount_rate: float = 0.0,
                                period: float | None = None):
        """Expected spend over the next ``horizon``, optionally discounted.

        Expected purchases in the horizon (BG/NBD, conditional on the history)
        times the expected spend per purchase (this model). With
        ``discount_rate > 0`` the horizon is cut into periods of length
        ``period`` and the purchases expected in period ``k`` (k = 1, 2, ...)
        are discounted by ``(1 + discount_rate) ** -k`` (the last period may be
        shorter).

        Parameters
        ----------
        bgnbd : BGNBD
            A fitted BG/NBD model.
        frequency, recency, T : array-like
            As in :meth:`BGNBD.fit`, in the BG/NBD model's time unit.
        monetary_value : array-like
            Average value of each customer's repeat purchases (any value where frequency is 0).
        horizon : float
            Length of the future window, in the BG/NBD model's time unit.
        discount_rate : float, default 0.0
            Discount rate per ``period`` (e.g. a monthly rate); 0 means undiscounted.
        period : float, optional
            Length of one discounting period in the model's time unit (e.g. 30.4 for
            a month when times are in days, 4.345 when in weeks). Required when
            ``discount_rate > 0``.

        Returns
        -------
        pandas.Series, numpy.ndarray or float
            Expected (discounted) spend per customer, in currency units.
        """
        if not isinstance(bgnbd, BGNBD):
            raise TypeError("bgnbd: pass a fitted BGNBD model")
        if not (np.isfinite(horizon) and horizon >= 0):
            raise ValueError(f"horizon: must be a finite number >= 0, got {horizon!r}")
        if not (np.isfinite(discount_rate) and discount_rate >= 0):
            raise ValueError(f"discount_rate: must be >= 0, got {discount_rate!r}")
        data = _check_rfm(frequency, recency, T, monetary_value=monetary_value)
        spend = self.conditional_expected_average_profit(data["frequency"],
                                                         data["monetary_value"])
        x, tx, age = data["frequency"], data["recency"], data["T"]
        if discount_rate == 0:
            count = np.asarray(bgnbd.conditional_expected_transactions(horizon, x, tx, age))
        else:
            if period is None or not (np.isfinite(period) and period > 0):
                raise ValueError("period: give the length of one discounting period in the "
                                 "model's time unit when discount_rate > 0")
            n_full = int(math.floor(horizon / period + 1e-9))
            ends = period * np.arange(1, n_full + 1, dtype="float64")
            if horizon - period * n_full > 1e-9 * period:
                ends = np.append(ends, horizon)  # a last, shorter period
            count = np.zeros(data.n)
            previous = np.zeros(data.n)
            for k, end in enumerate(ends, start=1):
                cumulative = np.asarray(bgnbd.conditional_expected_transactions(end, x, tx, age))
                count += (cumulative - previous) / (1.0 + discount_rate) ** k
                previous = cumulative
        return data.wrap(np.asarray(count) * np.asarray(spend), "clv")


def simulate_gamma_gamma(frequency, p: float, q: float, v: float, random_state):
    """Simulate each customer's average repeat-purchase value from the Gamma-Gamma model.

    Each customer draws ``nu ~ Gamma(q, rate=v)``; the mean of their ``x``
    transaction values, each ``Gamma(p, rate=nu)``, is ``Gamma(p x, rate=nu x)``.

    Parameters
    ----------
    frequency : array-like of int
        Repeat purchases ``x`` of each customer.
    p, q, v : float
        Model parameters.
    random_state : int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    pandas.Series or numpy.ndarray
        Average value per customer; 0 where ``frequency`` is 0.
    """
    for name, value in {"p": p, "q": q, "v": v}.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name}: Gamma-Gamma parameters must be finite and > 0, got {value!r}")
    data = _Inputs(frequency=frequency)
    data.finite("frequency")
    data.non_negative("frequency")
    x = data["frequency"]
    data.fail("frequency", x != np.round(x), "are not whole numbers",
              "frequency is the count of repeat purchases")
    rng = _seeded(random_state)
    nu = rng.gamma(q, 1.0 / v, size=data.n)
    pos = x > 0
    m = np.zeros(data.n)
    m[pos] = rng.gamma(p * x[pos], 1.0 / (nu[pos] * x[pos]))
    return data.wrap(m, "monetary_value")
