"""The benchmarks stay runnable: every ``bench_*`` module is a section of ``make bench`` and the
cheap entry points run (timings themselves are not tested)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmarks import bench, bench_controllers, bench_torch

FOLDER = Path(bench.__file__).parent


def test_every_bench_module_is_a_section() -> None:
    modules = {p.stem for p in FOLDER.glob("bench_*.py")}
    sections = {fn.__module__.removeprefix("benchmarks.") for _, fn in bench.SECTIONS}
    assert sections == modules


def test_only_runs_one_section(capsys, monkeypatch) -> None:
    monkeypatch.setattr(bench, "SECTIONS", (("a", lambda: ["ran a"]), ("b", lambda: 1 / 0)))
    assert bench.main(["--only", "a"]) == 0
    assert capsys.readouterr().out.strip() == "ran a"
    assert bench.main([]) == 0
    assert "b: failed: ZeroDivisionError" in capsys.readouterr().out


def test_controller_timing_and_torch_entry_run(monkeypatch) -> None:
    total, share = bench_controllers.time_step([], steps=1, repeats=1)
    assert total > 0 and share == 0
    if importlib.util.find_spec("torch") is None:
        monkeypatch.delenv(bench_torch.ENV_PYTHON, raising=False)
        assert "skipped" in bench_torch.run(rounds=1)[0]
