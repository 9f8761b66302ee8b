"""Sub-commands of the ``dualsim`` CLI, one module each.

A command module defines ``NAME`` (the sub-command), ``HELP`` (one line),
``register(parser)`` (adds its arguments to its own ``argparse`` sub-parser) and
``execute(args) -> int`` (the exit code). :mod:`scenarios.cli` discovers them; bad input raises
``ValueError`` (one line, exit 2) and a failed run raises :class:`RunFailed` (exit 1).
"""


class RunFailed(RuntimeError):
    """The run itself failed (exit code 1); the message says why and what was kept."""
