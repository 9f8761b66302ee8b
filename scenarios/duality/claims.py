"""The claim of the ``duality`` scenario, declared as data, and its verdict function.

:data:`DUALITY` holds the threshold, sense, null control and positive control; nothing else in
the package repeats them. :func:`duality` judges the numbers :func:`scenarios.duality.measures.
measure` returns.
"""

from __future__ import annotations

import math
from typing import Any

from analysis.verdicts import Claim, Verdict

__all__ = ["CLAIMS", "DUALITY", "duality"]

DUALITY = Claim(
    "duality",
    "ln max(score_q, score_x): Schrödinger H/floor over frozen density (q), "
    "median per-path geodesic chi2/dof over straight lines (x); out of sample",
    0.0,
    "<",
    "same run, replicas permuted within packet blocks at every step",
    "Nelson trajectories (q) and noisy geodesics of the run's own metric (x)",
    "duality",
)
CLAIMS: tuple[Claim, ...] = (DUALITY,)


def duality(res: dict[str, Any]) -> Verdict:
    """Claim ``duality``: both descriptions predict better than their nulls, out of sample.

    ``res`` is a :func:`~scenarios.duality.measures.measure` result: the score
    ``max(score_q, score_x)`` (a ratio of two errors), its bootstrap interval (row 2 of ``lo``,
    ``hi``), the block-shuffled control and the positive control (NaN when it is empty). The
    statistic is the log of each (read on any scale; 0 where both descriptions just tie with
    their nulls).

    Examples
    --------
    >>> import numpy as np
    >>> res = {"value": 0.6, "lo": np.array([0, 0, 0.5]), "hi": np.array([0, 0, 0.8]),
    ...        "control": 1.3, "positive": 0.4}
    >>> v = duality(res)
    >>> v.verdict, round(v.value, 3)
    ('supported', -0.511)
    """

    def ln(x: float) -> float:
        x = float(x)
        return math.log(x) if x > 0 else (float("nan") if math.isnan(x) else -math.inf)

    return DUALITY.verdict(
        ln(res["value"]),
        ln(float(res["lo"][2])),
        ln(float(res["hi"][2])),
        ln(res["control"]),
        ln(res["positive"]),
    )
