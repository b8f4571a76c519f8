"""FID, KID and Inception Score with the standard Inception network (through torch-fidelity).

* FID (Heusel et al., 2017): the Fréchet distance between Gaussians fitted to the 2048-d pool
  features of real and generated images,
  ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``.
* KID (Bińkowski et al., 2018): the unbiased estimate of the squared MMD between the same
  features with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over
  random subsets (mean and standard deviation reported).
* IS (Salimans et al., 2016): ``exp(E_x KL(p(y|x) || p(y)))`` on the 1008-way logits, over 10
  splits.

The network is torch-fidelity's ``inception-v3-compat``: the TensorFlow FID Inception (2015-12-05)
with TensorFlow's bilinear resize to 299x299, so values are comparable with published numbers.
Its weights are never downloaded at run time: pass the file with ``--inception-weights`` or
``$GENTOOL_INCEPTION_WEIGHTS``. Without it :func:`resolve_inception_weights` raises one error
naming the file and where to get it; no other network is ever used instead.

Feature extraction is injectable: everything below takes an extractor, a callable from uint8
images ``(B, 3, H, W)`` to ``{"pool": (B, D), "logits": (B, K)}`` with an ``identity`` string,
so tests use a tiny deterministic one. Real-data features are cached per dataset, split,
resolution and extractor identity (which includes the weights' hash) under
``$GENTOOL_CACHE_DIR/metrics`` as safetensors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from gentool.errors import GentoolError
from gentool.fileio import file_sha256
from gentool.metrics.base import WeightsMissing

INCEPTION_ENV = "GENTOOL_INCEPTION_WEIGHTS"
#: The file torch-fidelity downloads for ``inception-v3-compat``.
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
)


class FeatureExtractor(Protocol):
    """What FID/KID/IS need: uint8 ``(B, 3, H, W)`` -> ``{"pool": (B, D), "logits": (B, K)}``."""

    identity: str

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]: ...


# --- the maths ---------------------------------------------------------------------------------


def gaussian_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, ``N - 1``) covariance of ``features`` ``(N, D)``, in float64."""
    array = np.asarray(
        features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features,
        dtype=np.float64,
    )
    if array.ndim != 2 or array.shape[0] < 2:
        raise GentoolError(f"FID needs at least 2 feature vectors, got shape {array.shape}.")
    return array.mean(axis=0), np.cov(array, rowvar=False).reshape(array.shape[1], -1)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (torch-fidelity's formula)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    stats1 = {"mu": np.asarray(mu1, np.float64), "sigma": np.asarray(sigma1, np.float64)}
    stats2 = {"mu": np.asarray(mu2, np.float64), "sigma": np.asarray(sigma2, np.float64)}
    return float(
        fid_statistics_to_metric(stats1, stats2, verbose=False)["frechet_inception_distance"]
    )


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    return frechet_distance(*gaussian_statistics(real), *gaussian_statistics(fake))


def kernel_inception_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID mean and std over ``subsets`` random subsets (smaller when there are fewer images)."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise GentoolError("KID needs at least 2 real and 2 generated images.")
    out = kid_features_to_metric(
        real.double().cpu(),
        fake.double().cpu(),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )
    return float(out["kernel_inception_distance_mean"]), float(out["kernel_inception_distance_std"])


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """IS mean and std over ``splits`` (fewer when there are few images)."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    splits = max(1, min(splits, len(logits) // 2))
    out = isc_features_to_metric(logits.cpu(), splits=splits, shuffle=True, rng_seed=2020)
    return float(out["inception_score_mean"]), float(out["inception_score_std"])


# --- the Inception network --------------------------------------------------------------------


def resolve_inception_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """The Inception weights file: ``path``, else ``$GENTOOL_INCEPTION_WEIGHTS``, else an error."""
    chosen = path or os.environ.get(INCEPTION_ENV)
    how = (
        f"download {INCEPTION_URL} on a machine with internet and pass it with "
        f"--inception-weights PATH (or set {INCEPTION_ENV})"
    )
    if not chosen:
        raise WeightsMissing(
            f"FID/KID/IS need the Inception weights {INCEPTION_FILE} (pytorch-fid's "
            f"{PYTORCH_FID_FILE} is accepted too if its tensors fit), which gentool never "
            f"downloads at run time: {how}; or leave fid,kid,is out of --metrics."
        )
    file = Path(chosen).expanduser()
    if not file.is_file():
        raise WeightsMissing(f"Inception weights {file} do not exist: {how}.")
    return file


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only: safetensors, or a .pth read with torch's weights-only (no code) loader."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GentoolError(f"cannot read Inception weights {path}: {exc}.") from None
    if not isinstance(state, dict):
        raise GentoolError(f"{path} does not hold a state dict of Inception weights.")
    return state


def build_inception(state: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    """torch-fidelity's ``inception-v3-compat`` network with ``state`` loaded.

    ``state=None`` leaves the weights random: ONLY for timing benchmarks, never for a metric.
    """
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    features = ["2048", "logits_unbiased"]
    if state is None:
        with (
            mock.patch.object(tfi, "load_state_dict_from_url", return_value={}),
            mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict"),
        ):
            return tfi.FeatureExtractorInceptionV3("inception-v3-compat", features)
    # torch-fidelity would unpickle the file itself; hand it the tensors we read safely.
    with mock.patch.object(tfi, "load_state_dict_from_url", return_value=state):
        try:
            return tfi.FeatureExtractorInceptionV3("inception-v3-compat", features)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "wrong keys"
            raise GentoolError(
                f"the Inception weights do not fit torch-fidelity's network ({first}); use "
                f"{INCEPTION_URL}."
            ) from None


class InceptionFeatures:
    """The standard FID Inception as a :class:`FeatureExtractor` (pool features + logits)."""

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: Any = "cpu") -> None:
        try:
            import torch_fidelity  # noqa: F401
        except ImportError:
            raise GentoolError(
                "FID/KID/IS need the torch-fidelity package: pip install torch-fidelity."
            ) from None
        path = resolve_inception_weights(weights)
        self.identity = f"inception-v3-compat-{file_sha256(path)[:16]}"
        self.device = torch.device(device)
        self.network = build_inception(_load_state(path)).to(self.device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = to_rgb_uint8(images).to(self.device)
        pool, logits = self.network(images)
        return {"pool": pool.float().cpu(), "logits": logits.float().cpu()}


def to_rgb_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 1|3, H, W)`` -> ``(B, 3, H, W)`` (grayscale repeated)."""
    if images.dtype != torch.uint8:
        raise TypeError("expected uint8 images")
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def extract_features(
    images: torch.Tensor,
    extractor: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    batch_size: int = 64,
) -> dict[str, torch.Tensor]:
    """Run ``extractor`` over uint8 ``images`` in batches; concatenate each output."""
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images), batch_size):
        for name, value in extractor(images[start : start + batch_size]).items():
            parts.setdefault(name, []).append(value)
    return {name: torch.cat(values) for name, values in parts.items()}


# --- cached reference features of real data -----------------------------------------------


def reference_cache_path(data_key: str, extractor_identity: str) -> Path:
    from gentool.data.cache import cache_dir

    digest = hashlib.sha256(f"{data_key}|{extractor_identity}".encode()).hexdigest()[:24]
    return cache_dir() / "metrics" / f"reference-{digest}.safetensors"


def reference_features(
    images: torch.Tensor,
    extractor: FeatureExtractor,
    data_key: str,
    batch_size: int = 64,
) -> dict[str, torch.Tensor]:
    """Features of the real images, read from / written to the cache.

    ``data_key`` names the images (dataset, root, split, resolution, channels, count): the
    cache entry is keyed by it and by the extractor identity (which holds the weights' hash).
    """
    from safetensors.torch import load_file, save_file

    from gentool.data.cache import cache_enabled

    path = reference_cache_path(data_key, extractor.identity)
    if cache_enabled() and path.exists():
        try:
            cached = load_file(str(path))
            if all(len(v) == len(images) for v in cached.values()):
                return cached
        except Exception:
            pass  # unreadable entry: rebuild it
    features = extract_features(images, extractor, batch_size)
    if cache_enabled():
        from gentool.fileio import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(
                {k: v.contiguous() for k, v in features.items()},
                str(tmp),
                metadata={"data": data_key, "extractor": extractor.identity},
            )
    return features
