"""pytest configuration shared by the tests and the doctests of every package.

Doctests always assume ``import numpy as np``, ``import pandas as pd`` and
``from models import LearningSystem, SystemConfig``, so examples need not repeat them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import LearningSystem, SystemConfig

__all__ = ["add_common_names"]


@pytest.fixture(autouse=True)
def add_common_names(doctest_namespace: dict) -> None:
    """Put ``np``, ``pd``, ``LearningSystem`` and ``SystemConfig`` in every doctest's namespace."""
    doctest_namespace["np"] = np
    doctest_namespace["pd"] = pd
    doctest_namespace["LearningSystem"] = LearningSystem
    doctest_namespace["SystemConfig"] = SystemConfig
