"""Grid solver for the particle-population PDE: drift, diffusion and births/deaths.

The population density ``rho(theta, t)`` of non-interacting particles in a frozen potential
``V`` (per-particle drift ``-eta grad V``, diffusion ``D(theta)``, clone/kill at rate
``alpha (V - mu)``) obeys

    d rho / dt = div(eta rho grad V) + Laplacian(D rho) - alpha (V - mu) rho            (1)

(Ito convention: ``D`` is the Kramers-Moyal coefficient ``Var(d theta | theta) / (2 dt)``, so
the diffusion term is ``Laplacian(D rho)``). With ``p_s`` the stationary state of the
Fokker-Planck part, ``p_s = D^-1 exp(-int eta V' / D)`` (1-D), the flux is
``eta V' rho + (D rho)' = D p_s (rho / p_s)'``, and ``rho = sqrt(p_s) phi`` turns (1) into the
imaginary-time Schrodinger equation ``d phi / dt = -(L - alpha mu) phi`` with the symmetric
operator

    L = -d/dx D d/dx + U,   U = (D' + eta V')^2 / (4 D) - (D'' + eta V'') / 2 + alpha V,

which for constant ``D`` is ``-D d^2 + eta^2 V'^2 / (4 D) - eta V'' / 2 + alpha V``. Its lowest
eigenvalue ``lambda_0`` fixes the chemical potential of a stationary population,
``mu* = lambda_0 / alpha = <V>_rho``; the stationary density is the Perron vector
``rho_0 = sqrt(p_s) phi_0`` (for ``eta -> 0``, ``rho_0 ~ psi_0``, not ``|psi_0|^2``); the
relaxation rates are the gaps ``lambda_n - lambda_0``. Time is in steps (one learning step per
unit of time); ``hbar = 1 / alpha`` and ``m = 1 / (2 alpha D)`` in Schrodinger units.

Discretisation
--------------
Vertex-centred finite volumes on the given nodes: each node owns a cell of width equal to its
trapezoid weight (half cells at reflecting walls, which sit on the end nodes), so every mass and
mean is a trapezoid sum. The flux through the face between neighbouring nodes ``i`` and ``j`` is
``(D_f / h) (exp(delta / 2) rho_i - exp(-delta / 2) rho_j)`` (times the transverse cell width
in 2-D/3-D) with
``delta = -ln(D_j / D_i) - eta (V_j - V_i) / D_f`` and ``D_f = (D_i + D_j) / 2``: a jump process
whose stationary state is ``p_s`` exactly when the ``delta`` sum to zero around every loop
(always in 1-D with walls, and for constant ``D``). Then the operator is symmetrised as above
and solved with a symmetric eigensolver (tridiagonal in 1-D with walls; dense for small grids;
``scipy.sparse.linalg.eigsh`` with shift-invert otherwise). Otherwise (typically a variable
``D`` on a circle or in 2-D) the steady state carries a current, the operator is not
symmetrisable, and the non-symmetric generator is solved (``scipy.linalg.eig`` or ``eigs``);
the solution is flagged ``reversible=False``. Errors are O(h^2).

Grids: a 1-D array of nodes, or a tuple of 1-D arrays (one per axis, fields indexed
``[i_x, i_y]`` as with ``numpy.meshgrid(..., indexing="ij")``). With ``boundary="periodic"``
the nodes are uniform and exclude the repeated end point (period ``n h``); densities then
integrate to 1 as ``h * sum`` (the trapezoid rule on the closed circle).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import linalg as splinalg

__all__ = [
    "HarmonicAnswer",
    "ImaginaryTimeSolution",
    "evolve",
    "generator",
    "harmonic",
    "integrate",
    "quadrature_weights",
    "solve",
]

Grid = np.ndarray | Sequence[np.ndarray]
Field = np.ndarray | Callable[..., np.ndarray] | float

# Grids up to this many nodes use dense linear algebra.
_DENSE_MAX = 1500
# |delta| per face beyond which exp(delta / 2) loses everything: the grid is too coarse.
_DELTA_MAX = 600.0


# ----------------------------------------------------------------------------------------------
# grid and field handling
# ----------------------------------------------------------------------------------------------


def _axes(x: Grid) -> tuple[np.ndarray, ...]:
    if isinstance(x, np.ndarray) and x.ndim == 1:
        axes: tuple[np.ndarray, ...] = (np.asarray(x, dtype=float),)
    elif isinstance(x, list | tuple) and 1 <= len(x) <= 3 and all(np.ndim(a) == 1 for a in x):
        axes = tuple(np.asarray(a, dtype=float) for a in x)
    else:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"x: {shape}; expected a 1-D node array or a tuple of 1-D node arrays")
    for i, ax in enumerate(axes):
        if ax.size < 3 or not np.all(np.isfinite(ax)) or np.any(np.diff(ax) <= 0):
            raise ValueError(
                f"x[{i}]: {ax.size} nodes; expected >= 3 finite, strictly increasing nodes"
            )
    return axes


def _boundaries(boundary: str | Sequence[str], ndim: int) -> tuple[str, ...]:
    b = (boundary,) * ndim if isinstance(boundary, str) else tuple(boundary)
    if len(b) != ndim or any(v not in ("reflecting", "periodic") for v in b):
        raise ValueError(
            f"boundary: {boundary!r}; expected 'reflecting', 'periodic' or one per axis"
        )
    return b


def _check_periodic_axis(ax: np.ndarray, i: int) -> float:
    h = np.diff(ax)
    if np.max(np.abs(h - h[0])) > 1e-8 * h[0]:
        raise ValueError(f"x[{i}]: periodic axis with non-uniform spacing; expected uniform nodes")
    return float(h[0])


def _field(value: Field, axes: tuple[np.ndarray, ...], name: str) -> np.ndarray:
    shape = tuple(a.size for a in axes)
    if callable(value):
        arr = np.asarray(value(*np.meshgrid(*axes, indexing="ij")), dtype=float)
    else:
        arr = np.asarray(value, dtype=float)
    arr = np.broadcast_to(arr, shape) if arr.ndim == 0 else arr
    if arr.shape != shape:
        raise ValueError(f"{name}: shape {arr.shape}; expected a scalar or shape {shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: NaN/Inf values; expected finite values on the grid")
    return np.array(arr, dtype=float)


def _diffusion(D: Any, axes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """One positive diffusion field per axis (a scalar/field is isotropic)."""
    nd = len(axes)
    if isinstance(D, list | tuple) and len(D) == nd and nd > 1:
        fields = tuple(_field(d, axes, f"D[{i}]") for i, d in enumerate(D))
    else:
        f = _field(D, axes, "D")
        fields = (f,) * nd
    for f in fields:
        if np.any(f <= 0):
            raise ValueError(f"D: minimum {float(np.min(f))!r}; expected D > 0 everywhere")
    return fields


def quadrature_weights(x: Grid, boundary: str | Sequence[str] = "reflecting") -> np.ndarray:
    """Cell volumes of the nodes: trapezoid weights (periodic axes: the uniform spacing).

    Parameters
    ----------
    x : ndarray or tuple of ndarray
        Nodes (1-D) or one node array per axis.
    boundary : str or sequence of str
        ``"reflecting"`` or ``"periodic"`` (per axis or for all).

    Returns
    -------
    ndarray
        Shape of the grid; ``sum(weights * f)`` is the trapezoid integral of ``f``.

    Examples
    --------
    >>> quadrature_weights(np.linspace(0.0, 1.0, 5)).tolist()
    [0.125, 0.25, 0.25, 0.25, 0.125]
    >>> quadrature_weights(np.arange(4) * 0.5, "periodic").tolist()
    [0.5, 0.5, 0.5, 0.5]
    """
    axes = _axes(x)
    bnd = _boundaries(boundary, len(axes))
    out = np.ones(())
    for i, (ax, b) in enumerate(zip(axes, bnd, strict=True)):
        if b == "periodic":
            w = np.full(ax.size, _check_periodic_axis(ax, i))
        else:
            h = np.diff(ax)
            w = np.empty(ax.size)
            w[0], w[-1] = h[0] / 2, h[-1] / 2
            w[1:-1] = (h[:-1] + h[1:]) / 2
        out = np.multiply.outer(out, w)
    return out


def integrate(f: np.ndarray, x: Grid, boundary: str | Sequence[str] = "reflecting") -> float:
    """Trapezoid integral of a field on the grid (closed circle on periodic axes).

    Examples
    --------
    >>> x = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    >>> round(integrate(np.cos(x) ** 2, x, "periodic"), 12) == round(np.pi, 12)
    True
    """
    w = quadrature_weights(x, boundary)
    f = np.asarray(f, dtype=float)
    if f.shape != w.shape:
        raise ValueError(f"f: shape {f.shape}; expected {w.shape}")
    return float(np.sum(w * f))


# ----------------------------------------------------------------------------------------------
# operator
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Faces:
    lo: np.ndarray  # flat index of the lower node of each face
    hi: np.ndarray  # flat index of the upper node
    c: np.ndarray  # area * D_f / h
    delta: np.ndarray  # ln p_s(hi) - ln p_s(lo) of the jump process
    inner: tuple[np.ndarray, ...]  # per axis: delta of the non-wrapping faces, grid-shaped


def _faces(
    axes: tuple[np.ndarray, ...],
    bnd: tuple[str, ...],
    V: np.ndarray,
    Ds: tuple[np.ndarray, ...],
    eta: float,
) -> _Faces:
    nd = len(axes)
    idx = np.arange(V.size).reshape(V.shape)
    widths = [quadrature_weights(ax, b) for ax, b in zip(axes, bnd, strict=True)]
    los, his, cs, deltas, inner = [], [], [], [], []
    for a, (ax, b) in enumerate(zip(axes, bnd, strict=True)):
        n = ax.size
        lo_sel = np.arange(n - 1)
        hi_sel = np.arange(1, n)
        h = np.diff(ax)
        if b == "periodic":
            lo_sel = np.append(lo_sel, n - 1)
            hi_sel = np.append(hi_sel, 0)
            h = np.append(h, h[0])
        # transverse area: product of the other axes' widths
        area = np.ones(())
        for bax in range(nd):
            area = np.multiply.outer(area, widths[bax] if bax != a else np.ones(lo_sel.size))
        hb = np.reshape(h, [-1 if k == a else 1 for k in range(nd)])
        Dl = np.take(Ds[a], lo_sel, axis=a)
        Dh = np.take(Ds[a], hi_sel, axis=a)
        Df = 0.5 * (Dl + Dh)
        dV = np.take(V, hi_sel, axis=a) - np.take(V, lo_sel, axis=a)
        delta = -np.log(Dh / Dl) - eta * dV / Df
        los.append(np.take(idx, lo_sel, axis=a).ravel())
        his.append(np.take(idx, hi_sel, axis=a).ravel())
        cs.append((area * Df / hb).ravel())
        deltas.append(delta.ravel())
        inner.append(np.take(delta, np.arange(n - 1), axis=a))
    faces = _Faces(
        np.concatenate(los),
        np.concatenate(his),
        np.concatenate(cs),
        np.concatenate(deltas),
        tuple(inner),
    )
    worst = float(np.max(np.abs(faces.delta))) if faces.delta.size else 0.0
    if worst > _DELTA_MAX:
        raise ValueError(
            f"x: eta |dV| / D reaches {worst:.3g} across one cell; the grid is too coarse "
            f"for this drift (refine it or shrink the domain)"
        )
    return faces


def _log_stationary(faces: _Faces, shape: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """``ln p_s`` integrated along axis 0, then axis 1, ..., and the largest loop mismatch."""
    nd = len(shape)
    q = np.zeros(shape)
    for a, d in enumerate(faces.inner):
        # path segment along axis a with all later axes at index 0
        seg = d[tuple(slice(None) if b <= a else slice(0, 1) for b in range(nd))]
        pad = [(0, 0)] * nd
        pad[a] = (1, 0)
        q = q + np.pad(np.cumsum(seg, axis=a), pad)
    qf = q.ravel()
    mismatch = float(np.max(np.abs(qf[faces.hi] - qf[faces.lo] - faces.delta)))
    return q, mismatch


def _symmetric(faces: _Faces, vol: np.ndarray, reaction: np.ndarray) -> sparse.csr_matrix:
    """The symmetric operator L (reversible case), CSR."""
    v = vol.ravel()
    n = v.size
    diag = reaction.ravel().copy()
    np.add.at(diag, faces.lo, faces.c * np.exp(faces.delta / 2) / v[faces.lo])
    np.add.at(diag, faces.hi, faces.c * np.exp(-faces.delta / 2) / v[faces.hi])
    off = -faces.c / np.sqrt(v[faces.lo] * v[faces.hi])
    rows = np.concatenate([np.arange(n), faces.lo, faces.hi])
    cols = np.concatenate([np.arange(n), faces.hi, faces.lo])
    vals = np.concatenate([diag, off, off])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def _generator(faces: _Faces, vol: np.ndarray, reaction: np.ndarray) -> sparse.csr_matrix:
    """The generator A acting on density values (``d rho / dt = A rho``, mu = 0), CSR."""
    v = vol.ravel()
    n = v.size
    up = faces.c * np.exp(faces.delta / 2)  # lo -> hi
    down = faces.c * np.exp(-faces.delta / 2)  # hi -> lo
    diag = -reaction.ravel().copy()
    np.add.at(diag, faces.lo, -up / v[faces.lo])
    np.add.at(diag, faces.hi, -down / v[faces.hi])
    rows = np.concatenate([np.arange(n), faces.lo, faces.hi])
    cols = np.concatenate([np.arange(n), faces.hi, faces.lo])
    vals = np.concatenate([diag, down / v[faces.lo], up / v[faces.hi]])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


@dataclass(frozen=True)
class _Problem:
    """A discretised problem: grid, potential, faces and the detailed-balance check."""

    axes: tuple[np.ndarray, ...]
    bnd: tuple[str, ...]
    V: np.ndarray
    vol: np.ndarray
    faces: _Faces
    alpha: float
    q: np.ndarray  # ln p_s along a spanning tree (meaningful when reversible)
    reversible: bool

    @property
    def shape(self) -> tuple[int, ...]:
        return self.V.shape

    def generator(self, mu: float = 0.0) -> sparse.csr_matrix:
        return _generator(self.faces, self.vol, self.alpha * (self.V - mu))

    def symmetric(self) -> sparse.csr_matrix:
        return _symmetric(self.faces, self.vol, self.alpha * self.V)

    def similarity(self) -> np.ndarray:
        """``s`` with ``rho = s * phi`` (flat): ``sqrt(p_s / vol)``, ``max p_s = 1``."""
        qf = self.q.ravel() - np.max(self.q)
        return np.exp(qf / 2) / np.sqrt(self.vol.ravel())


def _problem(
    x: Grid, V: Field, D: Any, eta: float, alpha: float, boundary: str | Sequence[str]
) -> _Problem:
    axes = _axes(x)
    bnd = _boundaries(boundary, len(axes))
    for name, val in (("eta", eta), ("alpha", alpha)):
        if not (isinstance(val, int | float | np.number) and math.isfinite(val) and val >= 0):
            raise ValueError(f"{name}: {val!r}; expected a finite number >= 0")
    Vf = _field(V, axes, "V")
    Ds = _diffusion(D, axes)
    vol = quadrature_weights(axes if len(axes) > 1 else axes[0], bnd)
    faces = _faces(axes, bnd, Vf, Ds, float(eta))
    q, mismatch = _log_stationary(faces, Vf.shape)
    reversible = mismatch <= 1e-9 * max(1.0, float(np.max(np.abs(q))))
    return _Problem(axes, bnd, Vf, vol, faces, float(alpha), q, bool(reversible))


def generator(
    x: Grid,
    V: Field,
    *,
    D: Any,
    eta: float,
    alpha: float,
    mu: float = 0.0,
    boundary: str | Sequence[str] = "reflecting",
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The discretised right-hand side of the population PDE as a sparse matrix.

    ``d rho / dt = A rho`` on the flattened grid (C order), for
    ``d rho / dt = div(eta rho grad V) + Laplacian(D rho) - alpha (V - mu) rho``.

    Parameters
    ----------
    x, V, D, eta, alpha, boundary
        As in :func:`solve`.
    mu : float
        Chemical potential (the reaction term is ``-alpha (V - mu)``).

    Returns
    -------
    A : scipy.sparse.csr_matrix, shape (n, n)
    weights : ndarray
        Cell volumes (grid shape): the mass is ``sum(weights * rho)``, conserved when
        ``alpha = 0``.

    Examples
    --------
    >>> x = np.linspace(-1.0, 1.0, 41)
    >>> A, w = generator(x, x**2 / 2, D=0.1, eta=1.0, alpha=0.0)
    >>> bool(np.allclose(w.ravel() @ A.toarray(), 0.0))   # mass conservation
    True
    """
    prob = _problem(x, V, D, eta, alpha, boundary)
    return prob.generator(mu), prob.vol


# ----------------------------------------------------------------------------------------------
# eigen solvers
# ----------------------------------------------------------------------------------------------


def _lowest_symmetric(
    L: sparse.csr_matrix, k: int, tridiagonal: bool, lower_bound: float
) -> tuple[np.ndarray, np.ndarray]:
    n = L.shape[0]
    k = min(k, n)
    if tridiagonal:
        d = L.diagonal()
        e = L.diagonal(1)
        w, v = linalg.eigh_tridiagonal(d, e, select="i", select_range=(0, k - 1))
    elif n <= _DENSE_MAX:
        w, v = linalg.eigh(L.toarray(), subset_by_index=[0, k - 1])
    else:
        scale = float(abs(L).max()) if L.nnz else 1.0
        sigma = lower_bound - 1e-9 * max(scale, 1e-300)
        w, v = splinalg.eigsh(L.tocsc(), k=k, sigma=sigma, which="LM", tol=0.0)
    order = np.argsort(w)
    return w[order], v[:, order]


def _top_general(
    A: sparse.csr_matrix, k: int, upper_bound: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues of A with the largest real parts, right vectors, left Perron vector."""
    n = A.shape[0]
    k = min(k, n - 2) if n > _DENSE_MAX else min(k, n)
    if n <= _DENSE_MAX:
        w, vl, vr = linalg.eig(A.toarray(), left=True, right=True)
        order = np.argsort(-w.real)[:k]
        return w[order], vr[:, order], vl[:, order[0]]
    scale = float(abs(A).max()) if A.nnz else 1.0
    sigma = upper_bound + 1e-9 * max(scale, 1e-300)
    w, vr = splinalg.eigs(A.tocsc(), k=k, sigma=sigma, which="LM", tol=0.0)
    order = np.argsort(-w.real)
    w, vr = w[order], vr[:, order]
    _, vl = splinalg.eigs(A.T.tocsc(), k=1, sigma=w[0].real + 1e-9 * scale, which="LM", tol=0.0)
    return w, vr, vl[:, 0]


# ----------------------------------------------------------------------------------------------
# solution
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ImaginaryTimeSolution:
    """Spectrum and stationary state of the population PDE on a grid (see :func:`solve`).

    Attributes
    ----------
    x : ndarray or tuple of ndarray
        The grid as given.
    boundary : tuple of str
        Boundary per axis.
    density : ndarray
        Stationary (Perron) density of the population, grid shape, ``integrate(density) = 1``.
    mu : float
        ``lambda_0 / alpha`` (NaN when ``alpha = 0``): the chemical potential that keeps the
        population stationary, equal to ``<V>`` under ``density``.
    lambda0 : float
        Lowest eigenvalue of ``L`` (minus the top eigenvalue of the generator).
    eigenvalues : ndarray
        ``lambda_0 <= lambda_1 <= ...`` (``n_modes`` values; complex when
        ``reversible`` is False and the spectrum is complex).
    rates : ndarray
        ``Re(lambda_n - lambda_0)`` for ``n = 1 .. n_modes - 1``, ascending: relaxation rates
        per step.
    modes : ndarray
        Right eigenvectors in density space, shape ``(n_modes, *grid)``; ``modes[0]`` is
        ``density``, the others have ``max |mode| = 1`` (sign: positive largest entry).
    left : ndarray
        Left Perron vector ``h`` (reproductive value: the long-run descendant mass of a
        particle at ``theta`` relative to the population), normalised so that
        ``integrate(h * density) = 1``; constant when ``alpha = 0``. Accurate where the
        stationary density is not negligible.
    stationary_fp : ndarray
        ``p_s``, the stationary density of the Fokker-Planck part alone (normalised; NaN when
        not reversible).
    reversible : bool
        True when the drift-diffusion part satisfies detailed balance on the grid (the
        symmetric solver was used).
    weights : ndarray
        Quadrature weights (cell volumes) of the grid.
    alpha : float
        The birth-death rate constant of the problem.
    """

    x: Any
    boundary: tuple[str, ...]
    density: np.ndarray
    mu: float
    lambda0: float
    eigenvalues: np.ndarray
    rates: np.ndarray
    modes: np.ndarray
    left: np.ndarray
    stationary_fp: np.ndarray
    reversible: bool
    weights: np.ndarray
    alpha: float
    _problem: _Problem = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def generator(self) -> sparse.csr_matrix:
        """``A`` with ``mu = 0`` (see :func:`generator`)."""
        return self._problem.generator()

    def mean(self, f: Field) -> float:
        """``integrate(f * density)`` for a field or a callable of the grid coordinates.

        Examples
        --------
        >>> x = np.linspace(-3.0, 3.0, 301)
        >>> s = solve(x, x**2 / 2, D=0.1, eta=1.0, alpha=0.0)
        >>> round(s.mean(lambda t: t**2), 4)
        0.1
        """
        axes = (self.x,) if isinstance(self.x, np.ndarray) else tuple(self.x)
        return float(np.sum(self.weights * _field(f, axes, "f") * self.density))

    def evolve(
        self,
        rho0: np.ndarray,
        t: float | Sequence[float] | np.ndarray,
        *,
        mu: float | None = None,
        normalize: bool = False,
    ) -> np.ndarray:
        """Propagate a density with the generator (see :func:`evolve`; ``mu`` default ``mu``).

        Examples
        --------
        >>> x = np.linspace(-3.0, 3.0, 121)
        >>> s = solve(x, x**2 / 2, D=0.1, eta=1.0, alpha=0.0)
        >>> rho = s.evolve(np.exp(-((x - 1) ** 2) / 0.02), [0.0, 50.0], normalize=True)
        >>> bool(np.abs(rho[-1] - s.density).max() < 1e-6)
        True
        """
        mu_eff = None if mu is None else float(mu)
        return _propagate(self._problem, rho0, t, mu_eff, normalize, self._cache)


def solve(
    x: Grid,
    V: Field,
    *,
    D: Any,
    eta: float,
    alpha: float,
    boundary: str | Sequence[str] = "reflecting",
    n_modes: int = 6,
) -> ImaginaryTimeSolution:
    """Stationary density, chemical potential and relaxation rates of the population PDE.

    The PDE is ``d rho/dt = div(eta rho grad V) + Laplacian(D rho) - alpha (V - mu) rho``
    (Ito ``D``); its symmetrised operator is ``L = -D d^2 + eta^2 V'^2/(4D) - eta V''/2 +
    alpha V`` for constant ``D`` (the module docstring gives the variable-``D`` form and the
    discretisation).

    Parameters
    ----------
    x : ndarray or tuple of ndarray
        Grid nodes: a 1-D array, or one 1-D array per axis (2-D/3-D). With
        ``boundary="periodic"`` the nodes are uniform and exclude the repeated end point.
    V : ndarray, callable or float
        Potential on the grid (grid shape), or ``V(*mesh)`` evaluated on the ``ij`` mesh.
    D : float, ndarray, callable, or a tuple of those (one per axis)
        Diffusion coefficient per step (Ito), a scalar or a field on the grid; a tuple gives a
        diagonal, per-axis diffusion in 2-D/3-D.
    eta : float
        Drift coefficient (step size): the drift is ``-eta grad V``. ``eta >= 0``.
    alpha : float
        Birth-death rate constant: particles clone/die at rate ``alpha (V - mu)``.
        ``alpha = 0`` is the fixed-number (Fokker-Planck) case.
    boundary : {"reflecting", "periodic"} or one per axis
    n_modes : int
        Number of eigenpairs (>= 4, so at least 3 rates).

    Returns
    -------
    ImaginaryTimeSolution
        ``.density`` (integrates to 1 by the trapezoid rule), ``.mu = lambda_0 / alpha``
        (NaN when ``alpha = 0``), ``.rates`` (``lambda_n - lambda_0``, ascending), eigenvectors
        and the generator for :meth:`ImaginaryTimeSolution.evolve`.

    Examples
    --------
    Frozen harmonic ``V = x^2/2``: ``Var = 2D/(eta + omega)``, ``mu = (omega - eta)/(2 alpha)``
    and rates ``n omega`` with ``omega = sqrt(eta^2 + 2 alpha D)``:

    >>> x = np.linspace(-2.0, 2.0, 801)
    >>> s = solve(x, x**2 / 2, D=1e-3, eta=0.01, alpha=0.05)
    >>> round(s.mu, 4), round(s.mean(x**2), 4), round(float(s.rates[0]), 5)
    (0.0414, 0.0828, 0.01414)
    >>> round(integrate(s.density, x), 12)
    1.0
    >>> bool(np.isnan(solve(x, x**2 / 2, D=1e-3, eta=0.01, alpha=0.0).mu))
    True
    """
    if isinstance(n_modes, bool) or not isinstance(n_modes, int | np.integer) or n_modes < 4:
        raise ValueError(f"n_modes: {n_modes!r}; expected an integer >= 4")
    prob = _problem(x, V, D, eta, alpha, boundary)
    shape = prob.shape
    n = prob.V.size
    if n_modes > n:
        raise ValueError(f"n_modes: {n_modes}; the grid has only {n} nodes")
    lower = float(alpha * np.min(prob.V))
    v = prob.vol.ravel()
    if prob.reversible:
        tridiagonal = len(prob.axes) == 1 and prob.bnd[0] == "reflecting"
        lam, phi = _lowest_symmetric(prob.symmetric(), int(n_modes), tridiagonal, lower)
        s = prob.similarity()  # rho = s * phi
        phi0 = phi[:, 0] * np.sign(np.sum(phi[:, 0]))
        rho0 = np.maximum(s * phi0, 0.0)
        right = s[:, None] * phi
        p = s**2 * v
        h = np.maximum(phi0, 0.0) / (s * v)
        stationary_fp = (p / np.sum(v * p)).reshape(shape)
        eigenvalues = lam
    else:
        ev, vr, vl = _top_general(prob.generator(), int(n_modes), -lower)
        lam = -ev
        r0 = np.real(vr[:, 0])
        rho0 = np.maximum(r0 * np.sign(np.sum(r0)), 0.0)
        right = vr
        l0 = np.real(vl)
        h = np.maximum(l0 * np.sign(np.sum(l0)), 0.0) / v
        stationary_fp = np.full(shape, np.nan)
        eigenvalues = lam if np.any(np.abs(lam.imag) > 1e-12 * np.abs(lam).max()) else lam.real
    rho0 = rho0 / np.sum(v * rho0)
    h = h / np.sum(v * h * rho0)
    modes = [rho0.reshape(shape)]
    for j in range(1, right.shape[1]):
        m = np.real(right[:, j])
        m = m / m[np.argmax(np.abs(m))]
        modes.append(m.reshape(shape))
    lam0 = float(np.real(eigenvalues[0]))
    rates = np.sort(np.real(eigenvalues[1:]) - lam0)
    return ImaginaryTimeSolution(
        x=x if isinstance(x, np.ndarray) else tuple(prob.axes),
        boundary=prob.bnd,
        density=rho0.reshape(shape),
        mu=lam0 / alpha if alpha > 0 else math.nan,
        lambda0=lam0,
        eigenvalues=np.asarray(eigenvalues),
        rates=rates,
        modes=np.stack(modes),
        left=h.reshape(shape),
        stationary_fp=stationary_fp,
        reversible=prob.reversible,
        weights=prob.vol,
        alpha=float(alpha),
        _problem=prob,
    )


# ----------------------------------------------------------------------------------------------
# time evolution
# ----------------------------------------------------------------------------------------------


def _times(t: float | Sequence[float] | np.ndarray) -> np.ndarray:
    ts = np.atleast_1d(np.asarray(t, dtype=float))
    if ts.ndim != 1 or not np.all(np.isfinite(ts)) or np.any(ts < 0) or np.any(np.diff(ts) < 0):
        raise ValueError(f"t: {t!r}; expected finite, non-negative, non-decreasing times")
    return ts


def _full_symmetric(prob: _Problem, cache: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if "eigh" not in cache:
        L = prob.symmetric()
        if len(prob.axes) == 1 and prob.bnd[0] == "reflecting":
            cache["eigh"] = linalg.eigh_tridiagonal(L.diagonal(), L.diagonal(1))
        else:
            cache["eigh"] = linalg.eigh(L.toarray())
    return cache["eigh"]


def _propagate(
    prob: _Problem,
    rho0: np.ndarray,
    t: float | Sequence[float] | np.ndarray,
    mu: float | None,
    normalize: bool,
    cache: dict[str, Any],
) -> np.ndarray:
    """rho(t) = exp(t (A + alpha mu)) rho0; ``mu=None`` uses mu* (top eigenvalue 0)."""
    ts = _times(t)
    shape = prob.shape
    r = np.asarray(rho0, dtype=float)
    if r.shape != shape or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"rho0: shape {r.shape}; expected finite values >= 0 of shape {shape}")
    n = r.size
    w = prob.vol.ravel()
    cur = r.ravel().copy()
    mass0 = float(np.sum(w * cur))
    out = np.empty((ts.size, n))
    # spectral route in the symmetric frame: exact in time, but its rounding error is
    # amplified by rho0 / s where the stationary weight s is tiny; fall back to expm there
    spectral = False
    if prob.reversible and n <= 2 * _DENSE_MAX and mass0 > 0:
        s = prob.similarity()
        phi0 = cur / s
        bound = 1e-14 * math.sqrt(n) * float(np.sum(w * s)) * float(np.sum(np.abs(phi0)))
        spectral = bound < 1e-9 * mass0
    if spectral:
        lam, W = _full_symmetric(prob, cache)
        c = W.T @ phi0
        shift = 0.0 if prob.alpha == 0 else (lam[0] if mu is None else prob.alpha * mu)
        for i, ti in enumerate(ts):
            out[i] = np.maximum(s * (W @ (np.exp(-(lam - shift) * ti) * c)), 0.0)
    else:
        if prob.alpha == 0:
            shift = 0.0
        elif mu is not None:
            shift = prob.alpha * mu
        elif prob.reversible:
            tri = len(prob.axes) == 1 and prob.bnd[0] == "reflecting"
            lower = prob.alpha * float(np.min(prob.V))
            shift = float(_lowest_symmetric(prob.symmetric(), 1, tri, lower)[0][0])
        else:
            lower = prob.alpha * float(np.min(prob.V))
            shift = -float(_top_general(prob.generator(), 1, -lower)[0][0].real)
        A = prob.generator(0.0)
        dense = A.toarray() + shift * np.eye(n) if n <= _DENSE_MAX else None
        steps: dict[float, np.ndarray] = {}
        prev = 0.0
        for i, ti in enumerate(ts):
            dt = ti - prev
            if dt > 0:
                if dense is not None:
                    key = round(dt, 12)
                    if key not in steps:
                        steps[key] = linalg.expm(dense * dt)
                    cur = steps[key] @ cur
                else:
                    As = A + shift * sparse.identity(n, format="csr")
                    cur = splinalg.expm_multiply(As * dt, cur)
                cur = np.maximum(cur, 0.0)
            prev = ti
            out[i] = cur
    if normalize:
        out /= np.sum(out * w, axis=1, keepdims=True)
    return out.reshape((ts.size, *shape))


def evolve(
    x: Grid,
    V: Field,
    rho0: np.ndarray,
    t: float | Sequence[float] | np.ndarray,
    *,
    D: Any,
    eta: float,
    alpha: float,
    mu: float | None = None,
    boundary: str | Sequence[str] = "reflecting",
    normalize: bool = False,
) -> np.ndarray:
    """Density at times ``t`` from ``rho0`` under the population PDE.

    ``rho(t) = exp(t A) rho0`` with the generator ``A`` of :func:`generator`. Reversible grids
    up to 3000 nodes use the full eigen-decomposition of the symmetric operator (exact in
    time) when ``rho0`` puts no mass where the stationary weight underflows the expansion's
    precision; otherwise the matrix exponential in density space (``scipy.linalg.expm``, reused
    for equal time increments, up to 1500 nodes; ``expm_multiply`` beyond).

    Parameters
    ----------
    x, V, D, eta, alpha, boundary
        As in :func:`solve`.
    rho0 : ndarray
        Initial density (grid shape, >= 0; any mass).
    t : float or array_like
        Non-decreasing times in steps (0 returns ``rho0``).
    mu : float, optional
        Chemical potential of the reaction term. Default: the stationary ``mu*``, so that the
        total mass tends to a constant (ignored when ``alpha = 0``).
    normalize : bool
        Return densities divided by their mass (the shape of a population-controlled run).

    Returns
    -------
    ndarray, shape (len(t), *grid)

    Examples
    --------
    Fixed-number Ornstein-Uhlenbeck: the mean relaxes at rate ``eta k`` (here 0.01 per step):

    >>> x = np.linspace(-2.0, 2.0, 401)
    >>> start = np.exp(-((x - 0.5) ** 2) / (2 * 0.01))
    >>> rho = evolve(x, x**2 / 2, start, [0.0, 100.0], D=1e-3, eta=0.01, alpha=0.0,
    ...              normalize=True)
    >>> m = [integrate(x * r, x) for r in rho]
    >>> round(m[1] / m[0], 4), round(float(np.exp(-1.0)), 4)
    (0.3679, 0.3679)
    """
    prob = _problem(x, V, D, eta, alpha, boundary)
    return _propagate(prob, rho0, t, None if mu is None else float(mu), normalize, {})


# ----------------------------------------------------------------------------------------------
# closed forms for the frozen harmonic potential
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HarmonicAnswer:
    """Closed forms for ``V = k x^2 / 2`` (see :func:`harmonic`).

    Attributes
    ----------
    r : float
        Crossover number ``2 alpha D / (eta^2 k)`` (inf when ``eta = 0 < alpha``).
    omega : float
        ``omega_E = sqrt(eta^2 k^2 + 2 alpha D k)``.
    variance : float
        Continuous time: ``2 D / (eta k + omega_E) = (T/k) 2 / (1 + sqrt(1 + r))``.
    mu : float
        ``(omega_E - eta k) / (2 alpha)`` (NaN when ``alpha = 0``).
    rates : ndarray
        ``n omega_E`` for ``n = 1, 2, 3``.
    variance_moved, variance_branched : float
        Discrete-time stationary variance of the step ``theta <- theta - eta k theta +
        sqrt(2 D) xi`` repeated ``interval`` times, then branching with weights
        ``exp(-alpha interval (V - mu))``: recorded after the moves (before branching) and
        after branching. With ``alpha = 0`` both are ``2D / (eta k (2 - eta k))``.
    mu_discrete : float
        The ``mu`` that keeps the discrete-time population constant on average,
        ``ln(1 + alpha interval k variance_moved) / (2 alpha interval)``.
    """

    r: float
    omega: float
    variance: float
    mu: float
    rates: np.ndarray
    variance_moved: float
    variance_branched: float
    mu_discrete: float


def harmonic(k: float, *, D: float, eta: float, alpha: float, interval: int = 1) -> HarmonicAnswer:
    """Stationary variance, ``mu*`` and rates of the frozen harmonic population.

    Parameters
    ----------
    k : float
        Curvature of ``V = k x^2 / 2`` (> 0).
    D, eta, alpha : float
        Diffusion (> 0), drift (>= 0) and birth-death rate (>= 0); ``eta + alpha > 0``.
    interval : int
        Moves per branching event (discrete-time forms only).

    Returns
    -------
    HarmonicAnswer

    Examples
    --------
    >>> a = harmonic(1.0, D=1e-3, eta=0.01, alpha=0.05)
    >>> round(a.r, 6), round(a.variance, 4), round(a.mu, 4), round(float(a.rates[0]), 5)
    (1.0, 0.0828, 0.0414, 0.01414)
    >>> round(harmonic(1.0, D=1e-3, eta=0.01, alpha=0.0).variance_moved, 4)
    0.1005
    >>> round(harmonic(1.0, D=1e-3, eta=0.0, alpha=0.05).variance, 4)
    0.2
    """
    if not (k > 0 and D > 0 and eta >= 0 and alpha >= 0 and eta + alpha > 0):
        raise ValueError(
            f"harmonic: k={k!r}, D={D!r}, eta={eta!r}, alpha={alpha!r}; expected k > 0, D > 0, "
            f"eta >= 0, alpha >= 0 and eta + alpha > 0"
        )
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval: {interval!r}; expected an integer >= 1")
    omega = math.sqrt(eta**2 * k**2 + 2 * alpha * D * k)
    r = 2 * alpha * D / (eta**2 * k) if eta > 0 else math.inf
    var = 2 * D / (eta * k + omega)
    mu = (omega - eta * k) / (2 * alpha) if alpha > 0 else math.nan
    # discrete time: K moves (contraction a per move) then reweighting by exp(-alpha K k x^2/2)
    K = interval
    a = (1 - eta * k) ** 2
    aK = a**K
    noise = 2 * D * (K if a == 1 else (1 - aK) / (1 - a))
    if alpha == 0:
        v_branched = noise / (1 - aK)
        v_moved = v_branched
        mu_d = math.nan
    else:
        g = alpha * K * k
        # v = v'/(1 + g v'), v' = aK v + noise
        b = 1 + g * noise - aK
        v_branched = (-b + math.sqrt(b * b + 4 * g * aK * noise)) / (2 * g * aK)
        v_moved = aK * v_branched + noise
        mu_d = math.log1p(g * v_moved) / (2 * alpha * K)
    return HarmonicAnswer(
        r=r,
        omega=omega,
        variance=var,
        mu=mu,
        rates=omega * np.arange(1, 4),
        variance_moved=v_moved,
        variance_branched=v_branched,
        mu_discrete=mu_d,
    )
