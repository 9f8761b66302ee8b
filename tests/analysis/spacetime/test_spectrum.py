"""Known-answer tests for analysis.spacetime.spectrum: waves against diffusion."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from analysis.spacetime import dispersion, spectral_embedding


def _chain(kind: str, N: int = 128, T: int = 2048, R: int = 4, seed: int = 0) -> np.ndarray:
    """Periodic lattice: damped noisy wave equation (c = 0.5) or noisy diffusion (D = 0.5)."""
    rng = np.random.default_rng(seed)
    sub, h = 4, 0.25
    phi = np.zeros((R, N))
    vel = np.zeros((R, N))
    out = np.empty((T, R, N))
    for t in range(T):
        for _ in range(sub):
            lap = np.roll(phi, 1, 1) - 2 * phi + np.roll(phi, -1, 1)
            if kind == "wave":
                vel += h * (0.25 * lap - 0.01 * vel) + np.sqrt(h) * 0.1 * rng.normal(size=(R, N))
                phi += h * vel
            else:
                phi += h * 0.5 * lap + np.sqrt(2 * h) * 0.1 * rng.normal(size=(R, N))
        out[t] = phi
    return out


def test_dispersion_wave_versus_diffusion() -> None:
    pos = np.arange(128.0)[:, None]
    wave = dispersion(_chain("wave"), pos, n_k=8, segments=2)
    assert wave.verdict == "propagating"
    assert abs(wave.c[0] / 0.5 - 1) < 0.05, wave.c
    assert abs(wave.mass2[0]) < 1e-3 and wave.r2_wave[0] > 0.99
    assert wave.propagating.all()
    diff = dispersion(_chain("diffusion", seed=1), pos, n_k=8, segments=2)
    assert diff.verdict == "diffusive"  # control: no propagating peak
    assert diff.propagating.mean() < 1 / 3
    # Lorentzian half width ~ D k^2 (D = 0.5; measured 0.51-0.57 over 8 seeds: the Hann
    # window adds about one frequency bin of width)
    assert 0.4 < diff.diffusion[0] < 0.7 and diff.r2_diffusive[0] > 0.9
    assert wave.r2_diffusive[0] < diff.r2_diffusive[0]


def test_dispersion_speed_per_direction_on_anisotropic_lattice() -> None:
    # 32 x 32 periodic lattice with c_x = 0.5, c_y = 0.3: each direction's c within 5 %
    rng = np.random.default_rng(0)
    n, T, R, h = 32, 1024, 2, 0.25
    phi = np.zeros((R, n, n))
    vel = np.zeros_like(phi)
    out = np.empty((T, R, n * n))
    for t in range(T):
        for _ in range(4):
            lx = np.roll(phi, 1, 1) - 2 * phi + np.roll(phi, -1, 1)
            ly = np.roll(phi, 1, 2) - 2 * phi + np.roll(phi, -1, 2)
            vel += h * (0.25 * lx + 0.09 * ly - 0.01 * vel)
            vel += np.sqrt(h) * 0.1 * rng.normal(size=phi.shape)
            phi += h * vel
        out[t] = phi.reshape(R, -1)
    ii, jj = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")
    res = dispersion(out, np.stack([ii.ravel(), jj.ravel()], axis=1), n_k=3, segments=2)
    assert res.verdict == "propagating"
    np.testing.assert_allclose(res.c, [0.5, 0.3], rtol=0.05)
    # control: the two directions are resolved, not averaged
    assert abs(res.c[0] - res.c[1]) > 0.15


def test_spectral_embedding_orders_a_chain_and_ring() -> None:
    n = 30
    w = np.zeros((n, n))
    idx = np.arange(n - 1)
    w[idx + 1, idx] = np.random.default_rng(0).uniform(0.5, 1.5, n - 1) * -1  # signs ignored
    y = spectral_embedding(w, 1)[:, 0]
    assert np.all(np.diff(y) > 0) or np.all(np.diff(y) < 0)
    ring = spectral_embedding(nx.cycle_graph(24), 2)
    radius = np.hypot(ring[:, 0], ring[:, 1])
    np.testing.assert_allclose(radius, radius.mean(), rtol=1e-8)
    ang = np.unwrap(np.arctan2(ring[:, 1], ring[:, 0]))
    np.testing.assert_allclose(np.abs(np.diff(ang)), 2 * np.pi / 24, rtol=1e-6)
    # control: two disconnected chains cannot be embedded
    two = nx.disjoint_union(nx.path_graph(5), nx.path_graph(5))
    with pytest.raises(ValueError, match="connected"):
        spectral_embedding(two, 1)
    with pytest.raises(ValueError, match="dim"):
        spectral_embedding(w, 0)


def test_dispersion_bad_input() -> None:
    phi = np.zeros((256, 8))
    with pytest.raises(ValueError, match="embedding"):
        dispersion(phi, np.arange(7.0))
    with pytest.raises(ValueError, match="steps"):
        dispersion(phi[:40], np.arange(8.0), segments=2)
    with pytest.raises(ValueError, match="extent"):
        dispersion(phi, np.zeros(8))
    with pytest.raises(ValueError, match="n_k"):
        dispersion(phi, np.arange(8.0), n_k=1)
