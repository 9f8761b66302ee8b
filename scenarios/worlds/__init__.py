"""Scenario ``worlds``: replicas coupled through a shared density neuron (coupling put in by hand).

Known-answer entry points: :func:`ground_state`, :func:`breathing` and :func:`spreading`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scenarios.worlds.known_answers import HAND, relax, spread, trajectory

__all__ = ["HAND", "breathing", "ground_state", "spreading"]


def ground_state(n: int, *, estimator: str = "hdw", seed: int = 0) -> float:
    """The stationary variance of ``n`` coupled replicas (units ``hbar / (m omega)``).

    The learning system's coupled replicas (one parameter each, loss ``q^2 / 2``, exact
    gradients, small gamma) relax with friction from normal quantiles of variance 1 at rest;
    the result is the mean variance over the last tenth of the run. HDW predicts
    ``(1 - 1/n) / 2``. The coupling is put in by hand.

    Examples
    --------
    >>> round(ground_state(5), 3)
    0.4
    """
    df = relax(n, estimator=estimator, seed=seed)
    tail = df["var"].iloc[-max(2, len(df) // 10) :]
    return float(tail.mean())


def breathing(
    n: int,
    var0: float,
    *,
    periods: float = 2,
    estimator: str = "hdw",
    coupling: bool = True,
    friction: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Breathing of ``n`` coupled replicas released at rest from the scaled ground
    configuration of variance ``var0``: DataFrame ``t, var`` (units ``1/omega`` and
    ``hbar / (m omega)``), one sample per learning step (about 63 per breathing period pi).

    ``friction`` is ``(1 - beta) / omega``; ``coupling=False`` is the coupling-off control.
    The prediction (frictionless) is ``Var0 cos^2 t + (Var_g^2 / Var0) sin^2 t``. The coupling
    is put in by hand.

    Examples
    --------
    >>> df = breathing(10, 1.0, periods=0.5)
    >>> round(float(df["var"].min()), 2)
    0.2
    """
    df = trajectory(
        n,
        var0,
        periods * math.pi,
        estimator=estimator,
        coupling=coupling,
        friction=friction,
        seed=seed,
    )
    return df[["t", "var"]].reset_index(drop=True)


def spreading(n: int, var0: float, *, duration: float = 2.0, seed: int = 0) -> pd.DataFrame:
    """Free spreading (loss switched off) of ``n`` HDW-coupled replicas from the ground
    configuration scaled to ``var0``: DataFrame ``t, var, ratio`` with
    ``ratio = (Var(t) - Var0) Var0 / (t/2)^2`` (prediction ``4 Var_g^2 = (1 - 1/n)^2``, the
    1/sigma_0^2 law). The coupling is put in by hand.

    Examples
    --------
    >>> df = spreading(10, 1.0, duration=1.0)
    >>> round(float(df["ratio"].iloc[-1]), 2)
    0.81
    """
    df = spread(n, var0, duration, seed=seed)[["t", "var"]].reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        df["ratio"] = (df["var"] - var0) * var0 / (df["t"] / 2.0) ** 2
    return df
