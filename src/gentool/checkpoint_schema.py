"""What a gentool checkpoint's metadata and state tensors may hold, checked before any is used.

Two entry points, both raising one-line :class:`~gentool.errors.CheckpointError` s that name
the file and the field:

* :func:`validate_checkpoint_meta` -- what every reader needs (``load_checkpoint`` calls it
  before reading tensor bytes): the format and schema version, the model name, its family,
  and a model config of JSON values of the types the model's config dataclass declares.
* :func:`validate_resume_state` -- what ``gentool train --resume`` reads on top: the step,
  the training settings, the data, the loss, the optimizer state (JSON and tensors), the
  torch/numpy/Python RNG states, the data sampler (a permutation of the images and a
  generator state) and any ``ema.*`` weights.

Types are strict: an integer field takes a JSON integer (not ``true``, not ``"5"``, not
``5.0``), a number field takes a finite number. The checks know the layout
:meth:`gentool.training.base.Trainer.save` writes; anything else is refused, never guessed at.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import torch

from gentool.errors import CheckpointError, GentoolError

if TYPE_CHECKING:
    pass

#: The checkpoint format this gentool writes and reads (``format``, ``schema_version``).
SCHEMA_VERSION = 1
FORMAT = "gentool-checkpoint"
#: Length of a CPU generator state (``torch.get_rng_state()``, ``Generator.get_state()``).
TORCH_RNG_STATE_LEN = int(torch.get_rng_state().numel())
#: numpy's MT19937 key length; Python's ``random`` state is this plus the position.
MT_KEYS = 624
#: What a checkpoint may declare as the storage dtype of its floating weights.
WEIGHTS_DTYPES = ("float32", "float16", "bfloat16")
_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(path: Path | str, field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{path}: field '{field}' {problem}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite JSON number (``true``/``false`` are not numbers)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    """A JSON scalar, with numbers finite."""
    return value is None or isinstance(value, (str, bool, int)) or _is_number(value)


def _is_plain(value: Any, depth: int = 0) -> bool:
    """A JSON scalar or a (nested, at most 4 deep) list of them."""
    if isinstance(value, list):
        return depth < 4 and all(_is_plain(v, depth + 1) for v in value)
    return _is_scalar(value)


def _need_int(
    path: Path | str, field: str, value: Any, low: int = 0, high: int | None = None
) -> int:
    if not _is_int(value) or value < low or (high is not None and value > high):
        if high is None:
            what = "a non-negative integer" if low == 0 else f"an integer >= {low}"
        else:
            what = f"an integer in {low}..{high}"
        raise _fail(path, field, f"must be {what}, not {_show(value)}.")
    return int(value)


def _need_dict(path: Path | str, field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, field, f"must be a JSON object, not {_show(value)}.")
    return value


# --- values against a config dataclass ------------------------------------------------------


def _matches(value: Any, annotation: Any) -> bool:
    """Whether a JSON value has the type a dataclass field declares (strictly)."""
    if annotation is Any or isinstance(annotation, (str, typing.TypeVar)):
        return _is_plain(value) or isinstance(value, dict)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (tuple, list):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        inner = args[0] if args else Any
        return isinstance(value, list) and all(_matches(v, inner) for v in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _is_plain(v) for k, v in value.items()
        )
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return _is_int(value)
    if annotation is float:
        return _is_number(value)
    if annotation is str:
        return isinstance(value, str)
    return _is_plain(value)  # a type this schema does not know: any plain JSON value


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin in (tuple, list):
        return "a list"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if annotation is type(None):
        return "null"
    return names.get(annotation, "a JSON value")


def check_config_values(
    cls: type, values: Any, path: Path | str, field: str, *, known_extra: Collection[str] = ()
) -> Any:
    """Check ``values`` against dataclass ``cls`` strictly and build it (its ``validate()``
    runs too); each problem is one :class:`CheckpointError` naming ``field.key``."""
    from gentool.config import build_config, config_fields

    values = _need_dict(path, field, values)
    fields = config_fields(cls)
    for key, value in values.items():
        if key in known_extra:
            continue
        if key not in fields:
            raise _fail(path, f"{field}.{key}", f"is not a field of {cls.__qualname__}.")
        if not _matches(value, fields[key]):
            raise _fail(
                path, f"{field}.{key}", f"must be {_type_name(fields[key])}, not {_show(value)}."
            )
    try:
        return build_config(cls, {k: v for k, v in values.items() if k not in known_extra})
    except GentoolError as exc:
        raise _fail(path, field, f"is invalid: {exc.message}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise _fail(path, field, f"is invalid ({exc}).") from None


# --- every reader ---------------------------------------------------------------------------


#: A family's name, as plugin names are written (:data:`gentool.plugins.NAME_PATTERN`).
_FAMILY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def validate_checkpoint_meta(meta: dict[str, Any], path: Path | str) -> None:
    """What every reader of a checkpoint relies on; raise :class:`CheckpointError` otherwise."""
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gentool checkpoint (wrong format field).")
    version = meta.get("schema_version")
    if not _is_int(version) or version != SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint schema version {version!r}; this gentool reads version "
            f"{SCHEMA_VERSION}."
        )
    if "gentool_version" in meta and not isinstance(meta["gentool_version"], str):
        raise _fail(
            path, "gentool_version", f"must be a string, not {_show(meta['gentool_version'])}."
        )
    if "weights_dtype" in meta and meta["weights_dtype"] not in WEIGHTS_DTYPES:
        raise _fail(
            path,
            "weights_dtype",
            f"must be one of {', '.join(WEIGHTS_DTYPES)}, not {_show(meta['weights_dtype'])}.",
        )
    model = meta.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise CheckpointError(
            f"{path} does not say which model it holds (field 'model' is {_show(model)})."
        )
    config = meta.get("model_config")
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path} does not say which model it holds (field 'model_config' must be a JSON "
            f"object, not {_show(config)})."
        )
    for key, value in config.items():
        if not _is_plain(value):
            raise _fail(
                path, f"model_config.{key}", f"must be a JSON scalar or list, not {_show(value)}."
            )
    family = meta.get("family")
    if family is not None and (not isinstance(family, str) or not _FAMILY_NAME.fullmatch(family)):
        # any registered family; whether it is installed is asked where its model is built
        raise _fail(path, "family", f"must be the name of a model family, not {_show(family)}.")


@dataclasses.dataclass(frozen=True)
class CheckpointMeta:
    """A checkpoint's metadata, parsed once (by :func:`gentool.checkpoint.load_checkpoint`,
    as ``Checkpoint.info``) and typed: what the commands read. ``raw`` keeps the JSON object
    as written; the resume state in it (optimizer, RNG, sampler) is checked by
    :func:`gentool.training.resume_state.validate_resume_state`, which only a resume needs.

    A checkpoint written by ``gentool train`` has every field; an exported or converted one
    (``upscale`` weights, a third party's) may lack the training ones, which are then
    ``None`` or empty; an export says what it was made from in ``trained`` instead."""

    model: str
    model_config: dict[str, Any]
    family: str | None
    step: int | None
    loss: str | None
    loss_config: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any]
    callbacks: dict[str, dict[str, Any]]
    plugins: dict[str, Any]
    weights_dtype: str | None
    trained: dict[str, Any] | None
    gentool_version: str | None
    history: list[dict[str, Any]]
    init_from: dict[str, Any] | None
    #: The identity of the run that wrote it (kept through resumes; None before it existed).
    run_id: str | None
    raw: dict[str, Any]

    @classmethod
    def parse(cls, meta: dict[str, Any], path: Path | str) -> CheckpointMeta:
        """Validate (:func:`validate_checkpoint_meta`, then the training fields' types) and
        type ``meta``; raise :class:`CheckpointError` naming the file and the field."""
        validate_checkpoint_meta(meta, path)
        step = meta.get("step")
        if step is not None:
            _need_int(path, "step", step)
        loss = meta.get("loss")
        if loss is not None and (not isinstance(loss, str) or not loss.strip()):
            raise _fail(path, "loss", f"must be the name of a GAN loss, not {_show(loss)}.")

        def section(name: str) -> dict[str, Any]:
            value = meta.get(name)
            return {} if value is None else dict(_need_dict(path, name, value))

        callbacks = section("callbacks")
        trained = meta.get("trained")
        # The run's record (earlier resumes, where its weights started) is informative only:
        # entries of the wrong shape are dropped rather than refused.
        earlier = meta.get("history")
        history = (
            [dict(h) for h in earlier if isinstance(h, dict)] if isinstance(earlier, list) else []
        )
        initial = meta.get("init_from")
        init_from = (
            dict(initial)
            if isinstance(initial, dict) and isinstance(initial.get("path"), str)
            else None
        )
        for name, options in callbacks.items():
            _need_dict(path, f"callbacks.{name}", options)
        return cls(
            model=str(meta["model"]),
            model_config=dict(meta["model_config"]),
            family=meta.get("family"),
            step=step,
            loss=loss,
            loss_config=section("loss_config"),
            data=section("data"),
            train=section("train"),
            callbacks=callbacks,
            plugins=section("plugins"),
            weights_dtype=meta.get("weights_dtype"),
            trained=dict(trained) if isinstance(trained, dict) else None,
            gentool_version=meta.get("gentool_version"),
            history=history,
            init_from=init_from,
            run_id=meta["run_id"] if isinstance(meta.get("run_id"), str) else None,
            raw=meta,
        )


def check_model_meta(meta: dict[str, Any], path: Path | str, cls: Any) -> None:
    """The checkpoint's ``family`` and ``model_config`` against the model class ``cls`` that
    will rebuild it (looked up by the caller: this layer does not know the registry)."""
    model, family, config = meta.get("model"), meta.get("family"), meta.get("model_config", {})
    if family is not None and family != cls.FAMILY:
        raise _fail(
            path, "family", f"is '{family}' but model '{model}' is of family '{cls.FAMILY}'."
        )
    fields = _config_fields(cls)
    for key, value in config.items():
        if key in fields and not _matches(value, fields[key]):
            raise _fail(
                path,
                f"model_config.{key}",
                f"must be {_type_name(fields[key])}, not {_show(value)}.",
            )


def _config_fields(cls: Any) -> dict[str, Any]:
    from gentool.config import config_fields

    config_cls = getattr(cls, "Config", None)
    if not dataclasses.is_dataclass(config_cls):
        return {}
    try:
        return config_fields(config_cls)  # type: ignore[arg-type]
    except Exception:  # a plugin whose annotations do not resolve: nothing to check against
        return {}


# --- what --resume reads --------------------------------------------------------------------


# --- optimizer state ------------------------------------------------------------------------

#: Types of the param-group options torch's optimizers use (others: any finite JSON scalar).
_GROUP_NUMBERS = ("lr", "eps", "weight_decay", "momentum", "alpha", "dampening", "initial_lr")
_GROUP_FLAGS = (
    "amsgrad",
    "maximize",
    "capturable",
    "differentiable",
    "centered",
    "nesterov",
    "decoupled_weight_decay",
)
_GROUP_OPTIONAL_FLAGS = ("foreach", "fused")


def check_optimizer_meta(path: Path | str, field: str, value: Any) -> set[int]:
    """Check one network's optimizer JSON; return the parameter indices its groups hold."""
    state = _need_dict(path, field, value)
    unknown = sorted(set(state) - {"param_groups", "scalars"})
    if unknown:
        raise _fail(path, f"{field}.{unknown[0]}", "is not part of an optimizer state.")
    groups = state.get("param_groups")
    if not isinstance(groups, list) or not groups:
        raise _fail(
            path, f"{field}.param_groups", f"must be a non-empty list, not {_show(groups)}."
        )
    indices: set[int] = set()
    for i, group in enumerate(groups):
        where = f"{field}.param_groups.{i}"
        group = _need_dict(path, where, group)
        params = group.get("params")
        if not isinstance(params, list) or not all(_is_int(p) and p >= 0 for p in params):
            raise _fail(
                path,
                f"{where}.params",
                f"must be a list of parameter indices, not {_show(params)}.",
            )
        if indices & set(params) or len(set(params)) != len(params):
            raise _fail(path, f"{where}.params", "lists a parameter twice.")
        indices |= set(params)
        if "lr" not in group:
            raise _fail(path, f"{where}.lr", "is missing.")
        for key, option in group.items():
            name = f"{where}.{key}"
            if key == "params":
                continue
            if key in _GROUP_NUMBERS:
                if not _is_number(option) or option < 0:
                    raise _fail(path, name, f"must be a non-negative number, not {_show(option)}.")
            elif key == "betas":
                if (
                    not isinstance(option, list)
                    or len(option) != 2
                    or not all(_is_number(b) and 0 <= b < 1 for b in option)
                ):
                    raise _fail(path, name, f"must be two numbers in [0, 1), not {_show(option)}.")
            elif key in _GROUP_FLAGS:
                if not isinstance(option, bool):
                    raise _fail(path, name, f"must be true or false, not {_show(option)}.")
            elif key in _GROUP_OPTIONAL_FLAGS:
                if option is not None and not isinstance(option, bool):
                    raise _fail(path, name, f"must be true, false or null, not {_show(option)}.")
            elif not _is_plain(option):
                raise _fail(path, name, f"must be a JSON scalar, not {_show(option)}.")
    if indices != set(range(len(indices))):
        raise _fail(path, f"{field}.param_groups", "does not number its parameters 0, 1, 2, ...")
    scalars = _need_dict(path, f"{field}.scalars", state.get("scalars", {}))
    for index, values in scalars.items():
        where = f"{field}.scalars.{index}"
        if not index.isdigit() or int(index) not in indices:
            raise _fail(path, where, "does not name a parameter of the optimizer.")
        for key, number in _need_dict(path, where, values).items():
            if not _is_scalar(number):
                raise _fail(path, f"{where}.{key}", f"must be a JSON scalar, not {_show(number)}.")
    return indices


# --- random number generators ---------------------------------------------------------------


def check_generator_state(path: Path | str, name: str, tensor: Any) -> None:
    """A CPU ``torch.Generator`` state: uint8, 1-D, of the exact length torch uses."""
    if (
        not isinstance(tensor, torch.Tensor)
        or tensor.dtype != torch.uint8
        or tensor.dim() != 1
        or tensor.numel() != TORCH_RNG_STATE_LEN
    ):
        shown = (
            f"{tensor.dtype} {tuple(tensor.shape)}"
            if isinstance(tensor, torch.Tensor)
            else "missing"
        )
        raise CheckpointError(
            f"{path}: tensor '{name}' must be a uint8 generator state of length "
            f"{TORCH_RNG_STATE_LEN}, not {shown}."
        )
    try:
        torch.Generator().set_state(tensor.clone())
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: tensor '{name}' is not a valid generator state ({exc})."
        ) from None


# --- the data sampler and other trainer state -----------------------------------------------


def check_permutation(path: Path | str, name: str, tensor: Any, length: int) -> None:
    """An integer 1-D tensor holding each of ``0 .. length-1`` once."""
    if not isinstance(tensor, torch.Tensor):
        raise CheckpointError(f"{path} lacks tensor '{name}' (the data order).")
    if tensor.dtype not in _INTEGER_DTYPES or tensor.dim() != 1:
        raise CheckpointError(
            f"{path}: tensor '{name}' must be a 1-D integer tensor, not {tensor.dtype} {tuple(tensor.shape)}."
        )
    if tensor.numel() != length:
        raise CheckpointError(
            f"{path}: tensor '{name}' orders {tensor.numel()} images but the data has {length}; "
            "resume with the same data."
        )
    if not torch.equal(tensor.long().sort().values, torch.arange(length)):
        raise CheckpointError(
            f"{path}: tensor '{name}' is not a permutation of the {length} images."
        )


def check_state_against(
    state: dict[str, torch.Tensor],
    reference: dict[str, torch.Tensor],
    where: str,
    *,
    prefix: str = "",
) -> None:
    """Same names, shapes and dtypes as ``reference``, and finite values."""
    missing = sorted(set(reference) - set(state))
    extra = sorted(set(state) - set(reference))
    if missing:
        raise CheckpointError(
            f"{where} lacks weight '{prefix}{missing[0]}' ({len(missing)} missing)."
        )
    if extra:
        raise CheckpointError(
            f"{where} has unexpected weight '{prefix}{extra[0]}' ({len(extra)} extra)."
        )
    for name, tensor in state.items():
        own = reference[name]
        if tuple(tensor.shape) != tuple(own.shape):
            raise CheckpointError(
                f"{where}: weight '{prefix}{name}' has shape {tuple(tensor.shape)}, not {tuple(own.shape)}."
            )
        if tensor.dtype != own.dtype:
            raise CheckpointError(
                f"{where}: weight '{prefix}{name}' is {_dtype(tensor.dtype)} but the model uses "
                f"{_dtype(own.dtype)}."
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{where}: weight '{prefix}{name}' holds NaN/Inf values.")


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
