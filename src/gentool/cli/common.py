"""Helpers for commands that read checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import torch

from gentool.checkpoint import load_checkpoint
from gentool.checkpoint_schema import CheckpointMeta
from gentool.errors import GentoolError
from gentool.loading import model_from_checkpoint, refuse_no_ema_without_average
from gentool.models.base import ModelPlugin, available_memory, format_bytes
from gentool.runtime import resolve_device


def load_model(
    path: str | Path, device: str = "auto", *, use_ema: bool = True
) -> tuple[ModelPlugin, CheckpointMeta]:
    """Rebuild a model from a checkpoint file or run folder, on ``device``.

    What ``sample``, ``evaluate``, ``reconstruct`` and ``plot`` share. Everything is checked
    before it is used, each problem one line: the device, the file (only a regular file is
    opened; header and metadata are validated before tensor bytes are read), the model config
    and whether the model fits in memory (estimated on the meta device), and the weights
    (names, shapes, exact dtypes, finite values).
    """
    target = resolve_device(device)  # a bad --device fails before anything is read
    ckpt = load_checkpoint(path)
    if not use_ema:
        refuse_no_ema_without_average(ckpt)
    model = model_from_checkpoint(ckpt, use_ema=use_ema)
    if target.type != "cpu":
        weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        free = available_memory(target)
        if free is not None and weights > free:
            raise GentoolError(
                f"{ckpt.path}: model '{model.PLUGIN_NAME}' needs about {format_bytes(weights)} "
                f"for its weights; {target} has {format_bytes(free)} free. Pass --device cpu."
            )
    try:
        model.to(target)
    except torch.cuda.OutOfMemoryError:
        raise GentoolError(
            f"{ckpt.path}: model '{model.PLUGIN_NAME}' does not fit in the memory of {target}; "
            "pass --device cpu."
        ) from None
    return model, ckpt.info


def refuse_writing_into_run(checkpoint: str, outputs: dict[str, str | None]) -> None:
    """An output (``{option: path}``) that is the checkpoint being read or one of the files
    training keeps in its run folder (log, config, ``run.toml``) is refused, ``--overwrite``
    or not: writing it would lose the run."""
    import os

    from gentool.training.runfolder import RUN_FILES

    path = Path(checkpoint)
    if checkpoint == "default" or not path.exists():
        return  # a shipped model, or loading names the problem
    run = path if path.is_dir() else path.parent
    kept = {os.path.realpath(run / name): name for name in RUN_FILES}
    kept[os.path.realpath(path)] = "checkpoint"
    for option, target in outputs.items():
        if not target:
            continue
        what = kept.get(os.path.realpath(target))
        if what is not None:
            noun = "the run's log" if what == "log.jsonl" else f"the run's {what}"
            raise GentoolError(f"{option} {target} is {noun} in {run}; name another file.")


def require_use(model: ModelPlugin, uses: tuple[str, ...], command: str) -> Any:
    """The model's family, which must serve one of ``uses`` (:data:`gentool.family.USES`),
    or one line saying what the model does instead."""
    from gentool.plugins import family_of_model

    family = family_of_model(type(model))
    if not family.can_any(uses):
        wanted = " or ".join(uses)
        raise GentoolError(
            family.cannot(f"'{command}' (for models that {wanted} images)", model.PLUGIN_NAME)
        )
    return family


def seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- options several commands share ------------------------------------------------------


def run_name(checkpoint: str) -> str:
    """A run's name: its folder's name (the folder given, or the one holding the file); a
    snapshot (``RUN/snapshots/step_N.safetensors``) is ``RUN, step N``."""
    from gentool.run_folder import SNAPSHOT_NAME, SNAPSHOTS

    path = Path(checkpoint)
    if path.is_dir():
        return path.resolve().name or str(checkpoint)
    folder = path.resolve().parent
    kept = SNAPSHOT_NAME.match(path.name)
    if kept and folder.name == SNAPSHOTS:
        return f"{folder.parent.name}, step {int(kept.group(1))}"
    return folder.name or str(checkpoint)


def check_titles(titles: str | None, checkpoints: tuple[str, ...]) -> list[str] | None:
    """``--titles a,b``: one non-empty title per run, or one line saying what is wrong."""
    if titles is None:
        return None
    names = [one_line(t.strip(), "--titles") for t in titles.split(",")]
    if len(names) != len(checkpoints) or not all(names):
        raise GentoolError(
            f"--titles gives {len(names)} title(s) for {len(checkpoints)} run(s); pass one "
            "non-empty title per CHECKPOINT, comma separated."
        )
    return names


def one_line(text: str, option: str) -> str:
    """A title as one line of text, or one line saying it is not (a newline or another
    control character cannot be drawn as a title)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise GentoolError(f"{option} must be one line of text, without newlines or tabs.")
    return text


def chosen_titles(
    checkpoints: tuple[str, ...],
    title: str | None,
    titles: str | None,
    no_title: bool,
    *,
    default: bool,
) -> list[str] | None:
    """The title of each run's panel: ``--title TEXT`` (one run), ``--titles a,b`` (one per
    run), none with ``--no-title``; else the runs' folder names where ``default`` or several
    runs are compared, and none otherwise. Options at odds are one line naming them."""
    from gentool.errors import GentoolError

    given = [name for name, value in (("--title", title), ("--titles", titles)) if value]
    if len(given) == 2:
        raise GentoolError("pass --title (one run) or --titles (one per run), not both.")
    if no_title and given:
        raise GentoolError(f"--no-title and {given[0]} contradict each other; pass one of them.")
    several = len(checkpoints) > 1
    if no_title and several:
        raise GentoolError(
            f"--no-title: the panels of {len(checkpoints)} runs are told apart by their titles; "
            "pass one CHECKPOINT for a bare grid."
        )
    if title is not None:
        if several:
            raise GentoolError(
                f"--title names the figure of one run; for {len(checkpoints)} runs pass "
                "--titles a,b (one per run, comma separated)."
            )
        if not title.strip():
            raise GentoolError("--title is empty; pass some text, or --no-title for no title.")
        return [one_line(title.strip(), "--title")]
    if no_title:
        return None
    named = check_titles(titles, checkpoints)
    if named is not None or not (default or several):
        return named
    return [run_name(path) for path in checkpoints]


MAX_SEED = 2**63 - 1


def check_seed(seed: int) -> int:
    """``--seed`` in [0, 2**63-1], or one line naming it."""
    from gentool.errors import GentoolError

    if not 0 <= seed <= MAX_SEED:
        raise GentoolError(f"--seed must be between 0 and {MAX_SEED}, not {seed}.")
    return seed


def given_options(names: tuple[str, ...] | list[str]) -> list[str]:
    """The options among ``names`` (parameter names) that the user typed on the command line."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return [
        max(param.opts, key=len)
        for param in ctx.command.params
        if param.name in names
        and ctx.get_parameter_source(param.name or "") == ParameterSource.COMMANDLINE
    ]


def weights_of_step(run: str, step: int) -> str:
    """``--step S``: the file holding the weights RUN kept at step S (a snapshot, or the
    checkpoint when it is of that step), or one line saying which steps the run has."""
    from gentool.run_folder import RunFolder
    from gentool.training.runfolder import own_snapshots

    path = Path(run)
    if not path.is_dir():
        raise GentoolError(
            f"--step picks a step of a RUN folder; {run} is a file (a checkpoint is one step "
            "already): pass its run folder, or drop --step."
        )
    folder = RunFolder(path)
    saved = load_checkpoint(folder.checkpoint).info.step if folder.checkpoint.exists() else None
    kept = own_snapshots(path)
    named = folder.snapshot_steps()
    if step in named and step not in kept:
        raise GentoolError(
            f"{named[step]} is not a snapshot this run kept (another run's or another file's "
            "weights under its name); sample that file directly if you mean it."
        )
    return str(folder.weights_at(step, saved, kept))
