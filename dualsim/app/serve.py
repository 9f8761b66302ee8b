"""The Solara server of ``dualsim app``, tied to the process that starts it.

``python -m dualsim.app.serve run dualsim.app.page ...`` is ``solara run ...`` in a process that
ends when its parent ends (:func:`runner.lifeline.die_with_parent`): a killed ``dualsim app``
leaves no server behind.

Examples
--------
>>> from dualsim.commands.app import server_command
>>> server_command("127.0.0.1", 8765)[1:5]
['-m', 'dualsim.app.serve', 'run', 'dualsim.app.page']
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runner.lifeline import die_with_parent

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Arm the lifeline, then run Solara's command line with ``argv`` (default: ``sys.argv``)."""
    die_with_parent()
    from solara.__main__ import cli

    cli(list(sys.argv[1:] if argv is None else argv), prog_name="solara")


if __name__ == "__main__":
    main()
