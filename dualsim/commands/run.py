"""``dualsim run NAME``: run a scenario and write its output folder.

Reliability options (see :mod:`runner.checkpoint`): ``--checkpoint-every K`` (default 50)
checkpoints every arm every K steps; ``--resume`` continues the run in ``--out DIR`` from its
last checkpoints with the saved config (an option that conflicts with it is refused);
``--force`` overwrites a non-empty output folder (refused otherwise); ``--on-divergence
{stop,drop}`` stops a diverging run (exit 1, tables up to the last good step written) or drops
the diverged replicas; ``--divergence-factor`` sets the loss blow-up factor. SIGINT/SIGTERM
save a checkpoint and the tables and exit 130/143. A run that fails for any other reason keeps
what it has written and saves its traceback in the output folder (exit 1).
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import scenarios
from dualsim.commands import TRACEBACK_FILE, load_scenario, one_line, set_output
from models import ConfigError, SystemConfig
from runner.checkpoint import Session, prepare_output, session
from runner.errors import AnalysisFailed, Diverged, DualsimError, RunFailed, UsageError
from runner.experiment import default_out
from runner.io import read_config

__all__ = [
    "HELP",
    "NAME",
    "add_run_options",
    "build_config",
    "execute",
    "failure_message",
    "parse_set",
    "register",
    "resume_settings",
    "scenario_default",
]

NAME = "run"
HELP = "run a scenario"


def parse_set(pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are read as TOML (numbers, booleans, strings, lists).

    Examples
    --------
    >>> parse_set(["step_size=0.1", "learning=false", "task=linear"])
    {'step_size': 0.1, 'learning': False, 'task': 'linear'}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--set: {pair!r}; expected key=value")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise UsageError(f"--set: {pair!r}; expected a non-empty key")
        if not key.isprintable():
            raise UsageError(f"--set: {pair!r}; expected a config field name as the key")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out[key] = value
    return out


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by ``run`` and ``sweep`` (config, size, seed, output).

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_run_options(parser)
    >>> parser.parse_args(["--quick", "--set", "seed=3"]).set
    ['seed=3']
    """
    parser.add_argument("--steps", type=int, help="learning steps")
    parser.add_argument("--replicas", type=int, help="replicas R")
    parser.add_argument("--seed", type=int, help="root seed")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="a config field")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--quick", action="store_true", help="small, fast size")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace) -> SystemConfig:
    """Combine ``--config`` (default: the scenario's default config), the shortcut options and
    ``--set`` (later ones win).

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_run_options(parser)
    >>> args = parser.parse_args(["--replicas", "8", "--set", "step_size=0.02"])
    >>> config = build_config(args)
    >>> config.replicas, config.step_size
    (8, 0.02)
    """
    base = _config_file(args.config) if args.config else scenario_default(args)
    changes: dict[str, Any] = {}
    if args.replicas is not None:
        changes["replicas"] = args.replicas
    if args.seed is not None:
        changes["seed"] = args.seed
    changes.update(parse_set(args.set or []))
    return base.replace(**changes) if changes else base


def scenario_default(args: argparse.Namespace) -> SystemConfig:
    """The scenario's own default config (``SCENARIO.default_config(quick)``), else the
    :class:`SystemConfig` defaults.

    Examples
    --------
    >>> scenario_default(argparse.Namespace(name="train", quick=True)) == SystemConfig()
    True
    """
    name = getattr(args, "name", None)
    if not name:
        return SystemConfig()
    scn = getattr(load_scenario(name), "SCENARIO", None)
    if scn is None:
        return SystemConfig()
    return scn.default_config(bool(getattr(args, "quick", False)))


def _config_file(path: Path) -> SystemConfig:
    """A TOML config; the ``[dualsim]`` table of a result folder's config.toml is ignored."""
    try:
        return SystemConfig.from_toml(path)
    except ConfigError as exc:
        if exc.field != "dualsim":
            raise
    data = tomllib.loads(path.read_text())
    data.pop("dualsim", None)
    return SystemConfig.from_dict(data)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the scenario name, the shared run options and the reliability options."""
    parser.add_argument("name", help=f"scenario: {', '.join(scenarios.scenario_names())}")
    add_run_options(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoints"
    )
    parser.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=50,
        metavar="K",
        help="checkpoint every K steps (default 50; 0: only at the end of each arm)",
    )
    parser.add_argument(
        "--on-divergence",
        choices=("stop", "drop"),
        default="stop",
        help="stop the run (default) or drop diverged replicas and go on",
    )
    parser.add_argument(
        "--divergence-factor",
        type=float,
        metavar="F",
        help="a loss above F x its start counts as divergence (default 1e6)",
    )


def resume_settings(args: argparse.Namespace, out: Path) -> tuple[SystemConfig, bool, int]:
    """The saved config, quick flag and steps of the run in ``out``; conflicting options are
    refused (:class:`UsageError` naming the option)."""
    config, meta = read_config(out)
    saved = meta.get("scenario")
    if saved != args.name:
        raise UsageError(f"--resume: {out} holds a run of {saved!r}; expected {args.name!r}")
    steps = meta.get("steps")
    quick = bool(meta.get("quick", False))
    if not isinstance(steps, int) or steps < 1:
        raise UsageError(f"{out / 'config.toml'}: [dualsim] steps {steps!r}; expected >= 1")
    if args.steps is not None and args.steps != steps:
        raise UsageError(f"--steps: {args.steps}; the run being resumed has {steps} steps")
    if args.quick and not quick:
        raise UsageError("--quick: the run being resumed is not a quick run")
    if args.config or args.set or args.replicas is not None or args.seed is not None:
        wanted = build_config(args) if args.config else config
        changes: dict[str, Any] = {}
        if args.replicas is not None:
            changes["replicas"] = args.replicas
        if args.seed is not None:
            changes["seed"] = args.seed
        changes.update(parse_set(args.set or []))
        if changes:
            wanted = wanted.replace(**changes)
        if wanted != config:
            field = next(
                (k for k, v in wanted.to_dict().items() if config.to_dict().get(k) != v), "config"
            )
            raise UsageError(
                f"{field}: {getattr(wanted, field, '?')!r} conflicts with the saved "
                f"{getattr(config, field, '?')!r}; --resume uses the saved config "
                f"({out / 'config.toml'})"
            )
    return config, quick, steps


def failure_message(exc: BaseException, sess: Session) -> str:
    """The one-line message of an error that left a run outside its arms' stepping loops:
    where the run was, the error, and what was kept.

    Examples
    --------
    >>> import tempfile
    >>> failure_message(OSError(28, "No space left on device", "out/model.parquet"),
    ...                 Session(tempfile.mkdtemp(), name="train"))[:61]
    'the run failed before its first arm: OSError: [Errno 28] No s'
    """
    where = sess.where()
    text = f"the run failed {where}: {type(exc).__name__}: {one_line(exc)}"
    if sess.checkpoint_dir.is_dir() and any(sess.checkpoint_dir.iterdir()):
        text += f"; checkpoints kept (resume with: {sess.resume_hint()})"
    return text


def execute(args: argparse.Namespace) -> int:
    """Run the scenario ``args.name`` into its output folder; print its summary and verdicts."""
    module = load_scenario(args.name)
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps: {args.steps}; expected an integer >= 1")
    if args.checkpoint_every < 0:
        raise UsageError(f"--checkpoint-every: {args.checkpoint_every}; expected an integer >= 0")
    factor = args.divergence_factor
    if factor is not None and not factor > 1:
        raise UsageError(f"--divergence-factor: {factor}; expected a number > 1")
    if args.resume and args.force:
        raise UsageError("--resume and --force: both given; expected at most one")
    if args.resume:
        if args.out is None:
            raise UsageError("--resume: no --out; expected the folder of the run to resume")
        out = prepare_output(args.out, resume=True)
        config, quick, steps = resume_settings(args, out)
    else:
        config = build_config(args)
        out = prepare_output(args.out or default_out(args.name), force=args.force)
        quick, steps = args.quick, args.steps
    set_output(args, out)
    sess = Session(out)
    try:
        with session(
            out,
            name=args.name,
            every=args.checkpoint_every,
            resume=args.resume,
            on_divergence=args.on_divergence,
            divergence_factor=factor,
        ) as sess:
            result = module.run(
                config=config,
                out=out,
                quick=quick,
                steps=steps,
                progress=not args.no_progress,
            )
    except Diverged as exc:  # a model stepped outside run_arm
        raise RunFailed(f"{exc}; output folder {out}") from exc
    except AnalysisFailed as exc:
        kept = "" if str(out) in str(exc) else f"; the tables are in {out}"
        raise RunFailed(f"analysis failed: {exc}{kept}") from exc
    except (DualsimError, ConfigError):
        raise  # bad input (exit 2), an interruption, or a failure that names its arm and step
    except Exception as exc:  # anything else after the input was accepted is a failed run
        raise RunFailed(failure_message(exc, sess)) from exc
    (out / TRACEBACK_FILE).unlink(missing_ok=True)  # left by an earlier failure of this run
    print(f"{result.name}: wrote {len(result.tables)} tables to {result.out}")
    for key, value in result.summary.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"  {key}: {shown}")
    if len(result.verdicts):
        print(result.verdicts.to_string(index=False))
    return 0
