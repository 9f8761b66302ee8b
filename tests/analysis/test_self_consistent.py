"""analysis.self_consistent: fixed points of a population in the potential it produces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.imaginary_time import solve
from analysis.self_consistent import self_consistent

X = np.arange(64) * (2 * math.pi / 64)
W = 2 * math.pi / 64
PSI0 = -0.05 * (np.exp(4 * (np.cos(X - 2.0) - 1)) + 0.8 * np.exp(4 * (np.cos(X - 4.4) - 1)))
KERNEL = 0.05 * np.exp(4 * (np.cos(X[:, None] - X[None, :]) - 1))
KW = {"D": 3e-4, "eta": 0.05}


def test_without_interaction_it_is_the_frozen_solution():
    fn = self_consistent(X, PSI0, 0 * KERNEL, alpha=0.0, mass=2.0, **KW)
    gc = self_consistent(X, PSI0, 0 * KERNEL, alpha=1.0, mass=2.0, **KW)
    frozen_fn = solve(X, PSI0, alpha=0.0, boundary="periodic", **KW)
    frozen_gc = solve(X, PSI0, alpha=1.0, boundary="periodic", **KW)
    assert np.abs(fn.density - frozen_fn.density).max() < 1e-8 * fn.density.max()
    assert np.abs(gc.density - frozen_gc.density).max() < 1e-8 * gc.density.max()
    assert gc.mu == pytest.approx(frozen_gc.mu, rel=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_the_density_is_the_stationary_state_of_its_own_potential(alpha):
    kw = {"mass": 1.5} if alpha == 0 else {"mu": -0.004}
    st = self_consistent(X, PSI0, KERNEL, alpha=alpha, **kw, **KW)
    assert st.residual < 1e-9
    assert np.allclose(st.psi, PSI0 + KERNEL @ (W * st.mass * st.density))
    again = solve(X, st.psi, alpha=alpha, boundary="periodic", **KW)
    assert np.abs(again.density - st.density).max() < 1e-6 * st.density.max()
    assert W * st.density.sum() == pytest.approx(1.0)


def test_mass_and_mu_are_inverse_to_each_other():
    at_mu = self_consistent(X, PSI0, KERNEL, alpha=2.0, mu=-0.004, **KW)
    at_mass = self_consistent(X, PSI0, KERNEL, alpha=2.0, mass=at_mu.mass, **KW)
    assert at_mass.mu == pytest.approx(-0.004, rel=1e-6)
    assert np.abs(at_mass.density - at_mu.density).max() < 1e-6 * at_mu.density.max()
    # more particles fill the wells: a higher ground energy
    heavier = self_consistent(X, PSI0, KERNEL, alpha=2.0, mass=1.2 * at_mu.mass, **KW)
    assert heavier.mu > -0.004


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"alpha": 0.0, "mu": -0.004}, "mu: given with alpha = 0"),
        ({"alpha": 2.0}, "give exactly one"),
        ({"alpha": 2.0, "mu": -0.004, "mass": 1.0}, "give exactly one"),
        ({"alpha": 0.0, "mass": -1.0}, "mass"),
        ({"alpha": -1.0}, "alpha"),
    ],
)
def test_refuses_ill_posed_requests(kw, match):
    with pytest.raises(ValueError, match=match):
        self_consistent(X, PSI0, KERNEL, **kw, **KW)


def test_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="psi0, kernel"):
        self_consistent(X, PSI0[:-1], KERNEL, alpha=0.0, **KW)
