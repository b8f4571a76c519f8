"""The metric plugin interface: a metric is one class, registered through
``gentool_register_metrics`` (hook API 3) like the built-in ones.

A metric declares its ``PLUGIN_NAME`` (what ``--metrics`` takes), a one-line
``DESCRIPTION`` and :attr:`Metric.NEEDS`: the uses of a model family
(:data:`gentool.family.USES`) it measures; it applies to a model whose family serves any of
them. ``evaluate`` loops over the selected metrics and asks each to compute its values.
"""

from __future__ import annotations

from typing import ClassVar


class Metric:
    """Base class of metric plugins."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    #: Uses of a model family this metric measures (any one suffices).
    NEEDS: ClassVar[frozenset[str]] = frozenset()
