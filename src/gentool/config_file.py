"""``gentool train --config run.toml``: a run's settings as a TOML file, read and written.

Keys are the long option names of ``gentool train`` (``model``, ``loss``, ``steps``,
``batch-size``, ``lr-g``, ``dataset``, ``data-root``, ...); the tables ``[model-opt]``,
``[loss-opt]`` and ``[train-opt]`` hold what ``--model-opt``/``--loss-opt``/``--train-opt``
take. A key takes the TOML type of its option (``steps = 2000``, ``lr-g = 2e-4``,
``compile = true``, ``device = "cpu"``); ``batch_size`` is the same key as ``batch-size``.
Options given on the command line override the file (``--model-opt KEY=VALUE`` replaces
the file's KEY only). Every run folder gets the
resolved settings as ``run.toml``, so ``gentool train --config RUN/run.toml --out NEW``
trains the same run again.
"""

from __future__ import annotations

import datetime
import math
import re
import stat
import sys
from pathlib import Path
from typing import Any

import click

from gentool.errors import GentoolError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The tables of a run file, and the repeatable option each one fills.
TABLES = {"model-opt": "model_opts", "loss-opt": "loss_opts", "train-opt": "train_opts"}
#: Largest run file read (real ones are about 1 kB).
MAX_RUN_FILE_BYTES = 1024 * 1024
#: The first line of every run file gentool writes begins so (it proves the file is gentool's).
RUN_FILE_HEADER = "# gentool train settings"
#: Parameters a run file sets through its ``[callback.NAME]`` tables.
CALLBACK_PARAMS = ("callbacks", "callback_opts")
#: Keys of the file that are not plain options of ``gentool train``.
NOT_IN_FILE = ("config", "resume", "overwrite", "accept_data_change")


def read_run_file(path: str | Path, params: dict[str, Any]) -> dict[str, Any]:
    """Parameter values from a run file, by parameter name, checked against ``params``
    (``{name: click.Parameter}`` of ``gentool train``).

    A key is a long option name (``batch-size``; ``batch_size`` is the same key) and takes
    the TOML type its option takes on the command line (:func:`_kind`): an integer option
    a TOML integer, a number option an integer or a float, a flag ``true``/``false``, any
    other option a string. Unknown keys, values of another type and two spellings of one
    key are refused by name. A UTF-8 byte-order mark before the first line is skipped."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise GentoolError(f"--config {path} is not a regular file (a FIFO or device?).")
        if info.st_size > MAX_RUN_FILE_BYTES:
            raise GentoolError(
                f"--config {path} is {info.st_size} bytes; a run file is a few kB (at most "
                f"{MAX_RUN_FILE_BYTES // 1024} kB)."
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise GentoolError(f"cannot read --config {path}: {exc.strerror or exc}.") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # -sig: a byte-order mark is skipped
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GentoolError(f"--config {path} is not valid TOML ({exc}).") from None
    keys = _keys(params)
    values: dict[str, Any] = {}
    written: dict[str, str] = {}  # parameter name -> the key that set it
    for key, value in data.items():
        table = key.replace("_", "-")
        if table == "callback":  # [callback.NAME] tables: --callback NAME --callback-opt ...
            values["callbacks"], values["callback_opts"] = _callback_tables(path, value)
            continue
        name = TABLES.get(table) or keys.get(key)
        if name is None:
            raise GentoolError(
                f"--config {path}: unknown key '{key}'; keys are the options of gentool train "
                f"({', '.join(sorted(k for k in keys if '_' not in k))}) and the tables "
                "[model-opt], [loss-opt], [train-opt]."
            )
        if name in written:
            raise GentoolError(
                f"--config {path}: '{written[name]}' and '{key}' are two spellings of one "
                "option; keep one."
            )
        written[name] = key
        if table in TABLES:
            values[name] = _table_pairs(path, key, value)
        else:
            _check_type(path, key, value, params[name])
            values[name] = value
    return values


def _callback_tables(path: Path, value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``[callback.NAME]`` tables (each of its options, maybe none) as the values of
    ``--callback`` and ``--callback-opt``."""
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise GentoolError(
            f"--config {path}: 'callback' must hold one table per callback, [callback.NAME]."
        )
    names = tuple(value)
    options = tuple(
        f"{name}.{pair}"
        for name, table in value.items()
        for pair in _table_pairs(path, f"callback.{name}", table)
    )
    return names, options


def _keys(params: dict[str, Any]) -> dict[str, str]:
    """Every key a run file may set, -> its parameter name: the long option names of
    ``params`` (``batch-size``, ``sync-bn``), each also with underscores (``batch_size``),
    and the argument ``model``."""
    keys: dict[str, str] = {}
    for name, param in params.items():
        if name in NOT_IN_FILE or name in TABLES.values() or name in CALLBACK_PARAMS:
            continue
        if isinstance(param, click.Option):
            words = [opt[2:] for opt in param.opts if opt.startswith("--")]
        else:
            words = [name]
        for word in words:
            keys[word] = keys[word.replace("-", "_")] = name
    return keys


def _kind(param: click.Parameter) -> str:
    """The TOML value ``param`` takes: "flag", "integer", "number" or "string" (every other
    type, choices and paths included, is given as text on the command line)."""
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    if isinstance(param.type, click.types.BoolParamType):
        return "flag"
    if isinstance(param.type, click.types.IntParamType):
        return "integer"
    if isinstance(param.type, click.types.FloatParamType):
        return "number"
    return "string"


def _check_type(path: Path, key: str, value: Any, param: click.Parameter) -> None:
    kind = _kind(param)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    fits = {
        "flag": isinstance(value, bool),
        "integer": number and isinstance(value, int),
        "number": number,
        "string": isinstance(value, str),
    }[kind]
    if fits:
        return
    expected = {
        "flag": "true or false",
        "integer": "a whole number",
        "number": "a number",
        "string": f'a string in quotes ({key} = "{_text_of(value)}")'
        if isinstance(value, (int, float))
        else "a string in quotes",
    }[kind]
    raise GentoolError(f"--config {path}: '{key}' must be {expected}, not {_describe(value)}.")


def _table_pairs(path: Path, table: str, value: Any) -> tuple[str, ...]:
    """``[model-opt]`` and friends as the ``KEY=VALUE`` pairs their option takes; a value
    must be one number, string or boolean, and a key appear in one spelling only."""
    if not isinstance(value, dict):
        raise GentoolError(f"--config {path}: [{table}] must be a table of key = value.")
    written: dict[str, str] = {}
    pairs = []
    for key, item in value.items():
        name = key.strip().replace("-", "_")
        if not name or "=" in key:
            raise GentoolError(f"--config {path}: [{table}] key {key!r} is not an option name.")
        if name in written:
            raise GentoolError(
                f"--config {path}: [{table}] has both '{written[name]}' and '{key}', two "
                "spellings of one option; keep one."
            )
        written[name] = key
        if not isinstance(item, (bool, int, float, str)):
            raise GentoolError(
                f"--config {path}: [{table}] '{key}' must be a number, a string or true/false, "
                f"not {_describe(item)}."
            )
        pairs.append(f"{key}={_text_of(item)}")
    return tuple(pairs)


def _text_of(value: Any) -> str:
    """A scalar as the command line would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(value: Any) -> str:
    """``value`` named by its TOML type, for a message."""
    if isinstance(value, bool):
        return f"the boolean {_text_of(value)}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {_toml_value(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {_toml_value(shown)}"
    if isinstance(value, datetime.datetime):
        return f"the date-time {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, datetime.time):
        return f"the time {value.isoformat()}"
    if isinstance(value, list):
        return f"an array of {len(value)} value(s)"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return '"' + ",".join(str(v) for v in value) + '"'
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_run_file(
    *,
    model: str,
    loss: str | None,
    data: dict[str, Any],
    train: dict[str, Any],
    model_config: dict[str, Any],
    loss_config: dict[str, Any] | None,
    skip: tuple[str, ...] = (),
    init_from: str | None = None,
    callbacks: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The TOML text of a run's resolved settings (see the module docstring); ``skip``
    names training settings the run's loop does not use (they are left out); ``init_from``
    is the checkpoint the weights started from (``--init-from``)."""
    extra = dict(train.get("extra") or {})
    lines = [
        RUN_FILE_HEADER + "; reproduce with: gentool train --config run.toml --out NEW",
        f"model = {_toml_value(model)}",
    ]
    if loss:
        lines.append(f"loss = {_toml_value(loss)}")
    if init_from:
        lines.append(f"init-from = {_toml_value(init_from)}")
    domains = {k: extra.pop(k) for k in ("domain_a", "domain_b") if k in extra}
    if domains:
        lines += [f"{k.replace('_', '-')} = {_toml_value(v)}" for k, v in domains.items()]
    else:
        for field, key in (
            ("name", "dataset"),
            ("root", "data-root"),
            ("labels", "labels"),
            ("label_column", "label-column"),
        ):
            if data.get(field) is not None:
                lines.append(f"{key} = {_toml_value(data[field])}")
    for field, key in (
        ("image_size", "image-size"),
        ("limit", "limit"),
        ("test_fraction", "test-fraction"),
    ):
        if data.get(field) is not None:
            lines.append(f"{key} = {_toml_value(data[field])}")
    if data.get("channels") is not None:
        lines.append(f'channels = "{data["channels"]}"')
    for field, value in train.items():
        if field in ("extra", "out", "samples") or field in skip or value is None:
            continue
        key = {"sync_batchnorm": "sync-bn"}.get(field, field.replace("_", "-"))
        lines.append(f"{key} = {_toml_value(value)}")
    for table, values in (
        ("model-opt", model_config),
        ("loss-opt", loss_config or {}),
        ("train-opt", extra),
    ):
        shown = {k: v for k, v in values.items() if v is not None}
        if shown:
            lines += ["", f"[{table}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in shown.items()]
    for name, options in (callbacks or {}).items():
        bare = re.fullmatch(r"[A-Za-z0-9_-]+", name) is not None
        lines += ["", f"[callback.{name if bare else _toml_value(name)}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in options.items() if v is not None]
    return "\n".join(lines) + "\n"
