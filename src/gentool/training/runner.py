"""Start or resume a training run from names and options: what ``gentool train`` calls.

Library users and plugin tests can call :func:`train` directly::

    from gentool.training.runner import train
    ckpt = train("dcgan", loss="ls", steps=200, out="runs/try")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console

from gentool.checkpoint import load_checkpoint
from gentool.checkpoint_schema import CheckpointMeta
from gentool.config import build_config
from gentool.data.base import DataSpec, ImageData
from gentool.errors import GentoolError
from gentool.loading import (
    family_of,
    init_weights_from,
    load_data,
    model_class_of,
    recorded_plugins,
)
from gentool.models.base import ModelPlugin, check_model_fits
from gentool.plugins import (
    get_family,
    get_loss_class,
    get_model_class,
    get_recorded_class,
)
from gentool.run_folder import CHECKPOINT, RunFolder
from gentool.runtime import resolve_device, seed_everything
from gentool.training.base import Trainer, TrainSettings
from gentool.training.callbacks import build_callbacks, check_keep_every, saved_callbacks
from gentool.training.resume_state import validate_resume_state
from gentool.training.runfolder import (
    RUN_FILES,
    RunLock,
    clean_run_folder,
    cut_back,
    is_run_folder,
    own_snapshots,
    refuse_foreign,
    refuse_links,
)
from gentool.training.settings import refuse_unused_by_optimizer

#: Training settings that a resumed run may change; they are applied, recorded in the run's
#: history and announced. Every other setting is fixed by the checkpoint.
CHANGEABLE_ON_RESUME = (
    "steps",
    "epochs",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "keep_every",
    "device",
    "lr_g",
    "lr_d",
    "precision",
    "channels_last",
    "compile",
    "cuda_graphs",
    "sync_batchnorm",
    "threads",
    "tensorboard",
)
CANONICAL_CHECKPOINT = CHECKPOINT
#: Command-line flags of training settings whose name differs from ``--field-name``.
FLAGS = {"sync_batchnorm": "--sync-bn", "extra": "--train-opt"}


def flag_of(name: str) -> str:
    """The command-line flag of training setting ``name``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def _is_main_process() -> bool:
    from gentool.distributed import current_world

    return current_world().is_main  # a broken torchrun environment is refused by name


def _free_run_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... : the first that holds no run and no lock."""
    if not is_run_folder(base):
        return base
    i = 2
    while True:
        candidate = base.with_name(f"{base.name}-{i}")
        if not is_run_folder(candidate):
            return candidate
        i += 1


def _describe_run(folder: Path) -> str:
    try:
        info = load_checkpoint(folder / CANONICAL_CHECKPOINT).info
        return f"a {info.model} run at step {info.step}"
    except GentoolError:
        return "files of a run"


def build_trainer(
    model_name: str,
    *,
    loss: str | None = None,
    model_options: dict[str, Any] | None = None,
    loss_options: dict[str, Any] | None = None,
    data: DataSpec | None = None,
    settings: TrainSettings | None = None,
    console: Console | None = None,
    given: tuple[str, ...] = (),
    init_from: str | None = None,
    callbacks: list[Any] | None = None,
) -> Trainer:
    """Build model, loss, data and the family's training loop, ready for ``fit()``.

    ``given`` names the training settings the user set explicitly: one that the model's
    training loop does not use is refused by name instead of being ignored. ``init_from``
    starts the model from a checkpoint's weights (:func:`gentool.loading.init_weights_from`).
    """
    settings = settings or TrainSettings()
    settings.validate()
    spec = data or DataSpec()
    model_cls: type[ModelPlugin] = get_model_class(model_name)
    family = get_family(model_cls.FAMILY)
    loss_obj = None
    if family.TAKES_GAN_LOSS:
        loss_name = str(loss or getattr(model_cls, "DEFAULT_LOSS", "bce"))
        loss_obj = get_loss_class(loss_name).from_options(loss_options or {})
    elif loss is not None:
        raise GentoolError(
            f"model '{model_name}' ({model_cls.FAMILY}) is not trained with a GAN loss; drop "
            f"--loss {loss}."
        )
    elif loss_options:
        raise GentoolError(f"model '{model_name}' takes no GAN loss, so --loss-opt does not apply.")
    seed_everything(settings.seed)
    image_data = load_data(spec)
    config = model_cls.configure(model_options or {}, image_data, loss=loss_obj)
    check_config_matches_data(model_name, config, image_data, model_options or {})
    check_model_fits(
        model_cls,
        config,
        where="cannot train",
        batch_size=settings.batch_size,
        training=True,
        device=resolve_device(settings.device),
    )
    model = model_cls(config)
    initial = init_weights_from(model, init_from) if init_from else None
    trainer_cls = family.trainer()
    trainer = trainer_cls(
        model, image_data, settings, data_spec=spec, loss=loss_obj, console=console
    )
    trainer.callbacks = list(callbacks or [])
    if initial is not None:
        trainer.init_from = initial
        if trainer.is_main:
            _announce_init(trainer.console, initial)
    unused = [name for name in given if name in trainer.unused_settings()]
    if unused:
        raise GentoolError(
            f"{flag_of(unused[0])} does not apply to '{model_name}' ({model_cls.FAMILY}): its training loop "
            "does not use it; drop it."
        )
    return trainer


def recommended_settings(model_name: str, loss: str | None) -> dict[str, Any]:
    """Training settings the model's loop and its GAN loss recommend (loss API v2), the
    loss's over the loop's; a v1 loss's ``DEFAULT_D_STEPS`` counts as a recommendation."""
    model_cls = get_model_class(model_name)
    family = get_family(model_cls.FAMILY)
    trainer_cls = family.trainer()
    out: dict[str, Any] = dict(getattr(trainer_cls, "RECOMMENDED_SETTINGS", {}) or {})
    if family.TAKES_GAN_LOSS or loss is not None:
        loss_cls = get_loss_class(str(loss or getattr(model_cls, "DEFAULT_LOSS", "bce")))
        d_steps = getattr(loss_cls, "DEFAULT_D_STEPS", 1)
        if d_steps != 1 and "d_steps" not in trainer_cls.UNUSED_SETTINGS:
            out["d_steps"] = d_steps
        out.update(getattr(loss_cls, "RECOMMENDED_SETTINGS", {}) or {})
    unused = set(trainer_cls.UNUSED_SETTINGS)
    return {k: v for k, v in out.items() if k not in unused}


def check_config_matches_data(
    model_name: str, config: Any, data: ImageData, options: dict[str, Any]
) -> None:
    """A model option that fixes what the data decides (size, channels, classes) must agree
    with the data, or the first batch fails deep inside the network."""
    facts = {
        "image_size": (data.image_size, "--image-size"),
        "channels": (data.channels, "--channels"),
    }
    for key, (actual, flag) in facts.items():
        value = getattr(config, key, None)
        if key in options and value is not None and value != actual:
            raise GentoolError(
                f"--model-opt {key}={value} does not match the data ({key.replace('_', ' ')} "
                f"{actual}); drop it and use {flag} to change the data instead."
            )
    classes = getattr(config, "num_classes", None)
    if "num_classes" in options and classes and data.num_classes and classes != data.num_classes:
        raise GentoolError(
            f"--model-opt num_classes={classes} does not match the data's "
            f"{data.num_classes} classes; drop it."
        )


def train(
    model_name: str,
    *,
    loss: str | None = None,
    model_options: dict[str, Any] | None = None,
    loss_options: dict[str, Any] | None = None,
    data: DataSpec | None = None,
    console: Console | None = None,
    overwrite: bool = False,
    default_out: bool = False,
    given: tuple[str, ...] | None = None,
    init_from: str | None = None,
    callbacks: dict[str, dict[str, Any]] | None = None,
    **settings: Any,
) -> Path:
    """Train a model and return the path of its checkpoint.

    ``out`` (in ``settings``) is the run folder. When it already holds a run, training is
    refused unless ``overwrite`` (start a clean run there) or ``default_out`` (the folder
    was not chosen by the user: the first free ``out-2``, ``out-3``, ... is used).

    Settings the user did not choose (``given``: the names set on the command line; by
    default every key of ``settings``) take the values the training loop and the loss
    recommend (:func:`recommended_settings`), announced and recorded in the run.
    """
    console = console or Console(stderr=True)
    chosen = set(settings) if given is None else set(given)
    recommended = recommended_settings(model_name, loss)
    unused = refuse_unused_by_optimizer(str(settings.get("optimizer", "adam")), chosen)
    applied = {k: v for k, v in recommended.items() if k not in chosen and k not in unused}
    settings = {**settings, **applied}
    train_settings = build_config(TrainSettings, settings, what="training setting")
    if applied and _is_main_process():
        shown = ", ".join(f"{flag_of(k)} {v}" for k, v in applied.items())
        console.print(f"settings recommended for this model and loss (set them to change): {shown}")
    out = Path(train_settings.out)
    # Under torchrun only rank 0 owns (and checks) the folder; the other ranks write nothing.
    # A link where a run file goes is named as such first, whatever else the folder holds.
    if _is_main_process() and not default_out:
        refuse_links(out)
    if _is_main_process() and is_run_folder(out) and not overwrite:
        if default_out:
            out = _free_run_folder(out)
        else:
            raise GentoolError(
                f"run folder {out} already holds {_describe_run(out)}; pass --overwrite to "
                f"start over there, '--resume {out}' to continue it, or another --out."
            )
    train_settings.out = str(out)
    if overwrite and init_from:
        _refuse_init_from_removed(init_from, out)
    if _is_main_process():
        refuse_links(out)
        refuse_foreign(out)
    lock = RunLock(out, notice=lambda text: console.print(f"[yellow]{text}[/]"))
    if _is_main_process():
        _make_folder(out)
        lock.acquire()
    try:
        # Build first: every option, the data and --init-from are checked (and read) before
        # --overwrite removes anything, so a refused command leaves the old run as it was.
        trainer = build_trainer(
            model_name,
            loss=loss,
            model_options=model_options,
            loss_options=loss_options,
            data=data,
            settings=train_settings,
            console=console,
            given=tuple(sorted(chosen)),
            init_from=init_from,
            callbacks=build_callbacks(callbacks or {}),
        )
        check_keep_every(trainer.settings, trainer.total_steps)  # a resume counts its own
        if (loss is not None or loss_options) and not trainer.uses_gan_loss():
            given_loss = f"--loss {loss}" if loss is not None else "--loss-opt"
            raise GentoolError(
                f"{given_loss} has no effect: this '{model_name}' run trains with its pixel loss "
                "only (--train-opt adv_weight=0); add --train-opt adv_weight=0.01 for a GAN term "
                "(sr-resnet: and --model-opt with_discriminator=true), or drop it."
            )
        if _is_main_process():
            for callback in trainer.callbacks:  # may refuse before --overwrite removes anything
                callback.check(trainer)
        if overwrite and _is_main_process():
            removed = clean_run_folder(out)
            if removed:
                console.print(f"--overwrite: removed {len(removed)} file(s) of the previous run")
        return trainer.fit()
    finally:
        lock.release()
        _remove_if_empty(out)


def _refuse_callback_changes(
    path: Path, saved: list[Any], given: dict[str, dict[str, Any]] | None
) -> None:
    """A run's callbacks (and their options) are fixed by its checkpoint: ``--callback``
    with ``--resume`` must name the same ones with the same options, or is refused."""
    if given is None:
        return
    now = {cb.PLUGIN_NAME: cb.config_dict() for cb in build_callbacks(given)}
    before = {cb.PLUGIN_NAME: cb.config_dict() for cb in saved}
    if now != before:
        shown = ", ".join(before) or "none"
        raise GentoolError(
            f"--callback cannot change when resuming (the run has: {shown}); drop it, or start "
            "a new run."
        )


def _refuse_init_from_removed(init_from: str, out: Path) -> None:
    """``--overwrite`` must not remove the checkpoint ``--init-from`` is about to read."""
    source = Path(init_from).resolve()  # a link into the folder is the same file
    source = RunFolder.of(source)[1]
    if source.name in RUN_FILES and source.parent == out.resolve():
        raise GentoolError(
            f"--init-from {init_from} is the checkpoint that --overwrite would remove from "
            f"{out}; copy it elsewhere first, or choose another --out."
        )


def _announce_init(console: Console, initial: dict[str, Any]) -> None:
    step = f" (step {initial['step']})" if initial.get("step") is not None else ""
    text = f"--init-from: starting from the weights of {initial['path']}{step}"
    if initial["fresh"]:
        text += f"; {', '.join(initial['fresh'])} start(s) fresh"
    console.print(text)
    for key, values in sorted(initial["differs"].items()):
        console.print(
            f"  model option {key}: {values['run']} here, {values['checkpoint']} in the checkpoint"
        )


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GentoolError(
            f"cannot write to run folder {out}: {exc.strerror or exc}; choose another --out."
        ) from None


def _remove_if_empty(out: Path) -> None:
    """A run that was refused before writing anything leaves no empty folder behind."""
    import contextlib

    with contextlib.suppress(OSError):
        out.rmdir()


def resume(
    run: str | Path,
    *,
    console: Console | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    accept_data_change: bool = False,
    model: str | None = None,
    loss: str | None = None,
    model_options: dict[str, Any] | None = None,
    loss_options: dict[str, Any] | None = None,
    data_root: str | None = None,
    fixed: dict[str, Any] | None = None,
    fixed_data: dict[str, Any] | None = None,
    callbacks: dict[str, dict[str, Any]] | None = None,
    **changes: Any,
) -> Path:
    """Continue the run in folder (or checkpoint) ``run``.

    ``changes`` may set the settings in :data:`CHANGEABLE_ON_RESUME` (applied, recorded in
    the run's history, announced); ``fixed`` holds any other settings the user gave, which
    are refused by name unless equal to the saved ones, as are a different ``model``,
    ``loss``, model or loss options. ``data_root`` may point at the same data moved
    elsewhere: the data's fingerprint must still match (or ``accept_data_change``).

    A run continues in its own folder only from that folder's ``ckpt.safetensors``;
    resuming from any other checkpoint file writes a new run folder ``out`` (required), so
    a newer checkpoint is never replaced by an older one's continuation.
    """
    console = console or Console(stderr=True)
    ckpt = load_checkpoint(run)
    _check_recorded_plugins(ckpt)  # a missing plugin names the distribution to install
    validate_resume_state(ckpt)  # before any of it is used, and before the data is loaded
    info = ckpt.info
    saved = dict(info.train)
    bad = sorted(k for k, v in changes.items() if v is not None and k not in CHANGEABLE_ON_RESUME)
    if bad:
        fixed = {**(fixed or {}), **{k: changes.pop(k) for k in bad}}
    _refuse_fixed_changes(ckpt, info, saved, model, loss, model_options, loss_options, fixed)
    run_callbacks = saved_callbacks(info, str(ckpt.path))
    _refuse_callback_changes(ckpt.path, run_callbacks, callbacks)
    source_folder = ckpt.path.parent
    canonical = ckpt.path.name == CANONICAL_CHECKPOINT
    if out is None:
        if not canonical:
            raise GentoolError(
                f"{ckpt.path} is not the run's {CANONICAL_CHECKPOINT}: continuing it in "
                f"{source_folder} could replace a newer checkpoint; continue it in a new folder "
                f"with: gentool train --resume {ckpt.path} --out NEW_FOLDER"
            )
        if overwrite:
            raise GentoolError(
                "--overwrite with --resume applies only to a new --out folder; a resumed run "
                "continues its own folder, so drop --overwrite."
            )
        target = source_folder
    else:
        target = Path(out)
        if target.resolve() == source_folder.resolve():
            if not canonical:
                raise GentoolError(
                    f"--out {target} is the folder of {ckpt.path}; choose a new folder for the "
                    "continued run."
                )
        elif _is_main_process() and is_run_folder(target) and not overwrite:
            raise GentoolError(
                f"--out {target} already holds {_describe_run(target)}; pass --overwrite to "
                "replace it, or choose another folder."
            )
    applied = {k: v for k, v in changes.items() if v is not None}
    history_entry = {
        k: {"from": saved.get(k), "to": v} for k, v in applied.items() if saved.get(k) != v
    }
    # --steps and --epochs say the same thing: the one given replaces the saved one.
    if applied.get("steps") is not None:
        saved["epochs"] = None
    if applied.get("epochs") is not None:
        saved["steps"] = None
    saved.update(applied)
    saved["out"] = str(target)
    settings = build_config(TrainSettings, saved, what="training setting")
    spec_fields = {f.name for f in dataclasses.fields(DataSpec)}
    data_meta = info.data
    spec = build_config(
        DataSpec, {k: v for k, v in data_meta.items() if k in spec_fields}, what="data field"
    )
    _refuse_data_changes(ckpt.path, spec, fixed_data or {})
    if data_root is not None and data_root != spec.root:
        history_entry["data_root"] = {"from": spec.root, "to": data_root}
        spec.root = data_root
    if _is_main_process():
        refuse_links(target)
        if target.resolve() != source_folder.resolve():
            refuse_foreign(target)
        else:
            refuse_foreign(target, after_step=info.step or 0)
    lock = RunLock(target, notice=lambda text: console.print(f"[yellow]{text}[/]"))
    if _is_main_process():
        _make_folder(target)
        lock.acquire()
    try:
        trainer = build_trainer(
            info.model,
            loss=info.loss,
            model_options=info.model_config,
            loss_options=info.loss_config,
            data=spec,
            settings=settings,
            console=console,
            callbacks=run_callbacks,
        )
        _check_data_unchanged(trainer, data_meta, accept_data_change, history_entry, console)
        trainer.restore(ckpt)
        trainer.apply_learning_rates({k for k in applied if k in ("lr_g", "lr_d")})
        if trainer.step >= trainer.total_steps:
            if trainer.step > trainer.total_steps:
                raise GentoolError(
                    f"run {source_folder} is already at step {trainer.step}, past --steps "
                    f"{trainer.total_steps}; pass a larger --steps to continue."
                )
            raise GentoolError(
                f"run {source_folder} already finished its {trainer.total_steps} steps; pass a "
                "larger --steps to continue."
            )
        kept = len([s for s in own_snapshots(target) if s <= trainer.step])
        check_keep_every(trainer.settings, trainer.total_steps, trainer.step, kept)
        if _is_main_process():
            for callback in trainer.callbacks:
                callback.check(trainer)
        # Only now, with everything checked, may --overwrite clear another --out folder.
        if target.resolve() != source_folder.resolve() and overwrite and _is_main_process():
            clean_run_folder(target)
        if _is_main_process():
            log_from = (
                None
                if target.resolve() == source_folder.resolve()
                else RunFolder(source_folder).log
            )
            dropped = cut_back(target, trainer.step, log_from=log_from)
            _announce_cut_back(console, dropped, trainer.step)
            if history_entry:
                shown = ", ".join(
                    f"{k} {v['from']} -> {v['to']}" for k, v in sorted(history_entry.items())
                )
                console.print(f"resuming at step {trainer.step} with changes: {shown}")
        # The run's record travels on: earlier resumes and where its weights started.
        trainer.history = list(ckpt.info.history)
        trainer.history.append(
            {"step": trainer.step, "resumed_from": str(ckpt.path), "changed": history_entry}
        )
        trainer.init_from = ckpt.info.init_from
        if ckpt.info.run_id is not None:
            trainer.run_id = ckpt.info.run_id
        return trainer.fit()
    finally:
        lock.release()
        _remove_if_empty(target)


def _check_recorded_plugins(ckpt: Any) -> None:
    """Every plugin the run used must be there to continue it (named, with the
    distribution to install, when it is not)."""
    recorded = recorded_plugins(ckpt)
    where = str(ckpt.path)
    model_class_of(ckpt)  # the model's plugin, and the saved config against its fields
    family_of(ckpt)
    info = ckpt.info
    if info.loss:
        get_recorded_class("loss", info.loss, recorded.get("loss"), where)
    name = info.data.get("name")
    if isinstance(name, str):
        get_recorded_class("dataset", name, recorded.get("dataset"), where)


def _announce_cut_back(console: Console, dropped: dict[str, int], step: int) -> None:
    parts = []
    if dropped.get("log_records"):
        parts.append(f"{dropped['log_records']} log record(s)")
    if dropped.get("samples"):
        parts.append(f"{dropped['samples']} sample grid(s)")
    if dropped.get("snapshots"):
        parts.append(f"{dropped['snapshots']} snapshot(s)")
    if dropped.get("bad_log_lines"):
        parts.append(f"{dropped['bad_log_lines']} unreadable log line(s)")
    if dropped.get("temporaries"):
        parts.append(f"{dropped['temporaries']} temporary file(s) of an interrupted write")
    if parts:
        console.print(
            f"[yellow]resume: removed {', '.join(parts)} from after step {step} (written "
            "after the checkpoint, before the run stopped)[/]"
        )


def _check_data_unchanged(
    trainer: Trainer,
    data_meta: dict[str, Any],
    accept: bool,
    history_entry: dict[str, Any],
    console: Console,
) -> None:
    saved = data_meta.get("fingerprint")
    if not isinstance(saved, str):
        return  # checkpoints from before fingerprints: nothing to compare
    now = trainer.data_fingerprint
    if now == saved:
        return
    before = data_meta.get("num_images")
    what = (
        f"{before} -> {len(trainer.data)} images"
        if before != len(trainer.data)
        else "same count, different pixels"
    )
    if not accept:
        raise GentoolError(
            f"the training data changed since the checkpoint ({what}), so the resume would not "
            "be exact; restore the data, or pass --accept-data-change to continue anyway."
        )
    console.print(
        f"[yellow]the training data changed since the checkpoint ({what}): continuing, but this "
        "resume is not exact[/]"
    )
    history_entry["data"] = {"from": saved, "to": now}
    trainer.data_changed = True


def _refuse_fixed_changes(
    ckpt: Any,
    info: CheckpointMeta,
    saved: dict[str, Any],
    model: str | None,
    loss: str | None,
    model_options: dict[str, Any] | None,
    loss_options: dict[str, Any] | None,
    fixed: dict[str, Any] | None,
) -> None:
    """What a checkpoint fixes cannot change on resume: refuse the first differing flag."""
    where = ckpt.path
    if model is not None and model != info.model:
        raise GentoolError(
            f"{where} holds a '{info.model}' run, not '{model}'; drop the model name to "
            f"continue it, or start a new '{model}' run without --resume."
        )
    if loss is not None and loss != info.loss:
        raise GentoolError(
            f"--loss cannot change when resuming: {where} trains with "
            f"'{info.loss}'; start a new run to use '{loss}'."
        )
    _refuse_option_changes(where, "--model-opt", model_options, info.model_config, info)
    _refuse_option_changes(where, "--loss-opt", loss_options, info.loss_config, info)
    try:
        unused = set(get_family(str(info.family)).unused_settings()) if info.family else set()
    except GentoolError:  # the family's plugin is checked (and named) elsewhere
        unused = set()
    for name, value in (fixed or {}).items():
        if name not in {f.name for f in dataclasses.fields(TrainSettings)}:
            raise GentoolError(f"{flag_of(name)} cannot be used with --resume.")
        if name in unused:
            raise GentoolError(
                f"{flag_of(name)} does not apply to '{info.model}' ({info.family}): its "
                "training loop does not use it; drop it."
            )
        try:
            coerced = build_config(TrainSettings, {name: value}, what="training setting")
        except GentoolError:
            coerced = None
        current = saved.get(name)
        if coerced is None or getattr(coerced, name) != current:
            raise GentoolError(
                f"{flag_of(name)} cannot change when resuming (the run uses "
                f"{current}); only {', '.join(flag_of(k) for k in CHANGEABLE_ON_RESUME)} can; "
                "start a new run to change it."
            )


def _refuse_option_changes(
    where: Path,
    flag: str,
    given: dict[str, Any] | None,
    saved: dict[str, Any],
    info: CheckpointMeta,
) -> None:
    if not given:
        return
    config_cls: Any = None
    try:
        if flag == "--model-opt":
            config_cls = get_model_class(info.model).Config
        elif info.loss:
            config_cls = get_loss_class(info.loss).Config
    except GentoolError:
        config_cls = None
    for key, value in given.items():
        current = saved.get(key)
        same = False
        if config_cls is not None:  # a field the checkpoint predates has its default value
            try:
                mine = build_config(config_cls, {**saved, key: value}, what=flag)
                theirs = build_config(config_cls, dict(saved), what=flag)
                same = hasattr(theirs, key) and getattr(mine, key) == getattr(theirs, key)
                current = getattr(theirs, key, current)
            except GentoolError:
                same = False
        if not same:
            raise GentoolError(
                f"{flag} {key}={value} cannot change when resuming (the run has "
                f"{key}={current}); start a new run to change it."
            )


def _refuse_data_changes(where: Path, spec: DataSpec, given: dict[str, Any]) -> None:
    flags = {
        "name": "--dataset",
        "labels": "--labels",
        "label_column": "--label-column",
        "image_size": "--image-size",
        "channels": "--channels",
        "limit": "--limit",
        "test_fraction": "--test-fraction",
    }
    for key, value in given.items():
        if value is None:
            continue
        current = getattr(spec, key)
        try:
            mine = getattr(build_config(DataSpec, {key: value}, what="data option"), key)
        except GentoolError:
            mine = value
        if key == "labels" and current is not None:
            same = Path(str(value)).expanduser().resolve() == Path(current).expanduser().resolve()
        else:
            same = mine == current
        if not same:
            flag = flags.get(key, "--" + key.replace("_", "-"))
            raise GentoolError(
                f"{flag} cannot change when resuming ({where} was trained with "
                f"{flag} {current}); start a new run to change the data."
            )
