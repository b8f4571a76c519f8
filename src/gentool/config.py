"""Typed dataclass configs: building them from ``key=value`` options and from checkpoints.

Every model, loss and dataset keeps its options in a dataclass next to it. The CLI passes
unknown-in-advance options as ``--model-opt key=value`` / ``--loss-opt key=value``; they are
checked against the dataclass fields and converted to the field types here, and the whole
config is saved as JSON with the weights.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

from gentool.errors import GentoolError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def parse_key_values(pairs: typing.Iterable[str], what: str = "option") -> dict[str, str]:
    """Turn ``["a=1", "b=x"]`` into ``{"a": "1", "b": "x"}`` (dashes in keys become underscores).

    A key given twice (``a=1 a=2``, or ``latent-dim=8 latent_dim=16``) is refused by name:
    keeping one would silently drop the other."""
    out: dict[str, str] = {}
    written: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name = key.strip().replace("-", "_")
        if not sep or not name:
            raise GentoolError(f"{what} '{pair}' is not of the form key=value.")
        if name in out:
            raise GentoolError(
                f"{what} {written[name]} and {what} {pair.strip()} both set '{name}'; give it once."
            )
        out[name] = value.strip()
        written[name] = pair.strip()
    return out


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    if isinstance(annotation, str):  # postponed annotations that were not resolved
        annotation = {"int": int, "float": float, "bool": bool, "str": str}.get(annotation, Any)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in {"none", "null", ""}):
            return None
        last: Exception | None = None
        for option in options:
            try:
                return _coerce(value, option, name)
            except (GentoolError, ValueError, TypeError) as exc:
                last = exc
        raise GentoolError(f"option '{name}': cannot use {value!r} ({last}).")
    if origin in (tuple, list):
        if isinstance(value, str):
            items: list[Any] = [v for v in value.replace(";", ",").split(",") if v.strip()]
        else:
            items = list(value)
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        inner = args[0] if args else Any
        converted = [_coerce(v, inner, name) for v in items]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise GentoolError(f"option '{name}' expects true or false, got {value!r}.")
    if annotation is int:
        if isinstance(value, bool):
            raise GentoolError(f"option '{name}' expects an integer, got {value!r}.")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise GentoolError(f"option '{name}' expects an integer, got {value!r}.") from None
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise GentoolError(f"option '{name}' expects a number, got {value!r}.") from None
    if annotation is str:
        return str(value)
    return value


def config_fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def build_config(cls: type[T], values: dict[str, Any], what: str = "option") -> T:
    """Build dataclass ``cls`` from ``values``, converting types; unknown keys are an error."""
    fields = config_fields(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise GentoolError(
            f"unknown {what} '{unknown[0]}' for {cls.__qualname__}; "
            f"valid: {', '.join(sorted(fields)) or 'none'}."
        )
    kwargs = {key: _coerce(value, fields[key], key) for key, value in values.items()}
    config = cls(**kwargs)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))
