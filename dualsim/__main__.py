"""``python -m dualsim`` is the ``dualsim`` command."""

import sys

from dualsim.cli import main

__all__: list[str] = []

sys.exit(main())
