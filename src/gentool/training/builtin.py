"""Built-in model families, registered through the same hook as third-party ones
(``gentool_register_families``); each family names its training loop."""

from __future__ import annotations

from typing import Any

from gentool.hookspecs import hookimpl


@hookimpl
def gentool_register_families() -> list[type[Any]]:
    from gentool.training.families import BUILTIN_FAMILIES

    return list(BUILTIN_FAMILIES)
