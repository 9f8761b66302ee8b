"""Fuzz of the ``dualsim`` command line (Hypothesis, derandomized): scenario names, ``--set``
keys and values, ``--steps``, ``--replicas``, ``--seed``, ``--grid``, in process through
:func:`dualsim.cli.main`, and a few examples as real subprocesses.

Every example ends in one of three ways: exit 0; exit 2 with one line ``error: ...`` that names
the argument or the field at fault; exit 1 with one line and the traceback saved in the output
folder. Never a bare traceback, never a hang (a 10 s alarm per example). Examples that pass
validation are small: ``--steps <= 3 --replicas <= 8``; sweeps run ``--engine serial
--replicates 1``.

Scenarios not in :data:`FAST_SMALL_RUNS` simulate for longer than the cap even at that size;
their examples always carry one argument that is refused before anything runs, until the
scenario refuses or shortens such runs itself (then add it there).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualsim.cli import main
from dualsim.commands import TRACEBACK_FILE
from models import SystemConfig
from scenarios import scenario_names

ROOT = Path(__file__).resolve().parents[2]
CAP_SECONDS = 10
FAST_SMALL_RUNS = ("train", "transition", "duality", "madelung", "spacetime", "particles")
"""Scenarios whose runs at ``--steps 3 --replicas 8`` end (exit 0, 1 or 2) well within the cap.
The others get one argument refused before anything runs."""
RUNNABLE = tuple(n for n in scenario_names() if n in FAST_SMALL_RUNS)
SLOW = tuple(n for n in scenario_names() if n not in FAST_SMALL_RUNS)
FIELDS = tuple(f.name for f in fields(SystemConfig))
# options and names an exit-2 message may start with (besides the config fields)
ARGUMENTS = {"scenario", "name", "steps", "replicas", "seed", "replicates", "workers", "executor"}
ARGUMENTS |= {"scheduler", "out", "base_config", "grid", "config"}
REFUSED = (  # arguments refused before any simulation, whatever else is given
    ("--steps", "0"),
    ("--replicas", "0"),
    ("--seed", "-1"),
    ("--set", "nosuchfield=1"),
    ("--set", "step_size=-1"),
    ("--checkpoint-every", "-1"),
    ("--bogus",),
    ("--steps", "x"),
)

# ------------------------------------------------------------------------ strategies
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
JUNK_WORDS = ["nan", "inf", "-inf", "-1", "0", "1e308", "-0.0", "true", "[1, 2]", "{a = 1}"]
JUNK_WORDS += ["'x'", "", "[", "=", "1,2", "0x10", "1_000", '"tanh"', "None"]
JUNK = st.sampled_from(JUNK_WORDS) | TEXT.filter(lambda s: "\x00" not in s)
SAFE_VALUES: dict[str, st.SearchStrategy[str]] = {
    "step_size": st.sampled_from(["0.001", "0.01", "0.05", "0.2", "1"]),
    "batch_size": st.integers(1, 64).map(str),
    "n_hidden": st.integers(0, 12).map(str),
    "n_hidden_max": st.integers(0, 16).map(str),
    "n_input": st.integers(1, 4).map(str),
    "n_output": st.integers(1, 3).map(str),
    "noise": st.sampled_from(["0", "0.05", "0.1", "0.4", "2"]),
    "activation": st.sampled_from(["tanh", "sigmoid", "relu", "linear", "softmax"]),
    "output_activation": st.sampled_from(["linear", "tanh", "relu"]),
    "task": st.sampled_from(["teacher", "linear", "gaussian_mixture", "sine", "parity", "xor"]),
    "topology": st.sampled_from(["layered", "recurrent", "small_world", "no/such.json"]),
    "connectivity": st.sampled_from(["0.1", "0.3", "1", "0", "1.5"]),
    "momentum": st.sampled_from(["0", "0.5", "0.9", "1"]),
    "init_scale": st.sampled_from(["0", "0.5", "1", "3"]),
    "record_every": st.integers(1, 4).map(str),
    "probe_every": st.integers(1, 4).map(str),
    "relax_steps": st.integers(0, 30).map(str),
    "relax_rate": st.sampled_from(["0.1", "0.2", "1"]),
    "neuron_temperature": st.sampled_from(["0", "0.01", "0.5"]),
    "learning": st.sampled_from(["true", "false"]),
    "bias": st.sampled_from(["true", "false"]),
    "record_noise": st.sampled_from(["true", "false"]),
    "observed": st.integers(1, 6).map(str),
    "n_probe": st.integers(2, 64).map(str),
    "n_data": st.integers(1, 256).map(str),
    "data": st.sampled_from(["online", "finite"]),
    "dtype": st.sampled_from(["float64", "float32"]),
    "state_source": st.sampled_from(["batch", "probe"]),
    "seed": st.integers(0, 2**40).map(str),
}
SET_KEYS = tuple(SAFE_VALUES)


@st.composite
def set_pairs(draw: st.DrawFn, valid: bool) -> list[str]:
    """``--set`` arguments: fields with safe values, or (``valid`` False) at least one bad one."""
    pairs = [
        f"{k}={draw(SAFE_VALUES[k])}"
        for k in draw(st.lists(st.sampled_from(SET_KEYS), max_size=3, unique=True))
    ]
    if not valid:
        bad = draw(
            st.one_of(
                st.builds(lambda k, v: f"{k}={v}", st.sampled_from(FIELDS), JUNK),
                st.builds(lambda k, v: f"{k}={v}", TEXT.filter(lambda s: "=" not in s), JUNK),
                st.sampled_from(["noequals", "=1", " =1", "step_size", "a.b=1", "replica=3"]),
            )
        )
        pairs.insert(draw(st.integers(0, len(pairs))), bad)
    return [arg for pair in pairs for arg in ("--set", pair)]


STEPS = {True: st.integers(1, 3).map(str), False: st.sampled_from(["0", "-1", "ten", "1.5", ""])}
REPLICAS = {
    True: st.integers(1, 8).map(str),
    False: st.sampled_from(["0", "-3", "x", "2.0", "", "100000000"]),
}
SEEDS = {
    True: st.integers(0, 2**64 + 5).map(str),
    False: st.sampled_from(["-1", "x", "1.5", "", "--"]),
}
GRID_VALID = {
    "step_size": ["0.01,0.02", "[0.01, 0.05]", "0.03"],
    "batch_size": ["4,8", "[2]", "16"],
    "n_hidden": ["2,3", "4"],
    "activation": ["tanh,relu", '["linear"]'],
}
GRID_JUNK = ["stepsize=0.1", "step_size=", "step_size", "=1", "step_size=0.1,-2", "batch_size=[8,",
             "n_hidden=[[1]]", "activation=tanh,softmax", "controllers=1", "seed=1,2"]  # fmt: skip


@dataclass(frozen=True)
class Example:
    """One command line of the fuzz (without ``--out`` and ``--no-progress``)."""

    argv: tuple[str, ...]
    command: str

    def __str__(self) -> str:
        return "dualsim " + " ".join(self.argv)


@st.composite
def examples(draw: st.DrawFn) -> Example:
    """A ``dualsim run`` or ``dualsim sweep`` command line; each argument is valid or not."""
    command = draw(st.sampled_from(["run"] * 4 + ["sweep"]))
    slow = False
    kind = draw(st.sampled_from(["runnable"] * 10 + ["slow", "unknown"]))
    if kind == "runnable":
        name = draw(st.sampled_from(RUNNABLE))
    elif kind == "slow" and SLOW:
        name, slow = draw(st.sampled_from(SLOW)), True
    else:
        name = draw(
            st.sampled_from(["", "nosuch", "Train", "train ", "-x"])
            | TEXT.filter(lambda s: s not in scenario_names())
        )
    ok = st.integers(0, 7).map(lambda k: k > 0)  # an argument is valid 7 times in 8
    argv: list[str] = [command, name]
    steps_ok, replicas_ok = draw(ok), draw(ok)
    argv += ["--steps", draw(STEPS[steps_ok]), "--replicas", draw(REPLICAS[replicas_ok])]
    if draw(st.booleans()):
        argv += ["--seed", draw(SEEDS[draw(ok)])]
    argv += draw(set_pairs(valid=draw(ok)))
    if draw(st.booleans()):
        argv.append("--quick")
    if command == "sweep":
        keys = draw(st.lists(st.sampled_from(sorted(GRID_VALID)), max_size=2, unique=True))
        grid = [f"{k}={draw(st.sampled_from(GRID_VALID[k]))}" for k in keys]
        if not draw(ok):
            grid.append(draw(st.sampled_from(GRID_JUNK)))
        argv += [arg for g in grid for arg in ("--grid", g)]
        argv += ["--engine", "serial", "--replicates", "1" if draw(ok) else "0"]
    else:
        every = draw(st.sampled_from(["0", "1", "2", "50"]) if draw(ok) else st.just("-1"))
        argv += ["--checkpoint-every", every]
        if draw(st.integers(0, 15)) == 0:
            argv.append(draw(st.sampled_from(["--bogus", "--on-divergence=drop", "--resume"])))
    if slow:  # refused before any simulation (see FAST_SMALL_RUNS)
        argv += list(draw(st.sampled_from(REFUSED)))
    return Example(tuple(argv), command)


# ------------------------------------------------------------------------ the property
class ExampleTimeout(BaseException):
    """The example ran past :data:`CAP_SECONDS` (a BaseException: nothing may swallow it)."""


@contextlib.contextmanager
def cap(seconds: int) -> Iterator[None]:
    """Raise :class:`ExampleTimeout` in this (main) thread after ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise ExampleTimeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def names_an_argument(message: str, argv: tuple[str, ...]) -> bool:
    """Whether a one-line ``error: ...`` message starts with the argument or field at fault.

    Examples
    --------
    >>> names_an_argument("error: step_size: -1; expected a number > 0", ())
    True
    >>> names_an_argument("error: Matrix is not positive definite", ())
    False
    """
    text = message.removeprefix("error: ")
    if text.startswith(("argument ", "unrecognized arguments", "the following arguments")):
        return True
    head = text.split(": ")[0].strip()
    if head.startswith("--"):
        return True
    given = {a.split("=", 1)[0].strip() for a in argv if "=" in a}
    if any(key and text.startswith(f"{key}: ") for key in given):
        return True
    root = head.split(".")[0].split("[")[0]
    return root in FIELDS or root in ARGUMENTS


def check(example: Example, code: int, out: str, err: str, folder: Path) -> str:
    """Check one outcome; return its category (``0``, ``2``, ``1``) or fail naming the example."""
    seen = f"{example}\nexit {code}\nstderr:\n{err[-3000:]}\nstdout tail:\n{out[-500:]}"
    assert "Traceback" not in err, f"a bare traceback:\n{seen}"
    lines = err.strip().splitlines()
    if code == 0:
        return "0"
    assert code in (1, 2), f"unexpected exit code:\n{seen}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line:\n{seen}"
    if code == 2:
        assert names_an_argument(lines[0], example.argv), f"exit 2 naming no argument:\n{seen}"
        return "2"
    assert (folder / TRACEBACK_FILE).is_file(), f"exit 1 without a saved traceback:\n{seen}"
    assert f"traceback in {folder / TRACEBACK_FILE}" in lines[0], seen
    return "1"


def run_in_process(example: Example, folder: Path) -> str:
    argv = [*example.argv, "--out", str(folder), "--no-progress"]
    out, err = io.StringIO(), io.StringIO()
    with cap(CAP_SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except ExampleTimeout:
            raise AssertionError(f"a hang: {example} ran past {CAP_SECONDS} s") from None
    return check(example, code, out.getvalue(), err.getvalue(), folder)


def fuzz_settings(max_examples: int) -> settings:
    """Derandomized, no example database, no Hypothesis deadline (the alarm caps examples)."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        print_blob=True,
    )


def _fuzz(max_examples: int, scratch: Path) -> Counter:
    outcomes: Counter = Counter()

    @fuzz_settings(max_examples)
    @given(examples())
    def one(example: Example) -> None:
        folder = Path(tempfile.mkdtemp(dir=scratch)) / "out"
        try:
            outcomes[(example.command, run_in_process(example, folder))] += 1
        finally:
            shutil.rmtree(folder.parent, ignore_errors=True)

    one()
    print(f"\nCLI fuzz: {sum(outcomes.values())} examples, exit codes {dict(outcomes)}")
    return outcomes


def test_cli_fuzz_in_process_fast(tmp_path: Path) -> None:
    outcomes = _fuzz(150, tmp_path)
    assert sum(outcomes.values()) >= 150


@pytest.mark.slow
def test_cli_fuzz_in_process(tmp_path: Path) -> None:
    outcomes = _fuzz(500, tmp_path)
    assert sum(outcomes.values()) >= 500
    # every scenario refuses an ill-posed small run up front, so a failure inside a run (exit 1,
    # checked by `check` whenever it occurs) is planted in tests/runner/test_failed_runs.py
    assert {"0", "2"} <= {code for _, code in outcomes} <= {"0", "1", "2"}
    assert {command for command, code in outcomes if code == "0"} >= {"run"}


@pytest.mark.slow
def test_cli_fuzz_as_subprocesses(tmp_path: Path) -> None:
    """20 examples through ``python -m dualsim`` (real stdio, real exit codes)."""
    outcomes: Counter = Counter()

    @fuzz_settings(20)
    @given(examples())
    def one(example: Example) -> None:
        folder = Path(tempfile.mkdtemp(dir=tmp_path)) / "out"
        argv = [*example.argv, "--out", str(folder), "--no-progress"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            res = subprocess.run(
                [sys.executable, "-m", "dualsim", *argv],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=CAP_SECONDS + 50,  # + the interpreter's start and imports
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"a hang: {example}") from None
        outcomes[check(example, res.returncode, res.stdout, res.stderr, folder)] += 1

    one()
    print(f"\nCLI fuzz (subprocesses): exit codes {dict(outcomes)}")
    assert sum(outcomes.values()) == 20
