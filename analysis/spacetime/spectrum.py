"""The power spectrum of the neuron field over a spectral embedding of the neurons.

The dispersion relation tells a propagating field (a peak at ``omega(k) > 0``) from a diffusive
one (a zero-frequency peak of width ``D k^2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from scipy import linalg

from analysis.spacetime.coordinates import NEURON_KINDS, neuron_nodes, states_array
from analysis.validation import check_positive

__all__ = ["DispersionResult", "dispersion", "spectral_embedding"]


def spectral_embedding(
    weights_or_graph: np.ndarray | nx.Graph,
    dim: int = 2,
    *,
    kinds: Sequence[str] = NEURON_KINDS,
    weight: str = "weight",
) -> np.ndarray:
    """Laplacian-eigenmap embedding of the neurons from the |w| graph.

    The affinity is ``A = (|W| + |W|^T) / 2``; the embedding is given by the eigenvectors 1 ..
    ``dim`` of ``L v = lambda Deg v`` (``L = Deg - A``), normalised to ``v^T Deg v = 1`` and with
    the sign fixed so that the largest-magnitude entry is positive. Coordinates are therefore
    dimensionless (speeds measured over them are in embedding units per unit time).

    Parameters
    ----------
    weights_or_graph : ndarray (N, N) or networkx graph
        Weight matrix (``W[i, j]`` from j to i; the sign is ignored), or a graph whose neuron
        nodes (:func:`neuron_nodes`) are embedded in that order, with edge weights ``weight``.
    dim : int
        Embedding dimension (1 <= dim < N).

    Returns
    -------
    ndarray, shape (N, dim)

    Examples
    --------
    >>> import numpy as np, networkx as nx
    >>> y = spectral_embedding(nx.path_graph(8), dim=1)[:, 0]
    >>> bool(np.all(np.diff(y) > 0) or np.all(np.diff(y) < 0))  # a chain is embedded in order
    True
    """
    if isinstance(weights_or_graph, nx.Graph):
        nodes = neuron_nodes(weights_or_graph, kinds)
        a = nx.to_numpy_array(weights_or_graph, nodelist=nodes, weight=weight, dtype=float)
    else:
        a = np.asarray(weights_or_graph, dtype=float)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"weights_or_graph: shape {a.shape}; expected a square (N, N) matrix")
    if not np.all(np.isfinite(a)):
        raise ValueError("weights_or_graph: NaN/Inf weights; expected finite values")
    n = len(a)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim < n:
        raise ValueError(f"dim: {dim!r}; expected an integer in [1, {n - 1}]")
    a = np.abs(a)
    a = 0.5 * (a + a.T)
    np.fill_diagonal(a, 0.0)
    deg = a.sum(axis=1)
    if np.any(deg <= 0):
        raise ValueError(
            f"weights_or_graph: {int(np.sum(deg <= 0))} isolated neuron(s); expected connected"
        )
    lam, vec = linalg.eigh(np.diag(deg) - a, np.diag(deg))
    if lam[1] <= 1e-10 * lam[-1]:
        ncomp = int(np.sum(lam <= 1e-10 * lam[-1]))
        raise ValueError(
            f"weights_or_graph: {ncomp} connected components; expected a connected graph"
        )
    emb = vec[:, 1 : dim + 1]
    flip = np.sign(emb[np.argmax(np.abs(emb), axis=0), np.arange(dim)])
    return emb * flip


@dataclass(frozen=True)
class DispersionResult:
    """Power spectrum of a neuron field and its propagating versus diffusive fits.

    Attributes
    ----------
    k : ndarray, shape (n_dir, n_k)
        Wavenumbers per embedding direction (``2 pi j / L``, L the extent along the direction).
    omega : ndarray, shape (n_omega,)
        Angular frequencies >= 0.
    power : ndarray, shape (n_dir, n_k, n_omega)
        ``S(k, omega)`` folded onto omega >= 0, averaged over replicas and segments.
    peak_omega : ndarray, shape (n_dir, n_k)
        Frequency of the spectral maximum (parabolic interpolation).
    peak_ratio : ndarray, shape (n_dir, n_k)
        Power at the peak over the mean power in the two lowest non-zero frequency bins.
    propagating : ndarray of bool, shape (n_dir, n_k)
        ``peak_omega >= 3 d_omega`` and ``peak_ratio >= 2``: a peak away from zero frequency.
    halfwidth : ndarray, shape (n_dir, n_k)
        Half width ``G`` of a zero-frequency Lorentzian ``A / (G^2 + omega^2)`` fitted to
        ``log S`` over ``0 < omega <= omega_Nyquist / 2`` (the diffusive width).
    c, mass2, r2_wave : ndarray, shape (n_dir,)
        Fit ``peak_omega^2 = c^2 k^2 + mass2`` per direction and its R^2.
    diffusion, r2_diffusive : ndarray, shape (n_dir,)
        Fit ``halfwidth = D k^2`` (through the origin; wavenumbers whose half width is at least
        two frequency bins) per direction and its R^2.
    verdict : str
        ``"propagating"`` when at least two thirds of all (direction, k) have a propagating
        peak, else ``"diffusive"``. This is the stated criterion; the R^2 values are reported
        alongside.
    d_omega : float
        Frequency resolution.
    """

    k: np.ndarray
    omega: np.ndarray
    power: np.ndarray
    peak_omega: np.ndarray
    peak_ratio: np.ndarray
    propagating: np.ndarray
    halfwidth: np.ndarray
    c: np.ndarray
    mass2: np.ndarray
    r2_wave: np.ndarray
    diffusion: np.ndarray
    r2_diffusive: np.ndarray
    verdict: str
    d_omega: float


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    ss = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - yhat) ** 2) / ss) if ss > 0 else np.nan


def dispersion(
    states: pd.DataFrame | np.ndarray,
    embedding: np.ndarray,
    dt: float = 1.0,
    *,
    n_k: int = 8,
    segments: int = 4,
) -> DispersionResult:
    """Space-time power spectrum ``S(k, omega)`` of the neuron field over an embedding.

    The spatial mean of the field is removed at each step; for each embedding direction ``a``
    the field is projected on plane waves ``exp(-i k y_a)`` with ``k = 2 pi j / L_a``
    (``j = 1 .. n_k``; ``L_a = range * n_a / (n_a - 1)`` with ``n_a`` the number of distinct
    positions along ``a``: the period of a uniform lattice), the time mean is removed, the
    series is cut into ``segments`` pieces, Hann-windowed and Fourier transformed; the power
    is averaged over segments and replicas and folded onto ``omega >= 0``. Two fits are reported:
    the Klein-Gordon ``omega_peak^2 = c^2 k^2 + m^2`` on the peak frequencies, and the diffusive
    ``omega = -i D k^2`` as a zero-frequency peak of half width ``D k^2``. The verdict follows
    the criterion stated in :class:`DispersionResult`.

    Parameters
    ----------
    states : DataFrame or ndarray
        Neuron states (``neuron_states()`` table, ``(T, R, N)`` or ``(T, N)``).
    embedding : ndarray, shape (N, n_dir)
        Neuron positions (e.g. :func:`spectral_embedding`), rows in the neuron order of
        ``states``.
    dt : float
        Time between recorded steps.
    n_k : int
        Wavenumbers per direction.
    segments : int
        Time segments averaged (Welch); resolution ``d_omega = 2 pi segments / (T dt)``.

    Returns
    -------
    DispersionResult

    Examples
    --------
    >>> import numpy as np
    >>> t, x = np.arange(512)[:, None], np.arange(32)[None, :]
    >>> k = 2 * np.pi * np.arange(1, 5)[:, None, None] / 32
    >>> phi = np.cos(k * x - 0.5 * k * t).sum(axis=0)  # waves with c = 0.5
    >>> res = dispersion(phi, x.T.astype(float), n_k=4, segments=2)
    >>> res.verdict, round(float(res.c[0]), 2)
    ('propagating', 0.5)
    """
    arr, _ = states_array(states)
    dt = check_positive("dt", dt)
    T, R, N = arr.shape
    y = np.asarray(embedding, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != N:
        raise ValueError(
            f"embedding: shape {np.shape(embedding)}; expected ({N}, n_dir) for {N} neurons"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("embedding: NaN/Inf coordinates; expected finite positions")
    if isinstance(n_k, bool) or not isinstance(n_k, (int, np.integer)) or n_k < 2:
        raise ValueError(f"n_k: {n_k!r}; expected an integer >= 2")
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) or segments < 1:
        raise ValueError(f"segments: {segments!r}; expected an integer >= 1")
    seg = T // segments
    if seg < 32:
        raise ValueError(f"states: {T} steps; {segments} segment(s) need at least {32 * segments}")
    distinct = np.array([len(np.unique(np.round(col, 9))) for col in y.T])
    extent = np.ptp(y, axis=0) * distinct / np.maximum(distinct - 1, 1)
    if np.any(extent <= 0):
        raise ValueError("embedding: a direction has zero extent; expected spread-out positions")
    ndir = y.shape[1]
    k = 2 * np.pi * np.arange(1, n_k + 1)[None, :] / extent[:, None]  # (ndir, nk)
    phase = np.exp(-1j * k[:, :, None] * y.T[:, None, :])  # (ndir, nk, N)
    field = arr - arr.mean(axis=2, keepdims=True)  # drop the uniform mode (no leakage)
    amp = np.einsum("trn,akn->trak", field, phase) / N  # (T, R, ndir, nk)
    amp = amp[: seg * segments].reshape(segments, seg, R, ndir, n_k)
    amp = amp - amp.mean(axis=1, keepdims=True)
    win = np.hanning(seg)[None, :, None, None, None]
    spec = np.abs(np.fft.fft(amp * win, axis=1)) ** 2
    spec = spec.mean(axis=(0, 2))  # (seg, ndir, nk)
    freq = 2 * np.pi * np.fft.fftfreq(seg, dt)
    half = seg // 2
    folded = spec[:half].copy()
    folded[1:] += spec[-1:-half:-1]
    power = np.moveaxis(folded, 0, -1)  # (ndir, nk, nomega)
    omega = freq[:half]
    dw = float(omega[1])
    # peak location with parabolic interpolation on log power
    i = np.argmax(power, axis=-1)
    ic = np.clip(i, 1, half - 2)
    lp = np.log(np.maximum(power, 1e-300))
    left = np.take_along_axis(lp, (ic - 1)[..., None], -1)[..., 0]
    mid = np.take_along_axis(lp, ic[..., None], -1)[..., 0]
    right = np.take_along_axis(lp, (ic + 1)[..., None], -1)[..., 0]
    den = left - 2 * mid + right
    shift = np.where((i == ic) & (den < 0), 0.5 * (left - right) / np.where(den < 0, den, -1), 0.0)
    peak = (i + np.clip(shift, -0.5, 0.5)) * dw
    low = power[..., 1:3].mean(axis=-1)
    ratio = power.max(axis=-1) / np.maximum(low, 1e-300)
    prop = (peak >= 3 * dw) & (ratio >= 2.0)
    # diffusive width: least-squares fit of a zero-frequency Lorentzian A / (G^2 + omega^2) to
    # log S over 0 < omega <= omega_Nyquist / 2 (log: periodogram noise is multiplicative);
    # G is found on a logarithmic grid, A in closed form
    top = max(half // 2, 4)
    w_fit = omega[1:top]
    logp = np.log(np.maximum(power[..., 1:top], 1e-300))
    cand = dw * np.logspace(-1, np.log10(top), 240)
    z = logp[..., None, :] + np.log(cand[:, None] ** 2 + w_fit[None, :] ** 2)
    hw = cand[np.argmin(z.var(axis=-1), axis=-1)]
    c = np.full(ndir, np.nan)
    m2 = np.full(ndir, np.nan)
    r2w = np.full(ndir, np.nan)
    dif = np.full(ndir, np.nan)
    r2d = np.full(ndir, np.nan)
    for a in range(ndir):
        k2 = k[a] ** 2
        design = np.stack([k2, np.ones_like(k2)], axis=1)
        coef, *_ = np.linalg.lstsq(design, peak[a] ** 2, rcond=None)
        c[a] = np.sqrt(coef[0]) if coef[0] > 0 else np.nan
        m2[a] = coef[1]
        r2w[a] = _r2(peak[a] ** 2, design @ coef)
        use = hw[a] >= 2 * dw  # widths below two bins are set by the resolution
        if use.sum() < 2:
            use = np.ones_like(use)
        dif[a] = float(k2[use] @ hw[a, use] / (k2[use] @ k2[use]))
        r2d[a] = _r2(hw[a, use], dif[a] * k2[use])
    verdict = "propagating" if prop.mean() >= 2 / 3 else "diffusive"
    return DispersionResult(
        k=k,
        omega=omega,
        power=power,
        peak_omega=peak,
        peak_ratio=ratio,
        propagating=prop,
        halfwidth=hw,
        c=c,
        mass2=m2,
        r2_wave=r2w,
        diffusion=dif,
        r2_diffusive=r2d,
        verdict=verdict,
        d_omega=dw,
    )
