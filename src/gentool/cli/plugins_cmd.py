"""``gentool plugins``: what is installed, and each plugin's options.

The options of a model (``--model-opt``) or loss (``--loss-opt``) are the fields of its
``Config`` dataclass: name, type and default from the field, the meaning from
``field(metadata={"help": ...})``, else the ``#:`` comment above the field, else a string
just below it (an attribute docstring). A dataset's options are the data flags it reads.
:func:`plugin_options` returns them, :func:`options_table` formats them as text (what
``gentool train MODEL --help`` can show) and ``gentool plugins NAME`` prints them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click

from gentool.cli.plugin_options import (
    OPTION_FLAG,
    _show_default,
    plugin_options,
)
from gentool.errors import GentoolError


def describe_plugin(kind: str, name: str) -> dict[str, Any]:
    """What ``gentool plugins --json`` says about one plugin."""
    from gentool.plugins import get_registry

    info = get_registry().entries[kind][name]
    record: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "description": info.description,
        "distribution": info.distribution,
    }
    if kind == "model":
        record["family"] = str(getattr(info.cls, "FAMILY", ""))
    record.update(_facts(kind, info.cls))
    record["options"] = [
        {
            "name": o.name,
            "type": o.type,
            "default": _jsonable(o.default),
            "help": o.help,
            "flag": o.flag,
        }
        for o in plugin_options(kind, name)
    ]
    return record


def _facts(kind: str, cls: Any) -> dict[str, Any]:
    """What a family or a metric declares (they take no options)."""
    if kind == "family":
        try:
            unused = list(cls.unused_settings())
        except Exception:  # a family whose loop cannot be imported: say nothing of it
            unused = []
        return {
            "uses": sorted(cls.USES),
            "takes_gan_loss": bool(cls.TAKES_GAN_LOSS),
            "domains": int(cls.DOMAINS),
            "unused_settings": unused,
        }
    if kind == "metric":
        return {"needs": sorted(getattr(cls, "NEEDS", ()))}
    return {}


def _info_column(kind: str, cls: Any, name: str) -> str:
    """The list's family/info cell: a model's family, a family's uses, a metric's needs."""
    if kind == "model":
        return str(getattr(cls, "FAMILY", ""))
    if kind == "family":
        return ", ".join(sorted(cls.USES))
    if kind == "metric":
        return ", ".join(sorted(getattr(cls, "NEEDS", ())))
    if kind == "callback":
        return f"--callback {name}"
    return ""


def _show_fact(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _show_default(value) if value != [] else "none"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return list(value) if isinstance(value, tuple) else str(value)
    return value


@click.command()
@click.argument("name", required=False)
@click.option(
    "--kind",
    type=click.Choice(["model", "loss", "dataset", "family", "metric", "callback", "trainer"]),
    default=None,
    help="Only list this kind (with NAME: the kind to look NAME up in).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print machine-readable JSON (every plugin, or NAME, with its options) instead.",
)
@click.option(
    "--arch",
    is_flag=True,
    help="Show model NAME's networks as layer tables (output shape, kernel, stride, padding, "
    "norm, activation, parameters); NAME may also be a run folder or checkpoint file.",
)
@click.option(
    "--model-opt",
    "model_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --arch: a model config field, repeatable. Example: --model-opt g_width=64",
)
@click.option(
    "--image-size",
    type=click.IntRange(1, 4096),
    default=None,
    help="With --arch: the image size [default: the model's]. Example: --image-size 64",
)
@click.option(
    "--channels",
    type=click.Choice(["1", "3"]),
    default=None,
    help="With --arch: grayscale (1) or RGB (3) images [default: the model's].",
)
def plugins(
    name: str | None,
    kind: str | None,
    as_json: bool,
    arch: bool,
    model_opts: tuple[str, ...],
    image_size: int | None,
    channels: str | None,
) -> None:
    """List every installed model, GAN loss, dataset, model family, metric and training
    callback, with the distribution providing it.

    With NAME: that plugin's options, each with its type, default and meaning (models:
    --model-opt NAME=VALUE, losses: --loss-opt, datasets: the data flags they read,
    callbacks: --callback-opt NAME.KEY=VALUE); for a family, what its models are for.

    With --arch: the layers of model NAME, for its default options or those given
    (--model-opt, --image-size, --channels), one table per network (generator and
    discriminator, encoder and decoder, ...); NAME may be a run folder or checkpoint
    instead (its saved config fixes the model). A folder named like a model: ./NAME.

    \b
    Examples:
      gentool plugins --kind loss
      gentool plugins dcgan          # latent_dim, g_width, d_width, ... with defaults
      gentool plugins dcgan --arch --image-size 32 --model-opt g_width=64
      gentool plugins runs/dcgan-ls --arch --json
      gentool plugins --json > plugins.json
    Set GENTOOL_PLUGINS=none to load built-ins only, or a comma list of plugin names.
    Plugins that could not be used are listed after the table, with the reason.
    """
    from rich.console import Console

    from gentool.plugins import KINDS, get_registry

    registry = get_registry()
    model_settings = {"--model-opt": model_opts, "--image-size": image_size, "--channels": channels}
    if arch:
        _print_architecture(name, kind, as_json, model_settings, registry)
        return
    _refuse_without_arch(model_settings)
    kinds = [k for k in KINDS if kind is None or k == kind]
    if name is not None:
        matches = [k for k in kinds if name in registry.entries[k]]
        if not matches:
            if Path(name).exists():
                raise GentoolError(
                    f"'{name}' is a run folder or checkpoint, not a plugin name; add --arch "
                    "to show its model's layers."
                )
            _unknown(name, kinds, registry)
        if as_json:
            records = [describe_plugin(k, name) for k in matches]
            click.echo(json.dumps(records[0] if len(records) == 1 else records, indent=2))
            return
        console = Console()
        for k in matches:
            _print_options(console, k, name)
        return
    if as_json:
        everything: dict[str, Any] = {
            k: [describe_plugin(k, n) for n in registry.names(k)] for k in kinds
        }
        if kind is None:
            everything["command"] = [
                {"name": n, "distribution": c.distribution, "help": c.help}
                for n, c in sorted(registry.commands.items())
            ]
        everything["problems"] = list(registry.problems)
        click.echo(json.dumps(everything, indent=2, default=str))
        return
    _print_list(kind, registry)


def _unknown(name: str, kinds: list[str], registry: Any) -> NoReturn:
    import difflib

    known = sorted({n for k in kinds for n in registry.names(k)})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    where = f"{kinds[0]} " if len(kinds) == 1 else ""
    raise GentoolError(
        f"no {where}plugin named '{name}'{hint}; installed: {', '.join(known) or 'none'}."
    )


def _print_options(console: Any, kind: str, name: str) -> None:
    from rich.table import Table

    from gentool.plugins import get_registry

    info = get_registry().entries[kind][name]
    options = plugin_options(kind, name)
    flag = OPTION_FLAG.get(kind)
    title = f"{kind} '{name}': {info.description}" if info.description else f"{kind} '{name}'"
    facts = _facts(kind, info.cls)
    if facts:
        lines = [title] + [
            f"  {key.replace('_', ' ')}: {_show_fact(value)}" for key, value in facts.items()
        ]
        console.print("\n".join(lines), markup=False, highlight=False)
        return
    if not options:
        console.print(f"{title}\n  no options.", markup=False, highlight=False)
        return
    table = Table(
        title=title,
        caption=f"set with {flag} NAME=VALUE" if flag else "set with the flag shown",
    )
    table.add_column("option", style="bold")
    table.add_column("type")
    table.add_column("default")
    table.add_column("meaning")
    if not flag:
        table.add_column("flag")
    for option in options:
        row = [option.name, option.type, _show_default(option.default), option.help]
        table.add_row(*row, *([] if flag else [option.flag]))
    console.print(table)


def _print_list(kind: str | None, registry: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from gentool.plugins import KINDS

    table = Table(title="gentool plugins")
    table.add_column("kind")
    table.add_column("name", style="bold")
    table.add_column("family/info")
    table.add_column("distribution")
    table.add_column("description")
    for k in KINDS:
        if kind and k != kind:
            continue
        for name in registry.names(k):
            info = registry.entries[k][name]
            table.add_row(
                k, name, _info_column(k, info.cls, name), info.distribution, info.description
            )
    if kind is None:
        for name, command in sorted(registry.commands.items()):
            table.add_row("command", name, "", command.distribution, command.help)
    console = Console()
    console.print(table)
    # Loud, not silent: what was skipped, and why, is part of what is installed.
    if registry.problems:
        console.print(f"[yellow]{len(registry.problems)} plugin problem(s), skipped:[/]")
        for problem in registry.problems:
            console.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
    console.print("[dim]gentool plugins NAME lists a plugin's options.[/dim]")


# --- --arch: the layer tables of a model --------------------------------------------------------


def _given(settings: dict[str, Any]) -> list[str]:
    return [flag for flag, value in settings.items() if value not in (None, ())]


def _refuse_without_arch(settings: dict[str, Any]) -> None:
    given = _given(settings)
    if given:
        raise GentoolError(
            f"{' and '.join(given)} apply only with --arch (a model's layer tables); add "
            "--arch or drop them."
        )


def _print_architecture(
    name: str | None, kind: str | None, as_json: bool, settings: dict[str, Any], registry: Any
) -> None:
    """``gentool plugins NAME --arch``: NAME is a model plugin, or a run folder or checkpoint
    (a path that exists, or that is written as one)."""
    import copy

    from rich.console import Console

    from gentool.architecture import describe_model, rich_tables
    from gentool.config import config_to_dict

    if name is None:
        raise GentoolError(
            "--arch needs a model name or a run folder or checkpoint, e.g. "
            "'gentool plugins dcgan --arch'."
        )
    if kind not in (None, "model"):
        raise GentoolError(f"--arch shows a model's layers; drop --kind {kind}.")
    models = registry.entries["model"]
    if name in models:
        cls, config = _configured_model(name, settings)
        source = f"model '{name}'"
    elif Path(name).exists() or Path(name).suffix == ".safetensors" or "/" in name:
        given = _given(settings)
        if given:
            raise GentoolError(
                f"{' and '.join(given)} cannot change a checkpoint's model: its saved config "
                f"fixes it; drop {'them' if len(given) > 1 else 'it'} (or name a model plugin)."
            )
        cls, config = _checkpoint_model(name)
        source = f"{name} (model '{cls.PLUGIN_NAME}')"
    else:
        other = [k for k in registry.entries if name in registry.entries[k]]
        if other:
            raise GentoolError(f"--arch shows a model's layers; '{name}' is a {other[0]} plugin.")
        _unknown(name, ["model"], registry)
    size, channels = int(config.image_size), int(config.channels)
    architecture = describe_model(
        lambda: cls(copy.deepcopy(config)), image_size=size, channels=channels
    )
    unfed = [t for t in architecture.networks if not t.ran]
    resized = [f for f in ("--image-size", "--channels") if f in _given(settings)]
    if unfed and resized and name in models:  # the size asked for is one the model cannot run
        raise GentoolError(
            f"model '{name}' cannot run at {size}x{size} with {channels} channel(s): its "
            f"{unfed[0].name} fails ({unfed[0].note}); choose another {' or '.join(resized)}."
        )
    if as_json:
        record = {
            "model": cls.PLUGIN_NAME,
            "source": "plugin" if name in models else name,
            "image_size": size,
            "channels": channels,
            "config": config_to_dict(config),
            **architecture.as_dict(),
        }
        click.echo(json.dumps(record, indent=2))
        return
    console = Console()
    console.print(
        f"{source} at {size}x{size}, {channels} channel{'s' if channels > 1 else ''}",
        markup=False,
        highlight=False,
    )
    for table in rich_tables(architecture):
        console.print(table)
    for what, count in architecture.loose.items():
        console.print(
            f"also {what}: {count:,} parameter{'s' if count != 1 else ''} outside the networks",
            markup=False,
        )
    console.print(
        "[dim]output: the shape of one item (batch left out); k, s, p: kernel, stride, "
        "padding.[/dim]"
    )


def _configured_model(name: str, settings: dict[str, Any]) -> tuple[Any, Any]:
    """Model plugin ``name``'s class and config from ``--model-opt``, ``--image-size`` and
    ``--channels`` (the rest at the model's defaults; no data fills anything in)."""
    from gentool.config import parse_key_values
    from gentool.models.base import DATA_FIELDS, check_model_fits
    from gentool.plugins import get_model_class

    cls = get_model_class(name)
    options: dict[str, Any] = parse_key_values(settings["--model-opt"], "--model-opt")
    for key, flag in (("image_size", "--image-size"), ("channels", "--channels")):
        value = settings[flag]
        if value is None:
            continue
        if key in options:
            raise GentoolError(
                f"--model-opt {key}={options[key]} and {flag} {value} both set '{key}'; give "
                "it once."
            )
        options[key] = int(value)
    try:
        config = cls.configure(options)
    except GentoolError as exc:
        # A field training fills in from the data (the number of classes) has no flag here.
        unset = [
            f
            for f in DATA_FIELDS
            if f not in ("image_size", "channels") and f not in options and f in exc.message
        ]
        hint = f" (--arch has no data: set --model-opt {unset[0]}=N)" if unset else ""
        raise GentoolError(exc.message + hint) from None
    check_model_fits(cls, config, where="cannot show its layers")
    return cls, config


def _checkpoint_model(path: str) -> tuple[Any, Any]:
    """The model class and config of a run folder or checkpoint (the weights are checked
    against the config, as every command that reads a checkpoint does)."""
    from gentool.checkpoint import load_checkpoint
    from gentool.loading import model_class_of
    from gentool.models.base import rebuild_model

    ckpt = load_checkpoint(path)
    cls = model_class_of(ckpt)
    return cls, rebuild_model(cls, ckpt, use_ema=False).config
