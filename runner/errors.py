"""The errors of a dualsim run, each carrying the exit code of the ``dualsim`` command.

``DualsimError`` is the base class; its ``exit_code`` says how the command ends:

- exit 2, bad input: :class:`UsageError` (an option, a folder, a saved file) and
  :class:`~models.ConfigError` (an invalid configuration value);
- exit 1, a failed run: :class:`RunFailed` (the message says what was kept),
  :class:`ArmFailed` (an error while an arm was built or stepped; it names the arm and the
  step), :class:`AnalysisFailed` (the analysis could not produce a number it needs) and
  :class:`~models.divergence.Diverged` (NaN/Inf or a loss blow-up);
- exit 130 (SIGINT) or 143 (SIGTERM): :class:`Interrupted`, after saving.

Any other exception is a failed run (exit 1): a bug inside a simulation is never reported as
bad input. :func:`exit_code_for` applies these rules.
"""

from __future__ import annotations

import signal

from models import ConfigError
from models.divergence import Diverged

__all__ = [
    "AnalysisFailed",
    "ArmFailed",
    "ConfigError",
    "Diverged",
    "DualsimError",
    "Interrupted",
    "RunFailed",
    "UsageError",
    "exit_code_for",
]

SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class DualsimError(Exception):
    """Base class of the errors dualsim raises on purpose; ``exit_code`` is the command's."""

    exit_code: int = 1


class UsageError(DualsimError, ValueError):
    """Bad input (an option, an output folder, a saved file): exit code 2.

    A ``ValueError`` too, so callers that check for bad values catch it.

    Examples
    --------
    >>> UsageError("--out x: a file; expected a folder").exit_code
    2
    """

    exit_code = 2


class RunFailed(DualsimError, RuntimeError):
    """The run itself failed (exit code 1); the message says why and what was kept."""

    exit_code = 1


class ArmFailed(RunFailed):
    """An error while an arm was built or stepped (exit code 1), with the arm and the step.

    :func:`runner.arms.run_arm` raises it from the original error (``__cause__``, also
    :attr:`error`); the message is one line: the arm, the step, the error's type and first line,
    then ``detail`` (what was kept).

    Parameters
    ----------
    arm : str
        The arm's name.
    step : int
        The step being made when the error happened (``model.steps + 1`` at that moment), 0
        while the arm's model was being built.
    error : BaseException
        The original error.
    detail : str
        What was kept, appended after ``"; "`` (empty: nothing).

    Examples
    --------
    >>> err = ArmFailed("adaptive", 37, ValueError("bad value\\nmore"), "tables kept in out")
    >>> print(err)
    arm 'adaptive', step 37: ValueError: bad value; tables kept in out
    >>> err.arm, err.step, err.exit_code
    ('adaptive', 37, 1)
    """

    def __init__(self, arm: str, step: int, error: BaseException, detail: str = "") -> None:
        self.arm = arm
        self.step = int(step)
        self.error = error
        self.detail = detail
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        cause = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        where = f"arm {arm!r}, " + (f"step {self.step}" if self.step else "building its model")
        super().__init__(f"{where}: {cause}" + (f"; {detail}" if detail else ""))

    def __reduce__(self) -> tuple:  # picklable (a sweep worker sends it back to the parent)
        return (type(self), (self.arm, self.step, self.error, self.detail))


class AnalysisFailed(RunFailed):
    """The analysis could not produce a number it needs (a failed run, exit 1)."""


class Interrupted(DualsimError, RuntimeError):
    """The run was stopped by a signal after saving; ``exit_code`` is 130 (SIGINT) or 143.

    Examples
    --------
    >>> Interrupted(signal.SIGTERM, "stopped").exit_code
    143
    """

    def __init__(self, signum: int, message: str) -> None:
        self.signum = int(signum)
        self.exit_code = SIGNAL_EXIT_CODES.get(signum, 128 + int(signum))
        super().__init__(message)


def exit_code_for(exc: BaseException) -> int:
    """The ``dualsim`` exit code of an exception.

    ``ConfigError`` and ``UsageError`` give 2, ``Interrupted`` its signal's code (130/143),
    ``KeyboardInterrupt`` 130; everything else -- ``RunFailed``, ``Diverged``, and any exception
    dualsim did not raise on purpose -- is a failed run, 1.

    Examples
    --------
    >>> [exit_code_for(e) for e in (ConfigError("replicas", 0, "an integer >= 1"),
    ...  UsageError("bad"), RunFailed("x"), ValueError("a bug"), OSError("disk"))]
    [2, 2, 1, 1, 1]
    >>> exit_code_for(Interrupted(signal.SIGINT, "stopped"))
    130
    """
    if isinstance(exc, ConfigError):
        return 2
    if isinstance(exc, DualsimError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return SIGNAL_EXIT_CODES[signal.SIGINT]
    return 1
