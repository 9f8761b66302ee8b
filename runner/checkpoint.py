"""Checkpoints, resume, signals and divergence handling of runs: nothing computed is lost.

A :func:`session` wraps one run (``dualsim run`` opens it). While it is open, the session
observes every :func:`runner.arms.run_arm` call (:meth:`Session.open_arm` hands the stepping
loop an :class:`ArmCheckpoints` for the arm, which the loop calls before the first step, after
every step and at the end). The session

- writes a checkpoint of the model every ``every`` steps, and when the arm ends, to
  ``OUT/checkpoints/NNN-ARM.pkl`` (NNN counts the ``run_arm`` calls of the run, so a scenario
  that re-runs its arms in the same order finds them again). A checkpoint is the whole model
  pickled: arrays, every random state (``model.streams``, Mesa's ``random`` and ``rng``),
  controllers, and everything recorded so far. Writes are atomic (temporary file, fsync,
  rename, fsync of the folder), so a ``kill -9`` at any moment leaves the previous checkpoint
  valid;
- on resume, loads an arm's checkpoint instead of building it: a finished arm is returned as
  it ended, the running one continues from its last checkpoint. Since the pickled state is the
  complete state, the outputs are bit-identical to an uninterrupted run with the same seed;
- on SIGINT or SIGTERM finishes the current step, writes a checkpoint, flushes the tables
  recorded so far (finished arms and the running one) into valid Parquet files and raises
  :class:`Interrupted` (exit code 130 or 143) with the command that resumes;
- on a divergence (:class:`models.divergence.Diverged`) writes the tables recorded up to the
  last good step and raises :class:`~runner.errors.RunFailed` with the one-line cause; in
  ``drop`` mode the diverged replicas are dropped instead and the run goes on;
- on any other error in an arm (:class:`~runner.errors.ArmFailed`) writes the tables recorded
  so far, when it can, and keeps the checkpoints, so ``--resume`` continues from the last one.

What is flushed is the arm's tables function (``run_arm``'s ``tables``, by default
:func:`runner.arms.arm_tables`), unless :attr:`Session.tables` replaces it for every arm.

Closures and lambdas (task samplers, activations, controller reporters) are pickled by value
(marshalled code plus their closure cells), so the checkpoint is only valid for the same
Python version and the same code; the header records the Python version and is checked.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import marshal
import os
import pickle
import shutil
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from models.divergence import MODES, Diverged
from runner.errors import SIGNAL_EXIT_CODES, Interrupted, RunFailed, UsageError
from runner.io import atomic_write, concat_arms, write_table

__all__ = [
    "CHECKPOINT_DIR",
    "DEFAULT_EVERY",
    "ArmCheckpoints",
    "Session",
    "current",
    "dumps",
    "load_checkpoint",
    "prepare_output",
    "save_checkpoint",
    "session",
]

FORMAT = 1
CHECKPOINT_DIR = "checkpoints"
DEFAULT_EVERY = 50

# files a dualsim run writes into its output folder (what --force may remove)
OUTPUT_PATTERNS = ("*.parquet", "*.csv", "*.png", "config.toml", "summary.md", "traceback.txt")
OUTPUT_DIRS = ("figures", CHECKPOINT_DIR)

TablesFn = Callable[[Any, str], dict[str, pd.DataFrame]]


# ---------------------------------------------------------------------- pickling
def _make_cell() -> types.CellType:
    return types.CellType()


def _fill_cell(cell: types.CellType, state: tuple[Any]) -> None:
    cell.cell_contents = state[0]


def _make_function(
    code: bytes,
    module: str | None,
    name: str,
    qualname: str,
    defaults: tuple | None,
    kwdefaults: dict | None,
    closure: tuple | None,
    attrs: dict,
) -> types.FunctionType:
    namespace = (
        importlib.import_module(module).__dict__ if module else {"__builtins__": __builtins__}
    )
    fn = types.FunctionType(marshal.loads(code), namespace, name, defaults, closure)
    fn.__qualname__ = qualname
    fn.__kwdefaults__ = kwdefaults
    fn.__dict__.update(attrs)
    return fn


class _Pickler(pickle.Pickler):
    """Pickles local functions and lambdas by value (code + closure), everything else as usual."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.FunctionType) and (
            "<locals>" in obj.__qualname__ or obj.__name__ == "<lambda>"
        ):
            return (
                _make_function,
                (
                    marshal.dumps(obj.__code__),
                    obj.__module__,
                    obj.__name__,
                    obj.__qualname__,
                    obj.__defaults__,
                    obj.__kwdefaults__,
                    obj.__closure__,
                    dict(obj.__dict__),
                ),
            )
        if isinstance(obj, types.CellType):
            try:
                contents = (obj.cell_contents,)
            except ValueError:  # an empty cell
                return (_make_cell, ())
            return (_make_cell, (), contents, None, None, _fill_cell)
        return NotImplemented


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` (local functions and lambdas included).

    Examples
    --------
    >>> def outer(k):
    ...     return lambda x: x + k
    >>> pickle.loads(dumps(outer(2)))(1)
    3
    """
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def save_checkpoint(path: str | Path, model: Any, **header: Any) -> None:
    """Write a checkpoint: a header dict (format, Python version, ``header``) and the model.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from models import LearningSystem
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pkl"
    >>> m = LearningSystem(replicas=2, n_hidden=2); m.run(2, progress=False)
    >>> save_checkpoint(p, m, arm="a"); load_checkpoint(p)[1].steps
    2
    """
    head = {"format": FORMAT, "python": sys.version_info[:2], **header}
    atomic_write(path, dumps((head, model)))


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a bad file raises a one-line
    ``UsageError`` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: unreadable checkpoint ({exc.strerror})") from None
    try:
        head, model = pickle.loads(data)
    except Exception as exc:
        raise UsageError(
            f"{path}: corrupt checkpoint ({type(exc).__name__}); delete it to restart that arm"
        ) from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise UsageError(f"{path}: not a dualsim checkpoint of format {FORMAT}")
    if tuple(head.get("python", ())) != sys.version_info[:2]:
        raise UsageError(
            f"{path}: written by Python {'.'.join(map(str, head.get('python', ())))}; "
            f"expected {sys.version_info[0]}.{sys.version_info[1]}"
        )
    return head, model


# ---------------------------------------------------------------------- output folder
def prepare_output(folder: str | Path, resume: bool = False, force: bool = False) -> Path:
    """Check (and create) a run's output folder.

    A new or empty folder is fine. A non-empty one is refused unless ``resume`` (it must hold a
    previous run's ``config.toml``) or ``force`` (the files a dualsim run writes there are
    removed first; other files are left alone).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "model.parquet").write_text("x")
    >>> try:
    ...     prepare_output(d)
    ... except UsageError as err:
    ...     print(str(err).split(";")[1].strip()[:27])
    expected a new or empty one
    >>> prepare_output(d, force=True) == d, (d / "model.parquet").exists()
    (True, False)
    """
    folder = Path(folder)
    if resume and force:
        raise UsageError("--resume and --force: both given; expected at most one")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder}: a file; expected a folder")
    busy = folder.is_dir() and any(folder.iterdir())
    if folder.is_dir():
        _check_writable(folder)
    if resume:
        if not (folder / "config.toml").is_file():
            raise UsageError(
                f"--out {folder}: no config.toml; --resume expects the folder of an earlier run"
            )
        return folder
    if busy and not force:
        raise UsageError(
            f"--out {folder}: not empty; expected a new or empty one "
            "(--resume continues the run there, --force overwrites it)"
        )
    if busy:
        for pattern in OUTPUT_PATTERNS:
            for path in folder.glob(pattern):
                path.unlink()
        for name in OUTPUT_DIRS:
            shutil.rmtree(folder / name, ignore_errors=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out {folder}: cannot be created ({exc.strerror}); expected a folder you can write"
        ) from None
    _check_writable(folder)
    return folder


def _check_writable(folder: Path) -> None:
    """A folder the run cannot write into is bad input (refused before anything runs)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {folder}: not writable; expected a folder you can write")


# ---------------------------------------------------------------------- the session
class Session:
    """Checkpoint, resume, signal and divergence settings of one run (see the module docstring).

    Parameters
    ----------
    folder : path
        The run's output folder (checkpoints go to ``folder / "checkpoints"``).
    name : str
        Scenario name (for the resume hint).
    every : int
        Checkpoint every ``every`` steps (0: only when an arm ends or is interrupted).
    resume : bool
        Load the arms' checkpoints.
    on_divergence : {"stop", "drop"}
    divergence_factor : float, optional
        Loss blow-up factor of the divergence test (default: the model's).
    tables : callable, optional
        ``tables(model, arm) -> dict of DataFrame``: what is flushed to Parquet for every arm
        when a run stops early (arms are concatenated); default: each arm's own tables function
        (the ``tables`` of its :func:`runner.arms.run_arm` call).
    """

    def __init__(
        self,
        folder: str | Path,
        name: str = "",
        every: int = DEFAULT_EVERY,
        resume: bool = False,
        on_divergence: str = "stop",
        divergence_factor: float | None = None,
        tables: TablesFn | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise UsageError(f"--checkpoint-every: {every!r}; expected an integer >= 0")
        if on_divergence not in MODES:
            raise UsageError(f"--on-divergence: {on_divergence!r}; expected one of stop, drop")
        if divergence_factor is not None and not divergence_factor > 1:
            raise UsageError(f"--divergence-factor: {divergence_factor!r}; expected a number > 1")
        self.folder = Path(folder)
        self.name = name
        self.every = every
        self.resume = resume
        self.on_divergence = on_divergence
        self.divergence_factor = divergence_factor
        self.tables = tables
        self.calls = 0
        self.active: ArmCheckpoints | None = None
        self.finished: list[tuple[str, Any, TablesFn]] = []
        self.signal: int | None = None
        self.stepping = False

    @property
    def checkpoint_dir(self) -> Path:
        return self.folder / CHECKPOINT_DIR

    def resume_hint(self) -> str:
        return f"dualsim run {self.name} --out {self.folder} --resume"

    def where(self) -> str:
        """Where the run is: in which arm at which step, or after which arm.

        Examples
        --------
        >>> Session("out").where()
        'before its first arm'
        """
        if self.active is not None:
            return f"in arm {self.active.arm!r} at step {self.active.model.steps}"
        if self.finished:
            return f"after arm {self.finished[-1][0]!r}"
        return "before its first arm"

    # -------------------------------------------------------------- signals
    def _on_signal(self, signum: int, frame: Any) -> None:
        del frame
        if self.stepping and self.signal is None:
            self.signal = signum  # acted on after the current step
            return
        raise Interrupted(
            signum,
            f"{signal.Signals(signum).name} between steps: the checkpoints already written "
            f"are kept in {self.checkpoint_dir}; resume with: {self.resume_hint()}",
        )

    # -------------------------------------------------------------- arms
    def open_arm(
        self, arm: str, build: Callable[[], Any], steps: int, tables: TablesFn
    ) -> ArmCheckpoints:
        """The observer of one :func:`runner.arms.run_arm` call: its model comes from the arm's
        checkpoint on resume (``build()`` otherwise), configured for this session's divergence
        handling."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in arm)
        key = f"{self.calls:03d}-{safe}"
        self.calls += 1
        path = self.checkpoint_dir / f"{key}.pkl"
        model = None
        if self.resume and path.is_file():
            head, model = load_checkpoint(path)
            if head.get("arm") != arm or head.get("steps") != steps:
                raise UsageError(
                    f"{path}: checkpoint of arm {head.get('arm')!r} ({head.get('steps')} steps); "
                    f"expected arm {arm!r} ({steps} steps): the scenario or its options changed"
                )
        if model is None:
            model = build()
        self._configure(model)
        self.active = ArmCheckpoints(self, arm, steps, path, model, self.tables or tables)
        return self.active

    def _configure(self, model: Any) -> None:
        guard = getattr(model, "divergence", None)
        if guard is not None:
            guard.mode = self.on_divergence
            if self.divergence_factor is not None:
                guard.factor = float(self.divergence_factor)

    def _save(self, path: Path, model: Any, arm: str, steps: int, done: bool) -> None:
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, model, arm=arm, steps=int(steps), step=int(model.steps), done=done)

    def flush(self, current: tuple[str, Any, TablesFn] | None = None) -> list[str]:
        """Write the tables recorded so far (finished arms, then ``current``) as Parquet."""
        arms = [*self.finished, *([current] if current is not None else [])]
        tables = concat_arms([fn(model, arm) for arm, model, fn in arms])
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            write_table(self.folder / f"{name}.parquet", frame)
        return sorted(tables)


class ArmCheckpoints:
    """What a :class:`Session` does around one arm's stepping loop.

    :func:`runner.arms.run_arm` calls :meth:`started` before the first step, :meth:`stepped`
    after every step, :meth:`diverged` when a step raises
    :class:`~models.divergence.Diverged`, :meth:`stopped` when the loop is left (normally or
    not) and :meth:`finished` when the arm has run all its steps.

    Attributes
    ----------
    model : LearningSystem
        The arm's model (from its checkpoint on resume).
    """

    def __init__(
        self, session: Session, arm: str, steps: int, path: Path, model: Any, tables: TablesFn
    ) -> None:
        self.session = session
        self.arm = arm
        self.steps = steps
        self.path = path
        self.model = model
        self.tables = tables

    def started(self) -> None:
        """A signal from now on is acted on after the current step."""
        self.session.stepping = True

    def stepped(self) -> None:
        """After a step: act on a pending signal; checkpoint every ``every`` steps."""
        sess, model = self.session, self.model
        if sess.signal is not None:
            self._interrupt()
        if sess.every and model.steps % sess.every == 0 and model.steps < self.steps:
            sess._save(self.path, model, self.arm, self.steps, done=False)

    def diverged(self, error: Diverged) -> None:
        """Write the tables recorded up to the last good step and raise :class:`RunFailed`."""
        self.session.stepping = False
        written = self.session.flush((self.arm, self.model, self.tables))
        raise RunFailed(
            f"{error} [arm {self.arm}]; {', '.join(written)} up to step {error.step - 1} "
            f"written to {self.session.folder}"
        ) from None

    def failed(self, error: BaseException) -> str:
        """Another error left the loop: write the tables recorded so far (finished arms and
        this one, when its tables can still be made) and say what was kept."""
        sess = self.session
        sess.stepping = False
        hint = f"checkpoints kept (resume with: {sess.resume_hint()})"
        try:
            written = sess.flush((self.arm, self.model, self.tables))
        except Exception:
            try:  # the running arm's tables cannot be made: the finished arms' still can
                written = sess.flush() if sess.finished else []
            except Exception as exc:
                return f"no tables written ({type(exc).__name__}: {exc}); {hint}"
        if not written:
            return hint
        return f"{', '.join(written)} as recorded so far written to {sess.folder}; {hint}"

    def stopped(self) -> None:
        """The loop is left: a signal from now on interrupts at once."""
        self.session.stepping = False

    def finished(self) -> None:
        """The arm ran all its steps: save its final checkpoint; act on a pending signal."""
        sess = self.session
        sess._save(self.path, self.model, self.arm, self.steps, done=True)
        sess.finished.append((self.arm, self.model, self.tables))
        sess.active = None
        if sess.signal is not None:
            self._interrupt(saved=True)

    def _interrupt(self, saved: bool = False) -> None:
        sess, model = self.session, self.model
        signum = int(sess.signal or signal.SIGINT)
        sess.stepping = False
        if not saved:
            sess._save(self.path, model, self.arm, self.steps, done=model.steps >= self.steps)
        written = sess.flush(None if saved else (self.arm, model, self.tables))
        name = signal.Signals(signum).name
        raise Interrupted(
            signum,
            f"{name} at step {model.steps} of arm {self.arm!r}: checkpoint and "
            f"{len(written)} tables saved in {sess.folder}; resume with: {sess.resume_hint()}",
        )


_CURRENT: list[Session] = []


def current() -> Session | None:
    """The open session, if any.

    Examples
    --------
    >>> current() is None
    True
    """
    return _CURRENT[-1] if _CURRENT else None


@contextlib.contextmanager
def session(folder: str | Path, keep: bool = False, **options: Any) -> Iterator[Session]:
    """Open a :class:`Session` for one run (signal handlers installed in the main thread).

    ``options`` are the arguments of :class:`Session`. On a normal exit the checkpoints are
    removed (the outputs are complete) unless ``keep``.

    Examples
    --------
    >>> import tempfile
    >>> from models import LearningSystem
    >>> from runner.arms import run_arm
    >>> d = tempfile.mkdtemp()
    >>> with session(d, every=2) as s:
    ...     m = run_arm("a", lambda: LearningSystem(replicas=2, n_hidden=2), 5)
    ...     sorted(p.name for p in s.checkpoint_dir.iterdir())
    ['000-a.pkl']
    """
    sess = Session(folder, **options)
    installed = {}
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNAL_EXIT_CODES:
            installed[signum] = signal.signal(signum, sess._on_signal)
    _CURRENT.append(sess)
    try:
        yield sess
    finally:
        _CURRENT.remove(sess)
        for signum, old in installed.items():
            signal.signal(signum, old)
    if not keep:
        shutil.rmtree(sess.checkpoint_dir, ignore_errors=True)
