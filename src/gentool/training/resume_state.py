"""What ``gentool train --resume`` reads from a checkpoint, checked before any of it is used.

The checkpoint format layer (:mod:`gentool.checkpoint`, :mod:`gentool.checkpoint_schema`)
checks what every reader relies on; the state a training run resumes from (settings, data
order, optimizers, random streams, loss and loop state, the EMA copy, the run's history)
is training's business and is checked here, above the plugin registry.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gentool.checkpoint_schema import (
    _INTEGER_DTYPES,
    MT_KEYS,
    _fail,
    _is_int,
    _is_number,
    _is_plain,
    _is_scalar,
    _need_dict,
    _need_int,
    _show,
    check_config_values,
    check_generator_state,
    check_optimizer_meta,
    check_permutation,
    check_state_against,
)
from gentool.errors import CheckpointError, GentoolError

if TYPE_CHECKING:
    from gentool.checkpoint import Checkpoint


#: Sections ``Trainer.save`` always writes; a checkpoint without them cannot be resumed.
RESUME_FIELDS = ("step", "train", "data", "optim", "rng", "sampler")


#: Keys ``Trainer.run_meta`` adds to the data spec.
DATA_EXTRAS = ("num_images", "class_names", "attribute_names", "fingerprint")


def validate_resume_state(
    ckpt: Checkpoint, num_images: int | None = None, *, networks: Collection[str] | None = None
) -> None:
    """Check everything ``gentool train --resume`` reads from ``ckpt`` before any of it is used.

    ``num_images`` is the size of the training data the run now sees: the sampler's order
    must be a permutation of it. Without it (a check right after loading, before the data is
    loaded) the order must be a permutation of the saved ``data.num_images``. ``networks``,
    when given, are the names of the trainer's optimizers: the checkpoint must hold state for
    exactly these.
    """
    path, meta = ckpt.path, ckpt.meta
    missing = [f for f in RESUME_FIELDS if f not in meta]
    if missing:
        raise CheckpointError(
            f"{path} cannot be resumed: it has no field '{missing[0]}' (weights only, not a training checkpoint; --init-from starts a new run from its weights)."
        )
    _need_int(path, "step", meta["step"])
    _check_train(ckpt)
    if num_images is None:
        saved = _need_dict(path, "data", meta["data"]).get("num_images")
        num_images = _need_int(path, "data.num_images", saved, low=1)
    _check_data(ckpt, num_images)
    _check_loss(ckpt)
    _check_optim(ckpt, networks)
    _check_rng(ckpt)
    _check_sampler(ckpt, num_images)
    _check_trainer_tensors(ckpt)
    _check_ema(ckpt)
    _check_history(ckpt)


def _check_history(ckpt: Checkpoint) -> None:
    """``history`` (earlier resumes, carried on by the next one) is a list of JSON objects."""
    history = ckpt.meta.get("history")
    if history is None:
        return
    if not isinstance(history, list):
        raise _fail(ckpt.path, "history", f"must be a list of records, not {_show(history)}.")
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise _fail(ckpt.path, f"history[{i}]", f"must be a JSON object, not {_show(entry)}.")


def _check_train(ckpt: Checkpoint) -> None:
    from gentool.training.settings import TrainSettings

    train = _need_dict(ckpt.path, "train", ckpt.meta["train"])
    extra = train.get("extra", {})
    if isinstance(extra, dict):
        for key, value in extra.items():
            if not _is_scalar(value):
                raise _fail(
                    ckpt.path, f"train.extra.{key}", f"must be a JSON scalar, not {_show(value)}."
                )
    check_config_values(TrainSettings, train, ckpt.path, "train")


def _check_data(ckpt: Checkpoint, num_images: int) -> None:
    from gentool.data.base import DataSpec

    path = ckpt.path
    data = _need_dict(path, "data", ckpt.meta["data"])
    spec_fields = {f.name for f in dataclasses.fields(DataSpec)}
    # What the trainer records beside the spec (counts, names, a fingerprint): plain JSON.
    extras = set(data) - spec_fields
    for key in sorted(extras):
        value = data[key]
        if not (_is_plain(value) or isinstance(value, dict)):
            raise _fail(path, f"data.{key}", f"must be a JSON value, not {_show(value)}.")
    if "fingerprint" in data and not isinstance(data["fingerprint"], (str, type(None))):
        raise _fail(
            path, "data.fingerprint", f"must be a string, not {_show(data['fingerprint'])}."
        )
    check_config_values(DataSpec, data, path, "data", known_extra=extras)
    if "num_images" in data:
        saved = _need_int(path, "data.num_images", data["num_images"], low=1)
        if saved != num_images:
            raise CheckpointError(
                f"{path}: the run was saved with {saved} training images but the data now has "
                f"{num_images}; resume with the same data."
            )
    names = data.get("class_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(path, "data.class_names", f"must be a list of strings, not {_show(names)}.")
    attributes = data.get("attribute_names", {})
    if not isinstance(attributes, dict) or not all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in attributes.values()
    ):
        raise _fail(
            path,
            "data.attribute_names",
            f"must map names to lists of strings, not {_show(attributes)}.",
        )


def _check_loss(ckpt: Checkpoint) -> None:
    from gentool.plugins import get_loss_class

    path, meta = ckpt.path, ckpt.meta
    loss, config = meta.get("loss"), meta.get("loss_config")
    if loss is None:
        if config not in (None, {}):
            raise _fail(path, "loss_config", "is set but the checkpoint names no 'loss'.")
        return
    if not isinstance(loss, str) or not loss:
        raise _fail(path, "loss", f"must be a loss name, not {_show(loss)}.")
    if config is None:
        config = {}
    config = _need_dict(path, "loss_config", config)
    for key, value in config.items():
        if not _is_plain(value):
            raise _fail(
                path, f"loss_config.{key}", f"must be a JSON scalar or list, not {_show(value)}."
            )
    try:
        loss_cls = get_loss_class(loss)
    except GentoolError as exc:
        raise _fail(path, "loss", f"names no installed loss ({exc.message})") from None
    config_cls = getattr(loss_cls, "Config", None)
    if dataclasses.is_dataclass(config_cls):
        check_config_values(config_cls, config, path, "loss_config")  # type: ignore[arg-type]
    else:
        try:
            loss_cls.from_options(dict(config))
        except GentoolError as exc:
            raise _fail(path, "loss_config", f"is invalid: {exc.message}") from None


def _check_optim(ckpt: Checkpoint, networks: Collection[str] | None) -> None:
    path = ckpt.path
    optim = _need_dict(path, "optim", ckpt.meta["optim"])
    if not optim:
        raise _fail(path, "optim", "holds no optimizer state.")
    if networks is not None and set(optim) != set(networks):
        raise _fail(
            path,
            "optim",
            f"holds state for {', '.join(sorted(optim)) or 'nothing'} but this model trains "
            f"{', '.join(sorted(networks))}.",
        )
    indices = {
        net: check_optimizer_meta(path, f"optim.{net}", value) for net, value in optim.items()
    }
    for name, tensor in ckpt.tensors.items():
        if not name.startswith("optim."):
            continue
        net = next((n for n in optim if name.startswith(f"optim.{n}.")), None)
        index, _, key = name[len(f"optim.{net}.") :].partition(".") if net else ("", "", "")
        if net is None or not index.isdigit() or int(index) not in indices[net] or not key:
            raise CheckpointError(
                f"{path}: tensor '{name}' is not optimizer state of a parameter listed in 'optim'."
            )
        if not tensor.is_floating_point():
            raise CheckpointError(
                f"{path}: optimizer tensor '{name}' must be floating point, not {tensor.dtype}."
            )
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: optimizer tensor '{name}' holds NaN/Inf values.")
        if key == "step" and (tensor.numel() != 1 or float(tensor) < 0):
            raise CheckpointError(
                f"{path}: optimizer tensor '{name}' must be one non-negative step count."
            )


def _mt_keys(path: Path | str, name: str, tensor: Any, length: int) -> None:
    if (
        not isinstance(tensor, torch.Tensor)
        or tensor.dtype not in _INTEGER_DTYPES
        or tensor.dim() != 1
        or tensor.numel() != length
    ):
        shown = (
            f"{tensor.dtype} {tuple(tensor.shape)}"
            if isinstance(tensor, torch.Tensor)
            else "missing"
        )
        raise CheckpointError(f"{path}: tensor '{name}' must hold {length} integers, not {shown}.")
    keys = tensor[:MT_KEYS].long()
    if bool((keys < 0).any()) or bool((keys >= 2**32).any()):
        raise CheckpointError(f"{path}: tensor '{name}' holds values outside the uint32 range.")
    if not bool(keys.any()):
        raise CheckpointError(f"{path}: tensor '{name}' is all zeros, not a generator state.")


def _check_rng(ckpt: Checkpoint) -> None:
    path, tensors = ckpt.path, ckpt.tensors
    rng = _need_dict(path, "rng", ckpt.meta["rng"])
    unknown = sorted(set(rng) - {"numpy", "python"})
    if unknown:
        raise _fail(path, f"rng.{unknown[0]}", "is not a random stream gentool saves.")
    check_generator_state(path, "rng.torch", tensors.get("rng.torch"))
    for name, tensor in tensors.items():
        if not name.startswith("rng."):
            continue
        if name.startswith("rng.cuda."):
            index = name[len("rng.cuda.") :]
            if (
                not index.isdigit()
                or tensor.dtype != torch.uint8
                or tensor.dim() != 1
                or not tensor.numel()
            ):
                raise CheckpointError(f"{path}: tensor '{name}' is not a CUDA generator state.")
        elif name not in ("rng.torch", "rng.numpy", "rng.python"):
            raise CheckpointError(f"{path}: tensor '{name}' is not a random stream gentool saves.")
    numpy_meta = _need_dict(path, "rng.numpy", rng.get("numpy"))
    if numpy_meta.get("name") != "MT19937":
        raise _fail(
            path, "rng.numpy.name", f"must be 'MT19937', not {_show(numpy_meta.get('name'))}."
        )
    _need_int(path, "rng.numpy.pos", numpy_meta.get("pos"), 0, MT_KEYS)
    if numpy_meta.get("has_gauss") not in (0, 1) or isinstance(numpy_meta.get("has_gauss"), float):
        raise _fail(
            path,
            "rng.numpy.has_gauss",
            f"must be 0 or 1, not {_show(numpy_meta.get('has_gauss'))}.",
        )
    if not _is_number(numpy_meta.get("cached")):
        raise _fail(
            path, "rng.numpy.cached", f"must be a number, not {_show(numpy_meta.get('cached'))}."
        )
    _mt_keys(path, "rng.numpy", tensors.get("rng.numpy"), MT_KEYS)
    python_meta = _need_dict(path, "rng.python", rng.get("python"))
    if python_meta.get("version") != 3 or not _is_int(python_meta.get("version")):
        raise _fail(
            path, "rng.python.version", f"must be 3, not {_show(python_meta.get('version'))}."
        )
    gauss = python_meta.get("gauss_next")
    if gauss is not None and not _is_number(gauss):
        raise _fail(path, "rng.python.gauss_next", f"must be a number or null, not {_show(gauss)}.")
    state = tensors.get("rng.python")
    _mt_keys(path, "rng.python", state, MT_KEYS + 1)
    assert isinstance(state, torch.Tensor)
    if not 0 <= int(state[-1]) <= MT_KEYS:
        raise CheckpointError(
            f"{path}: tensor 'rng.python' has position {int(state[-1])}, not in 0..{MT_KEYS}."
        )
    # Last word: the libraries themselves accept the states (on throw-away generators).
    try:
        probe_np = np.random.RandomState()
        probe_np.set_state(
            (
                "MT19937",
                tensors["rng.numpy"].numpy().astype(np.uint32),
                numpy_meta["pos"],
                numpy_meta["has_gauss"],
                float(numpy_meta["cached"]),
            )
        )
        random.Random().setstate((3, tuple(int(x) for x in state.tolist()), gauss))
    except (ValueError, TypeError, OverflowError) as exc:
        raise CheckpointError(
            f"{path}: the saved numpy/Python random state is invalid ({exc})."
        ) from None


def _check_sampler(ckpt: Checkpoint, num_images: int) -> None:
    path = ckpt.path
    sampler = _need_dict(path, "sampler", ckpt.meta["sampler"])
    unknown = sorted(set(sampler) - {"epoch", "position"})
    if unknown:
        raise _fail(path, f"sampler.{unknown[0]}", "is not part of the sampler state.")
    _need_int(path, "sampler.epoch", sampler.get("epoch"))
    _need_int(path, "sampler.position", sampler.get("position"), 0, num_images)
    check_permutation(
        path, "trainer.sampler.order", ckpt.tensors.get("trainer.sampler.order"), num_images
    )
    check_generator_state(path, "trainer.sampler.rng", ckpt.tensors.get("trainer.sampler.rng"))


def _int_scalar(path: Path | str, name: str, tensor: Any, high: int | None = None) -> int:
    if (
        not isinstance(tensor, torch.Tensor)
        or tensor.dtype not in _INTEGER_DTYPES
        or tensor.numel() != 1
    ):
        raise CheckpointError(f"{path}: tensor '{name}' must be one integer.")
    value = int(tensor.reshape(()))
    if value < 0 or (high is not None and value > high):
        bound = f"0..{high}" if high is not None else ">= 0"
        raise CheckpointError(f"{path}: tensor '{name}' is {value}, not in {bound}.")
    return value


def _check_trainer_tensors(ckpt: Checkpoint) -> None:
    """``trainer.*`` tensors besides the main sampler (CycleGAN's second sampler, flips, pools)."""
    path = ckpt.path
    trainer = ckpt.section("trainer")
    for name, tensor in trainer.items():
        full = f"trainer.{name}"
        if name.endswith(".rng") or name == "sampler.rng":
            check_generator_state(path, full, tensor)
        elif tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor '{full}' holds NaN/Inf values.")
    if "b.sampler.order" in trainer:
        order = trainer["b.sampler.order"]
        length = int(order.numel()) if order.dim() == 1 else -1
        check_permutation(path, "trainer.b.sampler.order", order, max(length, 0))
        _int_scalar(path, "trainer.b.sampler.epoch", trainer.get("b.sampler.epoch"))
        _int_scalar(path, "trainer.b.sampler.position", trainer.get("b.sampler.position"), length)
        if "b.sampler.rng" not in trainer:
            raise CheckpointError(f"{path} lacks tensor 'trainer.b.sampler.rng'.")
    pool_size = ckpt.meta["model_config"].get("pool_size")
    for pool in ("pool_a", "pool_b"):
        if f"{pool}.count" not in trainer:
            continue
        high = pool_size if _is_int(pool_size) else None
        count = _int_scalar(path, f"trainer.{pool}.count", trainer[f"{pool}.count"], high)
        if f"{pool}.rng" not in trainer:
            raise CheckpointError(f"{path} lacks tensor 'trainer.{pool}.rng'.")
        images = trainer.get(f"{pool}.images")
        if count and (
            images is None
            or not images.is_floating_point()
            or images.dim() != 4
            or images.shape[0] != count
        ):
            raise CheckpointError(
                f"{path}: tensor 'trainer.{pool}.images' must hold {count} float images."
            )


def _check_ema(ckpt: Checkpoint) -> None:
    """``ema.*`` must be a complete copy of the generator's weights (same shapes and dtypes),
    present whenever the saved settings say the run kept an average."""
    ema = ckpt.section("ema")
    if not ema:
        train = ckpt.meta.get("train")
        decay = train.get("ema") if isinstance(train, dict) else None
        if isinstance(decay, (int, float)) and not isinstance(decay, bool) and decay > 0:
            raise CheckpointError(
                f"{ckpt.path} cannot be resumed exactly: its settings say it kept an average of "
                f"the generator (--ema {decay}) but it holds no 'ema' weights."
            )
        return
    reference = ckpt.section("model.generator")
    check_state_against(ema, reference, f"{ckpt.path} (ema section)", prefix="ema.")
