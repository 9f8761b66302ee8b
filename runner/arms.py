"""Arms: the one stepping loop of dualsim and the standard tables of an arm.

An *arm* is one model of a scenario run under one condition (``canonical``, ``adaptive``, a
control ...). :func:`run_arm` builds it and steps it; it is the only place where dualsim steps
models, so everything that has to happen around steps happens here: scheduled actions (a
quench, an injected packet), the progress bar, and -- while a :func:`runner.checkpoint.session`
is open -- checkpoints, resume, signals and divergence handling, which the session attaches to
the loop as an observer (:class:`ArmObserver`).

An error while the arm is built or stepped (a bug, an ``OSError`` while saving a checkpoint)
leaves :func:`run_arm` as :class:`~runner.errors.ArmFailed`, which names the arm and the step
and keeps the original error as its cause; an invalid configuration found while building
(:class:`~models.ConfigError`) and dualsim's own errors (an interruption, a divergence in a
session) pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pandas as pd

from models import ConfigError
from models.divergence import Diverged
from runner.checkpoint import current
from runner.errors import ArmFailed, DualsimError
from runner.io import concat_arms

__all__ = ["ArmObserver", "arm_tables", "concat_arms", "run_arm"]


class ArmObserver(Protocol):
    """What watches one :func:`run_arm` call (:class:`runner.checkpoint.ArmCheckpoints`).

    ``model`` is the model to step. ``started()`` runs before the first step, ``stepped()``
    after every step, ``diverged(error)`` when a step raised
    :class:`~models.divergence.Diverged` (it may raise instead), ``failed(error)`` when any
    other error left the loop (it returns what it kept, a phrase for the error message),
    ``stopped()`` when the loop is left for any reason and ``finished()`` when all steps are
    done.
    """

    model: Any

    def started(self) -> None: ...

    def stepped(self) -> None: ...

    def diverged(self, error: Diverged) -> None: ...

    def failed(self, error: BaseException) -> str: ...

    def stopped(self) -> None: ...

    def finished(self) -> None: ...


def arm_tables(model: Any, arm: str) -> dict[str, pd.DataFrame]:
    """The standard tables of one arm, each with an ``arm`` column.

    ``model`` (DataCollector model table), ``trajectories``, ``neurons`` (DataCollector
    NeuronAgent table), ``neuron_states`` and ``events`` (controller events and model events,
    with a ``source`` column).

    Examples
    --------
    >>> from models import LearningSystem
    >>> m = LearningSystem(replicas=2, n_hidden=2); m.run(2, progress=False)
    >>> tables = arm_tables(m, "demo")
    >>> sorted(tables), set(tables["model"]["arm"])
    (['events', 'model', 'neuron_states', 'neurons', 'trajectories'], {'demo'})
    """
    controller_events = model.controller_events().assign(source="controller")
    model_events = model.events().rename(columns={"event": "action"}).assign(source="model")
    events = pd.concat([controller_events, model_events], ignore_index=True, sort=False)
    out = {
        "model": model.model_frame(),
        "trajectories": model.trajectories(),
        "neurons": model.neuron_frame(),
        "neuron_states": model.neuron_states(),
        "events": events,
    }
    return {k: v.assign(arm=arm) for k, v in out.items()}


def run_arm(
    arm: str,
    build: Callable[[], Any],
    steps: int,
    progress: bool = False,
    actions: dict[int, Callable[[Any], None]] | None = None,
    tables: Callable[[Any, str], dict[str, pd.DataFrame]] = arm_tables,
) -> Any:
    """Build one arm's model and run it; the one place where dualsim steps models.

    Parameters
    ----------
    arm : str
        The arm's name (shown on the progress bar; checkpoints are keyed on it).
    build : callable
        Returns a fresh :class:`~models.LearningSystem` for the arm (deterministic: the same
        call must give the same model, so an arm can be re-created on resume).
    steps : int
        Run until ``model.steps == steps``.
    progress : bool
        Show a progress bar.
    actions : dict of int to callable, optional
        ``{k: fn}`` calls ``fn(model)`` when ``model.steps == k``, before the next step (a quench,
        an injected packet ...). Actions must be deterministic functions of the model.
    tables : callable
        ``tables(model, arm) -> dict of DataFrame``: what an open session writes for this arm
        when the run stops early (a signal, a divergence).

    Returns
    -------
    LearningSystem
        The model after ``steps`` steps.

    Raises
    ------
    ArmFailed
        Any error while building or stepping the arm (see the module docstring), with the arm,
        the step and the original error as its cause.

    Examples
    --------
    >>> from models import LearningSystem
    >>> m = run_arm("demo", lambda: LearningSystem(replicas=2, n_hidden=2), 3,
    ...             actions={1: lambda mm: setattr(mm, "step_size", 0.2)})
    >>> m.steps, m.step_size
    (3, 0.2)
    >>> try:
    ...     run_arm("demo", lambda: LearningSystem(replicas=2, n_hidden=2), 3,
    ...             actions={2: lambda mm: 1 / 0})
    ... except ArmFailed as err:
    ...     print(err, "|", err.arm, err.step, type(err.__cause__).__name__)
    arm 'demo', step 3: ZeroDivisionError: division by zero | demo 3 ZeroDivisionError
    """
    sess = current()  # a dualsim run: checkpoints, resume, signals, divergence handling
    observer: ArmObserver | None = None
    try:
        if sess is None:
            model = build()
        else:
            observer = sess.open_arm(arm, build, steps, tables)
            model = observer.model
    except (DualsimError, ConfigError):
        raise
    except Exception as err:
        raise ArmFailed(arm, 0, err) from err
    actions = dict(actions or {})
    bar = None
    if progress and model.steps < steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=model.steps, desc=arm, leave=False)
    if observer is not None:
        observer.started()
    done = model.steps  # steps completed; the one being made is done + 1
    try:
        while model.steps < steps:
            done = model.steps
            action = actions.get(done)
            if action is not None:
                action(model)
            model.step()
            if bar is not None:
                bar.update(1)
            if observer is not None:
                observer.stepped()
    except Diverged as err:
        if observer is not None:
            observer.diverged(err)
        raise
    except DualsimError:
        raise
    except Exception as err:
        kept = observer.failed(err) if observer is not None else ""
        raise ArmFailed(arm, done + 1, err, kept) from err
    finally:
        if observer is not None:
            observer.stopped()
        if bar is not None:
            bar.close()
    if observer is not None:
        try:
            observer.finished()
        except DualsimError:
            raise
        except Exception as err:  # the final checkpoint could not be saved
            raise ArmFailed(arm, model.steps, err, observer.failed(err)) from err
    return model
