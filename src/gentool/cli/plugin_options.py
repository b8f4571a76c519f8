"""The options of a plugin, read from its ``Config`` dataclass: what ``gentool plugins NAME``
prints and ``gentool train MODEL --help`` shows (shared by both commands).

The options of a model (``--model-opt``) or loss (``--loss-opt``) are the fields of its
``Config`` dataclass: name, type and default from the field, the meaning from
``field(metadata={"help": ...})``, else the ``#:`` comment above the field, else a string
just below it (an attribute docstring). A dataset's options are the data flags it reads.
:func:`plugin_options` returns them, :func:`options_table` formats them as text.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

#: The option each kind's fields are set with.
OPTION_FLAG = {"model": "--model-opt", "loss": "--loss-opt", "trainer": "--train-opt"}

#: The data flags a dataset may read (``DatasetPlugin.USES``), with their meaning.
DATA_FLAGS = {
    "root": ("--data-root", "path", "where the files are (downloads go there when online)"),
    "labels": ("--labels", "path", "a CSV of per-image values (file column + value columns)"),
    "label_column": ("--label-column", "str", "the column (or attribute) used as class label"),
}


@dataclass(frozen=True)
class OptionInfo:
    """One option of a plugin."""

    name: str
    type: str
    default: Any
    help: str
    #: How it is set on the command line (``--model-opt latent_dim=VALUE``, ``--data-root``).
    flag: str


def field_help(cls: Any) -> dict[str, str]:
    """One line per dataclass field of ``cls`` and its bases: metadata ``help``, the ``#:``
    comment above the field, or the string literal below it."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        found.update(_source_help(klass))
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("help") if f.metadata else None
        if meta:
            found[f.name] = " ".join(str(meta).split())
    return found


def _source_help(klass: Any) -> dict[str, str]:
    """``#:`` comments and attribute docstrings of the fields written in ``klass``'s body."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    lines = source.splitlines()
    body = next((node.body for node in tree.body if isinstance(node, ast.ClassDef)), [])
    found: dict[str, str] = {}
    for index, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        comment: list[str] = []
        line = node.lineno - 2  # the line above, 0-based
        while line >= 0 and lines[line].strip().startswith("#:"):
            comment.insert(0, lines[line].strip()[2:].strip())
            line -= 1
        if comment:
            found[name] = " ".join(comment)
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[name] = " ".join(following.value.value.split())
    return found


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def config_options(config: Any, flag: str) -> list[OptionInfo]:
    """The options of a ``Config`` dataclass, in field order."""
    from gentool.models.base import DATA_FIELDS

    meanings = field_help(config)
    options = []
    for f in dataclasses.fields(config):
        if not f.init or f.name.startswith("_"):
            continue
        meaning = meanings.get(f.name, "")
        if f.name in DATA_FIELDS and flag == "--model-opt":
            meaning = (meaning + " " if meaning else "") + "(set from the data when not given)"
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        options.append(
            OptionInfo(f.name, str(type_name), _default(f), meaning, f"{flag} {f.name}=VALUE")
        )
    return options


def plugin_options(kind: str, name: str) -> list[OptionInfo]:
    """Every option of the installed ``kind`` plugin ``name`` (one line names an unknown one)."""
    from gentool.plugins import get_registry

    cls: Any = get_registry().get(kind, name)
    if kind == "callback":
        config = getattr(cls, "Config", None)
        if config is None or not dataclasses.is_dataclass(config):
            return []
        flag = f"--callback-opt {name}."
        return [
            dataclasses.replace(o, flag=f"{flag}{o.name}=VALUE")
            for o in config_options(config, "--callback-opt")
        ]
    if kind != "dataset" and kind not in OPTION_FLAG:
        return []  # families and metrics take no options of their own
    if kind in OPTION_FLAG:
        config = getattr(cls, "Config", None)
        if config is None or not dataclasses.is_dataclass(config):
            return []
        return config_options(config, OPTION_FLAG[kind])
    options: list[OptionInfo] = []
    uses = getattr(cls, "USES", None)
    for key, (flag, type_name, meaning) in DATA_FLAGS.items():
        if uses is None or key in uses:
            options.append(OptionInfo(key, type_name, None, meaning, flag))
    size = getattr(cls, "DEFAULT_SIZE", None)
    options.append(
        OptionInfo(
            "image_size", "int", size, "resolution the images are decoded at", "--image-size"
        )
    )
    config = getattr(cls, "Config", None)
    if config is not None and dataclasses.is_dataclass(config):
        options += config_options(config, "--data-opt")
    return options


def _show_default(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value) or "()"
    return str(value)


def options_table(kind: str, name: str, width: int = 78) -> str:
    """The options of plugin ``name`` as plain text: one line per option (name, type,
    default), its meaning wrapped below; each paragraph starts with click's ``\\b`` so
    ``--help`` keeps the layout. Empty when the plugin has no options."""
    options = plugin_options(kind, name)
    if not options:
        return ""
    flag = OPTION_FLAG.get(kind)
    heading = f"Options of {kind} '{name}'" + (f" ({flag} NAME=VALUE):" if flag else ":")
    lines = ["\b", heading]
    for option in options:
        lines.append(
            f"  {option.name} ({option.type}, default {_show_default(option.default)})"
            + ("" if flag else f"  {option.flag}")
        )
        for part in textwrap.wrap(option.help, width - 6) if option.help else []:
            lines.append(f"      {part}")
    return "\n".join(lines)
