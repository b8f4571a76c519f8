"""Evaluation metrics: each a :class:`gentool.metrics.base.Metric` registered through
``gentool_register_metrics`` (the built-ins in :mod:`gentool.metrics.builtin`), run by
:func:`gentool.metrics.evaluate.evaluate_model`. The measures they are made of:

* :func:`gentool.metrics.swd.sliced_wasserstein_distance`: multi-scale patch statistics of a
  generated set against a real set (Karras et al., 2018).
* :func:`gentool.metrics.diversity.pairwise_diversity`: how different a set's images are from
  each other (0 for a collapsed generator).
* :mod:`gentool.metrics.image_quality`: PSNR-Y, SSIM, MSE and LPIPS for reconstructions and
  upscalers, and ``evaluate_upscaler``.
"""

from __future__ import annotations

from gentool.metrics.diversity import pairwise_diversity
from gentool.metrics.swd import sliced_wasserstein_distance

__all__ = ["pairwise_diversity", "sliced_wasserstein_distance"]
