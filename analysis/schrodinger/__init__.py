"""Schrödinger-side diagnostics: propagation, residuals, real-time signatures, hbar routes.

One concept per module, all re-exported here (``from analysis.schrodinger import split_step``):

- :mod:`~analysis.schrodinger.grid`: uniform periodic grids, potentials, interpolation, sampling;
- :mod:`~analysis.schrodinger.density`: ensemble densities on a grid and the Hellinger distance;
- :mod:`~analysis.schrodinger.propagation`: split-step propagation, the Madelung wave function
  and the Schrödinger residual;
- :mod:`~analysis.schrodinger.evolution`: Schrödinger against Fokker-Planck propagation of an
  ensemble's state;
- :mod:`~analysis.schrodinger.signatures`: real-time signatures (lines, spreading, fringes,
  energy);
- :mod:`~analysis.schrodinger.hbar`: hbar routes, quantisation, the hbar / mu_c consistency gap.

Units and conventions
---------------------
* Time is ``t = step * dt`` (``dt = 1`` for simulator data, one learning step per unit of time).
* ``hbar`` has units of [potential] x [time]; ``mass`` is the inertia in ``v = grad S / m``.
  Only ``hbar / mass`` and ``V / hbar`` enter the dynamics, so a fit that gives ``hbar_over_m``
  is used with an explicit ``mass`` (default 1): ``hbar = hbar_over_m * mass``.
* The Nelson diffusion constant is ``D = hbar / (2 m)``; the circulation quantum is
  ``kappa = 2 pi hbar / m``; the free-energy branch spacing gives ``hbar = |mu_c| / (2 pi)``.
* Grids are uniform and periodic (the split-step box); a 2-D grid is a tuple ``(x, y)`` and
  2-D fields are indexed ``[ix, iy]`` (``numpy.meshgrid(x, y, indexing="ij")``).
* Densities on a grid are probability densities (``sum(rho) * cell_volume = 1``).

Every comparison between an ensemble and a predicted density is reported divided by its
sampling-noise floor (docs/methods.md#noise-floors): the same metric between that many exact samples
of the prediction and the prediction itself.
"""

from analysis.schrodinger import density, evolution, grid, hbar, propagation, signatures
from analysis.schrodinger.density import *  # noqa: F403
from analysis.schrodinger.evolution import *  # noqa: F403
from analysis.schrodinger.grid import *  # noqa: F403
from analysis.schrodinger.hbar import *  # noqa: F403
from analysis.schrodinger.propagation import *  # noqa: F403
from analysis.schrodinger.signatures import *  # noqa: F403

__all__ = [
    *grid.__all__,
    *density.__all__,
    *propagation.__all__,
    *evolution.__all__,
    *signatures.__all__,
    *hbar.__all__,
]
