"""Macroscopic descriptions computed from recorded data.

Every module here works on pandas DataFrames and numpy arrays only: it never imports the
model, so it runs on saved results and on data produced elsewhere. Time is measured in
learning steps times ``dt`` (``dt = 1`` for simulator data). One concept per module:

- :mod:`analysis.trajectory`: the tidy trajectory table and its conversion to arrays;
- :mod:`analysis.thermodynamics`: drift, diffusion, entropy and the chemical potential;
- :mod:`analysis.score`: score (``grad ln p``) estimation from samples;
- :mod:`analysis.madelung`: the weak-form Madelung fit (hbar / m, the potential);
- :mod:`analysis.schrodinger`: Schrödinger-side diagnostics (a package, one module per concept);
- :mod:`analysis.imaginary_time`: the grid solver of the particle-population equation;
- :mod:`analysis.spacetime`: emergent space-time of neuron states (a package);
- :mod:`analysis.geometry`: differential geometry of a metric on a grid;
- :mod:`analysis.controls`: reference ensembles, shared nulls and positive controls;
- :mod:`analysis.verdicts`: claims as data and the verdict rule;
- :mod:`analysis.polynomial`, :mod:`analysis.validation`: monomial bases and argument checks.

Import the modules themselves (``from analysis.spacetime import signature_test``); the package
namespace holds nothing else.
"""

__all__: list[str] = []
