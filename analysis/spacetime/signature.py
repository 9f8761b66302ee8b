"""The entropy-production form of coarse coordinates and its signature.

The entropy-production form of an ensemble following ``dX = A(X) dt + sqrt(2 D) dW`` with
density ``p`` is ``dS/dt = E[div A] + E[s^T D s]`` (``s = grad ln p``), the trace of

    C = sym(E[grad A]) + sym(D E[s s^T]),

whose first term is the destruction (or production) by the drift of learning and whose second
term is the stochastic production (positive semi-definite in expectation). A time-like direction
is one along which ``C`` is negative (net destruction by learning); the target signature is
``(-, +, ..., +)``. Rates are per unit of time (learning steps times ``dt``), in nats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from analysis.geometry import symmetrize
from analysis.score import fit_score
from analysis.spacetime.coordinates import coordinate_array
from analysis.validation import check_positive, check_window

__all__ = [
    "ProductionTensor",
    "SignatureTest",
    "entropy_production_tensor",
    "gaussian_scores",
    "score_fitter",
    "signature_from_intervals",
    "signature_test",
    "tensor_signature",
]


def _drift_features(x: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Regression features of points x (m, d) and the mean of their x-derivatives (p, d)."""
    m, d = x.shape
    feats = [np.ones((m, 1)), x]
    dmean = [np.zeros((1, d)), np.eye(d)]
    if order == 2:
        iu, ju = np.triu_indices(d)
        feats.append(x[:, iu] * x[:, ju])
        mean = x.mean(axis=0)
        dq = np.zeros((len(iu), d))
        dq[np.arange(len(iu)), iu] += mean[ju]
        dq[np.arange(len(iu)), ju] += mean[iu]
        dmean.append(dq)
    return np.hstack(feats), np.vstack(dmean)


def _drift_order(drift: str) -> int:
    orders = {"linear": 1, "quadratic": 2}
    if drift not in orders:
        raise ValueError(f"drift: {drift!r}; expected 'linear' or 'quadratic'")
    return orders[drift]


def score_fitter(score: str | Callable) -> Callable[[np.ndarray], np.ndarray] | None:
    """The score estimator named by a ``score`` argument: ``samples (n, d) -> scores (n, d)``.

    Parameters
    ----------
    score : "gaussian", a method name of :func:`analysis.score.fit_score`, or a callable
        A callable is returned as it is; a method name gives a function that fits the score of
        the samples by that method and evaluates it at the samples themselves.

    Returns
    -------
    callable or None
        ``None`` for ``"gaussian"``: callers then use the vectorised :func:`gaussian_scores`.

    Examples
    --------
    >>> score_fitter("gaussian") is None
    True
    >>> import numpy as np
    >>> fit = score_fitter("kde")
    >>> fit(np.random.default_rng(0).normal(size=(200, 2))).shape
    (200, 2)
    """
    if callable(score):
        return score
    if score == "gaussian":
        return None
    if not isinstance(score, str):
        raise ValueError(f"score: {score!r}; expected 'gaussian', a fit_score method or a callable")

    def fit(samples: np.ndarray) -> np.ndarray:
        return np.asarray(fit_score(samples, method=score).score(samples), dtype=float)

    return fit


def gaussian_scores(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian scores of each time slice of an ensemble and the unbiased ``E[s s^T]``.

    The score of slice ``t`` is ``s = -S_t^{-1} (x - mean_t)`` with ``S_t`` the sample
    covariance; ``E[s s^T]`` is estimated by ``S_t^{-1} (n - d - 2) / (n - 1)``, unbiased for
    Gaussian samples.

    Parameters
    ----------
    xs : ndarray, shape (nt, n, d)
        ``n > d + 2`` points in each of ``nt`` slices.

    Returns
    -------
    scores : ndarray, shape (nt, n, d)
    moments : ndarray, shape (nt, d, d)

    Examples
    --------
    >>> import numpy as np
    >>> xs = np.random.default_rng(0).normal(0.0, 2.0, size=(1, 20000, 2))
    >>> s, m = gaussian_scores(xs)
    >>> s.shape, np.round(m[0], 1).tolist()  # E[s s^T] = 1 / variance = 1/4
    ((1, 20000, 2), [[0.2, 0.0], [0.0, 0.2]])
    """
    _, n, d = xs.shape
    if n <= d + 2:
        raise ValueError(f"X: {n} replicas; the Gaussian score needs more than d + 2 = {d + 2}")
    xc = xs - xs.mean(axis=1, keepdims=True)
    cov = np.einsum("tri,trj->tij", xc, xc) / (n - 1)
    try:
        prec = np.linalg.inv(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "X: the ensemble covariance is singular at some step; coordinates are degenerate"
        ) from exc
    s = -np.einsum("tij,trj->tri", prec, xc)
    return s, prec * (n - d - 2) / (n - 1)


def _score_moment(xs: np.ndarray, fitter: Callable | None) -> np.ndarray:
    if fitter is None:
        return gaussian_scores(xs)[1].mean(axis=0)
    n = xs.shape[1]
    moments = [(s := fitter(xt)).T @ s / n for xt in xs]
    return np.mean(moments, axis=0)


def _replica_stats(X: np.ndarray, dt: float, t0: int, t1: int, order: int) -> dict[str, np.ndarray]:
    """Per-replica sufficient statistics of the drift regression and of the ensemble moments."""
    xs = X[t0:t1]
    nt, R, d = xs.shape
    y = (X[t0 + 1 : t1 + 1] - xs) / dt
    feats, _ = _drift_features(xs.reshape(-1, d), order)
    p = feats.shape[1]
    if nt * R <= 2 * p:
        raise ValueError(
            f"X: {nt * R} increments in the window; the {('linear', 'quadratic')[order - 1]} "
            f"drift needs more than {2 * p}"
        )
    f = feats.reshape(nt, R, p)
    return {
        "nt": np.array(nt),
        "ftf": np.einsum("trp,trq->rpq", f, f).reshape(R, -1),
        "fty": np.einsum("trp,tri->rpi", f, y).reshape(R, -1),
        "yty": np.einsum("tri,trj->rij", y, y).reshape(R, -1),
        "x": np.moveaxis(xs, 1, 0).reshape(R, -1),
        "xx": np.moveaxis(np.einsum("tri,trj->trij", xs, xs), 1, 0).reshape(R, -1),
    }


def _production_batch(
    st: dict[str, np.ndarray], w: np.ndarray, d: int, dt: float, order: int, gaussian: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """E[grad A] (J[b, i, l] = E[d A_i / d x_l]), D and (Gaussian) E[s s^T] for replica
    weights w (B, R): row b is the ensemble in which replica r appears w[b, r] times."""
    B = len(w)
    nt = int(st["nt"])
    nrep = w.sum(axis=1)
    n = nrep * nt
    a = (w @ st["ftf"]).reshape(B, -1, int(np.sqrt(st["ftf"].shape[1])))
    p = a.shape[1]
    fy = (w @ st["fty"]).reshape(B, p, d)
    yy = (w @ st["yty"]).reshape(B, d, d)
    coef = np.linalg.solve(a, fy)
    rss = yy - np.einsum("bpi,bpj->bij", fy, coef)
    diff = symmetrize(rss / (n - p)[:, None, None]) * dt / 2
    xt = (w @ st["x"]).reshape(B, nt, d) / nrep[:, None, None]
    dmean = np.zeros((B, p, d))
    dmean[:, 1 : d + 1] = np.eye(d)
    if order == 2:
        mean = xt.mean(axis=1)
        iu, ju = np.triu_indices(d)
        rows = np.arange(len(iu)) + d + 1
        dmean[:, rows, iu] += mean[:, ju]
        dmean[:, rows, ju] += mean[:, iu]
    jac = np.einsum("bpi,bpl->bil", coef, dmean)
    if not gaussian:
        return jac, diff, None
    if np.any(nrep <= d + 2):
        raise ValueError(f"X: {int(nrep.min())} replicas; the Gaussian score needs more than d + 2")
    xxt = (w @ st["xx"]).reshape(B, nt, d, d) / nrep[:, None, None, None]
    r = nrep[:, None, None, None]
    cov = (xxt - xt[..., :, None] * xt[..., None, :]) * r / (r - 1)
    try:
        prec = np.linalg.inv(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError("X: the ensemble covariance is singular at some step") from exc
    mom = (prec * (r - d - 2) / (r - 1)).mean(axis=1)
    return jac, diff, mom


def _reference_matrix(reference: str | np.ndarray, diff: np.ndarray) -> np.ndarray:
    d = diff.shape[0]
    if isinstance(reference, str):
        if reference == "identity":
            return np.eye(d)
        if reference == "diffusion":
            return diff
        raise ValueError(
            f"reference: {reference!r}; expected 'identity', 'diffusion' or a (d, d) array"
        )
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (d, d):
        raise ValueError(f"reference: shape {ref.shape}; expected ({d}, {d})")
    return ref


def _generalized_eigh(c: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        return linalg.eigh(symmetrize(c), symmetrize(ref))
    except linalg.LinAlgError as exc:
        raise ValueError(
            "reference: not positive definite (no measured diffusion?); use 'identity'"
        ) from exc


def tensor_signature(
    C: np.ndarray, reference: np.ndarray | None = None, tol: float = 1e-8
) -> tuple[int, int, int]:
    """Inertia ``(n_negative, n_zero, n_positive)`` of a symmetric form.

    The eigenvalues are those of ``C v = lambda P v`` with ``P = reference`` (identity by
    default); by Sylvester's law the counts do not depend on ``P`` or on the coordinates. An
    eigenvalue is zero when ``|lambda| <= tol * max |lambda|``. Lorentzian means ``(1, 0, d-1)``.

    Examples
    --------
    >>> import numpy as np
    >>> tensor_signature(np.diag([-2.0, 1.0, 3.0, 0.5]))
    (1, 0, 3)
    >>> tensor_signature(np.diag([1.0, 0.0]))
    (0, 1, 1)
    """
    c = np.asarray(C, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 1:
        raise ValueError(f"C: shape {c.shape}; expected a square (d, d) matrix")
    if not np.all(np.isfinite(c)):
        raise ValueError("C: NaN/Inf entries; expected a finite matrix")
    if not np.allclose(c, c.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(c).max())):
        raise ValueError("C: not symmetric; symmetrise it first ((C + C.T) / 2)")
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol: {tol!r}; expected a number >= 0")
    ref = np.eye(len(c)) if reference is None else _reference_matrix(reference, c)
    lam = _generalized_eigh(c, ref)[0]
    scale = np.abs(lam).max()
    zero = np.abs(lam) <= tol * scale if scale > 0 else np.ones(lam.shape, bool)
    return int(np.sum((lam < 0) & ~zero)), int(np.sum(zero)), int(np.sum((lam > 0) & ~zero))


def signature_from_intervals(ci: np.ndarray) -> tuple[int, int, int]:
    """Inertia from eigenvalue confidence intervals: below 0, containing 0, above 0.

    Examples
    --------
    >>> import numpy as np
    >>> signature_from_intervals(np.array([[-2.0, -1.0], [-0.1, 0.2], [0.5, 1.0]]))
    (1, 1, 1)
    """
    ci = np.asarray(ci, dtype=float)
    if ci.ndim != 2 or ci.shape[1] != 2:
        raise ValueError(f"ci: shape {ci.shape}; expected (d, 2) intervals")
    neg = int(np.sum(ci[:, 1] < 0))
    pos = int(np.sum(ci[:, 0] > 0))
    return neg, len(ci) - neg - pos, pos


@dataclass(frozen=True)
class ProductionTensor:
    """Entropy-production form ``C = learning + stochastic`` of coarse coordinates.

    Attributes
    ----------
    C, learning, stochastic : ndarray, shape (d, d)
        The form and its two parts ``sym(E[grad A])`` and ``sym(D E[s s^T])`` (per unit time).
    drift_jacobian, diffusion, score_moment : ndarray, shape (d, d)
        ``E[grad A]`` (``[i, l] = E[d A_i / d x_l]``), ``D`` and ``E[s s^T]``.
    entropy_production, learning_rate, stochastic_rate : float
        Traces of C and of its parts (dS/dt and its budget, nats per unit time).
    entropy_production_ci : ndarray, shape (2,)
        Basic bootstrap interval of the trace (NaN without bootstrap).
    eigenvalues : ndarray, shape (d,)
        Ascending eigenvalues of ``C v = lambda P v`` (``P`` = the reference).
    eigenvalue_ci : ndarray, shape (d, 2)
        Basic (pivotal) bootstrap intervals ``[2 lambda - q_hi, 2 lambda - q_lo]`` of the sorted
        eigenvalues, which correct the spreading bias of sorted eigenvalues of a noisy matrix
        (NaN without bootstrap).
    eigenvectors : ndarray, shape (d, d)
        Columns are the eigenvectors; column 0 is the most negative (time-like) direction.
    signature : tuple of int
        ``(n_negative, n_zero, n_positive)``; "zero" means the interval contains 0 (or, without
        bootstrap, ``|lambda| <= 1e-8 max |lambda|``).
    timelike_stability : float
        Median ``|cos|`` between the bootstrap and the point eigenvector of the lowest
        eigenvalue (> 0.9 means a stable time direction; NaN without bootstrap).
    reference : str
        The positive-definite reference of the eigenproblem.
    n_bootstrap : int
    level : float
    eigenvalue_samples : ndarray, shape (n_bootstrap, d)
        The sorted eigenvalues of every replica resample (empty without bootstrap); resample
        ``b`` draws the replicas ``default_rng(seed).integers(0, R, R)`` in turn, so two
        ensembles of the same size analysed with the same seed are resampled jointly.
    """

    C: np.ndarray
    learning: np.ndarray
    stochastic: np.ndarray
    drift_jacobian: np.ndarray
    diffusion: np.ndarray
    score_moment: np.ndarray
    entropy_production: float
    learning_rate: float
    stochastic_rate: float
    entropy_production_ci: np.ndarray
    eigenvalues: np.ndarray
    eigenvalue_ci: np.ndarray
    eigenvectors: np.ndarray
    signature: tuple[int, int, int]
    timelike_stability: float
    reference: str
    n_bootstrap: int
    level: float
    eigenvalue_samples: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)

    @property
    def lorentzian(self) -> bool:
        """True when the signature is ``(1, 0, d-1)``."""
        d = len(self.eigenvalues)
        return self.signature == (1, 0, d - 1)


def entropy_production_tensor(
    X: pd.DataFrame | np.ndarray,
    dt: float = 1.0,
    *,
    window: tuple[int, int] | None = None,
    drift: str = "linear",
    score: str | Callable[[np.ndarray], np.ndarray] = "gaussian",
    reference: str | np.ndarray = "diffusion",
    bootstrap: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> ProductionTensor:
    """Entropy-production form ``C = sym(E[grad A]) + sym(D E[s s^T])`` of an ensemble.

    The drift ``A`` is the least-squares regression of the increments ``(X_{t+1} - X_t) / dt`` on
    ``(1, X_t)`` (``drift="linear"``) or on a full quadratic (``"quadratic"``), pooled over the
    window and the replicas; ``D`` is the residual covariance times ``dt / 2``; the score ``s``
    is that of the ensemble density at each step of the window (``E[s s^T]`` averaged over the
    steps). The Euler regression is biased by ``O(|grad A| dt)``; keep ``|grad A| dt`` small.

    Parameters
    ----------
    X : ndarray (T, R, d) or trajectory table
        Coarse coordinates (see :func:`coarse_coordinates`).
    dt : float
        Time between recorded steps.
    window : (t0, t1), optional
        Use the ensembles at steps ``t0 .. t1-1`` and their increments; default all.
    drift : {"linear", "quadratic"}
    score : "gaussian", a method name of ``analysis.score.fit_score`` or a callable
        ``samples (n, d) -> scores (n, d)``. ``"gaussian"`` uses ``E[s s^T] = S^{-1}`` with the
        unbiased inverse-covariance factor ``(n - d - 2) / (n - 1)``.
    reference : {"diffusion", "identity"} or ndarray
        Positive-definite ``P`` of the eigenproblem ``C v = lambda P v``.
    bootstrap : int
        Resamples of the replicas (0 disables the intervals). With the Gaussian score all
        resamples are evaluated at once from per-replica sufficient statistics; any other
        score is refitted for every resample and step (slow: ``bootstrap * steps`` fits).
    level : float
        Confidence level of the intervals.
    seed : int

    Returns
    -------
    ProductionTensor

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.empty((21, 500, 2)); x[0] = rng.normal(size=(500, 2))
    >>> for t in range(20):  # contract axis 0 (destroying), let axis 1 spread (producing)
    ...     x[t + 1] = x[t] + 0.01 * np.array([-3.0, -0.1]) * x[t] + 0.1 * rng.normal(size=(500, 2))
    >>> pt = entropy_production_tensor(x, dt=0.01, bootstrap=50)
    >>> pt.signature, pt.lorentzian
    ((1, 0, 1), True)
    """
    X = coordinate_array(X)
    dt = check_positive("dt", dt)
    T, R, d = X.shape
    t0, t1 = check_window(window, T)
    order = _drift_order(drift)
    fitter = score_fitter(score)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap: {bootstrap!r}; expected an integer >= 0")
    if 0 < bootstrap < 20:
        raise ValueError(f"bootstrap: {bootstrap}; expected 0 or at least 20 resamples")
    if not 0 < level < 1:
        raise ValueError(f"level: {level!r}; expected a number in (0, 1)")
    ref_name = reference if isinstance(reference, str) else "given"

    stats = _replica_stats(X, dt, t0, t1, order)
    gaussian = fitter is None

    def evaluate(w: np.ndarray, idx: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        jac, diff, mom = _production_batch(stats, w, d, dt, order, gaussian)
        if mom is None:
            mom = np.stack([_score_moment(X[t0:t1, i], fitter) for i in idx])
        learn, stoch = symmetrize(jac), symmetrize(diff @ mom)
        c = learn + stoch
        ref = [_reference_matrix(reference, db) for db in diff]
        eig = [_generalized_eigh(cb, rb) for cb, rb in zip(c, ref, strict=True)]
        lam = np.stack([e[0] for e in eig])
        vec = np.stack([e[1] for e in eig])
        return jac, diff, mom, learn, stoch, c, lam, vec

    out = evaluate(np.ones((1, R)), [np.arange(R)])
    jac, diff, mom, learn, stoch, c, lam, vec = (a[0] for a in out)
    lam_ci = np.full((d, 2), np.nan)
    ep_ci = np.full(2, np.nan)
    stability = np.nan
    lams = np.empty((0, d))
    if bootstrap:
        rng = np.random.default_rng(seed)
        idx = [rng.integers(0, R, R) for _ in range(bootstrap)]
        w = np.stack([np.bincount(i, minlength=R) for i in idx]).astype(float)
        bout = evaluate(w, idx)
        lams, traces, vecs = bout[6], np.trace(bout[5], axis1=1, axis2=2), bout[7][:, :, 0]
        cosines = np.abs(vecs @ vec[:, 0]) / (
            np.linalg.norm(vecs, axis=1) * np.linalg.norm(vec[:, 0])
        )
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        lo, hi = np.percentile(lams, q, axis=0)
        # basic (pivotal) interval: corrects the spread bias of sorted eigenvalues
        lam_ci = np.stack([2 * lam - hi, 2 * lam - lo], axis=1)
        tlo, thi = np.percentile(traces, q)
        ep_ci = np.array([2 * np.trace(c) - thi, 2 * np.trace(c) - tlo])
        stability = float(np.median(cosines))
        sig = signature_from_intervals(lam_ci)
    else:
        scale = np.abs(lam).max()
        zero = np.abs(lam) <= 1e-8 * scale
        sig = (int(np.sum((lam < 0) & ~zero)), int(np.sum(zero)), int(np.sum((lam > 0) & ~zero)))
    return ProductionTensor(
        C=c,
        learning=learn,
        stochastic=stoch,
        drift_jacobian=jac,
        diffusion=diff,
        score_moment=mom,
        entropy_production=float(np.trace(c)),
        learning_rate=float(np.trace(learn)),
        stochastic_rate=float(np.trace(stoch)),
        entropy_production_ci=ep_ci,
        eigenvalues=lam,
        eigenvalue_ci=lam_ci,
        eigenvectors=vec,
        signature=sig,
        timelike_stability=stability,
        reference=ref_name,
        n_bootstrap=int(bootstrap),
        level=float(level),
        eigenvalue_samples=np.asarray(lams, dtype=float),
    )


@dataclass(frozen=True)
class SignatureTest:
    """Signature of the entropy-production form with learning on versus off.

    Attributes
    ----------
    on, off : ProductionTensor
    lorentzian_on : bool
        Learning on gives ``(1, 0, D)``.
    negative_off : int
        Number of significantly negative eigenvalues with learning off (the claim needs 0).
    supports_claim : bool
        ``lorentzian_on and negative_off == 0``.
    summary : str
    """

    on: ProductionTensor
    off: ProductionTensor
    lorentzian_on: bool
    negative_off: int
    supports_claim: bool
    summary: str


def signature_test(
    X_on: pd.DataFrame | np.ndarray,
    X_off: pd.DataFrame | np.ndarray,
    dt: float = 1.0,
    **kwargs: Any,
) -> SignatureTest:
    """The report's Lorentz-signature statistic: learning on versus learning off.

    docs/physics.md#emergent-space-time predicts one negative eigenvalue of C with learning on and
    none with learning off (``SystemConfig(learning=False)``, or the learning run with its
    increments shuffled, :func:`analysis.controls.increment_shuffled`). Both ensembles go through
    :func:`entropy_production_tensor` with the same keyword arguments.

    Caveat (measured in the tests): a *stationary* ensemble with probability currents (a
    non-normal drift, e.g. data-driven neuron states with learning off) has a traceless but
    non-zero C, hence an indefinite one: ``dX = -K X dt + sqrt(2) dW`` with
    ``K = [[1, 2], [0, 1]]`` gives eigenvalues ``-0.71, +0.71``, i.e. a "Lorentzian" signature
    without any learning. Read the signature together with the entropy-production traces
    (``on.entropy_production``, ``off.entropy_production`` and their intervals), which are
    reported in ``summary``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> def run(k):
    ...     x = np.empty((21, 500, 2)); x[0] = rng.normal(size=(500, 2))
    ...     for t in range(20):
    ...         x[t + 1] = x[t] - 0.01 * np.array(k) * x[t] + 0.1 * rng.normal(size=(500, 2))
    ...     return x
    >>> res = signature_test(run([3.0, 0.1]), run([0.0, 0.0]), dt=0.01, bootstrap=50)
    >>> res.supports_claim
    True
    """
    on = entropy_production_tensor(X_on, dt, **kwargs)
    off = entropy_production_tensor(X_off, dt, **kwargs)
    lor = on.lorentzian
    neg = off.signature[0]
    summary = (
        f"learning on: signature {on.signature}, eigenvalues {np.round(on.eigenvalues, 4)}, "
        f"dS/dt {on.entropy_production:.4g} CI {np.round(on.entropy_production_ci, 4)}; "
        f"learning off: signature {off.signature}, eigenvalues {np.round(off.eigenvalues, 4)}, "
        f"dS/dt {off.entropy_production:.4g} CI {np.round(off.entropy_production_ci, 4)}"
    )
    return SignatureTest(on, off, lor, neg, bool(lor and neg == 0), summary)
