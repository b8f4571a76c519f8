"""``gentool train --config run.toml``: a run's settings as a TOML file, read and written.

Keys are the long option names of ``gentool train`` (``model``, ``loss``, ``steps``,
``batch-size``, ``lr-g``, ``dataset``, ``data-root``, ...); the tables ``[model-opt]``,
``[loss-opt]`` and ``[train-opt]`` hold what ``--model-opt``/``--loss-opt``/``--train-opt``
take. Options given on the command line override the file. Every run folder gets the
resolved settings as ``run.toml``, so ``gentool train --config RUN/run.toml --out NEW``
trains the same run again.
"""

from __future__ import annotations

import math
import stat
import sys
from pathlib import Path
from typing import Any

from gentool.errors import GentoolError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The tables of a run file, and the repeatable option each one fills.
TABLES = {"model-opt": "model_opts", "loss-opt": "loss_opts", "train-opt": "train_opts"}
#: Largest run file read (real ones are about 1 kB).
MAX_RUN_FILE_BYTES = 1024 * 1024
#: Keys of the file that are not plain options of ``gentool train``.
NOT_IN_FILE = ("config", "resume", "overwrite", "accept_data_change")


def read_run_file(path: str | Path, params: dict[str, Any]) -> dict[str, Any]:
    """Parameter values from a run file, by parameter name, checked against ``params``
    (``{name: click.Parameter}`` of ``gentool train``). Unknown keys are refused by name."""
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
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GentoolError(f"--config {path} is not valid TOML ({exc}).") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in TABLES:
            if not isinstance(value, dict):
                raise GentoolError(f"--config {path}: [{key}] must be a table of key = value.")
            values[TABLES[key]] = tuple(
                f"{k}={_scalar(path, f'{key}.{k}', v)}" for k, v in value.items()
            )
            continue
        name = key.replace("-", "_")
        name = {"sync_bn": "sync_batchnorm", "compile": "compile_"}.get(name, name)
        if name not in params or name in NOT_IN_FILE or name in TABLES.values():
            known = sorted(
                p.replace("_", "-").replace("sync-batchnorm", "sync-bn").rstrip("-")
                for p in params
                if p not in NOT_IN_FILE and p not in TABLES.values()
            )
            raise GentoolError(
                f"--config {path}: unknown key '{key}'; keys are the options of gentool train "
                f"({', '.join(known)}) and the tables [model-opt], [loss-opt], [train-opt]."
            )
        if isinstance(value, (dict, list)):
            raise GentoolError(f"--config {path}: '{key}' must be a single value, not {value!r}.")
        values[name] = value
    return values


def _scalar(path: Path, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise GentoolError(f"--config {path}: '{key}' must be a single value, not {value!r}.")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
) -> str:
    """The TOML text of a run's resolved settings (see the module docstring); ``skip``
    names training settings the run's loop does not use (they are left out); ``init_from``
    is the checkpoint the weights started from (``--init-from``)."""
    extra = dict(train.get("extra") or {})
    lines = [
        "# gentool train settings; reproduce with: gentool train --config run.toml --out NEW",
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
    return "\n".join(lines) + "\n"
