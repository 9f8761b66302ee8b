"""``python -m tests.runner.steppause COUNTER PAUSE_AT dualsim-args...``: ``dualsim`` (its
``main``) with a step counter the tests can watch, pausing at one step until a signal arrives.

After every step of every arm (the session observer's ``stepped``), before the session acts on
it, the run writes ``"<steps so far, all arms> <arm> <step of the arm>"`` to the file COUNTER
(atomically). At the PAUSE_AT-th step overall (0: never) it waits until the session has
received SIGINT/SIGTERM (then that step is where the run stops, exactly) or it is killed; after
10 minutes without a signal it goes on. Nothing of this reaches the model or the checkpoints:
the outputs are those of ``dualsim run``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from runner import checkpoint
from runner.io import atomic_write

__all__ = ["main", "read_counter"]

PAUSE_LIMIT = 600.0


def read_counter(path: Path) -> tuple[int, str, int] | None:
    """The last ``(steps so far, arm, step of the arm)`` written to ``path``, else None."""
    try:
        total, arm, step = path.read_text().split()
    except (OSError, ValueError):
        return None
    return int(total), arm, int(step)


def main(argv: list[str]) -> int:
    """Patch the session observer, then run ``dualsim`` with ``argv[2:]``."""
    counter, pause_at, args = Path(argv[0]), int(argv[1]), argv[2:]
    original = checkpoint.ArmCheckpoints.stepped
    calls = [0]

    def stepped(self: checkpoint.ArmCheckpoints) -> None:
        calls[0] += 1
        atomic_write(counter, f"{calls[0]} {self.arm} {self.model.steps}\n".encode())
        if calls[0] == pause_at:
            deadline = time.monotonic() + PAUSE_LIMIT
            while self.session.signal is None and time.monotonic() < deadline:
                time.sleep(0.01)
        original(self)

    checkpoint.ArmCheckpoints.stepped = stepped  # type: ignore[method-assign]
    from dualsim.cli import main as dualsim_main

    return dualsim_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
