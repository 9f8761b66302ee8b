"""Schrödinger-side diagnostics."""

from .evolution import *  # noqa: F403
from .evolution import (  # noqa: F401
    Grid,
    Potential,
    _axes,
    _bin_index,
    _gradient,
    _hellinger,
    _hellinger_floor,
    _interp,
    _kde_grid,
    _phase_from_velocity,
    _potential,
    _sample_grid,
    _spacing,
    _wavenumbers,
)
