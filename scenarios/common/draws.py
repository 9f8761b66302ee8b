"""Conditioned draws: what makes a scenario well-posed holds for every seed.

A scenario whose validity depends on a random draw (a teacher with an isolated minimum of F, a
teacher whose signal stands above the label noise) conditions that draw: candidate 0 is the
draw the config's own streams make (so a seed whose first draw is accepted runs exactly as
without conditioning); if it is rejected, candidates 1, 2, ... come from a separate named stream
``SeedSequence([seed, key])`` (:data:`REDRAW_KEYS`) and the first accepted one is used
(reject and redraw). :func:`conditioned_draw` does this; the :class:`Draw` it returns records
the accepted values, the number of rejected candidates and the stream, as entries of
``config.toml``'s ``[dualsim]`` table (:meth:`Draw.meta`) and as one ``draw_setup`` row of
``events.parquet`` (:meth:`Draw.event`). A configuration for which no candidate of
:data:`MAX_DRAWS` is accepted makes the scenario ill-posed: :func:`conditioned_draw` raises the
:class:`~models.ConfigError` its caller builds (exit 2, one line naming the fields).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models import ConfigError

__all__ = ["DRAW_ACTION", "MAX_DRAWS", "REDRAW_KEYS", "Draw", "conditioned_draw", "redraw_rng"]

#: candidates tried before a configuration counts as ill-posed
MAX_DRAWS = 200
#: the named redraw streams, ``SeedSequence([seed, key])`` (keys no scenario uses elsewhere)
REDRAW_KEYS = {
    "madelung teacher": 8101,
    "teacher signal": 8102,
}
#: ``action`` of the events row that records a scenario's draw
DRAW_ACTION = "draw_setup"


def redraw_rng(seed: int, name: str) -> np.random.Generator:
    """The redraw stream ``name`` of :data:`REDRAW_KEYS` for ``seed``.

    Examples
    --------
    >>> float(redraw_rng(1, "madelung teacher").random()) == float(
    ...     np.random.default_rng(np.random.SeedSequence([1, 8101])).random())
    True
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), REDRAW_KEYS[name]]))


@dataclass(frozen=True)
class Draw:
    """The accepted draw of a scenario's defining parameters.

    Attributes
    ----------
    name : str
        What was drawn (``"teacher"``).
    values : dict of str to float
        The accepted values (e.g. ``{"b": 2.16, "a": -1.34}``), as recorded.
    rejected : int
        Candidates rejected before the accepted one (0: the config's own first draw).
    stream : str
        Where the accepted candidate came from.
    reasons : tuple of str
        Why the rejected candidates were rejected (in order).
    condition : str
        What the draw is conditioned on (one phrase).
    payload : object
        What the scenario installs (e.g. a :class:`models.tasks.Task`); not recorded.

    Examples
    --------
    >>> d = Draw("teacher", {"b": 1.5, "a": -0.5}, 0, "the config's task stream", (), "x")
    >>> d.meta()["draw_teacher_b"], d.event("setup")["action"]
    (1.5, 'draw_setup')
    """

    name: str
    values: dict[str, float]
    rejected: int
    stream: str
    reasons: tuple[str, ...] = field(default=())
    condition: str = ""
    payload: Any = field(default=None, repr=False, compare=False)

    def meta(self) -> dict[str, Any]:
        """Flat entries for ``config.toml``'s ``[dualsim]`` table.

        Examples
        --------
        >>> sorted(Draw("teacher", {"b": 1.0}, 2, "s", ("r1", "r2"), "c").meta())
        ['draw', 'draw_condition', 'draw_rejected', 'draw_stream', 'draw_teacher_b']
        """
        out: dict[str, Any] = {
            "draw": self.name,
            "draw_condition": self.condition,
            "draw_rejected": int(self.rejected),
            "draw_stream": self.stream,
        }
        out.update({f"draw_{self.name}_{k}": float(v) for k, v in self.values.items()})
        return out

    def detail(self) -> str:
        """One line: the accepted values, the rejected count and the stream.

        Examples
        --------
        >>> Draw("teacher", {"b": 1.0, "a": 2.0}, 1, "redraw", ("no minimum",), "c").detail()
        'teacher b = 1, a = 2 (1 rejected draw, from redraw; conditioned on c)'
        """
        values = ", ".join(f"{k} = {v:.6g}" for k, v in self.values.items())
        plural = "" if self.rejected == 1 else "s"
        cond = f"; conditioned on {self.condition}" if self.condition else ""
        count = f"{self.rejected} rejected draw{plural}"
        return f"{self.name} {values} ({count}, from {self.stream}{cond})"

    def event(self, arm: str, step: int = 0) -> dict[str, Any]:
        """The ``events.parquet`` row recording this draw (source ``scenario``).

        Examples
        --------
        >>> sorted(Draw("teacher", {"b": 1.0}, 0, "s").event("setup"))
        ['action', 'arm', 'detail', 'source', 'step']
        """
        return {
            "step": int(step),
            "action": DRAW_ACTION,
            "source": "scenario",
            "arm": arm,
            "detail": self.detail(),
        }


def conditioned_draw(
    name: str,
    first: Any,
    redraw: Callable[[np.random.Generator], Any],
    reject: Callable[[Any], str | None],
    seed: int,
    stream: str,
    ill_posed: Callable[[list[str]], ConfigError],
    *,
    first_stream: str = "the config's own streams",
    condition: str = "",
    max_draws: int = MAX_DRAWS,
    values: Callable[[Any], dict[str, float]] | None = None,
) -> Draw:
    """Reject and redraw until a candidate is accepted.

    Parameters
    ----------
    name : str
        What is drawn (``"teacher"``).
    first : object
        Candidate 0: the config's own draw (a dict of floats unless ``values`` is given).
    redraw : callable
        ``redraw(rng) -> candidate`` on the stream :func:`redraw_rng` (``seed``, ``stream``);
        called for candidates 1, 2, ... in order.
    reject : callable
        ``reject(candidate) -> reason or None`` (None: accepted).
    seed : int
        The run's seed.
    stream : str
        A key of :data:`REDRAW_KEYS`.
    ill_posed : callable
        ``ill_posed(reasons) -> ConfigError`` raised when ``max_draws`` candidates are rejected.
    first_stream, condition : str
        Descriptions recorded in the :class:`Draw`.
    max_draws : int
        Candidates tried.
    values : callable, optional
        ``values(candidate) -> dict of float`` recorded in the :class:`Draw` (default: the
        candidate itself); the candidate becomes :attr:`Draw.payload`.

    Returns
    -------
    Draw

    Raises
    ------
    models.ConfigError
        No candidate accepted.

    Examples
    --------
    >>> d = conditioned_draw("x", {"v": -1.0}, lambda g: {"v": float(g.normal())},
    ...                      lambda c: None if c["v"] > 0 else "negative", 3, "teacher signal",
    ...                      lambda r: ConfigError("v", -1.0, "positive"))
    >>> d.values["v"] > 0, d.rejected >= 1, d.reasons[0]
    (True, True, 'negative')
    >>> try:
    ...     conditioned_draw("x", {"v": -1.0}, lambda g: {"v": -1.0}, lambda c: "negative", 3,
    ...                      "teacher signal", lambda r: ConfigError("v", -1.0, "positive"),
    ...                      max_draws=5)
    ... except ConfigError as err:
    ...     print(err)
    v: -1.0; expected positive
    """
    reasons: list[str] = []
    candidate = first
    rng: np.random.Generator | None = None
    for k in range(max_draws):
        if k > 0:
            if rng is None:
                rng = redraw_rng(seed, stream)
            candidate = redraw(rng)
        reason = reject(candidate)
        if reason is None:
            where = (
                first_stream
                if k == 0
                else f"redraw {k} of the stream SeedSequence([seed, {REDRAW_KEYS[stream]}])"
            )
            recorded = dict(candidate) if values is None else values(candidate)
            return Draw(name, recorded, k, where, tuple(reasons), condition, candidate)
        reasons.append(reason)
    raise ill_posed(reasons)
