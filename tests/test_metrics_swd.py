from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gentool.metrics import pairwise_diversity, sliced_wasserstein_distance
from gentool.metrics.swd import _blur, _pyr_up, auto_levels, laplacian_pyramid

FAST = {"patches_per_image": 32, "num_projections": 128}


def smooth_images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Random low-frequency colour images in [-1, 1] (some structure at every scale)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g)
    fine = 0.2 * torch.rand(n, 3, size, size, generator=g)
    return (F.interpolate(coarse, size=size, mode="bilinear") + fine).clamp(0, 1) * 2 - 1


def test_laplacian_pyramid_reconstructs_the_image() -> None:
    images = torch.rand(2, 3, 32, 32)
    pyramid = laplacian_pyramid(images, 3)
    assert [p.shape[-1] for p in pyramid] == [32, 16, 8]
    rebuilt = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        rebuilt = band + _pyr_up(rebuilt)
    torch.testing.assert_close(rebuilt, images)


def test_levels_go_down_to_16_pixels() -> None:
    assert auto_levels(64) == 3
    assert auto_levels(32) == 2
    assert auto_levels(16) == 1
    result = sliced_wasserstein_distance(smooth_images(4, 0), smooth_images(4, 1), **FAST)
    assert list(result) == ["swd_32px", "swd_16px", "swd_avg"]
    assert result["swd_avg"] == pytest.approx((result["swd_32px"] + result["swd_16px"]) / 2)


def test_identical_sets_have_zero_distance() -> None:
    images = smooth_images(32, 0)
    result = sliced_wasserstein_distance(images, images.clone(), **FAST)
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in result.values())
    as_uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    assert sliced_wasserstein_distance(as_uint8, as_uint8, **FAST)["swd_avg"] < 1e-6


def test_distance_grows_with_blur_and_noise() -> None:
    real = smooth_images(128, 0)
    other_real = smooth_images(128, 1)  # same distribution, other draws: the noise floor
    blurred = _blur(_blur(real))
    noise = 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))
    same = sliced_wasserstein_distance(real, other_real, **FAST)["swd_32px"]
    blur = sliced_wasserstein_distance(real, blurred, **FAST)["swd_32px"]
    noisy = sliced_wasserstein_distance(real, (real + noise).clamp(-1, 1), **FAST)["swd_32px"]
    more_blur = sliced_wasserstein_distance(real, _blur(_blur(blurred)), **FAST)["swd_32px"]
    assert blur > 2 * same
    assert noisy > 1.5 * same
    assert more_blur > blur


def test_swd_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same C, H, W"):
        sliced_wasserstein_distance(torch.rand(4, 3, 32, 32), torch.rand(4, 1, 32, 32))


def test_diversity_of_identical_images_is_zero() -> None:
    one = smooth_images(1, 0)
    assert pairwise_diversity(one.expand(10, -1, -1, -1)) == 0.0


def test_diversity_of_noise_is_larger_than_of_similar_images() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(40, 1, 16, 16, generator=g) * 2 - 1
    base = smooth_images(1, 0, size=16)[:, :1]
    similar = (base + 0.05 * torch.randn(40, 1, 16, 16, generator=g)).clamp(-1, 1)
    assert pairwise_diversity(noise) > 5 * pairwise_diversity(similar) > 0
    # Uniform noise in [0, 1]: E|x - y|^2 = 1/6, so the RMS distance is about 0.408.
    assert pairwise_diversity(noise, max_pairs=100) == pytest.approx(6**-0.5, abs=0.02)
    assert pairwise_diversity(noise, max_pairs=100, seed=1) != pairwise_diversity(
        noise, max_pairs=100, seed=2
    )
