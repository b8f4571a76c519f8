"""Options shared by several commands, defined once."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from gentool.data.base import DataSpec
from gentool.runtime import MAX_SEED

F = TypeVar("F", bound=Callable[..., Any])


class PathText(click.Path):
    """A path given as text (kept a ``str``); an empty or blank value is refused by name
    instead of being read as the current folder or as "not given"."""

    def __init__(self, **options: Any) -> None:
        super().__init__(path_type=str, **options)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty; give a file or folder path.", param, ctx)
        return super().convert(value, param, ctx)


class RunOrCheckpoint(PathText):
    """What every command that reads a trained model takes: a run folder (``RUN``, meaning
    ``RUN/ckpt.safetensors``) or a checkpoint file, kept as given. Which file it means is
    :meth:`gentool.run_folder.RunFolder.of`'s to say, and whether it holds a valid checkpoint
    :func:`gentool.checkpoint.load_checkpoint`'s (one line each, before anything is used)."""

    name = "run_or_checkpoint"

    def __init__(self) -> None:
        super().__init__()

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "RUN|CKPT"


class UpscalerChoice(RunOrCheckpoint):
    """``upscale --model``: the name of a shipped upscaler, or a run folder or checkpoint file
    of an image-to-image run (as ``--ckpt``). A value that is neither an existing path nor a
    shipped name is refused with the names."""

    name = "upscaler"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "NAME|RUN|CKPT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pathlib import Path

        from gentool.shipped import SHIPPED_MODELS

        text = super().convert(value, param, ctx)
        if text in SHIPPED_MODELS or Path(text).exists():
            return text
        self.fail(
            f"{text!r} is neither a shipped upscaler ({', '.join(SHIPPED_MODELS)}) nor a run "
            "folder or checkpoint file.",
            param,
            ctx,
        )


class FiniteFloat(click.types.FloatParamType):
    """A finite number (``nan`` and ``inf`` are refused), optionally bounded.

    ``low``/``high`` bound it; ``low_open``/``high_open`` exclude the bound itself. A float
    type, so a run file gives it a TOML number (:func:`gentool.config_file.read_run_file`).
    """

    name = "number"

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> None:
        self.low, self.high = low, high
        self.low_open, self.high_open = low_open, high_open

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a number.", param, ctx)
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float (from a run file)
            self.fail(f"{value} is not a finite number.", param, ctx)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            self.fail(f"{value} must be {'>' if self.low_open else '>='} {self.low}.", param, ctx)
        if self.high is not None and (
            number >= self.high if self.high_open else number > self.high
        ):
            self.fail(f"{value} must be {'<' if self.high_open else '<='} {self.high}.", param, ctx)
        return number


def key_values(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    """``--model-opt``/``--loss-opt``/``--train-opt``: KEY=VALUE pairs, each key once (a key
    given twice, in one spelling or two, is refused by name). Pairs on the command line are
    added to those of the ``--config`` file's table, replacing the file's value of a key
    they name (the file's other keys stay)."""
    from click.core import ParameterSource

    from gentool.config import parse_key_values

    flag = param.opts[0] if param.opts else str(param.name)
    given = parse_key_values(value or (), flag)
    from_file = (ctx.default_map or {}).get(str(param.name))
    if ctx.get_parameter_source(str(param.name)) is ParameterSource.DEFAULT_MAP or not from_file:
        return value
    merged = {**parse_key_values(from_file, flag), **given}
    return tuple(f"{key}={item}" for key, item in merged.items())


def _check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an unknown or absent device where the CLI reads it, before any work."""
    from gentool.errors import GentoolError
    from gentool.runtime import resolve_device

    try:
        resolve_device(value)
    except GentoolError as exc:
        raise click.BadParameter(exc.message, ctx, param) from None
    return value


def device_option(f: F) -> F:
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        callback=_check_device,
        help="Where to run: auto (first GPU, else CPU), cpu, cuda or cuda:N. Example: --device cuda:1",
    )(f)


def seed_option(f: F) -> F:
    return click.option(
        "--seed",
        type=click.IntRange(0, MAX_SEED),
        default=0,
        show_default=True,
        help="Random seed, for reproducible runs (0 to 2**63-1).",
    )(f)


def data_options(
    default_dataset: str | None = "digits", split: str | None = None
) -> Callable[[F], F]:
    """--dataset, --data-root, --labels, --label-column, --image-size, --channels (and --split)."""

    def decorate(f: F) -> F:
        opts = [
            click.option(
                "--dataset",
                default=default_dataset,
                show_default=default_dataset is not None,
                help="Dataset plugin (see 'gentool plugins'). Example: --dataset folder",
            ),
            click.option(
                "--data-root",
                type=PathText(),
                default=None,
                help="Folder of the dataset (images for 'folder'). Example: --data-root ~/faces",
            ),
            click.option(
                "--labels",
                type=PathText(dir_okay=False),
                default=None,
                help="CSV of labels/attributes (column 'file' + attributes). Example: --labels tags.csv",
            ),
            click.option(
                "--label-column",
                default=None,
                help="CSV column used as class label. Example: --label-column hair",
            ),
            click.option(
                "--image-size",
                type=click.IntRange(1, 4096),
                default=None,
                help="Resolution images are resized to (default: the dataset's). Example: --image-size 64",
            ),
            click.option(
                "--channels",
                type=click.Choice(["1", "3"]),
                default=None,
                help="Force grayscale (1) or RGB (3).",
            ),
            click.option(
                "--test-fraction",
                type=FiniteFloat(0, 1, high_open=True),
                default=None,
                help="Fraction of the images held out as the 'test' split (a fixed draw) "
                "[default: 0.1]. Example: --test-fraction 0.2",
            ),
            click.option(
                "--limit",
                type=click.IntRange(1),
                default=None,
                help="Use at most this many images of the split (quick experiments).",
            ),
        ]
        if split is not None:
            opts.append(
                click.option(
                    "--split",
                    type=click.Choice(["train", "test", "all"]),
                    default=split,
                    show_default=True,
                    help="Which part of the dataset (a fixed 10% is held out as 'test').",
                )
            )
        if split is not None:
            f = _refusing_unused_test_fraction(f)
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


def _refusing_unused_test_fraction(f: F) -> F:
    """``--split all`` uses every image, so a ``--test-fraction`` beside it is refused."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("split") == "all" and kwargs.get("test_fraction") is not None:
            raise click.UsageError(
                "--test-fraction sets the size of the test split; --split all uses every "
                "image, so drop one of them."
            )
        return f(*args, **kwargs)

    return cast(F, command)


def _or_default(value: float | None, default: float) -> float:
    return default if value is None else value


def data_spec_from(kwargs: dict[str, Any], split: str = "train") -> DataSpec:
    """Pop the data options out of a command's keyword arguments."""
    channels = kwargs.pop("channels", None)
    return DataSpec(
        name=kwargs.pop("dataset"),
        root=kwargs.pop("data_root", None),
        labels=kwargs.pop("labels", None),
        label_column=kwargs.pop("label_column", None),
        image_size=kwargs.pop("image_size", None),
        channels=int(channels) if channels else None,
        limit=kwargs.pop("limit", None),
        test_fraction=_or_default(kwargs.pop("test_fraction", None), 0.1),
        split=kwargs.pop("split", split),
    )
