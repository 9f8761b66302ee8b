"""Known-answer tests for analysis.schrodinger.propagation: split-step, wave function, residual."""

import numpy as np
import pytest

from analysis.schrodinger import schrodinger_residual, split_step, wavefunction

X = np.linspace(-20, 20, 1024, endpoint=False)
DX = X[1] - X[0]


def coherent(x, t, x0=3.0):
    """HO coherent state (hbar = m = omega = 1) including its phase."""
    xc, pc = x0 * np.cos(t), -x0 * np.sin(t)
    phase = pc * x - 0.5 * t - 0.5 * xc * pc
    return np.pi**-0.25 * np.exp(-((x - xc) ** 2) / 2 + 1j * phase)


def test_split_step_coherent_state_one_period_and_off_period():
    psi0 = coherent(X, 0.0)
    steps = 2000
    out = split_step(psi0, X, 0.5 * X**2, 1.0, 1.0, 2 * np.pi / steps, steps)
    l2 = np.sqrt(np.sum(np.abs(out - coherent(X, 2 * np.pi)) ** 2) * DX)
    assert l2 < 1e-3
    # not only at a full period (errors cancel there): t = 2.3
    mid = split_step(psi0, X, 0.5 * X**2, 1.0, 1.0, 0.0023, 1000)
    assert np.sum(np.abs(np.abs(mid) ** 2 - np.abs(coherent(X, 2.3)) ** 2)) * DX < 1e-4
    # control: a wrong mass (omega = 1/sqrt(1.2)) does not return (any hbar would: HO is periodic)
    bad = split_step(psi0, X, 0.5 * X**2, 1.0, 1.2, 2 * np.pi / steps, steps)
    assert np.sqrt(np.sum(np.abs(bad - coherent(X, 2 * np.pi)) ** 2) * DX) > 0.1


def test_split_step_norm_and_snapshots():
    psi0 = coherent(X, 0.0) * (1 + 0.3j * np.sin(X))
    snaps = split_step(psi0, X, 0.1 * X**4 - X**2, 1.0, 1.0, 0.01, 3000, every=500)
    assert snaps.shape == (7, X.size)
    norms = np.sum(np.abs(snaps) ** 2, axis=1) * DX
    assert np.max(np.abs(norms - norms[0])) < 1e-10


@pytest.mark.parametrize("hbar", [1.0, 0.5])
def test_split_step_free_width_law(hbar):
    s0 = 0.8
    psi0 = (2 * np.pi * s0**2) ** -0.25 * np.exp(-(X**2) / (4 * s0**2))
    snaps = split_step(psi0, X, None, hbar, 2.0, 0.01, 600, every=100)
    t = np.arange(7) * 1.0
    var = np.sum(np.abs(snaps) ** 2 * X**2, axis=1) * DX
    exact = s0**2 + (hbar * t / (2 * 2.0 * s0)) ** 2
    assert np.allclose(var, exact, rtol=1e-6)
    # control: the diffusive law with the same D = hbar/2m is wrong
    assert np.max(np.abs(var - (s0**2 + 2 * hbar / 4.0 * t)) / var) > 0.1


def test_split_step_2d_free_width():
    g = np.linspace(-12, 12, 128, endpoint=False)
    X2, Y2 = np.meshgrid(g, g, indexing="ij")
    psi0 = np.exp(-(X2**2 + Y2**2) / 4) / np.sqrt(2 * np.pi)
    out = split_step(psi0, (g, g), None, 1.0, 1.0, 0.01, 200)
    d2 = (g[1] - g[0]) ** 2
    assert abs(np.sum(np.abs(out) ** 2) * d2 - 1) < 1e-10
    assert abs(np.sum(np.abs(out) ** 2 * X2**2) * d2 - 2.0) < 1e-5  # 1 + (t/2)^2, t = 2


def test_split_step_bad_input():
    psi0 = coherent(X, 0.0)
    with pytest.raises(ValueError, match="psi0"):
        split_step(psi0[:-1], X, None, 1, 1, 0.1, 1)
    with pytest.raises(ValueError, match="hbar"):
        split_step(psi0, X, None, -1, 1, 0.1, 1)
    with pytest.raises(ValueError, match="dt"):
        split_step(psi0, X, None, 1, 1, np.nan, 1)
    with pytest.raises(ValueError, match="every"):
        split_step(psi0, X, None, 1, 1, 0.1, 4, every=0)
    with pytest.raises(ValueError, match="V"):
        split_step(psi0, X, np.full(X.size, np.inf), 1, 1, 0.1, 1)
    with pytest.raises(ValueError, match="grid"):
        split_step(psi0, X**3, None, 1, 1, 0.1, 1)


def test_wavefunction_roundtrip_and_bad_input():
    p = np.abs(coherent(X, 0.7)) ** 2
    S = -3.0 * np.sin(0.7) * X
    psi = wavefunction(p, S, 1.0)
    assert np.allclose(np.abs(psi) ** 2, p)
    assert np.allclose(np.angle(psi[512]), np.angle(np.exp(1j * S[512])))
    with pytest.raises(ValueError, match="p"):
        wavefunction(-p, S, 1.0)
    with pytest.raises(ValueError, match="phase"):
        wavefunction(p, S[:10], 1.0)


def test_residual_truncation_level_for_exact_psi_and_large_for_diffusion():
    snaps = split_step(coherent(X, 0.0), X, 0.5 * X**2, 1.0, 1.0, 0.001, 400, every=10)
    dens, phase = np.abs(snaps) ** 2, np.unwrap(np.angle(snaps), axis=1)
    r_exact = schrodinger_residual(dens, X, 0.01, 0.5 * X**2, 1.0, 1.0, phase=phase)
    r_exact_c = schrodinger_residual(snaps, X, 0.01, 0.5 * X**2, 1.0, 1.0)
    assert r_exact < 1e-3 and r_exact_c < 1e-3
    # central-difference truncation: doubling the snapshot spacing quadruples the residual
    r_half = schrodinger_residual(snaps[::2], X, 0.02, 0.5 * X**2, 1.0, 1.0)
    assert 3.0 < r_half / r_exact_c < 5.0
    # a diffusing density (heat kernel, D = 1/2) with the phase set to zero
    t = 1 + 0.02 * np.arange(20)
    heat = np.exp(-(X[None, :] ** 2) / (2 * t[:, None])) / np.sqrt(2 * np.pi * t[:, None])
    assert schrodinger_residual(heat, X, 0.02, None, 1.0, 1.0) > 0.3
    with pytest.raises(ValueError, match="density"):
        schrodinger_residual(heat[:2], X, 0.02, None, 1.0, 1.0)
