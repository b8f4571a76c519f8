"""The super-resolution degradations: how a low-resolution input is made from a photo.

Training (``training/image2image.py``, ``training/sr_data.py``), evaluation
(``metrics/image_quality.py``) and ``gentool reconstruct`` use this module, so a model is
measured on exactly the kinds of input it learned from.

Three things live here:

* :func:`degrade`: the clean protocol of the SR papers, antialiased bicubic downscaling
  rounded to 8 bits (the benchmark convention, ``--train-opt degradation=clean``).
* :data:`INPUT_KINDS` and :func:`degrade_as`: fixed, deterministic input kinds a model is
  measured under (``clean``, ``noaa``, ``jpeg75``, ``jpeg50``, ``noise5``,
  ``blur-noise-jpeg``), what ``benchmarks/sr_quality.py kinds`` and
  ``gentool evaluate --hr-dir DIR --input-kind KIND`` use.
* :class:`RandomDegradation`: the training degradation model of
  ``--train-opt degradation=real``, a first-order pipeline in the spirit of Real-ESRGAN
  (Wang et al., 2021) and BSRGAN (Zhang et al., 2021), drawn per image from its own seeded
  generator (its state is saved in the checkpoint, so a resumed run draws what a straight
  run would). In this order, each step on the high- or low-resolution image as noted:

  1. **blur** (probability ``p_blur``, 0.5) of the high-resolution crop: a Gaussian kernel,
     isotropic or (half the time) anisotropic with a random orientation, each standard
     deviation uniform in [0.2, 2.4] high-resolution pixels at 4x (scaled by ``scale / 4``);
  2. **downscale** by the model's scale, one of: antialiased bicubic (30 %), bicubic without
     antialiasing (20 %, what OpenCV's ``INTER_CUBIC``, many thumbnailers and
     ``F.interpolate`` do), antialiased bilinear (15 %), bilinear without antialiasing
     (15 %), area averaging (20 %);
  3. **noise** (probability ``p_noise``, 0.5): Gaussian (70 %) with a standard deviation
     uniform in [1, 12] 8-bit levels, the same for the three channels 40 % of the time
     (luma noise), or Poisson (30 %) shot noise with 10**U(2, 3.7) photons at white;
  4. **JPEG** (probability ``p_jpeg``, 0.5) at a quality uniform in [35, 95] (Pillow,
     4:2:0 chroma subsampling, as most cameras and web images);
  5. rounding to 8 bits, as a saved file holds.

  The clean protocol is one of the outcomes (about 4 % of the crops); the probabilities are
  ``--train-opt`` keys (``p_blur``, ``p_noise``, ``p_jpeg``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gentool.errors import GentoolError

#: ``--train-opt degradation=`` values: the papers' clean protocol, or the random model.
DEGRADATIONS = ("clean", "real")


def _to_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round images in [-1, 1] to the 256 levels a saved 8-bit file holds."""
    return images.clamp(-1, 1).add(1).mul(127.5).round().div(127.5).sub(1)


def _resize(images: torch.Tensor, scale: int, mode: str, antialias: bool) -> torch.Tensor:
    height, width = images.shape[-2:]
    size = (height // scale, width // scale)
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, antialias=antialias, align_corners=False)


def degrade(images: torch.Tensor, scale: int) -> torch.Tensor:
    """High resolution ``(B, C, H, W)`` in [-1, 1] -> low resolution ``(B, C, H//s, W//s)``.

    Antialiased bicubic downsampling (as MATLAB's ``imresize``, the SR-paper convention),
    rounded to 8-bit levels so training sees what a saved low-resolution image holds.
    """
    return _to_8bit(_resize(images, scale, "bicubic", True))


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float, size: int) -> torch.Tensor:
    """A ``size x size`` Gaussian kernel (sum 1) with standard deviations ``sigma_x`` along
    the direction ``angle`` (radians) and ``sigma_y`` across it."""
    half = size // 2
    axis = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    u = cos * xx + sin * yy
    v = -sin * xx + cos * yy
    kernel = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).float()


def blur(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of ``images`` ``(B, C, H, W)`` convolved with ``kernel`` ``(k, k)``
    (reflected borders)."""
    channels = images.shape[1]
    pad = kernel.shape[-1] // 2
    weight = kernel.to(images.device, images.dtype).expand(channels, 1, *kernel.shape)
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, weight, groups=channels)


def _kernel_size(sigma: float) -> int:
    return 2 * max(1, math.ceil(3 * sigma)) + 1


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """``images`` in [-1, 1] saved as JPEG at ``quality`` by Pillow and read back."""
    import numpy as np
    from PIL import Image

    out = []
    for image in images:
        array = image.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
        array8 = array.to(torch.uint8).permute(1, 2, 0).numpy()
        grey = array8.shape[2] == 1
        pil = Image.fromarray(array8[:, :, 0] if grey else array8, "L" if grey else "RGB")
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        decoded = np.asarray(Image.open(buffer).convert("L" if grey else "RGB"))
        tensor = torch.from_numpy(decoded.copy()).float()
        tensor = tensor.unsqueeze(0) if grey else tensor.permute(2, 0, 1)
        out.append(tensor.div(127.5).sub(1))
    return torch.stack(out).to(images.device, images.dtype)


# --- fixed input kinds, for measuring ---------------------------------------------------------
def _gaussian_noise(images: torch.Tensor, levels: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator) * (levels / 127.5)
    return images + noise.to(images.device, images.dtype)


def _clean(hr: torch.Tensor, scale: int, seed: int) -> torch.Tensor:
    return degrade(hr, scale)


def _noaa(hr: torch.Tensor, scale: int, seed: int) -> torch.Tensor:
    return _to_8bit(_resize(hr, scale, "bicubic", False))


def _jpeg(quality: int) -> Callable[[torch.Tensor, int, int], torch.Tensor]:
    def make(hr: torch.Tensor, scale: int, seed: int) -> torch.Tensor:
        return jpeg(degrade(hr, scale), quality)

    return make


def _noise5(hr: torch.Tensor, scale: int, seed: int) -> torch.Tensor:
    return _to_8bit(_gaussian_noise(_resize(hr, scale, "bicubic", True), 5.0, seed))


def _blur_noise_jpeg(hr: torch.Tensor, scale: int, seed: int) -> torch.Tensor:
    sigma = 1.2 * scale / 4
    blurred = blur(hr, gaussian_kernel(sigma, sigma, 0.0, _kernel_size(sigma)))
    low = _gaussian_noise(_resize(blurred, scale, "bicubic", True), 5.0, seed)
    return jpeg(_to_8bit(low), 75)


#: Fixed input kinds: name -> (description, maker of the low-resolution input).
INPUT_KINDS: dict[str, tuple[str, Callable[[torch.Tensor, int, int], torch.Tensor]]] = {
    "clean": ("antialiased bicubic downscale (the SR papers' protocol)", _clean),
    "noaa": ("bicubic downscale without antialiasing (OpenCV INTER_CUBIC, thumbnailers)", _noaa),
    "jpeg75": ("antialiased bicubic downscale, then JPEG quality 75", _jpeg(75)),
    "jpeg50": ("antialiased bicubic downscale, then JPEG quality 50", _jpeg(50)),
    "noise5": ("antialiased bicubic downscale, then Gaussian noise of 5 levels", _noise5),
    "blur-noise-jpeg": (
        "Gaussian blur (sigma 1.2 px at 4x), antialiased bicubic downscale, noise of 5 levels, "
        "JPEG quality 75",
        _blur_noise_jpeg,
    ),
}


def check_input_kind(kind: str) -> None:
    if kind not in INPUT_KINDS:
        raise GentoolError(f"unknown input kind '{kind}'; choose one of {', '.join(INPUT_KINDS)}.")


def degrade_as(
    images: torch.Tensor, scale: int, kind: str = "clean", seed: int = 0
) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` in [-1, 1] made into low-resolution inputs of ``kind``
    (a key of :data:`INPUT_KINDS`), deterministically (noise is drawn from ``seed``)."""
    check_input_kind(kind)
    return INPUT_KINDS[kind][1](images, scale, seed)


# --- the random training degradation ---------------------------------------------------------
#: Blur standard deviations at 4x, high-resolution pixels (scaled by ``scale / 4``).
BLUR_SIGMA = (0.2, 2.4)
#: Gaussian noise standard deviations, 8-bit levels.
NOISE_LEVELS = (1.0, 12.0)
#: JPEG qualities.
JPEG_QUALITY = (35, 95)
#: Downscaling kernels of :class:`RandomDegradation`: (mode, antialias, probability).
DOWNSCALES: tuple[tuple[str, bool, float], ...] = (
    ("bicubic", True, 0.30),
    ("bicubic", False, 0.20),
    ("bilinear", True, 0.15),
    ("bilinear", False, 0.15),
    ("area", False, 0.20),
)


@dataclass
class DegradationOptions:
    """The ranges of :class:`RandomDegradation` (``--train-opt`` keys)."""

    p_blur: float = 0.5
    p_noise: float = 0.5
    p_jpeg: float = 0.5

    def validate(self) -> None:
        for name in ("p_blur", "p_noise", "p_jpeg"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise GentoolError(f"--train-opt {name} must be between 0 and 1, not {value}.")


class RandomDegradation:
    """The ``degradation=real`` training model (see the module's description): every image of
    a batch gets its own blur, downscaling kernel, noise and JPEG quality, drawn from a CPU
    generator seeded with ``seed`` whose state :meth:`state` / :meth:`load_state` carry across
    a resume."""

    def __init__(self, scale: int, seed: int, options: DegradationOptions | None = None) -> None:
        self.scale = scale
        self.options = options or DegradationOptions()
        self.options.validate()
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def _chance(self, p: float) -> bool:
        return float(torch.rand((), generator=self.generator)) < p

    def _one(self, hr: torch.Tensor) -> torch.Tensor:
        """One image ``(1, C, H, W)`` -> its low-resolution input."""
        o = self.options
        if self._chance(o.p_blur):
            factor = self.scale / 4
            sigma_x = self._uniform(*BLUR_SIGMA) * factor
            sigma_y = sigma_x
            angle = 0.0
            if self._chance(0.5):
                sigma_y = self._uniform(*BLUR_SIGMA) * factor
                angle = self._uniform(0.0, math.pi)
            size = min(_kernel_size(max(sigma_x, sigma_y)), 2 * (min(hr.shape[-2:]) // 2) - 1)
            hr = blur(hr, gaussian_kernel(sigma_x, sigma_y, angle, max(size, 1)))
        draw = float(torch.rand((), generator=self.generator))
        mode, antialias = DOWNSCALES[-1][:2]
        for candidate, aa, p in DOWNSCALES:
            if draw < p:
                mode, antialias = candidate, aa
                break
            draw -= p
        low = _resize(hr, self.scale, mode, antialias)
        if self._chance(o.p_noise):
            if self._chance(0.7):
                levels = self._uniform(*NOISE_LEVELS)
                shape = (1, 1 if self._chance(0.4) else low.shape[1], *low.shape[-2:])
                noise = torch.randn(shape, generator=self.generator) * (levels / 127.5)
                low = low + noise.to(low.device, low.dtype)
            else:
                photons = 10 ** self._uniform(2.0, 3.7)
                unit = low.detach().float().cpu().clamp(-1, 1).add(1).div(2)
                noisy = torch.poisson(unit * photons, generator=self.generator) / photons
                low = low + (noisy - unit).mul(2).to(low.device, low.dtype)
        if self._chance(o.p_jpeg):
            quality = round(self._uniform(JPEG_QUALITY[0] - 0.49, JPEG_QUALITY[1] + 0.49))
            return jpeg(_to_8bit(low), quality)
        return _to_8bit(low)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """High-resolution ``(B, C, H, W)`` in [-1, 1] -> low resolution, one draw per image."""
        return torch.cat([self._one(image.unsqueeze(0)) for image in images])

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_state(self, state: torch.Tensor | None) -> None:
        if state is not None:
            self.generator.set_state(state)
