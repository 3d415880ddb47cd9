"""``contrique-train``: train the CONTRIQUE encoder (also ``python -m contrique_training`` and under torchrun).

Settings come from a preset, then a JSON/TOML ``--config`` file, then flags (each overrides the
one before); with ``--resume`` the checkpoint's own config replaces the preset.

Exit codes: 0 training finished; 1 training failed (bad data, unreadable checkpoint, a run folder
that is not empty without ``--resume``, a diverged loss, ...); 2 usage error (bad flag, unknown
preset, invalid setting, unreadable ``--config``); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from contrique_export.model_config import ARCHITECTURES
from contrique_infer.commands import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Terminated,
    fail,
    parse,
    positive_int,
    printable,
    run_terminable,
    say,
    write_stdout,
)
from contrique_infer.entry_points import TRAIN_PROG as PROG
from contrique_infer.errors import ContriqueError

from .config import AMP_MODES, DEVICES, PRESETS, TrainConfig, build_config, read_config_file
from .errors import ConfigError
from .runlog import CHECKPOINT_NAME


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: run options plus one flag per :class:`TrainConfig` field (default: unset)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train the CONTRIQUE contrastive encoder on photo folders with on-the-fly synthetic distortions.",
        epilog="Multi-GPU / multi-node: torchrun --nproc-per-node N [--nnodes M ...] -m contrique_training ...",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="base settings (default: paper)")
    parser.add_argument("--config", metavar="FILE", help="JSON or TOML file of settings (overrides the preset)")
    parser.add_argument("--out", metavar="RUN_DIR", required=True, help="run folder: checkpoint.pt, log.csv, loss.png")
    parser.add_argument("--resume", metavar="CKPT",
                        help="continue exactly from this checkpoint (its config is the base)")
    parser.add_argument("--stop-at", type=positive_int, metavar="STEP",
                        help="stop with a checkpoint after this step (the schedule still spans --steps); resume later")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    settings = parser.add_argument_group("settings (override preset and file)")
    for field in dataclasses.fields(TrainConfig):
        flag = _flag(field.name)
        if isinstance(field.default, bool):
            settings.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None,
                                  help=field.metadata["help"])
            continue
        kind = {int: int, float: float}.get(type(field.default), str)
        choices = {"arch": sorted(ARCHITECTURES), "amp": AMP_MODES, "device": DEVICES}.get(field.name)
        metavar = (None if kind is not str or choices else "DIR" if field.name in ("data", "data_authentic")
                   else "CKPT" if field.name == "init_from" else "TEXT")
        settings.add_argument(flag, dest=field.name, type=kind, default=None, choices=choices,
                              help=field.metadata["help"], metavar=metavar)
    return parser


OPERATIONAL = frozenset({"data", "data_authentic", "data_description", "data_license", "device", "workers",
                         "log_every", "checkpoint_every", "keep_every", "tensorboard"})
"""Settings that change where a run reads and writes and how it reports, not what it learns: a resume
may change them (a moved photo folder, another device) and still continue the run exactly."""


FIXED = ("arch", "stages", "nss", "nss_pairs", "projection_dim", "optimizer")
"""Settings a resume cannot change: the network they build and the optimizer whose state the checkpoint holds."""


def changed_settings(before: TrainConfig, after: TrainConfig) -> list[str]:
    """The settings of ``after`` (a resumed run's) that differ from ``before`` (its checkpoint's),
    other than :data:`OPERATIONAL` ones, as ``name old -> new``."""
    old = before.to_dict()
    return [f"{name} {old[name]!r} -> {value!r}" for name, value in after.to_dict().items()
            if name not in OPERATIONAL and old[name] != value]


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config from the parsed arguments (preset or resumed checkpoint, file, flags).

    A resumed run whose flags or ``--config`` change what it learns (:func:`changed_settings`; a
    larger ``--steps`` among them, which stretches the schedule) gets a note on stderr naming each
    change: its next steps are not those of the uninterrupted run.

    Raises:
        ConfigError: Invalid settings; ContriqueError: an unreadable checkpoint.
    """
    overrides: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None
    }
    if args.resume and args.init_from is not None:
        raise ConfigError(f"--init-from starts a new run from a checkpoint's weights and --resume continues the run of "
                          f"{args.resume}; give one of them")
    if args.resume and args.preset is not None:  # it would be ignored: the checkpoint's settings are the base
        raise ConfigError(f"--resume continues the run of {args.resume} with that checkpoint's settings, so --preset "
                          f"{args.preset} would be ignored; leave it out (override single settings with their flags)")
    if args.resume:
        from contrique_export.checkpoint import load_training_checkpoint  # imports torch: only to resume
        from contrique_export.errors import CheckpointError

        recorded = load_training_checkpoint(args.resume)["config"]
        if not isinstance(recorded, dict):
            raise CheckpointError(args.resume, f"field 'config' is a {type(recorded).__name__}, not a table of "
                                               "settings; the checkpoint is damaged")
        base = dict(recorded)
        if args.config:
            from_file = read_config_file(args.config)
            _check_init_from(from_file, recorded, args.config, args.resume)
            base.update(from_file)
        config = TrainConfig.from_dict({**base, **overrides}, source=f"{args.resume} config")
        before = TrainConfig.from_dict(dict(recorded), source=f"{args.resume} config")
        fixed = [f"{name} {getattr(before, name)!r} -> {getattr(config, name)!r}" for name in FIXED
                 if getattr(before, name) != getattr(config, name)]
        if fixed:
            raise ConfigError(f"--resume continues the run of {args.resume}, and cannot change {', '.join(fixed)}: "
                              "the network and the optimizer state in the checkpoint are of its settings; leave "
                              "those out, or start a new run from its weights with --init-from (where the network "
                              "is the same)")
        for name, flag in (("data", "--data"), ("data_authentic", "--data-authentic")):
            folder = getattr(config, name)
            if name not in overrides and folder and not os.path.isabs(folder) and not os.path.isdir(folder):
                raise ConfigError(f"{args.resume} records {flag} {folder!r}, a folder relative to where its run was "
                                  "started, and there is none here: run from that folder, or pass "
                                  f"{flag} with the folder's path")
        changes = changed_settings(before, config)
        if changes:
            stretched = before.steps != config.steps
            restart = " (a warm restart: the schedule is stretched to the new --steps)" if stretched else ""
            say(printable(f"{PROG}: note: resuming {args.resume} with other settings than it was trained with: "
                          f"{', '.join(changes)}; the steps from here are not those of the uninterrupted run{restart}"))
        return config
    config = build_config(args.preset or "paper", args.config, overrides)
    if not config.data:
        raise ConfigError("no training data: pass --data DIR (a folder of pristine photos) or set data in --config")
    return config


def _check_init_from(from_file: dict[str, Any], recorded: dict[str, Any], config: str, resume: str) -> None:
    """Refuse a ``--config`` file whose ``init_from`` is not the one the resumed run recorded: a resumed
    run continues from its checkpoint's weights, so the file's checkpoint would be ignored, yet recorded
    as where the run started (as ``--init-from`` with ``--resume``, a usage error).

    Raises:
        ConfigError: The file sets another ``init_from``.
    """
    if "init_from" not in from_file or from_file["init_from"] == recorded.get("init_from"):
        return
    started = recorded.get("init_from")
    origin = f"started from the weights of {started!r}" if started else "started from random weights"
    raise ConfigError(f"{config}: init_from {from_file['init_from']!r} starts a new run from a checkpoint's weights, "
                      f"and --resume continues the run of {resume}, which {origin}; remove init_from from "
                      f"{config} to resume, or leave out --resume to start a new run from it")


def main(argv: list[str] | None = None) -> int:
    """Run ``contrique-train``; returns the exit code (0 ok, 1 failed, 2 usage error, 130 interrupted, 143
    terminated, 129 hung up: SIGTERM, as a scheduler or ``timeout`` sends it, and SIGHUP, as a closed terminal
    sends it, end the run as Ctrl-C does).

    The checkpoint's path is the run's one line on stdout; a stdout that cannot take it (a full disk,
    closed) ends the command quietly with exit 1 (:func:`~contrique_infer.commands.run_quietly`), the
    checkpoint written.
    """
    return run_terminable(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    """:func:`main` without its handling of a stdout that fails."""
    args = parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        config = resolve_config(args)
        from .train import train  # imported here: --help and config errors need no torch start-up (~2 s)

        path = train(config, args.out, resume=args.resume, progress=not args.no_progress, stop_at=args.stop_at)
    except ConfigError as exc:
        return fail(PROG, exc, EXIT_USAGE)
    except ContriqueError as exc:
        return fail(PROG, exc)
    except (KeyboardInterrupt, Terminated) as stop:  # checkpoint.pt is whole: only ever replaced by a complete file
        checkpoint = Path(args.out) / CHECKPOINT_NAME
        hint = (f"; resume with --resume {checkpoint}" if checkpoint.is_file()
                else " before the first checkpoint; what the run had written is removed")
        if isinstance(stop, KeyboardInterrupt):
            say(printable(f"{PROG}: interrupted{hint}"))
            return EXIT_INTERRUPTED
        say(printable(f"{PROG}: {stop.what}{hint}"))
        return 128 + stop.signum
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one line for the run
        write_stdout(f"{path}\n")
    return 0
