"""Super-resolution: the sr-unet model, its training loop, ``gentool upscale`` and the metrics."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from gentool.checkpoint import save_checkpoint
from gentool.cli.main import cli
from gentool.data.base import DataSpec
from gentool.data.degrade import degrade
from gentool.errors import GentoolError
from gentool.metrics.image_quality import (
    Lpips,
    LpipsWeightsMissing,
    evaluate_upscaler,
    psnr,
    psnr_y,
    rgb_to_y,
    ssim,
)
from gentool.models.srunet import SrUnet, SrUnetConfig
from gentool.training.runner import resume, train
from gentool.upscale import (
    colour_uint8,
    decode_input,
    load_upscaler,
    open_image,
    save_image,
    upscale_array,
    upscale_image,
)


@pytest.fixture(scope="module")
def default_model() -> SrUnet:
    return load_upscaler(None, "cpu")  # type: ignore[return-value]


def tiny_model(scale: int = 4, seed: int = 0) -> SrUnet:
    torch.manual_seed(seed)
    model = SrUnet(SrUnetConfig(scale=scale, width=4, max_width=8, depth=3, d_width=4))
    head: Any = model.generator.head
    torch.nn.init.normal_(head.weight, 0, 0.05)  # not the bilinear identity
    return model.eval()


def china_crop() -> np.ndarray:
    """A real photo no gentool model was trained on: part of scikit-learn's china.jpg."""
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")[100:228, 200:360]  # (128, 160, 3) uint8


# --- the model -------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("size", [(1, 1), (5, 7), (16, 16), (13, 29)])
def test_generator_takes_any_size(scale: int, size: tuple[int, int]) -> None:
    model = tiny_model(scale)
    low = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        out = model.upscale(low)
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)
    assert out.min() >= -1 and out.max() <= 1


def test_untrained_residual_model_is_bilinear_upsampling() -> None:
    model = SrUnet(SrUnetConfig(width=4, depth=2)).eval()
    low = torch.rand(1, 3, 9, 11) * 2 - 1
    with torch.no_grad():
        out = model.upscale(low)
    expected = F.interpolate(low, scale_factor=4, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected)


def test_patch_discriminator_scores_patches() -> None:
    model = tiny_model()
    images = torch.rand(2, 3, 64, 64)
    scores = model.discriminate(images, images)
    assert scores.shape[0] == 2 and scores.shape[1] == 1 and scores.shape[-1] > 1


# --- tiling ----------------------------------------------------------------------------------
def test_tiling_matches_a_single_pass() -> None:
    model = tiny_model()
    image = np.random.default_rng(0).random((40, 52, 3), dtype=np.float32)
    whole = upscale_array(model, image, tile=256, overlap=0)
    with torch.no_grad():
        direct = model.upscale(torch.from_numpy(image).permute(2, 0, 1)[None] * 2 - 1)
    direct_u8 = direct[0].permute(1, 2, 0).add(1).mul(127.5).round().numpy()
    assert np.abs(whole.astype(float) - direct_u8).max() <= 1  # one rounding step
    tiled = upscale_array(model, image, tile=20, overlap=8)  # 3x4 tiles
    diff = np.abs(tiled.astype(float) - whole.astype(float))
    assert tiled.shape == whole.shape == (160, 208, 3)
    assert diff.mean() < 1.0 and diff.max() <= 24


def test_overlap_must_be_smaller_than_tile() -> None:
    with pytest.raises(GentoolError, match="overlap"):
        upscale_array(tiny_model(), np.zeros((8, 8, 3), np.float32), tile=16, overlap=16)


# --- the shipped model -----------------------------------------------------------------------
def test_default_model_beats_bicubic_on_an_unseen_photo(
    default_model: SrUnet, tmp_path: Path
) -> None:
    assert default_model.scale == 4 and default_model.discriminator is None
    path = tmp_path / "china.png"
    Image.fromarray(china_crop()).save(path)
    result = evaluate_upscaler(default_model, [path], scale=4)
    model, bicubic = result["mean"]["model"], result["mean"]["baseline"]
    assert model["psnr_y"] > bicubic["psnr_y"] + 0.15  # measured: +0.27 dB
    assert model["ssim_y"] > bicubic["ssim_y"]
    assert result["rows"][0]["width"] == 160


def test_every_shipped_model_loads_and_sr_real_is_the_default(tmp_path: Path) -> None:
    from gentool.shipped import SHIPPED
    from gentool.upscale import SHIPPED_MODELS, default_model_name, default_weights_path

    assert default_model_name() == "sr-real"  # the best shipped model comes first
    assert list(SHIPPED_MODELS) == list(SHIPPED)
    path = tmp_path / "china.png"
    Image.fromarray(china_crop()).save(path)
    gains: dict[str, dict[str, float]] = {}
    for name in SHIPPED_MODELS:
        with default_weights_path(name) as weights:
            assert weights.stat().st_size < 5_000_000
        model = load_upscaler(None, "cpu", name)
        assert model.scale == 4 and model.discriminator is None
        for kind in ("clean", "noaa"):
            mean = evaluate_upscaler(model, [path], scale=4, input_kind=kind)["mean"]
            gain = mean["model"]["psnr_y"] - mean["baseline"]["psnr_y"]
            gains.setdefault(name, {})[kind] = gain
    assert gains["sr-resnet"]["clean"] > gains["sr-unet"]["clean"] > 0.15
    # the reason for the default: the clean-protocol model sharpens aliasing into a loss
    # to bicubic; the models trained on the degradation model gain on both kinds
    assert gains["sr-resnet"]["noaa"] < 0
    for name in ("sr-real", "sr-fast"):
        assert gains[name]["clean"] > 0.1 and gains[name]["noaa"] > 0, (name, gains[name])
    assert gains["sr-real"]["noaa"] > 0.1
    with pytest.raises(GentoolError, match="no shipped upscaler 'edsr'"):
        load_upscaler(None, "cpu", "edsr")
    with pytest.raises(GentoolError, match="not both"):
        load_upscaler(path, "cpu", "sr-unet")


def test_default_weights_are_small_and_half_precision() -> None:
    from gentool.upscale import default_weights_path

    with default_weights_path() as path:
        assert path.stat().st_size < 3_000_000
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            dtypes = {handle.get_tensor(k).dtype for k in handle.keys()}  # noqa: SIM118
            assert dtypes <= {
                torch.float16,
                torch.int64,
            }


# --- odd inputs ------------------------------------------------------------------------------
def test_grey_input_stays_grey(default_model: SrUnet) -> None:
    grey = Image.fromarray(china_crop()).convert("L")
    out = upscale_image(default_model, grey)
    assert out.mode == "L" and out.size == (640, 512)


def test_rgba_keeps_its_alpha(default_model: SrUnet) -> None:
    rgba = Image.fromarray(china_crop()[:32, :32]).convert("RGBA")
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 16:] = 255
    rgba.putalpha(Image.fromarray(alpha))
    out = upscale_image(default_model, rgba)
    assert out.mode == "RGBA" and out.size == (128, 128)
    out_alpha = np.asarray(out.getchannel("A"))
    assert out_alpha[:, :56].max() < 16 and out_alpha[:, 72:].min() > 240


def test_sixteen_bit_grey_png_stays_sixteen_bit(default_model: SrUnet, tmp_path: Path) -> None:
    ramp = (np.linspace(0, 65535, 24 * 24).reshape(24, 24)).astype(np.uint16)
    source = tmp_path / "deep.png"
    Image.fromarray(ramp).save(source)
    out = upscale_image(default_model, open_image(source))
    saved = save_image(out, tmp_path / "deep_x4.png")
    reread = Image.open(saved)
    assert reread.mode in ("I;16", "I") and reread.size == (96, 96)
    values = np.asarray(reread).astype(np.int64)
    assert values.max() > 60000 and len(np.unique(values)) > 256  # more than 8 bits survive


def test_one_pixel_and_palette_inputs(default_model: SrUnet) -> None:
    assert upscale_image(default_model, Image.new("RGB", (1, 1), "red")).size == (4, 4)
    palette = Image.fromarray(china_crop()[:20, :20]).convert("P")
    assert upscale_image(default_model, palette).mode == "RGB"


def test_refuses_non_images_and_decompression_bombs(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(GentoolError, match="not an image"):
        open_image(text)
    bomb = tmp_path / "bomb.png"
    Image.new("L", (8, 8)).save(bomb)
    data = bytearray(bomb.read_bytes())
    data[16:24] = struct.pack(">II", 12_000, 12_000)  # IHDR width, height: 144 megapixels
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    bomb.write_bytes(bytes(data))
    with pytest.raises(GentoolError, match="megapixel"):
        open_image(bomb)


def test_refuses_a_checkpoint_that_is_not_an_upscaler(tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "gan.safetensors", {}, {"model": "dcgan", "family": "gan", "model_config": {}}
    )
    with pytest.raises(GentoolError, match=r"'dcgan' \(gan\), not an upscaler"):
        load_upscaler(path)


# --- the CLI ---------------------------------------------------------------------------------
def test_cli_upscales_files_and_folders(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(china_crop()[:24, :30]).save(photos / "a.png")
    Image.fromarray(china_crop()[:10, :10]).convert("L").save(photos / "b.jpg")
    runner = CliRunner()
    out = tmp_path / "big"
    result = runner.invoke(
        cli, ["upscale", str(photos), "-o", str(out), "--tile", "16", "--overlap", "4"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a_x4.png", "b_x4.png"]
    assert Image.open(out / "b_x4.png").mode == "L"
    result = runner.invoke(cli, ["upscale", str(photos / "a.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert Image.open(photos / "a_x4.png").size == (120, 96)
    result = runner.invoke(cli, ["upscale", str(photos / "a.png"), "--scale", "2"])
    assert result.exit_code == 2 and "upscales by 4" in result.output


# --- training --------------------------------------------------------------------------------
def test_training_steps_samples_and_checkpoint_round_trip(tmp_path: Path) -> None:
    common: dict[str, Any] = {
        "model_options": {"width": 4, "max_width": 8, "depth": 2, "d_width": 4},
        "data": DataSpec(name="digits", image_size=16, limit=32),
        "batch_size": 4,
        "sample_every": 2,
        "checkpoint_every": 2,
        "log_every": 1,
        "device": "cpu",
    }
    out = tmp_path / "gan"
    ckpt = train(
        "sr-unet", loss="hinge", steps=2, out=str(out), extra={"adv_weight": "0.1"}, **common
    )
    log = [line for line in (out / "log.jsonl").read_text().splitlines() if line]
    assert len(log) == 2 and '"loss_d"' in log[-1] and '"psnr"' in log[-1]
    sample = Image.open(out / "samples" / "step_000002.png")
    assert sample.width > sample.height / 3  # rows of input | output | target
    model = load_upscaler(ckpt, "cpu")
    assert model.scale == 4 and int(model.config.channels) == 1
    low = torch.rand(1, 1, 4, 4) * 2 - 1
    with torch.no_grad():
        before = model.upscale(low)
    resume(out, steps=3)
    with torch.no_grad():
        after = load_upscaler(out, "cpu").upscale(low)
    assert not torch.equal(before, after)  # the resumed run went on training
    pixel_only = train(
        "sr-unet", steps=2, out=str(tmp_path / "l1"), extra={"adv_weight": "0"}, **common
    )
    text = (tmp_path / "l1" / "log.jsonl").read_text()
    assert '"loss_d"' not in text and pixel_only.exists()


def test_training_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(GentoolError, match="patch"):
        train(
            "sr-unet",
            steps=1,
            data=DataSpec(name="digits", image_size=16, limit=8),
            out=str(tmp_path / "bad"),
            extra={"patch": "10"},
            device="cpu",
            batch_size=4,
        )


def test_degrade_makes_eight_bit_low_resolution() -> None:
    images = torch.rand(2, 3, 32, 24) * 2 - 1
    low = degrade(images, 4)
    assert low.shape == (2, 3, 8, 6)
    levels = low.add(1).mul(127.5)
    torch.testing.assert_close(levels, levels.round())


# --- metrics ---------------------------------------------------------------------------------
def test_psnr_and_ssim_of_identical_images() -> None:
    image = torch.rand(2, 3, 24, 24) * 255
    assert torch.isinf(psnr_y(image, image, border=4)).all()
    torch.testing.assert_close(ssim(image, image), torch.ones(2, dtype=torch.float64))


def test_psnr_y_hand_checked() -> None:
    grey = torch.full((3, 20, 20), 100.0)
    brighter = grey + 10  # R = G = B: Y moves by 10 * 219 / 255
    expected = 20 * math.log10(255 / (10 * 219 / 255))
    assert float(psnr_y(brighter, grey)[0]) == pytest.approx(expected, abs=1e-9)
    assert float(rgb_to_y(torch.full((3, 1, 1), 255.0))[0, 0, 0, 0]) == pytest.approx(235.0)
    assert float(psnr(torch.zeros(1, 4, 4), torch.full((1, 4, 4), 255.0))[0]) == 0.0
    # Differences only in the shaved border do not count.
    edged = grey.clone()
    edged[:, :2, :] = 0
    assert torch.isinf(psnr_y(edged, grey, border=2)).all()
    assert float(psnr_y(edged, grey, border=1)[0]) < 30


def test_ssim_hand_checked_on_constant_images() -> None:
    # Constant images: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 100.0, 120.0
    c1 = (0.01 * 255) ** 2
    value = ssim(torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b))
    assert float(value[0]) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-12)
    noisy = torch.rand(1, 1, 32, 32) * 255
    assert float(ssim(noisy, 255 - noisy)[0]) < 0


def test_lpips_without_weights_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with pytest.raises(LpipsWeightsMissing) as info:
        Lpips()
    message = info.value.message
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "empty-hub") in message
    assert "\n" not in message
    result = evaluate_upscaler(None, [_photo(tmp_path)], scale=4)
    assert "alexnet-owt-7be5be79.pth" in result["lpips"]
    assert "lpips" not in result["mean"]["baseline"]


def test_lpips_uses_a_local_backbone_file(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    backbone = torchvision.models.alexnet().state_dict()
    weights = tmp_path / "alexnet.pth"
    torch.save(backbone, weights)
    metric = Lpips(weights=weights)
    torch.testing.assert_close(metric.model.net.slice1[0].weight, backbone["features.0.weight"])
    a = torch.rand(1, 3, 32, 32) * 255
    assert float(metric(a, a)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(metric(a, 255 - a)[0]) > 0


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(china_crop()[:64, :64]).save(path)
    return path


def test_float_and_16_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(30, 40)
    unit, levels = Image.fromarray(ramp, "F"), Image.fromarray(ramp * 255, "F")
    for img in (unit, levels):
        colour = decode_input(img).colour
        np.testing.assert_allclose(colour[:, :, 0], ramp, atol=1e-6)
        assert decode_input(img).sixteen_bit  # written back at 16 bits where possible
    for bad, match in ((ramp - 0.5, "from -0.5 to 0.5"), (ramp * 300, "to 300"),
                       (np.full((4, 4), np.nan, np.float32), "NaN")):  # fmt: skip
        with pytest.raises(GentoolError, match=match):
            decode_input(Image.fromarray(bad.astype(np.float32), "F"))
    # 16-bit grey: Pillow's convert("RGB") clips at 255; the readers scale instead
    wide = Image.fromarray((ramp * 65535).astype(np.uint16))
    eight = colour_uint8(wide, 3)
    assert eight.shape == (30, 40, 3) and eight.max() == 255 and abs(eight.mean() - 127.5) < 1
    path = tmp_path / "wide.png"
    wide.save(path)
    from gentool.metrics.image_quality import _read_rgb
    from gentool.training.sr_data import _decode

    np.testing.assert_array_equal(_read_rgb(path).permute(1, 2, 0).numpy(), eight)
    np.testing.assert_array_equal(_decode(path, 1).permute(1, 2, 0).numpy(), eight[:, :, :1])
    # an 8-bit photo reads exactly as Pillow's own conversion
    rgb = Image.fromarray(china_crop())
    np.testing.assert_array_equal(colour_uint8(rgb, 3), np.asarray(rgb))
    np.testing.assert_array_equal(colour_uint8(rgb.convert("RGBA"), 3), np.asarray(rgb))


def test_upscale_says_what_the_output_format_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 255, (12, 10, 4), dtype=np.uint8), "RGBA")
    rgba.save(tmp_path / "a.png")
    runner = CliRunner()
    result = runner.invoke(cli, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.jpg")])
    assert result.exit_code == 0, result.output
    assert "(40x48 RGB; alpha dropped: .jpg cannot hold it)" in " ".join(result.output.split())
    assert Image.open(tmp_path / "a.jpg").mode == "RGB"
    result = runner.invoke(cli, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png")])
    assert "(40x48 RGBA)" in result.output and "dropped" not in result.output
    for option in ("-o", "--ckpt"):
        result = runner.invoke(cli, ["upscale", str(tmp_path / "a.png"), option, " "])
        assert result.exit_code == 2 and "is empty" in result.output


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp", ".tif"])
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_upscale_reports_the_mode_the_file_reads_back_as(
    tmp_path: Path, suffix: str, mode: str
) -> None:
    rng = np.random.default_rng(0)
    if mode == "I;16":
        source = Image.fromarray(rng.integers(0, 65535, (6, 5), dtype=np.uint16))
    else:
        pixels = rng.integers(0, 255, (6, 5, len(mode)), dtype=np.uint8)
        source = Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)
    source.save(tmp_path / "in.png")
    target = tmp_path / f"out{suffix}"
    result = CliRunner().invoke(cli, ["upscale", str(tmp_path / "in.png"), "-o", str(target)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    written = Image.open(target)
    assert f"(20x24 {written.mode}" in text
    had_alpha, has_alpha = "A" in source.mode, "A" in written.mode
    assert ("alpha dropped" in text) == (had_alpha and not has_alpha)
    assert ("16 bits reduced to 8" in text) == (mode == "I;16" and written.mode != "I;16")


def test_identical_images_score_a_finite_psnr_and_standard_json(tmp_path: Path) -> None:
    import json

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (64, 64), (90, 120, 200)).save(flat / "a.png")
    report = tmp_path / "sr.json"
    args = ["evaluate", "default", "--hr-dir", str(flat), "--json", str(report)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    record = json.loads(report.read_text(), parse_constant=refuse)
    text = json.dumps(record)
    assert "100.0" in text  # bicubic restores a flat image exactly: capped, not inf
