"""The walkthrough notebook runs top to bottom in a fresh kernel (nbclient) without errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the viz extra (nbformat) is not installed")
nbclient = pytest.importorskip("nbclient", reason="the viz extra (nbclient) is not installed")

NOTEBOOK = Path(__file__).resolve().parents[2] / "dualsim/app/notebooks/walkthrough.ipynb"


def test_walkthrough_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "stored outputs"
    client = nbclient.NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "step 30 ·" in text and "hbar = " in text
    # the page is displayed as a widget (the last cell)
    last = nb.cells[-1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in last)
    print(f"notebook executed in {elapsed:.1f} s")
