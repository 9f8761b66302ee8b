"""Mid-run perturbations shared by scenarios: the teacher quench and packets per replica block.

:func:`quench` changes the task (the teacher's weights scaled by ``QUENCH_SCALE``) through
:meth:`models.LearningSystem.set_task`, drawing the new probe set from the stream
``SeedSequence([seed, 7919])``; :func:`inject_block_packets` splits the replicas into contiguous
blocks and drives block ``k`` with one packet of activity on neuron group ``k mod 4``.

Units: packet amplitude in neuron-state units, width in neurons, decay in learning steps.
"""

from __future__ import annotations

import numpy as np

from models import LearningSystem

__all__ = [
    "PACKET_AMPLITUDE",
    "PACKET_DECAY",
    "PACKET_WIDTH",
    "QUENCH_SCALE",
    "TEACHER_WEIGHTS",
    "inject_block_packets",
    "quench",
    "replica_blocks",
]

QUENCH_SCALE = 0.6
TEACHER_WEIGHTS = ("w1", "w2", "w")
PACKET_AMPLITUDE = 0.3
PACKET_WIDTH = 2.0
PACKET_DECAY = 8.0


def quench(model: LearningSystem, scale: float = QUENCH_SCALE) -> None:
    """Scale the teacher's weights by ``scale`` and redraw the probe set (one ``set_task`` event).

    The weights named in :data:`TEACHER_WEIGHTS` that the task has are multiplied in place (the
    task's sampler reads them, so every later mini-batch follows the new teacher); the probe set
    is drawn again from ``SeedSequence([config.seed, 7919])``. Weights, neurons and every other
    random stream are untouched.

    Parameters
    ----------
    model : models.LearningSystem
        The model to perturb, on a task with teacher weights (``task="teacher"``).
    scale : float
        Factor applied to every teacher weight.

    Examples
    --------
    >>> m = LearningSystem(replicas=4, n_hidden=2, seed=0)
    >>> w1 = m.task.params["w1"].copy()
    >>> m.step(); quench(m); m.step()
    >>> bool(np.allclose(m.task.params["w1"], QUENCH_SCALE * w1))
    True
    >>> m.events()[["step", "event"]].values.tolist()
    [[1, 'set_task']]
    """
    rng = np.random.default_rng(np.random.SeedSequence([model.config.seed, 7919]))
    scaled = {k: v * scale for k, v in model.task.params.items() if k in TEACHER_WEIGHTS}
    model.set_task(rng=rng, **scaled)


def replica_blocks(replicas: int, blocks: int) -> list[np.ndarray]:
    """The replicas split into ``blocks`` contiguous blocks (block ``k`` gets packet ``k``).

    Examples
    --------
    >>> [b.tolist() for b in replica_blocks(5, 2)]
    [[0, 1, 2], [3, 4]]
    """
    return np.array_split(np.arange(replicas), blocks)


def inject_block_packets(model: LearningSystem, groups: list[list[int]], blocks: int) -> None:
    """Inject one packet per replica block, block ``k`` centred on neuron group ``k mod 4``.

    Amplitude ``PACKET_AMPLITUDE``, width ``PACKET_WIDTH`` neurons, decay ``PACKET_DECAY`` steps
    (:meth:`models.LearningSystem.inject_packet`); one ``inject_packet`` event per block.

    Examples
    --------
    >>> m = LearningSystem(replicas=4, n_hidden=4, seed=0)
    >>> inject_block_packets(m, [[2], [3], [4], [5]], 2); m.step()
    >>> m.events()["replicas"].tolist()
    [2, 2]
    """
    for k, rows in enumerate(replica_blocks(model.config.replicas, blocks)):
        model.inject_packet(
            groups[k % len(groups)],
            amplitude=PACKET_AMPLITUDE,
            width=PACKET_WIDTH,
            decay=PACKET_DECAY,
            replicas=rows,
        )
