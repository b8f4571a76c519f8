"""Built-in metrics, registered through the same hook as third-party ones
(``gentool_register_metrics``), in the order ``gentool evaluate`` runs and lists them."""

from __future__ import annotations

from gentool.hookspecs import hookimpl
from gentool.metrics.base import Metric
from gentool.metrics.classifier import LabelAccuracy
from gentool.metrics.diversity import Diversity
from gentool.metrics.inception import Fid, InceptionScore, Kid
from gentool.metrics.prdc import Prdc
from gentool.metrics.reconstruction import Reconstruction
from gentool.metrics.sr import SuperResolution
from gentool.metrics.swd import SlicedWasserstein
from gentool.metrics.translation import Cycle, Paired


@hookimpl
def gentool_register_metrics() -> list[type[Metric]]:
    return [
        Fid,
        Kid,
        InceptionScore,
        SlicedWasserstein,
        Prdc,
        Diversity,
        LabelAccuracy,
        Reconstruction,
        Cycle,
        Paired,
        SuperResolution,
    ]
