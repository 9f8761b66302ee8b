"""``python -m scenarios`` is the ``dualsim`` command."""

import sys

from scenarios.cli import main

sys.exit(main())
