"""Full-reference image quality: MSE, PSNR (on the Y channel, as SR papers), SSIM and LPIPS.

Conventions (those of the super-resolution literature, e.g. Dong et al. 2014, Lim et al. 2017):

* images are float tensors ``(C, H, W)`` or ``(B, C, H, W)`` with values in ``[0, 255]``;
* **Y channel**: ITU-R BT.601 luma of the studio-swing YCbCr that MATLAB's ``rgb2ycbcr``
  returns, ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in [0, 255];
* **shave**: ``scale`` pixels are cut from every border before measuring (SR outputs are
  unreliable there, and every paper does it);
* **PSNR** ``= 10 log10(255^2 / MSE)`` dB; identical images give ``+inf``;
* **SSIM** (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``,
  ``L = 255``, computed on the window positions that fit inside the image ("valid", as the
  reference MATLAB code) and averaged; identical images give exactly 1;
* **LPIPS** (Zhang et al. 2018) through the ``lpips`` package, AlexNet backbone. The package
  ships its linear calibration layers, but the backbone is torchvision's ImageNet AlexNet,
  normally downloaded at first use. gentool never downloads at run time and never measures
  with a randomly initialised backbone: the weights must be a local file (``weights=``) or
  already be in the torch hub cache, else :class:`LpipsWeightsMissing` says where to put them.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from gentool.errors import GentoolError
from gentool.metrics.base import EvaluationSettings, Weights, WeightsMissing

#: torchvision's file names for the LPIPS backbones, in ``<torch hub dir>/checkpoints/``.
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
}
BACKBONE_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
}


def _batched(images: torch.Tensor) -> torch.Tensor:
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4:
        raise ValueError(f"expected (C, H, W) or (B, C, H, W) images, got {tuple(images.shape)}")
    return images.double()


def rgb_to_y(images: torch.Tensor) -> torch.Tensor:
    """BT.601 studio-swing luma ``(B, 1, H, W)`` in [16, 235] of RGB in [0, 255]; grey passes."""
    images = _batched(images)
    if images.shape[1] == 1:
        return images
    weights = images.new_tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1) / 255.0
    return (images * weights).sum(1, keepdim=True) + 16.0


def shave(images: torch.Tensor, border: int) -> torch.Tensor:
    """Cut ``border`` pixels from every side of ``(..., H, W)``."""
    if border <= 0:
        return images
    if images.shape[-1] <= 2 * border or images.shape[-2] <= 2 * border:
        raise GentoolError(
            f"image of {images.shape[-1]}x{images.shape[-2]} is too small to shave "
            f"{border} pixels from each border."
        )
    return images[..., border:-border, border:-border]


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image ``(B,)``, in the units of the inputs."""
    output, target = _batched(output), _batched(target)
    return (output - target).pow(2).flatten(1).mean(1)


#: What reports give as the PSNR of identical images (dB): a finite number that averages
#: and survives JSON, where :func:`psnr` itself returns ``+inf``.
MAX_PSNR = 100.0


def psnr(output: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """PSNR in dB per image ``(B,)``; ``+inf`` where the images are identical."""
    error = mse(output, target)
    return 10.0 * torch.log10(data_range**2 / error)  # log10(x / 0) = inf


def psnr_y(output: torch.Tensor, target: torch.Tensor, border: int = 0) -> torch.Tensor:
    """PSNR (dB) of the BT.601 Y channel with ``border`` pixels shaved, per image ``(B,)``."""
    return psnr(shave(rgb_to_y(output), border), shave(rgb_to_y(target), border))


def _gaussian_1d(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    output: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 255.0,
    window: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Mean SSIM per image ``(B,)`` (channels averaged), Gaussian window, valid positions."""
    x, y = _batched(output), _batched(target)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if min(x.shape[-2:]) < window:
        raise GentoolError(f"SSIM needs images of at least {window}x{window} pixels.")
    channels = x.shape[1]
    g = _gaussian_1d(window, sigma, x.dtype).to(x.device)
    rows = g.view(1, 1, window, 1).repeat(channels, 1, 1, 1)
    cols = g.view(1, 1, 1, window).repeat(channels, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # the 2-D Gaussian, as two 1-D passes
        return F.conv2d(F.conv2d(t, rows, groups=channels), cols, groups=channels)

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.flatten(1).mean(1)


# --- LPIPS -----------------------------------------------------------------------------------
class LpipsWeightsMissing(WeightsMissing):
    """The LPIPS backbone weights are neither given nor in the torch hub cache."""


def lpips_backbone_path(net: str = "alex") -> Path:
    """Where torchvision keeps (and lpips looks for) the backbone weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net]


def _read_backbone(path: Path) -> dict[str, torch.Tensor]:
    """A torchvision state dict from ``.pth`` (tensors only, no code) or ``.safetensors``."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's unpickler and safetensors raise many kinds on junk
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GentoolError(
            f"cannot read LPIPS backbone weights {path}: not a torchvision state dict "
            f"(.pth or .safetensors) ({reason})."
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise GentoolError(f"{path} does not hold a state dict of backbone weights.")
    return state


class Lpips:
    """LPIPS distance with a backbone loaded from a local file, never downloaded.

    ``Lpips(weights=None)`` uses ``<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth``
    (``$TORCH_HOME/hub`` or ``~/.cache/torch/hub``); ``weights=PATH`` takes the same
    torchvision state dict (``.pth`` or ``.safetensors``) from anywhere.
    """

    def __init__(
        self, net: str = "alex", weights: str | Path | None = None, device: Any = "cpu"
    ) -> None:
        if net not in BACKBONE_FILES:
            raise GentoolError(f"LPIPS backbone must be one of {', '.join(BACKBONE_FILES)}.")
        path = Path(weights).expanduser() if weights is not None else lpips_backbone_path(net)
        if weights is not None and os.path.lexists(path):
            from gentool.data.files import file_problem

            problem = file_problem(path)
            if problem is not None:
                raise GentoolError(f"LPIPS weights {path} {problem}.")
        if not path.is_file():
            raise LpipsWeightsMissing(
                f"LPIPS needs the {net} backbone weights {path} (not found; gentool does not "
                f"download at run time): download {BACKBONE_URLS[net]} to "
                f"{lpips_backbone_path(net)}, or pass its path as the LPIPS weights option."
            )
        import lpips

        # pnet_rand=True builds the backbone without downloading; its weights are loaded
        # below from the local file, and lpips's own linear layers ship with the package.
        with warnings.catch_warnings():  # torchvision's notes on its deprecated 'pretrained'
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
        state = _read_backbone(path)
        for slice_name, block in model.net.named_children():
            if not slice_name.startswith("slice"):
                continue
            for index, layer in block.named_children():
                own = layer.state_dict()
                if not own:
                    continue
                try:
                    layer.load_state_dict({k: state[f"features.{index}.{k}"] for k in own})
                except (KeyError, RuntimeError, ValueError, TypeError) as exc:
                    raise GentoolError(
                        f"{path} is not a torchvision {net} state dict ({exc})."
                    ) from None
        self.model = model.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS per image ``(B,)`` of RGB images in [0, 255] (lower is closer)."""
        x = _batched(output).float().to(self.device) / 127.5 - 1
        y = _batched(target).float().to(self.device) / 127.5 - 1
        if x.shape[1] == 1:
            x, y = x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1)
        return self.model(x, y).flatten().double().cpu()


class LpipsWeights(Weights):
    """The AlexNet backbone of LPIPS (``--lpips-weights``, else the torch hub cache)."""

    NAME: ClassVar[str] = "LPIPS"
    OPTION: ClassVar[str] = "lpips_weights"

    def missing(self) -> str:
        return "no LPIPS backbone weights (pass --lpips-weights PATH or set GENTOOL_LPIPS_WEIGHTS)"

    def load(self, settings: EvaluationSettings, device: torch.device) -> Lpips:
        check_lpips_weights(settings.lpips_weights)
        return Lpips(weights=settings.lpips_weights, device=device)


#: What the metrics that report an LPIPS distance name as their optional weights.
LPIPS = LpipsWeights()


def check_lpips_weights(path: str | None) -> None:
    """A named LPIPS backbone must exist: one line naming it, before any work."""
    if path is None:
        return
    from gentool.data.files import file_problem

    problem = file_problem(Path(path).expanduser())
    if problem is not None:
        raise GentoolError(
            f"--lpips-weights {path} {problem}; pass the AlexNet state dict "
            "(alexnet-owt-7be5be79.pth) or unset GENTOOL_LPIPS_WEIGHTS."
        )


def _mean(values: list[float]) -> float:
    """Mean of ``values``; ``inf`` if any is infinite, ``nan`` for none."""
    if not values:
        return math.nan
    return float(sum(values) / len(values))


# --- evaluating an upscaler ------------------------------------------------------------------
def _read_rgb(path: Path) -> torch.Tensor:
    """An image file as float ``(3, H, W)`` of 8-bit levels (grey repeated to RGB, alpha
    dropped, 16-bit and float images scaled to 8 bits: :func:`gentool.upscale.colour_uint8`)."""
    from gentool.upscale import colour_uint8, open_image

    rgb = colour_uint8(open_image(path), 3)
    return torch.from_numpy(rgb).permute(2, 0, 1).float()


def evaluate_upscaler(
    model: Any,
    hr_paths: list[str | Path] | list[Path],
    scale: int = 4,
    device: str = "cpu",
    lpips_weights: str | Path | None = None,
    *,
    baseline: str = "bicubic",
    tile: int = 256,
    overlap: int = 16,
    ensemble: bool = False,
    input_kind: str = "clean",
) -> dict[str, Any]:
    """Measure an upscaler (or only the baseline, ``model=None``) on high-resolution images.

    Each image is cropped to a multiple of ``scale``, shrunk by ``scale`` with antialiased
    bicubic resampling and rounded to 8 bits (the training degradation; ``input_kind`` picks
    another kind of input from :data:`gentool.data.degrade.INPUT_KINDS`, the noise of the
    i-th image drawn from seed i), then upscaled by
    the model (tiled, as ``gentool upscale``) and by plain ``baseline`` interpolation
    (``bicubic`` or ``bilinear``); both are rounded to 8 bits and compared with the original.

    Returns ``{"scale", "baseline", "lpips" (None or the reason it is missing), "rows":
    [{"file", "width", "height", "model": {...}, "baseline": {...}}], "mean": {"model":
    {...}, "baseline": {...}}}`` where each ``{...}`` holds ``psnr_y`` (dB, ``scale`` pixels
    shaved), ``ssim_y`` (shaved), ``mse`` (RGB, [0, 1] units, shaved), ``psnr_rgb`` and
    ``lpips`` (RGB, shaved; only when the backbone weights are available). ``"model"`` is
    absent when ``model`` is None. Files that cannot be read, or are too small for the scale,
    are listed in ``"skipped"`` as ``{"file", "reason"}`` instead of stopping the evaluation.
    """
    import numpy as np

    from gentool.data.degrade import check_input_kind, degrade_as
    from gentool.upscale import upscale_array

    check_input_kind(input_kind)
    if baseline not in ("bicubic", "bilinear"):
        raise GentoolError(f"baseline must be bicubic or bilinear, not '{baseline}'.")
    if model is not None and model.scale != scale:
        raise GentoolError(f"the model upscales by {model.scale}, not {scale}.")
    if not hr_paths:
        raise GentoolError("no high-resolution images to evaluate on.")
    lpips_metric: Lpips | None = None
    lpips_note: str | None = None
    try:
        lpips_metric = Lpips(weights=lpips_weights, device=device)
    except LpipsWeightsMissing as exc:
        lpips_note = exc.message
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for index, path in enumerate(hr_paths):
        try:
            hr = _read_rgb(Path(path))
        except GentoolError as exc:  # a corrupt file is reported and skipped, not fatal
            skipped.append({"file": str(path), "reason": exc.message})
            continue
        height = hr.shape[1] // scale * scale
        width = hr.shape[2] // scale * scale
        if height < 2 * scale + 11 or width < 2 * scale + 11:
            skipped.append({"file": str(path), "reason": f"too small to evaluate at {scale}x"})
            continue
        hr = hr[:, :height, :width]
        low = degrade_as(hr.unsqueeze(0) / 127.5 - 1, scale, input_kind, seed=index)
        outputs: dict[str, torch.Tensor] = {}
        up = F.interpolate(low, scale_factor=scale, mode=baseline, align_corners=False)
        outputs["baseline"] = up.clamp(-1, 1).add(1).mul(127.5).round()[0]
        if model is not None:
            low_image = low[0].permute(1, 2, 0).add(1).div(2).numpy().astype(np.float32)
            if int(model.config.channels) == 1:
                raise GentoolError("evaluate_upscaler measures RGB models only.")
            result = upscale_array(model, low_image, tile=tile, overlap=overlap, ensemble=ensemble)
            outputs["model"] = torch.from_numpy(result.astype(np.float32)).permute(2, 0, 1)
        row: dict[str, Any] = {"file": str(path), "width": width, "height": height}
        target = shave(hr, scale)
        for name, image in outputs.items():
            image = shave(image, scale)
            scores = {
                "psnr_y": float(psnr_y(image, target).clamp(max=MAX_PSNR)[0]),
                "ssim_y": float(ssim(rgb_to_y(image), rgb_to_y(target))[0]),
                "mse": float(mse(image / 255.0, target / 255.0)[0]),
                "psnr_rgb": float(psnr(image, target).clamp(max=MAX_PSNR)[0]),
            }
            if lpips_metric is not None:
                scores["lpips"] = float(lpips_metric(image, target)[0])
            row[name] = scores
        rows.append(row)
    if not rows:
        reasons = "; ".join(f"{Path(s['file']).name}: {s['reason']}" for s in skipped[:3])
        raise GentoolError(f"none of the {len(skipped)} images could be evaluated ({reasons}).")
    names = ["baseline"] + (["model"] if model is not None else [])
    means = {
        name: {key: _mean([r[name][key] for r in rows]) for key in rows[0][name]} for name in names
    }
    return {
        "scale": scale,
        "input_kind": input_kind,
        "baseline": baseline,
        "lpips": lpips_note,
        "rows": rows,
        "skipped": skipped,
        "mean": means,
    }


# --- evaluating an image2image run on its own test split ------------------------------------
@torch.no_grad()
def evaluate_upscaler_split(
    model: Any,
    images: torch.Tensor,
    *,
    lpips: Lpips | None = None,
    batch_size: int = 32,
    baseline: str = "bicubic",
) -> dict[str, float]:
    """An image2image model on held-out uint8 ``images`` ``(N, C, H, W)`` at the run's size.

    Each image is shrunk by the model's scale as in training (antialiased bicubic, rounded
    to 8 bits), upscaled by the model and by ``baseline`` interpolation, rounded to 8 bits
    and compared with the original, ``scale`` pixels shaved at each border: ``psnr_y`` and
    ``ssim_y`` (luma; the channel itself for grey images), ``mse_01`` (pixels in [0, 1]),
    ``psnr_rgb``, and ``lpips`` with a backbone; the same keys prefixed ``bicubic_`` (or the
    baseline's name) for the interpolation, averaged per image.
    """
    from gentool.data.degrade import degrade

    scale = int(model.scale)
    height, width = images.shape[-2:]
    if height // scale < 1 or width // scale < 1 or min(height, width) < 2 * scale + 11:
        raise GentoolError(
            f"{width}x{height} images are too small to evaluate a {scale}x upscaler on "
            f"(at least {2 * scale + 11} pixels a side)."
        )
    device = next(model.parameters()).device
    sums: dict[str, list[float]] = {}
    for start in range(0, len(images), batch_size):
        hr8 = images[start : start + batch_size]
        hr8 = hr8[..., : height // scale * scale, : width // scale * scale].double()
        low = degrade((hr8 / 127.5 - 1).float().to(device), scale)
        outputs = {
            "": model.upscale(low).float(),
            f"{baseline}_": F.interpolate(
                low, scale_factor=scale, mode=baseline, align_corners=False
            ),
        }
        target = shave(hr8, scale)
        for prefix, out in outputs.items():
            out8 = shave(out.clamp(-1, 1).add(1).mul(127.5).round().double().cpu(), scale)
            scores = {
                "psnr_y": psnr_y(out8, target).clamp(max=MAX_PSNR),
                "ssim_y": ssim(rgb_to_y(out8), rgb_to_y(target)),
                "mse_01": mse(out8 / 255.0, target / 255.0),
                "psnr_rgb": psnr(out8, target).clamp(max=MAX_PSNR),
            }
            if lpips is not None:
                scores["lpips"] = lpips(out8, target)
            for key, values in scores.items():
                sums.setdefault(prefix + key, []).extend(values.tolist())
    return {key: _mean(values) for key, values in sums.items()}
