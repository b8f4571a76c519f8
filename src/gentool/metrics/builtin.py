"""Built-in metrics, registered through the same hook as third-party ones
(``gentool_register_metrics``)."""

from __future__ import annotations

from typing import Any

from gentool.hookspecs import hookimpl


@hookimpl
def gentool_register_metrics() -> list[type[Any]]:
    return []
