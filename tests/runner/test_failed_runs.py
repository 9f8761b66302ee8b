"""A run that fails after its input was accepted: exit 1, one line naming the arm and the step
(or where the run was), the traceback saved, the tables recorded so far written, the checkpoints
kept -- and ``--resume`` then gives the uninterrupted run's outputs."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from dualsim.cli import main
from dualsim.commands import TRACEBACK_FILE
from models import LearningSystem
from models.ensemble import Ensemble
from runner import checkpoint
from runner.arms import run_arm
from runner.errors import ArmFailed, Interrupted, exit_code_for

SMALL = dict(replicas=4, n_hidden=3, batch_size=4, n_probe=8, record_every=2)


def _cli(out: Path, *extra: str) -> list[str]:
    base = ["run", "train", "--steps", "12", "--replicas", "4", "--out", str(out)]
    return [*base, "--no-progress", "--checkpoint-every", "4", *extra]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("ref") / "o"
    assert main(_cli(out)) == 0
    return {p.stem: pd.read_parquet(p) for p in out.glob("*.parquet")}


def _same(out: Path, reference: dict[str, pd.DataFrame]) -> None:
    got = {p.stem: pd.read_parquet(p) for p in out.glob("*.parquet")}
    assert sorted(got) == sorted(reference)
    for name, frame in reference.items():
        pdt.assert_frame_equal(got[name], frame, obj=name)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_error_in_a_step_names_arm_and_step_and_resume_completes(
    reference, tmp_path: Path, capsys, monkeypatch
) -> None:
    relax, calls = Ensemble.relax, [0]

    def broken(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 7:
            raise ValueError("injected fault in the relaxation")
        return relax(self, *args, **kwargs)

    monkeypatch.setattr(Ensemble, "relax", broken)  # a class attribute: never pickled
    out = tmp_path / "o"
    assert main(_cli(out)) == 1
    err = _one_line(capsys)
    found = re.search(r"the run failed in arm 'train', step (\d+): ValueError: injected", err)
    assert found, err
    step = int(found.group(1))
    assert f"resume with: dualsim run train --out {out} --resume" in err
    assert f"traceback in {out / TRACEBACK_FILE}" in err and "--debug" in err
    saved = (out / TRACEBACK_FILE).read_text()
    assert "ValueError: injected fault in the relaxation" in saved and "ArmFailed" in saved
    traj = pd.read_parquet(out / "trajectories.parquet")  # recorded so far
    assert traj["step"].max() == step - 1, (step, traj["step"].max())
    assert (out / "checkpoints" / "000-train.pkl").is_file()
    monkeypatch.setattr(Ensemble, "relax", relax)
    assert main(_cli(out, "--resume")) == 0
    assert not (out / TRACEBACK_FILE).exists()
    _same(out, reference)


def test_an_oserror_while_writing_results_is_a_failed_run(
    reference, tmp_path: Path, capsys, monkeypatch
) -> None:
    to_parquet, calls = pd.DataFrame.to_parquet, [0]

    def full_disk(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return to_parquet(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    out = tmp_path / "o"
    assert main(_cli(out)) == 1
    err = _one_line(capsys)
    assert err.startswith("error: the run failed after arm 'train': OSError: [Errno 28]"), err
    written = sorted(p.name for p in out.glob("*.parquet"))
    assert len(written) == 2, written  # the tables written before the failure are kept
    failed = re.search(r"No space left on device: '([^']+)'", err)
    assert failed and Path(failed.group(1)).parent == out and not Path(failed.group(1)).exists()
    assert not list(out.glob(".*.tmp"))  # no torn temporary file
    assert (out / TRACEBACK_FILE).read_text().count("OSError") >= 1
    assert "checkpoints kept" in err
    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)
    assert main(_cli(out, "--resume")) == 0
    _same(out, reference)


def test_a_failed_checkpoint_write_names_the_step(tmp_path: Path, monkeypatch) -> None:
    save, calls = checkpoint.save_checkpoint, [0]

    def full_disk(path, model, **header):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return save(path, model, **header)

    monkeypatch.setattr(checkpoint, "save_checkpoint", full_disk)
    with pytest.raises(ArmFailed) as info:
        with checkpoint.session(tmp_path, every=3):
            run_arm("a", lambda: LearningSystem(seed=5, **SMALL), 10)
    err = info.value
    assert (err.arm, err.step) == ("a", 6) and isinstance(err.__cause__, OSError)
    assert "arm 'a', step 6: OSError: [Errno 28]" in str(err) and exit_code_for(err) == 1
    traj = pd.read_parquet(tmp_path / "trajectories.parquet")
    assert traj["step"].max() == 6


def test_build_errors_name_the_arm_config_errors_pass() -> None:
    def bad_build() -> LearningSystem:
        raise RuntimeError("no model today")

    with pytest.raises(ArmFailed, match=r"^arm 'b', building its model: RuntimeError: no model"):
        run_arm("b", bad_build, 3)
    with pytest.raises(ValueError, match="replicas: 0") as info:
        run_arm("b", lambda: LearningSystem(replicas=0), 3)
    assert not isinstance(info.value, ArmFailed) and exit_code_for(info.value) == 2


def test_interruptions_pass_through_run_arm() -> None:
    def stop(model: LearningSystem) -> None:
        raise Interrupted(15, "stopped")

    with pytest.raises(Interrupted):
        run_arm("c", lambda: LearningSystem(seed=1, **SMALL), 4, actions={2: stop})


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_output_folder_is_bad_input(tmp_path: Path, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(_cli(locked / "o")) == 2
        assert "cannot be created" in _one_line(capsys)
        assert main(_cli(locked)) == 2
        assert "not writable" in _one_line(capsys)
    finally:
        locked.chmod(0o700)
