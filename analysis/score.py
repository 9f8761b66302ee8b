"""Score estimators: the gradient of the log-density, and its divergence, from samples.

The score ``s(x) = grad log p(x)`` and its divergence ``lap log p(x)`` are what the weak-form
Madelung fit needs (the quantum potential is ``Q ~ 1/2 div s + 1/4 |s|^2``); they carry no
units beyond those of the coordinates (score in 1/coordinate, Laplacian in 1/coordinate^2).

Methods (docs/methods.md#score-estimation):

``"sm2"``, ``"sm3"``, ``"sm4"``
    Hyvärinen score matching with a polynomial log-density of that total degree. The samples
    are whitened first (``z = (x - mean) @ A`` with ``A`` the inverse Cholesky factor of the
    covariance); the objective ``E[|grad f|^2 / 2 + lap f]`` is quadratic in the polynomial
    coefficients, so the fit is one small ridge-regularised linear solve. Cheap, smooth and
    reliable in the bulk at a few thousand samples in 2-D; ``sm2`` is exactly a Gaussian.
``"gaussian"``
    The score of the Gaussian with the sample mean and covariance.
``"kde"``
    Gaussian kernel density with kernel covariance ``(bandwidth * n^(-1/(d+4)))^2 * Cov``
    (``bandwidth`` is the factor times Scott's rule, default 2.0: at or below Scott's bandwidth
    the 2-D score is badly biased at a few thousand samples). Evaluated leave-one-out at the
    sample points (a sample at zero distance from the evaluation point is left out), in chunks
    so that memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.polynomial import (
    monomial_exponents,
    monomial_gradients,
    monomial_powers,
    monomial_values,
)
from analysis.validation import check_points

__all__ = ["METHODS", "ScoreModel", "fit_score", "weighted_scores"]

METHODS = ("sm2", "sm3", "sm4", "gaussian", "kde")
_CHUNK_PAIRS = 4_000_000  # evaluation points x samples per KDE chunk


@dataclass(frozen=True)
class ScoreModel:
    """A fitted score estimate; call :meth:`score` and :meth:`laplacian` at any points.

    Attributes
    ----------
    method : str
        One of ``"sm2"``, ``"sm3"``, ``"sm4"``, ``"gaussian"``, ``"kde"``.
    mean : ndarray, shape (d,)
        Sample mean used for whitening.
    whiten : ndarray, shape (d, d)
        ``A`` with ``z = (x - mean) @ A`` of unit covariance.
    coef : ndarray, shape (P,)
        Polynomial log-density coefficients in whitened coordinates (score matching only).
    exponents : ndarray, shape (P, d)
        Monomial exponents matching ``coef`` (score matching only).
    samples_z : ndarray, shape (n, d)
        Whitened samples (KDE only).
    bandwidth : float
        KDE bandwidth in whitened units (``factor * n^(-1/(d+4))``); NaN otherwise.
    n_samples : int
        Number of samples fitted.
    """

    method: str
    mean: np.ndarray
    whiten: np.ndarray
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    exponents: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    samples_z: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    bandwidth: float = float("nan")
    n_samples: int = 0

    @property
    def dim(self) -> int:
        """Number of coordinates d."""
        return int(self.mean.shape[0])

    def score(self, points: np.ndarray) -> np.ndarray:
        """Return ``grad log p`` at ``points`` of shape (m, d) as an (m, d) array.

        Examples
        --------
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2000, 1))
        >>> m = fit_score(x, "gaussian")
        >>> bool(abs(m.score(np.array([[1.0]]))[0, 0] + 1.0) < 0.1)
        True
        """
        return self._evaluate(points)[0]

    def laplacian(self, points: np.ndarray) -> np.ndarray:
        """Return ``lap log p`` (the divergence of the score) at ``points``, shape (m,).

        Examples
        --------
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2000, 2))
        >>> m = fit_score(x, "sm4")
        >>> bool(abs(m.laplacian(np.zeros((1, 2)))[0] + 2.0) < 0.3)
        True
        """
        return self._evaluate(points)[1]

    def score_and_laplacian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(score, laplacian)`` at ``points`` in one pass.

        Examples
        --------
        >>> import numpy as np
        >>> x = np.random.default_rng(1).normal(size=(500, 1))
        >>> s, lap = fit_score(x, "kde").score_and_laplacian(x[:3])
        >>> s.shape, lap.shape
        ((3, 1), (3,))
        """
        return self._evaluate(points)

    def _evaluate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = check_points(points, "points")
        if x.shape[1] != self.dim:
            raise ValueError(
                f"points: {x.shape[1]} coordinate(s); the model was fitted in d={self.dim}"
            )
        z = (x - self.mean) @ self.whiten
        metric = self.whiten.T @ self.whiten  # lap_x = sum_kl metric_kl H_z[kl]
        if self.method == "gaussian":
            g = -z
            lap = np.full(len(z), -np.trace(metric))
            return g @ self.whiten.T, lap
        if self.method == "kde":
            return self._kde(z, metric)
        g, hess = _poly_grad_hess(z, self.exponents, self.coef)
        lap = np.einsum("mkl,kl->m", hess, metric)
        return g @ self.whiten.T, lap

    def _kde(self, z: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zs = self.samples_z
        h2 = self.bandwidth**2
        n = len(zs)
        zs_sq = np.einsum("nd,nd->n", zs, zs)
        b = zs @ self.whiten.T  # samples mapped by A^T: u A^T = z A^T - Z A^T
        b_sq = np.einsum("nd,nd->n", b, b)
        score = np.empty_like(z)
        lap = np.empty(len(z))
        tr_m = float(np.trace(metric))
        step = max(1, _CHUNK_PAIRS // max(n, 1))
        for lo in range(0, len(z), step):
            zc = z[lo : lo + step]
            d2 = np.einsum("md,md->m", zc, zc)[:, None] - 2.0 * zc @ zs.T + zs_sq[None, :]
            d2 = np.maximum(d2, 0.0)
            self_pair = d2 <= 1e-18 * h2 * max(1.0, float(np.max(d2)))  # leave one out
            logw = d2
            logw *= -0.5 / h2
            logw[self_pair] = -np.inf
            top = np.max(logw, axis=1, keepdims=True)
            top[~np.isfinite(top)] = 0.0
            logw -= top
            np.maximum(logw, -60.0, out=logw)  # no denormals; e^-60 is negligible
            w = np.exp(logw, out=logw)
            w[self_pair] = 0.0
            wsum = w.sum(axis=1)
            wsum[wsum == 0] = np.nan
            mean_z = (w @ zs) / wsum[:, None]
            mean_u = zc - mean_z  # E_w[z - Z_i]
            s_z = -mean_u / h2
            a = zc @ self.whiten.T
            # E_w[|(z - Z_i) A^T|^2] = |a|^2 - 2 a.E_w[b_i] + E_w[|b_i|^2]
            eb = (w @ b) / wsum[:, None]
            eb2 = (w @ b_sq) / wsum
            quad = np.einsum("md,md->m", a, a) - 2.0 * np.einsum("md,md->m", a, eb) + eb2
            s_x = s_z @ self.whiten.T
            score[lo : lo + step] = s_x
            lap[lo : lo + step] = quad / h2**2 - tr_m / h2 - np.einsum("md,md->m", s_x, s_x)
        return score, lap


def fit_score(
    samples: np.ndarray,
    method: str = "sm4",
    bandwidth: float | None = None,
    *,
    ridge: float = 1e-6,
) -> ScoreModel:
    """Fit a score model ``grad log p`` to samples of shape (n, d).

    Parameters
    ----------
    samples : ndarray, shape (n, d) or (n,)
        Independent samples of the density (rows), d = 1..4 for the polynomial methods.
    method : {"sm4", "sm3", "sm2", "gaussian", "kde"}
        Estimator (see the module docstring).
    bandwidth : float, optional
        KDE only: the kernel width as a factor times Scott's rule; default 2.0.
    ridge : float
        Score matching only: ridge added to the normal matrix, relative to its mean diagonal.

    Returns
    -------
    ScoreModel

    Raises
    ------
    ValueError
        Unknown method, NaN/Inf samples, too few samples for the model, a non-positive
        bandwidth, or a singular sample covariance.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(2.0, 0.5, size=(4000, 1))
    >>> model = fit_score(x, "sm4")
    >>> round(float(model.score(np.array([[2.5]]))[0, 0]), 1)  # exact -(2.5-2)/0.25 = -2
    -2.0
    """
    if method not in METHODS:
        raise ValueError(f"method: {method!r}; expected one of {', '.join(METHODS)}")
    x = check_points(samples, "samples")
    n, d = x.shape
    if bandwidth is not None and method != "kde":
        raise ValueError(f"bandwidth: {bandwidth}; only the 'kde' method takes a bandwidth")
    degree = int(method[2]) if method.startswith("sm") else 2
    if method.startswith("sm") and d > 4:
        raise ValueError(f"samples: d={d} coordinates; score matching supports d = 1..4")
    exps = monomial_exponents(d, degree) if method.startswith("sm") else np.zeros((0, d), dtype=int)
    need = max(10, 3 * len(exps), 2 * d + 2)
    if n < need:
        raise ValueError(f"samples: {n} rows; method {method!r} in d={d} needs at least {need}")
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError(
            "samples: singular covariance; coordinates are constant or linearly dependent"
        ) from None
    if np.min(np.diag(chol)) <= 1e-12 * np.max(np.diag(chol)):
        raise ValueError(
            "samples: singular covariance; coordinates are constant or linearly dependent"
        )
    whiten = np.linalg.inv(chol).T
    z = (x - mean) @ whiten
    if method == "gaussian":
        return ScoreModel(method, mean, whiten, n_samples=n)
    if method == "kde":
        factor = 2.0 if bandwidth is None else float(bandwidth)
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(
                f"bandwidth: {bandwidth}; expected a positive factor times Scott's rule"
            )
        h = factor * n ** (-1.0 / (d + 4))
        return ScoreModel(method, mean, whiten, samples_z=z, bandwidth=h, n_samples=n)
    coef = _score_matching(z, exps, ridge)
    return ScoreModel(method, mean, whiten, coef=coef, exponents=exps, n_samples=n)


def _poly_features(z: np.ndarray, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients (m, P, d) and Laplacians (m, P) of the monomials at z."""
    m, d = z.shape
    pw = monomial_powers(z, int(exps.max()))
    grad = np.ascontiguousarray(np.swapaxes(monomial_gradients(z, exps), 1, 2))
    lap = np.zeros((m, len(exps)))
    for j in range(d):
        ejj = exps.copy()
        ejj[:, j] -= 2
        lap += exps[:, j] * (exps[:, j] - 1) * monomial_values(pw, ejj)
    return grad, lap


def _poly_grad_hess(
    z: np.ndarray, exps: np.ndarray, coef: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (m, d) and Hessian (m, d, d) of sum_p coef_p z^exps_p."""
    m, d = z.shape
    pw = monomial_powers(z, int(exps.max()))
    grad = np.empty((m, d))
    hess = np.empty((m, d, d))
    for j in range(d):
        ej = exps.copy()
        ej[:, j] -= 1
        grad[:, j] = monomial_values(pw, ej) @ (coef * exps[:, j])
        for k in range(j, d):
            ejk = ej.copy()
            ejk[:, k] -= 1
            c = exps[:, j] * (exps[:, k] - (1 if k == j else 0))
            hess[:, j, k] = monomial_values(pw, ejk) @ (coef * c)
            hess[:, k, j] = hess[:, j, k]
    return grad, hess


def _score_matching(z: np.ndarray, exps: np.ndarray, ridge: float) -> np.ndarray:
    """Minimise E[|grad f|^2/2 + lap f] over f = coef . monomials (whitened samples)."""
    n = len(z)
    p = len(exps)
    gram = np.zeros((p, p))
    lin = np.zeros(p)
    step = max(1, 200_000 // max(p * z.shape[1], 1))
    for lo in range(0, n, step):
        grad, lap = _poly_features(z[lo : lo + step], exps)
        gram += np.einsum("npd,nqd->pq", grad, grad)
        lin += lap.sum(axis=0)
    gram /= n
    lin /= n
    gram[np.diag_indices(p)] += ridge * np.trace(gram) / p
    return -np.linalg.solve(gram, lin)


def weighted_scores(samples: np.ndarray, method: str, weights: np.ndarray, *, ridge: float = 1e-6):
    """Score-matching fits refitted under each row of sample weights, evaluated at the samples.

    This is the bootstrap of a polynomial score-matching fit without refitting from scratch:
    the objective's normal matrix and vector are weighted sums over samples, so each weight
    row (for example multinomial bootstrap counts divided by n) gives its own fit. The
    whitening transform is held at the unweighted fit (the polynomial family is closed under
    affine maps, so this changes nothing but the ridge's reference frame).

    Parameters
    ----------
    samples : ndarray, shape (n, d)
    method : {"sm2", "sm3", "sm4"}
    weights : ndarray, shape (B, n)
        Non-negative weights per row (each row sums to 1).
    ridge : float
        As in :func:`fit_score`.

    Returns
    -------
    ndarray, shape (B, n, d)
        The score of each weighted fit at every sample.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 1))
    >>> w = np.full((1, 500), 1 / 500)
    >>> s = weighted_scores(x, "sm4", w)
    >>> bool(np.allclose(s[0], fit_score(x, "sm4").score(x)))
    True
    """
    if method not in ("sm2", "sm3", "sm4"):
        raise ValueError(f"method: {method!r}; weighted refits exist for sm2, sm3, sm4")
    base = fit_score(samples, method, ridge=ridge)
    x = check_points(samples, "samples")
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != len(x) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(
            f"weights: shape {w.shape}; expected finite non-negative (B, {len(x)}) rows"
        )
    z = (x - base.mean) @ base.whiten
    grad, lap = _poly_features(z, base.exponents)  # (n, P, d), (n, P)
    p = grad.shape[1]
    outer = np.einsum("npd,nqd->npq", grad, grad).reshape(len(x), p * p)
    gram = (w @ outer).reshape(-1, p, p) / w.sum(axis=1)[:, None, None]
    lin = (w @ lap) / w.sum(axis=1)[:, None]
    diag = np.trace(gram, axis1=1, axis2=2) / p
    gram[:, np.arange(p), np.arange(p)] += ridge * diag[:, None]
    coef = -np.linalg.solve(gram, lin[..., None])[..., 0]  # (B, P)
    s_z = np.tensordot(coef, grad, axes=([1], [1]))  # (B, n, d)
    return s_z @ base.whiten.T
