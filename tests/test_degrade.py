"""The SR degradation model (``degradation=real``) and the fixed input kinds of evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from gentool.data.base import DataSpec
from gentool.data.degrade import (
    INPUT_KINDS,
    DegradationOptions,
    RandomDegradation,
    check_input_kind,
    degrade,
    degrade_as,
    gaussian_kernel,
    jpeg,
)
from gentool.errors import GentoolError
from gentool.training.runner import resume, train


def smooth_images(n: int = 4, size: int = 32) -> torch.Tensor:
    """Photo-like images in [-1, 1]: smooth gradients with one sharp edge."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    images = []
    for k in range(n):
        red = torch.sin(3 * x + k)
        green = torch.cos(2 * y - k)
        blue = torch.where(x + 0.3 * k > y, 0.8, -0.6) * torch.ones_like(x)
        images.append(torch.stack([red, green, blue]) * 0.9)
    return torch.stack(images)


def is_eight_bit(images: torch.Tensor) -> bool:
    levels = images.add(1).mul(127.5)
    return bool(torch.allclose(levels, levels.round(), atol=1e-4))


# --- the training model ----------------------------------------------------------------------
def test_same_seed_same_inputs_and_state_continues_exactly() -> None:
    hr = smooth_images()
    first, second = RandomDegradation(4, seed=3), RandomDegradation(4, seed=3)
    torch.testing.assert_close(first(hr), second(hr), rtol=0, atol=0)
    state = first.state()
    expected = first(hr)
    restored = RandomDegradation(4, seed=99)
    restored.load_state(state)
    torch.testing.assert_close(restored(hr), expected, rtol=0, atol=0)
    assert not torch.equal(RandomDegradation(4, seed=4)(hr), second(hr))


def test_each_image_of_a_batch_gets_its_own_draw() -> None:
    one = smooth_images(1)
    low = RandomDegradation(4, seed=0)(one.repeat(6, 1, 1, 1))
    assert low.shape == (6, 3, 8, 8) and is_eight_bit(low)
    distinct = {tuple(image.flatten().tolist()) for image in low}
    assert len(distinct) > 1


def test_probabilities_switch_parts_off_and_on() -> None:
    hr = smooth_images()
    off = RandomDegradation(4, seed=1, options=DegradationOptions(0.0, 0.0, 0.0))(hr)
    # with blur, noise and JPEG all off only the downscaling kernel is drawn: every image is
    # within rounding of one of the five kernels' outputs
    for image in off:
        assert is_eight_bit(image)
    noisy = RandomDegradation(4, seed=1, options=DegradationOptions(0.0, 1.0, 0.0))(hr)
    assert not torch.equal(noisy, off)
    with pytest.raises(GentoolError, match="p_noise"):
        RandomDegradation(4, seed=1, options=DegradationOptions(p_noise=1.5))


def test_blur_kernel_is_normalised_and_anisotropic() -> None:
    kernel = gaussian_kernel(2.0, 0.5, 0.0, 9)
    assert kernel.shape == (9, 9)
    torch.testing.assert_close(kernel.sum(), torch.tensor(1.0))
    assert kernel[4, :].sum() > kernel[:, 4].sum()  # wide along x, narrow along y


def test_jpeg_loses_more_at_lower_quality() -> None:
    hr = degrade(smooth_images(2, 64), 1)
    err_high = (jpeg(hr, 95) - hr).abs().mean()
    err_low = (jpeg(hr, 20) - hr).abs().mean()
    assert 0 < err_high < err_low


# --- the evaluation input kinds --------------------------------------------------------------
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_every_input_kind_is_low_resolution_eight_bit_and_seeded(kind: str) -> None:
    hr = smooth_images(2, 32)
    low = degrade_as(hr, 4, kind, seed=5)
    assert low.shape == (2, 3, 8, 8) and is_eight_bit(low)
    torch.testing.assert_close(degrade_as(hr, 4, kind, seed=5), low, rtol=0, atol=0)


def test_clean_kind_is_the_benchmark_protocol_and_the_others_differ() -> None:
    hr = smooth_images(2, 32)
    clean = degrade_as(hr, 4, "clean")
    torch.testing.assert_close(clean, degrade(hr, 4), rtol=0, atol=0)
    for kind in INPUT_KINDS:
        if kind != "clean":
            assert not torch.equal(degrade_as(hr, 4, kind), clean), kind


def test_unknown_input_kind_is_refused_with_the_choices() -> None:
    with pytest.raises(GentoolError, match="jpeg75"):
        check_input_kind("jpeg-75")


# --- training with it ------------------------------------------------------------------------
COMMON: dict[str, Any] = {
    "model_options": {"width": 4, "max_width": 8, "depth": 2, "d_width": 4},
    "data": DataSpec(name="digits", image_size=16, limit=32),
    "batch_size": 4,
    "sample_every": 100,
    "checkpoint_every": 2,
    "log_every": 1,
    "device": "cpu",
    "seed": 7,
}


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    prefixes = ("model.", "optim.", "trainer.")
    return {k: v for k, v in load_file(str(ckpt)).items() if k.startswith(prefixes)}


def test_real_degradation_training_resumes_bit_identically(tmp_path: Path) -> None:
    # a constant learning rate: a cosine schedule follows the total steps, which the resume
    # changes (2 -> 4), so only a constant schedule can match the straight run
    extra = {"adv_weight": "0", "degradation": "real", "p_jpeg": "0.8", "lr_schedule": "constant"}
    straight = train("sr-unet", steps=4, out=str(tmp_path / "a"), extra=extra, **COMMON)
    train("sr-unet", steps=2, out=str(tmp_path / "b"), extra=extra, **COMMON)
    split = resume(tmp_path / "b", steps=4)
    a, b = weights(straight), weights(split)
    assert a.keys() == b.keys() and any("degradation" in k for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    extra["degradation"] = "clean"
    del extra["p_jpeg"]
    clean = weights(train("sr-unet", steps=4, out=str(tmp_path / "c"), extra=extra, **COMMON))
    assert any(not torch.equal(a[k], v) for k, v in clean.items() if k.startswith("model."))


def test_degradation_options_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(GentoolError, match="p_blur"):
        train("sr-unet", steps=1, out=str(tmp_path / "x"), extra={"p_blur": "0.3"}, **COMMON)
    with pytest.raises(GentoolError, match="degradation"):
        train("sr-unet", steps=1, out=str(tmp_path / "y"), extra={"degradation": "bsrgan"},
              **COMMON)  # fmt: skip
    with pytest.raises(GentoolError, match="p_jpeg"):
        train("sr-unet", steps=1, out=str(tmp_path / "z"),
              extra={"degradation": "real", "p_jpeg": "2"}, **COMMON)  # fmt: skip
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("hr")
    for k, image in enumerate(smooth_images(5, 48)):
        pixels = image.add(1).mul(127.5).round().clamp(0, 255).byte().permute(1, 2, 0)
        Image.fromarray(pixels.numpy()).save(folder / f"{k}.png")
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> Path:
    """A one-step RGB upscaler."""
    out = tmp_path_factory.mktemp("sr") / "run"
    data = DataSpec(name="folder", root=str(photos), image_size=16, test_fraction=0.2)
    settings = dict(COMMON, data=data)
    train("sr-unet", steps=1, out=str(out), extra={"adv_weight": "0"}, **settings)
    return out


def invoke(*args: str) -> Any:
    from click.testing import CliRunner

    from gentool.cli.main import cli

    return CliRunner().invoke(cli, list(args))


def test_evaluate_measures_an_upscaler_under_an_input_kind(
    tiny_run: Path, photos: Path, tmp_path: Path
) -> None:
    import json

    scores = {}
    for kind in ("clean", "jpeg50"):
        report = tmp_path / f"{kind}.json"
        result = invoke("evaluate", str(tiny_run), "--hr-dir", str(photos), "--input-kind",
                        kind, "--json", str(report), "--no-log")  # fmt: skip
        assert result.exit_code == 0, result.output
        data = json.loads(report.read_text())
        assert data["input_kind"] == kind
        scores[kind] = data["mean"]["baseline"]["psnr_y"]
    assert scores["jpeg50"] < scores["clean"]  # bicubic of a JPEG input is worse


def test_input_kind_is_refused_by_name(tiny_run: Path, photos: Path) -> None:
    alone = invoke("evaluate", str(tiny_run), "--input-kind", "jpeg75")
    assert alone.exit_code != 0 and "--input-kind applies only with --hr-dir" in alone.output
    unknown = invoke("evaluate", str(tiny_run), "--hr-dir", str(photos), "--input-kind", "jpg")
    assert unknown.exit_code != 0 and "blur-noise-jpeg" in unknown.output


def test_help_lists_every_input_kind_and_shipped_model() -> None:
    from gentool.shipped import SHIPPED

    evaluate_help = " ".join(invoke("evaluate", "--help").output.split())
    for kind in INPUT_KINDS:
        assert kind in evaluate_help
    upscale_help = " ".join(invoke("upscale", "--help").output.split())
    for name, model in SHIPPED.items():
        assert name in upscale_help and f"{model.seconds_per_mp:.2f} s per output" in upscale_help


def test_upscale_model_takes_a_shipped_name_or_a_run(tiny_run: Path, photos: Path) -> None:
    from PIL import Image

    source = photos / "0.png"
    for i, model in enumerate((str(tiny_run), str(tiny_run / "ckpt.safetensors"))):
        out = photos.parent / f"up{i}.png"
        result = invoke("upscale", str(source), "--model", model, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == (192, 192)
    wrong = invoke("upscale", str(source), "--model", "sr-nosuch")
    assert wrong.exit_code == 2 and "neither a shipped upscaler (sr-real" in wrong.output
    both = invoke("upscale", str(source), "--model", "sr-resnet", "--ckpt", str(tiny_run))
    assert both.exit_code != 0 and "pass one of them" in both.output
