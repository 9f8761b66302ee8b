"""Emergent space-time of neuron states: coarse coordinates, Lorentz signature, local metric,
dispersion, geodesic motion and Einstein equations.

One concept per module, all re-exported here (``from analysis.spacetime import signature_test``):

- :mod:`~analysis.spacetime.coordinates`: neuron groups and their mean states ``X^mu``;
- :mod:`~analysis.spacetime.signature`: the entropy-production form ``C`` and its signature;
- :mod:`~analysis.spacetime.metric`: ``C`` estimated in patches, a metric on a grid;
- :mod:`~analysis.spacetime.spectrum`: the power spectrum of the neuron field over an
  embedding (propagating or diffusive);
- :mod:`~analysis.spacetime.geodesics`: shooting fits of tracked paths by geodesics;
- :mod:`~analysis.spacetime.matter`: ensemble fields and stress-energy tensors;
- :mod:`~analysis.spacetime.einstein`: the fit of ``G + Lambda g = kappa T``;
- :mod:`~analysis.spacetime.resampling`: intervals from replica and moving-block resamples,
  the bounded Lorentz margin and correlation.

Conventions
-----------
- ``d = D + 1`` is the space-time dimension: the number of neuron groups whose mean states are
  the coarse coordinates ``X^mu``. Coordinate order is the array axis order.
- Tensors carry lower indices unless their name says otherwise. The target signature is
  ``(-, +, ..., +)``: a time-like direction is one along which the entropy-production form is
  negative (net destruction by learning).
- Time is measured in learning steps times ``dt`` (``dt = 1`` for simulator data); rates such as
  the entropy production are per unit of that time, in nats.
- Neuron states come either as the tidy table of ``LearningSystem.neuron_states()`` (columns
  ``step, replica, neuron, state``; one row per step, replica and neuron) or as an array of shape
  ``(T, R, N)``; coarse coordinates are arrays of shape ``(T, R, d)``.
- A metric on a grid is an array ``g`` of shape ``(n_0, ..., n_{d-1}, d, d)`` with grid
  ``spacing`` (d floats) and ``origin`` (the coordinates of grid point ``(0, ..., 0)``); the
  curvature is computed by :mod:`analysis.geometry`.
"""

from analysis.spacetime import (
    coordinates,
    einstein,
    geodesics,
    matter,
    metric,
    resampling,
    signature,
    spectrum,
)
from analysis.spacetime.coordinates import *  # noqa: F403
from analysis.spacetime.einstein import *  # noqa: F403
from analysis.spacetime.geodesics import *  # noqa: F403
from analysis.spacetime.matter import *  # noqa: F403
from analysis.spacetime.metric import *  # noqa: F403
from analysis.spacetime.resampling import *  # noqa: F403
from analysis.spacetime.signature import *  # noqa: F403
from analysis.spacetime.spectrum import *  # noqa: F403

__all__ = [
    *coordinates.__all__,
    *signature.__all__,
    *metric.__all__,
    *spectrum.__all__,
    *geodesics.__all__,
    *matter.__all__,
    *einstein.__all__,
    *resampling.__all__,
]
